//! Errors of loading and calling plugins.

use std::time::Duration;

use crate::manifest::ManifestError;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine or linker could not be set up.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// The wasm file could not be read.
    #[error("cannot read the component {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a valid component for this host.
    #[error("{path} is not a valid plugin component: {reason}")]
    Compile {
        /// The file.
        path: String,
        /// Why (wasmtime's explanation).
        reason: String,
    },
    /// The component needs an import the host does not give, or does not
    /// export the `op:plugin/handler` interface.
    #[error("{path} cannot be linked: {reason}")]
    Link {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The component failed while listing its functions.
    #[error("{path} failed while listing its functions: {reason}")]
    Probe {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The manifest names functions the component does not export.
    #[error(transparent)]
    MissingFunctions(#[from] ManifestError),
}

impl LoadError {
    pub(crate) fn engine(err: impl std::fmt::Display) -> Self {
        LoadError::Engine(format!("{err:#}"))
    }
}

/// The kind of an abnormal end of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// A Rust panic, `unreachable`, or any other trap.
    Trap,
    /// The guest exhausted its memory limit.
    OutOfMemory,
    /// The guest exhausted its stack.
    StackOverflow,
}

impl TrapKind {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            TrapKind::Trap => "trapped",
            TrapKind::OutOfMemory => "ran out of memory",
            TrapKind::StackOverflow => "overflowed its stack",
        }
    }
}

/// A call that did not produce an answer of the plugin.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest trapped (panic, out of memory, stack overflow, ...).
    #[error("function `{function}` {}: {detail}", kind.describe())]
    Trap {
        /// The function.
        function: String,
        /// What kind of trap.
        kind: TrapKind,
        /// The trap message, the guest's stderr and backtrace: for the log.
        detail: String,
    },
    /// The call ran past its time limit.
    #[error("function `{function}` ran past its time limit of {limit:?}")]
    Timeout {
        /// The function.
        function: String,
        /// The limit.
        limit: Duration,
    },
    /// Too many calls at once: no slot freed up in time.
    #[error("function `{function}` waited {waited:?} for a free instance slot")]
    Busy {
        /// The function.
        function: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The pool of instances is exhausted or instantiation failed.
    #[error("cannot instantiate the plugin for `{function}`: {detail}")]
    Instantiate {
        /// The function.
        function: String,
        /// Why.
        detail: String,
    },
}

impl CallError {
    /// What happened, in a few words fit for a client: no trap message, no
    /// backtrace.
    pub fn summary(&self) -> String {
        match self {
            CallError::Trap { kind, .. } => kind.describe().to_string(),
            CallError::Timeout { limit, .. } => format!("no answer within {limit:?}"),
            CallError::Busy { .. } => "no free instance slot".to_string(),
            CallError::Instantiate { .. } => "could not be started".to_string(),
        }
    }

    /// Logs the failure with its whole detail (trap message, the guest's
    /// stderr, the wasm backtrace) for the operator, once.
    pub fn log(&self, plugin: &str) {
        match self {
            CallError::Trap {
                function, detail, ..
            } => {
                tracing::error!(plugin, function, "plugin trapped: {detail}");
            }
            CallError::Timeout { function, limit } => {
                tracing::warn!(plugin, function, ?limit, "plugin call timed out");
            }
            CallError::Busy { function, waited } => {
                tracing::warn!(plugin, function, ?waited, "too many calls at once; refused");
            }
            CallError::Instantiate { function, detail } => {
                tracing::error!(plugin, function, "cannot instantiate: {detail}");
            }
        }
    }
}
