//! Timer tasks: the `TimerTask` abilities of the plugins being served,
//! each called on its schedule in a fresh instance under the plugin's
//! limits.
//!
//! [`Timers::follow`] keeps one schedule loop per timer task of every
//! plugin it is given (the enabled ones): a new version restarts them, a
//! plugin no longer given stops them (a tick in progress finishes). Each
//! due tick is first claimed from the [`TickGate`], so that replicas of a
//! host run it once in all; a tick that comes due while the previous one
//! still runs is skipped and counted; a failed tick is logged and the
//! schedule goes on. Ticks that came due while no process was up are not
//! made up for: a schedule starts at the first run time after it starts.

pub mod gate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};

pub use gate::{Claim, Ended, OneProcess, TickGate, TickId};

use crate::bindings::Request;
use crate::gateway::Metrics;
use crate::imports::log;
use crate::manifest::TimerTask;
use crate::runtime::Plugin;

/// How long past a plugin's time limit a claimed tick may stay unfinished
/// before other replicas take it as abandoned (its replica died).
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Ticks counted as skipped at most after one long tick; beyond, the
/// schedule simply resumes at the next run time.
const MAX_SKIPPED_AT_ONCE: usize = 1000;

/// The timer tasks being run.
pub struct Timers {
    gate: Arc<dyn TickGate>,
    metrics: Option<Arc<Metrics>>,
    running: Mutex<HashMap<String, Running>>,
}

/// The schedule loops of one plugin instance; dropping it stops them.
struct Running {
    plugin: Arc<Plugin>,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Timers {
    /// Runs no timers yet; ticks are claimed from `gate` and counted in
    /// `metrics`.
    pub fn new(gate: Arc<dyn TickGate>, metrics: Option<Arc<Metrics>>) -> Self {
        Timers {
            gate,
            metrics,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Runs the timer tasks of `plugins` and of no others: loops of a
    /// plugin that is gone or replaced by another version stop (a tick in
    /// progress finishes); new ones start. Must be called inside a tokio
    /// runtime.
    pub fn follow(&self, plugins: &[Arc<Plugin>]) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let wanted: HashMap<&str, &Arc<Plugin>> = plugins
            .iter()
            .filter(|p| !p.manifest().timers.is_empty())
            .map(|p| (p.instance().installation.instance_id.as_str(), p))
            .collect();
        running.retain(|id, loops| {
            wanted
                .get(id.as_str())
                .is_some_and(|p| Arc::ptr_eq(p, &loops.plugin))
        });
        for (id, plugin) in wanted {
            if running.contains_key(id) {
                continue;
            }
            let (stop, stopped) = tokio::sync::watch::channel(false);
            for timer in &plugin.manifest().timers {
                tokio::spawn(run_schedule(
                    plugin.clone(),
                    timer.clone(),
                    self.gate.clone(),
                    self.metrics.clone(),
                    stopped.clone(),
                ));
            }
            running.insert(
                id.to_string(),
                Running {
                    plugin: plugin.clone(),
                    _stop: stop,
                },
            );
        }
    }

    /// Stops every schedule (ticks in progress finish).
    pub fn stop_all(&self) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many plugin instances have timers running.
    pub fn instances(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One line per timer task of `plugin`: its id, function, schedule and
/// next run time, e.g. `timer sync (syncNow): every 300 s, next at
/// 2026-12-01 10:05:00 +01:00`.
pub fn describe(plugin: &Plugin) -> Vec<String> {
    let now = Local::now();
    plugin
        .manifest()
        .timers
        .iter()
        .map(|timer| {
            let next = timer.schedule.next_after(&now).map_or_else(
                || "no further run time".to_string(),
                |at| format!("next at {}", at.format("%Y-%m-%d %H:%M:%S %:z")),
            );
            format!(
                "timer {} ({}): {}, {next}",
                timer.id,
                timer.function.value,
                timer.schedule.describe()
            )
        })
        .collect()
}

/// Runs one tick of `timer` now, outside its schedule (`op invoke timer`).
pub async fn fire(plugin: &Plugin, timer: &TimerTask) -> Ended {
    run_tick(plugin, timer, Local::now(), true, None).await
}

async fn run_schedule(
    plugin: Arc<Plugin>,
    timer: TimerTask,
    gate: Arc<dyn TickGate>,
    metrics: Option<Arc<Metrics>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let lease = plugin.limits().time + LEASE_MARGIN;
    let instance_id = plugin.instance().installation.instance_id.clone();
    let tick_id = |due: &DateTime<Local>| TickId {
        instance_id: instance_id.clone(),
        ability: timer.id.clone(),
        due_ms: due.timestamp_millis(),
    };
    let mut after = Local::now();
    loop {
        let Some(due) = timer.schedule.next_after(&after) else {
            tracing::info!(
                target: "op::timer",
                plugin = plugin.app_id(),
                ability = timer.id,
                "timer {} has no further run time",
                timer.id
            );
            return;
        };
        let wait = (due - Local::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let tick = tick_id(&due);
        match gate.claim(&tick, lease).await {
            Claim::Run => {
                let ended = run_tick(&plugin, &timer, due, false, metrics.as_deref()).await;
                gate.finish(&tick, ended).await;
            }
            Claim::Skip => {
                count_skipped(&plugin, &timer, metrics.as_deref(), 1);
            }
            Claim::Elsewhere => {}
            Claim::Unknown(reason) => tracing::warn!(
                target: "op::timer",
                plugin = plugin.app_id(),
                ability = timer.id,
                "timer {} did not run its tick due at {}: cannot tell whether another replica \
                 runs it ({reason})",
                timer.id,
                due.format("%H:%M:%S")
            ),
        }
        // The ticks that came due while this one ran are skipped.
        let now = Local::now();
        let mut last = due;
        let mut skipped = 0;
        let mut seen = 0;
        while let Some(next) = timer.schedule.next_after(&last) {
            if next > now || seen == MAX_SKIPPED_AT_ONCE {
                break;
            }
            seen += 1;
            if gate.skip(&tick_id(&next)).await {
                skipped += 1;
            }
            last = next;
        }
        count_skipped(&plugin, &timer, metrics.as_deref(), skipped);
        after = if seen == MAX_SKIPPED_AT_ONCE {
            now
        } else {
            last
        };
    }
}

fn count_skipped(plugin: &Plugin, timer: &TimerTask, metrics: Option<&Metrics>, count: usize) {
    if count == 0 {
        return;
    }
    if let Some(metrics) = metrics {
        for _ in 0..count {
            metrics.record_tick(plugin.app_id(), &timer.id, "skipped", None);
        }
    }
    tracing::warn!(
        target: "op::timer",
        plugin = plugin.app_id(),
        ability = timer.id,
        "timer {} skipped {count} tick{}: the previous tick was still running",
        timer.id,
        if count == 1 { "" } else { "s" }
    );
}

/// What a tick's function is given: a `POST` whose JSON body says which
/// ability and which tick it is (docs/abilities.md).
pub fn tick_request(
    plugin: &Plugin,
    timer: &TimerTask,
    due: DateTime<Local>,
    manual: bool,
) -> Request {
    let installation = &plugin.instance().installation;
    let body = serde_json::json!({
        "abilityId": timer.id,
        "abilityName": timer.name,
        "abilityType": crate::manifest::TIMER_TASK,
        "function": timer.function.value,
        "schedule": timer.schedule.describe(),
        "scheduledAt": due.to_rfc3339(),
        "scheduledAtMs": due.timestamp_millis(),
        "manual": manual,
        "instanceId": installation.instance_id,
        "teamUUID": installation.team_uuid,
        "organizationUUID": installation.organization_uuid,
    });
    Request {
        method: "POST".into(),
        url: format!("/abilities/{}/tick", timer.id),
        params: Vec::new(),
        query: Vec::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
        upstream: None,
    }
}

/// Runs one tick and logs it: a line for the tick, then what the plugin
/// logged meanwhile (each line with the ability's id).
async fn run_tick(
    plugin: &Plugin,
    timer: &TimerTask,
    due: DateTime<Local>,
    manual: bool,
    metrics: Option<&Metrics>,
) -> Ended {
    let request = tick_request(plugin, timer, due, manual);
    let function = timer.function.value.as_str();
    let started = Instant::now();
    let (outcome, lines, dropped) =
        log::collect(plugin.call_timer(&timer.id, function, &request)).await;
    let elapsed = started.elapsed();
    let (ended, failure) = match outcome {
        Ok(Ok(_)) => (Ended::Ok, None),
        Ok(Err(err)) => (
            Ended::Failed,
            Some(format!(
                "it answered an error: {} {}",
                err.status, err.reason
            )),
        ),
        Err(err) => (Ended::Failed, Some(err.to_string())),
    };
    if let Some(metrics) = metrics {
        metrics.record_tick(plugin.app_id(), &timer.id, ended.as_str(), Some(elapsed));
    }
    let app_id = plugin.app_id();
    let kind = if manual { "fired" } else { "tick" };
    let at = due.format("%H:%M:%S");
    match &failure {
        None => tracing::info!(
            target: "op::timer",
            plugin = app_id,
            ability = timer.id,
            outcome = "ok",
            "timer {} {kind} {at} -> {app_id}::{function} ok in {elapsed:.1?}",
            timer.id
        ),
        Some(cause) => tracing::warn!(
            target: "op::timer",
            plugin = app_id,
            ability = timer.id,
            outcome = "failed",
            "timer {} {kind} {at} -> {app_id}::{function} failed in {elapsed:.1?}: {cause}",
            timer.id
        ),
    }
    for line in &lines {
        log::emit(line);
    }
    if dropped > 0 {
        let kept = log::MAX_LINES_PER_REQUEST;
        tracing::warn!(
            target: "op::plugin",
            "{dropped} more plugin log lines of this tick were dropped (at most {kept} are kept)"
        );
    }
    ended
}
