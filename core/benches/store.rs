//! Store throughput: stage + apply a 100,000-row t1/bom batch of 500-row sequences through
//! `Core::ingest` (validation, dedupe, staging, one-transaction apply) on PostgreSQL and on
//! SQLite, next to a raw `COPY` of the same rows into PostgreSQL in the same run — the
//! physical limit. Run with `scripts/bench` (it starts a private PostgreSQL).
//!
//! The same batch sent as "check only" (one sender) is measured too: staging plus the trial
//! apply that is rolled back, then the execute by hand that applies the checked batch.
//!
//! The scaling line: with `WHARF_BENCH_EXISTING` = N (say 10,000,000), a partner is given N
//! current rows first (written straight into the store once, kept for reruns), and the
//! 1-sender PostgreSQL case runs again for that partner, beside the same case for a new one.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_ROWS` (default 100000),
//! `WHARF_BENCH_RUNS` (default 3; the median is reported), `WHARF_BENCH_EXISTING` (default
//! 0: no scaling line), `WHARF_BENCH_QUICK` (senders, say `1,4`: only PostgreSQL's apply with
//! those, for trying a change).

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

/// The median and the spread of the runs: "1.48 s (1.43–1.55)".
fn secs(v: &[Duration]) -> String {
    let (lo, hi) = (v.iter().min(), v.iter().max());
    let s = |d: Option<&Duration>| d.map_or(0.0, Duration::as_secs_f64);
    format!(
        "{:.2} s ({:.2}–{:.2})",
        median(v.to_vec()).as_secs_f64(),
        s(lo),
        s(hi)
    )
}

/// A connection of the bench's own, beside the store's pool.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// Raw COPY of the rows' stored form into a table shaped like `records`.
async fn raw_copy(url: &str, lines: &Bytes) -> Duration {
    let client = connect(url).await;
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

/// The floor of any design that answers a 500-row sequence only once it is durable: the
/// stored rows written in 500-row transactions into a copy of `record_versions` with its
/// indexes, by `writers` connections at once (sequence s by writer s % writers), `how` says
/// with what. No validation, no dedupe record, no batch row: only the writes.
async fn durable_sequences(
    url: &str,
    stored: &Arc<Vec<(String, String)>>,
    how: Floor,
    writers: usize,
) -> Duration {
    let client = connect(url).await;
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_versions; \
             CREATE TABLE bench_versions (LIKE record_versions INCLUDING ALL)",
        )
        .await
        .expect("create");
    let mut clients = vec![];
    for _ in 0..writers {
        let client = connect(url).await;
        let statements = prepare_floor(&client).await;
        clients.push((client, statements));
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(k, (client, statements))| {
            let stored = stored.clone();
            tokio::spawn(async move {
                for (n, chunk) in stored.chunks(SEQ).enumerate().skip(k).step_by(writers) {
                    durable_sequence(&client, &statements, n as i64, chunk, how).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    started.elapsed()
}

/// The floor's statements, prepared once a writer: the insert, the key probe.
async fn prepare_floor(
    client: &tokio_postgres::Client,
) -> (tokio_postgres::Statement, tokio_postgres::Statement) {
    let ins = client
        .prepare(
            "INSERT INTO bench_versions (partner, env, iface, batch_pk, seq_no, idx, rkey, data) \
             SELECT 'P', 'prod', 't1/bom', 1, $1, u.idx, u.rkey, u.data \
             FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(idx, rkey, data)",
        )
        .await
        .expect("prepare");
    let look = client
        .prepare(
            "SELECT k.v FROM unnest($1::text[]) AS k(v), LATERAL (SELECT 1 FROM bench_versions v \
             WHERE v.partner = 'P' AND v.env = 'prod' AND v.iface = 't1/bom' \
             AND v.rkey = k.v COLLATE \"C\" LIMIT 1) hit",
        )
        .await
        .expect("prepare");
    (ins, look)
}

/// One sequence of `durable_sequences`, in its own transaction.
async fn durable_sequence(
    client: &tokio_postgres::Client,
    (ins, look): &(tokio_postgres::Statement, tokio_postgres::Statement),
    seq_no: i64,
    chunk: &[(String, String)],
    how: Floor,
) {
    if how == Floor::Copy {
        let mut text = String::with_capacity(chunk.len() * 400);
        for (i, (k, d)) in chunk.iter().enumerate() {
            text.push_str(&format!("P\tprod\tt1/bom\t1\t{seq_no}\t{i}\t{k}\t{d}\n"));
        }
        client.batch_execute("BEGIN").await.expect("begin");
        let sink = client
            .copy_in(
                "COPY bench_versions (partner, env, iface, batch_pk, seq_no, idx, rkey, data) \
                 FROM STDIN",
            )
            .await
            .expect("copy");
        futures_util::pin_mut!(sink);
        sink.send(Bytes::from(text)).await.expect("send");
        sink.finish().await.expect("finish");
        client.batch_execute("COMMIT").await.expect("commit");
        return;
    }
    let idx: Vec<i64> = (0..chunk.len() as i64).collect();
    let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
    let data: Vec<&str> = chunk.iter().map(|(_, d)| d.as_str()).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&seq_no, &idx, &keys, &data];
    let found = async {
        if how == Floor::Probed {
            client.query(look, &[&keys]).await.map(|r| r.len())
        } else {
            Ok(0)
        }
    };
    // Pipelined: one round trip a sequence.
    let (_, found, _, _) = tokio::try_join!(
        client.batch_execute("BEGIN"),
        found,
        client.execute(ins, &params),
        client.batch_execute("COMMIT"),
    )
    .expect("sequence");
    assert_eq!(found, 0, "fresh keys");
}

/// What `durable_sequences` writes each sequence with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Floor {
    /// One `INSERT … unnest` (wharf's staging statement).
    Insert,
    /// The same, after one index probe per key.
    Probed,
    /// A text `COPY` (three round trips: `BEGIN`, the copy, `COMMIT`).
    Copy,
}

/// How a batch is sent: applied when complete, or checked (check only) and then executed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Check,
}

/// The partner of the scaling line and its existing rows, made unless they are there. Returns
/// how many batches earlier runs of the bench sent it (each run's rows come after theirs).
async fn existing_rows(url: &str, partner: &str, n: usize) -> usize {
    let client = connect(url).await;
    let (have, sent): (i64, i64) = client
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE batch_id = 'EXISTING'), \
             COUNT(*) FILTER (WHERE batch_id <> 'EXISTING') FROM batches WHERE partner = $1",
            &[&partner],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("count");
    if have > 0 {
        return sent as usize;
    }
    let started = Instant::now();
    client
        .execute(
            "INSERT INTO partners (name, secret_hash, interfaces, created_unix) \
             VALUES ($1, 'x', NULL, 0) ON CONFLICT DO NOTHING",
            &[&partner],
        )
        .await
        .expect("partner");
    let pk: i64 = client
        .query_one(
            "INSERT INTO batches (partner, env, iface, batch_id, op, batch_size, state, \
             transport, creator, created_unix, updated_unix, source, modifier, modified_unix) \
             VALUES ($1, 'prod', 't1/bom', 'EXISTING', 'insert', $2, 'applied', 'api', \
             'bench', 0, 0, '', 'bench', 0) RETURNING pk",
            &[&partner, &(n as i64)],
        )
        .await
        .expect("batch")
        .get(0);
    // Keys beside the bench's own (VF00000001E sorts after VF00000001), rows of their size.
    client
        .execute(
            "INSERT INTO record_versions (partner, env, iface, rkey, uid, data, batch_pk, \
             seq_no, idx, dead_by) SELECT $1, 'prod', 't1/bom', \
             '[\"2022012\",\"VF' || lpad(i::text, 8, '0') || 'E\",\"5B20S43052\",\"VC' \
             || lpad(i::text, 8, '0') || '\",\"20211012000000\"]', NULL, \
             '{\"bu\":\"ThinkNB\",\"vendor_code\":\"2022012\",\"vendor_father_item\":\"VF' \
             || lpad(i::text, 8, '0') || 'E\",\"father_item\":\"5B20S43052\",\"vendor_child_item\":\"VC' \
             || lpad(i::text, 8, '0') || '\",\"child_item\":\"5B20S43053\",\"quantity_per\":\"10.125\",\
             \"effective_start_date\":\"2022-09-14\",\"effective_end_date\":\"2024-02-29\",\
             \"priority\":\"N/A\",\"split\":\"0.28\",\"version\":\"20211012000000\",\
             \"owner\":\"planner\"}', $2, i / 500, i % 500, NULL \
             FROM generate_series(1, $3::bigint) AS i",
            &[&partner, &pk, &(n as i64)],
        )
        .await
        .expect("existing rows");
    // Statistics, and the rows' pages written out now: the measured runs must not share the
    // disk with the write-back of 10 GB just loaded (a partner's data is old, not fresh).
    client
        .batch_execute("ANALYZE record_versions; ANALYZE batches; CHECKPOINT")
        .await
        .expect("analyze and checkpoint");
    eprintln!(
        "store bench: {n} existing rows for {partner} written in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    0
}

/// All rows through `Core::ingest` as one insert batch of 500-row sequences, sent by
/// `clients` concurrent senders (sequence s goes to sender s % clients). Returns the total
/// time; with `Mode::Check`, the time to the checked batch and then the execute's time.
/// `partner`: an existing partner (the scaling line's) and the batch id to use, else a new one.
async fn through_core(
    store: Arc<dyn Store>,
    rows: Arc<Vec<Row>>,
    run: usize,
    clients: usize,
    mode: Mode,
    existing: Option<(&str, String)>,
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
    let (partner, batch_id) = match existing {
        Some((p, id)) => (p.to_string(), id),
        None => {
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
            (partner, "BENCH".to_string())
        }
    };
    let seqs = rows.len().div_ceil(SEQ);
    // The requests are made before the clock starts, as COPY's text is: what is timed is
    // core's work, not the bench's copying of rows.
    let text = |s: String| val(Kind::Text(s));
    let mut requests: Vec<Vec<pb::IngestBatchRequest>> = vec![vec![]; clients];
    for s in 0..seqs {
        let chunk = &rows[s * SEQ..((s + 1) * SEQ).min(rows.len())];
        requests[s % clients].push(pb::IngestBatchRequest {
            partner: partner.clone(),
            environment: pb::Environment::Prod as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
            operation: pb::Operation::Insert as i32,
            transport: pb::Transport::Api as i32,
            batch_id: text(batch_id.clone()),
            batch_size: text(rows.len().to_string()),
            seq_id: text(s.to_string()),
            seq_size: text(chunk.len().to_string()),
            has_data: true,
            rows: chunk.to_vec(),
            check_only: mode == Mode::Check,
            ..Default::default()
        });
    }
    let started = Instant::now();
    let senders: Vec<_> = requests
        .into_iter()
        .map(|requests| {
            let core = core.clone();
            tokio::spawn(async move {
                let mut applied = 0;
                for req in requests {
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
            batch_id: batch_id.clone(),
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
    let existing: usize = std::env::var("WHARF_BENCH_EXISTING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let big = format!("BENCHBIG{existing}");
    let mut scaled: Vec<Duration> = vec![];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows: Vec<Row> = (0..n).map(row).collect();
    // COPY gets exactly what wharf stores: the validated rows' key and JSON.
    let registry = Registry::load(None).expect("built-ins");
    let iface = registry.get("t1", "bom").expect("t1/bom");
    let mut text = String::with_capacity(n * 400);
    let mut stored = Vec::with_capacity(n);
    for r in &rows {
        let clean = wharf_core::validate::check_row(iface, wharf_core::model::Operation::Insert, r)
            .expect("valid row");
        let rkey = clean.rkey.unwrap_or_default();
        text.push_str(&format!(
            "P\tprod\tt1/bom\t{rkey}\t\\N\t{}\t1\n",
            clean.data
        ));
        stored.push((rkey, clean.data));
    }
    let lines = Bytes::from(text);
    let stored = Arc::new(stored);
    let dir = std::env::temp_dir().join(format!("wharf-bench-{}", std::process::id()));
    let rows = Arc::new(rows);
    let mut copy = vec![];
    // The floor of durable sequences (`durable_sequences`): each way of writing them.
    let floors = [
        (
            Floor::Insert,
            1,
            "500-row durable INSERTs into a copy of record_versions (floor)",
        ),
        (
            Floor::Probed,
            1,
            "the same, each sequence's keys probed first (floor with E00W00 check)",
        ),
        (
            Floor::Copy,
            1,
            "the same rows as 500-row durable COPYs (floor, COPY)",
        ),
        (
            Floor::Probed,
            4,
            "probed INSERTs by 4 writers at once, no lock between them (floor)",
        ),
    ];
    let mut floor_times = vec![vec![]; floors.len()];
    let mut results: Vec<(&str, usize, Vec<Duration>)> = vec![];
    // Per store: (stage + trial apply, execute of the checked batch).
    let mut checks: Vec<(&str, Vec<Duration>, Vec<Duration>)> = vec![];
    // `WHARF_BENCH_QUICK` = senders (say `1,4`): PostgreSQL's apply with those only, for
    // trying a change.
    let quick: Option<Vec<usize>> = std::env::var("WHARF_BENCH_QUICK")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    for name in ["PostgreSQL", "SQLite"] {
        if quick.is_some() && name == "SQLite" {
            continue;
        }
        for clients in quick.clone().unwrap_or(vec![1, 4]) {
            results.push((name, clients, vec![]));
        }
        if quick.is_none() {
            checks.push((name, vec![], vec![]));
        }
    }
    rt.block_on(async {
        let pg_store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 8).await.expect("pg store"));
        let lite_store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).expect("sqlite store"));
        let earlier = if existing > 0 {
            existing_rows(&url, &big, existing).await
        } else {
            0
        };
        let stamp = std::process::id();
        for run in 0..runs {
            copy.push(raw_copy(&url, &lines).await);
            for ((how, writers, _), times) in floors.iter().zip(floor_times.iter_mut()) {
                times.push(durable_sequences(&url, &stored, *how, *writers).await);
            }
            if existing > 0 {
                let id = format!("BENCH{stamp}x{run}");
                // New keys each run: the rows after the bench's own and earlier runs'.
                let rows = Arc::new((0..n).map(|i| row(n * (earlier + run + 1) + i)).collect());
                let store = pg_store.clone();
                let (t, _) = through_core(store, rows, run, 1, Mode::Apply, Some((&big, id))).await;
                scaled.push(t);
            }
            for (name, clients, times) in results.iter_mut() {
                let store = if *name == "SQLite" {
                    lite_store.clone()
                } else {
                    pg_store.clone()
                };
                times.push(
                    through_core(store, rows.clone(), run, *clients, Mode::Apply, None)
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
                let (c, e) = through_core(store, rows.clone(), run, 1, Mode::Check, None).await;
                checked.push(c);
                executed.push(e);
            }
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let copy_runs = secs(&copy);
    let copy = median(copy);
    println!(
        "rows: {n} in {} sequences of {SEQ}; median of {runs} runs",
        n.div_ceil(SEQ)
    );
    println!("| path | time | rows/s | vs raw COPY |");
    println!("|---|---|---|---|");
    println!(
        "| raw COPY into PostgreSQL (limit) | {copy_runs} | {:.0} | 100% |",
        rate(copy)
    );
    for ((_, _, what), times) in floors.iter().zip(floor_times) {
        let (runs, t) = (secs(&times), median(times));
        println!(
            "| {what} | {runs} | {:.0} | {:.0}% |",
            rate(t),
            100.0 * rate(t) / rate(copy)
        );
    }
    let fresh = results
        .iter()
        .find(|(name, clients, _)| *name == "PostgreSQL" && *clients == 1)
        .map(|(_, _, times)| median(times.clone()));
    for (name, clients, times) in results {
        let (runs, t) = (secs(&times), median(times));
        println!(
            "| wharf stage+apply, {name}, {clients} client(s) | {runs} | {:.0} | {:.0}% |",
            rate(t),
            100.0 * rate(t) / rate(copy)
        );
    }
    if let (false, Some(fresh)) = (scaled.is_empty(), fresh) {
        let t = median(scaled);
        println!(
            "| wharf stage+apply, PostgreSQL, 1 client, the partner holding {existing} rows | {:.2} s | {:.0} | {:.0}% (vs a new partner: {:.0}%) |",
            t.as_secs_f64(),
            rate(t),
            100.0 * rate(t) / rate(copy),
            100.0 * rate(t) / rate(fresh)
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
