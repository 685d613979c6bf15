//! Scheduled batches end to end (SPEC §7.2) through the real `wharf serve` and the HTTP API:
//! a batch held until its executeTs, applied by core's scheduler, reverted at its revertTs back
//! to the previous export byte for byte; a restart between scheduling and executing still
//! executes once. `WHARF_SCHEDULE_MIN_LEAD` (test-only) shrinks seed 003's minimum windows to
//! seconds; the maxima stay.

mod util;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use util::data::{bom_row, bom_row_with, envelope};
use util::http::{client_token, send, Auth};
use util::{add_partner, Backend, Wharf};

const SYNC: &str = "/v1.0/scc/data/sync/t1/bom";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn export_text(w: &Wharf, partner: &str) -> String {
    w.ok(&["export", "t1", "bom", "--partner", partner], "")
}

fn scheduled(batch_id: &str, rows: Vec<Value>, execute: i64, revert: Option<i64>) -> String {
    let mut e: Value =
        serde_json::from_str(&envelope(batch_id, rows.len(), "1", rows)).expect("json");
    e["instantExecute"] = json!(false);
    e["executeTs"] = json!(wharf_proto::time::rfc3339(execute));
    if let Some(r) = revert {
        e["revertTs"] = json!(wharf_proto::time::rfc3339(r));
    }
    e.to_string()
}

/// Poll the batch until `done` holds (at most `secs` seconds); returns its view.
fn wait_batch(
    base: &str,
    token: &str,
    batch_id: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = util::http::request(
            "GET",
            &format!("{base}{SYNC}/batches/{batch_id}"),
            &Auth::Bearer(token),
            None,
            &[],
        );
        let b = r.json()["result"].clone();
        if done(&b) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "batch {batch_id} never got there: {b}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn scheduled_batches(backend: Backend) {
    let mut w = Wharf::new(backend);
    w.extra_env
        .push(("WHARF_SCHEDULE_MIN_LEAD".into(), "2".into()));
    let partner = add_partner(&w, None);
    let mut server = w.serve();
    let base = w.http_url();
    let token = client_token(&base, &partner);
    let url = format!("{base}{SYNC}");

    // The data set before: two rows.
    send(
        "POST",
        &url,
        &Auth::Bearer(&token),
        &envelope("BASE", 2, "1", vec![bom_row("k1"), bom_row("k2")]),
    )
    .expect(200, "0");
    let before = export_text(&w, &partner);

    // Seed 003's windows, with the test's 2 s minimum: a revert too close to its execute.
    let t = now();
    let r = send(
        "PUT",
        &url,
        &Auth::Bearer(&token),
        &scheduled("TOO-CLOSE", vec![bom_row("k1")], t + 30, Some(t + 31)),
    );
    let answer = r.expect(200, "E00V00");
    assert_eq!(
        answer["result"][0]["verify"][0]["code"], "40009215",
        "{answer}"
    );

    // Update k1 and add k3 at +4 s; revert at +9 s.
    let t = now();
    let rows = vec![
        bom_row_with("k1", &[("child_item", "changed")]),
        bom_row("k3"),
    ];
    let answer = send(
        "PUT",
        &url,
        &Auth::Bearer(&token),
        &scheduled("LATER", rows, t + 4, Some(t + 9)),
    )
    .expect(200, "0");
    assert!(
        answer["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("schedul"),
        "{answer}"
    );
    let b = wait_batch(&base, &token, "LATER", 5, |_| true);
    assert_eq!(
        (b["executeStatus"].as_str(), b["revertStatus"].as_str()),
        (Some("idle"), Some("idle")),
        "{b}"
    );
    assert_eq!(
        export_text(&w, &partner),
        before,
        "nothing before executeTs"
    );

    let b = wait_batch(&base, &token, "LATER", 20, |b| {
        b["executeStatus"] == "finished"
    });
    assert_eq!(b["executor"], "Scheduler", "{b}");
    let during = export_text(&w, &partner);
    assert!(
        during.contains("changed") && during.contains("k3"),
        "{during}"
    );

    let b = wait_batch(&base, &token, "LATER", 20, |b| b["revertStatus"] != "idle");
    assert_eq!(
        (b["revertStatus"].as_str(), b["reverter"].as_str()),
        (Some("finished"), Some("Scheduler")),
        "{b}"
    );
    assert_eq!(
        export_text(&w, &partner),
        before,
        "the revert restores the export byte for byte"
    );

    // A restart between scheduling and executing: the batch still runs, once.
    let t = now();
    send(
        "POST",
        &url,
        &Auth::Bearer(&token),
        &scheduled("ACROSS-RESTART", vec![bom_row("k9")], t + 3, None),
    )
    .expect(200, "0");
    assert!(server.terminate().success());
    std::thread::sleep(Duration::from_secs(4));
    let _server = w.serve();
    let b = wait_batch(&base, &token, "ACROSS-RESTART", 20, |b| {
        b["executeStatus"] == "finished"
    });
    assert_eq!(b["state"], "applied", "{b}");
    let after = export_text(&w, &partner);
    assert_eq!(after.matches("\"k9\"").count(), 1, "{after}");
    // Executing again by hand is refused: it ran.
    let r = util::http::request(
        "POST",
        &format!("{base}{SYNC}/batches/ACROSS-RESTART/cancel"),
        &Auth::Bearer(&token),
        None,
        &[],
    );
    assert_eq!(r.status, 409, "{r:?}");
}

/// `wharf batch execute|revert|cancel` on a held batch: the operator's hands on the schedule.
fn by_hand(backend: Backend) {
    let mut w = Wharf::new(backend);
    w.extra_env
        .push(("WHARF_SCHEDULE_MIN_LEAD".into(), "2".into()));
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let token = client_token(&base, &partner);
    let url = format!("{base}{SYNC}");
    let before = export_text(&w, &partner);
    let t = now();
    send(
        "POST",
        &url,
        &Auth::Bearer(&token),
        &scheduled("BY-HAND", vec![bom_row("h1")], t + 3600, None),
    )
    .expect(200, "0");
    let cli = |action: &str| {
        w.run(
            &[
                "batch",
                action,
                "BY-HAND",
                "--partner",
                &partner,
                "--interface",
                "t1/bom",
                "--as",
                "ops",
            ],
            "",
        )
    };
    let out = cli("execute");
    assert!(out.status.success(), "{out:?}");
    let view: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (view["executeStatus"].as_str(), view["executor"].as_str()),
        (Some("finished"), Some("ops")),
        "{view}"
    );
    assert!(export_text(&w, &partner).contains("\"h1\""));
    let out = cli("cancel");
    assert_eq!(
        out.status.code(),
        Some(65),
        "cancel after execute is refused: {out:?}"
    );
    let out = cli("revert");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(export_text(&w, &partner), before);
    let out = cli("revert");
    assert_eq!(out.status.code(), Some(65), "a revert runs once: {out:?}");
}

/// Two `wharf core` processes on one PostgreSQL, both running the scheduler: every due
/// batch is executed exactly once (an insert executed twice would clash and fail).
#[test]
fn two_core_replicas_execute_each_batch_once() {
    let mut w = Wharf::new(Backend::Postgres);
    w.extra_env
        .push(("WHARF_SCHEDULE_MIN_LEAD".into(), "2".into()));
    let partner = add_partner(&w, None);
    let second = util::free_port();
    let _core_a = w.start_core();
    let _core_b = w.start(
        &["core"],
        &[("WHARF_GRPC_ADDR", format!("127.0.0.1:{second}"))],
        second,
    );
    let _gateway = w.start_front_end("gateway");
    let base = w.http_url();
    let token = client_token(&base, &partner);
    let url = format!("{base}{SYNC}");
    let t = now();
    for i in 0..6 {
        let rows = vec![bom_row(&format!("r{i}a")), bom_row(&format!("r{i}b"))];
        send(
            "POST",
            &url,
            &Auth::Bearer(&token),
            &scheduled(&format!("RACE{i}"), rows, t + 3, None),
        )
        .expect(200, "0");
    }
    for i in 0..6 {
        let b = wait_batch(&base, &token, &format!("RACE{i}"), 30, |b| {
            b["executeStatus"] != "idle"
        });
        assert_eq!(
            (b["executeStatus"].as_str(), b["state"].as_str()),
            (Some("finished"), Some("applied")),
            "{b}"
        );
    }
    let rows = export_text(&w, &partner);
    assert_eq!(rows.lines().count(), 12, "{rows}");
}

#[test]
fn by_hand_sqlite() {
    by_hand(Backend::Sqlite);
}

#[test]
fn by_hand_postgres() {
    by_hand(Backend::Postgres);
}

#[test]
fn scheduled_batches_sqlite() {
    scheduled_batches(Backend::Sqlite);
}

#[test]
fn scheduled_batches_postgres() {
    scheduled_batches(Backend::Postgres);
}
