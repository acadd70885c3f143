//! Host-side bindings of `wit/`, generated once here and nowhere else: the
//! types of the plugin world that the imports implement and the runtime
//! calls through, so both depend on this module and neither on the other's
//! bindings.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: {
        "op:plugin/fetch.fetch": async,
        "op:plugin/storage.get": async,
        "op:plugin/storage.set": async,
        "op:plugin/storage.delete": async,
        "op:plugin/storage.batch-set": async,
        "op:plugin/storage.batch-delete": async,
        "op:plugin/storage.query": async,
        "op:plugin/objects.upload": async,
        "op:plugin/objects.download": async,
        "op:plugin/objects.put": async,
        "op:plugin/objects.get": async,
        "op:plugin/objects.delete": async,
    },
    exports: { default: async },
});

pub use self::op::plugin::fetch::{FetchError, FetchRequest, FetchResponse};
pub use self::op::plugin::log::Level;
pub use self::op::plugin::types::{Severity, UpstreamResponse};
pub use exports::op::plugin::handler::{PluginError, Request, Response};
