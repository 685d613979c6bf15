//! Storage: one [`Store`] abstraction, two real implementations (PostgreSQL and SQLite).
//!
//! The store keeps data and does set-based data work (stage, apply an operation, journal
//! before-images). It decides nothing: which answer a sequence gets is `batch`'s business.
//! The apply statements are shared text in [`sql`], so both backends apply the same way.

use async_trait::async_trait;

use prost::Message;
use wharf_proto::v1::IngestBatchResponse;

use crate::error::{CoreError, Result};
use crate::model::{ActionStatus, BatchState, Environment, Operation, Schedule, Scope, Transport};

pub mod accounts;
pub mod audit;
pub mod defender;
pub(crate) mod expiry;
pub mod feed;
pub mod outbox;
pub mod pg;
pub mod principals;
pub mod query;
pub mod sheets;
pub mod sql;
pub mod sqlite;
pub mod versions;
pub mod views;
pub mod webhooks;

/// A partner as stored.
#[derive(Debug, Clone, Default)]
pub struct PartnerRow {
    pub name: String,
    pub secret_hash: String,
    /// Interfaces it may use; `None` means all.
    pub interfaces: Option<Vec<String>>,
    /// Refused on every door; its data stays.
    pub disabled: bool,
    /// The client secret before the last rotation, accepted until `prev_secret_until`.
    pub prev_secret_hash: Option<String>,
    pub prev_secret_until: Option<i64>,
}

/// A user as stored.
#[derive(Debug, Clone, Default)]
pub struct UserRow {
    pub username: String,
    pub partner: String,
    pub password_hash: String,
    /// Refused on every door.
    pub disabled: bool,
}

/// An access token as stored (only its hash).
#[derive(Debug, Clone, Default)]
pub struct TokenRow {
    /// Its public id (12 hex characters, not derived from the token): what lists show and
    /// `token revoke` names.
    pub id: String,
    pub partner: String,
    pub username: Option<String>,
    pub issued_unix: i64,
    pub expires_unix: i64,
    /// What it was issued for (`model::TokenKind`'s text).
    pub kind: String,
    /// Written at most once a minute (`accounts::TOUCH_EVERY_SECS`).
    pub last_used_unix: Option<i64>,
}

/// A file a file door delivered, and the answer it got (FTP's feedback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub name: String,
    pub code: String,
    /// The `{code,msg,result}` JSON.
    pub answer: String,
    pub created_unix: i64,
    /// Bytes of the delivered file; `None` for files delivered before sizes were kept.
    pub size: Option<u64>,
}

/// A file a file door holds under a temporary name (delivery by rename): how big, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    pub name: String,
    pub size: u64,
    pub received_unix: i64,
}

/// A user's authorized SSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKeyRow {
    pub username: String,
    /// `SHA256:…`
    pub fingerprint: String,
    /// `ALGORITHM BASE64`
    pub public_key: String,
    pub comment: String,
    pub added_unix: i64,
}

/// What a batch's first sequence fixes for the whole batch.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub op: Operation,
    pub batch_size: u64,
    pub transport: Transport,
    pub creator: String,
    pub now_unix: i64,
    /// Where the first sequence came from (a file name), for history pages.
    pub source: String,
    /// When it runs and is reverted (the first sequence's schedule).
    pub schedule: Schedule,
    /// Check, don't apply (the first sequence's choice; see `batch::ingest`).
    pub check_only: bool,
    /// The change feed's head read before the first sequence's keys were checked
    /// (`Tx::taken`); `None` when they were not (see `versions::KEYS_MAY_BE_TAKEN`).
    pub seen_pos: Option<i64>,
}

/// Seed 003's batch proposal: the schedule and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// `api`, `ftp` or `excel` (see `Transport::batch_source`).
    pub batch_source: String,
    /// `execute_unix` is the planned time of a scheduled batch, then the time it ran.
    pub schedule: Schedule,
    /// `None`: nothing planned (stored as "").
    pub execute_status: Option<ActionStatus>,
    pub executor: String,
    pub execute_detail: String,
    pub revert_status: Option<ActionStatus>,
    pub reverter: String,
    pub revert_detail: String,
    pub modifier: String,
    pub modified_unix: i64,
}

/// A batch row, read under lock inside a transaction.
#[derive(Debug, Clone)]
pub struct BatchRow {
    pub pk: i64,
    pub batch_id: String,
    pub state: BatchState,
    pub op: Operation,
    pub batch_size: u64,
    pub staged_rows: u64,
    pub sequences: u32,
    pub failure_code: String,
    pub failure_msg: String,
    pub transport: Transport,
    pub creator: String,
    pub created_unix: i64,
    pub updated_unix: i64,
    pub env: Environment,
    /// `data_category/biz_key`.
    pub iface: String,
    pub source: String,
    pub partner: String,
    pub proposal: Proposal,
    /// Sent as "check only": when complete it was checked by a trial apply (rolled back) and,
    /// when clean, held for a user to apply or discard (migration 21).
    pub check_only: bool,
}

impl BatchRow {
    pub fn scope(&self) -> Scope {
        Scope {
            partner: self.partner.clone(),
            env: self.env,
            iface: self.iface.clone(),
        }
    }
}

/// How a revert ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reverted {
    /// Every row the batch wrote or removed that no later batch touched is back as it was.
    /// `conflicts`: business keys (`rkey`, at most the limit asked) of rows a later batch
    /// changed, left as they are; `conflict_count`: how many there were in all.
    Done {
        conflicts: Vec<String>,
        conflict_count: u64,
    },
}

/// The last answer a rejected sequence got, as stored (a prost-encoded
/// `IngestBatchResponse`; the store keeps bytes, `service` decodes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionRow {
    pub seq_id: String,
    pub answer: Vec<u8>,
}

impl RejectionRow {
    /// The stored answer, read back.
    pub fn decode(&self) -> Result<IngestBatchResponse> {
        IngestBatchResponse::decode(self.answer.as_slice()).map_err(|e| {
            CoreError::Store(format!("stored answer of sequence {:?}: {e}", self.seq_id))
        })
    }

    /// The stored answer's code alone: its problems are skipped, not read.
    pub fn code(&self) -> Result<String> {
        /// `IngestBatchResponse`'s code (its field 1); the decoder skips every other field.
        #[derive(Clone, PartialEq, prost::Message)]
        struct CodeOnly {
            #[prost(string, tag = "1")]
            code: String,
        }
        CodeOnly::decode(self.answer.as_slice())
            .map(|c| c.code)
            .map_err(|e| {
                CoreError::Store(format!("stored answer of sequence {:?}: {e}", self.seq_id))
            })
    }
}

/// A sequence's dedupe record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqRow {
    pub accepted: bool,
    pub attempts: u32,
    /// What the consumed sequence held (`batch::ingest`'s fingerprint); `None` when it was
    /// consumed before fingerprints were kept (or is not consumed).
    pub fingerprint: Option<String>,
}

/// A validated row on its way into staging.
#[derive(Debug, Clone)]
pub struct StageRow<'a> {
    pub idx: u32,
    pub rkey: Option<&'a str>,
    pub uid: Option<&'a str>,
    pub data: &'a str,
}

/// How an apply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Every row landed. `deleted`: the records a delete batch removed (keys that were not
    /// there remove nothing); 0 for the other operations.
    Done { deleted: u64 },
    /// A unique key clashed (a concurrent batch took it first); nothing of the batch landed.
    /// The staged rows whose key or uid is taken (at most [`MAX_LISTED_CLASHES`], in
    /// sequence and row order).
    KeyClash(Vec<ClashRow>),
}

/// Most clashing rows an apply lists.
pub const MAX_LISTED_CLASHES: u32 = 1000;

/// A staged row whose business key (`by_key`) or else uid was taken when its batch applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClashRow {
    /// The row's sequence and its index in it.
    pub seq_id: String,
    pub idx: u32,
    /// The row as staged: a JSON object of strings.
    pub data: String,
    pub by_key: bool,
}

/// One open transaction. Dropping it without `commit` rolls everything back.
#[async_trait]
pub trait Tx: Send {
    /// The batch under a row lock (created from `init` when it does not exist yet), and the
    /// dedupe record of `seq_id` in it.
    async fn lock_batch(
        &mut self,
        scope: &Scope,
        batch_id: &str,
        seq_id: &str,
        init: &NewBatch,
    ) -> Result<(BatchRow, Option<SeqRow>)>;
    /// Give the batch the terms of `init` (its first accepted sequence). With
    /// `drop_sequences` (an expired batch started afresh) its staged rows and sequences go too.
    async fn reinit_batch(&mut self, pk: i64, init: &NewBatch, drop_sequences: bool) -> Result<()>;
    /// An existing batch under a row lock; `None` when there is none (nothing is created).
    async fn lock_existing(&mut self, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>>;
    /// Count one more rejection of a sequence and keep `answer` as its last one; returns the
    /// attempts so far.
    async fn record_rejection(
        &mut self,
        pk: i64,
        seq_id: &str,
        answer: &[u8],
        now_unix: i64,
    ) -> Result<u32>;
    /// The stored rejection answers of the batch's sequences, in no particular order.
    async fn rejections(&mut self, pk: i64) -> Result<Vec<RejectionRow>>;
    /// Drop the batch's staged rows (its sender abandoned it, or it was cancelled).
    async fn drop_staged(&mut self, pk: i64) -> Result<()>;
    /// Of the given keys and uids, those already present in this batch's staged rows and,
    /// when `in_records`, among the scope's records; and the change feed's head, read before
    /// them.
    async fn taken(
        &mut self,
        scope: &Scope,
        pk: i64,
        rkeys: &[&str],
        uids: &[&str],
        in_records: bool,
    ) -> Result<(Vec<String>, Vec<String>, i64)>;
    /// Stage an accepted sequence's rows as versions of batch `b`'s scope, as its
    /// `b.sequences`-th (0-based) sequence, and mark the sequence consumed, keeping the
    /// `fingerprint` of what it held.
    async fn stage(
        &mut self,
        b: &BatchRow,
        seq_id: &str,
        fingerprint: &str,
        rows: &[StageRow<'_>],
        now_unix: i64,
    ) -> Result<()>;
    /// Write the batch's state, failure and proposal fields as they are in `b`; `updated_unix`
    /// becomes `now_unix`.
    async fn save_batch(&mut self, b: &BatchRow, now_unix: i64) -> Result<()>;
    /// One batch whose scheduled work is due at `now_unix` (held with execute_status idle and
    /// executeTs reached, or applied with revert_status idle and revertTs reached), locked
    /// for this transaction. PostgreSQL skips batches another transaction holds, so two
    /// replicas never claim the same one.
    async fn claim_due(&mut self, now_unix: i64) -> Result<Option<BatchRow>>;
    /// Take an applied batch's rows back out of the scope's records (see `sql::revert_sql`),
    /// listing at most `max_listed` conflicting keys.
    async fn revert(
        &mut self,
        scope: &Scope,
        pk: i64,
        op: Operation,
        max_listed: u32,
    ) -> Result<Reverted>;
    async fn set_state(
        &mut self,
        pk: i64,
        state: BatchState,
        failure: Option<(&str, &str)>,
        now_unix: i64,
    ) -> Result<()>;
    /// Make the staged rows of a complete batch the scope's records (`versions`): check an
    /// insert's keys and uids, supersede the records it replaces or removes (they stay as its
    /// before-image). The batch's rows become current when its state becomes `applied` in
    /// this transaction.
    async fn apply(&mut self, scope: &Scope, pk: i64, op: Operation) -> Result<Applied>;
    /// Mark savepoint `name` (a plain identifier) in this transaction.
    async fn savepoint(&mut self, name: &'static str) -> Result<()>;
    /// Undo everything since savepoint `name` and forget it; the transaction goes on.
    async fn rollback_to(&mut self, name: &'static str) -> Result<()>;
    /// [`Tx::apply`] as a trial (a "check only" batch): run exactly as a real apply, so it
    /// meets the same keys, then rolled back — the records, the versions it superseded and
    /// the batch's staged rows are as they were. What it says is what an apply now would do.
    async fn trial_apply(&mut self, scope: &Scope, pk: i64, op: Operation) -> Result<Applied> {
        self.savepoint("trial_apply").await?;
        let applied = self.apply(scope, pk, op).await?;
        self.rollback_to("trial_apply").await?;
        Ok(applied)
    }
    /// Append an audit record inside this transaction: it is kept if and only if what it
    /// records commits.
    async fn audit(&mut self, row: &audit::AuditRow) -> Result<()>;
    /// Record batch `b`'s event of `kind` in the change feed with this transaction: it is
    /// numbered by `commit`, last, so events commit in the order of their numbers (`feed`).
    async fn feed_event(&mut self, b: &BatchRow, kind: feed::Kind, now_unix: i64);
    /// Queue `e` for every consumer's subscription that wants it, in this transaction: it is
    /// delivered if and only if the transaction commits. The deliveries are written at the
    /// commit, in commit order (`store::webhooks::LOCK_HEAD`).
    async fn webhook_event(&mut self, e: &webhooks::Event) -> Result<()>;
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// The store: partners, users, tokens, batches and records.
#[async_trait]
pub trait Store: Send + Sync {
    /// "postgresql" or "sqlite", for logs.
    fn backend(&self) -> &'static str;
    /// Endpoints and the outbox of pushes (SPEC §7.1).
    fn outbox(&self) -> &dyn outbox::Outbox;
    /// Partners', users' and tokens' lifecycle (list, disable, rotate, revoke, remove).
    fn accounts(&self) -> &dyn accounts::Accounts;
    /// The defender's scores and bans, and partners' allow lists (migration 15).
    fn defender(&self) -> &dyn defender::Defender;
    /// The audit trail.
    fn audit(&self) -> &dyn audit::AuditLog;
    /// The change feed.
    fn feed(&self) -> &dyn feed::FeedLog;
    /// Operators and consumers, and their hashed tokens.
    fn principals(&self) -> &dyn principals::Principals;
    fn webhooks(&self) -> &dyn webhooks::Webhooks;
    fn sheets(&self) -> &dyn sheets::Sheets;
    async fn begin(&self) -> Result<Box<dyn Tx + '_>>;

    async fn insert_partner(&self, p: &PartnerRow, now_unix: i64) -> Result<()>;
    async fn partner(&self, name: &str) -> Result<Option<PartnerRow>>;
    async fn insert_user(&self, u: &UserRow, now_unix: i64) -> Result<()>;
    async fn user(&self, username: &str) -> Result<Option<UserRow>>;
    async fn insert_token(&self, hash: &str, t: &TokenRow) -> Result<()>;
    async fn token(&self, hash: &str) -> Result<Option<TokenRow>>;
    /// Drop one token (a session ended); `false` when there was none.
    async fn delete_token(&self, hash: &str) -> Result<bool>;
    /// Drop expired tokens; returns how many went.
    async fn purge_tokens(&self, now_unix: i64) -> Result<u64>;

    async fn batch(&self, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>>;
    /// The stored rejection answers of a batch's sequences, in no particular order.
    async fn rejections(&self, pk: i64) -> Result<Vec<RejectionRow>>;
    /// Rows the batch holds in staging now (kept after apply; gone after expiry or abandon).
    async fn staged_count(&self, pk: i64) -> Result<u64>;
    /// The partner's batches `creator` made, newest (highest pk) first, only pks below
    /// `before_pk`, at most `limit`.
    async fn user_batches(
        &self,
        partner: &str,
        creator: &str,
        before_pk: i64,
        limit: u32,
    ) -> Result<Vec<BatchRow>>;
    /// Mark open batches created before `before_unix` expired and drop their staged rows.
    async fn expire_batches(&self, before_unix: i64, now_unix: i64) -> Result<u64>;
    /// Compaction's first step (`versions::MARK_SPENT`): the versions of batches settled
    /// (failed, reverted, applied deletes) at or after `since_unix` are marked spent.
    async fn mark_spent(&self, since_unix: i64) -> Result<u64>;
    /// Compaction's second step: at most `chunk` versions that can never be current again
    /// moved to the history; how many moved.
    async fn compact(&self, chunk: i64) -> Result<u64>;
    /// The scope's current records (data JSON), ordered by business key.
    async fn records(&self, scope: &Scope) -> Result<Vec<String>>;
    /// One page of current records (`query`): one statement, one snapshot.
    async fn query_records(&self, select: &query::Select) -> Result<Vec<query::RecordRow>>;

    async fn file(&self, scope: &Scope, name: &str) -> Result<Option<FileRow>>;
    /// Record a delivered file's answer; `false` when the name was already recorded (the
    /// first answer stays).
    async fn insert_file(&self, scope: &Scope, file: &FileRow) -> Result<bool>;
    /// The scope's delivered files, by name.
    async fn files(&self, scope: &Scope) -> Result<Vec<FileRow>>;
    async fn delete_file(&self, scope: &Scope, name: &str) -> Result<bool>;

    /// Keep `content` under the temporary name `name`, replacing a part of that name.
    async fn put_part(
        &self,
        scope: &Scope,
        name: &str,
        content: &[u8],
        now_unix: i64,
    ) -> Result<()>;
    /// A part and its bytes.
    async fn part(&self, scope: &Scope, name: &str) -> Result<Option<(PartRow, Vec<u8>)>>;
    /// The scope's parts, by name.
    async fn parts(&self, scope: &Scope) -> Result<Vec<PartRow>>;
    async fn delete_part(&self, scope: &Scope, name: &str) -> Result<bool>;
    /// Remove every part received before `before_unix`; how many went.
    async fn prune_parts(&self, before_unix: i64) -> Result<u64>;
    /// Add a user's SSH key: `Conflict` when the user has it already, `NotFound` when there
    /// is no such user.
    async fn insert_user_key(&self, k: &UserKeyRow) -> Result<()>;
    async fn user_keys(&self, username: &str) -> Result<Vec<UserKeyRow>>;
    async fn delete_user_key(&self, username: &str, fingerprint: &str) -> Result<bool>;
    /// The host key kept under `name`; when there is none yet, `new` is kept and returned.
    /// Two callers at once both get the one that was kept first.
    async fn host_key(&self, name: &str, new: &str, now_unix: i64) -> Result<String>;

    /// The highest migration applied (`schema_migrations`): a cheap round trip that proves
    /// the store answers, for readiness probes.
    async fn schema_version(&self) -> Result<i64>;
    /// How many batches are in each state (states without batches may be left out).
    async fn batch_counts(&self) -> Result<Vec<(BatchState, u64)>>;
    /// Make or replace the typed views of `plan` for SQL tools (`views.rs`): the views
    /// already as planned are left alone, one that cannot be made is reported in the answer
    /// with the plan's failures; an error means none could be looked at (no schema, store
    /// down).
    async fn install_views(&self, plan: &views::Plan<'_>) -> Result<views::Report>;
}

/// A stored row read by column position: what each backend's row gives.
pub(crate) trait Columns {
    fn text(&self, at: usize) -> Result<String>;
    fn int(&self, at: usize) -> Result<i64>;
    fn opt_int(&self, at: usize) -> Result<Option<i64>>;
}

/// A batch from the columns of `sql::BATCH_COLUMNS`, in their order: the one mapping both
/// backends use.
pub(crate) fn batch_from(r: &dyn Columns) -> Result<BatchRow> {
    let (state, op, transport, env) =
        parse_batch_fields(&r.text(2)?, &r.text(3)?, &r.text(9)?, &r.text(13)?)?;
    let status = |at: usize| -> Result<Option<ActionStatus>> {
        match r.text(at)?.as_str() {
            "" => Ok(None),
            v => ActionStatus::parse(v)
                .map(Some)
                .ok_or_else(|| CoreError::Store(format!("stored status {v:?}"))),
        }
    };
    Ok(BatchRow {
        pk: r.int(0)?,
        batch_id: r.text(1)?,
        state,
        op,
        batch_size: r.int(4)? as u64,
        staged_rows: r.int(5)? as u64,
        sequences: r.int(6)? as u32,
        failure_code: r.text(7)?,
        failure_msg: r.text(8)?,
        transport,
        creator: r.text(10)?,
        created_unix: r.int(11)?,
        updated_unix: r.int(12)?,
        env,
        iface: r.text(14)?,
        source: r.text(15)?,
        partner: r.text(16)?,
        proposal: Proposal {
            batch_source: r.text(17)?,
            schedule: Schedule {
                instant: r.int(18)? != 0,
                execute_unix: r.opt_int(19)?,
                revert_unix: r.opt_int(23)?,
            },
            execute_status: status(20)?,
            executor: r.text(21)?,
            execute_detail: r.text(22)?,
            revert_status: status(24)?,
            reverter: r.text(25)?,
            revert_detail: r.text(26)?,
            modifier: r.text(27)?,
            modified_unix: r.int(28)?,
        },
        check_only: r.int(29)? != 0,
    })
}

/// A proposal's statuses as stored ("" for none).
pub(crate) fn status_text(s: Option<ActionStatus>) -> &'static str {
    s.map(|s| s.as_str()).unwrap_or("")
}

/// Parse the textual forms stored in both backends.
fn parse_batch_fields(
    state: &str,
    op: &str,
    transport: &str,
    env: &str,
) -> Result<(BatchState, Operation, Transport, Environment)> {
    let bad = |what: &str, v: &str| CoreError::Store(format!("stored {what} {v:?}"));
    Ok((
        BatchState::parse(state).ok_or_else(|| bad("state", state))?,
        Operation::parse(op).ok_or_else(|| bad("operation", op))?,
        Transport::parse(transport).ok_or_else(|| bad("transport", transport))?,
        Environment::parse(env).ok_or_else(|| bad("environment", env))?,
    ))
}

/// One row of `sql::BATCH_COUNTS`, as both backends read it.
pub(crate) fn state_count(state: &str, n: i64) -> Result<(BatchState, u64)> {
    let state = BatchState::parse(state)
        .ok_or_else(|| CoreError::Store(format!("stored state {state:?}")))?;
    Ok((state, u64::try_from(n).unwrap_or(0)))
}
