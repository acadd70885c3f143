//! `abilities`: the ONES platform abilities a plugin declares. op runs the
//! `TimerTask` kind (a function called on a schedule) and keeps every other
//! kind as written, with one warning per kind.
//!
//! The section stays an ONES-owned value in [`super::Manifest::abilities`];
//! this pass reads the timer tasks out of the YAML tree, so that each
//! error names `abilities[N]` and its line.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone};

use super::yaml::{Kind, Node};
use super::{Diagnostic, Located, Notice, NoticeKind};

/// The one `abilityType` op runs.
pub const TIMER_TASK: &str = "TimerTask";

/// The other ability kinds ONES plugins are known to declare: front-end
/// and platform parts that ONES itself owns, and `TaskEventHandler`
/// (ONES events, which op does not deliver). They are kept and noted; a
/// kind outside this list is kept with a warning, as it may be a typo.
pub const KEPT_KINDS: &[&str] = &[
    "SidebarMenu",
    "ProjectCustomComponent",
    "LayoutCustomQuickAction",
    "account",
    "SimpleAuth",
    "ScriptField",
    "TaskEventHandler",
];

/// A `TimerTask` ability: `function.taskActionFunc` called on a schedule.
#[derive(Debug, Clone)]
pub struct TimerTask {
    /// The ability's `id` (unique among the plugin's abilities).
    pub id: String,
    /// Its `name`, if it has one.
    pub name: Option<String>,
    /// The exported function each tick calls (`function.taskActionFunc`).
    pub function: Located<String>,
    /// When it runs.
    pub schedule: Schedule,
}

/// When a timer task runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so many seconds (`interval`), at the multiples of the interval
    /// since 1970-01-01 UTC, so that every replica of a host sees the same
    /// ticks.
    Every(Duration),
    /// At the times a six-field cron expression names (`cron`: seconds,
    /// minutes, hours, day of month, month, day of week), in the server's
    /// time zone.
    Cron(Box<cron::Schedule>),
}

impl Schedule {
    /// The first run time strictly after `after`.
    pub fn next_after<Z: TimeZone>(&self, after: &DateTime<Z>) -> Option<DateTime<Z>> {
        match self {
            Schedule::Every(every) => {
                let step = i64::try_from(every.as_millis()).ok()?.max(1);
                let now = after.timestamp_millis();
                let next = (now.div_euclid(step) + 1).checked_mul(step)?;
                let at = chrono::DateTime::from_timestamp_millis(next)?;
                Some(at.with_timezone(&after.timezone()))
            }
            Schedule::Cron(cron) => cron.after(after).next(),
        }
    }

    /// How it reads in plugin.yaml: `every 300 s` or `cron 0 */5 * * * *`.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(every) => format!("every {} s", every.as_secs()),
            Schedule::Cron(cron) => format!("cron {}", cron.source()),
        }
    }
}

/// The timer tasks of the `abilities` list in `root`, every problem with
/// them, and the warnings about kinds op keeps without running.
pub fn read(root: &Node) -> (Vec<TimerTask>, Vec<Diagnostic>, Vec<Notice>) {
    let mut out = Reading::default();
    let Some((key, list)) = root.get_entry("abilities") else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let items = match &list.kind {
        Kind::Seq(items) => items,
        _ if list.is_null() => return (Vec::new(), Vec::new(), Vec::new()),
        _ => {
            out.error(
                list,
                "abilities",
                format!("expected a list of abilities, found {}", list.describe()),
            );
            return (out.timers, out.diagnostics, out.notices);
        }
    };
    let mut kept: Vec<(String, usize)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("abilities[{index}]");
        if !matches!(item.kind, Kind::Map(_)) {
            out.error(
                item,
                &path,
                format!("expected an ability (a mapping), found {}", item.describe()),
            );
            continue;
        }
        match item.get("abilityType").and_then(Node::scalar) {
            Some(TIMER_TASK) => out.timer(item, &path),
            Some(other) => match kept.iter_mut().find(|(kind, _)| kind == other) {
                Some((_, count)) => *count += 1,
                None => {
                    kept.push((other.to_string(), 1));
                    if KEPT_KINDS.contains(&other) {
                        continue;
                    }
                    let at = item.get("abilityType").map_or(item.pos, |node| node.pos);
                    out.notices.push(Notice {
                        kind: NoticeKind::Warning,
                        pos: at,
                        path: format!("{path}.abilityType"),
                        message: format!(
                            "abilityType `{other}` is not a kind op knows; it is kept as \
                             written and not run (op runs `{TIMER_TASK}` abilities)"
                        ),
                    });
                }
            },
            None => out.error(
                item,
                &path,
                format!("an ability needs `abilityType` (op runs `{TIMER_TASK}`)"),
            ),
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        if let Some((id_node, id)) = item
            .get_entry("id")
            .and_then(|(_, v)| v.scalar().map(|s| (v, s)))
            && let Some(first) = seen.insert(id, index)
        {
            out.error(
                id_node,
                &format!("abilities[{index}].id"),
                format!("the id `{id}` is also the id of abilities[{first}]"),
            );
        }
    }
    if !out.timers.is_empty() || !kept.is_empty() {
        let mut parts: Vec<String> = Vec::new();
        if !out.timers.is_empty() {
            let ids: Vec<String> = out.timers.iter().map(|t| format!("`{}`", t.id)).collect();
            parts.push(format!(
                "{} timer task{} run by op ({})",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", ")
            ));
        }
        for (kind, count) in &kept {
            parts.push(format!("{count} {kind} kept as written"));
        }
        out.notices.push(Notice {
            kind: NoticeKind::Note,
            pos: key.pos,
            path: "abilities".into(),
            message: parts.join("; "),
        });
    }
    (out.timers, out.diagnostics, out.notices)
}

#[derive(Default)]
struct Reading {
    timers: Vec<TimerTask>,
    diagnostics: Vec<Diagnostic>,
    notices: Vec<Notice>,
}

impl Reading {
    fn error(&mut self, at: &Node, path: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            pos: at.pos,
            path: path.to_string(),
            message,
        });
    }

    /// Reads one `TimerTask` entry at `path`.
    fn timer(&mut self, item: &Node, path: &str) {
        let before = self.diagnostics.len();
        let id = match item.get("id").and_then(Node::scalar) {
            Some(id) if !id.trim().is_empty() => id.to_string(),
            _ => {
                self.error(item, path, "a TimerTask needs an `id`".into());
                String::new()
            }
        };
        let name = item.get("name").and_then(Node::scalar).map(str::to_string);
        let function = self.function(item, path);
        let schedule = self.schedule(item, path);
        if let (Some(function), Some(schedule), true) =
            (function, schedule, self.diagnostics.len() == before)
        {
            self.timers.push(TimerTask {
                id,
                name,
                function,
                schedule,
            });
        }
    }

    fn function(&mut self, item: &Node, path: &str) -> Option<Located<String>> {
        let Some((key, function)) = item.get_entry("function") else {
            self.error(
                item,
                path,
                "a TimerTask needs `function: {taskActionFunc: NAME}`, the exported function \
                 each tick calls"
                    .into(),
            );
            return None;
        };
        let at = format!("{path}.function.taskActionFunc");
        match function.get_entry("taskActionFunc") {
            Some((_, value)) => {
                match value.scalar().filter(|s| !value.is_null() && !s.is_empty()) {
                    Some(name) => Some(Located::new(name.to_string(), value.pos, at)),
                    None => {
                        self.error(
                            value,
                            &at,
                            format!("expected a function name, found {}", value.describe()),
                        );
                        None
                    }
                }
            }
            None => {
                self.error(
                    key,
                    &format!("{path}.function"),
                    "a TimerTask needs `taskActionFunc`, the exported function each tick calls"
                        .into(),
                );
                None
            }
        }
    }

    /// The schedule from `config`: exactly one of `interval` (seconds > 0)
    /// and `cron`.
    fn schedule(&mut self, item: &Node, path: &str) -> Option<Schedule> {
        let mut interval = None;
        let mut cron = None;
        let config = item.get_entry("config");
        if let Some((_, config)) = config {
            let entries: &[Node] = match &config.kind {
                Kind::Seq(entries) => entries,
                _ if config.is_null() => &[],
                _ => {
                    self.error(
                        config,
                        &format!("{path}.config"),
                        format!(
                            "expected a list of `{{key, value}}` items, found {}",
                            config.describe()
                        ),
                    );
                    return None;
                }
            };
            for (index, entry) in entries.iter().enumerate() {
                let at = format!("{path}.config[{index}]");
                match entry.get("key").and_then(Node::scalar) {
                    Some("interval") => interval = Some((entry, at)),
                    Some("cron") => cron = Some((entry, at)),
                    _ => {}
                }
            }
        }
        let at = config.map_or(item, |(key, _)| key);
        match (interval, cron) {
            (Some(_), Some((cron, cron_at))) => {
                self.error(
                    cron,
                    &cron_at,
                    "a TimerTask has either `interval` or `cron`, not both".into(),
                );
                None
            }
            (None, None) => {
                self.error(
                    at,
                    &config.map_or(path.to_string(), |_| format!("{path}.config")),
                    "a TimerTask needs its schedule in `config`: `{key: interval, value: \
                     SECONDS}` or `{key: cron, value: 'SEC MIN HOUR DAY MONTH WEEKDAY'}`"
                        .into(),
                );
                None
            }
            (Some((entry, at)), None) => self.interval(entry, &at),
            (None, Some((entry, at))) => self.cron(entry, &at),
        }
    }

    fn interval(&mut self, entry: &Node, at: &str) -> Option<Schedule> {
        let at = format!("{at}.value");
        let Some(value) = entry.get("value") else {
            self.error(entry, &at, "`interval` needs a `value` in seconds".into());
            return None;
        };
        let text = value.scalar().unwrap_or_default().trim();
        match text.parse::<i64>() {
            Ok(seconds) if seconds > 0 => {
                Some(Schedule::Every(Duration::from_secs(seconds.unsigned_abs())))
            }
            Ok(seconds) => {
                self.error(
                    value,
                    &at,
                    format!("the interval must be a number of seconds above 0, not {seconds}"),
                );
                None
            }
            Err(_) => {
                let found = if value.scalar().is_some() && !value.is_null() {
                    format!("`{text}`")
                } else {
                    value.describe().to_string()
                };
                self.error(
                    value,
                    &at,
                    format!(
                        "the interval must be a whole number of seconds above 0, found {found}"
                    ),
                );
                None
            }
        }
    }

    fn cron(&mut self, entry: &Node, at: &str) -> Option<Schedule> {
        let at = format!("{at}.value");
        let Some(text) = entry.get("value").and_then(Node::scalar) else {
            self.error(
                entry,
                &at,
                "`cron` needs a `value`: six fields, seconds first, e.g. '0 */5 * * * *'".into(),
            );
            return None;
        };
        let value = entry.get("value").unwrap_or(entry);
        let fields = text.split_whitespace().count();
        if fields != 6 {
            self.error(
                value,
                &at,
                format!(
                    "`{text}` has {fields} field{}; a cron expression here has six, seconds \
                     first: SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK (e.g. '0 */5 * * * *')",
                    if fields == 1 { "" } else { "s" }
                ),
            );
            return None;
        }
        match cron::Schedule::from_str(text) {
            Ok(schedule) => Some(Schedule::Cron(Box::new(schedule))),
            Err(err) => {
                // The crate's message repeats the expression with a caret
                // line under it; its last line says what is wrong (and
                // "less than" there means "at most").
                let said = err.to_string();
                let reason = said
                    .lines()
                    .rev()
                    .find(|line| !line.trim().is_empty())
                    .unwrap_or("it does not parse")
                    .replace("must be less than", "must be at most");
                self.error(
                    value,
                    &at,
                    format!("`{text}` is not a cron expression: {reason}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    const SERVICE: &str = "service:\n  app_id: a\n  name: a\n  version: 1.0.0\n";

    fn manifest(abilities: &str) -> Result<super::super::Manifest, String> {
        super::super::parse(&format!("{SERVICE}{abilities}"), "p.yaml").map_err(|e| e.to_string())
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn an_interval_ticks_at_its_multiples_since_1970() {
        let every = Schedule::Every(Duration::from_secs(300));
        let next = every.next_after(&at("2026-12-01T10:03:20Z")).unwrap();
        assert_eq!(next, at("2026-12-01T10:05:00Z"));
        // Exactly on a tick: the next one.
        let next = every.next_after(&at("2026-12-01T10:05:00Z")).unwrap();
        assert_eq!(next, at("2026-12-01T10:10:00Z"));
    }

    #[test]
    fn a_cron_expression_gives_the_times_it_names() {
        let m = manifest(
            "abilities:\n  - id: sync\n    abilityType: TimerTask\n    function:\n      \
             taskActionFunc: syncNow\n    config:\n      - key: cron\n        value: '30 */5 9-10 * * Mon-Fri'\n",
        )
        .unwrap();
        let timer = &m.timers[0];
        assert_eq!(timer.id, "sync");
        assert_eq!(timer.function.value, "syncNow");
        assert_eq!(timer.function.path, "abilities[0].function.taskActionFunc");
        // 2026-12-04 is a Friday; the next are Monday's.
        let mut now = at("2026-12-04T10:52:00Z");
        let mut times = Vec::new();
        for _ in 0..4 {
            now = timer.schedule.next_after(&now).unwrap();
            times.push(now.to_rfc3339());
        }
        assert_eq!(
            times,
            [
                "2026-12-04T10:55:30+00:00",
                "2026-12-07T09:00:30+00:00",
                "2026-12-07T09:05:30+00:00",
                "2026-12-07T09:10:30+00:00"
            ]
        );
        assert_eq!(timer.schedule.describe(), "cron 30 */5 9-10 * * Mon-Fri");
    }

    #[test]
    fn interval_values_may_be_numbers_or_quoted_numbers() {
        for value in ["1", "'300'"] {
            let m = manifest(&format!(
                "abilities:\n  - id: t\n    abilityType: TimerTask\n    function: {{taskActionFunc: f}}\n    config:\n      - {{key: interval, value: {value}}}\n"
            ))
            .unwrap();
            assert!(
                matches!(m.timers[0].schedule, Schedule::Every(_)),
                "{value}"
            );
        }
    }

    #[test]
    fn a_bad_timer_task_is_refused_at_its_line() {
        let timer = |body: &str| {
            manifest(&format!(
                "abilities:\n  - id: t\n    abilityType: TimerTask\n{body}"
            ))
            .unwrap_err()
        };
        let f = "    function: {taskActionFunc: f}\n";
        assert_eq!(
            timer("    config:\n      - {key: interval, value: 5}\n"),
            "p.yaml:6:5: abilities[0]: a TimerTask needs `function: {taskActionFunc: NAME}`, the exported function each tick calls"
        );
        assert_eq!(
            timer("    function: {name: f}\n    config:\n      - {key: interval, value: 5}\n"),
            "p.yaml:8:5: abilities[0].function: a TimerTask needs `taskActionFunc`, the exported function each tick calls"
        );
        assert_eq!(
            timer(&format!(
                "{f}    config:\n      - {{key: interval, value: 0}}\n"
            )),
            "p.yaml:10:32: abilities[0].config[0].value: the interval must be a number of seconds above 0, not 0"
        );
        assert_eq!(
            timer(&format!(
                "{f}    config:\n      - {{key: interval, value: soon}}\n"
            )),
            "p.yaml:10:32: abilities[0].config[0].value: the interval must be a whole number of seconds above 0, found `soon`"
        );
        assert_eq!(
            timer(&format!(
                "{f}    config:\n      - {{key: interval, value: 5}}\n      - {{key: cron, value: '* * * * * *'}}\n"
            )),
            "p.yaml:11:10: abilities[0].config[1]: a TimerTask has either `interval` or `cron`, not both"
        );
        assert_eq!(
            timer(&format!(
                "{f}    config:\n      - {{key: other, value: 5}}\n"
            )),
            "p.yaml:9:5: abilities[0].config: a TimerTask needs its schedule in `config`: `{key: interval, value: SECONDS}` or `{key: cron, value: 'SEC MIN HOUR DAY MONTH WEEKDAY'}`"
        );
        assert_eq!(
            timer(&format!(
                "{f}    config:\n      - {{key: cron, value: '*/5 * * * *'}}\n"
            )),
            "p.yaml:10:28: abilities[0].config[0].value: `*/5 * * * *` has 5 fields; a cron expression here has six, seconds first: SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK (e.g. '0 */5 * * * *')"
        );
        let err = timer(&format!(
            "{f}    config:\n      - {{key: cron, value: '0 61 * * * *'}}\n"
        ));
        assert!(
            err.starts_with(
                "p.yaml:10:28: abilities[0].config[0].value: `0 61 * * * *` is not a cron expression: "
            ),
            "{err}"
        );
    }

    #[test]
    fn ids_are_unique_and_other_kinds_are_kept_with_one_warning_each() {
        let m = manifest(
            "abilities:\n  - {id: m1, abilityType: SidebarMenu}\n  - {id: m2, abilityType: Sidebarmenu}\n  - {id: m3, abilityType: Sidebarmenu}\n  - {id: t, abilityType: TimerTask, function: {taskActionFunc: f}, config: [{key: interval, value: 60}]}\n",
        )
        .unwrap();
        let said: Vec<String> = m.notices.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            said,
            [
                "5:1: note: abilities: 1 timer task run by op (`t`); 1 SidebarMenu kept as written; 2 Sidebarmenu kept as written",
                "7:27: warning: abilities[1].abilityType: abilityType `Sidebarmenu` is not a kind op knows; it is kept as written and not run (op runs `TimerTask` abilities)",
            ]
        );
        let err = manifest(
            "abilities:\n  - {id: m1, abilityType: SidebarMenu}\n  - {id: m1, abilityType: SidebarMenu}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "p.yaml:7:10: abilities[1].id: the id `m1` is also the id of abilities[0]"
        );
        let err = manifest("abilities:\n  - {id: m1}\n").unwrap_err();
        assert_eq!(
            err,
            "p.yaml:6:6: abilities[0]: an ability needs `abilityType` (op runs `TimerTask`)"
        );
    }
}
