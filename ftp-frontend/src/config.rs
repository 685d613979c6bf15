//! How the FTP door runs (from `wharf`'s configuration).

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use wharf_files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_ROWS};
use wharf_proto::v1::Environment;

/// Default for [`FtpConfig::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 500;

/// How the FTP door runs.
#[derive(Debug, Clone)]
pub struct FtpConfig {
    /// The data space this server writes to (one FTP service per environment).
    pub env: Environment,
    /// Passive data ports.
    pub passive_ports: RangeInclusive<u16>,
    /// The address PASV answers advertise (an IPv4 address or a DNS name): the public
    /// address when the server sits behind NAT or a load balancer. None: the address the
    /// client's control connection reached.
    pub passive_host: Option<String>,
    /// PEM certificate and key: FTPS (explicit, AUTH TLS) is offered when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Refuse logins and transfers without TLS (needs `tls`).
    pub require_tls: bool,
    pub max_file_bytes: u64,
    /// Most data rows one `.csv`/`.xlsx` file may hold: over it the file is refused whole.
    pub max_file_rows: u64,
    /// Idle sessions are closed after this.
    pub idle_timeout: Duration,
    /// On shutdown, how long uploads in progress may take to finish.
    pub shutdown_grace: Duration,
    /// Most connections served at once: past it a new one is answered `421` and closed.
    pub max_sessions: usize,
}

impl Default for FtpConfig {
    fn default() -> Self {
        FtpConfig {
            env: Environment::Prod,
            passive_ports: 50000..=50100,
            passive_host: None,
            tls: None,
            require_tls: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_rows: DEFAULT_MAX_FILE_ROWS,
            idle_timeout: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(25),
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}
