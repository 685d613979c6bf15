//! FTP load: 5,000-row t1/bom JSON files uploaded with a real FTP client (suppaftp) to the
//! real `wharf serve` on PostgreSQL. Reports, over 50 files, the time from the start of STOR
//! to the file's feedback being listable (p50/p99; the upload itself is ~2 MB on loopback),
//! and the rows/s of 4 parallel uploading sessions. Run with `scripts/bench`.
//!
//! On PostgreSQL it also delivers one big CSV (100,000 rows) by rename, as MFT clients do
//! (STOR under `.filepart`, then RNFR/RNTO): the time from RNTO to the feedback being
//! listable, the server's peak RSS meanwhile (sampled every 20 ms), and a raw `COPY` of the
//! same rows into the same PostgreSQL in the same run.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_FTP_FILES` (default 50),
//! `WHARF_BENCH_RENAME_ROWS` (default 100,000), `WHARF_BENCH_BIN` (another build of `wharf`
//! to measure, say the one before a change).

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use suppaftp::FtpStream;

use common::ftp::{expect_applied, session, store, wait_for_feedback};
use common::{
    bom_file, bom_file_name, env_num, raw_copy, row_json, FtpServer, PeakRss, FILE_ROWS as ROWS,
};

/// Upload file `n` and (with `poll`) wait until its feedback lists; returns the time taken.
fn deliver(ftp: &mut FtpStream, n: usize, poll: bool) -> Duration {
    let name = bom_file_name(n);
    let body = bom_file("FTP", n);
    let started = Instant::now();
    store(ftp, &name, body);
    if poll {
        wait_for_feedback(ftp, &name);
    }
    let elapsed = started.elapsed();
    expect_applied(ftp, &name);
    elapsed
}

/// `rows` t1/bom rows (the fields of `common::row_json`) as one CSV sheet.
fn big_csv(rows: usize) -> Vec<u8> {
    let first: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row_json(0)).expect("row");
    let header: Vec<String> = first.keys().cloned().collect();
    let mut out = header.join(",");
    out.push('\n');
    for n in 0..rows {
        let row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&row_json(n)).expect("row");
        let cells: Vec<String> = header
            .iter()
            .map(|h| match &row[h] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// One big CSV delivered by rename: (RNTO → feedback listable, peak RSS KiB of the server,
/// raw COPY of the same rows).
fn big_by_rename(
    url: &str,
    port: u16,
    user: &str,
    dir: &str,
    server: u32,
) -> (Duration, u64, Duration) {
    let rows = env_num("WHARF_BENCH_RENAME_ROWS", 100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let copy = rt.block_on(raw_copy(url, "bench_ftp_rename_copy", rows));
    let body = big_csv(rows);
    let name = "bom_insert_20221001003000_99999.csv";
    let temp = format!("{name}.filepart");
    let mut ftp = session(port, user, dir);
    let sampler = rt.block_on(async { PeakRss::start(server, Duration::from_millis(20)) });
    store(&mut ftp, &temp, body);
    let started = Instant::now();
    ftp.rename(temp.as_str(), name).expect("RNFR/RNTO");
    wait_for_feedback(&mut ftp, name);
    let elapsed = started.elapsed();
    let peak = rt.block_on(sampler.stop());
    expect_applied(&mut ftp, name);
    let _ = ftp.quit();
    (elapsed, peak, copy)
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
    // Passive ports for four sessions, with room.
    let passive = 42000 + (std::process::id() % 100) as u16 * 64;
    let server = FtpServer::start(url, &format!("ftp{}", std::process::id()), passive, 64);
    let (ftp_port, user, dir) = (server.ftp, server.user.clone(), server.dir.clone());

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
    let rename = url.map(|url| big_by_rename(url, ftp_port, &user, &dir, server.child.id()));
    drop(server);

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
    if let Some((rnto, peak_kib, copy)) = rename {
        let rows = env_num("WHARF_BENCH_RENAME_ROWS", 100_000);
        println!(
            "| one {rows}-row CSV by rename: RNTO → feedback listable | {:.2} s ({:.0} rows/s) |",
            rnto.as_secs_f64(),
            rows as f64 / rnto.as_secs_f64()
        );
        println!(
            "| wharf serve's peak RSS during that upload and rename | {:.0} MiB |",
            peak_kib as f64 / 1024.0
        );
        println!(
            "| raw COPY of the same rows | {:.2} s ({:.0} rows/s) |",
            copy.as_secs_f64(),
            rows as f64 / copy.as_secs_f64()
        );
    }
}
