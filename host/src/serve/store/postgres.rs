//! PostgreSQL as the store (`store: postgres://...` in serve.yaml, or
//! `OP_STORE_URL`): many replicas of `op serve` on one database.
//!
//! - **Schema**: versioned migrations (`migrations/*.sql`, embedded in the
//!   binary) applied at start under sqlx's migration lock, so replicas that
//!   start together apply them once.
//! - **Changes**: one transaction per admin change, holding
//!   `pg_advisory_xact_lock` from the first read to the commit, so changes
//!   made on different replicas are serialized; the commit also checks that
//!   the generation is still the one read (compare-and-swap). A replica
//!   that dies or loses its connection mid-change leaves the transaction
//!   to be rolled back: the database has all of a change or none of it.
//! - **Push**: the commit sends `NOTIFY op_changes, 'GENERATION'` inside
//!   the transaction (delivered when it commits); every replica holds one
//!   `LISTEN` connection and reloads on each notification. When that
//!   connection is lost, the replica keeps serving what it loaded, reports
//!   the trouble ([`StateStore::trouble`]), reconnects with backoff (0.1 s
//!   doubling to 5 s) and, once back, reads the state to catch up on what
//!   it missed. A slow poll (every [`SAFETY_POLL`]) covers a notification
//!   lost any other way.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::{Change, InstanceRecord, State, StateStore, StoreError};

/// The channel changes are announced on.
pub const CHANNEL: &str = "op_changes";
/// The advisory lock every admin change holds (the bytes of "op_serve").
const CHANGE_LOCK: i64 = 0x6f70_5f73_6572_7665;
/// How long a change waits for another replica's change to finish before
/// it is refused as busy.
pub const CHANGE_LOCK_WAIT: Duration = Duration::from_secs(30);
/// How long a session may sit in an open transaction without a statement
/// before PostgreSQL ends it (and so frees the change lock): bounds what a
/// replica that vanished mid-change (a partition, a paused machine) holds.
const IDLE_IN_CHANGE: &str = "300s";
/// How often a replica reads the generation even without a notification.
pub const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How long an operation waits for a connection before the database counts
/// as out of reach.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `op serve` keeps trying to reach the database at start.
const START_PATIENCE: Duration = Duration::from_secs(15);

/// The schema's versions, oldest first.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "instances, packages and the generation",
        include_str!("migrations/0001_state.sql"),
    ),
    (
        2,
        "timer task ticks",
        include_str!("migrations/0002_timer_ticks.sql"),
    ),
    (
        3,
        "entity storage",
        include_str!("migrations/0003_entity_records.sql"),
    ),
    (
        4,
        "object storage",
        include_str!("migrations/0004_objects.sql"),
    ),
];

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
    shown: String,
    shared: Arc<Shared>,
}

/// What the listener task and the store share.
#[derive(Default)]
struct Shared {
    /// Wakes the replica's follower.
    changes: tokio::sync::Notify,
    /// Why the listening connection is down, if it is.
    listener_trouble: Mutex<Option<String>>,
    /// Why the last operation could not reach the database, if it failed.
    operation_trouble: Mutex<Option<String>>,
}

impl Shared {
    fn set(slot: &Mutex<Option<String>>, value: Option<String>) {
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

/// A change: the transaction that holds the advisory lock.
struct PgChange {
    tx: Transaction<'static, Postgres>,
    state: State,
    shared: Arc<Shared>,
}

/// The URL as it may be shown: without its password, whether it is in the
/// user part or a `password=` query parameter (both are honoured by the
/// driver). A value with no host (`op:s3cret@db/op`, a scheme-less
/// mistake) is shown by its scheme alone, since its password cannot be told
/// apart from the rest.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(a PostgreSQL URL that does not parse)".to_string();
    };
    if !parsed.has_host() {
        return format!("{}:***", parsed.scheme());
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.eq_ignore_ascii_case("password") {
                    "***".to_string()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Sorts a driver error: out of reach, or refused.
fn classify(what: &'static str, err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(err.to_string()),
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
        {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Database {
            what,
            reason: err.to_string(),
        },
    }
}

impl PgStore {
    /// Connects (waiting up to 15 s for the database to come up), applies
    /// the migrations and starts listening for changes.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let shown = redact(url);
        let options = PgConnectOptions::from_str(url).map_err(|err| StoreError::Database {
            what: "the store URL",
            reason: format!("{shown} is not a PostgreSQL URL: {err}"),
        })?;
        // The process id tells an operator (and pg_stat_activity) which
        // replica a session belongs to.
        let name = format!("op serve {}", std::process::id());
        let options = options
            .application_name(&name)
            .options([("idle_in_transaction_session_timeout", IDLE_IN_CHANGE)]);
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        let pool = loop {
            let attempt = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await;
            match attempt {
                Ok(pool) => break pool,
                Err(err) => {
                    let err = classify("connect", err);
                    if !err.is_unavailable() || started.elapsed() > START_PATIENCE {
                        return Err(StoreError::Unavailable(format!("{shown}: {err}")));
                    }
                    tracing::warn!(store = shown, "waiting for the database: {err}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        };
        migrate(&pool).await?;
        let shared = Arc::new(Shared::default());
        tokio::spawn(listen(pool.clone(), shared.clone(), shown.clone()));
        Ok(PgStore {
            pool,
            shown,
            shared,
        })
    }

    /// Notes whether an operation reached the database.
    fn observe<T>(&self, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        match &outcome {
            Ok(_) => Shared::set(&self.shared.operation_trouble, None),
            Err(StoreError::Unavailable(reason)) => {
                Shared::set(&self.shared.operation_trouble, Some(reason.clone()))
            }
            Err(_) => {}
        }
        outcome
    }
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            sqlx::migrate::Migration::new(
                *version,
                Cow::Borrowed(*description),
                sqlx::migrate::MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect();
    sqlx::migrate::Migrator::with_migrations(migrations)
        .run(pool)
        .await
        .map_err(|err| StoreError::Database {
            what: "the schema migrations",
            reason: err.to_string(),
        })
}

/// Holds the `LISTEN` connection: wakes the follower on every notification
/// and after every reconnection; records why it is down while it is.
async fn listen(pool: PgPool, shared: Arc<Shared>, shown: String) {
    let mut pause = Duration::from_millis(100);
    loop {
        let trouble = match PgListener::connect_with(&pool).await {
            Err(err) => reason(classify("LISTEN", err)),
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Err(err) => reason(classify("LISTEN", err)),
                Ok(()) => {
                    let was_down = shared
                        .listener_trouble
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    if let Some(was) = was_down {
                        tracing::info!(
                            store = shown,
                            "the database is back (it was: {was}); catching up"
                        );
                    }
                    pause = Duration::from_millis(100);
                    // Whatever was committed while not listening is read now.
                    shared.changes.notify_one();
                    let lost = loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => shared.changes.notify_one(),
                            Ok(None) => {
                                break "the connection to the database was lost".to_string();
                            }
                            Err(err) => break reason(classify("LISTEN", err)),
                        }
                    };
                    tracing::error!(
                        store = shown,
                        "{lost}: serving what is loaded, refusing admin changes, reconnecting"
                    );
                    lost
                }
            },
        };
        // Set at once: reconnecting may take a while.
        Shared::set(&shared.listener_trouble, Some(trouble));
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The reason of an error, without the "cannot be reached" heading.
fn reason(err: StoreError) -> String {
    match err {
        StoreError::Unavailable(reason) => reason,
        other => other.to_string(),
    }
}

async fn read_state(tx: &mut Transaction<'static, Postgres>) -> Result<State, StoreError> {
    let generation: i64 = sqlx::query_scalar("SELECT generation FROM op_generation")
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| classify("read the generation", e))?;
    let rows = sqlx::query(
        "SELECT instance_id, app_id, name, version, scope, team_uuid, enabled, content_hash, \
         installed_at, upgraded_at, workspace FROM op_instances ORDER BY seq",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(|e| classify("read the instances", e))?;
    let mut instances = Vec::with_capacity(rows.len());
    for row in rows {
        let record = (|| {
            Ok::<_, sqlx::Error>(InstanceRecord {
                instance_id: row.try_get("instance_id")?,
                app_id: row.try_get("app_id")?,
                name: row.try_get("name")?,
                version: row.try_get("version")?,
                scope: row.try_get::<i16, _>("scope")? as u8,
                team_uuid: row.try_get("team_uuid")?,
                enabled: row.try_get("enabled")?,
                content_hash: row.try_get("content_hash")?,
                installed_at: row.try_get::<i64, _>("installed_at")? as u64,
                upgraded_at: row
                    .try_get::<Option<i64>, _>("upgraded_at")?
                    .map(|t| t as u64),
                workspace: row.try_get("workspace")?,
            })
        })()
        .map_err(|err| StoreError::Damaged {
            place: "table op_instances".into(),
            reason: err.to_string(),
        })?;
        instances.push(record);
    }
    Ok(State {
        generation: generation as u64,
        instances,
    })
}

#[async_trait::async_trait]
impl StateStore for PgStore {
    fn tick_gate(&self) -> Result<Arc<dyn crate::timers::TickGate>, StoreError> {
        Ok(super::ticks::PgTicks::new(self.pool.clone()))
    }

    fn records(&self) -> Arc<dyn crate::storage::Records> {
        Arc::new(crate::storage::PgRecords::new(self.pool.clone()))
    }

    fn describe(&self) -> String {
        format!("PostgreSQL at {}", self.shown)
    }

    fn shares_workspaces(&self) -> bool {
        false
    }

    async fn read(&self) -> Result<State, StoreError> {
        let outcome = async {
            let mut tx = self.pool.begin().await.map_err(|e| classify("begin", e))?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(|e| classify("begin", e))?;
            let state = read_state(&mut tx).await?;
            tx.commit().await.map_err(|e| classify("read", e))?;
            Ok(state)
        }
        .await;
        self.observe(outcome)
    }

    async fn package(&self, content_hash: &str) -> Result<Vec<u8>, StoreError> {
        let outcome = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT bytes FROM op_packages WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("read a package", e))
        .and_then(|found| {
            found.ok_or_else(|| StoreError::Damaged {
                place: "table op_packages".into(),
                reason: format!("package {content_hash} is missing"),
            })
        });
        self.observe(outcome)
    }

    async fn begin(&self) -> Result<Box<dyn Change>, StoreError> {
        if let Some(trouble) = self.trouble() {
            return Err(StoreError::Unavailable(trouble));
        }
        let outcome = async {
            let mut tx = self.pool.begin().await.map_err(|e| classify("begin", e))?;
            let wait = format!("SET LOCAL lock_timeout = {}", CHANGE_LOCK_WAIT.as_millis());
            sqlx::query(sqlx::AssertSqlSafe(wait))
                .execute(&mut *tx)
                .await
                .map_err(|e| classify("set the lock timeout", e))?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(CHANGE_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03") => {
                        StoreError::Busy {
                            waited: CHANGE_LOCK_WAIT,
                        }
                    }
                    _ => classify("take the change lock", e),
                })?;
            let state = read_state(&mut tx).await?;
            Ok(Box::new(PgChange {
                tx,
                state,
                shared: self.shared.clone(),
            }) as Box<dyn Change>)
        }
        .await;
        self.observe(outcome)
    }

    async fn changed(&self) {
        let _ = tokio::time::timeout(SAFETY_POLL, self.shared.changes.notified()).await;
    }

    fn trouble(&self) -> Option<String> {
        let listener = self
            .shared
            .listener_trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        listener.or_else(|| {
            self.shared
                .operation_trouble
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
    }
}

#[async_trait::async_trait]
impl Change for PgChange {
    fn state(&self) -> &State {
        &self.state
    }

    async fn put_package(&mut self, content_hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO op_packages (content_hash, bytes) VALUES ($1, $2) \
             ON CONFLICT (content_hash) DO NOTHING",
        )
        .bind(content_hash)
        .bind(bytes)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| classify("keep the package", e))?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>, next: &State) -> Result<(), StoreError> {
        let outcome = self.write(next).await;
        let outcome = match outcome {
            Ok(()) => self.tx.commit().await.map_err(|e| classify("commit", e)),
            Err(err) => Err(err),
        };
        if let Err(StoreError::Unavailable(reason)) = &outcome {
            Shared::set(&self.shared.operation_trouble, Some(reason.clone()));
        }
        outcome
    }
}

impl PgChange {
    async fn write(&mut self, next: &State) -> Result<(), StoreError> {
        let found: i64 = sqlx::query_scalar("SELECT generation FROM op_generation FOR UPDATE")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| classify("read the generation", e))?;
        if found as u64 != self.state.generation {
            return Err(StoreError::Raced {
                expected: self.state.generation,
                found: found as u64,
            });
        }
        let ids: Vec<String> = next
            .instances
            .iter()
            .map(|r| r.instance_id.clone())
            .collect();
        sqlx::query("DELETE FROM op_instances WHERE NOT (instance_id = ANY($1))")
            .bind(&ids)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| classify("remove instances", e))?;
        for record in &next.instances {
            if self.state.instances.contains(record) {
                continue;
            }
            sqlx::query(
                "INSERT INTO op_instances (instance_id, app_id, name, version, scope, team_uuid, \
                 enabled, content_hash, installed_at, upgraded_at, workspace) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (instance_id) DO UPDATE SET app_id = $2, name = $3, version = $4, \
                 scope = $5, team_uuid = $6, enabled = $7, content_hash = $8, installed_at = $9, \
                 upgraded_at = $10, workspace = $11",
            )
            .bind(&record.instance_id)
            .bind(&record.app_id)
            .bind(&record.name)
            .bind(&record.version)
            .bind(i16::from(record.scope))
            .bind(&record.team_uuid)
            .bind(record.enabled)
            .bind(&record.content_hash)
            .bind(record.installed_at as i64)
            .bind(record.upgraded_at.map(|t| t as i64))
            .bind(&record.workspace)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| classify("write an instance", e))?;
        }
        sqlx::query(
            "DELETE FROM op_packages p WHERE NOT EXISTS \
             (SELECT 1 FROM op_instances i WHERE i.content_hash = p.content_hash)",
        )
        .execute(&mut *self.tx)
        .await
        .map_err(|e| classify("remove unused packages", e))?;
        sqlx::query("UPDATE op_generation SET generation = $1")
            .bind(next.generation as i64)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| classify("bump the generation", e))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(next.generation.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| classify("announce the change", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_has_no_password() {
        assert_eq!(
            redact("postgres://op:s3cret@db.example:5432/op"),
            "postgres://op:***@db.example:5432/op"
        );
        assert_eq!(
            redact("postgres://db.example/op"),
            "postgres://db.example/op"
        );
        assert!(!redact("postgres://op:s3cret@[::1/op").contains("s3cret"));
        assert_eq!(
            redact("postgres://op@db.example/op?sslmode=require&password=s3cret"),
            "postgres://op@db.example/op?sslmode=require&password=***"
        );
        assert_eq!(
            redact("postgres://op@db.example/op?PassWord=s3cret"),
            "postgres://op@db.example/op?PassWord=***"
        );
        assert_eq!(redact("op:s3cret@db.example:5432/op"), "op:***");
    }
}
