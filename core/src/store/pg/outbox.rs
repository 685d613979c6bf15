//! The outbox on PostgreSQL (SQL in `store::outbox`). A claim locks its candidates with
//! `FOR UPDATE SKIP LOCKED`: replicas claiming at the same moment take different pushes.

use tokio_postgres::Row;

use super::PgStore;
use crate::error::CoreError;
use crate::error::Result;
use crate::model::{Environment, PushState, SeqState};
use crate::store::outbox::{self as sql, *};

fn endpoint_row(r: &Row) -> EndpointRow {
    EndpointRow {
        partner: r.get(0),
        env: Environment::parse(r.get::<_, &str>(1)).unwrap_or(Environment::Prod),
        iface: r.get(2),
        url: r.get(3),
        auth: r.get(4),
        auth_path: r.get(5),
        client_id: r.get(6),
        username: r.get(7),
        sealed: r.get(8),
        updated_unix: r.get(9),
    }
}

fn push_row(r: &Row) -> Result<PushRow> {
    Ok(PushRow {
        pk: r.get(0),
        push_id: r.get(1),
        partner: r.get(2),
        env: Environment::parse(r.get::<_, &str>(3)).unwrap_or(Environment::Prod),
        iface: r.get(4),
        operation: r.get(5),
        rows: r.get(6),
        seqs: r.get(7),
        state: state(PushState::parse, r.get(8))?,
        next_seq: r.get(9),
        next_unix: r.get(10),
        created_unix: r.get(11),
        updated_unix: r.get(12),
        traceparent: r.get(13),
    })
}

/// A state column read back: text wharf never writes is a store error.
fn state<T>(parse: fn(&str) -> Option<T>, text: &str) -> Result<T> {
    parse(text)
        .ok_or_else(|| CoreError::Store(format!("outbox state {text:?} is not one of wharf's")))
}

#[async_trait::async_trait]
impl Outbox for PgStore {
    async fn put_endpoint(&self, e: &EndpointRow) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::PUT_ENDPOINT).await?;
        c.execute(
            &stmt,
            &[
                &e.partner,
                &e.env.as_str(),
                &e.iface,
                &e.url,
                &e.auth,
                &e.auth_path,
                &e.client_id,
                &e.username,
                &e.sealed,
                &e.updated_unix,
            ],
        )
        .await?;
        Ok(())
    }

    async fn endpoint(
        &self,
        partner: &str,
        env: Environment,
        iface: &str,
    ) -> Result<Option<EndpointRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_endpoint()).await?;
        let row = c
            .query_opt(&stmt, &[&partner, &env.as_str(), &iface])
            .await?;
        Ok(row.as_ref().map(endpoint_row))
    }

    async fn endpoints(&self, partner: Option<&str>) -> Result<Vec<EndpointRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_endpoints()).await?;
        let rows = c.query(&stmt, &[&partner.unwrap_or("")]).await?;
        Ok(rows.iter().map(endpoint_row).collect())
    }

    async fn create_push(&self, p: &NewPush) -> Result<i64> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::CREATE_PUSH).await?;
        let row = c
            .query_one(
                &stmt,
                &[
                    &p.push_id,
                    &p.partner,
                    &p.env.as_str(),
                    &p.iface,
                    &p.operation,
                    &p.created_unix,
                    &p.traceparent,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn add_push_seqs(&self, pk: i64, seqs: &[(i64, i64, String)], now: i64) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let seq = tx.prepare_cached(sql::ADD_PUSH_SEQ).await?;
        let body = tx.prepare_cached(sql::ADD_PUSH_BODY).await?;
        for (seq_no, rows, data) in seqs {
            tx.execute(&seq, &[&pk, seq_no, rows, &now]).await?;
            tx.execute(&body, &[&pk, seq_no, data]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn seal_push(&self, pk: i64, rows: i64, seqs: i64, now: i64) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SEAL_PUSH).await?;
        c.execute(&stmt, &[&pk, &rows, &seqs, &now]).await?;
        Ok(())
    }

    async fn drop_push(&self, pk: i64) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(sql::DROP_PUSH_BODIES, &[&pk]).await?;
        tx.execute(sql::DROP_PUSH_SEQS, &[&pk]).await?;
        tx.execute(sql::DROP_PUSH, &[&pk]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge_unsealed(&self, before: i64) -> Result<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(sql::PURGE_UNSEALED_BODIES, &[&before]).await?;
        tx.execute(sql::PURGE_UNSEALED_SEQS, &[&before]).await?;
        let n = tx.execute(sql::PURGE_UNSEALED, &[&before]).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn claim_push(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        busy: &[String],
    ) -> Result<Option<PushRow>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // SKIP LOCKED: a push another replica is claiming right now is its business.
        let stmt = tx
            .prepare_cached(&format!(
                "{} FOR UPDATE OF p SKIP LOCKED",
                sql::select_due_pushes()
            ))
            .await?;
        let due = tx.query(&stmt, &[&now]).await?;
        let due = due.iter().map(push_row).collect::<Result<Vec<_>>>()?;
        let Some(p) = due.into_iter().find(|p| !busy.contains(&p.partner)) else {
            tx.commit().await?;
            return Ok(None);
        };
        tx.execute(sql::LEASE_PUSH, &[&p.pk, &owner, &lease_until])
            .await?;
        tx.commit().await?;
        Ok(Some(p))
    }

    async fn seq_bodies(&self, pk: i64, from_seq: i64, limit: i64) -> Result<Vec<SeqBody>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SEQ_BODIES).await?;
        let rows = c.query(&stmt, &[&pk, &from_seq, &limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(SeqBody {
                    seq_no: r.get(0),
                    rows: r.get(1),
                    // NULL when the body is missing: an error, not a panic.
                    data: r.try_get(2)?,
                    attempts: r.get(3),
                })
            })
            .collect()
    }

    async fn record_push(
        &self,
        pk: i64,
        owner: &str,
        updates: &[SeqUpdate],
        progress: &PushProgress,
        now: i64,
    ) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let held = tx
            .query_opt(&format!("{} FOR UPDATE", sql::HOLDS_LEASE), &[&pk, &owner])
            .await?;
        if held.is_none() {
            tx.commit().await?;
            return Ok(false);
        }
        let stmt = tx.prepare_cached(sql::UPDATE_SEQ).await?;
        // Pipelined: tokio-postgres sends every update before the first answer is back, so
        // recording 16 deliveries costs one round trip, not 16.
        let (tx_ref, stmt_ref) = (&tx, &stmt);
        futures_util::future::try_join_all(updates.iter().map(|u| async move {
            tx_ref
                .execute(
                    stmt_ref,
                    &[
                        &pk,
                        &u.seq_no,
                        &u.state.as_str(),
                        &u.attempts,
                        &u.http_status,
                        &u.code,
                        &u.msg,
                        &u.answer,
                        &now,
                    ],
                )
                .await
        }))
        .await?;
        let (lease_owner, lease_until) = match progress.lease_until {
            Some(until) => (owner, until),
            None => ("", 0),
        };
        tx.execute(
            sql::PROGRESS_PUSH,
            &[
                &pk,
                &progress.state.as_str(),
                &progress.next_seq,
                &progress.next_unix,
                &lease_owner,
                &lease_until,
                &now,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn clear_leases(&self) -> Result<()> {
        // Replicas share this database: a lease is only given back by its holder or by time.
        Ok(())
    }

    async fn push(&self, push_id: &str) -> Result<Option<PushRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_push()).await?;
        Ok(c.query_opt(&stmt, &[&push_id])
            .await?
            .as_ref()
            .map(push_row)
            .transpose()?)
    }

    async fn pushes(&self, f: &PushFilter) -> Result<Vec<PushRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_pushes()).await?;
        let rows = c
            .query(
                &stmt,
                &[
                    &f.partner.as_deref().unwrap_or(""),
                    &f.state.map_or("", |s| s.as_str()),
                    &i64::from(f.limit),
                ],
            )
            .await?;
        rows.iter().map(push_row).collect()
    }

    async fn push_seqs(&self, pk: i64) -> Result<Vec<SeqRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SELECT_SEQS).await?;
        let rows = c.query(&stmt, &[&pk]).await?;
        rows.iter()
            .map(|r| {
                Ok(SeqRow {
                    seq_no: r.get(0),
                    rows: r.get(1),
                    state: state(SeqState::parse, r.get(2))?,
                    attempts: r.get(3),
                    http_status: r.get(4),
                    code: r.get(5),
                    msg: r.get(6),
                    answer: r.get(7),
                })
            })
            .collect()
    }

    async fn retry_push(&self, pk: i64, now: i64) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx.execute(sql::RETRY_PUSH, &[&pk, &now]).await?;
        if n == 1 {
            tx.execute(sql::RETRY_SEQS, &[&pk, &now]).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c.query_one(sql::OUTBOX_DEPTH, &[]).await?.get(0);
        Ok(n as u64)
    }
}
