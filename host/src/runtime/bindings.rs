#![allow(missing_docs)]

//! Host-side bindings of `wit/`, generated once here and nowhere else.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
});

pub use self::op::plugin::types::{Severity, UpstreamResponse};
pub use exports::op::plugin::handler::{PluginError, Request, Response};
