//! wharf's admin HTTP API: JSON over HTTP(S) for operators' automation (Terraform-style tools,
//! a platform team's scripts), on a listener of its own (`WHARF_ADMIN_API_ADDR`), served by
//! the processes that run core (`wharf core`, `wharf serve`).
//!
//! It is a door like the others: it translates HTTP into calls of the same `Core` methods
//! the CLI calls, with the operator as the actor (`Origin { actor: "operator:NAME", door:
//! "admin-api", addr: client IP }`), and core's refusals back into 4xx answers. It holds no
//! rule.
//!
//! Every route but the OpenAPI document needs `Authorization: Bearer TOKEN` with an
//! operator's token (`wharf operator add`). Partners' credentials (Basic, their bearer tokens)
//! are no operator's: 401, like a missing, unknown or revoked token.
//!
//! # Layout
//! - [`routes`]: paths → what they name.
//! - [`input`]: query parameters and JSON bodies, read strictly.
//! - [`reply`]: every response, and core's errors as HTTP statuses.
//! - `handlers`: each route's methods (operators, audit); `accounts`: partners, users,
//!   tokens, interfaces and bans.
#![forbid(unsafe_code)]
// A refusal is the reply itself (`Result<T, Reply>`), built once per request and sent as it
// is: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod accounts;
mod handlers;
pub mod input;
pub mod reply;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::Request;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use wharf_core::audit::Origin;
use wharf_core::Core;
use wharf_gateway::body::BodyDeadline;

use input::Operator;
use reply::Reply;
use routes::Route;

/// Largest request body: admin calls are small JSON objects.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Longest a request may take, end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The admin API: core, in this process. Cheap to clone (one per request).
#[derive(Clone)]
pub struct AdminApi {
    core: Core,
    body_limit: usize,
    request_timeout: Duration,
}

impl AdminApi {
    pub fn new(core: Core) -> AdminApi {
        AdminApi {
            core,
            body_limit: BODY_LIMIT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Serve the admin API (HTTPS with `tls`) on an already-bound listener until `shutdown`,
/// through the accept loop every web door of wharf shares; then let requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    api: AdminApi,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    wharf_gateway::serve_http(listener, tls, shutdown, move |req, peer| {
        let api = api.clone();
        async move { api.handle(req, peer).await }
    })
    .await
}

/// The bearer token of `req`, if it sends one (scheme matched without regard to case).
fn bearer(req: &Request<Incoming>) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl AdminApi {
    async fn handle(self, mut req: Request<Incoming>, peer: SocketAddr) -> Reply {
        let started = Instant::now();
        let method = req.method().clone();
        let route = routes::route(req.uri().path());
        let template = route.template();
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        req.extensions_mut().insert(BodyDeadline(deadline));
        let mut who = String::new();
        let work = self.authorized(req, route, peer, &mut who);
        let reply = match tokio::time::timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) => reply::internal(&format!(
                "an admin request took longer than {} s",
                self.request_timeout.as_secs()
            )),
        };
        // The access log: who, what route, how it ended; never a body, a query or a token.
        tracing::info!(
            operator = %who,
            %peer,
            %method,
            route = template,
            status = reply.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "admin API request"
        );
        reply
    }

    /// Authenticate the operator (every route but the OpenAPI document), then dispatch.
    async fn authorized(
        &self,
        req: Request<Incoming>,
        route: Route,
        peer: SocketAddr,
        who: &mut String,
    ) -> Reply {
        if route == Route::OpenApi {
            return handlers::openapi(req.method());
        }
        let Some(token) = bearer(&req) else {
            return reply::unauthorized();
        };
        let operator = match self.core.verify_operator(token).await {
            Ok(op) => op,
            Err(wharf_core::CoreError::Unauthenticated) => return reply::unauthorized(),
            Err(e) => return reply::from_core(&e),
        };
        *who = operator.name.clone();
        let op = Operator {
            origin: Origin {
                actor: format!("operator:{}", operator.name),
                door: "admin-api".into(),
                addr: peer.ip().to_canonical().to_string(),
            },
        };
        handlers::dispatch(&self.core, self.body_limit, req, route, &op).await
    }
}
