//! Reading current records: a partner's own (`GET` on its data address, answered in the
//! `{code, msg, result}` envelope) and a consumer's query (`GET /consumer/v1/records/…`,
//! `consumer-openapi.yaml`). Both are one core call, `QueryRecords`; which fields may be
//! filtered on, the cursor and the page limits are core's rules.

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use serde_json::{json, Value as Json};
use wharf_proto::trace::Context;
use wharf_proto::v1::{self as pb, Environment};

use crate::body::parse_form;
use crate::handler::traced;
use crate::reply::{self, Reply};
use crate::Gateway;

/// Most rows a page may hold (core refuses more; said here to answer a bad `limit` alike).
const MAX_LIMIT: u32 = 10_000;

/// A query string's paging and filters. `reserved` names are not key filters.
struct Params {
    after: String,
    limit: u32,
    key: Vec<pb::KeyFilter>,
    /// The reserved names' values, in `reserved` order ("" when absent).
    reserved: Vec<String>,
}

/// The query string's parameters; `Err` says what is wrong with them.
fn params(query: &str, reserved: &[&str]) -> Result<Params, String> {
    let mut p = Params {
        after: String::new(),
        limit: 0,
        key: Vec::new(),
        reserved: vec![String::new(); reserved.len()],
    };
    for (name, value) in parse_form(query.as_bytes()) {
        match name.as_str() {
            "after" => p.after = value,
            "limit" => {
                p.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit: a whole number from 1 to {MAX_LIMIT}"))?
            }
            other => match reserved.iter().position(|r| *r == other) {
                Some(i) => p.reserved[i] = value,
                None => p.key.push(pb::KeyFilter { field: name, value }),
            },
        }
    }
    Ok(p)
}

/// A page's rows: each row's JSON object (it is JSON core wrote; kept as text if not).
fn row(data: &str) -> Json {
    serde_json::from_str(data).unwrap_or_else(|_| Json::String(data.to_string()))
}

fn next(page: &pb::QueryRecordsResponse) -> Json {
    match page.next.as_str() {
        "" => Json::Null,
        n => Json::String(n.to_string()),
    }
}

impl Gateway {
    /// `GET [/uat]/v1.0/scc/data/sync/{data_category}/{biz_key}`: the caller's own current
    /// records, a page at a time.
    pub(crate) async fn read_back(
        &self,
        partner: String,
        env: Environment,
        data_category: String,
        biz_key: String,
        query: &str,
        cx: &Context,
    ) -> Reply {
        let p = match params(query, &[]) {
            Ok(p) => p,
            Err(why) => return reply::bad_request(&why),
        };
        let req = pb::QueryRecordsRequest {
            partner,
            consumer: String::new(),
            environment: env as i32,
            data_category,
            biz_key,
            key: p.key,
            after: p.after,
            limit: p.limit,
        };
        let mut core = self.core.clone();
        match core.query_records(traced(req, cx)).await {
            Ok(page) => {
                let page = page.into_inner();
                let records: Vec<Json> = page.records.iter().map(|r| row(&r.data)).collect();
                reply::json(
                    StatusCode::OK,
                    &json!({
                        "code": "0",
                        "msg": format!("request success: {} records", records.len()),
                        "result": { "records": records, "next": next(&page) },
                    }),
                )
            }
            Err(s) => reply::from_status(&s),
        }
    }

    /// The consumer a request's bearer token belongs to (core checks it), or the refusal.
    async fn consumer(&self, headers: &HeaderMap, cx: &Context) -> Result<String, Reply> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return Err(reply::unauthorized());
        }
        let mut core = self.core.clone();
        match core
            .verify_consumer(traced(
                pb::VerifyConsumerRequest {
                    token: token.to_string(),
                },
                cx,
            ))
            .await
        {
            Ok(c) => Ok(c.into_inner().name),
            Err(s) => Err(reply::from_status(&s)),
        }
    }

    /// `GET /consumer/v1/changes?after=…`: a page of the change feed as the consumer may
    /// read it.
    pub(crate) async fn consumer_changes(
        &self,
        headers: &HeaderMap,
        query: &str,
        cx: &Context,
    ) -> Reply {
        let consumer = match self.consumer(headers, cx).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let p = match params(query, &["interface", "partner", "environment"]) {
            Ok(p) => p,
            Err(why) => return reply::bad_request(&why),
        };
        if let Some(k) = p.key.first() {
            return reply::bad_request(&format!(
                "{}: not a parameter of the change feed (after, limit, interface, partner, \
                 environment)",
                k.field
            ));
        }
        let [interface, partner, environment] = p.reserved.as_slice() else {
            return reply::system_error("the query's parameters were not read");
        };
        let req = pb::ReadChangesRequest {
            consumer,
            after: p.after,
            limit: p.limit,
            interface: interface.clone(),
            partner: partner.clone(),
            environment: environment.clone(),
        };
        let mut core = self.core.clone();
        match core.read_changes(traced(req, cx)).await {
            Ok(page) => {
                let page = page.into_inner();
                let events: Vec<Json> = page.events.iter().map(event_json).collect();
                reply::json(
                    StatusCode::OK,
                    &json!({ "events": events, "next": page.next }),
                )
            }
            Err(s) => reply::from_status(&s),
        }
    }

    /// `GET /consumer/v1/records/{data_category}/{biz_key}?environment=…`: what a consumer
    /// may read, every partner's or one's (`partner=`), a page at a time.
    pub(crate) async fn consumer_records(
        &self,
        headers: &HeaderMap,
        data_category: String,
        biz_key: String,
        query: &str,
        cx: &Context,
    ) -> Reply {
        let consumer = match self.consumer(headers, cx).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let mut core = self.core.clone();
        let p = match params(query, &["environment", "partner"]) {
            Ok(p) => p,
            Err(why) => return reply::bad_request(&why),
        };
        let env = match p.reserved[0].as_str() {
            "prod" => Environment::Prod,
            "uat" => Environment::Uat,
            _ => return reply::bad_request("environment: prod or uat"),
        };
        let req = pb::QueryRecordsRequest {
            partner: p.reserved[1].clone(),
            consumer,
            environment: env as i32,
            data_category,
            biz_key,
            key: p.key,
            after: p.after,
            limit: p.limit,
        };
        match core.query_records(traced(req, cx)).await {
            Ok(page) => {
                let page = page.into_inner();
                let records: Vec<Json> = page
                    .records
                    .iter()
                    .map(|r| json!({ "partner": r.partner, "data": row(&r.data) }))
                    .collect();
                reply::json(
                    StatusCode::OK,
                    &json!({ "records": records, "next": next(&page) }),
                )
            }
            Err(s) => reply::from_status(&s),
        }
    }
}

/// One feed event as JSON: its changes with their key as an array and rows as objects.
fn event_json(e: &pb::ChangeEvent) -> Json {
    let changes: Vec<Json> = e
        .changes
        .iter()
        .map(|c| {
            let mut o = json!({
                "change": c.change,
                "key": row(&c.key),
                "uid": if c.uid.is_empty() { Json::Null } else { Json::String(c.uid.clone()) },
            });
            if !c.before.is_empty() {
                o["before"] = row(&c.before);
            }
            if !c.after.is_empty() {
                o["after"] = row(&c.after);
            }
            o
        })
        .collect();
    json!({
        "position": e.position,
        "kind": e.kind,
        "partner": e.partner,
        "environment": e.environment,
        "interface": e.interface,
        "batch_id": e.batch_id,
        "operation": e.operation,
        "door": e.door,
        "at": wharf_proto::time::rfc3339(e.at_unix),
        "complete": e.complete,
        "changes": changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_reserved_names_and_key_filters_are_told_apart() {
        let p = params(
            "environment=uat&after=abc&limit=20&vendor_code=V%201&partner=P",
            &["environment", "partner"],
        )
        .unwrap_or_else(|_| panic!("a good query"));
        assert_eq!(p.after, "abc");
        assert_eq!(p.limit, 20);
        assert_eq!(p.reserved, ["uat", "P"]);
        assert_eq!(p.key.len(), 1);
        assert_eq!(
            (p.key[0].field.as_str(), p.key[0].value.as_str()),
            ("vendor_code", "V 1")
        );
        for bad in ["limit=0", "limit=10001", "limit=x", "limit="] {
            assert!(params(bad, &[]).is_err(), "{bad}");
        }
        // A partner's read-back reserves nothing else: `partner` would be a key filter (core
        // refuses it as not a business-key field).
        assert_eq!(params("partner=P", &[]).map(|p| p.key.len()).ok(), Some(1));
    }
}
