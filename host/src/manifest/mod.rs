//! `config/plugin.yaml`: parse and validate the ONES plugin manifest.
//!
//! Two passes, like a compiler: the YAML shape (types, unknown keys, with
//! "did you mean"), then the rules between fields (url shapes, methods,
//! duplicate routes). Every error carries `LINE:COL` and the path of the
//! offending entry (`apis[2].url`); all errors of a file are reported at once.
//! Nothing here knows about WebAssembly.

mod de;
mod model;
mod outbound;
mod rules;
mod suggest;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use de::Located;
pub use model::*;
pub use outbound::OutboundRule;
pub use rules::{Method, Segment, UrlPattern};
pub use suggest::did_you_mean;
pub use yaml::Pos;

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub pos: Pos,
    /// The path of the offending value (`apis[2].url`); may be empty.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.pos.line, self.pos.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a manifest was refused: every problem found, in file order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ManifestError {
    /// The file, as it should be shown (e.g. `config/plugin.yaml`).
    pub file: String,
    /// The problems, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{diagnostic}", self.file)?;
        }
        Ok(())
    }
}

/// Why a manifest could not be loaded from disk.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read and is invalid.
    #[error(transparent)]
    Invalid(#[from] ManifestError),
}

/// Reads and validates the manifest at `path`; errors name it as `shown_as`.
pub fn load(path: &Path, shown_as: &str) -> Result<Manifest, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse(&text, shown_as)?)
}

/// Parses and validates manifest text; errors name the file `shown_as`.
pub fn parse(text: &str, shown_as: &str) -> Result<Manifest, ManifestError> {
    let fail = |diagnostics: Vec<Diagnostic>| ManifestError {
        file: shown_as.to_string(),
        diagnostics,
    };
    let Some(root) = document(text).map_err(|d| fail(vec![d]))? else {
        return Err(fail(vec![Diagnostic {
            pos: Pos { line: 1, column: 1 },
            path: String::new(),
            message: "the file is empty; a manifest needs at least a `service` section".into(),
        }]));
    };
    let (manifest, mut diagnostics) = read::<Manifest>(&root);
    if let Some(manifest) = &manifest {
        if root.get("service").is_none() && matches!(root.kind, yaml::Kind::Map(_)) {
            diagnostics.push(Diagnostic {
                pos: root.pos,
                path: String::new(),
                message: "missing key `service`".into(),
            });
        }
        let service_ok = root.get("service").is_some()
            && !diagnostics.iter().any(|d| d.path.starts_with("service"));
        diagnostics.extend(rules::check(manifest, service_ok));
    }
    diagnostics.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.message.cmp(&b.message)));
    diagnostics.dedup();
    match manifest {
        Some(manifest) if diagnostics.is_empty() => Ok(manifest),
        _ => Err(fail(diagnostics)),
    }
}

/// Parses any YAML configuration file into `T` with the manifest's error
/// reporting: every error with `LINE:COL`, unknown keys with "did you mean".
pub fn parse_yaml<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    shown_as: &str,
) -> Result<T, ManifestError> {
    let fail = |diagnostics: Vec<Diagnostic>| ManifestError {
        file: shown_as.to_string(),
        diagnostics,
    };
    let Some(root) = document(text).map_err(|d| fail(vec![d]))? else {
        return Ok(T::default());
    };
    match read::<T>(&root) {
        (Some(value), diagnostics) if diagnostics.is_empty() => Ok(value),
        (_, mut diagnostics) => {
            diagnostics.sort_by_key(|d| d.pos);
            Err(fail(diagnostics))
        }
    }
}

/// The YAML document, or its syntax error.
fn document(text: &str) -> Result<Option<yaml::Node>, Diagnostic> {
    yaml::parse(text).map_err(|err| Diagnostic {
        pos: err.pos,
        path: String::new(),
        message: format!("invalid YAML: {}", err.message),
    })
}

/// The first pass: the value, if its shape allowed one, and every error.
fn read<T: serde::de::DeserializeOwned>(root: &yaml::Node) -> (Option<T>, Vec<Diagnostic>) {
    let sink = de::Sink::default();
    let parsed = T::deserialize(de::NodeDeserializer::new(root, &sink));
    let mut diagnostics = sink.into_diagnostics();
    match parsed {
        Ok(value) => (Some(value), diagnostics),
        Err(err) => {
            diagnostics.push(err.into_diagnostic(root.pos));
            (None, diagnostics)
        }
    }
}

/// The JSON Schema (draft 2020-12) of `config/plugin.yaml`, generated from
/// the manifest types, for editors: completion, hover text from the field
/// docs, and the shape checks (rules between fields are `op check`'s).
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Manifest);
    schema.insert("title".into(), "op plugin.yaml".into());
    schema.insert(
        "description".into(),
        "The ONES plugin manifest (config/plugin.yaml) as the op host reads it.".into(),
    );
    schema.to_value()
}

impl Api {
    /// Its full path as listed to users: the API base and the url with
    /// parameters as `:name` (e.g. `/project/api/project/team/:teamUUID/x`).
    pub fn full_path(&self) -> String {
        let url = UrlPattern::parse(&self.url)
            .map(|p| p.to_string())
            .unwrap_or_else(|_| self.url.value.clone());
        format!("{}{url}", self.scope.base())
    }

    /// Its methods, upper-case, as written.
    pub fn method_names(&self) -> Vec<String> {
        self.methods
            .iter()
            .map(|m| m.value.to_uppercase())
            .collect()
    }
}

/// A `MAJOR.MINOR.PATCH` version as numbers, for ordering (a pre-release
/// or build suffix is ignored); `None` when the text is not one.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

impl Manifest {
    /// The plugin's `service.app_id`.
    pub fn app_id(&self) -> &str {
        &self.service.app_id
    }

    /// `service.version` as numbers `(major, minor, patch)`, for ordering
    /// versions (a pre-release or build suffix is ignored); `None` when it
    /// is not `MAJOR.MINOR.PATCH` (which validation refuses).
    pub fn version(&self) -> Option<(u64, u64, u64)> {
        parse_version(&self.service.version.value)
    }

    /// Whether the plugin is organization-level (`service.scope: 2`).
    pub fn is_org_level(&self) -> bool {
        self.service.scope.as_ref().is_some_and(|s| s.value == 2)
    }

    /// Memory limit per call in bytes, if the plugin sets one.
    pub fn memory_limit(&self) -> Option<u64> {
        let sandbox = self.sandbox.as_ref()?;
        sandbox.memory_mib.as_ref().map(|m| m.value * 1024 * 1024)
    }

    /// Time limit per call, if the plugin sets one.
    pub fn time_limit(&self) -> Option<std::time::Duration> {
        let sandbox = self.sandbox.as_ref()?;
        sandbox
            .timeout_ms
            .as_ref()
            .map(|t| std::time::Duration::from_millis(t.value))
    }
}
