//! Running the `op` binary in tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The `op` binary cargo built for these tests.
pub const OP: &str = env!("CARGO_BIN_EXE_op");

/// The ONES settings a test must not inherit from the environment.
pub const ONES_ENV: [&str; 4] = [
    "OP_ONES_URL",
    "OP_TEAM_UUID",
    "OP_SUPER_ADMIN_USER_ID",
    "OP_SUPER_ADMIN_TOKEN",
];

/// A directory under the workspace's `target/`, shared by the runs of the
/// tests so that what is built there stays warm (`guests` is where
/// `op-test-plugins` built the guests).
pub fn target_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name)
}

/// The checkout's JS SDK, its tools installed by `op-test-plugins`.
pub fn js_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk-js")
}

/// `op` with no ONES configured from the environment (so the simulator
/// starts), building Rust plugins into `target/guests` and TypeScript ones
/// with the checkout's JS SDK.
pub fn offline_op() -> Command {
    let mut command = Command::new(OP);
    command.env("CARGO_TARGET_DIR", target_dir("guests"));
    command.env("OP_JS_SDK", js_sdk());
    for var in ONES_ENV {
        command.env_remove(var);
    }
    command
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A child process killed when dropped, so that a failing test leaves no
/// server behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An `op serve` process that logs JSON lines, once it said it serves.
pub struct ServeProcess {
    /// The process, killed when dropped.
    pub child: Killed,
    /// Its public address (`127.0.0.1:PORT`).
    pub address: String,
    /// Where its admin API answers (its own listener, or the public one).
    pub admin: String,
    /// Its log lines after the `serving` one, as they come.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Starts `command` (an `op serve` whose configuration logs JSON) and reads
/// its stderr until it serves; the rest of its log is kept as it comes, so
/// that it never blocks on a full pipe.
pub fn spawn_serve(command: &mut Command) -> ServeProcess {
    let mut child = Killed(
        command
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start op serve"),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let (address, admin) = loop {
        let line = lines
            .next()
            .expect("op serve exited before serving")
            .unwrap();
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "serving" {
            let address = event["address"].as_str().unwrap().to_string();
            let admin = match event["admin"].as_str() {
                Some(a) if a.contains(':') => a.to_string(),
                _ => address.clone(),
            };
            break (address, admin);
        }
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let collected = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    ServeProcess {
        child,
        address,
        admin,
        log,
    }
}
