//! The tick gates of the two stores: which replica runs each timer task
//! tick (docs/abilities.md, "Replicas").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sqlx::PgPool;

use crate::timers::{Claim, Ended, TickGate, TickId};

/// The directory store: the one process that holds `timers.lock` in the
/// plugins directory runs every tick; the other replicas on the folder run
/// none, and one of them takes over when the holder exits.
pub struct DirTicks {
    file: std::fs::File,
    held: AtomicBool,
}

impl DirTicks {
    /// The gate on `dir/timers.lock`.
    pub fn open(dir: &std::path::Path) -> std::io::Result<DirTicks> {
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("timers.lock"))?;
        Ok(DirTicks {
            file,
            held: AtomicBool::new(false),
        })
    }

    /// Whether this process runs the timers (taking the lock if it is free).
    fn runs_timers(&self) -> bool {
        if self.held.load(Ordering::Relaxed) {
            return true;
        }
        let took = self.file.try_lock().is_ok();
        if took {
            self.held.store(true, Ordering::Relaxed);
            tracing::info!("this replica runs the timer tasks (it holds timers.lock)");
        }
        took
    }
}

#[async_trait::async_trait]
impl TickGate for DirTicks {
    async fn claim(&self, _tick: &TickId, _lease: Duration) -> Claim {
        if self.runs_timers() {
            Claim::Run
        } else {
            Claim::Elsewhere
        }
    }

    async fn skip(&self, _tick: &TickId) -> bool {
        self.runs_timers()
    }

    async fn finish(&self, _tick: &TickId, _ended: Ended) {}
}

/// How long finished tick rows are kept (for operators reading the table).
const KEEP_ROWS: Duration = Duration::from_secs(24 * 3600);

/// The PostgreSQL store: a tick is claimed by inserting its row in
/// `op_timer_ticks`; the primary key lets one replica in, and a claim is
/// refused while an earlier tick of the task is unfinished within its
/// lease.
pub struct PgTicks {
    pool: PgPool,
    replica: String,
    last_sweep: AtomicI64,
}

impl PgTicks {
    /// The gate on the store's database.
    pub fn new(pool: PgPool) -> Arc<PgTicks> {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        Arc::new(PgTicks {
            pool,
            replica: format!("{host} {}", std::process::id()).trim().to_string(),
            last_sweep: AtomicI64::new(0),
        })
    }

    /// Deletes rows older than [`KEEP_ROWS`], at most once an hour.
    async fn sweep(&self, now_ms: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now_ms - last < 3_600_000
            || self
                .last_sweep
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let keep = i64::try_from(KEEP_ROWS.as_millis()).unwrap_or(i64::MAX);
        let swept = sqlx::query("DELETE FROM op_timer_ticks WHERE due_ms < $1")
            .bind(now_ms - keep)
            .execute(&self.pool)
            .await;
        if let Err(err) = swept {
            tracing::warn!("cannot delete old timer tick rows: {err}");
        }
    }
}

#[async_trait::async_trait]
impl TickGate for PgTicks {
    async fn claim(&self, tick: &TickId, lease: Duration) -> Claim {
        self.sweep(tick.due_ms).await;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let claimed = sqlx::query(
            "INSERT INTO op_timer_ticks \
                 (instance_id, ability_id, due_ms, replica, lease_until, outcome) \
             SELECT $1, $2, $3, $4, now() + $5 * interval '1 millisecond', 'running' \
             WHERE NOT EXISTS ( \
                 SELECT 1 FROM op_timer_ticks \
                 WHERE instance_id = $1 AND ability_id = $2 AND due_ms < $3 \
                   AND finished_at IS NULL AND lease_until > now()) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&tick.instance_id)
        .bind(&tick.ability)
        .bind(tick.due_ms)
        .bind(&self.replica)
        .bind(lease_ms)
        .execute(&self.pool)
        .await;
        match claimed {
            Ok(done) if done.rows_affected() == 1 => Claim::Run,
            // Taken by another replica, or an earlier tick still runs.
            Ok(_) => {
                if self.skip(tick).await {
                    Claim::Skip
                } else {
                    Claim::Elsewhere
                }
            }
            Err(err) => Claim::Unknown(err.to_string()),
        }
    }

    async fn skip(&self, tick: &TickId) -> bool {
        let recorded = sqlx::query(
            "INSERT INTO op_timer_ticks \
                 (instance_id, ability_id, due_ms, replica, lease_until, finished_at, outcome) \
             VALUES ($1, $2, $3, $4, now(), now(), 'skipped') \
             ON CONFLICT DO NOTHING",
        )
        .bind(&tick.instance_id)
        .bind(&tick.ability)
        .bind(tick.due_ms)
        .bind(&self.replica)
        .execute(&self.pool)
        .await;
        match recorded {
            Ok(done) => done.rows_affected() == 1,
            Err(err) => {
                tracing::warn!("cannot record a skipped timer tick: {err}");
                false
            }
        }
    }

    async fn finish(&self, tick: &TickId, ended: Ended) {
        let finished = sqlx::query(
            "UPDATE op_timer_ticks SET finished_at = now(), outcome = $4 \
             WHERE instance_id = $1 AND ability_id = $2 AND due_ms = $3",
        )
        .bind(&tick.instance_id)
        .bind(&tick.ability)
        .bind(tick.due_ms)
        .bind(ended.as_str())
        .execute(&self.pool)
        .await;
        if let Err(err) = finished {
            // The lease ends it: the next ticks wait at most that long.
            tracing::warn!(
                "cannot record the end of timer tick {} of {}: {err}",
                tick.ability,
                tick.instance_id
            );
        }
    }
}
