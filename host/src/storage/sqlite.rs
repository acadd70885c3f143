//! Entity storage in SQLite: one database file per plugin instance
//! (`DIR/INSTANCE.sqlite`), in WAL mode, through sqlx's SQLite driver
//! (the same driver family as the PostgreSQL store, with SQLite bundled).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use op_storage_rules::objects::check_instance_total;
use op_storage_rules::{Entity, Plan, Record, StorageError, StoredObject};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, Row};

use super::sql::{self, Bind, Dialect};
use super::{Merge, PrepareError, Records, new_url_secret, parse_record, refusal, unavailable};

const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (entity, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS declarations (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    entities TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    key TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL
);";

/// The file, in the folder of the databases, that keeps the secret signing
/// object addresses.
const URL_SECRET_FILE: &str = "object-urls.key";

/// The SQLite databases of the instances, one file each in a folder.
#[derive(Debug)]
pub struct SqliteFiles {
    dir: PathBuf,
    pools: Mutex<HashMap<String, SqlitePool>>,
    url_secret: std::sync::OnceLock<Arc<[u8]>>,
}

impl SqliteFiles {
    /// The databases in `dir` (made when the first one is).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SqliteFiles {
            dir: dir.into(),
            pools: Mutex::new(HashMap::new()),
            url_secret: std::sync::OnceLock::new(),
        }
    }

    /// The file of `instance`.
    pub fn file(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{}.sqlite", file_name(instance)))
    }

    /// The pool of `instance`'s database, opened (and made) on first use.
    async fn pool(&self, instance: &str) -> Result<SqlitePool, StorageError> {
        if let Some(pool) = self.lock().get(instance) {
            return Ok(pool.clone());
        }
        std::fs::create_dir_all(&self.dir).map_err(|err| {
            tracing::warn!(target: "op::storage", "cannot make {}: {err}", self.dir.display());
            StorageError::Unavailable("the entity storage could not be opened".into())
        })?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|err| unavailable("be opened", &err))?
            .filename(self.file(instance))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .connect_with(options)
            .await
            .map_err(|err| unavailable("be opened", &err))?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(|err| unavailable("be set up", &err))?;
        let mut pools = self.lock();
        let pool = pools.entry(instance.to_string()).or_insert(pool).clone();
        Ok(pool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SqlitePool>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes every database (their files stay).
    pub async fn close(&self) {
        let pools: Vec<SqlitePool> = self.lock().drain().map(|(_, p)| p).collect();
        for pool in pools {
            pool.close().await;
        }
    }
}

/// An instance id as a file name: ids are hex or a plugin's app_id; any
/// other character becomes `_`.
fn file_name(instance: &str) -> String {
    instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn arguments(entity: &str, binds: Vec<Bind>) -> SqliteArguments {
    let mut args = SqliteArguments::default();
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
impl Records for SqliteFiles {
    async fn get(
        &self,
        instance: &str,
        entity: &str,
        key: &str,
    ) -> Result<Option<Record>, StorageError> {
        let pool = self.pool(instance).await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM records WHERE entity = ?1 AND key = ?2")
                .bind(entity)
                .bind(key)
                .fetch_optional(&pool)
                .await
                .map_err(|err| unavailable("read a record", &err))?;
        row.map(|(text,)| parse_record(&text)).transpose()
    }

    async fn write(
        &self,
        instance: &str,
        entity: &str,
        entries: &[(String, Value)],
        merge: &Merge<'_>,
    ) -> Result<(), StorageError> {
        let pool = self.pool(instance).await?;
        let fail = |err: sqlx::Error| unavailable("write records", &err);
        let mut conn = pool.acquire().await.map_err(fail)?;
        // Take the write lock at once, so that two writers never both read
        // first and then fight over upgrading to a write.
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        let mut staged: HashMap<&str, Record> = HashMap::new();
        for (key, value) in entries {
            let existing = match staged.remove(key.as_str()) {
                Some(record) => Some(record),
                None => {
                    let row: Option<(String,)> =
                        sqlx::query_as("SELECT value FROM records WHERE entity = ?1 AND key = ?2")
                            .bind(entity)
                            .bind(key)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(fail)?;
                    row.map(|(text,)| parse_record(&text)).transpose()?
                }
            };
            let record = merge(key, existing, value)?;
            staged.insert(key.as_str(), record);
        }
        for (key, record) in &staged {
            let text = Value::Object(record.clone()).to_string();
            sqlx::query(
                "INSERT INTO records (entity, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (entity, key) DO UPDATE SET value = excluded.value",
            )
            .bind(entity)
            .bind(*key)
            .bind(text)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    async fn delete(
        &self,
        instance: &str,
        entity: &str,
        keys: &[String],
    ) -> Result<u64, StorageError> {
        let pool = self.pool(instance).await?;
        let fail = |err: sqlx::Error| unavailable("delete records", &err);
        let mut conn = pool.acquire().await.map_err(fail)?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        let mut deleted = 0;
        for key in keys {
            deleted += sqlx::query("DELETE FROM records WHERE entity = ?1 AND key = ?2")
                .bind(entity)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(fail)?
                .rows_affected();
        }
        tx.commit().await.map_err(fail)?;
        Ok(deleted)
    }

    async fn select(
        &self,
        instance: &str,
        plan: &Plan<'_>,
    ) -> Result<Vec<(String, Record)>, StorageError> {
        let pool = self.pool(instance).await?;
        let statement = sql::select(Dialect::Sqlite, plan);
        let rows = sqlx::query_with(
            sqlx::AssertSqlSafe(statement.sql),
            arguments(&plan.entity.name, statement.binds),
        )
        .fetch_all(&pool)
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
        let pool = self.pool(instance).await?;
        let fail = |err: sqlx::Error| unavailable("be prepared", &err);
        let stored: Option<(String,)> =
            sqlx::query_as("SELECT entities FROM declarations WHERE id = 1")
                .fetch_optional(&pool)
                .await
                .map_err(fail)?;
        let old: Vec<Entity> = stored
            .and_then(|(text,)| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        refusal(&old, entities, |change| {
            let pool = pool.clone();
            async move {
                let statement = sql::count_broken(Dialect::Sqlite, &change);
                let (count,): (i64,) = sqlx::query_as_with(
                    sqlx::AssertSqlSafe(statement.sql),
                    arguments(change.entity(), statement.binds),
                )
                .fetch_one(&pool)
                .await
                .map_err(|err| unavailable("check an upgrade", &err))?;
                Ok((change, count.unsigned_abs()))
            }
        })
        .await?;
        let mut wanted: Vec<String> = Vec::new();
        for entity in entities {
            for index in &entity.indexes {
                let columns = sql::index_columns(Dialect::Sqlite, entity, index);
                let (name, create) = sql::create_index(Dialect::Sqlite, "ix_", &columns);
                sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&pool)
                    .await
                    .map_err(fail)?;
                wanted.push(name);
            }
        }
        let existing: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix\\_%' ESCAPE '\\'",
        )
        .fetch_all(&pool)
        .await
        .map_err(fail)?;
        for (name,) in existing {
            if !wanted.contains(&name) {
                let drop = format!("DROP INDEX IF EXISTS \"{}\"", name.replace('"', ""));
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&pool)
                    .await
                    .map_err(fail)?;
            }
        }
        let text = serde_json::to_string(entities).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO declarations (id, entities) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET entities = excluded.entities",
        )
        .bind(text)
        .execute(&pool)
        .await
        .map_err(fail)?;
        Ok(())
    }

    async fn clear(&self, instance: &str) -> Result<(), StorageError> {
        let pool = self.lock().remove(instance);
        if let Some(pool) = pool {
            pool.close().await;
        }
        let file = self.file(instance);
        for path in [
            file.clone(),
            with_suffix(&file, "-wal"),
            with_suffix(&file, "-shm"),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(target: "op::storage", "cannot remove {}: {err}", path.display());
                    return Err(StorageError::Unavailable(
                        "the entity storage could not be cleared".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn put_object(
        &self,
        instance: &str,
        key: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), StorageError> {
        let pool = self.pool(instance).await?;
        let fail = |err: sqlx::Error| unavailable("store an object", &err);
        let mut conn = pool.acquire().await.map_err(fail)?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        let (others,): (i64,) =
            sqlx::query_as("SELECT COALESCE(SUM(length(body)), 0) FROM objects WHERE key <> ?1")
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
        check_instance_total(others.unsigned_abs(), body.len())?;
        sqlx::query(
            "INSERT INTO objects (key, content_type, body) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, \
             body = excluded.body",
        )
        .bind(key)
        .bind(content_type)
        .bind(body)
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
        let pool = self.pool(instance).await?;
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT content_type, body FROM objects WHERE key = ?1")
                .bind(key)
                .fetch_optional(&pool)
                .await
                .map_err(|err| unavailable("read an object", &err))?;
        Ok(row.map(|(content_type, body)| StoredObject { content_type, body }))
    }

    async fn delete_object(&self, instance: &str, key: &str) -> Result<bool, StorageError> {
        let pool = self.pool(instance).await?;
        let done = sqlx::query("DELETE FROM objects WHERE key = ?1")
            .bind(key)
            .execute(&pool)
            .await
            .map_err(|err| unavailable("delete an object", &err))?;
        Ok(done.rows_affected() > 0)
    }

    async fn url_secret(&self) -> Result<Arc<[u8]>, StorageError> {
        if let Some(secret) = self.url_secret.get() {
            return Ok(Arc::clone(secret));
        }
        let secret: Arc<[u8]> = read_or_make_secret(&self.dir.join(URL_SECRET_FILE))?.into();
        Ok(Arc::clone(self.url_secret.get_or_init(|| secret)))
    }

    fn describe(&self) -> String {
        format!("SQLite files in {}", self.dir.display())
    }
}

/// The secret in `path`, made (readable by its owner only) when there is
/// none yet.
fn read_or_make_secret(path: &Path) -> Result<Vec<u8>, StorageError> {
    let fail = |err: std::io::Error| {
        tracing::warn!(target: "op::storage", "object address secret {}: {err}", path.display());
        StorageError::Unavailable("object addresses cannot be signed".into())
    };
    match std::fs::read(path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => {
            return Err(fail(std::io::Error::other(
                "the file is shorter than 32 bytes",
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(err)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let secret = new_url_secret()?;
    // Written whole under another name, then linked in place: a host that
    // reads the file never sees part of it, and of two hosts making it at
    // once, the first link wins and the other uses it.
    let staged = with_suffix(path, &format!(".{}.new", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&staged)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &secret));
    let linked = written.and_then(|()| std::fs::hard_link(&staged, path));
    let _ = std::fs::remove_file(&staged);
    match linked {
        Ok(()) => Ok(secret.to_vec()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read(path).map_err(fail)
        }
        Err(err) => Err(fail(err)),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}
