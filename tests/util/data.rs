//! Test data and answers: t1/bom rows, envelopes, the problems an answer lists, and what
//! `wharf export` reads back.

use serde_json::{json, Value};

use super::Wharf;

/// Seed 002's request example, verbatim.
pub const SEED_002: &str = r#"{
  "batch_id": "100055",
  "batch_size": 1,
  "seq_id": "1",
  "seq_size": 1,
  "data": [
    {
      "child_item": "123",
      "effective_end_date": "2022-09-14",
      "effective_start_date": "2022-09-14",
      "father_item": "213",
      "priority": 10.2,
      "quantity_per": 10.1,
      "split": 0.28,
      "vendor_child_item": "eee",
      "vendor_code": "eee",
      "vendor_father_item": "ee",
      "version": "20220914"
    }
  ]
}"#;

/// The t1/bom fields of SPEC §3, in the order a template sheet would have them.
pub const BOM_FIELDS: [&str; 11] = [
    "vendor_code",
    "vendor_father_item",
    "father_item",
    "vendor_child_item",
    "child_item",
    "quantity_per",
    "effective_start_date",
    "effective_end_date",
    "priority",
    "split",
    "version",
];

/// Seed 002's row with `vendor_father_item` (part of the business key) set to `key`.
pub fn bom_row(key: &str) -> Value {
    json!({
        "child_item": "123",
        "effective_end_date": "2022-09-14",
        "effective_start_date": "2022-09-14",
        "father_item": "213",
        "priority": "10.2",
        "quantity_per": "10.1",
        "split": "0.28",
        "vendor_child_item": "eee",
        "vendor_code": "eee",
        "vendor_father_item": key,
        "version": "20220914"
    })
}

/// `bom_row(key)` with extra fields set.
pub fn bom_row_with(key: &str, set: &[(&str, &str)]) -> Value {
    let mut row = bom_row(key);
    for (k, v) in set {
        row[*k] = json!(v);
    }
    row
}

/// Only the business key of `bom_row(key)`: what a delete needs.
pub fn bom_key(key: &str) -> Value {
    json!({
        "vendor_code": "eee",
        "vendor_father_item": key,
        "father_item": "213",
        "vendor_child_item": "eee",
        "version": "20220914"
    })
}

/// A batch envelope holding `rows` as one sequence (`seq_size` is the number of rows).
pub fn envelope(batch_id: &str, batch_size: usize, seq_id: &str, rows: Vec<Value>) -> String {
    json!({
        "batch_id": batch_id,
        "batch_size": batch_size,
        "seq_id": seq_id,
        "seq_size": rows.len(),
        "data": rows,
    })
    .to_string()
}

/// One verify entry of an answer: (index, type, fields).
pub type Problem = (Option<u64>, String, String);

/// (index, type, fields) of every verify entry in an answer's `result`.
pub fn problems(answer: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let result = answer["result"]
        .as_array()
        .unwrap_or_else(|| panic!("result is an array: {answer}"));
    for p in result {
        let index = p.get("index").and_then(Value::as_u64);
        for v in p["verify"].as_array().expect("verify is an array") {
            out.push((
                index,
                v["type"].as_str().expect("type").to_string(),
                v["fields"].as_str().expect("fields").to_string(),
            ));
        }
    }
    out
}

/// A `Problem` from borrowed parts, to compare with what `problems` found.
pub fn problem(index: Option<u64>, ty: &str, fields: &str) -> Problem {
    (index, ty.to_string(), fields.to_string())
}

/// Assert an answer's `code`, and that it carries a `msg`.
#[track_caller]
pub fn expect_code(answer: &Value, code: &str) {
    assert_eq!(answer["code"], code, "{answer}");
    assert!(answer["msg"].is_string(), "{answer}");
}

/// `wharf export` of `iface` (`t1/bom`) for `partner`, one value per line. `env` (`prod` or
/// `uat`) goes to `--env` when given; `None` leaves the CLI's default (prod).
pub fn export(w: &Wharf, partner: &str, iface: &str, env: Option<&str>) -> Vec<Value> {
    let (cat, biz) = iface.split_once('/').expect("category/biz_key");
    let mut args = vec!["export", cat, biz, "--partner", partner];
    if let Some(env) = env {
        args.extend(["--env", env]);
    }
    w.ok(&args, "")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The sorted `vendor_father_item`s of exported t1/bom rows.
pub fn keys(rows: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = rows
        .iter()
        .map(|r| r["vendor_father_item"].as_str().expect("a key").to_string())
        .collect();
    k.sort();
    k
}

/// The exported t1/bom row whose `vendor_father_item` is `key`.
pub fn row_of<'a>(rows: &'a [Value], key: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["vendor_father_item"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

/// The row of [`SEED_002`] as wharf stores and exports it: decimals kept as sent (as text),
/// the `vendor_parent_item` default filled in, business fields only.
pub fn seed_002_stored() -> Value {
    json!({
        "vendor_code": "eee",
        "vendor_father_item": "ee",
        "vendor_parent_item": "NA",
        "father_item": "213",
        "vendor_child_item": "eee",
        "child_item": "123",
        "quantity_per": "10.1",
        "effective_start_date": "2022-09-14",
        "effective_end_date": "2022-09-14",
        "priority": "10.2",
        "split": "0.28",
        "version": "20220914"
    })
}

/// `n` t1/bom rows whose keys start with `prefix`.
pub fn bom_rows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| bom_row(&format!("{prefix}{i:05}")))
        .collect()
}

/// The rows as a CSV sheet (header = field names).
pub fn sheet_csv(rows: &[Value]) -> Vec<u8> {
    let header: Vec<&String> = rows[0].as_object().expect("row").keys().collect();
    let mut out = header
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<&str> = header
            .iter()
            .map(|h| r[h.as_str()].as_str().unwrap_or(""))
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// The rows as an .xlsx workbook of text cells.
pub fn sheet_xlsx(rows: &[Value]) -> Vec<u8> {
    let header: Vec<&String> = rows[0].as_object().expect("row").keys().collect();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, h.as_str()).expect("header");
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, h) in header.iter().enumerate() {
            let v = r[h.as_str()].as_str().unwrap_or("");
            sheet.write_string(i as u32 + 1, c as u16, v).expect("cell");
        }
    }
    book.save_to_buffer().expect("xlsx")
}
