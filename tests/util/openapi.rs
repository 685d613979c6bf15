//! A client of an HTTP API that keeps every answer it got, to check them all against the
//! API's OpenAPI document at the end with the Python `openapi-core` validator (`scripts/test`
//! installs it): status, headers and body, for the route and method called.

use std::cell::RefCell;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::http::{request, Auth, Reply};

/// The partners' document as the gateway at `base` serves it (`GET /openapi.json`), written
/// to a file in `dir` for the validators; returns the file's path and the document.
pub fn served_document(base: &str, dir: &std::path::Path) -> (String, Value) {
    let r = request(
        "GET",
        &format!("{base}/openapi.json"),
        &Auth::None,
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    std::fs::create_dir_all(dir).expect("a directory for the document");
    let path = dir.join("openapi.json");
    std::fs::write(&path, &r.body).expect("write the document");
    (path.display().to_string(), r.json())
}

/// The server URL to match requests against for a document whose `servers` is `url: /`.
pub const LOCAL: &str = "http://127.0.0.1";

pub struct Client {
    base: String,
    /// The document's path.
    doc: String,
    /// The server URL the document names (requests are matched against it).
    server: String,
    /// curl options on every call (`--cacert` for HTTPS).
    pub extra: Vec<String>,
    seen: RefCell<Vec<Value>>,
}

impl Client {
    /// A client of the API at `base` described by the document at `doc`, whose `servers`
    /// entry is `server` (e.g. `http://127.0.0.1` for `url: /`).
    pub fn new(base: String, doc: &str, server: &str) -> Client {
        Client {
            base,
            doc: doc.to_string(),
            server: server.to_string(),
            extra: Vec::new(),
            seen: RefCell::new(Vec::new()),
        }
    }

    /// `method path` (with its query) as `auth`, with a JSON body when given.
    pub fn call(
        &self,
        method: &str,
        path_and_query: &str,
        auth: &Auth,
        body: Option<&Value>,
    ) -> Reply {
        let text = body.map(|b| b.to_string());
        self.send(
            method,
            path_and_query,
            auth,
            text.as_deref().map(|t| ("application/json", t.as_bytes())),
        )
    }

    /// `method path` (with its query) as `auth`, with a body as it is: (content type, bytes).
    pub fn send(
        &self,
        method: &str,
        path_and_query: &str,
        auth: &Auth,
        body: Option<(&str, &[u8])>,
    ) -> Reply {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let r = request(
            method,
            &format!("{}{path_and_query}", self.base),
            auth,
            body,
            &extra,
        );
        self.record(method, path_and_query, &r);
        r
    }

    /// Keep an answer got some other way (a raw socket) to check it with the others.
    pub fn record(&self, method: &str, path_and_query: &str, r: &Reply) {
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
    }

    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, &Auth::Bearer(token), None)
    }

    /// Every answer this client got is one the document allows for its route, method and
    /// status.
    pub fn check_against_document(&self) {
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
    req = MockRequest(sys.argv[2], c["method"], c["path"], args=c["query"],
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
            .args(["-c", script, &self.doc, &self.server])
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
            "answers {} does not allow:\n{}{}",
            self.doc,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
