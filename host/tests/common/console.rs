//! Driving the `op` console in tests as a user does: commands run in a
//! folder, their output lines followed as they come, requests with curl.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::binary::{Killed, offline_op, text};

/// `op ARGS` in `cwd`, offline, with the console as a user sees it (no
/// colour in a pipe).
pub fn op(args: &[&str], cwd: &Path) -> Command {
    let mut command = offline_op();
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    command
}

/// The lines a child writes to one stream, collected as they come.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    pub fn follow(stream: impl Read + Send + 'static) -> Self {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                sink.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    pub fn all(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// Waits until a line after the first `from` lines contains `needle`.
    pub fn wait_for(&self, needle: &str, from: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            {
                let lines = self.0.lock().unwrap();
                if let Some(line) = lines.iter().skip(from).find(|l| l.contains(needle)) {
                    return line.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "no line with `{needle}` in:\n{}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A copy of the plugin project at `source` as `under/name`: its
/// plugin.yaml copied (so that a test may edit it), its backend linked (so
/// that its build is the tests' shared one).
pub fn linked_project(source: &str, under: &Path, name: &str) -> std::path::PathBuf {
    let project = under.join(name);
    let source = Path::new(source);
    std::fs::create_dir_all(project.join("config")).unwrap();
    std::fs::copy(
        source.join("config/plugin.yaml"),
        project.join("config/plugin.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(source.join("backend"), project.join("backend")).unwrap();
    project
}

/// A GET over loopback: (status, body).
pub fn get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--max-time", "10", url])
        .output()
        .expect("curl is installed");
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (status.parse().unwrap_or(0), body.to_string())
}

/// Polls `url` until it answers `want`.
pub fn wait_for_answer(url: &str, want: &str) {
    wait_for(url, want, get)
}

/// Polls `url` with POSTs of `{}` until it answers `want`.
pub fn wait_for_post(url: &str, want: &str) {
    wait_for(url, want, |url| post(url, "{}"))
}

fn wait_for(url: &str, want: &str, ask: impl Fn(&str) -> (u16, String)) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, body) = ask(url);
        if status == 200 && body == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} still answers {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn edit(file: &Path, from: &str, to: &str) {
    let old = std::fs::read_to_string(file).unwrap();
    assert!(old.contains(from), "{} has no `{from}`", file.display());
    std::fs::write(file, old.replace(from, to)).unwrap();
}

/// A POST of `body` over loopback: (status, body).
pub fn post(url: &str, body: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "10",
            "-X",
            "POST",
            "-d",
            body,
            url,
        ])
        .output()
        .expect("curl is installed");
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (status.parse().unwrap_or(0), body.to_string())
}

/// An `op invoke run` serving a project, as a user sees it.
pub struct Serving {
    /// The process, killed when dropped.
    pub server: Killed,
    /// Its stdout and stderr lines, as they come.
    pub stdout: Lines,
    pub stderr: Lines,
    /// `http://127.0.0.1:PORT`, read from its `serving on` line.
    pub origin: String,
}

/// Starts `op invoke run PROJECT --port 0` in `cwd` and waits until it
/// serves.
pub fn serve_project(project: &str, cwd: &Path) -> Serving {
    let mut child = op(&["invoke", "run", project, "--port", "0"], cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = Lines::follow(child.stdout.take().unwrap());
    let stderr = Lines::follow(child.stderr.take().unwrap());
    let server = Killed(child);
    let line = stdout.wait_for("serving on ", 0);
    let origin = line["serving on ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    Serving {
        server,
        stdout,
        stderr,
        origin,
    }
}

/// Requests sent to one URL in a loop on a thread, until stopped: what a
/// user's traffic does while the dev loop swaps versions.
pub struct RequestLoop {
    stop: Arc<std::sync::atomic::AtomicBool>,
    counts: Arc<Mutex<(usize, usize)>>,
    thread: std::thread::JoinHandle<()>,
}

impl RequestLoop {
    /// GETs of `url`.
    pub fn get_loop(url: String) -> Self {
        Self::start(move || get(&url).0)
    }

    /// POSTs of `{}` to `url`.
    pub fn post_loop(url: String) -> Self {
        Self::start(move || post(&url, "{}").0)
    }

    fn start(ask: impl Fn() -> u16 + Send + 'static) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counts = Arc::new(Mutex::new((0, 0)));
        let thread = {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let status = ask();
                    let mut counts = counts.lock().unwrap();
                    counts.0 += 1;
                    if status != 200 {
                        counts.1 += 1;
                    }
                }
            })
        };
        RequestLoop {
            stop,
            counts,
            thread,
        }
    }

    /// Stops the loop; how many requests were sent, and how many did not
    /// answer 200.
    pub fn stop(self) -> (usize, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap();
        *self.counts.lock().unwrap()
    }
}
