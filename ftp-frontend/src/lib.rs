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
//! - [`session`]: one connection's thread, runtime and libunftp session.
//! - [`gate`]: wharf's layer on the control connection in front of libunftp (line limit,
//!   FTPS, login replies, no library disclosure).
#![forbid(unsafe_code)]

pub mod backend;
mod config;
mod counting;
pub mod gate;
pub mod login;
mod session;

pub use config::{FtpConfig, DEFAULT_MAX_SESSIONS};
pub use wharf_files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_ROWS};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use wharf_files::drain::Transfers;
use wharf_files::{Door, Files, Limits};
use wharf_proto::CoreClient;

use backend::CoreTree;
use login::CoreLogin;

/// After the last upload of a draining server ended, how long its reply gets to reach the
/// control connection before the sessions are closed.
const REPLY_FLUSH: Duration = Duration::from_millis(500);

/// How long the sessions get to close once told to.
const SESSIONS_END: Duration = Duration::from_secs(2);

/// Errors starting the FTP server.
#[derive(Debug)]
pub struct FtpError(pub String);

impl std::fmt::Display for FtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FtpError {}

/// Serve FTP on `listener` until `shutdown`; then take no new connection, refuse new
/// uploads, let those in progress finish and answer (at most `cfg.shutdown_grace`), and close
/// the sessions.
///
/// Each connection gets a thread and runtime of its own with a libunftp session behind wharf's
/// gate ([`session`], [`gate`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    core: CoreClient,
    cfg: FtpConfig,
    metrics: wharf_metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), FtpError> {
    let tls = match &cfg.tls {
        Some((cert, key)) => {
            let mut config = wharf_proto::tls::server_config(cert, key).map_err(FtpError)?;
            // Data connections resume the control connection's session (clients that
            // insist on it, FileZilla among them).
            config.session_storage =
                tokio_rustls::rustls::server::ServerSessionMemoryCache::new(1024);
            Some(Arc::new(config))
        }
        None if cfg.require_tls => {
            return Err(FtpError(
                "FTPS is required but no certificate is configured".into(),
            ))
        }
        None => None,
    };
    let transfers = Transfers::default();
    let files = Files::new(
        core.clone(),
        Door::Ftp,
        cfg.env,
        Limits {
            max_file_bytes: cfg.max_file_bytes,
            max_file_rows: cfg.max_file_rows,
        },
        transfers.clone(),
    );
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let door = Arc::new(session::Door {
        login: CoreLogin::new(core).with_metrics(metrics.clone()),
        tree: CoreTree::new(files, metrics.clone()),
        sessions: counting::Sessions::new(metrics.clone()),
        downloads: counting::Downloads(metrics.clone()),
        metrics,
        tls,
        closing,
        cfg: cfg.clone(),
    });
    // Each session holds a clone while it runs.
    let live = Arc::new(());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, mostly: wait for some to come back.
                tracing::warn!(error = %e, "FTP: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if Arc::strong_count(&live) > cfg.max_sessions {
            door.metrics.ftp_reply(421);
            let _ = stream.try_write(b"421 Too many connections: try again in a minute.\r\n");
            continue;
        }
        let spawned = stream
            .into_std()
            .and_then(|s| session::spawn(s, door.clone(), live.clone()));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "FTP: a connection could not be served");
        }
    }
    drop(listener);
    let (in_progress, ended) = transfers.drain_logged(cfg.shutdown_grace, "FTP").await;
    if ended && in_progress > 0 {
        // The last answer is on its way to the control connection: let it be written before
        // the sessions are closed.
        tokio::time::sleep(REPLY_FLUSH).await;
    }
    let _ = closing_tx.send(true);
    let ended = tokio::time::Instant::now() + SESSIONS_END;
    while Arc::strong_count(&live) > 1 && tokio::time::Instant::now() < ended {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
