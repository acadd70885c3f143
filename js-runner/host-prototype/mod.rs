//! TypeScript/JavaScript plugins (spike for issue 19): a generic QuickJS
//! runner (`js-runner/`, a core wasm module) is pre-initialised with a
//! plugin's JS bundle and componentized, inside op, with no external tools.
//! See `js-runner/SPIKE.md`.

pub mod snapshot;

pub use snapshot::{JsBuild, JsBuildError, build_component, componentize, snapshot};
