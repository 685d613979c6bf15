//! Validation: the envelope rules of SPEC §4 and the row rules of SPEC §3, answering in the
//! fixed vocabulary of SPEC §5. Pure functions: no store, no clock, no transport.

use std::collections::HashMap;

use wharf_proto::v1::{value::Kind, Field, Row, RowProblem, Value, Verify};

use crate::batch::{Operation, Transport};
use crate::interfaces::{FieldRule, FieldType, Interface};

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

/// Longest `batch_id` (SPEC §4).
pub const MAX_BATCH_ID_CHARS: usize = 16;
/// Longest `seq_id`: the seeds set none, this keeps dedupe keys bounded.
pub const MAX_SEQ_ID_CHARS: usize = 64;
/// Largest `batch_size` accepted: far above any real batch, low enough to stay exact everywhere.
pub const MAX_BATCH_SIZE: u64 = 100_000_000;

/// Most rows one sequence may carry through a transport (SPEC §4).
pub fn max_seq_size(transport: Transport) -> u64 {
    match transport {
        Transport::Api => 500,
        Transport::Ftp | Transport::Upload | Transport::Grpc => 5000,
    }
}

/// A row that passed every rule, ready to stage.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanRow {
    /// Position in the sequence's `data`.
    pub index: u32,
    /// The business key, canonically encoded; `None` only for a delete matched by uid alone.
    pub rkey: Option<String>,
    pub uid: Option<String>,
    /// The business fields as a JSON object of strings, in definition order, values as sent.
    pub data: String,
}

/// The envelope fields, each `None` when it was missing or broken (and a problem says why).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Envelope {
    pub batch_id: Option<String>,
    pub batch_size: Option<u64>,
    pub seq_id: Option<String>,
    pub seq_size: Option<u64>,
}

/// The outcome of validating one sequence.
#[derive(Debug, Default)]
pub struct Checked {
    pub envelope: Envelope,
    pub rows: Vec<CleanRow>,
    /// Envelope and row problems: the sequence answers E00V00.
    pub invalid: Vec<RowProblem>,
    /// Keys repeated inside the sequence: the sequence answers E00W00.
    pub duplicates: Vec<RowProblem>,
}

/// A scalar's text, `None` for null / absent, `Err` for a bool, object or array.
fn scalar(v: Option<&Value>) -> Result<Option<&str>, ()> {
    match v.and_then(|v| v.kind.as_ref()) {
        None | Some(Kind::Null(_)) => Ok(None),
        Some(Kind::Text(s)) | Some(Kind::Number(s)) => Ok(Some(s.as_str())),
        Some(Kind::Boolean(_)) | Some(Kind::Json(_)) => Err(()),
    }
}

fn verify(ty: &str, fields: &str) -> Verify {
    Verify {
        r#type: ty.to_string(),
        fields: fields.to_string(),
        code: String::new(),
    }
}

fn envelope_problem(ty: &str, field: &str) -> RowProblem {
    RowProblem {
        index: None,
        row: None,
        verify: vec![verify(ty, field)],
    }
}

/// A whole non-negative integer given as a JSON number or numeric string ("250000", 2, "2.0" is not).
fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn check_id(
    problems: &mut Vec<RowProblem>,
    v: Option<&Value>,
    name: &str,
    max: usize,
) -> Option<String> {
    match scalar(v) {
        Err(()) => problems.push(envelope_problem(kind::TYPE, name)),
        Ok(None) | Ok(Some("")) => problems.push(envelope_problem(kind::REQUIRED, name)),
        Ok(Some(s)) if s.chars().count() > max => {
            problems.push(envelope_problem(kind::LENGTH, name))
        }
        Ok(Some(s)) if s.chars().any(char::is_control) => {
            problems.push(envelope_problem(kind::NOT_ALLOWED, name))
        }
        Ok(Some(s)) => return Some(s.to_string()),
    }
    None
}

fn check_count(
    problems: &mut Vec<RowProblem>,
    v: Option<&Value>,
    name: &str,
    max: u64,
) -> Option<u64> {
    match scalar(v) {
        Err(()) => problems.push(envelope_problem(kind::TYPE, name)),
        Ok(None) | Ok(Some("")) => problems.push(envelope_problem(kind::REQUIRED, name)),
        Ok(Some(s)) => match parse_count(s) {
            None => problems.push(envelope_problem(kind::NUMBER, name)),
            Some(n) if n == 0 || n > max => {
                problems.push(envelope_problem(kind::NOT_ALLOWED, name))
            }
            Some(n) => return Some(n),
        },
    }
    None
}

/// Everything about one sequence that can be checked without the store.
#[derive(Debug, Clone, Copy)]
pub struct SequenceInput<'a> {
    pub partner: &'a str,
    pub operation: Operation,
    pub transport: Transport,
    pub batch_id: Option<&'a Value>,
    pub batch_size: Option<&'a Value>,
    pub seq_id: Option<&'a Value>,
    pub seq_size: Option<&'a Value>,
    pub app_name: Option<&'a Value>,
    pub has_data: bool,
    pub rows: &'a [Row],
    pub unknown_envelope_fields: &'a [String],
}

/// Validate the envelope and every row of one sequence, reporting every failing row.
pub fn check_sequence(iface: &Interface, input: &SequenceInput<'_>) -> Checked {
    let mut out = Checked::default();
    let p = &mut out.invalid;
    out.envelope.batch_id = check_id(p, input.batch_id, "batch_id", MAX_BATCH_ID_CHARS);
    out.envelope.batch_size = check_count(p, input.batch_size, "batch_size", MAX_BATCH_SIZE);
    out.envelope.seq_id = check_id(p, input.seq_id, "seq_id", MAX_SEQ_ID_CHARS);
    out.envelope.seq_size =
        check_count(p, input.seq_size, "seq_size", max_seq_size(input.transport));
    match scalar(input.app_name) {
        Err(()) => p.push(envelope_problem(kind::TYPE, "appName")),
        Ok(Some(name)) if name != input.partner => {
            p.push(envelope_problem(kind::NOT_ALLOWED, "appName"))
        }
        Ok(_) => {}
    }
    if !input.unknown_envelope_fields.is_empty() {
        p.push(envelope_problem(
            kind::UNKNOWN,
            &input.unknown_envelope_fields.join(","),
        ));
    }
    if !input.has_data {
        p.push(envelope_problem(kind::REQUIRED, "data"));
    } else if let Some(n) = out.envelope.seq_size {
        if n != input.rows.len() as u64 {
            p.push(envelope_problem(kind::NOT_ALLOWED, "seq_size"));
        }
    }
    let mut seen_keys: HashMap<String, u32> = HashMap::new();
    let mut seen_uids: HashMap<String, u32> = HashMap::new();
    for (i, row) in input.rows.iter().enumerate() {
        let index = i as u32;
        match check_row(iface, input.operation, row) {
            Err(verify) => out.invalid.push(RowProblem {
                index: Some(index),
                row: Some(row.clone()),
                verify,
            }),
            Ok(mut clean) => {
                clean.index = index;
                if input.operation != Operation::Delete {
                    let dup_key = clean
                        .rkey
                        .as_ref()
                        .is_some_and(|k| seen_keys.insert(k.clone(), index).is_some());
                    let dup_uid = clean
                        .uid
                        .as_ref()
                        .is_some_and(|u| seen_uids.insert(u.clone(), index).is_some());
                    if dup_key || dup_uid {
                        out.duplicates
                            .push(duplicate_problem(iface, index, row, dup_key));
                        continue;
                    }
                }
                out.rows.push(clean);
            }
        }
    }
    out
}

/// The E00W00 entry for a row whose key (or uid) is already taken.
pub fn duplicate_problem(iface: &Interface, index: u32, row: &Row, by_key: bool) -> RowProblem {
    let fields = if by_key {
        iface.business_key.join(",")
    } else {
        iface.uid_field.clone().unwrap_or_default()
    };
    RowProblem {
        index: Some(index),
        row: Some(row.clone()),
        verify: vec![verify(kind::DUPLICATE, &fields)],
    }
}

/// Collects failing field names per error type, so each type is reported once per row.
#[derive(Default)]
struct RowFaults(Vec<(&'static str, Vec<String>)>);

impl RowFaults {
    fn add(&mut self, ty: &'static str, field: &str) {
        match self.0.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, fields)) => fields.push(field.to_string()),
            None => self.0.push((ty, vec![field.to_string()])),
        }
    }

    fn into_verify(self) -> Vec<Verify> {
        self.0
            .into_iter()
            .map(|(ty, fields)| verify(ty, &fields.join(",")))
            .collect()
    }
}

/// Check one row against the interface. On success, the row's key, uid and stored form.
pub fn check_row(iface: &Interface, op: Operation, row: &Row) -> Result<CleanRow, Vec<Verify>> {
    let mut faults = RowFaults::default();
    let mut given: HashMap<&str, &Field> = HashMap::with_capacity(row.fields.len());
    for f in &row.fields {
        if given.insert(f.name.as_str(), f).is_some() {
            faults.add(kind::TYPE, &f.name);
        }
        if iface.field(&f.name).is_none() && !iface.allow_extra_fields {
            faults.add(kind::UNKNOWN, &f.name);
        }
    }
    let uid_given = iface.uid_field.as_deref().is_some_and(|u| {
        matches!(scalar(given.get(u).and_then(|f| f.value.as_ref())), Ok(Some(s)) if !s.is_empty())
    });
    let mut values: Vec<(&str, String)> = Vec::with_capacity(iface.fields.len());
    for rule in &iface.fields {
        // A delete needs only what identifies the row: the uid, or else the business key.
        let required = if op == Operation::Delete {
            !uid_given && iface.business_key.contains(&rule.name)
        } else {
            rule.required
        };
        let raw = given.get(rule.name.as_str()).and_then(|f| f.value.as_ref());
        let text = match scalar(raw) {
            Err(()) => {
                faults.add(kind::TYPE, &rule.name);
                continue;
            }
            Ok(Some(s)) if !s.is_empty() => s,
            Ok(_) => {
                if let Some(d) = &rule.default {
                    if op != Operation::Delete {
                        values.push((&rule.name, d.clone()));
                    }
                } else if required {
                    faults.add(kind::REQUIRED, &rule.name);
                }
                continue;
            }
        };
        if let Some(ty) = check_value(rule, text) {
            faults.add(ty, &rule.name);
            continue;
        }
        values.push((&rule.name, text.to_string()));
    }
    if iface.allow_extra_fields {
        for f in &row.fields {
            if iface.field(&f.name).is_none() {
                match scalar(f.value.as_ref()) {
                    Err(()) => faults.add(kind::TYPE, &f.name),
                    Ok(Some(s)) => values.push((&f.name, s.to_string())),
                    Ok(None) => {}
                }
            }
        }
    }
    if !faults.0.is_empty() {
        return Err(faults.into_verify());
    }
    let lookup = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
    let uid = iface
        .uid_field
        .as_deref()
        .and_then(lookup)
        .filter(|_| uid_given)
        .cloned();
    let key: Option<Vec<&String>> = iface.business_key.iter().map(|k| lookup(k)).collect();
    let rkey = key.map(|k| encode_key(&k));
    let mut data = String::with_capacity(64 * values.len());
    data.push('{');
    for (i, (name, value)) in values.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        push_json_str(&mut data, name);
        data.push(':');
        push_json_str(&mut data, value);
    }
    data.push('}');
    Ok(CleanRow {
        index: 0,
        rkey,
        uid,
        data,
    })
}

/// The canonical business-key encoding: a JSON array of the key values' text.
pub fn encode_key(values: &[&String]) -> String {
    let mut out = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(&mut out, v);
    }
    out.push(']');
    out
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's string escaping, without building a Value.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        // Serializing a &str cannot fail; keep the row valid JSON regardless.
        Err(_) => out.push_str("\"\""),
    }
}

/// The error type for one present, non-empty value, or `None` when it is fine.
pub fn check_value(rule: &FieldRule, text: &str) -> Option<&'static str> {
    if rule.exceptions.iter().any(|e| e == text) {
        return None;
    }
    let fault = match rule.ty {
        FieldType::String => None,
        FieldType::Digits => (!text.bytes().all(|b| b.is_ascii_digit())).then_some(kind::NUMBER),
        FieldType::Date => (!is_calendar_date(text)).then_some(kind::DATE),
        FieldType::Decimal { precision, scale } => check_decimal(text, precision, scale),
    };
    if fault.is_some() {
        return fault;
    }
    if rule
        .max_length
        .is_some_and(|max| text.chars().count() > max)
    {
        return Some(kind::LENGTH);
    }
    if !rule.allowed.is_empty() && !rule.allowed.iter().any(|a| a == text) {
        return Some(kind::NOT_ALLOWED);
    }
    None
}

/// `-?digits(.digits)?`, exactly, with at most `p - s` integer and `s` fraction digits
/// (leading zeros of the integer part and trailing zeros of the fraction do not count).
pub fn check_decimal(text: &str, precision: u8, scale: u8) -> Option<&'static str> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Some(kind::NUMBER);
    }
    let int_digits = int.trim_start_matches('0').len();
    let frac_digits = frac.map_or(0, |f| f.trim_end_matches('0').len());
    if int_digits > usize::from(precision - scale) || frac_digits > usize::from(scale) {
        return Some(kind::PRECISION);
    }
    None
}

/// `yyyy-mm-dd` naming a day that exists (2024-02-29 yes, 2022-02-29 no).
pub fn is_calendar_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && d >= 1 && d <= days
}
