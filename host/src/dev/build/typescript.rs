//! TypeScript backends: `backend/src/index.ts` (ONES layout) bundled with
//! the JS SDK into `.op/build/plugin.js`, types checked first, so that a
//! type error keeps the old version in the dev loop as a Rust compile error
//! does.

use std::path::Path;

use super::{BuildError, Built};
use crate::code::PluginCode;
use crate::js::{bundle, sdk};

/// Where the bundle of a project is written.
pub const BUNDLE: &str = ".op/build/plugin.js";

/// Type-checks and bundles `project/backend`.
pub fn build(project: &Path) -> Result<Built, BuildError> {
    let backend = project.join("backend");
    let out = project.join(BUNDLE);
    let sdk = sdk::locate().map_err(bundle::BundleError::from)?;
    if let Err(err) = sdk::link_into(project, &sdk) {
        eprintln!(
            "warning: cannot link the JS SDK into {}: {err}",
            project.display()
        );
    }
    let bundle = bundle::bundle(&sdk, &backend, &out, true)?;
    Ok(Built {
        code: PluginCode::JavaScript(bundle.code),
        artifact: bundle.path,
    })
}
