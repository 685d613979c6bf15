//! Batches: what answer a sequence gets, and when a batch is applied (SPEC §4, §5).
//!
//! The order of decisions for one sequence, inside one store transaction that holds the
//! batch row locked:
//! 1. a sequence already consumed answers E00A00 and changes nothing (safe retry);
//! 2. a failed batch answers its failure; an applied one takes no more rows (E00V00);
//! 3. the batch's terms (operation, batch_size) must match its first accepted sequence,
//!    and rows beyond batch_size are refused (E00V00);
//! 4. keys already taken (insert: in the records or the batch; update/all: in the batch)
//!    answer E00W00; several kinds of failure at once answer E00M00;
//! 5. a rejected sequence counts an attempt; past `max_attempts` it answers E00P00 and
//!    fails the batch;
//! 6. otherwise the rows are staged, and when they reach batch_size the batch is applied in
//!    the same transaction — or, when its schedule sets a future executeTs, held for the
//!    scheduler (`batch::actions`).
//!
//! A check-only batch (`check_only`, the upload page's "check, don't apply") is one more term
//! at step 3, and takes no schedule; when complete it is checked, not applied (`check`).
//!
//! The schedule (`instantExecute`, `executeTs`, `revertTs`) is one of the terms at step 3:
//! judged against its windows on the first accepted sequence (`schedule::resolve`), and a
//! later sequence that sends it must send the same (`schedule::differences`). A batch that
//! sends none is instant, as before schedules existed.
//!
//! The answer of a rejection at step 4/5 is kept with the sequence (until it is accepted), so
//! a result page can show every failing row of a batch sent as several sequences, and so a
//! sender that gives up (`batch::abandon`) fails the batch with the code its rejections carry.

use prost::Message;
use serde_json::json;
use tracing::{info_span, Instrument};
use wharf_proto::v1::{value::Kind, Field, IngestBatchResponse, Row, Value};

use super::actions;
use crate::codes::{answer, code, code_msg, envelope_problem, kind, rejection};
use crate::error::{CoreError, Result};
use crate::interfaces::Interface;
use crate::model::{BatchPolicy, BatchState, Operation, Schedule, Scope};
use crate::schedule;
use crate::store::{Applied, BatchRow, ClashRow, NewBatch, StageRow, Store, Tx};
use crate::validate::{self, Checked, SequenceInput};

/// One sequence, already authorized for `scope`.
pub struct Sequence<'a> {
    pub scope: &'a Scope,
    pub iface: &'a Interface,
    pub input: SequenceInput<'a>,
    /// Who sent it (a user name, or the partner for client-credential tokens).
    pub creator: &'a str,
    /// Where it came from (a file name), kept with the batch for history pages.
    pub source: &'a str,
    /// The schedule fields as sent.
    pub schedule: ScheduleInput<'a>,
    /// Check, don't apply (`IngestBatchRequest.check_only`): a term of the batch.
    pub check_only: bool,
}

/// `instantExecute`, `executeTs`, `revertTs` as sent (absent when not).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleInput<'a> {
    pub instant_execute: Option<&'a Value>,
    pub execute_ts: Option<&'a Value>,
    pub revert_ts: Option<&'a Value>,
}

/// Longest `source` kept with a batch: it is for people reading a history, not an archive.
const MAX_SOURCE_CHARS: usize = 256;

/// Validate, dedupe, stage and (when complete) apply one sequence. Store failures are
/// errors (answered `-1` by the doors); every other outcome is an answer.
pub async fn ingest(
    store: &dyn Store,
    policy: BatchPolicy,
    seq: Sequence<'_>,
    now_unix: i64,
) -> Result<IngestBatchResponse> {
    let op = seq.input.operation;
    let Checked {
        envelope,
        rows,
        mut invalid,
        mut duplicates,
    } = validate::check_sequence(seq.iface, &seq.input);
    // Without a batch_id and seq_id there is nothing to dedupe or count against.
    let (Some(batch_id), Some(seq_id)) = (envelope.batch_id.as_deref(), envelope.seq_id.as_deref())
    else {
        let why = match seq.input.unreadable {
            "" => String::new(),
            reason => format!("({reason})"),
        };
        return Ok(rejection(invalid, duplicates, &why));
    };
    let (sent, mut schedule_problems) = match schedule::read(
        seq.schedule.instant_execute,
        seq.schedule.execute_ts,
        seq.schedule.revert_ts,
    ) {
        Ok(sent) => (sent, Vec::new()),
        Err(problems) => (schedule::Sent::default(), problems),
    };
    let mut init = NewBatch {
        op,
        batch_size: envelope.batch_size.unwrap_or(0),
        transport: seq.input.transport,
        creator: seq.creator.to_string(),
        now_unix,
        // A label for people: control characters are dropped, never stored.
        source: seq
            .source
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_SOURCE_CHARS)
            .collect(),
        schedule: Schedule::default(),
        check_only: seq.check_only,
        seen_pos: None,
    };
    // Spans for the store's part of a sequence, so a trace shows where its time went.
    let db = store.backend();
    let mut tx = store
        .begin()
        .instrument(info_span!("store begin", db.system = db))
        .await?;
    let (mut b, mut seq_row) = tx
        .lock_batch(seq.scope, batch_id, seq_id, &init)
        .instrument(info_span!("store lock batch", db.system = db))
        .await?;
    // Open batches, and checked ones nobody applied, expire (`sql::EXPIRE_BATCHES`).
    let expires = b.state == BatchState::Open || (b.state == BatchState::Held && b.check_only);
    let expired = b.state == BatchState::Expired
        || (expires && b.created_unix.saturating_add(policy.expiry_secs) <= now_unix);
    if expired {
        // Abandoned and discarded: the same batch_id starts again from nothing.
        tx.reinit_batch(b.pk, &init, true).await?;
        b.state = BatchState::Open;
        b.staged_rows = 0;
        b.sequences = 0;
        seq_row = None;
    }
    let progress = |r: &mut IngestBatchResponse, staged: u64, size: u64| {
        r.staged_rows = staged;
        r.batch_size = size;
    };
    // A failed batch answers its failure, even to a sequence it had consumed: a retry must
    // never read as delivered.
    if b.state == BatchState::Failed {
        let code = if b.failure_code.is_empty() {
            code::RETRY_LIMIT
        } else {
            b.failure_code.as_str()
        };
        let r = answer(
            code,
            format!(
                "{}: batch {batch_id} has failed: {}",
                code_msg(code),
                b.failure_msg
            ),
            vec![],
        );
        // Nothing was written; committing hands the connection back to the pool.
        tx.commit().await?;
        return Ok(r);
    }
    let fingerprint = fingerprint(op, seq.input.rows);
    if let Some(consumed) = seq_row.as_ref().filter(|s| s.accepted) {
        // Consumed sequences answer E00A00 whatever they hold now (the seeds' contract); one
        // sent again with other content is told so, since none of it is applied. A sequence
        // consumed before fingerprints were kept cannot be compared: the plain answer.
        let differs = consumed
            .fingerprint
            .as_deref()
            .is_some_and(|f| f != fingerprint);
        let mut r = answer(
            code::CONSUMED,
            if differs {
                format!(
                    "{}: batch {batch_id} sequence {seq_id} already consumed with different \
                     content: nothing of this one was applied",
                    code_msg(code::CONSUMED)
                )
            } else {
                format!(
                    "{}: batch {batch_id} sequence {seq_id}",
                    code_msg(code::CONSUMED)
                )
            },
            vec![],
        );
        r.content_differs = differs;
        progress(&mut r, b.staged_rows, b.batch_size);
        r.applied = b.state == BatchState::Applied;
        tx.commit().await?;
        return Ok(r);
    }
    if b.state != BatchState::Open {
        // Complete (held, applied, reverted) or cancelled: it takes no more rows.
        let (field, why) = if b.state == BatchState::Cancelled {
            ("batch_id", format!("(batch {batch_id} was cancelled)"))
        } else {
            (
                "batch_size",
                format!(
                    "(batch {batch_id} is complete: rows beyond batch_size {})",
                    b.batch_size
                ),
            )
        };
        invalid.insert(0, envelope_problem(kind::NOT_ALLOWED, field, ""));
        let mut r = rejection(invalid, duplicates, &why);
        progress(&mut r, b.staged_rows, b.batch_size);
        tx.commit().await?;
        return Ok(r);
    }
    let mut why = String::new();
    let first = b.sequences == 0;
    let size = if first { init.batch_size } else { b.batch_size };
    if !first && b.op != op {
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "operation", ""));
        why = format!("(batch {batch_id} is a {} batch)", b.op.as_str());
    }
    if !first && envelope.batch_size.is_some_and(|n| n != b.batch_size) {
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "batch_size", ""));
        why = format!("(batch {batch_id} has batch_size {})", b.batch_size);
    }
    if !first && seq.check_only != b.check_only {
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "check_only", ""));
        why = if b.check_only {
            format!("(batch {batch_id} is sent as check only)")
        } else {
            format!("(batch {batch_id} is not sent as check only)")
        };
    }
    if first && seq.check_only && !sent.is_empty() {
        // A check applies nothing, so there is nothing to schedule: a checked batch is
        // applied by a user's hand, when they have read the check.
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "check_only", ""));
        why =
            "(a check-only batch takes no schedule: it is applied by hand after the check)".into();
    }
    if schedule_problems.is_empty() {
        schedule_problems = if first {
            match schedule::resolve(&sent, now_unix, &policy.schedule) {
                Ok(s) => {
                    init.schedule = s;
                    Vec::new()
                }
                Err(problems) => problems,
            }
        } else {
            schedule::differences(&sent, &b.proposal.schedule)
        };
    }
    if !schedule_problems.is_empty() {
        if why.is_empty() {
            why = match schedule::first_code_msg(&schedule_problems) {
                Some(m) => format!("({m})"),
                None if first => String::new(),
                None => format!("(batch {batch_id} has another schedule)"),
            };
        }
        invalid.extend(schedule_problems);
    }
    let n = seq.input.rows.len() as u64;
    if size > 0 && b.staged_rows + n > size {
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "batch_size", ""));
        why = format!(
            "({} rows beyond batch_size {size}: {} staged, {n} sent)",
            b.staged_rows + n - size,
            b.staged_rows
        );
    }
    if op != Operation::Delete && !rows.is_empty() {
        let keys: Vec<&str> = rows.iter().filter_map(|r| r.rkey.as_deref()).collect();
        let uids: Vec<&str> = rows.iter().filter_map(|r| r.uid.as_deref()).collect();
        let (keys_taken, uids_taken, feed_pos) = tx
            .taken(seq.scope, b.pk, &keys, &uids, op == Operation::Insert)
            .instrument(info_span!(
                "store dedupe",
                db.system = db,
                rows = keys.len()
            ))
            .await?;
        init.seen_pos = Some(feed_pos);
        if !keys_taken.is_empty() || !uids_taken.is_empty() {
            for r in &rows {
                let by_key = r.rkey.as_ref().is_some_and(|k| keys_taken.contains(k));
                let by_uid = r.uid.as_ref().is_some_and(|u| uids_taken.contains(u));
                if by_key || by_uid {
                    let sent = &seq.input.rows[r.index as usize];
                    duplicates.push(validate::duplicate_problem(
                        seq.iface, r.index, sent, by_key, None,
                    ));
                }
            }
            duplicates.sort_by_key(|p| p.index);
        }
    }
    if !invalid.is_empty() || !duplicates.is_empty() {
        let rejected = rejection(invalid, duplicates, &why);
        let attempts = tx
            .record_rejection(b.pk, seq_id, &rejected.encode_to_vec(), now_unix)
            .await?;
        super::audit(
            &mut *tx,
            &b,
            "batch.rejected",
            seq.creator,
            json!({"seq_id": seq_id, "code": rejected.code, "attempts": attempts}),
            now_unix,
        )
        .await?;
        if attempts > policy.max_attempts {
            let msg = format!("sequence {seq_id} rejected {attempts} times");
            tx.set_state(
                b.pk,
                BatchState::Failed,
                Some((code::RETRY_LIMIT, &msg)),
                now_unix,
            )
            .await?;
            b.state = BatchState::Failed;
            super::audit(
                &mut *tx,
                &b,
                "batch.failed",
                seq.creator,
                json!({"code": code::RETRY_LIMIT, "msg": msg}),
                now_unix,
            )
            .await?;
            tx.commit().await?;
            return Ok(answer(
                code::RETRY_LIMIT,
                format!(
                    "{}: {msg}; batch {batch_id} failed",
                    code_msg(code::RETRY_LIMIT)
                ),
                vec![],
            ));
        }
        tx.commit().await?;
        return Ok(rejected);
    }
    if first {
        tx.reinit_batch(b.pk, &init, false).await?;
        super::audit(
            &mut *tx,
            &b,
            "batch.received",
            seq.creator,
            json!({"seq_id": seq_id, "operation": op.as_str(), "batch_size": size,
                   "source": init.source}),
            now_unix,
        )
        .await?;
    }
    let stage: Vec<StageRow<'_>> = rows
        .iter()
        .map(|r| StageRow {
            idx: r.index,
            rkey: r.rkey.as_deref(),
            uid: r.uid.as_deref(),
            data: &r.data,
        })
        .collect();
    tx.stage(&b, seq_id, &fingerprint, &stage, now_unix)
        .instrument(info_span!("store stage", db.system = db, rows = n))
        .await?;
    let staged = b.staged_rows + n;
    let mut r = if staged == size {
        // Read back under the lock: the first sequence may just have set the batch's terms.
        let mut done = tx
            .lock_existing(seq.scope, batch_id)
            .await?
            .ok_or_else(|| CoreError::Store(format!("batch {batch_id} vanished under lock")))?;
        complete(&mut *tx, &mut done, seq.iface, now_unix)
            .instrument(info_span!("store apply", db.system = db, rows = size))
            .await?
    } else {
        answer(
            code::OK,
            format!(
                "{}: staged {staged}/{size} rows of batch {batch_id}",
                code_msg(code::OK)
            ),
            vec![],
        )
    };
    tx.commit()
        .instrument(info_span!("store commit", db.system = db))
        .await?;
    progress(&mut r, staged, size);
    Ok(r)
}

/// The last sequence of a batch arrived: an instant batch is applied now (executed by its
/// creator), a scheduled one is held for its executeTs, a check-only one is checked
/// (`check`).
async fn complete(
    tx: &mut (dyn Tx + '_),
    b: &mut BatchRow,
    iface: &Interface,
    now_unix: i64,
) -> Result<IngestBatchResponse> {
    if b.check_only {
        return check(tx, b, iface, now_unix).await;
    }
    let batch_id = b.batch_id.clone();
    let size = b.batch_size;
    let execute_at = b.proposal.schedule.execute_unix;
    if let (false, Some(at)) = (b.proposal.schedule.instant, execute_at) {
        b.state = BatchState::Held;
        b.proposal.modifier = b.creator.clone();
        tx.save_batch(b, now_unix).await?;
        let creator = b.creator.clone();
        super::audit(
            tx,
            b,
            "batch.held",
            &creator,
            json!({"execute_at": wharf_proto::time::rfc3339(at)}),
            now_unix,
        )
        .await?;
        return Ok(answer(
            code::OK,
            format!(
                "{}: batch {batch_id} complete ({size} rows), scheduled to execute at {}",
                code_msg(code::OK),
                wharf_proto::time::rfc3339(at)
            ),
            vec![],
        ));
    }
    let creator = b.creator.clone();
    let applied = actions::execute(tx, b, &creator, now_unix).await?;
    Ok(match &applied {
        Applied::Done { .. } => {
            let mut r = answer(
                code::OK,
                format!(
                    "{}: batch {batch_id} applied ({})",
                    code_msg(code::OK),
                    actions::applied_rows(b.op, size, &applied)
                ),
                vec![],
            );
            r.applied = true;
            r
        }
        Applied::KeyClash(rows) => clash_answer(iface, &batch_id, &b.failure_msg, rows),
    })
}

/// The answer of an apply (or a check) whose rows lost their key: the rows listed like a
/// duplicate in a sequence.
fn clash_answer(
    iface: &Interface,
    batch_id: &str,
    failure: &str,
    rows: &[ClashRow],
) -> IngestBatchResponse {
    answer(
        code::WRITE,
        format!(
            "{}: batch {batch_id} failed: {failure}",
            code_msg(code::WRITE)
        ),
        rows.iter()
            .map(|c| {
                validate::duplicate_problem(iface, c.idx, &staged_row(&c.data), c.by_key, None)
            })
            .collect(),
    )
}

/// The last sequence of a check-only batch arrived: the whole apply runs as a trial and is
/// rolled back (`Tx::trial_apply`), so the check meets exactly what an apply now would —
/// every key clash against current data. A clash fails the batch as an apply would (E00W00,
/// the rows listed); a clean batch is held with no execute time, for a user to apply
/// (`actions` execute, which checks again) or discard (cancel). Nothing is applied either way.
async fn check(
    tx: &mut (dyn Tx + '_),
    b: &mut BatchRow,
    iface: &Interface,
    now_unix: i64,
) -> Result<IngestBatchResponse> {
    let batch_id = b.batch_id.clone();
    let size = b.batch_size;
    let creator = b.creator.clone();
    let trial = tx.trial_apply(&b.scope(), b.pk, b.op).await?;
    b.proposal.modifier = creator.clone();
    match trial {
        Applied::Done { .. } => {
            b.state = BatchState::Held;
            tx.save_batch(b, now_unix).await?;
            super::audit(
                tx,
                b,
                "batch.checked",
                &creator,
                json!({"rows": size}),
                now_unix,
            )
            .await?;
            Ok(answer(
                code::OK,
                format!(
                    "{}: batch {batch_id} checked: all {size} rows pass; nothing was applied \
                     — apply it or discard it",
                    code_msg(code::OK)
                ),
                vec![],
            ))
        }
        Applied::KeyClash(rows) => {
            actions::fail_on_clash(
                b,
                actions::clash_detail(
                    "checked, nothing was applied: a key is already taken in the stored data",
                    &rows,
                ),
            );
            tx.save_batch(b, now_unix).await?;
            super::audit(
                tx,
                b,
                "batch.failed",
                &creator,
                json!({"code": b.failure_code, "msg": b.failure_msg, "check_only": true}),
                now_unix,
            )
            .await?;
            Ok(clash_answer(iface, &batch_id, &b.failure_msg, &rows))
        }
    }
}

/// What a sequence holds, for telling a true resend from one with other content: SHA-256
/// (hex) over its operation and each row as sent (prost's encoding is deterministic), each
/// part length-prefixed so no two different sequences run together alike.
fn fingerprint(op: Operation, rows: &[Row]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(op.as_str().as_bytes());
    for row in rows {
        part(&row.encode_to_vec());
    }
    crate::auth::hex(&h.finalize())
}

/// A staged row (a JSON object of strings) as a row of text values.
fn staged_row(data: &str) -> Row {
    let fields = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(data)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, v)| Field {
            name,
            value: Some(Value {
                kind: Some(Kind::Text(match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })),
            }),
        })
        .collect();
    Row {
        fields,
        ..Default::default()
    }
}
