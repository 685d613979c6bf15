//! The sheet doors' store on PostgreSQL (SQL in `store::sheets`).

use std::collections::BTreeMap;

use super::PgStore;
use crate::error::Result;
use crate::store::sheets::{self as sql, *};

fn held(r: &tokio_postgres::Row) -> HeldUpload {
    HeldUpload {
        partner: r.get(0),
        id: r.get(1),
        username: r.get(2),
        file_name: r.get(3),
        content: r.get(4),
        created_unix: r.get(5),
        batch_id: r.get(6),
        corrects: r.get(7),
    }
}

#[async_trait::async_trait]
impl Sheets for PgStore {
    async fn column_mapping(&self, partner: &str, iface: &str) -> Result<BTreeMap<String, String>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SELECT_MAPPING).await?;
        Ok(c.query(&stmt, &[&partner, &iface])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn remember_columns(
        &self,
        partner: &str,
        iface: &str,
        pairs: &[(String, String)],
        now_unix: i64,
    ) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        for (header, field) in pairs {
            tx.execute(
                sql::UPSERT_MAPPING,
                &[&partner, &iface, header, field, &now_unix],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn hold_upload(&self, u: &HeldUpload) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            sql::INSERT_UPLOAD,
            &[
                &u.partner,
                &u.id,
                &u.username,
                &u.file_name,
                &u.content,
                &u.created_unix,
                &u.batch_id,
                &u.corrects,
            ],
        )
        .await?;
        Ok(())
    }

    async fn held_upload(&self, partner: &str, id: &str) -> Result<Option<HeldUpload>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(&sql::select_upload(), &[&partner, &id])
            .await?
            .map(|r| held(&r)))
    }

    async fn held_upload_of(
        &self,
        partner: &str,
        batch_id: &str,
        content: bool,
    ) -> Result<Option<HeldUpload>> {
        let c = self.pool.get().await?;
        Ok(
            c.query_opt(&sql::select_upload_of(content), &[&partner, &batch_id])
                .await?
                .map(|r| held(&r)),
        )
    }

    async fn prune_uploads(&self, before_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::PRUNE_UPLOADS, &[&before_unix]).await?)
    }
}
