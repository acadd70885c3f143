//! Builds op's JavaScript runner (`js-runner/`, QuickJS in a wasm32-wasip2
//! core module) and hands its path to the host, which embeds it: one generic
//! runner, built with op, that every TypeScript plugin is snapshotted from.
//!
//! The runner's C part (QuickJS) needs a clang that targets wasm32 and the
//! wasi-libc headers; `scripts/setup` installs them on Debian and Ubuntu.
//! `OP_JS_RUNNER_WASM=<file>` uses a runner built elsewhere instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host lives in the repository")
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=OP_JS_RUNNER_WASM");
    println!("cargo:rerun-if-env-changed=OP_JS_CC");
    let runner = match std::env::var_os("OP_JS_RUNNER_WASM") {
        Some(prebuilt) => {
            let prebuilt = PathBuf::from(prebuilt);
            println!("cargo:rerun-if-changed={}", prebuilt.display());
            prebuilt
        }
        None => build_runner(&root),
    };
    let bytes = std::fs::read(&runner)
        .unwrap_or_else(|err| panic!("cannot read the JS runner {}: {err}", runner.display()));
    std::fs::write(out.join("op_js_runner.wasm"), bytes).expect("copy the JS runner");
    embed_sdk(&root.join("plugin-sdk-js"), &out.join("js_sdk_files.rs"));
    embed_rust_sdk(&root, &out);
}

/// Writes `RUST_SDK_FILES`: the Rust SDK (`op-plugin-sdk`, its macros and
/// the WIT world they are generated from) as crates that stand on their
/// own, so that a project built by an installed op gets the SDK of that op
/// without a checkout. Their manifests are the workspace's with every
/// inherited key written out.
fn embed_rust_sdk(root: &Path, out: &Path) {
    let workspace_toml = root.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", workspace_toml.display());
    let workspace = std::fs::read_to_string(&workspace_toml).expect("read Cargo.toml");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (name, dir) in [
        ("op-plugin-sdk", root.join("plugin-sdk")),
        ("op-plugin-sdk-macros", root.join("plugin-sdk/macros")),
        ("op-storage-rules", root.join("plugin-sdk/storage-rules")),
    ] {
        let manifest_path = dir.join("Cargo.toml");
        println!("cargo:rerun-if-changed={}", manifest_path.display());
        let manifest = std::fs::read_to_string(&manifest_path).expect("read an SDK Cargo.toml");
        let standalone = out.join(format!("{name}.Cargo.toml"));
        std::fs::write(&standalone, standalone_manifest(&manifest, &workspace))
            .expect("write a standalone Cargo.toml");
        files.push((format!("{name}/Cargo.toml"), standalone));
        let mut sources = Vec::new();
        collect(&dir.join("src"), &dir.join("src"), &mut sources);
        files.extend(
            sources
                .into_iter()
                .map(|(relative, path)| (format!("{name}/src/{relative}"), path)),
        );
        if dir.join("README.md").is_file() {
            println!("cargo:rerun-if-changed={}", dir.join("README.md").display());
            files.push((format!("{name}/README.md"), dir.join("README.md")));
        }
    }
    let mut wit = Vec::new();
    collect(&root.join("wit"), &root.join("wit"), &mut wit);
    files.extend(
        wit.into_iter()
            .map(|(relative, path)| (format!("wit/{relative}"), path)),
    );
    write_files_const(
        &out.join("rust_sdk_files.rs"),
        "RUST_SDK_FILES",
        "The Rust SDK's files: path in the unpacked SDK and content.",
        files,
    );
}

/// Writes `const NAME: &[(&str, &[u8])]` embedding `files` (path in the
/// embedded folder, file on disk) into `out`.
fn write_files_const(out: &Path, name: &str, doc: &str, mut files: Vec<(String, PathBuf)>) {
    files.sort();
    let mut code = format!("/// {doc}\npub const {name}: &[(&str, &[u8])] = &[\n");
    let made_here = out.parent().expect("a file in OUT_DIR");
    for (relative, path) in &files {
        // What this script wrote itself follows from watched files; watching
        // it would make every build run the script (and rebuild op) again.
        if !path.starts_with(made_here) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        code.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out, code).unwrap_or_else(|err| panic!("write {}: {err}", out.display()));
}

/// An SDK crate's `Cargo.toml` with `key.workspace = true` replaced by the
/// workspace's value, the SDK's own crates found beside it by path, and
/// the `[lints]` table (the workspace's) left out.
fn standalone_manifest(manifest: &str, workspace: &str) -> String {
    let package = table_entries(workspace, "[workspace.package]");
    let dependencies = table_entries(workspace, "[workspace.dependencies]");
    let version = package
        .iter()
        .find(|(key, _)| key == "version")
        .map(|(_, value)| value.trim_matches('"').to_string())
        .expect("[workspace.package] has a version");
    let mut out =
        String::from("# Unpacked by op from the SDK it was built with; op replaces this folder.\n");
    let mut table = String::new();
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            table = trimmed.to_string();
            if table == "[lints]" {
                continue;
            }
        }
        if table == "[lints]" {
            continue;
        }
        let Some(key) = trimmed.strip_suffix(".workspace = true") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let from = if table == "[package]" {
            &package
        } else {
            &dependencies
        };
        let value = &from
            .iter()
            .find(|(name, _)| name == key)
            .unwrap_or_else(|| panic!("{key}.workspace = true: the workspace has no {key}"))
            .1;
        let value = if value.contains("path = ") {
            // One of the SDK's own crates: unpacked beside this one.
            format!("{{ version = \"={version}\", path = \"../{key}\" }}")
        } else {
            value.clone()
        };
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// The `key = value` lines of one table of a TOML file (one line each, as
/// the workspace's manifest writes them).
fn table_entries(toml: &str, header: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut entries = Vec::new();
    for line in toml.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed == header;
            continue;
        }
        if !inside || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = trimmed.split_once('=') {
            entries.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    entries
}

/// Writes `SDK_FILES`: every file of the JS SDK but its `node_modules`,
/// embedded, so that an installed op can unpack its own SDK.
fn embed_sdk(sdk: &Path, out: &Path) {
    println!("cargo:rerun-if-changed={}", sdk.display());
    let mut files = Vec::new();
    collect(sdk, sdk, &mut files);
    write_files_const(
        out,
        "SDK_FILES",
        "The JS SDK's files: path in the SDK and content.",
        files,
    );
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "node_modules" || name.starts_with('.') && name != ".gitignore" {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                println!("cargo:rerun-if-changed={}", path.display());
                collect(root, &path, files);
            }
            Ok(kind) if kind.is_file() => {
                let relative = path
                    .strip_prefix(root)
                    .expect("under the SDK")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((relative, path));
            }
            _ => {}
        }
    }
}

/// Runs cargo for `js-runner/` and returns its core module.
fn build_runner(root: &Path) -> PathBuf {
    let dir = root.join("js-runner");
    for watched in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "../wit",
    ] {
        println!("cargo:rerun-if-changed={}", dir.join(watched).display());
    }
    let target_dir = root.join("target/js-runner");
    let cc = c_compiler();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    // The runner's own `.cargo/config.toml` (target, linker flags, the C
    // toolchain) is found from its directory.
    command
        .current_dir(&dir)
        .args(["build", "--release", "--locked"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CC_wasm32_wasip2", &cc);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTC_WORKSPACE_WRAPPER",
        "TARGET",
        "HOST",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|err| panic!("cannot run cargo for {}: {err}", dir.display()));
    if !status.success() {
        panic!(
            "building op's JS runner in {} failed ({status}). It needs the wasm32-wasip2 Rust \
             target, a clang that targets wasm32 and the wasi-libc headers: run `scripts/setup` \
             (Debian/Ubuntu: apt-get install clang-14 llvm-14 lld-14 wasi-libc \
             libclang-rt-14-dev-wasm32), or set OP_JS_RUNNER_WASM to a runner built elsewhere",
            dir.display()
        );
    }
    target_dir.join("wasm32-wasip2/release/op_js_runner.wasm")
}

/// The clang that compiles QuickJS for wasm32: `OP_JS_CC`, else the first
/// of the usual names on the PATH.
fn c_compiler() -> String {
    if let Ok(cc) = std::env::var("OP_JS_CC") {
        return cc;
    }
    let candidates = [
        "clang-14", "clang-15", "clang-16", "clang-17", "clang-18", "clang-19", "clang",
    ];
    candidates
        .iter()
        .find(|cc| {
            Command::new(cc)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .map(|cc| cc.to_string())
        .unwrap_or_else(|| "clang-14".to_string())
}
