//! The audit trail on SQLite (SQL in `store::audit`).

use rusqlite::{params, Connection};

use super::{SqliteStore, SqliteTx};
use crate::error::Result;
use crate::store::audit::{self as sql, AuditLog, AuditQuery, AuditRow};
use crate::store::sql::for_sqlite;

fn insert(c: &Connection, r: &AuditRow) -> rusqlite::Result<()> {
    c.prepare_cached(&for_sqlite(sql::INSERT))?
        .execute(params![
            r.at_unix, r.kind, r.action, r.actor, r.door, r.addr, r.partner, r.user, r.detail
        ])?;
    Ok(())
}

/// A record as `store::audit::RETURNING` gives it back.
pub(super) fn returned(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        at_unix: r.get(0)?,
        kind: r.get(1)?,
        action: r.get(2)?,
        actor: r.get(3)?,
        door: r.get(4)?,
        addr: r.get(5)?,
        partner: r.get(6)?,
        user: r.get(7)?,
        detail: r.get(8)?,
    })
}

impl SqliteTx {
    /// Append `row` inside this transaction: it lands if and only if the transaction does.
    pub(super) fn append_audit(&self, row: &AuditRow) -> Result<()> {
        Ok(insert(&self.conn, row)?)
    }
}

#[async_trait::async_trait]
impl AuditLog for SqliteStore {
    async fn append(&self, row: &AuditRow) -> Result<()> {
        self.with(|c| insert(c, row)).await
    }

    async fn read(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditRow)>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(sql::SELECT))?;
            let rows = stmt.query_map(
                params![
                    q.after_id,
                    q.since_unix,
                    q.until_unix,
                    q.partner,
                    q.user,
                    q.kind,
                    q.limit
                ],
                |r| {
                    Ok((
                        r.get(0)?,
                        AuditRow {
                            at_unix: r.get(1)?,
                            kind: r.get(2)?,
                            action: r.get(3)?,
                            actor: r.get(4)?,
                            door: r.get(5)?,
                            addr: r.get(6)?,
                            partner: r.get(7)?,
                            user: r.get(8)?,
                            detail: r.get(9)?,
                        },
                    ))
                },
            )?;
            rows.collect()
        })
        .await
    }

    async fn prune(&self, before_unix: i64) -> Result<u64> {
        self.with(|c| c.execute(&for_sqlite(sql::PRUNE), params![before_unix]))
            .await
            .map(|n| n as u64)
    }
}
