//! Builds every plugin of `example-plugins/` and `test-plugins/guests/` for
//! wasm32-wasip2 from source, and writes a constant per plugin naming its
//! component and its project directory. Tests use those constants; no
//! `.wasm` is ever checked in.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Plugin workspaces, relative to the repository root, and their plugins.
const WORKSPACES: &[(&str, &[&str])] = &[
    (
        "example-plugins",
        &["hello", "ones-api", "task-guard", "misbehave", "timer-sync"],
    ),
    (
        "test-plugins/guests",
        &[
            "probe",
            "hooks",
            "sneaky",
            "hostile-net",
            "flood",
            "hostile-fs",
            "ticker",
            "keeper",
        ],
    ),
];

/// TypeScript plugin projects, relative to the repository root: each is
/// bundled (types checked) with the JS SDK's `op-build`.
const TS_PLUGINS: &[&str] = &[
    "example-plugins/ts-hello",
    "example-plugins/ts-ones-api",
    "example-plugins/ts-guard",
    "example-plugins/ts-timer-sync",
    "test-plugins/ts/ts-probe",
    "test-plugins/ts/ones-style",
    "test-plugins/ts/ts-keeper",
];

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .parent()
            .expect("test-plugins lives in the repository")
            .to_path_buf();
    for watched in [
        "wit",
        "plugin-sdk/src",
        "plugin-sdk/macros/src",
        "plugin-sdk/Cargo.toml",
        "plugin-sdk/storage-rules/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target/guests");
    let mut constants = String::new();
    for (workspace, plugins) in WORKSPACES {
        let dir = root.join(workspace);
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("Cargo.toml").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("Cargo.lock").display()
        );
        for plugin in *plugins {
            for watched in ["backend/src", "backend/Cargo.toml", "config"] {
                println!(
                    "cargo:rerun-if-changed={}",
                    dir.join(plugin).join(watched).display()
                );
            }
        }
        let artifacts = build(&dir, &target_dir);
        for plugin in *plugins {
            let package = format!("{plugin}-backend");
            let wasm = artifacts.get(&package).unwrap_or_else(|| {
                panic!(
                    "building {workspace} produced no component for {package}; got {artifacts:?}"
                )
            });
            let name = plugin.to_uppercase().replace('-', "_");
            constants.push_str(&format!(
                "/// The built component of `{workspace}/{plugin}`.\npub const {name}: &str = {wasm:?};\n\
                 /// The plugin project directory of `{workspace}/{plugin}`.\npub const {name}_DIR: &str = {dir:?};\n",
                wasm = wasm.display().to_string(),
                dir = dir.join(plugin).display().to_string(),
            ));
        }
    }
    bundle_ts(&root, &mut constants);
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("plugins.rs");
    std::fs::write(out, constants).expect("write plugins.rs");
}

/// Runs cargo for the workspace in `dir`; returns package name → component.
fn build(dir: &Path, target_dir: &Path) -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--workspace",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // The outer build's settings are for the host, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run cargo for {}: {err}", dir.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut artifacts = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read cargo output");
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(name) = message["target"]["name"].as_str() else {
            continue;
        };
        let files = message["filenames"].as_array().cloned().unwrap_or_default();
        for file in files.iter().filter_map(|f| f.as_str()) {
            if file.ends_with(".wasm") {
                artifacts.insert(name.replace('_', "-"), PathBuf::from(file));
            }
        }
    }
    let status = child.wait().expect("wait for cargo");
    if !status.success() {
        panic!(
            "building the plugins in {} failed ({status}); if the wasm32-wasip2 target is missing, run `rustup target add wasm32-wasip2`",
            dir.display()
        );
    }
    artifacts
}

/// Bundles every project of [`TS_PLUGINS`] with the JS SDK, installing the
/// SDK's pinned tools first (`npm ci`, into the ignored
/// `plugin-sdk-js/node_modules`) when they are missing.
fn bundle_ts(root: &Path, constants: &mut String) {
    let sdk = root.join("plugin-sdk-js");
    for watched in ["src", "bin", "package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", sdk.join(watched).display());
    }
    if !sdk.join("node_modules/.package-lock.json").is_file() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&sdk)
            .status()
            .unwrap_or_else(|err| panic!("cannot run npm (Node.js and npm are needed to build the TypeScript plugins): {err}"));
        assert!(status.success(), "npm ci in {} failed", sdk.display());
    }
    let out_dir = root.join("target/ts-bundles");
    for project in TS_PLUGINS {
        let dir = root.join(project);
        for watched in [
            "backend/src",
            "backend/package.json",
            "backend/tsconfig.json",
            "config",
        ] {
            // A missing path would count as changed at every build.
            if dir.join(watched).exists() {
                println!("cargo:rerun-if-changed={}", dir.join(watched).display());
            }
        }
        let plugin = project.rsplit('/').next().expect("a name");
        let bundle = out_dir.join(format!("{plugin}.mjs"));
        let status = Command::new("node")
            .arg(sdk.join("bin/op-build.mjs"))
            .arg("--backend")
            .arg(dir.join("backend"))
            .arg("--out")
            .arg(&bundle)
            .arg("--check-types")
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|err| panic!("cannot run node: {err}"));
        assert!(
            status.success(),
            "bundling {project} failed (its errors are above)"
        );
        let name = plugin.to_uppercase().replace('-', "_");
        constants.push_str(&format!(
            "/// The bundle of `{project}`.\npub const {name}: &str = {bundle:?};\n\
             /// The plugin project directory of `{project}`.\npub const {name}_DIR: &str = {dir:?};\n",
            bundle = bundle.display().to_string(),
            dir = dir.display().to_string(),
        ));
    }
}
