//! An uploaded sheet becomes one batch with a generated batch_id, sent by the sheet sender
//! every sheet door shares (`wharf_sheet::send`): sequences of at most 5,000 rows, applied
//! all-or-nothing, abandoned when one is rejected.

use rand::RngCore;
use wharf_metrics::Outcome;
use wharf_proto::v1 as pb;

use crate::schedule::Schedule;

pub(crate) use wharf_sheet::send::Sent;

/// An operation as the forms and core's batches name it.
pub(crate) fn operation_of(text: &str) -> Option<pb::Operation> {
    match text {
        "insert" => Some(pb::Operation::Insert),
        "update" => Some(pb::Operation::Update),
        "delete" => Some(pb::Operation::Delete),
        "all" => Some(pb::Operation::All),
        _ => None,
    }
}

/// Where a sheet goes and who sends it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) partner: String,
    pub(crate) user: String,
    pub(crate) env: pb::Environment,
    pub(crate) data_category: String,
    pub(crate) biz_key: String,
    pub(crate) operation: pb::Operation,
    /// The uploaded file's name, recorded with the batch.
    pub(crate) source: String,
    /// When the batch applies and reverts (sent with every sequence: they are its terms).
    pub(crate) schedule: Schedule,
    /// Check, don't apply: core checks the whole batch and holds it for "Apply now".
    pub(crate) check_only: bool,
}

/// 16 random hex characters: unique per upload, within SPEC §4's batch_id length.
pub(crate) fn new_batch_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn request(t: &Target) -> pb::IngestBatchRequest {
    pb::IngestBatchRequest {
        partner: t.partner.clone(),
        user: t.user.clone(),
        environment: t.env as i32,
        data_category: t.data_category.clone(),
        biz_key: t.biz_key.clone(),
        operation: t.operation as i32,
        transport: pb::Transport::Upload as i32,
        source: t.source.clone(),
        instant_execute: t.schedule.instant_execute.clone(),
        execute_ts: t.schedule.execute_ts.clone(),
        revert_ts: t.schedule.revert_ts.clone(),
        check_only: t.check_only,
        ..Default::default()
    }
}

impl crate::Upload {
    /// Send a sheet (or the reason it could not be read) to core as batch `batch_id`,
    /// counted in the door's upload metric.
    pub(crate) async fn send_sheet(
        &self,
        t: &Target,
        batch_id: &str,
        sheet: Result<wharf_sheet::SheetFile, wharf_sheet::SheetError>,
    ) -> Result<Sent, tonic::Status> {
        let mut core = self.core.clone();
        let sent = wharf_sheet::send::send_sheet(&mut core, &request(t), batch_id, sheet).await;
        self.metrics.upload(match &sent {
            Ok(Sent::Batch { .. }) => Outcome::ok,
            Ok(Sent::Answered(_)) => Outcome::refused,
            Err(_) => Outcome::error,
        });
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_are_random_16_hex_chars() {
        let a = new_batch_id();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_batch_id());
    }
}
