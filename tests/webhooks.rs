//! Consumers' webhooks against the real binary: a local receiver verifies every request's
//! signature with the published Standard Webhooks algorithm (HMAC-SHA256 over
//! `id.timestamp.body` with the secret the CLI printed), sees each batch event once and in
//! order (applied, held, cancelled, reverted, failed, a file delivered over FTP and its
//! batch, expired) after an outage it answered 500 or dropped (retries, same `webhook-id`),
//! only the events and interfaces a subscription asked for; a secret rotation (both
//! signatures during the grace, each verifying with its own secret, then only the new one);
//! and a `410 Gone` (the subscription disabled, audited, nothing more sent). SQLite and
//! PostgreSQL; on PostgreSQL also two replicas under eight concurrent writers: each event
//! sent once, in the change feed's (commit) order.

mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use util::data::{bom_row, envelope};
use util::ftp::{bom_dir, deliver, login};
use util::http::{client_token, send, Auth};
use util::receiver::{secret_key, wait_for, Behaviour, Receiver, Seen};
use util::{add_partner, add_user, free_port, unique, Backend, Wharf};

const SYNC: &str = "/v1.0/scc/data/sync";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A wharf whose dispatcher retries fast, rejects a sequence's second failure, and expires
/// open batches after a second (housekeeping runs at start-up).
fn hooked(backend: Backend) -> Wharf {
    let mut w = Wharf::new(backend);
    for (k, v) in [
        ("WHARF_SECRET_KEY", secret_key()),
        ("WHARF_PUSH_BACKOFF_MS", "50".into()),
        ("WHARF_PUSH_TIMEOUT_SECS", "2".into()),
        ("WHARF_PUSH_MAX_ATTEMPTS", "6".into()),
        ("WHARF_MAX_ATTEMPTS", "1".into()),
        ("WHARF_BATCH_EXPIRY_SECS", "1".into()),
    ] {
        w.extra_env.push((k.into(), v));
    }
    w
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The published algorithm, independently of wharf's code: `v1,` base64 of
/// HMAC-SHA256(base64-decoded secret after `whsec_`, "{id}.{timestamp}.{body}").
fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    let raw = B64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    assert!(raw.len() >= 24, "a secret of {} bytes", raw.len());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw);
    let tag = ring::hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", B64.encode(tag.as_ref()))
}

/// The signatures of request `s` (space-separated), after checking its headers.
fn signatures(s: &Seen) -> Vec<String> {
    assert_eq!(s.method, "POST");
    assert_eq!(s.header("content-type"), Some("application/json"));
    let id = s.header("webhook-id").expect("webhook-id");
    assert!(id.starts_with("msg_"), "{id}");
    let ts: i64 = s
        .header("webhook-timestamp")
        .expect("webhook-timestamp")
        .parse()
        .expect("unix seconds");
    assert!((ts - now()).abs() < 60, "a fresh timestamp: {ts}");
    s.header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .map(str::to_string)
        .collect()
}

/// Whether `s` carries exactly these secrets' signatures, in this order.
fn signed_by(s: &Seen, secrets: &[&str]) -> bool {
    let want: Vec<String> = secrets
        .iter()
        .map(|k| {
            expected_signature(
                k,
                s.header("webhook-id").unwrap_or_default(),
                s.header("webhook-timestamp").unwrap_or_default(),
                &s.body,
            )
        })
        .collect();
    signatures(s) == want
}

fn body(s: &Seen) -> Value {
    serde_json::from_str(&s.body).expect("a JSON body")
}

/// (type, batch_id or file name) of each request answered 2xx at `path`, in arrival order.
fn delivered(r: &Receiver, path: &str) -> Vec<(String, String)> {
    r.seen_at(path)
        .iter()
        .filter(|s| !s.answer.starts_with("http ") && s.answer != "drop")
        .map(|s| {
            let b = body(s);
            let what = b["data"]["batch_id"]
                .as_str()
                .or(b["data"]["name"].as_str())
                .unwrap_or_default()
                .to_string();
            (b["type"].as_str().unwrap_or_default().to_string(), what)
        })
        .collect()
}

/// `wharf consumer webhook add CONSUMER URL --allow-http ARGS`: its id and secret.
fn add_hook(w: &Wharf, consumer: &str, url: &str, args: &[&str]) -> (String, String) {
    let mut all = vec!["consumer", "webhook", "add", consumer, url, "--allow-http"];
    all.extend_from_slice(args);
    let secret = w.ok(&all, "").trim().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let list = list_hooks(w);
    let id = list
        .iter()
        .find(|h| h["url"] == url)
        .map(|h| h["id"].to_string())
        .expect("the new webhook is listed");
    (id, secret)
}

fn list_hooks(w: &Wharf) -> Vec<Value> {
    let out = w.ok(&["consumer", "webhook", "list", "--json"], "");
    serde_json::from_str::<Value>(&out)
        .expect("json")
        .as_array()
        .expect("an array")
        .clone()
}

fn hook(w: &Wharf, id: &str) -> Value {
    list_hooks(w)
        .into_iter()
        .find(|h| h["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(id))
        .expect("listed")
}

/// One batch of one sequence to t1/bom, answered `code`.
fn batch(base: &str, token: &str, id: &str, rows: Vec<Value>, code: &str) {
    let r = send(
        "POST",
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(token),
        &envelope(id, 1, "1", rows),
    );
    assert_eq!(r.json()["code"], code, "{id}: {r:?}");
}

fn act(base: &str, token: &str, id: &str, action: &str) {
    let r = send(
        "POST",
        &format!("{base}{SYNC}/t1/bom/batches/{id}/{action}"),
        &Auth::Bearer(token),
        "",
    );
    assert_eq!(r.status, 200, "{action} {id}: {r:?}");
}

fn every_event_once_in_order(backend: Backend) {
    let mut w = hooked(backend);
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let ops = unique("ops");
    let bom = unique("bom");
    w.ok(&["consumer", "add", &ops, "--all"], "");
    w.ok(&["consumer", "add", &bom, "--interfaces", "t1/bom"], "");
    let r = Receiver::start();
    let (_, ops_secret) = add_hook(&w, &ops, &r.url("/ops"), &[]);
    let (bom_id, bom_secret) = add_hook(&w, &bom, &r.url("/bom"), &["--events", "applied"]);
    // An outage: the first event is answered 500, dropped, 503 before it gets through.
    r.script(
        "/ops",
        vec![
            Behaviour::Answer(500, "{}".into()),
            Behaviour::Drop,
            Behaviour::Answer(503, "busy".into()),
        ],
    );
    let mut server = w.serve();
    let base = w.http_url();
    let pt = client_token(&base, &partner);

    batch(&base, &pt, "W-APP", vec![bom_row("A")], "0");
    let mut held: Value =
        serde_json::from_str(&envelope("W-HELD", 1, "1", vec![bom_row("H")])).expect("json");
    held["instantExecute"] = json!(false);
    held["executeTs"] = json!(wharf_proto::time::rfc3339(now() + 3 * 3600));
    let r1 = send(
        "POST",
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(&pt),
        &held.to_string(),
    );
    r1.expect(200, "0");
    act(&base, &pt, "W-HELD", "cancel");
    act(&base, &pt, "W-APP", "revert");
    // Rejected twice with WHARF_MAX_ATTEMPTS=1: the batch fails.
    let bad = json!({"vendor_father_item": "X"});
    batch(&base, &pt, "W-BAD", vec![bad.clone()], "E00V00");
    let r2 = send(
        "POST",
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(&pt),
        &envelope("W-BAD", 1, "1", vec![bad]),
    );
    assert_ne!(r2.json()["code"], "0", "{r2:?}");
    let mut ftp = login(&w, &user);
    let file = "bom_insert_20260101000000_1.json";
    let answer = deliver(
        &mut ftp,
        &bom_dir(&partner),
        file,
        envelope("W-FTP", 1, "1", vec![bom_row("F")]).as_bytes(),
    );
    assert_eq!(answer["code"], "0", "{answer}");
    let _ = ftp.quit();
    // An open batch (one sequence of two) left to expire: housekeeping at the next start.
    let r3 = send(
        "POST",
        &format!("{base}{SYNC}/t1/bom"),
        &Auth::Bearer(&pt),
        &envelope("W-OPEN", 2, "1", vec![bom_row("O")]),
    );
    r3.expect(200, "0");
    let want_before_restart = 7;
    wait_for(60, "the events before the restart", || {
        delivered(&r, "/ops").len() >= want_before_restart
    });
    server.stop("serve");
    std::thread::sleep(Duration::from_secs(2));
    // Fresh ports: the old ones may have gone to another test's connection meanwhile.
    for port in [
        &mut w.grpc_port,
        &mut w.http_port,
        &mut w.ftp_port,
        &mut w.upload_port,
        &mut w.sftp_port,
        &mut w.admin_port,
        &mut w.admin_api_port,
    ] {
        *port = free_port();
    }
    let _server = w.serve();
    wait_for(60, "the expiry", || {
        delivered(&r, "/ops").len() > want_before_restart
    });
    // Anything sent twice would show up meanwhile.
    std::thread::sleep(Duration::from_millis(1500));

    let strs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        delivered(&r, "/ops"),
        strs(&[
            ("batch.applied", "W-APP"),
            ("batch.held", "W-HELD"),
            ("batch.cancelled", "W-HELD"),
            ("batch.reverted", "W-APP"),
            ("batch.failed", "W-BAD"),
            ("batch.applied", "W-FTP"),
            ("file.delivered", file),
            ("batch.expired", "W-OPEN"),
        ])
    );
    let all = r.seen_at("/ops");
    assert_eq!(
        all.len(),
        8 + 3,
        "three failed attempts, then each event once"
    );
    for s in &all {
        assert!(signed_by(s, &[&ops_secret]), "signature of {s:?}");
        assert!(!signed_by(s, &[&bom_secret]));
        let b = body(s);
        assert_eq!(b["data"]["partner"], partner.as_str(), "{b}");
        assert_eq!(b["data"]["interface"], "t1/bom", "{b}");
        assert!(
            b["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{b}"
        );
    }
    // The outage's attempts and the delivery carry one id; every event its own.
    let ids: Vec<&str> = all
        .iter()
        .map(|s| s.header("webhook-id").unwrap_or_default())
        .collect();
    assert!(ids[..4].iter().all(|i| *i == ids[0]), "{ids:?}");
    let mut distinct = ids[3..].to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "{ids:?}");
    assert_eq!(body(&all[3])["data"]["state"], "applied");

    // The t1/bom consumer asked for `applied` only.
    assert_eq!(
        delivered(&r, "/bom"),
        strs(&[("batch.applied", "W-APP"), ("batch.applied", "W-FTP")])
    );
    for s in r.seen_at("/bom") {
        assert!(signed_by(&s, &[&bom_secret]), "signature of {s:?}");
    }
    let h = hook(&w, &bom_id);
    assert_eq!(
        (&h["state"], &h["delivered"], &h["pending"]),
        (&json!("active"), &json!(2), &json!(0)),
        "{h}"
    );
    // The secrets were shown once and are nowhere in the trail.
    let trail = w
        .audit(&[])
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(trail.contains("webhook.added"));
    assert!(!trail.contains(&ops_secret[6..]) && !trail.contains(&bom_secret[6..]));
}

#[test]
fn every_event_once_in_order_sqlite() {
    every_event_once_in_order(Backend::Sqlite);
}

#[test]
fn every_event_once_in_order_postgres() {
    every_event_once_in_order(Backend::Postgres);
}

fn rotation_and_gone(backend: Backend) {
    let w = hooked(backend);
    let partner = add_partner(&w, None);
    let consumer = unique("etl");
    w.ok(
        &["consumer", "add", &consumer, "--interfaces", "t1/bom"],
        "",
    );
    let r = Receiver::start();
    let (id, first) = add_hook(&w, &consumer, &r.url("/hook"), &[]);
    let _server = w.serve();
    let base = w.http_url();
    let pt = client_token(&base, &partner);
    let arrived = |n: usize| {
        wait_for(30, &format!("{n} webhook requests"), || {
            r.seen_at("/hook").len() >= n
        });
        r.seen_at("/hook")[n - 1].clone()
    };

    batch(&base, &pt, "R-1", vec![bom_row("A")], "0");
    assert!(signed_by(&arrived(1), &[&first]));

    // During the grace both sign: the new one first, each verifying with its own secret.
    let second = w
        .ok(
            &["consumer", "webhook", "rotate-secret", &id, "--grace", "1h"],
            "",
        )
        .trim()
        .to_string();
    assert!(second.starts_with("whsec_") && second != first);
    batch(&base, &pt, "R-2", vec![bom_row("B")], "0");
    let s = arrived(2);
    assert_eq!(signatures(&s).len(), 2, "{s:?}");
    assert!(signed_by(&s, &[&second, &first]), "{s:?}");
    assert!(!signed_by(&s, &[&first, &second]));
    assert!(hook(&w, &id)["previous_secret_until_unix"].as_i64() > Some(now() + 3000));

    // Without a grace the old secret stops at once.
    let third = w
        .ok(
            &["consumer", "webhook", "rotate-secret", &id, "--grace", "0"],
            "",
        )
        .trim()
        .to_string();
    batch(&base, &pt, "R-3", vec![bom_row("C")], "0");
    let s = arrived(3);
    assert!(signed_by(&s, &[&third]), "{s:?}");

    // 410 Gone: disabled, recorded, nothing more sent.
    r.script("/hook", vec![Behaviour::Answer(410, "gone".into())]);
    batch(&base, &pt, "R-4", vec![bom_row("D")], "0");
    assert_eq!(arrived(4).answer, "http 410");
    wait_for(10, "the subscription disabled", || {
        hook(&w, &id)["state"] == "disabled"
    });
    let h = hook(&w, &id);
    assert_eq!(h["disabled_reason"], "gone", "{h}");
    batch(&base, &pt, "R-5", vec![bom_row("E")], "0");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(r.seen_at("/hook").len(), 4, "nothing after the 410");
    let disabled: Vec<Value> = w
        .audit(&["--kind", "admin"])
        .into_iter()
        .filter(|a| a["action"] == "webhook.disabled")
        .collect();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["detail"]["reason"], "gone", "{disabled:?}");
    assert_eq!(disabled[0]["detail"]["status"], 410, "{disabled:?}");
    let trail = w
        .audit(&[])
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert_eq!(trail.matches("webhook.secret-rotated").count(), 2);
    for s in [&first, &second, &third] {
        assert!(!trail.contains(&s[6..]), "a secret in the trail");
    }
    let list = w.ok(&["consumer", "webhook", "list"], "");
    assert!(list.contains("disabled (gone"), "{list}");

    w.ok(&["consumer", "webhook", "remove", &id], "");
    assert!(list_hooks(&w).is_empty());
}

#[test]
fn rotation_and_gone_sqlite() {
    rotation_and_gone(Backend::Sqlite);
}

#[test]
fn rotation_and_gone_postgres() {
    rotation_and_gone(Backend::Postgres);
}

#[test]
fn webhooks_are_off_without_the_secret_key() {
    let w = Wharf::new(Backend::Sqlite);
    let consumer = unique("etl");
    w.ok(&["consumer", "add", &consumer, "--all"], "");
    let out = w.run(
        &[
            "consumer",
            "webhook",
            "add",
            &consumer,
            "https://example.com/hook",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHARF_SECRET_KEY"));
    assert!(out.stdout.is_empty());
    // An unknown consumer or event, an http URL without --allow-http: refused.
    let mut w = w;
    w.extra_env.push(("WHARF_SECRET_KEY".into(), secret_key()));
    for args in [
        vec!["nobody", "https://example.com/h"],
        vec![consumer.as_str(), "http://example.com/h"],
        vec![
            consumer.as_str(),
            "https://example.com/h",
            "--events",
            "received",
        ],
    ] {
        let mut all = vec!["consumer", "webhook", "add"];
        all.extend(args.iter().copied());
        let out = w.run(&all, "");
        assert!(!out.status.success(), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(list_hooks(&w).is_empty());
}

/// Two `wharf serve` replicas over one PostgreSQL database, eight writers at once: each
/// `batch.applied` is sent exactly once (the replicas' dispatchers never take one
/// subscription's delivery together), and in the change feed's order, i.e. commit order.
#[test]
fn two_replicas_deliver_once_in_commit_order_postgres() {
    let w = hooked(Backend::Postgres);
    let mut w2 = Wharf::new(Backend::Postgres);
    w2.database_url = w.database_url.clone();
    w2.extra_env = w.extra_env.clone();
    let partner = add_partner(&w, None);
    let lake = unique("lake");
    let token = w
        .ok(&["consumer", "add", &lake, "--all"], "")
        .trim()
        .to_string();
    let r = Receiver::start();
    let (_, secret) = add_hook(&w, &lake, &r.url("/lake"), &["--events", "applied"]);
    let _one = w.serve();
    let _two = w2.serve();
    let bases = [w.http_url(), w2.http_url()];
    let pt = client_token(&bases[0], &partner);
    std::thread::scope(|s| {
        for writer in 0..8 {
            let (base, pt) = (&bases[writer % 2], &pt);
            s.spawn(move || {
                for round in 0..5 {
                    let id = format!("C{writer}-{round}");
                    batch(base, pt, &id, vec![bom_row(&id)], "0");
                }
            });
        }
    });
    wait_for(60, "40 deliveries", || r.seen_at("/lake").len() >= 40);
    std::thread::sleep(Duration::from_secs(2));
    let seen = r.seen_at("/lake");
    assert_eq!(seen.len(), 40, "each event once");
    for s in &seen {
        assert!(signed_by(s, &[&secret]), "{s:?}");
    }
    let feed = send(
        "GET",
        &format!("{}/consumer/v1/changes?limit=1000", bases[1]),
        &Auth::Bearer(&token),
        "",
    );
    assert_eq!(feed.status, 200, "{feed:?}");
    let committed: Vec<String> = feed.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["batch_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(committed.len(), 40);
    let sent: Vec<String> = delivered(&r, "/lake").into_iter().map(|d| d.1).collect();
    assert_eq!(sent, committed, "webhooks in commit order");
}

/// An event still refused after `WHARF_PUSH_MAX_ATTEMPTS` (6 here) is given up, recorded,
/// and the next one goes; the subscription stays active.
#[test]
fn an_event_refused_every_time_is_given_up_sqlite() {
    let w = hooked(Backend::Sqlite);
    let partner = add_partner(&w, None);
    let consumer = unique("etl");
    w.ok(&["consumer", "add", &consumer, "--all"], "");
    let r = Receiver::start();
    let (id, _) = add_hook(&w, &consumer, &r.url("/hook"), &["--events", "applied"]);
    r.script("/hook", vec![Behaviour::Answer(400, "no".into()); 6]);
    let _server = w.serve();
    let base = w.http_url();
    let pt = client_token(&base, &partner);
    batch(&base, &pt, "G-1", vec![bom_row("A")], "0");
    batch(&base, &pt, "G-2", vec![bom_row("B")], "0");
    wait_for(60, "the next event after giving up", || {
        r.seen_at("/hook").len() >= 7
    });
    std::thread::sleep(Duration::from_millis(1500));
    let seen = r.seen_at("/hook");
    let batches: Vec<String> = seen
        .iter()
        .map(|s| {
            body(s)["data"]["batch_id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let mut want = vec!["G-1".to_string(); 6];
    want.push("G-2".into());
    assert_eq!(batches, want);
    let gave_up: Vec<Value> = w
        .audit(&["--kind", "admin"])
        .into_iter()
        .filter(|a| a["action"] == "webhook.gave-up")
        .collect();
    assert_eq!(gave_up.len(), 1, "{gave_up:?}");
    assert_eq!(gave_up[0]["detail"]["attempts"], 6, "{gave_up:?}");
    let h = hook(&w, &id);
    assert_eq!(
        (&h["state"], &h["failed"], &h["delivered"]),
        (&json!("active"), &json!(1), &json!(1)),
        "{h}"
    );
}
