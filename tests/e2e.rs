//! End to end: the real `wharf` binary, run as an operator and a front-end would use it,
//! against the embedded SQLite store and a real PostgreSQL.

mod util;

use util::{unique, Backend, Wharf, TOKEN};
use wharf_proto::v1::{self as pb, value::Kind, Field, Row, Value};

fn text(s: &str) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Text(s.into())),
    })
}

fn number(s: &str) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Number(s.into())),
    })
}

/// Seed 002's request example row, with the business key varied by `key`.
fn seed_row(key: &str) -> Row {
    let f = |n: &str, v| Field {
        name: n.into(),
        value: v,
    };
    Row {
        not_object: String::new(),
        line: 0,
        fields: vec![
            f("child_item", text("123")),
            f("effective_end_date", text("2022-09-14")),
            f("effective_start_date", text("2022-09-14")),
            f("father_item", text("213")),
            f("priority", number("10.2")),
            f("quantity_per", number("10.1")),
            f("split", number("0.28")),
            f("vendor_child_item", text("eee")),
            f("vendor_code", text("eee")),
            f("vendor_father_item", text(key)),
            f("version", text("20220914")),
        ],
    }
}

fn request(
    partner: &str,
    batch_id: &str,
    batch_size: usize,
    seq_id: &str,
    rows: Vec<Row>,
) -> pb::IngestBatchRequest {
    pb::IngestBatchRequest {
        partner: partner.into(),
        user: String::new(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        operation: pb::Operation::Insert as i32,
        transport: pb::Transport::Grpc as i32,
        batch_id: text(batch_id),
        batch_size: number(&batch_size.to_string()),
        seq_id: text(seq_id),
        seq_size: number(&rows.len().to_string()),
        has_data: true,
        rows,
        ..Default::default()
    }
}

/// The operator's path: create a partner and a user with the CLI, run `wharf serve`, push a
/// two-sequence batch through core's gRPC, read it back with `wharf export`, stop with SIGTERM.
async fn operator_journey(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = unique("ACME");
    w.ok(
        &["partner", "add", &partner, "--interfaces", "t1/bom"],
        "client-secret-1\n",
    );
    let user = unique("alice");
    w.ok(
        &["user", "add", &user, "--partner", &partner],
        "password-123\n",
    );
    let again = w.run(&["partner", "add", &partner], "client-secret-1\n");
    assert_eq!(
        again.status.code(),
        Some(65),
        "a duplicate partner is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let mut server = w.serve();
    let mut c = wharf_proto::connect(&w.grpc_url(), TOKEN).unwrap();
    let who = c
        .authenticate(pb::AuthenticateRequest {
            username: user.clone(),
            password: "password-123".into(),
            caller: Some(wharf_proto::login::caller(
                "grpc-test",
                std::net::Ipv4Addr::LOCALHOST.into(),
            )),
        })
        .await
        .expect("the user made by the CLI logs in")
        .into_inner();
    assert_eq!(who.interfaces, ["t1/bom"]);

    let r = c
        .ingest_batch(request(
            &partner,
            "LCFC202206230001",
            2,
            "1",
            vec![seed_row("ee")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "0", "{r:?}");
    let export = |w: &Wharf| w.ok(&["export", "t1", "bom", "--partner", &partner], "");
    assert_eq!(export(&w), "", "half a batch is not visible to export");
    let r = c
        .ingest_batch(request(
            &partner,
            "LCFC202206230001",
            2,
            "2",
            vec![seed_row("ff")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.code == "0" && r.applied, "{r:?}");
    let lines: Vec<serde_json::Value> = export(&w)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["vendor_father_item"], "ee");
    assert_eq!(lines[0]["quantity_per"], "10.1", "decimals keep their text");
    assert_eq!(
        lines[0]["vendor_parent_item"], "NA",
        "defaults are filled in"
    );
    assert!(lines[0].get("uid").is_none(), "business fields only");
    let uat = w.ok(
        &["export", "t1", "bom", "--partner", &partner, "--env", "uat"],
        "",
    );
    assert_eq!(uat, "", "uat is a separate space");

    drop(c);
    server.stop("wharf serve");
    let log = server.stderr();
    assert!(
        log.contains("wharf core listening") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        !log.contains("password-123") && !log.contains("client-secret-1"),
        "no secrets in logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_journey_sqlite() {
    operator_journey(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_journey_postgres() {
    operator_journey(Backend::Postgres).await;
}

#[test]
fn export_of_unknown_things_fails_clearly() {
    let w = Wharf::new(Backend::Sqlite);
    let out = w.run(&["export", "t1", "bom", "--partner", "ghost"], "");
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("partner ghost"));
    w.ok(&["partner", "add", "real"], "client-secret-1\n");
    let out = w.run(&["export", "t1", "nope", "--partner", "real"], "");
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interface t1/nope"));
    let out = w.run(&["partner", "add", "empty"], "");
    assert!(!out.status.success(), "an empty secret is refused");
    let out = w.run(&["partner", "add", "../evil"], "client-secret-1\n");
    assert_eq!(out.status.code(), Some(65));
}

#[test]
fn bad_configuration_exits_64_naming_every_key() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env = vec![
        ("WHARF_MAX_ATTEMPTS".into(), "zero".into()),
        ("WHARF_DATABASE_URL".into(), "mysql://nope".into()),
    ];
    let out = w.run(&["serve"], "");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WHARF_MAX_ATTEMPTS") && err.contains("WHARF_DATABASE_URL"),
        "{err}"
    );
}

#[test]
fn a_broken_interface_definition_stops_start_up() {
    let mut w = Wharf::new(Backend::Sqlite);
    let dir = w.data_dir.join("interfaces");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tn_stock.json"),
        r#"{"data_category":"tn","biz_key":"stock","business_key":["qty"],
            "fields":[{"name":"qty","type":"decimal(x,y)"}]}"#,
    )
    .unwrap();
    w.extra_env = vec![("WHARF_INTERFACES_DIR".into(), dir.display().to_string())];
    let out = w.run(&["serve"], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tn_stock.json") && err.contains("fields.qty"),
        "{err}"
    );
}

#[test]
fn an_extra_interface_is_data_not_code() {
    let mut w = Wharf::new(Backend::Sqlite);
    let dir = w.data_dir.join("interfaces");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tn_stock.json"),
        r#"{"data_category":"tn","biz_key":"stock","business_key":["pn"],
            "fields":[{"name":"pn","type":"string","required":true,"max_length":20}]}"#,
    )
    .unwrap();
    w.extra_env = vec![("WHARF_INTERFACES_DIR".into(), dir.display().to_string())];
    w.ok(
        &["partner", "add", "acme", "--interfaces", "tn/stock"],
        "client-secret-1\n",
    );
    assert_eq!(
        w.ok(&["export", "tn", "stock", "--partner", "acme"], ""),
        ""
    );
}
