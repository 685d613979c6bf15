//! More end to end over FTP: the upload size limit, XLSX sheets, unreadable content, and the
//! split deployment (`wharf core`, `wharf gateway` and `wharf ftp` as separate processes),
//! against the embedded SQLite store and a real PostgreSQL. One installation per test.

mod util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
use serde_json::Value;
use util::data::{bom_row, envelope, expect_code, export, keys, problem, problems, BOM_FIELDS};
use util::ftp::{bom_dir, deliver, login, names, put, reply_code};
use util::http::{client_token, curl};
use util::{add_partner_and_user, free_port, installation, upload, Backend, Wharf, TOKEN};

// ---------------------------------------------------------------------------------------------
// answers

/// An unreadable body: E00V00 with exactly one problem, `invalid type` on `body`, and a `msg`
/// that says what is wrong (contains `why`, case-insensitively).
#[track_caller]
fn expect_unreadable(what: &str, answer: &Value, why: &str) {
    assert_eq!(answer["code"], "E00V00", "{what}: {answer}");
    assert_eq!(
        problems(answer),
        [problem(None, "invalid type", "body")],
        "{what}: {answer}"
    );
    let msg = answer["msg"].as_str().expect("msg").to_lowercase();
    assert!(
        msg.contains(&why.to_lowercase()),
        "{what}: msg names the problem ({why:?}): {answer}"
    );
}

// ---------------------------------------------------------------------------------------------
// curl

/// One HTTP request: (status, body parsed as JSON).
fn http(args: &[&str], stdin: Option<&[u8]>) -> (u16, Value) {
    let args = [&["-w", "\n%{http_code}"][..], args].concat();
    let out = curl(&args, stdin);
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let (body, status) = text.rsplit_once('\n').expect("the status from -w");
    let status = status.parse().expect("an HTTP status");
    let body = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("HTTP {status}: the body is not JSON ({e}): {body}"));
    (status, body)
}

/// POST a JSON batch to t1/bom with a bearer token: (status, body).
fn post_bom(base: &str, token: &str, body: &str) -> (u16, Value) {
    http(
        &[
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            &format!("{base}/v1.0/scc/data/sync/t1/bom"),
        ],
        Some(body.as_bytes()),
    )
}

// ---------------------------------------------------------------------------------------------
// scenarios

/// With WHARF_FTP_MAX_FILE_BYTES=2000 a 5,000-byte upload is refused by an FTP error reply,
/// leaves no feedback and no data; a small file under the same name is then accepted.
fn size_limit(backend: Backend) {
    let mut w = Wharf::new(backend);
    w.extra_env = vec![("WHARF_FTP_MAX_FILE_BYTES".into(), "2000".into())];
    let (partner, user) = add_partner_and_user(&w);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let name = "bom_insert_20221001003000_1.json";

    // A valid envelope, padded with trailing whitespace (still valid JSON) to 5,000 bytes.
    let mut big = envelope("BIG", 2, "1", vec![bom_row("big1"), bom_row("big2")]);
    assert!(big.len() < 5000);
    big.push_str(&" ".repeat(5000 - big.len()));
    assert_eq!(big.len(), 5000);

    let mut ftp = login(&w, &user);
    let code = reply_code(put(&mut ftp, &format!("{dir}/{name}"), big.as_bytes()));
    assert!(
        (400..600).contains(&code),
        "a file over the limit is refused with an FTP error reply, got {code}"
    );
    assert!(
        names(&mut ftp, &format!("{dir}/feedback")).is_empty(),
        "no feedback for a refused file"
    );
    assert_eq!(names(&mut ftp, &dir), ["feedback"]);
    assert!(
        export(&w, &partner, "t1/bom", None).is_empty(),
        "nothing of it was read"
    );

    // The same session goes on; the refused name was never delivered, so it is new.
    let small = envelope("SMALL", 1, "1", vec![bom_row("small")]);
    assert!(small.len() < 2000);
    let fb = deliver(&mut ftp, &dir, name, small.as_bytes());
    expect_code(&fb, "0");
    assert_eq!(
        names(&mut ftp, &format!("{dir}/feedback")),
        [format!("{name}.result.json")]
    );
    assert_eq!(keys(&export(&w, &partner, "t1/bom", None)), ["small"]);
    let _ = ftp.quit();
}

/// An .xlsx workbook whose header row names the t1/bom fields.
fn bom_workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet();
    for (c, name) in BOM_FIELDS.iter().enumerate() {
        ws.write_string(0, c as u16, *name).unwrap();
    }
    let day = ExcelDateTime::from_ymd(2022, 9, 14).unwrap();
    let end = ExcelDateTime::from_ymd(2023, 1, 31).unwrap();
    for (r, key) in [(1u32, "x1"), (2, "x2")] {
        ws.write_string(r, 0, "eee").unwrap();
        ws.write_string(r, 1, key).unwrap();
        ws.write_string(r, 2, "213").unwrap();
        ws.write_string(r, 3, "eee").unwrap();
        ws.write_string(r, 4, "123").unwrap();
        ws.write_number(r, 5, 10.1).unwrap();
        ws.write_date_with_format(r, 6, &day, &date).unwrap();
        ws.write_date_with_format(r, 7, &end, &date).unwrap();
        ws.write_string(r, 8, "N/A").unwrap();
        ws.write_number(r, 9, 0.28).unwrap();
        ws.write_string(r, 10, "20220914").unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// An .xlsx upload is one batch: numbers and real dates become the values a partner sees in
/// Excel; a file that is no workbook is answered E00V00 on `body`.
fn xlsx_upload(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);

    let mut ftp = login(&w, &user);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_5.xlsx",
        &bom_workbook(),
    );
    expect_code(&fb, "0");
    assert!(fb.get("result").is_none(), "no result on success: {fb}");
    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(keys(&rows), ["x1", "x2"]);
    for row in &rows {
        assert_eq!(row["quantity_per"], "10.1", "{row}");
        assert_eq!(row["split"], "0.28", "{row}");
        assert_eq!(row["effective_start_date"], "2022-09-14", "{row}");
        assert_eq!(row["effective_end_date"], "2023-01-31", "{row}");
        assert_eq!(row["priority"], "N/A", "{row}");
        assert_eq!(row["version"], "20220914", "{row}");
        assert_eq!(row["vendor_code"], "eee", "{row}");
        assert_eq!(row["father_item"], "213", "{row}");
        assert_eq!(row["child_item"], "123", "{row}");
    }

    // Random bytes named .xlsx.
    let garbage: Vec<u8> = (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let fb = deliver(&mut ftp, &dir, "bom_insert_20221001003000_6.xlsx", &garbage);
    expect_unreadable("random bytes as .xlsx", &fb, "xlsx");
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["x1", "x2"],
        "nothing added"
    );
    let _ = ftp.quit();
}

/// Content that is no envelope at all: E00V00 on `body`, nothing imported.
fn unreadable_content(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);

    let mut ftp = login(&w, &user);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_7.json",
        b"{not json",
    );
    expect_unreadable("{not json", &fb, "json");

    for (name, why) in [
        ("bom_insert_20221001003000_8.json", "json"),
        ("bom_insert_20221001003000_9", "json"),
        ("bom_insert_20221001003000_10.xlsx", "empty"),
        ("bom_insert_20221001003000_11.csv", "empty"),
    ] {
        let fb = deliver(&mut ftp, &dir, name, b"");
        expect_unreadable(&format!("an empty {name}"), &fb, why);
    }
    assert_eq!(names(&mut ftp, &format!("{dir}/feedback")).len(), 5);
    assert!(
        export(&w, &partner, "t1/bom", None).is_empty(),
        "nothing imported"
    );

    // The folder still works.
    let body = envelope("AFTER", 1, "1", vec![bom_row("ok")]);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_12.json",
        body.as_bytes(),
    );
    expect_code(&fb, "0");
    assert_eq!(keys(&export(&w, &partner, "t1/bom", None)), ["ok"]);
    let _ = ftp.quit();
}

/// `wharf core`, `wharf gateway`, `wharf ftp` and two `wharf upload` as separate processes:
/// every door reaches the one core, and the upload pages share sessions through it; a
/// front-end with the wrong internal token is refused by core; a front-end without
/// WHARF_CORE_URL does not start.
fn split_deployment(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let core_url = ("WHARF_CORE_URL", w.grpc_url());

    let mut core = w.start_core();
    let mut gateway = w.start_front_end("gateway");
    let mut ftp_server = w.start_front_end("ftp");
    let base = w.http_url();

    // HTTP: a bearer token, then a batch.
    let token = client_token(&base, &partner);
    let (status, body) = post_bom(
        &base,
        &token,
        &envelope("SPLIT-HTTP", 1, "1", vec![bom_row("via-http")]),
    );
    assert_eq!(status, 200, "{body}");
    expect_code(&body, "0");

    // FTP.
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_1.json",
        envelope("SPLIT-FTP", 1, "1", vec![bom_row("via-ftp")]).as_bytes(),
    );
    expect_code(&fb, "0");
    let _ = ftp.quit();

    // Two upload pages: a login on one is a session on the other (sessions live in core),
    // and a logout on either ends it on both.
    let (one, two) = (w.upload_port, free_port());
    let mut upload_one = w.start_front_end("upload");
    let mut upload_two = w.start(
        &["upload"],
        &[
            core_url.clone(),
            ("WHARF_UPLOAD_ADDR", format!("127.0.0.1:{two}")),
        ],
        two,
    );
    let (base_one, base_two) = (
        format!("http://127.0.0.1:{one}"),
        format!("http://127.0.0.1:{two}"),
    );
    let jar = w.data_dir.join("split.cookies");
    upload::login(&base_one, &jar, &user);
    let sheet = w.data_dir.join("split.csv");
    let row = bom_row("via-upload");
    let header: Vec<&str> = BOM_FIELDS
        .iter()
        .copied()
        .filter(|f| row.get(f).is_some())
        .collect();
    let cells: Vec<String> = header
        .iter()
        .map(|f| row[*f].as_str().unwrap_or_default().to_string())
        .collect();
    std::fs::write(
        &sheet,
        format!("{}\n{}\n", header.join(","), cells.join(",")),
    )
    .expect("sheet");
    let result = upload::send(&base_two, &jar, "t1/bom", "prod", "insert", &sheet);
    assert!(result.starts_with(&base_two), "{result}");
    let result = upload::page(&jar, &result);
    assert_eq!(upload::by_id(&result, "result-code"), "0", "{result}");
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["via-ftp", "via-http", "via-upload"]
    );
    let history = upload::page(&jar, &format!("{base_one}/batches"));
    assert!(history.contains(">split.csv<"), "{history}");
    let stolen = w.data_dir.join("split-copy.cookies");
    std::fs::copy(&jar, &stolen).expect("a copy of the session cookie");
    let logout_form = upload::page(&jar, &format!("{base_two}/upload"));
    upload::curl_jar(
        &jar,
        &[
            "-o",
            "/dev/null",
            "--data-urlencode",
            &format!("csrf={}", upload::csrf(&logout_form)),
            &format!("{base_two}/logout"),
        ],
    );
    let after = upload::curl_jar(
        &stolen,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("{base_one}/upload"),
        ],
    );
    assert!(
        after.starts_with("303 ") && after.ends_with("/login"),
        "{after}"
    );
    upload_one.stop("an upload page");
    upload_two.stop("the other upload page");

    // A gateway with the wrong internal token: core refuses it, the partner sees -1 (500).
    let wrong_port = free_port();
    let mut wrong = w.start(
        &["gateway"],
        &[
            core_url.clone(),
            ("WHARF_HTTP_ADDR", format!("127.0.0.1:{wrong_port}")),
            (
                "WHARF_INTERNAL_TOKEN",
                "not-the-internal-token-42".to_string(),
            ),
        ],
        wrong_port,
    );
    assert_ne!(TOKEN, "not-the-internal-token-42");
    let (status, body) = post_bom(
        &format!("http://127.0.0.1:{wrong_port}"),
        &token,
        &envelope("SPLIT-WRONG", 1, "1", vec![bom_row("wrong")]),
    );
    let wrong_token_answer = (status, body.clone());
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["via-ftp", "via-http", "via-upload"],
        "nothing through a gateway core refused"
    );

    // A gateway without WHARF_CORE_URL does not start, and says why.
    let mut cmd = w.command(&["gateway"]);
    cmd.env("WHARF_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env_remove("WHARF_CORE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn wharf gateway");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wharf gateway without WHARF_CORE_URL still runs after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait wharf gateway");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "wharf gateway without WHARF_CORE_URL fails: {stderr}"
    );
    assert!(
        stderr.contains("WHARF_CORE_URL"),
        "the error names WHARF_CORE_URL: {stderr}"
    );

    // Front-ends first, then core; each exits cleanly.
    wrong.stop("wharf gateway (wrong token)");
    gateway.stop("wharf gateway");
    ftp_server.stop("wharf ftp");
    core.stop("wharf core");

    // Checked last so that a failure here still lets the checks above run.
    let (status, body) = wrong_token_answer;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("-1")),
        "a gateway that core refuses (wrong internal token) answers 500 / -1: {body}"
    );
}

// ---------------------------------------------------------------------------------------------
// tests

#[test]
fn size_limit_sqlite() {
    size_limit(Backend::Sqlite);
}

#[test]
fn size_limit_postgres() {
    size_limit(Backend::Postgres);
}

#[test]
fn xlsx_upload_sqlite() {
    xlsx_upload(Backend::Sqlite);
}

#[test]
fn xlsx_upload_postgres() {
    xlsx_upload(Backend::Postgres);
}

#[test]
fn unreadable_content_sqlite() {
    unreadable_content(Backend::Sqlite);
}

#[test]
fn unreadable_content_postgres() {
    unreadable_content(Backend::Postgres);
}

#[test]
fn split_deployment_sqlite() {
    split_deployment(Backend::Sqlite);
}

#[test]
fn split_deployment_postgres() {
    split_deployment(Backend::Postgres);
}

/// The address a PASV answer names, as "a,b,c,d".
fn pasv_address(ftp: &mut suppaftp::FtpStream) -> String {
    let r = ftp
        .custom_command("PASV", &[suppaftp::Status::PassiveMode])
        .expect("PASV");
    let text = String::from_utf8_lossy(&r.body).to_string();
    let inside = text
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside.to_string())
        .unwrap_or_else(|| panic!("a 227 answer with (h1,h2,h3,h4,p1,p2): {text}"));
    inside.splitn(5, ',').take(4).collect::<Vec<_>>().join(",")
}

/// Behind NAT or a load balancer the server must name its public address in PASV answers,
/// not the one the control connection reached: WHARF_FTP_PASSIVE_HOST sets it, as an IPv4
/// address or a DNS name (resolved when asked; a delivery through it works end to end).
#[test]
fn the_passive_host_is_what_pasv_advertises() {
    let (mut w, partner, user) = installation(Backend::Sqlite);
    {
        let _server = w.serve();
        let mut ftp = login(&w, &user);
        assert_eq!(
            pasv_address(&mut ftp),
            "127,0,0,1",
            "by default: the control connection's"
        );
        let _ = ftp.quit();
    }
    w.extra_env
        .push(("WHARF_FTP_PASSIVE_HOST".into(), "203.0.113.7".into()));
    {
        let _server = w.serve();
        let mut ftp = login(&w, &user);
        assert_eq!(pasv_address(&mut ftp), "203,0,113,7");
        let _ = ftp.quit();
    }
    w.extra_env.pop();
    w.extra_env
        .push(("WHARF_FTP_PASSIVE_HOST".into(), "localhost".into()));
    let _server = w.serve();
    let mut ftp = login(&w, &user);
    assert_eq!(pasv_address(&mut ftp), "127,0,0,1");
    let body = envelope("pasv-host-1", 1, "1", vec![bom_row("P-1")]);
    let answer = deliver(
        &mut ftp,
        &bom_dir(&partner),
        "bom_insert_20260101000000_1.json",
        body.as_bytes(),
    );
    expect_code(&answer, "0");
    let _ = ftp.quit();
    // A value PASV cannot carry stops start-up, naming the variable.
    w.extra_env.pop();
    w.extra_env
        .push(("WHARF_FTP_PASSIVE_HOST".into(), "2001:db8::1".into()));
    let out = w.run(&["serve"], "");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHARF_FTP_PASSIVE_HOST"));
}
