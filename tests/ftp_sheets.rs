//! Sheets of any size over FTP: a `.csv`/`.xlsx` of more than 5,000 rows is ONE batch of
//! 5,000-row sequences, applied all or nothing, with ONE feedback answer for the whole file;
//! a re-delivery of its name is E00A00; a sheet over WHARF_FTP_MAX_FILE_ROWS is refused on
//! `rows` with nothing applied. The real binary, a real FTP client, SQLite and PostgreSQL.

mod util;

use rust_xlsxwriter::Workbook;
use serde_json::Value;
use util::data::{expect_code, export, problem, problems, BOM_FIELDS};
use util::ftp::{bom_dir, deliver, login};
use util::{installation, Backend};

/// Rows in the big sheets: four sequences of 5,000.
const BIG: usize = 20_000;
/// The spreadsheet line (header = line 1) of the bad row in the rejected sheets.
const BAD_LINE: usize = 17_345;

/// The cells of data row `i` (0-based; spreadsheet line i + 2) keyed `{prefix}{i}`; with
/// `bad`, an impossible end date.
fn cells(prefix: &str, i: usize, bad: bool) -> [String; 11] {
    [
        "eee".into(),
        format!("{prefix}{i}"),
        "213".into(),
        "eee".into(),
        "123".into(),
        "10.1".into(),
        "2022-09-14".into(),
        if bad { "2022-13-31" } else { "2022-12-31" }.into(),
        "N/A".into(),
        "0.28".into(),
        "20220914".into(),
    ]
}

/// A CSV of `n` t1/bom rows keyed `{prefix}0..`; the row at spreadsheet line `bad_line` (if
/// any) has an impossible date.
fn csv(prefix: &str, n: usize, bad_line: Option<usize>) -> Vec<u8> {
    let mut out = BOM_FIELDS.join(",");
    out.push('\n');
    for i in 0..n {
        out.push_str(&cells(prefix, i, bad_line == Some(i + 2)).join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// The same as an .xlsx workbook (every cell text).
fn xlsx(prefix: &str, n: usize, bad_line: Option<usize>) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, name) in BOM_FIELDS.iter().enumerate() {
        ws.write_string(0, c as u16, *name).unwrap();
    }
    for i in 0..n {
        for (c, v) in cells(prefix, i, bad_line == Some(i + 2)).iter().enumerate() {
            ws.write_string(i as u32 + 1, c as u16, v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

/// How many exported t1/bom rows have a key starting with `prefix`.
fn count(rows: &[Value], prefix: &str) -> usize {
    rows.iter()
        .filter(|r| {
            r["vendor_father_item"]
                .as_str()
                .is_some_and(|k| k.starts_with(prefix))
        })
        .count()
}

/// The spreadsheet lines an answer's `result` names, in order.
fn lines(answer: &Value) -> Vec<u64> {
    answer["result"]
        .as_array()
        .unwrap_or_else(|| panic!("result is an array: {answer}"))
        .iter()
        .filter_map(|p| p.get("line").and_then(Value::as_u64))
        .collect()
}

/// A 20,000-row CSV and a 20,000-row XLSX are each one batch, applied whole: feedback `0`
/// naming the 20,000 rows, and every row exported.
fn big_sheets_apply_whole(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);

    for (name, body, prefix) in [
        ("bom_insert_20260101000000_1.csv", csv("C", BIG, None), "C"),
        (
            "bom_insert_20260101000000_2.xlsx",
            xlsx("X", BIG, None),
            "X",
        ),
    ] {
        let fb = deliver(&mut ftp, &dir, name, &body);
        expect_code(&fb, "0");
        let msg = fb["msg"].as_str().unwrap();
        assert!(
            msg.contains("applied") && msg.contains("20000"),
            "{name}: {fb}"
        );
        assert!(
            fb.get("result").is_none(),
            "{name}: no result on success: {fb}"
        );
        let rows = export(&w, &partner, "t1/bom", None);
        assert_eq!(count(&rows, prefix), BIG, "{name}: every row applied");
    }
    assert_eq!(export(&w, &partner, "t1/bom", None).len(), 2 * BIG);
    let _ = ftp.quit();
}

/// One bad row at spreadsheet line 17,345 of a 20,000-row sheet: nothing of the file is
/// applied, and its one feedback answer names that line (and only that row).
fn one_bad_row_rejects_the_whole_file(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    // Something there before, which must stay exactly as it is.
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20260101000000_1.csv",
        &csv("K", 3, None),
    );
    expect_code(&fb, "0");
    let before = export(&w, &partner, "t1/bom", None);
    assert_eq!(before.len(), 3);

    for (name, body, prefix) in [
        (
            "bom_insert_20260101000000_2.csv",
            csv("C", BIG, Some(BAD_LINE)),
            "C",
        ),
        (
            "bom_insert_20260101000000_3.xlsx",
            xlsx("X", BIG, Some(BAD_LINE)),
            "X",
        ),
    ] {
        let fb = deliver(&mut ftp, &dir, name, &body);
        expect_code(&fb, "E00V00");
        assert_eq!(
            lines(&fb),
            [BAD_LINE as u64],
            "{name}: the bad row's line: {fb}"
        );
        assert_eq!(
            problems(&fb)
                .into_iter()
                .map(|(_, ty, fields)| (ty, fields))
                .collect::<Vec<_>>(),
            [("invalid date".to_string(), "effective_end_date".to_string())],
            "{name}: {fb}"
        );
        let bad = &fb["result"][0]["row"];
        assert_eq!(
            bad["vendor_father_item"],
            format!("{prefix}{}", BAD_LINE - 2),
            "{name}: the row as sent: {fb}"
        );
        assert!(
            fb["msg"]
                .as_str()
                .unwrap()
                .contains("none of its 20000 rows"),
            "{name}: the answer says nothing was applied: {fb}"
        );
        assert_eq!(
            export(&w, &partner, "t1/bom", None),
            before,
            "{name}: nothing applied"
        );
    }
    let _ = ftp.quit();
}

/// With WHARF_FTP_MAX_FILE_ROWS=1000 a 1,200-row sheet is answered E00V00 on `rows` with its
/// row count and the limit, nothing applied; a 1,000-row sheet still goes in.
fn over_the_row_limit(backend: Backend) {
    let (mut w, partner, user) = installation(backend);
    w.extra_env
        .push(("WHARF_FTP_MAX_FILE_ROWS".into(), "1000".into()));
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    for (name, body) in [
        ("bom_insert_20260101000000_1.csv", csv("C", 1200, None)),
        ("bom_insert_20260101000000_2.xlsx", xlsx("X", 1200, None)),
    ] {
        let fb = deliver(&mut ftp, &dir, name, &body);
        expect_code(&fb, "E00V00");
        assert_eq!(
            problems(&fb),
            [problem(None, "value not allowed", "rows")],
            "{name}: {fb}"
        );
        let msg = fb["msg"].as_str().unwrap();
        assert!(
            msg.contains("1200") && msg.contains("1000"),
            "{name}: the row count and the limit: {fb}"
        );
        assert!(!msg.contains("seq_size"), "{name}: {fb}");
        assert!(
            export(&w, &partner, "t1/bom", None).is_empty(),
            "{name}: nothing applied"
        );
    }
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20260101000000_3.csv",
        &csv("C", 1000, None),
    );
    expect_code(&fb, "0");
    assert_eq!(export(&w, &partner, "t1/bom", None).len(), 1000);
    let _ = ftp.quit();
    drop(_server);
    // A value that is no row count stops start-up, naming the variable.
    w.extra_env.pop();
    w.extra_env
        .push(("WHARF_FTP_MAX_FILE_ROWS".into(), "0".into()));
    let out = w.run(&["serve"], "");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHARF_FTP_MAX_FILE_ROWS"));
}

/// The same big file name delivered again is E00A00 (naming the first answer), its rows are
/// not applied twice; a rejected big file delivered again stays rejected and applies nothing.
fn redelivery_is_recognised(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    let name = "bom_insert_20260101000000_1.csv";
    let body = csv("C", BIG, None);
    expect_code(&deliver(&mut ftp, &dir, name, &body), "0");
    let after_first = export(&w, &partner, "t1/bom", None);
    assert_eq!(after_first.len(), BIG);

    let fb = deliver(&mut ftp, &dir, name, &body);
    expect_code(&fb, "E00A00");
    assert!(fb["msg"].as_str().unwrap().contains("answered 0"), "{fb}");
    assert_eq!(
        export(&w, &partner, "t1/bom", None),
        after_first,
        "nothing twice"
    );

    // A third time: still E00A00, still nothing applied.
    let fb = deliver(&mut ftp, &dir, name, &body);
    expect_code(&fb, "E00A00");
    assert_eq!(export(&w, &partner, "t1/bom", None), after_first);

    let bad = "bom_insert_20260101000000_2.csv";
    let bad_body = csv("D", BIG, Some(BAD_LINE));
    expect_code(&deliver(&mut ftp, &dir, bad, &bad_body), "E00V00");
    let fb = deliver(&mut ftp, &dir, bad, &bad_body);
    expect_code(&fb, "E00A00");
    assert!(
        fb["msg"].as_str().unwrap().contains("answered E00V00"),
        "{fb}"
    );
    assert_eq!(export(&w, &partner, "t1/bom", None), after_first);
    let _ = ftp.quit();
}

/// Headers are read as core matches them, as on the upload page, but nobody is asked: labels
/// (Chinese and English), alternates and other spellings name their fields; a header that is
/// only a guess ("Code") is not taken, so core answers it as an unknown field.
fn headers_are_matched_by_labels(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    let labelled = [
        "供应商编码",
        "Vendor Upper Item",
        "FATHER ITEM",
        "vendor child item",
        "联想下层节点料号",
        "Qty Per",
        "生效日期",
        "Effective_End_Date",
        "优先级",
        "split",
        "版本号",
    ];
    let mut body = labelled.join(",");
    body.push('\n');
    for i in 0..3 {
        body.push_str(&cells("L", i, false).join(","));
        body.push('\n');
    }
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20260101000000_7.csv",
        body.as_bytes(),
    );
    expect_code(&fb, "0");
    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(count(&rows, "L"), 3);
    assert!(rows.iter().all(|r| r["version"] == "20220914"), "{rows:?}");

    let guessed = String::from_utf8(csv("G", 1, None))
        .unwrap()
        .replacen("vendor_code", "Code", 1);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20260101000000_8.csv",
        guessed.as_bytes(),
    );
    expect_code(&fb, "E00V00");
    let found = problems(&fb);
    assert!(
        found.contains(&problem(Some(0), "unknown field", "Code")),
        "{found:?} in {fb}"
    );
    assert_eq!(count(&export(&w, &partner, "t1/bom", None), "G"), 0);
    let _ = ftp.quit();
}

#[test]
fn headers_are_matched_by_labels_sqlite() {
    headers_are_matched_by_labels(Backend::Sqlite);
}

#[test]
fn headers_are_matched_by_labels_postgres() {
    headers_are_matched_by_labels(Backend::Postgres);
}

#[test]
fn big_sheets_apply_whole_sqlite() {
    big_sheets_apply_whole(Backend::Sqlite);
}

#[test]
fn big_sheets_apply_whole_postgres() {
    big_sheets_apply_whole(Backend::Postgres);
}

#[test]
fn one_bad_row_rejects_the_whole_file_sqlite() {
    one_bad_row_rejects_the_whole_file(Backend::Sqlite);
}

#[test]
fn one_bad_row_rejects_the_whole_file_postgres() {
    one_bad_row_rejects_the_whole_file(Backend::Postgres);
}

#[test]
fn over_the_row_limit_sqlite() {
    over_the_row_limit(Backend::Sqlite);
}

#[test]
fn over_the_row_limit_postgres() {
    over_the_row_limit(Backend::Postgres);
}

#[test]
fn redelivery_is_recognised_sqlite() {
    redelivery_is_recognised(Backend::Sqlite);
}

#[test]
fn redelivery_is_recognised_postgres() {
    redelivery_is_recognised(Backend::Postgres);
}
