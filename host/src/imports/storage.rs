//! `op:plugin/storage`: the entity storage of the plugin's instance. Each
//! call is one host call; the database work is async, off the wasm
//! thread, and counts against the call's time limit (the whole call is
//! bounded by it).

use serde_json::Value;

use super::HostState;
use crate::bindings::op::plugin::storage::{
    Condition as WitCondition, Entry, Host, Page as WitPage, QueryRequest, StorageError as WitError,
};
use crate::storage::{Condition, InstanceStorage, Query, StorageError};

/// The most bytes of one value (a JSON object) a plugin may pass.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

impl HostState {
    pub(super) fn storage(&self) -> Result<InstanceStorage, WitError> {
        self.call.instance.storage.clone().ok_or_else(|| {
            WitError::Unavailable(
                "this host keeps no storage for the plugin (no database is configured for it)"
                    .into(),
            )
        })
    }
}

pub(super) fn wit(err: StorageError) -> WitError {
    match err {
        StorageError::Undeclared(m) => WitError::Undeclared(m),
        StorageError::Invalid(m) => WitError::Invalid(m),
        StorageError::TooLarge(m) => WitError::TooLarge(m),
        StorageError::Unavailable(m) => WitError::Unavailable(m),
    }
}

/// A JSON text the plugin passed, parsed.
fn json(text: &str, what: &str) -> Result<Value, WitError> {
    if text.len() > MAX_VALUE_BYTES {
        return Err(WitError::TooLarge(format!(
            "{what} is {} bytes of JSON; at most {MAX_VALUE_BYTES} are accepted",
            text.len()
        )));
    }
    serde_json::from_str(text)
        .map_err(|err| WitError::Invalid(format!("{what} is not JSON: {err}")))
}

fn condition(condition: WitCondition) -> Result<Condition, WitError> {
    let value = |text: &str| json(text, "a condition's value");
    Ok(match condition {
        WitCondition::Equal(v) => Condition::Equal(value(&v)?),
        WitCondition::LessThan(v) => Condition::LessThan(value(&v)?),
        WitCondition::LessOrEqual(v) => Condition::LessOrEqual(value(&v)?),
        WitCondition::GreaterThan(v) => Condition::GreaterThan(value(&v)?),
        WitCondition::GreaterOrEqual(v) => Condition::GreaterOrEqual(value(&v)?),
        WitCondition::Between((a, b)) => Condition::Between(value(&a)?, value(&b)?),
        WitCondition::BeginsWith(v) => match value(&v)? {
            Value::String(prefix) => Condition::BeginsWith(prefix),
            other => {
                return Err(WitError::Invalid(format!(
                    "`beginsWith` takes a string, not {}",
                    op_storage_rules::value::kind_of(&other)
                )));
            }
        },
    })
}

impl Host for HostState {
    async fn get(&mut self, entity: String, key: String) -> Result<Option<String>, WitError> {
        let storage = self.storage()?;
        let record = storage.get(&entity, &key).await.map_err(wit)?;
        Ok(record.map(|r| Value::Object(r).to_string()))
    }

    async fn set(&mut self, entity: String, key: String, value: String) -> Result<(), WitError> {
        let storage = self.storage()?;
        let value = json(&value, "the value")?;
        storage.set(&entity, vec![(key, value)]).await.map_err(wit)
    }

    async fn delete(&mut self, entity: String, key: String) -> Result<bool, WitError> {
        let storage = self.storage()?;
        let deleted = storage.delete(&entity, &[key]).await.map_err(wit)?;
        Ok(deleted > 0)
    }

    async fn batch_set(&mut self, entity: String, entries: Vec<Entry>) -> Result<(), WitError> {
        let storage = self.storage()?;
        op_storage_rules::value::check_batch(entries.len()).map_err(wit)?;
        let mut parsed = Vec::with_capacity(entries.len());
        for entry in entries {
            let value = json(&entry.value, &format!("the value of `{}`", entry.key))?;
            parsed.push((entry.key, value));
        }
        storage.set(&entity, parsed).await.map_err(wit)
    }

    async fn batch_delete(&mut self, entity: String, keys: Vec<String>) -> Result<(), WitError> {
        let storage = self.storage()?;
        storage.delete(&entity, &keys).await.map_err(wit)?;
        Ok(())
    }

    async fn query(&mut self, q: QueryRequest) -> Result<WitPage, WitError> {
        let storage = self.storage()?;
        let partition = q
            .partition
            .iter()
            .map(|text| json(text, "a partition value"))
            .collect::<Result<Vec<_>, _>>()?;
        let query = Query {
            index: q.index,
            partition,
            condition: q.condition.map(condition).transpose()?,
            descending: q.descending,
            limit: q.limit,
            cursor: q.cursor,
        };
        let page = storage.query(&q.entity, &query).await.map_err(wit)?;
        Ok(WitPage {
            entries: page
                .data
                .into_iter()
                .map(|(key, record)| Entry {
                    key,
                    value: Value::Object(record).to_string(),
                })
                .collect(),
            has_more: page.has_more,
            end_cursor: page.end_cursor,
        })
    }
}
