//! Operations end to end (SPEC §7.3), against the real binary: readiness follows the store
//! (a private PostgreSQL stopped and started again), `/metrics` counts exactly what the doors
//! pushed, and SIGTERM lets in-flight HTTP requests and FTP uploads finish before exit 0.

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::data::{bom_row, bom_row_with, envelope, export};
use util::ftp::{bom_dir, deliver, login};
use util::http::{client_token, request, send, Auth, Reply};
use util::pgcluster::PgCluster;
use util::upload;
use util::{
    add_partner_and_user, free_port, installation, Backend, Server, Wharf, PASSWORD, SECRET, TOKEN,
};

const BOM: &str = "/v1.0/scc/data/sync/t1/bom";

fn get(url: &str) -> Reply {
    request("GET", url, &Auth::None, None, &[])
}

/// Poll `url` until it answers `status`, at most `limit`; the last answer on failure.
#[track_caller]
fn wait_for_status(url: &str, status: u16, limit: Duration) -> Reply {
    let deadline = Instant::now() + limit;
    loop {
        let r = get(url);
        if r.status == status {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer {status} within {} s; last answer: {r:?}",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// readiness

/// `/readyz` on core's admin listener, the gateway and FTP's admin listener goes 503 when
/// PostgreSQL stops and 200 again when it is back; `/healthz` stays 200 throughout, and a
/// scrape does not hang on the dead store.
#[test]
fn readyz_follows_postgresql() {
    let pg = PgCluster::start();
    let mut w = Wharf::new(Backend::Sqlite);
    w.database_url = Some(pg.url());
    let ftp_admin = free_port();
    let core_url = ("WHARF_CORE_URL", w.grpc_url());
    let core_admin = ("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", w.admin_port));
    let mut core: Server = w.start(&["core"], &[core_admin], w.grpc_port);
    let mut gateway = w.start_front_end("gateway");
    let mut ftp = w.start(
        &["ftp"],
        &[
            core_url.clone(),
            ("WHARF_ADMIN_ADDR", format!("127.0.0.1:{ftp_admin}")),
        ],
        w.ftp_port,
    );
    let core_ready = format!("{}/readyz", w.admin_url());
    let gateway_ready = format!("{}/readyz", w.http_url());
    let ftp_ready = format!("http://127.0.0.1:{ftp_admin}/readyz");
    let healthz = [
        format!("{}/healthz", w.admin_url()),
        format!("{}/healthz", w.http_url()),
        format!("http://127.0.0.1:{ftp_admin}/healthz"),
    ];
    let limit = Duration::from_secs(30);

    let r = wait_for_status(&core_ready, 200, limit);
    assert_eq!(r.body, "ready\n");
    let r = wait_for_status(&gateway_ready, 200, limit);
    assert_eq!(r.json(), json!({ "status": "ready" }));
    let r = wait_for_status(&ftp_ready, 200, limit);
    assert_eq!(r.body, "ready\n");

    pg.stop();
    let r = wait_for_status(&core_ready, 503, limit);
    assert_eq!(r.body, "not ready: store unreachable\n");
    let r = wait_for_status(&gateway_ready, 503, limit);
    assert_eq!(
        r.json(),
        json!({ "status": "unavailable", "reason": "core not ready: store unreachable" })
    );
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    let r = wait_for_status(&ftp_ready, 503, limit);
    assert_eq!(r.body, "not ready: core not ready: store unreachable\n");
    for url in &healthz {
        assert_eq!(get(url).status, 200, "{url} while PostgreSQL is down");
    }
    let started = Instant::now();
    let m = get(&format!("{}/metrics", w.admin_url()));
    assert_eq!(m.status, 200, "{m:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a scrape is bounded"
    );
    assert!(
        m.body.lines().any(|l| l == "wharf_store_up 0"),
        "{}",
        m.body
    );
    assert!(!m.body.contains("wharf_batches{"), "{}", m.body);

    pg.resume();
    for url in [&core_ready, &gateway_ready, &ftp_ready] {
        wait_for_status(url, 200, Duration::from_secs(60));
    }
    let m = get(&format!("{}/metrics", w.admin_url()));
    assert!(
        m.body.lines().any(|l| l == "wharf_store_up 1"),
        "{}",
        m.body
    );

    // Each component alone stops cleanly on SIGTERM, its admin listener too.
    for (name, server) in [
        ("ftp", &mut ftp),
        ("gateway", &mut gateway),
        ("core", &mut core),
    ] {
        server.stop(&format!("wharf {name}"));
    }
}

/// A front-end whose core is not there is alive but not ready.
#[test]
fn a_front_end_without_core_is_not_ready() {
    let w = Wharf::new(Backend::Sqlite);
    let nowhere = (
        "WHARF_CORE_URL",
        format!("http://127.0.0.1:{}", free_port()),
    );
    let _gateway = w.start(&["gateway"], std::slice::from_ref(&nowhere), w.http_port);
    let _upload = w.start(&["upload"], std::slice::from_ref(&nowhere), w.upload_port);
    assert_eq!(get(&format!("{}/healthz", w.http_url())).status, 200);
    let r = get(&format!("{}/readyz", w.http_url()));
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.json(),
        json!({ "status": "unavailable", "reason": "core unreachable" })
    );
    let r = get(&format!("{}/readyz", w.upload_url()));
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.body, "not ready: core unreachable\n");
}

// ---------------------------------------------------------------------------------------------
// metrics

/// A scrape of `admin_url`: every sample line, `name{labels}` → value. The text must parse
/// with the Prometheus project's own parser (Python's `prometheus_client`, installed by
/// scripts/test).
fn scrape_at(admin_url: &str) -> BTreeMap<String, f64> {
    let r = get(&format!("{admin_url}/metrics"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    prometheus_parses(&r.body);
    r.body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("`series value`");
            let value = value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not a number: {l}"));
            (series.to_string(), value)
        })
        .collect()
}

fn scrape(w: &Wharf) -> BTreeMap<String, f64> {
    scrape_at(&w.admin_url())
}

/// The scrape through `prometheus_client.parser.text_string_to_metric_families`: it must
/// parse, and every family wharf documents must be there with its type.
fn prometheus_parses(text: &str) {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
types = {f.name: f.type for f in text_string_to_metric_families(sys.stdin.read())}
for name, kind in [a.split(":") for a in sys.argv[1:]]:
    if types.get(name) != kind:
        sys.exit(f"{name}: want {kind}, got {types.get(name)}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .args([
            "wharf_build_info:gauge",
            "process_resident_memory_bytes:gauge",
            "process_open_fds:gauge",
            "process_cpu_seconds:counter",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the scrape");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "the scrape does not parse as Prometheus text (is prometheus_client installed? \
         scripts/test installs it): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every label of every series, (name, value).
fn labels(series: &str) -> Vec<(String, String)> {
    let Some((_, rest)) = series.split_once('{') else {
        return Vec::new();
    };
    rest.trim_end_matches('}')
        .split("\",")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

/// A one-row t1/bom CSV at `path`.
fn bom_sheet(path: &std::path::Path, key: &str) {
    let row = bom_row(key);
    let row = row.as_object().expect("a row");
    let header: Vec<&str> = row.keys().map(String::as_str).collect();
    let cells: Vec<&str> = row.values().map(|v| v.as_str().unwrap_or("")).collect();
    std::fs::write(path, format!("{}\n{}\n", header.join(","), cells.join(","))).expect("sheet");
}

/// Every counter moves by exactly what a known mix of requests on every door did: core's
/// sequences by door and code, HTTP requests by route template and status (good, 401, 404,
/// 413, 429), logins by door and outcome, FTP sessions, transfers, bytes and replies, page
/// uploads. No label carries a path, a batch id, a partner, a user or a secret.
fn metrics_count_what_the_doors_did(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let before = scrape(&w);

    // The HTTP API: one batch of 3 rows in two sequences (0, 0), its first sequence again
    // (E00A00), and a sequence with a bad date (E00V00).
    let url = format!("{}{BOM}", w.http_url());
    let auth = Auth::Basic(&user, PASSWORD);
    let batch = util::unique("M");
    let first = envelope(&batch, 3, "1", vec![bom_row("m1"), bom_row("m2")]);
    send("POST", &url, &auth, &first).expect(200, "0");
    let second = envelope(&batch, 3, "2", vec![bom_row("m3")]);
    send("POST", &url, &auth, &second).expect(200, "0");
    send("POST", &url, &auth, &first).expect(200, "E00A00");
    let bad_batch = util::unique("X");
    let bad = envelope(
        &bad_batch,
        2,
        "1",
        vec![
            bom_row("m4"),
            bom_row_with("m5", &[("effective_start_date", "2022-02-30")]),
        ],
    );
    send("POST", &url, &auth, &bad).expect(200, "E00V00");
    // 401: a wrong password; 404: no such path; 413: a body over 1 MiB (after a good login).
    let wrong = Auth::Basic(&user, "not-the-password");
    assert_eq!(send("POST", &url, &wrong, &first).status, 401);
    let nowhere = format!("{}/v1.0/scc/data/sync/t1/bom/extra/{batch}", w.http_url());
    assert_eq!(get(&nowhere).status, 404);
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(1100 * 1024));
    assert_eq!(send("POST", &url, &auth, &huge).status, 413);
    // 429: an unknown name guessed at past the defender's threshold (an unknown name scores
    // 2, the threshold is 15: at most 8 wrong, then refused unchecked).
    let ghost = util::unique("ghost");
    let guess = Auth::Basic(&ghost, "guess");
    let mut guessed = 0;
    loop {
        match send("POST", &url, &guess, &first).status {
            401 => guessed += 1,
            429 => break,
            other => panic!("a guess answered {other}"),
        }
        assert!(guessed <= 8, "no ban after {guessed} unknown-name guesses");
    }
    let guessed = f64::from(guessed);
    // The guesses banned this address too: lifted, as an operator would, for the doors below.
    w.ok(&["user", "unlock", "--address", "127.0.0.1"], "");

    // FTP: a file of 2 rows (0), then the same file name again (E00A00, its 2 rows sent
    // again), its feedback fetched; and a login with a wrong password.
    let ftp_batch = util::unique("F");
    let file = envelope(&ftp_batch, 2, "1", vec![bom_row("f1"), bom_row("f2")]);
    let mut ftp = login(&w, &user);
    let dir = bom_dir(&partner);
    let name = "bom_insert_20221001003000_001.json";
    let fb = deliver(&mut ftp, &dir, name, file.as_bytes());
    assert_eq!(fb["code"], "0", "{fb}");
    let fb = deliver(&mut ftp, &dir, name, file.as_bytes());
    assert_eq!(fb["code"], "E00A00", "{fb}");
    let _ = ftp.quit();
    let mut bad_ftp = util::ftp::connect(&w);
    assert!(bad_ftp.login(user.as_str(), "not-the-password").is_err());
    let _ = bad_ftp.quit();

    // The upload page: a login and a one-row sheet.
    let jar = w.data_dir.join("metrics.cookies");
    let sheet = w.data_dir.join("metrics.csv");
    bom_sheet(&sheet, "u1");
    upload::login(&w.upload_url(), &jar, &user);
    upload::send(&w.upload_url(), &jar, "t1/bom", "prod", "insert", &sheet);

    // FTP sessions end after their QUIT: give the last one a moment to be counted down.
    std::thread::sleep(Duration::from_millis(300));
    let after = scrape(&w);
    let moved = |series: &str| delta(&before, &after, series);
    let want = [
        ("api", "0", 2.0, 3.0),
        ("api", "E00A00", 1.0, 2.0),
        ("api", "E00V00", 1.0, 2.0),
        ("ftp", "0", 1.0, 2.0),
        ("ftp", "E00A00", 1.0, 2.0),
        ("upload", "0", 1.0, 1.0),
    ];
    for (door, code, sequences, rows) in want {
        let labels = format!("{{door=\"{door}\",code=\"{code}\"}}");
        assert_eq!(
            moved(&format!("wharf_sequences_total{labels}")),
            sequences,
            "{labels}"
        );
        assert_eq!(
            moved(&format!("wharf_rows_total{labels}")),
            rows,
            "rows {labels}"
        );
    }
    // Nothing else moved: the other series' deltas are zero.
    let others: Vec<&String> = after
        .keys()
        .filter(|s| s.starts_with("wharf_sequences_total") || s.starts_with("wharf_rows_total"))
        .filter(|s| moved(s) != 0.0)
        .collect();
    assert_eq!(others.len(), 2 * want.len(), "{others:?}");
    for (door, n) in [("api", 4.0), ("ftp", 2.0), ("upload", 1.0)] {
        let count = format!("wharf_sequence_duration_seconds_count{{door=\"{door}\"}}");
        assert_eq!(moved(&count), n, "{count}");
        let inf = format!("wharf_sequence_duration_seconds_bucket{{door=\"{door}\",le=\"+Inf\"}}");
        assert_eq!(moved(&inf), n, "{inf}");
    }

    // HTTP requests by route template and status.
    let sync = "/v1.0/scc/data/sync/{data_category}/{biz_key}";
    let http = |door: &str, route: &str, method: &str, status: u16| {
        moved(&format!(
            "wharf_http_requests_total{{door=\"{door}\",route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(http("api", sync, "POST", 200), 4.0);
    assert_eq!(http("api", sync, "POST", 401), 1.0 + guessed);
    assert_eq!(http("api", sync, "POST", 413), 1.0);
    assert_eq!(http("api", sync, "POST", 429), 1.0);
    assert_eq!(http("api", "unmatched", "GET", 404), 1.0);
    assert_eq!(http("upload", "/login", "POST", 303), 1.0);
    assert_eq!(http("upload", "/upload", "POST", 303), 1.0);
    let api_requests: f64 = after
        .keys()
        .filter(|s| s.starts_with("wharf_http_requests_total{door=\"api\""))
        .map(|s| moved(s))
        .sum();
    assert_eq!(
        api_requests,
        8.0 + guessed,
        "every API request counted once"
    );
    assert_eq!(
        moved(&format!(
            "wharf_http_request_duration_seconds_count{{door=\"api\",route=\"{sync}\",method=\"POST\"}}"
        )),
        7.0 + guessed
    );
    assert_eq!(moved("wharf_bodies_too_large_total{door=\"api\"}"), 1.0);

    // Logins by door and outcome: every Basic call is a login.
    let logins = |door: &str, outcome: &str| {
        moved(&format!(
            "wharf_logins_total{{door=\"{door}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(logins("api", "success"), 5.0);
    assert_eq!(logins("api", "refused"), 1.0 + guessed);
    assert_eq!(logins("api", "locked"), 1.0);
    assert_eq!(logins("ftp", "success"), 1.0);
    assert_eq!(logins("ftp", "refused"), 1.0);
    assert_eq!(logins("upload", "success"), 1.0);

    // FTP: one session logged in and ended, two uploads, two feedback downloads.
    assert_eq!(moved("wharf_ftp_sessions_total"), 1.0);
    assert_eq!(after.get("wharf_ftp_sessions_active"), Some(&0.0));
    assert_eq!(
        moved("wharf_ftp_transfers_total{direction=\"upload\",outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(
        moved("wharf_ftp_transfer_bytes_total{direction=\"upload\"}"),
        2.0 * file.len() as f64
    );
    assert_eq!(
        moved("wharf_ftp_transfers_total{direction=\"download\",outcome=\"ok\"}"),
        2.0
    );
    // 230 for the login, 226 for each upload and download; 530 for the wrong password.
    assert_eq!(moved("wharf_ftp_replies_total{class=\"2xx\"}"), 5.0);
    assert_eq!(moved("wharf_ftp_replies_total{class=\"5xx\"}"), 1.0);
    assert_eq!(moved("wharf_upload_files_total{outcome=\"ok\"}"), 1.0);

    let applied = moved("wharf_batches{state=\"applied\"}");
    match backend {
        // The installation's own store: the API batch, the FTP file and the sheet.
        Backend::Sqlite => assert_eq!(applied, 3.0),
        // Shared with the tests running beside this one: at least those.
        Backend::Postgres => assert!(applied >= 3.0, "{applied}"),
    }
    assert_eq!(after.get("wharf_store_up"), Some(&1.0));
    assert_eq!(
        after.get(&format!(
            "wharf_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        Some(&1.0)
    );

    // Low cardinality: every label value is from a closed set, and nothing of the caller's
    // shows anywhere in the scrape.
    for series in after.keys() {
        for (k, v) in labels(series) {
            let allowed = match k.as_str() {
                "door" => ["api", "ftp", "upload"].contains(&v.as_str()),
                "code" => v == "error" || v == "0" || v == "-1" || v.starts_with("E00"),
                "le" => v == "+Inf" || v.parse::<f64>().is_ok(),
                "state" => v.chars().all(|c| c.is_ascii_lowercase()),
                "route" => v == "unmatched" || (v.starts_with('/') && !v.contains(&partner)),
                "method" => {
                    ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "other"].contains(&v.as_str())
                }
                "status" => v.parse::<u16>().is_ok(),
                "outcome" => ["success", "refused", "locked", "unavailable", "ok", "error"]
                    .contains(&v.as_str()),
                "direction" => v == "upload" || v == "download",
                "class" => ["1xx", "2xx", "3xx", "4xx", "5xx"].contains(&v.as_str()),
                "version" => v == env!("CARGO_PKG_VERSION"),
                _ => false,
            };
            assert!(allowed, "label {k}={v:?} in {series}");
        }
    }
    let text = get(&format!("{}/metrics", w.admin_url())).body;
    for secret in [
        batch.as_str(),
        bad_batch.as_str(),
        ftp_batch.as_str(),
        partner.as_str(),
        user.as_str(),
        ghost.as_str(),
        SECRET,
        PASSWORD,
        TOKEN,
    ] {
        assert!(!text.contains(secret), "{secret:?} in the scrape");
    }
}

/// Each component run alone serves its own `/metrics` on its own admin listener: core its
/// sequences and the store's gauges, the gateway and the upload page their requests, FTP its
/// sessions; every one its build and process metrics.
#[test]
fn every_component_alone_has_its_metrics() {
    let (w, partner, user) = installation(Backend::Sqlite);
    let admin = |_: &str| free_port();
    let core_admin = admin("core");
    let _core = w.start(
        &["core"],
        &[("WHARF_ADMIN_ADDR", format!("127.0.0.1:{core_admin}"))],
        w.grpc_port,
    );
    let mut ports = Vec::new();
    let mut front_ends = Vec::new();
    for (component, port) in [
        ("gateway", w.http_port),
        ("ftp", w.ftp_port),
        ("upload", w.upload_port),
    ] {
        let admin = admin(component);
        front_ends.push(w.start(
            &[component],
            &[
                ("WHARF_CORE_URL", w.grpc_url()),
                ("WHARF_ADMIN_ADDR", format!("127.0.0.1:{admin}")),
            ],
            port,
        ));
        ports.push((component, admin));
    }
    let url = format!("{}{BOM}", w.http_url());
    let batch = util::unique("S");
    send(
        "POST",
        &url,
        &Auth::Basic(&user, PASSWORD),
        &envelope(&batch, 1, "1", vec![bom_row("s1")]),
    )
    .expect(200, "0");
    let mut ftp = login(&w, &user);
    let _ = ftp.cwd(bom_dir(&partner));
    assert_eq!(get(&format!("{}/login", w.upload_url())).status, 200);

    let version = format!(
        "wharf_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    let core = scrape_at(&format!("http://127.0.0.1:{core_admin}"));
    assert_eq!(core.get(&version), Some(&1.0));
    assert_eq!(
        core.get("wharf_sequences_total{door=\"api\",code=\"0\"}"),
        Some(&1.0)
    );
    assert_eq!(core.get("wharf_store_up"), Some(&1.0));
    for (component, admin) in ports {
        let m = scrape_at(&format!("http://127.0.0.1:{admin}"));
        assert_eq!(m.get(&version), Some(&1.0), "{component}");
        assert!(
            m.get("process_resident_memory_bytes")
                .is_some_and(|v| *v > 0.0),
            "{component}"
        );
        // Core's families live in core's process only.
        assert!(
            !m.keys().any(|k| k.starts_with("wharf_sequences_total")),
            "{component}: {m:?}"
        );
        let moved = match component {
            "gateway" => "wharf_http_requests_total{door=\"api\",route=\"/v1.0/scc/data/sync/{data_category}/{biz_key}\",method=\"POST\",status=\"200\"}",
            "ftp" => "wharf_ftp_sessions_active",
            _ => "wharf_http_requests_total{door=\"upload\",route=\"/login\",method=\"GET\",status=\"200\"}",
        };
        assert_eq!(m.get(moved), Some(&1.0), "{component}: {moved} in {m:?}");
    }
    let _ = ftp.quit();
}

#[test]
fn metrics_sqlite() {
    metrics_count_what_the_doors_did(Backend::Sqlite);
}

#[test]
fn metrics_postgres() {
    metrics_count_what_the_doors_did(Backend::Postgres);
}

// ---------------------------------------------------------------------------------------------
// graceful shutdown

/// Read an HTTP/1.1 response (the server closes the connection after it); (status, body).
fn read_response(mut s: TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, body.to_string())
}

/// SIGTERM while an HTTP request and an FTP upload are half sent: no new connection is taken,
/// both finish with their answers, their rows land, and the process exits 0 within the grace.
#[test]
fn sigterm_lets_in_flight_work_finish() {
    const GRACE_SECS: u64 = 10;
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env
        .push(("WHARF_SHUTDOWN_GRACE_SECS".into(), GRACE_SECS.to_string()));
    let (partner, user) = add_partner_and_user(&w);
    let mut server = w.serve();
    let token = client_token(&w.http_url(), &partner);

    // HTTP: headers and half the body.
    let body = envelope(&util::unique("S"), 1, "1", vec![bom_row("http")]);
    let (head, tail) = body.as_bytes().split_at(body.len() / 2);
    let mut http = TcpStream::connect(("127.0.0.1", w.http_port)).expect("connect HTTP");
    http.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        http,
        "POST {BOM} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    http.write_all(head).unwrap();
    http.flush().unwrap();

    // FTP: STOR accepted, half the file sent.
    let file = envelope(&util::unique("T"), 1, "1", vec![bom_row("ftp")]);
    let (fhead, ftail) = file.as_bytes().split_at(file.len() / 2);
    let mut ftp = login(&w, &user);
    ftp.cwd(bom_dir(&partner)).expect("CWD");
    let mut upload = ftp
        .put_with_stream("bom_insert_20221001003000_001.json")
        .expect("STOR");
    upload.write_all(fhead).unwrap();
    upload.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let stopping = Instant::now();
    let pid = server.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    std::thread::sleep(Duration::from_secs(1));

    // Stopped accepting: the HTTP port takes no new connection.
    assert!(
        TcpStream::connect(("127.0.0.1", w.http_port)).is_err(),
        "the HTTP API still accepts connections after SIGTERM"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "wharf exited with work in flight: {}",
        server.stderr()
    );

    // The rest of both: each gets its answer.
    http.write_all(tail).unwrap();
    let (status, answer) = read_response(http);
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON answer");
    assert_eq!(answer["code"], "0", "{answer}");
    upload.write_all(ftail).unwrap();
    upload
        .finish()
        .unwrap_or_else(|e| panic!("the upload completes (226): {e:?}\n{}", server.stderr()));

    // Then it exits 0, within the grace period.
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(GRACE_SECS + 5),
            "wharf did not exit within the grace period: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit {status}: {}", server.stderr());
    assert!(
        stopping.elapsed() < Duration::from_secs(GRACE_SECS),
        "took {:?}",
        stopping.elapsed()
    );
    let rows = export(&w, &partner, "t1/bom", None);
    let keys: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["vendor_father_item"].as_str())
        .collect();
    assert_eq!(keys, ["ftp", "http"], "both in-flight sequences landed");
}

// ---------------------------------------------------------------------------------------------
// start-up and logs

/// A taken admin port: `wharf serve` exits 64 naming the variable, having announced nothing
/// (no "listening" line: every listener is bound before any is announced).
#[test]
fn a_taken_port_exits_64_with_nothing_announced() {
    let w = Wharf::new(Backend::Sqlite);
    let taken = std::net::TcpListener::bind(("127.0.0.1", w.admin_port)).expect("hold the port");
    let out = w.run(&["serve"], "");
    drop(taken);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("WHARF_ADMIN_ADDR"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", w.admin_port)),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    // The same for a front-end's own port.
    let taken = std::net::TcpListener::bind(("127.0.0.1", w.upload_port)).expect("hold the port");
    let out = w.run(&["serve"], "");
    drop(taken);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("WHARF_UPLOAD_ADDR"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

/// An admin command run where there is no store says where it looked and how to point it
/// elsewhere, and creates nothing.
#[test]
fn the_cli_never_creates_a_store() {
    let dir = std::env::temp_dir().join(util::unique("wharf-nostore-"));
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["partner", "add", "LCFC", "--interfaces", "t1/bom"])
        .env("WHARF_DATA_DIR", &dir)
        .env_remove("WHARF_DATABASE_URL")
        .output()
        .expect("run wharf");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("no wharf store at"), "{stderr}");
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
    assert!(stderr.contains("WHARF_DATA_DIR"), "{stderr}");
    assert!(stderr.contains("wharf migrate"), "{stderr}");
    assert!(!dir.exists(), "{} was created", dir.display());
    // `wharf migrate` makes it; then the same command works.
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("migrate")
        .env("WHARF_DATA_DIR", &dir)
        .env_remove("WHARF_DATABASE_URL")
        .output()
        .expect("run wharf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema version"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `WHARF_LOG_FORMAT=json`: every line is one JSON object, a request's line carries its
/// trace id, and probes are not logged at info.
#[test]
fn json_logs_carry_the_trace_id_and_probes_stay_quiet() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env.push(("WHARF_LOG_FORMAT".into(), "json".into()));
    let (_partner, user) = add_partner_and_user(&w);
    let mut server = w.serve();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let url = format!("{}{BOM}", w.http_url());
    let batch = util::unique("J");
    let body = envelope(&batch, 1, "1", vec![bom_row("j1")]);
    let header = format!("traceparent: 00-{trace_id}-00f067aa0ba902b7-01");
    let r = request(
        "POST",
        &url,
        &Auth::Basic(&user, PASSWORD),
        Some(("application/json", body.as_bytes())),
        &["-H", &header],
    );
    assert_eq!(r.status, 200, "{r:?}");
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(get(&format!("{}{probe}", w.http_url())).status, 200);
        assert_eq!(get(&format!("{}{probe}", w.upload_url())).status, 200);
    }
    server.stop("wharf serve");
    let log = server.stderr();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["span"]["path"] == BOM)
        .unwrap_or_else(|| panic!("no request line in\n{log}"));
    assert_eq!(request["span"]["trace_id"], trace_id, "{request}");
    assert_eq!(request["level"], "INFO", "{request}");
    // Access-log lines of both web doors are there, but none for a probe.
    let path_of = |l: &Value| l["span"]["path"].as_str().map(str::to_string);
    assert!(lines.iter().any(|l| l["fields"]["message"] == "request"));
    for l in &lines {
        if let Some(path) = path_of(l) {
            assert!(
                path != "/healthz" && path != "/readyz",
                "a probe logged at info: {l}"
            );
        }
    }
}

/// The same against PostgreSQL: a database wharf never started on is not made a store by an
/// admin command (nothing is created in it), only by `wharf migrate`.
#[test]
fn the_cli_never_creates_a_store_in_postgresql() {
    let cluster = PgCluster::start();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args(args)
            .env("WHARF_DATABASE_URL", cluster.url())
            .output()
            .expect("run wharf")
    };
    for _ in 0..2 {
        // Twice: the first refusal left no table behind for the second to find.
        let out = run(&["partner", "add", "LCFC", "--interfaces", "t1/bom"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(
            stderr.contains("no wharf store in the PostgreSQL database at"),
            "{stderr}"
        );
        assert!(stderr.contains("wharf migrate"), "{stderr}");
    }
    let out = run(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["partner", "add", "LCFC", "--interfaces", "t1/bom"])
        .env("WHARF_DATABASE_URL", cluster.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(format!("{SECRET}\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("run wharf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
