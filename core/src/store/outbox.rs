//! The outbound side of the store (SPEC §7.1): partners' receiving endpoints and the durable
//! outbox of pushes, each split into sequences. The SQL is written here once; both backends
//! run it verbatim (`$n` placeholders).
//!
//! A push is `writing` while its rows come in (sequences are added in small transactions, so
//! a million-row push holds no lock for long), then `pending` until every sequence is
//! `delivered`, or `failed` when one failed. `next_seq` is the push's current sequence: all
//! before it are delivered. A dispatcher claims a whole push with a lease (`lease_owner`,
//! `lease_until`), so each sequence is sent by one dispatcher at a time.
//!
//! A sequence's rows (up to 500 rows, some 160 KiB of JSON) live in `push_bodies`, written
//! once and only read after; its state (`push_seqs`) is a small row that every attempt
//! rewrites. Kept in one row, each recorded attempt rewrote the whole body too (SQLite
//! rewrites a record whole when its size changes): migration 6 splits them.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Environment, PushState, SeqState};

/// A partner's receiving address for one interface and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub partner: String,
    pub env: Environment,
    /// `data_category/biz_key`.
    pub iface: String,
    pub url: String,
    /// `basic`, `oauth2-client` or `oauth2-password`.
    pub auth: String,
    pub auth_path: String,
    pub client_id: String,
    pub username: String,
    /// The sealed secrets (see `crate::secret`); never the plain text.
    pub sealed: String,
    pub updated_unix: i64,
}

/// What a new push is.
#[derive(Debug, Clone)]
pub struct NewPush {
    pub push_id: String,
    pub partner: String,
    pub env: Environment,
    pub iface: String,
    /// insert | update | delete | all.
    pub operation: String,
    pub created_unix: i64,
    /// The W3C `traceparent` of the call that made the push ("" when none): its delivery
    /// continues that trace.
    pub traceparent: String,
}

/// A push as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRow {
    pub pk: i64,
    pub push_id: String,
    pub partner: String,
    pub env: Environment,
    pub iface: String,
    pub operation: String,
    pub rows: i64,
    pub seqs: i64,
    pub state: PushState,
    pub next_seq: i64,
    pub next_unix: i64,
    pub created_unix: i64,
    pub updated_unix: i64,
    /// See [`NewPush::traceparent`].
    pub traceparent: String,
}

/// A sequence as reported (no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqRow {
    pub seq_no: i64,
    pub rows: i64,
    pub state: SeqState,
    pub attempts: i64,
    /// The last HTTP status (0: none, the exchange did not get that far).
    pub http_status: i64,
    /// The partner's last `code` and `msg` ("" when none).
    pub code: String,
    pub msg: String,
    /// The partner's last answer body as received (cut at a bound).
    pub answer: String,
}

/// A sequence to send: its rows as a JSON array (from `push_bodies`), and how often it was
/// tried.
#[derive(Debug, Clone)]
pub struct SeqBody {
    pub seq_no: i64,
    pub rows: i64,
    pub data: String,
    pub attempts: i64,
}

/// What one attempt at a sequence came to.
#[derive(Debug, Clone)]
pub struct SeqUpdate {
    pub seq_no: i64,
    pub state: SeqState,
    pub attempts: i64,
    pub http_status: i64,
    pub code: String,
    pub msg: String,
    pub answer: String,
}

/// Where a claimed push goes after a round of attempts: its state, its current sequence and
/// when it may be tried next, and whether the lease is kept (still working) or given back.
#[derive(Debug, Clone)]
pub struct PushProgress {
    pub state: PushState,
    pub next_seq: i64,
    pub next_unix: i64,
    /// `Some(until)`: keep the lease until then; `None`: release it.
    pub lease_until: Option<i64>,
}

/// Which pushes `outbox list` shows.
#[derive(Debug, Clone, Default)]
pub struct PushFilter {
    pub partner: Option<String>,
    pub state: Option<PushState>,
    pub limit: u32,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Register (or replace) a partner's endpoint for one interface and environment.
    async fn put_endpoint(&self, e: &EndpointRow) -> Result<()>;
    async fn endpoint(
        &self,
        partner: &str,
        env: Environment,
        iface: &str,
    ) -> Result<Option<EndpointRow>>;
    /// Every endpoint (of one partner), by partner, interface and environment.
    async fn endpoints(&self, partner: Option<&str>) -> Result<Vec<EndpointRow>>;

    /// A new push in state `writing`; returns its pk.
    async fn create_push(&self, p: &NewPush) -> Result<i64>;
    /// Add sequences (seq_no, rows, data) to a `writing` push, in one transaction (a
    /// `push_seqs` row and a `push_bodies` row each).
    async fn add_push_seqs(&self, pk: i64, seqs: &[(i64, i64, String)], now: i64) -> Result<()>;
    /// The push is complete: `pending`, due at once.
    async fn seal_push(&self, pk: i64, rows: i64, seqs: i64, now: i64) -> Result<()>;
    /// Forget a push and its sequences (a refused push).
    async fn drop_push(&self, pk: i64) -> Result<()>;
    /// Drop `writing` pushes created before `before` (their writer died); returns how many.
    async fn purge_unsealed(&self, before: i64) -> Result<u64>;

    /// Lease the first due push: pending, due, not leased, the oldest pending push of its
    /// endpoint (a partner's pushes go in order), and not of a partner in `busy` (at its concurrency limit).
    /// Replicas never get the same push (row locks skipped on PostgreSQL, one writer on SQLite).
    async fn claim_push(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        busy: &[String],
    ) -> Result<Option<PushRow>>;
    /// Up to `limit` sequences of a push from `from_seq` on, in order, with their rows.
    async fn seq_bodies(&self, pk: i64, from_seq: i64, limit: i64) -> Result<Vec<SeqBody>>;
    /// Record attempts and move the push on, in one transaction, if `owner` still holds its
    /// lease; `false` (nothing written) when it does not.
    async fn record_push(
        &self,
        pk: i64,
        owner: &str,
        updates: &[SeqUpdate],
        progress: &PushProgress,
        now: i64,
    ) -> Result<bool>;
    /// Give back every lease (a single-node store at start-up: no other dispatcher exists).
    async fn clear_leases(&self) -> Result<()>;

    async fn push(&self, push_id: &str) -> Result<Option<PushRow>>;
    /// Pushes (not `writing`), newest first.
    async fn pushes(&self, filter: &PushFilter) -> Result<Vec<PushRow>>;
    async fn push_seqs(&self, pk: i64) -> Result<Vec<SeqRow>>;
    /// A failed push goes back to pending: its failed sequence (and those after it) pending
    /// with no attempts, due at once. `false` when it was not failed.
    async fn retry_push(&self, pk: i64, now: i64) -> Result<bool>;
    /// Sequences not delivered yet of pushes that are pending.
    async fn outbox_depth(&self) -> Result<u64>;
}

/// Migration 5: endpoints, pushes, push_seqs.
pub const MIGRATION: &str = "CREATE TABLE endpoints (partner TEXT NOT NULL, env TEXT NOT NULL, \
       iface TEXT NOT NULL, url TEXT NOT NULL, auth TEXT NOT NULL, auth_path TEXT NOT NULL, \
       client_id TEXT NOT NULL, username TEXT NOT NULL, sealed TEXT NOT NULL, \
       updated_unix BIGINT NOT NULL, PRIMARY KEY (partner, env, iface));
     CREATE TABLE pushes (pk {PK}, push_id TEXT NOT NULL UNIQUE, partner TEXT NOT NULL, \
       env TEXT NOT NULL, iface TEXT NOT NULL, operation TEXT NOT NULL, \
       row_count BIGINT NOT NULL DEFAULT 0, seq_count BIGINT NOT NULL DEFAULT 0, \
       state TEXT NOT NULL, next_seq BIGINT NOT NULL DEFAULT 1, next_unix BIGINT NOT NULL DEFAULT 0, \
       lease_owner TEXT NOT NULL DEFAULT '', lease_until BIGINT NOT NULL DEFAULT 0, \
       created_unix BIGINT NOT NULL, updated_unix BIGINT NOT NULL);
     CREATE INDEX pushes_by_state ON pushes (state, partner, env, iface, pk);
     CREATE TABLE push_seqs (push_pk BIGINT NOT NULL REFERENCES pushes (pk) ON DELETE CASCADE, \
       seq_no BIGINT NOT NULL, row_count BIGINT NOT NULL, data TEXT NOT NULL, \
       state TEXT NOT NULL DEFAULT 'pending', attempts BIGINT NOT NULL DEFAULT 0, \
       http_status BIGINT NOT NULL DEFAULT 0, code TEXT NOT NULL DEFAULT '', \
       msg TEXT NOT NULL DEFAULT '', answer TEXT NOT NULL DEFAULT '', \
       updated_unix BIGINT NOT NULL, PRIMARY KEY (push_pk, seq_no));";

/// Migration 6: the sequences' bodies move to `push_bodies`, so recording an attempt (a
/// `push_seqs` update) no longer rewrites 160 KiB of rows with it.
pub const BODIES_MIGRATION: &str = "CREATE TABLE push_bodies (push_pk BIGINT NOT NULL \
       REFERENCES pushes (pk) ON DELETE CASCADE, seq_no BIGINT NOT NULL, data TEXT NOT NULL, \
       PRIMARY KEY (push_pk, seq_no));
     INSERT INTO push_bodies (push_pk, seq_no, data) SELECT push_pk, seq_no, data FROM push_seqs;
     ALTER TABLE push_seqs DROP COLUMN data;";

/// Migration 7: the trace a push was made in, for its delivery to continue.
pub const TRACE_MIGRATION: &str =
    "ALTER TABLE pushes ADD COLUMN traceparent TEXT NOT NULL DEFAULT ''";

pub const ENDPOINT_COLUMNS: &str =
    "partner, env, iface, url, auth, auth_path, client_id, username, sealed, updated_unix";

/// `$1..$10` in `ENDPOINT_COLUMNS` order.
pub const PUT_ENDPOINT: &str = "INSERT INTO endpoints (partner, env, iface, url, auth, auth_path, \
    client_id, username, sealed, updated_unix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (partner, env, iface) DO UPDATE SET url = excluded.url, auth = excluded.auth, \
    auth_path = excluded.auth_path, client_id = excluded.client_id, \
    username = excluded.username, sealed = excluded.sealed, updated_unix = excluded.updated_unix";

pub fn select_endpoint() -> String {
    format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE partner = $1 AND env = $2 AND iface = $3"
    )
}

/// `$1` a partner, or '' for all.
pub fn select_endpoints() -> String {
    format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE ($1 = '' OR partner = $1) \
         ORDER BY partner, iface, env"
    )
}

pub const PUSH_COLUMNS: &str = "pk, push_id, partner, env, iface, operation, row_count, \
    seq_count, state, next_seq, next_unix, created_unix, updated_unix, traceparent";

/// `$1` push_id … `$6` now, `$7` traceparent.
pub const CREATE_PUSH: &str = "INSERT INTO pushes (push_id, partner, env, iface, operation, \
    state, created_unix, updated_unix, traceparent) \
    VALUES ($1, $2, $3, $4, $5, 'writing', $6, $6, $7) RETURNING pk";

/// `$1` pk, `$2` seq_no, `$3` rows, `$4` now.
pub const ADD_PUSH_SEQ: &str = "INSERT INTO push_seqs (push_pk, seq_no, row_count, \
    updated_unix) VALUES ($1, $2, $3, $4)";

/// `$1` pk, `$2` seq_no, `$3` data.
pub const ADD_PUSH_BODY: &str =
    "INSERT INTO push_bodies (push_pk, seq_no, data) VALUES ($1, $2, $3)";

/// `$1` pk, `$2` rows, `$3` sequences, `$4` now.
pub const SEAL_PUSH: &str = "UPDATE pushes SET state = 'pending', row_count = $2, seq_count = $3, \
    next_seq = 1, next_unix = $4, updated_unix = $4 WHERE pk = $1 AND state = 'writing'";

pub const DROP_PUSH_BODIES: &str = "DELETE FROM push_bodies WHERE push_pk = $1";
pub const DROP_PUSH_SEQS: &str = "DELETE FROM push_seqs WHERE push_pk = $1";
pub const DROP_PUSH: &str = "DELETE FROM pushes WHERE pk = $1";

/// `$1` created before.
pub const PURGE_UNSEALED_BODIES: &str = "DELETE FROM push_bodies WHERE push_pk IN \
    (SELECT pk FROM pushes WHERE state = 'writing' AND created_unix < $1)";
pub const PURGE_UNSEALED_SEQS: &str = "DELETE FROM push_seqs WHERE push_pk IN \
    (SELECT pk FROM pushes WHERE state = 'writing' AND created_unix < $1)";
pub const PURGE_UNSEALED: &str = "DELETE FROM pushes WHERE state = 'writing' AND created_unix < $1";

/// Due pushes, `$1` now, oldest due first; at most 32 (the caller skips busy partners).
pub fn select_due_pushes() -> String {
    format!(
        "SELECT {PUSH_COLUMNS} FROM pushes p WHERE p.state = 'pending' AND p.next_unix <= $1 \
         AND p.lease_until < $1 AND NOT EXISTS (SELECT 1 FROM pushes q WHERE q.state = 'pending' \
         AND q.partner = p.partner AND q.env = p.env AND q.iface = p.iface AND q.pk < p.pk) \
         ORDER BY p.next_unix, p.pk LIMIT 32"
    )
}

/// `$1` pk, `$2` owner, `$3` lease until.
pub const LEASE_PUSH: &str = "UPDATE pushes SET lease_owner = $2, lease_until = $3 WHERE pk = $1";

/// `$1` pk, `$2` from seq_no, `$3` limit. The body is looked up per sequence returned (a
/// subquery on both key columns), never joined: on PostgreSQL, a join of freshly written
/// tables (no statistics yet) was planned as a nested loop that scanned the push's bodies
/// from its first sequence for every row returned (`push_pk` as the index condition,
/// `seq_no` as a filter), so each read cost O(sequences so far) and a 2,000-sequence push
/// O(n²). A body that is missing comes back NULL: a store error, never an empty body.
pub const SEQ_BODIES: &str = "SELECT s.seq_no, s.row_count, (SELECT b.data FROM push_bodies b \
    WHERE b.push_pk = s.push_pk AND b.seq_no = s.seq_no), s.attempts FROM push_seqs s \
    WHERE s.push_pk = $1 AND s.seq_no >= $2 ORDER BY s.seq_no LIMIT $3";

/// `$1` pk, `$2` owner: does this dispatcher still hold the lease? (locks the row)
pub const HOLDS_LEASE: &str = "SELECT pk FROM pushes WHERE pk = $1 AND lease_owner = $2";

/// `$1` pk, `$2` seq_no, `$3` state, `$4` attempts, `$5` http status, `$6` code, `$7` msg,
/// `$8` answer, `$9` now.
pub const UPDATE_SEQ: &str = "UPDATE push_seqs SET state = $3, attempts = $4, http_status = $5, \
    code = $6, msg = $7, answer = $8, updated_unix = $9 WHERE push_pk = $1 AND seq_no = $2";

/// `$1` pk, `$2` state, `$3` next_seq, `$4` next_unix, `$5` lease owner, `$6` lease until,
/// `$7` now.
pub const PROGRESS_PUSH: &str = "UPDATE pushes SET state = $2, next_seq = $3, next_unix = $4, \
    lease_owner = $5, lease_until = $6, updated_unix = $7 WHERE pk = $1";

pub const CLEAR_LEASES: &str =
    "UPDATE pushes SET lease_owner = '', lease_until = 0 WHERE lease_until > 0";

pub fn select_push() -> String {
    format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE push_id = $1")
}

/// `$1` partner or '', `$2` state or '', `$3` limit.
pub fn select_pushes() -> String {
    format!(
        "SELECT {PUSH_COLUMNS} FROM pushes WHERE state <> 'writing' \
         AND ($1 = '' OR partner = $1) AND ($2 = '' OR state = $2) ORDER BY pk DESC LIMIT $3"
    )
}

pub const SELECT_SEQS: &str = "SELECT seq_no, row_count, state, attempts, http_status, code, \
    msg, answer FROM push_seqs WHERE push_pk = $1 ORDER BY seq_no";

/// `$1` pk, `$2` now.
pub const RETRY_SEQS: &str = "UPDATE push_seqs SET state = 'pending', attempts = 0, \
    updated_unix = $2 WHERE push_pk = $1 AND state <> 'delivered'";
pub const RETRY_PUSH: &str = "UPDATE pushes SET state = 'pending', next_unix = $2, \
    lease_owner = '', lease_until = 0, updated_unix = $2 WHERE pk = $1 AND state = 'failed'";

pub const OUTBOX_DEPTH: &str =
    "SELECT COUNT(*) FROM push_seqs s JOIN pushes p ON p.pk = s.push_pk \
    WHERE p.state = 'pending' AND s.state <> 'delivered'";
