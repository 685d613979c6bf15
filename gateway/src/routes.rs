//! The HTTP API's paths (SPEC §6). Segments are percent-decoded ("the UrlEncode situation").

use std::borrow::Cow;

use hyper::Method;
use wharf_proto::v1::{Environment, Operation};

/// What a request path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /oauth/token`
    Token,
    /// `GET /healthz`
    Health,
    /// `GET /readyz`
    Ready,
    /// `GET /openapi.json`: the partners' API document.
    Document,
    /// `POST|PUT|DELETE|PATCH [/uat]/v1.0/scc/data/sync/{data_category}/{biz_key}`; `GET`
    /// reads the partner's current records back.
    Sync {
        env: Environment,
        data_category: String,
        biz_key: String,
    },
    /// `GET [/uat]/v1.0/scc/data/sync/{data_category}/{biz_key}/batches/{batch_id}`
    Batch {
        env: Environment,
        data_category: String,
        biz_key: String,
        batch_id: String,
    },
    /// `POST [/uat]/v1.0/scc/data/sync/{data_category}/{biz_key}/batches/{batch_id}/{action}`
    /// with `action` one of `execute`, `revert`, `cancel` (SPEC §7.2).
    BatchAction {
        env: Environment,
        data_category: String,
        biz_key: String,
        batch_id: String,
        action: String,
    },
    /// `GET /consumer/v1/records/{data_category}/{biz_key}`: the consumer API's query.
    ConsumerRecords {
        data_category: String,
        biz_key: String,
    },
    /// `GET /consumer/v1/changes`: the consumer API's change feed.
    ConsumerChanges,
    /// `GET /consumer/v1/openapi.yaml`: the consumer API's document.
    ConsumerDocument,
    NotFound,
}

impl Route {
    /// The route's template, the `route` label of its metrics: never a raw path (ids and
    /// interface names stay out of labels; an unknown path is `unmatched`).
    pub fn template(&self) -> &'static str {
        let uat = |env: &Environment| *env == Environment::Uat;
        match self {
            Route::Token => "/oauth/token",
            Route::Health => "/healthz",
            Route::Ready => "/readyz",
            Route::Document => "/openapi.json",
            Route::Sync { env, .. } if uat(env) => {
                "/uat/v1.0/scc/data/sync/{data_category}/{biz_key}"
            }
            Route::Sync { .. } => "/v1.0/scc/data/sync/{data_category}/{biz_key}",
            Route::Batch { env, .. } if uat(env) => {
                "/uat/v1.0/scc/data/sync/{data_category}/{biz_key}/batches/{batch_id}"
            }
            Route::Batch { .. } => {
                "/v1.0/scc/data/sync/{data_category}/{biz_key}/batches/{batch_id}"
            }
            Route::BatchAction { env, .. } if uat(env) => {
                "/uat/v1.0/scc/data/sync/{data_category}/{biz_key}/batches/{batch_id}/{action}"
            }
            Route::BatchAction { .. } => {
                "/v1.0/scc/data/sync/{data_category}/{biz_key}/batches/{batch_id}/{action}"
            }
            Route::ConsumerRecords { .. } => "/consumer/v1/records/{data_category}/{biz_key}",
            Route::ConsumerChanges => "/consumer/v1/changes",
            Route::ConsumerDocument => "/consumer/v1/openapi.yaml",
            Route::NotFound => "unmatched",
        }
    }

    /// The unit of work a request to this route is, as its span's name.
    pub fn span_name(&self) -> &'static str {
        match self {
            Route::Token => "api token",
            Route::Health => "api healthz",
            Route::Ready => "api readyz",
            Route::Document => "api document",
            Route::Sync { .. } => "api sequence",
            Route::Batch { .. } => "api batch",
            Route::BatchAction { .. } => "api batch action",
            Route::ConsumerRecords { .. } => "consumer records",
            Route::ConsumerChanges => "consumer changes",
            Route::ConsumerDocument => "consumer document",
            Route::NotFound => "api not found",
        }
    }
}

fn decode(segment: &str) -> Option<String> {
    match percent_encoding::percent_decode_str(segment).decode_utf8() {
        Ok(Cow::Borrowed(s)) => Some(s.to_string()),
        Ok(Cow::Owned(s)) => Some(s),
        Err(_) => None,
    }
}

/// Resolve a path (without its query).
pub fn route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    let raw: Vec<&str> = rest.split('/').collect();
    let Some(segs) = raw
        .iter()
        .map(|s| decode(s))
        .collect::<Option<Vec<String>>>()
    else {
        return Route::NotFound;
    };
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["oauth", "token"] => return Route::Token,
        ["healthz"] => return Route::Health,
        ["readyz"] => return Route::Ready,
        ["openapi.json"] => return Route::Document,
        ["consumer", "v1", "openapi.yaml"] => return Route::ConsumerDocument,
        ["consumer", "v1", "changes"] => return Route::ConsumerChanges,
        ["consumer", "v1", "records", cat, biz] if !cat.is_empty() && !biz.is_empty() => {
            return Route::ConsumerRecords {
                data_category: cat.to_string(),
                biz_key: biz.to_string(),
            }
        }
        ["consumer", ..] => return Route::NotFound,
        _ => {}
    }
    let (env, s) = match s.as_slice() {
        ["uat", rest @ ..] => (Environment::Uat, rest),
        all => (Environment::Prod, all),
    };
    // Seed 002 gives the data address as `…/v1.0/supply_chain/scc/open_platform/data/sync/…`:
    // an alias of the same routes.
    let s = match s {
        ["v1.0", "scc", "data", "sync", rest @ ..]
        | ["v1.0", "supply_chain", "scc", "open_platform", "data", "sync", rest @ ..] => rest,
        _ => return Route::NotFound,
    };
    let ok = |x: &&str| !x.is_empty();
    match s {
        [cat, biz] if ok(cat) && ok(biz) => Route::Sync {
            env,
            data_category: cat.to_string(),
            biz_key: biz.to_string(),
        },
        [cat, biz, "batches", id] if ok(cat) && ok(biz) && ok(id) => Route::Batch {
            env,
            data_category: cat.to_string(),
            biz_key: biz.to_string(),
            batch_id: id.to_string(),
        },
        [cat, biz, "batches", id, action @ ("execute" | "revert" | "cancel")]
            if ok(cat) && ok(biz) && ok(id) =>
        {
            Route::BatchAction {
                env,
                data_category: cat.to_string(),
                biz_key: biz.to_string(),
                batch_id: id.to_string(),
                action: action.to_string(),
            }
        }
        _ => Route::NotFound,
    }
}

/// The operation a data method means (seed 000): POST insert, PUT update, DELETE delete,
/// PATCH all.
pub fn operation(method: &Method) -> Option<Operation> {
    match *method {
        Method::POST => Some(Operation::Insert),
        Method::PUT => Some(Operation::Update),
        Method::DELETE => Some(Operation::Delete),
        Method::PATCH => Some(Operation::All),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_with_percent_decoding() {
        let sync = |env, c: &str, b: &str| Route::Sync {
            env,
            data_category: c.into(),
            biz_key: b.into(),
        };
        let cases = [
            (
                "/v1.0/scc/data/sync/t1/bom",
                sync(Environment::Prod, "t1", "bom"),
            ),
            (
                "/uat/v1.0/scc/data/sync/t1/bom",
                sync(Environment::Uat, "t1", "bom"),
            ),
            // Seed 002's addresses.
            (
                "/v1.0/supply_chain/scc/open_platform/data/sync/t1/bom",
                sync(Environment::Prod, "t1", "bom"),
            ),
            (
                "/uat/v1.0/supply_chain/scc/open_platform/data/sync/t1/bom",
                sync(Environment::Uat, "t1", "bom"),
            ),
            ("/v1.0/supply_chain/scc/data/sync/t1/bom", Route::NotFound),
            (
                "/v1.0/supply_chain/scc/open_platform/data/sync/t1",
                Route::NotFound,
            ),
            (
                "/v1.0/scc/data/sync/odm/master%5Fdata",
                sync(Environment::Prod, "odm", "master_data"),
            ),
            (
                "/v1.0/scc/data/sync/%74%31/bom",
                sync(Environment::Prod, "t1", "bom"),
            ),
            ("/v1.0/scc/data/sync/t1", Route::NotFound),
            ("/v1.0/scc/data/sync/t1/bom/x", Route::NotFound),
            ("/v1.0/scc/data/sync//bom", Route::NotFound),
            ("/uat/uat/v1.0/scc/data/sync/t1/bom", Route::NotFound),
            ("/v1.0/scc/data/sync/t1/%ff", Route::NotFound),
            ("/oauth/token", Route::Token),
            (
                "/consumer/v1/records/t1/bom",
                Route::ConsumerRecords {
                    data_category: "t1".into(),
                    biz_key: "bom".into(),
                },
            ),
            ("/consumer/v1/openapi.yaml", Route::ConsumerDocument),
            ("/consumer/v1/changes", Route::ConsumerChanges),
            ("/consumer/v1/records/t1", Route::NotFound),
            ("/consumer/v1/records//bom", Route::NotFound),
            ("/healthz", Route::Health),
            ("/readyz", Route::Ready),
            ("/openapi.json", Route::Document),
            ("/", Route::NotFound),
            ("", Route::NotFound),
            (
                "/uat/v1.0/scc/data/sync/t1/bom/batches/B%201",
                Route::Batch {
                    env: Environment::Uat,
                    data_category: "t1".into(),
                    biz_key: "bom".into(),
                    batch_id: "B 1".into(),
                },
            ),
            (
                "/v1.0/scc/data/sync/t1/bom/batches/B1/revert",
                Route::BatchAction {
                    env: Environment::Prod,
                    data_category: "t1".into(),
                    biz_key: "bom".into(),
                    batch_id: "B1".into(),
                    action: "revert".into(),
                },
            ),
            (
                "/v1.0/scc/data/sync/t1/bom/batches/B1/undo",
                Route::NotFound,
            ),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }

    #[test]
    fn methods_map_to_operations() {
        assert_eq!(operation(&Method::POST), Some(Operation::Insert));
        assert_eq!(operation(&Method::PUT), Some(Operation::Update));
        assert_eq!(operation(&Method::DELETE), Some(Operation::Delete));
        assert_eq!(operation(&Method::PATCH), Some(Operation::All));
        assert_eq!(operation(&Method::GET), None);
    }
}
