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
