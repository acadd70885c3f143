//! Plugin packages (`NAME-VERSION.opkg`): one file holding a plugin's
//! manifest, its built component and its workspace, written by `op pack`
//! and read by `op check` and `op serve`.
//!
//! A package is a gzip-compressed tar archive, so that standard tools can
//! list it (`tar tzf demo-0.1.0.opkg`):
//!
//! ```text
//! op-package.json   format, app_id, name, version, content hash, file hashes
//! plugin.yaml       the manifest, byte for byte
//! plugin.wasm       the component (Rust and other compiled backends), or
//! plugin.js         the bundle (TypeScript backends; op pre-initialises it
//!                   into a component for each installation)
//! workspace/...     the plugin's files, if it has any
//! ```
//!
//! The content hash is a SHA-256 over every file but the index, in path
//! order, so it names the content whatever the archive's timestamps; the
//! archive itself is written deterministically too (sorted entries, zero
//! times), so packing the same content twice gives the same bytes. Reading
//! refuses anything unexpected: paths outside the package, links, missing
//! parts, a hash that does not match, more than [`MAX_UNPACKED`] bytes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::code::{CodeError, PluginCode};
use crate::manifest::{self, Manifest, ManifestError};

/// The file extension of packages.
pub const EXTENSION: &str = "opkg";
/// The index entry.
pub const INDEX: &str = "op-package.json";
/// The manifest entry.
pub const MANIFEST: &str = "plugin.yaml";
/// The component entry.
pub const COMPONENT: &str = "plugin.wasm";
/// The bundle entry of a TypeScript plugin (in place of [`COMPONENT`]).
pub const BUNDLE: &str = "plugin.js";
/// The folder of workspace entries.
pub const WORKSPACE: &str = "workspace";
/// The package format this host writes and reads.
pub const FORMAT: u32 = 1;
/// Most bytes a package may hold once unpacked (256 MiB).
pub const MAX_UNPACKED: u64 = 256 * 1024 * 1024;
/// Most entries (files and folders) a package may hold.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest entry path, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest name of one path component, in bytes.
pub const MAX_NAME: usize = 255;
/// Most folders an entry path may go down.
pub const MAX_DEPTH: usize = 32;

/// Why a package could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a gzip-compressed tar archive.
    #[error("{shown} is not an op package (a .{EXTENSION} file made by `op pack`): {reason}")]
    NotAPackage {
        /// The package as shown.
        shown: String,
        /// What the archive reader said.
        reason: String,
    },
    /// An entry the format does not allow.
    #[error("{shown}: the entry `{entry}` is refused: {reason}")]
    BadEntry {
        /// The package as shown.
        shown: String,
        /// The entry's path.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A required entry is missing.
    #[error("{shown} has no {entry}")]
    Missing {
        /// The package as shown.
        shown: String,
        /// The missing entry.
        entry: &'static str,
    },
    /// The package holds more than [`MAX_ENTRIES`] entries.
    #[error("{shown} holds more than {limit} entries")]
    TooManyEntries {
        /// The package as shown.
        shown: String,
        /// The limit.
        limit: usize,
    },
    /// The package is larger than [`MAX_UNPACKED`] once unpacked.
    #[error("{shown} holds more than {limit} bytes once unpacked")]
    TooLarge {
        /// The package as shown.
        shown: String,
        /// The limit.
        limit: u64,
    },
    /// The index is unreadable or disagrees with the content.
    #[error("{shown}: {reason}")]
    BadIndex {
        /// The package as shown.
        shown: String,
        /// What is wrong.
        reason: String,
    },
    /// The content does not match the hash the index records.
    #[error("{shown} is damaged: its content hash is {actual}, the index says {expected}")]
    HashMismatch {
        /// The package as shown.
        shown: String,
        /// The hash in the index.
        expected: String,
        /// The hash of the content.
        actual: String,
    },
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// `op-package.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The package format ([`FORMAT`]).
    pub format: u32,
    /// `service.app_id`.
    pub app_id: String,
    /// `service.name`.
    pub name: String,
    /// `service.version`.
    pub version: String,
    /// `sha256:HEX` over every other file (see [`content_hash`]).
    pub content_hash: String,
    /// `sha256:HEX` of each file, by path.
    pub files: BTreeMap<String, String>,
    /// The `op` that made it.
    pub made_by: String,
}

/// A package read into memory and checked.
#[derive(Debug)]
pub struct Package {
    /// Its index.
    pub index: Index,
    /// The manifest text.
    pub manifest_text: String,
    /// The parsed, valid manifest.
    pub manifest: Manifest,
    /// The code: a component or a bundle.
    pub code: PluginCode,
    /// Workspace files: path under `workspace/` and content.
    pub workspace: BTreeMap<String, Vec<u8>>,
}

/// The content hash: SHA-256 over each file's path, length and bytes, in
/// path order.
pub fn content_hash(files: &BTreeMap<String, Vec<u8>>) -> String {
    let files = files
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
    format!("sha256:{}", crate::digest::files_hash(files))
}

fn file_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Makes a package of a manifest (its text, which `shown` names in
/// errors), its code and the files of `workspace` (if given). Returns
/// the package's bytes and its index.
pub fn pack(
    manifest_text: &str,
    shown: &str,
    code: &PluginCode,
    workspace: Option<&Path>,
) -> Result<(Vec<u8>, Index), PackageError> {
    let manifest = manifest::parse(manifest_text, shown)?;
    let mut files = BTreeMap::new();
    files.insert(MANIFEST.to_string(), manifest_text.as_bytes().to_vec());
    match code {
        PluginCode::Component(bytes) => files.insert(COMPONENT.to_string(), bytes.clone()),
        PluginCode::JavaScript(bundle) => {
            files.insert(BUNDLE.to_string(), bundle.as_bytes().to_vec())
        }
    };
    if let Some(dir) = workspace {
        collect_workspace(dir, dir, &mut files)?;
    }
    let index = Index {
        format: FORMAT,
        app_id: manifest.app_id().to_string(),
        name: manifest.service.name.clone(),
        version: manifest.service.version.value.clone(),
        content_hash: content_hash(&files),
        files: files
            .iter()
            .map(|(path, bytes)| (path.clone(), file_hash(bytes)))
            .collect(),
        made_by: format!("op {}", env!("CARGO_PKG_VERSION")),
    };
    let index_json = serde_json::to_vec_pretty(&index).map_err(|err| PackageError::BadIndex {
        shown: shown.to_string(),
        reason: err.to_string(),
    })?;
    let io = |what: &str| {
        let what = what.to_string();
        move |source| PackageError::Io { what, source }
    };
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(gzip);
    archive.mode(tar::HeaderMode::Deterministic);
    let entries = std::iter::once((INDEX.to_string(), index_json)).chain(files);
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, &path, bytes.as_slice())
            .map_err(io("cannot write the package"))?;
    }
    let bytes = archive
        .into_inner()
        .and_then(|gzip| gzip.finish())
        .map_err(io("cannot write the package"))?;
    Ok((bytes, index))
}

fn collect_workspace(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), PackageError> {
    let read_dir = std::fs::read_dir(dir).map_err(|source| PackageError::Io {
        what: format!("cannot read {}", dir.display()),
        source,
    })?;
    for entry in read_dir {
        let entry = entry.map_err(|source| PackageError::Io {
            what: format!("cannot read {}", dir.display()),
            source,
        })?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| PackageError::Io {
            what: format!("cannot read {}", path.display()),
            source,
        })?;
        if kind.is_dir() {
            collect_workspace(root, &path, files)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = std::fs::read(&path).map_err(|source| PackageError::Io {
                what: format!("cannot read {}", path.display()),
                source,
            })?;
            files.insert(format!("{WORKSPACE}/{name}"), bytes);
        } else {
            return Err(PackageError::BadEntry {
                shown: root.display().to_string(),
                entry: path.display().to_string(),
                reason: "the workspace may hold only files and folders, not links".into(),
            });
        }
    }
    Ok(())
}

/// Reads and checks a package; `shown` names it in errors.
pub fn read(bytes: &[u8], shown: &str) -> Result<Package, PackageError> {
    read_with_limit(bytes, shown, MAX_UNPACKED)
}

/// [`read`] with another limit on the unpacked size.
pub fn read_with_limit(bytes: &[u8], shown: &str, limit: u64) -> Result<Package, PackageError> {
    let not_a_package = |err: std::io::Error| PackageError::NotAPackage {
        shown: shown.to_string(),
        reason: err.to_string(),
    };
    let gzip = flate2::read::GzDecoder::new(bytes);
    // Entries are limited by their declared sizes below; this bounds what
    // the archive reader itself may inflate (headers, padding, garbage).
    let mut archive = tar::Archive::new(gzip.take(limit.saturating_mul(2).max(1 << 20)));
    let mut files = BTreeMap::new();
    let mut index_bytes = None;
    let mut total: u64 = 0;
    for (count, entry) in archive.entries().map_err(not_a_package)?.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(PackageError::TooManyEntries {
                shown: shown.to_string(),
                limit: MAX_ENTRIES,
            });
        }
        let mut entry = entry.map_err(not_a_package)?;
        let raw = entry.path_bytes().into_owned();
        let name = shown_entry(&raw);
        let refuse = |reason: &str| PackageError::BadEntry {
            shown: shown.to_string(),
            entry: name.clone(),
            reason: reason.to_string(),
        };
        let kind = entry.header().entry_type();
        let checked = match kind {
            // A folder's name may end in one `/`.
            tar::EntryType::Directory => check_entry_path(raw.strip_suffix(b"/").unwrap_or(&raw)),
            _ => check_entry_path(&raw),
        };
        if let Err(reason) = checked {
            return Err(refuse(reason));
        }
        match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular => {}
            _ => return Err(refuse("only files are allowed (no links or devices)")),
        }
        total = total.saturating_add(entry.size());
        if total > limit {
            return Err(PackageError::TooLarge {
                shown: shown.to_string(),
                limit,
            });
        }
        let mut content = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut content).map_err(not_a_package)?;
        if name == INDEX {
            index_bytes = Some(content);
        } else if name == MANIFEST
            || name == COMPONENT
            || name == BUNDLE
            || name.starts_with(&format!("{WORKSPACE}/"))
        {
            if files.insert(name.clone(), content).is_some() {
                return Err(refuse("it appears twice"));
            }
        } else {
            return Err(refuse(&format!(
                "a package holds only {INDEX}, {MANIFEST}, {COMPONENT} or {BUNDLE}, and {WORKSPACE}/"
            )));
        }
    }
    let index_bytes = index_bytes.ok_or_else(|| PackageError::Missing {
        shown: shown.to_string(),
        entry: INDEX,
    })?;
    let bad_index = |reason: String| PackageError::BadIndex {
        shown: shown.to_string(),
        reason,
    };
    let index: Index = serde_json::from_slice(&index_bytes)
        .map_err(|err| bad_index(format!("{INDEX} is invalid: {err}")))?;
    if index.format != FORMAT {
        return Err(bad_index(format!(
            "package format {} is not supported by this op (it reads format {FORMAT})",
            index.format
        )));
    }
    let actual = content_hash(&files);
    if actual != index.content_hash {
        return Err(PackageError::HashMismatch {
            shown: shown.to_string(),
            expected: index.content_hash,
            actual,
        });
    }
    let manifest_bytes = files.remove(MANIFEST).ok_or(PackageError::Missing {
        shown: shown.to_string(),
        entry: MANIFEST,
    })?;
    let code = match (files.remove(COMPONENT), files.remove(BUNDLE)) {
        (Some(component), None) => PluginCode::Component(component),
        (None, Some(bundle)) => PluginCode::JavaScript(
            String::from_utf8(bundle)
                .map_err(|_| bad_index(format!("{BUNDLE} is not UTF-8 text")))?,
        ),
        (Some(_), Some(_)) => {
            return Err(bad_index(format!(
                "it holds both {COMPONENT} and {BUNDLE}; a package holds one plugin's code"
            )));
        }
        (None, None) => {
            return Err(PackageError::Missing {
                shown: shown.to_string(),
                entry: "plugin.wasm or plugin.js",
            });
        }
    };
    let manifest_text = String::from_utf8(manifest_bytes)
        .map_err(|_| bad_index(format!("{MANIFEST} is not UTF-8 text")))?;
    let manifest = manifest::parse(&manifest_text, &format!("{shown}!{MANIFEST}"))?;
    if manifest.app_id() != index.app_id || manifest.service.version.value != index.version {
        return Err(bad_index(format!(
            "the index says {} {}, the manifest {} {}",
            index.app_id,
            index.version,
            manifest.app_id(),
            manifest.service.version.value
        )));
    }
    let workspace: BTreeMap<String, Vec<u8>> = files
        .into_iter()
        .filter_map(|(path, bytes)| {
            path.strip_prefix(&format!("{WORKSPACE}/"))
                .map(|rest| (rest.to_string(), bytes))
        })
        .collect();
    // A file cannot also be a folder of another file (`a` and `a/b`).
    for path in workspace.keys() {
        let mut folder = path.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            if workspace.contains_key(parent) {
                return Err(PackageError::BadEntry {
                    shown: shown.to_string(),
                    entry: format!("{WORKSPACE}/{path}"),
                    reason: format!("{WORKSPACE}/{parent} is a file, not a folder"),
                });
            }
            folder = parent;
        }
    }
    Ok(Package {
        index,
        manifest_text,
        manifest,
        code,
        workspace,
    })
}

/// Opens (creating) the folder `path` under `dir`; any entry on the way
/// that is not a real folder (a link, a file) is removed first, so no link
/// is followed.
fn folder_nofollow(dir: &cap_std::fs::Dir, path: &str) -> std::io::Result<cap_std::fs::Dir> {
    let mut current = dir.try_clone()?;
    for name in path.split('/') {
        match current.symlink_metadata(name) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                current.remove_file(name)?;
                current.create_dir(name)?;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => current.create_dir(name)?,
            Err(err) => return Err(err),
        }
        current = current.open_dir(name)?;
    }
    Ok(current)
}

/// Removes whatever `name` is in `dir` (a link itself, not its target).
pub(crate) fn remove_nofollow(
    dir: &cap_std::fs::Dir,
    name: impl AsRef<std::path::Path>,
) -> std::io::Result<()> {
    let name = name.as_ref();
    match dir.symlink_metadata(name) {
        Ok(meta) if meta.is_dir() => dir.remove_dir_all(name),
        Ok(_) => dir.remove_file(name),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Most bytes of a reason [`one_line`] keeps.
pub const MAX_REASON: usize = 1024;

/// A load failure's text as a client is shown it: one line, at most
/// [`MAX_REASON`] bytes, without the parts that are for the operator's log
/// (wasm backtraces, `Caused by:` and stack dumps, the guest's stderr).
pub fn one_line(text: &str) -> String {
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_end_matches("wasm backtrace:").trim_end();
        let dump = line.starts_with("wasm backtrace:")
            || line.starts_with("Stack backtrace:")
            || line.starts_with("stderr:")
            || line.starts_with("note:");
        if dump {
            break;
        }
        let frame = line
            .split_once(':')
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if line.is_empty() || frame || line == "Caused by:" {
            continue;
        }
        parts.push(line);
    }
    let mut line: String = parts
        .join(": ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_REASON {
        let mut cut = MAX_REASON - 3;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("...");
    }
    line
}

/// An entry's path as shown in errors: lossy UTF-8, control characters
/// escaped, cut at [`MAX_PATH`] bytes, so that a reason stays one short line.
fn shown_entry(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX_PATH)]);
    let mut shown: String = text
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect();
    if raw.len() > MAX_PATH {
        shown.push_str("...");
    }
    shown
}

/// Checks an entry's path as it is written in the archive: UTF-8, relative,
/// `/`-separated names that are neither empty, `.` nor `..`, with no `\`,
/// NUL or control character, within [`MAX_PATH`], [`MAX_NAME`] and
/// [`MAX_DEPTH`]. Paths are refused, never rewritten, so the path that is
/// checked is the one that is hashed and unpacked.
pub fn check_entry_path(raw: &[u8]) -> Result<(), &'static str> {
    let path = std::str::from_utf8(raw).map_err(|_| "its path is not UTF-8")?;
    if path.is_empty() {
        return Err("its path is empty");
    }
    if path.len() > MAX_PATH {
        return Err("its path is too long");
    }
    if path.starts_with('/') {
        return Err("its path leaves the package");
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err("its path holds a backslash or a control character");
    }
    let mut depth = 0;
    for name in path.split('/') {
        match name {
            "" => return Err("its path has an empty component"),
            "." | ".." => return Err("its path leaves the package"),
            _ if name.len() > MAX_NAME => return Err("a name in its path is too long"),
            _ => depth += 1,
        }
    }
    if depth > MAX_DEPTH {
        return Err("its path is too deep");
    }
    Ok(())
}

impl Package {
    /// Loads the package's code as a plugin of `installation`; `shown`
    /// names the package in errors (`shown!plugin.yaml`, `shown!plugin.wasm`).
    pub async fn load_plugin(
        &self,
        runtime: &crate::runtime::Runtime,
        shown: &str,
        installation: crate::imports::Installation,
    ) -> Result<crate::runtime::Plugin, CodeError> {
        let entry = match self.code {
            PluginCode::Component(_) => COMPONENT,
            PluginCode::JavaScript(_) => BUNDLE,
        };
        self.code
            .load(
                runtime,
                self.manifest.clone(),
                &format!("{shown}!{MANIFEST}"),
                &format!("{shown}!{entry}"),
                installation,
            )
            .await
    }

    /// Writes the workspace files into `dir`, following no link: a folder
    /// on the way that is a link or a file is replaced by a folder, and a
    /// file's old entry (whatever it is) by the file. The caller flushes
    /// them to disk. `dir` should be a fresh folder no plugin can see yet.
    pub fn unpack_workspace(&self, dir: &cap_std::fs::Dir) -> std::io::Result<()> {
        for (path, bytes) in &self.workspace {
            let (folders, file) = match path.rsplit_once('/') {
                Some((folders, file)) => (Some(folders), file),
                None => (None, path.as_str()),
            };
            let parent = match folders {
                Some(folders) => folder_nofollow(dir, folders)?,
                None => dir.try_clone()?,
            };
            remove_nofollow(&parent, file)?;
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            let mut out = parent.open_with(file, &options)?;
            std::io::Write::write_all(&mut out, bytes)?;
        }
        Ok(())
    }

    /// The file name `op pack` gives it: `NAME-VERSION.opkg`.
    pub fn file_name(index: &Index) -> String {
        let name: String = index
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("{name}-{}.{EXTENSION}", index.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST_TEXT: &str = "service:\n  app_id: pkgtest1\n  name: pkg test\n  version: 1.2.3\napis:\n  - type: addition\n    methods: [GET]\n    url: /a\n    function: a\n";

    fn packed(workspace: Option<&Path>) -> (Vec<u8>, Index) {
        pack(
            MANIFEST_TEXT,
            "plugin.yaml",
            &PluginCode::Component(b"\0asm-component".to_vec()),
            workspace,
        )
        .unwrap()
    }

    /// An archive with these raw entries, as a hostile or damaged package.
    fn archive(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gzip);
        for (path, bytes, kind) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            // Raw path bytes, so that `..` is written as given.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if *kind == tar::EntryType::Directory {
                header.set_size(0);
            }
            header.set_cksum();
            builder.append(&header, *bytes).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn index_for(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
        serde_json::to_vec(&Index {
            format: FORMAT,
            app_id: "pkgtest1".into(),
            name: "pkg test".into(),
            version: "1.2.3".into(),
            content_hash: content_hash(files),
            files: BTreeMap::new(),
            made_by: "test".into(),
        })
        .unwrap()
    }

    #[test]
    fn a_package_holds_manifest_component_and_workspace_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/a.txt"), "A").unwrap();
        let (bytes, index) = packed(Some(dir.path()));
        assert_eq!(
            (index.app_id.as_str(), index.version.as_str()),
            ("pkgtest1", "1.2.3")
        );
        assert_eq!(Package::file_name(&index), "pkg-test-1.2.3.opkg");
        let package = read(&bytes, "p.opkg").unwrap();
        assert_eq!(package.index, index);
        assert_eq!(package.manifest_text, MANIFEST_TEXT);
        assert_eq!(
            package.code,
            PluginCode::Component(b"\0asm-component".to_vec())
        );
        assert_eq!(package.workspace["data/a.txt"], b"A");
        let out = tempfile::tempdir().unwrap();
        let out_dir =
            cap_std::fs::Dir::open_ambient_dir(out.path(), cap_std::ambient_authority()).unwrap();
        package.unpack_workspace(&out_dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("data/a.txt")).unwrap(),
            "A"
        );
        // Same content, same bytes.
        assert_eq!(packed(Some(dir.path())).0, bytes);
    }

    #[test]
    fn an_invalid_manifest_is_not_packed() {
        let code = PluginCode::Component(b"x".to_vec());
        let err = pack("service: {}\n", "config/plugin.yaml", &code, None).unwrap_err();
        assert!(err.to_string().starts_with("config/plugin.yaml:"), "{err}");
    }

    #[test]
    fn changed_content_is_caught_by_the_hash() {
        let mut files = BTreeMap::new();
        files.insert(MANIFEST.to_string(), MANIFEST_TEXT.as_bytes().to_vec());
        files.insert(COMPONENT.to_string(), b"original".to_vec());
        let index = index_for(&files);
        let bytes = archive(&[
            (INDEX, &index, tar::EntryType::Regular),
            (MANIFEST, MANIFEST_TEXT.as_bytes(), tar::EntryType::Regular),
            (COMPONENT, b"tampered", tar::EntryType::Regular),
        ]);
        let err = read(&bytes, "p.opkg").unwrap_err();
        assert!(matches!(err, PackageError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().starts_with("p.opkg is damaged"), "{err}");
    }

    #[test]
    fn paths_out_of_the_package_links_and_strangers_are_refused() {
        for (entry, kind, reason) in [
            (
                "../evil",
                tar::EntryType::Regular,
                "its path leaves the package",
            ),
            (
                "/etc/evil",
                tar::EntryType::Regular,
                "its path leaves the package",
            ),
            (
                "workspace/link",
                tar::EntryType::Symlink,
                "only files are allowed",
            ),
            ("notes.txt", tar::EntryType::Regular, "a package holds only"),
        ] {
            let bytes = archive(&[(entry, b"x", kind)]);
            let err = read(&bytes, "p.opkg").unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("p.opkg: the entry `{entry}` is refused: {reason}")),
                "{err}"
            );
        }
        let err = read(b"not gzip at all", "p.opkg").unwrap_err().to_string();
        assert!(err.starts_with("p.opkg is not an op package"), "{err}");
        let files = BTreeMap::new();
        let bytes = archive(&[(INDEX, &index_for(&files), tar::EntryType::Regular)]);
        let err = read(&bytes, "p.opkg").unwrap_err().to_string();
        assert_eq!(err, "p.opkg has no plugin.yaml");
    }

    #[test]
    fn the_unpacked_size_limit_holds_on_both_sides() {
        let (bytes, _) = packed(None);
        let size = (MANIFEST_TEXT.len() + b"\0asm-component".len()) as u64;
        let index_len = read(&bytes, "p").unwrap().index;
        let index_size = serde_json::to_vec_pretty(&index_len).unwrap().len() as u64;
        let exact = size + index_size;
        assert!(read_with_limit(&bytes, "p.opkg", exact).is_ok());
        let err = read_with_limit(&bytes, "p.opkg", exact - 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("p.opkg holds more than {} bytes once unpacked", exact - 1)
        );
    }

    /// A package whose entries are the index, the manifest, the component
    /// and these workspace files, with a right hash.
    fn package_with(workspace: &[(&str, &[u8])]) -> Vec<u8> {
        let mut files = BTreeMap::new();
        files.insert(MANIFEST.to_string(), MANIFEST_TEXT.as_bytes().to_vec());
        files.insert(COMPONENT.to_string(), b"component".to_vec());
        for (path, bytes) in workspace {
            files.insert(format!("{WORKSPACE}/{path}"), bytes.to_vec());
        }
        let index = index_for(&files);
        let mut entries: Vec<(&str, &[u8], tar::EntryType)> =
            vec![(INDEX, &index, tar::EntryType::Regular)];
        for (path, bytes) in &files {
            entries.push((path, bytes, tar::EntryType::Regular));
        }
        archive(&entries)
    }

    #[test]
    fn entry_paths_are_checked_as_written_and_never_rewritten() {
        for (entry, reason) in [
            ("workspace//tmp/x", "its path has an empty component"),
            ("workspace/a//b", "its path has an empty component"),
            ("workspace/", "its path has an empty component"),
            ("workspace/./a", "its path leaves the package"),
            ("workspace/a/../../x", "its path leaves the package"),
            ("//tmp/x", "its path leaves the package"),
            ("workspace/a\\..\\..\\x", "its path holds a backslash"),
            (
                "workspace/a\nb",
                "its path holds a backslash or a control character",
            ),
        ] {
            let bytes = archive(&[(entry, b"x", tar::EntryType::Regular)]);
            let err = read(&bytes, "p.opkg").unwrap_err().to_string();
            assert!(
                err.starts_with("p.opkg: the entry `")
                    && err.contains(&format!("` is refused: {reason}")),
                "{entry}: {err}"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
        // A folder entry may end in `/`, but not hide an empty component.
        let bytes = archive(&[("workspace//tmp/", b"", tar::EntryType::Directory)]);
        let err = read(&bytes, "p.opkg").unwrap_err().to_string();
        assert!(err.contains("empty component"), "{err}");
        // Accepted: a normal nested path.
        let bytes = package_with(&[("a/b/c.txt", b"C")]);
        assert_eq!(read(&bytes, "p.opkg").unwrap().workspace["a/b/c.txt"], b"C");
    }

    #[test]
    fn load_reasons_are_one_short_line() {
        let dump = "the package!plugin.wasm failed while listing its functions: function `x` trapped: error while executing at wasm backtrace:\n    0:  0x1234 - plugin!core::panicking::panic\n    1:  0x5678 - plugin!main\n\nCaused by:\n    wasm trap: wasm `unreachable` instruction executed\nstderr: thread panicked at src/lib.rs:3:5";
        assert_eq!(
            one_line(dump),
            "the package!plugin.wasm failed while listing its functions: function `x` trapped: \
             error while executing at: wasm trap: wasm `unreachable` instruction executed"
        );
        let long = format!("a\n\nCaused by:\n  {}", "é".repeat(MAX_REASON));
        let line = one_line(&long);
        assert!(line.len() <= MAX_REASON && line.ends_with("...") && !line.contains('\n'));
        assert_eq!(one_line("one line"), "one line");
    }

    #[test]
    fn a_file_that_is_also_a_folder_is_refused() {
        let bytes = package_with(&[("a", b"file"), ("a/b", b"inside")]);
        let err = read(&bytes, "p.opkg").unwrap_err().to_string();
        assert_eq!(
            err,
            "p.opkg: the entry `workspace/a/b` is refused: workspace/a is a file, not a folder"
        );
    }

    #[test]
    fn the_entry_limit_holds_on_both_sides() {
        let names: Vec<String> = (0..MAX_ENTRIES - 3).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let package = read(&package_with(&files), "p.opkg").unwrap();
        assert_eq!(package.workspace.len(), MAX_ENTRIES - 3);
        let names: Vec<String> = (0..MAX_ENTRIES - 2).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let err = read(&package_with(&files), "p.opkg")
            .unwrap_err()
            .to_string();
        assert_eq!(err, format!("p.opkg holds more than {MAX_ENTRIES} entries"));
    }

    #[cfg(unix)]
    #[test]
    fn unpacking_replaces_links_and_never_follows_them() {
        let outside = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        // Links a plugin could have made: a folder and a file pointing out.
        std::os::unix::fs::symlink(outside.path(), out.path().join("data")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), out.path().join("f")).unwrap();
        let bytes = package_with(&[("data/x", b"X"), ("f", b"F")]);
        let package = read(&bytes, "p.opkg").unwrap();
        let dir =
            cap_std::fs::Dir::open_ambient_dir(out.path(), cap_std::ambient_authority()).unwrap();
        package.unpack_workspace(&dir).unwrap();
        assert_eq!(std::fs::read(out.path().join("data/x")).unwrap(), b"X");
        assert_eq!(std::fs::read(out.path().join("f")).unwrap(), b"F");
        assert!(!out.path().join("data").is_symlink());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
