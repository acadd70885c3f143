//! JavaScript and TypeScript plugins.
//!
//! A TS plugin's code is one ES module (its bundle, made by the JS SDK's
//! `op-build`, see [`bundle`]). op turns it into a component of
//! `wit/plugin.wit` without any tool outside its own process: the generic
//! runner (QuickJS in a wasm core module, `js-runner/`, built with op and
//! embedded in it as [`RUNNER`]) is pre-initialised with the bundle and the
//! installation's environment ([`snapshot`], wizer), then componentized
//! (wit-component). The result loads like any Rust plugin: same linker,
//! same limits, a fresh instance per call. Snapshots are kept on disk next
//! to the compile cache, keyed by runner, bundle and environment
//! ([`cache`]). `js-runner/CONTRACT.md` says what the runner, the SDK and
//! the host promise each other.

pub mod bundle;
pub mod cache;
pub mod sdk;
pub mod snapshot;

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::imports::{Installation, InstanceContext};
use crate::manifest::Manifest;

pub use snapshot::{JsBuildError, componentize, snapshot};

/// The runner core module this op was built with.
pub const RUNNER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/op_js_runner.wasm"));

/// SHA-256 of [`RUNNER`], hex: part of every snapshot's cache key.
pub fn runner_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hex::encode(Sha256::digest(RUNNER)))
}

/// The `globalThis.onesEnv` a bundle's top level sees while op
/// pre-initialises it: the installation's team, organization, instance id
/// and effective config values, as JSON (`{teamUUID, organizationUUID,
/// orgUUID, instanceId, config: {k: v}, k: v, ...}`). Inside calls the
/// runner reads the live values through `op:plugin/env` instead.
pub fn environment_json(manifest: &Manifest, installation: &Installation) -> String {
    let context = InstanceContext::new(manifest, installation.clone(), 0);
    let mut env = serde_json::Map::new();
    let mut config = serde_json::Map::new();
    for (key, value) in &context.config {
        config.insert(key.clone(), value.clone().into());
        env.insert(key.clone(), value.clone().into());
    }
    let team = context.team(None).map(str::to_string);
    let org = context.installation.organization_uuid.clone();
    env.insert("teamUUID".into(), team.into());
    env.insert("organizationUUID".into(), org.clone().into());
    env.insert("orgUUID".into(), org.into());
    env.insert(
        "instanceId".into(),
        context.installation.instance_id.clone().into(),
    );
    env.insert("config".into(), config.into());
    serde_json::Value::Object(env).to_string()
}
