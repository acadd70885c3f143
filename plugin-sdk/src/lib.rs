//! Write backend functions of ONES plugins in Rust, for the `op` host.
//!
//! A plugin backend is a `cdylib` crate built for `wasm32-wasip2`. Its
//! functions take a [`PluginRequest`] and answer a [`PluginResponse`] or a
//! [`PluginError`], like the functions of the ONES Node.js platform. One
//! [`export_functions!`] lists them under the names that `config/plugin.yaml`
//! uses; the WebAssembly bindings stay hidden.
//!
//! # Example
//!
//! `config/plugin.yaml`:
//!
//! ```yaml
//! service:
//!   app_id: hello0001
//!   name: hello
//!   version: 1.0.0
//! apis:
//!   - type: addition
//!     methods: [POST]
//!     url: /hello
//!     function: hello
//!   - type: addition
//!     methods: [GET]
//!     url: /users/:userUUID
//!     function: getUser
//! ```
//!
//! `backend/src/lib.rs`:
//!
//! ```
//! use op_plugin_sdk::{json, PluginError, PluginRequest, PluginResponse};
//!
//! /// `POST /hello`: echoes the JSON body it was sent.
//! fn hello(req: PluginRequest) -> Result<PluginResponse, PluginError> {
//!     let body = req.json_value()?; // a body that is not JSON answers 400
//!     Ok(PluginResponse::json(&json!({ "res": "hello world", "requestBody": body })))
//! }
//!
//! /// `GET /users/:userUUID`: the Rust name differs from the ONES name.
//! fn get_user(req: PluginRequest) -> Result<PluginResponse, PluginError> {
//!     let uuid = req.param("userUUID").unwrap_or_default();
//!     if uuid.len() != 8 {
//!         return Err(PluginError::bad_request("a user UUID has 8 characters").warning());
//!     }
//!     Ok(PluginResponse::json(&json!({ "uuid": uuid })))
//! }
//!
//! op_plugin_sdk::export_functions! {
//!     hello,
//!     get_user as "getUser",
//! }
//! # fn main() {
//! #     let req = PluginRequest { body: br#"{"x":1}"#.to_vec(), ..Default::default() };
//! #     assert_eq!(hello(req).unwrap().body(), br#"{"requestBody":{"x":1},"res":"hello world"}"#);
//! # }
//! ```
//!
//! `backend/Cargo.toml` declares `crate-type = ["cdylib"]` and depends on
//! `op-plugin-sdk`; `op invoke run` builds it with
//! `cargo build --release --target wasm32-wasip2`.
//!
//! A function may return a [`PluginResponse`], a `serde_json::Value`, or a
//! `Result` of either whose error converts into [`PluginError`]. A panic ends
//! the call with a trap, which the client sees as a 500 `plugin.trap`.
//!
//! # Unit tests
//!
//! Functions are plain Rust functions: `cargo test` in `backend/` runs them
//! natively, with a [`testing::MockHost`] standing in for the host (canned
//! `OPFetch` answers, recorded calls, environment, configuration and
//! captured logs).
//!
//! # Calling ONES
//!
//! [`OPFetch`] calls the ONES API as the plugin's super-admin (the default)
//! or as the calling user (`.root(false)`); the host adds the credentials, so
//! the plugin never holds the super-admin's token. [`Logger`] writes to the
//! host's log, [`environment`] says where the plugin is installed, and
//! [`config_value`] reads `service.config`, and [`storage`] keeps the
//! records of the entities plugin.yaml declares.
//!
//! ```no_run
//! use op_plugin_sdk::{Logger, OPFetch, PluginError, PluginRequest, PluginResponse};
//!
//! fn projects(req: PluginRequest) -> Result<PluginResponse, PluginError> {
//!     let team = req.param("teamUUID").unwrap_or_default();
//!     let answer = OPFetch::post(format!("/team/{team}/items/view"))
//!         .json(&op_plugin_sdk::json!({ "item_type": "project" }))?
//!         .send()?; // no answer at all: 502 `plugin.fetch` for the client
//!     Logger::info(format!("ONES answered {}", answer.status));
//!     Ok(answer.into()) // status, content type and body passed on
//! }
//! ```

mod env;
mod error;
mod fetch;
mod logger;
pub mod objects;
mod request;
mod response;
pub mod storage;
pub mod testing;

pub use env::{Environment, config, config_value, environment};
pub use error::{PluginError, Severity};
pub use fetch::{FetchError, FetchResponse, OPFetch};
pub use logger::Logger;
pub use request::{PluginRequest, UpstreamResponse};
pub use response::{IntoPluginResult, PluginResponse};

/// The `serde_json` crate the SDK uses, so that plugins need not depend on it.
pub use serde_json;
/// Builds a JSON value (re-exported from `serde_json`).
pub use serde_json::json;

/// Registers the plugin's functions with the host.
///
/// Each entry is a function `fn(PluginRequest) -> R` where `R` implements
/// [`IntoPluginResult`]. It is exported under its Rust name, or under the name
/// given with `as "Name"` (for ONES-style names such as `getUser` or the
/// lifecycle hooks `Install`, `Enable`, ...). Use the macro once per crate.
///
/// ```ignore
/// op_plugin_sdk::export_functions! {
///     hello,
///     get_user as "getUser",
///     on_install as "Install",
/// }
/// ```
pub use op_plugin_sdk_macros::export_functions;

#[doc(hidden)]
pub mod __private {
    //! Used by the expansion of `export_functions!`; not a stable API.
    pub use crate::dispatch::*;

    /// Bindings generated from `wit/` by wit-bindgen.
    #[allow(missing_docs)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "plugin",
            pub_export_macro: true,
            export_macro_name: "__export_plugin",
            default_bindings_module: "::op_plugin_sdk::__private::bindings",
        });
    }
}

mod dispatch;
