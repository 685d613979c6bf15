//! The change feed through the consumer API, against the real binary on SQLite and
//! PostgreSQL: inserts, updates, deletes, `all`, a held batch executed by hand and a revert,
//! from the HTTP API, FTP and the upload page, each once and in commit order with the right rows before and
//! after; a consumer that applies the feed to its own copy ends with what `wharf export`
//! shows; a cursor kept across a restart continues exactly; events split across pages. On
//! PostgreSQL, eight writers over two `wharf serve` replicas of one database while a consumer
//! follows: positions run 1, 2, 3… with no gap and no repeat, and the copy equals the store.
//! Every answer is checked against `gateway/consumer-openapi.yaml`.

mod util;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use util::data::{bom_key, bom_row, bom_row_with, envelope, export};
use util::ftp::{bom_dir, deliver, login};
use util::http::{client_token, send, Auth};
use util::openapi::Client;
use util::{add_partner, add_user, Backend, Wharf};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/gateway/consumer-openapi.yaml");
const SYNC: &str = "/v1.0/scc/data/sync";

/// A consumer's copy of the data: (partner, environment, interface, key) → the row.
type Copy = BTreeMap<(String, String, String, String), Value>;

/// Send one batch of one sequence by `method` to t1/bom of `base`; it must answer `0`.
fn batch(base: &str, token: &str, method: &str, id: &str, rows: Vec<Value>) {
    let n = rows.len();
    let r = send(
        method,
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(token),
        &envelope(id, n, "1", rows),
    );
    r.expect(200, "0");
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A follower of the feed: reads pages from its cursor and applies them to its copy,
/// checking that event positions run on by one with no repeat (it reads every event).
struct Follower {
    cursor: String,
    copy: Copy,
    /// (position, kind, operation, door, batch_id) of every event, in order.
    events: Vec<(i64, String, String, String, String)>,
    /// Changes of the events read, as (batch_id, change, key, before, after).
    changes: Vec<(String, String, String, Value, Value)>,
    /// An event that continues on the next page: its position.
    open: Option<i64>,
}

impl Follower {
    fn new() -> Follower {
        Follower {
            cursor: String::new(),
            copy: Copy::new(),
            events: Vec::new(),
            changes: Vec::new(),
            open: None,
        }
    }

    /// Read one page (`limit` changes); how many events it held.
    fn page(&mut self, api: &Client, token: &str, limit: u32) -> usize {
        let after = match self.cursor.as_str() {
            "" => String::new(),
            c => format!("&after={c}"),
        };
        let r = api.get(&format!("/consumer/v1/changes?limit={limit}{after}"), token);
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.json();
        let events = body["events"].as_array().expect("events").clone();
        for e in &events {
            let pos = e["position"].as_i64().expect("position");
            match self.open {
                // The rest of an event that did not end on the last page.
                Some(open) => assert_eq!(pos, open, "the open event goes on: {e}"),
                None => {
                    let last = self.events.last().map_or(0, |l| l.0);
                    assert_eq!(pos, last + 1, "positions run on by one: {e}");
                    self.events.push((
                        pos,
                        e["kind"].as_str().unwrap_or("").into(),
                        e["operation"].as_str().unwrap_or("").into(),
                        e["door"].as_str().unwrap_or("").into(),
                        e["batch_id"].as_str().unwrap_or("").into(),
                    ));
                }
            }
            self.open = (!e["complete"].as_bool().expect("complete")).then_some(pos);
            let scope = (
                e["partner"].as_str().unwrap_or("").to_string(),
                e["environment"].as_str().unwrap_or("").to_string(),
                e["interface"].as_str().unwrap_or("").to_string(),
            );
            for c in e["changes"].as_array().expect("changes") {
                let key = c["key"].to_string();
                let id = (
                    scope.0.clone(),
                    scope.1.clone(),
                    scope.2.clone(),
                    key.clone(),
                );
                let kind = c["change"].as_str().unwrap_or("").to_string();
                match kind.as_str() {
                    "insert" => {
                        assert!(c.get("before").is_none(), "{c}");
                        let had = self.copy.insert(id, c["after"].clone());
                        assert!(had.is_none(), "an insert of a key the copy holds: {c}");
                    }
                    "update" => {
                        let had = self.copy.insert(id, c["after"].clone());
                        assert_eq!(had.as_ref(), Some(&c["before"]), "before = the copy: {c}");
                    }
                    "delete" => {
                        assert!(c.get("after").is_none(), "{c}");
                        let had = self.copy.remove(&id);
                        assert_eq!(had.as_ref(), Some(&c["before"]), "before = the copy: {c}");
                    }
                    other => panic!("a change {other:?}: {c}"),
                }
                let batch_id = e["batch_id"].as_str().unwrap_or("").to_string();
                self.changes.push((
                    batch_id,
                    kind,
                    key,
                    c.get("before").cloned().unwrap_or(Value::Null),
                    c.get("after").cloned().unwrap_or(Value::Null),
                ));
            }
        }
        self.cursor = body["next"].as_str().expect("next").to_string();
        events.len()
    }

    /// Read until a page comes back empty.
    fn drain(&mut self, api: &Client, token: &str, limit: u32) {
        while self.page(api, token, limit) > 0 {}
        assert_eq!(self.open, None, "no event left half read");
    }

    /// The copy's rows of one partner's prod t1/bom, sorted as JSON text.
    fn rows(&self, partner: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .copy
            .iter()
            .filter(|((p, e, i, _), _)| p == partner && e == "prod" && i == "t1/bom")
            .map(|(_, row)| row.to_string())
            .collect();
        v.sort();
        v
    }

    /// Changes of batch `id`: (change, vendor_father_item of the row).
    fn of(&self, id: &str) -> Vec<(String, String)> {
        self.changes
            .iter()
            .filter(|c| c.0 == id)
            .map(|c| {
                let row = if c.4.is_null() { &c.3 } else { &c.4 };
                (
                    c.1.clone(),
                    row["vendor_father_item"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn exported(w: &Wharf, partner: &str) -> Vec<String> {
    let mut v: Vec<String> = export(w, partner, "t1/bom", None)
        .iter()
        .map(Value::to_string)
        .collect();
    v.sort();
    v
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Every kind of change through two doors, in order, each once, with its rows.
fn every_change_once(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let token = w
        .ok(&["consumer", "add", &util::unique("lake"), "--all"], "")
        .trim()
        .to_string();
    let bom_only = w
        .ok(
            &[
                "consumer",
                "add",
                &util::unique("bom"),
                "--interfaces",
                "t1/bom",
            ],
            "",
        )
        .trim()
        .to_string();
    let mut server = w.serve();
    let base = w.http_url();
    let pt = client_token(&base, &partner);
    let api = Client::new(base.clone(), DOC, "http://127.0.0.1");
    let mut f = Follower::new();

    batch(
        &base,
        &pt,
        "POST",
        "F-INS",
        vec![bom_row("A"), bom_row("B"), bom_row("C")],
    );
    batch(
        &base,
        &pt,
        "PUT",
        "F-UPD",
        vec![bom_row_with("A", &[("child_item", "999")]), bom_row("D")],
    );
    batch(
        &base,
        &pt,
        "DELETE",
        "F-DEL",
        vec![bom_key("B"), bom_key("NOPE")],
    );
    // A cursor kept across a restart of the server continues exactly.
    f.drain(&api, &token, 2);
    assert_eq!(f.events.len(), 3, "{:?}", f.events);
    drop(server);
    server = w.serve();
    // FTP's door, then `all`, then a held batch executed by hand and a revert.
    let mut ftp = login(&w, &user);
    let body = envelope("F-FTP", 1, "1", vec![bom_row("E")]);
    let answer = deliver(
        &mut ftp,
        &bom_dir(&partner),
        "bom_insert_20260101000000_1.json",
        body.as_bytes(),
    );
    assert_eq!(answer["code"], "0", "{answer}");
    let _ = ftp.quit();
    // The upload page's door: a sheet of one row.
    let jar = w.data_dir.join("feed-cookies.txt");
    let sheet = w.data_dir.join("feed.csv");
    std::fs::write(&sheet, util::data::sheet_csv(&[bom_row("H")])).expect("sheet");
    util::upload::login(&w.upload_url(), &jar, &user);
    util::upload::send(&w.upload_url(), &jar, "t1/bom", "prod", "insert", &sheet);
    batch(
        &base,
        &pt,
        "PATCH",
        "F-ALL",
        vec![bom_row("C"), bom_row("F")],
    );
    let mut held: Value =
        serde_json::from_str(&envelope("F-HELD", 1, "1", vec![bom_row("G")])).expect("json");
    held["instantExecute"] = json!(false);
    held["executeTs"] = json!(wharf_proto::time::rfc3339(now() + 3 * 3600));
    let r = send(
        "POST",
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(&pt),
        &held.to_string(),
    );
    r.expect(200, "0");
    for (id, action) in [("F-HELD", "execute"), ("F-ALL", "revert")] {
        let r = send(
            "POST",
            &format!("{base}{SYNC}/t1/bom/batches/{id}/{action}"),
            &Auth::Bearer(&pt),
            "",
        );
        assert_eq!(r.status, 200, "{action} {id}: {r:?}");
    }
    // Pages of one change: every event splits but the single-row ones.
    f.drain(&api, &token, 1);
    // (The upload page names its batches itself.)
    let sheet_batch = f.events.get(4).map(|e| e.4.clone()).unwrap_or_default();
    let events: Vec<(&str, &str, &str, &str)> = f
        .events
        .iter()
        .map(|e| (e.1.as_str(), e.2.as_str(), e.3.as_str(), e.4.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("applied", "insert", "api", "F-INS"),
            ("applied", "update", "api", "F-UPD"),
            ("applied", "delete", "api", "F-DEL"),
            ("applied", "insert", "ftp", "F-FTP"),
            ("applied", "insert", "excel", sheet_batch.as_str()),
            ("applied", "all", "api", "F-ALL"),
            ("executed", "insert", "api", "F-HELD"),
            ("reverted", "all", "api", "F-ALL"),
        ]
    );
    assert_eq!(f.of(&sheet_batch), pairs(&[("insert", "H")]));
    assert_eq!(
        f.of("F-INS"),
        pairs(&[("insert", "A"), ("insert", "B"), ("insert", "C")])
    );
    assert_eq!(f.of("F-UPD"), pairs(&[("update", "A"), ("insert", "D")]));
    assert_eq!(
        f.of("F-DEL"),
        pairs(&[("delete", "B")]),
        "a key not there: no change"
    );
    // `all` kept C (rewritten), added F, removed A, D, E and H; its revert undoes exactly
    // that.
    let mut all = f.of("F-ALL");
    all.sort();
    assert_eq!(
        all,
        pairs(&[
            ("delete", "A"),
            ("delete", "D"),
            ("delete", "E"),
            ("delete", "F"),
            ("delete", "H"),
            ("insert", "A"),
            ("insert", "D"),
            ("insert", "E"),
            ("insert", "F"),
            ("insert", "H"),
            ("update", "C"),
            ("update", "C"),
        ])
    );
    assert_eq!(f.of("F-HELD"), pairs(&[("insert", "G")]));
    // The copy built from the feed is the store.
    assert_eq!(f.rows(&partner), exported(&w, &partner));
    // Nothing more: an empty page gives its cursor back.
    let before = f.cursor.clone();
    assert_eq!(f.page(&api, &token, 10), 0);
    assert_eq!(f.cursor, before);

    // Filters and refusals.
    let r = api.get("/consumer/v1/changes?interface=odm/master_data", &bom_only);
    assert_eq!(r.status, 404, "an interface it may not read: {r:?}");
    let r = api.get("/consumer/v1/changes?environment=uat", &token);
    assert_eq!(r.json()["events"], json!([]), "nothing in UAT: {r:?}");
    let r = api.get(
        &format!("/consumer/v1/changes?partner={partner}&limit=1000"),
        &bom_only,
    );
    assert_eq!(
        r.json()["events"].as_array().map(Vec::len),
        Some(8),
        "{r:?}"
    );
    for bad in ["after=zzz", "limit=0", "vendor_code=x", "environment=test"] {
        let r = api.get(&format!("/consumer/v1/changes?{bad}"), &token);
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }
    let r = api.call("GET", "/consumer/v1/changes", &Auth::Bearer(&pt), None);
    assert_eq!(r.status, 401, "a partner's token: {r:?}");
    drop(server);
    api.check_against_document();
}

/// Eight writers over two replicas while a consumer follows: no gap, no repeat, and the
/// consumer's copy is the store.
#[test]
fn concurrent_writers_over_two_replicas_postgres() {
    let w = Wharf::new(Backend::Postgres);
    let mut w2 = Wharf::new(Backend::Postgres);
    w2.database_url = w.database_url.clone();
    let partners = [add_partner(&w, None), add_partner(&w, None)];
    let token = w
        .ok(&["consumer", "add", &util::unique("lake"), "--all"], "")
        .trim()
        .to_string();
    let _one = w.serve();
    let _two = w2.serve();
    let bases = [w.http_url(), w2.http_url()];
    let tokens: Vec<String> = partners
        .iter()
        .map(|p| client_token(&bases[0], p))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let done = done.clone();
        let base = bases[1].clone();
        let token = token.clone();
        std::thread::spawn(move || {
            let api = Client::new(base, DOC, "http://127.0.0.1");
            let mut f = Follower::new();
            let mut pages = 0;
            while !done.load(Ordering::SeqCst) {
                if f.page(&api, &token, 7) == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                pages += 1;
            }
            f.drain(&api, &token, 7);
            (f, pages)
        })
    };
    std::thread::scope(|s| {
        for writer in 0..8 {
            let base = &bases[writer % 2];
            let token = &tokens[writer % 2];
            s.spawn(move || {
                for round in 0..6 {
                    let key = |i: usize| format!("W{writer}R{round}K{i}");
                    let id = |what: &str| format!("W{writer}-{round}-{what}");
                    batch(
                        base,
                        token,
                        "POST",
                        &id("i"),
                        (0..4).map(|i| bom_row(&key(i))).collect(),
                    );
                    batch(
                        base,
                        token,
                        "PUT",
                        &id("u"),
                        vec![
                            bom_row_with(&key(0), &[("child_item", "2")]),
                            bom_row(&key(9)),
                        ],
                    );
                    batch(base, token, "DELETE", &id("d"), vec![bom_key(&key(1))]);
                }
            });
        }
    });
    done.store(true, Ordering::SeqCst);
    let (f, pages) = follower.join().expect("the follower");
    assert_eq!(f.events.len(), 8 * 6 * 3, "every batch once");
    assert!(
        pages > 3,
        "the consumer followed while they wrote ({pages} pages)"
    );
    for p in &partners {
        assert_eq!(f.rows(p), exported(&w, p), "the copy of {p} is the store");
    }
}

#[test]
fn every_change_once_sqlite() {
    every_change_once(Backend::Sqlite);
}

#[test]
fn every_change_once_postgres() {
    every_change_once(Backend::Postgres);
}

/// The consumer API over gRPC, as the company's systems call it themselves: a consumer's
/// token opens `wharf.v1.Consumer` (records and the feed, the same answers as over HTTP); no
/// token, a wrong one, a partner's or the front-ends' internal token do not; and a
/// consumer's token opens nothing of the front-ends' `Core` service.
#[test]
fn consumers_over_grpc_sqlite() {
    use wharf_proto::v1 as pb;
    let w = Wharf::new(Backend::Sqlite);
    let partner = add_partner(&w, None);
    let token = w
        .ok(
            &[
                "consumer",
                "add",
                &util::unique("grpc"),
                "--interfaces",
                "t1/bom",
            ],
            "",
        )
        .trim()
        .to_string();
    let _server = w.serve();
    let base = w.http_url();
    let pt = client_token(&base, &partner);
    batch(&base, &pt, "POST", "G-1", vec![bom_row("A"), bom_row("B")]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(w.grpc_url())
            .expect("url")
            .connect()
            .await
            .expect("connect to core");
        fn with<T>(token: &str, msg: T) -> tonic::Request<T> {
            let mut r = tonic::Request::new(msg);
            if let Ok(v) = format!("Bearer {token}").parse() {
                r.metadata_mut().insert("authorization", v);
            }
            r
        }
        let records = |iface: &str| {
            let (cat, biz) = iface.split_once('/').expect("cat/biz");
            pb::QueryRecordsRequest {
                environment: pb::Environment::Prod as i32,
                data_category: cat.into(),
                biz_key: biz.into(),
                // Ignored: the token says who asks.
                consumer: "somebody-else".into(),
                ..Default::default()
            }
        };
        let mut c = pb::consumer_client::ConsumerClient::new(channel.clone());
        let page = c
            .query_records(with(&token, records("t1/bom")))
            .await
            .expect("records")
            .into_inner();
        assert_eq!(page.records.len(), 2, "{page:?}");
        assert!(page.records.iter().all(|r| r.partner == partner));
        let feed = c
            .read_changes(with(
                &token,
                pb::ReadChangesRequest {
                    limit: 100,
                    ..Default::default()
                },
            ))
            .await
            .expect("changes")
            .into_inner();
        assert_eq!(feed.events.len(), 1, "{feed:?}");
        assert_eq!(feed.events[0].changes.len(), 2);
        assert_eq!(feed.events[0].batch_id, "G-1");
        let e = c
            .query_records(with(&token, records("odm/master_data")))
            .await
            .expect_err("an interface it was not given");
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        for (what, t) in [
            ("no token", ""),
            ("a wrong token", "x"),
            ("the internal token", util::TOKEN),
            ("a partner's token", pt.as_str()),
        ] {
            let e = c
                .query_records(with(t, records("t1/bom")))
                .await
                .expect_err(what);
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{what}: {e:?}");
        }
        let mut core = pb::core_client::CoreClient::new(channel);
        let e = core
            .list_interfaces(with(
                &token,
                pb::ListInterfacesRequest {
                    partner: partner.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect_err("a consumer's token on Core");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    });
}
