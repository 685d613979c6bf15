//! Probes (SPEC §7.3): `/healthz` (the process is up) and `/readyz` (it can serve), on every
//! web door, and the small admin listener (`WHARF_ADMIN_ADDR`) that core and FTP, which have
//! no web door of their own, answer them on, with core's `/metrics`.
//!
//! A front-end is ready when core answers `Ready` with `ready = true` (core reachable, its
//! store reachable and migrated). What readiness means for core itself is core's business
//! (`Core::ready`); the admin listener only asks the probe it was given.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;
use wharf_proto::v1 as pb;
use wharf_proto::CoreClient;

use crate::reply::{self, Reply};

/// Longest a front-end's readiness check waits for core (core bounds its own store check at
/// about 2 s, so a slow store still gets its answer through).
pub const CORE_READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether core is reachable and says it is ready; `Err` is a short reason for the probe's
/// answer (the detail, if any, goes to the log).
pub async fn core_ready(core: &CoreClient) -> Result<(), String> {
    let mut core = core.clone();
    match tokio::time::timeout(CORE_READY_TIMEOUT, core.ready(pb::ReadyRequest {})).await {
        Err(_) => Err(format!(
            "core did not answer within {} s",
            CORE_READY_TIMEOUT.as_secs()
        )),
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), error = %status.message(), "readiness: core unreachable");
            Err("core unreachable".into())
        }
        Ok(Ok(r)) if r.get_ref().ready => Ok(()),
        Ok(Ok(r)) => Err(format!("core not ready: {}", r.into_inner().reason)),
    }
}

/// The HTTP API's `/readyz` answer: `{"status":"ready"}`, or 503 with the reason.
pub fn ready_json(readiness: Result<(), String>) -> Reply {
    let mut r = match readiness {
        Ok(()) => reply::json(StatusCode::OK, &json!({ "status": "ready" })),
        Err(reason) => reply::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "unavailable", "reason": reason }),
        ),
    };
    no_store(&mut r);
    r
}

/// A plain-text answer (the upload page's and the admin listener's probes).
pub fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    no_store(&mut r);
    r
}

/// `/readyz` as text: `ready`, or 503 `not ready: <reason>`.
pub fn ready_text(readiness: Result<(), String>) -> Reply {
    match readiness {
        Ok(()) => text(StatusCode::OK, TEXT, "ready\n"),
        Err(reason) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            format!("not ready: {reason}\n"),
        ),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

fn no_store(r: &mut Reply) {
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type ReadyFn = Arc<dyn Fn() -> BoxFuture<Result<(), String>> + Send + Sync>;
type ScrapeFn = Arc<dyn Fn() -> BoxFuture<(&'static str, String)> + Send + Sync>;

/// What the admin listener answers with: a readiness probe and, on core, a metrics scrape.
#[derive(Clone)]
pub struct Admin {
    ready: ReadyFn,
    /// `None`: this process counts nothing (FTP alone), `/metrics` is 404.
    scrape: Option<ScrapeFn>,
}

impl Admin {
    /// `/readyz` asks `ready`.
    pub fn new<F, Fut>(ready: F) -> Admin
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Admin {
            ready: Arc::new(move || Box::pin(ready())),
            scrape: None,
        }
    }

    /// A front-end's admin listener: ready when core is (FTP alone).
    pub fn for_core_client(core: CoreClient) -> Admin {
        Admin::new(move || {
            let core = core.clone();
            async move { core_ready(&core).await }
        })
    }

    /// `/metrics` answers `scrape()`'s text with its content type.
    pub fn with_metrics<F, Fut>(mut self, scrape: F) -> Admin
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (&'static str, String)> + Send + 'static,
    {
        self.scrape = Some(Arc::new(move || Box::pin(scrape())));
        self
    }

    async fn handle(&self, method: &Method, path: &str) -> Reply {
        let known = matches!(path, "/healthz" | "/readyz" | "/metrics");
        if known && !matches!(*method, Method::GET | Method::HEAD) {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, TEXT, "use GET\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match (path, &self.scrape) {
            ("/healthz", _) => text(StatusCode::OK, TEXT, "ok\n"),
            ("/readyz", _) => ready_text((self.ready)().await),
            ("/metrics", Some(scrape)) => {
                let (content_type, body) = scrape().await;
                text(StatusCode::OK, content_type, body)
            }
            _ => text(StatusCode::NOT_FOUND, TEXT, "not found\n"),
        }
    }
}

/// Serve the admin listener (plain HTTP, GET `/healthz`, `/readyz`, `/metrics`) on an
/// already-bound listener until `shutdown`.
pub async fn serve_admin(listener: TcpListener, admin: Admin, shutdown: impl Future<Output = ()>) {
    crate::serve_http(listener, None, shutdown, move |req, _peer| {
        let admin = admin.clone();
        async move { admin.handle(req.method(), req.uri().path()).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Reply) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn admin_answers_probes_and_metrics_only_when_it_has_them() {
        let down = Admin::new(|| async { Err("store unreachable".to_string()) });
        let r = down.handle(&Method::GET, "/readyz").await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(r).await, "not ready: store unreachable\n");
        let r = down.handle(&Method::GET, "/healthz").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            down.handle(&Method::GET, "/metrics").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            down.handle(&Method::POST, "/readyz").await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let up = Admin::new(|| async { Ok(()) })
            .with_metrics(|| async { ("text/plain; version=0.0.4", "x 1\n".to_string()) });
        assert_eq!(
            up.handle(&Method::GET, "/readyz").await.status(),
            StatusCode::OK
        );
        let r = up.handle(&Method::GET, "/metrics").await;
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain; version=0.0.4");
        assert_eq!(body(r).await, "x 1\n");
    }
}
