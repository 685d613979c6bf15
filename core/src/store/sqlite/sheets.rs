//! The sheet doors' store on SQLite (SQL in `store::sheets`).

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::{blocking, SqliteStore};
use crate::error::Result;
use crate::store::sheets::{self as sql, *};
use crate::store::sql::for_sqlite;

fn held(r: &rusqlite::Row<'_>) -> rusqlite::Result<HeldUpload> {
    Ok(HeldUpload {
        partner: r.get(0)?,
        id: r.get(1)?,
        username: r.get(2)?,
        file_name: r.get(3)?,
        content: r.get(4)?,
        created_unix: r.get(5)?,
        batch_id: r.get(6)?,
        corrects: r.get(7)?,
    })
}

#[async_trait::async_trait]
impl Sheets for SqliteStore {
    async fn column_mapping(&self, partner: &str, iface: &str) -> Result<BTreeMap<String, String>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::SELECT_MAPPING))?
                .query_map(params![partner, iface], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .await
    }

    async fn remember_columns(
        &self,
        partner: &str,
        iface: &str,
        pairs: &[(String, String)],
        now_unix: i64,
    ) -> Result<()> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (header, field) in pairs {
                tx.execute(
                    &for_sqlite(sql::UPSERT_MAPPING),
                    params![partner, iface, header, field, now_unix],
                )?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    async fn hold_upload(&self, u: &HeldUpload) -> Result<()> {
        self.with(|c| {
            c.execute(
                &for_sqlite(sql::INSERT_UPLOAD),
                params![
                    u.partner,
                    u.id,
                    u.username,
                    u.file_name,
                    u.content,
                    u.created_unix,
                    u.batch_id,
                    u.corrects
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn held_upload(&self, partner: &str, id: &str) -> Result<Option<HeldUpload>> {
        self.with(|c| {
            c.query_row(
                &for_sqlite(&sql::select_upload()),
                params![partner, id],
                held,
            )
            .optional()
        })
        .await
    }

    async fn held_upload_of(
        &self,
        partner: &str,
        batch_id: &str,
        content: bool,
    ) -> Result<Option<HeldUpload>> {
        self.with(|c| {
            c.query_row(
                &for_sqlite(&sql::select_upload_of(content)),
                params![partner, batch_id],
                held,
            )
            .optional()
        })
        .await
    }

    async fn prune_uploads(&self, before_unix: i64) -> Result<u64> {
        self.with(|c| Ok(c.execute(&for_sqlite(sql::PRUNE_UPLOADS), params![before_unix])? as u64))
            .await
    }
}
