//! End to end over HTTP: the real `wharf serve`, called with curl as a partner would call it
//! (SPEC §4-§6), against the embedded SQLite store and a real PostgreSQL. One server per test.

mod util;

use serde_json::json;
use util::data::{
    bom_key, bom_row, bom_row_with, envelope, export, keys, problem, problems, row_of,
    seed_002_stored, SEED_002,
};
use util::http::{client_token, curl, request, send, token_request, Auth};
use util::{
    add_partner, add_user, installation, make_cert, Backend, KeyType, Wharf, PASSWORD, SECRET,
};

const SYNC: &str = "/v1.0/scc/data/sync";
const BOM_KEY: &str = "vendor_code,vendor_father_item,father_item,vendor_child_item,version";

/// Seed 000's request example, verbatim: the same row twice.
const SEED_000: &str = r#"{
"batch_id": "LCFC202206230001",
"batch_size": "250000",
"seq_id": "1",
"seq_size": "2",
"data": [
{
"LENOVO_PN": "SD10W87241",
"PLANT": "H121",
"QTY": "1000"
},
{
"LENOVO_PN": "SD10W87241",
"PLANT": "H121",
"QTY": "1000"
}
]
}"#;

// ---------------------------------------------------------------------------------------------
// scenarios

/// Every way in (Basic, both OAuth2 grants, client credentials in the form or a Basic header)
/// and every way to be turned away.
fn auth(backend: Backend) {
    let (mut w, partner, user) = installation(backend);
    // Ten failed logins ban the address and the name.
    w.extra_env = vec![("WHARF_DEFENDER_THRESHOLD".into(), "10".into())];
    let limited = add_partner(&w, Some("odm/master_data"));
    let victim = add_user(&w, &partner);
    let _server = w.serve();
    let base = w.http_url();
    let bom = format!("{base}{SYNC}/t1/bom");

    let r = request("GET", &format!("{base}/healthz"), &Auth::None, None, &[]);
    assert_eq!(r.status, 200, "{r:?}");

    // HTTP Basic with a user made by the CLI.
    let body = envelope("AUTH-BASIC", 1, "1", vec![bom_row("basic")]);
    send("POST", &bom, &Auth::Basic(&user, PASSWORD), &body).expect(200, "0");

    // Client credentials in the form.
    let r = token_request(
        &base,
        &format!("grant_type=client_credentials&client_id={partner}&client_secret={SECRET}"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer", "{r:?}");
    assert!(t["expires_in"].as_u64().is_some_and(|n| n > 0), "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    let form_token = t["access_token"].as_str().expect("a token").to_string();
    assert!(!form_token.is_empty());
    let body = envelope("AUTH-CC", 1, "1", vec![bom_row("cc")]);
    send("POST", &bom, &Auth::Bearer(&form_token), &body).expect(200, "0");

    // Client credentials in a Basic header.
    let r = token_request(
        &base,
        "grant_type=client_credentials",
        Some((&partner, SECRET)),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let header_token = r.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    assert_ne!(header_token, form_token, "every token is new");
    let r = request(
        "GET",
        &format!("{bom}/batches/AUTH-CC"),
        &Auth::Bearer(&header_token),
        None,
        &[],
    );
    let b = r.expect(200, "0");
    assert_eq!(b["result"]["state"], "applied", "{r:?}");

    // The password grant: the token acts for the user.
    let r = token_request(
        &base,
        &format!(
            "grant_type=password&client_id={partner}&client_secret={SECRET}&username={user}&password={PASSWORD}"
        ),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["token_type"], "Bearer");
    let user_token = r.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    let body = envelope("AUTH-PW", 1, "1", vec![bom_row("pw")]);
    send("POST", &bom, &Auth::Bearer(&user_token), &body).expect(200, "0");
    let r = request(
        "GET",
        &format!("{bom}/batches/AUTH-PW"),
        &Auth::Bearer(&user_token),
        None,
        &[],
    );
    assert_eq!(r.expect(200, "0")["result"]["creator"], user.as_str());

    // Turned away: 401 with a challenge and a JSON body, nothing written.
    let body = envelope("AUTH-BAD", 1, "1", vec![bom_row("bad")]);
    for (what, auth) in [
        ("a wrong password", Auth::Basic(&user, "wrong-password")),
        ("an unknown user", Auth::Basic("nobody-here", PASSWORD)),
        (
            "a garbage bearer token",
            Auth::Bearer("aaf0d4d6-c541-34cd-a4e0-03da1cc4019d"),
        ),
        ("no Authorization", Auth::None),
    ] {
        let r = send("POST", &bom, &auth, &body);
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.contains("Basic") && v.contains("Bearer")),
            "{what}: {r:?}"
        );
        let j = r.json();
        assert!(
            j["code"].is_string() && j["msg"].is_string(),
            "{what}: {r:?}"
        );
    }

    // The token endpoint's refusals (RFC 6749 §5.2).
    for form in [
        format!("grant_type=client_credentials&client_id={partner}&client_secret=wrong-secret"),
        format!("grant_type=client_credentials&client_id=ghost&client_secret={SECRET}"),
        format!(
            "grant_type=password&client_id={partner}&client_secret={SECRET}&username={user}&password=wrong-password"
        ),
    ] {
        let r = token_request(&base, &form, None);
        assert_eq!(r.status, 401, "{form}: {r:?}");
        assert_eq!(r.json()["error"], "invalid_client", "{form}: {r:?}");
    }
    let r = token_request(
        &base,
        &format!("grant_type=authorization_code&client_id={partner}&client_secret={SECRET}"),
        None,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["error"], "unsupported_grant_type", "{r:?}");

    // A partner limited to odm/master_data: t1/bom does not exist for it.
    let limited_token = client_token(&base, &limited);
    let body = envelope("AUTH-LIM", 1, "1", vec![bom_row("lim")]);
    let r = send("POST", &bom, &Auth::Bearer(&limited_token), &body);
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.json()["msg"].is_string(), "{r:?}");
    let odm = json!({"batch_id": "AUTH-LIM", "batch_size": 1, "seq_id": "1", "seq_size": 1,
        "data": [{"LENOVO_PN": "SD10W87241", "PLANT": "H121", "QTY": "1000"}]});
    send(
        "POST",
        &format!("{base}{SYNC}/odm/master_data"),
        &Auth::Bearer(&limited_token),
        &odm.to_string(),
    )
    .expect(200, "0");

    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", Some("prod"))),
        ["basic", "cc", "pw"]
    );
    assert_eq!(
        export(&w, &limited, "odm/master_data", Some("prod")).len(),
        1
    );

    // Guessing: past ten wrong passwords (the threshold set above) the name and the address are
    // refused with 429 and Retry-After, the right password included, and nothing is sent to
    // core's store.
    // The wrong logins above scored this address too: lifted first, as an operator would.
    w.ok(&["user", "unlock", "--address", "127.0.0.1"], "");
    let guess = envelope("AUTH-GUESS", 1, "1", vec![bom_row("guess")]);
    for _ in 0..10 {
        let r = send(
            "POST",
            &bom,
            &Auth::Basic(&victim, "wrong-password"),
            &guess,
        );
        assert_eq!(r.status, 401, "{r:?}");
    }
    let r = send("POST", &bom, &Auth::Basic(&victim, PASSWORD), &guess);
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.body.contains("too many failed logins"), "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert!(!keys(&export(&w, &partner, "t1/bom", Some("prod"))).contains(&"guess".to_string()));
}

/// What the door refuses before core (404, 405, 413) and bodies that are not envelopes.
fn refusals(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let bom = format!("{base}{SYNC}/t1/bom");
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);
    let valid = envelope("REF", 1, "1", vec![bom_row("r")]);

    for (method, path) in [
        ("GET", "/nope".to_string()),
        ("POST", "/v1.0/scc/data/sync/t1".to_string()),
        ("POST", format!("{SYNC}/t1/bom/extra")),
        ("POST", format!("{SYNC}/zz/bom")),
        ("POST", format!("{SYNC}/t1/nope")),
        ("POST", format!("/uat{SYNC}/t1/nope")),
    ] {
        let r = send(method, &format!("{base}{path}"), &auth, &valid);
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
        assert!(r.json()["msg"].is_string(), "{method} {path}: {r:?}");
    }

    let r = request("OPTIONS", &bom, &auth, None, &[]);
    assert_eq!(r.status, 405, "{r:?}");
    let allow = r.header("allow").expect("an Allow header");
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        assert!(allow.contains(m), "{allow}");
    }
    assert!(r.json()["msg"].is_string(), "{r:?}");

    // Over 1 MiB: 413 with body code E00V00.
    let mut big = bom_row("big");
    big["vendor_child_item_desc"] = json!("x".repeat(1024 * 1024 + 16));
    let body = envelope("REF-BIG", 1, "1", vec![big]);
    assert!(body.len() > 1024 * 1024);
    send("POST", &bom, &auth, &body).expect(413, "E00V00");

    // Bodies that are not an envelope: E00V00 naming the body.
    for body in ["{not json", "[1,2]", ""] {
        let r = send("POST", &bom, &auth, body);
        let j = r.expect(200, "E00V00");
        assert_eq!(
            problems(&j),
            [problem(None, "invalid type", "body")],
            "{body:?}: {r:?}"
        );
    }
    let r = send(
        "POST",
        &bom,
        &auth,
        r#"{"batch_id":"REF-ND","batch_size":1,"seq_id":"1","seq_size":1}"#,
    );
    let j = r.expect(200, "E00V00");
    assert_eq!(
        problems(&j),
        [problem(None, "required field missing", "data")],
        "{r:?}"
    );
    let r = send(
        "POST",
        &bom,
        &auth,
        r#"{"batch_id":"REF-DT","batch_size":1,"seq_id":"1","seq_size":1,"data":{"a":1}}"#,
    );
    let j = r.expect(200, "E00V00");
    assert!(
        problems(&j).contains(&problem(None, "invalid type", "data")),
        "{r:?}"
    );

    assert!(export(&w, &partner, "t1/bom", Some("prod")).is_empty());
}

/// The seeds' request examples, sent verbatim.
fn seeds(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);

    send("POST", &format!("{base}{SYNC}/t1/bom"), &auth, SEED_002).expect(200, "0");
    let rows = export(&w, &partner, "t1/bom", Some("prod"));
    assert_eq!(
        rows,
        [seed_002_stored()],
        "the seed row, decimals as sent, defaults filled in"
    );
    // Seed 002's own addresses (test and production) are the same routes.
    const SEED_002_PATH: &str = "/v1.0/supply_chain/scc/open_platform/data/sync/t1/bom";
    send(
        "POST",
        &format!("{base}/uat{SEED_002_PATH}"),
        &auth,
        SEED_002,
    )
    .expect(200, "0");
    assert_eq!(
        export(&w, &partner, "t1/bom", Some("uat")),
        [seed_002_stored()]
    );
    send("POST", &format!("{base}{SEED_002_PATH}"), &auth, SEED_002).expect(200, "E00A00");
    let batch = send(
        "GET",
        &format!("{base}{SEED_002_PATH}/batches/100055"),
        &auth,
        "",
    );
    assert_eq!(batch.expect(200, "0")["result"]["state"], "applied");

    // Seed 000: the same key twice in one insert batch is E00W00 on the second row.
    let r = send(
        "POST",
        &format!("{base}/uat{SYNC}/odm/master_data"),
        &auth,
        SEED_000,
    );
    let j = r.expect(200, "E00W00");
    assert_eq!(
        problems(&j),
        [problem(Some(1), "duplicate key", "LENOVO_PN,PLANT")],
        "{r:?}"
    );
    assert_eq!(
        j["result"][0]["row"],
        json!({"LENOVO_PN": "SD10W87241", "PLANT": "H121", "QTY": "1000"}),
        "the row as sent"
    );
    assert!(export(&w, &partner, "odm/master_data", Some("uat")).is_empty());
}

/// E00V00, E00A00, E00P00 and E00M00 with their result rows.
fn codes(backend: Backend) {
    let mut w = Wharf::new(backend);
    w.extra_env = vec![("WHARF_MAX_ATTEMPTS".into(), "2".into())];
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let bom = format!("{base}{SYNC}/t1/bom");
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);

    // E00V00: every failing row, with its index, the row as sent, the type and the field.
    let body = envelope(
        "C-V",
        3,
        "1",
        vec![
            bom_row_with("v0", &[("quantity_per", "12345678901.1")]),
            bom_row_with("v1", &[("effective_start_date", "2022-02-29")]),
            bom_row("v2"),
        ],
    );
    let r = send("POST", &bom, &auth, &body);
    let j = r.expect(200, "E00V00");
    assert_eq!(
        problems(&j),
        [
            problem(Some(0), "number precision exceed", "quantity_per"),
            problem(Some(1), "invalid date", "effective_start_date"),
        ],
        "{r:?}"
    );
    assert_eq!(j["result"][0]["row"]["quantity_per"], "12345678901.1");
    assert_eq!(j["result"][1]["row"]["effective_start_date"], "2022-02-29");

    // E00A00: an accepted sequence sent again changes nothing.
    let body = envelope("C-A", 1, "1", vec![bom_row("a")]);
    send("POST", &bom, &auth, &body).expect(200, "0");
    send("POST", &bom, &auth, &body).expect(200, "E00A00");

    // E00P00: with WHARF_MAX_ATTEMPTS=2 the third rejection fails the batch.
    let bad = envelope(
        "C-P",
        1,
        "1",
        vec![bom_row_with("p", &[("effective_end_date", "2022-13-01")])],
    );
    for attempt in 1..=2 {
        let r = send("POST", &bom, &auth, &bad);
        let j = r.expect(200, "E00V00");
        assert_eq!(
            problems(&j),
            [problem(Some(0), "invalid date", "effective_end_date")],
            "attempt {attempt}: {r:?}"
        );
    }
    send("POST", &bom, &auth, &bad).expect(200, "E00P00");
    let fixed = envelope("C-P", 1, "1", vec![bom_row("p")]);
    send("POST", &bom, &auth, &fixed).expect(200, "E00P00");
    let r = request("GET", &format!("{bom}/batches/C-P"), &auth, None, &[]);
    assert_eq!(r.expect(200, "0")["result"]["state"], "failed", "{r:?}");

    // E00M00: an invalid row and a key staged by an earlier sequence of the batch.
    let body = envelope("C-M", 3, "1", vec![bom_row("m")]);
    send("POST", &bom, &auth, &body).expect(200, "0");
    let body = envelope(
        "C-M",
        3,
        "2",
        vec![
            bom_row_with("m2", &[("effective_start_date", "2022-02-29")]),
            bom_row("m"),
        ],
    );
    let r = send("POST", &bom, &auth, &body);
    let j = r.expect(200, "E00M00");
    let groups = j["result"].as_array().expect("result groups");
    assert_eq!(groups.len(), 2, "{r:?}");
    let group = |code: &str| {
        groups
            .iter()
            .find(|g| g["code"] == code)
            .unwrap_or_else(|| panic!("no {code} group: {r:?}"))
    };
    assert_eq!(
        problems(group("E00V00")),
        [problem(Some(0), "invalid date", "effective_start_date")],
        "{r:?}"
    );
    assert_eq!(
        problems(group("E00W00")),
        [problem(Some(1), "duplicate key", BOM_KEY)],
        "{r:?}"
    );

    assert_eq!(keys(&export(&w, &partner, "t1/bom", Some("prod"))), ["a"]);
}

/// Batches over several sequences, the four methods, percent-encoded paths, numbers.
fn batches(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let bom = format!("{base}{SYNC}/t1/bom");
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);
    let state = |batch_id: &str| {
        let r = request(
            "GET",
            &format!("{bom}/batches/{batch_id}"),
            &auth,
            None,
            &[],
        );
        r.expect(200, "0")["result"].clone()
    };
    let exported = || export(&w, &partner, "t1/bom", Some("prod"));

    // Two sequences of one batch: nothing visible until the second lands.
    let body = envelope("B-TWO", 4, "1", vec![bom_row("s1"), bom_row("s2")]);
    let r = send("POST", &bom, &auth, &body);
    let msg = r.expect(200, "0")["msg"].to_string();
    assert!(msg.contains("2/4"), "the answer says staged 2/4: {r:?}");
    assert!(exported().is_empty(), "half a batch is not visible");
    let b = state("B-TWO");
    assert_eq!(b["state"], "open", "{b}");
    assert_eq!(b["staged_rows"], 2, "{b}");
    assert_eq!(b["batch_size"], 4, "{b}");
    let body = envelope("B-TWO", 4, "2", vec![bom_row("s3"), bom_row("s4")]);
    let r = send("POST", &bom, &auth, &body);
    let msg = r.expect(200, "0")["msg"].to_string();
    assert!(msg.contains("applied"), "the answer says applied: {r:?}");
    assert_eq!(keys(&exported()), ["s1", "s2", "s3", "s4"]);
    assert_eq!(state("B-TWO")["state"], "applied");
    let r = request("GET", &format!("{bom}/batches/NO-SUCH"), &auth, None, &[]);
    assert_eq!(r.status, 404, "{r:?}");

    // Percent-encoded segments ("the UrlEncode situation").
    let body = envelope("B-PCT", 1, "1", vec![bom_row("pct")]);
    send("POST", &format!("{base}{SYNC}/%74%31/bom"), &auth, &body).expect(200, "0");
    let r = request(
        "GET",
        &format!("{base}{SYNC}/t1/%62%6Fm/batches/B%2DPCT"),
        &auth,
        None,
        &[],
    );
    assert_eq!(r.expect(200, "0")["result"]["state"], "applied");

    // Numbers as numeric strings and as JSON numbers.
    let strings = json!({"batch_id": "B-NUM-S", "batch_size": "1", "seq_id": "1", "seq_size": "1",
        "data": [bom_row("num-s")]});
    send("POST", &bom, &auth, &strings.to_string()).expect(200, "0");
    let mut row = bom_row("num-n");
    row["quantity_per"] = json!(10.1);
    row["priority"] = json!(10.2);
    row["split"] = json!(0.28);
    let numbers = json!({"batch_id": "B-NUM-N", "batch_size": 1, "seq_id": "1", "seq_size": 1,
        "data": [row]});
    send("POST", &bom, &auth, &numbers.to_string()).expect(200, "0");
    let rows = exported();
    assert_eq!(
        keys(&rows),
        ["num-n", "num-s", "pct", "s1", "s2", "s3", "s4"]
    );
    for k in ["num-s", "num-n"] {
        let r = row_of(&rows, k);
        assert_eq!(r["quantity_per"], "10.1", "{r}");
        assert_eq!(r["priority"], "10.2", "{r}");
        assert_eq!(r["split"], "0.28", "{r}");
    }

    // The four methods: POST insert, PUT update, DELETE delete, PATCH all.
    let body = envelope("B-INS", 2, "1", vec![bom_row("a"), bom_row("b")]);
    send("POST", &bom, &auth, &body).expect(200, "0");
    assert_eq!(row_of(&exported(), "a").get("owner"), None);
    let body = envelope(
        "B-UPD",
        1,
        "1",
        vec![bom_row_with("a", &[("owner", "bob")])],
    );
    send("PUT", &bom, &auth, &body).expect(200, "0");
    let rows = exported();
    assert_eq!(row_of(&rows, "a")["owner"], "bob");
    assert_eq!(rows.len(), 9, "an update replaces, it does not add");
    let body = envelope("B-DEL", 1, "1", vec![bom_key("b")]);
    send("DELETE", &bom, &auth, &body).expect(200, "0");
    let rows = exported();
    assert!(!keys(&rows).contains(&"b".to_string()), "{rows:?}");
    assert_eq!(rows.len(), 8);
    let body = envelope("B-ALL", 2, "1", vec![bom_row("c"), bom_row("d")]);
    send("PATCH", &bom, &auth, &body).expect(200, "0");
    assert_eq!(keys(&exported()), ["c", "d"], "all replaces the whole set");
    assert_eq!(state("B-ALL")["operation"], "all");
}

/// Ids and values no store could hold (control characters, over-long) get the same clear
/// answer on every store: a batch that cannot exist is 404, a NUL in a value is E00V00 naming
/// the field, never a 500.
fn unstorable_ids(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let bom = format!("{base}{SYNC}/t1/bom");
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);
    let long = "B".repeat(10_000);
    for id in ["%00", "B%00", "B%0D", "%7F", long.as_str()] {
        let r = request("GET", &format!("{bom}/batches/{id}"), &auth, None, &[]);
        assert_eq!(r.status, 404, "GET batches/{id:.20}: {r:?}");
        let r = request(
            "POST",
            &format!("{bom}/batches/{id}/cancel"),
            &auth,
            None,
            &[],
        );
        assert_eq!(r.status, 404, "cancel batches/{id:.20}: {r:?}");
    }
    let mut row = bom_row("nul");
    row["owner"] = json!("a\u{0}b");
    let body = json!({"batch_id": "B-NUL", "batch_size": 1, "seq_id": "1", "seq_size": 1,
        "data": [row]});
    let r = send("POST", &bom, &auth, &body.to_string());
    r.expect(200, "E00V00");
    assert_eq!(
        problems(&r.json()),
        [problem(Some(0), "value not allowed", "owner")],
        "{r:?}"
    );
    assert!(export(&w, &partner, "t1/bom", Some("prod")).is_empty());
}

/// UAT and prod are separate spaces; so are partners, even with the same keys and batch_id.
fn isolation(backend: Backend) {
    let w = Wharf::new(backend);
    let one = add_partner(&w, None);
    let two = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let prod = format!("{base}{SYNC}/t1/bom");
    let uat = format!("{base}/uat{SYNC}/t1/bom");
    let t1 = client_token(&base, &one);
    let t2 = client_token(&base, &two);

    let body = envelope("SAME", 1, "1", vec![bom_row("u1")]);
    send("POST", &uat, &Auth::Bearer(&t1), &body).expect(200, "0");
    assert_eq!(keys(&export(&w, &one, "t1/bom", Some("uat"))), ["u1"]);
    assert!(export(&w, &one, "t1/bom", Some("prod")).is_empty());

    // The same batch_id and seq_id in prod is a new sequence, not a resend.
    let body = envelope("SAME", 1, "1", vec![bom_row_with("k", &[("owner", "one")])]);
    send("POST", &prod, &Auth::Bearer(&t1), &body).expect(200, "0");
    assert_eq!(keys(&export(&w, &one, "t1/bom", Some("prod"))), ["k"]);
    assert_eq!(keys(&export(&w, &one, "t1/bom", Some("uat"))), ["u1"]);

    // Another partner: same key, same batch_id, both accepted, separate data.
    let body = envelope("SAME", 1, "1", vec![bom_row_with("k", &[("owner", "two")])]);
    send("POST", &prod, &Auth::Bearer(&t2), &body).expect(200, "0");
    let mine = export(&w, &one, "t1/bom", Some("prod"));
    let theirs = export(&w, &two, "t1/bom", Some("prod"));
    assert_eq!((mine.len(), theirs.len()), (1, 1));
    assert_eq!(mine[0]["owner"], "one");
    assert_eq!(theirs[0]["owner"], "two");
    assert!(export(&w, &two, "t1/bom", Some("uat")).is_empty());
    let r = request(
        "GET",
        &format!("{uat}/batches/SAME"),
        &Auth::Bearer(&t2),
        None,
        &[],
    );
    assert_eq!(r.status, 404, "partner two has no UAT batch SAME: {r:?}");
}

/// HTTPS with a certificate from the openssl CLI; plain HTTP to the same port fails.
fn https(backend: Backend) {
    let mut w = Wharf::new(backend);
    let (cert, key) = make_cert(&w, KeyType::Rsa);
    w.extra_env = vec![
        ("WHARF_TLS_CERT".into(), cert.clone()),
        ("WHARF_TLS_KEY".into(), key),
    ];
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = format!("https://127.0.0.1:{}", w.http_port);
    let cacert = cert;
    let tls = ["--cacert", cacert.as_str()];

    let r = request("GET", &format!("{base}/healthz"), &Auth::None, None, &tls);
    assert_eq!(r.status, 200, "{r:?}");

    let form = format!("grant_type=client_credentials&client_id={partner}&client_secret={SECRET}");
    let r = request(
        "POST",
        &format!("{base}/oauth/token"),
        &Auth::None,
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
        &tls,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    let body = envelope("TLS", 1, "1", vec![bom_row("tls")]);
    request(
        "POST",
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(&token),
        Some(("application/json", body.as_bytes())),
        &tls,
    )
    .expect(200, "0");
    assert_eq!(keys(&export(&w, &partner, "t1/bom", Some("prod"))), ["tls"]);

    let plain = format!("{}/healthz", w.http_url());
    let out = curl(&["-o", "/dev/null", "-w", "%{http_code}", &plain], None);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stdout) == "000",
        "plain HTTP to the HTTPS port must fail: {out:?}"
    );

    // The upload page serves HTTPS with the same certificate, and its cookies are Secure.
    let login = format!("https://127.0.0.1:{}/login", w.upload_port);
    let r = request("GET", &login, &Auth::None, None, &tls);
    assert_eq!(r.status, 200, "{r:?}");
    let cookie = r.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with("wharf_login=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

#[test]
fn auth_sqlite() {
    auth(Backend::Sqlite);
}

#[test]
fn auth_postgres() {
    auth(Backend::Postgres);
}

#[test]
fn refusals_sqlite() {
    refusals(Backend::Sqlite);
}

#[test]
fn refusals_postgres() {
    refusals(Backend::Postgres);
}

#[test]
fn seeds_sqlite() {
    seeds(Backend::Sqlite);
}

#[test]
fn seeds_postgres() {
    seeds(Backend::Postgres);
}

#[test]
fn codes_sqlite() {
    codes(Backend::Sqlite);
}

#[test]
fn codes_postgres() {
    codes(Backend::Postgres);
}

#[test]
fn batches_sqlite() {
    batches(Backend::Sqlite);
}

#[test]
fn batches_postgres() {
    batches(Backend::Postgres);
}

#[test]
fn isolation_sqlite() {
    isolation(Backend::Sqlite);
}

#[test]
fn isolation_postgres() {
    isolation(Backend::Postgres);
}

#[test]
fn unstorable_ids_sqlite() {
    unstorable_ids(Backend::Sqlite);
}

#[test]
fn unstorable_ids_postgres() {
    unstorable_ids(Backend::Postgres);
}

#[test]
fn https_sqlite() {
    https(Backend::Sqlite);
}

#[test]
fn https_postgres() {
    https(Backend::Postgres);
}
