//! Shared helpers for core's integration tests: stores, partners and request builders.
#![allow(dead_code)]

use std::sync::Arc;

use wharf_core::interfaces::Registry;
use wharf_core::model::BatchPolicy;
use wharf_core::store::{pg::PgStore, sqlite::SqliteStore, Store};
use wharf_core::{Core, Settings};
use wharf_proto::v1::{self as pb, value::Kind, Field, Row, Value};
pub use wharf_testkit::{pg_url, unique};

pub async fn pg_store() -> Arc<dyn Store> {
    let url = pg_url();
    match PgStore::connect(&url, 8).await {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("PostgreSQL at WHARF_TEST_DATABASE_URL is unreachable: {e}"),
    }
}

/// A database URL for a PostgreSQL schema of its own (created here, left for the throw-away
/// cluster to take): for tests whose scheduler must see only their own due work, since it
/// serves every partner of its store.
pub async fn pg_private_url() -> String {
    let url = pg_url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at WHARF_TEST_DATABASE_URL is unreachable: {e}"));
    tokio::spawn(conn);
    let schema = unique("sched");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

pub async fn pg_store_at(url: &str) -> Arc<dyn Store> {
    match PgStore::connect(url, 8).await {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("PostgreSQL at {url} is unreachable: {e}"),
    }
}

/// The test PostgreSQL, in a schema of its own (see `pg_private_url`).
pub async fn pg_private_store() -> Arc<dyn Store> {
    pg_store_at(&pg_private_url().await).await
}

/// Each named `async fn(Arc<dyn Store>)` of the calling test file as two tests: `sqlite::NAME`
/// on a fresh SQLite store and `postgres::NAME` on the store `$pg` (`pg_store`, or
/// `pg_private_store` for a schema of the test's own) connects to. An unreachable PostgreSQL
/// fails the test, never skips it.
#[allow(unused_macros)]
macro_rules! both_stores {
    (postgres: $pg:ident; $($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::sqlite_store()).await })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::$pg().await).await })+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_stores;

pub fn sqlite_store() -> Arc<dyn Store> {
    let dir = std::env::temp_dir().join(format!(
        "wharf-test-{}-{}",
        std::process::id(),
        unique("db")
    ));
    Arc::new(SqliteStore::open(&dir).expect("open sqlite"))
}

/// Core on `store` with the built-in interfaces and `settings`.
pub fn core_on(store: Arc<dyn Store>, settings: Settings) -> Core {
    let registry = Arc::new(Registry::load(None).expect("built-in interfaces"));
    Core::new(store, registry, settings)
}

pub fn core_with(store: Arc<dyn Store>, policy: BatchPolicy) -> Core {
    core_on(
        store,
        Settings {
            batch: policy,
            token_ttl_secs: 3600,
            ..Settings::default()
        },
    )
}

/// A fresh user of `partner`, password `password-1`.
pub async fn user_of(core: &Core, partner: &str) -> String {
    let name = unique("u");
    core.add_user(
        &wharf_core::audit::Origin::cli("test"),
        &name,
        partner,
        "password-1",
    )
    .await
    .expect("add user");
    name
}

/// A fresh partner allowed every interface.
pub async fn partner(core: &Core) -> String {
    let name = unique("P");
    core.add_partner(
        &wharf_core::audit::Origin::cli("test"),
        &name,
        "client-secret-1",
        None,
    )
    .await
    .expect("add partner");
    name
}

pub fn text(s: &str) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Text(s.to_string())),
    })
}

pub fn number(s: &str) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Number(s.to_string())),
    })
}

pub fn row(fields: &[(&str, Option<Value>)]) -> Row {
    Row {
        not_object: String::new(),
        line: 0,
        fields: fields
            .iter()
            .map(|(n, v)| Field {
                name: n.to_string(),
                value: v.clone(),
            })
            .collect(),
    }
}

/// A valid t1/bom row whose business key is made from `key`; `owner` marks which write it was.
pub fn bom(key: &str, owner: &str) -> Row {
    row(&[
        ("vendor_code", text("V001")),
        ("vendor_father_item", text(&format!("VF-{key}"))),
        ("father_item", text("F-1")),
        ("vendor_child_item", text("N/A")),
        ("child_item", text("C-1")),
        ("quantity_per", number("10.1")),
        ("effective_start_date", text("2022-09-14")),
        ("effective_end_date", text("2024-02-29")),
        ("priority", text("N/A")),
        ("split", number("0.28")),
        ("version", text("20220914")),
        ("owner", text(owner)),
    ])
}

pub fn bom_with_uid(key: &str, owner: &str, uid: &str) -> Row {
    let mut r = bom(key, owner);
    r.fields.push(Field {
        name: "uid".into(),
        value: text(uid),
    });
    r
}

pub fn bom_rows(from: usize, n: usize, owner: &str) -> Vec<Row> {
    (from..from + n)
        .map(|i| bom(&i.to_string(), owner))
        .collect()
}

pub struct Seq<'a> {
    pub partner: &'a str,
    pub env: pb::Environment,
    pub op: pb::Operation,
    pub batch_id: &'a str,
    pub batch_size: usize,
    pub seq_id: &'a str,
}

impl Seq<'_> {
    pub fn request(&self, rows: Vec<Row>) -> pb::IngestBatchRequest {
        pb::IngestBatchRequest {
            partner: self.partner.to_string(),
            user: String::new(),
            environment: self.env as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
            operation: self.op as i32,
            transport: pb::Transport::Grpc as i32,
            batch_id: text(self.batch_id),
            batch_size: number(&self.batch_size.to_string()),
            seq_id: text(self.seq_id),
            seq_size: number(&rows.len().to_string()),
            app_name: None,
            has_data: true,
            rows,
            source: "test".into(),
            unknown_envelope_fields: vec![],
            ..Default::default()
        }
    }
}

/// Asks for t1/bom batch `batch_id` of `p` in `env`, without its rejections.
pub fn batch_ref(p: &str, env: pb::Environment, batch_id: &str) -> pb::GetBatchRequest {
    pb::GetBatchRequest {
        partner: p.to_string(),
        environment: env as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        batch_id: batch_id.into(),
        with_rejections: false,
        without_rejections: false,
    }
}

pub fn with_rejections(mut req: pb::GetBatchRequest) -> pb::GetBatchRequest {
    req.with_rejections = true;
    req
}

/// `action` (execute, cancel, revert) on prod t1/bom batch `batch_id` of `p`, by `actor`.
pub fn action_ref(p: &str, batch_id: &str, action: &str, actor: &str) -> pb::BatchActionRequest {
    pb::BatchActionRequest {
        partner: p.into(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        batch_id: batch_id.into(),
        action: action.into(),
        actor: actor.into(),
    }
}

/// Send one t1/bom sequence to prod.
pub async fn send(
    core: &Core,
    partner: &str,
    op: pb::Operation,
    batch_id: &str,
    batch_size: usize,
    seq_id: &str,
    rows: Vec<Row>,
) -> pb::IngestBatchResponse {
    let seq = Seq {
        partner,
        env: pb::Environment::Prod,
        op,
        batch_id,
        batch_size,
        seq_id,
    };
    core.ingest(&seq.request(rows)).await.expect("ingest")
}

/// The `owner` of every current prod t1/bom record of `partner`, by key order.
pub async fn owners(
    core: &Core,
    partner: &str,
    env: wharf_core::model::Environment,
) -> Vec<String> {
    core.export(partner, env, "t1", "bom")
        .await
        .expect("export")
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("json row");
            v["owner"].as_str().unwrap_or("").to_string()
        })
        .collect()
}

pub async fn count(core: &Core, partner: &str) -> usize {
    core.export(partner, wharf_core::model::Environment::Prod, "t1", "bom")
        .await
        .expect("export")
        .len()
}

/// A caller on loopback (the core tests' door), at an address of its own: the PostgreSQL
/// tests share one store, so one address would collect every test's failed logins.
pub fn here() -> wharf_core::defender::Caller {
    let n = rand::random::<u32>() & 0x00ff_ffff;
    let addr = std::net::Ipv4Addr::from(0x7f00_0000 | n.max(2));
    wharf_core::defender::Caller::new("test", Some(addr.into()))
}

/// One batch of each operation over the base data the revert tests write first (an insert
/// of keys 0–2 and `u` with uid UID-1, then an update of 0 and 2): each changes something a
/// revert must give back.
pub fn revert_cases() -> Vec<(pb::Operation, Vec<Row>)> {
    use pb::Operation as Op;
    vec![
        (Op::Insert, bom_rows(10, 3, "x")),
        (
            Op::Update,
            vec![
                bom("0", "x"),
                bom("20", "x"),
                // Matched by uid: the row moves to another business key.
                bom_with_uid("moved", "x", "UID-1"),
            ],
        ),
        (
            Op::Delete,
            vec![bom("1", "x"), bom("2", "x"), bom("404", "x")],
        ),
        (
            Op::All,
            vec![
                bom("0", "x"),
                bom("30", "x"),
                bom_with_uid("31", "x", "UID-1"),
            ],
        ),
    ]
}
