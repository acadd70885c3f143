//! Hooks for the gateway's tests. Post-hooks report what they were told by
//! calling ONES (the tests' recording stand-in) with OPFetch.

use op_plugin_sdk::{OPFetch, PluginError, PluginRequest, PluginResponse, json};

/// `replace GET /users/me`: answers instead of ONES.
fn replace_me(req: PluginRequest) -> PluginResponse {
    PluginResponse::json(&json!({ "replaced": true, "user": req.header("ones-user-id") }))
        .with_status(203)
}

/// `prefix`: rewrites the request's body and adds a header.
fn rewrite(_req: PluginRequest) -> PluginResponse {
    PluginResponse::bytes(br#"{"item_type":"rewritten"}"#.to_vec())
        .with_header("x-rewritten", "yes")
}

/// `suffix`: tells the stand-in what ONES answered.
fn after_info(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    report("/suffix-seen", &req)?;
    Ok(PluginResponse::empty())
}

/// `subscribe`: waits a second, then tells the stand-in what ONES answered.
fn slow_subscriber(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    std::thread::sleep(std::time::Duration::from_millis(1000));
    report("/subscribed", &req)?;
    Ok(PluginResponse::empty())
}

/// `intercept` that crashes.
fn crash_hook(_req: PluginRequest) -> PluginResponse {
    panic!("the hook crashed on purpose");
}

fn report(path: &str, req: &PluginRequest) -> Result<(), PluginError> {
    let upstream = req.upstream.as_ref();
    OPFetch::post(path)
        .json(&json!({
            "status": upstream.map(|u| u.status),
            "body": upstream.map(|u| String::from_utf8_lossy(&u.body).into_owned()),
            "params": req.params,
        }))?
        .send()?;
    Ok(())
}

/// Lifecycle `Install`: tells the stand-in it ran.
fn install(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    report("/installed", &req)?;
    Ok(PluginResponse::empty())
}

/// Lifecycle `Start`: refuses to start.
fn refuse_start(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
    Err(PluginError::new(409, "not today"))
}

op_plugin_sdk::export_functions! {
    install as "Install",
    refuse_start as "Start",
    replace_me as "replaceMe",
    rewrite,
    after_info as "afterInfo",
    slow_subscriber as "slowSubscriber",
    crash_hook as "crashHook",
}
