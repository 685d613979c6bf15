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

use tokio::net::TcpListener;
use wharf_proto::CoreClient;

pub use server::{SftpConfig, DEFAULT_MAX_SESSIONS_PER_USER};
pub use wharf_files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_ROWS};

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
