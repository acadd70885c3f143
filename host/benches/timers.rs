//! Timer tasks at scale (the figures BENCHMARKS.md quotes): one `op serve`
//! process on the directory store with `INSTANCES` instances of the ticker
//! test plugin (one per team), each ticking every second and reporting the
//! tick to a recording stand-in for ONES through OPFetch. Measured over
//! `SECONDS` seconds after a warm-up: how many ticks reported, how late
//! each report arrived after its tick was due (the tick's `scheduledAtMs`
//! to the stand-in's receipt: the scheduling delay, the run and the
//! OPFetch), and the CPU the process used. Then the same host with the
//! timers made hourly, so that none is due: its CPU at rest.
//!
//! The ticker traps, on purpose, on seconds divisible by 3 (the tests need
//! failing ticks); those ticks report nothing, so the expected count is
//! two thirds of `INSTANCES × SECONDS`.
//!
//! Run with `bash bench/timers.sh` (or `cargo bench -p op --bench timers`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::fleet::Replica;
use common::serve::{admin_post, package};

/// Instances of the ticker.
const INSTANCES: usize = 100;
/// Seconds measured.
const SECONDS: u64 = 12;

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    (utime + stime) / 100.0
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Installs `INSTANCES` tickers with `interval` seconds on `replica`.
async fn install_all(replica: &Replica, interval: u32) {
    let client = common::client();
    let ticker = package(op_test_plugins::TICKER_DIR, op_test_plugins::TICKER, |m| {
        m.replace(
            "        value: 1\n",
            &format!("        value: {interval}\n"),
        )
    });
    for n in 0..INSTANCES {
        let url = replica.url(&format!("/admin/plugins?team=T{n:07}"));
        let (status, body) = admin_post(&client, url, ticker.clone()).await;
        assert_eq!(status, 201, "instance {n}: {body}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with("--"))
        && !"timers".contains(&filter)
    {
        return;
    }
    let ones = common::upstream::start().await;

    // Every second.
    let replica = Replica::start("directory", &ones.origin);
    install_all(&replica, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ones.clear();
    let started = SystemTime::now();
    let cpu_before = cpu_seconds(replica.pid());
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    let cpu = cpu_seconds(replica.pid()) - cpu_before;
    let ended = SystemTime::now();
    let mut late: Vec<i64> = ones
        .received()
        .iter()
        .filter(|r| r.uri.contains("/ticker/tick"))
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            let due = body["tick"]["scheduledAtMs"].as_i64()?;
            // Ticks due inside the window only.
            (due >= millis(started) && due < millis(ended)).then(|| millis(r.at) - due)
        })
        .collect();
    late.sort_unstable();
    let due_seconds: Vec<i64> = (millis(started) / 1000 + 1..=millis(ended) / 1000 - 1).collect();
    let expected = INSTANCES * due_seconds.iter().filter(|s| *s % 3 != 0).count();
    let at = |q: f64| late[((late.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    let elapsed = ended.duration_since(started).unwrap().as_secs_f64();
    println!(
        "{INSTANCES} instances ticking every second, {elapsed:.1} s: {} reports (at least {expected} expected)",
        late.len()
    );
    println!(
        "report after due: p50 {} ms, p99 {} ms, max {} ms (goal: every tick within 100 ms)",
        at(0.5),
        at(0.99),
        late.last().unwrap()
    );
    println!(
        "CPU while ticking: {:.1} % of one core",
        100.0 * cpu / elapsed
    );
    drop(replica);

    // None due: the host at rest.
    let replica = Replica::start("directory", &ones.origin);
    install_all(&replica, 3600).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = cpu_seconds(replica.pid());
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    let cpu = cpu_seconds(replica.pid()) - cpu_before;
    println!(
        "CPU at rest ({INSTANCES} hourly timers, none due): {:.2} % of one core (goal < 5 %)",
        100.0 * cpu / SECONDS as f64
    );
}
