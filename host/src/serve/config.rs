//! `op serve --config FILE`: the host configuration (YAML), checked as a
//! whole: every problem is reported with its `LINE:COL`, then op exits 1.
//! A documented sample is `config/serve.yaml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::credentials::CredentialStore;
use crate::gateway::listener::ServeOptions;
use crate::gateway::{GatewayLimits, TrustedProxies};
use crate::manifest::{self, Diagnostic, Located, ManifestError, Pos};
use crate::runtime::RuntimeConfig;

/// The environment variable that may hold the admin token.
pub const ADMIN_TOKEN_ENV: &str = "OP_ADMIN_TOKEN";
/// The environment variable that may hold the credentials (YAML).
pub const CREDENTIALS_ENV: &str = "OP_CREDENTIALS";
/// The environment variable that may name the store (a PostgreSQL URL); it
/// wins over `store:` in the file.
pub const STORE_URL_ENV: &str = "OP_STORE_URL";

/// The host configuration of `op serve` (serve.yaml); documented key by
/// key in config/serve.yaml.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ServeFile {
    /// Where to listen, ADDRESS:PORT (default 127.0.0.1:8080).
    #[serde(default)]
    listen: Option<Located<String>>,
    /// Required: the ONES server behind op.
    #[serde(default)]
    ones: Option<Located<OnesSection>>,
    /// Required: the folder of installed plugins, their workspaces and
    /// compiled components (relative to this file).
    #[serde(default)]
    plugins_dir: Option<Located<String>>,
    /// Where the state is kept: `directory` (the default) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`; OP_STORE_URL wins.
    #[serde(default)]
    store: Option<Located<String>>,
    /// The plugins' super-admins.
    #[serde(default)]
    credentials: Option<Located<CredentialsSection>>,
    /// Required: the admin API's token, and where it listens.
    #[serde(default)]
    admin: Option<Located<AdminSection>>,
    /// Caps over what any plugin's `sandbox` section may ask for.
    #[serde(default)]
    limits: Option<LimitsSection>,
    /// Log format and filter.
    #[serde(default)]
    log: Option<LogSection>,
    /// Whether GET /metrics is served (default true).
    #[serde(default)]
    metrics: Option<bool>,
    /// Addresses and CIDR blocks of the proxies whose forwarding headers
    /// are believed (default: none).
    #[serde(default)]
    trusted_proxies: Option<Vec<Located<String>>>,
    /// Bounds on client connections.
    #[serde(default)]
    connections: Option<ConnectionsSection>,
}

/// Bounds on client connections (each listener).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ConnectionsSection {
    /// Most connections open at once (default: from the descriptor limit).
    #[serde(default)]
    max: Option<Located<u64>>,
    /// Longest wait for a request head, in ms (default 10000).
    #[serde(default)]
    header_read_timeout_ms: Option<Located<u64>>,
    /// Longest pause while a request body is read, in ms (default 10000).
    #[serde(default)]
    body_read_timeout_ms: Option<Located<u64>>,
    /// Longest a client may take nothing of its answer, in ms (default 30000).
    #[serde(default)]
    write_timeout_ms: Option<Located<u64>>,
    /// How long an idle keep-alive connection stays open, in ms (default 30000).
    #[serde(default)]
    idle_timeout_ms: Option<Located<u64>>,
}

/// The ONES server behind op.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct OnesSection {
    /// Its base URL (http or https).
    url: Located<String>,
    /// The organization plugins are installed in.
    #[serde(default)]
    organization_uuid: Option<String>,
    /// Longest wait for ONES's answer headers, in ms (default 30000).
    #[serde(default)]
    timeout_ms: Option<Located<u64>>,
}

/// Where the super-admins are.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct CredentialsSection {
    /// A YAML file of `super_admins` entries; OP_CREDENTIALS wins.
    #[serde(default)]
    file: Option<Located<String>>,
}

/// The admin API.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct AdminSection {
    /// The bearer token (16 characters or more); OP_ADMIN_TOKEN wins.
    #[serde(default)]
    token: Option<Located<String>>,
    /// A file that holds the token.
    #[serde(default)]
    token_file: Option<Located<String>>,
    /// A listener of its own (a bare port is on 127.0.0.1).
    #[serde(default)]
    listen: Option<Located<String>>,
}

/// Caps over what any plugin's `sandbox` section may ask for.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct LimitsSection {
    /// Linear memory per call, in MiB.
    #[serde(default)]
    max_memory_mib: Option<Located<u64>>,
    /// Time per call, in ms.
    #[serde(default)]
    max_time_ms: Option<Located<u64>>,
    /// Plugin instances alive at once, over all plugins.
    #[serde(default)]
    max_instances: Option<Located<u64>>,
    /// Calls of one plugin at once.
    #[serde(default)]
    max_concurrency_per_plugin: Option<Located<u64>>,
    /// How long a call waits for a free slot, in ms.
    #[serde(default)]
    queue_wait_ms: Option<Located<u64>>,
    /// Largest request body handed to a plugin, in KiB.
    #[serde(default)]
    max_request_body_kib: Option<Located<u64>>,
    /// Largest response body a plugin may answer, in KiB.
    #[serde(default)]
    max_response_body_kib: Option<Located<u64>>,
    /// Files of one instance's workspace, in MiB.
    #[serde(default)]
    workspace_quota_mib: Option<Located<u64>>,
}

/// How op logs.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct LogSection {
    /// `text` (default) or `json`.
    #[serde(default)]
    format: Option<LogFormat>,
    /// A filter in RUST_LOG syntax, e.g. `warn,op=info`.
    #[serde(default)]
    level: Option<Located<String>>,
}

/// The JSON Schema of serve.yaml (what `op schema serve` prints and
/// `docs/serve.schema.json` holds).
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(ServeFile);
    schema.insert("title".into(), "op serve.yaml".into());
    schema.to_value()
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The checked configuration of `op serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// ONES's base URL (no trailing `/`).
    pub ones_url: String,
    /// The organization plugins are installed in.
    pub organization_uuid: Option<String>,
    /// How long ONES may take to answer.
    pub upstream_timeout: Duration,
    /// Where installed plugins and their state live (with a database
    /// store: this replica's workspaces and compile cache).
    pub plugins_dir: PathBuf,
    /// The database that keeps the state (`postgres://...`), instead of
    /// `plugins_dir/state.json`.
    pub store_url: Option<String>,
    /// The plugins' super-admins.
    pub credentials: CredentialStore,
    /// The admin API's bearer token.
    pub admin_token: String,
    /// Runtime caps.
    pub runtime: RuntimeConfig,
    /// Request and response limits.
    pub limits: GatewayLimits,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (`RUST_LOG` syntax), when the file sets one.
    pub log_level: Option<String>,
    /// Whether `GET /metrics` is served.
    pub metrics: bool,
    /// The proxies in front of op whose forwarding headers reach ONES.
    pub trusted_proxies: TrustedProxies,
    /// Where the admin API, `/metrics` and the detailed `/readyz` listen
    /// when they are not on `listen` (`admin.listen`; a bare port is on
    /// 127.0.0.1).
    pub admin_listen: Option<SocketAddr>,
    /// Connection bounds (`connections`).
    pub connections: ServeOptions,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems, each with its place.
    #[error(transparent)]
    Invalid(#[from] ManifestError),
}

/// Reads and checks `path`; `env` gives environment variables.
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<ServeConfig, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, &shown, base, env)
}

/// Parses configuration text; relative paths are relative to `base`.
pub fn parse(
    text: &str,
    shown: &str,
    base: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ServeConfig, ConfigError> {
    let file: ServeFile = manifest::parse_yaml(text, shown)?;
    let mut problems = Vec::new();
    let top = Pos { line: 1, column: 1 };
    let mut problem = |pos: Pos, path: &str, message: String| {
        problems.push(Diagnostic {
            pos,
            path: path.to_string(),
            message,
        })
    };
    let listen = match &file.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        Some(listen) => listen.value.parse().unwrap_or_else(|_| {
            problem(
                listen.pos,
                "listen",
                format!(
                    "`{}` is not an address to listen on (e.g. 0.0.0.0:8080)",
                    listen.value
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }),
    };
    let (ones_url, organization_uuid, upstream_timeout) = match &file.ones {
        None => {
            problem(
                top,
                "ones",
                "missing: the ONES server (`ones: {url: https://...}`)".into(),
            );
            (String::new(), None, Duration::from_secs(30))
        }
        Some(ones) => {
            let url = ones.url.value.trim_end_matches('/').to_string();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                problem(
                    ones.url.pos,
                    "ones.url",
                    format!("`{}` is not an http(s) URL", ones.url.value),
                );
            }
            let timeout = match &ones.timeout_ms {
                Some(t) if t.value == 0 => {
                    problem(t.pos, "ones.timeout_ms", "must be more than 0".into());
                    Duration::from_secs(30)
                }
                Some(t) => Duration::from_millis(t.value),
                None => Duration::from_secs(30),
            };
            (url, ones.organization_uuid.clone(), timeout)
        }
    };
    let plugins_dir = match &file.plugins_dir {
        None => {
            problem(
                top,
                "plugins_dir",
                "missing: the directory that keeps installed plugins and their state".into(),
            );
            PathBuf::new()
        }
        Some(dir) if dir.value.trim().is_empty() => {
            problem(dir.pos, "plugins_dir", "cannot be empty".into());
            PathBuf::new()
        }
        Some(dir) => base.join(&dir.value),
    };
    let store_url = match (env(STORE_URL_ENV), &file.store) {
        (Some(url), _) => Some((url, None)),
        (None, Some(store)) => Some((store.value.clone(), Some(store.pos))),
        (None, None) => None,
    };
    let store_url = match store_url {
        None => None,
        Some((url, _)) if url.trim() == "directory" => None,
        Some((url, pos)) => {
            let url = url.trim().to_string();
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                Some(url)
            } else {
                let shown = super::store::postgres::redact(&url);
                problem(
                    pos.unwrap_or(top),
                    if pos.is_some() {
                        "store"
                    } else {
                        STORE_URL_ENV
                    },
                    format!(
                        "`{shown}` is not a store: write `postgres://USER:PASSWORD@HOST:PORT/DATABASE` \
                         (or `directory`, the default: the state stays in plugins_dir)"
                    ),
                );
                None
            }
        }
    };
    let admin_token = {
        let admin = file.admin.as_ref();
        let inline = admin.and_then(|a| a.token.as_ref());
        let from_file = admin.and_then(|a| a.token_file.as_ref());
        let token = match (env(ADMIN_TOKEN_ENV), inline, from_file) {
            (Some(token), _, _) => Some(token),
            (None, Some(_), Some(file)) => {
                problem(
                    file.pos,
                    "admin.token_file",
                    "give `token` or `token_file`, not both".into(),
                );
                None
            }
            (None, Some(token), None) => Some(token.value.clone()),
            (None, None, Some(file)) => match std::fs::read_to_string(base.join(&file.value)) {
                Ok(text) => Some(text.trim().to_string()),
                Err(err) => {
                    problem(
                        file.pos,
                        "admin.token_file",
                        format!("cannot read {}: {err}", file.value),
                    );
                    None
                }
            },
            (None, None, None) => {
                problem(
                    admin.map_or(top, |a| a.pos),
                    "admin",
                    format!(
                        "missing: the admin API's token (`admin.token`, `admin.token_file` or {ADMIN_TOKEN_ENV})"
                    ),
                );
                None
            }
        };
        match token {
            Some(token) if token.len() < 16 => {
                problem(
                    admin.map_or(top, |a| a.pos),
                    "admin",
                    "the admin token is too short: use at least 16 characters".into(),
                );
                String::new()
            }
            Some(token) => token,
            None => String::new(),
        }
    };
    let credentials = {
        let file_entry = file.credentials.as_ref().and_then(|c| c.file.as_ref());
        let loaded = match (env(CREDENTIALS_ENV), file_entry) {
            (Some(text), _) => CredentialStore::parse(&text, CREDENTIALS_ENV),
            (None, Some(path)) => {
                let full = base.join(&path.value);
                match std::fs::read_to_string(&full) {
                    Ok(text) => CredentialStore::parse(&text, &full.display().to_string()),
                    Err(err) => {
                        problem(
                            path.pos,
                            "credentials.file",
                            format!("cannot read {}: {err}", path.value),
                        );
                        Ok(CredentialStore::default())
                    }
                }
            }
            (None, None) => Ok(CredentialStore::default()),
        };
        match loaded {
            Ok(store) => store,
            Err(err) => {
                // Its own file and positions: reported as they are.
                return Err(err.into());
            }
        }
    };
    let mut runtime = RuntimeConfig::default();
    let mut limits = GatewayLimits::default();
    if let Some(section) = &file.limits {
        let mut positive =
            |value: &Option<Located<u64>>, path: &str| positive_value(value, path, &mut problem);
        if let Some(mib) = positive(&section.max_memory_mib, "limits.max_memory_mib") {
            runtime.max_memory = mib * 1024 * 1024;
        }
        if let Some(mib) = positive(&section.workspace_quota_mib, "limits.workspace_quota_mib") {
            runtime.workspace_quota = mib.saturating_mul(1024 * 1024);
        }
        if let Some(ms) = positive(&section.max_time_ms, "limits.max_time_ms") {
            runtime.max_time = Duration::from_millis(ms);
        }
        if let Some(n) = positive(&section.max_instances, "limits.max_instances") {
            runtime.max_instances = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = positive(
            &section.max_concurrency_per_plugin,
            "limits.max_concurrency_per_plugin",
        ) {
            runtime.max_concurrency_per_plugin = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(ms) = positive(&section.queue_wait_ms, "limits.queue_wait_ms") {
            runtime.queue_wait = Duration::from_millis(ms);
        }
        if let Some(kib) = positive(&section.max_request_body_kib, "limits.max_request_body_kib") {
            limits.max_request_body = usize::try_from(kib * 1024).unwrap_or(usize::MAX);
        }
        if let Some(kib) = positive(
            &section.max_response_body_kib,
            "limits.max_response_body_kib",
        ) {
            limits.max_response_body = usize::try_from(kib * 1024).unwrap_or(usize::MAX);
        }
    }
    let mut trusted = Vec::new();
    for (i, entry) in file.trusted_proxies.iter().flatten().enumerate() {
        match TrustedProxies::parse(&[&entry.value]) {
            Ok(_) => trusted.push(entry.value.as_str()),
            Err(err) => problem(entry.pos, &format!("trusted_proxies[{i}]"), err.to_string()),
        }
    }
    let trusted_proxies = TrustedProxies::parse(&trusted).unwrap_or_default();
    let admin_listen = file
        .admin
        .as_ref()
        .and_then(|a| a.listen.as_ref())
        .and_then(|at| {
            let address = match at.value.parse::<u16>() {
                Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
                Err(_) => at.value.parse::<SocketAddr>(),
            };
            match address {
                Ok(address) if address == listen && address.port() != 0 => {
                    problem(
                        at.pos,
                        "admin.listen",
                        format!("`{}` is `listen`: give the admin API its own address, or leave `admin.listen` out", at.value),
                    );
                    None
                }
                Ok(address) => Some(address),
                Err(_) => {
                    problem(
                        at.pos,
                        "admin.listen",
                        format!(
                            "`{}` is not an address to listen on (e.g. 127.0.0.1:9090, or a port: 9090)",
                            at.value
                        ),
                    );
                    None
                }
            }
        });
    let mut connections = ServeOptions::default();
    if let Some(section) = &file.connections {
        let mut positive =
            |value: &Option<Located<u64>>, path: &str| positive_value(value, path, &mut problem);
        if let Some(n) = positive(&section.max, "connections.max") {
            connections.max_connections = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(ms) = positive(
            &section.header_read_timeout_ms,
            "connections.header_read_timeout_ms",
        ) {
            connections.header_read_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = positive(
            &section.body_read_timeout_ms,
            "connections.body_read_timeout_ms",
        ) {
            connections.body_read_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = positive(&section.write_timeout_ms, "connections.write_timeout_ms") {
            connections.write_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = positive(&section.idle_timeout_ms, "connections.idle_timeout_ms") {
            connections.idle_timeout = Duration::from_millis(ms);
        }
    }
    let log = file.log.unwrap_or_default();
    if let Some(level) = &log.level
        && let Err(err) = tracing_subscriber::EnvFilter::try_new(&level.value)
    {
        problem(
            level.pos,
            "log.level",
            format!(
                "`{}` is not a log filter ({err}); e.g. `warn,op=info` (levels: error, warn, info, debug, trace)",
                level.value
            ),
        );
    }
    if !problems.is_empty() {
        problems.sort_by_key(|d| d.pos);
        return Err(ConfigError::Invalid(ManifestError {
            file: shown.to_string(),
            diagnostics: problems,
        }));
    }
    runtime.cache = Some(crate::runtime::CompileCache::new(plugins_dir.join("cache")));
    Ok(ServeConfig {
        listen,
        ones_url,
        organization_uuid,
        upstream_timeout,
        plugins_dir,
        store_url,
        credentials,
        admin_token,
        runtime,
        limits,
        log_format: log.format.unwrap_or_default(),
        log_level: log.level.map(|l| l.value),
        metrics: file.metrics.unwrap_or(true),
        trusted_proxies,
        admin_listen,
        connections,
    })
}

/// A setting that must be more than 0: its value, or `None` with the
/// problem recorded at its place.
fn positive_value(
    value: &Option<Located<u64>>,
    path: &str,
    problem: &mut impl FnMut(Pos, &str, String),
) -> Option<u64> {
    let value = value.as_ref()?;
    if value.value == 0 {
        problem(value.pos, path, "must be more than 0".into());
        return None;
    }
    Some(value.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "listen: 0.0.0.0:9000\nones:\n  url: https://ones.example.com/\nplugins_dir: plugins\nadmin:\n  token: 0123456789abcdef0123\nlimits:\n  max_time_ms: 5000\n  max_request_body_kib: 64\nlog:\n  format: json\nmetrics: false\n";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_good_file_is_read_with_defaults_for_the_rest() {
        let config = parse(GOOD, "serve.yaml", Path::new("/etc/op"), no_env).unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.ones_url, "https://ones.example.com");
        assert_eq!(config.plugins_dir, Path::new("/etc/op/plugins"));
        assert_eq!(config.runtime.max_time, Duration::from_secs(5));
        assert_eq!(config.runtime.max_instances, 1000);
        assert_eq!(config.limits.max_request_body, 64 * 1024);
        assert_eq!(
            config.runtime.workspace_quota,
            crate::imports::wasi::DEFAULT_WORKSPACE_QUOTA
        );
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(!config.metrics);
        let env =
            |name: &str| (name == ADMIN_TOKEN_ENV).then(|| "from-the-environment-1".to_string());
        let config = parse(GOOD, "serve.yaml", Path::new("/etc/op"), env).unwrap();
        assert_eq!(config.admin_token, "from-the-environment-1");
    }

    #[test]
    fn the_store_is_the_directory_or_a_postgres_url_and_the_environment_wins() {
        let config = parse(GOOD, "serve.yaml", Path::new("/etc/op"), no_env).unwrap();
        assert_eq!(config.store_url, None);
        let text = format!("{GOOD}store: directory\n");
        let config = parse(&text, "serve.yaml", Path::new("/etc/op"), no_env).unwrap();
        assert_eq!(config.store_url, None);
        let text = format!("{GOOD}store: postgres://op:pw@db:5432/op\n");
        let config = parse(&text, "serve.yaml", Path::new("/etc/op"), no_env).unwrap();
        assert_eq!(
            config.store_url.as_deref(),
            Some("postgres://op:pw@db:5432/op")
        );
        let env = |name: &str| (name == STORE_URL_ENV).then(|| "postgresql://db2/op".to_string());
        let config = parse(&text, "serve.yaml", Path::new("/etc/op"), env).unwrap();
        assert_eq!(config.store_url.as_deref(), Some("postgresql://db2/op"));

        let text = format!("{GOOD}store: mysql://op:s3cret@db/op\n");
        let err = parse(&text, "serve.yaml", Path::new("/etc/op"), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("serve.yaml:13:8: store: `mysql://op:***@db/op` is not a store"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        let env = |name: &str| (name == STORE_URL_ENV).then(|| "db:5432".to_string());
        let err = parse(GOOD, "serve.yaml", Path::new("/etc/op"), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("OP_STORE_URL: `"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_blocks_with_located_errors() {
        let text = format!("{GOOD}trusted_proxies: [10.0.0.0/8, '::1']\n");
        let config = parse(&text, "serve.yaml", Path::new("/etc/op"), no_env).unwrap();
        assert!(config.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
        assert!(config.trusted_proxies.trusts("::1".parse().unwrap()));
        assert!(!config.trusted_proxies.trusts("11.0.0.1".parse().unwrap()));
        let text = format!("{GOOD}trusted_proxies:\n  - 10.0.0.0/8\n  - proxy.local\n");
        let err = parse(&text, "serve.yaml", Path::new("/etc/op"), no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "serve.yaml:15:5: trusted_proxies[1]: `proxy.local` is not an IP address or a CIDR block (e.g. `10.0.0.0/8`, `::1`)"
        );
    }

    #[test]
    fn a_bad_log_level_admin_address_or_connection_bound_is_located() {
        let base = "ones:\n  url: https://ones.example.com\nplugins_dir: p\n";
        let text = format!(
            "{base}admin:\n  token: 0123456789abcdef0123\n  listen: nowhere\nlog:\n  level: op=loud\nconnections:\n  idle_timeout_ms: 0\n"
        );
        let err = parse(&text, "serve.yaml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            lines[0].starts_with("serve.yaml:6:11: admin.listen: `nowhere` is not an address"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("serve.yaml:8:10: log.level: `op=loud` is not a log filter"),
            "{err}"
        );
        assert_eq!(
            lines[2],
            "serve.yaml:10:20: connections.idle_timeout_ms: must be more than 0"
        );

        let text = format!(
            "{base}admin:\n  token: 0123456789abcdef0123\n  listen: 9090\nlog:\n  level: warn,op=debug\nconnections:\n  max: 50\n  header_read_timeout_ms: 500\n"
        );
        let config = parse(&text, "serve.yaml", Path::new("."), no_env).unwrap();
        assert_eq!(config.admin_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(config.log_level.as_deref(), Some("warn,op=debug"));
        assert_eq!(config.connections.max_connections, Some(50));
        assert_eq!(
            config.connections.header_read_timeout,
            Duration::from_millis(500)
        );
        let config = parse(GOOD, "serve.yaml", Path::new("."), no_env).unwrap();
        assert_eq!(
            config.admin_listen, None,
            "admin shares `listen` unless told"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = "listen: nowhere\nones:\n  url: ftp://x\nadmin:\n  token: short\nlimits:\n  max_time_ms: 0\n  max_instancs: 3\n";
        let err = parse(text, "serve.yaml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "serve.yaml:8:3: limits.max_instancs: unknown key `max_instancs` in `limits`; did you mean `max_instances`?"
        );
        let text = "listen: nowhere\nones:\n  url: ftp://x\nadmin:\n  token: short\nlimits:\n  max_time_ms: 0\n";
        let err = parse(text, "serve.yaml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "serve.yaml:1:1: plugins_dir: missing: the directory that keeps installed plugins and their state\n\
             serve.yaml:1:9: listen: `nowhere` is not an address to listen on (e.g. 0.0.0.0:8080)\n\
             serve.yaml:3:8: ones.url: `ftp://x` is not an http(s) URL\n\
             serve.yaml:5:3: admin: the admin token is too short: use at least 16 characters\n\
             serve.yaml:7:16: limits.max_time_ms: must be more than 0"
        );
    }
}
