//! `op new NAME`: a plugin project that `op check` accepts and
//! `op invoke run` serves as it is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::NewArgs;
use crate::manifest;

const PLUGIN_YAML: &str = include_str!("scaffold/plugin.yaml");
const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml");
const LIB_RS: &str = include_str!("scaffold/lib.rs");
const README: &str = include_str!("scaffold/README.md");
const GITIGNORE: &str = include_str!("scaffold/gitignore");

/// Where the SDK's sources were when this `op` was built.
fn built_in_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk")
}

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.path;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("`{}` does not end in a project name", dir.display()))?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        anyhow::bail!(
            "`{name}` cannot name a plugin: start with a letter, then use letters, digits, `-` and `_`"
        );
    }
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} already exists and is not empty; choose another name",
            dir.display()
        );
    }
    let sdk = args
        .sdk
        .clone()
        .unwrap_or_else(built_in_sdk)
        .canonicalize()
        .ok()
        .filter(|sdk| sdk.join("Cargo.toml").is_file())
        .with_context(|| {
            format!(
                "the op-plugin-sdk sources are not at {} (where this op was built); \
                 give their place with --sdk DIR or OP_SDK_DIR",
                args.sdk.clone().unwrap_or_else(built_in_sdk).display()
            )
        })?;
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{dir}}", &dir.display().to_string())
            .replace("{{crate}}", &format!("{}-backend", name.replace('_', "-")))
            .replace("{{app_id}}", &crate::dev::random_hex()[..8])
            .replace("{{sdk}}", &sdk.display().to_string())
    };
    let schema = serde_json::to_string_pretty(&manifest::json_schema())? + "\n";
    let files: [(&str, String); 6] = [
        ("config/plugin.yaml", fill(PLUGIN_YAML)),
        ("config/plugin.schema.json", schema),
        ("backend/Cargo.toml", fill(CARGO_TOML)),
        ("backend/src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_string()),
    ];
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created the plugin project {}:", dir.display());
    for (file, _) in &files {
        println!("  {file}");
    }
    println!(
        "\nnext:\n  op invoke run {0}          serve it, rebuilding on every save\n  (cd {0}/backend && cargo test)   run its unit tests",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
