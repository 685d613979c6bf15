//! The answer vocabulary (SPEC §5, seed 003): result codes and their messages, the fixed
//! row-error kinds, seed 003's numbered schedule errors, and the one builder of a `result`
//! entry and of an answer. The floor of core: it imports nothing of core.

use std::collections::HashSet;

use wharf_proto::json::AnswerText;
use wharf_proto::v1::{CodeGroup, IngestBatchResponse, Row, RowProblem, Verify, VerifyDetail};

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
        detail: None,
    }
}

/// A failure with what a person needs to fix it (`detail`, README "Answers"): the same
/// `type` and `fields` as [`verify`], the detail added beside them. An empty detail is none.
pub fn verify_with(ty: &str, fields: &str, number: &str, detail: VerifyDetail) -> Verify {
    let mut v = verify(ty, fields, number);
    if detail != VerifyDetail::default() {
        v.detail = Some(detail);
    }
    v
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

/// An envelope problem with its detail.
pub fn envelope_problem_with(ty: &str, field: &str, detail: VerifyDetail) -> RowProblem {
    problem(None, None, vec![verify_with(ty, field, "", detail)])
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

/// Failing rows an answer repeats in full. Past them (in answer order, invalid rows first)
/// a failing row keeps only the fields its failures name, and its line: an answer grows with
/// the failing cells, not with every row sent again whole.
pub const MAX_FULL_ROWS: usize = 1000;

/// Keep the first `budget` failing rows of `problems` whole and trim the others to their
/// failing fields; returns how many were trimmed. Envelope problems are not rows.
///
/// A field's rule (`detail.by_field`) is the same in every row, so a trimmed row leaves out
/// the rules an earlier entry of the answer already showed for that type and field (`shown`):
/// each type and field has its rule once at least, and an answer of 100,000 failing rows
/// does not say it 100,000 times. What is the row's own (a duplicate's key and the row it
/// repeats) stays.
fn trim_rows(
    problems: &mut [RowProblem],
    budget: &mut usize,
    shown: &mut HashSet<(String, String)>,
) -> usize {
    let mut trimmed = 0;
    for p in problems.iter_mut().filter(|p| p.index.is_some()) {
        let whole = *budget > 0;
        if whole {
            *budget -= 1;
        }
        if trim_problem(p, whole, shown) {
            trimmed += 1;
        }
    }
    trimmed
}

/// One failing row's part of [`trim_rows`]: shown `whole`, it records the rules it states;
/// past the whole rows, it leaves out the rules already shown and is cut to its failing
/// fields. `true` when it was cut.
fn trim_problem(p: &mut RowProblem, whole: bool, shown: &mut HashSet<(String, String)>) -> bool {
    for v in &mut p.verify {
        let Some(d) = v.detail.as_mut() else {
            continue;
        };
        let ty = &v.r#type;
        if whole {
            shown.extend(d.by_field.iter().map(|f| (ty.clone(), f.field.clone())));
        } else {
            d.by_field
                .retain(|f| shown.insert((ty.clone(), f.field.clone())));
            if *d == VerifyDetail::default() {
                v.detail = None;
            }
        }
    }
    !whole && trim_row(p)
}

/// A failing row cut to the fields its failures name (and a non-object row to 200
/// characters); `false` when the problem has no row. Trimming twice changes nothing.
fn trim_row(p: &mut RowProblem) -> bool {
    let Some(row) = p.row.as_mut() else {
        return false;
    };
    let named = |name: &str| {
        p.verify
            .iter()
            .any(|v| v.fields.split(',').any(|f| f.trim() == name))
    };
    row.fields.retain(|f| named(&f.name));
    row.not_object.truncate(200);
    true
}

/// The failure answer for a rejected sequence: E00V00, E00W00, or E00M00 when both, the
/// code's message followed by `why` when there is one. At most [`MAX_FULL_ROWS`] failing
/// rows are repeated in full; the message says when more were trimmed.
pub fn rejection(
    mut invalid: Vec<RowProblem>,
    mut duplicates: Vec<RowProblem>,
    why: &str,
) -> IngestBatchResponse {
    let mut budget = MAX_FULL_ROWS;
    let mut shown = HashSet::new();
    let trimmed = trim_rows(&mut invalid, &mut budget, &mut shown)
        + trim_rows(&mut duplicates, &mut budget, &mut shown);
    let failing = invalid
        .iter()
        .chain(&duplicates)
        .filter(|p| p.index.is_some())
        .count();
    let with_why = |code: &str| rejection_msg(code, why, failing, trimmed);
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

/// A rejection's message: the code's, then `why`, then (when `trimmed` of the `failing` rows
/// are not shown whole) a note saying so.
fn rejection_msg(code: &str, why: &str, failing: usize, trimmed: usize) -> String {
    let trimmed_note;
    let why = if trimmed == 0 {
        why
    } else {
        trimmed_note = format!(
            "{why}{}({failing} failing rows: the first {MAX_FULL_ROWS} are shown whole, the \
             other {trimmed} with their failing fields only)",
            if why.is_empty() { "" } else { " " }
        );
        &trimmed_note
    };
    if why.is_empty() {
        code_msg(code).to_string()
    } else {
        format!("{} {why}", code_msg(code))
    }
}

/// [`merged_rejection`] of `count` answers as its code and JSON text (`answer_json_text`),
/// read one answer at a time (`answer_at(i)`, in sequence order) and written one problem at
/// a time: neither the merged answer nor its JSON tree is ever held, only its text and one
/// sequence's answer. The answers are read two or three times (first to count what the
/// message says, then to write each group). `None` when they list no problem at all.
pub fn merged_rejection_text<E>(
    count: usize,
    mut answer_at: impl FnMut(usize) -> Result<IngestBatchResponse, E>,
    why: &str,
) -> Result<Option<(String, String)>, E> {
    /// Which kind of failure a group of problems is.
    #[derive(Clone, Copy, PartialEq)]
    enum Part {
        Invalid,
        Duplicate,
    }
    /// The problems of one kind in an answer, in order.
    fn parts(a: IngestBatchResponse) -> Vec<(Part, Vec<RowProblem>)> {
        let part = |c: &str| match c {
            code::VERIFY => Some(Part::Invalid),
            code::WRITE => Some(Part::Duplicate),
            _ => None,
        };
        if a.code == code::MULTIPLE {
            a.groups
                .into_iter()
                .filter_map(|g| part(&g.code).map(|k| (k, g.problems)))
                .collect()
        } else {
            part(&a.code)
                .map(|k| vec![(k, a.problems)])
                .unwrap_or_default()
        }
    }
    /// An envelope problem already listed for its kind is left out.
    fn fresh(seen: &mut Vec<RowProblem>, p: &RowProblem) -> bool {
        if p.index.is_some() {
            return true;
        }
        if seen.contains(p) {
            return false;
        }
        seen.push(p.clone());
        true
    }
    // First reading: how many problems of each kind, which failing rows carry a row.
    let mut listed = [0usize; 2];
    let mut with_row: [Vec<bool>; 2] = [Vec::new(), Vec::new()];
    let mut seen: [Vec<RowProblem>; 2] = [Vec::new(), Vec::new()];
    for i in 0..count {
        for (part, problems) in parts(answer_at(i)?) {
            let k = part as usize;
            for p in &problems {
                if fresh(&mut seen[k], p) {
                    listed[k] += 1;
                    if p.index.is_some() {
                        with_row[k].push(p.row.is_some());
                    }
                }
            }
        }
    }
    let code = match (listed[0] > 0, listed[1] > 0) {
        (false, false) => return Ok(None),
        (true, false) => code::VERIFY,
        (false, true) => code::WRITE,
        (true, true) => code::MULTIPLE,
    };
    // Whole rows: the first MAX_FULL_ROWS, invalid ones first (as `rejection` trims).
    let whole = [
        MAX_FULL_ROWS,
        MAX_FULL_ROWS.saturating_sub(with_row[0].len()),
    ];
    let trimmed: usize = (0..2)
        .map(|k| with_row[k].iter().skip(whole[k]).filter(|r| **r).count())
        .sum();
    let failing = with_row[0].len() + with_row[1].len();
    let mut out = AnswerText::new(code, &rejection_msg(code, why, failing, trimmed));
    // One record of the rules stated, across both kinds, as `rejection` keeps it.
    let mut shown = HashSet::new();
    for part in [Part::Invalid, Part::Duplicate] {
        let k = part as usize;
        if listed[k] == 0 {
            continue;
        }
        if code == code::MULTIPLE {
            let c = if part == Part::Invalid {
                code::VERIFY
            } else {
                code::WRITE
            };
            out.group(c, code_msg(c));
        } else {
            out.result();
        }
        let mut seen = Vec::new();
        let mut rows = 0;
        for i in 0..count {
            for (p_part, problems) in parts(answer_at(i)?) {
                if p_part != part {
                    continue;
                }
                for mut p in problems {
                    if !fresh(&mut seen, &p) {
                        continue;
                    }
                    if p.index.is_some() {
                        rows += 1;
                        trim_problem(&mut p, rows <= whole[k], &mut shown);
                    }
                    out.problem(&p);
                }
            }
        }
    }
    Ok(Some((code.to_string(), out.finish())))
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
///
/// The rule as one value, which the tests hold [`merged_rejection_text`] (what a file's
/// feedback is written with, one problem at a time) to.
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_proto::v1::Field;

    fn failing_row(i: u32) -> RowProblem {
        let field = |name: &str| Field {
            name: name.into(),
            value: None,
        };
        problem(
            Some(i),
            Some(Row {
                fields: vec![field("a"), field("b"), field("c")],
                not_object: String::new(),
                line: i + 2,
            }),
            vec![verify(kind::LENGTH, "b", "")],
        )
    }

    /// A file's merged answer written from the sequences' answers one at a time is the text
    /// of every problem put together at once (rows past the first thousand trimmed, invalid
    /// rows first, an envelope problem once).
    #[test]
    fn a_merged_answer_written_one_answer_at_a_time_is_the_rejection_of_everything() {
        let dup = |i: u32| {
            let mut p = failing_row(i);
            p.verify = vec![verify(kind::DUPLICATE, "a", "")];
            p
        };
        let v = |rows: std::ops::Range<u32>| IngestBatchResponse {
            code: code::VERIFY.into(),
            problems: rows.map(failing_row).collect(),
            ..Default::default()
        };
        let answers = vec![
            v(0..800),
            IngestBatchResponse {
                code: code::MULTIPLE.into(),
                groups: vec![
                    CodeGroup {
                        code: code::VERIFY.into(),
                        msg: String::new(),
                        problems: (800..1500).map(failing_row).collect(),
                    },
                    CodeGroup {
                        code: code::WRITE.into(),
                        msg: String::new(),
                        problems: (0..600).map(dup).collect(),
                    },
                ],
                ..Default::default()
            },
            IngestBatchResponse {
                code: code::WRITE.into(),
                problems: (600..1700).map(dup).collect(),
                ..Default::default()
            },
        ];
        let all = rejection(
            (0..1500).map(failing_row).collect(),
            (0..1700).map(dup).collect(),
            "(why)",
        );
        assert_eq!(
            merged_rejection(answers.clone(), "(why)"),
            Some(all.clone())
        );
        // Written straight from the answers, one at a time: the same text.
        let text = |answers: &[IngestBatchResponse], why: &str| {
            merged_rejection_text(answers.len(), |i| Ok::<_, ()>(answers[i].clone()), why)
                .expect("text")
        };
        let as_text = |a: &IngestBatchResponse| {
            Some((a.code.clone(), wharf_proto::json::answer_json_text(a)))
        };
        assert_eq!(text(&answers, "(why)"), as_text(&all));
        let envelope = || envelope_problem(kind::NOT_ALLOWED, "batch_size", "");
        let mut with_envelope = answers.clone();
        with_envelope[0].problems.insert(0, envelope());
        with_envelope[2].problems.push(envelope());
        with_envelope.push(IngestBatchResponse {
            code: code::VERIFY.into(),
            problems: vec![envelope(), failing_row(5000)],
            ..Default::default()
        });
        with_envelope.push(answer(code::OK, "fine".into(), vec![]));
        let merged = merged_rejection(with_envelope.clone(), "").expect("merged");
        assert_eq!(text(&with_envelope, ""), as_text(&merged));
        assert_eq!(
            text(&answers[2..], "x"),
            as_text(&merged_rejection(answers[2..].to_vec(), "x").expect("w"))
        );
        assert_eq!(
            text(&answers[..1], "x"),
            as_text(&merged_rejection(answers[..1].to_vec(), "x").expect("v"))
        );
        assert_eq!(text(&[], "x"), None);
        assert!(all.msg.contains("3200 failing rows"), "{}", all.msg);
        // Only invalid rows: the budget is theirs alone.
        let merged = merged_rejection(vec![v(0..600), v(600..1200)], "").expect("merged");
        assert_eq!(
            merged,
            rejection((0..1200).map(failing_row).collect(), vec![], "")
        );
    }

    #[test]
    fn answers_repeat_at_most_a_thousand_rows_whole() {
        let mut rows: Vec<RowProblem> = (0..1500).map(failing_row).collect();
        rows.push(envelope_problem(kind::REQUIRED, "x", ""));
        let answer = rejection(rows, vec![], "");
        assert_eq!(answer.problems.len(), 1501, "every problem is listed");
        let widths: Vec<usize> = answer
            .problems
            .iter()
            .map(|p| p.row.as_ref().map_or(0, |r| r.fields.len()))
            .collect();
        assert!(widths[..MAX_FULL_ROWS].iter().all(|w| *w == 3));
        assert!(widths[MAX_FULL_ROWS..1500].iter().all(|w| *w == 1));
        let last = answer.problems[1499].row.as_ref().expect("row");
        assert_eq!((last.fields[0].name.as_str(), last.line), ("b", 1501));
        assert!(
            answer.msg.contains("1500 failing rows") && answer.msg.contains("other 500"),
            "{}",
            answer.msg
        );
        // Under the cap nothing changes and nothing is said.
        let small = rejection((0..10).map(failing_row).collect(), vec![], "");
        assert_eq!(small.msg, code_msg(code::VERIFY));
        assert!(small
            .problems
            .iter()
            .all(|p| p.row.as_ref().is_some_and(|r| r.fields.len() == 3)));
    }

    #[test]
    fn past_the_whole_rows_a_fields_rule_is_not_repeated() {
        use wharf_proto::v1::{FieldDetail, RowRef};
        let rule = |field: &str| VerifyDetail {
            by_field: vec![FieldDetail {
                field: field.into(),
                max_length: Some(3),
                ..Default::default()
            }],
            ..Default::default()
        };
        let with = |mut p: RowProblem, v: Verify| {
            p.verify = vec![v];
            p
        };
        let mut rows: Vec<RowProblem> = (0..1500)
            .map(|i| {
                with(
                    failing_row(i),
                    verify_with(kind::LENGTH, "b", "", rule("b")),
                )
            })
            .collect();
        // Row 1200 fails on a field no earlier row failed on: its rule is said there.
        rows[1200] = with(
            failing_row(1200),
            verify_with(kind::LENGTH, "b,c", "", {
                let mut d = rule("b");
                d.by_field.extend(rule("c").by_field);
                d
            }),
        );
        let dup = with(
            failing_row(1600),
            verify_with(
                kind::DUPLICATE,
                "a",
                "",
                VerifyDetail {
                    repeats: Some(RowRef { index: 3, line: 5 }),
                    ..Default::default()
                },
            ),
        );
        let answer = rejection(rows, vec![dup], "");
        let group = |code: &str| {
            answer
                .groups
                .iter()
                .find(|g| g.code == code)
                .map(|g| g.problems.clone())
                .expect("group")
        };
        let invalid = group(code::VERIFY);
        let fields_with_rules = |p: &RowProblem| -> Vec<String> {
            p.verify[0]
                .detail
                .iter()
                .flat_map(|d| d.by_field.iter().map(|f| f.field.clone()))
                .collect()
        };
        assert!(invalid[..MAX_FULL_ROWS]
            .iter()
            .all(|p| fields_with_rules(p) == ["b"]));
        assert_eq!(invalid[1000].verify[0].detail, None, "said before");
        assert_eq!(fields_with_rules(&invalid[1200]), ["c"]);
        assert_eq!(invalid[1499].verify[0].detail, None);
        assert!(invalid
            .iter()
            .all(|p| p.verify[0].r#type == kind::LENGTH && !p.verify[0].fields.is_empty()));
        // A duplicate's own detail stays, past the whole rows too.
        let dups = group(code::WRITE);
        assert_eq!(
            dups[0].verify[0].detail.as_ref().and_then(|d| d.repeats),
            Some(RowRef { index: 3, line: 5 })
        );
    }
}
