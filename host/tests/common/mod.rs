//! Helpers shared by the integration tests: one runtime per test process,
//! plugins loaded from the components built by `op-test-plugins`, and a
//! gateway served on a loopback port.

#![allow(dead_code)]

pub mod binary;
pub mod console;
pub mod fleet;
pub mod postgres;
pub mod properties;
pub mod raw;
pub mod serve;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use op::gateway::{self, Gateway, GatewayLimits, PluginSet};
use op::imports::{Credentials, Installation, OnesLink, SingleSuperAdmin};
use op::manifest::Manifest;
use op::runtime::{CompileCache, Plugin, Runtime, RuntimeConfig};

/// The tests' runtime settings: a compile cache under `target/`, a small
/// pool.
pub fn test_config() -> RuntimeConfig {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/op-test-cache");
    RuntimeConfig {
        cache: Some(CompileCache::new(cache)),
        max_instances: 64,
        max_memory: 256 * 1024 * 1024,
        ..RuntimeConfig::default()
    }
}

/// Returns once `plugin` has an instance made ahead for its next call.
pub async fn until_ready(plugin: &Plugin) {
    for _ in 0..1000 {
        if plugin.has_ready_instance() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no instance was made ahead within 10 s");
}

/// The process's runtime.
pub fn runtime() -> Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Runtime::new(test_config()).expect("runtime"))
        .clone()
}

/// Loads the plugin project `dir` with its component `wasm` into
/// `runtime`, its manifest first changed by `edit`, installed as
/// `installation`.
pub async fn load_installed(
    runtime: &Runtime,
    dir: &str,
    wasm: &str,
    edit: impl Fn(String) -> String,
    installation: op::imports::Installation,
) -> Arc<Plugin> {
    let text = edit(std::fs::read_to_string(Path::new(dir).join("config/plugin.yaml")).unwrap());
    let manifest = op::manifest::parse(&text, "config/plugin.yaml").unwrap();
    let plugin = Plugin::load_installed(
        runtime,
        manifest,
        "config/plugin.yaml",
        Path::new(wasm),
        installation,
    )
    .await
    .unwrap_or_else(|err| panic!("loading {wasm}: {err}"));
    Arc::new(plugin)
}

/// The manifest of a plugin project directory.
pub fn manifest_of(dir: &str) -> Manifest {
    let path = PathBuf::from(dir).join("config/plugin.yaml");
    op::manifest::load(&path, "config/plugin.yaml").expect("valid manifest")
}

/// Loads a plugin from a project directory and its built component.
pub async fn load(dir: &str, wasm: &str) -> Arc<Plugin> {
    load_with(manifest_of(dir), wasm).await
}

/// Loads a component with the given manifest.
pub async fn load_with(manifest: Manifest, wasm: &str) -> Arc<Plugin> {
    let plugin = Plugin::load(&runtime(), manifest, "config/plugin.yaml", Path::new(wasm))
        .await
        .unwrap_or_else(|err| panic!("loading {wasm}: {err}"));
    Arc::new(plugin)
}

/// The probe test plugin.
pub async fn probe() -> Arc<Plugin> {
    load(op_test_plugins::PROBE_DIR, op_test_plugins::PROBE).await
}

/// The hello example plugin.
pub async fn hello() -> Arc<Plugin> {
    load(op_test_plugins::HELLO_DIR, op_test_plugins::HELLO).await
}

/// A gateway serving `plugins` on a free loopback port; returns its origin
/// (`http://127.0.0.1:PORT`) and the gateway. The server stops with the test.
pub async fn serve(plugins: Vec<Arc<Plugin>>, limits: GatewayLimits) -> (String, Gateway) {
    let gateway = Gateway::new(PluginSet::new(plugins).expect("no conflicts"), limits);
    serve_gateway(gateway).await
}

/// A gateway in front of the ONES at `upstream`, serving `plugins`.
pub async fn serve_in_front_of(plugins: Vec<Arc<Plugin>>, upstream: &str) -> (String, Gateway) {
    let set = PluginSet::new(plugins).expect("no conflicts");
    let gateway = Gateway::with_upstream(
        set,
        GatewayLimits::default(),
        op::gateway::Upstream::new(upstream),
    );
    serve_gateway(gateway).await
}

/// Serves `gateway` on a free loopback port; returns its origin.
pub async fn serve_gateway(gateway: Gateway) -> (String, Gateway) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let served = gateway.clone();
    tokio::spawn(async move {
        gateway::serve(listener, served, std::future::pending())
            .await
            .expect("serve");
    });
    (origin, gateway)
}

/// Sends a request as an ONES user (`Ones-User-Id`, `Ones-Auth-Token`).
pub trait SignedAs {
    /// The request with the user's credentials.
    fn signed_as(self, user_id: &str, token: &str) -> Self;
}

impl SignedAs for reqwest::RequestBuilder {
    fn signed_as(self, user_id: &str, token: &str) -> Self {
        self.header("Ones-User-Id", user_id)
            .header("Ones-Auth-Token", token)
    }
}

/// An HTTP client for the tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

/// The JSON body of a response.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// Checks that `res` is the ONES error `model` with `status`; returns its
/// reason.
pub async fn error_reason(res: reqwest::Response, status: u16, model: &str) -> String {
    assert_eq!(res.status(), status);
    let body = json(res).await;
    assert_eq!(body["model"], model, "{body}");
    body["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason: {body}"))
        .to_string()
}

/// An installation in `team` (organization `OrgOne01`, instance `inst0001`)
/// in front of the ONES at `ones_origin`, whose super-admin is `AdminU01`
/// with `admin_token`.
pub fn installed_in(ones_origin: &str, team: &str, admin_token: &str) -> Installation {
    Installation {
        instance_id: "inst0001".into(),
        team_uuid: Some(team.into()),
        organization_uuid: Some("OrgOne01".into()),
        config: Vec::new(),
        ones: Some(OnesLink {
            base_url: ones_origin.to_string(),
            super_admins: Arc::new(SingleSuperAdmin(Credentials {
                user_id: "AdminU01".into(),
                token: admin_token.into(),
            })),
        }),
        workspace: None,
        records: None,
    }
}

/// Asks the probe plugin served at `origin` to make the OPFetch call
/// `order` (as Alice); its JSON answer.
pub async fn probe_fetch(origin: &str, order: serde_json::Value) -> serde_json::Value {
    let res = client()
        .post(format!("{origin}/project/api/project/fetch"))
        .signed_as("alice", "alice-token")
        .body(order.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

/// Loads the TypeScript plugin project `dir` from its bundle (built by
/// `op-test-plugins`), its manifest changed by `edit`, installed as
/// `installation`: pre-initialised and componentized by op, through the
/// tests' snapshot cache.
pub async fn load_ts(
    dir: &str,
    bundle: &str,
    edit: impl Fn(String) -> String,
    installation: Installation,
) -> Arc<Plugin> {
    let text = edit(std::fs::read_to_string(Path::new(dir).join("config/plugin.yaml")).unwrap());
    let manifest = op::manifest::parse(&text, "config/plugin.yaml").unwrap();
    let code = op::code::PluginCode::JavaScript(std::fs::read_to_string(bundle).unwrap());
    let plugin = code
        .load(
            &runtime(),
            manifest,
            "config/plugin.yaml",
            bundle,
            installation,
        )
        .await
        .unwrap_or_else(|err| panic!("loading {bundle}: {err}"));
    Arc::new(plugin)
}
