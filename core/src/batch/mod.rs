//! Batches (SPEC §4, §5, §7.2): what one sequence gets and when a batch is applied
//! ([`ingest`]), a sender giving up ([`abandon`]), execute / revert / cancel of a complete
//! batch by the scheduler or by hand ([`actions`]), the one answer of a file door's file sent
//! as several sequences ([`file`]), and how a stored batch is reported
//! ([`view`]).

pub mod abandon;
pub mod actions;
pub mod file;
pub mod ingest;
pub mod view;

pub use abandon::{abandon, abandon_failure};
pub use ingest::{ingest, ScheduleInput, Sequence};

use crate::audit::{Entry, Kind, Origin};
use crate::error::Result;
use crate::model::Transport;
use crate::store::webhooks::Event;
use crate::store::{BatchRow, Tx};

/// The door a batch came through, as the audit trail names doors.
fn door(t: Transport) -> &'static str {
    match t {
        Transport::Api => "http",
        Transport::Ftp => "ftp",
        Transport::Upload => "upload",
        Transport::Grpc => "grpc",
    }
}

/// Append the batch event `action` (`batch.applied`, …) done by `actor` to the audit trail
/// inside `tx`, so it is kept exactly when what it records commits; the consumers'
/// webhooks that subscribed to it are queued in the same transaction. The scheduler acts
/// as core; anybody else through the batch's door.
pub(crate) async fn audit(
    tx: &mut (dyn Tx + '_),
    b: &BatchRow,
    action: &str,
    actor: &str,
    mut detail: serde_json::Value,
    now: i64,
) -> Result<()> {
    let origin = if actor == actions::SCHEDULER {
        Origin::core()
    } else if let Some(user) = actor.strip_prefix("cli:") {
        Origin::cli(user)
    } else {
        Origin {
            actor: actor.to_string(),
            door: door(b.transport).to_string(),
            addr: String::new(),
        }
    };
    if let Some(d) = detail.as_object_mut() {
        d.insert("batch_id".into(), b.batch_id.clone().into());
        d.insert("environment".into(), b.env.as_str().into());
        d.insert("interface".into(), b.iface.clone().into());
        d.insert("state".into(), b.state.as_str().into());
    }
    let row = Entry::new(Kind::Batch, action, &b.partner, &b.creator)
        .detail(detail)
        .row(&origin, now);
    tx.audit(&row).await?;
    match Event::from_audit(&row) {
        Some(event) => tx.webhook_event(&event).await,
        None => Ok(()),
    }
}
