//! Every response the HTTP API sends is built here: core's answers with SPEC §5's statuses,
//! and the door's own refusals (401, 404, 405, 408, 413, 500).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Response, StatusCode};
use serde_json::{json, Value as Json};
use tonic::{Code, Status};
use wharf_proto::v1::IngestBatchResponse;

pub type Reply = Response<Full<Bytes>>;

/// A JSON response.
pub fn json(status: StatusCode, body: &Json) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A JSON document already rendered (the OpenAPI document).
pub fn json_text(body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A YAML document (an OpenAPI description).
pub fn yaml(text: &'static str) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    r
}

/// `{"code", "msg"}` with the HTTP status as the code, for refusals that are not core's codes.
fn refusal(status: StatusCode, msg: &str) -> Reply {
    json(status, &json!({ "code": status.as_str(), "msg": msg }))
}

/// Core's answer to a sequence: code `-1` is a 500, every other code a 200.
pub fn answer(r: &IngestBatchResponse) -> Reply {
    let status = if r.code == "-1" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    json(status, &wharf_proto::json::answer_json(r))
}

/// 401 with a challenge; never says which part of the credentials was wrong.
pub fn unauthorized() -> Reply {
    let mut r = refusal(StatusCode::UNAUTHORIZED, "bad credentials or token");
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="wharf", Bearer realm="wharf""#),
    );
    r
}

pub fn not_found(what: &str) -> Reply {
    refusal(StatusCode::NOT_FOUND, &format!("not found: {what}"))
}

pub fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = refusal(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed; use {allow}"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// 413 with SPEC §5's body code E00V00.
pub fn too_large(limit: usize) -> Reply {
    json(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({
            "code": "E00V00",
            "msg": format!("data verification failed! the body is larger than {limit} bytes"),
            "result": [{ "verify": [{ "type": "value length exceed", "fields": "body" }] }],
        }),
    )
}

/// 408: the request's body did not arrive in full within the request timeout (the client
/// stalled or is too slow); nothing was done. The client's fault, not a system error.
pub fn body_timeout(timeout: std::time::Duration) -> Reply {
    refusal(
        StatusCode::REQUEST_TIMEOUT,
        &format!(
            "the request body did not arrive within {} s",
            timeout.as_secs()
        ),
    )
}

/// Code `-1`: core or the store is down, or the request ran out of time; safe to retry.
pub fn system_error(msg: &str) -> Reply {
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &wharf_proto::json::system_error_json(msg),
    )
}

/// 400 for a request this door cannot even read (not for envelope content: core answers that).
pub fn bad_request(msg: &str) -> Reply {
    refusal(StatusCode::BAD_REQUEST, msg)
}

/// A failed call to core, in this door's terms.
pub fn from_status(s: &Status) -> Reply {
    match s.code() {
        Code::NotFound => not_found(s.message()),
        Code::Unauthenticated => unauthorized(),
        // The address or name is banned after too many failed logins: not a system error,
        // and not retryable before the ban ends (`Retry-After`, from core).
        Code::ResourceExhausted => too_many(s),
        Code::InvalidArgument => bad_request(s.message()),
        // The batch is not in a state that allows the action (a second revert, ...).
        Code::FailedPrecondition => refusal(StatusCode::CONFLICT, s.message()),
        Code::PermissionDenied => {
            tracing::error!(
                msg = s.message(),
                "core refused this gateway: check WHARF_INTERNAL_TOKEN"
            );
            system_error("core unavailable, safe to retry")
        }
        // TLS with core is not set up right (an untrusted certificate, no client certificate
        // for a core that wants one): nothing a retry fixes until an operator does.
        _ if wharf_proto::tls::operator_fault(s) => {
            tracing::error!(
                msg = s.message(),
                "core call failed: check TLS towards core"
            );
            system_error("core unavailable, safe to retry")
        }
        _ => {
            tracing::warn!(code = ?s.code(), msg = s.message(), "core call failed");
            system_error("core unavailable, safe to retry")
        }
    }
}

/// 429 for a banned address or name, with `Retry-After` (seconds) when core said how long.
pub fn too_many(s: &Status) -> Reply {
    let mut r = refusal(StatusCode::TOO_MANY_REQUESTS, s.message());
    if let Some(secs) = wharf_proto::login::retry_after(s) {
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// A batch's state and its seed 003 proposal view (SPEC §7.2).
pub fn batch(b: &wharf_proto::v1::GetBatchResponse) -> Reply {
    json(
        StatusCode::OK,
        &json!({
            "code": "0",
            "msg": "request success",
            "result": wharf_proto::json::batch_json(b),
        }),
    )
}

/// An OAuth2 token answer (RFC 6749 §5.1): never cached.
pub fn token(access_token: &str, expires_in: u64) -> Reply {
    let mut r = json(
        StatusCode::OK,
        &json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": expires_in }),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An OAuth2 error (RFC 6749 §5.2); `invalid_client` is a 401 with a Basic challenge.
pub fn oauth_error(error: &str, description: &str) -> Reply {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut r = json(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="wharf""#),
        );
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
