//! A plugin's code as op receives it: a component (Rust, or any language
//! built for `wit/plugin.wit`), or a JavaScript bundle (TypeScript
//! backends), which op makes into a component itself ([`crate::js`]).
//! Both load into the same [`Plugin`]: same linker, limits and hooks.

use crate::imports::Installation;
use crate::manifest::Manifest;
use crate::runtime::{LoadError, Plugin, Runtime};

/// A plugin's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginCode {
    /// A component of `wit/plugin.wit`.
    Component(Vec<u8>),
    /// One ES module made by the JS SDK's `op-build`.
    JavaScript(String),
}

/// Why code could not become a plugin.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The component does not load (or the snapshot's component does not).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The JavaScript could not be made into a component.
    #[error("{shown}: {source}")]
    JavaScript {
        /// The bundle as shown.
        shown: String,
        /// Why.
        source: crate::js::JsBuildError,
    },
}

impl PluginCode {
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        match self {
            PluginCode::Component(bytes) => bytes.len(),
            PluginCode::JavaScript(code) => code.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads it as a plugin of `installation`. `manifest_file` names the
    /// manifest in errors, `shown` the code. A bundle is pre-initialised
    /// with the installation's environment, through the runtime's snapshot
    /// cache.
    pub async fn load(
        &self,
        runtime: &Runtime,
        manifest: Manifest,
        manifest_file: &str,
        shown: &str,
        installation: Installation,
    ) -> Result<Plugin, CodeError> {
        match self {
            PluginCode::Component(bytes) => Ok(Plugin::from_bytes(
                runtime,
                manifest,
                manifest_file,
                bytes,
                shown,
                installation,
            )
            .await?),
            PluginCode::JavaScript(bundle) => {
                let env = crate::js::environment_json(&manifest, &installation);
                let component = crate::js::cache::component(runtime, bundle, &env)
                    .await
                    .map_err(|source| CodeError::JavaScript {
                        shown: shown.to_string(),
                        source,
                    })?;
                Ok(Plugin::from_bytes(
                    runtime,
                    manifest,
                    manifest_file,
                    &component,
                    shown,
                    installation,
                )
                .await?)
            }
        }
    }
}
