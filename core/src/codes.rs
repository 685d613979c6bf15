//! The answer vocabulary (SPEC §5, seed 003): result codes and their messages, the fixed
//! row-error kinds, seed 003's numbered schedule errors, and the one builder of a `result`
//! entry and of an answer. The floor of core: it imports nothing of core.

use wharf_proto::v1::{CodeGroup, IngestBatchResponse, Row, RowProblem, Verify};

/// Result codes, identical on every transport (SPEC §5).
pub mod code {
    pub const OK: &str = "0";
    pub const SYSTEM: &str = "-1";
    pub const CONSUMED: &str = "E00A00";
    pub const RETRY_LIMIT: &str = "E00P00";
    pub const VERIFY: &str = "E00V00";
    pub const WRITE: &str = "E00W00";
    pub const MULTIPLE: &str = "E00M00";
}

/// The standard message of each result code.
pub fn code_msg(code: &str) -> &'static str {
    match code {
        code::OK => "request success",
        code::CONSUMED => "the sequence data has been successfully consumed",
        code::RETRY_LIMIT => "retry upper limit reached",
        code::VERIFY => "data verification failed!",
        code::WRITE => "write exception, unique constraint violation",
        code::MULTIPLE => "multiple exceptions",
        _ => "system error, safe to retry",
    }
}

/// The fixed vocabulary of row and envelope error types (SPEC §5).
pub mod kind {
    pub const REQUIRED: &str = "required field missing";
    pub const LENGTH: &str = "value length exceed";
    pub const NUMBER: &str = "invalid number";
    pub const PRECISION: &str = "number precision exceed";
    pub const DATE: &str = "invalid date";
    pub const NOT_ALLOWED: &str = "value not allowed";
    pub const UNKNOWN: &str = "unknown field";
    pub const TYPE: &str = "invalid type";
    pub const DUPLICATE: &str = "duplicate key";
}

/// Seed 003's error numbers for a batch proposal (schedule), kept in `Verify.code`.
pub mod proposal {
    pub const INVALID_ISO8601: &str = "40000011";
    pub const REVERT_WITHOUT_EXECUTE: &str = "40009214";
    pub const REVERT_TOO_SOON: &str = "40009215";
    pub const EXECUTE_WINDOW: &str = "40009216";
    pub const REVERT_WINDOW: &str = "40009217";
}

/// The seed's message for each proposal number (an answer's `msg` names the first one's).
pub fn proposal_msg(number: &str) -> &'static str {
    match number {
        proposal::INVALID_ISO8601 => "Invalid ISO-8601 format",
        proposal::REVERT_WITHOUT_EXECUTE => {
            "Batch proposal revert time must appear in pairs with execute time"
        }
        proposal::REVERT_TOO_SOON => {
            "Batch proposal revert time should be at least 15 minutes after execute time"
        }
        proposal::EXECUTE_WINDOW => "Batch proposal execute time must within +2 hours and +30 days",
        proposal::REVERT_WINDOW => "Batch proposal revert time must within +3 hours and +60 days",
        _ => "Invalid input",
    }
}

/// One failure of a row or of the envelope: its kind, the fields (comma-separated) and the
/// seed's number ("" when it has none).
pub fn verify(ty: &str, fields: &str, number: &str) -> Verify {
    Verify {
        r#type: ty.to_string(),
        fields: fields.to_string(),
        code: number.to_string(),
    }
}

/// One entry of an answer's `result`: a row (its index in the sequence and the row as sent)
/// with its failures, or, with neither, the envelope's.
pub fn problem(index: Option<u32>, row: Option<Row>, verify: Vec<Verify>) -> RowProblem {
    RowProblem { index, row, verify }
}

/// An envelope problem: one failure of one envelope field.
pub fn envelope_problem(ty: &str, field: &str, number: &str) -> RowProblem {
    problem(None, None, vec![verify(ty, field, number)])
}

/// An answer with a code, its message and the problems it lists.
pub fn answer(code: &str, msg: String, problems: Vec<RowProblem>) -> IngestBatchResponse {
    IngestBatchResponse {
        code: code.to_string(),
        msg,
        problems,
        ..Default::default()
    }
}

/// The failure answer for a rejected sequence: E00V00, E00W00, or E00M00 when both, the
/// code's message followed by `why` when there is one.
pub fn rejection(
    invalid: Vec<RowProblem>,
    duplicates: Vec<RowProblem>,
    why: &str,
) -> IngestBatchResponse {
    let with_why = |code: &str| {
        if why.is_empty() {
            code_msg(code).to_string()
        } else {
            format!("{} {why}", code_msg(code))
        }
    };
    match (invalid.is_empty(), duplicates.is_empty()) {
        (false, true) => answer(code::VERIFY, with_why(code::VERIFY), invalid),
        (true, false) => answer(code::WRITE, with_why(code::WRITE), duplicates),
        _ => IngestBatchResponse {
            code: code::MULTIPLE.into(),
            msg: with_why(code::MULTIPLE),
            groups: vec![
                CodeGroup {
                    code: code::VERIFY.into(),
                    msg: code_msg(code::VERIFY).into(),
                    problems: invalid,
                },
                CodeGroup {
                    code: code::WRITE.into(),
                    msg: code_msg(code::WRITE).into(),
                    problems: duplicates,
                },
            ],
            ..Default::default()
        },
    }
}

/// The answer for a delivered file whose name breaks the door's naming rule: nothing of it
/// is read.
pub fn refuse_source(why: &str) -> IngestBatchResponse {
    rejection(
        vec![envelope_problem(kind::NOT_ALLOWED, "file name", "")],
        vec![],
        &format!("({why})"),
    )
}

/// The answer for a sheet holding more data rows than its door takes in one file
/// (`max_file_rows`): nothing of it is read.
pub fn file_over_row_limit(rows: u64, limit: u64) -> IngestBatchResponse {
    rejection(
        vec![envelope_problem(kind::NOT_ALLOWED, "rows", "")],
        vec![],
        &format!(
            "(the file holds {rows} data rows, more than the {limit} one file may hold: \
             split it into files of at most {limit} rows)"
        ),
    )
}

/// One answer for a file whose rows went to core as several sequences of one batch that was
/// rejected: every failing row and envelope problem of every rejected sequence (`answers`, in
/// sequence order), under the code they make together (E00V00, E00W00, or E00M00 when
/// both), `why` after the code's message. An envelope problem repeated by several sequences
/// is listed once. `None` when the answers list no problem at all.
pub fn merged_rejection(
    answers: Vec<IngestBatchResponse>,
    why: &str,
) -> Option<IngestBatchResponse> {
    let mut invalid: Vec<RowProblem> = Vec::new();
    let mut duplicates: Vec<RowProblem> = Vec::new();
    let add = |into: &mut Vec<RowProblem>, problems: Vec<RowProblem>| {
        for p in problems {
            if p.index.is_none() && into.contains(&p) {
                continue;
            }
            into.push(p);
        }
    };
    for a in answers {
        match a.code.as_str() {
            code::VERIFY => add(&mut invalid, a.problems),
            code::WRITE => add(&mut duplicates, a.problems),
            code::MULTIPLE => {
                for g in a.groups {
                    match g.code.as_str() {
                        code::VERIFY => add(&mut invalid, g.problems),
                        code::WRITE => add(&mut duplicates, g.problems),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if invalid.is_empty() && duplicates.is_empty() {
        return None;
    }
    Some(rejection(invalid, duplicates, why))
}

/// The answer for a file name delivered before: the file is not read again.
pub fn file_consumed(name: &str, first_code: &str) -> IngestBatchResponse {
    answer(
        code::CONSUMED,
        format!(
            "{}: file {name} was already delivered (it was answered {first_code})",
            code_msg(code::CONSUMED)
        ),
        vec![],
    )
}
