//! Files built into the op binary (its JS SDK, its Rust SDK), unpacked on
//! first use into the user's cache folder and linked into plugin projects.
//!
//! Each set of files gets a folder named by its content's hash
//! (`$XDG_CACHE_HOME/op/<kind>/<hash>`, else `~/.cache/op/<kind>/<hash>`),
//! so two op versions never share one, and a folder, once there, is
//! complete: it is filled beside its place and renamed into it.

use std::path::{Path, PathBuf};

/// Files embedded in the binary: each one's path in its folder and its
/// bytes.
pub type Files = &'static [(&'static str, &'static [u8])];

/// The user's cache folder (`$XDG_CACHE_HOME`, else `~/.cache`), if there
/// is one.
pub fn cache_base() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
}

/// The folder `files` unpack into under `base`: `base/op/<kind>/<hash>`.
pub fn folder(base: &Path, kind: &str, files: Files) -> PathBuf {
    base.join("op").join(kind).join(&hash(files)[..16])
}

/// The SHA-256 of the files' paths and contents, in hex.
pub fn hash(files: Files) -> String {
    crate::digest::files_hash(files.iter().copied())
}

/// Writes `files` under `dir`.
pub fn write_all(dir: &Path, files: Files) -> std::io::Result<()> {
    for (path, bytes) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
    }
    Ok(())
}

/// Makes `dir` hold `files`, unless it exists: they are written into a
/// fresh folder beside it, `finish` runs there (e.g. installs tools), and
/// the folder is renamed into place. Two op processes doing this at once
/// never see half a folder; the one that loses the race uses the winner's
/// (if `complete` says it is whole). `io` turns a file error into `E`.
pub fn unpack_once<E>(
    dir: &Path,
    files: Files,
    complete: impl Fn(&Path) -> bool,
    finish: impl FnOnce(&Path) -> Result<(), E>,
    io: impl Fn(std::io::Error) -> E,
) -> Result<(), E> {
    if complete(dir) {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(&io)?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)
        .map_err(&io)?;
    write_all(staging.path(), files).map_err(&io)?;
    finish(staging.path())?;
    let staged = staging.keep();
    if let Err(err) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        if !complete(dir) {
            return Err(io(std::io::Error::other(format!(
                "cannot move the unpacked files to {}: {err}",
                dir.display()
            ))));
        }
    }
    Ok(())
}

/// Links `target` at `project/.op/<name>`, so that a project reaches it by
/// a relative path that stays the same wherever the project moves (`.op/`
/// is the project's ignored local state). The link is made again when it
/// points elsewhere; anything else in its place is an error.
pub fn link_into(project: &Path, name: &str, target: &Path) -> std::io::Result<()> {
    let state = project.join(".op");
    std::fs::create_dir_all(&state)?;
    let link = state.join(name);
    let target = target.canonicalize()?;
    match std::fs::read_link(&link) {
        Ok(existing) if existing == target => return Ok(()),
        Ok(_) => std::fs::remove_file(&link)?,
        Err(_) if link.exists() => {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a link; remove it",
                link.display()
            )));
        }
        Err(_) => {}
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&target, &link)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(
            state.join(format!("{name}.txt")),
            target.display().to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: Files = &[("a/b.txt", b"one"), ("c.txt", b"two")];

    #[test]
    fn unpacks_once_and_links_again_when_the_target_moves() {
        let base = tempfile::tempdir().unwrap();
        let dir = folder(base.path(), "kind", FILES);
        let whole = |d: &Path| d.join("c.txt").is_file();
        let io = |e: std::io::Error| e;
        unpack_once(&dir, FILES, whole, |_| Ok(()), io).unwrap();
        assert_eq!(std::fs::read(dir.join("a/b.txt")).unwrap(), b"one");
        // There: `finish` does not run again.
        unpack_once(&dir, FILES, whole, |_| panic!("unpacked twice"), io).unwrap();
        // A failed `finish` leaves nothing behind.
        let other = base.path().join("op/kind/other");
        let failed = unpack_once(
            &other,
            FILES,
            whole,
            |_| Err(std::io::Error::other("no")),
            io,
        );
        assert!(failed.is_err());
        assert!(!other.exists());
        let leftovers: Vec<_> = std::fs::read_dir(base.path().join("op/kind"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");

        let project = tempfile::tempdir().unwrap();
        link_into(project.path(), "sdk", &dir).unwrap();
        assert_eq!(
            std::fs::read(project.path().join(".op/sdk/c.txt")).unwrap(),
            b"two"
        );
        let moved = base.path().join("moved");
        std::fs::create_dir(&moved).unwrap();
        link_into(project.path(), "sdk", &moved).unwrap();
        assert_eq!(
            std::fs::read_link(project.path().join(".op/sdk")).unwrap(),
            moved.canonicalize().unwrap()
        );
        // A folder in the link's place is not replaced.
        std::fs::create_dir_all(project.path().join(".op/kept")).unwrap();
        let refused = link_into(project.path(), "kept", &dir).unwrap_err();
        assert!(refused.to_string().contains("is not a link"), "{refused}");
    }
}
