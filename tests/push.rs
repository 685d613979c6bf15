//! End to end, outbound push (SPEC §7.1, issue #8): `wharf endpoint set`, `wharf push`, the
//! dispatcher inside `wharf serve` / `wharf core`, `wharf outbox list|retry`. The partner is
//! either a second real `wharf serve` or a scriptable receiver (tests/util/receiver.rs) that
//! injects faults and counts what it was sent.

mod util;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::data::{bom_key, bom_row, export, keys};
use util::http::{request, Auth};
use util::receiver::{base64, code, secret_key, wait_for, Behaviour, Receiver, Seen};
use util::{add_partner, free_port, installation, Backend, Wharf, PASSWORD, SECRET};

const SYNC: &str = "/v1.0/scc/data/sync/t1/bom";

// ---------------------------------------------------------------------------------------------
// helpers

/// A wharf that pushes: WHARF_SECRET_KEY set, plus `tunables`.
fn pusher(backend: Backend, tunables: &[(&str, &str)]) -> Wharf {
    let mut w = Wharf::new(backend);
    w.extra_env.push(("WHARF_SECRET_KEY".into(), secret_key()));
    for (k, v) in tunables {
        w.extra_env.push((k.to_string(), v.to_string()));
    }
    w
}

/// The tunables of the fault scenarios.
const FAST: [(&str, &str); 3] = [
    ("WHARF_PUSH_BACKOFF_MS", "50"),
    ("WHARF_PUSH_TIMEOUT_SECS", "2"),
    ("WHARF_PUSH_MAX_ATTEMPTS", "4"),
];

/// A random string fit for a secret (and easy to look for).
fn random_secret(prefix: &str) -> String {
    let r: String = secret_key()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    format!("{prefix}-{r}")
}

/// `n` t1/bom rows keyed `{prefix}00000`, `{prefix}00001`, …
fn rows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| bom_row(&format!("{prefix}{i:05}")))
        .collect()
}

fn row_keys(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["vendor_father_item"].as_str().expect("a key").to_string())
        .collect()
}

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `wharf endpoint set PARTNER t1/bom {args}` with `stdin`; must succeed with a one-line
/// confirmation that holds no secret.
fn endpoint_set(w: &Wharf, partner: &str, args: &[&str], stdin: &str) {
    let mut all = vec!["endpoint", "set", partner, "t1/bom"];
    all.extend(args);
    let out = w.run(&all, stdin);
    assert!(out.status.success(), "wharf {all:?}: {}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "a one-line confirmation: {stdout:?}"
    );
    for secret in stdin.lines().filter(|l| !l.is_empty()) {
        assert!(
            !stdout.contains(secret) && !String::from_utf8_lossy(&out.stderr).contains(secret),
            "endpoint set printed a secret: {}",
            show(&out)
        );
    }
}

/// A basic-auth endpoint at the receiver's `path` (plain HTTP, so `--allow-http`).
fn basic_endpoint(w: &Wharf, r: &Receiver, partner: &str, path: &str, user: &str, pw: &str) {
    endpoint_set(
        w,
        partner,
        &[
            "--url",
            &r.url(path),
            "--auth",
            "basic",
            "--username",
            user,
            "--allow-http",
        ],
        &format!("{pw}\n"),
    );
}

/// `wharf push t1 bom --partner P --op OP [--env ENV] < rows`; must succeed and say
/// `push PUSH_ID queued: N rows in M sequences`. Returns PUSH_ID.
fn push(w: &Wharf, partner: &str, op: &str, env: Option<&str>, rows: &[Value]) -> String {
    let mut args = vec!["push", "t1", "bom", "--partner", partner, "--op", op];
    if let Some(env) = env {
        args.extend(["--env", env]);
    }
    let out = w.run(&args, &jsonl(rows));
    assert!(out.status.success(), "wharf {args:?}: {}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    let (id, rest) = first
        .strip_prefix("push ")
        .and_then(|r| r.split_once(' '))
        .unwrap_or_else(|| panic!("not `push PUSH_ID queued: …`: {first:?}"));
    assert_eq!(
        rest,
        format!(
            "queued: {} rows in {} sequences",
            rows.len(),
            rows.len().div_ceil(500)
        ),
        "{first:?}"
    );
    assert_eq!(
        id.chars().count(),
        16,
        "PUSH_ID is a 16-char batch_id: {first:?}"
    );
    id.to_string()
}

/// `wharf outbox list --json [--partner P]`, one object per push.
fn outbox(w: &Wharf, partner: Option<&str>) -> Vec<Value> {
    let mut args = vec!["outbox", "list", "--json"];
    if let Some(p) = partner {
        args.extend(["--partner", p]);
    }
    w.ok(&args, "")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn find_push(w: &Wharf, partner: &str, id: &str) -> Option<Value> {
    outbox(w, Some(partner))
        .into_iter()
        .find(|p| p["push_id"] == id)
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Poll the outbox until push `id` is in `want` (pending|delivered|failed), at most `secs`;
/// a different final state, or the deadline, fails with the push and the pusher's log tail.
fn wait_push(w: &Wharf, partner: &str, id: &str, want: &str, secs: u64, log: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let p = find_push(w, partner, id);
        if let Some(p) = &p {
            if p["state"] == want {
                return p.clone();
            }
            let other = if want == "delivered" {
                "failed"
            } else {
                "delivered"
            };
            assert!(
                p["state"] != other,
                "push {id} ended {other}, expected {want}: {p}\nlog:\n{}",
                log_tail(log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "push {id} not {want} within {secs} s: {p:?}\nlog:\n{}",
            log_tail(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (seq_id, rows, state, attempts) of every sequence of a push.
fn seq_summary(p: &Value) -> Vec<(String, u64, String, u64)> {
    p["sequences"]
        .as_array()
        .unwrap_or_else(|| panic!("sequences is an array: {p}"))
        .iter()
        .map(|s| {
            (
                s["seq_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("seq_id: {s}"))
                    .into(),
                s["rows"].as_u64().unwrap_or_else(|| panic!("rows: {s}")),
                s["state"]
                    .as_str()
                    .unwrap_or_else(|| panic!("state: {s}"))
                    .into(),
                s["attempts"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("attempts: {s}")),
            )
        })
        .collect()
}

fn seq(p: &Value, seq_id: &str) -> Value {
    p["sequences"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["seq_id"] == seq_id))
        .cloned()
        .unwrap_or_else(|| panic!("no sequence {seq_id} in {p}"))
}

fn summary(items: &[(&str, u64, &str, u64)]) -> Vec<(String, u64, String, u64)> {
    items
        .iter()
        .map(|(s, r, st, a)| (s.to_string(), *r, st.to_string(), *a))
        .collect()
}

/// Every request in `seen` belongs to batch `id`.
#[track_caller]
fn all_of(seen: &[Seen], id: &str) {
    for s in seen {
        assert_eq!(s.batch_id, id, "a request of another batch: {s:?}");
    }
}

fn seq_ids(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(|s| s.key().1).collect()
}

fn answers(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(|s| s.answer.clone()).collect()
}

/// All `*.db` / `*.sqlite*` files under `dir` (with their -wal/-shm companions).
fn db_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if p.is_dir() {
                todo.push(p);
            } else if name.contains(".db") || name.contains(".sqlite") {
                out.push(p);
            }
        }
    }
    out
}

/// Log files (`*.log`) under `dir`.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// tests

/// Two real wharfs: a pusher `wharf serve` delivers 1,250 rows as 500+500+250 to a receiving
/// `wharf serve` over its HTTP API (Basic), then a push with each OAuth2 grant. The receiver
/// stores exactly the rows, under the push's batch_id.
#[test]
fn pushes_to_a_second_wharf_with_every_auth_method() {
    let (recv, partner, user) = installation(Backend::Sqlite);
    let mut recv_server = recv.serve();
    let url = format!("{}{SYNC}", recv.http_url());
    let token_url = format!("{}/oauth/token", recv.http_url());

    let sender = pusher(Backend::Sqlite, &[("WHARF_PUSH_BACKOFF_MS", "50")]);
    sender.ok(&["partner", "add", &partner], &format!("{SECRET}\n"));
    let send_server = sender.serve();

    // Basic, 1,250 rows: three sequences.
    endpoint_set(
        &sender,
        &partner,
        &[
            "--url",
            &url,
            "--auth",
            "basic",
            "--username",
            &user,
            "--allow-http",
        ],
        &format!("{PASSWORD}\n"),
    );
    let big = rows("k", 1250);
    let id = push(&sender, &partner, "insert", None, &big);
    let p = wait_push(&sender, &partner, &id, "delivered", 60, &send_server.log);
    assert_eq!(
        (
            &p["partner"],
            &p["env"],
            &p["interface"],
            &p["operation"],
            &p["rows"]
        ),
        (
            &json!(partner),
            &json!("prod"),
            &json!("t1/bom"),
            &json!("insert"),
            &json!(1250)
        ),
        "{p}"
    );
    assert_eq!(
        seq_summary(&p),
        summary(&[
            ("1", 500, "delivered", 1),
            ("2", 500, "delivered", 1),
            ("3", 250, "delivered", 1)
        ]),
        "{p}"
    );
    for s in p["sequences"].as_array().expect("sequences") {
        assert_eq!(
            (&s["http_status"], &s["code"]),
            (&json!(200), &json!("0")),
            "{p}"
        );
    }
    let mut want = row_keys(&big);
    want.sort();
    assert_eq!(keys(&export(&recv, &partner, "t1/bom", Some("prod"))), want);
    // The receiver knows the batch by the push's id.
    let r = request(
        "GET",
        &format!("{url}/batches/{id}"),
        &Auth::Basic(&user, PASSWORD),
        None,
        &[],
    );
    assert_eq!(r.expect(200, "0")["result"]["state"], "applied", "{r:?}");

    // OAuth2 client credentials.
    endpoint_set(
        &sender,
        &partner,
        &[
            "--url",
            &url,
            "--auth",
            "oauth2-client",
            "--auth-path",
            &token_url,
            "--client-id",
            &partner,
            "--allow-http",
        ],
        &format!("{SECRET}\n"),
    );
    let cc = rows("cc", 5);
    let id_cc = push(&sender, &partner, "insert", None, &cc);
    wait_push(&sender, &partner, &id_cc, "delivered", 30, &send_server.log);

    // OAuth2 password: the receiver's batch is the user's.
    endpoint_set(
        &sender,
        &partner,
        &[
            "--url",
            &url,
            "--auth",
            "oauth2-password",
            "--auth-path",
            &token_url,
            "--client-id",
            &partner,
            "--username",
            &user,
            "--allow-http",
        ],
        &format!("{SECRET}\n{PASSWORD}\n"),
    );
    let pw = rows("pw", 5);
    let id_pw = push(&sender, &partner, "insert", None, &pw);
    wait_push(&sender, &partner, &id_pw, "delivered", 30, &send_server.log);
    let r = request(
        "GET",
        &format!("{url}/batches/{id_pw}"),
        &Auth::Basic(&user, PASSWORD),
        None,
        &[],
    );
    let b = r.expect(200, "0");
    assert_eq!(
        (&b["result"]["state"], &b["result"]["creator"]),
        (&json!("applied"), &json!(user)),
        "{r:?}"
    );

    want.extend(row_keys(&cc));
    want.extend(row_keys(&pw));
    want.sort();
    assert_eq!(keys(&export(&recv, &partner, "t1/bom", Some("prod"))), want);
    assert_ne!(id, id_cc);
    assert_ne!(id_cc, id_pw);

    // The receiving wharf has no WHARF_SECRET_KEY: it serves, and says push is off.
    let log = recv_server.stderr();
    assert!(
        log.contains("WHARF_SECRET_KEY") || log.to_lowercase().contains("outbound push"),
        "serve without WHARF_SECRET_KEY should log that outbound push is off:\n{log}"
    );
}

/// One pusher, a fault-injecting receiver; every scenario has its own partner and path and
/// they run side by side.
#[test]
fn faults_are_retried_or_failed_as_the_partner_answers() {
    let r = Receiver::start();
    let w = pusher(Backend::Sqlite, &FAST);
    let names = [
        "a500", "minus1", "hang", "drop", "dropfail", "oauth", "oauth2x", "e00v00", "busy",
        "final", "methods",
    ];
    let mut partners = std::collections::HashMap::new();
    for name in names {
        let partner = add_partner(&w, None);
        let path = format!("/{name}{SYNC}");
        if name.starts_with("oauth") {
            endpoint_set(
                &w,
                &partner,
                &[
                    "--url",
                    &r.url(&path),
                    "--auth",
                    "oauth2-client",
                    "--auth-path",
                    &r.url(&format!("/{name}/oauth/token")),
                    "--client-id",
                    &format!("client-{name}"),
                    "--allow-http",
                ],
                &format!("secret-{name}\n"),
            );
        } else {
            basic_endpoint(&w, &r, &partner, &path, "pusher", &format!("pw-{name}"));
        }
        partners.insert(name, (partner, path));
    }
    // The uat endpoint of `methods`: plain HTTP is fine for uat without --allow-http.
    let (methods_partner, _) = &partners["methods"];
    endpoint_set(
        &w,
        methods_partner,
        &[
            "--url",
            &r.url("/methods/uat/v1.0/scc/data/sync/t1/bom"),
            "--env",
            "uat",
            "--auth",
            "basic",
            "--username",
            "pusher",
        ],
        "pw-methods-uat\n",
    );
    let server = w.serve();
    let log = server.log.clone();
    let ctx = Ctx {
        w: &w,
        r: &r,
        log: &log,
    };
    let at = |name: &str| {
        let (p, path) = &partners[name];
        (p.as_str(), path.as_str())
    };
    std::thread::scope(|s| {
        s.spawn(|| retried_after_500(&ctx, at("a500")));
        s.spawn(|| minus_one_until_max_attempts(&ctx, at("minus1")));
        s.spawn(|| hang_times_out_and_is_retried(&ctx, at("hang")));
        s.spawn(|| dropped_connection_is_retried(&ctx, at("drop")));
        s.spawn(|| no_answer_at_all_fails_with_status_0(&ctx, at("dropfail")));
        s.spawn(|| oauth_401_refetches_once(&ctx, at("oauth"), "/oauth/oauth/token"));
        s.spawn(|| oauth_second_401_fails(&ctx, at("oauth2x"), "/oauth2x/oauth/token"));
        s.spawn(|| e00v00_fails_at_once_then_retry(&ctx, at("e00v00")));
        s.spawn(|| busy_answers_are_retried(&ctx, at("busy")));
        s.spawn(|| final_answers_fail_at_once(&ctx, at("final")));
        s.spawn(|| operations_and_environments(&ctx, at("methods")));
    });
}

struct Ctx<'a> {
    w: &'a Wharf,
    r: &'a Receiver,
    log: &'a Path,
}

/// The request checks every scenario makes: the envelope of the seed (numbers as numbers,
/// seq_id a string), JSON, Basic auth as configured.
#[track_caller]
fn check_envelope(s: &Seen, id: &str, seq_id: &str, batch_size: usize, rows: usize) {
    assert_eq!(
        (&s.batch_id, &s.seq_id, &s.batch_size, &s.seq_size),
        (&json!(id), &json!(seq_id), &json!(batch_size), &json!(rows)),
        "{s:?}"
    );
    assert_eq!(s.rows, rows, "{s:?}");
    assert!(
        s.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{s:?}"
    );
}

#[track_caller]
fn check_basic(s: &Seen, user: &str, pw: &str) {
    let want = format!("Basic {}", base64(format!("{user}:{pw}").as_bytes()));
    assert_eq!(s.header("authorization"), Some(want.as_str()), "{s:?}");
}

/// (a) HTTP 500, then "0": delivered on the second attempt, same batch_id and seq_id.
fn retried_after_500(c: &Ctx, (partner, path): (&str, &str)) {
    c.r.script(path, vec![Behaviour::Answer(500, "internal error".into())]);
    let sent = rows("a", 3);
    let id = push(c.w, partner, "insert", None, &sent);
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    let s1 = seq(&p, "1");
    assert_eq!(
        (&s1["attempts"], &s1["http_status"], &s1["code"]),
        (&json!(2), &json!(200), &json!("0")),
        "{p}"
    );
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["http 500", "0"], "{seen:?}");
    for s in &seen {
        check_envelope(s, &id, "1", 3, 3);
        check_basic(s, "pusher", "pw-a500");
        assert_eq!(s.method, "POST", "{s:?}");
        assert_eq!(s.keys, row_keys(&sent), "{s:?}");
    }
}

/// (b) "-1" four times: failed after exactly WHARF_PUSH_MAX_ATTEMPTS=4 attempts, the
/// partner's answer kept, nothing sent after; one log line per attempt, with the push id.
fn minus_one_until_max_attempts(c: &Ctx, (partner, path): (&str, &str)) {
    c.r.script(path, vec![code("-1", "system busy"); 4]);
    let id = push(c.w, partner, "insert", None, &rows("b", 2));
    let p = wait_push(c.w, partner, &id, "failed", 30, c.log);
    let s1 = seq(&p, "1");
    assert_eq!(
        (
            &s1["state"],
            &s1["attempts"],
            &s1["http_status"],
            &s1["code"],
            &s1["msg"]
        ),
        (
            &json!("failed"),
            &json!(4),
            &json!(200),
            &json!("-1"),
            &json!("system busy")
        ),
        "{p}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["-1"; 4], "exactly 4 attempts: {seen:?}");
    all_of(&seen, &id);
    assert_eq!(seq_ids(&seen), ["1"; 4]);
    let log = std::fs::read_to_string(c.log).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(id.as_str()) && l.contains("attempt=") && l.contains("seq_id="))
        .collect();
    assert!(
        lines.len() >= 4 && lines.iter().all(|l| l.contains("outcome")),
        "a log line per attempt with push_id, seq_id, attempt and outcome: {lines:#?}"
    );
    eprintln!("an attempt's log line: {}", lines[0]);
}

/// (c) No answer: the 2 s timeout ends the first attempt, the second delivers.
fn hang_times_out_and_is_retried(c: &Ctx, (partner, path): (&str, &str)) {
    c.r.script(path, vec![Behaviour::Hang]);
    let id = push(c.w, partner, "insert", None, &rows("c", 2));
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    assert_eq!(seq(&p, "1")["attempts"], 2, "{p}");
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["hang", "0"], "{seen:?}");
    all_of(&seen, &id);
    assert_eq!(seq_ids(&seen), ["1", "1"]);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(1900) && gap < Duration::from_secs(15),
        "the resend came {gap:?} after a request that hung (timeout 2 s)"
    );
}

/// (d) The connection closed without an answer: retried, delivered.
fn dropped_connection_is_retried(c: &Ctx, (partner, path): (&str, &str)) {
    c.r.script(path, vec![Behaviour::Drop]);
    let id = push(c.w, partner, "insert", None, &rows("d", 2));
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    assert_eq!(seq(&p, "1")["attempts"], 2, "{p}");
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["drop", "0"], "{seen:?}");
    all_of(&seen, &id);
    assert_eq!(seq_ids(&seen), ["1", "1"]);
}

/// Connection closed every time: failed after 4 attempts, no HTTP status (0), no code.
fn no_answer_at_all_fails_with_status_0(c: &Ctx, (partner, path): (&str, &str)) {
    c.r.script(path, vec![Behaviour::Drop; 4]);
    let id = push(c.w, partner, "insert", None, &rows("df", 2));
    let p = wait_push(c.w, partner, &id, "failed", 30, c.log);
    let s1 = seq(&p, "1");
    assert_eq!(
        (&s1["attempts"], &s1["http_status"], &s1["code"]),
        (&json!(4), &json!(0), &json!("")),
        "{p}"
    );
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["drop"; 4], "{seen:?}");
    all_of(&seen, &id);
}

/// (e) OAuth2 client credentials: a 401 makes exactly one token refetch and an immediate
/// resend with the new token; the token is then cached for the next push.
fn oauth_401_refetches_once(c: &Ctx, (partner, path): (&str, &str), token_path: &str) {
    c.r.script(path, vec![Behaviour::Unauthorized]);
    let id = push(c.w, partner, "insert", None, &rows("e", 2));
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    let calls = c.r.token_calls_at(token_path);
    assert_eq!(
        calls.len(),
        2,
        "one token, one refetch after the 401: {calls:?}"
    );
    for call in &calls {
        let f = &call.form;
        assert_eq!(
            (
                f.get("grant_type").map(String::as_str),
                f.get("client_id").map(String::as_str),
                f.get("client_secret").map(String::as_str)
            ),
            (
                Some("client_credentials"),
                Some("client-oauth"),
                Some("secret-oauth")
            ),
            "{call:?}"
        );
    }
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["401", "0"], "{seen:?} {p}");
    all_of(&seen, &id);
    assert_eq!(seq_ids(&seen), ["1", "1"]);
    for (s, call) in seen.iter().zip(&calls) {
        let bearer = format!("Bearer {}", call.token);
        assert_eq!(s.header("authorization"), Some(bearer.as_str()), "{s:?}");
    }
    // Cached: the next push needs no token call.
    let id2 = push(c.w, partner, "insert", None, &rows("e2-", 2));
    wait_push(c.w, partner, &id2, "delivered", 30, c.log);
    assert_eq!(
        c.r.token_calls_at(token_path).len(),
        2,
        "the token is cached until it expires"
    );
}

/// A second 401 right after the refetch: failed at once, the 401 kept.
fn oauth_second_401_fails(c: &Ctx, (partner, path): (&str, &str), token_path: &str) {
    c.r.script(path, vec![Behaviour::Unauthorized, Behaviour::Unauthorized]);
    let id = push(c.w, partner, "insert", None, &rows("x", 2));
    let p = wait_push(c.w, partner, &id, "failed", 30, c.log);
    let s1 = seq(&p, "1");
    assert_eq!(
        (&s1["state"], &s1["http_status"]),
        (&json!("failed"), &json!(401)),
        "{p}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["401", "401"], "{seen:?}");
    assert_eq!(c.r.token_calls_at(token_path).len(), 2);
}

/// (f) E00V00: failed at once with the partner's answer kept, the next sequence never sent;
/// `outbox retry` sends the failed sequence and the rest, same batch_id.
fn e00v00_fails_at_once_then_retry(c: &Ctx, (partner, path): (&str, &str)) {
    let answer = json!({"code": "E00V00", "msg": "data verification failed!",
        "result": [{"row": {"vendor_code": "eee"},
                    "verify": [{"type": "value length exceed", "fields": "version"}]}]});
    c.r.script(path, vec![Behaviour::Answer(200, answer.to_string())]);
    let sent = rows("f", 600);
    let id = push(c.w, partner, "insert", None, &sent);
    let p = wait_push(c.w, partner, &id, "failed", 30, c.log);
    let s1 = seq(&p, "1");
    assert_eq!(
        (
            &s1["state"],
            &s1["attempts"],
            &s1["http_status"],
            &s1["code"],
            &s1["msg"]
        ),
        (
            &json!("failed"),
            &json!(1),
            &json!(200),
            &json!("E00V00"),
            &json!("data verification failed!")
        ),
        "{p}"
    );
    assert_eq!(seq(&p, "2")["attempts"], 0, "{p}");
    std::thread::sleep(Duration::from_millis(500));
    let seen = c.r.seen_at(path);
    assert_eq!(
        answers(&seen),
        ["E00V00"],
        "sequence 2 is never sent: {seen:?}"
    );
    check_envelope(&seen[0], &id, "1", 600, 500);

    // A failed push only; an unknown one is refused too.
    let out = c.w.run(&["outbox", "retry", "NOSUCHPUSH000000"], "");
    assert_eq!(out.status.code(), Some(65), "{}", show(&out));
    let out = c.w.run(&["outbox", "retry", &id], "");
    assert!(out.status.success(), "{}", show(&out));
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    assert_eq!(
        seq_summary(&p),
        summary(&[("1", 500, "delivered", 1), ("2", 100, "delivered", 1)]),
        "{p}"
    );
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["E00V00", "0", "0"], "{seen:?}");
    assert_eq!(seq_ids(&seen), ["1", "1", "2"]);
    all_of(&seen, &id);
    check_envelope(&seen[2], &id, "2", 600, 100);
    let mut got: Vec<String> = seen[1..].iter().flat_map(|s| s.keys.clone()).collect();
    got.sort();
    let mut want = row_keys(&sent);
    want.sort();
    assert_eq!(got, want, "the retried push carries every row once");
    let out = c.w.run(&["outbox", "retry", &id], "");
    assert_eq!(
        out.status.code(),
        Some(65),
        "retry of a delivered push: {}",
        show(&out)
    );
}

/// HTTP 429 and 408 are "try later": retried, delivered on the third attempt.
fn busy_answers_are_retried(c: &Ctx, (partner, path): (&str, &str)) {
    c.r.script(
        path,
        vec![
            Behaviour::Answer(429, String::new()),
            Behaviour::Answer(408, String::new()),
        ],
    );
    let id = push(c.w, partner, "insert", None, &rows("g", 2));
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    assert_eq!(seq(&p, "1")["attempts"], 3, "{p}");
    let seen = c.r.seen_at(path);
    assert_eq!(answers(&seen), ["http 429", "http 408", "0"], "{seen:?}");
    all_of(&seen, &id);
}

/// Other 4xx and the seed's final codes fail at once (one attempt), the answer kept.
fn final_answers_fail_at_once(c: &Ctx, (partner, path): (&str, &str)) {
    let cases = [
        (Behaviour::Answer(404, "no such path".into()), 404, ""),
        (code("E00W00", "unique constraint violation"), 200, "E00W00"),
        (code("E00M00", "multiple exceptions"), 200, "E00M00"),
        (code("E00P00", "retry limit reached"), 200, "E00P00"),
        (code("E99X99", "something else"), 200, "E99X99"),
        // Basic auth: a 401 is final (no token to refetch).
        (Behaviour::Unauthorized, 401, "401"),
    ];
    for (i, (behaviour, status, want_code)) in cases.into_iter().enumerate() {
        c.r.script(path, vec![behaviour]);
        let id = push(c.w, partner, "insert", None, &rows(&format!("h{i}-"), 2));
        let p = wait_push(c.w, partner, &id, "failed", 30, c.log);
        let s1 = seq(&p, "1");
        assert_eq!(
            (&s1["attempts"], &s1["http_status"], &s1["code"]),
            (&json!(1), &json!(status), &json!(want_code)),
            "{p}"
        );
        assert_eq!(c.r.seen_at(path).len(), i + 1, "failed at once");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.r.seen_at(path).len(), 6, "nothing resent");
}

/// update/delete/all go as PUT/DELETE/PATCH; a uat push goes to the uat endpoint.
fn operations_and_environments(c: &Ctx, (partner, path): (&str, &str)) {
    let cases = [
        ("update", "PUT", vec![bom_row("m1")]),
        ("delete", "DELETE", vec![bom_key("m1")]),
        ("all", "PATCH", vec![bom_row("m2"), bom_row("m3")]),
        ("insert", "POST", vec![bom_row("m4")]),
    ];
    for (op, method, sent) in cases {
        let id = push(c.w, partner, op, None, &sent);
        let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
        assert_eq!(p["operation"], op, "{p}");
        let seen: Vec<Seen> =
            c.r.seen_at(path)
                .into_iter()
                .filter(|s| s.batch_id == id.as_str())
                .collect();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].method, method, "--op {op}");
        check_envelope(&seen[0], &id, "1", sent.len(), sent.len());
        check_basic(&seen[0], "pusher", "pw-methods");
    }
    let uat_path = "/methods/uat/v1.0/scc/data/sync/t1/bom";
    let id = push(
        c.w,
        partner,
        "insert",
        Some("uat"),
        &[bom_row("u1"), bom_row("u2")],
    );
    let p = wait_push(c.w, partner, &id, "delivered", 30, c.log);
    assert_eq!(p["env"], "uat", "{p}");
    let seen = c.r.seen_at(uat_path);
    assert_eq!(seen.len(), 1, "{seen:?}");
    check_envelope(&seen[0], &id, "1", 2, 2);
    check_basic(&seen[0], "pusher", "pw-methods-uat");
    assert_eq!(seen[0].method, "POST");
}

/// kill -9 mid-push: after a restart the push resumes with the same batch_id, and thanks to
/// the partner's dedupe every sequence is consumed exactly once, in order.
#[test]
fn a_killed_pusher_resumes_and_each_sequence_is_consumed_once() {
    let r = Receiver::start();
    r.set_delay(Duration::from_millis(30));
    let w = pusher(
        Backend::Sqlite,
        &[
            ("WHARF_PUSH_BACKOFF_MS", "50"),
            ("WHARF_PUSH_TIMEOUT_SECS", "5"),
        ],
    );
    let partner = add_partner(&w, None);
    let path = format!("/kill{SYNC}");
    basic_endpoint(&w, &r, &partner, &path, "pusher", "pw-kill");
    let mut server = w.serve();
    let sent = rows("z", 10_000);
    let id = push(&w, &partner, "insert", None, &sent);
    let delivered_seqs = || {
        (1..=20)
            .filter(|s| r.delivered(&id, &s.to_string()) > 0)
            .count()
    };
    wait_for(60, "3 sequences delivered before the kill", || {
        delivered_seqs() >= 3
    });
    server.child.kill().expect("SIGKILL the pusher");
    server.child.wait().expect("reap");
    let killed_at = Instant::now();
    let at_kill = delivered_seqs();
    assert!(
        at_kill < 20,
        "the push finished before the kill; the test proves nothing"
    );
    let p_killed = find_push(&w, &partner, &id).expect("the push survives the kill");
    assert_eq!(p_killed["state"], "pending", "{p_killed}");

    let server = w.serve();
    let p = wait_push(&w, &partner, &id, "delivered", 90, &server.log);
    let want: Vec<(String, u64, String, u64)> = (1..=20)
        .map(|s| (s.to_string(), 500, "delivered".to_string(), 0))
        .collect();
    let got: Vec<_> = seq_summary(&p)
        .into_iter()
        .map(|(s, n, st, _)| (s, n, st, 0))
        .collect();
    assert_eq!(got, want, "{p}");
    let seen = r.seen_at(&path);
    all_of(&seen, &id);
    for s in 1..=20 {
        assert_eq!(
            r.delivered(&id, &s.to_string()),
            1,
            "sequence {s} consumed once (killed after {at_kill}): {:?}",
            seq_ids(&seen)
        );
    }
    // In order, one at a time: within each run the seq_ids as received never go back, and
    // the second run resumes no later than the first sequence the first run had not seen
    // answered (deliveries it had not recorded yet are resent and answered E00A00).
    let ids = |run: &dyn Fn(&Seen) -> bool| -> Vec<u32> {
        seen.iter()
            .filter(|s| run(s))
            .map(|s| s.key().1.parse().expect("a numeric seq_id"))
            .collect()
    };
    let first = ids(&|s| s.at < killed_at);
    let second = ids(&|s| s.at >= killed_at);
    let detail = format!(
        "first run {first:?}, second run {second:?}, answers {:?}, outbox at the kill: {p_killed}",
        answers(&seen)
    );
    for run in [&first, &second] {
        assert!(
            run.windows(2).all(|w| w[0] <= w[1]),
            "out of order: {detail}"
        );
    }
    assert!(
        second
            .first()
            .is_some_and(|&s| s <= first.iter().max().copied().unwrap_or(0) + 1),
        "the second run skipped sequences: {detail}"
    );
    let mut got: Vec<String> = seen
        .iter()
        .filter(|s| s.answer == "0")
        .flat_map(|s| s.keys.clone())
        .collect();
    got.sort();
    let mut want = row_keys(&sent);
    want.sort();
    assert_eq!(got, want, "every row consumed once");
    for s in &seen {
        check_basic(s, "pusher", "pw-kill");
        assert!(s.answer == "0" || s.answer == "E00A00", "{s:?}");
    }
}

/// Two `wharf core` on one PostgreSQL, both dispatching: every sequence is sent by exactly
/// one of them, once.
#[test]
fn two_core_replicas_send_each_sequence_once() {
    let r = Receiver::start();
    // Each push takes longer than a dispatcher's poll (about 250 ms) and a replica holds one
    // push at a time (WHARF_PUSH_CONCURRENCY=1): with two partners' pushes queued at once,
    // neither replica can take both, and both send.
    r.set_delay(Duration::from_millis(100));
    let w = pusher(
        Backend::Postgres,
        &[
            ("WHARF_PUSH_BACKOFF_MS", "50"),
            ("WHARF_PUSH_CONCURRENCY", "1"),
        ],
    );
    let a = add_partner(&w, None);
    let b = add_partner(&w, None);
    let path_a = format!("/rep-a{SYNC}");
    let path_b = format!("/rep-b{SYNC}");
    basic_endpoint(&w, &r, &a, &path_a, "pusher", "pw-rep-a");
    basic_endpoint(&w, &r, &b, &path_b, "pusher", "pw-rep-b");
    let second = free_port();
    let core_a = w.start(
        &["core"],
        &[("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))],
        w.grpc_port,
    );
    let core_b = w.start(
        &["core"],
        &[
            ("WHARF_GRPC_ADDR", format!("127.0.0.1:{second}")),
            ("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", free_port())),
        ],
        second,
    );
    let pushes: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let partner = if i % 2 == 0 { &a } else { &b };
                let w = &w;
                s.spawn(move || {
                    let id = push(w, partner, "insert", None, &rows(&format!("r{i}-"), 1100));
                    (partner.clone(), id)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a push"))
            .collect()
    });
    for (partner, id) in &pushes {
        let p = wait_push(&w, partner, id, "delivered", 90, &core_a.log);
        assert_eq!(
            seq_summary(&p)
                .into_iter()
                .map(|(s, n, st, _)| (s, n, st))
                .collect::<Vec<_>>(),
            [
                ("1".to_string(), 500, "delivered".to_string()),
                ("2".to_string(), 500, "delivered".to_string()),
                ("3".to_string(), 100, "delivered".to_string())
            ],
            "{p}"
        );
    }
    let received = r.received_all();
    let delivered = r.delivered_all();
    let mut want: Vec<(String, String)> = pushes
        .iter()
        .flat_map(|(_, id)| (1..=3).map(move |s| (id.clone(), s.to_string())))
        .collect();
    want.sort();
    let mut got: Vec<(String, String)> = received.keys().cloned().collect();
    got.sort();
    assert_eq!(got, want, "exactly the 18 sequences were sent");
    for k in &want {
        assert_eq!(received[k], 1, "{k:?} sent more than once: {received:?}");
        assert_eq!(delivered.get(k), Some(&1), "{k:?}: {delivered:?}");
    }
    // Who sent what (one log line per attempt, naming the push).
    let sent_by = |core: &util::Server| {
        let log = std::fs::read_to_string(&core.log).unwrap_or_default();
        log.lines()
            .filter(|l| {
                l.contains("attempt") && pushes.iter().any(|(_, id)| l.contains(id.as_str()))
            })
            .count()
    };
    let (by_a, by_b) = (sent_by(&core_a), sent_by(&core_b));
    eprintln!("attempts logged: core a {by_a}, core b {by_b}");
    assert_eq!(by_a + by_b, 18, "one attempt line per sequence in all");
    assert!(
        by_a > 0 && by_b > 0,
        "both replicas should have sent (a {by_a}, b {by_b}); the test proves less otherwise"
    );
}

/// `endpoint set` replaces an endpoint: the next push uses the new one's credentials at once,
/// also within the same second as the previous `endpoint set` (OAuth2 tokens are cached per
/// endpoint, and a token of the replaced endpoint must not be reused).
#[test]
fn a_replaced_endpoint_is_used_at_once() {
    let r = Receiver::start();
    let w = pusher(Backend::Sqlite, &[("WHARF_PUSH_BACKOFF_MS", "50")]);
    let partner = add_partner(&w, None);
    let path = format!("/swap{SYNC}");
    let token_path = "/swap/oauth/token";
    let set = |auth: &str, extra: &[&str], stdin: &str| {
        let (url, token_url) = (r.url(&path), r.url(token_path));
        let mut args = vec![
            "--url",
            url.as_str(),
            "--auth",
            auth,
            "--auth-path",
            token_url.as_str(),
            "--client-id",
            "cid-swap",
            "--allow-http",
        ];
        args.extend(extra);
        endpoint_set(&w, &partner, &args, stdin);
    };
    let server = w.serve();
    // The grant of the token the last request to `path` carried.
    let grant_used = || {
        let seen = r.seen_at(&path);
        let last = seen.last().expect("a request");
        let bearer = last.header("authorization").unwrap_or_default().to_string();
        let call = r
            .token_calls_at(token_path)
            .into_iter()
            .find(|c| bearer == format!("Bearer {}", c.token))
            .unwrap_or_else(|| panic!("{bearer:?} is no token the receiver issued"));
        (
            call.form.get("grant_type").cloned().unwrap_or_default(),
            call.form.get("username").cloned().unwrap_or_default(),
        )
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
    };
    for round in 0..3 {
        // Start just after a second boundary, so both `endpoint set` can share a second.
        while now().subsec_millis() > 50 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = now().as_secs();
        set("oauth2-client", &[], "cs-swap\n");
        let id = push(
            &w,
            &partner,
            "insert",
            None,
            &rows(&format!("s{round}c"), 2),
        );
        wait_push(&w, &partner, &id, "delivered", 30, &server.log);
        assert_eq!(grant_used(), ("client_credentials".into(), "".into()));
        set(
            "oauth2-password",
            &["--username", "svc-swap"],
            "cs-swap\npw-swap\n",
        );
        let replaced = now().as_secs();
        let id = push(
            &w,
            &partner,
            "insert",
            None,
            &rows(&format!("s{round}p"), 2),
        );
        wait_push(&w, &partner, &id, "delivered", 30, &server.log);
        assert_eq!(
            grant_used(),
            ("password".into(), "svc-swap".into()),
            "round {round}: the push after the replacement (same second: {}) used the old \
             endpoint's token",
            started == replaced
        );
        if started == replaced {
            break;
        }
    }
}

/// Secrets never show: not in `endpoint list`, `outbox list`, the pusher's log, or the
/// SQLite files (plaintext); `endpoint set` needs WHARF_SECRET_KEY; prod refuses plain HTTP
/// unless told.
#[test]
fn secrets_stay_secret() {
    let r = Receiver::start();
    let w = pusher(Backend::Sqlite, &[("WHARF_PUSH_BACKOFF_MS", "50")]);
    let basic_pw = random_secret("basicpw");
    let cs_client = random_secret("csclient");
    let cs_password = random_secret("cspassword");
    let user_pw = random_secret("userpw");
    let (pb, pc, pp) = (
        add_partner(&w, None),
        add_partner(&w, None),
        add_partner(&w, None),
    );
    let (path_b, path_c, path_p) = (
        format!("/sec-b{SYNC}"),
        format!("/sec-c{SYNC}"),
        format!("/sec-p{SYNC}"),
    );
    basic_endpoint(&w, &r, &pb, &path_b, "svc-basic", &basic_pw);
    endpoint_set(
        &w,
        &pc,
        &[
            "--url",
            &r.url(&path_c),
            "--auth",
            "oauth2-client",
            "--auth-path",
            &r.url("/sec-c/oauth/token"),
            "--client-id",
            "cid-c",
            "--allow-http",
        ],
        &format!("{cs_client}\n"),
    );
    endpoint_set(
        &w,
        &pp,
        &[
            "--url",
            &r.url(&path_p),
            "--auth",
            "oauth2-password",
            "--auth-path",
            &r.url("/sec-p/oauth/token"),
            "--client-id",
            "cid-p",
            "--username",
            "svc-user",
            "--allow-http",
        ],
        &format!("{cs_password}\n{user_pw}\n"),
    );
    let server = w.serve();
    let mut cli_out = String::new();
    for (partner, prefix) in [(&pb, "sb"), (&pc, "sc"), (&pp, "sp")] {
        let id = push(&w, partner, "insert", None, &rows(prefix, 2));
        wait_push(&w, partner, &id, "delivered", 30, &server.log);
        cli_out.push_str(&id);
    }

    // The secrets were really used.
    let basic_header = base64(format!("svc-basic:{basic_pw}").as_bytes());
    for s in r.seen_at(&path_b) {
        check_basic(&s, "svc-basic", &basic_pw);
    }
    let c_calls = r.token_calls_at("/sec-c/oauth/token");
    assert_eq!(c_calls.len(), 1, "{c_calls:?}");
    let f = &c_calls[0].form;
    assert_eq!(
        f.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(f.get("client_id").map(String::as_str), Some("cid-c"));
    assert_eq!(f.get("client_secret"), Some(&cs_client));
    let p_calls = r.token_calls_at("/sec-p/oauth/token");
    assert_eq!(p_calls.len(), 1, "{p_calls:?}");
    let f = &p_calls[0].form;
    assert_eq!(f.get("grant_type").map(String::as_str), Some("password"));
    assert_eq!(f.get("client_id").map(String::as_str), Some("cid-p"));
    assert_eq!(f.get("client_secret"), Some(&cs_password));
    assert_eq!(f.get("username").map(String::as_str), Some("svc-user"));
    assert_eq!(f.get("password"), Some(&user_pw));
    for (path, call) in [(&path_c, &c_calls[0]), (&path_p, &p_calls[0])] {
        let bearer = format!("Bearer {}", call.token);
        for s in r.seen_at(path) {
            assert_eq!(s.header("authorization"), Some(bearer.as_str()), "{s:?}");
        }
    }

    let mut forbidden = vec![
        basic_pw.clone(),
        cs_client.clone(),
        cs_password.clone(),
        user_pw.clone(),
        basic_header,
    ];
    let stored_forbidden = forbidden.clone();
    forbidden.extend(r.token_calls().into_iter().map(|c| c.token));

    // What an operator sees.
    let list = w.ok(&["endpoint", "list"], "");
    for want in [&pb, &pc, &pp] {
        assert!(list.contains(want), "endpoint list lacks {want}:\n{list}");
    }
    assert!(list.contains(&r.url(&path_c)), "{list}");
    let mut seen_text = list;
    seen_text.push_str(&w.ok(&["endpoint", "list", "--partner", &pp], ""));
    seen_text.push_str(&w.ok(&["outbox", "list"], ""));
    seen_text.push_str(&w.ok(&["outbox", "list", "--json"], ""));
    seen_text.push_str(&cli_out);
    let logs = log_files(&w.data_dir);
    assert!(!logs.is_empty());
    for f in &logs {
        seen_text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    for s in &forbidden {
        assert!(
            !seen_text.contains(s.as_str()),
            "a secret ({s}) shows in the CLI's output or the log"
        );
    }
    let dbs = db_files(&w.data_dir);
    assert!(!dbs.is_empty(), "no SQLite file under {:?}", w.data_dir);
    // A control: what is stored in plain text is found this way.
    assert!(
        dbs.iter()
            .any(|f| contains(&std::fs::read(f).unwrap_or_default(), &pp)),
        "the partner's name is in none of {dbs:?}: the wrong files?"
    );
    eprintln!("store files read: {dbs:?}");
    for f in &dbs {
        let bytes = std::fs::read(f).unwrap_or_default();
        for s in &stored_forbidden {
            assert!(
                !contains(&bytes, s),
                "{} holds a secret in plaintext ({s})",
                f.display()
            );
        }
    }

    // Without WHARF_SECRET_KEY: refused (64) naming the variable, nothing stored.
    let mut cmd = w.command(&[
        "endpoint",
        "set",
        &pb,
        "t1/bom",
        "--url",
        "https://nokey.example/v1.0/scc/data/sync/t1/bom",
        "--auth",
        "basic",
        "--username",
        "nokey-user",
    ]);
    cmd.env_remove("WHARF_SECRET_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn wharf");
    {
        use std::io::Write;
        let _ = child.stdin.take().expect("stdin").write_all(b"nokey-pw\n");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WHARF_SECRET_KEY"),
        "{}",
        show(&out)
    );

    // prod over plain HTTP: refused (65) unless --allow-http, for the URL and the auth path.
    let out = w.run(
        &[
            "endpoint",
            "set",
            &pb,
            "t1/bom",
            "--url",
            "http://plain.example/v1.0/scc/data/sync/t1/bom",
            "--auth",
            "basic",
            "--username",
            "plain-user",
        ],
        "plain-pw\n",
    );
    assert_eq!(out.status.code(), Some(65), "{}", show(&out));
    let out = w.run(
        &[
            "endpoint",
            "set",
            &pb,
            "t1/bom",
            "--url",
            "https://tls.example/v1.0/scc/data/sync/t1/bom",
            "--auth",
            "oauth2-client",
            "--auth-path",
            "http://plain.example/oauth/token",
            "--client-id",
            "plain-client",
        ],
        "plain-secret\n",
    );
    assert_eq!(out.status.code(), Some(65), "{}", show(&out));
    let list = w.ok(&["endpoint", "list"], "");
    for refused in ["nokey.example", "plain.example", "tls.example"] {
        assert!(
            !list.contains(refused),
            "a refused endpoint was stored:\n{list}"
        );
    }
    assert!(list.contains(&r.url(&path_b)), "{list}");
    // uat may be plain HTTP.
    endpoint_set(
        &w,
        &pb,
        &[
            "--url",
            "http://uat.example/uat/v1.0/scc/data/sync/t1/bom",
            "--env",
            "uat",
            "--auth",
            "basic",
            "--username",
            "uat-user",
        ],
        "uat-pw\n",
    );
}

/// An invalid push is refused whole with E00V00 naming rows and lines; nothing is queued.
/// A push with no endpoint for its environment is refused too.
#[test]
fn invalid_pushes_are_refused_whole() {
    let w = pusher(Backend::Sqlite, &[]);
    let partner = add_partner(&w, None);
    endpoint_set(
        &w,
        &partner,
        &[
            "--url",
            "https://partner.example/v1.0/scc/data/sync/t1/bom",
            "--auth",
            "basic",
            "--username",
            "u",
        ],
        "pw\n",
    );
    let mut missing = bom_row("v1");
    missing
        .as_object_mut()
        .expect("an object")
        .remove("vendor_code");
    let file = format!(
        "{}\n\n{}\n{}\nthis is not json\n{}\n",
        bom_row("v0"),
        missing,
        bom_row("v2"),
        bom_row("v4")
    );
    let args = ["push", "t1", "bom", "--partner", &partner, "--op", "insert"];
    let out = w.run(&args, &file);
    assert_eq!(out.status.code(), Some(65), "{}", show(&out));
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the E00V00 JSON ({e}): {}", show(&out)));
    assert_eq!(answer["code"], "E00V00", "{answer}");
    assert!(answer["msg"].is_string(), "{answer}");
    let result = answer["result"].as_array().expect("result is an array");
    assert_eq!(result.len(), 2, "one entry per bad row: {answer}");
    assert_eq!(
        (&result[0]["index"], &result[0]["line"], &result[0]["row"]),
        (&json!(1), &json!(3), &missing),
        "{answer}"
    );
    assert!(
        result[0]["verify"]
            .as_array()
            .expect("verify")
            .iter()
            .any(|v| v["type"] == "required field missing" && v["fields"] == "vendor_code"),
        "{answer}"
    );
    assert_eq!(
        (&result[1]["index"], &result[1]["line"]),
        (&json!(3), &json!(5)),
        "the line that is not JSON: {answer}"
    );
    assert!(
        result[1]["verify"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{answer}"
    );
    assert_eq!(
        outbox(&w, Some(&partner)),
        Vec::<Value>::new(),
        "nothing queued"
    );

    // No uat endpoint.
    let good = [bom_row("v0"), bom_row("v2")];
    let out = w.run(
        &[
            "push",
            "t1",
            "bom",
            "--partner",
            &partner,
            "--op",
            "insert",
            "--env",
            "uat",
        ],
        &jsonl(&good),
    );
    assert_eq!(out.status.code(), Some(65), "{}", show(&out));
    assert_eq!(
        outbox(&w, Some(&partner)),
        Vec::<Value>::new(),
        "nothing queued"
    );

    // The same rows without the bad lines (a blank line is fine) are queued: no dispatcher
    // runs here, so the push waits, pending.
    let ok_file = format!("{}\n\n{}\n", bom_row("v0"), bom_row("v2"));
    let out = w.run(&args, &ok_file);
    assert!(out.status.success(), "{}", show(&out));
    let first = String::from_utf8_lossy(&out.stdout);
    let first = first.lines().next().unwrap_or_default().to_string();
    let id = first
        .strip_prefix("push ")
        .and_then(|r| r.split_once(' '))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("{first:?}"));
    assert_eq!(first, format!("push {id} queued: 2 rows in 1 sequences"));
    let list = outbox(&w, Some(&partner));
    assert_eq!(list.len(), 1, "{list:?}");
    let p = &list[0];
    assert_eq!(
        (&p["push_id"], &p["state"], &p["rows"], &p["operation"]),
        (&json!(id), &json!("pending"), &json!(2), &json!("insert")),
        "{p}"
    );
    let s1 = seq(p, "1");
    assert_eq!(
        (
            &s1["state"],
            &s1["rows"],
            &s1["attempts"],
            &s1["http_status"],
            &s1["code"],
            &s1["msg"]
        ),
        (
            &json!("pending"),
            &json!(2),
            &json!(0),
            &json!(0),
            &json!(""),
            &json!("")
        ),
        "{p}"
    );
    let pending = w.ok(&["outbox", "list", "--json", "--state", "pending"], "");
    assert!(pending.contains(&id), "{pending}");
    let delivered = w.ok(&["outbox", "list", "--json", "--state", "delivered"], "");
    assert!(!delivered.contains(&id), "{delivered}");
    let table = w.ok(&["outbox", "list"], "");
    assert!(table.contains(&id), "{table}");
    let out = w.run(&["outbox", "retry", &id], "");
    assert_eq!(
        out.status.code(),
        Some(65),
        "retry of a pending push: {}",
        show(&out)
    );
}
