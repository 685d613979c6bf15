//! wharf's SFTP front-end: partners deliver files over SSH, and read feedback files.
//!
//! Stateless like the other doors: logins (password or public key) are checked by core, the
//! host key is core's (so every replica presents the same one), and the tree, the file-name
//! rule and every call behind a file operation are the file doors' shared ones
//! (`wharf_files`), so a file gets byte-for-byte the answer it gets over FTP. It keeps no
//! disk: a file written is held in memory (bounded by the size limit) until its handle is
//! closed — the explicit end of the file — and only then handed to core; a connection lost
//! before the close delivers nothing.
//!
//! # Layout
//! - [`server`]: the SSH server (russh): host key, algorithms, logins, sessions per user,
//!   the `sftp` subsystem and nothing else (no shell, exec or forwarding).
//! - [`session`]: the SFTP subsystem (russh-sftp) over `wharf_files::Files`.
#![forbid(unsafe_code)]

pub mod server;
pub mod session;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use wharf_proto::v1::Environment;
use wharf_proto::CoreClient;

pub use wharf_files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_ROWS};

/// How the SFTP door runs.
#[derive(Debug, Clone)]
pub struct SftpConfig {
    /// The data space this server writes to (one SFTP service per environment).
    pub env: Environment,
    pub max_file_bytes: u64,
    /// Most data rows one `.csv`/`.xlsx` file may hold: over it the file is refused whole.
    pub max_file_rows: u64,
    /// SSH connections one user may have open at once.
    pub max_sessions_per_user: usize,
    /// Connections with no traffic for this long are closed.
    pub idle_timeout: Duration,
    /// On shutdown, how long files being written may take to be closed and answered.
    pub shutdown_grace: Duration,
}

/// Default SSH connections per user.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 10;

impl Default for SftpConfig {
    fn default() -> Self {
        SftpConfig {
            env: Environment::Prod,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_rows: DEFAULT_MAX_FILE_ROWS,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            idle_timeout: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// Serve SFTP on `listener` until `shutdown`; then refuse new connections and new uploads,
/// let files being written be closed and answered (at most `cfg.shutdown_grace`), and
/// disconnect the sessions.
pub async fn serve(
    listener: TcpListener,
    core: CoreClient,
    cfg: SftpConfig,
    metrics: wharf_metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::run(listener, core, cfg, metrics, shutdown).await
}
