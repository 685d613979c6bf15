//! "Check only" batches (issue 23, item 3) on both stores: when the last sequence is in, the
//! whole apply runs as a trial and is rolled back. A clean batch is held, checked, with no
//! execute time (the scheduler never runs it) until a user executes or cancels it; a clash
//! against current data fails it as an apply would. Nothing is applied by a check.

mod common;

use std::sync::Arc;

use common::*;
use wharf_core::audit::Filter;
use wharf_core::clock::ManualClock;
use wharf_core::model::{BatchPolicy, Environment};
use wharf_core::store::Store;
use wharf_core::{Core, CoreError};
use wharf_proto::v1::{self as pb, Operation as Op, Row};

/// 2024-04-10T02:00:00Z.
const T0: i64 = 1_712_714_400;
const HOUR: i64 = 3600;

fn core_at(store: Arc<dyn Store>, clock: &ManualClock) -> Core {
    core_with(
        store,
        BatchPolicy {
            expiry_secs: 24 * HOUR,
            ..BatchPolicy::default()
        },
    )
    .with_clock(clock.clock())
}

/// One t1/bom sequence to prod, sent as check only (or not).
#[allow(clippy::too_many_arguments)]
async fn send_checked(
    core: &Core,
    p: &str,
    op: Op,
    batch_id: &str,
    size: usize,
    seq_id: &str,
    rows: Vec<Row>,
    check_only: bool,
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
    req.check_only = check_only;
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
) -> Result<pb::GetBatchResponse, CoreError> {
    core.act_on_batch(&action_ref(p, batch_id, action, "planner"))
        .await
}

async fn actions_of(core: &Core, p: &str) -> Vec<String> {
    core.audit_list(&Filter {
        partner: Some(p.to_string()),
        ..Filter::default()
    })
    .await
    .expect("trail")
    .into_iter()
    .map(|r| r.action)
    .filter(|a| a.starts_with("batch."))
    .collect()
}

/// A clean check applies nothing and holds the batch with no execute time; the scheduler
/// never runs it; executing it by hand applies it exactly once.
async fn a_clean_check_applies_nothing_until_executed(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    assert!(
        send(&core, &p, Op::Insert, "OLD", 1, "1", bom_rows(9, 1, "old"))
            .await
            .applied
    );
    let before = owners(&core, &p, Environment::Prod).await;
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "C",
        3,
        "1",
        bom_rows(0, 2, "c"),
        true,
    )
    .await;
    assert_eq!((r.code.as_str(), r.applied), ("0", false), "{r:?}");
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "C",
        3,
        "2",
        bom_rows(2, 1, "c"),
        true,
    )
    .await;
    assert_eq!((r.code.as_str(), r.applied), ("0", false), "{r:?}");
    assert!(
        r.msg
            .contains("checked: all 3 rows pass; nothing was applied"),
        "{}",
        r.msg
    );
    assert_eq!(owners(&core, &p, Environment::Prod).await, before);
    let b = get(&core, &p, "C").await;
    assert_eq!(b.state, "held");
    assert!(b.check_only);
    assert_eq!(b.execute_status, "idle");
    assert_eq!(b.execute_ts, "", "a checked batch has no execute time");
    assert_eq!(b.staged_rows, 3);
    assert_eq!(
        actions_of(&core, &p).await,
        [
            "batch.received",
            "batch.applied",
            "batch.received",
            "batch.checked"
        ]
    );

    // The scheduler never claims it, however late it gets (short of its expiry).
    clock.advance(23 * HOUR);
    assert_eq!(core.run_due().await.expect("run due"), 0);
    assert_eq!(core.housekeeping().await.expect("housekeeping"), 0);
    assert_eq!(get(&core, &p, "C").await.state, "held");
    assert_eq!(owners(&core, &p, Environment::Prod).await, before);

    let b = act(&core, &p, "C", "execute").await.expect("execute");
    assert_eq!(
        (b.state.as_str(), b.execute_status.as_str()),
        ("applied", "finished")
    );
    assert_eq!(b.executor, "planner");
    assert_eq!(
        owners(&core, &p, Environment::Prod).await,
        ["c", "c", "c", "old"]
    );
    // Applied once: a second execute is refused and changes nothing.
    assert!(matches!(
        act(&core, &p, "C", "execute").await,
        Err(CoreError::Precondition(_))
    ));
    assert_eq!(count(&core, &p).await, 4);
}

/// A key already in the records is a clash at the sequence, as for any batch (E00W00); a
/// key taken after a sequence was accepted is found by the trial apply when the last one
/// arrives: the batch fails as an apply would (E00W00, the clashing rows listed), and says
/// that it was a check. Nothing is applied either way.
async fn a_clash_with_current_data_is_reported(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    assert!(
        send(&core, &p, Op::Insert, "OLD", 1, "1", bom_rows(5, 1, "old"))
            .await
            .applied
    );
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "Q",
        2,
        "1",
        bom_rows(4, 2, "q"),
        true,
    )
    .await;
    assert_eq!(r.code, "E00W00", "{r:?}");
    assert_eq!(r.problems.first().and_then(|e| e.index), Some(1), "{r:?}");

    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "X",
        3,
        "1",
        bom_rows(0, 2, "x"),
        true,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    // Another batch takes row 1's key before the check's last sequence.
    assert!(
        send(&core, &p, Op::Insert, "N", 1, "1", bom_rows(1, 1, "n"))
            .await
            .applied
    );
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "X",
        3,
        "2",
        bom_rows(2, 1, "x"),
        true,
    )
    .await;
    assert_eq!(r.code, "E00W00", "{r:?}");
    assert!(!r.applied);
    assert!(r.msg.contains("checked, nothing was applied"), "{}", r.msg);
    assert!(r.msg.contains("sequence 1 row 1"), "{}", r.msg);
    let listed: Vec<u32> = r.problems.iter().filter_map(|e| e.index).collect();
    assert_eq!(listed, [1], "{r:?}");
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["n", "old"]);
    let b = get(&core, &p, "X").await;
    assert_eq!(
        (b.state.as_str(), b.failure_code.as_str()),
        ("failed", "E00W00")
    );
    assert!(b.failure_msg.contains("checked"), "{}", b.failure_msg);
    assert!(matches!(
        act(&core, &p, "X", "execute").await,
        Err(CoreError::Precondition(_))
    ));
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["n", "old"]);
}

/// The trial of an `all` batch (which replaces the whole scope) is rolled back whole: the
/// records and their journal are as they were, and a later revert of the real batch still
/// restores them.
async fn a_trial_is_rolled_back_whole(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    assert!(
        send(&core, &p, Op::Insert, "OLD", 2, "1", bom_rows(0, 2, "old"))
            .await
            .applied
    );
    let r = send_checked(&core, &p, Op::All, "A", 1, "1", bom_rows(5, 1, "all"), true).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["old", "old"]);
    act(&core, &p, "A", "execute").await.expect("execute");
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["all"]);
    let b = act(&core, &p, "A", "revert").await.expect("revert");
    assert_eq!(b.revert_status, "finished", "{b:?}");
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["old", "old"]);
}

/// A key taken between the check and the execute fails the execute (the real apply checks
/// again); cancel discards a checked batch.
async fn execute_checks_again_and_cancel_discards(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "K",
        2,
        "1",
        bom_rows(0, 2, "k"),
        true,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(
        send(&core, &p, Op::Insert, "N", 1, "1", bom_rows(1, 1, "n"))
            .await
            .applied
    );
    let b = act(&core, &p, "K", "execute").await.expect("execute");
    assert_eq!(
        (b.state.as_str(), b.failure_code.as_str()),
        ("failed", "E00W00")
    );
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["n"]);

    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "D",
        1,
        "1",
        bom_rows(7, 1, "d"),
        true,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    let b = act(&core, &p, "D", "cancel").await.expect("cancel");
    assert_eq!(
        (b.state.as_str(), b.execute_status.as_str()),
        ("cancelled", "cancelled")
    );
    assert_eq!(b.staged_rows, 1, "the count stays; the rows are gone");
    assert!(matches!(
        act(&core, &p, "D", "execute").await,
        Err(CoreError::Precondition(_))
    ));
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["n"]);
}

/// Check only is a term of the batch: every sequence sends the same, and it takes no
/// schedule. A checked batch nobody acts on expires like an open one.
async fn check_only_is_a_term_and_checked_batches_expire(store: Arc<dyn Store>) {
    let clock = ManualClock::at(T0);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "T",
        2,
        "1",
        bom_rows(0, 1, "t"),
        true,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "T",
        2,
        "2",
        bom_rows(1, 1, "t"),
        false,
    )
    .await;
    assert_eq!(r.code, "E00V00", "{r:?}");
    assert!(r.msg.contains("check only"), "{}", r.msg);
    let fields: Vec<&str> = r
        .problems
        .iter()
        .flat_map(|e| e.verify.iter().map(|v| v.fields.as_str()))
        .collect();
    assert!(fields.contains(&"check_only"), "{r:?}");
    assert_eq!(get(&core, &p, "T").await.state, "open");

    let mut req = Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "S",
        batch_size: 1,
        seq_id: "1",
    }
    .request(bom_rows(3, 1, "s"));
    req.check_only = true;
    req.instant_execute = Some(pb::Value {
        kind: Some(pb::value::Kind::Boolean(false)),
    });
    req.execute_ts = text(&wharf_proto::time::rfc3339(T0 + 3 * HOUR));
    let r = core.ingest(&req).await.expect("ingest");
    assert_eq!(r.code, "E00V00", "{r:?}");
    assert!(r.msg.contains("takes no schedule"), "{}", r.msg);

    let r = send_checked(
        &core,
        &p,
        Op::Insert,
        "E",
        1,
        "1",
        bom_rows(4, 1, "e"),
        true,
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    clock.advance(25 * HOUR);
    assert!(core.housekeeping().await.expect("housekeeping") >= 1);
    let b = get(&core, &p, "E").await;
    assert_eq!(b.state, "expired");
    match act(&core, &p, "E", "execute").await {
        Err(CoreError::Precondition(why)) => assert!(why.contains("checked"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(actions_of(&core, &p)
        .await
        .contains(&"batch.expired".to_string()));
    assert_eq!(count(&core, &p).await, 0);
}

// A schema of its own per test: the scheduler and housekeeping serve every partner.
both_stores!(
    postgres: pg_private_store;
    a_clean_check_applies_nothing_until_executed,
    a_clash_with_current_data_is_reported,
    a_trial_is_rolled_back_whole,
    execute_checks_again_and_cancel_discards,
    check_only_is_a_term_and_checked_batches_expire,
);
