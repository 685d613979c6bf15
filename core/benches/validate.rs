//! Validation throughput: t1/bom rows per second on one core (`cargo bench --bench validate`),
//! for valid rows and for rows that each fail three rules (what a rejection costs to judge).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wharf_core::interfaces::Registry;
use wharf_core::model::{Operation, Transport};
use wharf_core::validate::{check_sequence, SequenceInput};
use wharf_proto::v1::{value::Kind, Field, Row, Value};

fn row(i: usize) -> Row {
    let v = |k: Kind| Some(Value { kind: Some(k) });
    let t = |s: String| v(Kind::Text(s));
    let n = |s: &str| v(Kind::Number(s.into()));
    let fields = vec![
        ("bu", t("ThinkNB".into())),
        ("vendor_code", t("2022012".into())),
        ("vendor_name", t("联想供应商 Ltd.".into())),
        ("vendor_father_item", t(format!("VF{i:08}"))),
        ("father_item", t("5B20S43052".into())),
        ("vendor_child_item", t(format!("VC{i:08}"))),
        ("child_item", t("5B20S43053".into())),
        ("quantity_per", n("10.125")),
        ("effective_start_date", t("2022-09-14".into())),
        ("effective_end_date", t("2024-02-29".into())),
        ("priority", t("N/A".into())),
        ("split", n("0.28")),
        ("version", t("20211012000000".into())),
        ("owner", t("planner".into())),
    ];
    Row {
        not_object: String::new(),
        line: 0,
        fields: fields
            .into_iter()
            .map(|(name, value)| Field {
                name: name.into(),
                value,
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let registry = Registry::load(None).expect("built-ins");
    let iface = registry.get("t1", "bom").expect("t1/bom");
    let rows: Vec<Row> = (0..500).map(row).collect();
    let text = |s: &str| Value {
        kind: Some(Kind::Text(s.into())),
    };
    let (batch_id, batch_size, seq_id, seq_size) =
        (text("B1"), text("100000"), text("1"), text("500"));
    let input = SequenceInput {
        partner: "LCFC",
        operation: Operation::Insert,
        transport: Transport::Api,
        batch_id: Some(&batch_id),
        batch_size: Some(&batch_size),
        seq_id: Some(&seq_id),
        seq_size: Some(&seq_size),
        app_name: None,
        has_data: true,
        rows: &rows,
        unknown_envelope_fields: &[],
        unreadable: "",
        mistyped_envelope_fields: &[],
    };
    let checked = check_sequence(iface, &input);
    assert!(checked.invalid.is_empty() && checked.rows.len() == 500);
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(500));
    g.bench_function("t1_bom_500_row_sequence", |b| {
        b.iter(|| check_sequence(iface, std::hint::black_box(&input)))
    });
    // Every row fails three rules: a value not allowed (`bu`), a date that does not exist
    // and a decimal with too many places.
    let failing: Vec<Row> = (0..500)
        .map(|i| {
            let mut r = row(i);
            for f in &mut r.fields {
                let bad = match f.name.as_str() {
                    "bu" => "Thinkpad",
                    "effective_end_date" => "2022-02-30",
                    "split" => "0.285",
                    _ => continue,
                };
                f.value = Some(text(bad));
            }
            r
        })
        .collect();
    let failing_input = SequenceInput {
        rows: &failing,
        ..input
    };
    let checked = check_sequence(iface, &failing_input);
    assert_eq!(checked.invalid.len(), 500);
    assert!(checked.invalid.iter().all(|p| p.verify.len() == 3));
    g.bench_function("t1_bom_500_failing_rows", |b| {
        b.iter(|| check_sequence(iface, std::hint::black_box(&failing_input)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
