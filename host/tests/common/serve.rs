//! `op serve` run in the test process on a loopback port, and the admin
//! API as an operator calls it.

use std::path::Path;

use op::serve::{self, Server};
use serde_json::Value;

/// The admin token of [`config`].
pub const TOKEN: &str = "admin-token-0123456789";
/// The team plugins are installed in.
pub const TEAM: &str = "TEAM0001";

/// A serve.yaml for `plugins_dir` in front of the ONES at `ones`, with
/// `extra` lines appended.
pub fn config_with(plugins_dir: &Path, ones: &str, extra: &str) -> serve::ServeConfig {
    let text = format!(
        "listen: 127.0.0.1:0\nones:\n  url: {ones}\n  organization_uuid: ORG00001\nplugins_dir: {}\nadmin:\n  token: {TOKEN}\n{extra}",
        plugins_dir.display()
    );
    let mut config =
        serve::config::parse(&text, "serve.yaml", Path::new("."), |_| None).expect("a good config");
    // Compiled components are shared by the tests' runs (a debug build
    // compiles slowly); what is installed stays in `plugins_dir`.
    config.runtime.cache = super::test_config().cache;
    config
}

/// [`config_with`] with nothing appended.
pub fn config(plugins_dir: &Path, ones: &str) -> serve::ServeConfig {
    config_with(plugins_dir, ones, "")
}

/// A running `op serve`; dropping the stopper stops it.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The server.
    pub server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts a server on the plugins directory in front of `ones`.
    pub async fn start(plugins_dir: &Path, ones: &str) -> Running {
        Self::start_with(config(plugins_dir, ones)).await
    }

    /// Starts a server with this configuration.
    pub async fn start_with(config: serve::ServeConfig) -> Running {
        let server = Server::start(config).await.expect("start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = server.clone();
        let task = tokio::spawn(async move {
            serve::serve(listener, &served, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        Running {
            origin,
            server,
            stop: Some(stop),
            task,
        }
    }

    /// Stops it and waits for the end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap();
    }

    /// The URL of `path` on it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

/// A package of the example at `dir` with its component, the manifest
/// edited by `edit`.
pub fn package(dir: &str, wasm: &str, edit: impl Fn(String) -> String) -> Vec<u8> {
    let manifest = std::fs::read_to_string(Path::new(dir).join("config/plugin.yaml")).unwrap();
    let component = op::code::PluginCode::Component(std::fs::read(wasm).unwrap());
    op::package::pack(&edit(manifest), "plugin.yaml", &component, None)
        .unwrap()
        .0
}

/// POSTs `body` to the admin API; the status and the JSON answer (null when
/// it is not JSON).
pub async fn admin_post(client: &reqwest::Client, url: String, body: Vec<u8>) -> (u16, Value) {
    let res = client
        .post(url)
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// GETs from the admin API; the JSON answer, which must be a 200.
pub async fn admin_get(client: &reqwest::Client, url: String) -> Value {
    let res = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    super::json(res).await
}

/// A package of the TypeScript example at `dir` with its bundle, both
/// edited: the manifest by `edit`, the bundle's text by `edit_code`.
pub fn ts_package(
    dir: &str,
    bundle: &str,
    edit: impl Fn(String) -> String,
    edit_code: impl Fn(String) -> String,
) -> Vec<u8> {
    let manifest = std::fs::read_to_string(Path::new(dir).join("config/plugin.yaml")).unwrap();
    let code =
        op::code::PluginCode::JavaScript(edit_code(std::fs::read_to_string(bundle).unwrap()));
    op::package::pack(&edit(manifest), "plugin.yaml", &code, None)
        .unwrap()
        .0
}

/// One plugin in two teams, on the `op serve` at `origin` (either store):
/// hello and task-guard installed in `TEAM` and in `TEAM0002`; each team's
/// intercept and route reach its own instance, a route without a team in
/// its url needs the `Ones-Team-UUID` header, and disabling an instance in
/// one team leaves the other team's untouched.
pub async fn one_plugin_in_two_teams(origin: &str) {
    const OTHER: &str = "TEAM0002";
    let client = super::client();
    let hello = package(op_test_plugins::HELLO_DIR, op_test_plugins::HELLO, |m| m);
    let guard = package(
        op_test_plugins::TASK_GUARD_DIR,
        op_test_plugins::TASK_GUARD,
        |m| m,
    );
    let mut ids = std::collections::HashMap::new();
    for team in [TEAM, OTHER] {
        for (name, package) in [("hello", &hello), ("guard", &guard)] {
            let url = format!("{origin}/admin/plugins?team={team}");
            let (status, body) = admin_post(&client, url, package.clone()).await;
            assert_eq!(status, 201, "{name} in {team}: {body}");
            assert_eq!(body["plugin"]["team_uuid"], team);
            let id = body["plugin"]["instance_id"].as_str().unwrap().to_string();
            ids.insert((name, team), id);
        }
    }
    let listing = admin_get(&client, format!("{origin}/admin/plugins")).await;
    assert_eq!(listing["plugins"].as_array().unwrap().len(), 4, "{listing}");

    let hello_in = |team: Option<&'static str>| {
        let client = client.clone();
        let url = format!("{origin}/project/api/project/hello");
        async move {
            let mut request = client.post(url).body(r#"{"x":1}"#);
            if let Some(team) = team {
                request = request.header("Ones-Team-UUID", team);
            }
            let res = request.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let blank_task = |team: &'static str| {
        let client = client.clone();
        let url = format!("{origin}/project/api/project/team/{team}/tasks/add2");
        async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"tasks":[{"summary":" "}]}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (status, body) = hello_in(None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("team_needed"), "{body}");
    assert!(body.contains(&format!("({TEAM}, {OTHER})")), "{body}");
    for team in [TEAM, OTHER] {
        let (status, body) = hello_in(Some(team)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("hello world"), "{body}");
        assert_eq!(blank_task(team).await, 400, "the guard of {team}");
    }

    // Disabled in TEAM: TEAM's calls go to ONES; OTHER's are still guarded
    // and answered.
    for name in ["guard", "hello"] {
        let url = format!("{origin}/admin/plugins/{}/disable", ids[&(name, TEAM)]);
        let (status, body) = admin_post(&client, url, Vec::new()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["plugin"]["state"], "disabled");
    }
    assert_eq!(blank_task(TEAM).await, 200, "TEAM's guard is disabled");
    assert_eq!(blank_task(OTHER).await, 400, "OTHER's guard still runs");
    let (status, body) = hello_in(Some(TEAM)).await;
    assert!(status != 200 || !body.contains("hello world"), "{body}");
    let (status, body) = hello_in(None).await;
    assert_eq!(status, 200, "the one enabled instance answers: {body}");
    assert!(body.contains("hello world"), "{body}");
    let listing = admin_get(&client, format!("{origin}/admin/plugins")).await;
    let states: Vec<(String, String)> = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                format!(
                    "{} {}",
                    p["app_id"].as_str().unwrap(),
                    p["team_uuid"].as_str().unwrap()
                ),
                p["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (format!("hellowrd {TEAM}"), "disabled".to_string()),
            (format!("taskgrd1 {TEAM}"), "disabled".to_string()),
            (format!("hellowrd {OTHER}"), "enabled".to_string()),
            (format!("taskgrd1 {OTHER}"), "enabled".to_string()),
        ]
    );
}
