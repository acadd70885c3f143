//! Entity and object storage in SQLite: one database file per plugin
//! instance (`DIR/INSTANCE.sqlite`), in WAL mode, through `rusqlite` with
//! the SQLite library bundled.
//!
//! Each storage call is one closure on a blocking thread that holds one of
//! the database's connections: its statements (prepared once per
//! connection and cached) run without a hop per statement, and never on
//! the async threads that run plugins. Writes to one database take its
//! write lock in the process first, so that writers queue there instead of
//! meeting SQLite's sleeping busy handler; record writes that queue meanwhile
//! are committed together, one transaction for the group with a savepoint
//! each (a refused write rolls back alone), so that a commit's cost is
//! shared by every write waiting for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use op_storage_rules::objects::check_instance_total;
use op_storage_rules::{Entity, Plan, Record, StorageError, StoredObject};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use super::sql::{self, Bind, Dialect};
use super::{
    Merge, PrepareError, Records, SecretCell, new_url_secret, parse_record, refusal, unavailable,
};

const SCHEMA: &str = "\
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
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
/// Connections kept open per database when idle.
const IDLE_CONNECTIONS: usize = 4;

/// One instance's database: its idle connections, its write lock, and the
/// record writes waiting for the next group commit.
struct Database {
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
    write: Mutex<()>,
    pending: Mutex<Vec<PendingWrite>>,
    /// Whether a blocking thread is committing the pending writes.
    committing: AtomicBool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// A `set` or `batchSet` waiting for the next group commit.
struct PendingWrite {
    entity: String,
    entries: Vec<(String, Value)>,
    merge: Arc<Merge>,
    done: tokio::sync::oneshot::Sender<Result<(), StorageError>>,
}

/// Sets `committing` back when the committer ends, even by a panic.
struct Committing<'a>(&'a AtomicBool);

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Commits the pending writes of `database`, in groups, until none is
/// left: every write of a group in one transaction, each under a savepoint
/// so that a refused one writes nothing and the others still commit.
fn commit_pending(database: &Database) {
    let guard = Committing(&database.committing);
    loop {
        let group = std::mem::take(&mut *lock(&database.pending));
        if group.is_empty() {
            database.committing.store(false, Ordering::SeqCst);
            // A write queued between the take and the store found a
            // committer still running: look once more.
            if lock(&database.pending).is_empty()
                || database.committing.swap(true, Ordering::SeqCst)
            {
                std::mem::forget(guard);
                return;
            }
            continue;
        }
        let results = match commit_group(database, &group) {
            Ok(results) => results,
            Err(err) => group.iter().map(|_| Err(err.clone())).collect(),
        };
        for (write, result) in group.into_iter().zip(results) {
            let _ = write.done.send(result);
        }
    }
}

fn commit_group(
    database: &Database,
    group: &[PendingWrite],
) -> Result<Vec<Result<(), StorageError>>, StorageError> {
    let fail = failed("write records");
    let mut conn = database.take().map_err(failed("be opened"))?;
    let outcome = {
        let _writing = lock(&database.write);
        (|| {
            let mut tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&fail)?;
            let mut results = Vec::with_capacity(group.len());
            for write in group {
                let savepoint = tx.savepoint().map_err(&fail)?;
                let result = apply(&savepoint, write);
                if result.is_ok() {
                    savepoint.commit().map_err(&fail)?;
                }
                // A refused write's savepoint rolls back when dropped.
                results.push(result);
            }
            tx.commit().map_err(&fail)?;
            Ok(results)
        })()
    };
    database.give(conn);
    outcome
}

/// One write: reads each entry's stored record, merges, stores.
fn apply(conn: &Connection, write: &PendingWrite) -> Result<(), StorageError> {
    let fail = failed("write records");
    let mut staged: HashMap<&str, Record> = HashMap::new();
    for (key, value) in &write.entries {
        let existing = match staged.remove(key.as_str()) {
            Some(record) => Some(record),
            None => read_record(conn, &write.entity, key)?,
        };
        staged.insert(key.as_str(), (write.merge)(key, existing, value)?);
    }
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO records (entity, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (entity, key) DO UPDATE SET value = excluded.value",
        )
        .map_err(&fail)?;
    for (key, record) in staged {
        let text = Value::Object(record).to_string();
        upsert
            .execute(params![write.entity, key, text])
            .map_err(&fail)?;
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Database {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.file,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(32);
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }
}

/// The SQLite databases of the instances, one file each in a folder.
#[derive(Debug)]
pub struct SqliteFiles {
    dir: PathBuf,
    databases: Mutex<HashMap<String, Arc<Database>>>,
    url_secret: SecretCell,
}

/// A database failure as the plugin sees it.
fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> StorageError {
    move |err| unavailable(what, &err)
}

impl SqliteFiles {
    /// The databases in `dir` (made when the first one is).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SqliteFiles {
            dir: dir.into(),
            databases: Mutex::new(HashMap::new()),
            url_secret: SecretCell::default(),
        }
    }

    /// The file of `instance`.
    pub fn file(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{}.sqlite", file_name(instance)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Database>>> {
        self.databases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The database of `instance`, made known on first use.
    fn database(&self, instance: &str) -> Result<Arc<Database>, StorageError> {
        if let Some(database) = self.lock().get(instance) {
            return Ok(Arc::clone(database));
        }
        std::fs::create_dir_all(&self.dir).map_err(|err| {
            tracing::warn!(target: "op::storage", "cannot make {}: {err}", self.dir.display());
            StorageError::Unavailable("the entity storage could not be opened".into())
        })?;
        let database = Arc::new(Database {
            file: self.file(instance),
            idle: Mutex::new(Vec::new()),
            write: Mutex::new(()),
            pending: Mutex::new(Vec::new()),
            committing: AtomicBool::new(false),
        });
        let mut databases = self.lock();
        Ok(databases
            .entry(instance.to_string())
            .or_insert(database)
            .clone())
    }

    /// Runs `f` with a connection to `instance`'s database (made, with its
    /// tables, when first opened) on a blocking thread; with `write`, holding the
    /// database's write lock.
    async fn run<T, F>(&self, instance: &str, write: bool, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let database = self.database(instance)?;
        let work = move || {
            let mut conn = database.take().map_err(failed("be opened"))?;
            let answer = if write {
                let _writing = database.write.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut conn)
            } else {
                f(&mut conn)
            };
            database.give(conn);
            answer
        };
        blocking(work, "the entity storage failed").await
    }

    /// Closes every database (their files stay).
    pub async fn close(&self) {
        self.lock().clear();
    }
}

/// Runs `work` on a blocking thread; a task that panics is logged and
/// answered as `Unavailable` with `reason`.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    reason: &str,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::warn!(target: "op::storage", "a storage task failed: {err}");
        StorageError::Unavailable(reason.into())
    })?
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

/// A statement's parameters: the entity, then `binds`.
fn parameters(entity: &str, binds: Vec<Bind>) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    let mut out = Vec::with_capacity(binds.len() + 1);
    out.push(V::Text(entity.to_string()));
    for bind in binds {
        out.push(match bind {
            Bind::Text(text) | Bind::Json(text) => V::Text(text),
            Bind::Int(i) => V::Integer(i),
            Bind::Float(f) => V::Real(f),
        });
    }
    out
}

fn read_record(conn: &Connection, entity: &str, key: &str) -> Result<Option<Record>, StorageError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM records WHERE entity = ?1 AND key = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![entity, key], |row| row.get(0))
                .optional()
        })
        .map_err(failed("read a record"))?;
    text.map(|t| parse_record(&t)).transpose()
}

#[async_trait]
impl Records for SqliteFiles {
    async fn get(
        &self,
        instance: &str,
        entity: &str,
        key: &str,
    ) -> Result<Option<Record>, StorageError> {
        let (entity, key) = (entity.to_string(), key.to_string());
        self.run(instance, false, move |conn| {
            read_record(conn, &entity, &key)
        })
        .await
    }

    async fn write(
        &self,
        instance: &str,
        entity: &str,
        entries: Vec<(String, Value)>,
        merge: Arc<Merge>,
    ) -> Result<(), StorageError> {
        let database = self.database(instance)?;
        let (done, answer) = tokio::sync::oneshot::channel();
        lock(&database.pending).push(PendingWrite {
            entity: entity.to_string(),
            entries,
            merge,
            done,
        });
        if !database.committing.swap(true, Ordering::SeqCst) {
            tokio::task::spawn_blocking(move || commit_pending(&database));
        }
        answer.await.map_err(|_| {
            tracing::warn!(target: "op::storage", "a group commit ended without an answer");
            StorageError::Unavailable("the entity storage failed".into())
        })?
    }

    async fn delete(
        &self,
        instance: &str,
        entity: &str,
        keys: &[String],
    ) -> Result<u64, StorageError> {
        let (entity, keys) = (entity.to_string(), keys.to_vec());
        self.run(instance, true, move |conn| {
            let fail = failed("delete records");
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&fail)?;
            let mut deleted = 0u64;
            {
                let mut delete = tx
                    .prepare_cached("DELETE FROM records WHERE entity = ?1 AND key = ?2")
                    .map_err(&fail)?;
                for key in &keys {
                    deleted += delete.execute(params![entity, key]).map_err(&fail)? as u64;
                }
            }
            tx.commit().map_err(&fail)?;
            Ok(deleted)
        })
        .await
    }

    async fn select(
        &self,
        instance: &str,
        plan: &Plan<'_>,
    ) -> Result<Vec<(String, Record)>, StorageError> {
        let statement = sql::select(Dialect::Sqlite, plan);
        let values = parameters(&plan.entity.name, statement.binds);
        let sql = statement.sql;
        self.run(instance, false, move |conn| {
            let fail = failed("run a query");
            let mut stmt = conn.prepare_cached(&sql).map_err(&fail)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(values), |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(&fail)?;
            let mut out = Vec::new();
            for row in rows {
                let (key, value) = row.map_err(&fail)?;
                out.push((key, parse_record(&value)?));
            }
            Ok(out)
        })
        .await
    }

    async fn prepare(&self, instance: &str, entities: &[Entity]) -> Result<(), PrepareError> {
        let stored: Option<String> = self
            .run(instance, false, |conn| {
                conn.query_row(
                    "SELECT entities FROM declarations WHERE id = 1",
                    [],
                    |row| row.get(0),
                )
                .optional()
                .map_err(failed("be prepared"))
            })
            .await?;
        let old: Vec<Entity> = stored
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        refusal(&old, entities, |change| async move {
            let statement = sql::count_broken(Dialect::Sqlite, &change);
            let values = parameters(change.entity(), statement.binds);
            let sql = statement.sql;
            let count: i64 = self
                .run(instance, false, move |conn| {
                    conn.query_row(&sql, rusqlite::params_from_iter(values), |row| row.get(0))
                        .map_err(failed("check an upgrade"))
                })
                .await?;
            Ok((change, count.unsigned_abs()))
        })
        .await?;
        let mut creates: Vec<String> = Vec::new();
        let mut wanted: Vec<String> = Vec::new();
        for entity in entities {
            for index in &entity.indexes {
                let columns = sql::index_columns(Dialect::Sqlite, entity, index);
                let (name, create) = sql::create_index(Dialect::Sqlite, "ix_", &columns);
                creates.push(create);
                wanted.push(name);
            }
        }
        let text = serde_json::to_string(entities).unwrap_or_else(|_| "[]".into());
        self.run(instance, true, move |conn| {
            let fail = failed("be prepared");
            for create in &creates {
                conn.execute_batch(create).map_err(&fail)?;
            }
            let existing: Vec<String> = {
                let mut stmt = conn
                    .prepare(
                        "SELECT name FROM sqlite_master WHERE type = 'index' \
                         AND name LIKE 'ix\\_%' ESCAPE '\\'",
                    )
                    .map_err(&fail)?;
                let names = stmt.query_map([], |row| row.get(0)).map_err(&fail)?;
                names.collect::<rusqlite::Result<_>>().map_err(&fail)?
            };
            for name in existing {
                if !wanted.contains(&name) {
                    let drop = format!("DROP INDEX IF EXISTS \"{}\"", name.replace('"', ""));
                    conn.execute_batch(&drop).map_err(&fail)?;
                }
            }
            conn.execute(
                "INSERT INTO declarations (id, entities) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET entities = excluded.entities",
                params![text],
            )
            .map_err(&fail)?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn clear(&self, instance: &str) -> Result<(), StorageError> {
        let database = self.lock().remove(instance);
        let file = self.file(instance);
        let work = move || {
            // Wait for the calls using it, then close its connections.
            if let Some(database) = &database {
                let _writing = database.write.lock().unwrap_or_else(|p| p.into_inner());
                database
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
            }
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
        };
        blocking(work, "the entity storage could not be cleared").await
    }

    async fn put_object(
        &self,
        instance: &str,
        key: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), StorageError> {
        let (key, content_type, body) = (key.to_string(), content_type.to_string(), body.to_vec());
        self.run(instance, true, move |conn| {
            let fail = failed("store an object");
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&fail)?;
            let others: i64 = tx
                .prepare_cached(
                    "SELECT COALESCE(SUM(length(body)), 0) FROM objects WHERE key <> ?1",
                )
                .and_then(|mut stmt| stmt.query_row(params![key], |row| row.get(0)))
                .map_err(&fail)?;
            check_instance_total(others.unsigned_abs(), body.len())?;
            tx.prepare_cached(
                "INSERT INTO objects (key, content_type, body) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, \
                 body = excluded.body",
            )
            .and_then(|mut stmt| stmt.execute(params![key, content_type, body]))
            .map_err(&fail)?;
            tx.commit().map_err(&fail)
        })
        .await
    }

    async fn get_object(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<StoredObject>, StorageError> {
        let key = key.to_string();
        self.run(instance, false, move |conn| {
            conn.prepare_cached("SELECT content_type, body FROM objects WHERE key = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row(params![key], |row| {
                        Ok(StoredObject {
                            content_type: row.get(0)?,
                            body: row.get(1)?,
                        })
                    })
                    .optional()
                })
                .map_err(failed("read an object"))
        })
        .await
    }

    async fn delete_object(&self, instance: &str, key: &str) -> Result<bool, StorageError> {
        let key = key.to_string();
        self.run(instance, true, move |conn| {
            conn.prepare_cached("DELETE FROM objects WHERE key = ?1")
                .and_then(|mut stmt| stmt.execute(params![key]))
                .map(|n| n > 0)
                .map_err(failed("delete an object"))
        })
        .await
    }

    async fn url_secret(&self) -> Result<Arc<[u8]>, StorageError> {
        let path = self.dir.join(URL_SECRET_FILE);
        self.url_secret
            .get_or_load(async move { read_or_make_secret(&path) })
            .await
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use op_storage_rules::{Attribute, Entity};
    use serde_json::json;

    use super::SqliteFiles;
    use crate::storage::{InstanceStorage, Records};

    /// Writes that meet in one group commit each get their own answer: the
    /// refused ones write nothing, the others are all stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_commit_answers_each_write_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let records: Arc<dyn Records> = Arc::new(SqliteFiles::new(dir.path()));
        let entities = [Entity::new("e")
            .with(Attribute::string("dept", 8).required())
            .with(Attribute::integer("n"))];
        let storage = InstanceStorage::new(records, "inst", &entities);
        storage.prepare().await.unwrap();
        let writes = (0..64).map(|i| {
            let storage = storage.clone();
            tokio::spawn(async move {
                // Every third value is refused (a string too long).
                let dept = if i % 3 == 0 { "much too long" } else { "eng" };
                let value = json!({ "dept": dept, "n": i });
                storage.set("e", vec![(format!("k{i}"), value)]).await
            })
        });
        let answers = futures_util::future::join_all(writes).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let answer = answer.unwrap();
            let stored = storage.get("e", &format!("k{i}")).await.unwrap();
            if i % 3 == 0 {
                assert!(
                    answer
                        .unwrap_err()
                        .to_string()
                        .contains("holds at most 8 bytes")
                );
                assert_eq!(stored, None, "k{i}");
            } else {
                answer.unwrap();
                assert_eq!(stored.unwrap()["n"], i, "k{i}");
            }
        }
    }
}
