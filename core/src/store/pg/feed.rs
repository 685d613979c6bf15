//! The change feed on PostgreSQL (SQL in `store::feed`).

use tokio_postgres::types::ToSql;

use super::{PgStore, PgTx};
use crate::error::Result;
use crate::store::feed::{
    self as sql, ChangeRow, EventRow, FeedLog, FeedPage, FeedParam, FeedSelect, Kind, Pending,
};

/// `{BYTES}` on PostgreSQL.
fn bytes(q: &str) -> String {
    q.replace("{BYTES}", "COLLATE \"C\"")
}

fn change_row(r: &tokio_postgres::Row) -> ChangeRow {
    ChangeRow {
        rkey: r.get(0),
        uid: r.get(1),
        after: r.get(2),
        before: r.get(3),
    }
}

impl PgTx {
    /// Number event `e` and record it: the head stays locked until this transaction ends, so
    /// events commit in the order of their numbers.
    pub(super) async fn append_event(&self, e: &Pending) -> Result<i64> {
        let c = self.c()?;
        let bump = c.prepare_cached(sql::BUMP).await?;
        let pos: i64 = c.query_one(&bump, &[]).await?.get(0);
        let append = c.prepare_cached(sql::APPEND).await?;
        c.execute(
            &append,
            &[
                &pos,
                &e.kind.as_str(),
                &e.batch_pk,
                &e.partner,
                &e.env,
                &e.iface,
                &e.at_unix,
            ],
        )
        .await?;
        Ok(pos)
    }
}

#[async_trait::async_trait]
impl FeedLog for PgStore {
    async fn read_feed(&self, s: &FeedSelect) -> Result<FeedPage> {
        let mut conn = self.pool.get().await?;
        // One snapshot: the head (what was pruned) and the page agree.
        let c = conn
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let head = c.query_one(sql::HEAD, &[]).await?;
        let mut page = FeedPage {
            pruned: head.get(0),
            head: head.get(1),
            events: Vec::new(),
        };
        let (text, params) = sql::select_events(s);
        let params: Vec<Box<dyn ToSql + Sync + Send>> = params
            .into_iter()
            .map(|p| -> Box<dyn ToSql + Sync + Send> {
                match p {
                    FeedParam::Int(i) => Box::new(i),
                    FeedParam::Text(t) => Box::new(t),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let stmt = c.prepare_cached(&text).await?;
        let events: Vec<EventRow> = c
            .query(&stmt, &refs)
            .await?
            .iter()
            .map(|r| EventRow {
                pos: r.get(0),
                kind: r.get(1),
                batch_pk: r.get(2),
                partner: r.get(3),
                env: r.get(4),
                iface: r.get(5),
                at_unix: r.get(6),
                batch_id: r.get(7),
                op: r.get(8),
                batch_source: r.get(9),
            })
            .collect();
        let applied = c.prepare_cached(&bytes(sql::APPLIED_ROWS)).await?;
        let reverted = c.prepare_cached(sql::REVERTED_ROWS).await?;
        let mut room = i64::from(s.max_rows);
        for e in events {
            let past = sql::start_key(s, &e);
            let ask = room + 1;
            let rows = if e.kind == Kind::Reverted.as_str() {
                c.query(&reverted, &[&e.batch_pk, &past, &ask]).await?
            } else {
                c.query(&applied, &[&e.batch_pk, &e.op, &past, &ask])
                    .await?
            };
            let changes = rows.iter().map(change_row).collect();
            if !sql::add_event(&mut page, e, changes, &mut room) {
                break;
            }
        }
        c.commit().await?;
        Ok(page)
    }

    async fn prune_feed(&self, before_unix: i64) -> Result<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(sql::PRUNE_MARK, &[&before_unix]).await?;
        let n = tx.execute(sql::PRUNE, &[&before_unix]).await?;
        tx.commit().await?;
        Ok(n)
    }
}
