//! Entity storage in PostgreSQL: the records of every instance in one
//! table, `op_entity_records (instance, entity, key, value jsonb)`, in the
//! database of `op serve`'s store (its migrations make the tables).

use async_trait::async_trait;
use std::sync::Arc;

use op_storage_rules::objects::check_instance_total;
use op_storage_rules::{Entity, Plan, Record, StorageError, StoredObject};
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::{Arguments, Row};

use super::sql::{self, Bind, Dialect};
use super::{
    Merge, PrepareError, Records, SecretCell, new_url_secret, parse_record, refusal, unavailable,
};

/// The records of every instance, in the store's PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgRecords {
    pool: PgPool,
    url_secret: Arc<SecretCell>,
}

impl PgRecords {
    /// The records in `pool`'s database (migrated by the store).
    pub fn new(pool: PgPool) -> Self {
        PgRecords {
            pool,
            url_secret: Arc::default(),
        }
    }
}

fn arguments(instance: &str, entity: &str, binds: Vec<Bind>) -> PgArguments {
    let mut args = PgArguments::default();
    let _ = args.add(instance.to_string());
    let _ = args.add(entity.to_string());
    for bind in binds {
        let _ = match bind {
            Bind::Text(text) | Bind::Json(text) => args.add(text),
            Bind::Int(i) => args.add(i),
            Bind::Float(f) => args.add(f),
        };
    }
    args
}

#[async_trait]
impl Records for PgRecords {
    async fn get(
        &self,
        instance: &str,
        entity: &str,
        key: &str,
    ) -> Result<Option<Record>, StorageError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT value::text FROM op_entity_records \
             WHERE instance = $1 AND entity = $2 AND key = $3",
        )
        .bind(instance)
        .bind(entity)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| unavailable("read a record", &err))?;
        row.map(|(text,)| parse_record(&text)).transpose()
    }

    async fn write(
        &self,
        instance: &str,
        entity: &str,
        entries: Vec<(String, Value)>,
        merge: Arc<Merge>,
    ) -> Result<(), StorageError> {
        let fail = |err: sqlx::Error| unavailable("write records", &err);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        // Lock the rows there are (in key order, so that two batches never
        // wait on each other), read them, then write every record.
        let rows = sqlx::query(
            "SELECT key, value::text FROM op_entity_records \
             WHERE instance = $1 AND entity = $2 AND key = ANY($3) \
             ORDER BY key FOR UPDATE",
        )
        .bind(instance)
        .bind(entity)
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?;
        let mut stored: std::collections::HashMap<String, Record> =
            std::collections::HashMap::new();
        for row in rows {
            let key: String = row.get(0);
            let value: String = row.get(1);
            stored.insert(key, parse_record(&value)?);
        }
        for (key, value) in &entries {
            let record = merge(key, stored.remove(key.as_str()), value)?;
            stored.insert(key.clone(), record);
        }
        let mut written_keys: Vec<String> = Vec::with_capacity(stored.len());
        let mut written_values: Vec<String> = Vec::with_capacity(stored.len());
        for key in keys {
            if let Some(record) = stored.remove(key) {
                written_keys.push(key.to_string());
                written_values.push(Value::Object(record).to_string());
            }
        }
        sqlx::query(
            "INSERT INTO op_entity_records (instance, entity, key, value) \
             SELECT $1, $2, k, v::jsonb FROM unnest($3::text[], $4::text[]) AS t(k, v) \
             ON CONFLICT (instance, entity, key) DO UPDATE SET value = excluded.value",
        )
        .bind(instance)
        .bind(entity)
        .bind(&written_keys)
        .bind(&written_values)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)
    }

    async fn delete(
        &self,
        instance: &str,
        entity: &str,
        keys: &[String],
    ) -> Result<u64, StorageError> {
        let done = sqlx::query(
            "DELETE FROM op_entity_records WHERE instance = $1 AND entity = $2 AND key = ANY($3)",
        )
        .bind(instance)
        .bind(entity)
        .bind(keys)
        .execute(&self.pool)
        .await
        .map_err(|err| unavailable("delete records", &err))?;
        Ok(done.rows_affected())
    }

    async fn select(
        &self,
        instance: &str,
        plan: &Plan<'_>,
    ) -> Result<Vec<(String, Record)>, StorageError> {
        let statement = sql::select(Dialect::Postgres, plan);
        let args = arguments(instance, &plan.entity.name, statement.binds);
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), args)
            .fetch_all(&self.pool)
            .await
            .map_err(|err| unavailable("run a query", &err))?;
        rows.iter()
            .map(|row| {
                let key: String = row.get(0);
                let value: String = row.get(1);
                Ok((key, parse_record(&value)?))
            })
            .collect()
    }

    async fn prepare(&self, instance: &str, entities: &[Entity]) -> Result<(), PrepareError> {
        let fail = |err: sqlx::Error| unavailable("be prepared", &err);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        // One preparation at a time in the whole fleet: index creation
        // must not race with itself on another replica.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('op_entity_prepare'))")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let stored: Option<(String,)> =
            sqlx::query_as("SELECT entities::text FROM op_entity_declarations WHERE instance = $1")
                .bind(instance)
                .fetch_optional(&mut *tx)
                .await
                .map_err(fail)?;
        let old: Vec<Entity> = stored
            .and_then(|(text,)| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let pool = self.pool.clone();
        refusal(&old, entities, |change| {
            let pool = pool.clone();
            async move {
                let statement = sql::count_broken(Dialect::Postgres, &change);
                let args = arguments(instance, change.entity(), statement.binds);
                let (count,): (i64,) =
                    sqlx::query_as_with(sqlx::AssertSqlSafe(statement.sql), args)
                        .fetch_one(&pool)
                        .await
                        .map_err(|err| unavailable("check an upgrade", &err))?;
                Ok((change, count.unsigned_abs()))
            }
        })
        .await?;
        for entity in entities {
            for index in &entity.indexes {
                let columns = sql::index_columns(Dialect::Postgres, entity, index);
                let (_, create) = sql::create_index(Dialect::Postgres, "op_ix_", &columns);
                sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
            }
        }
        let text = serde_json::to_string(entities).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO op_entity_declarations (instance, entities) VALUES ($1, $2::jsonb) \
             ON CONFLICT (instance) DO UPDATE SET entities = excluded.entities",
        )
        .bind(instance)
        .bind(text)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(())
    }

    async fn clear(&self, instance: &str) -> Result<(), StorageError> {
        let fail = |err: sqlx::Error| unavailable("be cleared", &err);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        for sql in [
            "DELETE FROM op_entity_records WHERE instance = $1",
            "DELETE FROM op_entity_declarations WHERE instance = $1",
            "DELETE FROM op_objects WHERE instance = $1",
        ] {
            sqlx::query(sql)
                .bind(instance)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    async fn put_object(
        &self,
        instance: &str,
        key: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), StorageError> {
        let fail = |err: sqlx::Error| unavailable("store an object", &err);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        // One writer of an instance's objects at a time in the whole
        // fleet, so that two uploads cannot both fit the quota alone.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('op_objects:' || $1))")
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let (others,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(size), 0)::bigint FROM op_objects \
             WHERE instance = $1 AND key <> $2",
        )
        .bind(instance)
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(fail)?;
        check_instance_total(others.unsigned_abs(), body.len())?;
        sqlx::query(
            "INSERT INTO op_objects (instance, key, content_type, body, size) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance, key) DO UPDATE SET \
             content_type = excluded.content_type, body = excluded.body, \
             size = excluded.size, updated_at = now()",
        )
        .bind(instance)
        .bind(key)
        .bind(content_type)
        .bind(body)
        .bind(i64::try_from(body.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)
    }

    async fn get_object(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<StoredObject>, StorageError> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT content_type, body FROM op_objects WHERE instance = $1 AND key = $2",
        )
        .bind(instance)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| unavailable("read an object", &err))?;
        Ok(row.map(|(content_type, body)| StoredObject { content_type, body }))
    }

    async fn delete_object(&self, instance: &str, key: &str) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM op_objects WHERE instance = $1 AND key = $2")
            .bind(instance)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(|err| unavailable("delete an object", &err))?;
        Ok(done.rows_affected() > 0)
    }

    async fn url_secret(&self) -> Result<Arc<[u8]>, StorageError> {
        let fail = |err: sqlx::Error| unavailable("sign object addresses", &err);
        self.url_secret
            .get_or_load(async {
                // The first replica to get here makes it; every other reads it.
                sqlx::query(
                    "INSERT INTO op_url_keys (id, secret) VALUES (1, $1) ON CONFLICT DO NOTHING",
                )
                .bind(new_url_secret()?.to_vec())
                .execute(&self.pool)
                .await
                .map_err(fail)?;
                let (secret,): (Vec<u8>,) =
                    sqlx::query_as("SELECT secret FROM op_url_keys WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(fail)?;
                Ok(secret)
            })
            .await
    }

    fn describe(&self) -> String {
        "the PostgreSQL store's database".into()
    }
}
