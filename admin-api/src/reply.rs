//! Every response of the admin API is built here: JSON bodies, and refusals as
//! `{"error": KIND, "message": WORDS}` with the HTTP status that fits.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use wharf_core::CoreError;

pub type Reply = Response<Full<Bytes>>;

/// A JSON response; never cached (answers name partners, users, audit records).
pub fn json(status: StatusCode, body: &Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// 200 with `body`.
pub fn ok(body: &Value) -> Reply {
    json(StatusCode::OK, body)
}

/// 200 with any serializable value.
pub fn ok_of<T: serde::Serialize>(v: &T) -> Reply {
    match serde_json::to_value(v) {
        Ok(body) => ok(&body),
        Err(e) => internal(&format!("cannot render the answer: {e}")),
    }
}

/// A refusal: `kind` is a stable word a script can test, `message` says it in words.
pub fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    json(status, &json!({ "error": kind, "message": message }))
}

/// 401: no operator token, or one that is unknown, revoked or not an operator's.
pub fn unauthorized() -> Reply {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "an operator token is required: Authorization: Bearer TOKEN (`wharf operator add`)",
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="wharf-admin""#),
    );
    r
}

pub fn bad_request(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

pub fn not_found(message: &str) -> Reply {
    error(StatusCode::NOT_FOUND, "not_found", message)
}

pub fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("method not allowed here; use {allow}"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

pub fn too_large(limit: usize) -> Reply {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        &format!("the request body is larger than {limit} bytes"),
    )
}

pub fn timeout(message: &str) -> Reply {
    error(StatusCode::REQUEST_TIMEOUT, "timeout", message)
}

/// 500: the store failed; the detail goes to the log only.
pub fn internal(detail: &str) -> Reply {
    tracing::error!(error = %detail, "admin API: system error");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "system error (see core's log); nothing was changed unless the action is listed in the audit trail",
    )
}

/// Core's refusal in this API's terms.
pub fn from_core(e: &CoreError) -> Reply {
    match e {
        CoreError::Invalid(m) => bad_request(m),
        CoreError::NotFound(m) => not_found(&format!("not found: {m}")),
        CoreError::Conflict(m) => error(
            StatusCode::CONFLICT,
            "conflict",
            &format!("already exists: {m}"),
        ),
        CoreError::Precondition(m) => error(StatusCode::CONFLICT, "conflict", m),
        CoreError::TooManyAttempts { retry_after_secs } => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                &e.to_string(),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
            }
            r
        }
        CoreError::Busy(m) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        // Not an operator's fault: nothing they sent was a credential.
        CoreError::Unauthenticated => internal("core refused credentials inside an admin call"),
        CoreError::Store(_) | CoreError::Definition { .. } => internal(&e.to_string()),
    }
}

/// Core's error as this API's answer.
pub(crate) fn ask<T>(r: wharf_core::error::Result<T>) -> Result<T, Reply> {
    r.map_err(|e| from_core(&e))
}

/// `{"items": [...]}`
pub(crate) fn items<T: serde::Serialize>(list: &[T]) -> Reply {
    ok_of(&json!({ "items": list }))
}

/// 200 `{"ok": true, ...extra}` after a change.
pub(crate) fn done(extra: serde_json::Value) -> Reply {
    let mut body = json!({ "ok": true });
    if let (Some(b), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
        b.extend(more);
    }
    json(StatusCode::OK, &body)
}
