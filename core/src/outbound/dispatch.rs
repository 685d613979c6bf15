//! The dispatcher (SPEC §7.1): claims due pushes from the outbox and sends their sequences
//! in order, each with the seed's envelope, the endpoint's auth and the push timeout.
//!
//! - A push is leased by one dispatcher at a time (see `store::outbox`); the lease is renewed
//!   with every write, so a replica that dies loses its pushes to another after `lease`.
//! - Deliveries are recorded a few sequences at a time, written behind the sends (one write
//!   in flight): a crash re-sends at most `RECORD_EVERY` of them, under the same batch_id and
//!   seq_id, and the partner answers them `E00A00` (delivered).
//! - Retries back off exponentially with jitter; short waits are slept holding the lease, long
//!   ones give the push back with its due time.
//! - At most `concurrency` pushes are in flight, at most `partner_concurrency` of one partner,
//!   so one slow partner cannot take every worker.
//! - A worker's sequences are read from the store and their envelopes composed by a reader
//!   task a few sequences ahead (bounded), so the next body is ready when an answer arrives;
//!   the wire still carries one sequence at a time, the next only after the previous one was
//!   answered and classified delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use rand::Rng;
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::field::Empty;
use tracing::{info_span, Instrument};
use wharf_proto::trace;

use super::answer::{classify, retryable_status, Classified, Verdict};
use super::endpoint::{Auth, Endpoint};
use super::http::{basic, form, Answer, Client, Conn, Failure, Target};
use crate::audit::{Entry, Kind, Origin};
use crate::model::{PushState, SeqState};
use crate::service::Core;
use crate::store::outbox::{PushProgress, PushRow, SeqBody, SeqUpdate};
use crate::store::Store;

/// The dispatcher's tunables.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// One exchange (connect, send, answer); seed 000: 60 s.
    pub timeout: Duration,
    /// Attempts at one sequence before it fails.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub concurrency: usize,
    pub partner_concurrency: usize,
    /// How long a claimed push stays ours without a write (longer than `timeout`).
    pub lease: Duration,
    /// How often an idle dispatcher looks for due pushes.
    pub poll: Duration,
    /// PEM certificates trusted besides the Mozilla roots (a partner's private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            timeout: Duration::from_secs(60),
            max_attempts: 10,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            concurrency: 16,
            partner_concurrency: 4,
            lease: Duration::from_secs(90),
            poll: Duration::from_millis(250),
            ca_file: None,
        }
    }
}

/// Deliveries a crash may leave unrecorded, at most: they are written behind the sends, half
/// of them at a time (one write in the background while the next half is sent, and a write
/// starts only when the one before it has finished).
const RECORD_EVERY: usize = 32;
/// …and for no longer than this (half of it buffered, then the write).
const RECORD_AFTER: Duration = Duration::from_secs(1);
/// Sequences composed and waiting ahead of the one in flight, at most (some 160 KiB each).
const READ_AHEAD: usize = 4;
/// Sequences read from the store at a time.
const READ_CHUNK: i64 = 4;
/// Retry waits up to this long are slept holding the lease.
const SLEEP_UP_TO: Duration = Duration::from_secs(5);

/// OAuth2 tokens by endpoint (and its version), until they expire.
#[derive(Default)]
struct Tokens(Mutex<HashMap<String, (String, Instant)>>);

impl Tokens {
    fn get(&self, key: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }
    fn put(&self, key: &str, token: String, until: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, u)| Instant::now() < *u);
        map.insert(key.to_string(), (token, until));
    }
    fn forget(&self, key: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

struct Shared {
    core: Core,
    settings: DispatchSettings,
    client: Client,
    tokens: Tokens,
    owner: String,
    /// Pushes in flight per partner.
    busy: Mutex<HashMap<String, usize>>,
    stop: watch::Receiver<bool>,
}

/// Run until `shutdown`, then let in-flight sequences finish and give their pushes back.
pub async fn run(
    core: Core,
    settings: DispatchSettings,
    client: Client,
    shutdown: impl std::future::Future<Output = ()>,
) {
    if let Err(e) = core.store.outbox().clear_leases().await {
        tracing::warn!(error = %e, "could not give back old leases");
    }
    let owner = {
        let mut r = rand::thread_rng();
        format!("{:016x}", r.gen::<u64>())
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        core,
        client,
        tokens: Tokens::default(),
        owner,
        busy: Mutex::new(HashMap::new()),
        stop: stop_rx,
        settings,
    });
    let permits = Arc::new(Semaphore::new(shared.settings.concurrency.max(1)));
    let mut workers = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while workers.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let claimed = match claim(&shared).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: claiming a push failed");
                None
            }
        };
        match claimed {
            Some(push) => {
                let shared = shared.clone();
                workers.spawn(async move {
                    let partner = push.partner.clone();
                    work(&shared, push).await;
                    let mut busy = shared.busy.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(n) = busy.get_mut(&partner) {
                        *n -= 1;
                        if *n == 0 {
                            busy.remove(&partner);
                        }
                    }
                    drop(permit);
                });
            }
            None => {
                drop(permit);
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(shared.settings.poll) => {}
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    while workers.join_next().await.is_some() {}
}

async fn claim(s: &Shared) -> crate::error::Result<Option<PushRow>> {
    let full: Vec<String> = {
        let busy = s.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.iter()
            .filter(|(_, n)| **n >= s.settings.partner_concurrency.max(1))
            .map(|(p, _)| p.clone())
            .collect()
    };
    let now = s.core.now();
    let until = now + s.settings.lease.as_secs() as i64;
    let push = s
        .core
        .store
        .outbox()
        .claim_push(now, &s.owner, until, &full)
        .await?;
    if let Some(p) = &push {
        let mut busy = s.busy.lock().unwrap_or_else(|p| p.into_inner());
        *busy.entry(p.partner.clone()).or_insert(0) += 1;
    }
    Ok(push)
}

/// One attempt's outcome, before it is recorded.
struct Attempt {
    verdict: Verdict,
    http_status: u16,
    code: String,
    msg: String,
    answer: String,
}

impl Attempt {
    fn failure(f: &Failure) -> Attempt {
        Attempt {
            verdict: Verdict::Retry,
            http_status: 0,
            code: String::new(),
            msg: f.to_string(),
            answer: String::new(),
        }
    }
}

/// What a worker writes as it goes.
struct Recorder<'a> {
    s: &'a Shared,
    push: &'a PushRow,
    updates: Vec<SeqUpdate>,
    since: Instant,
    /// A write of deliveries under way behind the sends (at most one); `false` when it found
    /// the lease gone or the store failing.
    behind: Option<tokio::task::JoinHandle<bool>>,
}

/// Record how a push ended in the audit trail. The delivery has happened by then: a trail
/// that cannot be written is logged as an error, and the push's own state says the rest.
async fn audit_end(s: &Shared, push: &PushRow, action: &str, mut detail: serde_json::Value) {
    if let Some(d) = detail.as_object_mut() {
        d.insert("push_id".into(), push.push_id.clone().into());
        d.insert("environment".into(), push.env.as_str().into());
        d.insert("interface".into(), push.iface.clone().into());
        d.insert("rows".into(), push.rows.into());
    }
    let e = Entry::new(Kind::Push, action, &push.partner, "").detail(detail);
    if let Err(err) = s.core.audit(&Origin::core(), e).await {
        tracing::error!(push_id = %push.push_id, error = %err, action, "audit trail not written");
    }
}

/// Record attempts and progress if `owner` still holds the lease. `false`: the lease is gone
/// (or the store failed): stop working on this push.
async fn record(
    store: &dyn Store,
    push: &PushRow,
    owner: &str,
    updates: Vec<SeqUpdate>,
    progress: PushProgress,
    now: i64,
) -> bool {
    match store
        .outbox()
        .record_push(push.pk, owner, &updates, &progress, now)
        .await
    {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(push_id = %push.push_id, "outbox: lease lost; another dispatcher has the push");
            false
        }
        Err(e) => {
            tracing::warn!(push_id = %push.push_id, error = %e, "outbox: recording failed; the push is resumed when its lease ends");
            false
        }
    }
}

impl Recorder<'_> {
    /// Wait for the write behind the sends, if any.
    async fn settle(&mut self) -> bool {
        match self.behind.take() {
            Some(write) => write.await.unwrap_or(false),
            None => true,
        }
    }

    /// Deliveries are due to be written (behind the sends).
    fn due(&self) -> bool {
        self.updates.len() >= RECORD_EVERY / 2 || self.since.elapsed() >= RECORD_AFTER / 2
    }

    /// Write the buffered attempts and where the push stands, now (after the write behind
    /// the sends, if one is under way). `false`: stop working on this push.
    async fn write(&mut self, progress: PushProgress) -> bool {
        if !self.settle().await {
            return false;
        }
        let updates = std::mem::take(&mut self.updates);
        self.since = Instant::now();
        let now = self.s.core.now();
        let store = self.s.core.store.as_ref();
        record(store, self.push, &self.s.owner, updates, progress, now).await
    }

    /// Start writing the buffered deliveries in the background, once the previous such write
    /// has finished: the next sequence goes out meanwhile. `false`: stop working on this push.
    async fn write_behind(&mut self, progress: PushProgress) -> bool {
        if !self.settle().await {
            return false;
        }
        let updates = std::mem::take(&mut self.updates);
        self.since = Instant::now();
        let now = self.s.core.now();
        let store = self.s.core.store.clone();
        let push = self.push.clone();
        let owner = self.s.owner.clone();
        self.behind = Some(tokio::spawn(async move {
            record(store.as_ref(), &push, &owner, updates, progress, now).await
        }));
        true
    }

    fn keep(&self, state: PushState, next_seq: i64) -> PushProgress {
        let now = self.s.core.now();
        PushProgress {
            state,
            next_seq,
            next_unix: now,
            lease_until: Some(now + self.s.settings.lease.as_secs() as i64),
        }
    }

    fn release(&self, state: PushState, next_seq: i64, next_unix: i64) -> PushProgress {
        PushProgress {
            state,
            next_seq,
            next_unix,
            lease_until: None,
        }
    }
}

/// The wait before retry `attempt` (1, 2, …): the outbox's and the webhooks' retries.
pub(crate) fn backoff(s: &DispatchSettings, attempt: u32) -> Duration {
    let exp = s
        .backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(s.max_backoff);
    // Full jitter over the upper half: retries of many pushes spread out.
    let factor = rand::thread_rng().gen_range(0.5..=1.0);
    exp.mul_f64(factor)
}

fn method(op: &str) -> Method {
    match op {
        "update" => Method::PUT,
        "delete" => Method::DELETE,
        "all" => Method::PATCH,
        _ => Method::POST,
    }
}

/// Send a claimed push's sequences from its current one, in order.
async fn work(s: &Shared, push: PushRow) {
    let mut rec = Recorder {
        s,
        push: &push,
        updates: Vec::new(),
        since: Instant::now(),
        behind: None,
    };
    let endpoint = match s
        .core
        .store
        .outbox()
        .endpoint(&push.partner, push.env, &push.iface)
        .await
        .and_then(|row| {
            row.ok_or_else(|| crate::error::CoreError::NotFound("the endpoint is gone".into()))
        })
        .and_then(|row| s.core.open_endpoint(row))
    {
        Ok(e) => e,
        Err(e) => {
            // Not the partner's doing and not an attempt: look again in a minute.
            tracing::error!(push_id = %push.push_id, partner = %push.partner, interface = %push.iface, error = %e, "outbox: cannot use the endpoint");
            let again = s.core.now() + 60;
            rec.write(rec.release(PushState::Pending, push.next_seq, again))
                .await;
            return;
        }
    };
    let target = match Target::parse(&endpoint.row.url) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(push_id = %push.push_id, error = %e, "outbox: endpoint URL unusable");
            let again = s.core.now() + 60;
            rec.write(rec.release(PushState::Pending, push.next_seq, again))
                .await;
            return;
        }
    };
    let auth = AuthHeader::new(&endpoint);
    let method = method(&push.operation);
    let mut conn: Option<Conn> = None;
    let mut stop = s.stop.clone();
    let mut next = push.next_seq;
    let (mut ready, _reader) = read_ahead(s.core.store.clone(), &push, next);
    let parent = trace::from_traceparent(&push.traceparent);
    loop {
        let seq = match ready.recv().await {
            Some(Read::Seq(seq)) => seq,
            Some(Read::End) => {
                let now = s.core.now();
                if rec
                    .write(rec.release(PushState::Delivered, next, now))
                    .await
                {
                    tracing::info!(push_id = %push.push_id, partner = %push.partner, interface = %push.iface, rows = push.rows, sequences = push.seqs, "outbox: push delivered");
                    audit_end(s, &push, "push.delivered", serde_json::json!({})).await;
                }
                return;
            }
            failed => {
                let error = match failed {
                    Some(Read::Failed(e)) => e.to_string(),
                    _ => "the reader stopped".to_string(),
                };
                tracing::warn!(push_id = %push.push_id, error = %error, "outbox: reading sequences failed");
                rec.write(rec.release(PushState::Pending, next, s.core.now() + 5))
                    .await;
                return;
            }
        };
        let mut attempts = seq.attempts;
        loop {
            if *stop.borrow() {
                rec.write(rec.release(PushState::Pending, seq.seq_no, s.core.now()))
                    .await;
                return;
            }
            attempts += 1;
            let started = Instant::now();
            // One span per attempt, in the trace the push was made in; its context goes to
            // the partner as `traceparent`.
            let span = info_span!(
                "push send",
                otel.kind = "client",
                otel.status_code = Empty,
                partner = %push.partner,
                interface = %push.iface,
                batch_id = %push.push_id,
                seq_id = seq.seq_no,
                rows = seq.rows,
                attempt = attempts,
                http_status = Empty,
                code = Empty,
            );
            trace::adopt(&span, &parent);
            let to = To {
                endpoint: &endpoint,
                auth: &auth,
                target: &target,
                method: &method,
            };
            let a = send(s, &to, &mut conn, &seq, &parent)
                .instrument(span.clone())
                .await;
            span.record("http_status", a.http_status);
            span.record("code", a.code.as_str());
            if a.verdict != Verdict::Delivered {
                span.record("otel.status_code", "ERROR");
            }
            tracing::info!(
                push_id = %push.push_id,
                seq_id = seq.seq_no,
                partner = %push.partner,
                interface = %push.iface,
                attempt = attempts,
                http_status = a.http_status,
                code = %a.code,
                outcome = ?a.verdict,
                ms = started.elapsed().as_millis() as u64,
                "outbox: attempt"
            );
            let state = match a.verdict {
                Verdict::Delivered => SeqState::Delivered,
                Verdict::Retry if attempts < i64::from(s.settings.max_attempts) => {
                    SeqState::Pending
                }
                _ => SeqState::Failed,
            };
            rec.updates.push(SeqUpdate {
                seq_no: seq.seq_no,
                state,
                attempts,
                http_status: i64::from(a.http_status),
                code: a.code,
                msg: a.msg,
                answer: a.answer,
            });
            match state {
                SeqState::Delivered => {
                    next = seq.seq_no + 1;
                    if rec.due() && !rec.write_behind(rec.keep(PushState::Pending, next)).await {
                        return;
                    }
                    break;
                }
                SeqState::Failed => {
                    tracing::warn!(push_id = %push.push_id, seq_id = seq.seq_no, attempts, "outbox: push failed");
                    let now = s.core.now();
                    if rec
                        .write(rec.release(PushState::Failed, seq.seq_no, now))
                        .await
                    {
                        let detail =
                            serde_json::json!({"seq_no": seq.seq_no, "attempts": attempts});
                        audit_end(s, &push, "push.failed", detail).await;
                    }
                    return;
                }
                SeqState::Pending => {
                    let wait = backoff(&s.settings, attempts as u32);
                    if wait > SLEEP_UP_TO {
                        let due = s.core.now() + wait.as_secs().max(1) as i64;
                        rec.write(rec.release(PushState::Pending, seq.seq_no, due))
                            .await;
                        return;
                    }
                    if !rec.write(rec.keep(PushState::Pending, seq.seq_no)).await {
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }
}

/// The envelope of seed 000 around a sequence's rows; the push's part written once.
struct Envelope {
    /// `{"batch_id":"…","batch_size":N,"seq_id":"`
    head: String,
}

impl Envelope {
    fn new(push: &PushRow) -> Envelope {
        Envelope {
            head: format!(
                "{{\"batch_id\":\"{}\",\"batch_size\":{},\"seq_id\":\"",
                push.push_id, push.rows
            ),
        }
    }

    fn compose(&self, seq: &SeqBody) -> Bytes {
        use std::fmt::Write as _;
        let mut body = String::with_capacity(self.head.len() + seq.data.len() + 48);
        body.push_str(&self.head);
        let _ = write!(body, "{}\",\"seq_size\":{},\"data\":", seq.seq_no, seq.rows);
        body.push_str(&seq.data);
        body.push('}');
        Bytes::from(body)
    }
}

/// A sequence ready to send.
struct Ready {
    seq_no: i64,
    rows: i64,
    attempts: i64,
    body: Bytes,
}

/// What the reader hands the sender, in sequence order.
enum Read {
    Seq(Ready),
    /// No sequence left: the push is delivered once the last one sent was.
    End,
    Failed(crate::error::CoreError),
}

/// Ends the reader task when the worker is done with the push, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A task reading the push's sequences from `from` on and composing their envelopes, at most
/// `READ_AHEAD` ahead of the sender (memory per worker stays bounded whatever the push's
/// size). A channel closed without `End` means the reader died: not delivered.
fn read_ahead(
    store: Arc<dyn Store>,
    push: &PushRow,
    from: i64,
) -> (mpsc::Receiver<Read>, AbortOnDrop) {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let envelope = Envelope::new(push);
    let pk = push.pk;
    let task = tokio::spawn(async move {
        let mut next = from;
        loop {
            let chunk = match store.outbox().seq_bodies(pk, next, READ_CHUNK).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Read::Failed(e)).await;
                    return;
                }
            };
            if chunk.is_empty() {
                let _ = tx.send(Read::End).await;
                return;
            }
            for seq in chunk {
                next = seq.seq_no + 1;
                let ready = Ready {
                    seq_no: seq.seq_no,
                    rows: seq.rows,
                    attempts: seq.attempts,
                    body: envelope.compose(&seq),
                };
                if tx.send(Read::Seq(ready)).await.is_err() {
                    return;
                }
            }
        }
    });
    (rx, AbortOnDrop(task))
}

/// The `Authorization` of an endpoint, worked out once per push: Basic's header, or the key
/// of OAuth2 tokens in the cache.
enum AuthHeader {
    Basic(String),
    /// The sealed value is new at every `endpoint set` (fresh nonce): a replaced endpoint
    /// never reuses the old one's token, even within the same second.
    Token(String),
}

impl AuthHeader {
    fn new(e: &Endpoint) -> AuthHeader {
        match e.auth {
            Auth::Basic => AuthHeader::Basic(basic(&e.row.username, &e.secrets.password)),
            Auth::Client | Auth::Password => AuthHeader::Token(format!(
                "{}/{}/{}/{}",
                e.row.partner,
                e.row.env.as_str(),
                e.row.iface,
                e.row.sealed
            )),
        }
    }
}

/// One attempt at one sequence: auth, send, and for OAuth2 one token refetch on a 401.
/// Where and how a push's sequences go.
struct To<'a> {
    endpoint: &'a Endpoint,
    auth: &'a AuthHeader,
    target: &'a Target,
    method: &'a Method,
}

async fn send(
    s: &Shared,
    to: &To<'_>,
    conn: &mut Option<Conn>,
    seq: &Ready,
    parent: &trace::Context,
) -> Attempt {
    let To {
        endpoint: e,
        auth,
        target,
        method,
    } = *to;
    let traceparent = trace::to_traceparent(&trace::outgoing(parent));
    let mut refetched = false;
    loop {
        let authorization = match auth {
            AuthHeader::Basic(header) => header.clone(),
            AuthHeader::Token(token_key) => match s.tokens.get(token_key) {
                Some(t) => format!("Bearer {t}"),
                // Its own connection: the token server is often another host.
                None => match fetch_token(s, e, &mut None).await {
                    Ok((token, ttl)) => {
                        s.tokens.put(token_key, token.clone(), Instant::now() + ttl);
                        format!("Bearer {token}")
                    }
                    Err(a) => return a,
                },
            },
        };
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("authorization", authorization),
        ];
        if !traceparent.is_empty() {
            headers.push(("traceparent", traceparent.clone()));
        }
        let answer = match s
            .client
            .exchange(conn, target, method.clone(), &headers, seq.body.clone())
            .await
        {
            Ok(a) => a,
            Err(f) => return Attempt::failure(&f),
        };
        if let (401, AuthHeader::Token(token_key), false) = (answer.status, auth, refetched) {
            // The token may have been revoked or expired early: one fresh one, at once.
            s.tokens.forget(token_key);
            refetched = true;
            continue;
        }
        return from_answer(&answer);
    }
}

fn from_answer(a: &Answer) -> Attempt {
    let Classified { verdict, code, msg } = classify(a.status, &a.body);
    Attempt {
        verdict,
        http_status: a.status,
        code,
        msg,
        answer: String::from_utf8_lossy(&a.body).into_owned(),
    }
}

/// OAuth 2.0 token from the endpoint's authPath (client credentials or password grant).
async fn fetch_token(
    s: &Shared,
    e: &Endpoint,
    conn: &mut Option<Conn>,
) -> Result<(String, Duration), Attempt> {
    let target = Target::parse(&e.row.auth_path).map_err(|m| Attempt {
        verdict: Verdict::Failed,
        http_status: 0,
        code: String::new(),
        msg: format!("token endpoint: {m}"),
        answer: String::new(),
    })?;
    let mut fields = vec![
        (
            "grant_type",
            if e.auth == Auth::Password {
                "password"
            } else {
                "client_credentials"
            },
        ),
        ("client_id", e.row.client_id.as_str()),
        ("client_secret", e.secrets.client_secret.as_str()),
    ];
    if e.auth == Auth::Password {
        fields.push(("username", e.row.username.as_str()));
        fields.push(("password", e.secrets.password.as_str()));
    }
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    let answer = s
        .client
        .exchange(
            conn,
            &target,
            Method::POST,
            &headers,
            Bytes::from(form(&fields)),
        )
        .await
        .map_err(|f| {
            let mut a = Attempt::failure(&f);
            a.msg = format!("token endpoint: {}", a.msg);
            a
        })?;
    let refused = |why: &str| {
        let verdict = if retryable_status(answer.status) {
            Verdict::Retry
        } else {
            Verdict::Failed
        };
        Attempt {
            verdict,
            http_status: answer.status,
            code: String::new(),
            msg: format!("token endpoint answered HTTP {}: {why}", answer.status),
            answer: String::from_utf8_lossy(&answer.body).into_owned(),
        }
    };
    if !(200..300).contains(&answer.status) {
        return Err(refused("no token"));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|_| refused("not JSON"))?;
    let token = doc
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refused("no access_token"))?;
    let ttl = doc
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(300);
    // A little early, so a token never expires in flight.
    let ttl = Duration::from_secs(ttl.saturating_sub(30).max(1));
    Ok((token.to_string(), ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let s = DispatchSettings {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..DispatchSettings::default()
        };
        for _ in 0..50 {
            let b1 = backoff(&s, 1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = backoff(&s, 3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            assert!(backoff(&s, 30) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn the_envelope_is_seed_000s() {
        let push = PushRow {
            pk: 1,
            push_id: "ABCDEF0123456789".into(),
            partner: "p".into(),
            env: crate::model::Environment::Prod,
            iface: "t1/bom".into(),
            operation: "insert".into(),
            rows: 501,
            seqs: 2,
            state: PushState::Pending,
            next_seq: 1,
            next_unix: 0,
            created_unix: 0,
            updated_unix: 0,
            traceparent: String::new(),
        };
        let seq = SeqBody {
            seq_no: 2,
            rows: 1,
            data: r#"[{"A":"1"}]"#.into(),
            attempts: 0,
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&Envelope::new(&push).compose(&seq)).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"batch_id":"ABCDEF0123456789","batch_size":501,"seq_id":"2","seq_size":1,"data":[{"A":"1"}]})
        );
        assert_eq!(method("all"), Method::PATCH);
        assert_eq!(method("delete"), Method::DELETE);
    }
}
