//! The short run in CI of the fuzz targets' properties (`fuzz/` holds the
//! cargo-fuzz targets for the long runs): a seeded generator builds paths
//! from the pieces attacks are made of (dot-segments and their escapes,
//! backslashes, TAB and LF, repeated slashes, API bases, team segments) and
//! checks, for each, what the libFuzzer targets check. The seed is fixed so
//! that a failure is reproducible; the failing input is printed.

mod common;

use common::properties;

/// Pieces a path is made of.
const PIECES: &[&str] = &[
    "/",
    "//",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2e.",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    "\t",
    "\n",
    "%00",
    "%",
    "%zz",
    "%61",
    ";",
    "a",
    "x",
    "team",
    "T1",
    "T2",
    "project",
    "api",
    "wiki",
    "/project/api/project",
    "/wiki/api/wiki",
    "tasks",
    "add2",
    "~",
    "é",
    "?",
    "#",
];

/// xorshift64*: deterministic and good enough to pick pieces.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A path of 1 to 12 pieces, starting with `/`.
    fn path(&mut self, prefix: &str) -> String {
        let mut path = String::from(prefix);
        let pieces = 1 + self.next() % 12;
        for _ in 0..pieces {
            path.push_str(PIECES[(self.next() % PIECES.len() as u64) as usize]);
        }
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        path
    }
}

const RUNS: usize = 20_000;

#[test]
fn the_gateway_path_form_is_stable_forwardable_and_stays_under_its_base() {
    let mut generator = Generator(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..RUNS {
        let prefix =
            ["", "/project/api/project", "/wiki/api/wiki"][(generator.next() % 3) as usize];
        accepted += usize::from(properties::gateway_path(&generator.path(prefix)));
    }
    assert!(
        accepted > RUNS / 10,
        "only {accepted} paths were normalised"
    );
}

#[test]
fn an_accepted_opfetch_path_stays_under_the_api_base_as_sent_and_as_read() {
    let mut generator = Generator(0x2545_f491_4f6c_dd1d);
    let mut accepted = 0;
    for _ in 0..RUNS {
        let prefix = ["", "/wiki", "/team/T1"][(generator.next() % 3) as usize];
        accepted += usize::from(properties::opfetch_path(&generator.path(prefix)));
    }
    let refused = RUNS - accepted;
    assert!(
        accepted > 100 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
}
