//! The HTTP API called with curl, as a partner would call it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::SECRET;

/// How a request authenticates.
pub enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

/// The final response curl saw.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {self:?}"))
    }

    /// The value of header `name` (lower case), if the response had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Assert the status and the body's `code`; returns the body.
    pub fn expect(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["code"], code, "{self:?}");
        body
    }
}

/// Run curl with `stdin` (the request body, when given).
pub fn curl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("curl")
        .args(["-s", "-S", "--max-time", "60"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn curl");
    if let Some(body) = stdin {
        let mut pipe = child.stdin.take().expect("curl stdin");
        // curl reads `@-` whole before it connects; a failure shows in its exit status.
        let _ = pipe.write_all(body);
    }
    child.wait_with_output().expect("wait curl")
}

/// One HTTP request; `body` is (content type, bytes). `extra` goes to curl as is.
pub fn request(
    method: &str,
    url: &str,
    auth: &Auth,
    body: Option<(&str, &[u8])>,
    extra: &[&str],
) -> Reply {
    try_request(method, url, auth, body, extra)
        .unwrap_or_else(|| panic!("curl {method} {url} failed (its error is above)"))
}

/// [`request`], `None` when curl could not complete it (the connection broke).
pub fn try_request(
    method: &str,
    url: &str,
    auth: &Auth,
    body: Option<(&str, &[u8])>,
    extra: &[&str],
) -> Option<Reply> {
    let mut args: Vec<String> = vec!["-i".into(), "-X".into(), method.into()];
    args.extend(["-w".into(), "\n%{http_code}".into()]);
    match auth {
        Auth::None => {}
        Auth::Basic(user, password) => args.extend(["-u".into(), format!("{user}:{password}")]),
        Auth::Bearer(token) => args.extend(["-H".into(), format!("Authorization: Bearer {token}")]),
    }
    if let Some((content_type, _)) = body {
        args.extend(["-H".into(), format!("Content-Type: {content_type}")]);
        args.extend(["--data-binary".into(), "@-".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = curl(&argv, body.map(|(_, b)| b));
    if !out.status.success() {
        eprintln!(
            "curl {method} {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8(out.stdout).expect("utf-8 response");
    let (mut rest, code) = text.rsplit_once('\n').expect("the status line from -w");
    let status = code.parse().expect("an HTTP status");
    let mut headers = Vec::new();
    // Interim (1xx) responses come first; keep the final one's headers.
    while rest.starts_with("HTTP/") {
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        rest = body;
    }
    Some(Reply {
        status,
        headers,
        body: rest.to_string(),
    })
}

/// A JSON data call.
pub fn send(method: &str, url: &str, auth: &Auth, body: &str) -> Reply {
    request(
        method,
        url,
        auth,
        Some(("application/json", body.as_bytes())),
        &[],
    )
}

/// `POST /oauth/token` with a form, client credentials optionally in a Basic header.
pub fn token_request(base: &str, form: &str, basic: Option<(&str, &str)>) -> Reply {
    let auth = match basic {
        Some((id, secret)) => Auth::Basic(id, secret),
        None => Auth::None,
    };
    request(
        "POST",
        &format!("{base}/oauth/token"),
        &auth,
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
        &[],
    )
}

/// A client-credentials token of `partner` from the HTTP API at `base`.
pub fn client_token(base: &str, partner: &str) -> String {
    let r = token_request(
        base,
        &format!("grant_type=client_credentials&client_id={partner}&client_secret={SECRET}"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}
