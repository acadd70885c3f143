//! `op new NAME`: a plugin project that `op check` accepts and
//! `op invoke run` serves as it is.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{Lang, NewArgs};
use crate::manifest;

const PLUGIN_YAML: &str = include_str!("scaffold/plugin.yaml");
const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml");
const LIB_RS: &str = include_str!("scaffold/lib.rs");
const README: &str = include_str!("scaffold/README.md");
const GITIGNORE: &str = include_str!("scaffold/gitignore");

/// The TypeScript project (`--lang ts`), in the ONES layout.
mod ts {
    pub const PLUGIN_YAML: &str = include_str!("scaffold/ts/plugin.yaml");
    pub const PACKAGE_JSON: &str = include_str!("scaffold/ts/package.json");
    pub const PACKAGE_LOCK: &str = include_str!("scaffold/ts/package-lock.json");
    pub const TSCONFIG: &str = include_str!("scaffold/ts/tsconfig.json");
    pub const INDEX_TS: &str = include_str!("scaffold/ts/index.ts");
    pub const TEST: &str = include_str!("scaffold/ts/index.test.mjs");
    pub const README: &str = include_str!("scaffold/ts/README.md");
    pub const GITIGNORE: &str = include_str!("scaffold/ts/gitignore");
}

/// Where `backend/Cargo.toml`'s `[patch]` finds the SDK: op's own copy,
/// linked at `.op/rust-sdk`, by a path relative to `backend/`.
const LINKED_SDK: &str = "../.op/rust-sdk/op-plugin-sdk";

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
    if args.lang == Lang::Ts {
        return new_ts(dir, name);
    }
    // `--sdk DIR`: SDK sources of the author's choosing, by their absolute
    // path (for work on the SDK itself); otherwise op's own, linked.
    let sdk = match &args.sdk {
        Some(dir) => dir
            .canonicalize()
            .ok()
            .filter(|sdk| sdk.join("Cargo.toml").is_file())
            .with_context(|| format!("--sdk {}: no op-plugin-sdk crate there", dir.display()))?
            .display()
            .to_string(),
        None => LINKED_SDK.to_string(),
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{dir}}", &dir.display().to_string())
            .replace("{{crate}}", &format!("{}-backend", name.replace('_', "-")))
            .replace("{{app_id}}", &crate::ids::random_hex()[..8])
            .replace("{{sdk}}", &sdk)
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
    write_files(dir, &files)?;
    if args.sdk.is_none() {
        crate::dev::rust_sdk::link_into(dir)?;
    }
    println!(
        "\nnext:\n  op invoke run {0}          serve it, rebuilding on every save\n  (cd {0}/backend && cargo test)   run its unit tests",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `files` under `dir` and lists them.
fn write_files(dir: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created the plugin project {}:", dir.display());
    for (file, _) in files {
        println!("  {file}");
    }
    Ok(())
}

/// `op new NAME --lang ts`: `backend/src/index.ts` with one addition route
/// and one intercept, `package.json` without any path of this machine, a
/// `tsconfig.json` and unit tests that reach op's JS SDK through the
/// `.op/js-sdk` link every op command keeps up to date.
fn new_ts(dir: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &format!("{}-backend", name.replace('_', "-")))
            .replace("{{app_id}}", &crate::ids::random_hex()[..8])
    };
    let schema = serde_json::to_string_pretty(&manifest::json_schema())? + "\n";
    let files: [(&str, String); 9] = [
        ("config/plugin.yaml", fill(ts::PLUGIN_YAML)),
        ("config/plugin.schema.json", schema),
        ("backend/package.json", fill(ts::PACKAGE_JSON)),
        ("backend/package-lock.json", fill(ts::PACKAGE_LOCK)),
        ("backend/tsconfig.json", ts::TSCONFIG.to_string()),
        ("backend/src/index.ts", ts::INDEX_TS.to_string()),
        ("backend/test/index.test.mjs", ts::TEST.to_string()),
        ("README.md", fill(ts::README)),
        (".gitignore", ts::GITIGNORE.to_string()),
    ];
    write_files(dir, &files)?;
    match crate::js::sdk::locate() {
        Ok(sdk) => crate::js::sdk::link_into(dir, &sdk)
            .with_context(|| format!("cannot link op's JS SDK into {}", dir.display()))?,
        Err(err) => {
            eprintln!("warning: op's JS SDK is not ready ({err}); the first `op check` links it")
        }
    }
    println!(
        "\nnext:\n  op invoke run {0}          serve it, rebuilding on every save\n  (cd {0}/backend && npm test)     run its unit tests",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
