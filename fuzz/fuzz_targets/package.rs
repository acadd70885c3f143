//! The package reader on hostile archives: any bytes give a package or an
//! error, never a panic, and what it accepts is safe to unpack.
//!
//! The first byte chooses the input: odd, the rest is the package's bytes
//! as given (gzip, tar, garbage); even, the rest describes entries that
//! are packed into a tar.gz with their paths written as given and an index
//! whose hash matches, so that the path and entry checks are reached:
//! each entry is a kind byte, a path length byte, the path, a content
//! length byte and the content.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use op::package::{self, Index, PackageError};

const MANIFEST: &str = "service:\n  app_id: fuzzpkg1\n  name: fuzz\n  version: 1.0.0\napis:\n  - type: addition\n    methods: [GET]\n    url: /a\n    function: a\n";

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, rest) = data.split_at(n);
    *data = rest;
    head
}

/// Packs the described entries (plus a manifest and a component unless the
/// input names them) with raw paths and a matching index.
fn archive(mut data: &[u8]) -> Vec<u8> {
    let mut entries: Vec<(Vec<u8>, tar::EntryType, Vec<u8>)> = Vec::new();
    while !data.is_empty() && entries.len() < 64 {
        let kind = match take(&mut data, 1)[0] % 6 {
            0 | 1 | 2 => tar::EntryType::Regular,
            3 => tar::EntryType::Directory,
            4 => tar::EntryType::Symlink,
            _ => tar::EntryType::Link,
        };
        let len = take(&mut data, 1).first().copied().unwrap_or(0) as usize;
        let mut path = take(&mut data, len % 100).to_vec();
        if kind == tar::EntryType::Regular && !path.starts_with(b"workspace") {
            path.splice(0..0, b"workspace/".iter().copied());
        }
        path.truncate(99);
        let len = take(&mut data, 1).first().copied().unwrap_or(0) as usize;
        let content = take(&mut data, len).to_vec();
        entries.push((path, kind, content));
    }
    let mut files = BTreeMap::new();
    files.insert(package::MANIFEST.to_string(), MANIFEST.as_bytes().to_vec());
    files.insert(
        package::COMPONENT.to_string(),
        b"\0asm\x0d\x00\x01\x00".to_vec(),
    );
    for (path, kind, content) in &entries {
        if *kind == tar::EntryType::Regular {
            files.insert(String::from_utf8_lossy(path).into_owned(), content.clone());
        }
    }
    let index = serde_json::to_vec(&Index {
        format: package::FORMAT,
        app_id: "fuzzpkg1".into(),
        name: "fuzz".into(),
        version: "1.0.0".into(),
        content_hash: package::content_hash(&files),
        files: BTreeMap::new(),
        made_by: "fuzz".into(),
    })
    .unwrap();
    let mut all = vec![
        (
            package::INDEX.as_bytes().to_vec(),
            tar::EntryType::Regular,
            index,
        ),
        (
            package::MANIFEST.as_bytes().to_vec(),
            tar::EntryType::Regular,
            MANIFEST.as_bytes().to_vec(),
        ),
        (
            package::COMPONENT.as_bytes().to_vec(),
            tar::EntryType::Regular,
            b"\0asm\x0d\x00\x01\x00".to_vec(),
        ),
    ];
    all.extend(entries);
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gzip);
    for (path, kind, content) in all {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        let name = &mut header.as_old_mut().name;
        let n = path.len().min(name.len());
        name[..n].copy_from_slice(&path[..n]);
        header.set_cksum();
        let _ = builder.append(&header, content.as_slice());
    }
    builder
        .into_inner()
        .and_then(|gzip| gzip.finish())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 1 {
        rest.to_vec()
    } else {
        archive(rest)
    };
    match package::read_with_limit(&bytes, "fuzz.opkg", 1 << 20) {
        Ok(package) => {
            for path in package.workspace.keys() {
                assert!(
                    package::check_entry_path(path.as_bytes()).is_ok(),
                    "accepted a bad path {path:?}"
                );
            }
            // What is accepted unpacks inside the folder, and only there.
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir(root.path().join("in")).unwrap();
            let dir = cap_std::fs::Dir::open_ambient_dir(
                root.path().join("in"),
                cap_std::ambient_authority(),
            )
            .unwrap();
            package.unpack_workspace(&dir).unwrap();
            for (path, content) in &package.workspace {
                assert_eq!(
                    &std::fs::read(root.path().join("in").join(path)).unwrap(),
                    content
                );
            }
            assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        }
        // A manifest's errors are one per line, each located.
        Err(PackageError::Manifest(_)) => {}
        Err(err) => {
            let text = err.to_string();
            assert!(
                !text.contains('\n'),
                "a reason of more than one line: {text:?}"
            );
            if let PackageError::BadEntry { entry, .. } = &err {
                assert!(entry.len() <= package::MAX_PATH + 3 || entry.contains('\\'));
            }
        }
    }
});
