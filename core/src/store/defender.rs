//! The defender's and the partners' allow lists' side of the store (migration 15). The SQL is
//! written here once; both backends run it verbatim (`$n` placeholders).
//!
//! `login_scores` holds one row per scored key (`address:IP`, `user:NAME`, `client:APP`): its
//! score within the current observation window, when that window opened, until when it is
//! banned, and how many bans it had. The rule that moves a row on is core's
//! (the `defender` module); the store only reads, locks and writes the row, so replicas scoring
//! the same key at once take turns (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite).

use async_trait::async_trait;

use crate::error::Result;

pub const MIGRATION: &str = "CREATE TABLE partner_networks (partner TEXT NOT NULL, \
       cidr TEXT NOT NULL, PRIMARY KEY (partner, cidr));
     CREATE TABLE login_scores (what TEXT PRIMARY KEY, score BIGINT NOT NULL, \
       since_unix BIGINT NOT NULL, banned_until BIGINT NOT NULL, offences BIGINT NOT NULL, \
       updated_unix BIGINT NOT NULL);
     CREATE INDEX login_scores_banned ON login_scores (banned_until);";

/// One scored key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScoreRow {
    /// `address:IP`, `user:NAME` or `client:APP`.
    pub what: String,
    /// Failures scored since `since_unix`.
    pub score: i64,
    /// When the observation window opened (the first failure scored in it).
    pub since_unix: i64,
    /// Refused until then (unix seconds; 0: never banned).
    pub banned_until: i64,
    /// Bans so far.
    pub offences: i64,
    pub updated_unix: i64,
}

/// How a scored row moves on: given the row as stored (a fresh one is all zeros but `what`),
/// the row to store.
pub type Next<'a> = &'a (dyn Fn(ScoreRow) -> ScoreRow + Send + Sync);

#[async_trait]
pub trait Defender: Send + Sync {
    /// A partner's allow list (CIDRs as stored), in order; empty: any address.
    async fn networks(&self, partner: &str) -> Result<Vec<String>>;
    /// Replace a partner's allow list (in one transaction).
    async fn set_networks(&self, partner: &str, cidrs: &[String]) -> Result<()>;
    /// The latest end of a ban among `whats` still running at `now`; `None` when none is.
    async fn banned_until(&self, whats: &[String], now_unix: i64) -> Result<Option<i64>>;
    /// Move one key's row on by `next`, locked against every other writer of it.
    async fn score(&self, what: &str, next: Next<'_>) -> Result<ScoreRow>;
    /// Forget these keys (bans and scores); how many rows went.
    async fn clear(&self, whats: &[String]) -> Result<u64>;
    /// Keys banned at `now`, longest ban first.
    async fn bans(&self, now_unix: i64) -> Result<Vec<ScoreRow>>;
    /// Forget rows untouched since `before` and not banned then (housekeeping).
    async fn prune_scores(&self, before_unix: i64) -> Result<u64>;
}

pub const SELECT_NETWORKS: &str =
    "SELECT cidr FROM partner_networks WHERE partner = $1 ORDER BY cidr";
pub const DELETE_NETWORKS: &str = "DELETE FROM partner_networks WHERE partner = $1";
pub const INSERT_NETWORK: &str = "INSERT INTO partner_networks (partner, cidr) VALUES ($1, $2) \
    ON CONFLICT (partner, cidr) DO NOTHING";
/// `$1`: the key; a fresh row to lock when there is none.
pub const ENSURE_SCORE: &str = "INSERT INTO login_scores \
    (what, score, since_unix, banned_until, offences, updated_unix) VALUES ($1, 0, 0, 0, 0, 0) \
    ON CONFLICT (what) DO NOTHING";
const SCORE_COLUMNS: &str = "what, score, since_unix, banned_until, offences, updated_unix";
pub fn select_score(lock: &str) -> String {
    format!("SELECT {SCORE_COLUMNS} FROM login_scores WHERE what = $1{lock}")
}
pub const UPDATE_SCORE: &str = "UPDATE login_scores SET score = $2, since_unix = $3, \
    banned_until = $4, offences = $5, updated_unix = $6 WHERE what = $1";
pub const DELETE_SCORE: &str = "DELETE FROM login_scores WHERE what = $1";
pub fn select_bans() -> String {
    format!(
        "SELECT {SCORE_COLUMNS} FROM login_scores WHERE banned_until > $1 \
         ORDER BY banned_until DESC, what"
    )
}
/// `$1` key, `$2` now: the ban's end when it runs.
pub const BANNED_UNTIL: &str =
    "SELECT banned_until FROM login_scores WHERE what = $1 AND banned_until > $2";
pub const PRUNE_SCORES: &str =
    "DELETE FROM login_scores WHERE updated_unix < $1 AND banned_until < $1";
