//! Consumers' webhooks as stored (migration 19): `webhooks`, one row per subscription (a
//! consumer's URL, the event types it asked for, its signing secret sealed with
//! `WHARF_SECRET_KEY`, the previous one while a rotation's grace lasts, active or disabled,
//! and the lease of the dispatcher delivering to it), and `webhook_deliveries`, one row per
//! event and subscription, written in the transaction that records the event, delivered in
//! `id` order per subscription; the ids are given under a lock held until the commit
//! (`LOCK_HEAD`), so `id` order is commit order. The SQL is written here once; both backends run it verbatim
//! (`$n` placeholders).

use async_trait::async_trait;

use crate::error::Result;
use crate::store::audit::AuditRow;

/// Migration 19. `events` is the comma-framed list of event types (`,batch.applied,…,`),
/// so one `replace` tells whether a type is in it on both backends.
pub const MIGRATION: &str = "CREATE TABLE webhooks (id {PK}, consumer TEXT NOT NULL, \
    url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, prev_secret TEXT, \
    prev_until_unix BIGINT, state TEXT NOT NULL, disabled_reason TEXT, \
    disabled_unix BIGINT, created_unix BIGINT NOT NULL, lease_owner TEXT, \
    lease_until BIGINT); \
    CREATE TABLE webhook_deliveries (id {PK}, hook_id BIGINT NOT NULL, msg_id TEXT NOT NULL, \
    kind TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL, \
    next_unix BIGINT NOT NULL, last_status BIGINT, last_error TEXT, created_unix BIGINT NOT NULL, \
    done_unix BIGINT); \
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (hook_id, state, id); \
    CREATE TABLE webhook_head (one BIGINT PRIMARY KEY, n BIGINT NOT NULL); \
    INSERT INTO webhook_head (one, n) VALUES (1, 0);";

/// Taken at commit, before a transaction's deliveries are written, when any subscription is
/// active (0 rows: none is, nothing to write): the head's row lock is held until the
/// commit, so delivery ids are given in commit order and a dispatcher never sees a later
/// event of a subscription before an earlier one has committed. Taken before the change
/// feed's head, never after it.
pub const LOCK_HEAD: &str = "UPDATE webhook_head SET n = n + 1 WHERE one = 1 \
    AND EXISTS (SELECT 1 FROM webhooks WHERE state = 'active')";

/// The event types a consumer may subscribe to: the audit trail's action names.
pub const EVENT_TYPES: &[&str] = &[
    "batch.applied",
    "batch.executed",
    "batch.failed",
    "batch.reverted",
    "batch.held",
    "batch.cancelled",
    "batch.expired",
    "file.delivered",
];

/// `$1` consumer, `$2` url, `$3` events, `$4` sealed secret, `$5` now.
pub const INSERT: &str = "INSERT INTO webhooks (consumer, url, events, secret, state, \
    created_unix) VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id";

const COLUMNS: &str = "id, consumer, url, events, secret, prev_secret, prev_until_unix, state, \
    disabled_reason, disabled_unix, created_unix, \
    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.hook_id = webhooks.id \
      AND d.state = 'pending'), \
    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.hook_id = webhooks.id \
      AND d.state = 'delivered'), \
    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.hook_id = webhooks.id \
      AND d.state = 'failed')";

/// Every subscription, by id.
pub fn select_all() -> String {
    format!("SELECT {COLUMNS} FROM webhooks ORDER BY id")
}

/// `$1` id.
pub fn select_one() -> String {
    format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1")
}

/// `$1` id, `$2` the new sealed secret, `$3` the previous one (or NULL), `$4` its end.
pub const ROTATE: &str = "UPDATE webhooks SET secret = $2, prev_secret = $3, \
    prev_until_unix = $4 WHERE id = $1";

/// `$1` id.
pub const DELETE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE hook_id = $1";
pub const DELETE: &str = "DELETE FROM webhooks WHERE id = $1";

/// `$1` id, `$2` now, `$3` why. Its lease goes with it.
pub const DISABLE: &str = "UPDATE webhooks SET state = 'disabled', disabled_unix = $2, \
    disabled_reason = $3, lease_owner = NULL, lease_until = NULL WHERE id = $1";

/// One delivery per active subscription that asked for the event's type, of a consumer not
/// revoked that may read its interface: `$1` msg id, `$2` type, `$3` body, `$4` now, `$5`
/// the interface (`''` for none).
pub const ENQUEUE: &str = "INSERT INTO webhook_deliveries (hook_id, msg_id, kind, body, state, \
    attempts, next_unix, created_unix) \
    SELECT h.id, CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), 'pending', 0, \
      CAST($4 AS BIGINT), CAST($4 AS BIGINT) FROM webhooks h \
    JOIN principals p ON p.name = h.consumer AND p.kind = 'consumer' \
      AND p.revoked_unix IS NULL \
    WHERE h.state = 'active' \
      AND replace(h.events, ',' || CAST($2 AS TEXT) || ',', '') <> h.events \
      AND (p.reads = '*' \
        OR replace(',' || p.reads || ',', ',' || CAST($5 AS TEXT) || ',', '') \
          <> ',' || p.reads || ',') \
    ORDER BY h.id";

/// The first pending delivery of each active subscription nobody holds, when it is due
/// (`$1` now), oldest first: a later event waits for the earlier one. PostgreSQL adds
/// `FOR UPDATE OF h SKIP LOCKED`.
pub const SELECT_DUE: &str = "SELECT d.id, d.hook_id, d.msg_id, d.kind, d.body, d.attempts, \
    h.url, h.consumer, h.secret, h.prev_secret, h.prev_until_unix \
    FROM webhook_deliveries d JOIN webhooks h ON h.id = d.hook_id \
    WHERE h.state = 'active' AND (h.lease_until IS NULL OR h.lease_until < $1) \
      AND d.state = 'pending' AND d.next_unix <= $1 \
      AND d.id = (SELECT MIN(x.id) FROM webhook_deliveries x \
        WHERE x.hook_id = d.hook_id AND x.state = 'pending') \
    ORDER BY d.id LIMIT 1";

/// `$1` id, `$2` owner, `$3` until.
pub const LEASE: &str = "UPDATE webhooks SET lease_owner = $2, lease_until = $3 WHERE id = $1";

/// Record an attempt, only while `$8` holds its subscription: `$1` delivery id, `$2` state,
/// `$3` attempts, `$4` HTTP status, `$5` error, `$6` next due, `$7` done at.
pub const RECORD: &str = "UPDATE webhook_deliveries SET state = $2, attempts = $3, \
    last_status = $4, last_error = $5, next_unix = $6, done_unix = $7 WHERE id = $1 \
    AND EXISTS (SELECT 1 FROM webhooks h WHERE h.id = webhook_deliveries.hook_id \
      AND h.lease_owner = $8)";

/// `$1` id, `$2` owner.
pub const RELEASE: &str =
    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";

/// One process owns a SQLite file: leases left by a process that died are given back.
pub const CLEAR_LEASES: &str = "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL";

/// `$1`: deliveries finished before this go (housekeeping).
pub const PRUNE: &str =
    "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND done_unix < $1";

/// A new subscription.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub consumer: String,
    pub url: String,
    /// Comma-framed: `,batch.applied,file.delivered,`.
    pub events: String,
    pub sealed: String,
    pub created_unix: i64,
}

/// A subscription as stored (sealed secrets only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: i64,
    pub consumer: String,
    pub url: String,
    pub events: String,
    pub sealed: String,
    pub prev_sealed: Option<String>,
    pub prev_until_unix: Option<i64>,
    /// `active` or `disabled`.
    pub state: String,
    pub disabled_reason: Option<String>,
    pub disabled_unix: Option<i64>,
    pub created_unix: i64,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// A delivery claimed, with what signing and sending it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub hook_id: i64,
    pub msg_id: String,
    pub kind: String,
    pub body: String,
    pub attempts: i64,
    pub url: String,
    pub consumer: String,
    pub sealed: String,
    pub prev_sealed: Option<String>,
    pub prev_until_unix: Option<i64>,
}

/// An attempt's outcome as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub id: i64,
    /// `pending` (again later), `delivered` or `failed`.
    pub state: &'static str,
    pub attempts: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub next_unix: i64,
    pub done_unix: Option<i64>,
}

/// An event to deliver: the Standard Webhooks message id, its type, the JSON body signed
/// and sent, and the interface it is about (what a consumer must be allowed to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub msg_id: String,
    pub kind: String,
    pub body: String,
    pub iface: String,
    pub at_unix: i64,
}

impl Event {
    /// The event an audit record announces, when its action is one consumers may subscribe
    /// to: `{"type", "timestamp", "data": {partner, …the record's detail}}`. The detail never
    /// holds a secret (`audit::Entry`).
    pub fn from_audit(row: &AuditRow) -> Option<Event> {
        if !EVENT_TYPES.contains(&row.action.as_str()) {
            return None;
        }
        let detail: serde_json::Value =
            serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null);
        let mut data = serde_json::Map::new();
        data.insert("partner".into(), row.partner.clone().into());
        if let serde_json::Value::Object(d) = detail {
            data.extend(d);
        }
        let iface = data
            .get("interface")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let body = serde_json::json!({
            "type": row.action,
            "timestamp": wharf_proto::time::rfc3339(row.at_unix),
            "data": data,
        });
        Some(Event {
            msg_id: msg_id(),
            kind: row.action.clone(),
            body: body.to_string(),
            iface,
            at_unix: row.at_unix,
        })
    }
}

/// `msg_` and 128 random bits: unique per event, the same for every attempt.
fn msg_id() -> String {
    use rand::Rng;
    format!("msg_{:032x}", rand::thread_rng().gen::<u128>())
}

/// The store side of webhooks.
#[async_trait]
pub trait Webhooks: Send + Sync {
    async fn insert_webhook(&self, w: &NewWebhook) -> Result<i64>;
    async fn webhooks(&self) -> Result<Vec<WebhookRow>>;
    async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>>;
    /// Replace the secret, keeping `prev` (sealed) until `prev_until`; false: no such id.
    async fn rotate_webhook(
        &self,
        id: i64,
        sealed: &str,
        prev: Option<&str>,
        prev_until: Option<i64>,
    ) -> Result<bool>;
    /// The subscription and its deliveries; false: no such id.
    async fn remove_webhook(&self, id: i64) -> Result<bool>;
    async fn disable_webhook(&self, id: i64, reason: &str, now_unix: i64) -> Result<()>;
    /// The oldest due delivery of a subscription nobody holds, leased to `owner` until
    /// `until` (PostgreSQL: `SKIP LOCKED`, so two cores never take the same one).
    async fn claim_delivery(
        &self,
        now_unix: i64,
        owner: &str,
        until: i64,
    ) -> Result<Option<DueDelivery>>;
    /// Write an attempt while `owner` holds the subscription; false: the lease was lost.
    async fn record_attempt(&self, a: &Attempted, owner: &str) -> Result<bool>;
    async fn release_webhook(&self, hook_id: i64, owner: &str) -> Result<()>;
    /// SQLite: give back every lease at start (PostgreSQL: nothing, replicas share it).
    async fn clear_webhook_leases(&self) -> Result<()>;
    /// Drop finished deliveries older than `before_unix`; how many.
    async fn prune_deliveries(&self, before_unix: i64) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(action: &str) -> AuditRow {
        AuditRow {
            at_unix: 1_700_000_000,
            kind: "batch".into(),
            action: action.into(),
            actor: "core".into(),
            door: "core".into(),
            addr: String::new(),
            partner: "acme".into(),
            user: "u".into(),
            detail: r#"{"batch_id":"B1","interface":"t1/bom","state":"applied"}"#.into(),
        }
    }

    #[test]
    fn events_are_the_subscribable_actions_with_their_detail() {
        let e = Event::from_audit(&row("batch.applied")).unwrap();
        assert_eq!(e.kind, "batch.applied");
        assert_eq!(e.iface, "t1/bom");
        assert!(e.msg_id.starts_with("msg_") && e.msg_id.len() == 36);
        let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(body["type"], "batch.applied");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(body["data"]["partner"], "acme");
        assert_eq!(body["data"]["batch_id"], "B1");
        assert_ne!(
            Event::from_audit(&row("batch.applied")).unwrap().msg_id,
            e.msg_id
        );
        for other in ["batch.received", "batch.rejected", "batch.revert-failed"] {
            assert!(Event::from_audit(&row(other)).is_none(), "{other}");
        }
    }
}
