//! wharf's HTTP API front-end: partners push batches over HTTP(S).
//!
//! Stateless: it authenticates callers through core (HTTP Basic or an OAuth2 bearer token),
//! reads the JSON envelope into `IngestBatch`, and renders core's answer with SPEC §5's HTTP
//! statuses. It must not hold a rule: validation, dedupe and codes are core's.
//!
//! # Layout
//! - [`routes`]: paths and methods → what to do (percent-decoded segments).
//! - [`reply`]: every response this door sends is built there.
//! - `contract`: the partners' OpenAPI document (`GET /openapi.json`), generated from the
//!   interface definitions core loaded.
//! - [`body`]: bodies under a limit, form encoding (shared with the upload page).
//! - [`health`]: `/readyz` (core reachable and ready), and the admin listener of processes
//!   without a web door (core's `/metrics`, FTP's probes).
//! - `handler`: the request flow (auth, body limit, core call).
//! - `read`: reading current records back (partners) and the consumer API's query.
//! - [`tls`]: the rustls acceptor for HTTPS.
#![forbid(unsafe_code)]

pub mod body;
mod contract;
mod handler;
pub mod health;
mod read;
pub mod reply;
pub mod routes;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use wharf_proto::CoreClient;

/// Largest request body (SPEC §6).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Longest a request may take, end to end (SPEC §6).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway: a client of core and its limits. Cheap to clone (one per connection).
#[derive(Clone)]
pub struct Gateway {
    core: CoreClient,
    /// Request body limit in bytes.
    body_limit: usize,
    /// Whole-request time limit.
    request_timeout: Duration,
    /// Where its requests and logins are counted.
    metrics: wharf_metrics::Metrics,
    /// The partners' OpenAPI document last rendered, shared by every connection.
    document: Arc<contract::DocumentCache>,
}

impl Gateway {
    pub fn new(core: CoreClient) -> Gateway {
        Gateway {
            core,
            body_limit: BODY_LIMIT,
            request_timeout: REQUEST_TIMEOUT,
            metrics: wharf_metrics::Metrics::default(),
            document: Arc::default(),
        }
    }

    /// The same gateway counting into `metrics` (the process's registry).
    pub fn with_metrics(self, metrics: wharf_metrics::Metrics) -> Gateway {
        Gateway { metrics, ..self }
    }

    /// The same gateway with another request time limit (`WHARF_HTTP_TIMEOUT_SECS`).
    pub fn with_request_timeout(self, request_timeout: Duration) -> Gateway {
        Gateway {
            request_timeout,
            ..self
        }
    }
}

/// Serve HTTP (or HTTPS with `tls`) on an already-bound listener until `shutdown`; then stop
/// accepting and let in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    serve_http(listener, tls, shutdown, move |req, peer| {
        let gw = gateway.clone();
        async move { gw.handle(req, peer).await }
    })
    .await
}

/// The HTTP(S) accept loop every web door of wharf shares (the API and the upload page):
/// HTTP/1.1 with a header-read timeout, TLS with a handshake timeout, and a graceful drain of
/// in-flight requests on `shutdown` (at most [`REQUEST_TIMEOUT`]).
pub async fn serve_http<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = reply::Reply> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Answers are small and latency matters: do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let answer = handler(req, peer);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024);
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls_stream)) => {
                            let conn = builder.serve_connection(TokioIo::new(tls_stream), svc);
                            watcher.watch(conn).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(REQUEST_TIMEOUT) => {
            tracing::warn!("HTTP connections still open after the request timeout; closing them");
        }
    }
}

/// Where a request came from, for the access log.
pub(crate) type Peer = SocketAddr;
