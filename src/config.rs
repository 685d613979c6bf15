//! The one typed configuration, read once from the environment before the runtime starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const ENV_HTTP_ADDR: &str = "WHARF_HTTP_ADDR";
pub const ENV_TLS_CERT: &str = "WHARF_TLS_CERT";
pub const ENV_TLS_KEY: &str = "WHARF_TLS_KEY";
pub const ENV_CORE_URL: &str = "WHARF_CORE_URL";
pub const ENV_GRPC_ADDR: &str = "WHARF_GRPC_ADDR";
pub const ENV_GRPC_TLS_CERT: &str = "WHARF_GRPC_TLS_CERT";
pub const ENV_GRPC_TLS_KEY: &str = "WHARF_GRPC_TLS_KEY";
pub const ENV_GRPC_CLIENT_CA: &str = "WHARF_GRPC_CLIENT_CA";
pub const ENV_CORE_CA_FILE: &str = "WHARF_CORE_CA_FILE";
pub const ENV_CORE_CLIENT_CERT: &str = "WHARF_CORE_CLIENT_CERT";
pub const ENV_CORE_CLIENT_KEY: &str = "WHARF_CORE_CLIENT_KEY";
pub const ENV_FTP_ADDR: &str = "WHARF_FTP_ADDR";
pub const ENV_FTP_PASSIVE_PORTS: &str = "WHARF_FTP_PASSIVE_PORTS";
pub const ENV_FTP_PASSIVE_HOST: &str = "WHARF_FTP_PASSIVE_HOST";
pub const ENV_FTP_ENV: &str = "WHARF_FTP_ENV";
pub const ENV_FTP_REQUIRE_TLS: &str = "WHARF_FTP_REQUIRE_TLS";
pub const ENV_FTP_MAX_FILE_BYTES: &str = "WHARF_FTP_MAX_FILE_BYTES";
/// Most data rows one `.csv`/`.xlsx` file over FTP may hold (one batch, all or nothing).
pub const ENV_FTP_MAX_FILE_ROWS: &str = "WHARF_FTP_MAX_FILE_ROWS";
/// Most FTP connections served at once by one process.
pub const ENV_FTP_MAX_SESSIONS: &str = "WHARF_FTP_MAX_SESSIONS";
pub const ENV_SFTP_ADDR: &str = "WHARF_SFTP_ADDR";
pub const ENV_SFTP_ENV: &str = "WHARF_SFTP_ENV";
pub const ENV_SFTP_MAX_FILE_BYTES: &str = "WHARF_SFTP_MAX_FILE_BYTES";
pub const ENV_SFTP_MAX_FILE_ROWS: &str = "WHARF_SFTP_MAX_FILE_ROWS";
pub const ENV_SFTP_MAX_SESSIONS_PER_USER: &str = "WHARF_SFTP_MAX_SESSIONS_PER_USER";
pub const ENV_SFTP_IDLE_TIMEOUT_SECS: &str = "WHARF_SFTP_IDLE_TIMEOUT_SECS";
/// Core: an OpenSSH private key the SFTP doors present instead of the one core keeps.
pub const ENV_SFTP_HOST_KEY_FILE: &str = "WHARF_SFTP_HOST_KEY_FILE";
pub const ENV_DATA_DIR: &str = "WHARF_DATA_DIR";
pub const ENV_DATABASE_URL: &str = "WHARF_DATABASE_URL";
/// libpq's TLS settings beside the URL; each wins over the URL's parameter of that name
/// (`wharf_core::store::pg::tls` reads them and names them in its messages).
pub const ENV_DATABASE_SSLMODE: &str = "WHARF_DATABASE_SSLMODE";
pub const ENV_DATABASE_SSLROOTCERT: &str = "WHARF_DATABASE_SSLROOTCERT";
pub const ENV_DATABASE_SSLCERT: &str = "WHARF_DATABASE_SSLCERT";
pub const ENV_DATABASE_SSLKEY: &str = "WHARF_DATABASE_SSLKEY";
pub const ENV_INTERFACES_DIR: &str = "WHARF_INTERFACES_DIR";
pub const ENV_INTERNAL_TOKEN: &str = "WHARF_INTERNAL_TOKEN";
pub const ENV_MAX_ATTEMPTS: &str = "WHARF_MAX_ATTEMPTS";
pub const ENV_BATCH_EXPIRY_SECS: &str = "WHARF_BATCH_EXPIRY_SECS";
pub const ENV_TOKEN_TTL_SECS: &str = "WHARF_TOKEN_TTL_SECS";
/// The defender (failed logins scored per source address and per name, shared by every door
/// and replica through the store): the score that bans, the window scores count in, the
/// first ban's length and how much longer each repeat ban is.
pub const ENV_DEFENDER_THRESHOLD: &str = "WHARF_DEFENDER_THRESHOLD";
pub const ENV_DEFENDER_OBSERVATION_SECS: &str = "WHARF_DEFENDER_OBSERVATION_SECS";
pub const ENV_DEFENDER_BAN_SECS: &str = "WHARF_DEFENDER_BAN_SECS";
pub const ENV_DEFENDER_BAN_INCREMENT_PERCENT: &str = "WHARF_DEFENDER_BAN_INCREMENT_PERCENT";
pub const ENV_DB_MAX_CONNECTIONS: &str = "WHARF_DB_MAX_CONNECTIONS";
pub const ENV_UPLOAD_ADDR: &str = "WHARF_UPLOAD_ADDR";
pub const ENV_UPLOAD_MAX_FILE_BYTES: &str = "WHARF_UPLOAD_MAX_FILE_BYTES";
pub const ENV_UPLOAD_SECURE_COOKIES: &str = "WHARF_UPLOAD_SECURE_COOKIES";
pub const ENV_SESSION_TTL_SECS: &str = "WHARF_SESSION_TTL_SECS";
pub const ENV_SCHEDULE_MIN_LEAD: &str = "WHARF_SCHEDULE_MIN_LEAD";
pub const ENV_SECRET_KEY: &str = "WHARF_SECRET_KEY";
pub const ENV_PUSH_TIMEOUT_SECS: &str = "WHARF_PUSH_TIMEOUT_SECS";
pub const ENV_PUSH_MAX_ATTEMPTS: &str = "WHARF_PUSH_MAX_ATTEMPTS";
pub const ENV_PUSH_BACKOFF_MS: &str = "WHARF_PUSH_BACKOFF_MS";
pub const ENV_PUSH_CONCURRENCY: &str = "WHARF_PUSH_CONCURRENCY";
pub const ENV_PUSH_PARTNER_CONCURRENCY: &str = "WHARF_PUSH_PARTNER_CONCURRENCY";
pub const ENV_PUSH_CA_FILE: &str = "WHARF_PUSH_CA_FILE";
pub const ENV_ADMIN_ADDR: &str = "WHARF_ADMIN_ADDR";
pub const ENV_ADMIN_API_ADDR: &str = "WHARF_ADMIN_API_ADDR";
pub const ENV_ADMIN_API_TLS_CERT: &str = "WHARF_ADMIN_API_TLS_CERT";
pub const ENV_ADMIN_API_TLS_KEY: &str = "WHARF_ADMIN_API_TLS_KEY";
pub const ENV_SHUTDOWN_GRACE_SECS: &str = "WHARF_SHUTDOWN_GRACE_SECS";
pub const ENV_HTTP_TIMEOUT_SECS: &str = "WHARF_HTTP_TIMEOUT_SECS";
pub const ENV_LOG_FORMAT: &str = "WHARF_LOG_FORMAT";
pub const ENV_TEMP_FILE_MAX_AGE_SECS: &str = "WHARF_TEMP_FILE_MAX_AGE_SECS";
pub const ENV_AUDIT_RETENTION_DAYS: &str = "WHARF_AUDIT_RETENTION_DAYS";
pub const ENV_FEED_RETENTION_DAYS: &str = "WHARF_FEED_RETENTION_DAYS";
/// Not wharf's own (so not in the README's table): who runs an admin command; `wharf batch`
/// acts as `cli:$USER` unless told `--as`.
pub const USER_VAR: &str = "USER";

/// Defaults of SPEC §2.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_FTP_ADDR: &str = "127.0.0.1:2121";
pub const DEFAULT_UPLOAD_ADDR: &str = "127.0.0.1:8081";
pub const DEFAULT_SFTP_ADDR: &str = "127.0.0.1:2222";
pub const DEFAULT_SESSION_TTL_SECS: u64 = 8 * 3600;
pub const DEFAULT_FTP_PASSIVE_PORTS: &str = "50000-50100";
pub const DEFAULT_DATA_DIR: &str = "./wharf-data";
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
pub const DEFAULT_BATCH_EXPIRY_SECS: i64 = 24 * 3600;
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;
pub const DEFAULT_DB_MAX_CONNECTIONS: usize = 16;
/// Every process's health and metrics listener (SPEC §7.3). Not 9090 (Prometheus's own) nor
/// any port of the 9100-9999 exporter range or the usual development ports (3000, 5000,
/// 8000, 8080, 8443, 8888): a wharf next to a Prometheus or a dev server still starts.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:7321";
/// The admin HTTP API of the processes that run core: the port after the admin listener's,
/// on loopback unless told otherwise.
pub const DEFAULT_ADMIN_API_ADDR: &str = "127.0.0.1:7322";
/// Below Kubernetes' default 30 s termination grace, so wharf exits before it is killed.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 25;
/// Most data rows one sheet over FTP may hold by default ([`ENV_FTP_MAX_FILE_ROWS`]).
pub const DEFAULT_FTP_MAX_FILE_ROWS: u64 = wharf_ftp::DEFAULT_MAX_FILE_ROWS;
/// The highest [`ENV_FTP_MAX_FILE_ROWS`] accepted.
pub const MAX_FTP_FILE_ROWS: u64 = 10_000_000;

/// Everything wharf reads from its environment, parsed once.
#[derive(Debug)]
pub struct Config {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// PEM certificate chain and key: the HTTP API serves HTTPS when both are set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where a front-end run alone finds core (`wharf gateway`): `WHARF_CORE_URL`, one URL or
    /// a comma-separated list of core replicas that `wharf_proto::connect_with` balances over,
    /// as its checked items (all `http://` or all `https://`); empty when unset.
    pub core_urls: Vec<String>,
    /// TLS towards core for a front-end run alone: set exactly when `core_urls` are
    /// `https://`.
    pub core_tls: Option<CoreTlsFiles>,
    /// TLS of core's gRPC (`wharf core`); `None`: plain HTTP/2, as under `wharf serve`.
    pub grpc_tls: Option<GrpcTlsFiles>,
    /// Where the FTP server listens.
    pub ftp_addr: SocketAddr,
    /// Where the upload page listens.
    pub upload_addr: SocketAddr,
    /// The largest sheet the upload page takes.
    pub upload_max_file_bytes: u64,
    /// Mark the upload page's cookies `Secure` though it serves plain HTTP (TLS ends at a
    /// proxy in front of it). Always on when it serves HTTPS itself.
    pub upload_secure_cookies: bool,
    /// The FTP door's settings (environment, passive ports, TLS, size limit).
    pub ftp: wharf_ftp::FtpConfig,
    /// Where the SFTP server listens.
    pub sftp_addr: SocketAddr,
    /// The SFTP door's settings (environment, limits, sessions per user, idle timeout).
    pub sftp: wharf_sftp::SftpConfig,
    /// Where core's gRPC listens (loopback only under `serve`).
    pub grpc_addr: SocketAddr,
    /// Plain-HTTP `/healthz`, `/readyz` and (core) `/metrics` of `serve`, `core` and `ftp`.
    pub admin_addr: SocketAddr,
    /// The admin HTTP API of `serve` and `core` (`WHARF_ADMIN_API_ADDR`); `None`: off
    /// (`off`).
    pub admin_api_addr: Option<SocketAddr>,
    /// PEM certificate chain and key: the admin API serves HTTPS when both are set.
    pub admin_api_tls: Option<(PathBuf, PathBuf)>,
    /// How long a stopping process (SIGTERM) lets in-flight requests, sequences and FTP
    /// transfers finish before it closes what is left and exits.
    pub shutdown_grace: std::time::Duration,
    /// The HTTP API's request time limit (SPEC §6: 60 s); a body not in by then gets 408.
    pub http_timeout: std::time::Duration,
    /// Shared secret between front-ends and core; generated per process under `serve`.
    pub internal_token: Option<String>,
    /// What core is built from (`serve`, `core` and the admin commands).
    pub core: CoreConfig,
    /// The outbound dispatcher's tunables (`WHARF_PUSH_*`).
    pub push: wharf_core::outbound::DispatchSettings,
    /// `$USER` (`unknown` when unset): the admin commands' default actor.
    pub user: String,
}

/// A front-end's TLS towards core: PEM files, read at start-up.
#[derive(Debug, Clone)]
pub struct CoreTlsFiles {
    /// `WHARF_CORE_CA_FILE`: the CA core's certificate must chain to.
    pub ca: PathBuf,
    /// `WHARF_CORE_CLIENT_CERT` and `WHARF_CORE_CLIENT_KEY`: this front-end's certificate and
    /// key, shown to a core that asks for one (mutual TLS).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Core's gRPC TLS: PEM files, read at start-up.
#[derive(Debug, Clone)]
pub struct GrpcTlsFiles {
    /// `WHARF_GRPC_TLS_CERT`: core's certificate chain.
    pub cert: PathBuf,
    /// `WHARF_GRPC_TLS_KEY`: its private key.
    pub key: PathBuf,
    /// `WHARF_GRPC_CLIENT_CA`: with it, mutual TLS: front-ends must show a certificate that
    /// chains to this CA.
    pub client_ca: Option<PathBuf>,
}

/// What core is built from: its store, its interfaces, its settings and the secret key. Kept
/// apart so that building core can take it whole (core keeps the key, which has one owner).
#[derive(Debug)]
pub struct CoreConfig {
    /// Holds the SQLite file when no database URL is set.
    pub data_dir: PathBuf,
    /// PostgreSQL when `WHARF_DATABASE_URL` is set: its connection settings and how TLS is
    /// used (`WHARF_DATABASE_SSL*` and the URL's `ssl*` parameters), certificate files read.
    /// Its `Debug` shows hosts and TLS settings only, never the password.
    pub database: Option<wharf_core::store::pg::Database>,
    /// Extra interface definitions.
    pub interfaces_dir: Option<PathBuf>,
    pub max_attempts: u32,
    pub batch_expiry_secs: i64,
    pub token_ttl_secs: u64,
    /// The defender's settings (`WHARF_DEFENDER_*`).
    pub defender: wharf_core::model::DefenderPolicy,
    /// How long an upload page login lasts.
    pub session_ttl_secs: u64,
    /// How long core keeps a file delivered under a temporary name and never renamed.
    pub temp_file_max_age_secs: i64,
    /// Days the audit trail keeps a record (housekeeping prunes older ones).
    pub audit_retention_days: i64,
    /// Days the change feed keeps an event (housekeeping prunes older ones).
    pub feed_retention_days: i64,
    pub db_max_connections: usize,
    /// TEST-ONLY (`WHARF_SCHEDULE_MIN_LEAD`, seconds): when set, the three minimum bounds of
    /// a batch schedule (seed 003: execute at least now plus 2 h, revert at least now plus
    /// 3 h, revert at least 15 min after execute) all become this many seconds, so end-to-end
    /// tests need not wait hours. The maxima (30 d, 60 d) stay. Never set it in production:
    /// partners rely on the seed's windows. Unset (the default): seed 003's bounds.
    pub schedule_min_lead_secs: Option<i64>,
    /// `WHARF_SECRET_KEY` (base64 of 32 bytes), decoded; `None`: outbound push is off. Its
    /// `Debug` never shows the key.
    pub secret_key: Option<wharf_core::secret::SecretKey>,
    /// `WHARF_SFTP_HOST_KEY_FILE`, read and checked; `None`: the host key core keeps in the
    /// store. Its `Debug` never shows the private key.
    pub sftp_host_key: Option<wharf_core::ssh::HostKey>,
}

/// Where configuration values come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| v.to_string())
    }
}

impl Config {
    /// Read and check every key, reporting all bad ones at once.
    pub fn from_source(src: &dyn Source) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let parsed = |key: &str, default: &str| -> String {
            src.get(key).unwrap_or_else(|| default.to_string())
        };
        let data_dir = PathBuf::from(parsed(ENV_DATA_DIR, DEFAULT_DATA_DIR));
        fn num<T: std::str::FromStr>(
            errors: &mut Vec<String>,
            src: &dyn Source,
            key: &str,
            default: T,
            ok: impl Fn(&T) -> bool,
        ) -> T {
            match src.get(key) {
                None => default,
                Some(v) => match v.parse::<T>() {
                    Ok(n) if ok(&n) => n,
                    _ => {
                        errors.push(format!("{key}={v:?} is not a valid value"));
                        default
                    }
                },
            }
        }
        let mut addr = |key: &str, default: &str| -> SocketAddr {
            let text = src.get(key).unwrap_or_else(|| default.to_string());
            text.parse().unwrap_or_else(|_| {
                errors.push(format!("{key}={text:?} is not host:port"));
                ([127, 0, 0, 1], 0).into()
            })
        };
        let grpc_addr = addr(ENV_GRPC_ADDR, DEFAULT_GRPC_ADDR);
        let http_addr = addr(ENV_HTTP_ADDR, DEFAULT_HTTP_ADDR);
        let ftp_addr = addr(ENV_FTP_ADDR, DEFAULT_FTP_ADDR);
        let upload_addr = addr(ENV_UPLOAD_ADDR, DEFAULT_UPLOAD_ADDR);
        let sftp_addr = addr(ENV_SFTP_ADDR, DEFAULT_SFTP_ADDR);
        let admin_addr = addr(ENV_ADMIN_ADDR, DEFAULT_ADMIN_ADDR);
        let admin_api_addr = match src.get(ENV_ADMIN_API_ADDR).as_deref() {
            Some("off") => None,
            _ => Some(addr(ENV_ADMIN_API_ADDR, DEFAULT_ADMIN_API_ADDR)),
        };
        let admin_api_tls = match (
            src.get(ENV_ADMIN_API_TLS_CERT),
            src.get(ENV_ADMIN_API_TLS_KEY),
        ) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => {
                errors.push(format!(
                    "{ENV_ADMIN_API_TLS_CERT} and {ENV_ADMIN_API_TLS_KEY} go together"
                ));
                None
            }
        };
        let tls = match (src.get(ENV_TLS_CERT), src.get(ENV_TLS_KEY)) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => {
                errors.push(format!("{ENV_TLS_CERT} and {ENV_TLS_KEY} go together"));
                None
            }
        };
        let (core_urls, core_tls) = core_urls(src, &mut errors);
        let grpc_tls = grpc_tls(src, &mut errors);
        let tls_env = wharf_core::store::pg::TlsEnv {
            sslmode: src.get(ENV_DATABASE_SSLMODE),
            sslrootcert: src.get(ENV_DATABASE_SSLROOTCERT),
            sslcert: src.get(ENV_DATABASE_SSLCERT),
            sslkey: src.get(ENV_DATABASE_SSLKEY),
        };
        let database = match src.get(ENV_DATABASE_URL) {
            // The URL, its TLS parameters and the variables beside it, the certificate files
            // read: a bad one stops start-up here, named. Messages never carry the password.
            Some(url) => match wharf_core::store::pg::Database::new(&url, &tls_env) {
                Ok(db) => Some(db),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
            None => {
                let set: Vec<&str> = [
                    (ENV_DATABASE_SSLMODE, &tls_env.sslmode),
                    (ENV_DATABASE_SSLROOTCERT, &tls_env.sslrootcert),
                    (ENV_DATABASE_SSLCERT, &tls_env.sslcert),
                    (ENV_DATABASE_SSLKEY, &tls_env.sslkey),
                ]
                .into_iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| k)
                .collect();
                if !set.is_empty() {
                    errors.push(format!(
                        "{} set without {ENV_DATABASE_URL} (they are for PostgreSQL; without \
                         it wharf uses SQLite)",
                        set.join(", ")
                    ));
                }
                None
            }
        };
        let internal_token = src.get(ENV_INTERNAL_TOKEN);
        if internal_token.as_ref().is_some_and(|t| t.len() < 16) {
            errors.push(format!(
                "{ENV_INTERNAL_TOKEN} must be at least 16 characters"
            ));
        }
        let mut ftp = wharf_ftp::FtpConfig {
            max_file_rows: DEFAULT_FTP_MAX_FILE_ROWS,
            ..wharf_ftp::FtpConfig::default()
        };
        let ports = src
            .get(ENV_FTP_PASSIVE_PORTS)
            .unwrap_or_else(|| DEFAULT_FTP_PASSIVE_PORTS.to_string());
        match ports
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)))
        {
            Some((a, b)) if a > 0 && a <= b => ftp.passive_ports = a..=b,
            _ => errors.push(format!(
                "{ENV_FTP_PASSIVE_PORTS}={ports:?} is not a range like 50000-50100"
            )),
        }
        if let Some(host) = src.get(ENV_FTP_PASSIVE_HOST).filter(|h| !h.is_empty()) {
            match passive_host(&host) {
                Ok(()) => ftp.passive_host = Some(host),
                Err(why) => errors.push(format!("{ENV_FTP_PASSIVE_HOST}={host:?} {why}")),
            }
        }
        match src.get(ENV_FTP_ENV).as_deref() {
            None | Some("prod") => {}
            Some("uat") => ftp.env = wharf_proto::v1::Environment::Uat,
            Some(other) => errors.push(format!("{ENV_FTP_ENV}={other:?} must be prod or uat")),
        }
        match src.get(ENV_FTP_REQUIRE_TLS).as_deref() {
            None | Some("false") | Some("0") => {}
            Some("true") | Some("1") => ftp.require_tls = true,
            Some(other) => errors.push(format!(
                "{ENV_FTP_REQUIRE_TLS}={other:?} must be true or false"
            )),
        }
        if let Some(v) = src.get(ENV_FTP_MAX_FILE_BYTES) {
            match v.parse::<u64>() {
                Ok(n) if (1..=1 << 32).contains(&n) => ftp.max_file_bytes = n,
                _ => errors.push(format!(
                    "{ENV_FTP_MAX_FILE_BYTES}={v:?} is not a valid value"
                )),
            }
        }
        if let Some(v) = src.get(ENV_FTP_MAX_FILE_ROWS) {
            match v.parse::<u64>() {
                Ok(n) if (1..=MAX_FTP_FILE_ROWS).contains(&n) => ftp.max_file_rows = n,
                _ => errors.push(format!(
                    "{ENV_FTP_MAX_FILE_ROWS}={v:?} must be a number of rows from 1 to {MAX_FTP_FILE_ROWS}"
                )),
            }
        }
        ftp.max_sessions = num(
            &mut errors,
            src,
            ENV_FTP_MAX_SESSIONS,
            wharf_ftp::DEFAULT_MAX_SESSIONS as u64,
            |n| (1..=100_000).contains(n),
        ) as usize;
        ftp.tls = tls.clone();
        let shutdown_grace = std::time::Duration::from_secs(num(
            &mut errors,
            src,
            ENV_SHUTDOWN_GRACE_SECS,
            DEFAULT_SHUTDOWN_GRACE_SECS,
            |n| (1..=3600).contains(n),
        ));
        ftp.shutdown_grace = shutdown_grace;
        let sftp = sftp_config(src, &mut errors, shutdown_grace);
        let sftp_host_key = src.get(ENV_SFTP_HOST_KEY_FILE).and_then(|path| {
            let read = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|pem| wharf_core::ssh::read_host_key(&pem));
            match read {
                Ok(key) => Some(key),
                Err(why) => {
                    errors.push(format!("{ENV_SFTP_HOST_KEY_FILE}={path:?}: {why}"));
                    None
                }
            }
        });
        let http_timeout = std::time::Duration::from_secs(num(
            &mut errors,
            src,
            ENV_HTTP_TIMEOUT_SECS,
            wharf_gateway::REQUEST_TIMEOUT.as_secs(),
            |n| (1..=3600).contains(n),
        ));
        if ftp.require_tls && ftp.tls.is_none() {
            errors.push(format!(
                "{ENV_FTP_REQUIRE_TLS} needs {ENV_TLS_CERT} and {ENV_TLS_KEY}"
            ));
        }
        let upload_secure_cookies = match src.get(ENV_UPLOAD_SECURE_COOKIES).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                errors.push(format!(
                    "{ENV_UPLOAD_SECURE_COOKIES}={other:?} must be true or false"
                ));
                false
            }
        };
        let schedule_min_lead_secs =
            src.get(ENV_SCHEDULE_MIN_LEAD)
                .and_then(|v| match v.parse::<i64>() {
                    Ok(n) if (0..=7200).contains(&n) => Some(n),
                    _ => {
                        errors.push(format!(
                        "{ENV_SCHEDULE_MIN_LEAD}={v:?} must be seconds from 0 to 7200 (test-only)"
                    ));
                        None
                    }
                });
        let secret_key = src.get(ENV_SECRET_KEY).and_then(|v| {
            match wharf_core::secret::SecretKey::from_base64(&v) {
                Ok(key) => Some(key),
                Err(e) => {
                    // The message names the variable and the rule, never the value.
                    errors.push(e.to_string().trim_start_matches("invalid: ").to_string());
                    None
                }
            }
        });
        let defaults = wharf_core::outbound::DispatchSettings::default();
        let push = wharf_core::outbound::DispatchSettings {
            timeout: std::time::Duration::from_secs(num(
                &mut errors,
                src,
                ENV_PUSH_TIMEOUT_SECS,
                defaults.timeout.as_secs(),
                |n| (1..=600).contains(n),
            )),
            max_attempts: num(
                &mut errors,
                src,
                ENV_PUSH_MAX_ATTEMPTS,
                defaults.max_attempts,
                |n| (1..=1000).contains(n),
            ),
            backoff: std::time::Duration::from_millis(num(
                &mut errors,
                src,
                ENV_PUSH_BACKOFF_MS,
                defaults.backoff.as_millis() as u64,
                |n| (1..=3_600_000).contains(n),
            )),
            concurrency: num(
                &mut errors,
                src,
                ENV_PUSH_CONCURRENCY,
                defaults.concurrency,
                |n| (1..=1024).contains(n),
            ),
            partner_concurrency: num(
                &mut errors,
                src,
                ENV_PUSH_PARTNER_CONCURRENCY,
                defaults.partner_concurrency,
                |n| (1..=1024).contains(n),
            ),
            ca_file: src.get(ENV_PUSH_CA_FILE).map(PathBuf::from),
            ..defaults
        };
        let cfg = Config {
            push,
            ftp_addr,
            sftp_addr,
            sftp,
            upload_addr,
            upload_secure_cookies,
            upload_max_file_bytes: num(
                &mut errors,
                src,
                ENV_UPLOAD_MAX_FILE_BYTES,
                wharf_upload::DEFAULT_MAX_FILE_BYTES,
                |n| (1..=1 << 30).contains(n),
            ),
            ftp,
            http_addr,
            tls,
            core_urls,
            core_tls,
            grpc_tls,
            grpc_addr,
            admin_addr,
            admin_api_addr,
            admin_api_tls,
            shutdown_grace,
            http_timeout,
            internal_token,
            core: CoreConfig {
                data_dir,
                database,
                interfaces_dir: src.get(ENV_INTERFACES_DIR).map(PathBuf::from),
                session_ttl_secs: num(
                    &mut errors,
                    src,
                    ENV_SESSION_TTL_SECS,
                    DEFAULT_SESSION_TTL_SECS,
                    |n| (60..=30 * 86400).contains(n),
                ),
                temp_file_max_age_secs: num(
                    &mut errors,
                    src,
                    ENV_TEMP_FILE_MAX_AGE_SECS,
                    wharf_core::DEFAULT_PART_MAX_AGE_SECS,
                    |n| (1..=30 * 86400).contains(n),
                ),
                audit_retention_days: num(
                    &mut errors,
                    src,
                    ENV_AUDIT_RETENTION_DAYS,
                    wharf_core::service::DEFAULT_AUDIT_RETENTION_SECS / 86_400,
                    |n| (1..=3650).contains(n),
                ),
                feed_retention_days: num(
                    &mut errors,
                    src,
                    ENV_FEED_RETENTION_DAYS,
                    wharf_core::service::DEFAULT_FEED_RETENTION_SECS / 86_400,
                    |n| (1..=3650).contains(n),
                ),
                max_attempts: num(
                    &mut errors,
                    src,
                    ENV_MAX_ATTEMPTS,
                    DEFAULT_MAX_ATTEMPTS,
                    |n| (1..=1000).contains(n),
                ),
                batch_expiry_secs: num(
                    &mut errors,
                    src,
                    ENV_BATCH_EXPIRY_SECS,
                    DEFAULT_BATCH_EXPIRY_SECS,
                    |n| (1..=366 * 86400).contains(n),
                ),
                token_ttl_secs: num(
                    &mut errors,
                    src,
                    ENV_TOKEN_TTL_SECS,
                    DEFAULT_TOKEN_TTL_SECS,
                    |n| (60..=30 * 86400).contains(n),
                ),
                defender: {
                    let d = wharf_core::model::DefenderPolicy::default();
                    wharf_core::model::DefenderPolicy {
                        threshold: num(
                            &mut errors,
                            src,
                            ENV_DEFENDER_THRESHOLD,
                            d.threshold,
                            |n| (1..=10_000).contains(n),
                        ),
                        observation_secs: num(
                            &mut errors,
                            src,
                            ENV_DEFENDER_OBSERVATION_SECS,
                            d.observation_secs,
                            |n| (1..=30 * 86400).contains(n),
                        ),
                        ban_secs: num(&mut errors, src, ENV_DEFENDER_BAN_SECS, d.ban_secs, |n| {
                            (1..=wharf_core::model::DefenderPolicy::MAX_BAN_SECS).contains(n)
                        }),
                        ban_increment_percent: num(
                            &mut errors,
                            src,
                            ENV_DEFENDER_BAN_INCREMENT_PERCENT,
                            d.ban_increment_percent,
                            |n| (0..=1000).contains(n),
                        ),
                    }
                },
                db_max_connections: num(
                    &mut errors,
                    src,
                    ENV_DB_MAX_CONNECTIONS,
                    DEFAULT_DB_MAX_CONNECTIONS,
                    |n| (2..=1000).contains(n),
                ),
                schedule_min_lead_secs,
                secret_key,
                sftp_host_key,
            },
            user: src.get(USER_VAR).unwrap_or_else(|| "unknown".into()),
        };
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }
}

/// `WHARF_CORE_URL` as its checked items (all `http://`, or all `https://` with
/// `WHARF_CORE_CA_FILE`), and the front-end's TLS towards core that goes with them.
fn core_urls(src: &dyn Source, errors: &mut Vec<String>) -> (Vec<String>, Option<CoreTlsFiles>) {
    let ca = src.get(ENV_CORE_CA_FILE).map(PathBuf::from);
    let client = match (src.get(ENV_CORE_CLIENT_CERT), src.get(ENV_CORE_CLIENT_KEY)) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        _ => {
            errors.push(format!(
                "{ENV_CORE_CLIENT_CERT} and {ENV_CORE_CLIENT_KEY} go together"
            ));
            None
        }
    };
    let Some(urls) = src.get(ENV_CORE_URL) else {
        return (Vec::new(), None);
    };
    // One URL, or a comma-separated list of core replicas to balance over.
    let items: Vec<&str> = urls.split(',').map(str::trim).collect();
    let scheme_of = |u: &str| {
        ["http://", "https://"]
            .into_iter()
            .find(|s| u.starts_with(s) && u.len() > s.len())
    };
    if items.iter().any(|u| scheme_of(u).is_none()) {
        errors.push(format!(
            "{ENV_CORE_URL} must be a URL starting with http:// or https://, or a \
             comma-separated list of them (e.g. http://core-a:50051,http://core-b:50051)"
        ));
        return (Vec::new(), None);
    }
    let https = items.iter().filter(|u| u.starts_with("https://")).count();
    let items: Vec<String> = items.into_iter().map(String::from).collect();
    if https == 0 {
        if ca.is_some() || client.is_some() {
            // Refused rather than ignored: whoever set them meant core to be reached over TLS.
            errors.push(format!(
                "{ENV_CORE_URL} is http://, but {ENV_CORE_CA_FILE} / {ENV_CORE_CLIENT_CERT} \
                 are set: use https:// URLs to reach core over TLS, or unset them"
            ));
        }
        return (items, None);
    }
    if https < items.len() {
        errors.push(format!(
            "{ENV_CORE_URL} mixes http:// and https:// URLs: every core is reached alike, all \
             over TLS (https://) or none"
        ));
        return (Vec::new(), None);
    }
    match ca {
        Some(ca) => (items, Some(CoreTlsFiles { ca, client })),
        None => {
            errors.push(format!(
                "{ENV_CORE_URL} is https://: {ENV_CORE_CA_FILE} must name the PEM file of the CA \
                 that signed core's certificate ({ENV_GRPC_TLS_CERT} of `wharf core`)"
            ));
            (Vec::new(), None)
        }
    }
}

/// Core's gRPC TLS: `WHARF_GRPC_TLS_CERT` and `WHARF_GRPC_TLS_KEY` together, and
/// `WHARF_GRPC_CLIENT_CA` only with them.
fn grpc_tls(src: &dyn Source, errors: &mut Vec<String>) -> Option<GrpcTlsFiles> {
    let client_ca = src.get(ENV_GRPC_CLIENT_CA).map(PathBuf::from);
    match (src.get(ENV_GRPC_TLS_CERT), src.get(ENV_GRPC_TLS_KEY)) {
        (Some(cert), Some(key)) => Some(GrpcTlsFiles {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
            client_ca,
        }),
        (None, None) => {
            if client_ca.is_some() {
                errors.push(format!(
                    "{ENV_GRPC_CLIENT_CA} (mutual TLS) needs {ENV_GRPC_TLS_CERT} and \
                     {ENV_GRPC_TLS_KEY}: core's gRPC must serve TLS to ask for client certificates"
                ));
            }
            None
        }
        _ => {
            errors.push(format!(
                "{ENV_GRPC_TLS_CERT} and {ENV_GRPC_TLS_KEY} go together"
            ));
            None
        }
    }
}

/// The address FTP advertises for passive data connections (PASV answers carry an IPv4
/// address): an IPv4 address, or a DNS name resolved when a client asks.
fn passive_host(host: &str) -> Result<(), &'static str> {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => Ok(()),
        Ok(std::net::IpAddr::V6(_)) => {
            Err("must be an IPv4 address or a DNS name (PASV carries IPv4)")
        }
        Err(_) => {
            let label = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            if host.len() <= 253 && host.trim_end_matches('.').split('.').all(label) {
                Ok(())
            } else {
                Err("is neither an IPv4 address nor a DNS name")
            }
        }
    }
}

/// The SFTP door's settings; a bad value is added to `errors`.
fn sftp_config(
    src: &dyn Source,
    errors: &mut Vec<String>,
    shutdown_grace: std::time::Duration,
) -> wharf_sftp::SftpConfig {
    let mut sftp = wharf_sftp::SftpConfig {
        shutdown_grace,
        ..wharf_sftp::SftpConfig::default()
    };
    match src.get(ENV_SFTP_ENV).as_deref() {
        None | Some("prod") => {}
        Some("uat") => sftp.env = wharf_proto::v1::Environment::Uat,
        Some(other) => errors.push(format!("{ENV_SFTP_ENV}={other:?} must be prod or uat")),
    }
    let mut number = |key: &str, low: u64, high: u64| -> Option<u64> {
        let v = src.get(key)?;
        match v.parse::<u64>() {
            Ok(n) if (low..=high).contains(&n) => Some(n),
            _ => {
                errors.push(format!("{key}={v:?} must be a number from {low} to {high}"));
                None
            }
        }
    };
    if let Some(n) = number(ENV_SFTP_MAX_FILE_BYTES, 1, 1 << 32) {
        sftp.max_file_bytes = n;
    }
    if let Some(n) = number(ENV_SFTP_MAX_FILE_ROWS, 1, MAX_FTP_FILE_ROWS) {
        sftp.max_file_rows = n;
    }
    if let Some(n) = number(ENV_SFTP_MAX_SESSIONS_PER_USER, 1, 1000) {
        sftp.max_sessions_per_user = n as usize;
    }
    if let Some(n) = number(ENV_SFTP_IDLE_TIMEOUT_SECS, 1, 86400) {
        sftp.idle_timeout = std::time::Duration::from_secs(n);
    }
    sftp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let cfg = Config::from_source(&HashMap::new()).unwrap();
        assert_eq!(cfg.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
        assert!(cfg.core.database.is_none());
        assert_eq!(cfg.core.max_attempts, 10);
        assert_eq!(
            cfg.core.schedule_min_lead_secs, None,
            "seed 003's windows by default"
        );
        assert_eq!(cfg.admin_addr.to_string(), DEFAULT_ADMIN_ADDR);
        assert_eq!(cfg.shutdown_grace.as_secs(), DEFAULT_SHUTDOWN_GRACE_SECS);
        assert_eq!(
            cfg.ftp.shutdown_grace.as_secs(),
            DEFAULT_SHUTDOWN_GRACE_SECS
        );
    }

    #[test]
    fn admin_address_and_shutdown_grace_are_checked() {
        let env = HashMap::from([
            (ENV_ADMIN_ADDR, "0.0.0.0:9191"),
            (ENV_SHUTDOWN_GRACE_SECS, "5"),
        ]);
        let cfg = Config::from_source(&env).unwrap();
        assert_eq!(cfg.admin_addr.to_string(), "0.0.0.0:9191");
        assert_eq!(cfg.shutdown_grace.as_secs(), 5);
        assert_eq!(cfg.ftp.shutdown_grace.as_secs(), 5);
        for (key, bad) in [
            (ENV_ADMIN_ADDR, "9090"),
            (ENV_SHUTDOWN_GRACE_SECS, "0"),
            (ENV_SHUTDOWN_GRACE_SECS, "soon"),
        ] {
            let errors = Config::from_source(&HashMap::from([(key, bad)])).unwrap_err();
            assert_eq!(errors.len(), 1, "{key}={bad}: {errors:?}");
            assert!(errors[0].starts_with(key), "{errors:?}");
        }
    }

    #[test]
    fn the_passive_host_is_an_ipv4_address_or_a_dns_name() {
        for ok in [
            "203.0.113.7",
            "ftp.example.com",
            "ftp-gw.partners.example.com.",
            "localhost",
        ] {
            let cfg = Config::from_source(&HashMap::from([(ENV_FTP_PASSIVE_HOST, ok)])).unwrap();
            assert_eq!(cfg.ftp.passive_host.as_deref(), Some(ok));
        }
        for bad in [
            "2001:db8::1",
            "ftp example",
            "-bad.example",
            "a..b",
            "host:2121",
        ] {
            let errors =
                Config::from_source(&HashMap::from([(ENV_FTP_PASSIVE_HOST, bad)])).unwrap_err();
            assert!(
                errors[0].starts_with(ENV_FTP_PASSIVE_HOST),
                "{bad}: {errors:?}"
            );
        }
        let cfg = Config::from_source(&HashMap::new()).unwrap();
        assert_eq!(cfg.ftp.passive_host, None);
    }

    #[test]
    fn the_user_is_read_here() {
        let cfg = Config::from_source(&HashMap::from([(USER_VAR, "ana")])).unwrap();
        assert_eq!(cfg.user, "ana");
        assert_eq!(
            Config::from_source(&HashMap::new()).unwrap().user,
            "unknown"
        );
    }

    #[test]
    fn schedule_min_lead_is_seconds() {
        let env = HashMap::from([(ENV_SCHEDULE_MIN_LEAD, "5")]);
        assert_eq!(
            Config::from_source(&env)
                .unwrap()
                .core
                .schedule_min_lead_secs,
            Some(5)
        );
        let env = HashMap::from([(ENV_SCHEDULE_MIN_LEAD, "soon")]);
        assert!(Config::from_source(&env).is_err());
    }

    #[test]
    fn the_secret_key_is_checked_and_never_shown() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let env = HashMap::from([(ENV_SECRET_KEY, key)]);
        let cfg = Config::from_source(&env).unwrap();
        assert!(cfg.core.secret_key.is_some());
        assert!(!format!("{cfg:?}").contains(key));
        let env = HashMap::from([(ENV_SECRET_KEY, "c2hvcnQ=")]);
        let errors = Config::from_source(&env).unwrap_err();
        assert!(errors[0].contains("WHARF_SECRET_KEY"), "{errors:?}");
        assert!(!errors[0].contains("c2hvcnQ="));
    }

    #[test]
    fn the_core_url_is_one_url_or_a_list() {
        for ok in [
            "http://core:50051",
            "http://127.0.0.1:5001,http://127.0.0.1:5002",
            "http://127.0.0.1:5001, http://core-b:50051",
        ] {
            let env = HashMap::from([(ENV_CORE_URL, ok)]);
            let cfg = Config::from_source(&env).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
            assert_eq!(cfg.core_urls.join(","), ok.replace(' ', ""));
        }
        assert!(Config::from_source(&HashMap::new())
            .unwrap()
            .core_urls
            .is_empty());
        for bad in [
            "core:50051",
            "",
            "http://a:1,core-b:2",
            "http://a:1,",
            "http://a:1,,http://b:2",
            "http://",
            "https://",
            "http://127.0.0.1:5001, https://core-b:50051",
        ] {
            let env = HashMap::from([(ENV_CORE_URL, bad), (ENV_CORE_CA_FILE, "/ca.crt")]);
            let errors = Config::from_source(&env).unwrap_err();
            assert!(errors[0].contains(ENV_CORE_URL), "{bad}: {errors:?}");
        }
    }

    #[test]
    fn https_core_urls_need_the_ca_and_are_not_mixed() {
        let env = HashMap::from([
            (ENV_CORE_URL, "https://core-a:50051, https://core-b:50051"),
            (ENV_CORE_CA_FILE, "/etc/wharf/core-tls/ca.crt"),
        ]);
        let cfg = Config::from_source(&env).unwrap();
        assert_eq!(
            cfg.core_urls,
            ["https://core-a:50051", "https://core-b:50051"]
        );
        let tls = cfg.core_tls.expect("TLS towards core");
        assert_eq!(tls.ca, PathBuf::from("/etc/wharf/core-tls/ca.crt"));
        assert!(tls.client.is_none());
        let env = HashMap::from([
            (ENV_CORE_URL, "https://core:50051"),
            (ENV_CORE_CA_FILE, "/ca.crt"),
            (ENV_CORE_CLIENT_CERT, "/gw.crt"),
            (ENV_CORE_CLIENT_KEY, "/gw.key"),
        ]);
        let tls = Config::from_source(&env).unwrap().core_tls.unwrap();
        assert_eq!(
            tls.client,
            Some((PathBuf::from("/gw.crt"), PathBuf::from("/gw.key")))
        );
        // Plain URLs take no TLS settings.
        assert!(
            Config::from_source(&HashMap::from([(ENV_CORE_URL, "http://core:50051")]))
                .unwrap()
                .core_tls
                .is_none()
        );
        for (env, names) in [
            (
                vec![(ENV_CORE_URL, "https://core:50051")],
                vec![ENV_CORE_URL, ENV_CORE_CA_FILE],
            ),
            (
                vec![
                    (ENV_CORE_URL, "https://a:1,http://b:2"),
                    (ENV_CORE_CA_FILE, "/ca.crt"),
                ],
                vec![ENV_CORE_URL, "mixes http:// and https://"],
            ),
            (
                vec![
                    (ENV_CORE_URL, "http://core:50051"),
                    (ENV_CORE_CA_FILE, "/ca.crt"),
                ],
                vec![ENV_CORE_URL, ENV_CORE_CA_FILE],
            ),
            (
                vec![
                    (ENV_CORE_URL, "https://core:50051"),
                    (ENV_CORE_CA_FILE, "/ca.crt"),
                    (ENV_CORE_CLIENT_CERT, "/gw.crt"),
                ],
                vec![ENV_CORE_CLIENT_CERT, ENV_CORE_CLIENT_KEY],
            ),
        ] {
            let errors = Config::from_source(&env.iter().copied().collect::<HashMap<&str, &str>>())
                .unwrap_err();
            assert_eq!(errors.len(), 1, "{env:?}: {errors:?}");
            for name in names {
                assert!(errors[0].contains(name), "{env:?}: {errors:?}");
            }
        }
    }

    #[test]
    fn core_grpc_tls_is_a_certificate_and_key_and_maybe_a_client_ca() {
        assert!(Config::from_source(&HashMap::new())
            .unwrap()
            .grpc_tls
            .is_none());
        let env = HashMap::from([
            (ENV_GRPC_TLS_CERT, "/tls.crt"),
            (ENV_GRPC_TLS_KEY, "/tls.key"),
            (ENV_GRPC_CLIENT_CA, "/ca.crt"),
        ]);
        let tls = Config::from_source(&env).unwrap().grpc_tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/tls.crt"));
        assert_eq!(tls.key, PathBuf::from("/tls.key"));
        assert_eq!(tls.client_ca, Some(PathBuf::from("/ca.crt")));
        for (env, names) in [
            (
                vec![(ENV_GRPC_TLS_CERT, "/tls.crt")],
                [ENV_GRPC_TLS_CERT, ENV_GRPC_TLS_KEY],
            ),
            (
                vec![(ENV_GRPC_CLIENT_CA, "/ca.crt")],
                [ENV_GRPC_CLIENT_CA, ENV_GRPC_TLS_CERT],
            ),
        ] {
            let errors = Config::from_source(&env.iter().copied().collect::<HashMap<&str, &str>>())
                .unwrap_err();
            assert_eq!(errors.len(), 1, "{env:?}: {errors:?}");
            for name in names {
                assert!(errors[0].contains(name), "{env:?}: {errors:?}");
            }
        }
    }

    #[test]
    fn the_database_tls_variables_are_read_beside_the_url() {
        use wharf_core::store::pg::{Origin, Roots, SslMode};
        // The names the core's messages use are these.
        use wharf_core::store::pg::tls;
        assert_eq!(
            [
                tls::ENV_URL,
                tls::ENV_SSLMODE,
                tls::ENV_SSLROOTCERT,
                tls::ENV_SSLCERT,
                tls::ENV_SSLKEY
            ],
            [
                ENV_DATABASE_URL,
                ENV_DATABASE_SSLMODE,
                ENV_DATABASE_SSLROOTCERT,
                ENV_DATABASE_SSLCERT,
                ENV_DATABASE_SSLKEY
            ]
        );
        let db = |env: HashMap<&str, &str>| {
            Config::from_source(&env)
                .unwrap_or_else(|e| panic!("{env:?}: {e:?}"))
                .core
                .database
                .expect("a database")
        };
        // Defaults by host.
        let local = db(HashMap::from([(
            ENV_DATABASE_URL,
            "postgres://u:p@localhost/app",
        )]));
        assert_eq!(
            (local.mode(), local.mode_from()),
            (SslMode::Prefer, Origin::Default)
        );
        let remote = db(HashMap::from([(
            ENV_DATABASE_URL,
            "postgres://u:p@db.example/app",
        )]));
        assert_eq!(
            (remote.mode(), remote.roots()),
            (SslMode::VerifyFull, &Roots::WebPki { system: false })
        );
        // The URL's parameter, and the variable winning over it.
        let url = "postgres://u:p@db.example/app?sslmode=require";
        let from_url = db(HashMap::from([(ENV_DATABASE_URL, url)]));
        assert_eq!(
            (from_url.mode(), from_url.mode_from()),
            (SslMode::Require, Origin::Url)
        );
        let from_env = db(HashMap::from([
            (ENV_DATABASE_URL, url),
            (ENV_DATABASE_SSLMODE, "disable"),
        ]));
        assert_eq!(
            (from_env.mode(), from_env.mode_from()),
            (SslMode::Disable, Origin::Env)
        );
        // Bad values: named, with the other bad keys, and never the password.
        let errors = Config::from_source(&HashMap::from([
            (ENV_DATABASE_URL, "postgres://u:hunter22@db.example/app"),
            (ENV_DATABASE_SSLMODE, "on"),
            (ENV_DATABASE_SSLROOTCERT, "/nonexistent/wharf-ca.pem"),
            (ENV_MAX_ATTEMPTS, "0"),
        ]))
        .unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("WHARF_DATABASE_SSLMODE=\"on\" is not one of")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with(ENV_MAX_ATTEMPTS)),
            "{errors:?}"
        );
        assert!(!format!("{errors:?}").contains("hunter22"));
        let errors = Config::from_source(&HashMap::from([
            (ENV_DATABASE_URL, "postgres://u:hunter22@db.example/app"),
            (ENV_DATABASE_SSLROOTCERT, "/nonexistent/wharf-ca.pem"),
        ]))
        .unwrap_err();
        assert!(
            errors[0].starts_with("WHARF_DATABASE_SSLROOTCERT /nonexistent/wharf-ca.pem: "),
            "{errors:?}"
        );
        let errors =
            Config::from_source(&HashMap::from([(ENV_DATABASE_SSLMODE, "require")])).unwrap_err();
        assert!(
            errors[0].starts_with("WHARF_DATABASE_SSLMODE set without WHARF_DATABASE_URL"),
            "{errors:?}"
        );
        // The configuration's Debug shows where, never the password.
        let cfg = Config::from_source(&HashMap::from([(
            ENV_DATABASE_URL,
            "postgres://u:hunter22@db.example/app",
        )]))
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(
            shown.contains("db.example:5432") && !shown.contains("hunter22"),
            "{shown}"
        );
    }

    #[test]
    fn every_bad_key_is_reported() {
        let env = HashMap::from([
            (ENV_GRPC_ADDR, "nowhere"),
            (ENV_DATABASE_URL, "mysql://x"),
            (ENV_MAX_ATTEMPTS, "0"),
            (ENV_INTERNAL_TOKEN, "short"),
        ]);
        let errors = Config::from_source(&env).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }
}
