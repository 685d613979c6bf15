//! Outbound push throughput (SPEC §7.1): rows per second `wharf serve`'s dispatcher delivers
//! to a local receiver that answers `0` at once, next to a plain loop of POSTs of the same
//! sequence bodies over one kept-alive connection, measured in the same run.
//!
//! `cargo bench --bench push_load` (scripts/bench gives it a PostgreSQL with fsync on via
//! WHARF_BENCH_DATABASE_URL; without it, the SQLite store). WHARF_BENCH_PUSH_ROWS (1,000,000).

mod common;

use std::convert::Infallible;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{connect, env_num, free_port, row_json};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Rows received, read from each body's `seq_size` (the receiver's only work).
async fn receiver(port: u16, rows: Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind receiver");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let rows = rows.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let rows = rows.clone();
                async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    if let Ok(body) = body {
                        let text = String::from_utf8_lossy(&body);
                        if let Some(at) = text.find("\"seq_size\":") {
                            let n: String = text[at + 11..]
                                .chars()
                                .take_while(|c| c.is_ascii_digit())
                                .collect();
                            rows.fetch_add(n.parse().unwrap_or(0), Ordering::Relaxed);
                        }
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        br#"{"code":"0","msg":"request success"}"#,
                    ))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() {
    let total = env_num("WHARF_BENCH_PUSH_ROWS", 1_000_000);
    let url = std::env::var("WHARF_BENCH_DATABASE_URL").ok();
    let bin = env!("CARGO_BIN_EXE_wharf");
    let data_dir = std::env::temp_dir().join(format!("wharf-push-bench-{}", std::process::id()));
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let [http, grpc, ftp, upload, recv_port] = ports;
    let partner = format!("PUSH{}", std::process::id());
    let wharf = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("WHARF_DATA_DIR", &data_dir)
            .env("WHARF_SECRET_KEY", KEY)
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{grpc}"))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp}"))
            // Not used here: any free port.
            .env("WHARF_SFTP_ADDR", "127.0.0.1:0")
            .env("WHARF_UPLOAD_ADDR", format!("127.0.0.1:{upload}"))
            .env("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("WHARF_ADMIN_API_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("RUST_LOG", "warn");
        if let Some(u) = &url {
            c.env("WHARF_DATABASE_URL", u);
        }
        c
    };
    let feed = |args: &[&str], input: &[u8]| {
        let mut child = wharf(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn wharf");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input).expect("stdin");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "wharf {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The admin commands never create a store: make it first, as an operator would.
    feed(&["migrate"], b"");
    feed(&["partner", "add", &partner], b"bench-secret-1\n");
    let endpoint = format!("http://127.0.0.1:{recv_port}/v1.0/scc/data/sync/t1/bom");
    feed(
        &[
            "endpoint",
            "set",
            &partner,
            "t1/bom",
            "--url",
            &endpoint,
            "--auth",
            "basic",
            "--username",
            "bench",
            "--allow-http",
        ],
        b"bench-password\n",
    );
    let mut lines = String::with_capacity(total * 330);
    for n in 0..total {
        lines.push_str(&row_json(n));
        lines.push('\n');
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let received = Arc::new(AtomicU64::new(0));
    rt.spawn(receiver(recv_port, received.clone()));

    // 1. Intake: `wharf push` checks every row and writes the outbox (no dispatcher yet).
    let started = Instant::now();
    let out = feed(
        &["push", "t1", "bom", "--partner", &partner, "--op", "insert"],
        lines.as_bytes(),
    );
    let intake = started.elapsed();
    assert!(out.starts_with("push "), "{out}");

    // 2. The dispatcher: `wharf serve` delivers the queued push.
    // `WHARF_BENCH_SERVE_LOG=path` keeps the server's info log (one line per attempt) there.
    let mut serve = wharf(&["serve"]);
    match std::env::var("WHARF_BENCH_SERVE_LOG") {
        Ok(path) => serve
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(path).expect("serve log")),
        Err(_) => serve.stderr(Stdio::null()),
    };
    let mut server = serve.spawn().expect("serve");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(1800);
    // From the first sequence's arrival: the process's start-up is not the dispatcher's cost.
    let mut first = None;
    while received.load(Ordering::Relaxed) < total as u64 {
        assert!(Instant::now() < deadline, "not delivered in 30 min");
        if let Ok(Some(status)) = server.try_wait() {
            panic!("wharf serve exited ({status}) before delivering everything");
        }
        if first.is_none() && received.load(Ordering::Relaxed) > 0 {
            first = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let first = first.unwrap_or(started);
    let startup = first - started;
    // The first sequence's own time is counted at the plain loop's per-sequence rate below.
    let dispatched = first.elapsed();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();

    // 3. The same bodies in a plain loop of POSTs, one kept-alive connection.
    let bodies: Vec<Bytes> = (0..total.div_ceil(500))
        .map(|s| {
            let rows: Vec<String> = (s * 500..((s + 1) * 500).min(total)).map(row_json).collect();
            Bytes::from(format!(
                r#"{{"batch_id":"PLAINLOOP0000001","batch_size":{total},"seq_id":"{}","seq_size":{},"data":[{}]}}"#,
                s + 1,
                rows.len(),
                rows.join(",")
            ))
        })
        .collect();
    received.store(0, Ordering::Relaxed);
    let plain = rt.block_on(async {
        let (mut send, conn) = connect(recv_port).await;
        tokio::spawn(conn);
        let started = Instant::now();
        for body in bodies {
            let req = Request::post("/v1.0/scc/data/sync/t1/bom")
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .header("authorization", "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=")
                .body(Full::new(body))
                .expect("request");
            send.ready().await.expect("ready");
            let resp = send.send_request(req).await.expect("send");
            let _ = resp.into_body().collect().await.expect("answer");
        }
        started.elapsed()
    });
    assert_eq!(received.load(Ordering::Relaxed), total as u64);
    let _ = std::fs::remove_dir_all(&data_dir);
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "push_load: {total} rows in {} sequences of 500, store {}",
        total.div_ceil(500),
        if url.is_some() {
            "postgresql"
        } else {
            "sqlite"
        }
    );
    println!(
        "  intake (wharf push: check + outbox): {:>8.2} s  {:>10.0} rows/s",
        intake.as_secs_f64(),
        rate(intake)
    );
    println!(
        "  serve start-up to first sequence:    {:>8.2} s",
        startup.as_secs_f64()
    );
    // `dispatched` runs from the first sequence's arrival: the rest of the rows.
    let after_first = (total - total.min(500)).max(1);
    let dispatched_rate = after_first as f64 / dispatched.as_secs_f64();
    let dispatched = Duration::from_secs_f64(total as f64 / dispatched_rate);
    println!(
        "  dispatcher delivery:                 {:>8.2} s  {:>10.0} rows/s",
        dispatched.as_secs_f64(),
        rate(dispatched)
    );
    println!(
        "  plain POST loop, same bodies:        {:>8.2} s  {:>10.0} rows/s",
        plain.as_secs_f64(),
        rate(plain)
    );
    println!(
        "  dispatcher / plain loop:             {:>8.1} %",
        100.0 * plain.as_secs_f64() / dispatched.as_secs_f64()
    );
}
