//! `config/plugin.yaml`: parse and validate the ONES plugin manifest.
//!
//! Two passes, like a compiler: the YAML shape (types, unknown keys, with
//! "did you mean"), then the rules between fields (url shapes, methods,
//! duplicate routes). Every error carries `LINE:COL` and the path of the
//! offending entry (`apis[2].url`); all errors of a file are reported at once.
//! Nothing here knows about WebAssembly.

mod abilities;
mod de;
mod kept;
mod model;
mod outbound;
mod rules;
mod storage;
mod suggest;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use abilities::{Schedule, TIMER_TASK, TimerTask};
pub use de::{Located, UnknownKeys};
pub use model::*;
pub use outbound::OutboundRule;
pub use rules::{Method, Segment, UrlPattern};
pub use storage::{
    Attribute, AttributeType, Entity, Index, MAX_STRING_BYTES, MAX_TEXT_BYTES, valid_name,
};
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

/// Whether a [`Notice`] is a warning or a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoticeKind {
    /// Something op ignores that may be a mistake (an unknown key).
    Warning,
    /// Information: a section op keeps without acting on it.
    Note,
}

/// A warning or a note about an accepted manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Warning or note.
    pub kind: NoticeKind,
    /// Where it is.
    pub pos: Pos,
    /// The path of the value it is about (`service.policy`); may be empty.
    pub path: String,
    /// What it says.
    pub message: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            NoticeKind::Warning => "warning",
            NoticeKind::Note => "note",
        };
        write!(f, "{}:{}: {kind}: ", self.pos.line, self.pos.column)?;
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
/// A file over [`yaml::MAX_TEXT_BYTES`] is refused without being read whole.
pub fn load(path: &Path, shown_as: &str) -> Result<Manifest, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if let Some(err) = yaml::too_large(size) {
        let diagnostic = syntax_diagnostic(err);
        return Err(ManifestError {
            file: shown_as.to_string(),
            diagnostics: vec![diagnostic],
        }
        .into());
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
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
    let (manifest, mut diagnostics, mut notices) =
        read::<Manifest>(&root, UnknownKeys::WarnUnlessClose);
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
        notices.extend(kept::notes(&root, manifest));
    }
    let (timers, timer_problems, timer_notices) = abilities::read(&root);
    let (entities, storage_problems, storage_notices) = storage::read(&root);
    if manifest.is_some() {
        diagnostics.extend(timer_problems);
        notices.extend(timer_notices);
        diagnostics.extend(storage_problems);
        notices.extend(storage_notices);
    }
    diagnostics.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.message.cmp(&b.message)));
    diagnostics.dedup();
    notices.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.kind.cmp(&b.kind)));
    match manifest {
        Some(mut manifest) if diagnostics.is_empty() => {
            manifest.notices = notices;
            manifest.timers = timers;
            manifest.entities = entities;
            Ok(manifest)
        }
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
    match read::<T>(&root, UnknownKeys::Refuse) {
        (Some(value), diagnostics, _) if diagnostics.is_empty() => Ok(value),
        (_, mut diagnostics, _) => {
            diagnostics.sort_by_key(|d| d.pos);
            Err(fail(diagnostics))
        }
    }
}

/// The YAML document, or its syntax error.
fn document(text: &str) -> Result<Option<yaml::Node>, Diagnostic> {
    yaml::parse(text).map_err(syntax_diagnostic)
}

fn syntax_diagnostic(err: yaml::SyntaxError) -> Diagnostic {
    Diagnostic {
        pos: err.pos,
        path: String::new(),
        message: format!("invalid YAML: {}", err.message),
    }
}

/// The first pass: the value, if its shape allowed one, every error and
/// every notice.
fn read<T: serde::de::DeserializeOwned>(
    root: &yaml::Node,
    unknown_keys: UnknownKeys,
) -> (Option<T>, Vec<Diagnostic>, Vec<Notice>) {
    let sink = de::Sink::new(unknown_keys);
    let parsed = T::deserialize(de::NodeDeserializer::new(root, &sink));
    let (mut diagnostics, notices) = sink.finish();
    match parsed {
        Ok(value) => (Some(value), diagnostics, notices),
        Err(err) => {
            diagnostics.push(err.into_diagnostic(root.pos));
            (None, diagnostics, notices)
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

/// A semantic version (`MAJOR.MINOR.PATCH`, with an optional pre-release
/// and build), ordered as semver says: `1.0.0-rc.1` < `1.0.0` < `1.0.1`;
/// `None` when the text is not one.
pub fn parse_version(text: &str) -> Option<semver::Version> {
    semver::Version::parse(text.trim()).ok()
}

impl Manifest {
    /// The plugin's `service.app_id`.
    pub fn app_id(&self) -> &str {
        &self.service.app_id
    }

    /// `service.version` as a semantic version, for ordering versions;
    /// `None` when it is not one (which validation refuses).
    pub fn version(&self) -> Option<semver::Version> {
        parse_version(&self.service.version.value)
    }

    /// Whether the plugin is organization-level (`service.scope: 2` or
    /// `service.mode: org`).
    pub fn is_org_level(&self) -> bool {
        match (&self.service.scope, &self.service.mode) {
            (Some(scope), _) => scope.value == 2,
            (None, Some(mode)) => mode.value == Mode::Org,
            (None, None) => false,
        }
    }

    /// The backend kind `service.language` names, if it names one.
    pub fn language(&self) -> Option<Language> {
        Language::parse(&self.service.language.as_ref()?.value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)]
    struct HostFile {
        #[serde(default)]
        port: u16,
        #[serde(default)]
        hosts: Vec<String>,
    }

    #[test]
    fn files_op_owns_refuse_every_unknown_key_and_read_null_as_empty() {
        let err = parse_yaml::<HostFile>("port: 1\ncolour: red\n", "serve.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "serve.yaml:2:1: colour: unknown key `colour`; known keys: port, hosts"
        );
        let file = parse_yaml::<HostFile>("hosts: null\n", "serve.yaml").unwrap();
        assert!(file.hosts.is_empty());
    }

    #[test]
    fn plugin_yaml_warns_of_far_unknown_keys_and_refuses_close_ones() {
        let base = "service:\n  app_id: a\n  name: a\n  version: 1.0.0\n";
        let manifest = parse(&format!("{base}  colour: red\n"), "p.yaml").unwrap();
        assert_eq!(manifest.notices.len(), 1);
        assert_eq!(manifest.notices[0].kind, NoticeKind::Warning);
        assert_eq!(manifest.notices[0].pos, Pos { line: 5, column: 3 });
        let err = parse(&format!("{base}  scpoe: 2\n"), "p.yaml").unwrap_err();
        assert!(err.to_string().contains("did you mean `scope`?"), "{err}");
    }

    #[test]
    fn configuration_files_refuse_an_alias_bomb_with_its_place() {
        let mut text = String::from("hosts: &h0 [x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=9 {
            let items = vec![format!("*h{}", level - 1); 9].join(", ");
            text.push_str(&format!("h{level}: &h{level} [{items}]\n"));
        }
        let err = parse_yaml::<HostFile>(&text, "serve.yaml").unwrap_err();
        assert!(
            err.to_string().starts_with("serve.yaml:6:")
                && err.to_string().contains("expands to more than"),
            "{err}"
        );
    }

    #[test]
    fn a_manifest_file_over_the_limit_is_refused_with_its_real_size() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plugin.yaml");
        // Multi-byte characters, so that a cut at the limit would fall
        // inside one.
        let text = format!("service:\n  name: '{}'\n", "中".repeat(700_000));
        std::fs::write(&file, &text).unwrap();
        let err = load(&file, "config/plugin.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "config/plugin.yaml:1:1: invalid YAML: the file is {} bytes; op reads YAML files of at most 1024 KiB",
                text.len()
            )
        );
    }

    #[test]
    fn nodejs_and_node_both_name_a_javascript_backend() {
        let language = |name: &str| {
            let text =
                format!("service:\n  app_id: a\n  name: a\n  version: 1.0.0\n  language: {name}\n");
            parse(&text, "p.yaml").ok().map(|m| m.language())
        };
        for name in ["nodejs", "node", "javascript", "typescript"] {
            assert_eq!(language(name), Some(Some(Language::JavaScript)), "{name}");
        }
        assert_eq!(language("rust"), Some(Some(Language::Rust)));
        assert_eq!(language("NodeJS"), None, "the schema's spelling only");
    }

    #[test]
    fn mode_and_scope_both_give_the_level() {
        let level = |service: &str| {
            let text = format!("service:\n  app_id: a\n  name: a\n  version: 1.0.0\n{service}");
            parse(&text, "p.yaml").unwrap().is_org_level()
        };
        assert!(level("  mode: org\n"));
        assert!(level("  scope: 2\n"));
        assert!(level("  scope: 2\n  mode: org\n"));
        assert!(!level("  mode: team\n"));
        assert!(!level(""));
    }
}
