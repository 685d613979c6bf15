//! Store throughput: stage + apply a 100,000-row t1/bom batch of 500-row sequences through
//! `Core::ingest` (validation, dedupe, staging, one-transaction apply) on PostgreSQL and on
//! SQLite, next to a raw `COPY` of the same rows into PostgreSQL in the same run — the
//! physical limit. Run with `scripts/bench` (it starts a private PostgreSQL).
//!
//! The same batch sent as "check only" (one sender) is measured too: staging plus the trial
//! apply that is rolled back, then the execute by hand that applies the checked batch.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_ROWS` (default 100000),
//! `WHARF_BENCH_RUNS` (default 3; the median is reported).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use wharf_core::interfaces::Registry;
use wharf_core::model::BatchPolicy;
use wharf_core::store::{pg::PgStore, sqlite::SqliteStore, Store};
use wharf_core::{Core, Settings};
use wharf_proto::v1::{self as pb, value::Kind, Field, Row, Value};

const SEQ: usize = 500;

fn val(k: Kind) -> Option<Value> {
    Some(Value { kind: Some(k) })
}

fn row(i: usize) -> Row {
    let t = |s: String| val(Kind::Text(s));
    let fields = vec![
        ("bu", t("ThinkNB".into())),
        ("vendor_code", t("2022012".into())),
        ("vendor_father_item", t(format!("VF{i:08}"))),
        ("father_item", t("5B20S43052".into())),
        ("vendor_child_item", t(format!("VC{i:08}"))),
        ("child_item", t("5B20S43053".into())),
        ("quantity_per", val(Kind::Number("10.125".into()))),
        ("effective_start_date", t("2022-09-14".into())),
        ("effective_end_date", t("2024-02-29".into())),
        ("priority", t("N/A".into())),
        ("split", val(Kind::Number("0.28".into()))),
        ("version", t("20211012000000".into())),
        ("owner", t("planner".into())),
    ];
    Row {
        not_object: String::new(),
        line: 0,
        fields: fields
            .into_iter()
            .map(|(name, value)| Field {
                name: name.into(),
                value,
            })
            .collect(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Raw COPY of the rows' stored form into a table shaped like `records`.
async fn raw_copy(url: &str, lines: &Bytes) -> Duration {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (partner TEXT NOT NULL, \
             env TEXT NOT NULL, iface TEXT NOT NULL, rkey TEXT NOT NULL, uid TEXT, data TEXT NOT NULL, \
             batch_pk BIGINT NOT NULL, PRIMARY KEY (partner, env, iface, rkey)); \
             CREATE UNIQUE INDEX ON bench_copy (partner, env, iface, uid) WHERE uid IS NOT NULL",
        )
        .await
        .expect("create");
    let started = Instant::now();
    let sink = client
        .copy_in("COPY bench_copy FROM STDIN")
        .await
        .expect("copy");
    futures_util::pin_mut!(sink);
    sink.send(lines.clone()).await.expect("send");
    sink.finish().await.expect("finish");
    started.elapsed()
}

/// How a batch is sent: applied when complete, or checked (check only) and then executed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Check,
}

/// All rows through `Core::ingest` as one insert batch of 500-row sequences, sent by
/// `clients` concurrent senders (sequence s goes to sender s % clients). Returns the total
/// time; with `Mode::Check`, the time to the checked batch and then the execute's time.
async fn through_core(
    store: Arc<dyn Store>,
    rows: Arc<Vec<Row>>,
    run: usize,
    clients: usize,
    mode: Mode,
) -> (Duration, Duration) {
    let registry = Arc::new(Registry::load(None).expect("built-ins"));
    let core = Core::new(
        store,
        registry,
        Settings {
            batch: BatchPolicy::default(),
            token_ttl_secs: 3600,
            ..Settings::default()
        },
    );
    let partner = format!(
        "BENCH{}x{run}x{clients}{}",
        std::process::id(),
        if mode == Mode::Check { "c" } else { "" }
    );
    core.add_partner(
        &wharf_core::audit::Origin::cli("test"),
        &partner,
        "bench-secret",
        None,
    )
    .await
    .expect("partner");
    let seqs = rows.len().div_ceil(SEQ);
    let started = Instant::now();
    let senders: Vec<_> = (0..clients)
        .map(|k| {
            let (core, rows, partner) = (core.clone(), rows.clone(), partner.clone());
            tokio::spawn(async move {
                let text = |s: String| val(Kind::Text(s));
                let mut applied = 0;
                for s in (k..seqs).step_by(clients) {
                    let chunk = &rows[s * SEQ..((s + 1) * SEQ).min(rows.len())];
                    let req = pb::IngestBatchRequest {
                        partner: partner.clone(),
                        environment: pb::Environment::Prod as i32,
                        data_category: "t1".into(),
                        biz_key: "bom".into(),
                        operation: pb::Operation::Insert as i32,
                        transport: pb::Transport::Api as i32,
                        batch_id: text("BENCH".into()),
                        batch_size: text(rows.len().to_string()),
                        seq_id: text(s.to_string()),
                        seq_size: text(chunk.len().to_string()),
                        has_data: true,
                        rows: chunk.to_vec(),
                        check_only: mode == Mode::Check,
                        ..Default::default()
                    };
                    let r = core.ingest(&req).await.expect("ingest");
                    assert_eq!(r.code, "0", "{r:?}");
                    applied += usize::from(r.applied);
                }
                applied
            })
        })
        .collect();
    let mut applied = 0;
    for s in senders {
        applied += s.await.expect("sender");
    }
    if mode == Mode::Apply {
        assert_eq!(applied, 1, "the batch was applied exactly once");
        return (started.elapsed(), Duration::ZERO);
    }
    assert_eq!(applied, 0, "a check applies nothing");
    let checked = started.elapsed();
    let started = Instant::now();
    let b = core
        .act_on_batch(&pb::BatchActionRequest {
            partner: partner.clone(),
            environment: pb::Environment::Prod as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
            batch_id: "BENCH".into(),
            action: "execute".into(),
            actor: "bench".into(),
        })
        .await
        .expect("execute");
    assert_eq!(b.state, "applied", "{b:?}");
    (checked, started.elapsed())
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    let n: usize = std::env::var("WHARF_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs: usize = std::env::var("WHARF_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows: Vec<Row> = (0..n).map(row).collect();
    // COPY gets exactly what wharf stores: the validated rows' key and JSON.
    let registry = Registry::load(None).expect("built-ins");
    let iface = registry.get("t1", "bom").expect("t1/bom");
    let mut text = String::with_capacity(n * 400);
    for r in &rows {
        let clean = wharf_core::validate::check_row(iface, wharf_core::model::Operation::Insert, r)
            .expect("valid row");
        let rkey = clean.rkey.unwrap_or_default();
        text.push_str(&format!(
            "P\tprod\tt1/bom\t{rkey}\t\\N\t{}\t1\n",
            clean.data
        ));
    }
    let lines = Bytes::from(text);
    let dir = std::env::temp_dir().join(format!("wharf-bench-{}", std::process::id()));
    let rows = Arc::new(rows);
    let mut copy = vec![];
    let mut results: Vec<(&str, usize, Vec<Duration>)> = vec![];
    // Per store: (stage + trial apply, execute of the checked batch).
    let mut checks: Vec<(&str, Vec<Duration>, Vec<Duration>)> = vec![];
    for name in ["PostgreSQL", "SQLite"] {
        for clients in [1, 4] {
            results.push((name, clients, vec![]));
        }
        checks.push((name, vec![], vec![]));
    }
    rt.block_on(async {
        let pg_store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 8).await.expect("pg store"));
        let lite_store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).expect("sqlite store"));
        for run in 0..runs {
            copy.push(raw_copy(&url, &lines).await);
            for (name, clients, times) in results.iter_mut() {
                let store = if *name == "SQLite" {
                    lite_store.clone()
                } else {
                    pg_store.clone()
                };
                times.push(
                    through_core(store, rows.clone(), run, *clients, Mode::Apply)
                        .await
                        .0,
                );
            }
            for (name, checked, executed) in checks.iter_mut() {
                let store = if *name == "SQLite" {
                    lite_store.clone()
                } else {
                    pg_store.clone()
                };
                let (c, e) = through_core(store, rows.clone(), run, 1, Mode::Check).await;
                checked.push(c);
                executed.push(e);
            }
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let copy = median(copy);
    println!(
        "rows: {n} in {} sequences of {SEQ}; median of {runs} runs",
        n.div_ceil(SEQ)
    );
    println!("| path | time | rows/s | vs raw COPY |");
    println!("|---|---|---|---|");
    println!(
        "| raw COPY into PostgreSQL (limit) | {:.2} s | {:.0} | 100% |",
        copy.as_secs_f64(),
        rate(copy)
    );
    for (name, clients, times) in results {
        let t = median(times);
        println!(
            "| wharf stage+apply, {name}, {clients} client(s) | {:.2} s | {:.0} | {:.0}% |",
            t.as_secs_f64(),
            rate(t),
            100.0 * rate(t) / rate(copy)
        );
    }
    for (name, checked, executed) in checks {
        let (c, e) = (median(checked), median(executed));
        println!(
            "| wharf stage+check (check only: trial apply rolled back), {name}, 1 client | {:.2} s | {:.0} | {:.0}% |",
            c.as_secs_f64(),
            rate(c),
            100.0 * rate(c) / rate(copy)
        );
        println!(
            "| then execute by hand (the apply), {name} | {:.2} s | {:.0} | |",
            e.as_secs_f64(),
            rate(e)
        );
    }
}
