//! Sheet memory (issue #17 item 4, issue #18's RSS target): the peak RSS of a fresh
//! `wharf serve` (release build; core and every door in one process) while it takes one
//! sheet over FTP, and the answer it gives. Each case starts its own server, so the peak is
//! the kernel's `VmHWM` of that process alone, read after the feedback file is listable:
//!
//! - `amplification`: the 94 KB CSV, one 4 KB header cell over 30,000 one-cell rows;
//! - `failing`: a ~20 MiB CSV of t1/bom rows that each fail three cells (two text cells over
//!   their length and an impossible date), so every sequence is rejected and the file gets
//!   one merged answer;
//! - `rename`: the 100,000-row valid CSV of `ftp_load`, uploaded as `….filepart` and
//!   delivered by RNFR/RNTO (timed from RNTO to the feedback being listable).
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required: PostgreSQL; `scripts/bench` starts a
//! private one), `WHARF_BENCH_SHEET_BYTES` (the failing sheet's size, default 20 MiB),
//! `WHARF_BENCH_RENAME_ROWS` (default 100,000), `WHARF_BENCH_SQLITE=1` to run every case on
//! SQLite too, `WHARF_BENCH_BIN` to measure another build of `wharf` (say, the one before a
//! change) with the same cases.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use suppaftp::FtpStream;

use common::ftp::{session, store, wait_for_feedback};
use common::{env_num, row_json, FtpServer};

/// A fresh `wharf serve` with one partner and FTP user of its own.
struct Server(FtpServer);

impl Server {
    fn start(url: Option<&str>, case: &str) -> Server {
        let tag = format!("mem{}{case}", std::process::id());
        let passive = 43000 + (std::process::id() % 100) as u16 * 16;
        Server(FtpServer::start(url, &tag, passive, 16))
    }

    fn session(&self) -> FtpStream {
        session(self.0.ftp, &self.0.user, &self.0.dir)
    }

    /// The kernel's high-water mark of the server's RSS, KiB.
    fn peak_kib(&self) -> u64 {
        status_kib(self.0.child.id(), "VmHWM:")
    }
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The amplification CSV: one 4 KB header cell over 30,000 one-cell rows (94 KB).
fn amplification_csv() -> Vec<u8> {
    let mut out = "h".repeat(4096);
    out.push('\n');
    for _ in 0..30_000 {
        out.push_str("ab\n");
    }
    out.into_bytes()
}

/// The t1/bom field names of `common::row_json`, in its order, and `vendor_name` with
/// `failing`.
fn bom_header(failing: bool) -> Vec<String> {
    let first: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row_json(0)).expect("row");
    let mut header: Vec<String> = first.keys().cloned().collect();
    if failing {
        header.push("vendor_name".into());
    }
    header
}

/// Row `n` of `header` as CSV cells; `failing` makes three cells fail (`father_item` and
/// `child_item` 40 characters, over their 30; `effective_start_date` not a date) and fills a
/// 50-character `vendor_name` (so that 20 MiB stay under the 100,000-row file limit).
fn bom_record(header: &[String], n: usize, failing: bool) -> String {
    let row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row_json(n)).expect("row");
    let cells: Vec<String> = header
        .iter()
        .map(|h| match (failing, h.as_str()) {
            (true, "father_item" | "child_item") => format!("{h}-{n:0>29}")[..40].to_string(),
            (true, "effective_start_date") => "2022-13-45".to_string(),
            (true, "vendor_name") => format!("Vendor {n:0>43}"),
            _ => match &row[h] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            },
        })
        .collect();
    let mut line = cells.join(",");
    line.push('\n');
    line
}

/// A CSV of failing t1/bom rows of about `bytes` bytes; returns it and its row count.
fn failing_csv(bytes: usize) -> (Vec<u8>, usize) {
    let header = bom_header(true);
    let mut out = header.join(",");
    out.push('\n');
    let mut rows = 0;
    while out.len() < bytes {
        out.push_str(&bom_record(&header, rows, true));
        rows += 1;
    }
    (out.into_bytes(), rows)
}

/// A CSV of `rows` valid t1/bom rows.
fn valid_csv(rows: usize) -> Vec<u8> {
    let header = bom_header(false);
    let mut out = header.join(",");
    out.push('\n');
    for n in 0..rows {
        out.push_str(&bom_record(&header, n, false));
    }
    out.into_bytes()
}

/// `name`'s feedback: its code and the start of its message, and the feedback's size.
fn answer(ftp: &mut FtpStream, name: &str) -> (String, String, usize) {
    let body = ftp
        .retr_as_buffer(&format!("feedback/{name}.result.json"))
        .expect("RETR");
    let body = body.into_inner();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let msg: String = v["msg"].as_str().unwrap_or("").chars().take(160).collect();
    (
        v["code"].as_str().unwrap_or("").to_string(),
        msg,
        body.len(),
    )
}

struct Outcome {
    case: String,
    input: String,
    elapsed: Duration,
    peak_kib: u64,
    code: String,
    msg: String,
    feedback_bytes: usize,
}

/// STOR `body` as `name` on a fresh server; the answer once its feedback lists.
fn stored(url: Option<&str>, case: &str, name: &str, body: Vec<u8>, input: String) -> Outcome {
    let server = Server::start(url, case);
    let mut ftp = server.session();
    let started = Instant::now();
    store(&mut ftp, name, body);
    wait_for_feedback(&mut ftp, name);
    let elapsed = started.elapsed();
    let peak_kib = server.peak_kib();
    let (code, msg, feedback_bytes) = answer(&mut ftp, name);
    let _ = ftp.quit();
    Outcome {
        case: case.into(),
        input,
        elapsed,
        peak_kib,
        code,
        msg,
        feedback_bytes,
    }
}

/// The valid CSV held as `….filepart`, then delivered by rename (timed from RNTO).
fn renamed(url: Option<&str>, rows: usize) -> Outcome {
    let server = Server::start(url, "rename");
    let body = valid_csv(rows);
    let input = format!("{rows} valid rows, {:.1} MiB", mib(body.len()));
    let name = "bom_insert_20221001003000_77777.csv";
    let temp = format!("{name}.filepart");
    let mut ftp = server.session();
    store(&mut ftp, &temp, body);
    let started = Instant::now();
    ftp.rename(temp.as_str(), name).expect("RNFR/RNTO");
    wait_for_feedback(&mut ftp, name);
    let elapsed = started.elapsed();
    let peak_kib = server.peak_kib();
    let (code, msg, feedback_bytes) = answer(&mut ftp, name);
    let _ = ftp.quit();
    Outcome {
        case: "rename".into(),
        input,
        elapsed,
        peak_kib,
        code,
        msg,
        feedback_bytes,
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn run(url: Option<&str>) -> Vec<Outcome> {
    let mut out = Vec::new();
    let body = amplification_csv();
    let input = format!(
        "4 KB header + 30,000 one-cell rows, {} KB",
        body.len() / 1000
    );
    out.push(stored(
        url,
        "amplification",
        "bom_insert_20221001003000_11111.csv",
        body,
        input,
    ));
    let (body, rows) = failing_csv(env_num("WHARF_BENCH_SHEET_BYTES", 20 << 20));
    let input = format!("{rows} failing rows, {:.1} MiB", mib(body.len()));
    out.push(stored(
        url,
        "failing",
        "bom_insert_20221001003000_22222.csv",
        body,
        input,
    ));
    out.push(renamed(url, env_num("WHARF_BENCH_RENAME_ROWS", 100_000)));
    out
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    let mut stores = vec![("PostgreSQL", Some(url.as_str()))];
    if std::env::var("WHARF_BENCH_SQLITE").is_ok_and(|v| v == "1") {
        stores.push(("SQLite", None));
    }
    for (name, url) in stores {
        let outcomes = run(url);
        println!("Sheet memory over FTP, {name}, a fresh `wharf serve` per case");
        println!("| case | input | time to feedback | peak RSS (VmHWM) | answer | feedback |");
        println!("|---|---|---|---|---|---|");
        for o in &outcomes {
            println!(
                "| {} | {} | {:.2} s | {:.0} MiB | `{}` {} | {:.1} MiB |",
                o.case,
                o.input,
                o.elapsed.as_secs_f64(),
                o.peak_kib as f64 / 1024.0,
                o.code,
                o.msg,
                mib(o.feedback_bytes)
            );
        }
        for o in &outcomes {
            let want = if o.case == "rename" { "0" } else { "E00V00" };
            assert_eq!(o.code, want, "{}: {}", o.case, o.msg);
        }
    }
}
