//! What the FTP door counts (its families are `wharf_metrics`'s): logged-in sessions from
//! libunftp's presence events, downloads from its data events, and the reply class of every
//! storage answer wharf decides.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use libunftp::notification::{DataEvent, DataListener, EventMeta, PresenceEvent, PresenceListener};
use unftp_core::storage::ErrorKind;
use wharf_metrics::{Direction, Metrics, Outcome};

/// Sessions logged in now, by libunftp's trace id: a session that ends without having
/// logged in (libunftp reports every end as a log-out) is not counted down.
#[derive(Debug, Clone)]
pub struct Sessions {
    metrics: Metrics,
    live: Arc<Mutex<HashSet<String>>>,
}

impl Sessions {
    pub fn new(metrics: Metrics) -> Sessions {
        Sessions {
            metrics,
            live: Arc::default(),
        }
    }
}

#[async_trait]
impl PresenceListener for Sessions {
    async fn receive_presence_event(&self, e: PresenceEvent, m: EventMeta) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            PresenceEvent::LoggedIn => {
                if live.insert(m.trace_id) {
                    self.metrics.ftp_session_started();
                }
            }
            PresenceEvent::LoggedOut => {
                if live.remove(&m.trace_id) {
                    self.metrics.ftp_session_ended();
                }
            }
        }
    }
}

/// Feedback files fetched (libunftp reports a RETR once its bytes are sent).
#[derive(Debug, Clone)]
pub struct Downloads(pub Metrics);

#[async_trait]
impl DataListener for Downloads {
    async fn receive_data_event(&self, e: DataEvent, _m: EventMeta) {
        if let DataEvent::Got { bytes, .. } = e {
            self.0.ftp_transfer(Direction::download, Outcome::ok, bytes);
            self.0.ftp_reply(226);
        }
    }
}

/// The reply code libunftp sends for a storage error of this kind.
pub fn reply_code(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::TransientFileNotAvailable => 450,
        ErrorKind::LocalError => 451,
        ErrorKind::InsufficientStorageSpaceError => 452,
        ErrorKind::ConnectionClosed => 426,
        ErrorKind::ExceededStorageAllocationError => 552,
        ErrorKind::FileNameNotAllowedError => 553,
        ErrorKind::PageTypeUnknown => 551,
        ErrorKind::CommandNotImplemented => 502,
        _ => 550,
    }
}

/// Count an upload's end: its outcome, bytes and reply class.
pub fn upload(metrics: &Metrics, result: &unftp_core::storage::Result<u64>) {
    match result {
        Ok(bytes) => {
            metrics.ftp_transfer(Direction::upload, Outcome::ok, *bytes);
            metrics.ftp_reply(226);
        }
        Err(e) => {
            let kind = e.kind();
            let outcome = match kind {
                ErrorKind::ExceededStorageAllocationError => {
                    metrics.too_large(wharf_metrics::Door::ftp);
                    Outcome::refused
                }
                ErrorKind::PermissionDenied | ErrorKind::FileNameNotAllowedError => {
                    Outcome::refused
                }
                _ => Outcome::error,
            };
            metrics.ftp_transfer(Direction::upload, outcome, 0);
            metrics.ftp_reply(reply_code(kind));
        }
    }
}
