//! The defender's store on PostgreSQL (SQL in `store::defender`): a score is moved on under
//! `FOR UPDATE`, so replicas scoring one key at once take turns.

use tokio_postgres::Row;

use super::PgStore;
use crate::error::Result;
use crate::store::defender::{self as sql, *};

fn score_row(r: &Row) -> ScoreRow {
    ScoreRow {
        what: r.get(0),
        score: r.get(1),
        since_unix: r.get(2),
        banned_until: r.get(3),
        offences: r.get(4),
        updated_unix: r.get(5),
    }
}

#[async_trait::async_trait]
impl Defender for PgStore {
    async fn networks(&self, partner: &str) -> Result<Vec<String>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SELECT_NETWORKS).await?;
        Ok(c.query(&stmt, &[&partner])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn set_networks(&self, partner: &str, cidrs: &[String]) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(sql::DELETE_NETWORKS, &[&partner]).await?;
        for cidr in cidrs {
            tx.execute(sql::INSERT_NETWORK, &[&partner, cidr]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn banned_until(&self, whats: &[String], now_unix: i64) -> Result<Option<i64>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::BANNED_UNTIL).await?;
        let mut until = None;
        for what in whats {
            if let Some(r) = c.query_opt(&stmt, &[what, &now_unix]).await? {
                until = until.max(Some(r.get::<_, i64>(0)));
            }
        }
        Ok(until)
    }

    async fn score(&self, what: &str, next: Next<'_>) -> Result<ScoreRow> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(sql::ENSURE_SCORE, &[&what]).await?;
        let row = tx
            .query_one(&sql::select_score(" FOR UPDATE"), &[&what])
            .await?;
        let new = next(score_row(&row));
        tx.execute(
            sql::UPDATE_SCORE,
            &[
                &what,
                &new.score,
                &new.since_unix,
                &new.banned_until,
                &new.offences,
                &new.updated_unix,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn clear(&self, whats: &[String]) -> Result<u64> {
        let c = self.pool.get().await?;
        let mut n = 0;
        for what in whats {
            n += c.execute(sql::DELETE_SCORE, &[what]).await?;
        }
        Ok(n)
    }

    async fn bans(&self, now_unix: i64) -> Result<Vec<ScoreRow>> {
        let c = self.pool.get().await?;
        Ok(c.query(&sql::select_bans(), &[&now_unix])
            .await?
            .iter()
            .map(score_row)
            .collect())
    }

    async fn prune_scores(&self, before_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::PRUNE_SCORES, &[&before_unix]).await?)
    }
}
