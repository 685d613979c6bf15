//! What the detail of row errors costs an answer: the rejection of 30,000 failing sheet rows
//! (BENCHMARKS "Rejected sheets": two text cells over their length and an impossible date in
//! every row), sent as six 5,000-row sequences and merged into one file answer as the file
//! doors do, rendered as the feedback JSON with and without `detail`. Sizes, not times: the
//! same on every machine. `cargo test -p wharf-core --test answer_size -- --nocapture`
//! prints them.

use wharf_core::codes::merged_rejection_text;
use wharf_core::interfaces::Registry;
use wharf_core::model::{Operation, Transport};
use wharf_core::validate::{check_sequence, SequenceInput};
use wharf_proto::json::row_from_line;
use wharf_proto::v1::IngestBatchResponse;

const ROWS: usize = 30_000;
const SEQ: usize = 5_000;

/// Sequence `s`'s answer, as core gives it.
fn sequence_answer(registry: &Registry, s: usize) -> IngestBatchResponse {
    let iface = registry.get("t1", "bom").expect("t1/bom");
    let rows: Vec<_> = (s * SEQ..(s + 1) * SEQ)
        .map(|i| {
            let text = format!(
                r#"{{"vendor_code":"{}","vendor_father_item":"K{i}","father_item":"213",
                "vendor_child_item":"eee","child_item":"{}","quantity_per":"10.1",
                "effective_start_date":"2022-09-14","effective_end_date":"2022-13-31",
                "priority":"N/A","split":"0.28","version":"20220914"}}"#,
                "v".repeat(40),
                "c".repeat(40)
            );
            row_from_line(&text, i as u32 + 2)
        })
        .collect();
    let n = serde_json::json!(SEQ);
    let size = wharf_proto::v1::Value {
        kind: Some(wharf_proto::v1::value::Kind::Number(n.to_string())),
    };
    let batch_size = wharf_proto::v1::Value {
        kind: Some(wharf_proto::v1::value::Kind::Number(ROWS.to_string())),
    };
    let id = wharf_proto::v1::Value {
        kind: Some(wharf_proto::v1::value::Kind::Text(format!("S{s}"))),
    };
    let checked = check_sequence(
        iface,
        &SequenceInput {
            partner: "P",
            operation: Operation::Insert,
            transport: Transport::Ftp,
            batch_id: Some(&id),
            batch_size: Some(&batch_size),
            seq_id: Some(&id),
            seq_size: Some(&size),
            app_name: None,
            has_data: true,
            rows: &rows,
            unknown_envelope_fields: &[],
            unreadable: "",
            mistyped_envelope_fields: &[],
        },
    );
    assert_eq!(checked.invalid.len(), SEQ, "every row fails");
    wharf_core::codes::rejection(checked.invalid, checked.duplicates, "")
}

fn without_detail(mut a: IngestBatchResponse) -> IngestBatchResponse {
    for p in a
        .problems
        .iter_mut()
        .chain(a.groups.iter_mut().flat_map(|g| g.problems.iter_mut()))
    {
        for v in &mut p.verify {
            v.detail = None;
        }
    }
    a
}

#[test]
fn details_add_little_to_a_large_rejection() {
    let registry = Registry::load(None).expect("built-in interfaces");
    let answers: Vec<IngestBatchResponse> = (0..ROWS / SEQ)
        .map(|s| sequence_answer(&registry, s))
        .collect();
    // The feedback text, as the file doors write it (merged one answer at a time).
    let feedback = |answers: &[IngestBatchResponse]| -> String {
        merged_rejection_text(answers.len(), |i| Ok::<_, ()>(answers[i].clone()), "")
            .expect("merged")
            .expect("a rejection")
            .1
    };
    let text = feedback(&answers);
    let bare: Vec<IngestBatchResponse> = answers.into_iter().map(without_detail).collect();
    let (with, without) = (text.len(), feedback(&bare).len());
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let first = parsed["result"][0]["verify"].to_string();
    assert!(first.contains(r#""max_length":30"#), "{first}");
    assert!(first.contains(r#""format":"yyyy-mm-dd""#), "{first}");
    let growth = (with - without) as f64 / without as f64;
    println!(
        "{ROWS} failing rows: feedback {without} bytes without detail, {with} with \
         (+{:.2} %)",
        growth * 100.0
    );
    // The first 1,000 rows state their rules; the other 29,000 do not repeat them.
    assert!(
        growth < 0.10,
        "details grew the answer by {:.1} %",
        growth * 100.0
    );
}
