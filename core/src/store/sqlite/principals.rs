//! Operators and consumers on SQLite (SQL in `store::principals`).

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::Result;
use crate::store::principals::{self as sql, Kind, PrincipalRow, Principals};
use crate::store::sql::for_sqlite;

fn principal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PrincipalRow> {
    Ok(PrincipalRow {
        name: r.get(0)?,
        reads: r.get(1)?,
        created_unix: r.get(2)?,
        revoked_unix: r.get(3)?,
        last_used_unix: r.get(4)?,
    })
}

#[async_trait::async_trait]
impl Principals for SqliteStore {
    async fn insert_principal(
        &self,
        kind: Kind,
        name: &str,
        reads: Option<&str>,
        token_hash: &str,
        now_unix: i64,
    ) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::INSERT))?.execute(params![
                    name,
                    token_hash,
                    now_unix,
                    kind.as_str(),
                    reads
                ])
            })
            .await?;
        Ok(n > 0)
    }

    async fn principal_by_token(
        &self,
        kind: Kind,
        token_hash: &str,
    ) -> Result<Option<PrincipalRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_by_token()))?
                .query_row(params![token_hash, kind.as_str()], principal_row)
                .optional()
        })
        .await
    }

    async fn principal(&self, kind: Kind, name: &str) -> Result<Option<PrincipalRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_one()))?
                .query_row(params![name, kind.as_str()], principal_row)
                .optional()
        })
        .await
    }

    async fn name_active(&self, name: &str) -> Result<bool> {
        let revoked = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::SELECT_NAME))?
                    .query_row([name], |r| r.get::<_, Option<i64>>(1))
                    .optional()
            })
            .await?;
        Ok(matches!(revoked, Some(None)))
    }

    async fn principals(&self, kind: Kind) -> Result<Vec<PrincipalRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_all()))?
                .query_map([kind.as_str()], principal_row)?
                .collect()
        })
        .await
    }

    async fn revoke_principal(&self, kind: Kind, name: &str, now_unix: i64) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::REVOKE))?.execute(params![
                    name,
                    now_unix,
                    kind.as_str()
                ])
            })
            .await?;
        Ok(n > 0)
    }

    async fn touch_principal(&self, name: &str, now_unix: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::TOUCH))?
                .execute(params![name, now_unix])
        })
        .await?;
        Ok(())
    }
}
