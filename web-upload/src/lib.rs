//! wharf's upload page: business users send `.xlsx` and `.csv` sheets from a browser.
//!
//! Server-rendered pages (askama) on the HTTP loop the web doors share. Stateless: a session
//! is a token core issued (the cookie holds it; core keeps only its hash), CSRF tokens are
//! derived from it, and the history and every result live in core, so any number of replicas
//! can serve one user. The door reads a sheet with `wharf-sheet`, splits it into sequences of
//! one batch and sends them through `IngestBatch`; it renders core's answers. It must not hold
//! a rule: validation, dedupe and codes are core's (SPEC §6 "Upload page").
//!
//! # Layout
//! - `routes`: each request's span and time limit, method and path → page, and the links.
//! - `session`: the session cookie, the login cookie, CSRF tokens, the signed-in user.
//! - `login`: the login form, login and logout.
//! - `upload`: the upload page and a sent sheet; `multipart` reads its form.
//! - `columns`: the mapping step (a sheet's columns → fields, when core could not settle
//!   them all), its file held in core meanwhile.
//! - `schedule`: the form's "apply at" and "revert at" inputs → the batch's schedule.
//! - `send`: a sheet's rows → sequences of one batch → core; gives up on a rejected batch.
//! - `results`: a batch's result page and the CSV of its errors.
//! - `annotated`: the uploaded sheet back with its failing cells marked and noted.
//! - `fix`: the failing rows in an editable grid, each edit checked by core, the corrected
//!   sheet sent as a new batch naming the one it corrects; `sent` loads a batch's sheet.
//! - `report`: a batch's rejections → the error table (spreadsheet row, field, type, value,
//!   how to fix it).
//! - `hints`: every sentence about an error (a type and core's detail → how to fix it; a
//!   summary's code and message in plain words), in one place (its words in the `i18n` catalogue).
//! - `actions`: the execute, revert and cancel buttons.
//! - `history`: the user's own batches.
//! - `workbook`: the template `.xlsx` of an interface, and its download.
//! - `core_error`: a failed call to core → its page (the only place that decides one).
//! - `i18n`: the request's language (English or Simplified Chinese) and the catalogue of
//!   every text the page shows, in both.
//! - `pages`: every page and response this door sends (askama templates in `templates/`).
#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

mod actions;
mod annotated;
mod columns;
mod core_error;
mod fix;
mod hints;
mod history;
#[doc(hidden)]
pub mod i18n;
mod login;
mod multipart;
mod pages;
mod report;
mod results;
mod routes;
mod schedule;
mod send;
mod sent;
mod session;
mod upload;
mod workbook;

use std::future::Future;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use wharf_proto::CoreClient;

/// The largest sheet accepted by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 20 << 20;

/// The upload page's settings.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// What one sheet may hold: `max_bytes` is the largest file accepted (the form fields
    /// around it get a little more); the cell and unpacked-size caps stop zip bombs.
    pub sheet_limits: wharf_sheet::Limits,
    /// Mark cookies `Secure` (served over HTTPS, directly or behind a TLS-terminating proxy).
    pub secure_cookies: bool,
}

impl UploadConfig {
    /// The defaults with a different file size limit.
    pub fn with_max_file_bytes(max_file_bytes: u64) -> UploadConfig {
        let mut cfg = UploadConfig::default();
        cfg.sheet_limits.max_bytes = usize::try_from(max_file_bytes).unwrap_or(usize::MAX);
        cfg
    }

    fn max_file_bytes(&self) -> u64 {
        self.sheet_limits.max_bytes as u64
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            sheet_limits: wharf_sheet::Limits {
                max_bytes: DEFAULT_MAX_FILE_BYTES as usize,
                ..wharf_sheet::Limits::default()
            },
            secure_cookies: false,
        }
    }
}

/// The upload door: a client of core and its settings. Cheap to clone (one per request).
#[derive(Clone)]
pub struct Upload {
    core: CoreClient,
    cfg: UploadConfig,
    metrics: wharf_metrics::Metrics,
}

impl Upload {
    pub fn new(core: CoreClient, cfg: UploadConfig) -> Upload {
        Upload {
            core,
            cfg,
            metrics: wharf_metrics::Metrics::default(),
        }
    }

    /// The same page counting into `metrics` (the process's registry).
    pub fn with_metrics(self, metrics: wharf_metrics::Metrics) -> Upload {
        Upload { metrics, ..self }
    }
}

/// Serve the upload page (HTTPS with `tls`) on an already-bound listener until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    upload: Upload,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    wharf_gateway::serve_http(listener, tls, shutdown, move |req, peer| {
        let up = upload.clone();
        async move { up.handle(req, peer).await }
    })
    .await
}
