//! Tools for plugin authors: building a plugin project's backend.

pub mod build;
pub mod project;
