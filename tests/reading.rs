//! Reading partners' data back out, against the real binary on SQLite and PostgreSQL:
//! partners read their own current records on their data address (`GET`, pages and
//! business-key filters); consumers made with `wharf consumer add` read what they were given
//! through the consumer API, every partner's or one's. Credentials never cross: partners' do
//! not open the consumer API, consumers' open no partner route. Pages walked while batches
//! apply repeat no record and skip none that stayed. Every answer is checked against its
//! OpenAPI document (the partners' as the gateway serves it at `/openapi.json`,
//! `gateway/consumer-openapi.yaml`).

mod util;

use serde_json::{json, Value};
use util::data::{bom_key, bom_row, envelope, export};
use util::http::{client_token, send, Auth};
use util::openapi::{served_document, Client, LOCAL};
use util::{add_partner, add_user, Backend, Wharf, PASSWORD};

const CONSUMER_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/gateway/consumer-openapi.yaml");
const SYNC: &str = "/v1.0/scc/data/sync";

/// Send `rows` as one batch of one sequence, by `method` (POST insert, DELETE delete), to
/// t1/bom; it must apply.
fn apply(w: &Wharf, token: &str, method: &str, env: &str, batch: &str, rows: Vec<Value>) {
    let prefix = if env == "uat" { "/uat" } else { "" };
    let size = rows.len();
    let r = send(
        method,
        &format!("{}{prefix}{SYNC}/t1/bom", w.http_url()),
        &Auth::Bearer(token),
        &envelope(batch, size, "1", rows),
    );
    r.expect(200, "0");
}

/// `n` rows whose business keys start with `prefix`.
fn rows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| bom_row(&format!("{prefix}{i:03}")))
        .collect()
}

/// Every record of a paged read: `first` is the path and query of the first page; `page`
/// reads one page and returns (its records, its next cursor).
fn walk(mut page: impl FnMut(&str) -> (Vec<Value>, Value), first: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = first.to_string();
    loop {
        let (records, next) = page(&url);
        all.extend(records);
        match next.as_str() {
            Some(cursor) => url = format!("{first}&after={cursor}"),
            None => return all,
        }
    }
}

/// Sorted JSON texts of rows, to compare sets of rows.
fn sorted(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(Value::to_string).collect();
    v.sort();
    v
}

/// A partner's read-back: pages of its own records equal to `wharf export`, filters on the
/// business key, clear 400s, UAT apart, nothing of another partner's.
fn partners_read_back(backend: Backend) {
    let w = Wharf::new(backend);
    let (p1, p2) = (add_partner(&w, None), add_partner(&w, None));
    let u1 = add_user(&w, &p1);
    let _server = w.serve();
    let (t1, t2) = (
        client_token(&w.http_url(), &p1),
        client_token(&w.http_url(), &p2),
    );
    apply(&w, &t1, "POST", "prod", "RB-1", rows("A", 7));
    apply(&w, &t1, "POST", "uat", "RB-U", rows("U", 2));
    apply(&w, &t2, "POST", "prod", "RB-2", rows("B", 3));
    let (doc, _) = served_document(&w.http_url(), &w.data_dir);
    let api = Client::new(w.http_url(), &doc, LOCAL);

    // Pages of 3 walk all 7, equal to what the operator's export shows.
    let page = |url: &str| {
        let r = api.get(url, &t1);
        let body = r.expect(200, "0");
        let records = body["result"]["records"]
            .as_array()
            .expect("records")
            .clone();
        assert!(records.len() <= 3, "{body}");
        (records, body["result"]["next"].clone())
    };
    let mine = walk(page, &format!("{SYNC}/t1/bom?limit=3"));
    assert_eq!(mine.len(), 7);
    assert_eq!(sorted(&mine), sorted(&export(&w, &p1, "t1/bom", None)));
    // HTTP Basic reads the same; the default page holds them all.
    let r = api.call(
        "GET",
        &format!("{SYNC}/t1/bom"),
        &Auth::Basic(&u1, PASSWORD),
        None,
    );
    let body = r.expect(200, "0");
    assert_eq!(body["result"]["records"].as_array().map(Vec::len), Some(7));
    assert_eq!(body["result"]["next"], Value::Null);
    // UAT holds its own rows; the other partner sees only its own.
    let r = api.get(&format!("/uat{SYNC}/t1/bom"), &t1);
    let uat = r.expect(200, "0")["result"]["records"].clone();
    assert_eq!(
        sorted(uat.as_array().expect("records")),
        sorted(&export(&w, &p1, "t1/bom", Some("uat")))
    );
    let r = api.get(&format!("{SYNC}/t1/bom"), &t2);
    let theirs = r.expect(200, "0")["result"]["records"].clone();
    assert_eq!(
        sorted(theirs.as_array().expect("records")),
        sorted(&export(&w, &p2, "t1/bom", None))
    );

    // Filters on business-key fields: one of them, or the whole key (one record).
    let r = api.get(&format!("{SYNC}/t1/bom?vendor_father_item=A004"), &t1);
    let one = r.expect(200, "0")["result"]["records"].clone();
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one[0]["vendor_father_item"], "A004");
    let key = bom_key("A005");
    let query: Vec<String> = key
        .as_object()
        .expect("key")
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().expect("text")))
        .collect();
    let r = api.get(&format!("{SYNC}/t1/bom?{}", query.join("&")), &t1);
    let one = r.expect(200, "0")["result"]["records"].clone();
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one[0]["vendor_father_item"], "A005");
    let r = api.get(&format!("{SYNC}/t1/bom?vendor_father_item=NONE"), &t1);
    assert_eq!(r.expect(200, "0")["result"]["records"], json!([]));

    // Clear refusals.
    for (query, says) in [
        ("child_item=123", "not a business-key field"),
        ("version=1&version=2", "twice"),
        ("after=not-a-cursor", "cursor"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
    ] {
        let r = api.get(&format!("{SYNC}/t1/bom?{query}"), &t1);
        assert_eq!(r.status, 400, "{query}: {r:?}");
        let msg = r.json()["msg"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(says), "{query}: {msg}");
    }
    // An interface wharf does not have is no path of the document: asked outside it.
    let r = util::http::request(
        "GET",
        &format!("{}{SYNC}/zz/bom", w.http_url()),
        &Auth::Bearer(&t1),
        None,
        &[],
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = api.call("GET", &format!("{SYNC}/t1/bom"), &Auth::None, None);
    assert_eq!(r.status, 401, "{r:?}");
    api.check_against_document();
}

/// A consumer reads what it was given, every partner's or one's; nothing else, and no
/// credential crosses between partners' routes and the consumer API.
fn consumers_read(backend: Backend) {
    let w = Wharf::new(backend);
    let (p1, p2) = (add_partner(&w, None), add_partner(&w, None));
    let u1 = add_user(&w, &p1);
    let name = util::unique("planning");
    let out = w.ok(&["consumer", "add", &name, "--interfaces", "t1/bom"], "");
    let token = out.trim().to_string();
    assert_eq!(token.len(), 64, "one token on stdout: {out:?}");
    // An unknown interface is refused, naming it; a taken name too.
    let bad = w.run(&["consumer", "add", "other", "--interfaces", "t1/nope"], "");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("t1/nope"),
        "{bad:?}"
    );
    let again = w.run(&["consumer", "add", &name, "--all"], "");
    assert_eq!(again.status.code(), Some(65), "{again:?}");
    let all_name = util::unique("lake");
    let all_token = w
        .ok(&["consumer", "add", &all_name, "--all"], "")
        .trim()
        .to_string();
    let operator = w
        .ok(&["operator", "add", &util::unique("ops")], "")
        .trim()
        .to_string();

    let _server = w.serve();
    let (t1, t2) = (
        client_token(&w.http_url(), &p1),
        client_token(&w.http_url(), &p2),
    );
    apply(&w, &t1, "POST", "prod", "CR-1", rows("A", 4));
    apply(&w, &t2, "POST", "prod", "CR-2", rows("B", 3));
    apply(&w, &t2, "POST", "uat", "CR-U", rows("U", 2));
    let api = Client::new(w.http_url(), CONSUMER_DOC, "http://127.0.0.1");
    let records = "/consumer/v1/records/t1/bom";

    // Every partner's prod records, pages of 2, each with its partner.
    let page = |url: &str| {
        let r = api.get(url, &token);
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.json();
        let records = body["records"].as_array().expect("records").clone();
        assert!(records.len() <= 2, "{body}");
        (records, body["next"].clone())
    };
    let every = walk(page, &format!("{records}?environment=prod&limit=2"));
    let by = |p: &str| -> Vec<Value> {
        every
            .iter()
            .filter(|r| r["partner"] == p)
            .map(|r| r["data"].clone())
            .collect()
    };
    assert_eq!(every.len(), 7, "{every:?}");
    assert_eq!(sorted(&by(&p1)), sorted(&export(&w, &p1, "t1/bom", None)));
    assert_eq!(sorted(&by(&p2)), sorted(&export(&w, &p2, "t1/bom", None)));
    // One partner's, a key filter, UAT.
    let r = api.get(&format!("{records}?environment=prod&partner={p2}"), &token);
    assert_eq!(
        r.json()["records"].as_array().map(Vec::len),
        Some(3),
        "{r:?}"
    );
    let r = api.get(
        &format!("{records}?environment=prod&vendor_father_item=A002"),
        &token,
    );
    let one = r.json()["records"].clone();
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{r:?}");
    assert_eq!(one[0]["partner"], p1.as_str());
    let r = api.get(&format!("{records}?environment=uat"), &token);
    assert_eq!(
        r.json()["records"].as_array().map(Vec::len),
        Some(2),
        "{r:?}"
    );

    // Refusals: no environment, a field outside the key, an interface not given.
    let r = api.get(records, &token);
    assert_eq!(r.status, 400, "{r:?}");
    let r = api.get(&format!("{records}?environment=prod&split=0.28"), &token);
    assert_eq!(r.status, 400, "{r:?}");
    let r = api.get(
        "/consumer/v1/records/odm/master_data?environment=prod",
        &token,
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = api.get(
        "/consumer/v1/records/odm/master_data?environment=prod",
        &all_token,
    );
    assert_eq!(r.status, 200, "a consumer of every interface: {r:?}");
    // (A method the document does not list: not one to check against it.)
    let url = format!("{}{records}", w.http_url());
    let r = util::http::request("POST", &url, &Auth::Bearer(&token), None, &[]);
    assert_eq!(r.status, 405, "{r:?}");
    let doc = api.call("GET", "/consumer/v1/openapi.yaml", &Auth::None, None);
    assert_eq!(doc.status, 200);
    assert_eq!(
        doc.body,
        std::fs::read_to_string(CONSUMER_DOC).expect("doc")
    );

    // Credentials never cross.
    let prod = format!("{records}?environment=prod");
    for (what, auth) in [
        ("no credentials", Auth::None),
        ("a partner's bearer token", Auth::Bearer(&t1)),
        ("a partner user's password", Auth::Basic(&u1, PASSWORD)),
        ("an operator's token", Auth::Bearer(&operator)),
        ("a malformed token", Auth::Bearer("x")),
    ] {
        let r = api.call("GET", &prod, &auth, None);
        assert_eq!(r.status, 401, "{what}: {r:?}");
    }
    let bom = format!("{}{SYNC}/t1/bom", w.http_url());
    let r = util::http::request("GET", &bom, &Auth::Bearer(&token), None, &[]);
    assert_eq!(
        r.status, 401,
        "a consumer's token on a partner's read-back: {r:?}"
    );
    let r = send(
        "POST",
        &bom,
        &Auth::Bearer(&token),
        &envelope("X", 1, "1", rows("X", 1)),
    );
    assert_eq!(
        r.status, 401,
        "a consumer's token on a partner's data call: {r:?}"
    );

    // Listed (never the token), revoked: its token stops at once.
    let list = w.ok(&["consumer", "list", "--json"], "");
    assert!(list.contains(&name) && list.contains("t1/bom"), "{list}");
    assert!(!list.contains(&token), "{list}");
    w.ok(&["consumer", "revoke", &name], "");
    let r = api.get(&prod, &token);
    assert_eq!(r.status, 401, "revoked: {r:?}");
    let audit = w.ok(&["audit", "list", "--kind", "admin", "--json"], "");
    assert!(
        audit.contains("consumer.add") && audit.contains("consumer.revoke"),
        "{audit}"
    );
    assert!(!audit.contains(&token), "{audit}");
    api.check_against_document();
}

/// Pages walked while other batches insert and delete: no record twice, and every record
/// present from start to end is read.
fn paging_while_batches_apply(backend: Backend) {
    let w = Wharf::new(backend);
    let p = add_partner(&w, None);
    let _server = w.serve();
    let t = client_token(&w.http_url(), &p);
    // The rows that stay, and rows that come and go between pages.
    apply(&w, &t, "POST", "prod", "PG-0", rows("S", 40));
    let (doc, _) = served_document(&w.http_url(), &w.data_dir);
    let api = Client::new(w.http_url(), &doc, LOCAL);
    let mut turn = 0;
    let page = |url: &str| {
        turn += 1;
        // Between pages: a batch adds keys before and after the cursor, another removes them.
        apply(
            &w,
            &t,
            "POST",
            "prod",
            &format!("PG-A{turn}"),
            vec![
                bom_row(&format!("A{turn:03}")),
                bom_row(&format!("Z{turn:03}")),
            ],
        );
        if turn > 1 {
            let gone = turn - 1;
            apply(
                &w,
                &t,
                "DELETE",
                "prod",
                &format!("PG-D{turn}"),
                vec![
                    bom_key(&format!("A{gone:03}")),
                    bom_key(&format!("Z{gone:03}")),
                ],
            );
        }
        let r = api.get(url, &t);
        let body = r.expect(200, "0");
        (
            body["result"]["records"]
                .as_array()
                .expect("records")
                .clone(),
            body["result"]["next"].clone(),
        )
    };
    let seen = walk(page, &format!("{SYNC}/t1/bom?limit=5"));
    let keys: Vec<String> = seen
        .iter()
        .map(|r| r["vendor_father_item"].as_str().unwrap_or("").to_string())
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "a record read twice: {keys:?}");
    let stayed: Vec<&String> = keys.iter().filter(|k| k.starts_with('S')).collect();
    assert_eq!(
        stayed.len(),
        40,
        "every record that stayed is read: {keys:?}"
    );
}

#[test]
fn partners_read_back_sqlite() {
    partners_read_back(Backend::Sqlite);
}

#[test]
fn partners_read_back_postgres() {
    partners_read_back(Backend::Postgres);
}

#[test]
fn consumers_read_sqlite() {
    consumers_read(Backend::Sqlite);
}

#[test]
fn consumers_read_postgres() {
    consumers_read(Backend::Postgres);
}

#[test]
fn paging_while_batches_apply_sqlite() {
    paging_while_batches_apply(Backend::Sqlite);
}

#[test]
fn paging_while_batches_apply_postgres() {
    paging_while_batches_apply(Backend::Postgres);
}
