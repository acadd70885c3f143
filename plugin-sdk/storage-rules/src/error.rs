//! Why a storage operation was refused.

/// A storage operation the rules refuse, or a store that failed. The
/// message is for the plugin author: it names the entity, attribute or
/// index at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The entity or index is not declared in plugin.yaml.
    #[error("{0}")]
    Undeclared(String),
    /// A value breaks its entity's declaration (unknown attribute, wrong
    /// type, too long, a required attribute missing).
    #[error("{0}")]
    Invalid(String),
    /// A key, batch, cursor or query is beyond what the store accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The store could not be used (the cause is in the host's log).
    #[error("{0}")]
    Unavailable(String),
}
