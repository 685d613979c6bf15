//! Login memory and cost: N requests with HTTP Basic (an argon2 check each) from C clients
//! against the real `wharf serve` on SQLite, next to the same requests with a bearer token
//! (no password check: the floor a request costs). Reports the server's RSS before, its peak
//! during each phase, and the time of each phase. Run with `cargo bench --bench login_load`
//! (scripts/bench runs it too).
//!
//! Environment: `WHARF_BENCH_LOGINS` (default 1,000), `WHARF_BENCH_CLIENTS` (default 8).

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

use common::{client_token, connect, env_num, free_port, rss_kib, wait_listening, PeakRss};

const PASSWORD: &str = "bench-password-1";

/// `total` GETs of an unknown batch (404 once authorized) with `auth`, from `clients`
/// keep-alive connections; the time they took and the server's peak RSS (KiB) meanwhile.
async fn phase(port: u16, pid: u32, auth: String, total: usize, clients: usize) -> (Duration, u64) {
    let rss = PeakRss::start(pid, Duration::from_millis(20));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let auth = auth.clone();
            tokio::spawn(async move {
                let (mut send, conn) = connect(port).await;
                tokio::spawn(conn);
                for _ in (c..total).step_by(clients) {
                    let req = Request::get("/v1.0/scc/data/sync/t1/bom/batches/NO-SUCH")
                        .header("host", "127.0.0.1")
                        .header("authorization", &auth)
                        .body(Full::new(Bytes::new()))
                        .expect("request");
                    let resp = send.send_request(req).await.expect("send");
                    let status = resp.status().as_u16();
                    let _ = resp.into_body().collect().await.expect("body");
                    assert_eq!(status, 404, "an authorized request of an unknown batch");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let took = started.elapsed();
    (took, rss.stop().await)
}

fn main() {
    let total = env_num("WHARF_BENCH_LOGINS", 1_000);
    let clients = env_num("WHARF_BENCH_CLIENTS", 8);
    let bin = env!("CARGO_BIN_EXE_wharf");
    let data_dir = std::env::temp_dir().join(format!("wharf-login-bench-{}", std::process::id()));
    let (http_port, grpc_port, ftp_port, passive, admin, upload) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let wharf = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env_remove("WHARF_DATABASE_URL")
            .env("WHARF_DATA_DIR", &data_dir)
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp_port}"))
            // Not used here: any free port.
            .env("WHARF_SFTP_ADDR", "127.0.0.1:0")
            .env("WHARF_FTP_PASSIVE_PORTS", format!("{passive}-{passive}"))
            .env("WHARF_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
            .env("WHARF_UPLOAD_ADDR", format!("127.0.0.1:{upload}"))
            .env("RUST_LOG", "warn");
        c
    };
    let run = |args: &[&str], stdin: &str| {
        let mut child = wharf(args).stdin(Stdio::piped()).spawn().expect("wharf");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
            .expect("stdin");
        assert!(child.wait().expect("wait").success(), "wharf {args:?}");
    };
    let partner = "LOGINS";
    // The admin commands never create a store: make it first, as an operator would.
    run(&["migrate"], "");
    run(&["partner", "add", partner], "bench-secret-1\n");
    run(
        &["user", "add", "bench-user", "--partner", partner],
        &format!("{PASSWORD}\n"),
    );
    let mut server = wharf(&["serve"])
        .stderr(Stdio::null())
        .spawn()
        .expect("wharf serve");
    let pid = server.id();
    wait_listening(http_port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let token = client_token(http_port, partner, "bench-secret-1").await;
        let before = rss_kib(pid);
        let (bearer_took, bearer_peak) =
            phase(http_port, pid, format!("Bearer {token}"), total, clients).await;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("bench-user:{PASSWORD}"));
        let (basic_took, basic_peak) =
            phase(http_port, pid, format!("Basic {basic}"), total, clients).await;
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!("\n## login_load: {total} requests from {clients} clients, SQLite\n");
        println!("| what | time | req/s | peak RSS of wharf serve |");
        println!("|---|---|---|---|");
        println!("| before | | | {:.0} MiB |", mib(before));
        for (what, took, peak) in [
            (
                "bearer token (floor: no password check)",
                bearer_took,
                bearer_peak,
            ),
            (
                "HTTP Basic (one argon2id check each)",
                basic_took,
                basic_peak,
            ),
        ] {
            println!(
                "| {what} | {:.2} s | {:.0} | {:.0} MiB |",
                took.as_secs_f64(),
                total as f64 / took.as_secs_f64(),
                mib(peak)
            );
        }
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
}
