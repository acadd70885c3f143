//! Tools for plugin authors: building a plugin project's backend, its
//! local settings, the embedded ONES simulator, and watching a project for
//! changes.

pub mod build;
pub mod local;
pub mod project;
pub mod rust_sdk;
pub mod simulator;
pub mod watch;
