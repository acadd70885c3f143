//! [`Logger`]: write to the host's log.

use crate::testing::LogLevel;

/// The host's logger. Lines are tagged with the plugin, the function and the
/// request id; `println!`/`eprintln!` output is logged too, at `info`. In
/// unit tests a [`MockHost`](crate::testing::MockHost) captures the lines.
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
        write(LogLevel::Debug, message.as_ref());
    }

    /// Logs at `info`.
    pub fn info(message: impl AsRef<str>) {
        write(LogLevel::Info, message.as_ref());
    }

    /// Logs at `warning`.
    pub fn warning(message: impl AsRef<str>) {
        write(LogLevel::Warning, message.as_ref());
    }

    /// Logs at `error`.
    pub fn error(message: impl AsRef<str>) {
        write(LogLevel::Error, message.as_ref());
    }
}

#[cfg(target_arch = "wasm32")]
fn write(level: LogLevel, message: &str) {
    use crate::__private::bindings::op::plugin::log as wit;
    let level = match level {
        LogLevel::Debug => wit::Level::Debug,
        LogLevel::Info => wit::Level::Info,
        LogLevel::Warning => wit::Level::Warning,
        LogLevel::Error => wit::Level::Error,
    };
    wit::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: LogLevel, message: &str) {
    crate::testing::log(level, message);
}
