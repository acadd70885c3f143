//! Entity storage: the records of the entities a plugin declares in
//! plugin.yaml's `storage.entities`, kept per plugin instance in a real
//! database (docs/storage.md).
//!
//! [`Records`] is a database holding the records of many instances:
//! [`SqliteFiles`] (one SQLite file per instance, the embedded default of
//! `op invoke run` and of `op serve` on the directory store) and
//! [`PgRecords`] (one table keyed by instance in `op serve`'s PostgreSQL
//! database). [`InstanceStorage`] is one instance's view, the one a plugin's
//! calls reach: it applies the rules of `op-storage-rules` (the same the
//! Rust SDK's test mock applies) and cuts query answers into pages.

pub mod object_requests;
mod objects;
mod postgres;
pub mod signed_urls;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub use op_storage_rules::{Condition, Page, Query, Record, StorageError, StoredObject};
use op_storage_rules::{
    Entity, Plan, memory::find, query::plan, upgrade, value::check_batch, value::check_key,
    value::with_defaults,
};
pub use postgres::PgRecords;
pub use sqlite::SqliteFiles;

/// How a write makes the record to store under a key from the stored one
/// (if any) and the given value, or refuses.
pub type Merge = dyn Fn(&str, Option<Record>, &Value) -> Result<Record, StorageError> + Send + Sync;

/// A database that keeps the records of plugin instances.
#[async_trait]
pub trait Records: Send + Sync + std::fmt::Debug {
    /// The stored record of `entity` under `key`.
    async fn get(
        &self,
        instance: &str,
        entity: &str,
        key: &str,
    ) -> Result<Option<Record>, StorageError>;

    /// In one transaction: reads each entry's stored record, has `merge`
    /// make the record to store (or refuse, and then nothing is written),
    /// and stores it.
    async fn write(
        &self,
        instance: &str,
        entity: &str,
        entries: Vec<(String, Value)>,
        merge: Arc<Merge>,
    ) -> Result<(), StorageError>;

    /// Deletes the records under `keys` in one transaction; how many there
    /// were.
    async fn delete(
        &self,
        instance: &str,
        entity: &str,
        keys: &[String],
    ) -> Result<u64, StorageError>;

    /// The records `plan` selects, in its order, at most `plan.limit + 1`.
    async fn select(
        &self,
        instance: &str,
        plan: &Plan<'_>,
    ) -> Result<Vec<(String, Record)>, StorageError>;

    /// Makes the instance's storage ready for `entities`: refuses when a
    /// change from the declarations it was last prepared for would break
    /// stored records (naming the change), else creates the indexes and
    /// keeps `entities` as the declarations.
    async fn prepare(&self, instance: &str, entities: &[Entity]) -> Result<(), PrepareError>;

    /// Deletes every record and object of the instance.
    async fn clear(&self, instance: &str) -> Result<(), StorageError>;

    /// In one transaction: refuses when the instance's other objects and
    /// `body` together exceed
    /// [`MAX_INSTANCE_BYTES`](op_storage_rules::objects::MAX_INSTANCE_BYTES),
    /// else stores `body` under `key`.
    async fn put_object(
        &self,
        instance: &str,
        key: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), StorageError>;

    /// The object under `key`.
    async fn get_object(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<StoredObject>, StorageError>;

    /// Deletes the object under `key`; whether there was one.
    async fn delete_object(&self, instance: &str, key: &str) -> Result<bool, StorageError>;

    /// The secret that signs object addresses: made once and kept with the
    /// data, so that every host using this database shares it.
    async fn url_secret(&self) -> Result<Arc<[u8]>, StorageError>;

    /// What it is, for the log: `SQLite files in DIR` or `PostgreSQL`.
    fn describe(&self) -> String;
}

/// Why an instance's storage could not be made ready for a version.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The new declarations would break stored records.
    #[error("entity storage: {0}")]
    Refused(String),
    /// The database failed.
    #[error("entity storage: {0}")]
    Store(#[from] StorageError),
}

/// The changes from `old` to `new` that stored records refuse: each
/// change of [`upgrade::changes`] is counted by `count` (the records that
/// would break), and the first that any record breaks is the answer.
async fn refusal<F, Fut>(old: &[Entity], new: &[Entity], count: F) -> Result<(), PrepareError>
where
    F: Fn(upgrade::Change) -> Fut,
    Fut: std::future::Future<Output = Result<(upgrade::Change, u64), StorageError>>,
{
    for change in upgrade::changes(old, new) {
        let (change, records) = count(change).await?;
        if records > 0 {
            return Err(PrepareError::Refused(change.refusal(records)));
        }
    }
    Ok(())
}

/// One plugin instance's records and objects, as its calls use them.
#[derive(Debug, Clone)]
pub struct InstanceStorage {
    records: Arc<dyn Records>,
    instance: String,
    entities: Arc<[Entity]>,
}

impl InstanceStorage {
    /// The records of `instance` in `records`, declared by `entities`.
    pub fn new(records: Arc<dyn Records>, instance: &str, entities: &[Entity]) -> Self {
        InstanceStorage {
            records,
            instance: instance.to_string(),
            entities: entities.into(),
        }
    }

    /// Makes the database ready for this version's declarations (see
    /// [`Records::prepare`]).
    pub async fn prepare(&self) -> Result<(), PrepareError> {
        self.records.prepare(&self.instance, &self.entities).await
    }

    /// Deletes every record and object of the instance.
    pub async fn clear(&self) -> Result<(), StorageError> {
        self.records.clear(&self.instance).await
    }

    fn entity(&self, name: &str) -> Result<&Entity, StorageError> {
        find(&self.entities, name)
    }

    /// The record under `key` (declared defaults filled in), if any.
    pub async fn get(&self, entity: &str, key: &str) -> Result<Option<Record>, StorageError> {
        let declared = self.entity(entity)?;
        check_key(key)?;
        let record = self.records.get(&self.instance, entity, key).await?;
        Ok(record.map(|r| with_defaults(declared, r)))
    }

    /// Creates or updates every entry, or none when one is refused.
    pub async fn set(
        &self,
        entity: &str,
        entries: Vec<(String, Value)>,
    ) -> Result<(), StorageError> {
        self.entity(entity)?;
        check_batch(entries.len())?;
        for (key, _) in &entries {
            check_key(key)?;
        }
        let entities = Arc::clone(&self.entities);
        let name = entity.to_string();
        let merge: Arc<Merge> =
            Arc::new(move |key: &str, existing: Option<Record>, value: &Value| {
                op_storage_rules::value::merge(find(&entities, &name)?, key, existing, value)
            });
        self.records
            .write(&self.instance, entity, entries, merge)
            .await
    }

    /// Deletes the records under `keys`; how many there were.
    pub async fn delete(&self, entity: &str, keys: &[String]) -> Result<u64, StorageError> {
        self.entity(entity)?;
        check_batch(keys.len())?;
        for key in keys {
            check_key(key)?;
        }
        self.records.delete(&self.instance, entity, keys).await
    }

    /// One page of `query`'s answer.
    pub async fn query(&self, entity: &str, query: &Query) -> Result<Page, StorageError> {
        let declared = self.entity(entity)?;
        let plan = plan(declared, query)?;
        let rows = self.records.select(&self.instance, &plan).await?;
        Ok(plan.page(rows))
    }
}

/// A database error as the plugin sees it (the cause goes to the log).
fn unavailable(what: &str, err: &dyn std::fmt::Display) -> StorageError {
    tracing::warn!(target: "op::storage", "entity storage: {what}: {err}");
    StorageError::Unavailable(format!("the entity storage could not {what}"))
}

/// The secret that signs object addresses, read from its store once and
/// then answered from memory (it never changes).
#[derive(Debug, Default)]
struct SecretCell(std::sync::OnceLock<Arc<[u8]>>);

impl SecretCell {
    /// The secret, read (or made) by `load` on the first call.
    async fn get_or_load(
        &self,
        load: impl std::future::Future<Output = Result<Vec<u8>, StorageError>>,
    ) -> Result<Arc<[u8]>, StorageError> {
        if let Some(secret) = self.0.get() {
            return Ok(Arc::clone(secret));
        }
        let secret: Arc<[u8]> = load.await?.into();
        Ok(Arc::clone(self.0.get_or_init(|| secret)))
    }
}

/// A fresh secret for signing object addresses.
fn new_url_secret() -> Result<[u8; 32], StorageError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|err| {
        tracing::warn!(target: "op::storage", "no randomness for the object address secret: {err}");
        StorageError::Unavailable("object addresses cannot be signed".into())
    })?;
    Ok(secret)
}

/// A stored value read back: a JSON object.
fn parse_record(text: &str) -> Result<Record, StorageError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Unavailable(
            "a stored record is not a JSON object".into(),
        )),
    }
}
