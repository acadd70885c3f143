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
}

/// Writes `SDK_FILES`: every file of the JS SDK but its `node_modules`,
/// embedded, so that an installed op can unpack its own SDK.
fn embed_sdk(sdk: &Path, out: &Path) {
    println!("cargo:rerun-if-changed={}", sdk.display());
    let mut files = Vec::new();
    collect(sdk, sdk, &mut files);
    files.sort();
    let mut code = String::from(
        "/// The JS SDK's files: path in the SDK and content.\npub const SDK_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (relative, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out, code).expect("write js_sdk_files.rs");
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
