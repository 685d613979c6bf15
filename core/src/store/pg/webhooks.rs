//! Webhooks on PostgreSQL (SQL in `store::webhooks`): due deliveries are claimed `FOR UPDATE
//! OF h SKIP LOCKED`, so cores claiming at the same moment take different subscriptions.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PgStore, PgTx};
use crate::error::Result;
use crate::store::webhooks::{self as sql, *};

fn webhook_row(r: &Row) -> WebhookRow {
    WebhookRow {
        id: r.get(0),
        consumer: r.get(1),
        url: r.get(2),
        events: r.get(3),
        sealed: r.get(4),
        prev_sealed: r.get(5),
        prev_until_unix: r.get(6),
        state: r.get(7),
        disabled_reason: r.get(8),
        disabled_unix: r.get(9),
        created_unix: r.get(10),
        pending: r.get(11),
        delivered: r.get(12),
        failed: r.get(13),
    }
}

fn due_row(r: &Row) -> DueDelivery {
    DueDelivery {
        id: r.get(0),
        hook_id: r.get(1),
        msg_id: r.get(2),
        kind: r.get(3),
        body: r.get(4),
        attempts: r.get(5),
        url: r.get(6),
        consumer: r.get(7),
        sealed: r.get(8),
        prev_sealed: r.get(9),
        prev_until_unix: r.get(10),
    }
}

/// Write the deliveries of `events` for every subscription that wants them, at the end of
/// the transaction open on `c`, under the head's lock (see `store::webhooks::LOCK_HEAD`).
pub(super) async fn enqueue(c: &impl GenericClient, events: &[Event]) -> Result<()> {
    if events.is_empty() || c.execute(sql::LOCK_HEAD, &[]).await? == 0 {
        return Ok(());
    }
    let stmt = c.prepare_cached(sql::ENQUEUE).await?;
    for e in events {
        c.execute(&stmt, &[&e.msg_id, &e.kind, &e.body, &e.at_unix, &e.iface])
            .await?;
    }
    Ok(())
}

impl PgTx {
    pub(super) async fn enqueue_webhooks(&mut self) -> Result<()> {
        let hooks = std::mem::take(&mut self.hooks);
        enqueue(self.c()?, &hooks).await
    }
}

#[async_trait::async_trait]
impl Webhooks for PgStore {
    async fn insert_webhook(&self, w: &NewWebhook) -> Result<i64> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                sql::INSERT,
                &[&w.consumer, &w.url, &w.events, &w.sealed, &w.created_unix],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRow>> {
        let c = self.pool.get().await?;
        Ok(c.query(sql::select_all().as_str(), &[])
            .await?
            .iter()
            .map(webhook_row)
            .collect())
    }

    async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(sql::select_one().as_str(), &[&id])
            .await?
            .as_ref()
            .map(webhook_row))
    }

    async fn rotate_webhook(
        &self,
        id: i64,
        sealed: &str,
        prev: Option<&str>,
        prev_until: Option<i64>,
    ) -> Result<bool> {
        let c = self.pool.get().await?;
        let n = c
            .execute(sql::ROTATE, &[&id, &sealed, &prev, &prev_until])
            .await?;
        Ok(n > 0)
    }

    async fn remove_webhook(&self, id: i64) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(sql::DELETE_DELIVERIES, &[&id]).await?;
        let n = tx.execute(sql::DELETE, &[&id]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn disable_webhook(&self, id: i64, reason: &str, now_unix: i64) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(sql::DISABLE, &[&id, &now_unix, &reason]).await?;
        Ok(())
    }

    async fn claim_delivery(
        &self,
        now_unix: i64,
        owner: &str,
        until: i64,
    ) -> Result<Option<DueDelivery>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // SKIP LOCKED: a subscription another core is claiming right now is its business.
        let stmt = tx
            .prepare_cached(&format!("{} FOR UPDATE OF h SKIP LOCKED", sql::SELECT_DUE))
            .await?;
        let due = tx
            .query_opt(&stmt, &[&now_unix])
            .await?
            .as_ref()
            .map(due_row);
        if let Some(d) = &due {
            tx.execute(sql::LEASE, &[&d.hook_id, &owner, &until])
                .await?;
        }
        tx.commit().await?;
        Ok(due)
    }

    async fn record_attempt(&self, a: &Attempted, owner: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::RECORD).await?;
        let n = c
            .execute(
                &stmt,
                &[
                    &a.id,
                    &a.state,
                    &a.attempts,
                    &a.status,
                    &a.error,
                    &a.next_unix,
                    &a.done_unix,
                    &owner,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn release_webhook(&self, hook_id: i64, owner: &str) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(sql::RELEASE, &[&hook_id, &owner]).await?;
        Ok(())
    }

    async fn clear_webhook_leases(&self) -> Result<()> {
        // Replicas share this database: a lease is only given back by its holder or by time.
        Ok(())
    }

    async fn prune_deliveries(&self, before_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::PRUNE, &[&before_unix]).await?)
    }
}
