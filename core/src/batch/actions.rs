//! What happens to a complete batch after its last sequence (SPEC §7.2, seed 003): it is
//! executed (its rows applied), reverted (its rows taken back out), or cancelled before it
//! ran — by the scheduler at the batch's executeTs / revertTs, or by a user's hand.
//!
//! States and transitions (`BatchState`, with seed 003's statuses):
//! - `open` → `applied` when the last sequence completes an instant batch (execute finished,
//!   executor = its creator), or → `held` when it completes a scheduled one (execute idle);
//! - `held` → `applied` at executeTs (scheduler) or by hand (execute finished); → `failed`
//!   when its apply clashes with a key taken meanwhile (execute failed, E00W00);
//! - `applied` → `reverted` at revertTs (scheduler, only when revert is idle) or by hand
//!   (revert finished, or conflict when rows a later batch changed were left as they are);
//!   a revert whose restore clashes changes nothing (revert failed) and may be retried by hand;
//! - `open`/`held` → `cancelled` by hand (execute cancelled, a planned revert cancelled too).
//! - a check-only batch: `open` → `held` with no execute time when its trial apply is clean
//!   (`ingest::check`; only a hand executes or cancels it, the scheduler never claims it), or
//!   → `failed` when it clashes; a checked batch nobody acts on expires like an open one.
//!
//! Each action runs in ONE transaction holding the batch row: a reader sees the batch before
//! or after, two replicas never run one action twice (`Tx::claim_due` skips locked rows), and
//! a revert runs once (the state leaves `applied`).

use crate::codes::code;
use crate::error::{CoreError, Result};
use crate::model::{ActionStatus, BatchState, Operation, Scope};
use crate::store::feed::Kind as FeedKind;
use crate::store::{Applied, BatchRow, ClashRow, Reverted, Store, Tx, MAX_LISTED_CLASHES};
use serde_json::json;

/// The executor / reverter name of work the scheduler did (seed 003).
pub const SCHEDULER: &str = "Scheduler";

/// Most conflicting keys a revert lists in its detail.
pub const MAX_LISTED_CONFLICTS: u32 = 20;

/// Most due actions one scheduler tick runs before it yields to the next tick.
pub const MAX_DUE_PER_TICK: usize = 64;

/// What a user may do to a batch by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Execute,
    Revert,
    Cancel,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "execute" => Some(Action::Execute),
            "revert" => Some(Action::Revert),
            "cancel" => Some(Action::Cancel),
            _ => None,
        }
    }
}

/// Why `action` is not possible for `b` now, in words; `None` when it is.
pub fn refusal(action: Action, b: &BatchRow) -> Option<String> {
    let id = &b.batch_id;
    let p = &b.proposal;
    let ended = || match b.state {
        BatchState::Failed => Some(format!(
            "batch {id} has failed ({} {})",
            b.failure_code, b.failure_msg
        )),
        BatchState::Expired if b.check_only => Some(format!(
            "batch {id} expired: it was checked but not applied in time; upload it again"
        )),
        BatchState::Expired => Some(format!("batch {id} expired before it was complete")),
        BatchState::Cancelled => Some(format!("batch {id} was cancelled")),
        _ => None,
    };
    match action {
        Action::Execute => match b.state {
            BatchState::Held => None,
            BatchState::Open => Some(format!(
                "batch {id} is not complete ({} of {} rows staged)",
                b.staged_rows, b.batch_size
            )),
            BatchState::Applied | BatchState::Reverted => {
                Some(format!("batch {id} was already executed"))
            }
            _ => ended(),
        },
        Action::Revert => match b.state {
            BatchState::Applied => match p.revert_status {
                None | Some(ActionStatus::Idle) | Some(ActionStatus::Failed) => None,
                Some(s) => Some(format!(
                    "batch {id} cannot be reverted (revert {})",
                    s.as_str()
                )),
            },
            BatchState::Reverted => Some(format!(
                "batch {id} was already reverted: a revert runs once"
            )),
            BatchState::Open | BatchState::Held => Some(format!(
                "batch {id} has not been executed; nothing to revert"
            )),
            _ => ended(),
        },
        Action::Cancel => match b.state {
            BatchState::Open | BatchState::Held => None,
            BatchState::Applied | BatchState::Reverted => Some(format!(
                "batch {id} was already executed and can no longer be cancelled (revert it instead)"
            )),
            _ => ended(),
        },
    }
}

/// Apply a complete batch now: an instant batch at its last sequence, a held one at its time
/// or by hand. Saves the outcome in `b` (applied, or failed on a key clash).
pub(crate) async fn execute(
    tx: &mut (dyn Tx + '_),
    b: &mut BatchRow,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let was_held = b.state == BatchState::Held;
    let applied = tx.apply(&b.scope(), b.pk, b.op).await?;
    let p = &mut b.proposal;
    p.executor = actor.to_string();
    p.modifier = actor.to_string();
    p.schedule.execute_unix = Some(now);
    match &applied {
        Applied::Done { .. } => {
            b.state = BatchState::Applied;
            p.execute_status = Some(ActionStatus::Finished);
            p.execute_detail = format!("applied {}", applied_rows(b.op, b.staged_rows, &applied));
        }
        Applied::KeyClash(rows) => {
            fail_on_clash(b, clash_detail(TAKEN_BEFORE_APPLY, rows));
            let p = &mut b.proposal;
            if p.revert_status == Some(ActionStatus::Idle) {
                p.revert_status = Some(ActionStatus::Cancelled);
                p.revert_detail = "the batch was never applied".into();
            }
        }
    }
    tx.save_batch(b, now).await?;
    if let Applied::Done { .. } = applied {
        let kind = if was_held {
            FeedKind::Executed
        } else {
            FeedKind::Applied
        };
        tx.feed_event(b, kind, now).await;
    }
    let (action, detail) = match &applied {
        Applied::Done { .. } if was_held => (
            "batch.executed",
            json!({"rows": applied_rows(b.op, b.staged_rows, &applied)}),
        ),
        Applied::Done { .. } => (
            "batch.applied",
            json!({"rows": applied_rows(b.op, b.staged_rows, &applied)}),
        ),
        Applied::KeyClash(_) => (
            "batch.failed",
            json!({"code": b.failure_code, "msg": b.failure_msg}),
        ),
    };
    super::audit(tx, b, action, actor, detail, now).await?;
    Ok(applied)
}

/// How many rows an apply wrote, in words: "3 rows", and for a delete how many records it
/// removed ("3 rows: 1 deleted"; keys that were not there remove nothing).
pub(crate) fn applied_rows(op: Operation, staged: u64, applied: &Applied) -> String {
    match (op, applied) {
        (Operation::Delete, Applied::Done { deleted }) => {
            format!("{staged} rows: {deleted} deleted")
        }
        _ => format!("{staged} rows"),
    }
}

/// Most clashing rows a failure message names (the answer's `result` lists them all).
const MAX_NAMED_CLASHES: usize = 20;

/// A batch whose apply (or check) met a key taken: failed, E00W00, its execution failed,
/// with `msg` (`clash_detail`) as the reason.
pub(crate) fn fail_on_clash(b: &mut BatchRow, msg: String) {
    b.state = BatchState::Failed;
    b.failure_code = code::WRITE.to_string();
    b.failure_msg = msg.clone();
    b.proposal.execute_status = Some(ActionStatus::Failed);
    b.proposal.execute_detail = msg;
}

/// What an apply that clashed says first.
const TAKEN_BEFORE_APPLY: &str = "a key was taken by another batch before this one was applied";

/// Why a batch failed at apply (or at its check), in the partner's words: `lead`, then which
/// rows lost their key to another batch (never the store's own message).
pub(crate) fn clash_detail(lead: &str, rows: &[ClashRow]) -> String {
    let mut d = String::from(lead);
    if rows.is_empty() {
        return d;
    }
    let named: Vec<String> = rows
        .iter()
        .take(MAX_NAMED_CLASHES)
        .map(|r| format!("sequence {} row {}", r.seq_id, r.idx))
        .collect();
    // The store lists at most MAX_LISTED_CLASHES: a full list may have been cut.
    let at_least = if rows.len() >= MAX_LISTED_CLASHES as usize {
        "at least "
    } else {
        ""
    };
    d.push_str(&format!(
        ": {at_least}{} row(s) clash ({}",
        rows.len(),
        named.join(", ")
    ));
    if rows.len() > named.len() {
        d.push_str(&format!(" and {} more", rows.len() - named.len()));
    }
    d.push(')');
    d
}

/// The detail of a revert that left rows a later batch changed.
fn conflict_detail(keys: &[String], count: u64) -> String {
    let mut d = format!(
        "{count} row(s) changed by a later batch were left as they are: {}",
        keys.join(", ")
    );
    if count > keys.len() as u64 {
        d.push_str(&format!(" and {} more", count - keys.len() as u64));
    }
    d
}

/// Take an applied batch's rows back out (see `sql::revert_sql`) and save the outcome.
pub(crate) async fn revert(
    tx: &mut (dyn Tx + '_),
    b: &mut BatchRow,
    actor: &str,
    now: i64,
) -> Result<()> {
    let outcome = tx
        .revert(&b.scope(), b.pk, b.op, MAX_LISTED_CONFLICTS)
        .await?;
    let p = &mut b.proposal;
    p.reverter = actor.to_string();
    p.modifier = actor.to_string();
    p.schedule.revert_unix = Some(now);
    match outcome {
        Reverted::Done {
            conflict_count: 0, ..
        } => {
            b.state = BatchState::Reverted;
            p.revert_status = Some(ActionStatus::Finished);
            p.revert_detail = "every row is back as it was before the batch".into();
        }
        Reverted::Done {
            conflicts,
            conflict_count,
        } => {
            b.state = BatchState::Reverted;
            p.revert_status = Some(ActionStatus::Conflict);
            p.revert_detail = conflict_detail(&conflicts, conflict_count);
        }
    }
    tx.save_batch(b, now).await?;
    tx.feed_event(b, FeedKind::Reverted, now).await;
    let detail = json!({"detail": b.proposal.revert_detail});
    super::audit(tx, b, "batch.reverted", actor, detail, now).await
}

/// Stop a batch before it ran: its staged rows go, nothing of it is ever applied.
async fn cancel(tx: &mut (dyn Tx + '_), b: &mut BatchRow, actor: &str, now: i64) -> Result<()> {
    tx.drop_staged(b.pk).await?;
    b.state = BatchState::Cancelled;
    let p = &mut b.proposal;
    p.execute_status = Some(ActionStatus::Cancelled);
    p.execute_detail = format!("cancelled by {actor}");
    if p.revert_status.is_some() {
        p.revert_status = Some(ActionStatus::Cancelled);
        p.revert_detail = format!("cancelled by {actor}");
    }
    p.modifier = actor.to_string();
    tx.save_batch(b, now).await?;
    super::audit(tx, b, "batch.cancelled", actor, json!({}), now).await
}

/// A user's action on one batch. NotFound for an unknown batch; Precondition (with the
/// reason) when the batch's state does not allow it. The outcome is in the batch.
pub async fn act(
    store: &dyn Store,
    scope: &Scope,
    batch_id: &str,
    action: Action,
    actor: &str,
    now: i64,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let Some(mut b) = tx.lock_existing(scope, batch_id).await? else {
        tx.commit().await?;
        return Err(CoreError::NotFound(format!("batch {batch_id}")));
    };
    if let Some(why) = refusal(action, &b) {
        tx.commit().await?;
        return Err(CoreError::Precondition(why));
    }
    match action {
        Action::Execute => {
            execute(&mut *tx, &mut b, actor, now).await?;
        }
        Action::Revert => revert(&mut *tx, &mut b, actor, now).await?,
        Action::Cancel => cancel(&mut *tx, &mut b, actor, now).await?,
    }
    tx.commit().await
}

/// Run the scheduled work due at `now`, one batch per transaction, at most
/// [`MAX_DUE_PER_TICK`]; returns how many actions ran. An action that fails on a store error
/// is rolled back and its status set `failed` with the error (a user may run it again by hand).
pub async fn run_due(store: &dyn Store, now: i64) -> Result<usize> {
    let mut done = 0;
    while done < MAX_DUE_PER_TICK {
        let mut tx = store.begin().await?;
        let Some(mut b) = tx.claim_due(now).await? else {
            tx.commit().await?;
            break;
        };
        let executing = b.state == BatchState::Held;
        let res = if executing {
            execute(&mut *tx, &mut b, SCHEDULER, now).await.map(drop)
        } else {
            revert(&mut *tx, &mut b, SCHEDULER, now).await
        };
        match res {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                drop(tx);
                tracing::warn!(batch_id = %b.batch_id, error = %e, "scheduled action failed");
                mark_failed(
                    store,
                    &b.scope(),
                    &b.batch_id,
                    executing,
                    &e.to_string(),
                    now,
                )
                .await?;
            }
        }
        done += 1;
    }
    Ok(done)
}

/// Record that a scheduled action failed, if the batch is still waiting for it.
async fn mark_failed(
    store: &dyn Store,
    scope: &Scope,
    batch_id: &str,
    executing: bool,
    why: &str,
    now: i64,
) -> Result<()> {
    let mut tx = store.begin().await?;
    if let Some(mut b) = tx.lock_existing(scope, batch_id).await? {
        let p = &mut b.proposal;
        let waiting = if executing {
            b.state == BatchState::Held && p.execute_status == Some(ActionStatus::Idle)
        } else {
            b.state == BatchState::Applied && p.revert_status == Some(ActionStatus::Idle)
        };
        if waiting {
            if executing {
                p.execute_status = Some(ActionStatus::Failed);
                p.execute_detail = why.to_string();
                p.executor = SCHEDULER.into();
            } else {
                p.revert_status = Some(ActionStatus::Failed);
                p.revert_detail = why.to_string();
                p.reverter = SCHEDULER.into();
            }
            p.modifier = SCHEDULER.into();
            tx.save_batch(&b, now).await?;
            let action = match executing {
                true => "batch.execute-failed",
                false => "batch.revert-failed",
            };
            super::audit(&mut *tx, &b, action, SCHEDULER, json!({"error": why}), now).await?;
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Environment, Operation, Transport};
    use crate::store::Proposal;

    fn batch(state: BatchState, revert: Option<ActionStatus>) -> BatchRow {
        BatchRow {
            pk: 1,
            batch_id: "B".into(),
            state,
            op: Operation::Insert,
            batch_size: 2,
            staged_rows: 1,
            sequences: 1,
            failure_code: String::new(),
            failure_msg: String::new(),
            transport: Transport::Api,
            creator: "u".into(),
            created_unix: 0,
            updated_unix: 0,
            env: Environment::Prod,
            iface: "t1/bom".into(),
            source: String::new(),
            partner: "P".into(),
            proposal: Proposal {
                batch_source: "api".into(),
                schedule: Default::default(),
                execute_status: Some(ActionStatus::Idle),
                executor: String::new(),
                execute_detail: String::new(),
                revert_status: revert,
                reverter: String::new(),
                revert_detail: String::new(),
                modifier: String::new(),
                modified_unix: 0,
            },
            check_only: false,
        }
    }

    #[test]
    fn what_each_state_allows() {
        use Action::*;
        use BatchState::*;
        let ok = |a, s, r| refusal(a, &batch(s, r)).is_none();
        assert!(ok(Execute, Held, None));
        assert!(!ok(Execute, Open, None));
        assert!(!ok(Execute, Applied, None));
        assert!(ok(Cancel, Open, None) && ok(Cancel, Held, Some(ActionStatus::Idle)));
        assert!(!ok(Cancel, Applied, None) && !ok(Cancel, Reverted, None));
        assert!(ok(Revert, Applied, None) && ok(Revert, Applied, Some(ActionStatus::Idle)));
        assert!(ok(Revert, Applied, Some(ActionStatus::Failed)));
        assert!(!ok(Revert, Reverted, Some(ActionStatus::Finished)));
        assert!(!ok(Revert, Held, Some(ActionStatus::Idle)));
        for a in [Execute, Revert, Cancel] {
            assert!(!ok(a, Failed, None) && !ok(a, Expired, None) && !ok(a, Cancelled, None));
        }
        let why = refusal(Cancel, &batch(Applied, None)).unwrap();
        assert!(why.contains("already executed"), "{why}");
        let why = refusal(Revert, &batch(Reverted, None)).unwrap();
        assert!(why.contains("runs once"), "{why}");
    }

    #[test]
    fn conflict_details_are_bounded() {
        let keys: Vec<String> = (0..3).map(|i| format!("[\"k{i}\"]")).collect();
        assert_eq!(
            conflict_detail(&keys, 3),
            "3 row(s) changed by a later batch were left as they are: [\"k0\"], [\"k1\"], [\"k2\"]"
        );
        assert!(conflict_detail(&keys, 40).ends_with("and 37 more"));
    }
}
