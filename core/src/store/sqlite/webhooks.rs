//! Webhooks on SQLite (SQL in `store::webhooks`): claims run under `BEGIN IMMEDIATE`, the one
//! writer.

use rusqlite::{params, OptionalExtension};

use super::{blocking, SqliteStore, SqliteTx};
use crate::error::Result;
use crate::store::sql::for_sqlite;
use crate::store::webhooks::{self as sql, *};

fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0)?,
        consumer: r.get(1)?,
        url: r.get(2)?,
        events: r.get(3)?,
        sealed: r.get(4)?,
        prev_sealed: r.get(5)?,
        prev_until_unix: r.get(6)?,
        state: r.get(7)?,
        disabled_reason: r.get(8)?,
        disabled_unix: r.get(9)?,
        created_unix: r.get(10)?,
        pending: r.get(11)?,
        delivered: r.get(12)?,
        failed: r.get(13)?,
    })
}

fn due_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DueDelivery> {
    Ok(DueDelivery {
        id: r.get(0)?,
        hook_id: r.get(1)?,
        msg_id: r.get(2)?,
        kind: r.get(3)?,
        body: r.get(4)?,
        attempts: r.get(5)?,
        url: r.get(6)?,
        consumer: r.get(7)?,
        sealed: r.get(8)?,
        prev_sealed: r.get(9)?,
        prev_until_unix: r.get(10)?,
    })
}

/// Write the deliveries of `events` for every subscription that wants them, at the end of
/// the transaction open on `c` (see `store::webhooks::LOCK_HEAD`).
pub(super) fn enqueue(c: &rusqlite::Connection, events: &[Event]) -> rusqlite::Result<()> {
    if events.is_empty() || c.execute(sql::LOCK_HEAD, [])? == 0 {
        return Ok(());
    }
    let mut stmt = c.prepare_cached(&for_sqlite(sql::ENQUEUE))?;
    for e in events {
        stmt.execute(params![e.msg_id, e.kind, e.body, e.at_unix, e.iface])?;
    }
    Ok(())
}

impl SqliteTx {
    pub(super) fn enqueue_webhooks(&mut self) -> Result<()> {
        let hooks = std::mem::take(&mut self.hooks);
        let c = &*self.conn;
        Ok(blocking(|| enqueue(c, &hooks))?)
    }
}

#[async_trait::async_trait]
impl Webhooks for SqliteStore {
    async fn insert_webhook(&self, w: &NewWebhook) -> Result<i64> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::INSERT))?.query_row(
                params![w.consumer, w.url, w.events, w.sealed, w.created_unix],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_all()))?
                .query_map([], webhook_row)?
                .collect()
        })
        .await
    }

    async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_one()))?
                .query_row([id], webhook_row)
                .optional()
        })
        .await
    }

    async fn rotate_webhook(
        &self,
        id: i64,
        sealed: &str,
        prev: Option<&str>,
        prev_until: Option<i64>,
    ) -> Result<bool> {
        let n = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::ROTATE),
                    params![id, sealed, prev, prev_until],
                )
            })
            .await?;
        Ok(n > 0)
    }

    async fn remove_webhook(&self, id: i64) -> Result<bool> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(&for_sqlite(sql::DELETE_DELIVERIES), [id])?;
            let n = tx.execute(&for_sqlite(sql::DELETE), [id])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    async fn disable_webhook(&self, id: i64, reason: &str, now_unix: i64) -> Result<()> {
        self.with(|c| c.execute(&for_sqlite(sql::DISABLE), params![id, now_unix, reason]))
            .await?;
        Ok(())
    }

    async fn claim_delivery(
        &self,
        now_unix: i64,
        owner: &str,
        until: i64,
    ) -> Result<Option<DueDelivery>> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let due = tx
                .prepare_cached(&for_sqlite(sql::SELECT_DUE))?
                .query_row([now_unix], due_row)
                .optional()?;
            if let Some(d) = &due {
                tx.execute(&for_sqlite(sql::LEASE), params![d.hook_id, owner, until])?;
            }
            tx.commit()?;
            Ok(due)
        })
    }

    async fn record_attempt(&self, a: &Attempted, owner: &str) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::RECORD))?.execute(params![
                    a.id,
                    a.state,
                    a.attempts,
                    a.status,
                    a.error,
                    a.next_unix,
                    a.done_unix,
                    owner
                ])
            })
            .await?;
        Ok(n > 0)
    }

    async fn release_webhook(&self, hook_id: i64, owner: &str) -> Result<()> {
        self.with(|c| c.execute(&for_sqlite(sql::RELEASE), params![hook_id, owner]))
            .await?;
        Ok(())
    }

    async fn clear_webhook_leases(&self) -> Result<()> {
        self.with(|c| c.execute(sql::CLEAR_LEASES, [])).await?;
        Ok(())
    }

    async fn prune_deliveries(&self, before_unix: i64) -> Result<u64> {
        let n = self
            .with(|c| c.execute(&for_sqlite(sql::PRUNE), [before_unix]))
            .await?;
        Ok(n as u64)
    }
}
