//! `op add ability TimerTask [DIR]`: declares a timer task in
//! config/plugin.yaml and adds its function to the backend, as ONES's
//! `npx op add ability` does.
//!
//! Both files are edited as text, so that their comments and layout stay:
//! the declaration goes at the end of the `abilities` list (the list is
//! made when there is none), the function at the end of `src/index.ts`, or
//! before `export_functions!` in `src/lib.rs` with its entry in the macro.
//! Nothing is written unless the edited manifest loads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::AddAbilityArgs;
use crate::dev::project::Project;
use crate::manifest;

/// The edits of one `op add ability`, made in memory first.
struct Edits {
    manifest: String,
    backend: (PathBuf, String),
}

pub fn run(args: AddAbilityArgs) -> anyhow::Result<ExitCode> {
    let project = Project::new(&args.dir);
    let path = project.manifest_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let current = project.manifest()?;
    let taken = |id: &str| {
        current.timers.iter().any(|t| t.id == id) || text.contains(&format!("id: {id}\n"))
    };
    let id = match &args.id {
        Some(id) if taken(id) => anyhow::bail!(
            "{} already declares an ability `{id}`",
            project.manifest_shown()
        ),
        Some(id) => id.clone(),
        None => (1..)
            .map(|n| {
                if n == 1 {
                    "timer-task".to_string()
                } else {
                    format!("timer-task-{n}")
                }
            })
            .find(|id| !taken(id))
            .unwrap_or_default(),
    };
    let function = args.function.clone().unwrap_or_else(|| camel(&id));
    let schedule = match (&args.cron, args.interval) {
        (Some(cron), _) => format!(
            "      - key: cron\n        value: '{}'\n",
            cron.replace('\'', "''")
        ),
        (None, interval) => format!(
            "      - key: interval\n        value: {}\n",
            interval.unwrap_or(300)
        ),
    };
    let entry = format!(
        "- id: {id}\n  name: {name}\n  version: 1.0.0\n  abilityType: TimerTask\n  function:\n    \
         taskActionFunc: {function}\n  config:\n{schedule}",
        name = args.name.as_deref().unwrap_or(&id),
        schedule = schedule
            .lines()
            .map(|l| format!("{}\n", &l[2..]))
            .collect::<String>(),
    );
    let edits = Edits {
        manifest: with_ability(&text, &entry),
        backend: backend_with(project.dir(), &id, &function)?,
    };
    // The edited manifest must load (a cron expression that does not parse
    // is reported here, with its place).
    manifest::parse(&edits.manifest, &project.manifest_shown())
        .map_err(|err| anyhow::anyhow!("{err}"))
        .context("the new ability does not fit in plugin.yaml; nothing was changed")?;
    std::fs::write(&path, &edits.manifest)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::write(&edits.backend.0, &edits.backend.1)
        .with_context(|| format!("cannot write {}", edits.backend.0.display()))?;
    println!(
        "added TimerTask `{id}` to {} and its function `{function}` to {}",
        project.manifest_shown(),
        edits.backend.0.display()
    );
    println!(
        "fire it once with: op invoke timer {id} {}",
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `sync-timer` → `syncTimer`.
fn camel(id: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            if upper && !out.is_empty() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert_str(0, "task");
    }
    out
}

/// `text` with `entry` (a list item at column 0) at the end of the
/// top-level `abilities` list, which is made when there is none.
fn with_ability(text: &str, entry: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("abilities:")) else {
        let mut out = text.to_string();
        if !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        out.push_str("abilities:\n");
        out.push_str(&indent(entry, "  "));
        return out;
    };
    let head = lines[start].trim_end();
    let rest = head["abilities:".len()..].trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        // `abilities: []` or `abilities: null`: the list starts here.
        let mut out: String = lines[..start].concat();
        out.push_str("abilities:\n");
        out.push_str(&indent(entry, "  "));
        out.push_str(&lines[start + 1..].concat());
        return out;
    }
    // The block's lines: indented ones (and blank or comment lines among
    // them) until the next line at column 0.
    let mut end = start + 1;
    let mut last_item = start + 1;
    let mut item_indent = "  ".to_string();
    let mut found = false;
    while end < lines.len() {
        let line = lines[end];
        let trimmed = line.trim_start();
        let blank = trimmed.is_empty() || trimmed.starts_with('#');
        if !blank && !line.starts_with(' ') && !line.starts_with('-') {
            break;
        }
        if !blank {
            if trimmed.starts_with("- ") && !found {
                item_indent = line[..line.len() - trimmed.len()].to_string();
                found = true;
            }
            last_item = end + 1;
        }
        end += 1;
    }
    let mut out: String = lines[..last_item].concat();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&indent(entry, &item_indent));
    out.push_str(&lines[last_item..].concat());
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The backend source with the timer's function added: TypeScript
/// (`backend/src/index.ts`) or Rust (`backend/src/lib.rs`).
fn backend_with(dir: &Path, id: &str, function: &str) -> anyhow::Result<(PathBuf, String)> {
    let ts = dir.join("backend/src/index.ts");
    if ts.is_file() {
        let text = std::fs::read_to_string(&ts)
            .with_context(|| format!("cannot read {}", ts.display()))?;
        if text.contains(&format!("function {function}(")) {
            anyhow::bail!(
                "{} already has a function `{function}`; give another with --function",
                ts.display()
            );
        }
        let mut out = text;
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "\n// The `{id}` timer task (plugin.yaml abilities): called on its schedule, with\n\
             // no calling user; OPFetch calls run as the plugin's super-admin.\n\
             export async function {function}(): Promise<void> {{\n  console.log('{id} ran')\n}}\n"
        ));
        return Ok((ts, out));
    }
    let rs = dir.join("backend/src/lib.rs");
    let text = std::fs::read_to_string(&rs)
        .with_context(|| format!("cannot read {} (nor backend/src/index.ts)", rs.display()))?;
    let rust_name = snake(function);
    if text.contains(&format!("fn {rust_name}(")) {
        anyhow::bail!(
            "{} already has a function `{rust_name}`; give another with --function",
            rs.display()
        );
    }
    let marker = "op_plugin_sdk::export_functions! {";
    let Some(at) = text.find(marker) else {
        anyhow::bail!(
            "{} has no `{marker}`: add the function `{function}` to the backend yourself",
            rs.display()
        );
    };
    let function_text = format!(
        "/// The `{id}` timer task (plugin.yaml abilities): called on its schedule,\n\
         /// with no calling user; OPFetch calls run as the plugin's super-admin.\n\
         fn {rust_name}(_req: op_plugin_sdk::PluginRequest) -> op_plugin_sdk::PluginResponse {{\n    \
         op_plugin_sdk::Logger::info(\"{id} ran\");\n    op_plugin_sdk::PluginResponse::empty()\n}}\n\n"
    );
    let entry = if rust_name == function {
        format!("\n    {rust_name},")
    } else {
        format!("\n    {rust_name} as \"{function}\",")
    };
    let mut out = String::with_capacity(text.len() + function_text.len() + entry.len());
    out.push_str(&text[..at]);
    out.push_str(&function_text);
    out.push_str(marker);
    out.push_str(&entry);
    out.push_str(&text[at + marker.len()..]);
    Ok((rs, out))
}

/// `syncTimer` → `sync_timer`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "- id: t\n  abilityType: TimerTask\n";

    #[test]
    fn the_entry_goes_at_the_end_of_the_list_with_its_indent_and_comments_stay() {
        let text = "service: {}\n# the abilities\nabilities:\n    - id: menu   # a menu\n      abilityType: SidebarMenu\n\n# routes\napis: []\n";
        assert_eq!(
            with_ability(text, ENTRY),
            "service: {}\n# the abilities\nabilities:\n    - id: menu   # a menu\n      abilityType: SidebarMenu\n    - id: t\n      abilityType: TimerTask\n\n# routes\napis: []\n"
        );
        assert_eq!(
            with_ability("service: {}\nabilities: []\napis: []\n", ENTRY),
            "service: {}\nabilities:\n  - id: t\n    abilityType: TimerTask\napis: []\n"
        );
        assert_eq!(
            with_ability("service: {}\n", ENTRY),
            "service: {}\nabilities:\n  - id: t\n    abilityType: TimerTask\n"
        );
        assert_eq!(
            with_ability("abilities:\n- id: a\n  abilityType: X\n", ENTRY),
            "abilities:\n- id: a\n  abilityType: X\n- id: t\n  abilityType: TimerTask\n"
        );
    }

    #[test]
    fn names_convert_between_ids_and_functions() {
        assert_eq!(camel("sync-timer"), "syncTimer");
        assert_eq!(camel("timer-task-2"), "timerTask2");
        assert_eq!(camel("9lives"), "task9lives");
        assert_eq!(snake("syncTimer"), "sync_timer");
        assert_eq!(snake("tick"), "tick");
    }
}
