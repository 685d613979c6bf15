//! The partners' contract, exact and served: the OpenAPI document the gateway generates from
//! the interfaces core loaded (`GET /openapi.json`) is valid OpenAPI 3.1, describes an
//! interface added in `WHARF_INTERFACES_DIR` with its fields, lists every route the server
//! takes (every documented path and method answers with a documented status; any other
//! method is a 405 whose `Allow` names the documented ones), and allows every answer the
//! server gives, checked with the Python `openapi-core` validator: each interface's example
//! sent verbatim, seed 002's request at seed 002's address, every code (0, E00A00, E00P00,
//! E00V00, E00W00, E00M00) and refusal (400, 401, 404, 408, 409, 413), the read-back, the
//! batch view and the batch actions.

mod util;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use util::data::{bom_key, bom_row, bom_row_with, envelope, SEED_002};
use util::http::{client_token, request, Auth, Reply};
use util::openapi::{served_document, Client, LOCAL};
use util::{add_partner, Backend, Wharf};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];
const SYNC: &str = "/v1.0/scc/data/sync";
const SEED_002_PATH: &str = "/v1.0/supply_chain/scc/open_platform/data/sync/t1/bom";

/// An interface only this test's installation has.
const STOCK: &str = r#"{
  "data_category": "tn", "biz_key": "stock", "description": "stock on hand (a test's)",
  "business_key": ["pn", "plant"],
  "fields": [
    { "name": "pn", "type": "string", "required": true, "max_length": 30 },
    { "name": "plant", "type": "string", "required": true, "max_length": 10 },
    { "name": "qty", "type": "decimal(13,3)", "required": true, "exceptions": ["N/A"] },
    { "name": "since", "type": "date" },
    { "name": "grade", "type": "string", "allowed": ["A", "B"], "default": "A" }
  ],
  "example": { "pn": "P-1", "plant": "H121", "qty": "N/A", "since": "2024-02-29" }
}"#;

/// An installation whose interfaces dir holds `STOCK`, its request timeout 3 s (for the 408)
/// and at most 2 rejections a sequence (for E00P00).
fn installation() -> Wharf {
    let mut w = Wharf::new(Backend::Sqlite);
    let dir = w.data_dir.join("interfaces");
    std::fs::create_dir_all(&dir).expect("interfaces dir");
    std::fs::write(dir.join("stock.json"), STOCK).expect("write a definition");
    w.extra_env.extend([
        ("WHARF_INTERFACES_DIR".into(), dir.display().to_string()),
        ("WHARF_HTTP_TIMEOUT_SECS".into(), "3".into()),
        ("WHARF_MAX_ATTEMPTS".into(), "2".into()),
    ]);
    w
}

/// The document is valid OpenAPI 3.1 (`openapi-spec-validator`).
fn assert_valid(doc_path: &str) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom openapi_spec_validator import validate\n\
             from openapi_spec_validator.readers import read_from_filename\n\
             validate(read_from_filename(sys.argv[1])[0])",
            doc_path,
        ])
        .output()
        .expect("python3 (scripts/test installs openapi-spec-validator)");
    assert!(
        out.status.success(),
        "{doc_path} is not valid OpenAPI 3.1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every documented path and method answers with one of its documented statuses (never 404
/// or 405); every other method of a documented path is a 405 naming the documented ones.
fn assert_routes_answer(doc: &Value, base: &str) {
    let paths = doc["paths"].as_object().expect("paths");
    // Per interface: 2 environments × 2 address families × (data, batch view, action).
    assert_eq!(
        paths.len(),
        4 + 3 * 12,
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, item) in paths {
        let concrete = path
            .replace("{batch_id}", "B1")
            .replace("{action}", "revert");
        let url = format!("{base}{concrete}");
        let documented: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        for method in METHODS {
            let r = request(&method.to_uppercase(), &url, &Auth::None, None, &[]);
            match item.get(method) {
                Some(op) => {
                    let statuses = op["responses"].as_object().expect("responses");
                    assert!(
                        statuses.contains_key(&r.status.to_string())
                            && r.status != 404
                            && r.status != 405,
                        "{method} {path}: answered {}, documented {:?}",
                        r.status,
                        statuses.keys().collect::<Vec<_>>()
                    );
                }
                None => {
                    assert_eq!(r.status, 405, "{method} {path} is not documented: {r:?}");
                    let allow: BTreeSet<String> = r
                        .header("allow")
                        .unwrap_or("")
                        .split(',')
                        .map(|m| m.trim().to_string())
                        .collect();
                    assert_eq!(allow, documented, "405's Allow on {path}");
                }
            }
        }
    }
}

/// A request whose body stalls: the gateway's 408, read off the socket.
fn stalled_body(base: &str, path: &str, token: &str) -> Reply {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("the answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    Reply {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect(),
        body: body.to_string(),
    }
}

#[test]
fn the_served_document_is_valid_complete_and_true_to_every_answer() {
    let w = installation();
    let partner = add_partner(&w, None);
    let odm_only = add_partner(&w, Some("odm/master_data"));
    let _server = w.serve();
    let base = w.http_url();
    let (doc_path, doc) = served_document(&base, &w.data_dir);
    assert_valid(&doc_path);

    // The interface from WHARF_INTERFACES_DIR, with its fields' rules.
    let stock = &doc["components"]["schemas"]["tn.stock.Row"];
    assert_eq!(stock["required"], json!(["pn", "plant", "qty"]), "{stock}");
    assert_eq!(stock["properties"]["pn"]["maxLength"], 30, "{stock}");
    assert_eq!(stock["properties"]["grade"]["default"], "A", "{stock}");
    assert_eq!(
        stock["properties"]["grade"]["anyOf"][0]["enum"],
        json!(["A", "B"])
    );
    assert_eq!(
        stock["properties"]["qty"]["anyOf"][1]["enum"],
        json!(["N/A"])
    );
    assert_eq!(stock["properties"]["since"]["anyOf"][0]["format"], "date");
    assert!(doc["paths"]["/uat/v1.0/scc/data/sync/tn/stock"]["patch"].is_object());
    // t1/bom's example is seed 002's request.
    let example = |iface: &str, body: &str| {
        doc["components"]["requestBodies"][format!("{iface}.{body}")]["content"]["application/json"]
            ["example"]
            .clone()
    };
    let seed: Value = serde_json::from_str(SEED_002).expect("seed 002");
    assert_eq!(example("t1.bom", "Write"), seed);

    assert_routes_answer(&doc, &base);

    let api = Client::new(base.clone(), &doc_path, LOCAL);
    fn form(body: &str) -> Option<(&str, &[u8])> {
        Some(("application/x-www-form-urlencoded", body.as_bytes()))
    }
    let r = api.send(
        "POST",
        "/oauth/token",
        &Auth::None,
        form(&format!(
            "grant_type=client_credentials&client_id={partner}&client_secret={}",
            util::SECRET
        )),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);
    assert_eq!(
        api.send("POST", "/oauth/token", &Auth::None, form("grant_type=x"))
            .status,
        400
    );
    let r = api.send(
        "POST",
        "/oauth/token",
        &Auth::None,
        form(&format!(
            "grant_type=client_credentials&client_id={partner}&client_secret=wrong"
        )),
    );
    assert_eq!(r.status, 401, "{r:?}");

    // Every interface's examples, sent verbatim: each operation accepts its own.
    for iface in ["t1/bom", "odm/master_data", "tn/stock"] {
        let name = iface.replace('/', ".");
        let path = format!("/uat{SYNC}/{iface}");
        for (method, body) in [
            ("POST", "Write"),
            ("PUT", "Write"),
            ("PATCH", "Write"),
            ("DELETE", "Delete"),
        ] {
            let mut sent = example(&name, body);
            assert!(sent.is_object(), "{iface} has a {body} example");
            // A batch a call: a batch once applied answers its sequences E00A00.
            sent["batch_id"] = json!(format!("EX-{method}"));
            api.call(method, &path, &auth, Some(&sent)).expect(200, "0");
        }
    }
    // Seed 002's request, verbatim, at seed 002's address; again: already consumed.
    let json_body = |text: &'static str| Some(("application/json", text.as_bytes()));
    api.send("POST", SEED_002_PATH, &auth, json_body(SEED_002))
        .expect(200, "0");
    api.send("POST", SEED_002_PATH, &auth, json_body(SEED_002))
        .expect(200, "E00A00");

    // Rejections: a bad row, a key twice, both; a sequence rejected past the limit.
    let bad = bom_row_with("BAD", &[("effective_end_date", "2022-02-30")]);
    let path = format!("{SYNC}/t1/bom");
    let r = api.call(
        "POST",
        &path,
        &auth,
        Some(&value(envelope("V", 1, "1", vec![bad.clone()]))),
    );
    r.expect(200, "E00V00");
    let twice = vec![bom_row("DUP"), bom_row("DUP")];
    api.call(
        "POST",
        &path,
        &auth,
        Some(&value(envelope("W", 2, "1", twice))),
    )
    .expect(200, "E00W00");
    let both = vec![bom_row("M"), bom_row("M"), bad.clone()];
    let m = api.call(
        "POST",
        &path,
        &auth,
        Some(&value(envelope("M", 3, "1", both))),
    );
    let m = m.expect(200, "E00M00");
    assert_eq!(m["result"][0]["code"], "E00V00", "{m}");
    for expected in ["E00V00", "E00V00", "E00P00"] {
        api.call(
            "POST",
            &path,
            &auth,
            Some(&value(envelope("P", 1, "1", vec![bad.clone()]))),
        )
        .expect(200, expected);
    }
    // The envelope's own problems.
    let r = api.call(
        "POST",
        &path,
        &auth,
        Some(&json!({ "batch_id": "", "data": 1 })),
    );
    r.expect(200, "E00V00");
    // Over 1 MiB.
    let big = "x".repeat(1024 * 1024 + 1);
    let r = api.send(
        "POST",
        &path,
        &auth,
        Some(("application/json", big.as_bytes())),
    );
    r.expect(413, "E00V00");
    // A body that never arrives.
    let r = stalled_body(&base, &path, &token);
    assert_eq!(r.status, 408, "{r:?}");
    api.record("POST", &path, &r);

    // Read back, the batch view and the actions.
    let page = api.call(
        "GET",
        &format!("/uat{SYNC}/tn/stock?limit=5&plant=H121"),
        &auth,
        None,
    );
    assert_eq!(
        page.json()["result"]["records"].as_array().map(Vec::len),
        Some(0),
        "{page:?}"
    );
    api.call(
        "POST",
        &path,
        &auth,
        Some(&value(envelope("RB", 1, "1", vec![bom_row("RB")]))),
    )
    .expect(200, "0");
    let page = api.call(
        "GET",
        &format!("{path}?limit=1&vendor_father_item=RB"),
        &auth,
        None,
    );
    assert_eq!(
        page.json()["result"]["records"][0]["vendor_father_item"],
        "RB"
    );
    api.call("GET", &format!("{path}?limit=0"), &auth, None)
        .expect(400, "400");
    api.call("GET", &format!("{path}?owner=x"), &auth, None)
        .expect(400, "400");
    let view = api
        .call("GET", &format!("{path}/batches/RB"), &auth, None)
        .expect(200, "0");
    assert_eq!(view["result"]["state"], "applied", "{view}");
    api.call(
        "GET",
        &format!("{SEED_002_PATH}/batches/100055"),
        &auth,
        None,
    )
    .expect(200, "0");
    api.call(
        "GET",
        &format!("/uat{SEED_002_PATH}/batches/100055"),
        &auth,
        None,
    )
    .expect(404, "404");
    api.call("POST", &format!("{path}/batches/RB/cancel"), &auth, None)
        .expect(409, "409");
    api.call("POST", &format!("{path}/batches/RB/revert"), &auth, None)
        .expect(200, "0");
    api.call("POST", &format!("{path}/batches/RB/revert"), &auth, None)
        .expect(409, "409");
    api.call("POST", &format!("{path}/batches/NONE/execute"), &auth, None)
        .expect(404, "404");
    let delete = vec![bom_key("RB")];
    api.call(
        "DELETE",
        &path,
        &auth,
        Some(&value(envelope("D", 1, "1", delete))),
    )
    .expect(200, "0");

    // Refusals: bad credentials, an interface this partner may not use.
    let nobody = Auth::Bearer("not-a-token");
    api.call("GET", &path, &nobody, None).expect(401, "401");
    api.call("POST", &path, &Auth::Basic("nobody", "x"), Some(&seed))
        .expect(401, "401");
    let other = client_token(&base, &odm_only);
    api.call("POST", &path, &Auth::Bearer(&other), Some(&seed))
        .expect(404, "404");
    api.call(
        "GET",
        &format!("{path}/batches/RB"),
        &Auth::Bearer(&other),
        None,
    )
    .expect(404, "404");

    // The door's own routes.
    for probe in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(
            api.call("GET", probe, &Auth::None, None).status,
            200,
            "{probe}"
        );
    }
    api.check_against_document();
}

/// A JSON text as a value (the util's builders give text).
fn value(text: String) -> Value {
    serde_json::from_str(&text).expect("JSON")
}
