//! The upload page in a real browser: headless Debian Chromium driven through chromedriver
//! (`util::browser`) against the real `wharf serve` with the embedded SQLite store. Needs
//! `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/browser.sh`, run by scripts/test).
//!
//! `browser_client_drives_a_page` checks the WebDriver client itself on a static page served
//! by a thread of this test; `upload_page_in_a_browser` is the end-to-end test, and writes
//! the screenshots in `docs/screenshots/`.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
use serde_json::json;
use util::browser::{base64_decode, Browser};
use util::data::{export, keys, BOM_FIELDS};
use util::{installation, Backend, Wharf, PASSWORD};

// ---------------------------------------------------------------------------------------------
// the client on a static page

const STATIC_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>static test page</title></head>
<body>
<h1 id="h">Static page</h1>
<input id="name"> <button id="greet" type="button"
  onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value">Greet</button>
<p id="out"></p>
<select id="color"><option value="red">Red</option><option value="blue">Blue</option></select>
<button id="ask" type="button"
  onclick="document.getElementById('answer').textContent = confirm('Sure?') ? 'yes' : 'no'">Ask</button>
<p id="answer"></p>
<a id="dl" href="/hello.csv" data-x="y">download</a>
<ul><li class="item">one</li><li class="item">two</li></ul>
<form id="up" method="post" action="/echo" enctype="multipart/form-data">
  <input type="file" id="file" name="file"> <input id="note" name="note">
  <button id="send">Send</button>
</form>
<div id="late"></div>
<script>setTimeout(function () {
  document.getElementById('late').innerHTML = '<span id="later">later</span>';
}, 300);</script>
</body></html>"#;

const CSV: &str = "a,b\n1,2\n";

/// Serve the static page on a free port from a thread (for the life of the test process).
fn static_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve_one(conn));
        }
    });
    format!("http://{addr}")
}

fn serve_one(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, mut body) = loop {
        let Ok(n) = conn.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&raw[..i]).into_owned(),
                raw[i + 4..].to_vec(),
            );
        }
    };
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while body.len() < length {
        let Ok(n) = conn.read(&mut buf) else { return };
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (ctype, extra, content) = match (method, path) {
        ("GET", "/") => ("text/html; charset=utf-8", "", STATIC_PAGE.to_string()),
        ("GET", "/hello.csv") => (
            "text/csv",
            "Content-Disposition: attachment; filename=\"hello.csv\"\r\n",
            CSV.to_string(),
        ),
        ("POST", "/echo") => {
            let text = String::from_utf8_lossy(&body);
            let has_file = text.contains("file-content-marker");
            let has_note = text.contains("a note");
            (
                "text/html; charset=utf-8",
                "",
                format!(
                    "<!doctype html><title>echo</title><p id=\"bytes\">{}</p>\
                     <p id=\"has-file\">{has_file}</p><p id=\"has-note\">{has_note}</p>",
                    body.len()
                ),
            )
        }
        _ => ("text/plain", "", "not found".to_string()),
    };
    let status = if content == "not found" {
        "404 Not Found"
    } else {
        "200 OK"
    };
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{content}",
            content.len()
        )
        .as_bytes(),
    );
}

#[test]
fn base64_decoder() {
    assert_eq!(base64_decode(""), b"");
    assert_eq!(base64_decode("Zg=="), b"f");
    assert_eq!(base64_decode("Zm8="), b"fo");
    assert_eq!(base64_decode("Zm9v"), b"foo");
    assert_eq!(base64_decode("Zm9vYg=="), b"foob");
    assert_eq!(base64_decode("Zm9vYmE="), b"fooba");
    assert_eq!(base64_decode("Zm9v\nYmFy"), b"foobar");
    assert_eq!(base64_decode("+/8="), [0xfb, 0xff]);
}

/// goto, find (with waiting), click, send_keys, select_option, confirm dialogs, a file
/// upload through a form, screenshots and downloads, on a page this test serves itself.
#[test]
fn browser_client_drives_a_page() {
    let base = static_server();
    let b = Browser::start();
    b.goto(&format!("{base}/"));
    assert_eq!(b.title(), "static test page");
    assert_eq!(b.find("#h").text(), "Static page");
    assert!(b.current_url().starts_with(&base));
    assert!(b.page_source().contains("id=\"greet\""));

    // typing and clicking
    b.find("#name").send_keys("wharf");
    assert_eq!(b.find("#name").value(), "wharf");
    b.find("#greet").click();
    assert_eq!(b.find("#out").text(), "Hello, wharf");

    // an element that appears later; find_all; attributes
    assert_eq!(b.find("#later").text(), "later");
    let items: Vec<String> = b.find_all("li.item").iter().map(|e| e.text()).collect();
    assert_eq!(items, ["one", "two"]);
    assert!(b.find_all(".absent").is_empty());
    assert_eq!(b.find("#dl").attr("data-x").as_deref(), Some("y"));
    assert_eq!(b.find("#dl").attr("nope"), None);
    assert_eq!(b.find("ul").find_all("li").len(), 2);

    // <select>
    assert_eq!(b.find("#color").value(), "red");
    b.select_option("#color", "blue");
    assert_eq!(b.find("#color").value(), "blue");

    // confirm(): cancel, then OK
    b.find("#ask").click();
    assert_eq!(b.dismiss_alert(), "Sure?");
    assert_eq!(b.find("#answer").text(), "no");
    b.find("#ask").click();
    assert_eq!(b.accept_alert(), "Sure?");
    assert_eq!(b.find("#answer").text(), "yes");
    assert!(!b.alert_open());

    // a screenshot is a PNG file
    let shot = b.dir.join("static.png");
    b.screenshot(&shot);
    let png = std::fs::read(&shot).expect("screenshot file");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);

    // a download lands, finished, in the download dir
    b.find("#dl").click();
    let file = b.downloaded_file(".csv", Duration::from_secs(10));
    assert_eq!(file.file_name().unwrap(), "hello.csv");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CSV);

    // fetch from inside the page
    assert_eq!(
        b.fetch_text(&format!("{base}/hello.csv")),
        (200, CSV.to_string())
    );

    // a file upload through a multipart form, and the navigation it causes
    let upload = b.dir.join("upload.txt");
    std::fs::write(&upload, "file-content-marker\n").unwrap();
    b.find("#file").send_keys(upload.to_str().unwrap());
    b.find("#note").send_keys("a note");
    b.find("#send").click();
    assert!(b.wait_for_url_contains("/echo").ends_with("/echo"));
    assert_eq!(b.find("#has-file").text(), "true");
    assert_eq!(b.find("#has-note").text(), "true");

    // scripts
    assert_eq!(b.execute("return 6 * 7", json!([])), json!(42));
}

// ---------------------------------------------------------------------------------------------
// the upload page, end to end

/// One cell of a sheet.
enum Cell {
    S(String),
    N(f64),
    /// A real Excel date cell (year, month, day).
    D(u16, u8, u8),
}

fn s(v: &str) -> Cell {
    Cell::S(v.to_string())
}

/// A valid t1/bom row (in `BOM_FIELDS` order) whose `vendor_father_item` is `key`, with real
/// number and date cells, as a partner's Excel would hold it.
fn valid_row(key: &str) -> Vec<Cell> {
    vec![
        s("eee"),
        s(key),
        s("213"),
        s("eee"),
        s("123"),
        Cell::N(10.1),
        Cell::D(2022, 9, 14),
        Cell::D(2023, 1, 31),
        s("N/A"),
        Cell::N(0.28),
        s("20220914"),
    ]
}

/// Write an .xlsx with the t1/bom header row and `rows` to `path`.
fn write_sheet(path: &Path, rows: &[Vec<Cell>]) {
    write_sheet_headed(path, &BOM_FIELDS, rows)
}

/// Write an .xlsx with `header` as row 1 and `rows` to `path`.
fn write_sheet_headed(path: &Path, header: &[&str], rows: &[Vec<Cell>]) {
    let mut wb = Workbook::new();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet();
    for (c, name) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *name).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::S(v) => ws.write_string(r, c, v).map(|_| ()),
                Cell::N(v) => ws.write_number(r, c, *v).map(|_| ()),
                Cell::D(y, m, d) => {
                    let day = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                    ws.write_date_with_format(r, c, &day, &date).map(|_| ())
                }
            }
            .unwrap();
        }
    }
    wb.save(path).unwrap();
}

/// The first whole number in `text` (e.g. `3` in "3 rows").
#[track_caller]
fn number_in(text: &str) -> u64 {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number in {text:?}"))
}

/// Where the screenshots go: `docs/screenshots/` when `WHARF_SCREENSHOTS=docs` (how the
/// committed ones are refreshed: `WHARF_SCREENSHOTS=docs cargo test --test upload_browser`),
/// else the test's own data dir, so a test run never dirties the checkout.
fn screenshots(w: &Wharf) -> PathBuf {
    let dir = if std::env::var("WHARF_SCREENSHOTS").as_deref() == Ok("docs") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        w.data_dir.join("screenshots")
    };
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Fill the upload form (interface t1/bom, environment, operation, file) and submit it.
fn fill_upload(b: &Browser, env: &str, op: &str, file: &Path) {
    b.wait_for("form#upload");
    b.select_option("select#interface", "t1/bom");
    b.select_option("select#environment", env);
    b.select_option("select#operation", op);
    b.find("input#file")
        .send_keys(file.to_str().expect("a UTF-8 path"));
}

/// The result page after a submit: its batch id, code and the URL.
struct Outcome {
    batch_id: String,
    code: String,
    url: String,
}

#[track_caller]
fn result_page(b: &Browser) -> Outcome {
    let url = b.wait_for_url_contains("/batches/prod/t1/bom/");
    let code = b.find("#result-code").text().trim().to_string();
    let batch_id = b.find("#batch-id").text().trim().to_string();
    assert!(
        !batch_id.is_empty(),
        "#batch-id is empty\n{}",
        b.page_snippet()
    );
    assert!(
        url.ends_with(&format!("/batches/prod/t1/bom/{batch_id}")),
        "the result URL {url} ends with the batch id {batch_id:?}"
    );
    assert!(
        !b.find("#result-msg").text().trim().is_empty(),
        "#result-msg is empty"
    );
    Outcome {
        batch_id,
        code,
        url,
    }
}

/// Log in, download the template, upload a valid sheet, a sheet with errors and an `all`
/// sheet (the confirmation cancelled, then accepted), read the history, schedule a sheet and
/// apply and revert it by hand, check a sheet only and then apply it, log out; the data each
/// upload sent is checked with `wharf export`.
#[test]
fn upload_page_in_a_browser() {
    let started = Instant::now();
    let (w, partner, user) = installation(Backend::Sqlite);
    let _server = w.serve();
    let base = w.upload_url();
    let sheets = w.data_dir.join("sheets");
    std::fs::create_dir_all(&sheets).unwrap();
    let shots = screenshots(&w);

    // The upload page's own port may open a moment after the API's.
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", w.upload_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on WHARF_UPLOAD_ADDR ({base}) 20 s after wharf serve started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let b = Browser::start();

    // --- log in: / sends a stranger to the login page; a wrong password is an error
    b.goto(&format!("{base}/"));
    b.wait_for_url_contains("/login");
    b.find("form#login");
    b.find("input#username").send_keys(&user);
    b.find("input#password").send_keys("not-the-password");
    b.find("button#login-submit").click();
    let error = b.find(".error");
    assert_eq!(error.attr("role").as_deref(), Some("alert"));
    assert!(!error.text().trim().is_empty(), "the login error says why");
    assert!(!b.exists("button#logout"), "not logged in");

    b.find("input#username").clear();
    b.find("input#username").send_keys(&user);
    b.find("input#password").clear();
    b.find("input#password").send_keys(PASSWORD);
    b.find("button#login-submit").click();
    b.wait_for("button#logout");
    b.find("a#nav-upload").click();
    b.wait_for_url_contains("/upload");
    b.wait_for("form#upload");

    // --- the template for t1/bom is a real workbook
    let link = b.find(r#"a.template-link[data-interface="t1/bom"]"#);
    assert_eq!(
        link.attr("href").as_deref(),
        Some("/templates/t1/bom.xlsx"),
        "template link"
    );
    link.click();
    let template = b.downloaded_file(".xlsx", Duration::from_secs(10));
    let bytes = std::fs::read(&template).unwrap();
    assert!(
        bytes.starts_with(b"PK\x03\x04"),
        "the template is a zip (xlsx): {:?}",
        &bytes[..bytes.len().min(16)]
    );
    // The zip's (uncompressed) entry names: an Office Open XML workbook.
    for entry in [
        &b"[Content_Types].xml"[..],
        b"xl/workbook.xml",
        b"xl/worksheets/",
    ] {
        assert!(
            bytes.windows(entry.len()).any(|w| w == entry),
            "the template holds {}",
            String::from_utf8_lossy(entry)
        );
    }
    assert!(bytes.len() > 1000, "template is {} bytes", bytes.len());

    // --- a valid sheet, insert into prod
    let valid = sheets.join("bom-valid.xlsx");
    write_sheet(
        &valid,
        &[valid_row("web1"), valid_row("web2"), valid_row("web3")],
    );
    fill_upload(&b, "prod", "insert", &valid);
    b.screenshot(shots.join("upload.png"));
    b.find("button#upload-submit").click();
    let first = result_page(&b);
    assert_eq!(first.code, "0", "{}", b.page_snippet());
    assert_eq!(number_in(&b.find("#rows-sent").text()), 3);
    assert_eq!(number_in(&b.find("#rows-applied").text()), 3);
    assert!(!b.exists("table#errors"), "no error table on success");
    // The data landed, as Excel showed it.
    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(keys(&rows), ["web1", "web2", "web3"]);
    for row in &rows {
        assert_eq!(row["quantity_per"], "10.1", "{row}");
        assert_eq!(row["split"], "0.28", "{row}");
        assert_eq!(row["effective_start_date"], "2022-09-14", "{row}");
        assert_eq!(row["effective_end_date"], "2023-01-31", "{row}");
        assert_eq!(row["priority"], "N/A", "{row}");
        assert_eq!(row["version"], "20220914", "{row}");
    }
    assert!(export(&w, &partner, "t1/bom", Some("uat")).is_empty());

    // --- a sheet with errors: row 3 too long, row 5 an impossible date (header = row 1)
    let too_long = "L".repeat(31);
    let bad_len = valid_row(&too_long);
    let mut bad_date = valid_row("err4");
    bad_date[6] = s("2022-02-30");
    let errors = sheets.join("bom-errors.xlsx");
    write_sheet(
        &errors,
        &[valid_row("err1"), bad_len, valid_row("err3"), bad_date],
    );
    b.find("a#nav-upload").click();
    fill_upload(&b, "prod", "insert", &errors);
    b.find("button#upload-submit").click();
    let second = result_page(&b);
    assert_eq!(second.code, "E00V00", "{}", b.page_snippet());
    assert_eq!(number_in(&b.find("#rows-sent").text()), 4);
    assert_eq!(number_in(&b.find("#rows-applied").text()), 0);
    assert_eq!(number_in(&b.find("#errors-count").text()), 2);
    let table: Vec<[String; 4]> = b
        .find("table#errors")
        .find_all("tbody tr")
        .iter()
        .map(|tr| {
            ["td.line", "td.field", "td.type", "td.value"]
                .map(|c| tr.find(c).text().trim().to_string())
        })
        .collect();
    assert_eq!(
        table,
        [
            [
                "3".to_string(),
                "vendor_father_item".to_string(),
                "value length exceed".to_string(),
                too_long.clone()
            ],
            [
                "5".to_string(),
                "effective_start_date".to_string(),
                "invalid date".to_string(),
                "2022-02-30".to_string()
            ],
        ],
        "the error table"
    );
    // Each line says how to fix it, from core's detail.
    let hints: Vec<String> = b
        .find("table#errors")
        .find_all("tbody tr")
        .iter()
        .map(|tr| tr.find("td.hint").text().trim().to_string())
        .collect();
    assert_eq!(
        hints,
        [
            "Too long: use at most 30 characters.",
            "Use the date format yyyy-mm-dd, for example 2024-02-29 (a day the calendar has).",
        ],
        "the error table's hints"
    );
    b.screenshot(shots.join("result.png"));
    // The CSV of all errors names the same rows.
    let csv_href = b
        .find("a#errors-csv")
        .attr("href")
        .expect("a#errors-csv href");
    let (status, csv) = b.fetch_text(&csv_href);
    assert_eq!(status, 200, "GET {csv_href}: {csv}");
    for needle in [
        "vendor_father_item",
        "value length exceed",
        "effective_start_date",
        "invalid date",
        "2022-02-30",
    ] {
        assert!(
            csv.contains(needle),
            "the errors CSV holds {needle:?}: {csv}"
        );
    }
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["web1", "web2", "web3"],
        "nothing of the failed sheet landed"
    );

    // --- operation `all` asks first: Cancel sends nothing, OK replaces the data set
    let all = sheets.join("bom-all.xlsx");
    write_sheet(&all, &[valid_row("all1"), valid_row("all2")]);
    b.find("a#nav-upload").click();
    fill_upload(&b, "prod", "all", &all);
    let upload_url = b.current_url();
    b.find("button#upload-submit").click();
    let question = b.dismiss_alert();
    assert!(
        !question.trim().is_empty(),
        "the confirmation asks something"
    );
    assert_eq!(b.current_url(), upload_url, "cancel stays on the form");
    b.wait_for("form#upload");
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["web1", "web2", "web3"],
        "cancel sent nothing"
    );
    b.find("button#upload-submit").click();
    b.accept_alert();
    let third = result_page(&b);
    assert_eq!(third.code, "0", "{}", b.page_snippet());
    assert_eq!(number_in(&b.find("#rows-applied").text()), 2);
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["all1", "all2"],
        "all replaced the data set"
    );

    // --- history: three batches (the cancelled one was never sent), newest first
    b.find("a#nav-history").click();
    b.wait_for_url_contains("/batches");
    b.wait_for("table#history");
    let history: Vec<[String; 8]> = b
        .find_all("table#history tbody tr.batch")
        .iter()
        .map(|tr| {
            [
                "td.time",
                "td.interface",
                "td.environment",
                "td.operation",
                "td.rows",
                "td.status",
                "td.code",
                "td.file",
            ]
            .map(|c| tr.find(c).text().trim().to_string())
        })
        .collect();
    assert_eq!(history.len(), 3, "three batches: {history:?}");
    for cell in b.find_all("table#history tbody tr.batch td.time time") {
        let utc = cell.attr("title").unwrap_or_default();
        assert!(utc.ends_with(" UTC"), "the hover shows UTC: {utc:?}");
    }
    let expect = [
        ("all", "0", "bom-all.xlsx", 2),
        ("insert", "E00V00", "bom-errors.xlsx", 4),
        ("insert", "0", "bom-valid.xlsx", 3),
    ];
    for (row, (op, code, file, n)) in history.iter().zip(expect) {
        let [time, iface, env, operation, rows, status, code_cell, file_cell] = row;
        // In the browser's time zone; UTC on hover.
        assert!(time.ends_with(util::browser::BROWSER_UTC_OFFSET), "{row:?}");
        assert_eq!(iface, "t1/bom", "{row:?}");
        assert_eq!(env, "prod", "{row:?}");
        assert_eq!(operation, op, "{row:?}");
        assert_eq!(code_cell, code, "{row:?}");
        assert!(file_cell.contains(file), "{row:?}");
        assert!(!status.is_empty(), "{row:?}");
        // Rows sent, or applied: the same for the batches that landed.
        if code == "0" {
            assert_eq!(number_in(rows), n, "rows in {row:?}");
        } else {
            assert!([0, n].contains(&number_in(rows)), "rows in {row:?}");
        }
    }
    let links: Vec<String> = b
        .find_all("table#history tbody tr.batch a.result-link")
        .iter()
        .map(|a| a.property("href").as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        links,
        [third.url.as_str(), second.url.as_str(), first.url.as_str()],
        "each history row links to its result page, newest first"
    );
    b.screenshot(shots.join("history.png"));
    // On a phone the history fits the screen: each batch a card, nothing wider than the page.
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    );
    b.goto(&format!("{base}/batches"));
    let widths = b.execute(
        "const t = document.getElementById('history');
         return [Math.max(t.scrollWidth, document.documentElement.scrollWidth), window.innerWidth];",
        json!([]),
    );
    let (page_width, screen) = (
        widths[0].as_u64().unwrap_or(0),
        widths[1].as_u64().unwrap_or(0),
    );
    assert!(
        page_width <= screen,
        "the history is {page_width} px wide on a {screen} px phone"
    );
    b.screenshot(shots.join("history-phone.png"));
    b.cdp("Emulation.clearDeviceMetricsOverride", json!({}));
    b.goto(&format!("{base}/batches"));
    // The oldest row's link opens the first result again.
    b.find_all("table#history tbody tr.batch a.result-link")[2].click();
    let again = result_page(&b);
    assert_eq!(again.batch_id, first.batch_id);
    assert_eq!(again.code, "0");

    // --- a workbook with Chinese headers: matched by the fields' labels, but one header
    // ("供应商号") no field is known by; the page asks, the user picks the field, it applies
    let chinese = sheets.join("中文表头.xlsx");
    write_sheet_headed(
        &chinese,
        &[
            "供应商号",
            "供应商上层节点料号",
            "联想上层节点料号",
            "供应商下层节点料号",
            "联想下层节点料号",
            "在上层中使用的数量",
            "BOM 生效时间",
            "BOM 失效时间",
            "替代物料优先级",
            "在 BOM 下的百分比",
            "版本号",
        ],
        &[valid_row("CN1"), valid_row("CN2")],
    );
    b.goto(&format!("{base}/upload"));
    fill_upload(&b, "prod", "insert", &chinese);
    b.find("button#upload-submit").click();
    b.wait_for("form#columns");
    assert!(
        b.find("#missing").text().contains("vendor_code"),
        "{}",
        b.page_snippet()
    );
    assert_eq!(b.find("select#column-1").value(), "vendor_father_item");
    assert_eq!(b.find("select#column-0").value(), "");
    b.select_option("select#column-0", "vendor_code");
    b.screenshot(shots.join("columns.png"));
    b.find("button#columns-submit").click();
    let mapped = result_page(&b);
    assert_eq!(mapped.code, "0", "{}", b.page_snippet());
    let landed = export(&w, &partner, "t1/bom", None);
    for key in ["CN1", "CN2"] {
        assert!(
            landed
                .iter()
                .any(|r| r["vendor_father_item"] == key && r["vendor_code"] == "eee"),
            "{key} in {landed:?}"
        );
    }

    // --- a sheet with 3 bad cells, fixed in the grid (each edit checked by core) and sent
    let mut fix1 = valid_row("fix1");
    fix1[6] = s("2022-02-30");
    let mut fix2 = valid_row("fix2");
    fix2[5] = s("abc");
    let mut fix3 = valid_row("fix3");
    fix3[10] = s("2022x");
    let to_fix = sheets.join("bom-to-fix.xlsx");
    write_sheet(&to_fix, &[fix1, valid_row("fix0"), fix2, fix3]);
    b.goto(&format!("{base}/upload"));
    fill_upload(&b, "prod", "insert", &to_fix);
    b.find("button#upload-submit").click();
    let broken = result_page(&b);
    assert_eq!(broken.code, "E00V00", "{}", b.page_snippet());
    b.find("a#fix").click();
    b.wait_for("table#fix-table tbody tr");
    assert_eq!(b.find_all("table#fix-table tbody tr.failing").len(), 3);
    assert_eq!(b.find_all("table#fix-table td.bad").len(), 3);
    b.screenshot(shots.join("fix.png"));
    assert!(b
        .find("button#grid-submit")
        .property("disabled")
        .as_bool()
        .unwrap_or(false));
    let cell =
        |line: u32, field: &str| format!("input[data-line=\"{line}\"][data-field=\"{field}\"]");
    // A wrong fix first: core still refuses it, the hint stays.
    b.wait_for("#grid[data-pending=\"0\"]");
    b.find(&cell(2, "effective_start_date"))
        .send_keys("\u{E009}a\u{E000}2022/02/28\u{E004}");
    b.wait_for("#grid[data-pending=\"0\"]");
    assert!(
        b.find("table#fix-table td.bad small.hint")
            .text()
            .contains("yyyy-mm-dd"),
        "{}",
        b.page_snippet()
    );
    for (line, field, value) in [
        (2, "effective_start_date", "2022-02-28"),
        (4, "quantity_per", "12.5"),
        (5, "version", "20220915"),
    ] {
        b.find(&cell(line, field))
            .send_keys(&format!("\u{E009}a\u{E000}{value}\u{E004}"));
        b.wait_for(&format!("table#fix-table tr.passing {}", cell(line, field)));
    }
    b.wait_for("button#grid-submit:not([disabled])");
    b.find("button#grid-submit").click();
    b.wait_for("a#corrects");
    let fixed = result_page(&b);
    assert_eq!(fixed.code, "0", "{}", b.page_snippet());
    assert!(
        b.find("a#corrects")
            .attr("href")
            .unwrap_or_default()
            .ends_with(&broken.batch_id),
        "{}",
        b.page_snippet()
    );
    let landed = export(&w, &partner, "t1/bom", None);
    let row = |key: &str| {
        landed
            .iter()
            .find(|r| r["vendor_father_item"] == key)
            .unwrap_or_else(|| panic!("{key} in {landed:?}"))
    };
    assert_eq!(row("fix1")["effective_start_date"], "2022-02-28");
    assert_eq!(row("fix2")["quantity_per"], "12.5");
    assert_eq!(row("fix3")["version"], "20220915");
    assert_eq!(row("fix0")["quantity_per"], "10.1");

    // --- a scheduled upload: held, applied by hand from its page, then reverted (asked first)
    b.goto(&format!("{base}/upload"));
    fill_upload(&b, "prod", "update", &valid);
    b.find("input#when-at").click();
    b.execute(
        "const d = new Date(Date.now() + 3 * 3600 * 1000), p = n => String(n).padStart(2, '0');
         document.getElementById('execute-at').value =
           `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;",
        serde_json::json!([]),
    );
    b.find("button#upload-submit").click();
    let held = result_page(&b);
    assert_eq!(held.code, "0");
    assert!(
        b.find("#plan-execute").text().contains("idle"),
        "{}",
        b.page_snippet()
    );
    // The planned time in the browser's time zone (the test runs in UTC+08:00), UTC on hover.
    let planned = b.find("#plan-execute time.moment");
    assert!(planned.text().ends_with("UTC+08:00"), "{}", planned.text());
    assert!(
        planned.attr("title").unwrap_or_default().ends_with(" UTC"),
        "{:?}",
        planned.attr("title")
    );
    assert!(
        b.find("#headline").text().starts_with("Scheduled"),
        "{}",
        b.page_snippet()
    );
    // Applied early from the history page's button; its result page opens.
    b.goto(&format!("{base}/batches"));
    b.find("table#history tbody tr.batch button.act-execute")
        .click();
    b.wait_for_url_contains(&held.batch_id);
    b.wait_for("button.act-revert");
    assert!(
        b.find("#plan-execute").text().contains("finished"),
        "{}",
        b.page_snippet()
    );
    b.find("button.act-revert").click();
    assert!(b.accept_alert().contains("Revert this batch now?"));
    b.wait_gone("button.act-revert");
    assert!(
        b.find("#headline").text().contains("then reverted"),
        "{}",
        b.page_snippet()
    );
    b.goto(&format!("{base}/batches"));
    let newest = b.find("table#history tbody tr.batch td.plan").text();
    assert!(
        newest.contains("revert") && newest.contains("finished"),
        "{newest}"
    );

    // --- check only, then apply: the check applies nothing; "Apply now" applies the checked
    // sheet without a second upload
    let before = keys(&export(&w, &partner, "t1/bom", None));
    let checked = sheets.join("bom-check.xlsx");
    write_sheet(&checked, &[valid_row("chk1"), valid_row("chk2")]);
    b.goto(&format!("{base}/upload"));
    fill_upload(&b, "prod", "insert", &checked);
    b.find("input#check-only").click();
    assert_eq!(
        b.find("button#upload-submit").text().trim(),
        "Upload and check"
    );
    b.find("button#upload-submit").click();
    let check = result_page(&b);
    assert_eq!(check.code, "0", "{}", b.page_snippet());
    assert_eq!(b.find("#status").text().trim(), "checked — nothing applied");
    assert!(
        b.find("#headline")
            .text()
            .starts_with("Checked: all 2 rows pass, nothing was applied."),
        "{}",
        b.page_snippet()
    );
    assert_eq!(number_in(&b.find("#rows-applied").text()), 0);
    assert_eq!(b.find("button.act-cancel").text().trim(), "Discard");
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        before,
        "a check applies nothing"
    );
    b.screenshot(shots.join("checked.png"));
    // The partner API's batch view says the same: held, checked, no execute time.
    let token = util::http::client_token(&w.http_url(), &partner);
    let view = util::http::request(
        "GET",
        &format!(
            "{}/v1.0/scc/data/sync/t1/bom/batches/{}",
            w.http_url(),
            check.batch_id
        ),
        &util::http::Auth::Bearer(&token),
        None,
        &[],
    )
    .json()["result"]
        .clone();
    assert_eq!(
        (
            &view["state"],
            &view["checkOnly"],
            &view["executeStatus"],
            &view["executeTs"]
        ),
        (&json!("held"), &json!(true), &json!("idle"), &json!("")),
        "{view}"
    );
    let apply = b.find("button.act-execute");
    assert_eq!(apply.text().trim(), "Apply now");
    apply.click();
    b.wait_for("button.act-revert");
    assert_eq!(b.find("#status").text().trim(), "applied");
    assert_eq!(
        b.find("#headline").text().trim(),
        "All 2 rows were applied."
    );
    assert!(b.current_url().ends_with(&check.batch_id));
    let mut after = before.clone();
    after.extend(["chk1".to_string(), "chk2".to_string()]);
    after.sort();
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        after,
        "the checked sheet landed"
    );

    // --- 中文: the switcher in the header turns every page Chinese (the script's words too)
    // and back; the choice is kept from page to page.
    b.goto(&format!("{base}/upload"));
    b.find("a#lang-zh").click();
    b.wait_for("html[lang=\"zh-CN\"] form#upload");
    assert!(
        b.current_url().ends_with("/upload"),
        "back on the same page"
    );
    assert_eq!(b.find("h1").text().trim(), "上传表格");
    let zh = sheets.join("bom-zh.xlsx");
    write_sheet(&zh, &[valid_row("zh1")]);
    fill_upload(&b, "uat", "insert", &zh);
    b.find("input#check-only").click();
    assert_eq!(b.find("button#upload-submit").text().trim(), "上传并校验");
    b.screenshot(shots.join("upload-zh.png"));
    b.find("input#check-only").click();
    b.find("a#nav-history").click();
    b.wait_for("html[lang=\"zh-CN\"] table#history");
    b.find("a#lang-en").click();
    b.wait_for("html[lang=\"en\"] table#history");

    // --- log out: the login page, and the pages are closed again
    b.find("button#logout").click();
    b.wait_for("form#login");
    b.goto(&format!("{base}/upload"));
    b.wait_for_url_contains("/login");
    b.wait_for("form#login");

    eprintln!(
        "upload_page_in_a_browser: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
