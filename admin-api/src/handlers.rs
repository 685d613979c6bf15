//! Each route's methods: read the request, call the one `Core` method the CLI calls too,
//! answer. Reads answer the info structs core returns (never a secret or a hash); changes
//! answer what the thing looks like after them.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request};
use serde_json::json;
use wharf_core::audit::{Filter, Kind, MAX_PAGE};
use wharf_core::Core;

use crate::input::{query, Operator, Query};
use crate::reply::{self, ask, items, Reply};
use crate::routes::Route;

/// `Err` answers are already replies: `?` in a handler ends it with that answer.
type Answer = Result<Reply, Reply>;

/// The OpenAPI 3.1 document of this API, served at `GET /admin/v1/openapi.yaml`.
const OPENAPI: &str = include_str!("../openapi.yaml");

/// `GET /admin/v1/openapi.yaml`
pub(crate) fn openapi(method: &Method) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return reply::method_not_allowed("GET");
    }
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(
        OPENAPI.as_bytes(),
    )));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    r
}

pub(crate) async fn dispatch(
    core: &Core,
    limit: usize,
    req: Request<Incoming>,
    route: Route,
    op: &Operator,
) -> Reply {
    let method = req.method().clone();
    let answer = match route {
        Route::OpenApi => Ok(openapi(&method)),
        Route::Operators => match method {
            Method::GET => operators(core, &req).await,
            _ => Ok(reply::method_not_allowed("GET")),
        },
        Route::Audit => match method {
            Method::GET => audit(core, &req).await,
            _ => Ok(reply::method_not_allowed("GET")),
        },
        Route::NotFound => Ok(reply::not_found(
            "no such route; the routes are in GET /admin/v1/openapi.yaml",
        )),
        other => crate::accounts::dispatch(core, limit, req, other, op).await,
    };
    answer.unwrap_or_else(|refusal| refusal)
}

/// `GET /admin/v1/operators`: every operator, active or revoked (never a token).
async fn operators(core: &Core, req: &Request<Incoming>) -> Answer {
    query(req, &[])?;
    Ok(items(&ask(core.operators().await)?))
}

/// A time in a query as `wharf audit list` takes it: unix seconds, RFC 3339
/// (`2026-12-01T08:00:00Z`), a UTC date (`2026-12-01`) or an age back from now (`24h`, `7d`).
fn time_param(core: &Core, q: &Query, name: &str) -> Result<Option<i64>, Reply> {
    let Some(text) = q.text(name) else {
        return Ok(None);
    };
    if let Ok(n) = text.parse::<i64>() {
        return Ok(Some(n));
    }
    wharf_core::audit::parse_when(text, core.now())
        .map(Some)
        .ok_or_else(|| {
            reply::bad_request(&format!(
                "query parameter {name}={text:?}: use unix seconds, a time like \
                 2026-12-01T08:00:00Z, a date like 2026-12-01 or an age like 24h or 7d"
            ))
        })
}

/// `GET /admin/v1/audit`: records oldest first, `limit` at a time (default and most
/// [`MAX_PAGE`]); the next page is `after=` the answer's `next_after`.
async fn audit(core: &Core, req: &Request<Incoming>) -> Answer {
    let q = query(
        req,
        &[
            "partner", "user", "kind", "since", "until", "after", "limit",
        ],
    )?;
    let kind = match q.text("kind") {
        None => None,
        Some(k) => Some(Kind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            reply::bad_request(&format!(
                "query parameter kind={k:?}: use one of {}",
                kinds.join(", ")
            ))
        })?),
    };
    let limit = q
        .int("limit", 1..=i64::from(MAX_PAGE))?
        .map_or(100, |n| n as u32);
    let filter = Filter {
        partner: q.text("partner").map(str::to_string),
        user: q.text("user").map(str::to_string),
        kind,
        since: time_param(core, &q, "since")?,
        until: time_param(core, &q, "until")?,
        after: q.int("after", 0..=i64::MAX)?,
        limit,
    };
    let records = ask(core.audit_list(&filter).await)?;
    // A full page may have more after it; a short one is the end.
    let next_after = match records.last() {
        Some(last) if records.len() as u32 == limit => Some(last.id),
        _ => None,
    };
    Ok(reply::ok_of(
        &json!({ "items": records, "next_after": next_after }),
    ))
}
