#![allow(missing_docs)]

//! Host-side bindings of `wit/`, generated once here and nowhere else.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
});

pub use exports::op::plugin::handler::{PluginError, Request, Response};
pub use op::plugin::types::{Severity, UpstreamResponse};
