//! Errors a person can act on, end to end: every row-error kind's `detail` as partners get
//! it through the HTTP API and an FTP feedback file, beside an unchanged `type` and `fields`
//! (README "Reading errors"). The real binary, curl-like HTTP and a real FTP client, on
//! SQLite and PostgreSQL.

mod util;

use serde_json::{json, Value};
use util::data::{bom_row, bom_row_with, envelope, expect_code, problem, problems, BOM_FIELDS};
use util::ftp::{bom_dir, deliver, login};
use util::http::{client_token, send, Auth};
use util::{installation, Backend};

const SYNC: &str = "/v1.0/scc/data/sync";
const BOM_KEY: &str = "vendor_code,vendor_father_item,father_item,vendor_child_item,version";

/// The `detail` of each `verify` entry of an answer's `result`, in order (`null` for none).
fn details(answer: &Value) -> Vec<Value> {
    answer["result"]
        .as_array()
        .unwrap_or_else(|| panic!("result is an array: {answer}"))
        .iter()
        .flat_map(|p| p["verify"].as_array().expect("verify").clone())
        .map(|v| v.get("detail").cloned().unwrap_or(Value::Null))
        .collect()
}

/// The key of `bom_row(key)`, as a duplicate's detail names it.
fn bom_key_of(key: &str) -> Value {
    json!({
        "vendor_code": "eee",
        "vendor_father_item": key,
        "father_item": "213",
        "vendor_child_item": "eee",
        "version": "20220914"
    })
}

fn over_http(backend: Backend) {
    let (w, partner, _user) = installation(backend);
    let _server = w.serve();
    let base = w.http_url();
    let bom = format!("{base}{SYNC}/t1/bom");
    let token = client_token(&base, &partner);
    let auth = Auth::Bearer(&token);

    // One row per kind that has something to say, and the kinds that have nothing.
    let body = envelope(
        "D-V",
        8,
        "1",
        vec![
            bom_row_with("len", &[("vendor_code", &"v".repeat(31))]),
            bom_row_with("date", &[("effective_end_date", "2022/10/01")]),
            bom_row_with("prec", &[("split", "1.234")]),
            bom_row_with("bu", &[("bu", "Thinkpad")]),
            bom_row_with("num", &[("priority", "high"), ("version", "2022-09")]),
            bom_row_with("ctl", &[("owner", "a\u{1}b")]),
            {
                let mut r = bom_row("req");
                r.as_object_mut().expect("object").remove("child_item");
                r["colour"] = json!("red");
                r
            },
            bom_row("ok"),
        ],
    );
    let r = send("POST", &bom, &auth, &body);
    let j = r.expect(200, "E00V00");
    // The wire contract as before: the same types and fields.
    assert_eq!(
        problems(&j),
        [
            problem(Some(0), "value length exceed", "vendor_code"),
            problem(Some(1), "invalid date", "effective_end_date"),
            problem(Some(2), "number precision exceed", "split"),
            problem(Some(3), "value not allowed", "bu"),
            problem(Some(4), "invalid number", "priority,version"),
            problem(Some(5), "value not allowed", "owner"),
            problem(Some(6), "unknown field", "colour"),
            problem(Some(6), "required field missing", "child_item"),
        ],
        "{r:?}"
    );
    let allowed = json!([
        "ThinkNB",
        "IdeaNB",
        "ThinkOption",
        "ThinkDT",
        "IdeaOption",
        "IdeaDT",
        "WS",
        "Smart Device",
        "ISG",
        "Mobile Phone",
        "Mobile Tablet"
    ]);
    assert_eq!(
        details(&j),
        [
            json!({"by_field": {"vendor_code": {"max_length": 30}}}),
            json!({"by_field": {"effective_end_date":
                {"format": "yyyy-mm-dd", "example": "2024-02-29"}}}),
            json!({"by_field": {"split":
                {"format": "decimal", "max_digits": 4, "max_decimals": 2}}}),
            json!({"by_field": {"bu": {"allowed": allowed}}}),
            json!({"by_field": {
                "priority": {"format": "decimal", "max_digits": 13, "max_decimals": 3,
                             "also_accepted": ["N/A"]},
                "version": {"max_length": 16, "format": "digits"}}}),
            json!({"by_field": {"owner": {"control_characters": true}}}),
            Value::Null,
            Value::Null,
        ],
        "{r:?}"
    );

    // A key repeated inside one sequence: the row it repeats (the first one, also for a
    // third repeat), and the key.
    let body = envelope(
        "D-W",
        4,
        "1",
        vec![bom_row("d"), bom_row("e"), bom_row("d"), bom_row("d")],
    );
    let r = send("POST", &bom, &auth, &body);
    let j = r.expect(200, "E00W00");
    assert_eq!(
        problems(&j),
        [
            problem(Some(2), "duplicate key", BOM_KEY),
            problem(Some(3), "duplicate key", BOM_KEY),
        ],
        "{r:?}"
    );
    let repeats = json!({"repeats": {"index": 0}, "key": bom_key_of("d")});
    assert_eq!(details(&j), [repeats.clone(), repeats], "{r:?}");

    // A key already stored: the key, and no row of the sequence.
    send(
        "POST",
        &bom,
        &auth,
        &envelope("D-S1", 1, "1", vec![bom_row("s")]),
    )
    .expect(200, "0");
    let r = send(
        "POST",
        &bom,
        &auth,
        &envelope("D-S2", 1, "1", vec![bom_row("s")]),
    );
    let j = r.expect(200, "E00W00");
    assert_eq!(
        problems(&j),
        [problem(Some(0), "duplicate key", BOM_KEY)],
        "{r:?}"
    );
    assert_eq!(details(&j), [json!({"key": bom_key_of("s")})], "{r:?}");

    // An envelope id too long names its limit.
    let r = send(
        "POST",
        &bom,
        &auth,
        &envelope(&"B".repeat(17), 1, "1", vec![bom_row("x")]),
    );
    let j = r.expect(200, "E00V00");
    assert_eq!(
        details(&j),
        [json!({"by_field": {"batch_id": {"max_length": 16}}})]
    );
}

/// An FTP sheet's feedback carries the same detail, with the sheet line a duplicate repeats.
fn over_ftp(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    let row = |key: &str, end: &str| {
        format!("eee,{key},213,eee,123,10.1,2022-09-14,{end},N/A,0.28,20220914\n")
    };
    let mut csv = format!("{}\n", BOM_FIELDS.join(","));
    csv += &row("F0", "2022-12-31");
    csv += &row("F1", "2022-13-31");
    csv += &row("F0", "2022-12-31");
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20260101000000_7.csv",
        csv.as_bytes(),
    );
    expect_code(&fb, "E00M00");
    let group = |code: &str| -> Value {
        fb["result"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no {code} group: {fb}"))
    };
    let invalid = group("E00V00");
    assert_eq!(
        problems(&invalid),
        [problem(Some(1), "invalid date", "effective_end_date")],
        "{fb}"
    );
    assert_eq!(
        details(&invalid),
        [json!({"by_field": {"effective_end_date":
            {"format": "yyyy-mm-dd", "example": "2024-02-29"}}})]
    );
    let duplicates = group("E00W00");
    assert_eq!(
        problems(&duplicates),
        [problem(Some(2), "duplicate key", BOM_KEY)],
        "{fb}"
    );
    assert_eq!(duplicates["result"][0]["line"], 4, "{fb}");
    assert_eq!(
        details(&duplicates),
        [json!({"repeats": {"index": 0, "line": 2}, "key": bom_key_of("F0")})],
        "{fb}"
    );
    let _ = ftp.quit();
}

#[test]
fn details_over_http_sqlite() {
    over_http(Backend::Sqlite);
}

#[test]
fn details_over_http_postgres() {
    over_http(Backend::Postgres);
}

#[test]
fn details_over_ftp_sqlite() {
    over_ftp(Backend::Sqlite);
}

#[test]
fn details_over_ftp_postgres() {
    over_ftp(Backend::Postgres);
}
