//! The plugin author's loop, as a new user goes through it: `op new`, the
//! scaffold's own unit tests, `op invoke run` with edits swapped in while
//! requests run, broken edits that keep the old version serving, and
//! `op invoke clear`.

use std::process::Command;

mod common;

use common::binary::{target_dir, text};
use common::console::{RequestLoop, Serving, edit, get, op, serve_project, wait_for_answer};

#[test]
fn a_new_project_is_tested_served_edited_live_and_cleared() {
    let home = tempfile::tempdir().unwrap();
    let out = op(&["new", "demo"], home.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let demo = home.path().join("demo");
    for file in [
        "README.md",
        ".gitignore",
        "config/plugin.yaml",
        "config/plugin.schema.json",
        "backend/Cargo.toml",
        "backend/src/lib.rs",
    ] {
        assert!(demo.join(file).is_file(), "op new wrote no {file}");
    }
    let again = op(&["new", "demo"], home.path()).output().unwrap();
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists and is not empty"));

    // The scaffold's unit tests run natively, with the mock OPFetch.
    let tests = Command::new("cargo")
        .arg("test")
        .current_dir(demo.join("backend"))
        .env("CARGO_TARGET_DIR", target_dir("scaffold-native"))
        .output()
        .unwrap();
    let report = text(&tests.stdout);
    assert!(tests.status.success(), "{report}{}", text(&tests.stderr));
    assert!(
        report.contains("test tests::whoami_asks_ones_as_the_caller ... ok"),
        "{report}"
    );

    // Served as it is.
    let Serving {
        server,
        stdout,
        stderr,
        origin,
    } = serve_project("demo", home.path());
    let hello = format!("{origin}/project/api/project/hello");
    assert_eq!(get(&hello), (200, r#"{"res":"hello world"}"#.to_string()));

    // The console: one line per call, the plugin's log lines under it.
    let printed = stdout.all();
    let token = printed
        .split("Ones-Auth-Token: ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a sample curl with a token")
        .to_string();
    let user = printed
        .split("Ones-User-Id: ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_string();
    let me = Command::new("curl")
        .args(["-s", "-H", &format!("Ones-User-Id: {user}"), "-H"])
        .arg(format!("Ones-Auth-Token: {token}"))
        .arg(format!("{origin}/project/api/project/team/SimTeam1/me"))
        .output()
        .unwrap();
    assert!(
        text(&me.stdout).contains(r#""name":"Alice""#),
        "{}",
        text(&me.stdout)
    );
    let call = stderr.wait_for("GET /project/api/project/team/SimTeam1/me -> ", 0);
    assert!(call.contains("::whoami 200 in "), "{call}");
    let console = stderr.all();
    let under = console
        .lines()
        .skip_while(|line| !line.contains("::whoami 200 in "))
        .nth(1)
        .unwrap_or_default();
    assert!(
        under.starts_with("    info    \"Alice\" asked who they are  ("),
        "{console}"
    );

    // A loop of requests runs through every change below.
    let load = RequestLoop::get_loop(hello.clone());

    // An edit of the answer is served once its build is done.
    let lib = demo.join("backend/src/lib.rs");
    edit(&lib, r#""res": "hello world""#, r#""res": "hello again""#);
    wait_for_answer(&hello, r#"{"res":"hello again"}"#);

    // A syntax error: the compiler's error is shown, the old version serves.
    let mark = (stdout.len(), stderr.len());
    edit(&lib, r#""hello again""#, r#""hello again" oops"#);
    stdout.wait_for("the previous version keeps serving", mark.0);
    let error = stderr.wait_for("src/lib.rs:", mark.1);
    assert!(error.contains("-->"), "{error}");
    assert!(stderr.all().contains("the backend did not build"));
    assert_eq!(get(&hello), (200, r#"{"res":"hello again"}"#.to_string()));

    // A broken manifest: its error with the line, the old version serves.
    edit(&lib, r#""hello again" oops"#, r#""hello again""#);
    let manifest = demo.join("config/plugin.yaml");
    let mark = (stdout.len(), stderr.len());
    edit(&manifest, "function: hello", "functoin: hello");
    stdout.wait_for("the previous version keeps serving", mark.0);
    let error = stderr.wait_for("unknown key `functoin`", mark.1);
    assert!(error.contains("plugin.yaml:"), "{error}");
    assert_eq!(get(&hello), (200, r#"{"res":"hello again"}"#.to_string()));

    // A new route in plugin.yaml answers, without any clear.
    edit(&manifest, "functoin: hello", "function: hello");
    let mark = stdout.len();
    std::fs::write(
        &manifest,
        std::fs::read_to_string(&manifest).unwrap()
            + "  - type: addition\n    methods: [GET]\n    url: /bye\n    function: hello\n",
    )
    .unwrap();
    let added = stdout.wait_for("/project/api/project/bye", mark);
    assert!(added.starts_with("+ GET"), "{added}");
    wait_for_answer(
        &format!("{origin}/project/api/project/bye"),
        r#"{"res":"hello again"}"#,
    );

    let (sent, failed) = load.stop();
    assert!(sent > 20, "only {sent} requests were sent");
    assert_eq!(failed, 0, "of {sent} requests during the swaps");

    // Ctrl-C, then clear: the UnInstall hook runs and .op/ goes.
    let mut server = server;
    let interrupted = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    assert!(server.0.wait().unwrap().success());
    assert!(demo.join(".op").is_dir());
    let clear = op(&["invoke", "clear", "demo"], home.path())
        .output()
        .unwrap();
    let said = text(&clear.stdout);
    assert!(clear.status.success(), "{said}{}", text(&clear.stderr));
    assert!(said.contains("ran UnInstall"), "{said}");
    assert!(!demo.join(".op").exists());

    // The project holds no path of this machine: moved elsewhere without
    // its .op/ (as a fresh clone has it), it builds and checks as it is.
    let cargo_toml = std::fs::read_to_string(demo.join("backend/Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains("op-plugin-sdk = \"0.1\""),
        "{cargo_toml}"
    );
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    for machine_path in [home.path(), checkout] {
        assert!(
            !cargo_toml.contains(&machine_path.display().to_string()),
            "{cargo_toml}"
        );
    }
    std::fs::create_dir(home.path().join("elsewhere")).unwrap();
    std::fs::rename(&demo, home.path().join("elsewhere/demo")).unwrap();
    let check = op(&["check", "elsewhere/demo"], home.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    assert!(home.path().join("elsewhere/demo/.op/rust-sdk").is_dir());
}

#[test]
fn op_new_refuses_a_name_that_cannot_name_a_plugin() {
    let home = tempfile::tempdir().unwrap();
    let out = op(&["new", "9 lives"], home.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("`9 lives` cannot name a plugin"),
        "{}",
        text(&out.stderr)
    );
    assert!(!home.path().join("9 lives").exists());
}
