//! Operators on PostgreSQL (SQL in `store::operators`).

use tokio_postgres::Row;

use super::PgStore;
use crate::error::Result;
use crate::store::operators::{self as sql, OperatorRow, Operators};

fn operator_row(r: &Row) -> OperatorRow {
    OperatorRow {
        name: r.get(0),
        created_unix: r.get(1),
        revoked_unix: r.get(2),
        last_used_unix: r.get(3),
    }
}

#[async_trait::async_trait]
impl Operators for PgStore {
    async fn insert_operator(&self, name: &str, token_hash: &str, now_unix: i64) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::INSERT_OPERATOR).await?;
        Ok(c.execute(&stmt, &[&name, &token_hash, &now_unix]).await? > 0)
    }

    async fn operator_by_token(&self, token_hash: &str) -> Result<Option<OperatorRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_by_token()).await?;
        Ok(c.query_opt(&stmt, &[&token_hash])
            .await?
            .as_ref()
            .map(operator_row))
    }

    async fn operator(&self, name: &str) -> Result<Option<OperatorRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_operator()).await?;
        Ok(c.query_opt(&stmt, &[&name])
            .await?
            .as_ref()
            .map(operator_row))
    }

    async fn operators(&self) -> Result<Vec<OperatorRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_operators()).await?;
        Ok(c.query(&stmt, &[])
            .await?
            .iter()
            .map(operator_row)
            .collect())
    }

    async fn revoke_operator(&self, name: &str, now_unix: i64) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::REVOKE_OPERATOR).await?;
        Ok(c.execute(&stmt, &[&name, &now_unix]).await? > 0)
    }

    async fn touch_operator(&self, name: &str, now_unix: i64) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::TOUCH_OPERATOR).await?;
        c.execute(&stmt, &[&name, &now_unix]).await?;
        Ok(())
    }
}
