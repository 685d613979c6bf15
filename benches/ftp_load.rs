//! FTP load: 5,000-row t1/bom JSON files uploaded with a real FTP client (suppaftp) to the
//! real `wharf serve` on PostgreSQL. Reports, over 50 files, the time from the start of STOR
//! to the file's feedback being listable (p50/p99; the upload itself is ~2 MB on loopback),
//! and the rows/s of 4 parallel uploading sessions. Run with `scripts/bench`.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_FTP_FILES` (default 50).

#[path = "common/mod.rs"]
mod common;

use std::io::Cursor;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use suppaftp::FtpStream;

use common::{free_port, wait_listening};

const ROWS: usize = 5000;

fn envelope(file: usize) -> Vec<u8> {
    let rows: Vec<String> = (0..ROWS)
        .map(|i| {
            format!(
                r#"{{"vendor_code":"2022012","vendor_father_item":"F{file:05}","father_item":"5B20S43052","vendor_child_item":"C{i:06}","child_item":"5B20S43053","quantity_per":10.125,"effective_start_date":"2022-09-14","effective_end_date":"2024-02-29","priority":"N/A","split":0.28,"version":"20211012000000"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"batch_id":"FTP{file:05}","batch_size":{ROWS},"seq_id":"1","seq_size":{ROWS},"data":[{}]}}"#,
        rows.join(",")
    )
    .into_bytes()
}

fn session(port: u16, user: &str, dir: &str) -> FtpStream {
    let mut ftp = FtpStream::connect(("127.0.0.1", port)).expect("connect");
    ftp.login(user, "bench-password-1").expect("login");
    ftp.cwd(dir).expect("cwd");
    ftp
}

/// Upload file `n` and (with `poll`) wait until its feedback lists; returns the time taken.
fn deliver(ftp: &mut FtpStream, n: usize, poll: bool) -> Duration {
    let name = format!("bom_insert_20221001003000_{n}.json");
    let body = envelope(n);
    let started = Instant::now();
    ftp.put_file(&name, &mut Cursor::new(body)).expect("STOR");
    let feedback = format!("{name}.result.json");
    if poll {
        loop {
            let listed = ftp.nlst(Some("feedback")).expect("NLST");
            if listed.iter().any(|l| l.ends_with(&feedback)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let elapsed = started.elapsed();
    let answer = ftp
        .retr_as_buffer(&format!("feedback/{feedback}"))
        .expect("RETR");
    let v: serde_json::Value = serde_json::from_slice(answer.get_ref()).expect("json");
    assert_eq!(v["code"], "0", "{v}");
    elapsed
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    run(Some(&url));
    run(None);
}

/// One full run against PostgreSQL at `url`, or the embedded SQLite store when `None`.
fn run(url: Option<&str>) {
    let files: usize = std::env::var("WHARF_BENCH_FTP_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let bin = env!("CARGO_BIN_EXE_wharf");
    let data_dir = std::env::temp_dir().join(format!("wharf-ftp-bench-{}", std::process::id()));
    let (http, grpc, ftp_port) = (free_port(), free_port(), free_port());
    // Passive ports for four sessions, with room: libunftp picks one at random per transfer.
    let passive = 42000 + (std::process::id() % 100) as u16 * 64;
    let partner = format!("FTPB{}", std::process::id());
    let user = format!("ftpbench{}", std::process::id());
    let command = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("WHARF_DATA_DIR", &data_dir)
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{grpc}"))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp_port}"))
            .env(
                "WHARF_FTP_PASSIVE_PORTS",
                format!("{passive}-{}", passive + 63),
            )
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null());
        if let Some(url) = url {
            c.env("WHARF_DATABASE_URL", url);
        }
        c
    };
    let run = |args: &[&str], stdin: &str| {
        let mut child = command(args).stdin(Stdio::piped()).spawn().expect("wharf");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
            .expect("stdin");
        assert!(child.wait().expect("wait").success());
    };
    run(&["partner", "add", &partner], "bench-secret-1\n");
    run(
        &["user", "add", &user, "--partner", &partner],
        "bench-password-1\n",
    );
    let mut server = command(&["serve"]).spawn().expect("wharf serve");
    wait_listening(ftp_port);
    let dir = format!("/Planning/SCC/{partner}/t1/bom");

    let mut ftp = session(ftp_port, &user, &dir);
    let mut times: Vec<Duration> = (0..files).map(|n| deliver(&mut ftp, n, true)).collect();
    let _ = ftp.quit();
    times.sort();

    let per_session = files / 4;
    let started = Instant::now();
    let sessions: Vec<_> = (0..4)
        .map(|s| {
            let (user, dir) = (user.clone(), dir.clone());
            std::thread::spawn(move || {
                let mut ftp = session(ftp_port, &user, &dir);
                for k in 0..per_session {
                    deliver(&mut ftp, 10_000 + s * 1000 + k, false);
                }
                let _ = ftp.quit();
            })
        })
        .collect();
    for s in sessions {
        s.join().expect("session");
    }
    let parallel = started.elapsed();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data_dir);

    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let store = if url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("FTP load: {files} files of {ROWS} t1/bom rows (JSON, ~1.5 MB), {store}");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| STOR start → feedback listable, p50 | {:.0} ms |",
        pct(0.50)
    );
    println!(
        "| STOR start → feedback listable, p99 | {:.0} ms |",
        pct(0.99)
    );
    println!(
        "| 4 parallel sessions, {} files | {:.0} rows/s ({:.1} s) |",
        4 * per_session,
        (4 * per_session * ROWS) as f64 / parallel.as_secs_f64(),
        parallel.as_secs_f64()
    );
}
