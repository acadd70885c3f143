//! What a large plugin set costs (the figures BENCHMARKS.md quotes): one
//! `op serve` on the directory store with `PLUGINS` installed plugins, half
//! of them variants of `hello` (each its own route, `/helloN`) and half
//! variants of `task-guard` (each one intercept, on its own API
//! `/team/:teamUUID/tasksN/add2`). Every variant has its own app_id and,
//! through a custom section holding its number, its own component bytes,
//! so that each is compiled on its own as an operator's distinct plugins
//! would be.
//!
//! Measured, against a host with the one `hello` plugin in the same run:
//! - start-up, from the process's start to its "serving" line: cold (an
//!   empty compile cache: every component is compiled) and warm (the cache
//!   holds them all);
//! - peak memory (VmHWM) of each start, and the memory at rest (VmRSS)
//!   after the throughput runs;
//! - requests/s of the hello route and of the plain proxy (an API no plugin
//!   hooks), with `wrk` on core 1 and op on core 0, against the one-plugin
//!   host: each case twice, the hosts in turn, the better run of each.
//!
//! Run with `bash bench/plugin_set.sh [SECONDS] [CONNECTIONS]` (which
//! installs wrk), or `cargo bench -p op --bench plugin_set`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::binary::{OP, ServeProcess, spawn_serve};
use common::serve::{TEAM, TOKEN, admin_post};

/// Plugins in the large set (half hello, half task-guard variants).
const PLUGINS: usize = 100;

/// One `op serve` configuration with a plugins directory and compile cache
/// of its own.
struct Host {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Host {
    fn new(ones: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let config = dir.path().join("serve.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\nones:\n  url: {ones}\n  organization_uuid: ORG00001\n\
                 plugins_dir: plugins\nstore: directory\nadmin:\n  token: {TOKEN}\n\
                 log:\n  format: json\n  level: warn,op::serve=info\n"
            ),
        )
        .unwrap();
        Host { dir, config }
    }

    /// Starts op serve pinned to core 0; the time until it serves.
    fn start(&self) -> (ServeProcess, Duration) {
        let started = Instant::now();
        let mut command = Command::new("taskset");
        command
            .args(["-c", "0", OP, "serve", "--config"])
            .arg(&self.config)
            .env_remove("OP_ADMIN_TOKEN")
            .env_remove("OP_STORE_URL");
        let serving = spawn_serve(&mut command);
        (serving, started.elapsed())
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("plugins/cache")
    }
}

/// `VmHWM` or `VmRSS` of `pid`, in MiB.
fn memory(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

/// `component` with a custom section `op-bench-variant` holding `n`: other
/// bytes (and so another compile and cache entry), the same code.
fn variant(component: &[u8], n: usize) -> Vec<u8> {
    let name = b"op-bench-variant";
    let payload = n.to_string();
    let content = 1 + name.len() + payload.len();
    assert!(content < 128 && name.len() < 128, "one-byte LEB128 lengths");
    let mut out = component.to_vec();
    out.extend([0u8, content as u8, name.len() as u8]);
    out.extend_from_slice(name);
    out.extend_from_slice(payload.as_bytes());
    out
}

fn package(manifest: String, component: Vec<u8>) -> Vec<u8> {
    let code = op::code::PluginCode::Component(component);
    op::package::pack(&manifest, "plugin.yaml", &code, None)
        .unwrap()
        .0
}

fn hello_package(n: usize) -> Vec<u8> {
    let dir = op_test_plugins::HELLO_DIR;
    let manifest = std::fs::read_to_string(Path::new(dir).join("config/plugin.yaml")).unwrap();
    let manifest = manifest
        .replace("app_id: hellowrd", &format!("app_id: hel{n:05}"))
        .replace("url: /hello", &format!("url: /hello{n}"));
    let wasm = std::fs::read(op_test_plugins::HELLO).unwrap();
    package(manifest, variant(&wasm, n))
}

fn guard_package(n: usize) -> Vec<u8> {
    let dir = op_test_plugins::TASK_GUARD_DIR;
    let manifest = std::fs::read_to_string(Path::new(dir).join("config/plugin.yaml")).unwrap();
    // Its intercept alone, on an API of its own.
    let manifest = manifest
        .split("  - type: subscribe")
        .next()
        .unwrap()
        .replace("app_id: taskgrd1", &format!("app_id: grd{n:05}"))
        .replace("/tasks/add2", &format!("/tasks{n}/add2"));
    let wasm = std::fs::read(op_test_plugins::TASK_GUARD).unwrap();
    package(manifest, variant(&wasm, n))
}

async fn install(client: &reqwest::Client, serving: &ServeProcess, packages: &[Vec<u8>]) {
    for (n, package) in packages.iter().enumerate() {
        let url = format!("http://{}/admin/plugins?team={TEAM}", serving.admin);
        let (status, body) = admin_post(client, url, package.clone()).await;
        assert_eq!(status, 201, "plugin {n}: {body}");
    }
}

/// A stand-in for ONES answering every request with one small JSON body
/// (the tests' recording upstream keeps every request, which would grow
/// and slow down over a throughput run).
async fn upstream() -> String {
    let app = axum::Router::new().fallback(|| async {
        (
            [("content-type", "application/json")],
            r#"{"tasks":[{"uuid":"Task0001"}],"bad_tasks":[]}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

/// `wrk` on core 1 against `url` with the POST `body`: requests/s.
fn wrk(url: &str, body: &str, seconds: u64, connections: u32, scripts: &Path) -> f64 {
    let script = scripts.join(format!("post-{}.lua", body.len()));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{body}'\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ),
    )
    .unwrap();
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk (bench/plugin_set.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "errors during the run:\n{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no requests/s in wrk's report:\n{text}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    if let Some(filter) = args.next()
        && !"plugin_set".contains(&filter)
    {
        return;
    }
    let seconds: u64 = std::env::var("OP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let connections: u32 = std::env::var("OP_BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    // This process (the stand-in for ONES, the installs) beside wrk.
    let own = std::process::id().to_string();
    Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &own])
        .output()
        .unwrap();
    let ones = upstream().await;
    let client = common::client();
    let scripts = tempfile::tempdir().unwrap();

    let packages: Vec<Vec<u8>> = (0..PLUGINS / 2)
        .map(hello_package)
        .chain((0..PLUGINS / 2).map(guard_package))
        .collect();

    // The one-plugin host: hello alone.
    let one = Host::new(&ones);
    let (serving, _) = one.start();
    install(&client, &serving, &packages[..1]).await;
    drop(serving);
    let (one_serving, _) = one.start();

    // The large host: installed, then started cold and warm.
    let large = Host::new(&ones);
    let (serving, _) = large.start();
    install(&client, &serving, &packages).await;
    drop(serving);
    std::fs::remove_dir_all(large.cache()).unwrap();
    let (serving, cold) = large.start();
    let cold_peak = memory(serving.child.0.id(), "VmHWM");
    drop(serving);
    let (serving, warm) = large.start();
    let warm_peak = memory(serving.child.0.id(), "VmHWM");

    let hello = "/project/api/project/hello0";
    let proxy = format!("/project/api/project/team/{TEAM}/tasks/add2");
    let task = r#"{"tasks":[{"summary":"Benchmark","project_uuid":"ProjApol"}]}"#;
    let url = |s: &ServeProcess, path: &str| format!("http://{}{path}", s.address);
    // Each case twice, the hosts in turn, the better run of each kept: the
    // machine's pace drifts between runs.
    let best = |path: &str, body: &str| {
        let (mut one_best, mut large_best) = (0f64, 0f64);
        for _ in 0..2 {
            let run =
                |s: &ServeProcess| wrk(&url(s, path), body, seconds, connections, scripts.path());
            one_best = one_best.max(run(&one_serving));
            large_best = large_best.max(run(&serving));
        }
        (one_best, large_best)
    };
    let (one_hello, large_hello) = best(hello, r#"{"x":1}"#);
    let (one_proxy, large_proxy) = best(&proxy, task);
    let one_rest = memory(one_serving.child.0.id(), "VmRSS");
    let large_rest = memory(serving.child.0.id(), "VmRSS");
    let large_peak = memory(serving.child.0.id(), "VmHWM");

    println!(
        "{PLUGINS} plugins ({} hello variants with a route each, {} task-guard variants with an intercept each), \
         op on core 0, wrk on core 1, {seconds} s per case, {connections} connections",
        PLUGINS / 2,
        PLUGINS / 2
    );
    println!(
        "start-up cold (compile): {:.2} s, peak {cold_peak:.1} MiB",
        cold.as_secs_f64()
    );
    println!(
        "start-up warm (compile cache): {:.2} s, peak {warm_peak:.1} MiB",
        warm.as_secs_f64()
    );
    println!(
        "peak RSS after the runs: {large_peak:.1} MiB; at rest: {large_rest:.1} MiB (one-plugin host: {one_rest:.1} MiB)"
    );
    println!(
        "hello route: {large_hello:.0} req/s, one-plugin host {one_hello:.0} req/s: {:.2}x",
        large_hello / one_hello
    );
    println!(
        "plain proxy: {large_proxy:.0} req/s, one-plugin host {one_proxy:.0} req/s: {:.2}x",
        large_proxy / one_proxy
    );
}
