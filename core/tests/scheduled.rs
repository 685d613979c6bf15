//! Scheduled batches (SPEC §7.2, seed 003) on both stores: held until executeTs, executed and
//! reverted by the scheduler as an injected clock passes their times, reverts that restore the
//! exact previous rows (or leave what a later batch changed and say so), manual actions and
//! their refusals, and two schedulers racing over the same due work.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use wharf_core::clock::ManualClock;
use wharf_core::model::Environment;
use wharf_core::store::Store;
use wharf_core::{Core, CoreError, Settings};
use wharf_proto::v1::{self as pb, Operation as Op, Row};

/// 2024-04-10T02:00:00Z.
const T0: i64 = 1_712_714_400;
const HOUR: i64 = 3600;

fn iso(unix: i64) -> Option<pb::Value> {
    text(&wharf_proto::time::rfc3339(unix))
}

fn core_at(store: Arc<dyn Store>, clock: &ManualClock) -> Core {
    core_on(store, Settings::default()).with_clock(clock.clock())
}

/// The schedule fields of a sequence: (instantExecute, executeTs, revertTs).
type When = (Option<pb::Value>, Option<pb::Value>, Option<pb::Value>);

fn never() -> When {
    (None, None, None)
}

#[allow(clippy::too_many_arguments)]
async fn send_when(
    core: &Core,
    p: &str,
    op: Op,
    batch_id: &str,
    size: usize,
    seq_id: &str,
    rows: Vec<Row>,
    when: When,
) -> pb::IngestBatchResponse {
    let mut req = Seq {
        partner: p,
        env: pb::Environment::Prod,
        op,
        batch_id,
        batch_size: size,
        seq_id,
    }
    .request(rows);
    (req.instant_execute, req.execute_ts, req.revert_ts) = when;
    core.ingest(&req).await.expect("ingest")
}

async fn get(core: &Core, p: &str, batch_id: &str) -> pb::GetBatchResponse {
    core.get_batch(&batch_ref(p, pb::Environment::Prod, batch_id))
        .await
        .expect("get")
}

async fn act(
    core: &Core,
    p: &str,
    batch_id: &str,
    action: &str,
    actor: &str,
) -> Result<pb::GetBatchResponse, CoreError> {
    core.act_on_batch(&action_ref(p, batch_id, action, actor))
        .await
}

async fn records(core: &Core, p: &str) -> Vec<String> {
    core.export(p, Environment::Prod, "t1", "bom")
        .await
        .expect("export")
}

/// (state, execute_status, revert_status)
fn statuses(b: &pb::GetBatchResponse) -> (&str, &str, &str) {
    (
        b.state.as_str(),
        b.execute_status.as_str(),
        b.revert_status.as_str(),
    )
}

async fn held_until_execute_then_reverted_by_the_scheduler(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let when = (None, iso(T0 + 3 * HOUR), iso(T0 + 5 * HOUR));
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "S",
        3,
        "1",
        bom_rows(0, 2, "s"),
        when,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    // A later sequence may leave the schedule out.
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "S",
        3,
        "2",
        bom_rows(2, 1, "s"),
        never(),
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(!r.applied, "held, not applied: {r:?}");
    assert!(
        r.msg
            .contains("scheduled to execute at 2024-04-10T05:00:00Z"),
        "{}",
        r.msg
    );
    assert!(
        records(&core, &p).await.is_empty(),
        "nothing before executeTs"
    );
    let b = get(&core, &p, "S").await;
    assert_eq!(statuses(&b), ("held", "idle", "idle"));
    assert_eq!(
        (
            b.instant_execute,
            b.execute_ts.as_str(),
            b.revert_ts.as_str()
        ),
        (false, "2024-04-10T05:00:00Z", "2024-04-10T07:00:00Z")
    );
    assert_eq!(b.batch_source, "api");
    assert_eq!(core.run_due().await.unwrap(), 0, "not due yet");

    // The scheduler loop, ticking fast, sees the clock pass executeTs.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let loop_task = tokio::spawn(wharf_core::run_scheduler(
        core.clone(),
        Duration::from_millis(10),
        async {
            let _ = stop_rx.await;
        },
    ));
    clock.set(T0 + 3 * HOUR - 1);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(get(&core, &p, "S").await.state, "held", "one second early");
    clock.set(T0 + 3 * HOUR);
    let b = wait_for(&core, &p, "S", "applied").await;
    assert_eq!(statuses(&b), ("applied", "finished", "idle"));
    assert_eq!(b.executor, "Scheduler");
    assert_eq!(b.execute_ts, "2024-04-10T05:00:00Z");
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["s", "s", "s"]);

    clock.set(T0 + 5 * HOUR);
    let b = wait_for(&core, &p, "S", "reverted").await;
    assert_eq!(statuses(&b), ("reverted", "finished", "finished"));
    assert_eq!(
        (b.reverter.as_str(), b.modifier.as_str()),
        ("Scheduler", "Scheduler")
    );
    assert!(
        records(&core, &p).await.is_empty(),
        "the insert is taken back"
    );
    let _ = stop_tx.send(());
    loop_task.await.unwrap();
}

async fn wait_for(core: &Core, p: &str, batch_id: &str, state: &str) -> pb::GetBatchResponse {
    for _ in 0..300 {
        let b = get(core, p, batch_id).await;
        if b.state == state {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "batch {batch_id} never became {state}: {:?}",
        get(core, p, batch_id).await
    );
}

async fn instant_batches_record_their_execution(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    // Nothing said about time: applied at once, as before schedules existed.
    let r = send(&core, &p, Op::Insert, "I", 1, "1", bom_rows(0, 1, "i")).await;
    assert!(r.applied, "{r:?}");
    let b = get(&core, &p, "I").await;
    assert_eq!(statuses(&b), ("applied", "finished", ""));
    assert!(b.instant_execute);
    assert_eq!(b.execute_ts, "2024-04-10T02:00:00Z", "executeTs = now");
    assert_eq!(b.executor, p, "the creator executed it");
    // Instant with a revert planned.
    let when = (None, None, iso(T0 + 4 * HOUR));
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "J",
        1,
        "1",
        bom_rows(1, 1, "j"),
        when,
    )
    .await;
    assert!(r.applied, "{r:?}");
    let b = get(&core, &p, "J").await;
    assert_eq!(statuses(&b), ("applied", "finished", "idle"));
    assert_eq!(b.revert_ts, "2024-04-10T06:00:00Z");
    clock.advance(4 * HOUR);
    assert_eq!(core.run_due().await.unwrap(), 1);
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["i"]);
    assert_eq!(core.run_due().await.unwrap(), 0, "a revert runs once");
}

async fn schedule_rules_answer_e00v00_with_seed_codes(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let codes = |r: &pb::IngestBatchResponse| -> Vec<(String, String, String)> {
        r.problems
            .iter()
            .flat_map(|p| p.verify.iter())
            .map(|v| (v.r#type.clone(), v.fields.clone(), v.code.clone()))
            .collect()
    };
    let one = |ty: &str, f: &str, c: &str| vec![(ty.to_string(), f.to_string(), c.to_string())];
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "W",
        2,
        "1",
        bom_rows(0, 1, "w"),
        (None, iso(T0 + 2 * HOUR - 1), None),
    )
    .await;
    assert_eq!(r.code, "E00V00");
    assert_eq!(codes(&r), one("value not allowed", "executeTs", "40009216"));
    assert!(r.msg.contains("+2 hours and +30 days"), "{}", r.msg);
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "W",
        2,
        "1",
        bom_rows(0, 1, "w"),
        (None, text("2024-04-10T12:00:00"), None),
    )
    .await;
    assert_eq!(codes(&r), one("invalid date", "executeTs", "40000011"));
    // Fixed: exactly +2 h is accepted, and becomes the batch's term.
    let exec = T0 + 2 * HOUR;
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "W",
        2,
        "1",
        bom_rows(0, 1, "w"),
        (None, iso(exec), None),
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    // A later sequence sending another schedule is refused, field by field.
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "W",
        2,
        "2",
        bom_rows(1, 1, "w"),
        (None, iso(exec + 60), iso(exec + HOUR)),
    )
    .await;
    assert_eq!(r.code, "E00V00");
    let fields: Vec<String> = codes(&r).into_iter().map(|c| c.1).collect();
    assert_eq!(fields, ["executeTs", "revertTs"]);
    // The same schedule again is fine, even when its window has passed since.
    clock.advance(HOUR);
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "W",
        2,
        "2",
        bom_rows(1, 1, "w"),
        (text("false"), iso(exec), None),
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(get(&core, &p, "W").await.state, "held");
}

/// Revert each operation: the records are exactly what they were before the batch, and
/// restored records carry their earlier batch (so that one can be reverted in turn).
async fn revert_restores_the_previous_rows_for_every_operation(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let cases = revert_cases();
    for (op, rows) in cases {
        let p = partner(&core).await;
        let base = send(&core, &p, Op::Insert, "A", 4, "1", {
            let mut r = bom_rows(0, 3, "a");
            r.push(bom_with_uid("u", "a", "UID-1"));
            r
        })
        .await;
        assert!(base.applied, "{base:?}");
        let second = send(
            &core,
            &p,
            Op::Update,
            "B",
            2,
            "1",
            vec![bom("0", "b"), bom("2", "b")],
        )
        .await;
        assert!(second.applied, "{second:?}");
        let before_x = records(&core, &p).await;
        let n = rows.len();
        let r = send(&core, &p, op, "X", n, "1", rows).await;
        assert!(r.applied, "{op:?}: {r:?}");
        assert_ne!(
            records(&core, &p).await,
            before_x,
            "{op:?} changed something"
        );
        let b = act(&core, &p, "X", "revert", "alice")
            .await
            .expect("revert");
        assert_eq!(
            statuses(&b),
            ("reverted", "finished", "finished"),
            "{op:?}: {b:?}"
        );
        assert_eq!(
            (b.reverter.as_str(), b.modifier.as_str()),
            ("alice", "alice")
        );
        assert_eq!(
            records(&core, &p).await,
            before_x,
            "{op:?}: exact previous rows"
        );
        // The restored rows carry batch B again: reverting B goes back to A's rows.
        act(&core, &p, "B", "revert", "alice")
            .await
            .expect("revert B");
        assert_eq!(
            owners(&core, &p, Environment::Prod).await,
            ["a", "a", "a", "a"],
            "{op:?}"
        );
    }
}

async fn revert_leaves_rows_a_later_batch_changed(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    assert!(
        send(&core, &p, Op::Insert, "A", 4, "1", bom_rows(0, 4, "a"))
            .await
            .applied
    );
    let x = vec![bom("0", "x"), bom("1", "x")];
    assert!(send(&core, &p, Op::Update, "X", 2, "1", x).await.applied);
    assert!(
        send(&core, &p, Op::Delete, "D", 1, "1", vec![bom("3", "d")])
            .await
            .applied
    );
    // Later batches: one changes a row X wrote, one takes back the key D removed.
    assert!(
        send(&core, &p, Op::Update, "L", 1, "1", vec![bom("1", "l")])
            .await
            .applied
    );
    assert!(
        send(&core, &p, Op::Insert, "M", 1, "1", vec![bom("3", "m")])
            .await
            .applied
    );
    let b = act(&core, &p, "X", "revert", "bob")
        .await
        .expect("revert X");
    assert_eq!(statuses(&b), ("reverted", "finished", "conflict"));
    assert!(
        b.revert_detail
            .starts_with("1 row(s) changed by a later batch"),
        "{}",
        b.revert_detail
    );
    assert!(
        b.revert_detail.contains("VF-1"),
        "names the key: {}",
        b.revert_detail
    );
    assert!(!b.revert_detail.contains("VF-0"), "{}", b.revert_detail);
    assert_eq!(
        owners(&core, &p, Environment::Prod).await,
        ["a", "l", "a", "m"]
    );
    let b = act(&core, &p, "D", "revert", "bob")
        .await
        .expect("revert D");
    assert_eq!(b.revert_status, "conflict");
    assert!(b.revert_detail.contains("VF-3"), "{}", b.revert_detail);
    assert_eq!(
        owners(&core, &p, Environment::Prod).await,
        ["a", "l", "a", "m"]
    );
}

async fn manual_actions_and_their_refusals(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let precondition = |r: Result<pb::GetBatchResponse, CoreError>, says: &str| match r {
        Err(CoreError::Precondition(why)) => assert!(why.contains(says), "{why}"),
        other => panic!("expected a refusal saying {says:?}, got {other:?}"),
    };
    // Instant: revert once; cancel after execute refused; a second revert refused.
    assert!(
        send(&core, &p, Op::Insert, "I", 1, "1", bom_rows(0, 1, "i"))
            .await
            .applied
    );
    precondition(act(&core, &p, "I", "cancel", "u").await, "already executed");
    precondition(
        act(&core, &p, "I", "execute", "u").await,
        "already executed",
    );
    act(&core, &p, "I", "revert", "u")
        .await
        .expect("first revert");
    precondition(act(&core, &p, "I", "revert", "u").await, "runs once");
    precondition(act(&core, &p, "I", "cancel", "u").await, "already executed");

    // Held: executed by hand before its time.
    let when = (None, iso(T0 + 5 * HOUR), None);
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "H",
        1,
        "1",
        bom_rows(1, 1, "h"),
        when,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    precondition(
        act(&core, &p, "H", "revert", "u").await,
        "not been executed",
    );
    clock.advance(60);
    let b = act(&core, &p, "H", "execute", "carol")
        .await
        .expect("execute");
    assert_eq!(statuses(&b), ("applied", "finished", ""));
    assert_eq!(b.executor, "carol");
    assert_eq!(
        b.execute_ts,
        wharf_proto::time::rfc3339(T0 + 60),
        "when it ran"
    );
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["h"]);
    clock.advance(6 * HOUR);
    assert_eq!(
        core.run_due().await.unwrap(),
        0,
        "already ran: the scheduler leaves it"
    );

    // Held, then cancelled: never runs; cancelled twice is refused; no more sequences.
    let when = (
        None,
        iso(clock.now() + 3 * HOUR),
        iso(clock.now() + 4 * HOUR),
    );
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "C",
        1,
        "1",
        bom_rows(2, 1, "c"),
        when,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    let b = act(&core, &p, "C", "cancel", "dave").await.expect("cancel");
    assert_eq!(statuses(&b), ("cancelled", "cancelled", "cancelled"));
    assert_eq!(b.modifier, "dave");
    precondition(act(&core, &p, "C", "execute", "u").await, "cancelled");
    precondition(act(&core, &p, "C", "cancel", "u").await, "cancelled");
    clock.advance(5 * HOUR);
    assert_eq!(core.run_due().await.unwrap(), 0);
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["h"]);

    // Open, then cancelled: later sequences are refused.
    assert_eq!(
        send(&core, &p, Op::Insert, "O", 2, "1", bom_rows(3, 1, "o"))
            .await
            .code,
        "0"
    );
    precondition(act(&core, &p, "O", "execute", "u").await, "not complete");
    act(&core, &p, "O", "cancel", "u")
        .await
        .expect("cancel open");
    let r = send(&core, &p, Op::Insert, "O", 2, "2", bom_rows(4, 1, "o")).await;
    assert_eq!(r.code, "E00V00");
    assert!(r.msg.contains("cancelled"), "{}", r.msg);

    // Unknown batch and unknown action.
    assert!(matches!(
        act(&core, &p, "nope", "revert", "u").await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        act(&core, &p, "I", "undo", "u").await,
        Err(CoreError::Invalid(_))
    ));
    assert!(matches!(
        act(&core, &p, "I", "revert", "").await,
        Err(CoreError::Invalid(_))
    ));
}

/// A held batch whose key was taken meanwhile fails at its execute, and says why.
async fn a_failed_execute_is_reported(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let when = (None, iso(T0 + 3 * HOUR), iso(T0 + 4 * HOUR));
    let r = send_when(
        &core,
        &p,
        Op::Insert,
        "H",
        1,
        "1",
        bom_rows(0, 1, "h"),
        when,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(
        send(&core, &p, Op::Insert, "N", 1, "1", bom_rows(0, 1, "n"))
            .await
            .applied
    );
    clock.advance(3 * HOUR);
    assert_eq!(core.run_due().await.unwrap(), 1);
    let b = get(&core, &p, "H").await;
    assert_eq!(statuses(&b), ("failed", "failed", "cancelled"));
    assert_eq!(b.failure_code, "E00W00");
    assert!(
        b.execute_detail.contains("key was taken"),
        "{}",
        b.execute_detail
    );
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["n"]);
}

// A schema of its own per test: the scheduler serves every partner of its store.
both_stores!(
    postgres: pg_private_store;
    held_until_execute_then_reverted_by_the_scheduler,
    instant_batches_record_their_execution,
    schedule_rules_answer_e00v00_with_seed_codes,
    revert_restores_the_previous_rows_for_every_operation,
    revert_leaves_rows_a_later_batch_changed,
    manual_actions_and_their_refusals,
    a_failed_execute_is_reported,
);

/// Two cores (two replicas: each its own connection pool) on one PostgreSQL race over the same
/// due batches: every action runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_run_each_due_action_once() {
    let clock = ManualClock::at(T0);
    let url = pg_private_url().await;
    let one = core_at(pg_store_at(&url).await, &clock);
    let two = core_at(pg_store_at(&url).await, &clock);
    let p = partner(&one).await;
    let batches = 12;
    for i in 0..batches {
        let when = (None, iso(T0 + 3 * HOUR), iso(T0 + 4 * HOUR));
        let id = format!("R{i}");
        let r = send_when(
            &one,
            &p,
            Op::Insert,
            &id,
            2,
            "1",
            bom_rows(i * 2, 2, "r"),
            when,
        )
        .await;
        assert_eq!(r.code, "0", "{r:?}");
    }
    let race = |clock_at: i64| {
        let (one, two, clock) = (one.clone(), two.clone(), clock.clone());
        async move {
            clock.set(clock_at);
            let mut runs = Vec::new();
            for _ in 0..4 {
                let (a, b) = tokio::join!(one.run_due(), two.run_due());
                runs.push(a.unwrap() + b.unwrap());
            }
            runs.iter().sum::<usize>()
        }
    };
    assert_eq!(race(T0 + 3 * HOUR).await, batches, "each execute once");
    for i in 0..batches {
        let b = get(&one, &p, &format!("R{i}")).await;
        assert_eq!(statuses(&b), ("applied", "finished", "idle"), "{b:?}");
    }
    assert_eq!(count(&one, &p).await, batches * 2);
    assert_eq!(race(T0 + 4 * HOUR).await, batches, "each revert once");
    for i in 0..batches {
        let b = get(&two, &p, &format!("R{i}")).await;
        assert_eq!(statuses(&b), ("reverted", "finished", "finished"), "{b:?}");
    }
    assert_eq!(count(&one, &p).await, 0);
}
