//! The rules of ONES entity storage, as op applies them.
//!
//! A plugin declares entities in plugin.yaml's `storage.entities`: typed
//! attributes and indexes. This crate holds what the op host and the test
//! mock of op's Rust SDK must agree on: the declarations ([`Entity`]), what
//! a record may hold ([`value`]), what a query means and how its pages are
//! cut ([`query`]), what an upgrade may change ([`upgrade`]), and an
//! in-memory store that follows all of it ([`MemoryStore`]) for unit
//! tests; and the limits of object storage ([`objects`]). The host keeps
//! records in SQLite or PostgreSQL and checks them
//! with the same functions.

mod error;
pub mod memory;
mod model;
pub mod objects;
pub mod query;
pub mod upgrade;
pub mod value;

pub use error::StorageError;
pub use memory::MemoryStore;
pub use model::*;
pub use objects::{MemoryObjects, StoredObject};
pub use query::{Condition, Page, Plan, Query};
pub use value::Record;
