//! The audit trail's side of the store: one append-only table, `audit`. The application
//! inserts and reads it, and housekeeping deletes what is older than the retention; nothing
//! updates a row. The SQL is written here once; both backends run it verbatim.

use async_trait::async_trait;

use crate::error::Result;

/// Migration 13: the trail. `id` orders the records (the paging cursor), `at_unix` is when.
pub const MIGRATION: &str = "CREATE TABLE audit (id {PK}, at_unix BIGINT NOT NULL, \
   kind TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL, door TEXT NOT NULL, \
   addr TEXT NOT NULL, partner TEXT NOT NULL, username TEXT NOT NULL, detail TEXT NOT NULL);
 CREATE INDEX audit_at ON audit (at_unix);
 CREATE INDEX audit_partner ON audit (partner, id);";

/// `$1..$9`: one record.
pub const INSERT: &str = "INSERT INTO audit (at_unix, kind, action, actor, door, addr, partner, \
   username, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Records after id `$1`, at `$2..=$3`, of partner `$4`, user `$5` and kind `$6` (each `''`
/// for any), oldest first, at most `$7`.
pub const SELECT: &str = "SELECT id, at_unix, kind, action, actor, door, addr, partner, \
   username, detail FROM audit WHERE id > $1 AND at_unix >= $2 AND at_unix <= $3 \
   AND ($4 = '' OR partner = $4) AND ($5 = '' OR username = $5) AND ($6 = '' OR kind = $6) \
   ORDER BY id LIMIT $7";

/// One `batch.expired` record for each batch [`crate::store::sql::EXPIRE_BATCHES`] is about
/// to expire (`$1` cut-off, `$2` now), run just before it in the same transaction on SQLite
/// (one writer: nothing changes in between). `{JSON_OBJECT}` is the backend's JSON object
/// builder returning text. PostgreSQL expires and records in one statement instead
/// (`pg::audit::EXPIRE_RECORDED`).
pub const AUDIT_EXPIRING: &str = concat!(
    "INSERT INTO audit (at_unix, kind, action, actor, door, addr, partner, username, detail) \
     SELECT $2, 'batch', 'batch.expired', 'core', 'core', '', partner, creator, \
     {JSON_OBJECT}('batch_id', batch_id, 'environment', env, 'interface', iface, \
     'state', 'expired') FROM batches WHERE ",
    crate::store::expiry::expiring!()
);

/// Added to the expiring statements: the records they wrote, so the webhooks' deliveries of
/// those events are queued in the same transaction (`store::webhooks::Event::from_audit`).
pub const RETURNING: &str =
    " RETURNING at_unix, kind, action, actor, door, addr, partner, username, detail";

/// `$1`: records before this time go.
pub const PRUNE: &str = "DELETE FROM audit WHERE at_unix < $1";

/// One record on its way in. `detail` is a JSON object, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub at_unix: i64,
    pub kind: String,
    pub action: String,
    pub actor: String,
    pub door: String,
    pub addr: String,
    pub partner: String,
    pub user: String,
    pub detail: String,
}

/// What to read: `""` and `None` mean any.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub after_id: i64,
    pub since_unix: i64,
    pub until_unix: i64,
    pub partner: String,
    pub user: String,
    pub kind: String,
    pub limit: i64,
}

/// The trail.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Append one record (in a transaction of its own).
    async fn append(&self, row: &AuditRow) -> Result<()>;
    /// Records matching `q`, oldest first, with their ids.
    async fn read(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditRow)>>;
    /// Delete the records older than `before_unix`; how many went.
    async fn prune(&self, before_unix: i64) -> Result<u64>;
}
