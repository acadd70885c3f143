//! [`Logger`]: write to the host's log.

use crate::__private::bindings::op::plugin::log as wit;

/// The host's logger. Lines are tagged with the plugin, the function and the
/// request id; `println!`/`eprintln!` output is logged too, at `info`.
///
/// ```no_run
/// use op_plugin_sdk::Logger;
/// Logger::info("task checked");
/// Logger::warning(format!("summary too short: {}", 3));
/// ```
pub struct Logger;

impl Logger {
    /// Logs at `debug`.
    pub fn debug(message: impl AsRef<str>) {
        wit::log(wit::Level::Debug, message.as_ref());
    }

    /// Logs at `info`.
    pub fn info(message: impl AsRef<str>) {
        wit::log(wit::Level::Info, message.as_ref());
    }

    /// Logs at `warning`.
    pub fn warning(message: impl AsRef<str>) {
        wit::log(wit::Level::Warning, message.as_ref());
    }

    /// Logs at `error`.
    pub fn error(message: impl AsRef<str>) {
        wit::log(wit::Level::Error, message.as_ref());
    }
}
