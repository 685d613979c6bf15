//! HTTP load generator: t1/bom batches of 500-row sequences pushed over the HTTP API by N
//! concurrent clients against the real `wharf serve` on PostgreSQL, next to a raw `COPY` of
//! the same rows into the same PostgreSQL in the same run. Reports rows/s, p50/p99 latency
//! per sequence, and the server's peak RSS. Run with `scripts/bench`.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_HTTP_ROWS` (default
//! 1,000,000), `WHARF_BENCH_CLIENTS` (default 8).

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use common::{
    client_token, connect, env_num, free_port, raw_copy, row_json, wait_listening, PeakRss,
};
use hyper::Request;

const SEQ: usize = 500;
/// Sequences per batch: each client sends batches of 10,000 rows.
const PER_BATCH: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    let total = env_num("WHARF_BENCH_HTTP_ROWS", 1_000_000);
    let clients = env_num("WHARF_BENCH_CLIENTS", 8);
    let bin = env!("CARGO_BIN_EXE_wharf");
    let data_dir = std::env::temp_dir().join(format!("wharf-http-bench-{}", std::process::id()));
    let (http_port, grpc_port, ftp_port, passive) =
        (free_port(), free_port(), free_port(), free_port());
    let partner = format!("LOAD{}", std::process::id());
    let wharf = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("WHARF_DATABASE_URL", &url)
            .env("WHARF_DATA_DIR", &data_dir)
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp_port}"))
            // Not used here: any free port.
            .env("WHARF_SFTP_ADDR", "127.0.0.1:0")
            .env("WHARF_FTP_PASSIVE_PORTS", format!("{passive}-{passive}"))
            .env("RUST_LOG", "warn");
        c
    };
    // `WHARF_BENCH_SERVE_LOG=path` keeps the server's info log there (for looking into a run).
    let serve_log = std::env::var("WHARF_BENCH_SERVE_LOG").ok();
    // The admin commands never create a store: make it first, as an operator would.
    assert!(wharf(&["migrate"])
        .stdout(Stdio::null())
        .status()
        .expect("migrate")
        .success());
    let mut add = wharf(&["partner", "add", &partner])
        .stdin(Stdio::piped())
        .spawn()
        .expect("partner add");
    std::io::Write::write_all(&mut add.stdin.take().expect("stdin"), b"bench-secret-1\n")
        .expect("secret");
    assert!(add.wait().expect("wait").success());
    let mut serve = wharf(&["serve"]);
    match &serve_log {
        Some(path) => {
            let file = std::fs::File::create(path).expect("serve log");
            serve.env("RUST_LOG", "info").stderr(file)
        }
        None => serve.stderr(Stdio::null()),
    };
    let mut server = serve.spawn().expect("wharf serve");
    let pid = server.id();
    wait_listening(http_port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        let copy = raw_copy(&url, "bench_http_copy", total).await;
        // A token, then clients each pushing their own batches over keep-alive connections.
        let token = client_token(http_port, &partner, "bench-secret-1").await;
        let rss = PeakRss::start(pid, Duration::from_millis(100));
        let seqs_total = total / SEQ;
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let token = token.clone();
                tokio::spawn(async move {
                    let (mut send, conn) = connect(http_port).await;
                    tokio::spawn(conn);
                    let mine: Vec<usize> = (c..seqs_total).step_by(clients).collect();
                    let mut latencies = Vec::with_capacity(mine.len());
                    for (i, s) in mine.iter().enumerate() {
                        let batch = format!("C{c}B{}", i / PER_BATCH);
                        let first = i / PER_BATCH * PER_BATCH;
                        let in_batch = mine.len().min(first + PER_BATCH) - first;
                        let rows: Vec<String> = (s * SEQ..(s + 1) * SEQ).map(row_json).collect();
                        let body = format!(
                            r#"{{"batch_id":"{batch}","batch_size":{},"seq_id":"{}","seq_size":{SEQ},"data":[{}]}}"#,
                            in_batch * SEQ,
                            i % PER_BATCH,
                            rows.join(",")
                        );
                        let req = Request::post("/v1.0/scc/data/sync/t1/bom")
                            .header("host", "127.0.0.1")
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                            .expect("request");
                        let t = Instant::now();
                        let resp = send.send_request(req).await.expect("send");
                        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
                        let took = t.elapsed();
                        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
                        assert_eq!(v["code"], "0", "{v}");
                        // The last sequence of its batch: the one that applies it.
                        let last = i + 1 == first + in_batch;
                        latencies.push((took, last));
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.expect("client"));
        }
        let elapsed = started.elapsed();
        (copy, elapsed, latencies, rss.stop().await)
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
    let (copy, elapsed, sent, peak_kib) = result;
    // All sequences, then apart: those that applied their batch, and the others.
    let times = |which: &dyn Fn(bool) -> bool| {
        let mut t: Vec<Duration> = sent
            .iter()
            .filter(|(_, applied)| which(*applied))
            .map(|(t, _)| *t)
            .collect();
        t.sort();
        t
    };
    let (latencies, applying, staging) = (times(&|_| true), times(&|a| a), times(&|a| !a));
    let rows = (total / SEQ * SEQ) as f64;
    let wharf_rate = rows / elapsed.as_secs_f64();
    let copy_rate = total as f64 / copy.as_secs_f64();
    println!("HTTP load: {rows} t1/bom rows, {clients} clients, 500-row sequences, PostgreSQL");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| raw COPY of the same rows | {copy_rate:.0} rows/s ({:.2} s) |",
        copy.as_secs_f64()
    );
    println!(
        "| wharf end to end over HTTP | {wharf_rate:.0} rows/s ({:.2} s) |",
        elapsed.as_secs_f64()
    );
    println!(
        "| wharf / raw COPY | {:.0}% |",
        100.0 * wharf_rate / copy_rate
    );
    println!(
        "| p50 per sequence | {:.1} ms |",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3
    );
    println!(
        "| p99 per sequence | {:.1} ms |",
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    for (what, t) in [
        ("the sequences that applied their batch", &applying),
        ("the other sequences", &staging),
    ] {
        println!(
            "| p50 / p99 of {what} ({}) | {:.1} / {:.1} ms |",
            t.len(),
            percentile(t, 0.50).as_secs_f64() * 1e3,
            percentile(t, 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "| peak RSS of wharf serve | {:.0} MiB |",
        peak_kib as f64 / 1024.0
    );
}
