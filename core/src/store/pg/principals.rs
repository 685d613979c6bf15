//! Operators and consumers on PostgreSQL (SQL in `store::principals`).

use tokio_postgres::Row;

use super::PgStore;
use crate::error::Result;
use crate::store::principals::{self as sql, Kind, PrincipalRow, Principals};

fn principal_row(r: &Row) -> PrincipalRow {
    PrincipalRow {
        name: r.get(0),
        reads: r.get(1),
        created_unix: r.get(2),
        revoked_unix: r.get(3),
        last_used_unix: r.get(4),
    }
}

#[async_trait::async_trait]
impl Principals for PgStore {
    async fn insert_principal(
        &self,
        kind: Kind,
        name: &str,
        reads: Option<&str>,
        token_hash: &str,
        now_unix: i64,
    ) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::INSERT).await?;
        let n = c
            .execute(
                &stmt,
                &[&name, &token_hash, &now_unix, &kind.as_str(), &reads],
            )
            .await?;
        Ok(n > 0)
    }

    async fn principal_by_token(
        &self,
        kind: Kind,
        token_hash: &str,
    ) -> Result<Option<PrincipalRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_by_token()).await?;
        Ok(c.query_opt(&stmt, &[&token_hash, &kind.as_str()])
            .await?
            .as_ref()
            .map(principal_row))
    }

    async fn principal(&self, kind: Kind, name: &str) -> Result<Option<PrincipalRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_one()).await?;
        Ok(c.query_opt(&stmt, &[&name, &kind.as_str()])
            .await?
            .as_ref()
            .map(principal_row))
    }

    async fn name_active(&self, name: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SELECT_NAME).await?;
        Ok(c.query_opt(&stmt, &[&name])
            .await?
            .is_some_and(|r| r.get::<_, Option<i64>>(1).is_none()))
    }

    async fn principals(&self, kind: Kind) -> Result<Vec<PrincipalRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_all()).await?;
        Ok(c.query(&stmt, &[&kind.as_str()])
            .await?
            .iter()
            .map(principal_row)
            .collect())
    }

    async fn revoke_principal(&self, kind: Kind, name: &str, now_unix: i64) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::REVOKE).await?;
        Ok(c.execute(&stmt, &[&name, &now_unix, &kind.as_str()])
            .await?
            > 0)
    }

    async fn touch_principal(&self, name: &str, now_unix: i64) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::TOUCH).await?;
        c.execute(&stmt, &[&name, &now_unix]).await?;
        Ok(())
    }
}
