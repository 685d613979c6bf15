//! The audit trail on PostgreSQL (SQL in `store::audit`).

use tokio_postgres::types::ToSql;

use super::{PgStore, PgTx};
use crate::error::Result;
use crate::store::audit::{self as sql, AuditLog, AuditQuery, AuditRow};

/// [`crate::store::sql::EXPIRE_BATCHES`] and its `batch.expired` records in one statement
/// (`$1` cut-off, `$2` now): the batches it expires are exactly the ones recorded. The count
/// of rows it inserts is the count of batches expired.
pub(super) const EXPIRE_RECORDED: &str = concat!(
    "WITH e AS (UPDATE batches SET state = 'expired', updated_unix = $2 WHERE ",
    crate::store::expiry::expiring!(),
    " RETURNING partner, creator, batch_id, env, iface) \
    INSERT INTO audit (at_unix, kind, action, actor, door, addr, partner, username, detail) \
    SELECT $2, 'batch', 'batch.expired', 'core', 'core', '', partner, creator, \
    json_build_object('batch_id', batch_id, 'environment', env, 'interface', iface, \
    'state', 'expired')::text FROM e"
);

/// The insert's parameters, in `sql::INSERT`'s order.
fn params(r: &AuditRow) -> [&(dyn ToSql + Sync); 9] {
    [
        &r.at_unix, &r.kind, &r.action, &r.actor, &r.door, &r.addr, &r.partner, &r.user, &r.detail,
    ]
}

/// A record as `store::audit::RETURNING` gives it back.
pub(super) fn returned(r: &tokio_postgres::Row) -> AuditRow {
    AuditRow {
        at_unix: r.get(0),
        kind: r.get(1),
        action: r.get(2),
        actor: r.get(3),
        door: r.get(4),
        addr: r.get(5),
        partner: r.get(6),
        user: r.get(7),
        detail: r.get(8),
    }
}

impl PgTx {
    /// Append `row` inside this transaction: it lands if and only if the transaction does.
    pub(super) async fn append_audit(&self, row: &AuditRow) -> Result<()> {
        let c = self.c()?;
        let stmt = c.prepare_cached(sql::INSERT).await?;
        c.execute(&stmt, &params(row)).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl AuditLog for PgStore {
    async fn append(&self, row: &AuditRow) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::INSERT).await?;
        c.execute(&stmt, &params(row)).await?;
        Ok(())
    }

    async fn read(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditRow)>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SELECT).await?;
        let rows = c
            .query(
                &stmt,
                &[
                    &q.after_id,
                    &q.since_unix,
                    &q.until_unix,
                    &q.partner,
                    &q.user,
                    &q.kind,
                    &q.limit,
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    AuditRow {
                        at_unix: r.get(1),
                        kind: r.get(2),
                        action: r.get(3),
                        actor: r.get(4),
                        door: r.get(5),
                        addr: r.get(6),
                        partner: r.get(7),
                        user: r.get(8),
                        detail: r.get(9),
                    },
                )
            })
            .collect())
    }

    async fn prune(&self, before_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::PRUNE, &[&before_unix]).await?)
    }
}
