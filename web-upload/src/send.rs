//! A sheet becomes one batch: its rows are split into sequences of at most
//! [`SEQUENCE_ROWS`] with a generated batch_id and sent through `IngestBatch` one after the
//! other. Core applies the batch only when every sequence is in, so the upload is
//! all-or-nothing; when a sequence is rejected the rest are still sent (so the user sees every
//! failing row at once) and then the batch is abandoned, which fails it for good.

use rand::RngCore;
use wharf_proto::v1::{self as pb, value::Kind, Value};
use wharf_proto::CoreClient;

use crate::schedule::Schedule;

/// Rows per sequence: the most SPEC §4 allows over the upload page.
pub(crate) const SEQUENCE_ROWS: usize = 5000;

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
}

/// What came of an upload.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Core holds a batch for it (applied or failed); its result page tells the rest.
    Batch { batch_id: String },
    /// The file could not be read as a sheet: core's answer, with no batch behind it.
    Unreadable(pb::IngestBatchResponse),
}

fn text(s: String) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Text(s)),
    })
}

/// 16 random hex characters: unique per upload, within SPEC §4's batch_id length.
fn new_batch_id() -> String {
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
        ..Default::default()
    }
}

fn scope(t: &Target, batch_id: &str) -> pb::GetBatchRequest {
    pb::GetBatchRequest {
        partner: t.partner.clone(),
        environment: t.env as i32,
        data_category: t.data_category.clone(),
        biz_key: t.biz_key.clone(),
        batch_id: batch_id.to_string(),
        with_rejections: false,
    }
}

/// Send a sheet (or the reason it could not be read) to core.
pub(crate) async fn send_sheet(
    core: &mut CoreClient,
    t: &Target,
    sheet: Result<wharf_sheet::Sheet, wharf_sheet::SheetError>,
) -> Result<Sent, tonic::Status> {
    let sheet = match sheet {
        Ok(s) => s,
        Err(e) => {
            // Core words the answer; the door only says what it saw.
            let mut req = request(t);
            req.unreadable = e.to_string();
            let answer = core.ingest_batch(req).await?.into_inner();
            return Ok(Sent::Unreadable(answer));
        }
    };
    let batch_id = new_batch_id();
    let total = sheet.rows.len();
    let mut rows = sheet.rows.into_iter().map(pb::Row::from).peekable();
    let mut seq = 0usize;
    let mut rejected = false;
    // An empty sheet is still sent once, so core answers it like any other.
    while seq == 0 || rows.peek().is_some() {
        seq += 1;
        let chunk: Vec<pb::Row> = rows.by_ref().take(SEQUENCE_ROWS).collect();
        let mut req = request(t);
        req.batch_id = text(batch_id.clone());
        req.batch_size = text(total.to_string());
        req.seq_id = text(seq.to_string());
        req.seq_size = text(chunk.len().to_string());
        req.has_data = true;
        req.rows = chunk;
        let answer = match core.ingest_batch(req).await {
            Ok(a) => a.into_inner(),
            Err(status) => {
                if seq > 1 {
                    // Best effort: a batch left open would only expire later.
                    let _ = core.abandon_batch(scope(t, &batch_id)).await;
                }
                return Err(status);
            }
        };
        tracing::debug!(batch_id = %batch_id, seq, code = %answer.code, "sequence sent");
        match answer.code.as_str() {
            "0" => {}
            // Row problems: keep going, so every failing row is reported at once.
            "E00V00" | "E00W00" | "E00M00" => rejected = true,
            // Anything else ends the batch (it cannot complete now).
            _ => {
                rejected = true;
                break;
            }
        }
    }
    if rejected {
        core.abandon_batch(scope(t, &batch_id)).await?;
    }
    Ok(Sent::Batch { batch_id })
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
