//! How soon every replica of `op serve` on the PostgreSQL store serves a
//! change (the figure docs/serve.md quotes): three `op serve` processes on
//! one throw-away PostgreSQL server, `CHANGES` upgrades made on replica A,
//! and for each the time from A's answer until B and C first serve the new
//! version; printed as p50, p99 and max.
//!
//! Run with `bash bench/propagation.sh` (or `cargo bench -p op --bench
//! propagation`); `OP_PG_TEST_LOG=warn,op=debug` also prints replica B's
//! last reload timings. See BENCHMARKS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::fleet::{fleet, hello, until_served};

/// How many upgrades are measured.
const CHANGES: usize = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than this
    // bench's name means another bench was asked for.
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with("--"))
        && !"propagation".contains(&filter)
    {
        return;
    }
    let running = fleet(3, "propagation").await;
    let (_, client, replicas) = running.parts();
    let (status, body) = replicas[0].install(&client, hello("1.0.0", "v0")).await;
    assert_eq!(status, 201, "{body}");
    for replica in replicas {
        until_served(&client, replica, "/project/api/project/hello-v0").await;
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(2 * CHANGES);
    for n in 1..=CHANGES {
        let package = hello(&format!("1.0.{n}"), &format!("v{n}"));
        let (status, body) = replicas[0].install(&client, package).await;
        assert_eq!(status, 200, "upgrade {n}: {body}");
        let path = format!("/project/api/project/hello-v{n}");
        let (b, c) = tokio::join!(
            until_served(&client, &replicas[1], &path),
            until_served(&client, &replicas[2], &path)
        );
        latencies.extend([b, c]);
    }
    let log = replicas[1].log();
    let reloads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("loaded a version") || l.contains("reloaded"))
        .collect();
    for line in &reloads[reloads.len().saturating_sub(6)..] {
        println!("B: {line}");
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "change propagation over {} ({CHANGES} changes x 2 replicas): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap())
    );
}
