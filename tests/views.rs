//! Typed views for SQL tools, through the real binary: rows posted over the HTTP API (t1/bom
//! and an interface from `WHARF_INTERFACES_DIR`) read back from the views as `wharf export`
//! prints them. PostgreSQL: `wharf_data.{category}_{biz_key}`, columns typed as the
//! definitions say (read from `information_schema`), `N/A` as NULL, a restart that leaves
//! unchanged views alone and replaces a changed one (rows stored under the old definition
//! read NULL where they no longer fit, never an error), a reporting role with the README's
//! grants only, and a definition that cannot have a view logged while core serves. SQLite:
//! `wharf_data_{category}_{biz_key}`, text columns.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use util::data::{bom_row_with, envelope, export};
use util::http::{send, Auth};
use util::{add_partner_and_user, unique, Backend, Wharf, PASSWORD};

/// The extra interface: a name that needs quoting (a hyphen), a field name with capitals,
/// a space and a dot, a decimal with an exception, a date with an exception that is a date
/// (so only the exception rule makes it NULL).
const STOCK_V1: &str = r#"{ "data_category": "tn", "biz_key": "stock-v2", "business_key": ["pn"],
  "fields": [
    { "name": "pn", "type": "string", "required": true },
    { "name": "Lot No.", "type": "digits" },
    { "name": "qty", "type": "decimal(13,3)", "required": true, "exceptions": ["N/A"] },
    { "name": "since", "type": "date", "exceptions": ["9999-12-31"] },
    { "name": "note", "type": "string" } ] }"#;

/// The same interface changed: `note` is a date now and `qty` narrower.
const STOCK_V2: &str = r#"{ "data_category": "tn", "biz_key": "stock-v2", "business_key": ["pn"],
  "fields": [
    { "name": "pn", "type": "string", "required": true },
    { "name": "Lot No.", "type": "digits" },
    { "name": "qty", "type": "decimal(5,1)", "required": true, "exceptions": ["N/A"] },
    { "name": "since", "type": "date", "exceptions": ["9999-12-31"] },
    { "name": "note", "type": "date" } ] }"#;

/// An interface that cannot have a view: a field named like a fixed column.
const CLASH: &str = r#"{ "data_category": "tn", "biz_key": "clash", "business_key": ["partner"],
  "fields": [ { "name": "partner", "type": "string", "required": true } ] }"#;

/// The fields of a definition: (name, type as written, exceptions).
fn fields_of(definition: &str) -> Vec<(String, String, Vec<String>)> {
    let def: Value = serde_json::from_str(definition).expect("a definition");
    def["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            let exceptions = f["exceptions"]
                .as_array()
                .map(|a| a.iter().map(|e| e.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
                exceptions,
            )
        })
        .collect()
}

fn bom_definition() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/interfaces/t1_bom.json");
    std::fs::read_to_string(path).expect("t1_bom.json")
}

/// An installation with `definitions` in its `WHARF_INTERFACES_DIR`, a partner allowed every
/// interface and a user of it.
fn installation(
    backend: Backend,
    definitions: &[(&str, &str)],
) -> (Wharf, PathBuf, String, String) {
    let mut w = Wharf::new(backend);
    let dir = w.data_dir.join("interfaces");
    std::fs::create_dir_all(&dir).expect("interfaces dir");
    for (file, text) in definitions {
        std::fs::write(dir.join(file), text).expect("write a definition");
    }
    w.extra_env
        .push(("WHARF_INTERFACES_DIR".into(), dir.display().to_string()));
    let (partner, user) = add_partner_and_user(&w);
    (w, dir, partner, user)
}

/// Post one batch of `rows` to `iface` as `user`; it must be accepted.
fn post(w: &Wharf, user: &str, iface: &str, batch_id: &str, rows: Vec<Value>) {
    let url = format!("{}/v1.0/scc/data/sync/{iface}", w.http_url());
    let body = envelope(batch_id, rows.len(), "1", rows);
    send("POST", &url, &Auth::Basic(user, PASSWORD), &body).expect(200, "0");
}

/// The rows both stores are given: decimals with scale, trailing and leading zeros, a
/// negative one, a JSON number with an exponent, `N/A` in a decimal and in a text field.
fn post_rows(w: &Wharf, user: &str) {
    post(
        w,
        user,
        "t1/bom",
        "VB1",
        vec![
            bom_row_with("k1", &[("priority", "N/A"), ("vendor_child_item", "N/A")]),
            bom_row_with(
                "k2",
                &[
                    ("quantity_per", "9999999999.999"),
                    ("split", "0.280"),
                    ("priority", "-0012.5"),
                    ("effective_start_date", "2024-02-29"),
                    ("vendor_name", "O'Brien \"quoted\" \\ name"),
                ],
            ),
        ],
    );
    let mut k3 = bom_row_with("k3", &[("quantity_per", "-3.25"), ("uid", "U-3")]);
    k3["priority"] = json!(1.5e2);
    post(w, user, "t1/bom", "VB2", vec![k3]);
    post(
        w,
        user,
        "tn/stock-v2",
        "VS1",
        vec![
            json!({"pn": "a", "Lot No.": "0042", "qty": "12.5", "since": "2023-01-31", "note": "2020-01-01"}),
            json!({"pn": "b", "qty": "N/A", "since": "9999-12-31", "note": "later"}),
            json!({"pn": "c", "qty": "123456.25"}),
        ],
    );
}

/// A decimal's value as comparable text: no leading zeros, no trailing fraction zeros.
fn decimal(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if int == "0" && frac.is_empty() {
        return "0".into();
    }
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// Every view row against `wharf export` row by row (matched by the stored row, the view's
/// `data`): each field's column is the exported value, as text, a decimal equal in value,
/// NULL where the value is absent or, in a typed field, an exception. Returns the rows' batch
/// ids by the field `key`'s value.
fn matches_export(
    view_rows: &[Value],
    exported: &[Value],
    definition: &str,
    key: &str,
) -> Vec<(String, String)> {
    assert_eq!(view_rows.len(), exported.len(), "{view_rows:#?}");
    let fields = fields_of(definition);
    let mut batches = Vec::new();
    for row in view_rows {
        let data: Value = match &row["data"] {
            Value::String(text) => serde_json::from_str(text).expect("data is JSON"),
            other => panic!("data is JSON text: {other}"),
        };
        assert!(
            exported.contains(&data),
            "{data} is not exported: {exported:?}"
        );
        for (name, ty, exceptions) in &fields {
            let stored = data.get(name).and_then(Value::as_str);
            let typed = ty != "string" && ty != "digits";
            let got = row[name.as_str()].as_str();
            match stored {
                None => assert_eq!(got, None, "{name} of {data}"),
                Some(v) if typed && exceptions.iter().any(|e| e == v) => {
                    assert_eq!(got, None, "{name} of {data}")
                }
                Some(v) if ty.starts_with("decimal") => {
                    let got = got.unwrap_or_else(|| panic!("{name} of {data} is NULL"));
                    assert_eq!(decimal(got), decimal(v), "{name} of {data}");
                }
                Some(v) => assert_eq!(got, Some(v), "{name} of {data}"),
            }
        }
        batches.push((
            data[key].as_str().unwrap().to_string(),
            row["batch_id"].as_str().unwrap_or("").to_string(),
        ));
    }
    batches.sort();
    batches
}

// ---- PostgreSQL ---------------------------------------------------------------------------

/// `sql` run by psql on `url`: its output, unaligned, tuples only.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (the PostgreSQL client) runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The rows of view `name` for `partner`, every column as text (numbers and dates as
/// PostgreSQL writes them, `data` as JSON text, NULL as null).
fn pg_view_rows(url: &str, name: &str, partner: &str) -> Vec<Value> {
    let sql = format!(
        "SELECT (SELECT json_object_agg(key, value) FROM json_each_text(to_json(v))) \
         FROM wharf_data.\"{name}\" v WHERE partner = '{partner}'"
    );
    psql(url, &sql)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

/// The view's columns: (name, type, precision, scale), in order.
fn pg_columns(url: &str, name: &str) -> Vec<(String, String, String, String)> {
    let sql = format!(
        "SELECT column_name, data_type, coalesce(numeric_precision::text, ''), \
         coalesce(numeric_scale::text, '') FROM information_schema.columns \
         WHERE table_schema = 'wharf_data' AND table_name = '{name}' ORDER BY ordinal_position"
    );
    psql(url, &sql)
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('|').collect();
            (c[0].into(), c[1].into(), c[2].into(), c[3].into())
        })
        .collect()
}

/// The columns a definition's view must have, as `pg_columns` reads them.
fn expected_pg_columns(definition: &str) -> Vec<(String, String, String, String)> {
    let text = |n: &str| {
        (
            n.to_string(),
            "text".to_string(),
            String::new(),
            String::new(),
        )
    };
    let mut cols = vec![text("partner"), text("environment"), text("batch_id")];
    for (name, ty, _) in fields_of(definition) {
        cols.push(match ty.as_str() {
            "date" => (name, "date".into(), String::new(), String::new()),
            t if t.starts_with("decimal(") => {
                let (p, s) = t["decimal(".len()..t.len() - 1]
                    .split_once(',')
                    .expect("decimal(p,s)");
                (name, "numeric".into(), p.trim().into(), s.trim().into())
            }
            _ => text(&name),
        });
    }
    cols.push(("data".into(), "jsonb".into(), String::new(), String::new()));
    cols
}

fn view_oid(url: &str, name: &str) -> String {
    psql(
        url,
        &format!("SELECT 'wharf_data.\"{name}\"'::regclass::oid"),
    )
    .trim()
    .to_string()
}

#[test]
fn typed_views_on_postgres() {
    let (w, dir, partner, user) = installation(
        Backend::Postgres,
        &[("stock.json", STOCK_V1), ("clash.json", CLASH)],
    );
    let url = w.database_url.clone().expect("a database");
    let mut server = w.serve();
    // Made at start-up: the built-ins' and the extra interface's; the one that cannot have a
    // view is named in the log, and core serves all the same.
    let views = psql(
        &url,
        "SELECT table_name FROM information_schema.views WHERE table_schema = 'wharf_data' ORDER BY 1",
    );
    assert_eq!(
        views.lines().collect::<Vec<_>>(),
        ["odm_master_data", "t1_bom", "tn_stock-v2"]
    );
    let log = server.stderr();
    assert!(
        log.contains("no typed view for SQL tools")
            && log.contains("interface=tn/clash")
            && log.contains("field \"partner\" has the name of a fixed column"),
        "{log}"
    );

    // Typed as the definitions say.
    let bom = bom_definition();
    assert_eq!(pg_columns(&url, "t1_bom"), expected_pg_columns(&bom));
    assert_eq!(
        pg_columns(&url, "tn_stock-v2"),
        expected_pg_columns(STOCK_V1)
    );
    assert!(pg_columns(&url, "t1_bom").contains(&(
        "quantity_per".into(),
        "numeric".into(),
        "13".into(),
        "3".into()
    )));

    // Values equal to `wharf export`, row by row.
    post_rows(&w, &user);
    let rows = pg_view_rows(&url, "t1_bom", &partner);
    let batches = matches_export(
        &rows,
        &export(&w, &partner, "t1/bom", None),
        &bom,
        "vendor_father_item",
    );
    assert_eq!(
        batches,
        [
            ("k1".into(), "VB1".into()),
            ("k2".into(), "VB1".into()),
            ("k3".into(), "VB2".into())
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r["environment"] == "prod" && r["partner"] == partner.as_str()));
    let k1 = rows
        .iter()
        .find(|r| r["vendor_father_item"] == "k1")
        .unwrap();
    assert_eq!(k1["priority"], Value::Null, "N/A in a decimal reads NULL");
    assert_eq!(k1["vendor_child_item"], "N/A", "N/A in a text field stays");
    assert_eq!(k1["quantity_per"], "10.100");
    let k3 = rows
        .iter()
        .find(|r| r["vendor_father_item"] == "k3")
        .unwrap();
    assert_eq!(k3["priority"], "150.000");
    let stock = export(&w, &partner, "tn/stock-v2", None);
    let rows = pg_view_rows(&url, "tn_stock-v2", &partner);
    matches_export(&rows, &stock, STOCK_V1, "pn");
    // Typed in SQL, not only in name.
    assert_eq!(
        psql(
            &url,
            &format!(
                "SELECT sum(quantity_per), min(effective_start_date) + 1, count(priority) \
                 FROM wharf_data.t1_bom WHERE partner = '{partner}'"
            )
        )
        .trim(),
        "10000000006.849|2022-09-15|2"
    );

    // A reporting role with the README's grants reads the views and nothing of wharf's.
    let reporter = unique("reporter");
    psql(
        &url,
        &format!(
            "CREATE ROLE {reporter} NOLOGIN; \
             GRANT USAGE ON SCHEMA wharf_data TO {reporter}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA wharf_data TO {reporter}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE wharf IN SCHEMA wharf_data GRANT SELECT ON TABLES TO {reporter};"
        ),
    );
    let as_reporter = |sql: &str| {
        Command::new("psql")
            .args([&url, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-c", &format!("SET ROLE {reporter}"), "-c", sql])
            .output()
            .expect("psql runs")
    };
    let n = as_reporter(&format!(
        "SELECT count(*) FROM wharf_data.\"tn_stock-v2\" WHERE partner = '{partner}'"
    ));
    assert!(n.status.success(), "{}", String::from_utf8_lossy(&n.stderr));
    assert_eq!(String::from_utf8_lossy(&n.stdout).trim(), "3");
    let denied = as_reporter("SELECT count(*) FROM records");
    assert!(
        !denied.status.success()
            && String::from_utf8_lossy(&denied.stderr).contains("permission denied"),
        "{denied:?}"
    );

    // A restart with the same definitions leaves every view as it was.
    let oids = [view_oid(&url, "t1_bom"), view_oid(&url, "tn_stock-v2")];
    server.stop("wharf serve");
    let mut server = w.serve();
    assert_eq!(
        [view_oid(&url, "t1_bom"), view_oid(&url, "tn_stock-v2")],
        oids
    );
    assert!(
        server.stderr().contains("created=[] unchanged=3"),
        "{}",
        server.stderr()
    );
    server.stop("wharf serve");

    // A changed definition replaces its view: new types, rows stored under the old one read
    // NULL where they no longer fit (never a failed query), the reporter can still read.
    std::fs::write(dir.join("stock.json"), STOCK_V2).expect("rewrite the definition");
    let mut server = w.serve();
    assert!(
        server
            .stderr()
            .contains("created=[\"tn_stock-v2\"] unchanged=2"),
        "{}",
        server.stderr()
    );
    assert_eq!(view_oid(&url, "t1_bom"), oids[0]);
    assert_eq!(
        pg_columns(&url, "tn_stock-v2"),
        expected_pg_columns(STOCK_V2)
    );
    let got = psql(
        &url,
        &format!(
            "SELECT pn, coalesce(qty::text, 'NULL'), coalesce(note::text, 'NULL') \
             FROM wharf_data.\"tn_stock-v2\" WHERE partner = '{partner}' ORDER BY pn"
        ),
    );
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        ["a|12.5|2020-01-01", "b|NULL|NULL", "c|NULL|NULL"]
    );
    let n = as_reporter(&format!(
        "SELECT count(*) FROM wharf_data.\"tn_stock-v2\" WHERE partner = '{partner}'"
    ));
    assert!(n.status.success(), "{}", String::from_utf8_lossy(&n.stderr));
    server.stop("wharf serve");

    // A definition that can no longer have a view keeps the view it had, named in the log
    // as failed (not as an interface no longer defined).
    let stock_oid = view_oid(&url, "tn_stock-v2");
    std::fs::write(
        dir.join("stock.json"),
        STOCK_V2.replace(
            r#"{ "name": "note", "type": "date" }"#,
            r#"{ "name": "note", "type": "date" }, { "name": "data", "type": "string" }"#,
        ),
    )
    .expect("rewrite the definition");
    let mut server = w.serve();
    let log = server.stderr();
    assert!(
        log.contains("interface=tn/stock-v2")
            && log.contains("field \"data\" has the name of a fixed column"),
        "{log}"
    );
    assert!(!log.contains("no longer defined"), "{log}");
    assert_eq!(view_oid(&url, "tn_stock-v2"), stock_oid);
    server.stop("wharf serve");

    // An interface no longer defined keeps its view, and the log says so.
    std::fs::remove_file(dir.join("stock.json")).expect("remove the definition");
    let mut server = w.serve();
    let log = server.stderr();
    assert!(
        log.contains("typed view of an interface no longer defined")
            && log.contains("view=tn_stock-v2"),
        "{log}"
    );
    assert!(!view_oid(&url, "tn_stock-v2").is_empty());
    server.stop("wharf serve");
}

// ---- SQLite -------------------------------------------------------------------------------

#[test]
fn text_views_on_sqlite() {
    let (w, _dir, partner, user) = installation(Backend::Sqlite, &[("stock.json", STOCK_V1)]);
    let mut server = w.serve();
    post_rows(&w, &user);
    let file = w.data_dir.join("wharf.sqlite3");
    let db =
        rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the SQLite file");
    let names: Vec<String> = db
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'view' AND name LIKE 'wharf_data_%' \
             ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        names,
        [
            "wharf_data_odm_master_data",
            "wharf_data_t1_bom",
            "wharf_data_tn_stock-v2"
        ]
    );
    let rows = |view: &str| -> Vec<Value> {
        let mut stmt = db
            .prepare(&format!("SELECT * FROM \"{view}\" WHERE partner = ?1"))
            .unwrap();
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        stmt.query_map([&partner], |r| {
            let mut row = serde_json::Map::new();
            for (i, c) in columns.iter().enumerate() {
                let v: Option<String> = r.get(i)?;
                row.insert(c.clone(), v.map_or(Value::Null, Value::String));
            }
            Ok(Value::Object(row))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let bom_rows = rows("wharf_data_t1_bom");
    let batches = matches_export(
        &bom_rows,
        &export(&w, &partner, "t1/bom", None),
        &bom_definition(),
        "vendor_father_item",
    );
    assert_eq!(
        batches,
        [
            ("k1".into(), "VB1".into()),
            ("k2".into(), "VB1".into()),
            ("k3".into(), "VB2".into())
        ]
    );
    // Text as wharf accepted it: exact, not a float.
    let k2 = bom_rows
        .iter()
        .find(|r| r["vendor_father_item"] == "k2")
        .unwrap();
    assert_eq!(k2["quantity_per"], "9999999999.999");
    assert_eq!(k2["split"], "0.280");
    matches_export(
        &rows("wharf_data_tn_stock-v2"),
        &export(&w, &partner, "tn/stock-v2", None),
        STOCK_V1,
        "pn",
    );
    // A restart leaves them as they were.
    server.stop("wharf serve");
    let mut server = w.serve();
    assert!(
        server.stderr().contains("created=[] unchanged=3"),
        "{}",
        server.stderr()
    );
    server.stop("wharf serve");
}
