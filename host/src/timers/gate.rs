//! Who runs a tick: with several replicas of a host, each tick of a timer
//! task must run once in all of them. A [`TickGate`] decides; the host
//! with one process uses [`OneProcess`], `op serve` its store's gate.

use std::time::Duration;

/// One tick of one timer task of one plugin instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickId {
    /// The plugin instance.
    pub instance_id: String,
    /// The ability's id.
    pub ability: String,
    /// When the tick was due (milliseconds since 1970, UTC): every replica
    /// computes the same value from the schedule.
    pub due_ms: i64,
}

/// What the gate says about a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This process runs it; it must report [`TickGate::finish`].
    Run,
    /// The task's previous tick is still running (here or on another
    /// replica): this one is skipped, and this process counts it.
    Skip,
    /// Another replica took it (runs it, or counted it as skipped).
    Elsewhere,
    /// The gate cannot tell (its database is out of reach): the tick is
    /// not run, so that it cannot run twice.
    Unknown(String),
}

/// How a tick ended, for the gate's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The function answered.
    Ok,
    /// It failed (an error answer, a trap, its time limit).
    Failed,
}

impl Ended {
    /// `ok` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Ok => "ok",
            Ended::Failed => "failed",
        }
    }
}

/// Decides which process runs each tick.
#[async_trait::async_trait]
pub trait TickGate: Send + Sync {
    /// Claims `tick` for this process. `lease` is how long a claimed tick
    /// may run before it counts as abandoned (its replica died): the time
    /// limit of the call and a margin.
    async fn claim(&self, tick: &TickId, lease: Duration) -> Claim;

    /// Records a tick that came due while this process was still running
    /// the previous one; true when this process is the one to count it.
    async fn skip(&self, tick: &TickId) -> bool;

    /// Records that a tick this process claimed is over.
    async fn finish(&self, tick: &TickId, ended: Ended);
}

/// One process runs every tick (`op invoke run`, `op serve` on a
/// plugins directory of its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct OneProcess;

#[async_trait::async_trait]
impl TickGate for OneProcess {
    async fn claim(&self, _tick: &TickId, _lease: Duration) -> Claim {
        Claim::Run
    }

    async fn skip(&self, _tick: &TickId) -> bool {
        true
    }

    async fn finish(&self, _tick: &TickId, _ended: Ended) {}
}
