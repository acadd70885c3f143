//! Running the `op` binary in tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The `op` binary cargo built for these tests.
pub const OP: &str = env!("CARGO_BIN_EXE_op");

/// The ONES settings a test must not inherit from the environment.
const ONES_ENV: [&str; 4] = [
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

/// `op` with no ONES configured from the environment (so the simulator
/// starts), building plugins into `target/guests`.
pub fn offline_op() -> Command {
    let mut command = Command::new(OP);
    command.env("CARGO_TARGET_DIR", target_dir("guests"));
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
