//! End to end against the real `wharf serve` (SQLite): what adversarial testing found, each
//! closed at its root — a stalled request body is a 408, a JSON number with an exponent is its
//! exact value, a key twice in a JSON row is refused, an upload page session is no API token.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::data::{bom_row, envelope, export, problems};
use util::http::{client_token, send, Auth};
use util::upload::{login, page};
use util::{add_partner, add_user, Backend, Wharf, PASSWORD};

const BOM: &str = "/v1.0/scc/data/sync/t1/bom";

/// A request whose body never finishes is answered 408 in the API's `{code,msg}` shape when
/// the request timeout passes (here 2 s), and the gateway keeps serving.
#[test]
fn a_stalled_body_is_a_408() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env
        .push(("WHARF_HTTP_TIMEOUT_SECS".into(), "2".into()));
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let _server = w.serve();
    let host = w.http_url().trim_start_matches("http://").to_string();
    let token = client_token(&w.http_url(), &partner);
    let mut s = TcpStream::connect(&host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    write!(
        s,
        "POST {BOM} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"batch_id\":"
    )
    .unwrap();
    s.flush().unwrap();
    // ...and nothing more: the client stalls.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&answer).contains("}") {
                    break;
                }
            }
            Err(e) => panic!("no answer: {e}"),
        }
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let body: Value =
        serde_json::from_str(&text[text.find("\r\n\r\n").unwrap() + 4..]).expect("a JSON body");
    assert_eq!(body["code"], "408", "{text}");
    assert_eq!(
        body["msg"], "the request body did not arrive within 2 s",
        "{text}"
    );
    // Nothing was sent to core; the gateway still answers.
    let ok = envelope("STALL-AFTER", 1, "1", vec![bom_row("after")]);
    send(
        "POST",
        &format!("{}{BOM}", w.http_url()),
        &Auth::Basic(&user, PASSWORD),
        &ok,
    )
    .expect(200, "0");
}

/// `1e1` and `-1.5e-2`-style JSON numbers are exact: a decimal field takes them as their plain
/// value; a number beyond the exponent bound is an invalid number. A row with a key twice is
/// refused (E00V00, invalid type), as a sheet with a column name twice is.
#[test]
fn exponent_numbers_are_exact_and_a_key_twice_is_refused() {
    let w = Wharf::new(Backend::Sqlite);
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let _server = w.serve();
    let url = format!("{}{BOM}", w.http_url());
    let auth = Auth::Basic(&user, PASSWORD);

    let number = |text: &str| serde_json::from_str::<Value>(text).expect("a JSON number");
    let mut row = bom_row("EXP");
    row["quantity_per"] = number("1.5e1");
    row["split"] = number("2.5e-1");
    send("POST", &url, &auth, &envelope("EXP-1", 1, "1", vec![row])).expect(200, "0");
    let stored = export(&w, &partner, "t1/bom", None);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["quantity_per"], "15", "{stored:?}");
    assert_eq!(stored[0]["split"], "0.25", "{stored:?}");

    let mut huge = bom_row("HUGE");
    huge["quantity_per"] = number("1e999999999");
    let r = send("POST", &url, &auth, &envelope("EXP-2", 1, "1", vec![huge]));
    let a = r.expect(200, "E00V00");
    assert_eq!(
        problems(&a),
        vec![util::data::problem(
            Some(0),
            "invalid number",
            "quantity_per"
        )]
    );

    // The same key twice in one row: the JSON text itself (a map could not hold it).
    let twice = envelope("TWICE-1", 1, "1", vec![bom_row("TWICE")]).replacen(
        "\"quantity_per\":\"10.1\"",
        "\"quantity_per\":\"10.1\",\"quantity_per\":\"99\"",
        1,
    );
    assert!(twice.contains("\"quantity_per\":\"99\""), "{twice}");
    let a = send("POST", &url, &auth, &twice).expect(200, "E00V00");
    assert_eq!(
        problems(&a),
        vec![util::data::problem(Some(0), "invalid type", "quantity_per")]
    );
    assert_eq!(
        export(&w, &partner, "t1/bom", None).len(),
        1,
        "nothing more applied"
    );
}

/// An upload page session opens the page and nothing else: as an API bearer token it gets the
/// same 401 as any bad token; the page keeps working with it.
#[test]
fn a_page_session_is_not_an_api_token() {
    let w = Wharf::new(Backend::Sqlite);
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let _server = w.serve();
    let jar = std::env::temp_dir().join(util::unique("jar-"));
    login(&w.upload_url(), &jar, &user);
    let cookies = std::fs::read_to_string(&jar).expect("cookie jar");
    let session = cookies
        .lines()
        .find(|l| l.contains("wharf_session"))
        .and_then(|l| l.split('\t').next_back())
        .expect("a session cookie")
        .trim()
        .to_string();
    assert_eq!(session.len(), 64, "{cookies}");
    let body = envelope("SESSION-1", 1, "1", vec![bom_row("session")]);
    let url = format!("{}{BOM}", w.http_url());
    let r = send("POST", &url, &Auth::Bearer(&session), &body);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"code": "401", "msg": "bad credentials or token"})
    );
    // The page still opens with it, and the API still takes the user's own credentials.
    let upload = page(&jar, &format!("{}/upload", w.upload_url()));
    assert!(upload.contains("name=\"csrf\""), "{upload}");
    send("POST", &url, &Auth::Basic(&user, PASSWORD), &body).expect(200, "0");
    let _ = std::fs::remove_file(&jar);
}
