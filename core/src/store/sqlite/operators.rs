//! Operators on SQLite (SQL in `store::operators`).

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::Result;
use crate::store::operators::{self as sql, OperatorRow, Operators};
use crate::store::sql::for_sqlite;

fn operator_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorRow> {
    Ok(OperatorRow {
        name: r.get(0)?,
        created_unix: r.get(1)?,
        revoked_unix: r.get(2)?,
        last_used_unix: r.get(3)?,
    })
}

#[async_trait::async_trait]
impl Operators for SqliteStore {
    async fn insert_operator(&self, name: &str, token_hash: &str, now_unix: i64) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::INSERT_OPERATOR))?
                    .execute(params![name, token_hash, now_unix])
            })
            .await?;
        Ok(n > 0)
    }

    async fn operator_by_token(&self, token_hash: &str) -> Result<Option<OperatorRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_by_token()))?
                .query_row([token_hash], operator_row)
                .optional()
        })
        .await
    }

    async fn operator(&self, name: &str) -> Result<Option<OperatorRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_operator()))?
                .query_row([name], operator_row)
                .optional()
        })
        .await
    }

    async fn operators(&self) -> Result<Vec<OperatorRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_operators()))?
                .query_map([], operator_row)?
                .collect()
        })
        .await
    }

    async fn revoke_operator(&self, name: &str, now_unix: i64) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::REVOKE_OPERATOR))?
                    .execute(params![name, now_unix])
            })
            .await?;
        Ok(n > 0)
    }

    async fn touch_operator(&self, name: &str, now_unix: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::TOUCH_OPERATOR))?
                .execute(params![name, now_unix])
        })
        .await?;
        Ok(())
    }
}
