//! The change feed as stored (migration 18). An event is one row of `feed`: a batch applied,
//! executed (held, then applied by the scheduler or by hand) or reverted, numbered by
//! `feed_head`. The number is taken inside the transaction that changes the records, with a
//! row lock on the head held until that transaction ends, so events become visible in the
//! order of their numbers: a reader that has seen event n has seen every event below it.
//!
//! An event's row changes are not written again: an apply's are its staged rows (the after
//! image) beside `batch_changes` (the before image of every record it replaced or removed),
//! both kept for revert anyway. A revert's are captured by the revert itself, in
//! `revert_rows`, from the same conditions its statements use (`sql::revert_sql`).
//!
//! The SQL is written here once; both backends run it verbatim (`$n` placeholders, `{BYTES}`
//! their byte-order collation).

use async_trait::async_trait;

use crate::error::Result;

/// Migration 18.
pub const MIGRATION: &str = "CREATE TABLE feed_head (one BIGINT PRIMARY KEY, pos BIGINT NOT NULL, \
    pruned BIGINT NOT NULL); \
    INSERT INTO feed_head (one, pos, pruned) VALUES (1, 0, 0); \
    CREATE TABLE feed (pos BIGINT PRIMARY KEY, kind TEXT NOT NULL, batch_pk BIGINT NOT NULL, \
      partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, at_unix BIGINT NOT NULL); \
    CREATE INDEX feed_at ON feed (at_unix); \
    CREATE TABLE revert_rows (batch_pk BIGINT NOT NULL, rkey TEXT {BYTES} NOT NULL, uid TEXT, \
      after TEXT, before TEXT); \
    CREATE INDEX revert_rows_batch ON revert_rows (batch_pk, rkey); \
    CREATE INDEX batch_changes_key ON batch_changes (batch_pk, rkey {BYTES});";

/// Take the next event number; the head stays locked until the transaction ends.
pub const BUMP: &str = "UPDATE feed_head SET pos = pos + 1 WHERE one = 1 RETURNING pos";

/// `$1` pos, `$2` kind, `$3` the batch's pk, `$4..$6` scope, `$7` now.
pub const APPEND: &str = "INSERT INTO feed (pos, kind, batch_pk, partner, env, iface, at_unix) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Events numbered below this were pruned (retention), and the last number given.
pub const HEAD: &str = "SELECT pruned, pos FROM feed_head WHERE one = 1";

/// Events recorded before `$1`: gone, and the head remembers the highest number pruned.
pub const PRUNE_MARK: &str = "UPDATE feed_head SET pruned = \
    COALESCE((SELECT MAX(pos) FROM feed WHERE at_unix < $1), pruned) WHERE one = 1";
pub const PRUNE: &str = "DELETE FROM feed WHERE at_unix < $1";

/// What kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A batch applied as its last sequence arrived.
    Applied,
    /// A held batch applied at its time or by hand.
    Executed,
    /// An applied batch taken back out.
    Reverted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Applied => "applied",
            Kind::Executed => "executed",
            Kind::Reverted => "reverted",
        }
    }
}

/// An event recorded with a transaction, numbered when it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub kind: Kind,
    pub batch_pk: i64,
    pub partner: String,
    pub env: &'static str,
    pub iface: String,
    pub at_unix: i64,
}

impl Pending {
    pub fn new(b: &crate::store::BatchRow, kind: Kind, at_unix: i64) -> Pending {
        Pending {
            kind,
            batch_pk: b.pk,
            partner: b.partner.clone(),
            env: b.env.as_str(),
            iface: b.iface.clone(),
            at_unix,
        }
    }
}

/// One page's choice of events: those numbered after `after_pos` (and the rest of event
/// `after_pos` past key `after_key`, when set) of the given interfaces, partner and
/// environment, at most `max_events` events and `max_rows` row changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSelect {
    pub after_pos: i64,
    pub after_key: Option<String>,
    /// `None`: every interface.
    pub ifaces: Option<Vec<String>>,
    pub partner: Option<String>,
    pub env: Option<String>,
    pub max_events: u32,
    pub max_rows: u32,
}

/// An event as stored, with its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub pos: i64,
    pub kind: String,
    pub batch_pk: i64,
    pub partner: String,
    pub env: String,
    pub iface: String,
    pub at_unix: i64,
    pub batch_id: String,
    pub op: String,
    pub batch_source: String,
}

/// One record's change in an event; `after` absent for a removal, `before` for a new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub rkey: String,
    pub uid: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
}

/// A page: events in order, each with its changes past the cursor (in key order) and
/// whether they are all there (else the page ended inside it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedPage {
    pub events: Vec<(EventRow, Vec<ChangeRow>, bool)>,
    /// Events numbered up to this were pruned.
    pub pruned: i64,
    /// The last number given.
    pub head: i64,
}

/// Where event `e`'s changes start on the page `s` asks for: past the cursor's key when the
/// page begins inside it, else from its first.
pub fn start_key(s: &FeedSelect, e: &EventRow) -> String {
    match (&s.after_key, e.pos == s.after_pos) {
        (Some(k), true) => k.clone(),
        _ => String::new(),
    }
}

/// Add event `e` to `page` with `rows`, its changes read as `room + 1` (one more than there
/// is room for tells whether it ends here), and take them from `room`. `false`: the page is
/// full, read no further event.
pub fn add_event(
    page: &mut FeedPage,
    e: EventRow,
    mut rows: Vec<ChangeRow>,
    room: &mut i64,
) -> bool {
    let complete = rows.len() as i64 <= *room;
    rows.truncate((*room).max(0) as usize);
    *room -= rows.len() as i64;
    page.events.push((e, rows, complete));
    complete && *room > 0
}

/// The events of a page: `$1` the first number, then the filters (`select_events`).
pub fn select_events(s: &FeedSelect) -> (String, Vec<FeedParam>) {
    let first = match s.after_key {
        Some(_) => "f.pos >= $1",
        None => "f.pos > $1",
    };
    let mut params = vec![FeedParam::Int(s.after_pos)];
    let mut sql = format!(
        "SELECT f.pos, f.kind, f.batch_pk, f.partner, f.env, f.iface, f.at_unix, \
         b.batch_id, b.op, b.batch_source FROM feed f JOIN batches b ON b.pk = f.batch_pk \
         WHERE {first}"
    );
    if let Some(ifaces) = &s.ifaces {
        let mut marks = Vec::new();
        for i in ifaces {
            params.push(FeedParam::Text(i.clone()));
            marks.push(format!("${}", params.len()));
        }
        if marks.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(&format!(" AND f.iface IN ({})", marks.join(", ")));
        }
    }
    if let Some(p) = &s.partner {
        params.push(FeedParam::Text(p.clone()));
        sql.push_str(&format!(" AND f.partner = ${}", params.len()));
    }
    if let Some(e) = &s.env {
        params.push(FeedParam::Text(e.clone()));
        sql.push_str(&format!(" AND f.env = ${}", params.len()));
    }
    params.push(FeedParam::Int(i64::from(s.max_events)));
    sql.push_str(&format!(" ORDER BY f.pos LIMIT ${}", params.len()));
    (sql, params)
}

/// A parameter of [`select_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedParam {
    Int(i64),
    Text(String),
}

/// An apply's changes (`$1` the batch's pk, `$2` its operation, `$3` past this key, `$4` at
/// most this many): its staged rows beside the before-images it journalled. A staged row
/// with a before-image replaced it, one without added its key; a before-image without a
/// staged row at its key was removed (a delete, a replaced set's leftover, a uid that moved).
/// A delete's staged rows are only keys: its changes are its before-images.
pub const APPLIED_ROWS: &str = "SELECT x.rkey, x.uid, x.after, x.before FROM (\
    SELECT * FROM (SELECT s.rkey AS rkey, COALESCE(s.uid, c.uid) AS uid, s.data AS after, \
      c.data AS before FROM staged_rows s LEFT JOIN batch_changes c \
      ON c.batch_pk = s.batch_pk AND c.rkey {BYTES} = s.rkey \
      WHERE s.batch_pk = $1 AND s.rkey > $3 AND $2 <> 'delete' ORDER BY s.rkey LIMIT $4) a \
    UNION ALL \
    SELECT * FROM (SELECT c.rkey {BYTES} AS rkey, c.uid AS uid, NULL AS after, \
      c.data AS before FROM batch_changes c \
      WHERE c.batch_pk = $1 AND c.rkey {BYTES} > $3 AND ($2 = 'delete' OR NOT EXISTS \
        (SELECT 1 FROM staged_rows s WHERE s.batch_pk = c.batch_pk AND s.rkey = c.rkey {BYTES})) \
      ORDER BY c.rkey {BYTES} LIMIT $4) b) x \
    ORDER BY x.rkey LIMIT $4";

/// A revert's changes (`$1` the batch's pk, `$2` past this key, `$3` at most this many).
pub const REVERTED_ROWS: &str = "SELECT rkey, uid, after, before FROM revert_rows \
    WHERE batch_pk = $1 AND rkey > $2 ORDER BY rkey LIMIT $3";

/// The store side of the feed: reading pages, and pruning what is older than the retention.
#[async_trait]
pub trait FeedLog: Send + Sync {
    async fn read_feed(&self, s: &FeedSelect) -> Result<FeedPage>;
    /// Remove the events recorded before `before_unix`; how many.
    async fn prune_feed(&self, before_unix: i64) -> Result<u64>;
}
