//! `op:plugin/log`: the plugin's log lines, into the host's log.
//!
//! While a request is served ([`collect`]), the lines of the plugin calls it
//! makes are kept and logged after the request's own line, so that a call
//! and what its functions said stay together in the log; lines written
//! outside a request (subscribe hooks, lifecycle hooks) are logged at once.
//! Everything a plugin logs is bounded, so that a hostile plugin cannot
//! exhaust the host's memory or disk: a line is cut at [`MAX_LINE_BYTES`]
//! (with a marker saying how much was cut); a request keeps at most
//! [`MAX_LINES_PER_REQUEST`] lines and [`MAX_BYTES_PER_REQUEST`] bytes, the
//! rest being counted and reported as dropped; the lines kept for the admin
//! API are at most [`RECENT_LINES`] and [`RECENT_BYTES`] per plugin. A
//! call outside a request (a hook) has the same caps as a request. The
//! memory held for calls in flight is thus at most about
//! `MAX_BYTES_PER_REQUEST` times the number of requests served at once.

use std::cell::RefCell;
use std::future::Future;

use super::HostState;
use crate::bindings::Level;
use crate::bindings::op::plugin::log::Host;

/// Most plugin log lines kept for one request.
pub const MAX_LINES_PER_REQUEST: usize = 1000;
/// Most bytes of one plugin log line; a longer line is cut and ends with
/// [`cut_marker`].
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Most bytes of plugin log lines kept for one request (the lines' text).
pub const MAX_BYTES_PER_REQUEST: usize = 256 * 1024;

/// What ends a line cut at [`MAX_LINE_BYTES`]: `… [cut: N more bytes]`.
pub fn cut_marker(more: usize) -> String {
    format!("… [cut: {more} more bytes]")
}

/// `message` cut to at most [`MAX_LINE_BYTES`] (at a character boundary),
/// the marker included.
pub fn cut_line(mut message: String) -> String {
    if message.len() <= MAX_LINE_BYTES {
        return message;
    }
    // The marker's length grows with the number; 40 bytes is room enough.
    let mut end = MAX_LINE_BYTES - 40;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let more = message.len() - end;
    message.truncate(end);
    message.push_str(&cut_marker(more));
    message
}

/// One line a plugin logged (or printed).
#[derive(Debug, Clone)]
pub struct PluginLine {
    /// Its level.
    pub level: tracing::Level,
    /// The plugin's app_id.
    pub plugin: String,
    /// The function that logged it.
    pub function: String,
    /// The call's request id.
    pub request_id: String,
    /// `stdout` or `stderr` for printed lines; `None` for `Logger` lines.
    pub stream: Option<&'static str>,
    /// The timer task ability the call ran for, if it was a scheduled one.
    pub ability: Option<String>,
    /// The text.
    pub message: String,
}

#[derive(Default)]
struct Kept {
    lines: Vec<PluginLine>,
    bytes: usize,
    dropped: usize,
}

tokio::task_local! {
    static REQUEST_LINES: RefCell<Kept>;
}

/// Runs `serve` (one request) keeping the plugin lines logged meanwhile;
/// returns its output, the lines and how many were dropped over the limit.
pub async fn collect<F: Future>(serve: F) -> (F::Output, Vec<PluginLine>, usize) {
    REQUEST_LINES
        .scope(RefCell::new(Kept::default()), async move {
            let output = serve.await;
            let kept = REQUEST_LINES.with(|kept| std::mem::take(&mut *kept.borrow_mut()));
            (output, kept.lines, kept.dropped)
        })
        .await
}

/// Logs a plugin line now, or keeps it for the request being served; the
/// line is first cut at [`MAX_LINE_BYTES`], and a line over the request's
/// caps is dropped (and counted).
pub fn record(mut line: PluginLine) {
    line.message = cut_line(std::mem::take(&mut line.message));
    let mut line = Some(line);
    let in_request = REQUEST_LINES.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        let size = line.as_ref().map_or(0, |l| l.message.len());
        if kept.lines.len() < MAX_LINES_PER_REQUEST && kept.bytes + size <= MAX_BYTES_PER_REQUEST {
            kept.bytes += size;
            kept.lines.extend(line.take());
        } else {
            kept.dropped += 1;
        }
    });
    if in_request.is_err()
        && let Some(line) = line
    {
        record_unscoped(line);
    }
}

/// What a call made outside a request (a lifecycle or subscribe hook) has
/// logged so far.
#[derive(Default)]
struct Budget {
    lines: usize,
    bytes: usize,
    warned: bool,
}

/// Calls outside requests whose budgets are remembered; beyond, all are
/// forgotten (a call's lines are logged while it runs, so only calls that
/// run at once need theirs).
const UNSCOPED_CALLS: usize = 1024;

static UNSCOPED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Budget>>> =
    std::sync::LazyLock::new(Default::default);

/// Logs a line of a call outside a request at once, within the same caps
/// per call as a request; whether it was logged.
fn record_unscoped(line: PluginLine) -> bool {
    let size = line.message.len();
    let verdict = {
        let mut budgets = UNSCOPED.lock().unwrap_or_else(|p| p.into_inner());
        if budgets.len() >= UNSCOPED_CALLS && !budgets.contains_key(&line.request_id) {
            budgets.clear();
        }
        let budget = budgets.entry(line.request_id.clone()).or_default();
        if budget.lines < MAX_LINES_PER_REQUEST && budget.bytes + size <= MAX_BYTES_PER_REQUEST {
            budget.lines += 1;
            budget.bytes += size;
            Some(true)
        } else if !budget.warned {
            budget.warned = true;
            Some(false)
        } else {
            None
        }
    };
    match verdict {
        Some(true) => {
            emit(&line);
            true
        }
        Some(false) => {
            tracing::warn!(
                target: "op::plugin",
                plugin = line.plugin,
                function = line.function,
                request_id = line.request_id,
                "the further log lines of this call are dropped (at most {MAX_LINES_PER_REQUEST} lines and {} KiB per call)",
                MAX_BYTES_PER_REQUEST / 1024
            );
            false
        }
        None => false,
    }
}

/// Lines kept per plugin for [`recent`].
pub const RECENT_LINES: usize = 200;
/// Bytes of lines (their text) kept per plugin for [`recent`].
pub const RECENT_BYTES: usize = 128 * 1024;

/// A line as kept for [`recent`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentLine {
    /// When it was logged (milliseconds since 1970).
    pub time_ms: u64,
    /// `error`, `warning` or `info`.
    pub level: &'static str,
    /// The function that logged it.
    pub function: String,
    /// The call's request id.
    pub request_id: String,
    /// The text.
    pub message: String,
}

/// The lines of one plugin, and the bytes of their text.
#[derive(Default)]
struct Ring {
    lines: std::collections::VecDeque<RecentLine>,
    bytes: usize,
}

type Recent = std::collections::HashMap<String, Ring>;

static RECENT: std::sync::LazyLock<std::sync::Mutex<Recent>> =
    std::sync::LazyLock::new(Default::default);

/// The last lines of `info` and up that the plugin `app_id` logged in this
/// process (at most [`RECENT_LINES`] and [`RECENT_BYTES`]), oldest first.
pub fn recent(app_id: &str) -> Vec<RecentLine> {
    let recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    recent
        .get(app_id)
        .map(|ring| ring.lines.iter().cloned().collect())
        .unwrap_or_default()
}

/// Forgets the lines of `app_id` (it was uninstalled).
pub fn forget(app_id: &str) {
    let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    recent.remove(app_id);
}

fn keep(line: &PluginLine) {
    let level = match line.level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warning",
        tracing::Level::INFO => "info",
        _ => return,
    };
    let time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let kept = RecentLine {
        time_ms,
        level,
        function: line.function.clone(),
        request_id: line.request_id.clone(),
        message: cut_line(line.message.clone()),
    };
    let size = kept.message.len();
    let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    let ring = recent.entry(line.plugin.clone()).or_default();
    while ring.lines.len() >= RECENT_LINES || (ring.bytes + size > RECENT_BYTES) {
        let Some(oldest) = ring.lines.pop_front() else {
            break;
        };
        ring.bytes -= oldest.message.len();
    }
    ring.bytes += size;
    ring.lines.push_back(kept);
}

/// Logs a line at its level, target `op::plugin`, and keeps it for
/// [`recent`].
pub fn emit(line: &PluginLine) {
    keep(line);
    let PluginLine {
        plugin,
        function,
        request_id,
        message,
        ..
    } = line;
    let message = if message.len() > MAX_LINE_BYTES {
        std::borrow::Cow::Owned(cut_line(message.clone()))
    } else {
        std::borrow::Cow::Borrowed(message.as_str())
    };
    let stream = line.stream.unwrap_or("log");
    let ability = line.ability.as_deref();
    match line.level {
        tracing::Level::ERROR => {
            tracing::error!(target: "op::plugin", plugin, function, request_id, stream, ability, "{message}")
        }
        tracing::Level::WARN => {
            tracing::warn!(target: "op::plugin", plugin, function, request_id, stream, ability, "{message}")
        }
        tracing::Level::INFO => {
            tracing::info!(target: "op::plugin", plugin, function, request_id, stream, ability, "{message}")
        }
        _ => {
            tracing::debug!(target: "op::plugin", plugin, function, request_id, stream, ability, "{message}")
        }
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warning => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        // Lines of `info` and up are always kept for the admin API's
        // recent logs; a debug line only when the log filter shows it.
        if level == tracing::Level::DEBUG
            && !tracing::enabled!(target: "op::plugin", tracing::Level::DEBUG)
        {
            return;
        }
        let call = &self.call;
        record(PluginLine {
            level,
            plugin: call.instance.app_id.clone(),
            function: call.function.clone(),
            request_id: call.request_id.clone(),
            stream: None,
            ability: call.ability.clone(),
            message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> PluginLine {
        PluginLine {
            level: tracing::Level::INFO,
            plugin: "p".into(),
            function: "f".into(),
            request_id: "r".into(),
            stream: None,
            ability: None,
            message: format!("line {n}"),
        }
    }

    #[tokio::test]
    async fn a_request_keeps_its_lines_up_to_the_limit() {
        let ((), lines, dropped) = collect(async {
            for n in 0..MAX_LINES_PER_REQUEST {
                record(line(n));
            }
        })
        .await;
        assert_eq!((lines.len(), dropped), (MAX_LINES_PER_REQUEST, 0));
        assert_eq!(lines[0].message, "line 0");

        let ((), lines, dropped) = collect(async {
            for n in 0..=MAX_LINES_PER_REQUEST {
                record(line(n));
            }
        })
        .await;
        assert_eq!((lines.len(), dropped), (MAX_LINES_PER_REQUEST, 1));
        assert_eq!(
            lines.last().unwrap().message,
            format!("line {}", MAX_LINES_PER_REQUEST - 1)
        );
    }

    #[test]
    fn a_long_line_is_cut_with_a_marker_and_a_line_at_the_cap_is_kept_whole() {
        let whole = "a".repeat(MAX_LINE_BYTES);
        assert_eq!(cut_line(whole.clone()), whole);
        let long = "é".repeat(MAX_LINE_BYTES);
        let cut = cut_line(long.clone());
        assert!(cut.len() <= MAX_LINE_BYTES, "{}", cut.len());
        let kept = cut.split('…').next().unwrap();
        assert!(long.starts_with(kept));
        assert!(cut.ends_with(&cut_marker(long.len() - kept.len())), "{cut}");
    }

    #[tokio::test]
    async fn a_request_keeps_its_lines_up_to_its_byte_cap() {
        let big = |n: usize| {
            let mut l = line(n);
            l.message = "b".repeat(MAX_LINE_BYTES * 2);
            l
        };
        let per_line = cut_line("b".repeat(MAX_LINE_BYTES * 2)).len();
        let fit = MAX_BYTES_PER_REQUEST / per_line;
        let ((), lines, dropped) = collect(async {
            for n in 0..fit + 5 {
                record(big(n));
            }
        })
        .await;
        assert_eq!((lines.len(), dropped), (fit, 5));
        assert!(lines.iter().map(|l| l.message.len()).sum::<usize>() <= MAX_BYTES_PER_REQUEST);
    }

    #[test]
    fn a_call_outside_a_request_has_the_same_caps() {
        let mut logged = 0;
        for n in 0..MAX_LINES_PER_REQUEST + 5 {
            let mut l = line(n);
            l.plugin = "unscoped".into();
            l.request_id = "unscoped-call".into();
            logged += usize::from(record_unscoped(l));
        }
        assert_eq!(logged, MAX_LINES_PER_REQUEST);
        let mut other = line(0);
        other.plugin = "unscoped".into();
        other.request_id = "another-call".into();
        assert!(record_unscoped(other), "another call has its own budget");
    }

    #[test]
    fn the_admin_ring_is_capped_in_bytes() {
        for n in 0..RECENT_LINES {
            let mut kept = line(n);
            kept.plugin = "bytes".into();
            kept.message = "r".repeat(MAX_LINE_BYTES);
            emit(&kept);
        }
        let lines = recent("bytes");
        let total: usize = lines.iter().map(|l| l.message.len()).sum();
        assert!(total <= RECENT_BYTES, "{total}");
        assert_eq!(lines.len(), RECENT_BYTES / MAX_LINE_BYTES);
    }

    #[test]
    fn a_plugin_keeps_its_last_lines_for_the_admin_api() {
        for n in 0..RECENT_LINES {
            let mut kept = line(n);
            kept.plugin = "ring".into();
            emit(&kept);
        }
        assert_eq!(recent("ring").len(), RECENT_LINES);
        assert_eq!(recent("ring")[0].message, "line 0");
        let mut one_more = line(RECENT_LINES);
        one_more.plugin = "ring".into();
        emit(&one_more);
        let lines = recent("ring");
        assert_eq!(lines.len(), RECENT_LINES, "the oldest line made room");
        assert_eq!(lines[0].message, "line 1");
        assert_eq!(
            lines.last().unwrap().message,
            format!("line {RECENT_LINES}")
        );
    }

    #[tokio::test]
    async fn lines_outside_a_request_are_logged_at_once_and_lines_inside_when_it_ends() {
        let mut outside = line(0);
        outside.plugin = "outside-a-request".into();
        record(outside);
        assert_eq!(
            recent("outside-a-request").len(),
            1,
            "logged (and kept) at once"
        );

        let mut inside = line(1);
        inside.plugin = "inside-a-request".into();
        let ((), lines, _) = collect(async move {
            record(inside);
            assert!(
                recent("inside-a-request").is_empty(),
                "held until the request ends"
            );
        })
        .await;
        assert_eq!(lines.len(), 1);
        for line in &lines {
            emit(line);
        }
        assert_eq!(recent("inside-a-request")[0].message, "line 1");
        forget("inside-a-request");
        assert!(recent("inside-a-request").is_empty());
    }
}
