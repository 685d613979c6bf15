//! The sheet doors' side of the store (migration 20). The SQL is written here once; both
//! backends run it verbatim (`$n` placeholders).
//!
//! - `column_mappings`: the columns a partner's users mapped on the upload page, per
//!   interface: a header (normalised) and the field it fills (`''`: ignored). Offered again
//!   on the next sheet of that partner and interface, FTP's included.
//! - `held_uploads`: a file uploaded on the page, kept for a day: while its user maps its
//!   columns (the mapping step is a second request), and after it was sent, for the copy of
//!   the sheet with its errors marked. Its bytes as received, and the batch it is sent as.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;

pub const MIGRATION: &str = "CREATE TABLE column_mappings (partner TEXT NOT NULL, \
       iface TEXT NOT NULL, header TEXT {BYTES} NOT NULL, field TEXT NOT NULL, \
       updated_unix BIGINT NOT NULL, PRIMARY KEY (partner, iface, header));
     CREATE TABLE held_uploads (partner TEXT NOT NULL, id TEXT NOT NULL, \
       username TEXT NOT NULL, file_name TEXT NOT NULL, content {BLOB} NOT NULL, \
       created_unix BIGINT NOT NULL, batch_id TEXT NOT NULL, corrects TEXT NOT NULL, \
       PRIMARY KEY (partner, id));
     CREATE INDEX held_uploads_age ON held_uploads (created_unix);
     CREATE INDEX held_uploads_batch ON held_uploads (partner, batch_id);";

/// How long an uploaded file is held for its mapping step.
pub const HOLD_SECS: i64 = 24 * 3600;

/// An uploaded file held for its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUpload {
    pub partner: String,
    pub id: String,
    pub username: String,
    pub file_name: String,
    pub content: Vec<u8>,
    pub created_unix: i64,
    /// The batch the file is sent as (the page chooses its id before holding the file).
    pub batch_id: String,
    /// A sheet fixed in the page's grid: the batch it corrects (`""` else).
    pub corrects: String,
}

#[async_trait]
pub trait Sheets: Send + Sync {
    /// The remembered mapping of a partner's interface: normalised header → field (`""`:
    /// ignored).
    async fn column_mapping(&self, partner: &str, iface: &str) -> Result<BTreeMap<String, String>>;
    /// Remember these (normalised header, field) pairs, replacing what a header held.
    async fn remember_columns(
        &self,
        partner: &str,
        iface: &str,
        pairs: &[(String, String)],
        now_unix: i64,
    ) -> Result<()>;
    /// Keep an uploaded file (its id is new).
    async fn hold_upload(&self, u: &HeldUpload) -> Result<()>;
    /// A held upload of the partner, if it is still kept.
    async fn held_upload(&self, partner: &str, id: &str) -> Result<Option<HeldUpload>>;
    /// The newest held upload of the partner sent as `batch_id`, if one is still kept; its
    /// `content` empty unless `content` is asked for.
    async fn held_upload_of(
        &self,
        partner: &str,
        batch_id: &str,
        content: bool,
    ) -> Result<Option<HeldUpload>>;
    /// Drop held uploads older than `before` (housekeeping); how many went.
    async fn prune_uploads(&self, before_unix: i64) -> Result<u64>;
}

pub const SELECT_MAPPING: &str =
    "SELECT header, field FROM column_mappings WHERE partner = $1 AND iface = $2";
pub const UPSERT_MAPPING: &str = "INSERT INTO column_mappings \
    (partner, iface, header, field, updated_unix) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (partner, iface, header) DO UPDATE SET field = excluded.field, \
    updated_unix = excluded.updated_unix";
pub const INSERT_UPLOAD: &str = "INSERT INTO held_uploads \
    (partner, id, username, file_name, content, created_unix, batch_id, corrects) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// A held upload's columns, its bytes or none (`substr` of 0 bytes: both stores have it).
fn upload_columns(content: bool) -> String {
    let bytes = if content {
        "content"
    } else {
        "substr(content, 1, 0)"
    };
    format!(
        "SELECT partner, id, username, file_name, {bytes}, created_unix, batch_id, corrects \
         FROM held_uploads"
    )
}
pub fn select_upload() -> String {
    format!("{} WHERE partner = $1 AND id = $2", upload_columns(true))
}
pub fn select_upload_of(content: bool) -> String {
    format!(
        "{} WHERE partner = $1 AND batch_id = $2 ORDER BY created_unix DESC LIMIT 1",
        upload_columns(content)
    )
}
pub const PRUNE_UPLOADS: &str = "DELETE FROM held_uploads WHERE created_unix < $1";
