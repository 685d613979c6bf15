//! The administrative side of partners, users and tokens (migration 14): listing them with
//! their lifecycle dates, disabling, rotating a client secret, resetting a password,
//! revoking tokens, removing a user or a partner (with its data). The SQL is written here
//! once; both backends run it verbatim (`$n` placeholders).
//!
//! What a login reads (the partner's and user's `disabled`, the previous secret and until
//! when it is good) comes with the rows `Store::partner` / `Store::user` already read, so a
//! disabled account costs no extra query on any door.

use async_trait::async_trait;

use crate::error::Result;

/// A partner as listed: no secret, no hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerDetail {
    pub name: String,
    /// `None`: every interface.
    pub interfaces: Option<Vec<String>>,
    pub disabled: bool,
    pub created_unix: i64,
    pub secret_rotated_unix: Option<i64>,
    /// The previous client secret is accepted until then (it may be past).
    pub previous_secret_until: Option<i64>,
    /// Its users, by name.
    pub users: Vec<String>,
}

/// A user as listed: no password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDetail {
    pub username: String,
    pub partner: String,
    pub disabled: bool,
    pub created_unix: i64,
    pub password_changed_unix: Option<i64>,
    /// Authorized SSH keys.
    pub keys: u64,
}

/// A token as listed: its public id, never the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDetail {
    pub id: String,
    /// `api` or `session`.
    pub kind: String,
    pub partner: String,
    pub username: Option<String>,
    pub issued_unix: i64,
    pub expires_unix: i64,
    pub last_used_unix: Option<i64>,
}

/// Which tokens an operation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope<'a> {
    Id(&'a str),
    Partner(&'a str),
    User(&'a str),
}

/// The data a partner holds, table by table: (what, how many), only the non-empty ones.
pub type DataCounts = Vec<(&'static str, u64)>;

#[async_trait]
pub trait Accounts: Send + Sync {
    /// Every partner, by name.
    async fn partners(&self) -> Result<Vec<PartnerDetail>>;
    async fn partner_detail(&self, name: &str) -> Result<Option<PartnerDetail>>;
    /// Users (of one partner), by name.
    async fn users(&self, partner: Option<&str>) -> Result<Vec<UserDetail>>;
    async fn user_detail(&self, username: &str) -> Result<Option<UserDetail>>;

    /// `false` when there is no such partner.
    async fn set_partner_disabled(&self, name: &str, disabled: bool) -> Result<bool>;
    /// `interfaces`: the JSON list stored, `None` for all.
    async fn set_partner_interfaces(&self, name: &str, interfaces: Option<&str>) -> Result<bool>;
    /// The current secret becomes the previous one, accepted until `previous_until`;
    /// `new_hash` is the current one from now on.
    async fn rotate_secret(
        &self,
        name: &str,
        new_hash: &str,
        previous_until: i64,
        now_unix: i64,
    ) -> Result<bool>;
    /// What data the partner holds (batches, records, files, …), non-empty tables only.
    async fn partner_data(&self, name: &str) -> Result<DataCounts>;
    /// Remove a partner with its users, their keys and tokens, in one transaction; with
    /// `with_data` its data too. Without it, a partner holding data is left as it is and its
    /// data is returned (`Err` of the counts); `Ok(false)`: no such partner.
    async fn remove_partner(
        &self,
        name: &str,
        with_data: bool,
    ) -> Result<std::result::Result<bool, DataCounts>>;

    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool>;
    /// A new password hash; every token of the user (API tokens and upload-page sessions)
    /// goes in the same transaction. `false`: no such user.
    async fn set_password(&self, username: &str, hash: &str, now_unix: i64) -> Result<bool>;
    /// Remove a user with its keys and tokens, in one transaction.
    async fn remove_user(&self, username: &str) -> Result<bool>;

    /// Tokens not expired at `now_unix` (of a partner, of a user), by partner, user, issue.
    async fn tokens(
        &self,
        partner: Option<&str>,
        user: Option<&str>,
        now_unix: i64,
    ) -> Result<Vec<TokenDetail>>;
    /// Remove the tokens `which` names; how many went.
    async fn revoke_tokens(&self, which: &TokenScope<'_>) -> Result<u64>;
    /// Note that the token stored under `hash` was used at `now_unix`.
    async fn touch_token(&self, hash: &str, now_unix: i64) -> Result<()>;
}

/// Migration 14: the lifecycle of partners, users and tokens.
///
/// - partners: `disabled`, the previous client secret's hash and until when it is accepted
///   (a rotation's grace), when the secret was last rotated;
/// - users: `disabled`, when the password was last changed;
/// - tokens: a public `id` (12 hex characters, random, never derived from the token; tokens
///   issued before this version get their hash's first 12), when issued (0: before this
///   version), when last used (written at most once a minute per token).
pub const MIGRATION: &str = "ALTER TABLE partners ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE partners ADD COLUMN prev_secret_hash TEXT;
     ALTER TABLE partners ADD COLUMN prev_secret_until BIGINT;
     ALTER TABLE partners ADD COLUMN secret_rotated_unix BIGINT;
     ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE users ADD COLUMN password_changed_unix BIGINT;
     CREATE INDEX users_partner ON users (partner, username);
     ALTER TABLE tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
     ALTER TABLE tokens ADD COLUMN issued_unix BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE tokens ADD COLUMN last_used_unix BIGINT;
     UPDATE tokens SET id = substr(token_hash, 1, 12);
     CREATE INDEX tokens_id ON tokens (id);
     CREATE INDEX tokens_owner ON tokens (partner, username);";

/// Once a minute at most: a token's `last_used_unix` is not rewritten on every request.
pub const TOUCH_EVERY_SECS: i64 = 60;

const PARTNER_COLUMNS: &str = "p.name, p.interfaces, p.disabled, p.created_unix, \
    p.secret_rotated_unix, p.prev_secret_until";

pub fn select_partners() -> String {
    format!("SELECT {PARTNER_COLUMNS} FROM partners p ORDER BY p.name")
}

pub fn select_partner() -> String {
    format!("SELECT {PARTNER_COLUMNS} FROM partners p WHERE p.name = $1")
}

/// `$1` partner or '' for all: (partner, username) by partner and name.
pub const SELECT_USER_NAMES: &str =
    "SELECT partner, username FROM users WHERE ($1 = '' OR partner = $1) ORDER BY partner, username";

const USER_COLUMNS: &str = "u.username, u.partner, u.disabled, u.created_unix, \
    u.password_changed_unix, (SELECT COUNT(*) FROM user_keys k WHERE k.username = u.username)";

/// `$1` partner or '' for all.
pub fn select_users() -> String {
    format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE ($1 = '' OR u.partner = $1) \
         ORDER BY u.username"
    )
}

pub fn select_user() -> String {
    format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1")
}

/// `$1` name, `$2` 0/1.
pub const SET_PARTNER_DISABLED: &str = "UPDATE partners SET disabled = $2 WHERE name = $1";
/// `$1` name, `$2` the JSON list or NULL (all).
pub const SET_PARTNER_INTERFACES: &str = "UPDATE partners SET interfaces = $2 WHERE name = $1";
/// `$1` name, `$2` new hash, `$3` previous accepted until, `$4` now.
pub const ROTATE_SECRET: &str = "UPDATE partners SET prev_secret_hash = secret_hash, \
    prev_secret_until = $3, secret_hash = $2, secret_rotated_unix = $4 WHERE name = $1";

/// `$1` username, `$2` 0/1.
pub const SET_USER_DISABLED: &str = "UPDATE users SET disabled = $2 WHERE username = $1";
/// `$1` username, `$2` hash, `$3` now.
pub const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, password_changed_unix = $3 WHERE username = $1";

pub const DELETE_USER_TOKENS: &str = "DELETE FROM tokens WHERE username = $1";
pub const DELETE_USER_KEYS: &str = "DELETE FROM user_keys WHERE username = $1";
pub const DELETE_USER: &str = "DELETE FROM users WHERE username = $1";

/// What a partner's data is, table by table: (what, `SELECT COUNT(*)` with `$1` the partner).
pub const PARTNER_DATA: &[(&str, &str)] = &[
    ("batches", "SELECT COUNT(*) FROM batches WHERE partner = $1"),
    ("records", "SELECT COUNT(*) FROM records WHERE partner = $1"),
    (
        "delivered files",
        "SELECT COUNT(*) FROM files WHERE partner = $1",
    ),
    (
        "files under a temporary name",
        "SELECT COUNT(*) FROM file_parts WHERE partner = $1",
    ),
    (
        "endpoints",
        "SELECT COUNT(*) FROM endpoints WHERE partner = $1",
    ),
    ("pushes", "SELECT COUNT(*) FROM pushes WHERE partner = $1"),
];

/// A partner's data removed, in order (`$1` the partner): what hangs off a batch or a push
/// first, then the rest.
pub const DELETE_PARTNER_DATA: &[&str] = &[
    "DELETE FROM push_bodies WHERE push_pk IN (SELECT pk FROM pushes WHERE partner = $1)",
    "DELETE FROM push_seqs WHERE push_pk IN (SELECT pk FROM pushes WHERE partner = $1)",
    "DELETE FROM pushes WHERE partner = $1",
    "DELETE FROM endpoints WHERE partner = $1",
    "DELETE FROM sequences WHERE batch_pk IN (SELECT pk FROM batches WHERE partner = $1)",
    "DELETE FROM record_versions WHERE partner = $1",
    "DELETE FROM record_history WHERE partner = $1",
    "DELETE FROM batches WHERE partner = $1",
    "DELETE FROM files WHERE partner = $1",
    "DELETE FROM file_parts WHERE partner = $1",
];

/// A partner's credentials and then the partner (`$1`), after its data.
pub const DELETE_PARTNER: &[&str] = &[
    "DELETE FROM tokens WHERE partner = $1",
    "DELETE FROM user_keys WHERE username IN (SELECT username FROM users WHERE partner = $1)",
    "DELETE FROM users WHERE partner = $1",
    "DELETE FROM partner_networks WHERE partner = $1",
    "DELETE FROM partners WHERE name = $1",
];

const TOKEN_COLUMNS: &str =
    "id, kind, partner, username, issued_unix, expires_unix, last_used_unix";

/// `$1` partner or '', `$2` user or '', `$3` now: tokens still valid.
pub fn select_tokens() -> String {
    format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE expires_unix > $3 \
         AND ($1 = '' OR partner = $1) AND ($2 = '' OR username = $2) \
         ORDER BY partner, username, issued_unix, id"
    )
}

pub const REVOKE_TOKEN_ID: &str = "DELETE FROM tokens WHERE id = $1";
pub const REVOKE_PARTNER_TOKENS: &str = "DELETE FROM tokens WHERE partner = $1";
pub const REVOKE_USER_TOKENS: &str = DELETE_USER_TOKENS;

/// `$1` hash, `$2` now: written only when the last write is a minute old or more.
pub const TOUCH_TOKEN: &str = "UPDATE tokens SET last_used_unix = $2 WHERE token_hash = $1 \
    AND (last_used_unix IS NULL OR last_used_unix <= CAST($2 AS BIGINT) - 60)";

/// The statement that removes the tokens `which` names, and its one parameter.
pub fn revoke(which: &TokenScope<'_>) -> (&'static str, String) {
    match which {
        TokenScope::Id(id) => (REVOKE_TOKEN_ID, id.to_string()),
        TokenScope::Partner(p) => (REVOKE_PARTNER_TOKENS, p.to_string()),
        TokenScope::User(u) => (REVOKE_USER_TOKENS, u.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_waits_a_minute() {
        assert!(TOUCH_TOKEN.contains(&format!("- {TOUCH_EVERY_SECS}")));
    }

    #[test]
    fn every_partner_statement_names_the_partner() {
        for s in DELETE_PARTNER_DATA
            .iter()
            .chain(DELETE_PARTNER)
            .chain(PARTNER_DATA.iter().map(|(_, s)| s))
        {
            assert!(s.contains("$1"), "{s}");
        }
    }
}
