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
//!    scheduler (`batch_actions`).
//!
//! The schedule (`instantExecute`, `executeTs`, `revertTs`) is one of the terms at step 3:
//! judged against its windows on the first accepted sequence (`schedule::resolve`), and a
//! later sequence that sends it must send the same (`schedule::differences`). A batch that
//! sends none is instant, as before schedules existed.
//!
//! The answer of a rejection at step 4/5 is kept with the sequence (until it is accepted), so
//! a result page can show every failing row of a batch sent as several sequences, and so a
//! sender that gives up ([`abandon`]) fails the batch with the code its rejections carry.

use prost::Message;
use tracing::{info_span, Instrument};
use wharf_proto::v1::{self as pb, CodeGroup, IngestBatchResponse, RowProblem, Value, Verify};

use crate::batch_actions;
use crate::error::{CoreError, Result};
use crate::interfaces::Interface;
use crate::schedule::{self, Schedule};
use crate::store::{Applied, NewBatch, RejectionRow, Scope, StageRow, Store};
use crate::validate::{self, kind, Checked, SequenceInput};

/// Result codes, identical on every transport (SPEC §5).
pub mod code {
    pub const OK: &str = "0";
    pub const SYSTEM: &str = "-1";
    pub const CONSUMED: &str = "E00A00";
    pub const RETRY_LIMIT: &str = "E00P00";
    pub const VERIFY: &str = "E00V00";
    pub const WRITE: &str = "E00W00";
    pub const MULTIPLE: &str = "E00M00";
}

/// The standard message of each failure code.
pub fn code_msg(code: &str) -> &'static str {
    match code {
        code::OK => "request success",
        code::CONSUMED => "the sequence data has been successfully consumed",
        code::RETRY_LIMIT => "retry upper limit reached",
        code::VERIFY => "data verification failed!",
        code::WRITE => "write exception, unique constraint violation",
        code::MULTIPLE => "multiple exceptions",
        _ => "system error, safe to retry",
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(
    /// Separate data spaces: `/uat/…` on the API, configuration on FTP, a choice on upload.
    Environment { Prod = "prod", Uat = "uat" }
);
text_enum!(
    /// What a batch does to the partner's records.
    Operation { Insert = "insert", Update = "update", Delete = "delete", All = "all" }
);
text_enum!(
    /// The door a batch came through.
    Transport { Api = "api", Ftp = "ftp", Upload = "upload", Grpc = "grpc" }
);
text_enum!(
    /// Where a batch is in its life. `held`: complete, waiting for its executeTs (nothing of
    /// it in the records); `applied`: its rows are in the records; `reverted`: they were taken
    /// back out (see `batch_actions`); `cancelled`: stopped by hand before it ran.
    BatchState {
        Open = "open",
        Held = "held",
        Applied = "applied",
        Failed = "failed",
        Expired = "expired",
        Reverted = "reverted",
        Cancelled = "cancelled",
    }
);
text_enum!(
    /// Seed 003's execute / revert status. `running` is never stored for long: each action
    /// runs in one transaction, so readers see it before or after.
    ActionStatus {
        Idle = "idle",
        Running = "running",
        Finished = "finished",
        Failed = "failed",
        Cancelled = "cancelled",
        Conflict = "conflict",
    }
);

impl Environment {
    pub fn from_proto(v: i32) -> Environment {
        match pb::Environment::try_from(v) {
            Ok(pb::Environment::Uat) => Environment::Uat,
            _ => Environment::Prod,
        }
    }

    pub fn to_proto(self) -> pb::Environment {
        match self {
            Environment::Prod => pb::Environment::Prod,
            Environment::Uat => pb::Environment::Uat,
        }
    }
}

impl Operation {
    pub fn from_proto(v: i32) -> Option<Operation> {
        match pb::Operation::try_from(v).ok()? {
            pb::Operation::Insert => Some(Operation::Insert),
            pb::Operation::Update => Some(Operation::Update),
            pb::Operation::Delete => Some(Operation::Delete),
            pb::Operation::All => Some(Operation::All),
            pb::Operation::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::Operation {
        match self {
            Operation::Insert => pb::Operation::Insert,
            Operation::Update => pb::Operation::Update,
            Operation::Delete => pb::Operation::Delete,
            Operation::All => pb::Operation::All,
        }
    }
}

impl Transport {
    /// Seed 003's `batchSource`: `api` (the HTTP API and any gRPC caller), `ftp`, `excel`
    /// (the upload page's sheets).
    pub fn batch_source(self) -> &'static str {
        match self {
            Transport::Api | Transport::Grpc => "api",
            Transport::Ftp => "ftp",
            Transport::Upload => "excel",
        }
    }

    pub fn from_proto(v: i32) -> Transport {
        match pb::Transport::try_from(v) {
            Ok(pb::Transport::Api) => Transport::Api,
            Ok(pb::Transport::Ftp) => Transport::Ftp,
            Ok(pb::Transport::Upload) => Transport::Upload,
            _ => Transport::Grpc,
        }
    }
}

/// Batch rules that are configuration, not code.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Rejections of one sequence before E00P00 fails the batch.
    pub max_attempts: u32,
    /// Seconds an incomplete batch stays open.
    pub expiry_secs: i64,
    /// The windows a schedule's times must fall in.
    pub schedule: schedule::Bounds,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_attempts: 10,
            expiry_secs: 24 * 3600,
            schedule: schedule::Bounds::default(),
        }
    }
}

fn answer(code: &str, msg: String, problems: Vec<RowProblem>) -> IngestBatchResponse {
    IngestBatchResponse {
        code: code.to_string(),
        msg,
        problems,
        ..Default::default()
    }
}

fn envelope_problem(ty: &str, field: &str) -> RowProblem {
    RowProblem {
        index: None,
        row: None,
        verify: vec![Verify {
            r#type: ty.to_string(),
            fields: field.to_string(),
            code: String::new(),
        }],
    }
}

/// The failure answer for a rejected sequence: E00V00, E00W00, or E00M00 when both.
pub(crate) fn rejection(
    invalid: Vec<RowProblem>,
    duplicates: Vec<RowProblem>,
    why: &str,
) -> IngestBatchResponse {
    let with_why = |code: &str| {
        if why.is_empty() {
            code_msg(code).to_string()
        } else {
            format!("{} {why}", code_msg(code))
        }
    };
    match (invalid.is_empty(), duplicates.is_empty()) {
        (false, true) => answer(code::VERIFY, with_why(code::VERIFY), invalid),
        (true, false) => answer(code::WRITE, with_why(code::WRITE), duplicates),
        _ => IngestBatchResponse {
            code: code::MULTIPLE.into(),
            msg: with_why(code::MULTIPLE),
            groups: vec![
                CodeGroup {
                    code: code::VERIFY.into(),
                    msg: code_msg(code::VERIFY).into(),
                    problems: invalid,
                },
                CodeGroup {
                    code: code::WRITE.into(),
                    msg: code_msg(code::WRITE).into(),
                    problems: duplicates,
                },
            ],
            ..Default::default()
        },
    }
}

/// The answer for a delivered file whose name breaks the door's naming rule: nothing of it
/// is read.
pub fn refuse_source(why: &str) -> IngestBatchResponse {
    rejection(
        vec![envelope_problem(kind::NOT_ALLOWED, "file name")],
        vec![],
        &format!("({why})"),
    )
}

/// The answer for a file name delivered before: the file is not read again.
pub fn file_consumed(name: &str, first_code: &str) -> IngestBatchResponse {
    answer(
        code::CONSUMED,
        format!(
            "{}: file {name} was already delivered (it was answered {first_code})",
            code_msg(code::CONSUMED)
        ),
        vec![],
    )
}

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
        source: seq.source.chars().take(MAX_SOURCE_CHARS).collect(),
        schedule: Schedule::default(),
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
    let expired = b.state == BatchState::Expired
        || (b.state == BatchState::Open
            && b.created_unix.saturating_add(policy.expiry_secs) <= now_unix);
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
    if seq_row.is_some_and(|s| s.accepted) {
        let mut r = answer(
            code::CONSUMED,
            format!(
                "{}: batch {batch_id} sequence {seq_id}",
                code_msg(code::CONSUMED)
            ),
            vec![],
        );
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
        invalid.insert(0, envelope_problem(kind::NOT_ALLOWED, field));
        let mut r = rejection(invalid, duplicates, &why);
        progress(&mut r, b.staged_rows, b.batch_size);
        tx.commit().await?;
        return Ok(r);
    }
    let mut why = String::new();
    let first = b.sequences == 0;
    let size = if first { init.batch_size } else { b.batch_size };
    if !first && b.op != op {
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "operation"));
        why = format!("(batch {batch_id} is a {} batch)", b.op.as_str());
    }
    if !first && envelope.batch_size.is_some_and(|n| n != b.batch_size) {
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "batch_size"));
        why = format!("(batch {batch_id} has batch_size {})", b.batch_size);
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
        invalid.push(envelope_problem(kind::NOT_ALLOWED, "batch_size"));
        why = format!(
            "({} rows beyond batch_size {size}: {} staged, {n} sent)",
            b.staged_rows + n - size,
            b.staged_rows
        );
    }
    if op != Operation::Delete && !rows.is_empty() {
        let keys: Vec<&str> = rows.iter().filter_map(|r| r.rkey.as_deref()).collect();
        let uids: Vec<&str> = rows.iter().filter_map(|r| r.uid.as_deref()).collect();
        let (keys_taken, uids_taken) = tx
            .taken(seq.scope, b.pk, &keys, &uids, op == Operation::Insert)
            .instrument(info_span!(
                "store dedupe",
                db.system = db,
                rows = keys.len()
            ))
            .await?;
        if !keys_taken.is_empty() || !uids_taken.is_empty() {
            for r in &rows {
                let by_key = r.rkey.as_ref().is_some_and(|k| keys_taken.contains(k));
                let by_uid = r.uid.as_ref().is_some_and(|u| uids_taken.contains(u));
                if by_key || by_uid {
                    let sent = &seq.input.rows[r.index as usize];
                    duplicates.push(validate::duplicate_problem(
                        seq.iface, r.index, sent, by_key,
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
        if attempts > policy.max_attempts {
            let msg = format!("sequence {seq_id} rejected {attempts} times");
            tx.set_state(
                b.pk,
                BatchState::Failed,
                Some((code::RETRY_LIMIT, &msg)),
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
    tx.stage(b.pk, b.sequences, seq_id, &stage, now_unix)
        .instrument(info_span!("store stage", db.system = db, rows = n))
        .await?;
    let staged = b.staged_rows + n;
    let mut r = if staged == size {
        // Read back under the lock: the first sequence may just have set the batch's terms.
        let mut done = tx
            .lock_existing(seq.scope, batch_id)
            .await?
            .ok_or_else(|| CoreError::Store(format!("batch {batch_id} vanished under lock")))?;
        complete(&mut *tx, &mut done, now_unix)
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
/// creator), a scheduled one is held for its executeTs.
async fn complete(
    tx: &mut (dyn crate::store::Tx + '_),
    b: &mut crate::store::BatchRow,
    now_unix: i64,
) -> Result<IngestBatchResponse> {
    let batch_id = b.batch_id.clone();
    let size = b.batch_size;
    let execute_at = b.proposal.schedule.execute_unix;
    if let (false, Some(at)) = (b.proposal.schedule.instant, execute_at) {
        b.state = BatchState::Held;
        b.proposal.modifier = b.creator.clone();
        tx.save_batch(b, now_unix).await?;
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
    Ok(
        match batch_actions::execute(tx, b, &creator, now_unix).await? {
            Applied::Done => {
                let mut r = answer(
                    code::OK,
                    format!(
                        "{}: batch {batch_id} applied ({size} rows)",
                        code_msg(code::OK)
                    ),
                    vec![],
                );
                r.applied = true;
                r
            }
            Applied::KeyClash(_) => answer(
                code::WRITE,
                format!(
                    "{}: batch {batch_id} failed: {}",
                    code_msg(code::WRITE),
                    b.failure_msg
                ),
                vec![],
            ),
        },
    )
}

/// A stored rejection answer, read back.
pub fn decode_answer(row: &RejectionRow) -> Result<IngestBatchResponse> {
    IngestBatchResponse::decode(row.answer.as_slice())
        .map_err(|e| CoreError::Store(format!("stored answer of sequence {:?}: {e}", row.seq_id)))
}

/// The failure of a batch its sender abandoned: the code its stored rejections share,
/// E00M00 when they differ, `-1` when none was stored; and why, in words.
pub fn abandon_failure(codes: &[String]) -> (String, String) {
    let code = match codes.split_first() {
        None => code::SYSTEM.to_string(),
        Some((first, rest)) if rest.iter().all(|c| c == first) => first.clone(),
        Some(_) => code::MULTIPLE.to_string(),
    };
    let msg = match codes.len() {
        0 => "abandoned by its sender: none of its sequences was rejected".to_string(),
        1 => "abandoned by its sender: 1 of its sequences was rejected".to_string(),
        n => format!("abandoned by its sender: {n} of its sequences were rejected"),
    };
    (code, msg)
}

/// The sender gives up on an open batch: it fails with [`abandon_failure`], its staged rows
/// go, and every later sequence gets the failure (step 2). A batch that is not open (applied,
/// failed, expired, or open past its expiry, which is expired in all but name) stays as it
/// is. `false` when the batch does not exist.
pub async fn abandon(
    store: &dyn Store,
    policy: BatchPolicy,
    scope: &Scope,
    batch_id: &str,
    now_unix: i64,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let Some(b) = tx.lock_existing(scope, batch_id).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    let past_expiry = b.created_unix.saturating_add(policy.expiry_secs) <= now_unix;
    if b.state == BatchState::Open && !past_expiry {
        let mut codes = Vec::new();
        for row in tx.rejections(b.pk).await? {
            codes.push(decode_answer(&row)?.code);
        }
        let (code, msg) = abandon_failure(&codes);
        tx.drop_staged(b.pk).await?;
        tx.set_state(b.pk, BatchState::Failed, Some((&code, &msg)), now_unix)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_batch_fails_with_the_code_of_its_rejections() {
        let codes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (code, msg) = abandon_failure(&codes(&["E00V00", "E00V00"]));
        assert_eq!(code, "E00V00");
        assert_eq!(
            msg,
            "abandoned by its sender: 2 of its sequences were rejected"
        );
        assert_eq!(abandon_failure(&codes(&["E00W00"])).0, "E00W00");
        assert_eq!(abandon_failure(&codes(&["E00V00", "E00W00"])).0, "E00M00");
        assert_eq!(abandon_failure(&codes(&["E00M00", "E00M00"])).0, "E00M00");
        assert_eq!(abandon_failure(&[]).0, "-1");
    }
}
