//! The change feed: every applied, executed and reverted batch, in commit order, as one event
//! with each record's change (insert, update or delete, its key and uid, the row after and,
//! for updates and deletes, the row before). Consumers read it page by page from a cursor
//! they keep: an event never comes twice and none is missed, across restarts, replicas and
//! concurrent writers (how the store numbers events: `store::feed`). A page holds at most a
//! number of row changes; a larger event continues on the next page (its `complete` says).
//! Events older than the retention are pruned; a cursor from before them is refused, so a
//! consumer knows it must start again from a query of the current records.

use base64::Engine;

use crate::error::{CoreError, Result};
use crate::query::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::service::Core;
use crate::store::feed::{ChangeRow, EventRow, FeedSelect};

/// Most events one page holds.
const MAX_EVENTS: u32 = 1000;

/// What to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangesQuery {
    /// The previous page's `next`; empty: from the first event kept.
    pub after: String,
    /// Row changes a page holds (0: [`DEFAULT_LIMIT`]).
    pub limit: u32,
    /// Only this interface (`data_category/biz_key`).
    pub interface: Option<String>,
    pub partner: Option<String>,
    /// `prod` or `uat`.
    pub env: Option<String>,
}

/// One record's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `insert`, `update` or `delete`.
    pub change: &'static str,
    /// The business key: a JSON array of the key fields' values.
    pub key: String,
    pub uid: Option<String>,
    /// The row (a JSON object) after the change; `None` for a delete.
    pub after: Option<String>,
    /// The row before; `None` for an insert.
    pub before: Option<String>,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub position: i64,
    /// `applied`, `executed` or `reverted`.
    pub kind: String,
    pub partner: String,
    pub env: String,
    pub interface: String,
    pub batch_id: String,
    pub operation: String,
    /// `api`, `ftp` or `excel`: the door its first sequence came through.
    pub door: String,
    pub at_unix: i64,
    /// Its changes on this page, in key order.
    pub changes: Vec<Change>,
    /// Whether its last change is on this page.
    pub complete: bool,
}

/// One page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesPage {
    pub events: Vec<Event>,
    /// Where the next page starts: keep it and send it as `after`. Always set (an empty page
    /// gives back where it stood).
    pub next: String,
}

impl Core {
    /// A page of the change feed as consumer `name` may read it (the interfaces it was
    /// given). `Invalid` for a cursor this API did not give or a limit over [`MAX_LIMIT`];
    /// `Precondition` for a cursor from before the events kept (pruned by the retention).
    pub async fn read_changes(&self, name: &str, q: &ChangesQuery) -> Result<ChangesPage> {
        let consumer = self.active_consumer(name).await?;
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(CoreError::Invalid(format!(
                    "limit: at most {MAX_LIMIT} changes a page"
                )))
            }
            n => n,
        };
        let readable: Vec<String> = self
            .registry()
            .all()
            .map(|i| i.id())
            .filter(|id| consumer.reads(id))
            .collect();
        let ifaces = match &q.interface {
            Some(i) if readable.contains(i) => vec![i.clone()],
            Some(i) => return Err(CoreError::NotFound(format!("interface {i}"))),
            None => readable,
        };
        if let Some(env) = q.env.as_deref() {
            if env != "prod" && env != "uat" {
                return Err(CoreError::Invalid("environment: prod or uat".into()));
            }
        }
        let (after_pos, after_key) = match q.after.as_str() {
            "" => (0, None),
            c => decode_cursor(c)?,
        };
        let select = FeedSelect {
            after_pos,
            after_key: after_key.clone(),
            ifaces: Some(ifaces),
            partner: q.partner.clone(),
            env: q.env.clone(),
            max_events: MAX_EVENTS,
            max_rows: limit,
        };
        let page = self.store.feed().read_feed(&select).await?;
        if after_pos < page.pruned {
            return Err(CoreError::Precondition(format!(
                "the cursor is older than the feed keeps (events up to {} were removed by the \
                 retention): read the current records, then follow the feed from its start",
                page.pruned
            )));
        }
        let mut next = (after_pos, after_key);
        let mut events = Vec::with_capacity(page.events.len());
        for (e, rows, complete) in page.events {
            next = match (complete, rows.last()) {
                (false, Some(last)) => (e.pos, Some(last.rkey.clone())),
                _ => (e.pos, None),
            };
            events.push(event(e, rows, complete));
        }
        Ok(ChangesPage {
            events,
            next: encode_cursor(next.0, next.1.as_deref()),
        })
    }

    /// Remove events older than the retention (housekeeping); how many.
    pub(crate) async fn prune_feed(&self, now: i64) -> Result<u64> {
        self.store
            .feed()
            .prune_feed(now.saturating_sub(self.settings().feed_retention_secs))
            .await
    }
}

fn event(e: EventRow, rows: Vec<ChangeRow>, complete: bool) -> Event {
    Event {
        position: e.pos,
        kind: e.kind,
        partner: e.partner,
        env: e.env,
        interface: e.iface,
        batch_id: e.batch_id,
        operation: e.op,
        door: e.batch_source,
        at_unix: e.at_unix,
        changes: rows.into_iter().map(change).collect(),
        complete,
    }
}

fn change(r: ChangeRow) -> Change {
    let kind = match (&r.before, &r.after) {
        (None, _) => "insert",
        (_, None) => "delete",
        _ => "update",
    };
    Change {
        change: kind,
        key: r.rkey,
        uid: r.uid,
        after: r.after,
        before: r.before,
    }
}

/// A cursor: the last event read, and the last key read of it when it continues.
fn encode_cursor(pos: i64, key: Option<&str>) -> String {
    let json = serde_json::json!([pos, key]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str) -> Result<(i64, Option<String>)> {
    let bad = || CoreError::Invalid("after: not a cursor of the change feed".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let (pos, key): (i64, Option<String>) = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if pos < 0 {
        return Err(bad());
    }
    Ok((pos, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        for (pos, key) in [(0, None), (7, Some(r#"["a","b"]"#))] {
            let c = encode_cursor(pos, key);
            assert_eq!(
                decode_cursor(&c).expect("ours"),
                (pos, key.map(str::to_string))
            );
        }
        let records_cursor =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"["P","[\"k\"]"]"#);
        for bad in ["x", "%%", &records_cursor, &encode_cursor(-1, None)] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_is_told_by_its_images() {
        let row = |before: Option<&str>, after: Option<&str>| ChangeRow {
            rkey: "[\"k\"]".into(),
            uid: None,
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        };
        assert_eq!(change(row(None, Some("{}"))).change, "insert");
        assert_eq!(change(row(Some("{}"), Some("{}"))).change, "update");
        assert_eq!(change(row(Some("{}"), None)).change, "delete");
    }
}
