//! `op:plugin/log`: the plugin's log lines, into the host's log.

use super::HostState;
use crate::runtime::bindings::Level;
use crate::runtime::bindings::op::plugin::log::Host;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let call = &self.call;
        let plugin = call.instance.app_id.as_str();
        let function = call.function.as_str();
        let request_id = call.request_id.as_str();
        match level {
            Level::Debug => {
                tracing::debug!(target: "op::plugin", plugin, function, request_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "op::plugin", plugin, function, request_id, "{message}")
            }
            Level::Warning => {
                tracing::warn!(target: "op::plugin", plugin, function, request_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "op::plugin", plugin, function, request_id, "{message}")
            }
        }
    }
}
