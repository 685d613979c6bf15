//! Upload page load: a t1/bom `.xlsx` of 100,000 rows (real number and date cells) uploaded
//! through the upload page's form to the real `wharf serve` on PostgreSQL, as a browser sends
//! it (login, CSRF, multipart), timed from the first byte of the upload to the result page, with
//! the server's peak RSS sampled every 20 ms. Next to it, a raw `COPY` of the same rows into the
//! same PostgreSQL in the same run. Run with `scripts/bench`.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_UPLOAD_ROWS` (default
//! 100,000), `WHARF_BENCH_UPLOAD_RUNS` (default 3), `WHARF_BENCH_BIN` (another build of
//! `wharf` to measure, say the one before a change).

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

use common::{connect, env_num, free_port, raw_copy, wait_listening, wharf_bin, PeakRss};

const PASSWORD: &str = "bench-password-1";

/// The workbook: the fields of `common::row_json`, numbers as number cells, dates as date
/// cells; run `run` gets its own keys so every run inserts new rows.
fn workbook(rows: usize, run: usize) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let header = [
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
        sheet
            .write_datetime_with_format(r, 8, &end, &date)
            .expect("cell");
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
    let sheets: Vec<Vec<u8>> = (0..runs).map(|r| workbook(rows, r)).collect();
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
    let (copy, results) = rt.block_on(async {
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
            let boundary = "wharfbenchboundary0123456789";
            let mut body = Vec::with_capacity(sheet.len() + 1024);
            for (k, v) in [
                ("csrf", csrf.as_str()),
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
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bom-{run}.xlsx\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(sheet);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let rss = PeakRss::start(pid, Duration::from_millis(20));
            let started = Instant::now();
            let (status, location, page) = c
                .call(
                    "POST",
                    "/upload",
                    Some(format!("multipart/form-data; boundary={boundary}")),
                    Bytes::from(body),
                )
                .await;
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
        (copy, results)
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
}
