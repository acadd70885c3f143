//! Golden tests of the manifest parser: every `manifests/valid/*.yaml` loads
//! and reports exactly the warnings, notes and route table of the `.out` file
//! beside it; every `manifests/invalid/*.yaml` is refused with exactly the
//! text in the `.err` file beside it. `OP_BLESS=1 cargo test --test
//! manifest_golden` rewrites both after a deliberate change of wording.

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

/// What `op check` reports of an accepted manifest: its warnings and notes,
/// then its route table.
fn report(manifest: &op::manifest::Manifest) -> String {
    let mut out = String::new();
    for notice in &manifest.notices {
        out.push_str(&format!("config/plugin.yaml:{notice}\n"));
    }
    out.push_str("---\n");
    out.push_str(&op::cli::table::render(manifest, ""));
    out
}

/// Compares `actual` with the golden file, or rewrites it under `OP_BLESS`.
fn compare(golden: &Path, actual: &str, mismatches: &mut Vec<String>) {
    if std::env::var_os("OP_BLESS").is_some() {
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_default();
    if expected != actual {
        mismatches.push(format!(
            "{}\n--- expected\n{expected}--- actual\n{actual}",
            golden.display()
        ));
    }
}

#[test]
fn valid_manifests_load_with_their_golden_report() {
    let files = cases("valid", "yaml");
    assert!(files.len() >= 22, "only {} valid manifests", files.len());
    let mut mismatches = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        match op::manifest::parse(&text, "config/plugin.yaml") {
            Ok(manifest) => compare(
                &file.with_extension("out"),
                &report(&manifest),
                &mut mismatches,
            ),
            Err(err) => mismatches.push(format!("{} was refused:\n{err}", file.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn invalid_manifests_fail_with_their_golden_text() {
    let files = cases("invalid", "yaml");
    assert!(files.len() >= 25, "only {} invalid manifests", files.len());
    let mut mismatches = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let actual = match op::manifest::parse(&text, "config/plugin.yaml") {
            Ok(_) => "<accepted>".to_string(),
            Err(err) => format!("{err}\n"),
        };
        compare(&file.with_extension("err"), &actual, &mut mismatches);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `docs/plugin.schema.json`, the schema editors use (and `op new` copies),
/// is exactly what the manifest types generate. `OP_BLESS=1` rewrites it.
#[test]
fn the_json_schema_in_docs_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&op::manifest::json_schema()).unwrap() + "\n";
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plugin.schema.json");
    if std::env::var_os("OP_BLESS").is_some() {
        std::fs::write(&file, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/plugin.schema.json is not what the manifest types generate; \
         run `OP_BLESS=1 cargo test -p op --test manifest_golden`"
    );
}

/// Every key the parser accepts in the valid manifests is one the schema
/// describes, so that an editor does not flag a manifest `op` loads.
#[test]
fn every_key_of_the_valid_manifests_is_in_the_schema() {
    let schema = op::manifest::json_schema();
    let mut unknown = Vec::new();
    let mut warned = Vec::new();
    for file in cases("valid", "yaml") {
        let text = std::fs::read_to_string(&file).unwrap();
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // The keys op warns about as unknown are in no schema: the editor
        // flags them as op does. Every other key must be one the schema
        // describes (a warning about a value is not about the key).
        let manifest = op::manifest::parse(&text, "config/plugin.yaml").unwrap();
        for notice in &manifest.notices {
            if notice.kind == op::manifest::NoticeKind::Warning
                && notice.message.starts_with("unknown key")
            {
                warned.push(format!("{name}.{}", notice.path));
            }
        }
        walk(&docs[0], &schema, &schema, &name, &mut unknown);
    }
    // The schema flags exactly the keys op warns about, and no other.
    for path in &warned {
        assert!(
            unknown.contains(path),
            "{path} is warned about but in the schema"
        );
    }
    unknown.retain(|path| !warned.contains(path));
    assert!(unknown.is_empty(), "not in the schema: {unknown:#?}");
    assert!(!warned.is_empty());
    // And the schema is strict where the parser is: a misspelled key is
    // not allowed by it either.
    let api = resolve(&schema["properties"]["apis"]["items"], &schema);
    assert_eq!(api["additionalProperties"], false);
    assert!(api["properties"].get("functoin").is_none());
}

fn resolve<'a>(
    schema: &'a serde_json::Value,
    root: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/$defs/");
            resolve(&root["$defs"][name], root)
        }
        None => schema,
    }
}

/// The schemas a value may match: the schema and its `anyOf`/`oneOf` arms.
fn arms<'a>(
    schema: &'a serde_json::Value,
    root: &'a serde_json::Value,
) -> Vec<&'a serde_json::Value> {
    let schema = resolve(schema, root);
    let mut out = vec![schema];
    for key in ["anyOf", "oneOf"] {
        if let Some(list) = schema[key].as_array() {
            out.extend(list.iter().map(|arm| resolve(arm, root)));
        }
    }
    out
}

fn walk(
    yaml: &yaml_rust2::Yaml,
    schema: &serde_json::Value,
    root: &serde_json::Value,
    path: &str,
    unknown: &mut Vec<String>,
) {
    use yaml_rust2::Yaml;
    if schema == &serde_json::Value::Bool(true) {
        return;
    }
    let arms = arms(schema, root);
    // A schema that says nothing of the shape (`oauth`, `storage`: kept as
    // they are) allows any value.
    let says_nothing = |arm: &&serde_json::Value| {
        [
            "type",
            "properties",
            "anyOf",
            "oneOf",
            "$ref",
            "items",
            "enum",
            "const",
        ]
        .iter()
        .all(|key| arm.get(key).is_none())
    };
    if arms.iter().any(says_nothing) {
        return;
    }
    match yaml {
        Yaml::Hash(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let here = format!("{path}.{key}");
                let known = arms.iter().find_map(|arm| {
                    arm["properties"].get(key).or_else(|| {
                        arm["additionalProperties"]
                            .is_object()
                            .then(|| &arm["additionalProperties"])
                    })
                });
                match known {
                    Some(sub) => walk(value, sub, root, &here, unknown),
                    None => unknown.push(here),
                }
            }
        }
        Yaml::Array(items) => {
            if let Some(item) = arms.iter().find_map(|arm| arm.get("items")) {
                for (i, value) in items.iter().enumerate() {
                    walk(value, item, root, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// `docs/serve.schema.json` is exactly what the serve.yaml types generate
/// (`OP_BLESS=1` rewrites it), and it knows every key of the documented
/// sample, config/serve.yaml.
#[test]
fn the_serve_schema_in_docs_is_the_generated_one() {
    let schema = op::serve::config::json_schema();
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/serve.schema.json");
    if std::env::var_os("OP_BLESS").is_some() {
        std::fs::write(&file, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/serve.schema.json is not what the serve.yaml types generate; \
         run `OP_BLESS=1 cargo test -p op --test manifest_golden`"
    );
    let properties = schema["properties"].as_object().unwrap();
    let sample =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/serve.yaml"))
            .unwrap();
    for line in sample.lines() {
        let Some((key, _)) = line.split_once(':') else {
            continue;
        };
        if key.is_empty() || key.starts_with([' ', '#']) {
            continue;
        }
        assert!(properties.contains_key(key), "the schema lacks `{key}`");
    }
    for key in [
        "listen",
        "ones",
        "plugins_dir",
        "store",
        "admin",
        "limits",
        "log",
    ] {
        assert!(properties.contains_key(key), "the schema lacks `{key}`");
    }
}
