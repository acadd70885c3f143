//! Counters and latency histograms of the gateway, in the Prometheus text
//! format (`GET /metrics` of `op serve`), kept by `prometheus-client`
//! (the Prometheus project's Rust client: atomic counters, per-label-set
//! metrics behind a read-mostly lock, standard names and encoding).
//!
//! Recorded per request: `op_calls_total{plugin, function, outcome}` (the
//! outcome is `ok` or the error's model, e.g. `plugin.trap`) and
//! `op_call_duration_seconds{plugin, function}`; ONES calls without any
//! plugin are under `plugin=""`. Per upstream call:
//! `op_upstream_duration_seconds`. Per timer task tick:
//! `op_timer_ticks_total{plugin, ability, outcome}` and
//! `op_timer_tick_duration_seconds{plugin, ability}`. Always there: `op_build_info{version}`
//! and the standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, ...). What others own (instances in
//! flight, the subscribe queue, the store) is read when rendered, as
//! [`Reading`]s.

use std::collections::HashMap;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    function: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    plugin: String,
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TickLabels {
    plugin: String,
    ability: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AbilityLabels {
    plugin: String,
    ability: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// The metrics of one plugin's function, shared with the families (a
/// metric's clone counts into the same value).
#[derive(Debug)]
struct CallHandles {
    latency: Histogram,
    /// Its calls' counters by outcome (`ok` and the few error models).
    outcomes: Vec<(String, Counter)>,
}

type Latencies = Family<FunctionLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Ticks run longer than requests: up to the longest time limit.
fn tick_histogram() -> Histogram {
    Histogram::new([0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
}

/// A value another part of the host owns, read when the metrics are
/// rendered.
#[derive(Debug, Clone)]
pub enum Reading {
    /// A value that goes up and down.
    Gauge {
        /// The metric's name.
        name: &'static str,
        /// Its help text.
        help: &'static str,
        /// Its value now.
        value: i64,
    },
    /// A count that only grows, under `{name}_total`.
    Counter {
        /// The metric's name, without `_total`.
        name: &'static str,
        /// Its help text.
        help: &'static str,
        /// Its value now.
        value: u64,
    },
    /// A count that only grows, per value of one label.
    LabelledCounter {
        /// The metric's name, without `_total`.
        name: &'static str,
        /// Its help text.
        help: &'static str,
        /// The label's name.
        label: &'static str,
        /// Each label value's count.
        values: Vec<(String, u64)>,
    },
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Latencies,
    /// The metrics of `calls` and `latency` by plugin and function.
    handles: std::sync::RwLock<HashMap<String, HashMap<String, CallHandles>>>,
    upstream: Histogram,
    ticks: Family<TickLabels, Counter>,
    tick_latency: Family<AbilityLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// No traffic yet.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "op_calls",
            "Requests served, by plugin, function and outcome (ok or the error model)",
            calls.clone(),
        );
        let latency: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register(
            "op_call_duration_seconds",
            "Time to answer a request, by plugin and function",
            latency.clone(),
        );
        let upstream = latency_histogram();
        registry.register(
            "op_upstream_duration_seconds",
            "Time ONES took to answer (response headers)",
            upstream.clone(),
        );
        registry.register(
            "op_build",
            "The op version serving",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            }),
        );
        let ticks = Family::<TickLabels, Counter>::default();
        registry.register(
            "op_timer_ticks",
            "Timer task ticks, by plugin, ability and outcome (ok, failed, or skipped while \
             the previous tick still ran)",
            ticks.clone(),
        );
        let tick_latency: Family<AbilityLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(tick_histogram);
        registry.register(
            "op_timer_tick_duration_seconds",
            "Time a timer task tick ran, by plugin and ability",
            tick_latency.clone(),
        );
        registry.register_collector(Box::new(ProcessMetrics));
        Metrics {
            registry,
            calls,
            latency,
            handles: Default::default(),
            upstream,
            ticks,
            tick_latency,
        }
    }

    /// Records one request answered by `plugin`'s `function` (both empty
    /// for ONES calls no plugin touched).
    ///
    /// The label sets' metrics are looked up by `&str` in [`CallHandles`]
    /// (no String is built per request); only the first request of a
    /// plugin, function and outcome creates them in the families.
    pub fn record_call(&self, plugin: &str, function: &str, outcome: &str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        {
            let handles = self.handles.read().unwrap_or_else(|p| p.into_inner());
            if let Some(call) = handles.get(plugin).and_then(|f| f.get(function))
                && let Some((_, counter)) = call.outcomes.iter().find(|(o, _)| o == outcome)
            {
                counter.inc();
                call.latency.observe(seconds);
                return;
            }
        }
        let mut handles = self.handles.write().unwrap_or_else(|p| p.into_inner());
        let call = handles
            .entry(plugin.to_string())
            .or_default()
            .entry(function.to_string())
            .or_insert_with(|| CallHandles {
                latency: self
                    .latency
                    .get_or_create(&FunctionLabels {
                        plugin: plugin.to_string(),
                        function: function.to_string(),
                    })
                    .clone(),
                outcomes: Vec::new(),
            });
        let counter = match call.outcomes.iter().position(|(o, _)| o == outcome) {
            Some(at) => &call.outcomes[at].1,
            None => {
                let counter = self
                    .calls
                    .get_or_create(&CallLabels {
                        plugin: plugin.to_string(),
                        function: function.to_string(),
                        outcome: outcome.to_string(),
                    })
                    .clone();
                call.outcomes.push((outcome.to_string(), counter));
                &call.outcomes.last().expect("pushed above").1
            }
        };
        counter.inc();
        call.latency.observe(seconds);
    }

    /// Records one tick of `plugin`'s timer task `ability`: `ok`, `failed`
    /// or `skipped`, and how long it ran (none for a skipped one).
    pub fn record_tick(
        &self,
        plugin: &str,
        ability: &str,
        outcome: &'static str,
        ran: Option<Duration>,
    ) {
        self.ticks
            .get_or_create(&TickLabels {
                plugin: plugin.to_string(),
                ability: ability.to_string(),
                outcome,
            })
            .inc();
        if let Some(ran) = ran {
            self.tick_latency
                .get_or_create(&AbilityLabels {
                    plugin: plugin.to_string(),
                    ability: ability.to_string(),
                })
                .observe(ran.as_secs_f64());
        }
    }

    /// Records how long ONES took to answer (its headers).
    pub fn record_upstream(&self, elapsed: Duration) {
        self.upstream.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of everything, with `readings`.
    pub fn render(&self, readings: Vec<Reading>) -> String {
        let mut out = String::new();
        let mut now = Registry::default();
        now.register_collector(Box::new(Readings(readings)));
        // Writing into a String cannot fail; a metric that could not be
        // encoded would only be missing.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &now);
        out
    }
}

/// The readings of one scrape.
#[derive(Debug)]
struct Readings(Vec<Reading>);

impl Collector for Readings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for reading in &self.0 {
            match reading {
                Reading::Gauge { name, help, value } => {
                    encode_one(&mut encoder, name, help, ConstGauge::new(*value))?
                }
                Reading::Counter { name, help, value } => {
                    encode_one(&mut encoder, name, help, ConstCounter::new(*value))?
                }
                Reading::LabelledCounter {
                    name,
                    help,
                    label,
                    values,
                } => {
                    let kind = ConstCounter::new(0u64).metric_type();
                    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
                    for (value, count) in values {
                        let labels = [(*label, value.as_str())];
                        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Encodes one metric without labels under `name`.
fn encode_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// The standard process metrics, read from `/proc/self` at each scrape
/// (by `procfs`); none where there is no `/proc`.
#[derive(Debug)]
struct ProcessMetrics;

impl Collector for ProcessMetrics {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        process::encode(encoder)
    }
}

#[cfg(target_os = "linux")]
mod process {
    use prometheus_client::encoding::DescriptorEncoder;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;

    use super::encode_one;

    pub fn encode(mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let Ok(stat) = me.stat() else {
            return Ok(());
        };
        let ticks = procfs::ticks_per_second() as f64;
        encode_one(
            &mut encoder,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            ConstCounter::new((stat.utime + stat.stime) as f64 / ticks),
        )?;
        let mut gauge = |name: &str, help: &str, value: f64| {
            encode_one(&mut encoder, name, help, ConstGauge::new(value))
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            (stat.rss * procfs::page_size()) as f64,
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            stat.vsize as f64,
        )?;
        gauge(
            "process_threads",
            "Number of OS threads in the process",
            stat.num_threads as f64,
        )?;
        if let Ok(boot) = procfs::boot_time_secs() {
            gauge(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                boot as f64 + stat.starttime as f64 / ticks,
            )?;
        }
        if let Ok(fds) = me.fd_count() {
            gauge(
                "process_open_fds",
                "Number of open file descriptors",
                fds as f64,
            )?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors",
                max as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod process {
    pub fn encode(
        _encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plugin_function_and_outcome_counts_on_its_own() {
        let metrics = Metrics::new();
        for (plugin, function, outcome) in [
            ("p", "f", "ok"),
            ("p", "g", "ok"),
            ("q", "f", "ok"),
            ("p", "f", "plugin.trap"),
            ("p", "f", "ok"),
            ("", "", "ok"),
        ] {
            metrics.record_call(plugin, function, outcome, Duration::from_millis(1));
        }
        let text = metrics.render(Vec::new());
        for expected in [
            "op_calls_total{plugin=\"p\",function=\"f\",outcome=\"ok\"} 2\n",
            "op_calls_total{plugin=\"p\",function=\"f\",outcome=\"plugin.trap\"} 1\n",
            "op_calls_total{plugin=\"p\",function=\"g\",outcome=\"ok\"} 1\n",
            "op_calls_total{plugin=\"q\",function=\"f\",outcome=\"ok\"} 1\n",
            "op_calls_total{plugin=\"\",function=\"\",outcome=\"ok\"} 1\n",
            "op_call_duration_seconds_count{plugin=\"p\",function=\"f\"} 3\n",
            "op_call_duration_seconds_count{plugin=\"q\",function=\"f\"} 1\n",
        ] {
            assert!(text.contains(expected), "no {expected:?} in\n{text}");
        }
    }

    #[test]
    fn calls_are_counted_by_outcome_and_timed() {
        let metrics = Metrics::new();
        metrics.record_call("p", "f", "ok", Duration::from_micros(700));
        metrics.record_call("p", "f", "ok", Duration::from_millis(30));
        metrics.record_call("p", "f", "plugin.trap", Duration::from_millis(2));
        metrics.record_upstream(Duration::from_millis(3));
        let text = metrics.render(vec![
            Reading::Gauge {
                name: "op_instances_in_flight",
                help: "Instances running.",
                value: 2,
            },
            Reading::Counter {
                name: "op_subscribe_dropped",
                help: "Dropped.",
                value: 5,
            },
            Reading::LabelledCounter {
                name: "op_workspace_quota_refusals",
                help: "Refused.",
                label: "plugin",
                values: vec![("a\"b".into(), 3)],
            },
        ]);
        for expected in [
            "# TYPE op_calls_total counter\n",
            "op_calls_total{plugin=\"p\",function=\"f\",outcome=\"ok\"} 2\n",
            "op_calls_total{plugin=\"p\",function=\"f\",outcome=\"plugin.trap\"} 1\n",
            "# TYPE op_call_duration_seconds histogram\n",
            "op_call_duration_seconds_bucket{plugin=\"p\",function=\"f\",le=\"0.001\"} 1\n",
            "op_call_duration_seconds_bucket{plugin=\"p\",function=\"f\",le=\"0.0025\"} 2\n",
            "op_call_duration_seconds_bucket{plugin=\"p\",function=\"f\",le=\"+Inf\"} 3\n",
            "op_call_duration_seconds_count{plugin=\"p\",function=\"f\"} 3\n",
            "op_upstream_duration_seconds_count 1\n",
            "# TYPE op_instances_in_flight gauge\nop_instances_in_flight 2\n",
            "# TYPE op_subscribe_dropped_total counter\nop_subscribe_dropped_total 5\n",
            "op_workspace_quota_refusals_total{plugin=\"a\\\"b\"} 3\n",
            &format!(
                "op_build_info{{version=\"{}\"}} 1\n",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(text.contains(expected), "no {expected:?} in\n{text}");
        }
        #[cfg(target_os = "linux")]
        for process in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(process), "no {process} in\n{text}");
        }
    }
}
