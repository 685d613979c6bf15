//! Consumers' webhooks (issue #22 item 4): a consumer registers a URL for batch events
//! (`store::webhooks::EVENT_TYPES`); each event is queued per matching subscription in the
//! transaction that records it (`batch::audit`, housekeeping's expiry, a file's answer) and
//! delivered by [`deliver`], signed the Standard Webhooks way ([`sign`]).
//!
//! Secrets are made here, printed once by the CLI and stored sealed with `WHARF_SECRET_KEY`
//! (`crate::secret`): without the key, webhooks are off. Every change is audited (kind
//! admin) before it is made, never with a secret.

pub mod deliver;
pub mod sign;

use serde::Serialize;

use crate::audit::{Entry, Kind, Origin};
use crate::error::{CoreError, Result};
use crate::model::Environment;
use crate::outbound::endpoint::check_url;
use crate::service::Core;
use crate::store::webhooks::{NewWebhook, WebhookRow, EVENT_TYPES};

/// How long a rotated-out secret keeps signing, unless told: a day.
pub const DEFAULT_GRACE_SECS: i64 = 24 * 3600;

/// A subscription as reported (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookInfo {
    pub id: i64,
    pub consumer: String,
    pub url: String,
    pub events: Vec<String>,
    /// `active` or `disabled`.
    pub state: String,
    /// Why it was disabled (`gone`: the receiver answered 410).
    pub disabled_reason: Option<String>,
    pub disabled_unix: Option<i64>,
    pub created_unix: i64,
    /// Until when the previous secret still signs, during a rotation.
    pub previous_secret_until_unix: Option<i64>,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

impl From<WebhookRow> for WebhookInfo {
    fn from(r: WebhookRow) -> Self {
        WebhookInfo {
            id: r.id,
            consumer: r.consumer,
            url: r.url,
            events: r
                .events
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            state: r.state,
            disabled_reason: r.disabled_reason,
            disabled_unix: r.disabled_unix,
            created_unix: r.created_unix,
            previous_secret_until_unix: r.prev_sealed.and(r.prev_until_unix),
            pending: r.pending,
            delivered: r.delivered,
            failed: r.failed,
        }
    }
}

/// The event types asked for, as stored (comma-framed). A type may be named in full
/// (`batch.applied`, `file.delivered`) or without `batch.` (`applied`); none means all.
pub fn parse_events(names: &[String]) -> Result<String> {
    if names.is_empty() {
        return Ok(format!(",{},", EVENT_TYPES.join(",")));
    }
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        let full = match n.contains('.') {
            true => n.clone(),
            false => format!("batch.{n}"),
        };
        let Some(t) = EVENT_TYPES.iter().find(|t| **t == full) else {
            return Err(CoreError::Invalid(format!(
                "unknown event {n:?}; webhooks carry {}",
                EVENT_TYPES.join(", ")
            )));
        };
        if !out.contains(t) {
            out.push(t);
        }
    }
    Ok(format!(",{},", out.join(",")))
}

/// What a subscription's secrets are sealed for: a sealed value copied onto another
/// subscription's row does not open.
pub(crate) fn seal_context(consumer: &str, url: &str) -> String {
    format!("webhook/{consumer}/{url}")
}

impl Core {
    pub(crate) fn webhook_key(&self) -> Result<&crate::secret::SecretKey> {
        self.secret_key.as_deref().ok_or_else(|| {
            CoreError::Invalid(
                "webhooks need WHARF_SECRET_KEY (32 random bytes, base64) to seal and open their signing secrets".into(),
            )
        })
    }

    /// Subscribe consumer `consumer` to `events` at `url` (https unless `allow_http`);
    /// returns the subscription's id and its secret (shown once).
    pub async fn add_webhook(
        &self,
        o: &Origin,
        consumer: &str,
        url: &str,
        events: &[String],
        allow_http: bool,
    ) -> Result<(i64, String)> {
        let key = self.webhook_key()?;
        check_url("URL", url, Environment::Prod, allow_http)?;
        let events = parse_events(events)?;
        if self.active_consumer(consumer).await.is_err() {
            return Err(CoreError::NotFound(format!(
                "no active consumer {consumer:?}"
            )));
        }
        let secret = sign::new_secret()?;
        let sealed = key.seal(secret.as_bytes(), &seal_context(consumer, url))?;
        let mut e = Entry::new(Kind::Admin, "webhook.added", "", "");
        e.detail = serde_json::json!({"consumer": consumer, "url": url,
            "events": events.trim_matches(',')});
        self.audit(o, e).await?;
        let id = self
            .store
            .webhooks()
            .insert_webhook(&NewWebhook {
                consumer: consumer.to_string(),
                url: url.to_string(),
                events,
                sealed,
                created_unix: self.now(),
            })
            .await?;
        Ok((id, secret))
    }

    /// Every subscription, by id.
    pub async fn webhooks(&self) -> Result<Vec<WebhookInfo>> {
        let rows = self.store.webhooks().webhooks().await?;
        Ok(rows.into_iter().map(WebhookInfo::from).collect())
    }

    async fn webhook_row(&self, id: i64) -> Result<WebhookRow> {
        self.store
            .webhooks()
            .webhook(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no webhook {id}")))
    }

    /// A new secret for subscription `id`, returned once; the current one keeps signing
    /// beside it for `grace_secs` (0: it stops at once).
    pub async fn rotate_webhook_secret(
        &self,
        o: &Origin,
        id: i64,
        grace_secs: i64,
    ) -> Result<String> {
        let key = self.webhook_key()?;
        let row = self.webhook_row(id).await?;
        let secret = sign::new_secret()?;
        let sealed = key.seal(secret.as_bytes(), &seal_context(&row.consumer, &row.url))?;
        let until = self.now() + grace_secs.max(0);
        let mut e = Entry::new(Kind::Admin, "webhook.secret-rotated", "", "");
        e.detail = serde_json::json!({"id": id, "consumer": row.consumer,
            "previous_until_unix": until});
        self.audit(o, e).await?;
        let prev = (grace_secs > 0).then_some(row.sealed.as_str());
        self.store
            .webhooks()
            .rotate_webhook(id, &sealed, prev, prev.map(|_| until))
            .await?;
        Ok(secret)
    }

    /// Remove subscription `id` and its undelivered events.
    pub async fn remove_webhook(&self, o: &Origin, id: i64) -> Result<()> {
        let row = self.webhook_row(id).await?;
        let mut e = Entry::new(Kind::Admin, "webhook.removed", "", "");
        e.detail = serde_json::json!({"id": id, "consumer": row.consumer, "url": row.url,
            "pending": row.pending});
        self.audit(o, e).await?;
        match self.store.webhooks().remove_webhook(id).await? {
            true => Ok(()),
            false => Err(CoreError::NotFound(format!("no webhook {id}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_in_full_or_short_and_checked() {
        let s = |v: &[&str]| parse_events(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["applied", "file.delivered", "batch.applied"]).unwrap(),
            ",batch.applied,file.delivered,"
        );
        assert_eq!(s(&[]).unwrap(), format!(",{},", EVENT_TYPES.join(",")));
        assert!(s(&["received"]).is_err());
        assert!(s(&["batch.rejected"]).is_err());
    }
}
