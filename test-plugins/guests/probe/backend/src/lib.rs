//! A plugin for the host's tests: it reports what it was called with, and
//! fails in the ways the tests ask for.

use op_plugin_sdk::{
    FetchError, OPFetch, PluginError, PluginRequest, PluginResponse, json, serde_json,
};
use serde::Deserialize;

/// Answers everything it received, as JSON.
fn echo(req: PluginRequest) -> PluginResponse {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    PluginResponse::json(&json!({
        "method": req.method,
        "url": req.url,
        "path": req.path(),
        "params": req.params,
        "query": req.query,
        "headers": req.headers,
        "body": body,
    }))
}

/// Answers a plugin error shaped by the query: `status`, `kind`, `warning`.
fn fail(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let status = req
        .query("status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut err = PluginError::new(status, "the probe was asked to fail");
    if let Some(kind) = req.query("kind") {
        err = err.with_kind(kind);
    }
    if req.query("warning").is_some() {
        err = err.warning();
    }
    Err(err)
}

/// Answers a custom status, a repeated header and a text body.
fn custom(_req: PluginRequest) -> PluginResponse {
    PluginResponse::text("made by the probe")
        .with_status(201)
        .with_header("x-probe", "one")
        .with_header("x-probe", "two")
}

#[derive(Deserialize)]
struct Order {
    item: String,
    count: u32,
}

/// Wants a typed JSON body.
fn order(req: PluginRequest) -> Result<serde_json::Value, PluginError> {
    let order: Order = req.json()?;
    Ok(json!({ "ordered": order.item, "count": order.count }))
}

/// Panics: the host must answer 500 `plugin.trap`.
fn crash(_req: PluginRequest) -> PluginResponse {
    panic!("the probe crashed on purpose");
}

/// Never returns: the host must answer 504 `plugin.timeout`.
fn spin(_req: PluginRequest) -> PluginResponse {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates without end: the host must answer 500 `plugin.trap`.
fn hog(_req: PluginRequest) -> PluginResponse {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![1; 1 << 20]);
        std::hint::black_box(&blocks);
    }
}

/// Prints to stdout and stderr (captured into the host's log).
fn chatty(_req: PluginRequest) -> PluginResponse {
    println!("probe says hello on stdout");
    eprintln!("probe says hello on stderr");
    PluginResponse::empty()
}

#[derive(Deserialize)]
struct FetchOrder {
    url: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default = "yes")]
    root: bool,
    #[serde(default)]
    team_uuid: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    query: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Send the same request this many times (default once) and report the
    /// last outcome.
    #[serde(default)]
    repeat: Option<u32>,
}

fn get() -> String {
    "GET".into()
}

fn yes() -> bool {
    true
}

/// Makes the OPFetch call described by the JSON body and reports the
/// outcome: `{"status", "headers", "body"}` or `{"error", "message"}`.
fn fetch(req: PluginRequest) -> Result<serde_json::Value, PluginError> {
    let order: FetchOrder = req.json()?;
    let mut call = OPFetch::new(order.method, order.url)
        .root(order.root)
        .body(order.body);
    if let Some(ms) = order.timeout_ms {
        call = call.timeout(std::time::Duration::from_millis(ms));
    }
    if let Some(team) = order.team_uuid {
        call = call.team_uuid(team);
    }
    for (name, value) in order.headers {
        call = call.header(name, value);
    }
    for (name, value) in order.query {
        call = call.query(name, value);
    }
    let mut outcome = call.clone().send();
    for _ in 1..order.repeat.unwrap_or(1) {
        outcome = call.clone().send();
    }
    Ok(match outcome {
        Ok(answer) => json!({
            "status": answer.status,
            "headers": answer.headers,
            "body": answer.text(),
        }),
        Err(err) => {
            let kind = match &err {
                FetchError::InvalidRequest(_) => "invalid-request",
                FetchError::NoCredentials(_) => "no-credentials",
                FetchError::NoTeam(_) => "no-team",
                FetchError::NotAllowed(_) => "not-allowed",
                FetchError::Timeout(_) => "timeout",
                FetchError::ConnectionFailed(_) => "connection-failed",
                FetchError::TooLarge(_) => "too-large",
                FetchError::TooManyCalls(_) => "too-many-calls",
            };
            json!({ "error": kind, "message": err.message() })
        }
    })
}

/// Gathers everything the plugin can see: its environment, its config, the
/// request, and what a root OPFetch returns.
fn snoop(req: PluginRequest) -> serde_json::Value {
    let env = op_plugin_sdk::environment();
    let fetched = OPFetch::get("/users/me").send();
    let fetched = match fetched {
        Ok(answer) => {
            json!({"status": answer.status, "headers": answer.headers, "body": answer.text()})
        }
        Err(err) => json!({"error": err.message()}),
    };
    op_plugin_sdk::Logger::info("snooping");
    json!({
        "env": {
            "team_uuid": env.team_uuid,
            "organization_uuid": env.organization_uuid,
            "instance_id": env.instance_id,
        },
        "config": op_plugin_sdk::config(),
        "request": { "headers": req.headers, "params": req.params, "body": String::from_utf8_lossy(&req.body) },
        "fetched": fetched,
        "host_env": std::env::vars().collect::<Vec<_>>(),
        "args": std::env::args().collect::<Vec<_>>(),
    })
}

/// Lifecycle hooks: each says on stdout that it ran (the host logs it).
fn lifecycle(name: &str) -> PluginResponse {
    println!("lifecycle: {name}");
    PluginResponse::empty()
}

fn install(_req: PluginRequest) -> PluginResponse {
    lifecycle("Install")
}

fn enable(_req: PluginRequest) -> PluginResponse {
    lifecycle("Enable")
}

fn start(_req: PluginRequest) -> PluginResponse {
    lifecycle("Start")
}

fn stop(_req: PluginRequest) -> PluginResponse {
    lifecycle("Stop")
}

fn disable(_req: PluginRequest) -> PluginResponse {
    lifecycle("Disable")
}

fn uninstall(_req: PluginRequest) -> PluginResponse {
    lifecycle("UnInstall")
}

fn upgrade(_req: PluginRequest) -> PluginResponse {
    lifecycle("Upgrade")
}

op_plugin_sdk::export_functions! {
    install as "Install",
    enable as "Enable",
    start as "Start",
    stop as "Stop",
    disable as "Disable",
    uninstall as "UnInstall",
    upgrade as "Upgrade",
    fetch,
    snoop,
    echo,
    fail,
    custom,
    order,
    crash,
    spin,
    hog,
    chatty,
    echo as "echoCamel",
}
