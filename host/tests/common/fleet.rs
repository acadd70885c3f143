//! A fleet of `op serve` replicas on the PostgreSQL store, as the
//! serve_postgres tests and the propagation benchmark run it: real `op
//! serve` processes (each with its own plugins_dir) on one throw-away
//! PostgreSQL server, in front of a recording stand-in for ONES.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::binary::{OP, ServeProcess, spawn_serve, target_dir};
use super::postgres::Postgres;
use super::serve::{TEAM, TOKEN, admin_post, package};
use super::upstream;

/// One `op serve` process on the database `store`.
pub struct Replica {
    pub serving: ServeProcess,
    pub origin: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts a replica with a plugins_dir of its own.
    pub fn start(store: &str, ones: &str) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        // One compile cache for these tests' replicas, kept warm under
        // target/ (entries are written whole under unique names, so
        // sharing it is safe).
        let cache = target_dir("op-postgres-cache");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::os::unix::fs::symlink(&cache, dir.path().join("plugins/cache")).unwrap();
        // The super-admins of the ticker and of the timer-sync example, so
        // that their timers' OPFetch calls reach the stand-in for ONES.
        let credentials = dir.path().join("credentials.yaml");
        std::fs::write(
            &credentials,
            "super_admins:\n  - {plugin: ticker001, user_id: TICKADM1, token: tick-token}\n  \
             - {plugin: timersync, user_id: SYNCADM1, token: sync-token}\n",
        )
        .unwrap();
        let config = dir.path().join("serve.yaml");
        // bench/propagation.sh asks for the reload timings.
        let level = std::env::var("OP_PG_TEST_LOG").unwrap_or_else(|_| "warn,op=info".into());
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\nones:\n  url: {ones}\n  organization_uuid: ORG00001\n\
                 plugins_dir: plugins\nstore: {store}\nadmin:\n  token: {TOKEN}\n\
                 credentials:\n  file: {}\n\
                 log:\n  format: json\n  level: {level}\n",
                credentials.display()
            ),
        )
        .unwrap();
        let serving = Self::spawn(&config);
        Replica {
            origin: format!("http://{}", serving.address),
            serving,
            config,
            _dir: dir,
        }
    }

    fn spawn(config: &PathBuf) -> ServeProcess {
        spawn_serve(
            std::process::Command::new(OP)
                .args(["serve", "--config"])
                .arg(config)
                .env_remove("OP_ADMIN_TOKEN")
                .env_remove("OP_STORE_URL"),
        )
    }

    /// `kill -9`, then a start on the same folder and configuration.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// A start on the same folder and configuration (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.serving = Self::spawn(&self.config);
        self.origin = format!("http://{}", self.serving.address);
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.serving.child.0.kill().unwrap();
        self.serving.child.0.wait().unwrap();
    }

    /// Runs another `op serve` on this replica's configuration (and so its
    /// plugins_dir) to its end.
    pub fn start_twin(&self) -> std::process::Output {
        std::process::Command::new(OP)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env_remove("OP_ADMIN_TOKEN")
            .env_remove("OP_STORE_URL")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.serving.child.0.id()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.serving.log.lock().unwrap().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The admin listing: the generation and the instances.
    pub async fn listing(&self, client: &reqwest::Client) -> (u16, Value) {
        let res = client
            .get(self.url("/admin/plugins"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn install(&self, client: &reqwest::Client, package: Vec<u8>) -> (u16, Value) {
        admin_post(
            client,
            self.url(&format!("/admin/plugins?team={TEAM}")),
            package,
        )
        .await
    }
}

/// Starts `n` replicas at once (they migrate one empty database together).
pub fn replicas(n: usize, store: &str, ones: &str) -> Vec<Replica> {
    std::thread::scope(|scope| {
        let started: Vec<_> = (0..n)
            .map(|_| scope.spawn(|| Replica::start(store, ones)))
            .collect();
        started.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// The hello example in `version`, answering on `/hello` and on
/// `/hello-<route>`, so that which version serves can be seen.
pub fn hello(version: &str, route: &str) -> Vec<u8> {
    package(op_test_plugins::HELLO_DIR, op_test_plugins::HELLO, |m| {
        m.replace("version: 1.0.0", &format!("version: {version}"))
            .replace(
                "apis:\n",
                &format!(
                    "apis:\n  - type: addition\n    methods:\n      - POST\n    url: /hello-{route}\n    function: hello\n"
                ),
            )
    })
}

/// Another plugin: the hello example as app_id `app_id`, on `/ROUTE`.
pub fn other(app_id: &str, route: &str) -> Vec<u8> {
    package(op_test_plugins::HELLO_DIR, op_test_plugins::HELLO, |m| {
        m.replace("app_id: hellowrd", &format!("app_id: {app_id}"))
            .replace("url: /hello", &format!("url: /{route}"))
    })
}

pub async fn post(client: &reqwest::Client, url: String) -> (u16, String) {
    match client.post(url).body(r#"{"x":1}"#).send().await {
        Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
        Err(err) => (0, err.to_string()),
    }
}

/// Whether a plugin answered (the stand-in for ONES answers 200 to every
/// path no plugin serves, with what it received).
pub fn from_plugin(status: u16, body: &str) -> bool {
    status == 200 && body.contains("hello world")
}

/// Waits until a plugin answers `POST path` on `replica`; how long it took.
pub async fn until_served(client: &reqwest::Client, replica: &Replica, path: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = post(client, replica.url(path)).await;
        if from_plugin(status, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} is not served on {} after 3 s (last status {status})",
            replica.origin
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A stand-in for ONES, a PostgreSQL server with database `db`, and `n`
/// replicas on it.
pub struct Fleet {
    /// The stand-in for ONES (kept alive with the fleet).
    pub ones: upstream::Upstream,
    /// The database server.
    pub pg: Postgres,
    /// A client for the replicas.
    pub client: reqwest::Client,
    /// The `op serve` processes.
    pub replicas: Vec<Replica>,
}

pub async fn fleet(n: usize, db: &str) -> Fleet {
    let ones = upstream::start().await;
    let pg = Postgres::start();
    let store = pg.database(db);
    let replicas = replicas(n, &store, &ones.origin);
    Fleet {
        ones,
        pg,
        client: super::client(),
        replicas,
    }
}

impl Fleet {
    /// The database, a client, and the replicas.
    pub fn parts(&self) -> (&Postgres, reqwest::Client, &[Replica]) {
        (&self.pg, self.client.clone(), &self.replicas)
    }

    /// The same, with replicas that can be killed and restarted.
    pub fn parts_mut(&mut self) -> (&Postgres, reqwest::Client, &mut [Replica]) {
        (&self.pg, self.client.clone(), &mut self.replicas)
    }
}

/// The generation of an admin listing.
pub fn generation(listing: &Value) -> u64 {
    listing["generation"].as_u64().unwrap()
}
