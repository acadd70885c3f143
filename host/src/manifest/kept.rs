//! The notes `op check` gives about the parts of a manifest whose meaning
//! ONES owns: they are accepted and kept whatever their shape, and op says
//! once that it does not act on them.

use super::yaml::{Kind, Node};
use super::{Manifest, Notice, NoticeKind};

/// Top-level sections ONES owns, and what op says of each.
const TOP_LEVEL: &[(&str, &str)] = &[
    ("modules", "front-end modules"),
    ("oauth", "OAuth settings"),
    ("policy", "policy settings"),
    ("permission", "permission points"),
];

/// Keys of `service` that ONES owns and that carry meaning (display fields
/// such as `logo` or `description` get no note).
const IN_SERVICE: &[(&str, &str)] = &[
    ("policy", "the installation policy"),
    ("permission", "permission points"),
    ("auth", "the authorization statement"),
];

/// One note per ONES-owned section present in `root`, plus the note that
/// op does not deliver the `events` it checked.
pub fn notes(root: &Node, manifest: &Manifest) -> Vec<Notice> {
    let mut out = Vec::new();
    for (key, what) in TOP_LEVEL {
        if let Some((at, value)) = entry(root, key) {
            out.push(note(
                at,
                key,
                format!("{}: kept, not acted on by op", describe(value, what)),
            ));
        }
    }
    if let Some((_, service)) = entry(root, "service") {
        for (key, what) in IN_SERVICE {
            if let Some((at, value)) = entry(service, key) {
                let path = format!("service.{key}");
                out.push(note(
                    at,
                    &path,
                    format!("{}: kept, not acted on by op", describe(value, what)),
                ));
            }
        }
    }
    if let (Some((at, _)), false) = (entry(root, "events"), manifest.events.is_empty()) {
        let handlers: Vec<&str> = manifest
            .events
            .iter()
            .map(|event| event.function.value.as_str())
            .collect();
        out.push(note(
            at,
            "events",
            format!(
                "op does not deliver ONES events: the {} handler(s) ({}) are checked to be exported, and are not called",
                handlers.len(),
                handlers.join(", ")
            ),
        ));
    }
    out
}

/// The key node and the value of `key` in the mapping `node`, when the
/// value is not empty.
fn entry<'a>(node: &'a Node, key: &str) -> Option<(&'a Node, &'a Node)> {
    let Kind::Map(entries) = &node.kind else {
        return None;
    };
    let (k, v) = entries.iter().find(|(k, _)| k.scalar() == Some(key))?;
    let empty = v.is_null()
        || matches!(&v.kind, Kind::Seq(items) if items.is_empty())
        || matches!(&v.kind, Kind::Map(entries) if entries.is_empty());
    (!empty).then_some((k, v))
}

fn note(at: &Node, path: &str, message: String) -> Notice {
    Notice {
        kind: NoticeKind::Note,
        pos: at.pos,
        path: path.to_string(),
        message,
    }
}

/// "front-end modules (3 entries)" for a list, the bare description
/// otherwise.
fn describe(value: &Node, what: &str) -> String {
    match &value.kind {
        Kind::Seq(items) if items.len() == 1 => format!("{what} (1 entry)"),
        Kind::Seq(items) => format!("{what} ({} entries)", items.len()),
        _ => what.to_string(),
    }
}
