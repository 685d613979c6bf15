//! Upload page load: a t1/bom `.xlsx` of 100,000 rows (real number and date cells) uploaded
//! through the upload page's form to the real `wharf serve` on PostgreSQL, as a browser sends
//! it (login, CSRF, multipart), timed from the first byte of the upload to the result page, with
//! the server's peak RSS sampled every 20 ms. Next to it, a raw `COPY` of the same rows into the
//! same PostgreSQL in the same run. Run with `scripts/bench`.
//!
//! Then the grid (issue #23): the same sheet under its fields' English labels and spellings
//! (matched by core, no mapping step), every 10th row with an impossible date: timed from the
//! first byte of the upload to the grid's rows (`/fix/rows`, what the grid's first page is
//! drawn from), and a cell edit checked by core (`/fix/check`, 20 edits, median and worst),
//! with the server's peak RSS over all of it.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_UPLOAD_ROWS` (default
//! 100,000), `WHARF_BENCH_UPLOAD_RUNS` (default 3), `WHARF_BENCH_BIN` (another build of
//! `wharf` to measure, say the one before a change), `WHARF_BENCH_UPLOAD_GRID=0` (the uploads
//! alone, without the grid case: for a heap profile of the upload's peak).

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

use common::{connect, env_num, free_port, raw_copy, wait_listening, wharf_bin, PeakRss};

const PASSWORD: &str = "bench-password-1";

/// The field names, in the workbook's column order.
const HEADER: [&str; 13] = [
    "bu",
    "vendor_code",
    "vendor_father_item",
    "father_item",
    "vendor_child_item",
    "child_item",
    "quantity_per",
    "effective_start_date",
    "effective_end_date",
    "priority",
    "split",
    "version",
    "owner",
];

/// The same columns as a planner's own sheet names them: labels and other spellings.
const LABELLED: [&str; 13] = [
    "Business unit",
    "Vendor code",
    "Vendor upper-level item",
    "Lenovo upper-level item",
    "Vendor child item",
    "Lenovo child item",
    "Qty Per",
    "Start Date",
    "End Date",
    "Priority",
    "Split %",
    "Version",
    "Item owner",
];

/// The workbook: the fields of `common::row_json`, numbers as number cells, dates as date
/// cells; run `run` gets its own keys so every run inserts new rows. With `failing`, every
/// that many-th row has an impossible end date (as text).
fn workbook(rows: usize, run: usize, header: &[&str; 13], failing: Option<usize>) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let start = ExcelDateTime::from_ymd(2022, 9, 14).expect("date");
    let end = ExcelDateTime::from_ymd(2024, 2, 29).expect("date");
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    for n in 0..rows {
        let r = (n + 1) as u32;
        let key = format!("R{run}V{n:09}");
        sheet.write_string(r, 0, "ThinkNB").expect("cell");
        sheet.write_string(r, 1, "2022012").expect("cell");
        sheet.write_string(r, 2, &key).expect("cell");
        sheet.write_string(r, 3, "5B20S43052").expect("cell");
        sheet.write_string(r, 4, &key).expect("cell");
        sheet.write_string(r, 5, "5B20S43053").expect("cell");
        sheet.write_number(r, 6, 10.125).expect("cell");
        sheet
            .write_datetime_with_format(r, 7, &start, &date)
            .expect("cell");
        if failing.is_some_and(|every| n % every == every - 1) {
            sheet.write_string(r, 8, "2024-02-30").expect("cell");
        } else {
            sheet
                .write_datetime_with_format(r, 8, &end, &date)
                .expect("cell");
        }
        sheet.write_string(r, 9, "N/A").expect("cell");
        sheet.write_number(r, 10, 0.28).expect("cell");
        sheet.write_string(r, 11, "20211012000000").expect("cell");
        sheet.write_string(r, 12, "planner").expect("cell");
    }
    book.save_to_buffer().expect("xlsx")
}

/// A tiny cookie-keeping client for the upload page.
struct Client {
    port: u16,
    cookies: Vec<String>,
}

impl Client {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        ct: Option<String>,
        body: Bytes,
    ) -> (u16, Option<String>, String) {
        let (mut send, conn) = connect(self.port).await;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("cookie", self.cookies.join("; "));
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = send
            .send_request(req.body(Full::new(body)).expect("request"))
            .await
            .expect("send");
        for c in resp.headers().get_all("set-cookie") {
            let pair = c
                .to_str()
                .expect("cookie")
                .split(';')
                .next()
                .unwrap_or_default();
            let name = pair.split('=').next().unwrap_or_default().to_string();
            self.cookies.retain(|k| !k.starts_with(&format!("{name}=")));
            self.cookies.push(pair.to_string());
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().expect("location").to_string());
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    async fn csrf(&mut self, path: &str) -> String {
        let (_, _, page) = self.call("GET", path, None, Bytes::new()).await;
        let at = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
        page[at..at + page[at..].find('"').expect("quote")].to_string()
    }
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    let rows = env_num("WHARF_BENCH_UPLOAD_ROWS", 100_000);
    let runs = env_num("WHARF_BENCH_UPLOAD_RUNS", 3);
    let with_grid = env_num("WHARF_BENCH_UPLOAD_GRID", 1) != 0;
    let bin = wharf_bin();
    let data_dir = std::env::temp_dir().join(format!("wharf-upload-bench-{}", std::process::id()));
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let upload_port = ports[4];
    let partner = format!("UPLOAD{}", std::process::id());
    let user = format!("uploader{}", std::process::id());
    let wharf = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args)
            .env("WHARF_DATABASE_URL", &url)
            .env("WHARF_DATA_DIR", &data_dir)
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{}", ports[0]))
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{}", ports[1]))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{}", ports[2]))
            // Not used here: any free port.
            .env("WHARF_SFTP_ADDR", "127.0.0.1:0")
            .env(
                "WHARF_FTP_PASSIVE_PORTS",
                format!("{}-{}", ports[3], ports[3]),
            )
            .env("WHARF_UPLOAD_ADDR", format!("127.0.0.1:{upload_port}"))
            .env("RUST_LOG", "warn");
        c
    };
    // The admin commands never create a store: `migrate` makes it, as an operator would.
    for (args, secret) in [
        (vec!["migrate"], ""),
        (vec!["partner", "add", &partner], "bench-secret-1"),
        (vec!["user", "add", &user, "--partner", &partner], PASSWORD),
    ] {
        let mut child = wharf(&args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("wharf cli");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("stdin"),
            format!("{secret}\n").as_bytes(),
        )
        .expect("secret");
        assert!(child.wait().expect("wait").success(), "{args:?}");
    }
    let sheets: Vec<Vec<u8>> = (0..runs)
        .map(|r| workbook(rows, r, &HEADER, None))
        .collect();
    let failing_sheet = workbook(rows, runs, &LABELLED, Some(10));
    let mut server = wharf(&["serve"])
        .stderr(Stdio::null())
        .spawn()
        .expect("wharf serve");
    let pid = server.id();
    wait_listening(upload_port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (copy, results, grid) = rt.block_on(async {
        let copy = raw_copy(&url, "bench_upload_copy", rows).await;
        let mut c = Client {
            port: upload_port,
            cookies: Vec::new(),
        };
        let csrf = c.csrf("/login").await;
        let (status, _, _) = c
            .call(
                "POST",
                "/login",
                Some("application/x-www-form-urlencoded".into()),
                Bytes::from(format!("csrf={csrf}&username={user}&password={PASSWORD}")),
            )
            .await;
        assert_eq!(status, 303, "login");
        let mut results = Vec::new();
        for (run, sheet) in sheets.iter().enumerate() {
            let csrf = c.csrf("/upload").await;
            let (ct, body) = form(&csrf, &format!("bom-{run}.xlsx"), sheet);
            let rss = PeakRss::start(pid, Duration::from_millis(20));
            let started = Instant::now();
            let (status, location, page) = c.call("POST", "/upload", Some(ct), body).await;
            assert_eq!(status, 303, "{page}");
            let (status, _, page) = c
                .call("GET", &location.expect("location"), None, Bytes::new())
                .await;
            let elapsed = started.elapsed();
            let peak = rss.stop().await;
            assert_eq!(status, 200);
            assert!(
                page.contains("<code id=\"result-code\">0</code>"),
                "not applied: {page}"
            );
            results.push((elapsed, peak));
        }
        let grid = if with_grid {
            Some(grid_case(&mut c, pid, &failing_sheet).await)
        } else {
            None
        };
        (copy, results, grid)
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
    let mb = sheets[0].len() as f64 / (1 << 20) as f64;
    println!("Upload page: {rows}-row t1/bom .xlsx ({mb:.1} MiB), PostgreSQL, {runs} runs");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| raw COPY of the same rows | {:.2} s ({:.0} rows/s) |",
        copy.as_secs_f64(),
        rows as f64 / copy.as_secs_f64()
    );
    for (i, (elapsed, peak_kib)) in results.iter().enumerate() {
        println!(
            "| run {}: upload to result page | {:.2} s ({:.0} rows/s), peak RSS {:.0} MiB |",
            i + 1,
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64(),
            *peak_kib as f64 / 1024.0
        );
    }
    let Some(Grid {
        to_rows,
        failing,
        checks,
        peak_kib,
    }) = grid
    else {
        return;
    };
    println!(
        "| grid: upload ({rows} rows, labelled headers, {failing} failing) to the grid's rows | {:.2} s |",
        to_rows.as_secs_f64()
    );
    println!(
        "| grid: a cell edit checked by core, median / worst of {} | {:.0} / {:.0} ms |",
        checks.len(),
        checks[checks.len() / 2].as_secs_f64() * 1000.0,
        checks[checks.len() - 1].as_secs_f64() * 1000.0
    );
    println!(
        "| grid: server peak RSS, upload to the last edit | {:.0} MiB |",
        peak_kib as f64 / 1024.0
    );
}

/// The upload form's multipart body around `sheet`: its content type and bytes.
fn form(csrf: &str, name: &str, sheet: &[u8]) -> (String, Bytes) {
    let boundary = "wharfbenchboundary0123456789";
    let mut body = Vec::with_capacity(sheet.len() + 1024);
    for (k, v) in [
        ("csrf", csrf),
        ("interface", "t1/bom"),
        ("environment", "prod"),
        ("operation", "insert"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(sheet);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        Bytes::from(body),
    )
}

/// What the grid case measured.
struct Grid {
    to_rows: Duration,
    failing: usize,
    /// Sorted.
    checks: Vec<Duration>,
    peak_kib: u64,
}

/// Upload the failing sheet, load the grid's rows, check 20 edits.
async fn grid_case(c: &mut Client, pid: u32, sheet: &[u8]) -> Grid {
    let csrf = c.csrf("/upload").await;
    let (ct, body) = form(&csrf, "bom-failing.xlsx", sheet);
    let rss = PeakRss::start(pid, Duration::from_millis(20));
    let started = Instant::now();
    let (status, location, page) = c.call("POST", "/upload", Some(ct), body).await;
    assert_eq!(
        status, 303,
        "the labelled sheet needs no mapping step: {page}"
    );
    let result = location.expect("location");
    let (status, _, page) = c.call("GET", &result, None, Bytes::new()).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"fix\""), "a link to the grid: {page}");
    let (status, _, rows) = c
        .call("GET", &format!("{result}/fix/rows"), None, Bytes::new())
        .await;
    let to_rows = started.elapsed();
    assert_eq!(status, 200, "{rows}");
    let grid: serde_json::Value = serde_json::from_str(&rows).expect("grid json");
    let failing = grid["failing"].as_u64().expect("failing") as usize;
    let columns: Vec<String> = grid["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().expect("column").to_string())
        .collect();
    let mut checks = Vec::new();
    for i in 0..20 {
        let row = &grid["rows"][i * 100];
        let mut values = serde_json::Map::new();
        for (n, col) in columns.iter().enumerate() {
            let v = if col == "effective_end_date" {
                "2024-02-29".to_string()
            } else {
                row["values"][n].as_str().expect("value").to_string()
            };
            values.insert(col.clone(), v.into());
        }
        let body = serde_json::json!({"csrf": csrf, "line": row["line"], "values": values});
        let started = Instant::now();
        let (status, _, answer) = c
            .call(
                "POST",
                &format!("{result}/fix/check"),
                Some("application/json".into()),
                Bytes::from(body.to_string()),
            )
            .await;
        checks.push(started.elapsed());
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer.contains("\"problems\":[]"),
            "the fix passes: {answer}"
        );
    }
    checks.sort();
    Grid {
        to_rows,
        failing,
        checks,
        peak_kib: rss.stop().await,
    }
}
