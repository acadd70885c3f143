//! `op serve` on the PostgreSQL store, as a fleet runs it: real `op serve`
//! processes (each with its own plugins_dir) on one throw-away PostgreSQL
//! server, in front of a recording stand-in for ONES.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::fleet::{fleet, from_plugin, generation, hello, other, post, until_served};
use common::postgres::Postgres;
use common::serve::{TEAM, admin_post, package};
use common::upstream;
use serde_json::Value;

/// Request loops on `/hello` spread over the replicas' origins until
/// stopped: how many were sent, and the failures.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(client: &reqwest::Client, origins: &[String], loops: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let handles = (0..loops)
            .map(|n| {
                let origin = origins[n % origins.len()].clone();
                let (client, stop, sent, failures) =
                    (client.clone(), stop.clone(), sent.clone(), failures.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let (status, body) =
                            post(&client, format!("{origin}/project/api/project/hello")).await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        if !from_plugin(status, &body) {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{origin}: {status} {body}"));
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            sent,
            failures,
            loops: handles,
        }
    }

    /// Stops the loops: (sent, failures).
    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.loops {
            handle.await.unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.sent.load(Ordering::Relaxed), failures)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_serve_every_change_made_on_any_of_them() {
    let running = fleet(3, "fleet").await;
    let (pg, client, fleet) = running.parts();

    // An install on A serves on B and C, pushed (the safety poll is 5 s).
    let (status, body) = fleet[0].install(&client, hello("1.0.0", "v0")).await;
    assert_eq!(status, 201, "{body}");
    for replica in &fleet[1..] {
        until_served(&client, replica, "/project/api/project/hello-v0").await;
    }
    // A TypeScript plugin too: B snapshots it from the package in the
    // database.
    let ts = common::serve::ts_package(
        op_test_plugins::TS_HELLO_DIR,
        op_test_plugins::TS_HELLO,
        |m| m.replace("url: /hello", "url: /ts-hello"),
        |code| code,
    );
    let (status, body) = fleet[0].install(&client, ts).await;
    assert_eq!(status, 201, "{body}");
    until_served(&client, &fleet[1], "/project/api/project/ts-hello").await;

    // 20 upgrades, made on the three in turn, under four request loops
    // spread over them: no request fails, and each version serves
    // everywhere.
    let origins: Vec<String> = fleet.iter().map(|r| r.origin.clone()).collect();
    let load = Load::start(&client, &origins, 4);
    for n in 1..=20 {
        let on = &fleet[n % 3];
        let (status, body) = on
            .install(&client, hello(&format!("1.0.{n}"), &format!("v{n}")))
            .await;
        assert_eq!(status, 200, "upgrade {n} on replica {}: {body}", n % 3);
        assert_eq!(body["from"], format!("1.0.{}", n - 1));
        for replica in fleet.iter() {
            until_served(
                &client,
                replica,
                &format!("/project/api/project/hello-v{n}"),
            )
            .await;
        }
    }
    let (sent, failures) = load.finish().await;
    assert!(sent >= 40, "only {sent} requests ran during the upgrades");
    assert!(
        failures.is_empty(),
        "{} of {sent} failed: {failures:?}",
        failures.len()
    );

    // One state everywhere, in the database as listed.
    let mut generations = Vec::new();
    for replica in fleet.iter() {
        let (status, listing) = replica.listing(&client).await;
        assert_eq!(status, 200);
        assert_eq!(listing["plugins"].as_array().unwrap().len(), 2, "{listing}");
        generations.push(generation(&listing));
    }
    assert_eq!(generations, [22, 22, 22]);
    assert_eq!(
        pg.sql("fleet", "SELECT generation FROM op_generation"),
        "22"
    );
    assert_eq!(
        pg.sql(
            "fleet",
            "SELECT version FROM op_instances WHERE app_id = 'hellowrd'"
        ),
        "1.0.20"
    );
    // The old versions' packages are gone from the database.
    assert_eq!(pg.sql("fleet", "SELECT count(*) FROM op_packages"), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_calls_racing_on_two_replicas_are_serialized_and_none_is_lost() {
    let running = fleet(2, "race").await;
    let (_, client, fleet) = running.parts();
    // A replica's plugins_dir is its own: a second process on it is
    // refused, and the first goes on serving.
    let twin = fleet[0].start_twin();
    let said = String::from_utf8_lossy(&twin.stderr);
    assert!(!twin.status.success(), "{said}");
    assert!(said.contains("another op serve uses"), "{said}");
    assert!(said.contains("needs a plugins_dir of its own"), "{said}");
    let (status, _) = fleet[0].listing(&client).await;
    assert_eq!(status, 200);
    let (_, before) = fleet[0].listing(&client).await;
    let before = generation(&before);

    for round in 0..3 {
        let (a, b) = tokio::join!(
            fleet[0].install(
                &client,
                other(&format!("racera{round}"), &format!("ra{round}"))
            ),
            fleet[1].install(
                &client,
                other(&format!("racerb{round}"), &format!("rb{round}"))
            ),
        );
        assert_eq!(a.0, 201, "{}", a.1);
        assert_eq!(b.0, 201, "{}", b.1);
    }
    let (_, listing) = fleet[1].listing(&client).await;
    assert_eq!(generation(&listing), before + 6, "{listing}");
    assert_eq!(listing["plugins"].as_array().unwrap().len(), 6, "{listing}");
    for replica in fleet.iter() {
        for round in 0..3 {
            until_served(&client, replica, &format!("/project/api/project/ra{round}")).await;
            until_served(&client, replica, &format!("/project/api/project/rb{round}")).await;
        }
    }

    // Two upgrades of one plugin to one version, racing: one wins, the
    // other is refused as not newer; nothing is half-done.
    let (a, b) = tokio::join!(
        fleet[0].install(&client, other_version("racera0", "ra0", "1.1.0")),
        fleet[1].install(&client, other_version("racera0", "ra0", "1.1.0")),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.1, b.1);
    let (_, listing) = fleet[0].listing(&client).await;
    assert_eq!(generation(&listing), before + 7);
}

fn other_version(app_id: &str, route: &str, version: &str) -> Vec<u8> {
    package(op_test_plugins::HELLO_DIR, op_test_plugins::HELLO, |m| {
        m.replace("app_id: hellowrd", &format!("app_id: {app_id}"))
            .replace("url: /hello", &format!("url: /{route}"))
            .replace("version: 1.0.0", &format!("version: {version}"))
    })
}

/// The hello example with an 8 MiB file in its workspace (so that an
/// install takes a while to unpack), as app_id `app_id`.
fn heavy(app_id: &str) -> Vec<u8> {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(op_test_plugins::HELLO_DIR).join("config/plugin.yaml"),
    )
    .unwrap()
    .replace("app_id: hellowrd", &format!("app_id: {app_id}"))
    .replace("url: /hello", &format!("url: /{app_id}"));
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("big.bin"), vec![7u8; 8 * 1024 * 1024]).unwrap();
    let component = op::code::PluginCode::Component(std::fs::read(op_test_plugins::HELLO).unwrap());
    op::package::pack(&manifest, "plugin.yaml", &component, Some(workspace.path()))
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_install_leaves_the_whole_change_or_none() {
    let mut running = fleet(2, "crash").await;
    let (pg, client, fleet) = running.parts_mut();
    let mut expected_generation = 0;
    for (n, delay_ms) in [0u64, 5, 20, 60, 150, 400].into_iter().enumerate() {
        let app_id = format!("heavy{n:03}");
        let package = heavy(&app_id);
        let url = fleet[0].url(&format!("/admin/plugins?team={TEAM}"));
        let client2 = client.clone();
        let call = tokio::spawn(async move { admin_post(&client2, url, package).await });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let pid = fleet[0].pid();
        fleet[0].kill();
        let _ = call.await;
        // Its sessions end as the server notices (a COMMIT it had sent
        // still counts): only then is the outcome settled.
        let settled = Instant::now();
        while pg.sql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'op serve {pid}'"
            ),
        ) != "0"
        {
            assert!(
                settled.elapsed() < Duration::from_secs(5),
                "the killed replica's sessions stay"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The database has all of the install or none of it.
        let instances = pg.sql(
            "crash",
            &format!("SELECT count(*) FROM op_instances WHERE app_id = '{app_id}'"),
        );
        let packages = pg.sql("crash", "SELECT count(*) FROM op_packages");
        let instances_total = pg.sql("crash", "SELECT count(*) FROM op_instances");
        assert_eq!(packages, instances_total, "a package without its instance");
        let installed = instances == "1";
        if installed {
            expected_generation += 1;
        } else {
            assert_eq!(instances, "0");
        }
        assert_eq!(
            pg.sql("crash", "SELECT generation FROM op_generation"),
            expected_generation.to_string()
        );
        // B serves exactly that; A, restarted, serves the same.
        fleet[0].kill_and_restart();
        for replica in fleet.iter() {
            let (status, listing) = replica.listing(&client).await;
            assert_eq!(status, 200);
            assert_eq!(generation(&listing), expected_generation, "{listing}");
            let path = format!("/project/api/project/{app_id}");
            if installed {
                until_served(&client, replica, &path).await;
            } else {
                let (status, body) = post(&client, replica.url(&path)).await;
                assert!(
                    !from_plugin(status, &body),
                    "{app_id} serves after a kill at {delay_ms} ms left no trace of it"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_database_leaves_the_loaded_state_serving_and_changes_refused() {
    let running = fleet(2, "outage").await;
    let (pg, client, fleet) = running.parts();
    let (status, body) = fleet[0].install(&client, hello("1.0.0", "v0")).await;
    assert_eq!(status, 201, "{body}");
    until_served(&client, &fleet[1], "/project/api/project/hello").await;
    let origins: Vec<String> = fleet.iter().map(|r| r.origin.clone()).collect();
    let load = Load::start(&client, &origins, 4);

    pg.stop();
    let down = Instant::now();
    // /readyz says why; admin calls get 503; plugin calls keep answering.
    for replica in fleet.iter() {
        let reason = loop {
            let res = client.get(replica.url("/readyz")).send().await.unwrap();
            if res.status() == 503 {
                let body: Value = common::json(res).await;
                let problems = body["problems"].to_string();
                if problems.contains("plugin store") {
                    break problems;
                }
            }
            assert!(
                down.elapsed() < Duration::from_secs(3),
                "/readyz still ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            reason.contains("PostgreSQL at postgres://op@127.0.0.1"),
            "{reason}"
        );
        assert!(reason.contains("serving generation 1"), "{reason}");
        let (status, refusal) = replica.install(&client, hello("1.0.1", "v1")).await;
        assert_eq!(status, 503, "{refusal}");
        assert_eq!(refusal["model"], "admin.unavailable");
        assert!(
            refusal["reason"].as_str().unwrap().contains("generation 1"),
            "{refusal}"
        );
        let (status, _) = replica.listing(&client).await;
        assert_eq!(status, 503);
    }
    let metrics = client
        .get(fleet[0].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("op_store_connected 0"), "{metrics}");
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(down.elapsed())).await;

    pg.resume();
    // B comes back and takes a change; A catches up with it.
    let back = Instant::now();
    let (status, body) = loop {
        let answer = fleet[1].install(&client, hello("1.0.1", "v1")).await;
        if answer.0 != 503 || back.elapsed() > Duration::from_secs(10) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "{body}");
    until_served(&client, &fleet[0], "/project/api/project/hello-v1").await;
    let (sent, failures) = load.finish().await;
    assert!(sent >= 40, "only {sent} requests ran");
    assert!(
        failures.is_empty(),
        "{} of {sent} failed, e.g. {:?}\nA {}:\n{}\nB {}:\n{}",
        failures.len(),
        &failures[..failures.len().min(3)],
        fleet[0].origin,
        fleet[0].log(),
        fleet[1].origin,
        fleet[1].log()
    );
    for replica in fleet.iter() {
        let res = client.get(replica.url("/readyz")).send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(
            status == 200 || !body.contains("plugin store"),
            "{status} {body}"
        );
    }
    let metrics = client
        .get(fleet[0].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("op_store_connected 1"), "{metrics}");
    assert!(metrics.contains("op_store_generation 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_plugin_serves_two_teams_as_two_instances() {
    let ones = upstream::start().await;
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::serve::config(dir.path(), &ones.origin);
    config.store_url = Some(pg.database("teams"));
    let running = common::serve::Running::start_with(config).await;
    common::serve::one_plugin_in_two_teams(&running.origin).await;
    assert_eq!(
        pg.sql(
            "teams",
            "SELECT count(DISTINCT app_id) || ' ' || count(*) FROM op_instances"
        ),
        "2 4"
    );
    running.shutdown().await;
}

/// The hostile-fs test plugin (it writes and reads its workspace on
/// demand) at `version`.
fn file_writer(version: &str) -> Vec<u8> {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(op_test_plugins::HOSTILE_FS_DIR).join("config/plugin.yaml"),
    )
    .unwrap()
    .replace("version: 0.1.0", &format!("version: {version}"));
    let component =
        op::code::PluginCode::Component(std::fs::read(op_test_plugins::HOSTILE_FS).unwrap());
    op::package::pack(&manifest, "plugin.yaml", &component, None)
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_missed_an_upgrade_keeps_the_files_its_plugin_wrote() {
    let mut running = fleet(2, "missed").await;
    let (_, client, fleet) = running.parts_mut();
    let (status, body) = fleet[0].install(&client, file_writer("0.1.0")).await;
    assert_eq!(status, 201, "{body}");
    until_served_get(&client, &fleet[1], "/project/api/project/fs/read?path=none").await;
    let (status, wrote) = post_json(
        &client,
        fleet[1].url("/project/api/project/fs/write"),
        r#"{"path":"notes.txt","bytes":5}"#,
    )
    .await;
    assert_eq!(status, 200, "{wrote}");
    // B is down while A upgrades; B, back, serves the new version over
    // the files B's plugin wrote.
    fleet[1].kill();
    let (status, body) = fleet[0].install(&client, file_writer("0.2.0")).await;
    assert_eq!(status, 200, "{body}");
    fleet[1].restart();
    let (_, listing) = fleet[1].listing(&client).await;
    assert_eq!(listing["plugins"][0]["version"], "0.2.0", "{listing}");
    let read = client
        .get(fleet[1].url("/project/api/project/fs/read?path=notes.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(common::json(read).await["text"], "xxxxx");
}

/// Waits until the plugin answers `GET path` on `replica` (its JSON has
/// `text` or `error`; the stand-in for ONES echoes the request instead).
async fn until_served_get(client: &reqwest::Client, replica: &common::fleet::Replica, path: &str) {
    let started = Instant::now();
    loop {
        if let Ok(res) = client.get(replica.url(path)).send().await
            && let Ok(text) = res.text().await
            && let Ok(body) = serde_json::from_str::<Value>(&text)
            && (body.get("text").is_some() || body.get("error").is_some())
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} is not served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn post_json(client: &reqwest::Client, url: String, body: &str) -> (u16, Value) {
    let res = client
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, common::json(res).await)
}

/// The due times (ms) of the ticks the ticker guest reported to ONES.
fn reported_ticks(ones: &upstream::Upstream) -> Vec<i64> {
    ones.received()
        .iter()
        .filter(|r| r.uri == "/project/api/project/ticker/tick")
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["tick"]["scheduledAtMs"].as_i64().unwrap()
        })
        .collect()
}

fn no_tick_twice(ticks: &[i64]) {
    let mut sorted = ticks.to_vec();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    assert_eq!(sorted.len(), before, "a tick ran twice: {ticks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_run_each_timer_tick_once_and_go_on_when_the_runner_is_killed() {
    let mut fleet = fleet(3, "ticks").await;
    let ticker = package(op_test_plugins::TICKER_DIR, op_test_plugins::TICKER, |m| {
        m.to_string()
    });
    let (status, body) = fleet.replicas[0].install(&fleet.client, ticker).await;
    assert!(status < 300, "{status} {body}");
    tokio::time::sleep(Duration::from_secs(11)).await;
    // About ten seconds came due; those divisible by 3 trapped; every other
    // one was reported once, by whichever replica claimed it.
    let first = reported_ticks(&fleet.ones);
    assert!(
        (5..=9).contains(&first.len()),
        "{first:?}\n{}",
        fleet
            .replicas
            .iter()
            .map(|r| r.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    no_tick_twice(&first);
    let rows = |sql: &str| fleet.pg.sql("ticks", sql);
    assert_eq!(
        rows(
            "SELECT count(*) - count(DISTINCT due_ms) FROM op_timer_ticks \
             WHERE outcome IN ('ok', 'failed')"
        ),
        "0"
    );
    let ran: usize = rows("SELECT count(*) FROM op_timer_ticks WHERE outcome IN ('ok', 'failed')")
        .parse()
        .unwrap();
    assert!((9..=12).contains(&ran), "{ran} ticks ran");
    let failed: usize = rows("SELECT count(*) FROM op_timer_ticks WHERE outcome = 'failed'")
        .parse()
        .unwrap();
    assert!((2..=5).contains(&failed), "{failed} ticks failed");

    // `kill -9` of the replica that ran the latest tick: the ticks after go
    // on, once each, on the others.
    let holder = rows(
        "SELECT replica FROM op_timer_ticks WHERE outcome <> 'skipped' \
         ORDER BY due_ms DESC LIMIT 1",
    );
    let pid: u32 = holder.rsplit(' ').next().unwrap().parse().unwrap();
    let killed = fleet
        .replicas
        .iter()
        .position(|r| r.pid() == pid)
        .unwrap_or_else(|| panic!("no replica has pid {pid} ({holder})"));
    fleet.replicas[killed].kill();
    fleet.ones.clear();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = reported_ticks(&fleet.ones);
    assert!((2..=5).contains(&after.len()), "{after:?}");
    no_tick_twice(&after);
    let runners = rows(&format!(
        "SELECT count(DISTINCT replica) FROM op_timer_ticks \
         WHERE outcome = 'ok' AND replica <> '{holder}' AND due_ms > {}",
        after[0] - 1
    ));
    assert_ne!(runners, "0", "no other replica ran the ticks");
}

/// The timer-sync example (a TimerTask and entity storage, declared as
/// ONES declares them), unchanged but for a one-second interval, on three
/// replicas on one PostgreSQL: each tick runs once in all, reads ONES as
/// the plugin's super-admin and keeps one snapshot; every replica's route
/// answers from the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_timer_sync_example_runs_each_tick_once_on_three_replicas() {
    let fleet = fleet(3, "timersync").await;
    let sync = package(
        op_test_plugins::TIMER_SYNC_DIR,
        op_test_plugins::TIMER_SYNC,
        |m| m.replace("        value: 5\n", "        value: 1\n"),
    );
    let (status, body) = fleet.replicas[0].install(&fleet.client, sync).await;
    assert!(status < 300, "{status} {body}");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let reads: Vec<upstream::Recorded> = fleet
        .ones
        .received()
        .into_iter()
        .filter(|r| r.uri.ends_with("/users/me"))
        .collect();
    assert!(
        (5..=9).contains(&reads.len()),
        "{} reads of ONES",
        reads.len()
    );
    for read in &reads {
        assert_eq!(read.header_values("ones-user-id"), vec!["SYNCADM1"]);
        assert_eq!(read.header_values("ones-auth-token"), vec!["sync-token"]);
    }
    // Replica 1, then 2, then 0: snapshots are only ever added, so each
    // answer holds the one before it.
    let mut answers: Vec<Vec<i64>> = Vec::new();
    for n in [1, 2, 0] {
        let url = fleet.replicas[n].url("/project/api/project/timer-sync/history?limit=50");
        let res = fleet.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        let ats: Vec<i64> = body["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["at"].as_i64().unwrap())
            .collect();
        assert!(
            ats.windows(2).all(|w| w[0] > w[1]),
            "newest first, no tick twice: {ats:?}"
        );
        answers.push(ats);
    }
    for pair in answers.windows(2) {
        assert!(pair[0].iter().all(|at| pair[1].contains(at)), "{answers:?}");
    }
    let last = answers.last().unwrap();
    assert!(
        last.len() + 1 >= reads.len() && last.len() <= reads.len() + 1,
        "{} snapshots for {} reads",
        last.len(),
        reads.len()
    );
    let ticks: usize = fleet
        .pg
        .sql(
            "timersync",
            "SELECT count(*) - count(DISTINCT due_ms) FROM op_timer_ticks WHERE outcome = 'ok'",
        )
        .parse()
        .unwrap();
    assert_eq!(ticks, 0, "a tick ran twice");
}
