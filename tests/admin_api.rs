//! The admin HTTP API against the real binary, on SQLite and PostgreSQL: operators made with
//! the CLI, every route called with curl as a platform team's script would, refusals of
//! anything but an active operator's token (partners' credentials included), the audit trail
//! naming `operator:NAME` from `admin-api` for changes made through it, HTTPS on its listener,
//! and every answer checked against `admin-api/openapi.yaml` by the Python `openapi-core`
//! validator.

mod util;

use std::cell::RefCell;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use util::http::{client_token, request, Auth, Reply};
use util::{add_partner_and_user, Backend, Wharf, PASSWORD, SECRET};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/admin-api/openapi.yaml");

/// A client of one admin API that keeps every answer it got, to check them all against the
/// OpenAPI document at the end ([`Client::check_against_document`]).
struct Client {
    base: String,
    /// curl options on every call (`--cacert` for HTTPS).
    extra: Vec<String>,
    seen: RefCell<Vec<Value>>,
}

impl Client {
    fn new(base: String) -> Client {
        Client {
            base,
            extra: Vec::new(),
            seen: RefCell::new(Vec::new()),
        }
    }

    /// `method path` (with its query) as `auth`, with a JSON body when given.
    fn call(&self, method: &str, path_and_query: &str, auth: &Auth, body: Option<&Value>) -> Reply {
        let text = body.map(|b| b.to_string());
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let r = request(
            method,
            &format!("{}{path_and_query}", self.base),
            auth,
            text.as_deref().map(|t| ("application/json", t.as_bytes())),
            &extra,
        );
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let args: serde_json::Map<String, Value> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), Value::String(v.to_string()))
            })
            .collect();
        self.seen.borrow_mut().push(json!({
            "method": method.to_lowercase(),
            "path": path,
            "query": args,
            "status": r.status,
            "content_type": r.header("content-type").unwrap_or(""),
            "headers": r.headers.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<serde_json::Map<String, Value>>(),
            "body": r.body,
        }));
        r
    }

    fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, &Auth::Bearer(token), None)
    }

    /// Every answer this client got is one the document allows for its route, method and
    /// status (openapi-core validates status, headers and body against the schema).
    fn check_against_document(&self) {
        let seen = self.seen.borrow();
        assert!(!seen.is_empty());
        let lines: String = seen.iter().map(|v| format!("{v}\n")).collect();
        let script = r#"
import json, sys
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
api = OpenAPI.from_file_path(sys.argv[1])
bad = []
n = 0
for line in sys.stdin:
    c = json.loads(line)
    n += 1
    req = MockRequest("http://127.0.0.1", c["method"], c["path"], args=c["query"],
                      headers={"Authorization": "Bearer x"})
    resp = MockResponse(c["body"].encode(), status_code=c["status"], headers=c["headers"],
                        content_type=c["content_type"])
    try:
        api.validate_response(req, resp)
    except Exception as e:
        bad.append("%s %s -> %s: %r %r\n  body: %s" % (c["method"].upper(), c["path"],
                   c["status"], e, e.__cause__, c["body"][:500]))
print("%d answers checked" % n)
if bad:
    print("\n".join(bad))
    sys.exit(1)
"#;
        let mut child = Command::new("python3")
            .args(["-c", script, DOC])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 (scripts/test installs openapi-core)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(lines.as_bytes())
            .expect("write answers");
        let out = child.wait_with_output().expect("python3");
        assert!(
            out.status.success(),
            "answers the OpenAPI document does not allow:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A new operator made with the CLI; its token (the one line on stdout).
fn add_operator(w: &Wharf, name: &str) -> String {
    let out = w.ok(&["operator", "add", name], "");
    let token = out.trim().to_string();
    assert_eq!(token.len(), 64, "one token on stdout: {out:?}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{out:?}");
    token
}

/// Assert a 401 with the API's JSON error and its Bearer challenge.
#[track_caller]
fn assert_401(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert_eq!(r.json()["error"], "unauthorized", "{what}: {r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")),
        "{what}: {r:?}"
    );
}

/// Every audit record matching `query`, through the API's pages of `page` records.
fn audit_all(api: &Client, token: &str, query: &str, page: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let r = api.get(
            &format!("/admin/v1/audit?{query}&limit={page}{after}"),
            token,
        );
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.json();
        let items = body["items"].as_array().expect("items").clone();
        assert!(items.len() <= page as usize);
        all.extend(items);
        match body["next_after"].as_i64() {
            Some(id) => after = format!("&after={id}"),
            None => return all,
        }
    }
}

/// Operators made, listed, revoked and made again with the CLI; the API opens for an active
/// operator's token only; clear 4xx answers; the audit trail of it all, read page by page.
fn operators_and_refusals(backend: Backend) {
    let w = Wharf::new(backend);
    let (partner, user) = add_partner_and_user(&w);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 1;
    let name = util::unique("ops");
    let token = add_operator(&w, &name);
    // The name is taken while it is active.
    let again = w.run(&["operator", "add", &name], "");
    assert_eq!(again.status.code(), Some(65), "{again:?}");
    let _server = w.serve();
    let api = Client::new(w.admin_api_url());

    // The document itself, open to all, is the file.
    let doc = api.call("GET", "/admin/v1/openapi.yaml", &Auth::None, None);
    assert_eq!(doc.status, 200, "{doc:?}");
    assert_eq!(
        doc.body,
        std::fs::read_to_string(DOC).expect("the document")
    );

    // The operator's token opens the API; its list never shows a token.
    let r = api.get("/admin/v1/operators", &token);
    assert_eq!(r.status, 200, "{r:?}");
    let ops = r.json()["items"].as_array().expect("items").clone();
    let me = ops
        .iter()
        .find(|o| o["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} listed: {ops:?}"));
    assert!(
        me["revoked_unix"].is_null() && me["last_used_unix"].is_i64(),
        "{me}"
    );
    assert!(!r.body.contains(&token), "a token in the list");

    // Anything but an active operator's token: 401.
    let path = "/admin/v1/operators";
    assert_401(&api.call("GET", path, &Auth::None, None), "no token");
    let flipped = if token.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{flipped}", &token[..63]);
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&wrong), None),
        "a wrong token",
    );
    assert_401(
        &api.call("GET", path, &Auth::Bearer("not-even-hex"), None),
        "a malformed token",
    );
    assert_401(
        &api.call("GET", path, &Auth::Basic(&user, PASSWORD), None),
        "a partner's user's Basic credentials",
    );
    assert_401(
        &api.call("GET", path, &Auth::Basic(&partner, SECRET), None),
        "a partner's client credentials as Basic",
    );
    let partner_token = client_token(&w.http_url(), &partner);
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&partner_token), None),
        "a partner's bearer token",
    );
    // Unknown routes are refused before they are looked up, and named after.
    let base = w.admin_api_url();
    assert_401(
        &request(
            "GET",
            &format!("{base}/admin/v1/nothing-here"),
            &Auth::None,
            None,
            &[],
        ),
        "an unknown route without a token",
    );
    let r = request(
        "GET",
        &format!("{}/admin/v1/nothing-here", w.admin_api_url()),
        &Auth::Bearer(&token),
        None,
        &[],
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["error"], "not_found");

    // Clear 4xx answers.
    // (Neither is in the document, so they are not checked against it.)
    let r = request(
        "POST",
        &format!("{base}{path}"),
        &Auth::Bearer(&token),
        None,
        &[],
    );
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("GET"));
    let r = api.get("/admin/v1/operators?verbose=1", &token);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("verbose"),
        "{r:?}"
    );
    for (query, names) in [
        ("kind=logins", "kind"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("since=yesterday", "since"),
        ("after=-1", "after"),
        ("limit=1&limit=2", "limit"),
    ] {
        let r = api.get(&format!("/admin/v1/audit?{query}"), &token);
        assert_eq!(r.status, 400, "{query}: {r:?}");
        assert!(
            r.json()["message"].as_str().unwrap_or("").contains(names),
            "{query}: {r:?}"
        );
    }

    // Revoked with the CLI: the same token is refused at once.
    w.ok(&["operator", "revoke", &name], "");
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&token), None),
        "a revoked token",
    );
    let missing = w.run(&["operator", "revoke", &name], "");
    assert_eq!(
        missing.status.code(),
        Some(65),
        "revoking twice: {missing:?}"
    );
    // The name may be given again, with a new token; the old one stays dead.
    let token2 = add_operator(&w, &name);
    assert_ne!(token2, token);
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&token), None),
        "the old token",
    );
    let r = api.get(path, &token2);
    assert_eq!(r.status, 200, "{r:?}");

    // The audit trail says who made and revoked the operator, from the CLI, never the token;
    // read a page of one record at a time to walk the cursor.
    let records = audit_all(&api, &token2, &format!("kind=admin&since={since}"), 1);
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| r["detail"]["operator"] == name.as_str())
        .collect();
    let actions: Vec<&str> = mine
        .iter()
        .map(|r| r["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["operator.add", "operator.revoke", "operator.add"],
        "{records:#?}"
    );
    for r in &mine {
        assert_eq!(r["actor"], "cli:unknown", "{r}");
        assert_eq!(r["door"], "cli", "{r}");
        assert_eq!(r["kind"], "admin", "{r}");
    }
    let ids: Vec<i64> = records
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        ids.windows(2).all(|p| p[0] < p[1]),
        "ascending ids: {ids:?}"
    );
    let text = serde_json::to_string(&records).expect("json");
    assert!(
        !text.contains(&token) && !text.contains(&token2),
        "a token in the audit"
    );

    // The CLI's list agrees.
    let listed = w.ok(&["operator", "list", "--json"], "");
    let line: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .find(|v| v["name"] == name.as_str())
        .expect("listed");
    assert!(line["revoked_unix"].is_null(), "{line}");
    assert!(!listed.contains(&token2));

    api.check_against_document();
}

#[test]
fn operators_and_refusals_sqlite() {
    operators_and_refusals(Backend::Sqlite);
}

#[test]
fn operators_and_refusals_postgres() {
    operators_and_refusals(Backend::Postgres);
}

/// With a certificate the admin API serves HTTPS only, on its own listener: a client that
/// trusts the certificate gets in, plain HTTP gets no answer.
#[test]
fn the_admin_api_serves_https_with_its_certificate() {
    let mut w = Wharf::new(Backend::Sqlite);
    let (cert, key) = util::make_cert(&w, util::KeyType::Ec);
    w.extra_env
        .push(("WHARF_ADMIN_API_TLS_CERT".into(), cert.clone()));
    w.extra_env.push(("WHARF_ADMIN_API_TLS_KEY".into(), key));
    let token = add_operator(&w, &util::unique("tls"));
    let mut server = w.serve();
    let mut api = Client::new(format!("https://127.0.0.1:{}", w.admin_api_port));
    api.extra = vec!["--cacert".into(), cert];
    let r = api.get("/admin/v1/operators", &token);
    assert_eq!(r.status, 200, "{r:?}");
    assert_401(
        &api.call("GET", "/admin/v1/operators", &Auth::None, None),
        "HTTPS without a token",
    );
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(format!("{}/admin/v1/operators", w.admin_api_url()))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "000",
        "plain HTTP on the TLS listener gets no answer"
    );
    assert!(
        server.stderr().contains("wharf admin API listening"),
        "{}",
        server.stderr()
    );
    api.check_against_document();

    // A key that does not fit stops start-up naming the variables.
    let mut bad = Wharf::new(Backend::Sqlite);
    let (cert2, _) = util::make_cert(&bad, util::KeyType::Rsa);
    bad.extra_env
        .push(("WHARF_ADMIN_API_TLS_CERT".into(), cert2.clone()));
    bad.extra_env
        .push(("WHARF_ADMIN_API_TLS_KEY".into(), cert2));
    let out = bad.run(&["serve"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("WHARF_ADMIN_API_TLS_KEY"), "{stderr}");
}

/// `WHARF_ADMIN_API_ADDR=off`: no admin API; a taken port stops start-up naming the variable.
#[test]
fn the_admin_api_can_be_turned_off_and_its_port_is_checked() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env
        .push(("WHARF_ADMIN_API_ADDR".into(), "off".into()));
    let mut server = w.serve();
    assert!(!server.stderr().contains("admin API listening"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", w.admin_api_port)).is_err());
    server.stop("wharf serve without the admin API");

    let w = Wharf::new(Backend::Sqlite);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", w.admin_api_port)).expect("bind");
    let out = w.run(&["serve"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("WHARF_ADMIN_API_ADDR"), "{stderr}");
}
