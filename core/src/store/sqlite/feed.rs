//! The change feed on SQLite (SQL in `store::feed`). SQLite has one writer at a time, so
//! events are numbered in commit order by construction; the statements are the same.

use rusqlite::{params, params_from_iter, Connection};

use super::{SqliteStore, SqliteTx};
use crate::error::Result;
use crate::store::feed::{
    self as sql, ChangeRow, EventRow, FeedLog, FeedPage, FeedParam, FeedSelect, Kind, Pending,
};
use crate::store::sql::for_sqlite;

/// `{BYTES}` and the placeholders on SQLite.
fn sqlite(q: &str) -> String {
    for_sqlite(&q.replace("{BYTES}", "COLLATE BINARY"))
}

fn change_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
    Ok(ChangeRow {
        rkey: r.get(0)?,
        uid: r.get(1)?,
        after: r.get(2)?,
        before: r.get(3)?,
    })
}

impl rusqlite::ToSql for FeedParam {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            FeedParam::Int(i) => i.to_sql(),
            FeedParam::Text(t) => t.to_sql(),
        }
    }
}

fn read(c: &Connection, s: &FeedSelect) -> rusqlite::Result<FeedPage> {
    let (pruned, head) = c
        .prepare_cached(sql::HEAD)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut page = FeedPage {
        pruned,
        head,
        events: Vec::new(),
    };
    let (text, params) = sql::select_events(s);
    let events: Vec<EventRow> = c
        .prepare_cached(&sqlite(&text))?
        .query_map(params_from_iter(params.iter()), |r| {
            Ok(EventRow {
                pos: r.get(0)?,
                kind: r.get(1)?,
                batch_pk: r.get(2)?,
                partner: r.get(3)?,
                env: r.get(4)?,
                iface: r.get(5)?,
                at_unix: r.get(6)?,
                batch_id: r.get(7)?,
                op: r.get(8)?,
                batch_source: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut room = i64::from(s.max_rows);
    for e in events {
        let past = sql::start_key(s, &e);
        let ask = room + 1;
        let changes: Vec<ChangeRow> = if e.kind == Kind::Reverted.as_str() {
            c.prepare_cached(&sqlite(sql::REVERTED_ROWS))?
                .query_map(params![e.batch_pk, past, ask], change_row)?
                .collect::<rusqlite::Result<_>>()?
        } else {
            c.prepare_cached(&sqlite(sql::APPLIED_ROWS))?
                .query_map(params![e.batch_pk, e.op, past, ask], change_row)?
                .collect::<rusqlite::Result<_>>()?
        };
        if !sql::add_event(&mut page, e, changes, &mut room) {
            break;
        }
    }
    Ok(page)
}

impl SqliteTx {
    /// Number event `e` and record it, inside this transaction.
    pub(super) fn append_event(&self, e: &Pending) -> Result<i64> {
        let c = &*self.conn;
        let pos: i64 = c.prepare_cached(sql::BUMP)?.query_row([], |r| r.get(0))?;
        c.prepare_cached(&for_sqlite(sql::APPEND))?
            .execute(params![
                pos,
                e.kind.as_str(),
                e.batch_pk,
                e.partner,
                e.env,
                e.iface,
                e.at_unix
            ])?;
        Ok(pos)
    }
}

#[async_trait::async_trait]
impl FeedLog for SqliteStore {
    async fn read_feed(&self, s: &FeedSelect) -> Result<FeedPage> {
        // One read transaction: the head and the page are one snapshot.
        self.with(|c| {
            c.execute_batch("BEGIN")?;
            match read(c, s) {
                Ok(page) => {
                    c.execute_batch("COMMIT")?;
                    Ok(page)
                }
                Err(e) => {
                    let _ = c.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })
        .await
    }

    async fn prune_feed(&self, before_unix: i64) -> Result<u64> {
        self.with(|c| {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let done = c
                .prepare_cached(&for_sqlite(sql::PRUNE_MARK))?
                .execute([before_unix])
                .and_then(|_| {
                    c.prepare_cached(&for_sqlite(sql::PRUNE))?
                        .execute([before_unix])
                });
            match done {
                Ok(n) => {
                    c.execute_batch("COMMIT")?;
                    Ok(n as u64)
                }
                Err(e) => {
                    let _ = c.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })
        .await
    }
}
