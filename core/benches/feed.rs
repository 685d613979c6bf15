//! Reading the change feed: 100,000 row changes (one insert batch of 500-row sequences
//! applied through `Core::ingest`, then an update of every row, so half the changes carry a
//! before-image) read back by a consumer through `Core::read_changes` in pages of 10,000, on
//! PostgreSQL, next to the physical limit measured in the same run: a plain `SELECT` of the
//! same rows' JSON from `records`. Also the feed's cost to writers: 2,000 one-row batches
//! (the worst case: one event per row) timed, and the same statements the feed adds to each
//! of them (bump the head, insert the event) timed alone. Run with `scripts/bench`.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_ROWS` (default 50000:
//! each row is inserted then updated, so twice as many changes), `WHARF_BENCH_RUNS` (3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_core::audit::Origin;
use wharf_core::feed::ChangesQuery;
use wharf_core::interfaces::Registry;
use wharf_core::store::{pg::PgStore, Store};
use wharf_core::{Core, Settings};
use wharf_proto::v1::{self as pb, value::Kind, Field, Row, Value};

const SEQ: usize = 500;

fn row(i: usize, child: &str) -> Row {
    let t = |s: &str| {
        Some(Value {
            kind: Some(Kind::Text(s.to_string())),
        })
    };
    let fields = [
        ("vendor_code", "2022012".to_string()),
        ("vendor_father_item", format!("VF{i:08}")),
        ("father_item", "5B20S43052".into()),
        ("vendor_child_item", format!("VC{i:08}")),
        ("child_item", child.into()),
        ("quantity_per", "10.125".into()),
        ("effective_start_date", "2022-09-14".into()),
        ("effective_end_date", "2024-02-29".into()),
        ("priority", "N/A".into()),
        ("split", "0.28".into()),
        ("version", "20211012000000".into()),
    ];
    Row {
        not_object: String::new(),
        line: 0,
        fields: fields
            .iter()
            .map(|(name, value)| Field {
                name: name.to_string(),
                value: t(value),
            })
            .collect(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Send `rows` as one batch of `op`, in 500-row sequences.
async fn batch(core: &Core, partner: &str, id: &str, op: pb::Operation, rows: &[Row]) {
    let text = |s: String| {
        Some(Value {
            kind: Some(Kind::Text(s)),
        })
    };
    let seqs = rows.len().div_ceil(SEQ);
    for s in 0..seqs {
        let chunk = &rows[s * SEQ..((s + 1) * SEQ).min(rows.len())];
        let req = pb::IngestBatchRequest {
            partner: partner.to_string(),
            environment: pb::Environment::Prod as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
            operation: op as i32,
            transport: pb::Transport::Api as i32,
            batch_id: text(id.to_string()),
            batch_size: text(rows.len().to_string()),
            seq_id: text(s.to_string()),
            seq_size: text(chunk.len().to_string()),
            has_data: true,
            rows: chunk.to_vec(),
            ..Default::default()
        };
        let r = core.ingest(&req).await.expect("ingest");
        assert_eq!(r.code, "0", "{r:?}");
    }
}

/// Every change after the feed's start, pages of 10,000: (changes, time).
async fn read_all(core: &Core, consumer: &str, partner: &str) -> (usize, Duration) {
    let started = Instant::now();
    let mut q = ChangesQuery {
        limit: 10_000,
        partner: Some(partner.to_string()),
        ..ChangesQuery::default()
    };
    let mut n = 0;
    loop {
        let page = core.read_changes(consumer, &q).await.expect("page");
        if page.events.is_empty() {
            break;
        }
        n += page.events.iter().map(|e| e.changes.len()).sum::<usize>();
        q.after = page.next;
    }
    (n, started.elapsed())
}

/// The same rows' JSON read with one plain statement: the limit.
async fn raw_select(url: &str, partner: &str) -> (usize, Duration) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let started = Instant::now();
    let rows = client
        .query(
            "SELECT rkey, data FROM records WHERE partner = $1 ORDER BY rkey",
            &[&partner],
        )
        .await
        .expect("select");
    (rows.len(), started.elapsed())
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    let n: usize = std::env::var("WHARF_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let runs: usize = std::env::var("WHARF_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut feed, mut raw, mut small, mut bare) = (vec![], vec![], vec![], vec![]);
    let mut changes = 0;
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 8).await.expect("pg store"));
        let core = Core::new(
            store,
            Arc::new(Registry::load(None).expect("built-ins")),
            Settings::default(),
        );
        let o = Origin::cli("bench");
        let consumer = format!("bench{}", std::process::id());
        core.add_consumer(&o, &consumer, &["*".to_string()])
            .await
            .expect("consumer");
        for run in 0..runs {
            let partner = format!("FEED{}x{run}", std::process::id());
            core.add_partner(&o, &partner, "bench-secret", None)
                .await
                .expect("partner");
            let first: Vec<Row> = (0..n).map(|i| row(i, "A")).collect();
            let second: Vec<Row> = (0..n).map(|i| row(i, "B")).collect();
            batch(&core, &partner, "INS", pb::Operation::Insert, &first).await;
            batch(&core, &partner, "UPD", pb::Operation::Update, &second).await;
            let (got, t) = read_all(&core, &consumer, &partner).await;
            assert_eq!(got, 2 * n, "every change read once");
            changes = got;
            feed.push(t);
            let (rows, t) = raw_select(&url, &partner).await;
            assert_eq!(rows, n);
            // The limit for the same number of row images: twice the plain read.
            raw.push(t * 2);
            // Writers' side, worst case: one-row batches, one event each.
            let started = Instant::now();
            for i in 0..2000 {
                batch(
                    &core,
                    &partner,
                    &format!("S{i}"),
                    pb::Operation::Insert,
                    &[row(n + i, "C")],
                )
                .await;
            }
            small.push(started.elapsed());
            // What the feed adds to each of those: its two statements, alone.
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            let bump = client
                .prepare("UPDATE feed_head SET pos = pos + 1 WHERE one = 1 RETURNING pos")
                .await
                .expect("prepare");
            let insert = client
                .prepare(
                    "INSERT INTO feed (pos, kind, batch_pk, partner, env, iface, at_unix) \
                     VALUES ($1, 'applied', 0, 'bench', 'prod', 'bench/none', 0)",
                )
                .await
                .expect("prepare");
            let started = Instant::now();
            for _ in 0..2000 {
                client.batch_execute("BEGIN").await.expect("begin");
                let pos: i64 = client.query_one(&bump, &[]).await.expect("bump").get(0);
                client.execute(&insert, &[&pos]).await.expect("insert");
                client.batch_execute("ROLLBACK").await.expect("rollback");
            }
            bare.push(started.elapsed());
        }
    });
    let (feed, raw, small, bare) = (median(feed), median(raw), median(small), median(bare));
    let rate = |d: Duration| changes as f64 / d.as_secs_f64();
    println!("changes: {changes} ({n} inserts, {n} updates); median of {runs} runs");
    println!("| path | time | changes/s | vs limit |");
    println!("|---|---|---|---|");
    println!(
        "| plain SELECT of the rows' JSON, twice (limit) | {:.2} s | {:.0} | 100% |",
        raw.as_secs_f64(),
        rate(raw)
    );
    println!(
        "| feed read through Core::read_changes, pages of 10,000 | {:.2} s | {:.0} | {:.0}% |",
        feed.as_secs_f64(),
        rate(feed),
        100.0 * rate(feed) / rate(raw)
    );
    println!(
        "| 2,000 one-row batches (one event each) | {:.2} s | | |",
        small.as_secs_f64()
    );
    println!(
        "| the feed's two statements, 2,000 times, alone | {:.2} s | | {:.1}% of the batches |",
        bare.as_secs_f64(),
        100.0 * bare.as_secs_f64() / small.as_secs_f64()
    );
}
