//! wharf's own principals as stored: operators (the admin HTTP API, migration 16) and
//! consumers (the company's systems reading partners' data, migration 17), each with one
//! random token kept only as its SHA-256 (like partners' bearer tokens). Names are unique
//! across both kinds. A revoked principal keeps its row (the audit trail names it), and its
//! name may be given again later with a new token. The SQL is written here once; both
//! backends run it verbatim (`$n` placeholders).

use async_trait::async_trait;

use crate::error::Result;

/// Migration 16.
pub const MIGRATION: &str = "CREATE TABLE operators (name TEXT PRIMARY KEY, \
    token_hash TEXT NOT NULL UNIQUE, created_unix BIGINT NOT NULL, revoked_unix BIGINT, \
    last_used_unix BIGINT);";

/// Migration 17: operators become one kind of principal; a consumer's `reads` lists the
/// interfaces it may read (`*`: every one).
pub const MIGRATION_CONSUMERS: &str = "ALTER TABLE operators RENAME TO principals; \
    ALTER TABLE principals ADD COLUMN kind TEXT NOT NULL DEFAULT 'operator'; \
    ALTER TABLE principals ADD COLUMN reads TEXT;";

/// What a principal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The admin HTTP API.
    Operator,
    /// The consumer API: reads partners' data.
    Consumer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Operator => "operator",
            Kind::Consumer => "consumer",
        }
    }
}

/// A principal as stored, without its token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRow {
    pub name: String,
    /// A consumer's readable interfaces as stored (`*` or `cat/biz,…`); `None` for operators.
    pub reads: Option<String>,
    pub created_unix: i64,
    /// `Some`: revoked then; its token no longer opens anything.
    pub revoked_unix: Option<i64>,
    /// When its token was last used (kept to the minute: see [`TOUCH`]).
    pub last_used_unix: Option<i64>,
}

/// A new principal `$1` of kind `$4` reading `$5`, with token hash `$2` at `$3`; a revoked
/// principal of that name (of either kind) is given the new token (one row per name). No row
/// is written when a principal of that name is active.
pub const INSERT: &str = "INSERT INTO principals (name, token_hash, created_unix, kind, reads) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, \
    created_unix = excluded.created_unix, kind = excluded.kind, reads = excluded.reads, \
    revoked_unix = NULL, last_used_unix = NULL WHERE principals.revoked_unix IS NOT NULL";

const COLUMNS: &str = "name, reads, created_unix, revoked_unix, last_used_unix";

/// The active principal of kind `$2` whose token hashes to `$1`.
pub fn select_by_token() -> String {
    format!(
        "SELECT {COLUMNS} FROM principals WHERE token_hash = $1 AND kind = $2 \
         AND revoked_unix IS NULL"
    )
}

/// Principal `$1` of kind `$2`, active or not.
pub fn select_one() -> String {
    format!("SELECT {COLUMNS} FROM principals WHERE name = $1 AND kind = $2")
}

/// Principal `$1`, of any kind, active or not: `(kind, revoked_unix)`.
pub const SELECT_NAME: &str = "SELECT kind, revoked_unix FROM principals WHERE name = $1";

/// Every principal of kind `$1`, by name.
pub fn select_all() -> String {
    format!("SELECT {COLUMNS} FROM principals WHERE kind = $1 ORDER BY name")
}

/// Revoke active principal `$1` of kind `$3` at `$2`. Its token hash is replaced by one no
/// token has (`revoked:` is not hex), so the old hash is not kept once it opens nothing.
pub const REVOKE: &str = "UPDATE principals SET revoked_unix = $2, \
    token_hash = 'revoked:' || name WHERE name = $1 AND kind = $3 AND revoked_unix IS NULL";

/// Note that principal `$1` used its token at `$2`: at most one write a minute per
/// principal, not one per request. (`$2` cast: PostgreSQL would read it as an `integer` from
/// `$2 - 60`.)
pub const TOUCH: &str = "UPDATE principals SET last_used_unix = CAST($2 AS BIGINT) \
    WHERE name = $1 AND (last_used_unix IS NULL OR last_used_unix < CAST($2 AS BIGINT) - 60)";

/// The store side of operators and consumers.
#[async_trait]
pub trait Principals: Send + Sync {
    /// Keep a new principal; `false` (nothing written) when an active one has that name.
    async fn insert_principal(
        &self,
        kind: Kind,
        name: &str,
        reads: Option<&str>,
        token_hash: &str,
        now_unix: i64,
    ) -> Result<bool>;
    /// The active principal of `kind` holding the token of this hash.
    async fn principal_by_token(
        &self,
        kind: Kind,
        token_hash: &str,
    ) -> Result<Option<PrincipalRow>>;
    async fn principal(&self, kind: Kind, name: &str) -> Result<Option<PrincipalRow>>;
    /// Whether any principal (of either kind) has this name and is active.
    async fn name_active(&self, name: &str) -> Result<bool>;
    async fn principals(&self, kind: Kind) -> Result<Vec<PrincipalRow>>;
    /// `false` when there is no active principal of that kind and name.
    async fn revoke_principal(&self, kind: Kind, name: &str, now_unix: i64) -> Result<bool>;
    /// Record a use of principal `name`'s token (at most once a minute is written).
    async fn touch_principal(&self, name: &str, now_unix: i64) -> Result<()>;
}
