//! The partners' contract: the HTTP API's OpenAPI 3.1 document, generated from the interface
//! definitions core loaded and served at `GET /openapi.json`.
//!
//! One path per interface, environment and address family (SPEC §6 and seed 002's alias),
//! each interface's request bodies with its fields' rules (`rows`), and every answer the
//! door gives with its status (`answers`). Definitions change only when core restarts: the
//! rendered document is kept for [`DOCUMENT_TTL`], then asked of core again.

mod answers;
mod rows;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Map, Value as Json};
use wharf_proto::trace::Context;
use wharf_proto::v1::{InterfaceDef, ListInterfacesRequest};

use crate::handler::traced;
use crate::reply::{self, Reply};
use crate::Gateway;

/// How long a rendered document is served before core's definitions are read again.
pub const DOCUMENT_TTL: Duration = Duration::from_secs(60);

/// The data addresses: SPEC §6's, and seed 002's, an alias of the same routes.
const FAMILIES: [(&str, bool); 2] = [
    ("/v1.0/scc/data/sync", false),
    ("/v1.0/supply_chain/scc/open_platform/data/sync", true),
];

/// The environments' path prefixes.
const ENVIRONMENTS: [(&str, &str); 2] = [("", "prod"), ("/uat", "uat")];

/// The last document rendered, and when.
#[derive(Default)]
pub(crate) struct DocumentCache(Mutex<Option<(Instant, Bytes)>>);

impl DocumentCache {
    fn fresh(&self) -> Option<Bytes> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|(at, _)| at.elapsed() < DOCUMENT_TTL)
            .map(|(_, body)| body.clone())
    }

    fn keep(&self, body: Bytes) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), body));
    }
}

impl Gateway {
    /// `GET /openapi.json`: the document, rendered from every interface core loaded.
    pub(crate) async fn contract(&self, cx: &Context) -> Reply {
        if let Some(body) = self.document.fresh() {
            return reply::json_text(body);
        }
        let mut core = self.core.clone();
        let req = ListInterfacesRequest {
            partner: String::new(),
            all: true,
        };
        match core.list_interfaces(traced(req, cx)).await {
            Ok(list) => {
                let body = Bytes::from(document(&list.into_inner().interfaces).to_string());
                self.document.keep(body.clone());
                reply::json_text(body)
            }
            Err(s) => reply::from_status(&s),
        }
    }
}

/// A `$ref` to a component.
fn to(kind: &str, name: &str) -> Json {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

/// The responses of an operation: (status, response component).
fn responses(list: &[(&str, &str)]) -> Json {
    list.iter()
        .map(|(status, name)| (status.to_string(), to("responses", name)))
        .collect::<Map<String, Json>>()
        .into()
}

/// The statuses of a data call (POST, PUT, DELETE, PATCH).
const WRITE: [(&str, &str); 8] = [
    ("200", "Answer"),
    ("400", "BadRequest"),
    ("401", "Unauthorized"),
    ("404", "NotFound"),
    ("408", "BodyTimeout"),
    ("413", "TooLarge"),
    ("429", "TooManyLogins"),
    ("500", "SystemError"),
];

/// One interface's component names: `{data_category}.{biz_key}.{what}`.
fn named(i: &InterfaceDef, what: &str) -> String {
    format!("{}.{}.{what}", i.data_category, i.biz_key)
}

/// The data address of one interface in one environment: read back, and the four operations.
fn data_path(i: &InterfaceDef, env: &str, alias: bool) -> Json {
    let id = format!("{}/{}", i.data_category, i.biz_key);
    let space = match env {
        "uat" => " (UAT data space)",
        _ => "",
    };
    let note = match alias {
        true => "Seed 002's address: the same route as `/v1.0/scc/data/sync/…`.",
        false => "",
    };
    let write = |summary: &str, body: &str| {
        json!({
            "tags": [id],
            "summary": format!("{summary}{space}"),
            "description": note,
            "requestBody": to("requestBodies", &named(i, body)),
            "responses": responses(&WRITE),
        })
    };
    let mut query = vec![to("parameters", "limit"), to("parameters", "after")];
    query.extend(i.business_key.iter().map(|k| {
        json!({ "name": k, "in": "query", "schema": { "type": "string" },
                "description": "only records whose business-key field equals this" })
    }));
    json!({
        "get": {
            "tags": [id],
            "summary": format!("Read back your current records{space}, a page at a time"),
            "description": format!("{note} Every record is a row as wharf holds it now, by business key, every value as text. `result.next` is the next page's cursor (send it as `after`), `null` on the last page. A page is one snapshot; across pages no record comes twice."),
            "parameters": query,
            "responses": responses(&[
                ("200", &named(i, "Records")),
                ("400", "BadRequest"),
                ("401", "Unauthorized"),
                ("404", "NotFound"),
                ("429", "TooManyLogins"),
                ("500", "SystemError"),
            ]),
        },
        "post": write("Insert: every row is new", "Write"),
        "put": write("Update: add or change rows, by uid or business key", "Write"),
        "delete": write("Delete the rows identified (key fields only)", "Delete"),
        "patch": write("All: your whole data set of this interface is replaced", "Write"),
    })
}

/// A batch's view, and the actions on it.
fn batch_paths(i: &InterfaceDef, alias: bool) -> (Json, Json) {
    let id = format!("{}/{}", i.data_category, i.biz_key);
    let note = match alias {
        true => "Seed 002's address: the same route as `/v1.0/scc/data/sync/…`.",
        false => "",
    };
    let view = json!({
        "parameters": [to("parameters", "batch_id")],
        "get": {
            "tags": [id],
            "summary": "A batch's state and its schedule (seed 003's batch proposal)",
            "description": note,
            "responses": responses(&[
                ("200", "Batch"),
                ("401", "Unauthorized"),
                ("404", "NotFound"),
                ("429", "TooManyLogins"),
                ("500", "SystemError"),
            ]),
        },
    });
    let action = json!({
        "parameters": [to("parameters", "batch_id"), to("parameters", "action")],
        "post": {
            "tags": [id],
            "summary": "Act on a batch by hand: execute a held one now, revert an applied one, cancel one that has not run",
            "description": note,
            "responses": responses(&[
                ("200", "Batch"),
                ("401", "Unauthorized"),
                ("404", "NotFound"),
                ("409", "Conflict"),
                ("429", "TooManyLogins"),
                ("500", "SystemError"),
            ]),
        },
    });
    (view, action)
}

/// The routes that are not an interface's: tokens, probes and this document.
fn door_paths() -> Map<String, Json> {
    let paths = json!({
        "/oauth/token": { "post": {
            "tags": ["tokens"],
            "summary": "Get an access token (RFC 6749): client credentials, or a user's password",
            "security": [],
            "requestBody": { "required": true, "content": { "application/x-www-form-urlencoded": { "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": { "enum": ["client_credentials", "password"] },
                    "client_id": { "type": "string", "description": "your app name (or in a Basic header)" },
                    "client_secret": { "type": "string" },
                    "username": { "type": "string", "description": "password grant only" },
                    "password": { "type": "string", "description": "password grant only" },
                },
            } } } },
            "responses": responses(&[
                ("200", "Token"),
                ("400", "OAuthError"),
                ("401", "OAuthInvalidClient"),
                ("408", "BodyTimeout"),
                ("429", "TooManyLogins"),
                ("500", "SystemError"),
            ]),
        } },
        "/healthz": { "get": {
            "tags": ["probes"],
            "summary": "The process is alive",
            "security": [],
            "responses": { "200": { "description": "Alive", "content": { "application/json": { "schema": {
                "type": "object", "required": ["status"],
                "properties": { "status": { "const": "ok" } }, "additionalProperties": false,
            } } } } },
        } },
        "/readyz": { "get": {
            "tags": ["probes"],
            "summary": "The gateway can serve: core reachable, its store reachable and migrated",
            "security": [],
            "responses": {
                "200": { "description": "Ready", "content": { "application/json": { "schema": {
                    "type": "object", "required": ["status"],
                    "properties": { "status": { "const": "ready" } }, "additionalProperties": false,
                } } } },
                "503": { "description": "Not ready, and why", "content": { "application/json": { "schema": {
                    "type": "object", "required": ["status", "reason"],
                    "properties": { "status": { "const": "unavailable" }, "reason": { "type": "string" } },
                    "additionalProperties": false,
                } } } },
            },
        } },
        "/openapi.json": { "get": {
            "tags": ["contract"],
            "summary": "This document, generated from the interfaces wharf has loaded",
            "security": [],
            "responses": {
                "200": { "description": "The OpenAPI 3.1 document", "content": { "application/json": { "schema": { "type": "object" } } } },
                "500": to("responses", "SystemError"),
            },
        } },
    });
    match paths {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// One interface's schemas, request bodies and read-back response.
fn interface_components(i: &InterfaceDef, c: &mut Components) {
    let body = |row: &str, delete: bool| {
        let mut media = Map::new();
        media.insert(
            "schema".into(),
            rows::body(&format!("#/components/schemas/{}", named(i, row))),
        );
        if let Some(example) = rows::example(i, delete) {
            media.insert("example".into(), example);
        }
        json!({ "required": true, "content": { "application/json": media } })
    };
    c.schemas.insert(named(i, "Row"), rows::write_row(i));
    c.schemas.insert(named(i, "DeleteRow"), rows::delete_row(i));
    c.schemas.insert(named(i, "Record"), rows::record(i));
    c.bodies.insert(named(i, "Write"), body("Row", false));
    c.bodies.insert(named(i, "Delete"), body("DeleteRow", true));
    c.responses.insert(
        named(i, "Records"),
        json!({
            "description": "code 0; result: the page's records and the next page's cursor",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["code", "msg", "result"],
                "properties": {
                    "code": { "const": "0" },
                    "msg": { "type": "string" },
                    "result": {
                        "type": "object",
                        "required": ["records", "next"],
                        "properties": {
                            "records": { "type": "array", "items": to("schemas", &named(i, "Record")) },
                            "next": { "type": ["string", "null"] },
                        },
                        "additionalProperties": false,
                    },
                },
                "additionalProperties": false,
            } } },
        }),
    );
}

/// The document's components, filled as paths are made.
struct Components {
    schemas: Map<String, Json>,
    bodies: Map<String, Json>,
    responses: Map<String, Json>,
}

const DESCRIPTION: &str = "Partners push supply-chain rows in batches (SPEC §4–6) and read \
their current records back. Every data answer is `{\"code\", \"msg\", \"result\"}` with SPEC §5's \
codes, the same over FTP, SFTP and the upload page: `0` accepted, `-1` system error (HTTP 500, safe \
to retry), `E00A00` sequence already consumed, `E00P00` retry upper limit reached, `E00V00` \
verification failed, `E00W00` write exception (a key exists or repeats), `E00M00` several of these. \
A sequence is all-or-nothing; a batch is applied in one transaction when its last row arrives.\n\n\
This document is generated from the interfaces this wharf has loaded: one address per \
interface and environment (`/uat/…` is the UAT data space), each also answering under seed \
002's address family `/v1.0/supply_chain/scc/open_platform/data/sync/…`, with each \
interface's fields, types, lengths, patterns, allowed values and exceptions. A blank or null \
value counts as absent; where text is expected a JSON number is read as its literal text. \
A method a path does not list is answered 405 with `Allow` naming those it does; any \
other path 404. Bodies are at most 1 MiB; requests time out after 60 s.";

/// The partners' OpenAPI 3.1 document for `interfaces`.
pub fn document(interfaces: &[InterfaceDef]) -> Json {
    let mut c = Components {
        schemas: answers::schemas(),
        bodies: Map::new(),
        responses: answers::responses(),
    };
    c.schemas.insert("Envelope".into(), rows::envelope());
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for i in interfaces {
        interface_components(i, &mut c);
        tags.push(json!({ "name": format!("{}/{}", i.data_category, i.biz_key), "description": i.description }));
        for (prefix, env) in ENVIRONMENTS {
            for (family, alias) in FAMILIES {
                let base = format!("{prefix}{family}/{}/{}", i.data_category, i.biz_key);
                let (view, action) = batch_paths(i, alias);
                paths.insert(base.clone(), data_path(i, env, alias));
                paths.insert(format!("{base}/batches/{{batch_id}}"), view);
                paths.insert(format!("{base}/batches/{{batch_id}}/{{action}}"), action);
            }
        }
    }
    paths.extend(door_paths());
    tags.extend([
        json!({ "name": "tokens", "description": "OAuth2 tokens for the data calls" }),
        json!({ "name": "probes", "description": "Liveness and readiness" }),
        json!({ "name": "contract", "description": "This document" }),
    ]);
    json!({
        "openapi": "3.1.0",
        "info": { "title": "wharf partners' HTTP API", "version": "1.0", "description": DESCRIPTION },
        "servers": [{ "url": "/" }],
        "security": [{ "basic": [] }, { "bearer": [] }],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic", "description": "a user's name and password" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "a token from POST /oauth/token" },
            },
            "parameters": {
                "batch_id": { "name": "batch_id", "in": "path", "required": true,
                    "schema": { "type": "string" }, "example": "100055" },
                "action": { "name": "action", "in": "path", "required": true,
                    "schema": { "enum": ["execute", "revert", "cancel"] } },
                "limit": { "name": "limit", "in": "query",
                    "schema": { "type": "integer", "minimum": 1, "maximum": 10000 },
                    "description": "records a page (default 1,000)" },
                "after": { "name": "after", "in": "query", "schema": { "type": "string" },
                    "description": "the previous page's `result.next`" },
            },
            "schemas": c.schemas,
            "requestBodies": c.bodies,
            "responses": c.responses,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_proto::v1::{FieldDef, FieldDetail};

    fn bom() -> InterfaceDef {
        // As core describes a field: its type, and its whole rule.
        let field = |name: &str, ty: &str, required: bool| FieldDef {
            name: name.into(),
            r#type: ty.into(),
            required,
            rule: Some(match ty {
                "decimal(13,3)" => FieldDetail {
                    format: "decimal".into(),
                    max_digits: Some(13),
                    max_decimals: Some(3),
                    ..Default::default()
                },
                _ => FieldDetail::default(),
            }),
            ..Default::default()
        };
        InterfaceDef {
            data_category: "t1".into(),
            biz_key: "bom".into(),
            fields: vec![
                field("uid", "string", false),
                field("vendor_code", "string", true),
                field("qty", "decimal(13,3)", true),
            ],
            business_key: vec!["vendor_code".into()],
            uid_field: "uid".into(),
            example: r#"{"vendor_code":"V1","qty":10.1}"#.into(),
            ..Default::default()
        }
    }

    #[test]
    fn every_interface_has_its_addresses_bodies_and_example() {
        let doc = document(&[bom()]);
        for path in [
            "/v1.0/scc/data/sync/t1/bom",
            "/uat/v1.0/scc/data/sync/t1/bom",
            "/v1.0/supply_chain/scc/open_platform/data/sync/t1/bom",
            "/uat/v1.0/supply_chain/scc/open_platform/data/sync/t1/bom/batches/{batch_id}/{action}",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        let row = &doc["components"]["schemas"]["t1.bom.Row"];
        assert_eq!(row["required"], json!(["vendor_code", "qty"]));
        assert_eq!(row["additionalProperties"], json!(false));
        assert_eq!(
            row["properties"]["qty"]["type"],
            json!(["string", "number"])
        );
        let example = &doc["components"]["requestBodies"]["t1.bom.Write"]["content"]
            ["application/json"]["example"];
        assert_eq!(example["data"][0]["qty"].to_string(), "10.1");
        let delete = &doc["components"]["requestBodies"]["t1.bom.Delete"]["content"]
            ["application/json"]["example"];
        assert_eq!(delete["data"][0], json!({ "vendor_code": "V1" }));
        let ways = &doc["components"]["schemas"]["t1.bom.DeleteRow"]["anyOf"];
        assert_eq!(ways[0]["required"], json!(["uid"]));
        assert_eq!(ways[1]["required"], json!(["vendor_code"]));
    }
}
