//! Core's answers to a batch's sequences, flattened into what a person reads: one line per
//! failing field (one per row for a duplicate key, naming every key field), with the
//! spreadsheet row number (header = row 1), the field, SPEC §5's error type, the value that
//! was sent and how to fix it (`hints`, from the type and core's detail). Core already said
//! which rows failed and why; this only lays its answer out.

use std::collections::HashMap;

use wharf_proto::v1 as pb;

use crate::hints::{self, value_text};
use crate::i18n::t;

/// Core's type for a key already taken: shown as one line per row.
const DUPLICATE: &str = "duplicate key";

/// One line of the error table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorLine {
    /// The spreadsheet row number; 0 for a problem with the upload as a whole.
    pub(crate) line: u32,
    /// The field (column header), or the envelope part for a problem with the whole upload.
    pub(crate) field: String,
    /// SPEC §5's error type.
    pub(crate) kind: String,
    /// The value sent, as text ("" when the cell was empty); a duplicate's key values.
    pub(crate) value: String,
    /// How to fix it, in a sentence.
    pub(crate) hint: String,
}

/// Every problem of an answer, its groups' included.
fn problems_of(answer: &pb::IngestBatchResponse) -> impl Iterator<Item = &pb::RowProblem> {
    answer
        .problems
        .iter()
        .chain(answer.groups.iter().flat_map(|g| g.problems.iter()))
}

/// Every problem of every answer, one line per field, ordered by spreadsheet row (problems
/// with the upload as a whole first), keeping core's order within a row.
pub(crate) fn error_lines<'a>(
    answers: impl IntoIterator<Item = &'a pb::IngestBatchResponse> + Clone,
) -> Vec<ErrorLine> {
    // A field's rule, as any entry states it: past its first 1,000 failing rows an answer
    // states each type and field's rule once, not in every row.
    let mut rules: HashMap<(&str, &str), &pb::FieldDetail> = HashMap::new();
    for answer in answers.clone() {
        for v in problems_of(answer).flat_map(|p| p.verify.iter()) {
            for d in v.detail.iter().flat_map(|d| d.by_field.iter()) {
                rules
                    .entry((v.r#type.as_str(), d.field.as_str()))
                    .or_insert(d);
            }
        }
    }
    let mut out = Vec::new();
    for answer in answers {
        for p in problems_of(answer) {
            let line = p.row.as_ref().map_or(0, |r| r.line);
            let sent = |field: &str| {
                p.row
                    .as_ref()
                    .and_then(|r| r.fields.iter().find(|f| f.name == field))
                    .map(|f| value_text(f.value.as_ref()))
                    .unwrap_or_default()
            };
            for v in &p.verify {
                if v.r#type == DUPLICATE {
                    // One line for the row: the key is all its fields together.
                    let fields: Vec<&str> = v.fields.split(',').map(str::trim).collect();
                    out.push(ErrorLine {
                        line,
                        field: fields.join(","),
                        kind: v.r#type.clone(),
                        value: fields
                            .iter()
                            .map(|f| sent(f))
                            .collect::<Vec<_>>()
                            .join(", "),
                        hint: hints::duplicate_sentence(&v.fields, v.detail.as_ref()),
                    });
                    continue;
                }
                for field in v.fields.split(',').map(str::trim) {
                    let detail = v
                        .detail
                        .as_ref()
                        .and_then(|d| d.by_field.iter().find(|d| d.field == field))
                        .or_else(|| rules.get(&(v.r#type.as_str(), field)).copied());
                    out.push(ErrorLine {
                        line,
                        field: field.to_string(),
                        kind: v.r#type.clone(),
                        value: sent(field),
                        hint: hints::field_sentence(&v.r#type, detail),
                    });
                }
            }
        }
    }
    out.sort_by_key(|e| e.line);
    out
}

/// The whole error table as CSV, with a header row; every cell defused and quoted by
/// `wharf_sheet::out` (a field name or value a sheet carried cannot run as a formula).
pub(crate) fn errors_csv(lines: &[ErrorLine]) -> String {
    // A UTF-8 byte order mark first: without it Excel on Windows reads the file in the
    // machine's code page and garbles Chinese text.
    let mut out = String::from("\u{feff}");
    // The header in the user's language; the error type stays core's word (it is what
    // core's answers and the other doors say), its sentence is in the user's language.
    out.push_str(&wharf_sheet::out::csv_record([
        t("csv.row"),
        t("csv.field"),
        t("csv.error"),
        t("csv.value"),
        t("csv.hint"),
    ]));
    for e in lines {
        let row = if e.line == 0 {
            String::new()
        } else {
            e.line.to_string()
        };
        out.push_str(&wharf_sheet::out::csv_record([
            row.as_str(),
            &e.field,
            &e.kind,
            &e.value,
            &e.hint,
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_proto::v1::value::Kind;

    fn text(s: &str) -> Option<pb::Value> {
        Some(pb::Value {
            kind: Some(Kind::Text(s.into())),
        })
    }

    fn problem(line: u32, fields: &[(&str, &str)], verify: &[(&str, &str)]) -> pb::RowProblem {
        pb::RowProblem {
            index: Some(line.saturating_sub(2)),
            row: Some(pb::Row {
                line,
                fields: fields
                    .iter()
                    .map(|(n, v)| pb::Field {
                        name: n.to_string(),
                        value: text(v),
                    })
                    .collect(),
                not_object: String::new(),
            }),
            verify: verify
                .iter()
                .map(|(t, f)| pb::Verify {
                    r#type: t.to_string(),
                    fields: f.to_string(),
                    code: String::new(),
                    detail: None,
                })
                .collect(),
        }
    }

    #[test]
    fn every_failing_field_is_a_line_with_its_value_in_row_order() {
        let later = pb::IngestBatchResponse {
            code: "E00V00".into(),
            problems: vec![problem(
                5002,
                &[("part_no", "P1"), ("qty", "x")],
                &[("invalid number", "qty")],
            )],
            ..Default::default()
        };
        let first = pb::IngestBatchResponse {
            code: "E00M00".into(),
            groups: vec![
                pb::CodeGroup {
                    code: "E00V00".into(),
                    msg: String::new(),
                    problems: vec![problem(
                        7,
                        &[("name", "很长的名字")],
                        &[
                            ("value length exceed", "name"),
                            ("required field missing", "a, b"),
                        ],
                    )],
                },
                pb::CodeGroup {
                    code: "E00W00".into(),
                    msg: String::new(),
                    problems: vec![problem(
                        3,
                        &[("k", "1"), ("j", "J"), ("other", "o")],
                        &[("duplicate key", "k,j")],
                    )],
                },
            ],
            ..Default::default()
        };
        let envelope = pb::IngestBatchResponse {
            code: "E00V00".into(),
            problems: vec![pb::RowProblem {
                index: None,
                row: None,
                verify: vec![pb::Verify {
                    r#type: "value not allowed".into(),
                    fields: "seq_size".into(),
                    code: String::new(),
                    detail: None,
                }],
            }],
            ..Default::default()
        };
        let lines = error_lines([&later, &first, &envelope]);
        let seen: Vec<(u32, &str, &str, &str)> = lines
            .iter()
            .map(|e| (e.line, e.field.as_str(), e.kind.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, "seq_size", "value not allowed", ""),
                (3, "k,j", "duplicate key", "1, J"),
                (7, "name", "value length exceed", "很长的名字"),
                (7, "a", "required field missing", ""),
                (7, "b", "required field missing", ""),
                (5002, "qty", "invalid number", "x"),
            ]
        );
    }

    #[test]
    fn each_line_says_how_to_fix_it_from_cores_detail() {
        let mut p = problem(
            4,
            &[("d1", "2022/10/01"), ("d2", "x"), ("k", "K")],
            &[("invalid date", "d1,d2"), ("duplicate key", "k")],
        );
        let date = |field: &str| pb::FieldDetail {
            field: field.into(),
            format: "yyyy-mm-dd".into(),
            example: "2024-02-29".into(),
            ..Default::default()
        };
        p.verify[0].detail = Some(pb::VerifyDetail {
            by_field: vec![date("d1"), date("d2")],
            ..Default::default()
        });
        p.verify[1].detail = Some(pb::VerifyDetail {
            key: vec![pb::Field {
                name: "k".into(),
                value: text("K"),
            }],
            repeats: Some(pb::RowRef { index: 0, line: 2 }),
            ..Default::default()
        });
        // A later row past the whole ones: its rule is not repeated, the page reads it from
        // the row that stated it.
        let later = problem(9, &[("d2", "y")], &[("invalid date", "d2")]);
        let answer = pb::IngestBatchResponse {
            code: "E00M00".into(),
            problems: vec![p, later],
            ..Default::default()
        };
        let hints: Vec<(String, String)> = error_lines([&answer])
            .into_iter()
            .map(|e| (e.field, e.hint))
            .collect();
        let date_hint =
            "Use the date format yyyy-mm-dd, for example 2024-02-29 (a day the calendar has).";
        assert_eq!(
            hints,
            vec![
                ("d1".to_string(), date_hint.to_string()),
                ("d2".to_string(), date_hint.to_string()),
                (
                    "k".to_string(),
                    "Same key as row 2 (k=K): each row needs its own key. Remove one of the \
                     two rows or correct its key."
                        .to_string()
                ),
                ("d2".to_string(), date_hint.to_string()),
            ]
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let lines = vec![
            ErrorLine {
                line: 2,
                field: "name".into(),
                kind: "value length exceed".into(),
                value: "a,\"b\"\nc".into(),
                hint: "Too long: use at most 3 characters.".into(),
            },
            ErrorLine {
                line: 3,
                field: "x".into(),
                kind: "invalid number".into(),
                value: "=HYPERLINK(\"http://evil\")".into(),
                hint: String::new(),
            },
            ErrorLine {
                line: 0,
                field: "seq_size".into(),
                kind: "value not allowed".into(),
                value: "-12.5".into(),
                hint: "This value is not one this field takes.".into(),
            },
        ];
        assert_eq!(
            errors_csv(&lines),
            "\u{feff}row,field,error,value,how to fix\r\n\
             2,name,value length exceed,\"a,\"\"b\"\"\nc\",Too long: use at most 3 characters.\r\n\
             3,x,invalid number,\"'=HYPERLINK(\"\"http://evil\"\")\",\r\n\
             ,seq_size,value not allowed,-12.5,This value is not one this field takes.\r\n"
        );
        use wharf_sheet::out::csv_cell;
        assert_eq!(csv_cell("-cmd"), "'-cmd");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
    }
}
