//! The TypeScript author's loop: `op new --lang ts`, the scaffold's own
//! `npm test`, `op invoke run` with `.ts` edits swapped in while requests
//! run, a type error and a syntax error that keep the old version serving
//! with the compiler's place, and `op pack` / `op check` of the package.

use std::process::Command;

mod common;

use common::binary::{js_sdk, text};
use common::console::{RequestLoop, Serving, edit, op, post, serve_project, wait_for_post};

#[test]
fn a_new_ts_project_is_tested_served_edited_live_and_packed() {
    let home = tempfile::tempdir().unwrap();
    let out = op(&["new", "tsdemo", "--lang", "ts"], home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let demo = home.path().join("tsdemo");
    for file in [
        "README.md",
        ".gitignore",
        "config/plugin.yaml",
        "backend/package.json",
        "backend/package-lock.json",
        "backend/tsconfig.json",
        "backend/src/index.ts",
        "backend/test/index.test.mjs",
    ] {
        assert!(demo.join(file).is_file(), "op new wrote no {file}");
    }
    // Nothing in the project names this machine: it can move.
    for file in [
        "backend/package.json",
        "backend/package-lock.json",
        "backend/tsconfig.json",
    ] {
        let written = std::fs::read_to_string(demo.join(file)).unwrap();
        assert!(!written.contains(home.path().to_str().unwrap()), "{file}");
        assert!(!written.contains(js_sdk().to_str().unwrap()), "{file}");
    }
    // The SDK is linked for the editor and the tests.
    assert!(demo.join(".op/js-sdk/testing.mjs").is_file());

    // The lock file is one npm accepts: `npm ci` installs exactly it.
    let ci = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(demo.join("backend"))
        .output()
        .unwrap();
    assert!(ci.status.success(), "{}", text(&ci.stderr));

    // The scaffold's unit tests, with the mock OPFetch.
    let tests = Command::new("npm")
        .arg("test")
        .current_dir(demo.join("backend"))
        .output()
        .unwrap();
    let report = text(&tests.stdout);
    assert!(tests.status.success(), "{report}{}", text(&tests.stderr));
    assert!(report.contains("# pass 2"), "{report}");

    let Serving {
        server,
        stdout,
        stderr,
        origin,
    } = serve_project("tsdemo", home.path());
    let hello = format!("{origin}/project/api/project/hello");
    assert_eq!(
        post(&hello, r#"{"x":1}"#),
        (
            200,
            r#"{"res":"hello world","requestBody":{"x":1}}"#.to_string()
        )
    );
    let call = stderr.wait_for("POST /project/api/project/hello -> ", 0);
    assert!(call.contains("::hello 200 in "), "{call}");

    // The intercept refuses a task without a summary; ONES (the simulator)
    // is not reached.
    let (status, body) = post(
        &format!("{origin}/project/api/project/team/SimTeam1/tasks/add2"),
        r#"{"tasks":[{"summary":""}]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""type":"warning""#), "{body}");

    // Requests run through every change below.
    let load = RequestLoop::post_loop(hello.clone());

    let index = demo.join("backend/src/index.ts");
    edit(&index, "res: 'hello world'", "res: 'hello again'");
    wait_for_post(&hello, r#"{"res":"hello again","requestBody":{}}"#);

    // A type error: tsc's message with its place; the old version serves.
    let mark = (stdout.len(), stderr.len());
    edit(&index, "return {}\n", "return 42\n");
    stdout.wait_for("the previous version keeps serving", mark.0);
    let error = stderr.wait_for("src/index.ts:", mark.1);
    assert!(error.contains("error TS"), "{error}");
    assert_eq!(
        post(&hello, "{}"),
        (200, r#"{"res":"hello again","requestBody":{}}"#.to_string())
    );

    // A syntax error, the same.
    edit(&index, "return 42\n", "return {}\n");
    let mark = (stdout.len(), stderr.len());
    edit(&index, "res: 'hello again'", "res: 'hello again' +");
    stdout.wait_for("the previous version keeps serving", mark.0);
    let error = stderr.wait_for("src/index.ts:", mark.1);
    assert!(error.contains("error"), "{error}");
    edit(&index, "res: 'hello again' +", "res: 'hello, third'");
    wait_for_post(&hello, r#"{"res":"hello, third","requestBody":{}}"#);

    let (sent, failed) = load.stop();
    assert!(sent > 20, "only {sent} requests were sent");
    assert_eq!(failed, 0, "of {sent} requests during the swaps");
    drop(server);

    // The package holds the bundle; `op check` loads it as op serve would.
    let packed = op(&["pack", "tsdemo", "-o", "demo.opkg"], home.path())
        .output()
        .unwrap();
    let said = text(&packed.stdout);
    assert!(packed.status.success(), "{said}{}", text(&packed.stderr));
    assert!(said.contains("bundle "), "{said}");
    let listing = Command::new("tar")
        .args(["tzf", "demo.opkg"])
        .current_dir(home.path())
        .output()
        .unwrap();
    let listing = text(&listing.stdout);
    assert!(listing.contains("plugin.js"), "{listing}");
    assert!(!listing.contains("plugin.wasm"), "{listing}");
    let checked = op(&["check", "demo.opkg"], home.path()).output().unwrap();
    let said = text(&checked.stdout);
    assert!(checked.status.success(), "{said}{}", text(&checked.stderr));
    assert!(said.contains("functions: checkTasks, hello"), "{said}");
}
