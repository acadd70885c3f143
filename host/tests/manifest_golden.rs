//! Golden tests of the manifest parser: every `manifests/valid/*.yaml` loads;
//! every `manifests/invalid/*.yaml` is refused with exactly the text in the
//! `.err` file beside it. `OP_BLESS=1 cargo test --test manifest_golden`
//! rewrites the `.err` files after a deliberate change of wording.

use std::path::{Path, PathBuf};

fn cases(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

#[test]
fn valid_manifests_load() {
    let files = cases("valid", "yaml");
    assert!(files.len() >= 10, "only {} valid manifests", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if let Err(err) = op::manifest::parse(&text, "config/plugin.yaml") {
            panic!("{} was refused:\n{err}", file.display());
        }
    }
}

#[test]
fn invalid_manifests_fail_with_their_golden_text() {
    let files = cases("invalid", "yaml");
    assert!(files.len() >= 25, "only {} invalid manifests", files.len());
    let bless = std::env::var_os("OP_BLESS").is_some();
    let mut mismatches = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let actual = match op::manifest::parse(&text, "config/plugin.yaml") {
            Ok(_) => "<accepted>".to_string(),
            Err(err) => format!("{err}\n"),
        };
        let golden = file.with_extension("err");
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{}\n--- expected\n{expected}--- actual\n{actual}",
                file.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
