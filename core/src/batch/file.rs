//! A file door's file whose rows came as several sequences of ONE batch (a sheet of more
//! than 5,000 rows over FTP) is still one delivery: it gets one answer, recorded once, when
//! the file is settled. The rule, in one place:
//!
//! - while its batch is open and its last sequence has not been answered, the file has no
//!   answer yet (a re-delivery meanwhile meets the batch's own dedupe);
//! - when its last sequence is answered and the batch is still open, one of its sequences was
//!   rejected: the batch is abandoned (nothing applied, staged rows dropped);
//! - once the batch is no longer open, the file's answer is: for a batch failed by its
//!   rejections, every rejection of the batch merged into one answer (each failing row with
//!   its spreadsheet line); otherwise the answer of the sequence that settled it (`0` with
//!   the applied row count, a key clash at apply, the retry limit), or the batch's failure.
//!
//! The same rule runs when the sender abandons the batch itself (AbandonBatch), so a door
//! that stops early still leaves the file its answer. A file of one sequence is answered at
//! once, as before (`Core::ingest`).

use wharf_proto::json::answer_json_text;
use wharf_proto::v1::IngestBatchResponse;

use super::abandon::abandon;
use crate::codes::{answer, code, code_msg, merged_rejection_text};
use crate::error::Result;
use crate::model::{BatchPolicy, BatchState, Scope};
use crate::store::Store;

/// A settled file's answer as it is kept: its code and its JSON text (`answer_json_text`).
#[derive(Debug, Clone, PartialEq)]
pub struct FileAnswer {
    pub code: String,
    pub json: String,
}

impl From<&IngestBatchResponse> for FileAnswer {
    fn from(a: &IngestBatchResponse) -> FileAnswer {
        FileAnswer {
            code: a.code.clone(),
            json: answer_json_text(a),
        }
    }
}

/// The file `name` delivered as batch `batch_id`, after one of its sequences was answered
/// `answered` (`None`: after the sender abandoned the batch). `last`: that sequence was the
/// file's last one (or the sender gave up). Returns the file's answer once it is settled,
/// `None` while more of it is to come.
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    store: &dyn Store,
    policy: BatchPolicy,
    scope: &Scope,
    name: &str,
    batch_id: &str,
    last: bool,
    answered: Option<&IngestBatchResponse>,
    now_unix: i64,
) -> Result<Option<FileAnswer>> {
    let Some(mut b) = store.batch(scope, batch_id).await? else {
        // No batch behind it (its envelope was refused before one existed).
        return Ok(if last {
            answered.map(FileAnswer::from)
        } else {
            None
        });
    };
    let open = |b: &crate::store::BatchRow| {
        b.state == BatchState::Open && b.created_unix.saturating_add(policy.expiry_secs) > now_unix
    };
    if open(&b) {
        if !last {
            return Ok(None);
        }
        // The last sequence is in and the batch did not complete: a sequence was rejected.
        abandon(store, policy, scope, batch_id, now_unix).await?;
        b = match store.batch(scope, batch_id).await? {
            Some(b) => b,
            None => return Ok(answered.map(FileAnswer::from)),
        };
    }
    let rejected_whole = b.state == BatchState::Failed
        && matches!(
            b.failure_code.as_str(),
            code::VERIFY | code::WRITE | code::MULTIPLE
        );
    if rejected_whole {
        let mut stored = store.rejections(b.pk).await?;
        stored.sort_by_key(|row| row.seq_id.parse::<u64>().unwrap_or(u64::MAX));
        let why = format!(
            "(file {name}: {} of its sequences rejected, batch {batch_id} abandoned: none of \
             its {} rows was applied)",
            stored.len(),
            b.batch_size
        );
        // Written straight from the stored answers, one decoded at a time: neither every
        // answer decoded at once, nor the merged answer, nor its JSON tree is ever held.
        if let Some((code, json)) =
            merged_rejection_text(stored.len(), |i| stored[i].decode(), &why)?
        {
            return Ok(Some(FileAnswer { code, json }));
        }
    }
    if let Some(a) = answered {
        return Ok(Some(a.into()));
    }
    if matches!(b.state, BatchState::Applied | BatchState::Held) {
        return Ok(Some(FileAnswer::from(&answer(
            code::OK,
            format!(
                "{}: batch {batch_id} of file {name} is {} ({} rows)",
                code_msg(code::OK),
                b.state.as_str(),
                b.batch_size
            ),
            vec![],
        ))));
    }
    let failure = if b.failure_code.is_empty() {
        code::SYSTEM
    } else {
        b.failure_code.as_str()
    };
    Ok(Some(FileAnswer::from(&answer(
        failure,
        format!(
            "{}: batch {batch_id} of file {name} is {}: {}",
            code_msg(failure),
            b.state.as_str(),
            b.failure_msg
        ),
        vec![],
    ))))
}

#[cfg(test)]
mod tests {
    use wharf_proto::v1::{CodeGroup, Row, RowProblem};

    use crate::codes::{envelope_problem, kind, merged_rejection, problem, verify};

    fn row_problem(line: u32, ty: &str) -> RowProblem {
        problem(
            Some(0),
            Some(Row {
                line,
                ..Default::default()
            }),
            vec![verify(ty, "f", "")],
        )
    }

    #[test]
    fn rejections_of_several_sequences_make_one_answer() {
        let v = |problems| wharf_proto::v1::IngestBatchResponse {
            code: "E00V00".into(),
            problems,
            ..Default::default()
        };
        let same_envelope = || envelope_problem(kind::NOT_ALLOWED, "batch_size", "");
        let merged = merged_rejection(
            vec![
                v(vec![same_envelope(), row_problem(7, kind::DATE)]),
                v(vec![same_envelope(), row_problem(17_345, kind::DATE)]),
            ],
            "(why)",
        )
        .expect("problems");
        assert_eq!(merged.code, "E00V00");
        assert!(merged.msg.ends_with("(why)"), "{}", merged.msg);
        let lines: Vec<u32> = merged
            .problems
            .iter()
            .filter_map(|p| p.row.as_ref().map(|r| r.line))
            .collect();
        assert_eq!(lines, [7, 17_345]);
        assert_eq!(merged.problems.len(), 3, "the envelope problem once");

        let w = wharf_proto::v1::IngestBatchResponse {
            code: "E00M00".into(),
            groups: vec![CodeGroup {
                code: "E00W00".into(),
                msg: String::new(),
                problems: vec![row_problem(9, kind::DUPLICATE)],
            }],
            ..Default::default()
        };
        let both =
            merged_rejection(vec![v(vec![row_problem(3, kind::DATE)]), w], "").expect("problems");
        assert_eq!(both.code, "E00M00");
        assert_eq!(both.groups.len(), 2);
        assert!(merged_rejection(vec![], "").is_none());
    }
}
