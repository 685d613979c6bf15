//! wharf's FTP front-end: partners drop files, and get feedback files.
//!
//! Stateless like the other doors: logins are checked by core, an upload becomes one
//! `IngestBatch` call, and the `feedback/` folder lists the answers core recorded. It holds no
//! rule and no disk: the virtual tree, the file-name rule and the calls to core are the file
//! doors' shared ones (`wharf_files`); what a file holds is judged by core.
//!
//! # Layout
//! - [`login`]: libunftp authenticator backed by core.
//! - [`backend`]: libunftp storage back-end over `wharf_files::Files`.
#![forbid(unsafe_code)]

pub mod backend;
mod counting;
pub mod login;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libunftp::options::{FtpsRequired, Shutdown};
use libunftp::ServerBuilder;
use wharf_files::drain::Transfers;
use wharf_files::{Door, Files, Limits};
use wharf_proto::v1::Environment;
use wharf_proto::CoreClient;

use backend::CoreTree;
use login::{CoreLogin, FtpUser};

/// After the last upload of a draining server ended, how long its reply gets to reach the
/// control connection before the sessions are closed.
const REPLY_FLUSH: Duration = Duration::from_millis(500);

pub use wharf_files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_ROWS};

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
        }
    }
}

/// Errors starting the FTP server.
#[derive(Debug)]
pub struct FtpError(pub String);

impl std::fmt::Display for FtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FtpError {}

/// Serve FTP on `addr` until `shutdown`; then refuse new uploads, let those in progress
/// finish and answer (at most `cfg.shutdown_grace`), and close the sessions.
///
/// libunftp binds its own control listener, so this takes an address, not a listener.
///
/// The sessions run on a single-threaded runtime of their own. libunftp answers `PASV` by
/// binding a random port of the range with `SO_REUSEADDR` and then listening on it; two
/// sessions on two threads can both bind one port before either listens, and the second
/// `listen` then fails and libunftp drops that partner's control connection without a reply.
/// With one thread, bind and listen run with no other session in between (there is no await
/// between them), so a port taken is seen as taken. The calls to core still run on the
/// caller's runtime (the gRPC client's connection lives there); this thread only moves bytes.
pub async fn serve(
    addr: SocketAddr,
    core: CoreClient,
    cfg: FtpConfig,
    metrics: wharf_metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), FtpError> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("wharf-ftp".into())
        .spawn(move || {
            let ended = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(run(addr, core, cfg, metrics, shutdown)),
                Err(e) => Err(FtpError(format!("FTP runtime: {e}"))),
            };
            let _ = done_tx.send(ended);
        })
        .map_err(|e| FtpError(format!("FTP thread: {e}")))?;
    done_rx
        .await
        .unwrap_or_else(|_| Err(FtpError("the FTP server's thread ended".into())))
}

async fn run(
    addr: SocketAddr,
    core: CoreClient,
    cfg: FtpConfig,
    metrics: wharf_metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), FtpError> {
    let login = CoreLogin::new(core.clone()).with_metrics(metrics.clone());
    let transfers = Transfers::default();
    let files = Files::new(
        core,
        Door::Ftp,
        cfg.env,
        Limits {
            max_file_bytes: cfg.max_file_bytes,
            max_file_rows: cfg.max_file_rows,
        },
        transfers.clone(),
    );
    let tree = CoreTree::new(files, metrics.clone());
    let grace = cfg.shutdown_grace;
    let mut builder = ServerBuilder::<CoreTree, FtpUser>::with_user_detail_provider(
        Box::new(move || tree.clone()),
        Arc::new(login.users()),
    )
    .authenticator(Arc::new(login))
    .greeting("wharf FTP: log in with your wharf user")
    .notify_presence(counting::Sessions::new(metrics.clone()))
    .notify_data(counting::Downloads(metrics))
    .passive_ports(cfg.passive_ports.clone())
    .passive_host(match &cfg.passive_host {
        Some(host) => libunftp::options::PassiveHost::from(host.as_str()),
        None => libunftp::options::PassiveHost::FromConnection,
    })
    .idle_session_timeout(cfg.idle_timeout.as_secs())
    .shutdown_indicator(async move {
        shutdown.await;
        let in_progress = transfers.in_progress();
        if in_progress > 0 {
            tracing::info!(
                uploads = in_progress,
                "FTP: letting uploads in progress finish"
            );
        }
        if !transfers.drain(grace).await {
            tracing::warn!(
                uploads = transfers.in_progress(),
                grace_secs = grace.as_secs(),
                "FTP: uploads still running after the grace period; closing them"
            );
        } else if in_progress > 0 {
            // The last answer is on its way to the control connection: let it be written
            // before libunftp closes the connections.
            tokio::time::sleep(REPLY_FLUSH).await;
        }
        Shutdown::new().grace_period(Duration::from_secs(1))
    });
    if let Some((cert, key)) = &cfg.tls {
        builder = builder.ftps(cert.clone(), key.clone());
        if cfg.require_tls {
            builder = builder.ftps_required(FtpsRequired::All, FtpsRequired::All);
        }
    } else if cfg.require_tls {
        return Err(FtpError(
            "FTPS is required but no certificate is configured".into(),
        ));
    }
    let server = builder
        .build()
        .map_err(|e| FtpError(format!("FTP server: {e}")))?;
    server
        .listen(addr.to_string())
        .await
        .map_err(|e| FtpError(format!("FTP server on {addr}: {e}")))
}
