//! The backend functions of {{name}}. Each one is declared in
//! `config/plugin.yaml` and listed in `export_functions!` at the bottom.

use op_plugin_sdk::{OPFetch, PluginError, PluginRequest, PluginResponse, json};

/// `GET /hello`: a greeting.
fn hello(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    Ok(PluginResponse::json(&json!({ "res": "hello world" })))
}

/// `GET /team/:teamUUID/me`: who is calling, asked of ONES as the calling
/// user (`root(false)`; the default, `root(true)`, is the plugin's
/// super-admin).
fn whoami(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let me = OPFetch::get("/users/me").root(false).send()?;
    if !me.is_success() {
        return Ok(me.into()); // ONES's own answer, e.g. 401, passed on
    }
    let user: op_plugin_sdk::serde_json::Value = me.json()?;
    op_plugin_sdk::Logger::info(format!("{} asked who they are", user["name"]));
    Ok(PluginResponse::json(&json!({
        "uuid": user["uuid"],
        "name": user["name"],
    })))
}

/// Lifecycle hook: runs once when the plugin is installed in a team
/// (`op invoke run` the first time; `op invoke clear` forgets it).
fn on_install(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let env = op_plugin_sdk::environment();
    op_plugin_sdk::Logger::info(format!("installed in team {:?}", env.team_uuid));
    Ok(PluginResponse::empty())
}

/// Lifecycle hook: runs when the plugin is uninstalled.
fn on_uninstall(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    op_plugin_sdk::Logger::info("uninstalled");
    Ok(PluginResponse::empty())
}

op_plugin_sdk::export_functions! {
    hello,
    whoami,
    on_install as "Install",
    on_uninstall as "UnInstall",
}

// `cargo test` in backend/ runs these natively: no server, no wasm build.
#[cfg(test)]
mod tests {
    use super::*;
    use op_plugin_sdk::FetchResponse;
    use op_plugin_sdk::testing::MockHost;

    #[test]
    fn hello_greets() {
        let res = hello(PluginRequest::get("/hello")).unwrap();
        assert_eq!(res.body_json(), json!({ "res": "hello world" }));
    }

    #[test]
    fn whoami_asks_ones_as_the_caller() {
        let host = MockHost::new().on_fetch(
            "GET",
            "/users/me",
            FetchResponse::from_json(200, &json!({ "uuid": "U1", "name": "Ada" })),
        );
        let req = PluginRequest::get("/team/T1/me").with_param("teamUUID", "T1");
        let res = whoami(req).unwrap();
        assert_eq!(res.body_json(), json!({ "uuid": "U1", "name": "Ada" }));
        let fetches = host.fetches();
        assert_eq!(fetches.len(), 1);
        assert!(!fetches[0].root, "sent with the caller's credentials");
        assert!(host.logged("asked who they are"));
    }

    #[test]
    fn install_logs_its_team() {
        let host = MockHost::new().team("T1");
        on_install(PluginRequest::post("/")).unwrap();
        assert!(host.logged("installed in team Some(\"T1\")"));
    }

    #[test]
    fn whoami_passes_a_refusal_on() {
        let _host = MockHost::new().on_fetch(
            "GET",
            "/users/me",
            FetchResponse::from_json(401, &json!({ "code": 401 })),
        );
        let res = whoami(PluginRequest::get("/team/T1/me")).unwrap();
        assert_eq!(res.status(), 401);
    }
}
