//! Entity storage: the records of the entities `config/plugin.yaml`
//! declares under `storage.entities`, kept by the host for this plugin
//! instance only (ONES's `storage.entity(...)` of `@ones-op/sdk`).
//!
//! ```no_run
//! use op_plugin_sdk::storage::{self, Condition};
//! use op_plugin_sdk::{json, PluginError, PluginRequest, PluginResponse};
//!
//! fn hire(req: PluginRequest) -> Result<PluginResponse, PluginError> {
//!     let employees = storage::entity("employee");
//!     employees.set("e-1", &json!({ "dept": "eng", "age": 31 }))?;
//!     let page = employees
//!         .query()
//!         .index("by_dept_age", [json!("eng")])
//!         .condition(Condition::GreaterThan(json!(30)))
//!         .descending()
//!         .limit(50)
//!         .get_many()?;
//!     Ok(PluginResponse::json(&json!({ "older": page.data.len() })))
//! }
//! ```
//!
//! The host checks every value against the declaration (types, lengths,
//! required attributes, defaults) and answers a [`StorageError`] naming the
//! attribute at fault; `?` turns it into a 500 (503 when the database is
//! unavailable) for the client. In unit tests, a
//! [`MockHost`](crate::testing::MockHost) keeps the records in memory under
//! the same rules.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use op_storage_rules::{Condition, StorageError};

use crate::PluginError;

/// The records of one declared entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    name: String,
}

/// The entity called `name` (as declared in plugin.yaml).
pub fn entity(name: impl Into<String>) -> Entity {
    Entity { name: name.into() }
}

/// A record: its key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value, an object of attributes.
    pub value: Value,
}

/// Whether a page is the last, and where the next starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageInfo {
    /// Whether records follow this page.
    pub has_more: bool,
    /// Give it to [`Query::cursor`] for the next page.
    pub end_cursor: Option<String>,
}

/// One page of a query's answer (ONES's `{data, page_info}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records, in the query's order.
    pub data: Vec<Entry>,
    /// Whether more follow.
    pub page_info: PageInfo,
}

/// A query of an entity's records: by key, or on an index.
#[derive(Debug, Clone)]
#[must_use = "a query runs with get_many()"]
pub struct Query {
    entity: String,
    query: op_storage_rules::Query,
}

fn to_json(value: &impl Serialize) -> Result<Value, StorageError> {
    serde_json::to_value(value)
        .map_err(|err| StorageError::Invalid(format!("the value cannot be written as JSON: {err}")))
}

impl Entity {
    /// The value under `key`, or `None`.
    pub fn get(&self, key: &str) -> Result<Option<Value>, StorageError> {
        backend::get(&self.name, key)
    }

    /// The value under `key` as a `T`, or `None`.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        match self.get(key)? {
            None => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|err| {
                StorageError::Invalid(format!("`{}` record `{key}`: {err}", self.name))
            }),
        }
    }

    /// Creates the record under `key` (defaults applied, required
    /// attributes checked) or updates it (attributes left out keep their
    /// values; a `null` one is removed).
    pub fn set(&self, key: &str, value: &impl Serialize) -> Result<(), StorageError> {
        backend::batch_set(&self.name, vec![(key.to_string(), to_json(value)?)])
    }

    /// Deletes the record under `key`; whether there was one.
    pub fn delete(&self, key: &str) -> Result<bool, StorageError> {
        backend::delete(&self.name, key)
    }

    /// Sets every entry in one transaction: all are written, or none when
    /// one is refused. At most 1,000 entries.
    pub fn batch_set<K, V, I>(&self, entries: I) -> Result<(), StorageError>
    where
        K: Into<String>,
        V: Serialize,
        I: IntoIterator<Item = (K, V)>,
    {
        let entries = entries
            .into_iter()
            .map(|(key, value)| Ok((key.into(), to_json(&value)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        backend::batch_set(&self.name, entries)
    }

    /// Deletes every key in one transaction. At most 1,000 keys.
    pub fn batch_delete<K, I>(&self, keys: I) -> Result<(), StorageError>
    where
        K: Into<String>,
        I: IntoIterator<Item = K>,
    {
        backend::batch_delete(&self.name, keys.into_iter().map(Into::into).collect())
    }

    /// A query of every record, by key, 20 a page.
    pub fn query(&self) -> Query {
        Query {
            entity: self.name.clone(),
            query: op_storage_rules::Query::default(),
        }
    }
}

impl Query {
    /// Queries the index `name` within the partition whose attributes have
    /// `partition`'s values (in the index's order; none for an index
    /// without partition), ordered by its range attribute, then key.
    pub fn index<I>(mut self, name: &str, partition: I) -> Self
    where
        I: IntoIterator<Item = Value>,
    {
        self.query.index = Some(name.to_string());
        self.query.partition = partition.into_iter().collect();
        self
    }

    /// Keeps the records whose range attribute meets `condition`.
    pub fn condition(mut self, condition: Condition) -> Self {
        self.query.condition = Some(condition);
        self
    }

    /// Largest first.
    pub fn descending(mut self) -> Self {
        self.query.descending = true;
        self
    }

    /// Smallest first (the default).
    pub fn ascending(mut self) -> Self {
        self.query.descending = false;
        self
    }

    /// At most `limit` records a page (the host caps it at 200).
    pub fn limit(mut self, limit: u32) -> Self {
        self.query.limit = Some(limit);
        self
    }

    /// Continues after the page whose `end_cursor` this is.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.query.cursor = Some(cursor.into());
        self
    }

    /// Runs the query: one page.
    pub fn get_many(&self) -> Result<Page, StorageError> {
        let page = backend::query(&self.entity, &self.query)?;
        Ok(Page {
            data: page
                .data
                .into_iter()
                .map(|(key, record)| Entry {
                    key,
                    value: Value::Object(record),
                })
                .collect(),
            page_info: PageInfo {
                has_more: page.has_more,
                end_cursor: page.end_cursor,
            },
        })
    }
}

impl From<StorageError> for PluginError {
    fn from(err: StorageError) -> Self {
        let status = match err {
            StorageError::Unavailable(_) => 503,
            _ => 500,
        };
        PluginError::new(status, err.to_string()).with_kind("storage")
    }
}

#[cfg(target_arch = "wasm32")]
mod backend {
    //! The host's `op:plugin/storage` import.

    use op_storage_rules::{Condition, Page, Query, Record, StorageError};
    use serde_json::Value;

    use crate::__private::bindings::op::plugin::storage as wit;

    fn error(err: wit::StorageError) -> StorageError {
        match err {
            wit::StorageError::Undeclared(m) => StorageError::Undeclared(m),
            wit::StorageError::Invalid(m) => StorageError::Invalid(m),
            wit::StorageError::TooLarge(m) => StorageError::TooLarge(m),
            wit::StorageError::Unavailable(m) => StorageError::Unavailable(m),
        }
    }

    fn record(text: &str) -> Result<Record, StorageError> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(StorageError::Unavailable(
                "the host answered a record that is not a JSON object".into(),
            )),
        }
    }

    pub fn get(entity: &str, key: &str) -> Result<Option<Value>, StorageError> {
        let text = wit::get(entity, key).map_err(error)?;
        text.map(|t| record(&t).map(Value::Object)).transpose()
    }

    pub fn batch_set(entity: &str, entries: Vec<(String, Value)>) -> Result<(), StorageError> {
        if let [(key, value)] = entries.as_slice() {
            return wit::set(entity, key, &value.to_string()).map_err(error);
        }
        let entries: Vec<wit::Entry> = entries
            .into_iter()
            .map(|(key, value)| wit::Entry {
                key,
                value: value.to_string(),
            })
            .collect();
        wit::batch_set(entity, &entries).map_err(error)
    }

    pub fn delete(entity: &str, key: &str) -> Result<bool, StorageError> {
        wit::delete(entity, key).map_err(error)
    }

    pub fn batch_delete(entity: &str, keys: Vec<String>) -> Result<(), StorageError> {
        wit::batch_delete(entity, &keys).map_err(error)
    }

    pub fn query(entity: &str, query: &Query) -> Result<Page, StorageError> {
        let condition = query.condition.as_ref().map(|c| match c {
            Condition::Equal(v) => wit::Condition::Equal(v.to_string()),
            Condition::LessThan(v) => wit::Condition::LessThan(v.to_string()),
            Condition::LessOrEqual(v) => wit::Condition::LessOrEqual(v.to_string()),
            Condition::GreaterThan(v) => wit::Condition::GreaterThan(v.to_string()),
            Condition::GreaterOrEqual(v) => wit::Condition::GreaterOrEqual(v.to_string()),
            Condition::Between(a, b) => wit::Condition::Between((a.to_string(), b.to_string())),
            Condition::BeginsWith(p) => {
                wit::Condition::BeginsWith(Value::String(p.clone()).to_string())
            }
        });
        let request = wit::QueryRequest {
            entity: entity.to_string(),
            index: query.index.clone(),
            partition: query.partition.iter().map(Value::to_string).collect(),
            condition,
            descending: query.descending,
            limit: query.limit,
            cursor: query.cursor.clone(),
        };
        let page = wit::query(&request).map_err(error)?;
        Ok(Page {
            data: page
                .entries
                .into_iter()
                .map(|e| Ok((e.key, record(&e.value)?)))
                .collect::<Result<_, StorageError>>()?,
            has_more: page.has_more,
            end_cursor: page.end_cursor,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    //! The [`MockHost`](crate::testing::MockHost)'s records.

    use op_storage_rules::{Page, Query, StorageError};
    use serde_json::Value;

    use crate::testing::with_storage;

    pub fn get(entity: &str, key: &str) -> Result<Option<Value>, StorageError> {
        with_storage(|store| Ok(store.get(entity, key)?.map(Value::Object)))
    }

    pub fn batch_set(entity: &str, entries: Vec<(String, Value)>) -> Result<(), StorageError> {
        with_storage(|store| store.batch_set(entity, &entries))
    }

    pub fn delete(entity: &str, key: &str) -> Result<bool, StorageError> {
        with_storage(|store| store.delete(entity, key))
    }

    pub fn batch_delete(entity: &str, keys: Vec<String>) -> Result<(), StorageError> {
        with_storage(|store| store.batch_delete(entity, &keys))
    }

    pub fn query(entity: &str, query: &Query) -> Result<Page, StorageError> {
        with_storage(|store| store.query(entity, query))
    }
}
