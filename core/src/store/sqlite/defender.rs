//! The defender's store on SQLite (SQL in `store::defender`). One writer at a time: a score
//! is moved on under `BEGIN IMMEDIATE`.

use rusqlite::{params, OptionalExtension};

use super::{blocking, SqliteStore};
use crate::error::Result;
use crate::store::defender::{self as sql, *};
use crate::store::sql::for_sqlite;

fn score_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScoreRow> {
    Ok(ScoreRow {
        what: r.get(0)?,
        score: r.get(1)?,
        since_unix: r.get(2)?,
        banned_until: r.get(3)?,
        offences: r.get(4)?,
        updated_unix: r.get(5)?,
    })
}

#[async_trait::async_trait]
impl Defender for SqliteStore {
    async fn networks(&self, partner: &str) -> Result<Vec<String>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::SELECT_NETWORKS))?
                .query_map(params![partner], |r| r.get(0))?
                .collect()
        })
        .await
    }

    async fn set_networks(&self, partner: &str, cidrs: &[String]) -> Result<()> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(&for_sqlite(sql::DELETE_NETWORKS), params![partner])?;
            for cidr in cidrs {
                tx.execute(&for_sqlite(sql::INSERT_NETWORK), params![partner, cidr])?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    async fn banned_until(&self, whats: &[String], now_unix: i64) -> Result<Option<i64>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(sql::BANNED_UNTIL))?;
            let mut until = None;
            for what in whats {
                let found: Option<i64> = stmt
                    .query_row(params![what, now_unix], |r| r.get(0))
                    .optional()?;
                until = until.max(found);
            }
            Ok(until)
        })
        .await
    }

    async fn score(&self, what: &str, next: Next<'_>) -> Result<ScoreRow> {
        let mut conn = self.conn.lock().await;
        Ok(blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(&for_sqlite(sql::ENSURE_SCORE), params![what])?;
            let row = tx.query_row(
                &for_sqlite(&sql::select_score("")),
                params![what],
                score_row,
            )?;
            let new = next(row);
            tx.execute(
                &for_sqlite(sql::UPDATE_SCORE),
                params![
                    what,
                    new.score,
                    new.since_unix,
                    new.banned_until,
                    new.offences,
                    new.updated_unix
                ],
            )?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(new)
        })?)
    }

    async fn clear(&self, whats: &[String]) -> Result<u64> {
        self.with(|c| {
            let mut n = 0;
            for what in whats {
                n += c.execute(&for_sqlite(sql::DELETE_SCORE), params![what])? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn bans(&self, now_unix: i64) -> Result<Vec<ScoreRow>> {
        self.with(|c| {
            c.prepare(&for_sqlite(&sql::select_bans()))?
                .query_map(params![now_unix], score_row)?
                .collect()
        })
        .await
    }

    async fn prune_scores(&self, before_unix: i64) -> Result<u64> {
        self.with(|c| Ok(c.execute(&for_sqlite(sql::PRUNE_SCORES), params![before_unix])? as u64))
            .await
    }
}
