//! The outbox on SQLite (SQL in `store::outbox`). One writer at a time: a claim under
//! `BEGIN IMMEDIATE` cannot race another.

use rusqlite::{params, Connection, OptionalExtension};

use super::{blocking, SqliteStore};
use crate::error::Result;
use crate::model::{Environment, PushState, SeqState};
use crate::store::outbox::{self as sql, *};
use crate::store::sql::for_sqlite;

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        partner: r.get(0)?,
        env: Environment::parse(&r.get::<_, String>(1)?).unwrap_or(Environment::Prod),
        iface: r.get(2)?,
        url: r.get(3)?,
        auth: r.get(4)?,
        auth_path: r.get(5)?,
        client_id: r.get(6)?,
        username: r.get(7)?,
        sealed: r.get(8)?,
        updated_unix: r.get(9)?,
    })
}

fn push_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PushRow> {
    Ok(PushRow {
        pk: r.get(0)?,
        push_id: r.get(1)?,
        partner: r.get(2)?,
        env: Environment::parse(&r.get::<_, String>(3)?).unwrap_or(Environment::Prod),
        iface: r.get(4)?,
        operation: r.get(5)?,
        rows: r.get(6)?,
        seqs: r.get(7)?,
        state: state(PushState::parse, 8, r)?,
        next_seq: r.get(9)?,
        next_unix: r.get(10)?,
        created_unix: r.get(11)?,
        updated_unix: r.get(12)?,
        traceparent: r.get(13)?,
    })
}

/// A state column read back: text wharf never writes is a conversion error.
fn state<T>(parse: fn(&str) -> Option<T>, at: usize, r: &rusqlite::Row<'_>) -> rusqlite::Result<T> {
    let text: String = r.get(at)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            at,
            rusqlite::types::Type::Text,
            format!("outbox state {text:?} is not one of wharf's").into(),
        )
    })
}

/// Run `f` in one `BEGIN IMMEDIATE` transaction.
fn in_tx<T>(c: &mut Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

impl SqliteStore {
    async fn tx<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().await;
        blocking(|| in_tx(&mut conn, f))
    }
}

#[async_trait::async_trait]
impl Outbox for SqliteStore {
    async fn put_endpoint(&self, e: &EndpointRow) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::PUT_ENDPOINT))?
                .execute(params![
                    e.partner,
                    e.env.as_str(),
                    e.iface,
                    e.url,
                    e.auth,
                    e.auth_path,
                    e.client_id,
                    e.username,
                    e.sealed,
                    e.updated_unix
                ])
        })
        .await?;
        Ok(())
    }

    async fn endpoint(
        &self,
        partner: &str,
        env: Environment,
        iface: &str,
    ) -> Result<Option<EndpointRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_endpoint()))?
                .query_row(params![partner, env.as_str(), iface], endpoint_row)
                .optional()
        })
        .await
    }

    async fn endpoints(&self, partner: Option<&str>) -> Result<Vec<EndpointRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(&sql::select_endpoints()))?;
            let rows = stmt.query_map([partner.unwrap_or("")], endpoint_row)?;
            rows.collect()
        })
        .await
    }

    async fn create_push(&self, p: &NewPush) -> Result<i64> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::CREATE_PUSH))?.query_row(
                params![
                    p.push_id,
                    p.partner,
                    p.env.as_str(),
                    p.iface,
                    p.operation,
                    p.created_unix,
                    p.traceparent
                ],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn add_push_seqs(&self, pk: i64, seqs: &[(i64, i64, String)], now: i64) -> Result<()> {
        self.tx(|c| {
            let mut seq = c.prepare_cached(&for_sqlite(sql::ADD_PUSH_SEQ))?;
            let mut body = c.prepare_cached(&for_sqlite(sql::ADD_PUSH_BODY))?;
            for (seq_no, rows, data) in seqs {
                seq.execute(params![pk, seq_no, rows, now])?;
                body.execute(params![pk, seq_no, data])?;
            }
            Ok(())
        })
        .await
    }

    async fn seal_push(&self, pk: i64, rows: i64, seqs: i64, now: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::SEAL_PUSH))?
                .execute(params![pk, rows, seqs, now])
        })
        .await?;
        Ok(())
    }

    async fn drop_push(&self, pk: i64) -> Result<()> {
        self.tx(|c| {
            c.execute(&for_sqlite(sql::DROP_PUSH_BODIES), [pk])?;
            c.execute(&for_sqlite(sql::DROP_PUSH_SEQS), [pk])?;
            c.execute(&for_sqlite(sql::DROP_PUSH), [pk])?;
            Ok(())
        })
        .await
    }

    async fn purge_unsealed(&self, before: i64) -> Result<u64> {
        self.tx(|c| {
            c.execute(&for_sqlite(sql::PURGE_UNSEALED_BODIES), [before])?;
            c.execute(&for_sqlite(sql::PURGE_UNSEALED_SEQS), [before])?;
            c.execute(&for_sqlite(sql::PURGE_UNSEALED), [before])
        })
        .await
        .map(|n| n as u64)
    }

    async fn claim_push(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        busy: &[String],
    ) -> Result<Option<PushRow>> {
        self.tx(|c| {
            let due: Vec<PushRow> = c
                .prepare_cached(&for_sqlite(&sql::select_due_pushes()))?
                .query_map([now], push_row)?
                .collect::<rusqlite::Result<_>>()?;
            let Some(p) = due.into_iter().find(|p| !busy.contains(&p.partner)) else {
                return Ok(None);
            };
            c.prepare_cached(&for_sqlite(sql::LEASE_PUSH))?
                .execute(params![p.pk, owner, lease_until])?;
            Ok(Some(p))
        })
        .await
    }

    async fn seq_bodies(&self, pk: i64, from_seq: i64, limit: i64) -> Result<Vec<SeqBody>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(sql::SEQ_BODIES))?;
            let rows = stmt.query_map(params![pk, from_seq, limit], |r| {
                Ok(SeqBody {
                    seq_no: r.get(0)?,
                    rows: r.get(1)?,
                    data: r.get(2)?,
                    attempts: r.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn record_push(
        &self,
        pk: i64,
        owner: &str,
        updates: &[SeqUpdate],
        progress: &PushProgress,
        now: i64,
    ) -> Result<bool> {
        self.tx(|c| {
            let held = c
                .prepare_cached(&for_sqlite(sql::HOLDS_LEASE))?
                .query_row(params![pk, owner], |r| r.get::<_, i64>(0))
                .optional()?;
            if held.is_none() {
                return Ok(false);
            }
            let mut stmt = c.prepare_cached(&for_sqlite(sql::UPDATE_SEQ))?;
            for u in updates {
                stmt.execute(params![
                    pk,
                    u.seq_no,
                    u.state.as_str(),
                    u.attempts,
                    u.http_status,
                    u.code,
                    u.msg,
                    u.answer,
                    now
                ])?;
            }
            let (lease_owner, lease_until) = match progress.lease_until {
                Some(until) => (owner, until),
                None => ("", 0),
            };
            c.prepare_cached(&for_sqlite(sql::PROGRESS_PUSH))?
                .execute(params![
                    pk,
                    progress.state.as_str(),
                    progress.next_seq,
                    progress.next_unix,
                    lease_owner,
                    lease_until,
                    now
                ])?;
            Ok(true)
        })
        .await
    }

    async fn clear_leases(&self) -> Result<()> {
        self.with(|c| c.execute(sql::CLEAR_LEASES, [])).await?;
        Ok(())
    }

    async fn push(&self, push_id: &str) -> Result<Option<PushRow>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_push()))?
                .query_row([push_id], push_row)
                .optional()
        })
        .await
    }

    async fn pushes(&self, f: &PushFilter) -> Result<Vec<PushRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(&sql::select_pushes()))?;
            let rows = stmt.query_map(
                params![
                    f.partner.as_deref().unwrap_or(""),
                    f.state.map_or("", |s| s.as_str()),
                    f.limit
                ],
                push_row,
            )?;
            rows.collect()
        })
        .await
    }

    async fn push_seqs(&self, pk: i64) -> Result<Vec<SeqRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(sql::SELECT_SEQS))?;
            let rows = stmt.query_map([pk], |r| {
                Ok(SeqRow {
                    seq_no: r.get(0)?,
                    rows: r.get(1)?,
                    state: state(SeqState::parse, 2, r)?,
                    attempts: r.get(3)?,
                    http_status: r.get(4)?,
                    code: r.get(5)?,
                    msg: r.get(6)?,
                    answer: r.get(7)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn retry_push(&self, pk: i64, now: i64) -> Result<bool> {
        self.tx(|c| {
            let n = c.execute(&for_sqlite(sql::RETRY_PUSH), params![pk, now])?;
            if n == 1 {
                c.execute(&for_sqlite(sql::RETRY_SEQS), params![pk, now])?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let n: i64 = self
            .with(|c| c.query_row(sql::OUTBOX_DEPTH, [], |r| r.get(0)))
            .await?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A version-5 outbox (bodies inside `push_seqs`) reads the same after migration 6.
    #[tokio::test]
    async fn migration_6_moves_the_bodies_and_keeps_the_state() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::migrate_to(&mut c, 5).unwrap();
        c.execute_batch(
            r#"INSERT INTO pushes (push_id, partner, env, iface, operation, row_count, seq_count,
                 state, next_seq, created_unix, updated_unix)
               VALUES ('ABCDEF0123456789', 'P', 'prod', 't1/bom', 'insert', 3, 2, 'pending', 2, 1, 1);
               INSERT INTO push_seqs (push_pk, seq_no, row_count, data, state, attempts,
                 http_status, code, updated_unix)
               VALUES (1, 1, 2, '[{"A":"1"},{"A":"2"}]', 'delivered', 1, 200, '0', 1),
                      (1, 2, 1, '[{"A":"3"}]', 'pending', 2, 500, '-1', 1);"#,
        )
        .unwrap();
        super::super::migrate_to(&mut c, i64::MAX).unwrap();
        let store = SqliteStore {
            conn: Arc::new(tokio::sync::Mutex::new(c)),
        };
        let bodies = store.seq_bodies(1, 1, 10).await.unwrap();
        let got: Vec<_> = bodies
            .iter()
            .map(|b| (b.seq_no, b.rows, b.data.as_str(), b.attempts))
            .collect();
        assert_eq!(
            got,
            [
                (1, 2, r#"[{"A":"1"},{"A":"2"}]"#, 1),
                (2, 1, r#"[{"A":"3"}]"#, 2)
            ]
        );
        let seqs = store.push_seqs(1).await.unwrap();
        let got: Vec<_> = seqs
            .iter()
            .map(|s| (s.seq_no, s.state.as_str(), s.http_status, s.code.as_str()))
            .collect();
        assert_eq!(got, [(1, "delivered", 200, "0"), (2, "pending", 500, "-1")]);
        // A dropped push takes its bodies along.
        store.drop_push(1).await.unwrap();
        let left: i64 = store
            .with(|c| c.query_row("SELECT COUNT(*) FROM push_bodies", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
