//! Operators as stored (migration 16): the principals of the admin HTTP API, each with one
//! random token kept only as its SHA-256 (like partners' bearer tokens). A revoked operator
//! keeps its row (the audit trail names it), and its name may be given again later with a new
//! token. The SQL is written here once; both backends run it verbatim (`$n` placeholders).

use async_trait::async_trait;

use crate::error::Result;

/// Migration 16.
pub const MIGRATION: &str = "CREATE TABLE operators (name TEXT PRIMARY KEY, \
    token_hash TEXT NOT NULL UNIQUE, created_unix BIGINT NOT NULL, revoked_unix BIGINT, \
    last_used_unix BIGINT);";

/// An operator as stored, without its token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub name: String,
    pub created_unix: i64,
    /// `Some`: revoked then; its token no longer opens anything.
    pub revoked_unix: Option<i64>,
    /// When its token was last used (kept to the minute: see [`TOUCH_OPERATOR`]).
    pub last_used_unix: Option<i64>,
}

/// A new operator `$1` with token hash `$2` at `$3`; an operator of that name that was
/// revoked is given the new token (one row per name). No row is written when an operator of
/// that name is active.
pub const INSERT_OPERATOR: &str = "INSERT INTO operators (name, token_hash, created_unix) \
    VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, \
    created_unix = excluded.created_unix, revoked_unix = NULL, last_used_unix = NULL \
    WHERE operators.revoked_unix IS NOT NULL";

const COLUMNS: &str = "name, created_unix, revoked_unix, last_used_unix";

/// The active operator whose token hashes to `$1`.
pub fn select_by_token() -> String {
    format!("SELECT {COLUMNS} FROM operators WHERE token_hash = $1 AND revoked_unix IS NULL")
}

/// Operator `$1`, active or not.
pub fn select_operator() -> String {
    format!("SELECT {COLUMNS} FROM operators WHERE name = $1")
}

/// Every operator, by name.
pub fn select_operators() -> String {
    format!("SELECT {COLUMNS} FROM operators ORDER BY name")
}

/// Revoke active operator `$1` at `$2`. Its token hash is replaced by one no token has
/// (`revoked:` is not hex), so the old hash is not kept once it opens nothing.
pub const REVOKE_OPERATOR: &str = "UPDATE operators SET revoked_unix = $2, \
    token_hash = 'revoked:' || name WHERE name = $1 AND revoked_unix IS NULL";

/// Note that operator `$1` used its token at `$2`: at most one write a minute per operator,
/// not one per request. (`$2` cast: PostgreSQL would read it as an `integer` from `$2 - 60`.)
pub const TOUCH_OPERATOR: &str = "UPDATE operators SET last_used_unix = CAST($2 AS BIGINT) \
    WHERE name = $1 AND (last_used_unix IS NULL OR last_used_unix < CAST($2 AS BIGINT) - 60)";

/// The store side of operators.
#[async_trait]
pub trait Operators: Send + Sync {
    /// Keep a new operator; `false` (nothing written) when an active one has that name.
    async fn insert_operator(&self, name: &str, token_hash: &str, now_unix: i64) -> Result<bool>;
    /// The active operator holding the token of this hash.
    async fn operator_by_token(&self, token_hash: &str) -> Result<Option<OperatorRow>>;
    async fn operator(&self, name: &str) -> Result<Option<OperatorRow>>;
    async fn operators(&self) -> Result<Vec<OperatorRow>>;
    /// `false` when there is no active operator of that name.
    async fn revoke_operator(&self, name: &str, now_unix: i64) -> Result<bool>;
    /// Record a use of operator `name`'s token (at most once a minute is written).
    async fn touch_operator(&self, name: &str, now_unix: i64) -> Result<()>;
}
