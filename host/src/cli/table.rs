//! The route table as printed by `op check` and `op invoke run`.

use std::fmt::Write;

use crate::manifest::Manifest;

/// One line per route (and per hook, and per timer task), with full URLs
/// when `origin` is given (e.g. `http://127.0.0.1:3001`).
pub fn render(manifest: &Manifest, origin: &str) -> String {
    let service = &manifest.service;
    let level = if manifest.is_org_level() {
        "organization-level"
    } else {
        "team-level"
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} (app_id {}, {level})",
        service.name,
        service.version.value,
        manifest.app_id()
    );
    let (routes, hooks): (Vec<_>, Vec<_>) =
        manifest.apis.iter().partition(|api| api.kind.is_route());
    if routes.is_empty() {
        out.push_str("  no routes\n");
    }
    for api in routes {
        let mut line = format!(
            "  {:<12} {origin}{}  ->  {}",
            api.method_names().join(","),
            api.full_path(),
            api.function.value
        );
        if let Some(query) = &api.query {
            let pairs: Vec<String> = query
                .value
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = write!(line, "  (when ?{})", pairs.join("&"));
        }
        if api.kind != crate::manifest::ApiType::Addition {
            let _ = write!(line, "  [{}]", api.kind.as_str());
        }
        let _ = writeln!(out, "{line}");
    }
    if !hooks.is_empty() {
        out.push_str("  hooks on the ONES API (run in this order: intercept, prefix, replace or ONES, suffix, subscribe):\n");
        for api in hooks {
            let _ = writeln!(
                out,
                "    {:<10} {:<12} {}  ->  {}",
                api.kind.as_str(),
                api.method_names().join(","),
                api.full_path(),
                api.function.value
            );
        }
    }
    if !manifest.timers.is_empty() {
        out.push_str(
            "  timer tasks:
",
        );
        for timer in &manifest.timers {
            let _ = writeln!(
                out,
                "    {:<23} {}  ->  {}",
                timer.id,
                timer.schedule.describe(),
                timer.function.value
            );
        }
    }
    out
}

/// What changed between two renderings of [`render`]: removed lines with
/// `-`, added lines with `+`, or a line saying nothing changed.
pub fn diff(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let mut out = String::new();
    for line in old.iter().filter(|line| !new.contains(line)) {
        let _ = writeln!(out, "- {}", line.trim_start());
    }
    for line in new.iter().filter(|line| !old.contains(line)) {
        let _ = writeln!(out, "+ {}", line.trim_start());
    }
    if out.is_empty() {
        out.push_str("  routes and hooks unchanged\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_removed_and_added_lines() {
        let before = "p 1.0.0\n  GET /a  ->  a\n  GET /b  ->  b\n";
        let after = "p 1.0.0\n  GET /b  ->  b\n  POST /c  ->  c\n";
        assert_eq!(diff(before, after), "- GET /a  ->  a\n+ POST /c  ->  c\n");
        assert_eq!(diff(after, after), "  routes and hooks unchanged\n");
    }
}
