//! One request's flow: route, authenticate through core, read the body under its limit, call
//! core, reply. Everything is bounded by the request timeout.

use std::time::Instant;

use base64::Engine;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::json;
use tracing::field::Empty;
use tracing::Instrument;
use wharf_metrics::{Door, Login};
use wharf_proto::json::value_text;
use wharf_proto::trace::{self, Context};
use wharf_proto::v1::{self as pb, Environment, Transport};

use crate::body::{form_decode, form_field, parse_form, read_body, BodyDeadline, BodyError};
use crate::reply::{self, Reply};
use crate::routes::{self, Route};
use crate::{Gateway, Peer};

/// The consumer API's OpenAPI document, served as it is in the repository.
const CONSUMER_DOCUMENT: &str = include_str!("../consumer-openapi.yaml");

/// Largest OAuth2 token request form.
const FORM_LIMIT: usize = 64 * 1024;

/// The caller, as core knows it.
struct Caller {
    partner: String,
    user: String,
}

/// A core call carrying the caller's W3C context (the client's interceptor puts the current
/// span's in its place when spans are exported).
pub(crate) fn traced<T>(msg: T, cx: &Context) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    trace::to_metadata(cx, req.metadata_mut());
    req
}

impl Gateway {
    pub(crate) async fn handle(self, req: Request<Incoming>, peer: Peer) -> Reply {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let route = routes::route(&path);
        let template = route.template();
        let metrics = self.metrics.clone();
        let probe = matches!(route, Route::Health | Route::Ready);
        let caller = trace::from_headers(req.headers());
        // One span per request, named for its unit of work; the sequence's attributes are
        // recorded as they become known. No secrets, no bodies, no query strings.
        let span = tracing::info_span!(
            "http",
            otel.name = route.span_name(),
            otel.kind = "server",
            otel.status_code = Empty,
            trace_id = %trace::trace_id(&caller),
            %method,
            %path,
            %peer,
            partner = Empty,
            interface = Empty,
            batch_id = Empty,
            seq_id = Empty,
            rows = Empty,
            code = Empty,
            status = Empty,
        );
        trace::adopt(&span, &caller);
        let timeout = self.request_timeout;
        // One deadline: the body must be in by it (else 408, read in `body`), the answer too
        // (else -1). At the deadline the body's read is polled first, so a stalled body is
        // always the 408.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut req = req;
        req.extensions_mut().insert(BodyDeadline(deadline));
        let reply = match tokio::time::timeout_at(deadline, self.dispatch(req, route, caller, peer))
            .instrument(span.clone())
            .await
        {
            Ok(r) => r,
            Err(_) => reply::system_error(&format!(
                "the request took longer than {} s, safe to retry",
                timeout.as_secs()
            )),
        };
        let status = reply.status().as_u16();
        span.record("status", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
        let took = started.elapsed();
        metrics.http_request(Door::api, template, method.as_str(), status, took);
        if status == 413 {
            metrics.too_large(Door::api);
        }
        // The access log: no secrets, no bodies, no query strings. Probes only at debug.
        let micros = took.as_micros() as u64;
        span.in_scope(|| match probe {
            true => tracing::debug!(status, micros, "request"),
            false => tracing::info!(status, micros, "request"),
        });
        reply
    }

    async fn dispatch(
        self,
        req: Request<Incoming>,
        route: Route,
        cx: Context,
        peer: Peer,
    ) -> Reply {
        let method = req.method().clone();
        match route {
            Route::Health => match method {
                Method::GET | Method::HEAD => {
                    reply::json(StatusCode::OK, &json!({ "status": "ok" }))
                }
                _ => reply::method_not_allowed("GET"),
            },
            Route::Ready => match method {
                Method::GET | Method::HEAD => {
                    crate::health::ready_json(crate::health::core_ready(&self.core).await)
                }
                _ => reply::method_not_allowed("GET"),
            },
            Route::Document => match method {
                Method::GET => self.contract(&cx).await,
                _ => reply::method_not_allowed("GET"),
            },
            Route::Token => match method {
                Method::POST => self.token(req, peer, &cx).await,
                _ => reply::method_not_allowed("POST"),
            },
            Route::Sync {
                env,
                data_category,
                biz_key,
            } => {
                // GET reads the caller's records back; the other methods send a sequence.
                let op = match routes::operation(&method) {
                    Some(op) => Some(op),
                    None if method == Method::GET => None,
                    None => return reply::method_not_allowed("GET, POST, PUT, DELETE, PATCH"),
                };
                let caller = match self.authenticate(req.headers(), peer, &cx).await {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let Some(op) = op else {
                    let query = req.uri().query().unwrap_or("");
                    return self
                        .read_back(caller.partner, env, data_category, biz_key, query, &cx)
                        .await;
                };
                let body = match read_body(req, self.body_limit).await {
                    Ok(b) => b,
                    Err(BodyError::TooLarge) => return reply::too_large(self.body_limit),
                    Err(BodyError::TimedOut) => return reply::body_timeout(self.request_timeout),
                    Err(BodyError::Broken(e)) => {
                        return reply::bad_request(&format!("could not read the body: {e}"))
                    }
                };
                let mut msg = pb::IngestBatchRequest {
                    partner: caller.partner,
                    user: caller.user,
                    environment: env as i32,
                    data_category,
                    biz_key,
                    operation: op as i32,
                    transport: Transport::Api as i32,
                    source: "api".into(),
                    ..Default::default()
                };
                wharf_proto::json::read_envelope(&body, &mut msg);
                let span = tracing::Span::current();
                span.record("partner", msg.partner.as_str());
                span.record(
                    "interface",
                    format_args!("{}/{}", msg.data_category, msg.biz_key),
                );
                span.record("batch_id", value_text(&msg.batch_id).as_str());
                span.record("seq_id", value_text(&msg.seq_id).as_str());
                span.record("rows", msg.rows.len());
                let mut core = self.core.clone();
                match core.ingest_batch(traced(msg, &cx)).await {
                    Ok(r) => {
                        span.record("code", r.get_ref().code.as_str());
                        reply::answer(r.get_ref())
                    }
                    Err(s) => reply::from_status(&s),
                }
            }
            Route::Batch {
                env,
                data_category,
                biz_key,
                batch_id,
            } => {
                if method != Method::GET {
                    return reply::method_not_allowed("GET");
                }
                let caller = match self.authenticate(req.headers(), peer, &cx).await {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                self.batch(caller, env, data_category, biz_key, batch_id, &cx)
                    .await
            }
            Route::BatchAction {
                env,
                data_category,
                biz_key,
                batch_id,
                action,
            } => {
                if method != Method::POST {
                    return reply::method_not_allowed("POST");
                }
                let caller = match self.authenticate(req.headers(), peer, &cx).await {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let actor = if caller.user.is_empty() {
                    caller.partner.clone()
                } else {
                    caller.user.clone()
                };
                let msg = pb::BatchActionRequest {
                    partner: caller.partner,
                    environment: env as i32,
                    data_category,
                    biz_key,
                    batch_id,
                    action,
                    actor,
                };
                let mut core = self.core.clone();
                match core.act_on_batch(traced(msg, &cx)).await {
                    Ok(b) => reply::batch(b.get_ref()),
                    Err(s) => reply::from_status(&s),
                }
            }
            Route::ConsumerRecords {
                data_category,
                biz_key,
            } => {
                if method != Method::GET {
                    return reply::method_not_allowed("GET");
                }
                let query = req.uri().query().unwrap_or("");
                self.consumer_records(req.headers(), data_category, biz_key, query, &cx)
                    .await
            }
            Route::ConsumerChanges => {
                if method != Method::GET {
                    return reply::method_not_allowed("GET");
                }
                let query = req.uri().query().unwrap_or("");
                self.consumer_changes(req.headers(), query, &cx).await
            }
            Route::ConsumerDocument => match method {
                Method::GET => reply::yaml(CONSUMER_DOCUMENT),
                _ => reply::method_not_allowed("GET"),
            },
            Route::NotFound => reply::not_found("no such path"),
        }
    }

    /// HTTP Basic (a user) or a bearer token, checked by core for the client at `peer`.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Peer,
        cx: &Context,
    ) -> Result<Caller, Reply> {
        let caller = Some(wharf_proto::login::caller(
            wharf_proto::login::HTTP,
            peer.ip(),
        ));
        let header = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut core = self.core.clone();
        let answer = if let Some(b64) = header.strip_prefix("Basic ") {
            let Some((user, password)) = basic_pair(b64) else {
                return Err(reply::unauthorized());
            };
            core.authenticate(traced(
                pb::AuthenticateRequest {
                    username: user,
                    password,
                    caller,
                },
                cx,
            ))
            .await
        } else if let Some(token) = header.strip_prefix("Bearer ") {
            core.verify_token(traced(
                // An API bearer token only: an upload page session is refused like any bad
                // token (core checks what the token was issued for).
                pb::VerifyTokenRequest {
                    token: token.trim().to_string(),
                    kind: pb::TokenKind::Api as i32,
                    caller,
                },
                cx,
            ))
            .await
        } else {
            return Err(reply::unauthorized());
        };
        self.metrics.login(
            Door::api,
            Login::of_grpc(answer.as_ref().err().map(|s| s.code() as i32)),
        );
        match answer {
            Ok(p) => {
                let p = p.into_inner();
                Ok(Caller {
                    partner: p.partner,
                    user: p.user,
                })
            }
            Err(s) => Err(reply::from_status(&s)),
        }
    }

    async fn batch(
        &self,
        caller: Caller,
        env: Environment,
        data_category: String,
        biz_key: String,
        batch_id: String,
        cx: &Context,
    ) -> Reply {
        let mut core = self.core.clone();
        let req = pb::GetBatchRequest {
            partner: caller.partner,
            environment: env as i32,
            data_category,
            biz_key,
            batch_id,
            with_rejections: false,
            without_rejections: false,
        };
        match core.get_batch(traced(req, cx)).await {
            Ok(b) => {
                let b = b.into_inner();
                if !b.found {
                    return reply::not_found(&format!("batch {}", b.batch_id));
                }
                reply::batch(&b)
            }
            Err(s) => reply::from_status(&s),
        }
    }

    /// `POST /oauth/token`, RFC 6749 form encoding; client credentials in the form or in a
    /// Basic header.
    async fn token(&self, req: Request<Incoming>, peer: Peer, cx: &Context) -> Reply {
        let form_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return reply::oauth_error("invalid_request", "send application/x-www-form-urlencoded");
        }
        let basic = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(basic_pair);
        let body = match read_body(req, FORM_LIMIT).await {
            Ok(b) => b,
            Err(BodyError::TimedOut) => return reply::body_timeout(self.request_timeout),
            Err(_) => return reply::oauth_error("invalid_request", "unreadable form"),
        };
        let form = parse_form(&body);
        let field = |name: &str| form_field(&form, name);
        let (client_id, client_secret) = match basic {
            Some(pair) => pair,
            None => (field("client_id"), field("client_secret")),
        };
        let grant_type = field("grant_type");
        if grant_type.is_empty() {
            return reply::oauth_error("invalid_request", "grant_type is required");
        }
        if grant_type != "client_credentials" && grant_type != "password" {
            return reply::oauth_error(
                "unsupported_grant_type",
                "use client_credentials or password",
            );
        }
        let mut core = self.core.clone();
        let answer = core
            .issue_token(traced(
                pb::IssueTokenRequest {
                    grant_type,
                    client_id,
                    client_secret,
                    username: field("username"),
                    password: field("password"),
                    caller: Some(wharf_proto::login::caller(
                        wharf_proto::login::HTTP,
                        peer.ip(),
                    )),
                },
                cx,
            ))
            .await;
        self.metrics.login(
            Door::api,
            Login::of_grpc(answer.as_ref().err().map(|s| s.code() as i32)),
        );
        match answer {
            Ok(t) => reply::token(&t.get_ref().access_token, t.get_ref().expires_in),
            Err(s) if s.code() == tonic::Code::Unauthenticated => {
                reply::oauth_error("invalid_client", "bad credentials")
            }
            Err(s) if s.code() == tonic::Code::InvalidArgument => {
                reply::oauth_error("invalid_request", s.message())
            }
            Err(s) => reply::from_status(&s),
        }
    }
}

/// `user:password` from a Basic credential (RFC 7617); the id and secret of an OAuth2 client
/// are form-encoded inside it (RFC 6749 §2.3.1).
fn basic_pair(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((form_decode(user), form_decode(password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        assert_eq!(
            basic_pair(&b64),
            Some(("alice".to_string(), "pa:ss".to_string()))
        );
        assert_eq!(basic_pair("%%%"), None);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("alice");
        assert_eq!(basic_pair(&no_colon), None);
    }
}
