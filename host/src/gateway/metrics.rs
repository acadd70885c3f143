//! Counters and latency histograms of the gateway, rendered in the
//! Prometheus text format (`GET /metrics` of `op serve`).
//!
//! Recorded per request: `op_calls_total{plugin, function, outcome}` (the
//! outcome is `ok` or the error's model, e.g. `plugin.trap`) and
//! `op_call_duration_seconds{plugin, function}`; ONES calls without any
//! plugin are under `plugin=""`. Per upstream call:
//! `op_upstream_duration_seconds`. Gauges (instances in flight, subscribe
//! queue depth) are read when rendered.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(self.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let trimmed = labels.trim_end_matches(',');
        let braces = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{{{trimmed}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counts {
    /// (plugin, function) → outcome → count.
    calls: BTreeMap<(String, String), BTreeMap<String, u64>>,
    /// (plugin, function) → latency.
    latency: BTreeMap<(String, String), Histogram>,
    upstream: Histogram,
}

/// The gateway's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

/// A gauge read at render time: name, help text, value.
pub type Gauge = (&'static str, &'static str, u64);

impl Metrics {
    /// No traffic yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one request answered by `plugin`'s `function` (both empty
    /// for ONES calls no plugin touched).
    pub fn record_call(&self, plugin: &str, function: &str, outcome: &str, elapsed: Duration) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (plugin.to_string(), function.to_string());
        match counts.calls.get_mut(&key) {
            Some(outcomes) => match outcomes.get_mut(outcome) {
                Some(count) => *count += 1,
                None => {
                    outcomes.insert(outcome.to_string(), 1);
                }
            },
            None => {
                counts
                    .calls
                    .insert(key.clone(), BTreeMap::from([(outcome.to_string(), 1)]));
            }
        }
        counts.latency.entry(key).or_default().observe(elapsed);
    }

    /// Records how long ONES took to answer (its headers).
    pub fn record_upstream(&self, elapsed: Duration) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.upstream.observe(elapsed);
    }

    /// The Prometheus text exposition of everything, with `gauges`.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP op_calls_total Requests served, by plugin, function and outcome (ok or the error model).\n");
        out.push_str("# TYPE op_calls_total counter\n");
        for ((plugin, function), outcomes) in &counts.calls {
            for (outcome, count) in outcomes {
                let _ = writeln!(
                    out,
                    "op_calls_total{{plugin=\"{}\",function=\"{}\",outcome=\"{}\"}} {count}",
                    escape(plugin),
                    escape(function),
                    escape(outcome)
                );
            }
        }
        out.push_str(
            "# HELP op_call_duration_seconds Time to answer a request, by plugin and function.\n",
        );
        out.push_str("# TYPE op_call_duration_seconds histogram\n");
        for ((plugin, function), histogram) in &counts.latency {
            let labels = format!(
                "plugin=\"{}\",function=\"{}\",",
                escape(plugin),
                escape(function)
            );
            histogram.render(&mut out, "op_call_duration_seconds", &labels);
        }
        out.push_str(
            "# HELP op_upstream_duration_seconds Time ONES took to answer (response headers).\n",
        );
        out.push_str("# TYPE op_upstream_duration_seconds histogram\n");
        counts
            .upstream
            .render(&mut out, "op_upstream_duration_seconds", "");
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_outcome_and_timed() {
        let metrics = Metrics::new();
        metrics.record_call("p", "f", "ok", Duration::from_micros(700));
        metrics.record_call("p", "f", "ok", Duration::from_millis(30));
        metrics.record_call("p", "f", "plugin.trap", Duration::from_millis(2));
        metrics.record_upstream(Duration::from_millis(3));
        let text = metrics.render(&[("op_instances_in_flight", "Instances running.", 2)]);
        assert!(
            text.contains("op_calls_total{plugin=\"p\",function=\"f\",outcome=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "op_calls_total{plugin=\"p\",function=\"f\",outcome=\"plugin.trap\"} 1\n"
            )
        );
        assert!(text.contains(
            "op_call_duration_seconds_bucket{plugin=\"p\",function=\"f\",le=\"0.001\"} 1\n"
        ));
        assert!(text.contains(
            "op_call_duration_seconds_bucket{plugin=\"p\",function=\"f\",le=\"0.0025\"} 2\n"
        ));
        assert!(text.contains(
            "op_call_duration_seconds_bucket{plugin=\"p\",function=\"f\",le=\"+Inf\"} 3\n"
        ));
        assert!(text.contains("op_call_duration_seconds_count{plugin=\"p\",function=\"f\"} 3\n"));
        assert!(text.contains("op_upstream_duration_seconds_count 1\n"));
        assert!(text.contains("# TYPE op_instances_in_flight gauge\nop_instances_in_flight 2\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
