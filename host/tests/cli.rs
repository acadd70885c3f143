//! The `op` binary as a user runs it: `op check` and `op invoke run`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::binary::{Killed as Running, OP, offline_op as op_without_ones, target_dir, text};

/// The target directory the guests were built in, so that builds made by
/// `op` reuse them.
fn guest_target_dir() -> PathBuf {
    target_dir("guests")
}

fn op(dir: &Path, args: &[&str]) -> Output {
    Command::new(OP)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", guest_target_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run op")
}

fn project(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/plugin.yaml"), manifest).unwrap();
    dir
}

#[test]
fn check_reports_a_misspelled_key_with_its_location_and_exits_1() {
    let dir = project(
        "service:\n  app_id: demo0001\n  name: demo\n  version: 1.0.0\napis:\n  - type: addition\n    metods: [POST]\n    url: /hello\n    function: hello\n",
    );
    let out = op(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config/plugin.yaml:7:5: apis[0].metods: unknown key `metods` in `apis[0]`; did you mean `methods`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("config/plugin.yaml:6:5: apis[0]: missing key `methods`"),
        "{stderr}"
    );
}

#[test]
fn check_names_a_function_the_backend_does_not_export_and_lists_the_exports() {
    let dir = project(
        "service:\n  app_id: demo0001\n  name: demo\n  version: 1.0.0\napis:\n  - type: addition\n    methods: [POST]\n    url: /hello\n    function: helo\n",
    );
    let out = op(
        dir.path(),
        &["check", "--component", op_test_plugins::HELLO],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "config/plugin.yaml:9:15: apis[0].function: the backend does not export the function `helo` (did you mean `hello`?); it exports: hello"
        ),
        "{stderr}"
    );
}

#[test]
fn check_accepts_a_good_plugin_and_prints_its_routes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::copy(
        Path::new(op_test_plugins::HELLO_DIR).join("config/plugin.yaml"),
        dir.path().join("config/plugin.yaml"),
    )
    .unwrap();
    let out = op(
        dir.path(),
        &["check", "--component", op_test_plugins::HELLO],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("config/plugin.yaml: ok"), "{stdout}");
    assert!(
        stdout.contains("/project/api/project/hello  ->  hello"),
        "{stdout}"
    );
    assert!(
        dir.path().join(".op/cache").is_dir(),
        "the compile cache lives in .op/"
    );
}

/// A manifest in the shapes real ONES plugins use: service.policy, config
/// left null, `mode` beside `scope`, `language: nodejs`, nested modules,
/// abilities with mappings, events, lower-case methods, a key op does not
/// know.
const WILD_MANIFEST: &str = "# yaml-language-server: $schema=https://example.com/plugin.schema.json
service:
  app_id: wild0001
  name: wild
  version: 1.2.0
  mode: team
  scope: 1
  language: nodejs
  logo: null
  auth: null
  config: null
  policy: {policy: standard, target: [team]}
  marketplace_category: tools
apis:
  - type: addition
    methods: [get]
    url: /wild
    function: echo
events:
  - eventType: task.created
    function: snoop
abilities:
  - id: menu
    templateName: menu
    abilityType: SidebarMenu
    relateModule: {systemMenu: wild-menu}
modules:
  - id: wild-menu
    enableMemoryRouter: true
    modules: [{id: inner, entry: modules/inner/index.html}]

";

#[test]
fn check_accepts_a_manifest_as_real_plugins_write_it_and_says_what_it_keeps() {
    let dir = project(WILD_MANIFEST);
    let out = op(
        dir.path(),
        &["check", "--component", op_test_plugins::PROBE],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("config/plugin.yaml: ok"), "{stdout}");
    assert!(
        stdout.contains("GET          /project/api/project/wild  ->  echo"),
        "the lower-case method is a GET route: {stdout}"
    );
    for said in [
        "config/plugin.yaml:13:3: warning: service.marketplace_category: unknown key `marketplace_category` in `service`, ignored by op",
        "config/plugin.yaml:12:3: note: service.policy: the installation policy: kept, not acted on by op",
        "config/plugin.yaml:19:1: note: events: op does not deliver ONES events: the 1 handler(s) (snoop) are checked to be exported",
        "config/plugin.yaml:22:1: note: abilities: 1 SidebarMenu kept as written",
        "config/plugin.yaml:27:1: note: modules: front-end modules (1 entry): kept, not acted on by op",
    ] {
        assert!(stderr.contains(said), "missing `{said}` in:\n{stderr}");
    }
    assert_eq!(
        stderr.matches("note: events:").count(),
        1,
        "said once: {stderr}"
    );

    // An event handler the backend does not export is an error at its line.
    let dir = project(&WILD_MANIFEST.replace("function: snoop", "function: snop"));
    let out = op(
        dir.path(),
        &["check", "--component", op_test_plugins::PROBE],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config/plugin.yaml:21:15: events[0].function: the backend does not export the function `snop` (did you mean `snoop`?)"),
        "{stderr}"
    );

    // `mode` and `scope` that disagree name both lines; a typo where op acts
    // is still an error with a suggestion.
    let dir = project(
        &WILD_MANIFEST
            .replace("mode: team", "mode: org")
            .replace("function: echo", "fucntion: echo"),
    );
    let out = op(
        dir.path(),
        &["check", "--component", op_test_plugins::PROBE],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "config/plugin.yaml:6:9: service.mode: `mode: org` contradicts `scope: 1` (line 7)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("config/plugin.yaml:18:5: apis[0].fucntion: unknown key `fucntion` in `apis[0]`; did you mean `function`?"),
        "{stderr}"
    );
}

#[test]
fn compiler_errors_are_passed_through_and_fail_the_command() {
    let dir = project("service:\n  app_id: broken01\n  name: broken\n  version: 1.0.0\n");
    let backend = dir.path().join("backend");
    std::fs::create_dir_all(backend.join("src")).unwrap();
    std::fs::write(
        backend.join("Cargo.toml"),
        "[package]\nname = \"broken-backend\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(backend.join("src/lib.rs"), "pub fn broken( {\n").unwrap();
    let out = op(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: "),
        "the compiler's error is shown: {stderr}"
    );
    assert!(stderr.contains("src/lib.rs"), "{stderr}");
    assert!(stderr.contains("the backend did not build"), "{stderr}");
}

#[test]
fn a_missing_wasm_target_names_the_rustup_command() {
    let dir = project("service:\n  app_id: demo0001\n  name: demo\n  version: 1.0.0\n");
    std::fs::create_dir_all(dir.path().join("backend")).unwrap();
    std::fs::write(
        dir.path().join("backend/Cargo.toml"),
        "[package]\nname = \"x\"\n",
    )
    .unwrap();
    // A rustc whose sysroot has no wasm32-wasip2 standard library.
    let bin = dir.path().join("fake-bin");
    let sysroot = dir.path().join("fake-sysroot");
    std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu")).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let rustc = bin.join("rustc");
    std::fs::write(&rustc, format!("#!/bin/sh\necho {}\n", sysroot.display())).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&rustc)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(OP)
        .current_dir(dir.path())
        .arg("check")
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the Rust target wasm32-wasip2 is not installed; install it with `rustup target add wasm32-wasip2`"),
        "{stderr}"
    );
}

/// A copy of the plugin project `example` in `under` (its manifest, and its
/// backend linked), so that the `.op/` state of a run stays out of the tree.
fn copy_of(example: &str, under: &Path) -> PathBuf {
    let example = Path::new(example);
    let project = under.join(example.file_name().unwrap());
    std::fs::create_dir_all(project.join("config")).unwrap();
    std::fs::copy(
        example.join("config/plugin.yaml"),
        project.join("config/plugin.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(example.join("backend"), project.join("backend")).unwrap();
    project
}

/// `op ARGS PROJECT` with no ONES configured from the environment (so the
/// simulator starts), building into the guests' target directory.
fn offline_op(project: &Path, args: &[&str]) -> Command {
    let mut command = op_without_ones();
    command.args(args).arg(project);
    command
}

/// Starts `command` (an `op invoke run`) and reads its stdout until it
/// serves; returns the process, its origin and what it printed.
fn start_serving(command: &mut Command) -> (Running, String, String) {
    let mut running = Running(
        command
            .stdout(Stdio::piped())
            .spawn()
            .expect("start op invoke run"),
    );
    let stdout = running.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    let origin = loop {
        let line = lines.next().expect("op exited before serving").unwrap();
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("serving on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (running, origin, printed.join("\n"))
}

#[test]
fn invoke_run_builds_serves_the_hello_route_and_stops_on_ctrl_c() {
    let (mut running, origin, table) = start_serving(
        Command::new(OP)
            .args(["invoke", "run", op_test_plugins::HELLO_DIR, "--port", "0"])
            .env("CARGO_TARGET_DIR", guest_target_dir())
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped()),
    );
    assert!(
        table.contains(&format!(
            "POST         {origin}/project/api/project/hello  ->  hello"
        )),
        "{table}"
    );

    let answer = curl(&[
        "-s",
        "-X",
        "POST",
        &format!("{origin}/project/api/project/hello"),
        "-d",
        r#"{"x":1}"#,
    ]);
    assert_eq!(answer, r#"{"requestBody":{"x":1},"res":"hello world"}"#);
    let missing = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{origin}/project/api/project/nope"),
    ]);
    assert_eq!(missing, "404");

    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = running.0.wait().unwrap();
    assert!(status.success(), "op exited with {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(running.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("POST /project/api/project/hello -> hellowrd::hello 200 in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("GET /project/api/project/nope 404 in"),
        "{stderr}"
    );
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(args)
        .output()
        .expect("curl is installed");
    text(&out.stdout)
}

#[test]
fn invoke_run_serves_a_manifest_in_the_shapes_ones_accepts() {
    let state = tempfile::tempdir().unwrap();
    let project = copy_of(op_test_plugins::HELLO_DIR, state.path());
    let manifest = "service:
  app_id: hellowrd
  name: hello
  version: 1.0.0
  mode: team
  language: nodejs
  config: null
  policy: {policy: simple, target: null}
apis:
  - type: addition
    methods: [post]
    url: /hello
    function: hello
events:
  - eventType: task.created
    function: hello
modules:
  - id: m
    modules: [{id: inner}]
";
    std::fs::write(project.join("config/plugin.yaml"), manifest).unwrap();
    let mut command = offline_op(&project, &["invoke", "run", "--port", "0", "--no-watch"]);
    command.env("RUST_LOG", "warn").stderr(Stdio::piped());
    let (mut running, origin, printed) = start_serving(&mut command);
    assert!(
        printed.contains(&format!(
            "POST         {origin}/project/api/project/hello  ->  hello"
        )),
        "{printed}"
    );
    let answer = curl(&[
        "-s",
        "-X",
        "POST",
        &format!("{origin}/project/api/project/hello"),
        "-d",
        r#"{"x":1}"#,
    ]);
    assert_eq!(answer, r#"{"requestBody":{"x":1},"res":"hello world"}"#);
    let pid = running.0.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    running.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(running.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        stderr
            .matches("note: events: op does not deliver ONES events")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("note: service.policy"), "{stderr}");
}

#[test]
fn invoke_run_without_ones_starts_the_simulator_and_its_curl_works() {
    let state = tempfile::tempdir().unwrap();
    let project = copy_of(op_test_plugins::ONES_API_DIR, state.path());
    let mut command = offline_op(&project, &["invoke", "run", "--port", "0"]);
    command.env("RUST_LOG", "warn").stderr(Stdio::null());
    let (_running, origin, printed) = start_serving(&mut command);
    assert!(
        printed.contains("ONES simulator on http://127.0.0.1:"),
        "{printed}"
    );
    let curl_line = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("curl "))
        .unwrap_or_else(|| panic!("no curl printed:\n{printed}"));
    assert!(
        curl_line.ends_with(&format!("{origin}/project/api/project/me")),
        "{curl_line}"
    );
    // Run the printed curl as a user would paste it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("curl -s {curl_line}"))
        .output()
        .unwrap();
    let me: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stdout)));
    assert_eq!(me["name"], "Alice");
    // The same user lists the team's projects through the external route.
    let user_id = me["uuid"].as_str().unwrap();
    let token = curl_line
        .split("Ones-Auth-Token: ")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let team = printed
        .split("team ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let projects = curl(&[
        "-s",
        "-X",
        "POST",
        "-H",
        &format!("Ones-User-Id: {user_id}"),
        "-H",
        &format!("Ones-Auth-Token: {token}"),
        &format!("{origin}/project/api/project/team/{team}/projects"),
    ]);
    let projects: serde_json::Value =
        serde_json::from_str(&projects).unwrap_or_else(|_| panic!("{projects}"));
    assert_eq!(projects["items"][0]["name"], "Apollo", "{projects}");
    let admin = curl(&[
        "-s",
        "-H",
        &format!("Ones-User-Id: {user_id}"),
        "-H",
        &format!("Ones-Auth-Token: {token}"),
        &format!("{origin}/project/api/project/admin/me"),
    ]);
    assert!(admin.contains("(plugin super-admin)"), "{admin}");
    assert!(project.join(".op/simulator.json").is_file());
    assert!(project.join(".op/instance-id").is_file());
}

#[test]
fn lifecycle_hooks_run_at_start_and_stop_and_invoke_clear_uninstalls() {
    let state = tempfile::tempdir().unwrap();
    let project = copy_of(op_test_plugins::PROBE_DIR, state.path());
    let run = |args: &[&str]| {
        let mut command = offline_op(&project, args);
        command.env("RUST_LOG", "info");
        command
    };
    let lifecycle_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter_map(|l| l.split("lifecycle: ").nth(1))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    };
    for expected in [
        vec!["Install", "Enable", "Start", "Stop"],
        vec!["Start", "Stop"],
    ] {
        let mut command = run(&["invoke", "run", "--port", "0"]);
        let (mut running, _origin, _) = start_serving(command.stderr(Stdio::piped()));
        let pid = running.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(running.0.wait().unwrap().success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(running.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert_eq!(lifecycle_lines(&stderr), expected, "{stderr}");
    }
    assert!(project.join(".op/installed").is_file());
    let out = run(&["invoke", "clear"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ran Stop\nran Disable\nran UnInstall\n"),
        "{stdout}"
    );
    assert_eq!(
        lifecycle_lines(&text(&out.stderr)),
        ["Stop", "Disable", "UnInstall"]
    );
    assert!(!project.join(".op").exists(), ".op/ is removed");
    let out = run(&["invoke", "clear"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("is not installed; no hooks to run"));
}

#[test]
fn pack_writes_a_package_that_check_accepts_and_a_damaged_one_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let project = copy_of(op_test_plugins::HELLO_DIR, state.path());
    std::fs::create_dir_all(project.join("workspace")).unwrap();
    std::fs::write(project.join("workspace/greeting.txt"), "hi").unwrap();
    let out = offline_op(&project, &["pack"]).output().unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    let package = project.join("hello-1.0.0.opkg");
    assert!(
        said.contains(&format!(
            "packed hello 1.0.0 (app_id hellowrd) into {}",
            package.display()
        )),
        "{said}"
    );
    assert!(said.contains("1 workspace file(s)"), "{said}");

    let check = offline_op(&package, &["check"]).output().unwrap();
    let said = text(&check.stdout);
    assert!(check.status.success(), "{said}{}", text(&check.stderr));
    assert!(
        said.contains("ok (hello 1.0.0, content hash sha256:"),
        "{said}"
    );
    assert!(
        said.contains("POST         /project/api/project/hello  ->  hello"),
        "{said}"
    );

    // One byte of the component changed, the archive rewritten around it.
    let bytes = std::fs::read(&package).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if entry.path().unwrap().ends_with("plugin.wasm") {
            let last = data.len() - 1;
            data[last] ^= 1;
        }
        let header = entry.header().clone();
        builder.append(&header, data.as_slice()).unwrap();
    }
    let damaged = state.path().join("damaged.opkg");
    std::fs::write(&damaged, builder.into_inner().unwrap().finish().unwrap()).unwrap();
    let check = offline_op(&damaged, &["check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let said = text(&check.stderr);
    assert!(
        said.contains("damaged.opkg is damaged: its content hash is sha256:"),
        "{said}"
    );
}

#[test]
fn serve_refuses_a_bad_configuration_with_every_problem_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.yaml");
    std::fs::write(
        &file,
        "listen: somewhere\nones:\n  url: ones.example.com\nadmin:\n  token: short\n",
    )
    .unwrap();
    let out = Command::new(OP)
        .args(["serve", "--config"])
        .arg(&file)
        .env_remove("OP_ADMIN_TOKEN")
        .env_remove("OP_CREDENTIALS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    let shown = file.display();
    for line in [
        format!(
            "{shown}:1:1: plugins_dir: missing: the directory that keeps installed plugins and their state"
        ),
        format!(
            "{shown}:1:9: listen: `somewhere` is not an address to listen on (e.g. 0.0.0.0:8080)"
        ),
        format!("{shown}:3:8: ones.url: `ones.example.com` is not an http(s) URL"),
        format!("{shown}:5:3: admin: the admin token is too short: use at least 16 characters"),
    ] {
        assert!(said.contains(&line), "no `{line}` in:\n{said}");
    }
}

#[test]
fn the_sample_serve_configuration_is_valid() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/serve.yaml");
    let config = op::serve::config::load(&sample, |_| None).expect("config/serve.yaml loads");
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.credentials.len(), 2);
    assert!(config.metrics);
}

#[test]
fn serve_logs_json_lines_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.yaml");
    std::fs::write(
        &file,
        "listen: 127.0.0.1:0\nones:\n  url: http://127.0.0.1:9\nplugins_dir: plugins\nadmin:\n  token: a-long-enough-admin-token\nlog:\n  format: json\n",
    )
    .unwrap();
    let mut child = Running(
        Command::new(OP)
            .args(["serve", "--config"])
            .arg(&file)
            .env_remove("RUST_LOG")
            .env_remove("OP_ADMIN_TOKEN")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let event: serde_json::Value = serde_json::from_str(&first).expect("a JSON log line");
    assert_eq!(event["message"], "serving", "{first}");
    let address = event["address"].as_str().unwrap().to_string();
    assert!(
        dir.path().join("plugins/packages").is_dir(),
        "the plugins directory is made"
    );
    let health = curl(&["-s", &format!("http://{address}/healthz")]);
    assert_eq!(health, r#"{"status":"ok"}"#);
    let denied = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{address}/admin/plugins"),
    ]);
    assert_eq!(denied, "401");
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.0.wait().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("the calls in flight are done")),
        "{rest:?}"
    );
}

#[test]
fn completions_are_printed_for_each_shell_and_an_unknown_shell_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef op"),
        ("fish", "complete -c op"),
    ] {
        let out = op(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["serve", "invoke", "pack", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let out = op(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid value 'tcsh'") && err.contains("bash"),
        "{err}"
    );
}

/// The first log line of `op serve` (text format) under `env`.
fn first_serve_line(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.yaml");
    std::fs::write(
        &file,
        "listen: 127.0.0.1:0\nones:\n  url: http://127.0.0.1:9\nplugins_dir: plugins\nadmin:\n  token: a-long-enough-admin-token\nlog:\n  format: text\n",
    )
    .unwrap();
    let mut command = Command::new(OP);
    command
        .args(["serve", "--config"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .env_remove("OP_ADMIN_TOKEN")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = Running(command.spawn().unwrap());
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    lines.next().unwrap().unwrap()
}

#[test]
fn serve_colours_its_text_log_as_the_conventions_say() {
    // Not a terminal: no colour; CLICOLOR_FORCE: colour; NO_COLOR wins.
    let plain = first_serve_line(&[]);
    assert!(
        plain.contains("serving") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let forced = first_serve_line(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("serving") && forced.contains('\x1b'),
        "{forced:?}"
    );
    let refused = first_serve_line(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!refused.contains('\x1b'), "{refused:?}");
}

#[test]
fn schema_prints_the_plugin_yaml_schema_or_the_serve_yaml_one() {
    let dir = tempfile::tempdir().unwrap();
    for (args, file) in [
        (&["schema"][..], "plugin.schema.json"),
        (&["schema", "plugin"][..], "plugin.schema.json"),
        (&["schema", "serve"][..], "serve.schema.json"),
    ] {
        let out = op(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(file);
        assert_eq!(
            text(&out.stdout),
            std::fs::read_to_string(docs).unwrap(),
            "{args:?}"
        );
    }
    let out = op(dir.path(), &["schema", "local"]);
    assert_eq!(out.status.code(), Some(2));
}
