//! Delivering webhooks: the oldest due delivery of a subscription nobody holds is claimed
//! with a lease on the subscription (PostgreSQL: `SKIP LOCKED`, so two cores never send one
//! event at once), signed, sent with the outbox's HTTP client and timeout, and recorded.
//!
//! - One attempt per claim: a 2xx delivers it; `410 Gone` disables the subscription
//!   (audited `webhook.disabled`); anything else (another status, a timeout, no connection)
//!   is tried again after the outbox's backoff (`outbound::dispatch::backoff`), by giving the
//!   subscription back with the delivery's due time. After `max_attempts` it is given up
//!   (audited `webhook.gave-up`) and the next event goes.
//! - A later event of a subscription waits until the earlier one is delivered or given up
//!   (`store::webhooks::SELECT_DUE`): in order per subscription, at least once, and every
//!   attempt carries the same `webhook-id`, so receivers dedupe.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use rand::Rng;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{seal_context, sign};
use crate::audit::{Entry, Kind, Origin};
use crate::error::Result;
use crate::outbound::dispatch::{backoff, DispatchSettings};
use crate::outbound::http::{Client, Target};
use crate::service::Core;
use crate::store::webhooks::{Attempted, DueDelivery};

/// What one attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// `410 Gone`: the receiver wants no more; the subscription is disabled.
    Gone,
    Retry,
}

/// An HTTP status's verdict; an exchange without an answer is `Retry`.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        410 => Verdict::Gone,
        _ => Verdict::Retry,
    }
}

struct Shared {
    core: Core,
    settings: DispatchSettings,
    client: Client,
    owner: String,
}

/// Run until `shutdown`; attempts in flight finish and are recorded.
pub async fn run(
    core: Core,
    settings: DispatchSettings,
    client: Client,
    shutdown: impl std::future::Future<Output = ()>,
) {
    if let Err(e) = core.store.webhooks().clear_webhook_leases().await {
        tracing::warn!(error = %e, "webhooks: could not give back old leases");
    }
    let owner = format!("{:016x}", rand::thread_rng().gen::<u64>());
    let s = Arc::new(Shared {
        core,
        settings,
        client,
        owner,
    });
    let permits = Arc::new(Semaphore::new(s.settings.concurrency.max(1)));
    let mut workers = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while workers.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let now = s.core.now();
        let until = now + s.settings.lease.as_secs() as i64;
        let claimed = s
            .core
            .store
            .webhooks()
            .claim_delivery(now, &s.owner, until)
            .await;
        match claimed {
            Ok(Some(d)) => {
                let s = s.clone();
                let span = tracing::info_span!("webhook", webhook.id = d.hook_id,
                    consumer = %d.consumer, msg_id = %d.msg_id, event = %d.kind);
                workers.spawn(
                    async move {
                        if let Err(e) = attempt(&s, &d).await {
                            tracing::warn!(error = %e, "webhook: recording an attempt failed");
                        }
                        let _ = s
                            .core
                            .store
                            .webhooks()
                            .release_webhook(d.hook_id, &s.owner)
                            .await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!(error = %e, "webhooks: claiming a delivery failed");
                }
                drop(permit);
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(s.settings.poll) => {}
                }
            }
        }
    }
    while workers.join_next().await.is_some() {}
}

/// The secrets that sign now: the current one, and the previous one during its grace.
fn secrets(core: &Core, d: &DueDelivery) -> Result<Vec<String>> {
    let key = core.webhook_key()?;
    let context = seal_context(&d.consumer, &d.url);
    let open = |sealed: &str| -> Result<String> {
        Ok(String::from_utf8_lossy(&key.open(sealed, &context)?).into_owned())
    };
    let mut out = vec![open(&d.sealed)?];
    if let (Some(prev), Some(until)) = (&d.prev_sealed, d.prev_until_unix) {
        if core.now() < until {
            out.push(open(prev)?);
        }
    }
    Ok(out)
}

/// Send `d` once and record what came of it.
async fn attempt(s: &Shared, d: &DueDelivery) -> Result<()> {
    let hooks = s.core.store.webhooks();
    let attempts = d.attempts + 1;
    let timestamp = s.core.now();
    let sent = match (secrets(&s.core, d), Target::parse(&d.url)) {
        (Ok(secrets), Ok(target)) => {
            let signature = sign::header(&secrets, &d.msg_id, timestamp, d.body.as_bytes())?;
            let headers = [
                ("content-type", "application/json".to_string()),
                ("webhook-id", d.msg_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ];
            let mut conn = None;
            s.client
                .exchange(
                    &mut conn,
                    &target,
                    Method::POST,
                    &headers,
                    Bytes::from(d.body.clone()),
                )
                .await
                .map(|a| a.status)
                .map_err(|f| f.to_string())
        }
        (Err(e), _) => Err(e.to_string()),
        (_, Err(e)) => Err(e),
    };
    let now = s.core.now();
    let status = sent.as_ref().ok().map(|s| i64::from(*s));
    let error = sent.as_ref().err().cloned();
    let verdict = sent.map(verdict).unwrap_or(Verdict::Retry);
    let mut rec = Attempted {
        id: d.id,
        state: "pending",
        attempts,
        status,
        error: error.clone(),
        next_unix: now,
        done_unix: None,
    };
    match verdict {
        Verdict::Delivered => {
            rec.state = "delivered";
            rec.done_unix = Some(now);
            tracing::info!(attempts, "webhook delivered");
        }
        Verdict::Gone => {
            rec.state = "failed";
            rec.done_unix = Some(now);
        }
        Verdict::Retry if attempts >= i64::from(s.settings.max_attempts) => {
            rec.state = "failed";
            rec.done_unix = Some(now);
        }
        Verdict::Retry => {
            let wait = backoff(&s.settings, attempts as u32);
            rec.next_unix = now + wait_secs(wait);
            tracing::info!(
                attempts,
                ?status,
                error = error.as_deref().unwrap_or(""),
                retry_in_secs = rec.next_unix - now,
                "webhook not delivered; will retry"
            );
        }
    }
    if !hooks.record_attempt(&rec, &s.owner).await? {
        tracing::warn!("webhook: the subscription's lease was lost; another core resends");
        return Ok(());
    }
    let gone = verdict == Verdict::Gone;
    if gone || rec.state == "failed" {
        let action = match gone {
            true => "webhook.disabled",
            false => "webhook.gave-up",
        };
        tracing::warn!(attempts, ?status, action, "webhook not delivered");
        let mut e = Entry::new(Kind::Admin, action, "", "");
        e.detail = serde_json::json!({"id": d.hook_id, "consumer": d.consumer, "url": d.url,
            "webhook_id": d.msg_id, "type": d.kind, "attempts": attempts, "status": status,
            "error": error});
        if gone {
            e.detail["reason"] = "gone".into();
            hooks.disable_webhook(d.hook_id, "gone", now).await?;
        }
        s.core.audit(&Origin::core(), e).await?;
    }
    Ok(())
}

/// A retry's wait in whole seconds, at least one (due times are unix seconds).
fn wait_secs(wait: Duration) -> i64 {
    (wait.as_secs_f64().ceil() as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_deliver_disable_or_retry() {
        for (status, want) in [
            (200, Verdict::Delivered),
            (204, Verdict::Delivered),
            (410, Verdict::Gone),
            (400, Verdict::Retry),
            (404, Verdict::Retry),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (503, Verdict::Retry),
            (301, Verdict::Retry),
        ] {
            assert_eq!(verdict(status), want, "{status}");
        }
        assert_eq!(wait_secs(Duration::from_millis(50)), 1);
        assert_eq!(wait_secs(Duration::from_millis(2100)), 3);
    }
}
