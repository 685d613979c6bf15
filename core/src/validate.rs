//! Validation: the envelope rules of SPEC §4 and the row rules of SPEC §3, answering in the
//! fixed vocabulary of SPEC §5 (`codes`). Pure functions: no store, no clock, no transport.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use wharf_proto::v1::{
    value::Kind, Field, FieldDetail, Row, RowProblem, RowRef, Value, Verify, VerifyDetail,
};

use crate::codes::{self, kind};
use crate::error::CoreError;
use crate::interfaces::{FieldRule, FieldType, Interface, Registry};
use crate::model::{Operation, Transport};

/// Longest `batch_id` (SPEC §4).
pub const MAX_BATCH_ID_CHARS: usize = 16;
/// Longest `seq_id`: the seeds set none, this keeps dedupe keys bounded.
pub const MAX_SEQ_ID_CHARS: usize = 64;
/// Largest `batch_size` accepted: far above any real batch, low enough to stay exact everywhere.
pub const MAX_BATCH_SIZE: u64 = 100_000_000;

/// Longest file name a file door may deliver: the name is the key its feedback is kept under.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// Whether a text value holds a character no store keeps alike (NUL: PostgreSQL cannot store
/// it) or no partner means to send: the C0 control characters other than TAB, LF and CR,
/// which are legitimate inside a text value (a multi-line remark, a pasted cell).
pub fn forbidden_in_value(text: &str) -> bool {
    text.chars()
        .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
}

/// Whether `id` could be a key wharf stores (a batch id, a file name, a user or partner name):
/// 1 to `max` characters and no control character at all. A lookup by an id that cannot be
/// one finds nothing without asking the store.
pub fn could_be_key(id: &str, max: usize) -> bool {
    !id.is_empty() && id.chars().count() <= max && !id.chars().any(char::is_control)
}

/// Why a file door's file name cannot be kept as the key of its feedback (`None`: it can).
pub fn file_name_fault(name: &str) -> Option<String> {
    if name.chars().any(char::is_control) {
        Some("the file name holds control characters".into())
    } else if name.chars().count() > MAX_FILE_NAME_CHARS {
        Some(format!(
            "the file name is longer than {MAX_FILE_NAME_CHARS} characters"
        ))
    } else {
        None
    }
}

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
        Err(()) => problems.push(codes::envelope_problem(kind::TYPE, name, "")),
        Ok(None) | Ok(Some("")) => problems.push(codes::envelope_problem(kind::REQUIRED, name, "")),
        Ok(Some(s)) if s.chars().count() > max => problems.push(codes::envelope_problem_with(
            kind::LENGTH,
            name,
            VerifyDetail {
                by_field: vec![FieldDetail {
                    field: name.to_string(),
                    max_length: u32::try_from(max).ok(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )),
        Ok(Some(s)) if s.chars().any(char::is_control) => {
            problems.push(codes::envelope_problem(kind::NOT_ALLOWED, name, ""))
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
        Err(()) => problems.push(codes::envelope_problem(kind::TYPE, name, "")),
        Ok(None) | Ok(Some("")) => problems.push(codes::envelope_problem(kind::REQUIRED, name, "")),
        Ok(Some(s)) => match parse_count(s) {
            None => problems.push(codes::envelope_problem(kind::NUMBER, name, "")),
            Some(n) if n == 0 || n > max => {
                problems.push(codes::envelope_problem(kind::NOT_ALLOWED, name, ""))
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
    /// Why the door could not read the payload as an envelope at all ("" when it could).
    pub unreadable: &'a str,
    /// Envelope fields the door found with the wrong JSON type.
    pub mistyped_envelope_fields: &'a [String],
}

/// Validate the envelope and every row of one sequence, reporting every failing row.
pub fn check_sequence(iface: &Interface, input: &SequenceInput<'_>) -> Checked {
    let mut out = Checked::default();
    if !input.unreadable.is_empty() {
        // Nothing else can be said about a payload that is not an envelope.
        out.invalid
            .push(codes::envelope_problem(kind::TYPE, "body", ""));
        return out;
    }
    let p = &mut out.invalid;
    for field in input.mistyped_envelope_fields {
        p.push(codes::envelope_problem(kind::TYPE, field, ""));
    }
    out.envelope.batch_id = check_id(p, input.batch_id, "batch_id", MAX_BATCH_ID_CHARS);
    out.envelope.batch_size = check_count(p, input.batch_size, "batch_size", MAX_BATCH_SIZE);
    out.envelope.seq_id = check_id(p, input.seq_id, "seq_id", MAX_SEQ_ID_CHARS);
    out.envelope.seq_size =
        check_count(p, input.seq_size, "seq_size", max_seq_size(input.transport));
    match scalar(input.app_name) {
        Err(()) => p.push(codes::envelope_problem(kind::TYPE, "appName", "")),
        Ok(Some(name)) if name != input.partner => {
            p.push(codes::envelope_problem(kind::NOT_ALLOWED, "appName", ""))
        }
        Ok(_) => {}
    }
    if !input.unknown_envelope_fields.is_empty() {
        p.push(codes::envelope_problem(
            kind::UNKNOWN,
            &input.unknown_envelope_fields.join(","),
            "",
        ));
    }
    if !input.has_data {
        p.push(codes::envelope_problem(kind::REQUIRED, "data", ""));
    } else if input.mistyped_envelope_fields.iter().any(|f| f == "data") {
        // Already reported as an invalid type.
    } else if let Some(n) = out.envelope.seq_size {
        if n != input.rows.len() as u64 {
            p.push(codes::envelope_problem(kind::NOT_ALLOWED, "seq_size", ""));
        }
    }
    if input.rows.len() as u64 > max_seq_size(input.transport) {
        // More rows than one sequence may carry: refused before any row is read.
        let said = out
            .invalid
            .iter()
            .any(|p| p.index.is_none() && p.verify.iter().any(|v| v.fields == "seq_size"));
        if !said {
            out.invalid
                .push(codes::envelope_problem(kind::NOT_ALLOWED, "seq_size", ""));
        }
        return out;
    }
    // Each key and uid with the first row that took it (the row a later one repeats).
    let mut seen_keys: HashMap<String, u32> = HashMap::new();
    let mut seen_uids: HashMap<String, u32> = HashMap::new();
    for (i, row) in input.rows.iter().enumerate() {
        let index = i as u32;
        match check_row(iface, input.operation, row) {
            Err(verify) => out
                .invalid
                .push(codes::problem(Some(index), Some(row.clone()), verify)),
            Ok(mut clean) => {
                clean.index = index;
                if input.operation != Operation::Delete {
                    let dup_key = first_taker(&mut seen_keys, clean.rkey.as_ref(), index);
                    let dup_uid = first_taker(&mut seen_uids, clean.uid.as_ref(), index);
                    if let Some(first) = dup_key.or(dup_uid) {
                        let line = input.rows.get(first as usize).map_or(0, |r| r.line);
                        out.duplicates.push(duplicate_problem(
                            iface,
                            index,
                            row,
                            dup_key.is_some(),
                            Some(RowRef { index: first, line }),
                        ));
                        continue;
                    }
                }
                out.rows.push(clean);
            }
        }
    }
    out
}

/// The first row that took `taken` (a key or uid), recording `index` as its taker when none
/// did: `Some` is the row `index` repeats.
fn first_taker(seen: &mut HashMap<String, u32>, taken: Option<&String>, index: u32) -> Option<u32> {
    // One hash and one clone per row, as a plain insert costs.
    match seen.entry(taken?.clone()) {
        Entry::Occupied(first) => Some(*first.get()),
        Entry::Vacant(slot) => {
            slot.insert(index);
            None
        }
    }
}

/// The E00W00 entry for a row whose key (or uid) is already taken: by the earlier row
/// `repeats` of its own sequence, or (`None`) elsewhere: in the stored data, an earlier
/// sequence of its batch, an earlier row of a push. Its detail names the key as the row has
/// it, and the row it repeats.
pub fn duplicate_problem(
    iface: &Interface,
    index: u32,
    row: &Row,
    by_key: bool,
    repeats: Option<RowRef>,
) -> RowProblem {
    let names: Vec<&str> = if by_key {
        iface.business_key.iter().map(String::as_str).collect()
    } else {
        iface.uid_field.as_deref().into_iter().collect()
    };
    let key = names
        .iter()
        .map(|name| Field {
            name: name.to_string(),
            value: row
                .fields
                .iter()
                .find(|f| f.name == *name)
                .and_then(|f| f.value.clone())
                .or_else(|| {
                    // Absent from the row: the key holds the field's default.
                    let default = iface.field(name)?.default.clone()?;
                    Some(Value {
                        kind: Some(Kind::Text(default)),
                    })
                }),
        })
        .collect();
    codes::problem(
        Some(index),
        Some(row.clone()),
        vec![codes::verify_with(
            kind::DUPLICATE,
            &names.join(","),
            "",
            VerifyDetail {
                key,
                repeats,
                ..Default::default()
            },
        )],
    )
}

/// What one field's failure of kind `ty` needs said to be fixed: the rule it broke (the
/// limit, the format and an example, the allowed values, the precision) and the literal
/// values its rule takes whatever the type (`N/A`). `None` when the kind says it all
/// (required, unknown field, invalid type).
pub fn field_detail(rule: &FieldRule, ty: &str) -> Option<FieldDetail> {
    let mut d = FieldDetail {
        field: rule.name.clone(),
        ..Default::default()
    };
    let max_length = rule.max_length.and_then(|n| u32::try_from(n).ok());
    let decimal = |d: &mut FieldDetail, precision: u8, scale: u8| {
        d.format = "decimal".into();
        d.max_digits = Some(u32::from(precision));
        d.max_decimals = Some(u32::from(scale));
    };
    match (ty, &rule.ty) {
        (kind::LENGTH, _) => d.max_length = max_length,
        (kind::DATE, _) => {
            d.format = "yyyy-mm-dd".into();
            d.example = "2024-02-29".into();
        }
        (kind::NUMBER, FieldType::Digits) => {
            d.format = "digits".into();
            d.max_length = max_length;
        }
        (kind::NUMBER | kind::PRECISION, FieldType::Decimal { precision, scale }) => {
            decimal(&mut d, *precision, *scale)
        }
        (kind::NOT_ALLOWED, _) if !rule.allowed.is_empty() => d.allowed = rule.allowed.clone(),
        _ => return None,
    }
    d.also_accepted = rule.exceptions.clone();
    Some(d)
}

/// Everything one field's rule takes, as a detail: its format (with an example), length,
/// precision, allowed values and the literal values it also takes. What a template or a form
/// tells a person before they write the value (the error details above say what a value
/// broke).
pub fn field_rules(rule: &FieldRule) -> FieldDetail {
    let mut d = FieldDetail {
        field: rule.name.clone(),
        max_length: rule.max_length.and_then(|n| u32::try_from(n).ok()),
        allowed: rule.allowed.clone(),
        also_accepted: rule.exceptions.clone(),
        ..Default::default()
    };
    match &rule.ty {
        FieldType::Date => {
            d.format = "yyyy-mm-dd".into();
            d.example = "2024-02-29".into();
        }
        FieldType::Digits => d.format = "digits".into(),
        FieldType::Decimal { precision, scale } => {
            d.format = "decimal".into();
            d.max_digits = Some(u32::from(*precision));
            d.max_decimals = Some(u32::from(*scale));
        }
        FieldType::String => {}
    }
    d
}

/// The detail of a value refused for holding control characters.
fn control_detail(field: &str) -> FieldDetail {
    FieldDetail {
        field: field.to_string(),
        control_characters: true,
        ..Default::default()
    }
}

/// Collects failing field names (and each one's detail) per error type, so each type is
/// reported once per row.
#[derive(Default)]
struct RowFaults(Vec<(&'static str, Vec<String>, Vec<FieldDetail>)>);

impl RowFaults {
    fn add(&mut self, ty: &'static str, field: &str) {
        self.add_with(ty, field, None);
    }

    fn add_with(&mut self, ty: &'static str, field: &str, detail: Option<FieldDetail>) {
        let at = match self.0.iter().position(|(t, _, _)| *t == ty) {
            Some(at) => at,
            None => {
                self.0.push((ty, Vec::new(), Vec::new()));
                self.0.len() - 1
            }
        };
        let (_, fields, details) = &mut self.0[at];
        fields.push(field.to_string());
        details.extend(detail);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn into_verify(self) -> Vec<Verify> {
        self.0
            .into_iter()
            .map(|(ty, fields, by_field)| {
                codes::verify_with(
                    ty,
                    &fields.join(","),
                    "",
                    VerifyDetail {
                        by_field,
                        ..Default::default()
                    },
                )
            })
            .collect()
    }
}

/// Check one row against the interface. On success, the row's key, uid and stored form.
pub fn check_row(iface: &Interface, op: Operation, row: &Row) -> Result<CleanRow, Vec<Verify>> {
    if !row.not_object.is_empty() {
        return Err(vec![codes::verify(kind::TYPE, "data", "")]);
    }
    let mut faults = RowFaults::default();
    let mut given: HashMap<&str, &Field> = HashMap::with_capacity(row.fields.len());
    for f in &row.fields {
        if given.insert(f.name.as_str(), f).is_some() {
            // Sent twice: report the repeat once, not again as an unknown field.
            faults.add(kind::TYPE, &f.name);
            continue;
        }
        if iface.field(&f.name).is_none() {
            if !iface.allow_extra_fields {
                faults.add(kind::UNKNOWN, &f.name);
            } else if f.name.chars().any(char::is_control) {
                // An extra field's name is kept with the row: names carry no control character.
                faults.add_with(kind::NOT_ALLOWED, &f.name, Some(control_detail(&f.name)));
            }
        }
    }
    let uid_given = iface.uid_field.as_deref().is_some_and(|u| {
        matches!(scalar(given.get(u).and_then(|f| f.value.as_ref())), Ok(Some(s)) if !s.trim().is_empty())
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
            // Blank (empty or only white space) counts as absent.
            Ok(Some(s)) if !s.trim().is_empty() => s,
            Ok(Some(s)) if forbidden_in_value(s) => {
                // White space and control characters only: not blank, not storable.
                faults.add_with(
                    kind::NOT_ALLOWED,
                    &rule.name,
                    Some(control_detail(&rule.name)),
                );
                continue;
            }
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
        if forbidden_in_value(text) {
            faults.add_with(
                kind::NOT_ALLOWED,
                &rule.name,
                Some(control_detail(&rule.name)),
            );
            continue;
        }
        // A JSON number for a decimal may be written with an exponent (`1e2`, `-1.5e-3`):
        // exact all the same, so it is judged (and stored) as its plain decimal text.
        let is_number = matches!(raw.and_then(|v| v.kind.as_ref()), Some(Kind::Number(_)));
        let text = match rule.ty {
            FieldType::Decimal { .. } if is_number => match plain_decimal(text) {
                Some(t) => t,
                None => {
                    faults.add_with(kind::NUMBER, &rule.name, field_detail(rule, kind::NUMBER));
                    continue;
                }
            },
            _ => Cow::Borrowed(text),
        };
        if let Some(ty) = check_value(rule, &text) {
            faults.add_with(ty, &rule.name, field_detail(rule, ty));
            continue;
        }
        values.push((&rule.name, text.into_owned()));
    }
    if iface.allow_extra_fields {
        for f in &row.fields {
            if iface.field(&f.name).is_none() && !f.name.chars().any(char::is_control) {
                match scalar(f.value.as_ref()) {
                    Err(()) => faults.add(kind::TYPE, &f.name),
                    Ok(Some(s)) if forbidden_in_value(s) => {
                        faults.add_with(kind::NOT_ALLOWED, &f.name, Some(control_detail(&f.name)))
                    }
                    Ok(Some(s)) => values.push((&f.name, s.to_string())),
                    Ok(None) => {}
                }
            }
        }
    }
    if !faults.is_empty() {
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

/// Every interface's example row passes the interface's own rules as an insert: the partners'
/// API document shows them, and an example that would be refused is a broken definition.
pub fn check_examples(registry: &Registry) -> Result<(), CoreError> {
    for iface in registry.all() {
        let Some(text) = iface.example.as_deref() else {
            continue;
        };
        let row = wharf_proto::json::row_from_line(text, 0);
        if let Err(faults) = check_row(iface, Operation::Insert, &row) {
            let why: Vec<String> = faults
                .iter()
                .map(|v| format!("{}: {}", v.r#type, v.fields))
                .collect();
            return Err(CoreError::Definition {
                file: iface.id(),
                field: "example".into(),
                msg: format!("the example row breaks the rules ({})", why.join("; ")),
            });
        }
    }
    Ok(())
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

/// The largest exponent magnitude a JSON number may carry (`1e100`): far beyond any decimal
/// field's 38 digits, small enough that writing the number out costs nothing.
pub const MAX_EXPONENT: u32 = 100;

/// A JSON number's exact value as plain decimal text (`-?digits(.digits)?`): `1e2` is `100`,
/// `-1.5e-3` is `-0.0015`, `1.50E+1` is `15`. A number without an exponent is returned as it
/// is. `None` when it is not a JSON number or its exponent is beyond [`MAX_EXPONENT`].
pub fn plain_decimal(number: &str) -> Option<Cow<'_, str>> {
    let Some(at) = number.find(['e', 'E']) else {
        return Some(Cow::Borrowed(number));
    };
    let (mantissa, exponent) = (&number[..at], &number[at + 1..]);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || !all_digits(int)
        || !all_digits(frac)
        || (mantissa.contains('.') && frac.is_empty())
    {
        return None;
    }
    let (exp_negative, exp_digits) = match exponent.as_bytes().first() {
        Some(b'-') => (true, &exponent[1..]),
        Some(b'+') => (false, &exponent[1..]),
        _ => (false, exponent),
    };
    if exp_digits.is_empty() || !all_digits(exp_digits) {
        return None;
    }
    // Leading zeros first, so `1e0000000002` is 2 and a long exponent cannot overflow.
    let exp_digits = exp_digits.trim_start_matches('0');
    if exp_digits.len() > 3 {
        return None;
    }
    let magnitude: u32 = if exp_digits.is_empty() {
        0
    } else {
        exp_digits.parse().ok()?
    };
    if magnitude > MAX_EXPONENT {
        return None;
    }
    // Every digit of the mantissa, and where the decimal point falls among them.
    let digits: String = [int, frac].concat();
    let point = int.len() as i64
        + if exp_negative {
            -i64::from(magnitude)
        } else {
            i64::from(magnitude)
        };
    let (whole, fraction) = if point <= 0 {
        (
            String::new(),
            "0".repeat(point.unsigned_abs() as usize) + &digits,
        )
    } else if point as usize >= digits.len() {
        (
            digits.clone() + &"0".repeat(point as usize - digits.len()),
            String::new(),
        )
    } else {
        let (w, f) = digits.split_at(point as usize);
        (w.to_string(), f.to_string())
    };
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        w => w,
    };
    let fraction = fraction.trim_end_matches('0');
    let mut out = String::with_capacity(whole.len() + fraction.len() + 2);
    if negative && (whole != "0" || !fraction.is_empty()) {
        out.push('-');
    }
    out.push_str(whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    Some(Cow::Owned(out))
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
    y >= 1
        && wharf_proto::time::days_in_month(i64::from(y), m).is_some_and(|n| (1..=n).contains(&d))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::interfaces::{parse_definition, Registry};

    const PARTNER: &str = "acme";
    const BOM_KEY: &str = "vendor_code,vendor_father_item,father_item,vendor_child_item,version";

    // ---- builders ------------------------------------------------------------------------

    fn registry() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(|| Registry::load(None).unwrap())
    }

    fn bom() -> &'static Interface {
        registry().get("t1", "bom").unwrap()
    }

    fn odm() -> &'static Interface {
        registry().get("odm", "master_data").unwrap()
    }

    fn val(kind: Kind) -> Value {
        Value { kind: Some(kind) }
    }

    fn text(s: &str) -> Value {
        val(Kind::Text(s.to_string()))
    }

    /// A JSON number, given as its literal text.
    fn num(s: &str) -> Value {
        val(Kind::Number(s.to_string()))
    }

    fn boolean(b: bool) -> Value {
        val(Kind::Boolean(b))
    }

    fn null() -> Value {
        val(Kind::Null(true))
    }

    /// An object or array, as JSON text.
    fn json(s: &str) -> Value {
        val(Kind::Json(s.to_string()))
    }

    fn row(fields: &[(&str, Value)]) -> Row {
        Row {
            not_object: String::new(),
            line: 0,
            fields: fields
                .iter()
                .map(|(name, value)| Field {
                    name: name.to_string(),
                    value: Some(value.clone()),
                })
                .collect(),
        }
    }

    /// The seed 002 example row for t1/bom.
    fn bom_seed() -> Vec<(String, Value)> {
        [
            ("child_item", text("123")),
            ("effective_end_date", text("2022-09-14")),
            ("effective_start_date", text("2022-09-14")),
            ("father_item", text("213")),
            ("priority", num("10.2")),
            ("quantity_per", num("10.1")),
            ("split", num("0.28")),
            ("vendor_child_item", text("eee")),
            ("vendor_code", text("eee")),
            ("vendor_father_item", text("ee")),
            ("version", text("20220914")),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect()
    }

    /// A valid t1/bom row with overrides: `Some(v)` replaces (or appends) a field, `None` drops it.
    fn bom_row(overrides: &[(&str, Option<Value>)]) -> Row {
        let mut fields = bom_seed();
        for (name, value) in overrides {
            let pos = fields.iter().position(|(n, _)| n == name);
            match (pos, value) {
                (Some(i), Some(v)) => fields[i].1 = v.clone(),
                (Some(i), None) => {
                    fields.remove(i);
                }
                (None, Some(v)) => fields.push((name.to_string(), v.clone())),
                (None, None) => {}
            }
        }
        Row {
            not_object: String::new(),
            line: 0,
            fields: fields
                .into_iter()
                .map(|(name, v)| Field {
                    name,
                    value: Some(v),
                })
                .collect(),
        }
    }

    /// A bom row whose vendor_code (part of the business key) is `V{i}`.
    fn keyed_row(i: usize) -> Row {
        bom_row(&[("vendor_code", Some(text(&format!("V{i}"))))])
    }

    /// Verify entries as `(type, fields)`.
    type Pairs = Vec<(String, String)>;
    /// Row problems as `(index, verify)`.
    type Indexed = Vec<(Option<u32>, Pairs)>;

    fn indexed(problems: &[RowProblem]) -> Indexed {
        problems
            .iter()
            .map(|p| (p.index, pairs(&p.verify)))
            .collect()
    }

    fn pairs(v: &[Verify]) -> Pairs {
        v.iter()
            .map(|v| (v.r#type.clone(), v.fields.clone()))
            .collect()
    }

    fn expect(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(t, f)| (t.to_string(), f.to_string()))
            .collect()
    }

    fn check(iface: &Interface, op: Operation, row: &Row) -> Result<CleanRow, Pairs> {
        check_row(iface, op, row).map_err(|v| pairs(&v))
    }

    fn insert(row: &Row) -> Result<CleanRow, Pairs> {
        check(bom(), Operation::Insert, row)
    }

    /// Sets one field of the seed row to each value: `None` = accepted, `Some(ty)` = exactly
    /// one verify entry `(ty, field)`.
    fn field_cases(field: &str, cases: &[(Value, Option<&str>)]) {
        for (value, want) in cases {
            let r = bom_row(&[(field, Some(value.clone()))]);
            let got = insert(&r);
            match want {
                None => assert!(got.is_ok(), "{field}={value:?}: expected ok, got {got:?}"),
                Some(ty) => {
                    assert_eq!(got.err(), Some(expect(&[(ty, field)])), "{field}={value:?}")
                }
            }
        }
    }

    // ---- decimals ------------------------------------------------------------------------

    #[test]
    fn check_decimal_table() {
        let p = Some(kind::PRECISION);
        let n = Some(kind::NUMBER);
        let cases: &[(&str, u8, u8, Option<&str>)] = &[
            // decimal(13,3): 10 integer digits, 3 fraction digits.
            ("1234567890", 13, 3, None),
            ("12345678901", 13, 3, p),
            ("9999999999.999", 13, 3, None),
            ("10000000000.000", 13, 3, p),
            ("1.123", 13, 3, None),
            ("1.1234", 13, 3, p),
            ("1.5000", 13, 3, None),
            ("1.123000000", 13, 3, None),
            ("1.1230001", 13, 3, p),
            ("0000000000001.5", 13, 3, None),
            ("00000000000000000000", 13, 3, None),
            ("0", 13, 3, None),
            ("0.0", 13, 3, None),
            ("-1.5", 13, 3, None),
            ("-1234567890.123", 13, 3, None),
            ("-12345678901", 13, 3, p),
            ("-0", 13, 3, None),
            ("10.1", 13, 3, None),
            ("10.10", 13, 3, None),
            ("1e3", 13, 3, n),
            ("1E3", 13, 3, n),
            ("1.5e-3", 13, 3, n),
            ("abc", 13, 3, n),
            ("", 13, 3, n),
            ("1.", 13, 3, n),
            (".5", 13, 3, n),
            ("-.5", 13, 3, n),
            (" 1", 13, 3, n),
            ("1 ", 13, 3, n),
            ("1,5", 13, 3, n),
            ("+1", 13, 3, n),
            ("-", 13, 3, n),
            ("--1", 13, 3, n),
            ("1-", 13, 3, n),
            ("1.2.3", 13, 3, n),
            ("0x10", 13, 3, n),
            ("NaN", 13, 3, n),
            ("inf", 13, 3, n),
            ("N/A", 13, 3, n),
            ("١٢", 13, 3, n),   // Arabic-Indic digits are not ASCII digits
            ("１２", 13, 3, n), // full-width digits neither
            // decimal(4,2): 2 integer digits, 2 fraction digits.
            ("99.99", 4, 2, None),
            ("-99.99", 4, 2, None),
            ("100", 4, 2, p),
            ("0.281", 4, 2, p),
            ("0.28", 4, 2, None),
            ("0.280", 4, 2, None),
            ("00.28", 4, 2, None),
            // scale 0 and precision == scale
            ("123", 3, 0, None),
            ("1234", 3, 0, p),
            ("1.0", 3, 0, None),
            ("1.5", 3, 0, p),
            ("0.12", 2, 2, None),
            ("1.12", 2, 2, p),
        ];
        for &(t, precision, scale, want) in cases {
            assert_eq!(
                check_decimal(t, precision, scale),
                want,
                "check_decimal({t:?}, {precision}, {scale})"
            );
        }
    }

    #[test]
    fn plain_decimal_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1e2", Some("100")),
            ("1E2", Some("100")),
            ("1e+2", Some("100")),
            ("-1.5e-3", Some("-0.0015")),
            ("1.50E+1", Some("15")),
            ("1.5e1", Some("15")),
            ("12.345e1", Some("123.45")),
            ("12.345e-5", Some("0.00012345")),
            ("123e-2", Some("1.23")),
            ("123e-3", Some("0.123")),
            ("0e0", Some("0")),
            ("-0e5", Some("0")),
            ("0.0e-7", Some("0")),
            ("1e0", Some("1")),
            ("1e-0", Some("1")),
            ("1e0000000002", Some("100")),
            // No exponent: as sent, judged by check_decimal as before.
            ("10.10", Some("10.10")),
            ("-0", Some("-0")),
            // Beyond the bound, or not a number.
            ("1e101", None),
            ("1e-101", None),
            ("1e999999999", None),
            ("1e99999999999999999999999", None),
            ("1e", None),
            ("1e+", None),
            ("e2", None),
            ("-e2", None),
            (".5e1", None),
            ("1.e1", None),
            ("1e2.5", None),
            ("1e2e3", None),
            ("0x1e2", None),
        ];
        for &(n, want) in cases {
            assert_eq!(plain_decimal(n).as_deref(), want, "plain_decimal({n:?})");
        }
        // The bound itself is allowed both ways.
        let big = format!("1{}", "0".repeat(100));
        assert_eq!(plain_decimal("1e100").as_deref(), Some(big.as_str()));
        let small = format!("0.{}1", "0".repeat(99));
        assert_eq!(plain_decimal("1e-100").as_deref(), Some(small.as_str()));
    }

    #[test]
    fn decimal_fields_in_rows() {
        field_cases(
            "quantity_per",
            &[
                (text("1234567890"), None),
                (num("1234567890"), None),
                (text("12345678901"), Some(kind::PRECISION)),
                (num("12345678901"), Some(kind::PRECISION)),
                (text("1.123"), None),
                (text("1.1234"), Some(kind::PRECISION)),
                (text("1.5000"), None),
                (text("0000000000001.5"), None),
                (text("-3.25"), None),
                (num("-3.25"), None),
                // A JSON number with an exponent is its exact value (1000); text is not a
                // JSON number and stays invalid.
                (num("1e3"), None),
                (text("1e3"), Some(kind::NUMBER)),
                (num("1e10"), Some(kind::PRECISION)),
                (num("1.2345e-1"), Some(kind::PRECISION)),
                (num("1e999999999"), Some(kind::NUMBER)),
                (text("abc"), Some(kind::NUMBER)),
                (text("1."), Some(kind::NUMBER)),
                (text(".5"), Some(kind::NUMBER)),
                (text(" 1"), Some(kind::NUMBER)),
                (text("1,5"), Some(kind::NUMBER)),
                (text("+1"), Some(kind::NUMBER)),
                (text("N/A"), Some(kind::NUMBER)),
            ],
        );
        field_cases(
            "split",
            &[
                (text("99.99"), None),
                (num("99.99"), None),
                (text("100"), Some(kind::PRECISION)),
                (num("100"), Some(kind::PRECISION)),
                (text("0.281"), Some(kind::PRECISION)),
                (text("0.28"), None),
                (num("0.28"), None),
                (text("x"), Some(kind::NUMBER)),
            ],
        );
        field_cases(
            "priority",
            &[
                (text("N/A"), None),
                (num("10.2"), None),
                (text("10.2"), None),
                (text("n/a"), Some(kind::NUMBER)),
                (text("NA"), Some(kind::NUMBER)),
                (text("N/A "), Some(kind::NUMBER)),
                (text("12345678901"), Some(kind::PRECISION)),
            ],
        );
    }

    #[test]
    fn a_field_sent_twice_in_a_row_is_an_invalid_type() {
        // A JSON object with a repeated key reaches core with the key twice (the reader keeps
        // every member): refused, as a sheet with a column name twice is.
        let mut row = bom_row(&[]);
        let again = row
            .fields
            .iter()
            .find(|f| f.name == "quantity_per")
            .cloned()
            .unwrap();
        row.fields.push(again);
        assert_eq!(
            insert(&row).err(),
            Some(expect(&[(kind::TYPE, "quantity_per")]))
        );
    }

    #[test]
    fn numbers_as_strings_or_json_numbers_and_invalid_types() {
        for v in [text("10.1"), num("10.1")] {
            let clean = insert(&bom_row(&[("quantity_per", Some(v.clone()))])).unwrap();
            assert!(clean.data.contains(r#""quantity_per":"10.1""#), "{v:?}");
        }
        field_cases(
            "quantity_per",
            &[
                (boolean(true), Some(kind::TYPE)),
                (boolean(false), Some(kind::TYPE)),
                (json("{}"), Some(kind::TYPE)),
                (json("[10.1]"), Some(kind::TYPE)),
                (json(r#"{"v":10.1}"#), Some(kind::TYPE)),
            ],
        );
        // Type checks apply to every field type, not just numbers.
        field_cases(
            "vendor_code",
            &[
                (boolean(true), Some(kind::TYPE)),
                (json("[]"), Some(kind::TYPE)),
            ],
        );
        field_cases("effective_start_date", &[(json("{}"), Some(kind::TYPE))]);
        field_cases("version", &[(boolean(false), Some(kind::TYPE))]);
        // A JSON number in a string field is its text.
        field_cases("vendor_code", &[(num("12345"), None)]);
        // A JSON number with an exponent in a decimal field is stored as its plain value; in a
        // string field it stays the text sent.
        let clean = insert(&bom_row(&[
            ("quantity_per", Some(num("-1.5e-2"))),
            ("split", Some(num("1e1"))),
            ("vendor_name", Some(num("1e2"))),
        ]))
        .unwrap();
        assert!(
            clean.data.contains(r#""quantity_per":"-0.015""#),
            "{}",
            clean.data
        );
        assert!(clean.data.contains(r#""split":"10""#), "{}", clean.data);
        assert!(
            clean.data.contains(r#""vendor_name":"1e2""#),
            "{}",
            clean.data
        );
    }

    // ---- dates ---------------------------------------------------------------------------

    #[test]
    fn calendar_dates_table() {
        let cases: &[(&str, bool)] = &[
            ("2024-02-29", true),
            ("2022-02-29", false),
            ("2022-02-28", true),
            ("2000-02-29", true),
            ("1900-02-29", false),
            ("2100-02-29", false),
            ("2400-02-29", true),
            ("2022-13-01", false),
            ("2022-00-10", false),
            ("2022-04-31", false),
            ("2022-04-30", true),
            ("2022-06-31", false),
            ("2022-09-31", false),
            ("2022-11-31", false),
            ("2022-01-31", true),
            ("2022-12-31", true),
            ("2022-01-32", false),
            ("2022-01-00", false),
            ("0000-01-01", false),
            ("0001-01-01", true),
            ("9999-12-31", true),
            ("22-01-01", false),
            ("2022/01/01", false),
            ("2022-1-01", false),
            ("2022-01-1", false),
            ("2022-1-1", false),
            ("20220101", false),
            ("2022-01-01 ", false),
            (" 2022-01-01", false),
            ("2022-01-01T00:00:00", false),
            ("2022-0a-01", false),
            ("2022-+1-01", false),
            ("+022-01-01", false),
            ("2022--1-01", false),
            ("", false),
            ("2022-01-é", false),  // 10 bytes, separators in place, not digits
            ("2022-é-01", false),  // ditto in the month
            ("€22-01-01x", false), // multi-byte at the start: no panic on char boundaries
            ("２０２２-01-01", false),
        ];
        for &(t, ok) in cases {
            assert_eq!(is_calendar_date(t), ok, "is_calendar_date({t:?})");
            if t.is_empty() {
                continue; // an empty value in a row is a missing one, tested elsewhere
            }
            let want = (!ok).then_some(kind::DATE);
            field_cases("effective_start_date", &[(text(t), want)]);
            field_cases("effective_end_date", &[(text(t), want)]);
        }
    }

    // ---- exceptions, lengths, allowed values, digits ---------------------------------------

    #[test]
    fn literal_exceptions() {
        field_cases("priority", &[(text("N/A"), None)]);
        field_cases("vendor_child_item", &[(text("N/A"), None)]);
        field_cases("quantity_per", &[(text("N/A"), Some(kind::NUMBER))]);
        field_cases("split", &[(text("N/A"), Some(kind::NUMBER))]);
        let clean = insert(&bom_row(&[("priority", Some(text("N/A")))])).unwrap();
        assert!(clean.data.contains(r#""priority":"N/A""#), "{}", clean.data);
    }

    #[test]
    fn value_lengths_count_characters() {
        let cases: &[(String, Option<&str>)] = &[
            ("a".repeat(30), None),
            ("a".repeat(31), Some(kind::LENGTH)),
            ("中".repeat(30), None), // 90 bytes
            ("中".repeat(31), Some(kind::LENGTH)),
            ("😀".repeat(30), None), // 120 bytes
            ("😀".repeat(31), Some(kind::LENGTH)),
            (format!("{}😀", "a".repeat(29)), None),
            (format!("{}😀", "a".repeat(30)), Some(kind::LENGTH)),
            ("é".repeat(30), None),
        ];
        for (s, want) in cases {
            for f in [
                "vendor_code",
                "vendor_father_item",
                "father_item",
                "vendor_child_item",
                "child_item",
                "vendor_parent_item",
            ] {
                field_cases(f, &[(text(s), *want)]);
            }
        }
        let optional: &[(&str, usize)] = &[
            ("uid", 32),
            ("bu", 50),
            ("vendor_name", 500),
            ("alternate_item_group", 50),
            ("owner", 50),
            ("vendor_child_item_desc", 200),
        ];
        for &(f, max) in optional {
            if f != "bu" {
                field_cases(f, &[(text(&"x".repeat(max)), None)]);
            }
            field_cases(f, &[(text(&"x".repeat(max + 1)), Some(kind::LENGTH))]);
        }
    }

    #[test]
    fn allowed_values() {
        let bu = [
            "ThinkNB",
            "IdeaNB",
            "ThinkOption",
            "ThinkDT",
            "IdeaOption",
            "IdeaDT",
            "WS",
            "Smart Device",
            "ISG",
            "Mobile Phone",
            "Mobile Tablet",
        ];
        for b in bu {
            field_cases("bu", &[(text(b), None)]);
        }
        for b in [
            "thinknb",
            "THINKNB",
            "ThinkNB ",
            " ThinkNB",
            "SmartDevice",
            "x",
        ] {
            field_cases("bu", &[(text(b), Some(kind::NOT_ALLOWED))]);
        }
        // Optional: absent, null or empty is fine.
        assert!(insert(&bom_row(&[("bu", None)])).is_ok());
        assert!(insert(&bom_row(&[("bu", Some(null()))])).is_ok());
        assert!(insert(&bom_row(&[("bu", Some(text("")))])).is_ok());
    }

    #[test]
    fn version_digits() {
        field_cases(
            "version",
            &[
                (text("1"), None),
                (text("0"), None),
                (text(&"1".repeat(16)), None),
                (num("20220914"), None),
                (text(&"1".repeat(17)), Some(kind::LENGTH)),
                (text("2022-09"), Some(kind::NUMBER)),
                (text("-1"), Some(kind::NUMBER)),
                (text("1.0"), Some(kind::NUMBER)),
                (num("1e3"), Some(kind::NUMBER)),
                (text(" 2022"), Some(kind::NUMBER)),
                (text("２０２２"), Some(kind::NUMBER)),
                (text("abc"), Some(kind::NUMBER)),
            ],
        );
        // Leading zeros are kept as sent.
        let clean = insert(&bom_row(&[("version", Some(text("0007")))])).unwrap();
        assert!(clean.data.contains(r#""version":"0007""#));
    }

    // ---- required fields, defaults, unknown fields, combined faults ------------------------

    #[test]
    fn required_fields_missing_are_listed_once_in_definition_order() {
        let r = bom_row(&[
            ("version", Some(text(""))),
            ("father_item", Some(null())),
            ("vendor_code", None),
        ]);
        assert_eq!(
            insert(&r).unwrap_err(),
            expect(&[(kind::REQUIRED, "vendor_code,father_item,version")])
        );
        // Each required field alone, in each missing form.
        let required = [
            "vendor_code",
            "vendor_father_item",
            "father_item",
            "vendor_child_item",
            "child_item",
            "quantity_per",
            "effective_start_date",
            "effective_end_date",
            "priority",
            "split",
            "version",
        ];
        for f in required {
            for missing in [
                None,
                Some(null()),
                Some(text("")),
                Some(text("   ")),
                Some(text("\t")),
                Some(Value { kind: None }),
            ] {
                let r = bom_row(&[(f, missing.clone())]);
                assert_eq!(
                    insert(&r).unwrap_err(),
                    expect(&[(kind::REQUIRED, f)]),
                    "{f} = {missing:?}"
                );
            }
            // A field present with no value at all.
            let mut r = bom_row(&[]);
            r.fields.iter_mut().find(|x| x.name == f).unwrap().value = None;
            assert_eq!(insert(&r).unwrap_err(), expect(&[(kind::REQUIRED, f)]));
        }
        // An empty row lists every required field, in definition order.
        assert_eq!(
            insert(&Row::default()).unwrap_err(),
            expect(&[(
                kind::REQUIRED,
                "vendor_code,vendor_father_item,father_item,vendor_child_item,child_item,\
                 quantity_per,effective_start_date,effective_end_date,priority,split,version"
            )])
        );
        // Optional fields may be absent.
        for f in [
            "uid",
            "bu",
            "vendor_name",
            "vendor_parent_item",
            "alternate_item_group",
            "owner",
            "vendor_child_item_desc",
        ] {
            assert!(insert(&bom_row(&[(f, None)])).is_ok(), "{f}");
            assert!(insert(&bom_row(&[(f, Some(null()))])).is_ok(), "{f}");
        }
    }

    #[test]
    fn examples_must_pass_their_own_rules() {
        assert!(check_examples(registry()).is_ok());
        let dir = std::env::temp_dir().join(format!("wharf-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("x.json"),
            r#"{"data_category":"tn","biz_key":"stock","business_key":["a"],
                "fields":[{"name":"a","type":"decimal(3,1)","required":true}],
                "example":{"a":"12.34"}}"#,
        )
        .unwrap();
        let reg = Registry::load(Some(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let err = check_examples(&reg).unwrap_err().to_string();
        assert!(
            err.contains("tn/stock")
                && err.contains("example")
                && err.contains("number precision exceed: a"),
            "{err}"
        );
    }

    #[test]
    fn seed_row_is_clean_with_default_and_definition_order() {
        let clean = insert(&bom_row(&[])).unwrap();
        assert_eq!(
            clean.data,
            r#"{"vendor_code":"eee","vendor_father_item":"ee","vendor_parent_item":"NA","father_item":"213","vendor_child_item":"eee","child_item":"123","quantity_per":"10.1","effective_start_date":"2022-09-14","effective_end_date":"2022-09-14","priority":"10.2","split":"0.28","version":"20220914"}"#
        );
        assert_eq!(
            clean.rkey.as_deref(),
            Some(r#"["eee","ee","213","eee","20220914"]"#)
        );
        assert_eq!(clean.uid, None);
        assert_eq!(clean.index, 0);
        let parsed: serde_json::Value = serde_json::from_str(&clean.data).unwrap();
        assert_eq!(parsed["vendor_parent_item"], "NA");

        // The default also fills null and empty; a given value wins.
        for (v, want) in [
            (None, "NA"),
            (Some(null()), "NA"),
            (Some(text("")), "NA"),
            (Some(text("P1")), "P1"),
        ] {
            let clean = insert(&bom_row(&[("vendor_parent_item", v)])).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&clean.data).unwrap();
            assert_eq!(parsed["vendor_parent_item"], want);
        }
        // Optional fields without a default are left out when absent.
        assert!(!clean.data.contains("\"bu\""));
        assert!(!clean.data.contains("\"uid\""));
    }

    #[test]
    fn unknown_fields() {
        let r = bom_row(&[("foo", Some(text("x")))]);
        assert_eq!(insert(&r).unwrap_err(), expect(&[(kind::UNKNOWN, "foo")]));
        let r = bom_row(&[("foo", Some(text("x"))), ("Bar", Some(null()))]);
        assert_eq!(
            insert(&r).unwrap_err(),
            expect(&[(kind::UNKNOWN, "foo,Bar")])
        );
        // Names are case-sensitive.
        let r = bom_row(&[("Vendor_Code", Some(text("x")))]);
        assert_eq!(
            insert(&r).unwrap_err(),
            expect(&[(kind::UNKNOWN, "Vendor_Code")])
        );
    }

    #[test]
    fn repeated_field_names() {
        let mut r = bom_row(&[]);
        r.fields.push(Field {
            name: "vendor_code".into(),
            value: Some(text("eee")),
        });
        assert_eq!(
            insert(&r).unwrap_err(),
            expect(&[(kind::TYPE, "vendor_code")])
        );
        // A repeated unknown field is named once per type, not once per occurrence.
        let r = bom_row(&[("foo", Some(text("x")))]);
        let mut r2 = r.clone();
        r2.fields.push(Field {
            name: "foo".into(),
            value: Some(text("y")),
        });
        assert_eq!(
            insert(&r2).unwrap_err(),
            expect(&[(kind::UNKNOWN, "foo"), (kind::TYPE, "foo")])
        );
    }

    #[test]
    fn several_faults_give_one_entry_per_type() {
        let r = bom_row(&[
            ("zzz", Some(text("x"))),
            ("bu", Some(text("thinknb"))),
            ("vendor_code", Some(text(&"a".repeat(31)))),
            ("father_item", Some(text(&"b".repeat(31)))),
            ("child_item", None),
            ("quantity_per", Some(text("abc"))),
            ("effective_start_date", Some(text("2022-02-30"))),
            ("effective_end_date", Some(text("2022/02/01"))),
            ("priority", Some(boolean(true))),
            ("split", Some(text("0.281"))),
            ("version", Some(text("2022-09"))),
        ]);
        let got = insert(&r).unwrap_err();
        assert_eq!(
            got,
            expect(&[
                (kind::UNKNOWN, "zzz"),
                (kind::NOT_ALLOWED, "bu"),
                (kind::LENGTH, "vendor_code,father_item"),
                (kind::REQUIRED, "child_item"),
                (kind::NUMBER, "quantity_per,version"),
                (kind::DATE, "effective_start_date,effective_end_date"),
                (kind::TYPE, "priority"),
                (kind::PRECISION, "split"),
            ])
        );
        let mut types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), got.len(), "one entry per type");
    }

    // ---- delete, keys, stored form ---------------------------------------------------------

    fn key_only_row() -> Row {
        row(&[
            ("vendor_code", text("eee")),
            ("vendor_father_item", text("ee")),
            ("father_item", text("213")),
            ("vendor_child_item", text("eee")),
            ("version", text("20220914")),
        ])
    }

    #[test]
    fn delete_needs_only_key_fields() {
        let r = key_only_row();
        let clean = check(bom(), Operation::Delete, &r).unwrap();
        assert_eq!(
            clean.rkey.as_deref(),
            Some(r#"["eee","ee","213","eee","20220914"]"#)
        );
        // No default filled for a delete.
        assert_eq!(
            clean.data,
            r#"{"vendor_code":"eee","vendor_father_item":"ee","father_item":"213","vendor_child_item":"eee","version":"20220914"}"#
        );
        // The same key as an insert row.
        assert_eq!(clean.rkey, insert(&bom_row(&[])).unwrap().rkey);
        let others =
            "child_item,quantity_per,effective_start_date,effective_end_date,priority,split";
        for op in [Operation::Insert, Operation::Update, Operation::All] {
            assert_eq!(
                check(bom(), op, &r).unwrap_err(),
                expect(&[(kind::REQUIRED, others)]),
                "{op:?}"
            );
        }
        // A delete still needs the whole key ...
        let mut partial = r.clone();
        partial
            .fields
            .retain(|f| f.name != "father_item" && f.name != "version");
        assert_eq!(
            check(bom(), Operation::Delete, &partial).unwrap_err(),
            expect(&[(kind::REQUIRED, "father_item,version")])
        );
        // ... unless a uid identifies the row.
        let by_uid = row(&[("uid", text("U-1"))]);
        let clean = check(bom(), Operation::Delete, &by_uid).unwrap();
        assert_eq!(clean.uid.as_deref(), Some("U-1"));
        assert_eq!(clean.rkey, None);
        assert_eq!(
            check(bom(), Operation::Delete, &row(&[("uid", text(""))])).unwrap_err(),
            expect(&[(kind::REQUIRED, BOM_KEY)])
        );
        // Values that are sent are still checked.
        let mut bad = r.clone();
        bad.fields.push(Field {
            name: "split".into(),
            value: Some(text("abc")),
        });
        assert_eq!(
            check(bom(), Operation::Delete, &bad).unwrap_err(),
            expect(&[(kind::NUMBER, "split")])
        );
        let mut unknown = r;
        unknown.fields.push(Field {
            name: "nope".into(),
            value: Some(text("1")),
        });
        assert_eq!(
            check(bom(), Operation::Delete, &unknown).unwrap_err(),
            expect(&[(kind::UNKNOWN, "nope")])
        );
    }

    #[test]
    fn uid_is_reported_when_given() {
        let clean = insert(&bom_row(&[("uid", Some(text("U-42")))])).unwrap();
        assert_eq!(clean.uid.as_deref(), Some("U-42"));
        assert!(clean.rkey.is_some());
        for v in [None, Some(null()), Some(text(""))] {
            assert_eq!(insert(&bom_row(&[("uid", v)])).unwrap().uid, None);
        }
        let clean = insert(&bom_row(&[("uid", Some(num("7")))])).unwrap();
        assert_eq!(clean.uid.as_deref(), Some("7"));
    }

    #[test]
    fn rkey_follows_key_values_only() {
        let base = insert(&bom_row(&[])).unwrap().rkey.unwrap();
        assert_eq!(insert(&bom_row(&[])).unwrap().rkey.unwrap(), base);
        // Any key field changing changes the key.
        for f in bom().business_key.iter() {
            let other = if f == "version" { "20220915" } else { "other" };
            let r = bom_row(&[(f.as_str(), Some(text(other)))]);
            let k = insert(&r).unwrap().rkey.unwrap();
            assert_ne!(k, base, "{f}");
        }
        // Non-key fields do not.
        for (f, v) in [
            ("child_item", text("999")),
            ("quantity_per", text("1")),
            ("effective_start_date", text("2020-01-01")),
            ("priority", text("N/A")),
            ("split", text("0.5")),
            ("bu", text("WS")),
            ("uid", text("U")),
        ] {
            let k = insert(&bom_row(&[(f, Some(v))])).unwrap().rkey.unwrap();
            assert_eq!(k, base, "{f}");
        }
        // A key value as a JSON number or as a string is the same key.
        let k = insert(&bom_row(&[("version", Some(num("20220914")))]))
            .unwrap()
            .rkey
            .unwrap();
        assert_eq!(k, base);
        // Moving a separator between values makes a different key.
        let a = insert(&bom_row(&[
            ("vendor_code", Some(text("a,b"))),
            ("vendor_father_item", Some(text("c"))),
        ]))
        .unwrap()
        .rkey;
        let b = insert(&bom_row(&[
            ("vendor_code", Some(text("a"))),
            ("vendor_father_item", Some(text("b,c"))),
        ]))
        .unwrap()
        .rkey;
        assert_ne!(a, b);
        let q = |s: &str| s.to_string();
        assert_ne!(
            encode_key(&[&q("a\",\"b"), &q("c")]),
            encode_key(&[&q("a"), &q("b\",\"c")])
        );
        assert_eq!(encode_key(&[&q("x"), &q("y")]), r#"["x","y"]"#);
        assert_eq!(encode_key(&[]), "[]");
    }

    #[test]
    fn data_keeps_values_exactly_as_sent() {
        for (f, v, stored) in [
            ("quantity_per", num("10.10"), "10.10"),
            ("quantity_per", text("10.10"), "10.10"),
            ("quantity_per", num("-0.500"), "-0.500"),
            ("quantity_per", num("0000000000001.5"), "0000000000001.5"),
            ("quantity_per", num("9999999999.999"), "9999999999.999"),
            ("split", num("0.280"), "0.280"),
            ("priority", num("10"), "10"),
            ("vendor_code", text("中文😀"), "中文😀"),
            ("vendor_code", text("a\"b\\c\nd"), "a\"b\\c\nd"),
            ("vendor_code", text("  padded  "), "  padded  "),
        ] {
            let clean = insert(&bom_row(&[(f, Some(v))])).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&clean.data).unwrap();
            assert_eq!(parsed[f], stored, "{f}: {}", clean.data);
        }
    }

    // ---- odm/master_data and a definition with extras --------------------------------------

    #[test]
    fn odm_master_data() {
        let seed = || {
            vec![
                ("LENOVO_PN", text("SD10W87241")),
                ("PLANT", text("H121")),
                ("QTY", text("1000")),
            ]
        };
        let clean = check(odm(), Operation::Insert, &row(&seed())).unwrap();
        assert_eq!(clean.rkey.as_deref(), Some(r#"["SD10W87241","H121"]"#));
        assert_eq!(clean.uid, None);
        assert_eq!(
            clean.data,
            r#"{"LENOVO_PN":"SD10W87241","PLANT":"H121","QTY":"1000"}"#
        );
        let with = |name: &'static str, v: Option<Value>| {
            let mut fields = seed();
            fields.retain(|(n, _)| *n != name);
            if let Some(v) = v {
                fields.push((name, v));
            }
            row(&fields)
        };
        type Case = (
            &'static str,
            Option<Value>,
            Option<(&'static str, &'static str)>,
        );
        let cases: &[Case] = &[
            ("PLANT", Some(text(&"P".repeat(10))), None),
            (
                "PLANT",
                Some(text(&"P".repeat(11))),
                Some((kind::LENGTH, "PLANT")),
            ),
            ("LENOVO_PN", Some(text(&"L".repeat(30))), None),
            (
                "LENOVO_PN",
                Some(text(&"L".repeat(31))),
                Some((kind::LENGTH, "LENOVO_PN")),
            ),
            ("QTY", Some(num("1000")), None),
            ("QTY", Some(num("1000.125")), None),
            (
                "QTY",
                Some(num("1000.1255")),
                Some((kind::PRECISION, "QTY")),
            ),
            ("QTY", Some(text("abc")), Some((kind::NUMBER, "QTY"))),
            ("QTY", Some(text("N/A")), Some((kind::NUMBER, "QTY"))),
            ("QTY", None, Some((kind::REQUIRED, "QTY"))),
            ("PLANT", Some(null()), Some((kind::REQUIRED, "PLANT"))),
            ("uid", Some(text("x")), Some((kind::UNKNOWN, "uid"))),
        ];
        for (name, v, want) in cases {
            let got = check(odm(), Operation::Insert, &with(name, v.clone()));
            match want {
                None => assert!(got.is_ok(), "{name}={v:?}: {got:?}"),
                Some(w) => assert_eq!(got.unwrap_err(), expect(&[*w]), "{name}={v:?}"),
            }
        }
        assert_eq!(
            check(odm(), Operation::Insert, &Row::default()).unwrap_err(),
            expect(&[(kind::REQUIRED, "LENOVO_PN,PLANT,QTY")])
        );
        // Delete on odm: key only.
        let keys = row(&[("LENOVO_PN", text("SD10W87241")), ("PLANT", text("H121"))]);
        assert!(check(odm(), Operation::Delete, &keys).is_ok());
        assert_eq!(
            check(odm(), Operation::Insert, &keys).unwrap_err(),
            expect(&[(kind::REQUIRED, "QTY")])
        );
    }

    #[test]
    fn extra_fields_when_the_definition_allows_them() {
        let iface = parse_definition(
            "x.json",
            r#"{"data_category":"x","biz_key":"y","business_key":["a"],"allow_extra_fields":true,
                "fields":[{"name":"a","type":"string","required":true,"max_length":3}]}"#,
        )
        .unwrap();
        let clean = check(
            &iface,
            Operation::Insert,
            &row(&[("z", num("1.50")), ("a", text("k")), ("n", null())]),
        )
        .unwrap();
        assert_eq!(clean.data, r#"{"a":"k","z":"1.50"}"#);
        assert_eq!(clean.rkey.as_deref(), Some(r#"["k"]"#));
        assert_eq!(
            check(
                &iface,
                Operation::Insert,
                &row(&[("a", text("k")), ("z", json("{}"))])
            )
            .unwrap_err(),
            expect(&[(kind::TYPE, "z")])
        );
    }

    #[test]
    fn control_characters_in_values_ids_and_names() {
        for bad in ["a\0b", "\0", "x\u{7}", "\u{1b}[0m", "\u{b}"] {
            assert!(forbidden_in_value(bad), "{bad:?}");
        }
        for good in ["a\tb", "line 1\nline 2", "a\r\nb", "深圳", "\u{7f}x"] {
            assert!(!forbidden_in_value(good), "{good:?}");
        }
        assert!(could_be_key("B-1", 16));
        for bad in [
            "",
            "B\0",
            "B\t",
            "B\r",
            "\u{7f}",
            "\u{85}",
            "12345678901234567",
        ] {
            assert!(!could_be_key(bad, 16), "{bad:?}");
        }
        assert!(file_name_fault("bom_insert_20221001003000_1.json").is_none());
        assert!(file_name_fault("a\rb").is_some() && file_name_fault("a\0").is_some());
        assert!(file_name_fault(&"n".repeat(MAX_FILE_NAME_CHARS)).is_none());
        assert!(file_name_fault(&"n".repeat(MAX_FILE_NAME_CHARS + 1)).is_some());
        // In a row: the field is named with `value not allowed`; TAB and LF are data.
        let row = bom_row(&[
            ("owner", Some(text("a\0b"))),
            ("child_item", Some(text("C\u{7}"))),
        ]);
        assert_eq!(
            insert(&row),
            Err(expect(&[(kind::NOT_ALLOWED, "child_item,owner")]))
        );
        let row = bom_row(&[("owner", Some(text("a\tb\nc")))]);
        assert!(insert(&row).is_ok());
    }

    #[test]
    fn check_value_direct() {
        let rule = |n: &str| bom().field(n).unwrap();
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("priority", "N/A", None),
            ("vendor_child_item", "N/A", None),
            ("quantity_per", "N/A", Some(kind::NUMBER)),
            ("bu", "ThinkNB", None),
            ("bu", "thinknb", Some(kind::NOT_ALLOWED)),
            ("version", &"9".repeat(16), None),
            ("version", &"9".repeat(17), Some(kind::LENGTH)),
            ("version", "2022-09", Some(kind::NUMBER)),
            ("effective_end_date", "2022-02-29", Some(kind::DATE)),
            ("split", "100", Some(kind::PRECISION)),
            ("vendor_code", "", None), // emptiness is check_row's business
        ];
        for &(f, t, want) in cases {
            assert_eq!(check_value(rule(f), t), want, "{f}={t:?}");
        }
    }

    // ---- sequences and the envelope --------------------------------------------------------

    struct Seq {
        operation: Operation,
        transport: Transport,
        batch_id: Option<Value>,
        batch_size: Option<Value>,
        seq_id: Option<Value>,
        seq_size: Option<Value>,
        app_name: Option<Value>,
        has_data: bool,
        rows: Vec<Row>,
        unknown: Vec<String>,
        unreadable: String,
        mistyped: Vec<String>,
    }

    impl Seq {
        fn new(rows: Vec<Row>) -> Seq {
            Seq {
                operation: Operation::Insert,
                transport: Transport::Api,
                batch_id: Some(text("B1")),
                batch_size: Some(num("10")),
                seq_id: Some(text("S1")),
                seq_size: Some(num(&rows.len().to_string())),
                app_name: None,
                has_data: true,
                rows,
                unknown: Vec::new(),
                unreadable: String::new(),
                mistyped: Vec::new(),
            }
        }

        fn check(&self, iface: &Interface) -> Checked {
            check_sequence(
                iface,
                &SequenceInput {
                    partner: PARTNER,
                    operation: self.operation,
                    transport: self.transport,
                    batch_id: self.batch_id.as_ref(),
                    batch_size: self.batch_size.as_ref(),
                    seq_id: self.seq_id.as_ref(),
                    seq_size: self.seq_size.as_ref(),
                    app_name: self.app_name.as_ref(),
                    has_data: self.has_data,
                    rows: &self.rows,
                    unknown_envelope_fields: &self.unknown,
                    unreadable: &self.unreadable,
                    mistyped_envelope_fields: &self.mistyped,
                },
            )
        }
    }

    /// The envelope problems of a result: each has no index, no row and one verify entry.
    fn envelope_errs(c: &Checked) -> Pairs {
        c.invalid
            .iter()
            .filter(|p| p.index.is_none())
            .map(|p| {
                assert_eq!(p.row, None, "{p:?}");
                assert_eq!(p.verify.len(), 1, "{p:?}");
                (p.verify[0].r#type.clone(), p.verify[0].fields.clone())
            })
            .collect()
    }

    #[test]
    fn envelope_table() {
        type Case = (
            &'static str,
            fn(&mut Seq),
            &'static [(&'static str, &'static str)],
        );
        let cases: &[Case] = &[
            ("valid", |_| {}, &[]),
            (
                "batch_id 16",
                |s| s.batch_id = Some(text(&"b".repeat(16))),
                &[],
            ),
            (
                "batch_id 16 wide",
                |s| s.batch_id = Some(text(&"批".repeat(16))),
                &[],
            ),
            (
                "batch_id 17",
                |s| s.batch_id = Some(text(&"b".repeat(17))),
                &[(kind::LENGTH, "batch_id")],
            ),
            (
                "batch_id absent",
                |s| s.batch_id = None,
                &[(kind::REQUIRED, "batch_id")],
            ),
            (
                "batch_id empty",
                |s| s.batch_id = Some(text("")),
                &[(kind::REQUIRED, "batch_id")],
            ),
            (
                "batch_id null",
                |s| s.batch_id = Some(null()),
                &[(kind::REQUIRED, "batch_id")],
            ),
            (
                "batch_id number",
                |s| s.batch_id = Some(num("20220914")),
                &[],
            ),
            (
                "batch_id bool",
                |s| s.batch_id = Some(boolean(true)),
                &[(kind::TYPE, "batch_id")],
            ),
            (
                "batch_id object",
                |s| s.batch_id = Some(json("{}")),
                &[(kind::TYPE, "batch_id")],
            ),
            (
                "batch_id control",
                |s| s.batch_id = Some(text("a\nb")),
                &[(kind::NOT_ALLOWED, "batch_id")],
            ),
            ("batch_size number", |s| s.batch_size = Some(num("2")), &[]),
            ("batch_size string", |s| s.batch_size = Some(text("2")), &[]),
            (
                "batch_size 0",
                |s| s.batch_size = Some(text("0")),
                &[(kind::NOT_ALLOWED, "batch_size")],
            ),
            (
                "batch_size num 0",
                |s| s.batch_size = Some(num("0")),
                &[(kind::NOT_ALLOWED, "batch_size")],
            ),
            (
                "batch_size abc",
                |s| s.batch_size = Some(text("abc")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size 2.5",
                |s| s.batch_size = Some(text("2.5")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size num 2.5",
                |s| s.batch_size = Some(num("2.5")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size -1",
                |s| s.batch_size = Some(num("-1")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size 1e2",
                |s| s.batch_size = Some(num("1e2")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size space",
                |s| s.batch_size = Some(text(" 2")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size max",
                |s| s.batch_size = Some(num("100000000")),
                &[],
            ),
            (
                "batch_size max+1",
                |s| s.batch_size = Some(num("100000001")),
                &[(kind::NOT_ALLOWED, "batch_size")],
            ),
            (
                "batch_size huge",
                |s| s.batch_size = Some(num("99999999999999999999999")),
                &[(kind::NUMBER, "batch_size")],
            ),
            (
                "batch_size absent",
                |s| s.batch_size = None,
                &[(kind::REQUIRED, "batch_size")],
            ),
            (
                "batch_size empty",
                |s| s.batch_size = Some(text("")),
                &[(kind::REQUIRED, "batch_size")],
            ),
            (
                "batch_size bool",
                |s| s.batch_size = Some(boolean(true)),
                &[(kind::TYPE, "batch_size")],
            ),
            (
                "seq_id absent",
                |s| s.seq_id = None,
                &[(kind::REQUIRED, "seq_id")],
            ),
            ("seq_id 64", |s| s.seq_id = Some(text(&"s".repeat(64))), &[]),
            (
                "seq_id 65",
                |s| s.seq_id = Some(text(&"s".repeat(65))),
                &[(kind::LENGTH, "seq_id")],
            ),
            ("seq_id number", |s| s.seq_id = Some(num("1")), &[]),
            ("seq_size string", |s| s.seq_size = Some(text("1")), &[]),
            (
                "seq_size 0",
                |s| s.seq_size = Some(num("0")),
                &[(kind::NOT_ALLOWED, "seq_size")],
            ),
            (
                "seq_size absent",
                |s| s.seq_size = None,
                &[(kind::REQUIRED, "seq_size")],
            ),
            (
                "seq_size 1.0",
                |s| s.seq_size = Some(num("1.0")),
                &[(kind::NUMBER, "seq_size")],
            ),
            (
                "seq_size != data",
                |s| s.seq_size = Some(num("2")),
                &[(kind::NOT_ALLOWED, "seq_size")],
            ),
            (
                "data empty",
                |s| {
                    s.rows.clear();
                    s.seq_size = Some(num("1"));
                },
                &[(kind::NOT_ALLOWED, "seq_size")],
            ),
            (
                "data absent",
                |s| {
                    s.rows.clear();
                    s.has_data = false;
                },
                &[(kind::REQUIRED, "data")],
            ),
            ("appName equal", |s| s.app_name = Some(text(PARTNER)), &[]),
            ("appName null", |s| s.app_name = Some(null()), &[]),
            (
                "appName other",
                |s| s.app_name = Some(text("other")),
                &[(kind::NOT_ALLOWED, "appName")],
            ),
            (
                "appName case",
                |s| s.app_name = Some(text("ACME")),
                &[(kind::NOT_ALLOWED, "appName")],
            ),
            (
                "appName bool",
                |s| s.app_name = Some(boolean(true)),
                &[(kind::TYPE, "appName")],
            ),
            (
                "unknown field",
                |s| s.unknown = vec!["foo".into()],
                &[(kind::UNKNOWN, "foo")],
            ),
            (
                "unknown fields",
                |s| s.unknown = vec!["foo".into(), "bar".into()],
                &[(kind::UNKNOWN, "foo,bar")],
            ),
            (
                "everything wrong",
                |s| {
                    s.batch_id = None;
                    s.batch_size = Some(text("0"));
                    s.seq_id = Some(text(&"s".repeat(65)));
                    s.seq_size = Some(text("x"));
                    s.app_name = Some(text("other"));
                    s.unknown = vec!["foo".into()];
                    s.has_data = false;
                },
                &[
                    (kind::REQUIRED, "batch_id"),
                    (kind::NOT_ALLOWED, "batch_size"),
                    (kind::LENGTH, "seq_id"),
                    (kind::NUMBER, "seq_size"),
                    (kind::NOT_ALLOWED, "appName"),
                    (kind::UNKNOWN, "foo"),
                    (kind::REQUIRED, "data"),
                ],
            ),
        ];
        for (label, edit, want) in cases {
            let mut s = Seq::new(vec![bom_row(&[])]);
            edit(&mut s);
            let c = s.check(bom());
            assert_eq!(envelope_errs(&c), expect(want), "{label}");
            assert_eq!(
                c.invalid.len(),
                want.len(),
                "{label}: only envelope problems"
            );
            assert!(c.duplicates.is_empty(), "{label}");
            assert_eq!(c.rows.len(), s.rows.len(), "{label}: every row is clean");
        }
    }

    #[test]
    fn envelope_values_are_parsed() {
        let mut s = Seq::new(vec![bom_row(&[])]);
        s.batch_id = Some(text("B-7"));
        s.batch_size = Some(text("0002"));
        s.seq_id = Some(num("3"));
        s.seq_size = Some(num("1"));
        let c = s.check(bom());
        assert_eq!(
            c.envelope,
            Envelope {
                batch_id: Some("B-7".into()),
                batch_size: Some(2),
                seq_id: Some("3".into()),
                seq_size: Some(1),
            }
        );
        s.batch_id = Some(text(&"b".repeat(17)));
        s.batch_size = Some(text("0"));
        let c = s.check(bom());
        assert_eq!(c.envelope.batch_id, None);
        assert_eq!(c.envelope.batch_size, None);
        assert_eq!(c.envelope.seq_id.as_deref(), Some("3"));
    }

    #[test]
    fn seq_size_limits_per_transport() {
        assert_eq!(max_seq_size(Transport::Api), 500);
        assert_eq!(max_seq_size(Transport::Ftp), 5000);
        assert_eq!(max_seq_size(Transport::Upload), 5000);
        assert_eq!(max_seq_size(Transport::Grpc), 5000);
        let all: Vec<Row> = (0..5001).map(keyed_row).collect();
        let cases: &[(Transport, usize, bool)] = &[
            (Transport::Api, 1, true),
            (Transport::Api, 500, true),
            (Transport::Api, 501, false),
            (Transport::Ftp, 501, true),
            (Transport::Ftp, 5000, true),
            (Transport::Ftp, 5001, false),
            (Transport::Upload, 5000, true),
            (Transport::Upload, 5001, false),
            (Transport::Grpc, 5000, true),
            (Transport::Grpc, 5001, false),
        ];
        for &(transport, n, ok) in cases {
            let mut s = Seq::new(all[..n].to_vec());
            s.transport = transport;
            s.batch_size = Some(num(&n.to_string()));
            let c = s.check(bom());
            if ok {
                assert!(
                    c.invalid.is_empty(),
                    "{transport:?} {n}: {:?}",
                    envelope_errs(&c)
                );
                assert!(c.duplicates.is_empty());
                assert_eq!(c.rows.len(), n);
                assert_eq!(c.envelope.seq_size, Some(n as u64));
                assert!(c
                    .rows
                    .iter()
                    .enumerate()
                    .all(|(i, r)| r.index as usize == i));
            } else {
                assert_eq!(
                    envelope_errs(&c),
                    expect(&[(kind::NOT_ALLOWED, "seq_size")]),
                    "{transport:?} {n}"
                );
                assert_eq!(c.invalid.len(), 1);
                assert_eq!(c.envelope.seq_size, None);
            }
        }
    }

    #[test]
    fn every_failing_row_is_reported() {
        let rows = vec![
            keyed_row(0),
            bom_row(&[("split", Some(text("100")))]),
            bom_row(&[("vendor_code", None)]),
            keyed_row(3),
            bom_row(&[("effective_end_date", Some(text("2022-02-29")))]),
        ];
        let c = Seq::new(rows.clone()).check(bom());
        assert!(envelope_errs(&c).is_empty());
        assert!(c.duplicates.is_empty());
        let got = indexed(&c.invalid);
        assert_eq!(
            got,
            vec![
                (Some(1), expect(&[(kind::PRECISION, "split")])),
                (Some(2), expect(&[(kind::REQUIRED, "vendor_code")])),
                (Some(4), expect(&[(kind::DATE, "effective_end_date")])),
            ]
        );
        for p in &c.invalid {
            assert_eq!(p.row.as_ref(), Some(&rows[p.index.unwrap() as usize]));
        }
        let clean: Vec<u32> = c.rows.iter().map(|r| r.index).collect();
        assert_eq!(clean, vec![0, 3]);

        // Envelope problems come first, then row problems; both are reported.
        let mut s = Seq::new(rows);
        s.batch_id = None;
        let c = s.check(bom());
        assert_eq!(c.invalid.len(), 4);
        assert_eq!(c.invalid[0].index, None);
        assert_eq!(
            c.invalid.iter().map(|p| p.index).collect::<Vec<_>>(),
            vec![None, Some(1), Some(2), Some(4)]
        );
    }

    #[test]
    fn duplicate_keys_inside_a_sequence() {
        let a = bom_row(&[]);
        let a_other_child = bom_row(&[("child_item", Some(text("999")))]);
        let a_number_version = bom_row(&[("version", Some(num("20220914")))]);
        let rows = vec![
            a.clone(),
            keyed_row(1),
            a_other_child,
            keyed_row(3),
            a_number_version,
        ];
        let c = Seq::new(rows.clone()).check(bom());
        assert!(c.invalid.is_empty(), "{:?}", c.invalid);
        let dups = indexed(&c.duplicates);
        assert_eq!(
            dups,
            vec![
                (Some(2), expect(&[(kind::DUPLICATE, BOM_KEY)])),
                (Some(4), expect(&[(kind::DUPLICATE, BOM_KEY)])),
            ]
        );
        for p in &c.duplicates {
            assert_eq!(p.row.as_ref(), Some(&rows[p.index.unwrap() as usize]));
        }
        assert_eq!(
            c.rows.iter().map(|r| r.index).collect::<Vec<_>>(),
            vec![0, 1, 3]
        );

        // Delete: repeats are allowed.
        let mut s = Seq::new(vec![key_only_row(), key_only_row(), a]);
        s.operation = Operation::Delete;
        let c = s.check(bom());
        assert!(c.invalid.is_empty() && c.duplicates.is_empty());
        assert_eq!(c.rows.len(), 3);
        assert_eq!(c.rows[0].rkey, c.rows[1].rkey);
        assert_eq!(c.rows[0].rkey, c.rows[2].rkey);

        // A failing row takes no key: a later valid row with its key is not a duplicate.
        let rows = vec![bom_row(&[("split", Some(text("x")))]), bom_row(&[])];
        let c = Seq::new(rows).check(bom());
        assert_eq!(c.invalid.len(), 1);
        assert!(c.duplicates.is_empty());
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.rows[0].index, 1);

        // Duplicate uid with different keys: reported on the uid field.
        let rows = vec![
            bom_row(&[("uid", Some(text("U1")))]),
            bom_row(&[("uid", Some(text("U1"))), ("vendor_code", Some(text("V9")))]),
        ];
        let c = Seq::new(rows).check(bom());
        assert_eq!(c.duplicates.len(), 1);
        assert_eq!(c.duplicates[0].index, Some(1));
        assert_eq!(
            pairs(&c.duplicates[0].verify),
            expect(&[(kind::DUPLICATE, "uid")])
        );

        // odm: key fields of that interface.
        let r = row(&[
            ("LENOVO_PN", text("SD10W87241")),
            ("PLANT", text("H121")),
            ("QTY", text("1000")),
        ]);
        let c = Seq::new(vec![r.clone(), r]).check(odm());
        assert_eq!(c.duplicates.len(), 1);
        assert_eq!(
            pairs(&c.duplicates[0].verify),
            expect(&[(kind::DUPLICATE, "LENOVO_PN,PLANT")])
        );
    }

    #[test]
    fn odm_seed_sequence() {
        let r = row(&[
            ("LENOVO_PN", text("SD10W87241")),
            ("PLANT", text("H121")),
            ("QTY", text("1000")),
        ]);
        let c = Seq::new(vec![r]).check(odm());
        assert!(c.invalid.is_empty() && c.duplicates.is_empty());
        assert_eq!(c.rows.len(), 1);
        let bad = row(&[
            ("LENOVO_PN", text("SD10W87241")),
            ("PLANT", text("H121-PLANT1")),
            ("QTY", text("1000")),
        ]);
        let c = Seq::new(vec![bad]).check(odm());
        assert_eq!(c.invalid.len(), 1);
        assert_eq!(c.invalid[0].index, Some(0));
        assert_eq!(
            pairs(&c.invalid[0].verify),
            expect(&[(kind::LENGTH, "PLANT")])
        );
    }

    #[test]
    fn what_a_door_could_not_read_is_an_invalid_type() {
        let reg = crate::interfaces::Registry::load(None).unwrap();
        let bom = reg.get("t1", "bom").unwrap();
        let mut seq = Seq::new(vec![]);
        seq.unreadable = "the body is not valid JSON".into();
        let c = seq.check(bom);
        assert_eq!(
            envelope_errs(&c),
            vec![(kind::TYPE.to_string(), "body".to_string())]
        );
        assert_eq!(
            c.invalid.len(),
            1,
            "nothing else is said about an unreadable body"
        );

        let mut seq = Seq::new(vec![]);
        seq.seq_size = Some(num("1"));
        seq.mistyped = vec!["data".into()];
        let c = seq.check(bom);
        assert_eq!(
            envelope_errs(&c),
            vec![(kind::TYPE.to_string(), "data".to_string())]
        );

        let not_object = Row {
            fields: vec![],
            not_object: "42".into(),
            line: 0,
        };
        let c = Seq::new(vec![not_object]).check(bom);
        assert_eq!(c.invalid.len(), 1);
        assert_eq!(c.invalid[0].index, Some(0));
        assert_eq!(c.invalid[0].verify[0].r#type, kind::TYPE);
        assert_eq!(c.invalid[0].verify[0].fields, "data");
    }

    // ---- the detail of each error kind -------------------------------------------------------

    /// The one failure of a row, with its detail.
    fn only_failure(iface: &Interface, r: Row) -> Verify {
        let verify = check_row(iface, Operation::Insert, &r).expect_err("the row fails");
        assert_eq!(verify.len(), 1, "{verify:?}");
        verify.into_iter().next().expect("one failure")
    }

    fn by_field(v: &Verify) -> Vec<FieldDetail> {
        v.detail
            .as_ref()
            .map(|d| d.by_field.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_length_failure_names_the_limit() {
        let v = only_failure(
            bom(),
            bom_row(&[("vendor_code", Some(text(&"v".repeat(31))))]),
        );
        assert_eq!(
            (v.r#type.as_str(), v.fields.as_str()),
            (kind::LENGTH, "vendor_code")
        );
        assert_eq!(
            by_field(&v),
            vec![FieldDetail {
                field: "vendor_code".into(),
                max_length: Some(30),
                ..Default::default()
            }]
        );
    }

    #[test]
    fn a_date_failure_names_the_format_and_an_example() {
        let v = only_failure(
            bom(),
            bom_row(&[("effective_end_date", Some(text("2022/10/01")))]),
        );
        assert_eq!(v.r#type, kind::DATE);
        let d = &by_field(&v)[0];
        assert_eq!(
            (d.field.as_str(), d.format.as_str(), d.example.as_str()),
            ("effective_end_date", "yyyy-mm-dd", "2024-02-29")
        );
        assert!(is_calendar_date(&d.example), "the example is itself valid");
    }

    #[test]
    fn a_value_not_allowed_lists_the_allowed_values() {
        let v = only_failure(bom(), bom_row(&[("bu", Some(text("Thinkpad")))]));
        assert_eq!(v.r#type, kind::NOT_ALLOWED);
        let d = &by_field(&v)[0];
        assert_eq!(d.field, "bu");
        assert_eq!(d.allowed.first().map(String::as_str), Some("ThinkNB"));
        assert_eq!(d.allowed.len(), 11);
        assert!(!d.control_characters);
    }

    #[test]
    fn a_control_character_is_said_to_be_the_reason() {
        let v = only_failure(bom(), bom_row(&[("owner", Some(text("a\u{1}b")))]));
        assert_eq!(v.r#type, kind::NOT_ALLOWED);
        let d = &by_field(&v)[0];
        assert!(d.control_characters && d.allowed.is_empty(), "{d:?}");
    }

    #[test]
    fn a_precision_failure_names_digits_and_decimals() {
        let v = only_failure(bom(), bom_row(&[("split", Some(text("1.234")))]));
        assert_eq!(
            (v.r#type.as_str(), v.fields.as_str()),
            (kind::PRECISION, "split")
        );
        let d = &by_field(&v)[0];
        assert_eq!(
            (d.format.as_str(), d.max_digits, d.max_decimals),
            ("decimal", Some(4), Some(2))
        );
    }

    #[test]
    fn an_invalid_number_names_its_format_and_what_else_is_taken() {
        // A decimal field that also takes N/A says so.
        let v = only_failure(bom(), bom_row(&[("priority", Some(text("high")))]));
        assert_eq!(v.r#type, kind::NUMBER);
        let d = &by_field(&v)[0];
        assert_eq!(
            (d.format.as_str(), d.max_digits, d.max_decimals),
            ("decimal", Some(13), Some(3))
        );
        assert_eq!(d.also_accepted, vec!["N/A".to_string()]);
        // A JSON number beyond the exponent limit is an invalid number with the same detail.
        let v = only_failure(bom(), bom_row(&[("split", Some(num("1e999")))]));
        assert_eq!(
            (v.r#type.as_str(), by_field(&v)[0].max_decimals),
            (kind::NUMBER, Some(2))
        );
        // Digits: the format and the length limit.
        let v = only_failure(bom(), bom_row(&[("version", Some(text("2022-09")))]));
        assert_eq!(v.r#type, kind::NUMBER);
        let d = &by_field(&v)[0];
        assert_eq!((d.format.as_str(), d.max_length), ("digits", Some(16)));
        assert!(d.also_accepted.is_empty());
    }

    #[test]
    fn kinds_the_type_says_all_of_carry_no_detail() {
        let cases = [
            (bom_row(&[("vendor_code", None)]), kind::REQUIRED),
            (bom_row(&[("colour", Some(text("red")))]), kind::UNKNOWN),
            (bom_row(&[("owner", Some(boolean(true)))]), kind::TYPE),
        ];
        for (r, want) in cases {
            let v = only_failure(bom(), r);
            assert_eq!(v.r#type, want);
            assert_eq!(v.detail, None, "{want}");
        }
    }

    #[test]
    fn one_entry_of_several_fields_has_each_fields_detail_in_order() {
        let r = bom_row(&[
            ("vendor_code", Some(text(&"v".repeat(31)))),
            ("owner", Some(text(&"o".repeat(51)))),
            ("vendor_name", None),
        ]);
        let v = only_failure(bom(), r);
        assert_eq!(
            (v.r#type.as_str(), v.fields.as_str()),
            (kind::LENGTH, "vendor_code,owner")
        );
        let limits: Vec<(String, Option<u32>)> = by_field(&v)
            .into_iter()
            .map(|d| (d.field, d.max_length))
            .collect();
        assert_eq!(
            limits,
            vec![("vendor_code".into(), Some(30)), ("owner".into(), Some(50))]
        );
    }

    #[test]
    fn a_duplicate_names_the_row_it_repeats_and_the_key() {
        let mut rows = vec![keyed_row(0), keyed_row(1), keyed_row(0), keyed_row(0)];
        for (i, r) in rows.iter_mut().enumerate() {
            r.line = i as u32 + 2;
        }
        let c = Seq::new(rows).check(bom());
        assert_eq!(c.duplicates.len(), 2);
        for p in &c.duplicates {
            let v = &p.verify[0];
            assert_eq!(
                (v.r#type.as_str(), v.fields.as_str()),
                (kind::DUPLICATE, BOM_KEY)
            );
            let d = v.detail.as_ref().expect("detail");
            // Both repeat the first row, not each other.
            assert_eq!(
                d.repeats,
                Some(RowRef { index: 0, line: 2 }),
                "{:?}",
                p.index
            );
            let key: Vec<(&str, Option<&Value>)> = d
                .key
                .iter()
                .map(|f| (f.name.as_str(), f.value.as_ref()))
                .collect();
            assert_eq!(key.len(), 5);
            assert_eq!(key[0], ("vendor_code", Some(&text("V0"))));
            assert_eq!(key[4], ("version", Some(&text("20220914"))));
        }
        // By uid.
        let rows = vec![
            bom_row(&[("uid", Some(text("U1")))]),
            bom_row(&[("uid", Some(text("U1"))), ("vendor_code", Some(text("V9")))]),
        ];
        let c = Seq::new(rows).check(bom());
        let d = c.duplicates[0].verify[0].detail.clone().expect("detail");
        assert_eq!(d.repeats, Some(RowRef { index: 0, line: 0 }));
        assert_eq!(d.key.len(), 1);
        assert_eq!(
            (d.key[0].name.as_str(), d.key[0].value.as_ref()),
            ("uid", Some(&text("U1")))
        );
        // Taken elsewhere (the store): the key, and no row of the sequence.
        let p = duplicate_problem(bom(), 3, &keyed_row(7), true, None);
        let d = p.verify[0].detail.clone().expect("detail");
        assert_eq!(d.repeats, None);
        assert_eq!(d.key[0].value, Some(text("V7")));
    }

    #[test]
    fn an_envelope_id_too_long_names_its_limit() {
        let mut s = Seq::new(vec![bom_row(&[])]);
        s.batch_id = Some(text(&"b".repeat(17)));
        let c = s.check(bom());
        let v = &c.invalid[0].verify[0];
        assert_eq!(
            (v.r#type.as_str(), v.fields.as_str()),
            (kind::LENGTH, "batch_id")
        );
        assert_eq!(by_field(v)[0].max_length, Some(MAX_BATCH_ID_CHARS as u32));
    }
}
