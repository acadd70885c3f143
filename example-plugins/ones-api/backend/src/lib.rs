//! OPFetch examples: call ONES as the calling user or as the plugin's
//! super-admin. The host adds the credentials; this code never sees the
//! super-admin's token.

use op_plugin_sdk::{Logger, OPFetch, PluginError, PluginRequest, PluginResponse, json};

/// `GET /me`: the calling user's profile (`root: false` uses the caller's
/// `Ones-User-Id` / `Ones-Auth-Token`).
fn me(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let answer = OPFetch::get("/users/me").root(false).send()?;
    Ok(answer.into())
}

/// `GET /admin/me`: the super-admin's profile (`root: true`, the default).
fn admin_me(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let answer = OPFetch::get("/users/me").send()?;
    Ok(answer.into())
}

/// `POST /team/:teamUUID/projects`: the team's projects, read by the
/// super-admin on behalf of a logged-in user.
fn projects(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let team = req.param("teamUUID").unwrap_or_default();
    let answer = OPFetch::post(format!("/team/{team}/items/view"))
        .json(&json!({ "item_type": "project" }))?
        .send()?;
    if !answer.is_success() {
        Logger::warning(format!("ONES answered {} to items/view", answer.status));
    }
    Ok(answer.into())
}

op_plugin_sdk::export_functions! {
    me,
    admin_me as "adminMe",
    projects,
}

// `cargo test` in example-plugins/ runs these natively, with the SDK's mock
// host standing in for op.
#[cfg(test)]
mod tests {
    use super::*;
    use op_plugin_sdk::FetchResponse;
    use op_plugin_sdk::testing::MockHost;

    #[test]
    fn me_asks_as_the_caller_and_admin_me_as_the_super_admin() {
        let host = MockHost::new().on_fetch(
            "GET",
            "/users/me",
            FetchResponse::from_json(200, &json!({ "uuid": "U1" })),
        );
        assert_eq!(
            me(PluginRequest::get("/me")).unwrap().body_json()["uuid"],
            "U1"
        );
        assert_eq!(
            admin_me(PluginRequest::get("/admin/me")).unwrap().status(),
            200
        );
        let fetches = host.fetches();
        assert!(!fetches[0].root, "me: the caller's credentials");
        assert!(fetches[1].root, "adminMe: the super-admin's");
    }

    #[test]
    fn projects_reads_the_team_items_and_warns_on_a_refusal() {
        let host = MockHost::new().on_fetch(
            "POST",
            "/team/:team/items/view",
            FetchResponse::from_json(403, &json!({ "code": 403 })),
        );
        let req = PluginRequest::post("/team/T1/projects").with_param("teamUUID", "T1");
        let res = projects(req).unwrap();
        assert_eq!(res.status(), 403, "ONES's answer is passed on");
        let sent = &host.fetches()[0];
        assert_eq!(sent.url, "/team/T1/items/view");
        assert_eq!(sent.json(), json!({ "item_type": "project" }));
        assert!(host.logged("ONES answered 403 to items/view"));
    }
}
