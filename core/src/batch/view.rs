//! How a stored batch is reported (GetBatch, AbandonBatch, ListBatches).

use wharf_proto::v1 as pb;

use crate::error::Result;
use crate::model::ActionStatus;
use crate::store::{BatchRow, RejectionRow};

/// ListBatches' page size when the caller gives none, and the most it may ask for.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// The page size a ListBatches request gets.
pub fn page_size(asked: u32) -> u32 {
    match asked {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// A batch as reported, without rejections; `cursor` is its pk (ListBatches paging).
pub fn response(b: BatchRow) -> pb::GetBatchResponse {
    let p = b.proposal;
    // The table keeps the interface as "data_category/biz_key"; a category never holds '/'
    // (interface ids are built that way), so the first '/' splits it back.
    let (category, biz_key) = b.iface.split_once('/').unwrap_or((b.iface.as_str(), ""));
    pb::GetBatchResponse {
        found: true,
        environment: b.env.to_proto() as i32,
        data_category: category.to_string(),
        biz_key: biz_key.to_string(),
        cursor: u64::try_from(b.pk).unwrap_or(0),
        batch_id: b.batch_id,
        state: b.state.as_str().into(),
        operation: b.op.as_str().into(),
        batch_size: b.batch_size,
        staged_rows: b.staged_rows,
        sequences: b.sequences,
        failure_code: b.failure_code,
        failure_msg: b.failure_msg,
        created_unix: b.created_unix,
        updated_unix: b.updated_unix,
        transport: b.transport.as_str().into(),
        creator: b.creator,
        source: b.source,
        rejections: vec![],
        batch_source: p.batch_source,
        instant_execute: p.schedule.instant,
        execute_ts: time(p.schedule.execute_unix),
        execute_status: status(p.execute_status),
        executor: p.executor,
        execute_detail: p.execute_detail,
        revert_ts: time(p.schedule.revert_unix),
        revert_status: status(p.revert_status),
        reverter: p.reverter,
        revert_detail: p.revert_detail,
        modifier: p.modifier,
        modified_unix: p.modified_unix,
        check_only: b.check_only,
    }
}

/// Seed 003's times: RFC 3339 in UTC, "" when none.
fn time(unix: Option<i64>) -> String {
    unix.map(wharf_proto::time::rfc3339).unwrap_or_default()
}

fn status(s: Option<ActionStatus>) -> String {
    s.map(|s| s.as_str().to_string()).unwrap_or_default()
}

/// The order rejections are reported in: by seq_id, numbers in numeric order ("2" before
/// "10", as a sheet split into sequences 1..n is read), the same on both stores.
fn seq_order(seq_id: &str) -> (usize, &str) {
    (seq_id.len(), seq_id)
}

/// Stored rejection answers, decoded, in [`seq_order`].
pub fn rejections(mut rows: Vec<RejectionRow>) -> Result<Vec<pb::SequenceAnswer>> {
    rows.sort_by(|a, b| seq_order(&a.seq_id).cmp(&seq_order(&b.seq_id)));
    rows.iter()
        .map(|r| {
            Ok(pb::SequenceAnswer {
                answer: Some(r.decode()?),
                seq_id: r.seq_id.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), 50);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(10_000), 200);
    }

    #[test]
    fn rejections_come_in_sequence_order() {
        use prost::Message;
        let row = |seq_id: &str| RejectionRow {
            seq_id: seq_id.into(),
            answer: pb::IngestBatchResponse {
                code: "E00V00".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        };
        let got = rejections(vec![row("10"), row("b"), row("2"), row("a")]).unwrap();
        let ids: Vec<&str> = got.iter().map(|r| r.seq_id.as_str()).collect();
        assert_eq!(ids, ["2", "a", "b", "10"]);
        let broken = RejectionRow {
            seq_id: "1".into(),
            answer: vec![0xff, 0xff],
        };
        assert!(rejections(vec![broken]).is_err());
    }
}
