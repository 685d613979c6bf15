//! A sheet sent to core as ONE batch, the same way from every door that takes sheets (the
//! upload page and FTP): its rows are cut into sequences of at most [`SEQUENCE_ROWS`] under
//! one batch_id and sent through `IngestBatch` one after the other. Core applies the batch
//! only when every sequence is in, so a sheet is all-or-nothing; when a sequence is rejected
//! the rest are still sent (so every failing row is reported at once) and then the batch is
//! abandoned, which fails it for good.
//!
//! The door says who sends what where (a request template) and which batch_id the sheet gets
//! (the upload page a random one per upload, FTP one derived from the file name). Judging the
//! rows, and for a file door recording the file's one answer, is core's.

use wharf_proto::v1::{self as pb, value::Kind, Value};
use wharf_proto::CoreClient;

use crate::{SheetError, SheetFile};

/// Rows per sequence: the most SPEC §4 allows over the upload page and FTP.
pub const SEQUENCE_ROWS: usize = 5000;

/// What came of sending a sheet.
#[derive(Debug)]
pub enum Sent {
    /// Core holds a batch for it (applied, held or failed); `last` is core's answer to the
    /// last sequence sent, `sequences` how many were sent.
    Batch {
        batch_id: String,
        sequences: usize,
        last: pb::IngestBatchResponse,
    },
    /// Core answered the file without a batch behind it (it could not be read as a sheet,
    /// it holds more rows than the door takes, or core refused it whole): its answer.
    Answered(pb::IngestBatchResponse),
}

fn text(s: String) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Text(s)),
    })
}

/// The batch a request template names, for AbandonBatch. Its answer is not read (the door
/// reports from the answers core keeps), so core does not send the rejections back.
fn scope(t: &pb::IngestBatchRequest, batch_id: &str) -> pb::GetBatchRequest {
    pb::GetBatchRequest {
        partner: t.partner.clone(),
        environment: t.environment,
        data_category: t.data_category.clone(),
        biz_key: t.biz_key.clone(),
        batch_id: batch_id.to_string(),
        with_rejections: false,
        without_rejections: true,
    }
}

/// Ask core how the sheet's header row names the interface's fields (the request
/// template's partner and interface).
pub async fn match_columns(
    core: &mut CoreClient,
    template: &pb::IngestBatchRequest,
    sheet: &SheetFile,
) -> Result<pb::MatchColumnsResponse, tonic::Status> {
    Ok(core
        .match_columns(pb::MatchColumnsRequest {
            partner: template.partner.clone(),
            data_category: template.data_category.clone(),
            biz_key: template.biz_key.clone(),
            headers: sheet.header().to_vec(),
            operation: template.operation,
        })
        .await?
        .into_inner())
}

/// The fields a match names without asking anybody, column by column: a column matched by
/// name, a remembered mapping, a label, an alternate, a spelling, or kept as an extra field
/// takes that field (`""`: remembered as ignored); a guess or an unknown header keeps its
/// header, so core answers it as the field it names.
pub fn settled_fields(m: &pb::MatchColumnsResponse) -> Vec<String> {
    m.columns
        .iter()
        .map(|c| match c.how.as_str() {
            "guess" | "unknown" => c.header.clone(),
            _ => c.field.clone(),
        })
        .collect()
}

/// A file door's sheet, its columns named as core matches them (no one to ask: guesses are
/// not taken). A sheet that could not be read goes on as it is.
pub async fn map_sheet(
    core: &mut CoreClient,
    template: &pb::IngestBatchRequest,
    sheet: &mut Result<SheetFile, SheetError>,
) -> Result<(), tonic::Status> {
    if let Ok(s) = sheet {
        match match_columns(core, template, s).await {
            Ok(m) => s.map_columns(&settled_fields(&m)),
            // An interface the partner may not use, a header row too wide to match: core's
            // answer to the batch says what is wrong.
            Err(st)
                if matches!(
                    st.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) => {}
            Err(st) => return Err(st),
        }
    }
    Ok(())
}

/// How many sequences `rows` rows make (an empty sheet is still sent once).
pub fn sequences_for(rows: usize) -> usize {
    rows.div_ceil(SEQUENCE_ROWS).max(1)
}

/// Send a sheet (or the reason it could not be read) to core as one batch `batch_id`.
///
/// `template` carries everything but the envelope: partner, user, environment, interface,
/// operation, transport, source (the file's name), the schedule, and for a file door the most
/// rows it takes in one file (`max_file_rows`; 0: no limit). Every sequence also says how many
/// rows the whole file holds and how many sequences it spans, so core can treat a file door's
/// file as one delivery.
///
/// The rows are read again from the file on a blocking thread while the sequences before them
/// are with core, and handed over one sequence at a time: at most two sequences' rows wait,
/// never the whole sheet's.
pub async fn send_sheet(
    core: &mut CoreClient,
    template: &pb::IngestBatchRequest,
    batch_id: &str,
    sheet: Result<SheetFile, SheetError>,
) -> Result<Sent, tonic::Status> {
    let sheet = match sheet {
        Ok(s) => s,
        Err(e) => {
            // Core words the answer; the door only says what it saw.
            let mut req = template.clone();
            req.unreadable = e.to_string();
            let answer = core.ingest_batch(req).await?.into_inner();
            return Ok(Sent::Answered(answer));
        }
    };
    let total = sheet.len();
    let count = sequences_for(total);
    let limit = template.max_file_rows;
    if limit > 0 && total as u64 > limit {
        // Not one row is sent: core answers the file with its row count and the limit.
        let mut req = template.clone();
        req.file_rows = total as u64;
        let answer = core.ingest_batch(req).await?.into_inner();
        return Ok(Sent::Answered(answer));
    }
    // One sequence waits in the channel while the reader builds the next; when the sender
    // stops early (the channel dropped), the reader stops at its next sequence.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<pb::Row>>(1);
    let reader = tokio::task::spawn_blocking(move || {
        sheet.rows_by(SEQUENCE_ROWS, |rows| tx.blocking_send(rows).is_ok())
    });
    let mut sent = 0usize;
    let mut seq = 0usize;
    let mut rejected = false;
    let mut last = pb::IngestBatchResponse::default();
    // An empty sheet is still sent once, so core answers it like any other.
    while seq == 0 || sent < total {
        seq += 1;
        let end = total.min(sent + SEQUENCE_ROWS);
        let chunk = if end > sent {
            rx.recv().await.unwrap_or_default()
        } else {
            Vec::new()
        };
        if chunk.len() != end - sent {
            // The file read again did not give what its first reading counted.
            let why = match reader.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => format!("{} rows where {} were counted", sent + chunk.len(), end),
                Err(e) => e.to_string(),
            };
            tracing::error!(batch_id = %batch_id, seq, %why, "sheet read again differs");
            if seq > 1 {
                let _ = core.abandon_batch(scope(template, batch_id)).await;
            }
            return Err(tonic::Status::internal(format!(
                "the sheet could not be read again: {why}"
            )));
        }
        sent = end;
        let mut req = template.clone();
        req.batch_id = text(batch_id.to_string());
        req.batch_size = text(total.to_string());
        req.seq_id = text(seq.to_string());
        req.seq_size = text(chunk.len().to_string());
        req.has_data = true;
        req.rows = chunk;
        req.file_rows = total as u64;
        req.file_sequences = u32::try_from(count).unwrap_or(u32::MAX);
        // Only the code is read here: a rejected sequence's 5,000 rows need not come back.
        req.code_only = true;
        last = match core.ingest_batch(req).await {
            Ok(a) => a.into_inner(),
            Err(status) => {
                if seq > 1 {
                    // Best effort: a batch left open would only expire later.
                    let _ = core.abandon_batch(scope(template, batch_id)).await;
                }
                return Err(status);
            }
        };
        tracing::debug!(batch_id = %batch_id, seq, code = %last.code, "sequence sent");
        if last.not_kept {
            // Core refused the file itself (its name): no batch, nothing more to send.
            return Ok(Sent::Answered(last));
        }
        match last.code.as_str() {
            "0" => {}
            // Consumed before with the same content (a file delivered again, or a sheet
            // resent after a break): nothing new, the rest may still be missing.
            "E00A00" if !last.content_differs => {}
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
        core.abandon_batch(scope(template, batch_id)).await?;
    }
    Ok(Sent::Batch {
        batch_id: batch_id.to_string(),
        sequences: seq,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_makes_sequences_of_at_most_5000_rows() {
        assert_eq!(sequences_for(0), 1);
        assert_eq!(sequences_for(1), 1);
        assert_eq!(sequences_for(5000), 1);
        assert_eq!(sequences_for(5001), 2);
        assert_eq!(sequences_for(20_000), 4);
    }
}
