//! A scriptable partner receiver for outbound push (SPEC §7.1): a real HTTP/1.1 server on a
//! socket (hyper, its own thread and runtime) that records every request and answers from a
//! script, like a partner's push API with its dedupe: a sequence already answered "0" is
//! answered "E00A00". `…/oauth/token` issues bearer tokens and counts the calls.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// How the receiver treats one data request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Answer with this HTTP status and body (JSON text or anything else).
    Answer(u16, String),
    /// Never answer (the connection stays open until the client gives up).
    Hang,
    /// Close the connection without an answer.
    Drop,
    /// 401 with a JSON body; a bearer token presented is revoked, so a resend needs a new one.
    Unauthorized,
}

/// A `Behaviour::Answer` with HTTP 200 and the body `{"code": code, "msg": msg}`.
pub fn code(code: &str, msg: &str) -> Behaviour {
    Behaviour::Answer(200, json!({"code": code, "msg": msg}).to_string())
}

/// One data request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// The envelope's fields as sent (JSON values, to check their types); `Value::Null` when
    /// missing or when the body is not a JSON object.
    pub batch_id: Value,
    pub batch_size: Value,
    pub seq_id: Value,
    pub seq_size: Value,
    /// How many rows `data` held.
    pub rows: usize,
    /// `vendor_father_item` of each row that has one (t1/bom), in order.
    pub keys: Vec<String>,
    /// What was answered: "0", "E00A00", another body code, "http 500", "hang", "drop", "401".
    pub answer: String,
    /// When the request had been read.
    pub at: Instant,
    /// Arrival order (0, 1, 2, … over the whole receiver).
    pub n: usize,
    /// The body as sent (a webhook's signature covers it byte for byte).
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// (batch_id, seq_id) as strings ("" when not a string).
    pub fn key(&self) -> (String, String) {
        (
            self.batch_id.as_str().unwrap_or_default().to_string(),
            self.seq_id.as_str().unwrap_or_default().to_string(),
        )
    }
}

/// One call of a token endpoint.
#[derive(Clone, Debug)]
pub struct TokenCall {
    pub path: String,
    /// The form's fields, decoded.
    pub form: HashMap<String, String>,
    pub authorization: Option<String>,
    /// The token issued.
    pub token: String,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Behaviour>>,
    /// Data requests read so far.
    arrivals: usize,
    /// How long a default answer waits before it goes out.
    delay: Duration,
    seen: Vec<Seen>,
    delivered: HashMap<(String, String), u32>,
    received: HashMap<(String, String), u32>,
    token_calls: Vec<TokenCall>,
    tokens: HashSet<String>,
    /// Which token endpoint issued each token.
    token_origin: HashMap<String, String>,
}

/// The running receiver; stops (and drops every open connection) when dropped.
pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(Notify::new());
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("receiver runtime");
            rt.block_on(accept_loop(listener, s, st));
            // Dropping the runtime cancels every connection still open (hanging ones too).
        });
        Receiver {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue behaviours for the next data requests to `path`; once used up, the default
    /// answer ("0", or "E00A00" for a sequence already answered "0").
    pub fn script(&self, path: &str, behaviours: Vec<Behaviour>) {
        self.lock()
            .scripts
            .entry(path.to_string())
            .or_default()
            .extend(behaviours);
    }

    /// Behaviours queued for `path` and not used yet.
    pub fn script_left(&self, path: &str) -> usize {
        self.lock().scripts.get(path).map_or(0, VecDeque::len)
    }

    /// Make every default answer wait `d` first.
    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// Every data request answered (or hung, or dropped) so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        let mut all = self.lock().seen.clone();
        all.sort_by_key(|s| s.n);
        all
    }

    /// The data requests to `path`, in arrival order.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        let mut all: Vec<Seen> = self
            .lock()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect();
        all.sort_by_key(|s| s.n);
        all
    }

    /// How many times (batch_id, seq_id) was answered "0".
    pub fn delivered(&self, batch_id: &str, seq_id: &str) -> u32 {
        let key = (batch_id.to_string(), seq_id.to_string());
        self.lock().delivered.get(&key).copied().unwrap_or(0)
    }

    /// How many times (batch_id, seq_id) was received, whatever the answer.
    pub fn received(&self, batch_id: &str, seq_id: &str) -> u32 {
        let key = (batch_id.to_string(), seq_id.to_string());
        self.lock().received.get(&key).copied().unwrap_or(0)
    }

    /// Every (batch_id, seq_id) answered "0" at least once, with its count.
    pub fn delivered_all(&self) -> HashMap<(String, String), u32> {
        self.lock().delivered.clone()
    }

    /// Every (batch_id, seq_id) received, with its count.
    pub fn received_all(&self) -> HashMap<(String, String), u32> {
        self.lock().received.clone()
    }

    /// Every token endpoint call so far.
    pub fn token_calls(&self) -> Vec<TokenCall> {
        self.lock().token_calls.clone()
    }

    /// The token endpoint calls to `path`.
    pub fn token_calls_at(&self, path: &str) -> Vec<TokenCall> {
        self.lock()
            .token_calls
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: std::net::TcpListener, state: Arc<Mutex<State>>, stop: Arc<Notify>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = tokio::select! {
            _ = stop.notified() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            // A `Drop` behaviour fires `kill`: the connection is dropped unanswered.
            let kill = Arc::new(Notify::new());
            let k = kill.clone();
            let svc = service_fn(move |req| handle(state.clone(), k.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
            }
        });
    }
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

fn answer_code(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string))
}

async fn handle(
    state: Arc<Mutex<State>>,
    kill: Arc<Notify>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let authorization = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());

    if path.ends_with("/oauth/token") {
        let form = parse_form(&String::from_utf8_lossy(&body));
        let mut s = lock();
        let token = format!("tok-{}-{}", s.token_calls.len() + 1, std::process::id());
        s.tokens.insert(token.clone());
        s.token_origin.insert(token.clone(), path.clone());
        s.token_calls.push(TokenCall {
            path,
            form,
            authorization,
            token: token.clone(),
        });
        let answer = json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600});
        return Ok(reply(200, answer.to_string()));
    }

    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |name: &str| envelope.get(name).cloned().unwrap_or(Value::Null);
    let data = envelope
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = Seen {
        method,
        path: path.clone(),
        headers,
        batch_id: field("batch_id"),
        batch_size: field("batch_size"),
        seq_id: field("seq_id"),
        seq_size: field("seq_size"),
        rows: data.len(),
        keys: data
            .iter()
            .filter_map(|r| r.get("vendor_father_item").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        answer: String::new(),
        at: Instant::now(),
        n: 0,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let key = seen.key();

    let (behaviour, delay) = {
        let mut s = lock();
        seen.n = s.arrivals;
        s.arrivals += 1;
        *s.received.entry(key.clone()).or_default() += 1;
        let scripted = s.scripts.get_mut(&path).and_then(VecDeque::pop_front);
        // A bearer token the receiver never issued (or revoked) is refused like a real
        // partner would, unless the script says otherwise.
        let bad_bearer = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| !s.tokens.contains(t));
        let behaviour = match scripted {
            Some(b) => Some(b),
            None if bad_bearer => Some(Behaviour::Unauthorized),
            None => None,
        };
        (behaviour, s.delay)
    };

    let record = |seen: Seen, state: &Arc<Mutex<State>>| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        if seen.answer == "0" {
            *s.delivered.entry(seen.key()).or_default() += 1;
        }
        s.seen.push(seen);
    };

    match behaviour {
        Some(Behaviour::Answer(status, body)) => {
            seen.answer = match answer_code(&body) {
                Some(c) if (200..300).contains(&status) => c,
                _ => format!("http {status}"),
            };
            record(seen, &state);
            Ok(reply(status, body))
        }
        Some(Behaviour::Unauthorized) => {
            if let Some(t) = authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
            {
                lock().tokens.remove(t);
            }
            seen.answer = "401".into();
            record(seen, &state);
            let body = json!({"code": "401", "msg": "token error"}).to_string();
            let mut r = reply(401, body);
            r.headers_mut().insert(
                "www-authenticate",
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            Ok(r)
        }
        Some(Behaviour::Hang) => {
            seen.answer = "hang".into();
            record(seen, &state);
            std::future::pending::<()>().await;
            unreachable!()
        }
        Some(Behaviour::Drop) => {
            seen.answer = "drop".into();
            record(seen, &state);
            kill.notify_one();
            std::future::pending::<()>().await;
            unreachable!()
        }
        None => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            // Decide after the delay: a resend may have been answered meanwhile.
            let mut s = lock();
            let done = s.delivered.get(&key).copied().unwrap_or(0) > 0;
            let (code, msg) = if done {
                ("E00A00", "the sequence data has been successfully consumed")
            } else {
                ("0", "request success")
            };
            seen.answer = code.to_string();
            if code == "0" {
                *s.delivered.entry(key).or_default() += 1;
            }
            s.seen.push(seen);
            Ok(reply(200, json!({"code": code, "msg": msg}).to_string()))
        }
    }
}

/// An `application/x-www-form-urlencoded` body, decoded.
pub fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A fresh WHARF_SECRET_KEY: 32 random bytes, base64.
pub fn secret_key() -> String {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .expect("read /dev/urandom");
    base64(&key)
}

/// Wait until `cond` holds, at most `secs`; panics with `what` otherwise.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
