//! Timer tasks under `op invoke run` and `op invoke timer`: the real `op`
//! binary, the `ticker` guest built from source, and a recording ONES
//! stand-in that shows each tick's OPFetch and its credentials.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::binary::{Killed, offline_op, text};
use common::upstream::{self, Recorded};

const ADMIN: &str = "ticker-admin";
const ADMIN_TOKEN: &str = "ticker-admin-token";
const TEAM: &str = "TICKTEAM";

/// A copy of the ticker project in `under` (its backend linked), so that
/// the `.op/` state of a run stays out of the tree.
fn ticker_in(under: &Path) -> PathBuf {
    common::console::linked_project(op_test_plugins::TICKER_DIR, under, "ticker")
}

/// `op invoke ARGS` against the stand-in at `ones`, as its super-admin.
fn op_against(ones: &str, args: &[&str]) -> Command {
    let mut command = offline_op();
    command
        .arg("invoke")
        .args(args)
        .args(["--ones-url", ones])
        .env("OP_SUPER_ADMIN_USER_ID", ADMIN)
        .env("OP_SUPER_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("OP_TEAM_UUID", TEAM)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    command
}

/// The lines a child writes to one stream, as they come.
fn follow(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

async fn wait_for(lines: &Mutex<Vec<String>>, needle: &str) -> String {
    for _ in 0..2400 {
        if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no line with `{needle}` in:\n{}",
        lines.lock().unwrap().join("\n")
    );
}

fn ticks(received: &[Recorded], path: &str) -> Vec<serde_json::Value> {
    received
        .iter()
        .filter(|r| r.uri == path)
        .map(|r| {
            assert_eq!(r.header_values("ones-user-id"), [ADMIN], "{r:?}");
            assert_eq!(r.header_values("ones-auth-token"), [ADMIN_TOKEN], "{r:?}");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_timer_ticks_as_the_super_admin_and_goes_on_after_a_trap() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let project = ticker_in(dir.path());
    let mut child = op_against(&ones.origin, &["run", "--port", "0", "--no-watch"])
        .arg(&project)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow(child.stdout.take().unwrap());
    let stderr = follow(child.stderr.take().unwrap());
    let server = Killed(child);
    wait_for(&stdout, "serving on ").await;
    // The schedules, as plugin.yaml says them, with their next run times.
    let every = wait_for(&stdout, "timer every-second (tick): every 1 s, next at ").await;
    assert!(every.starts_with("timer every-second"), "{every}");
    let nightly = wait_for(
        &stdout,
        "timer nightly (nightly): cron 0 0 3 * * *, next at ",
    )
    .await;
    assert!(nightly.contains(" 03:00:00 "), "{nightly}");
    let table = stdout.lock().unwrap().join("\n");
    assert!(
        table.contains("    every-second            every 1 s  ->  tick"),
        "{table}"
    );
    ones.clear();
    tokio::time::sleep(Duration::from_millis(6500)).await;
    let seen = ticks(&ones.received(), "/project/api/project/ticker/tick");
    // Six or seven seconds came due; those divisible by 3 trapped.
    assert!((3..=6).contains(&seen.len()), "{seen:?}");
    let mut due: Vec<i64> = Vec::new();
    for tick in &seen {
        let body = &tick["tick"];
        assert_eq!(body["abilityId"], "every-second", "{tick}");
        assert_eq!(body["abilityType"], "TimerTask");
        assert_eq!(body["manual"], false);
        assert_eq!(body["teamUUID"], TEAM);
        assert_eq!(tick["method"], "POST");
        assert_eq!(tick["url"], "/abilities/every-second/tick");
        // No user calls a tick.
        assert_eq!(tick["caller"], serde_json::Value::Null);
        let at = body["scheduledAtMs"].as_i64().unwrap();
        assert_eq!(at % 1000, 0, "ticks fall on whole seconds: {at}");
        assert_ne!((at / 1000) % 3, 0, "a trapping tick reported: {at}");
        due.push(at);
    }
    // One tick per second, none twice.
    let mut distinct = due.clone();
    distinct.dedup();
    assert_eq!(distinct, due, "{due:?}");
    // The ticks on seconds divisible by 3 trapped, and the schedule went
    // on: reports are one or two seconds apart, and a gap of two is there.
    let gaps: Vec<i64> = due.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| [1000, 2000].contains(g)), "{due:?}");
    assert!(gaps.contains(&2000), "{due:?}");
    wait_for(&stderr, "traps on purpose").await;
    let failed = wait_for(&stderr, "-> ticker001::tick failed in ").await;
    assert!(failed.starts_with("timer every-second tick "), "{failed}");
    let log = stderr.lock().unwrap().join("\n");
    // The plugin's own lines carry the ability's id.
    assert!(
        log.contains("(ticker001::tick, timer every-second)"),
        "{log}"
    );
    assert!(
        log.contains("timer every-second tick ") && log.contains("-> ticker001::tick ok in "),
        "{log}"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_timer_fires_one_tick_now_and_names_the_timers_of_a_wrong_id() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let project = ticker_in(dir.path());
    let run = |args: &[&str]| {
        let mut command = op_against(&ones.origin, args);
        command.arg(&project);
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let out = run(&["timer", "nightly"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("timer nightly fired ") && stderr.contains("-> ticker001::nightly ok in "),
        "{stderr}"
    );
    let seen = ticks(&ones.received(), "/project/api/project/ticker/nightly");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["tick"]["manual"], true);
    assert_eq!(seen[0]["tick"]["abilityId"], "nightly");
    assert_eq!(seen[0]["tick"]["schedule"], "cron 0 0 3 * * *");
    // Fired by hand, the every-second task does not trap, whatever the time.
    let out = run(&["timer", "every-second"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        ticks(&ones.received(), "/project/api/project/ticker/tick").len(),
        1
    );

    let out = run(&["timer", "nightlly"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "error: {}/config/plugin.yaml has no TimerTask ability `nightlly` (did you mean `nightly`?); it declares: every-second, nightly",
            project.display()
        )
    );
}

/// The number in the `/metrics` line that starts with `start`.
fn metric(text: &str, start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_serve_runs_the_timers_of_enabled_instances_only_and_counts_them() {
    use common::serve::{Running, TEAM as SERVE_TEAM, admin_get, admin_post, config_with, package};
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.yaml");
    std::fs::write(
        &credentials,
        format!(
            "super_admins:\n  - {{plugin: ticker001, user_id: {ADMIN}, token: {ADMIN_TOKEN}}}\n"
        ),
    )
    .unwrap();
    let plugins = dir.path().join("plugins");
    let config = config_with(
        &plugins,
        &ones.origin,
        &format!("credentials:\n  file: {}\n", credentials.display()),
    );
    let running = Running::start_with(config).await;
    let client = common::client();
    let ticker = package(op_test_plugins::TICKER_DIR, op_test_plugins::TICKER, |m| m);
    let (status, body) = admin_post(
        &client,
        running.url(&format!("/admin/plugins?team={SERVE_TEAM}")),
        ticker,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["plugin"]["instance_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let seen = ticks(&ones.received(), "/project/api/project/ticker/tick");
    assert!((2..=4).contains(&seen.len()), "{seen:?}");
    for tick in &seen {
        assert_eq!(tick["tick"]["teamUUID"], SERVE_TEAM, "{tick}");
        assert_eq!(tick["tick"]["instanceId"], id.as_str(), "{tick}");
    }
    let metrics = client
        .get(running.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = "op_timer_ticks_total{plugin=\"ticker001\",ability=\"every-second\",outcome=";
    let ok = metric(&metrics, &format!("{line}\"ok\"}}"));
    let failed = metric(&metrics, &format!("{line}\"failed\"}}"));
    assert!(ok >= seen.len() as u64 && ok >= 2, "{metrics}");
    assert!(failed >= 1, "{metrics}");
    assert!(
        metrics.contains(
            "op_timer_tick_duration_seconds_count{plugin=\"ticker001\",ability=\"every-second\"}"
        ),
        "{metrics}"
    );

    // Disabled, the instance runs no timer; enabled again, it does.
    let (status, body) = admin_post(
        &client,
        running.url(&format!("/admin/plugins/{id}/disable")),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A tick that was running when it was disabled may still report.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ones.clear();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        ticks(&ones.received(), "/project/api/project/ticker/tick").len(),
        0,
        "a disabled instance ticked"
    );
    let (status, body) = admin_post(
        &client,
        running.url(&format!("/admin/plugins/{id}/enable")),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        !ticks(&ones.received(), "/project/api/project/ticker/tick").is_empty(),
        "no tick after enable"
    );
    let listing = admin_get(&client, running.url("/admin/plugins")).await;
    assert!(listing.to_string().contains("ticker001"), "{listing}");
    running.shutdown().await;
}

/// `op add ability TimerTask` on a new Rust project and a new TypeScript
/// one: the declaration lands at the end of plugin.yaml (its comments
/// kept), the function in the backend, and `op invoke timer` fires it; a
/// cron expression that does not parse changes nothing.
#[test]
fn op_add_ability_declares_a_timer_that_op_invoke_timer_fires() {
    use common::console::op;
    let home = tempfile::tempdir().unwrap();
    for (name, lang) in [("demo", "rust"), ("tsdemo", "ts")] {
        let out = op(&["new", name, "--lang", lang], home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let manifest = home.path().join(name).join("config/plugin.yaml");
        let before = std::fs::read_to_string(&manifest).unwrap();

        let bad = op(
            &[
                "add",
                "ability",
                "TimerTask",
                name,
                "--cron",
                "0 61 * * * *",
            ],
            home.path(),
        )
        .output()
        .unwrap();
        assert!(!bad.status.success());
        let said = text(&bad.stderr);
        assert!(said.contains("is not a cron expression"), "{said}");
        assert!(said.contains("nothing was changed"), "{said}");
        assert_eq!(std::fs::read_to_string(&manifest).unwrap(), before);

        let schedule: &[&str] = if lang == "ts" {
            &["--cron", "*/5 * * * * *"]
        } else {
            &["--interval", "2", "--id", "sync-timer"]
        };
        let mut args = vec!["add", "ability", "TimerTask", name];
        args.extend_from_slice(schedule);
        let added = op(&args, home.path()).output().unwrap();
        assert!(added.status.success(), "{}", text(&added.stderr));
        let after = std::fs::read_to_string(&manifest).unwrap();
        assert!(
            after.starts_with(&before.trim_end_matches('\n').to_string()),
            "{after}"
        );
        let id = if lang == "ts" {
            "timer-task"
        } else {
            "sync-timer"
        };
        assert!(after.contains(&format!("  - id: {id}\n")), "{after}");
        assert!(after.contains("    abilityType: TimerTask\n"), "{after}");

        let fired = op(&["invoke", "timer", id, name], home.path())
            .output()
            .unwrap();
        let said = format!("{}{}", text(&fired.stdout), text(&fired.stderr));
        assert!(fired.status.success(), "{said}");
        assert!(said.contains(&format!("{id} ran")), "{said}");
    }
}
