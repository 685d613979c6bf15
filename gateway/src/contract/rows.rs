//! What a partner sends and reads back for one interface, as JSON Schema: a row's fields with
//! their types, lengths, patterns, allowed values and exceptions (from core's definitions),
//! the envelope around them, and a record as the read-back returns it.
//!
//! The schemas describe core's rules; they decide nothing. A row valid by its schema passes
//! core's row rules, except a JSON number's fraction digits, which JSON Schema cannot count
//! exactly (the decimal's description says how many). What only core can see (a key repeated
//! in the batch, `data` holding `seq_size` rows) is said in the document's descriptions.

use serde_json::{json, Map, Value as Json};
use wharf_proto::v1::{FieldDef, InterfaceDef};

/// `-?digits(.digits)?` with at most `precision - scale` integer digits past leading zeros and
/// `scale` fraction digits before trailing zeros, as core's `check_decimal` counts them.
pub(super) fn decimal_pattern(precision: u8, scale: u8) -> String {
    let int = match precision - scale {
        0 => "0+".to_string(),
        n => format!("0*[0-9]{{1,{n}}}"),
    };
    let frac = match scale {
        0 => r"\.0+".to_string(),
        s => format!(r"\.(?:[0-9]{{1,{s}}}0*|0+)"),
    };
    format!("^-?{int}(?:{frac})?$")
}

/// `10^n` as a JSON number, written out (no float rounding).
fn power_of_ten(n: u8, negative: bool) -> Json {
    let text = format!(
        "{}1{}",
        if negative { "-" } else { "" },
        "0".repeat(n.into())
    );
    text.parse().map(Json::Number).unwrap_or(Json::Null)
}

/// The schema of a present value of `f` (what its type, length and allowed values accept),
/// and the words that say it.
fn value_schema(f: &FieldDef) -> (Json, String) {
    let mut s = Map::new();
    let mut words = Vec::new();
    // Core's whole rule of the field (`FieldDef.rule`): the type is read from it, not parsed
    // again here.
    let rule = f.rule.clone().unwrap_or_default();
    let decimal = match (rule.max_digits, rule.max_decimals) {
        (Some(p), Some(sc)) => u8::try_from(p).ok().zip(u8::try_from(sc).ok()),
        _ => None,
    };
    match (f.rule.is_some(), rule.format.as_str(), decimal) {
        (true, "", _) => {
            s.insert("type".into(), json!("string"));
            words.push("text".to_string());
        }
        (true, "digits", _) => {
            s.insert("type".into(), json!("string"));
            s.insert("pattern".into(), json!("^[0-9]+$"));
            words.push("digits only, as text".to_string());
        }
        (true, "yyyy-mm-dd", _) => {
            s.insert("type".into(), json!("string"));
            s.insert("format".into(), json!("date"));
            s.insert("pattern".into(), json!("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"));
            words.push("a calendar day, yyyy-mm-dd".to_string());
        }
        (true, "decimal", Some((precision, scale))) if scale <= precision => {
            let int = precision - scale;
            s.insert("type".into(), json!(["string", "number"]));
            s.insert("pattern".into(), json!(decimal_pattern(precision, scale)));
            s.insert("exclusiveMinimum".into(), power_of_ten(int, true));
            s.insert("exclusiveMaximum".into(), power_of_ten(int, false));
            words.push(format!(
                "decimal({precision},{scale}): a JSON number or a numeric string, at most \
                 {int} digits before the point and {scale} after (exact: never rounded)"
            ));
        }
        _ => words.push(format!("type {}", f.r#type)),
    }
    if f.max_length > 0 {
        s.insert("maxLength".into(), json!(f.max_length));
        words.push(format!("at most {} characters", f.max_length));
    }
    if !f.allowed.is_empty() {
        s.insert("enum".into(), json!(f.allowed));
        words.push(format!("one of: {}", f.allowed.join(", ")));
    }
    (Json::Object(s), words.join("; "))
}

/// The schema of field `f` in a row; `needed`: the row must carry a value (neither absent,
/// null nor blank).
fn field_schema(f: &FieldDef, needed: bool) -> Json {
    let (value, mut words) = value_schema(f);
    let mut ways = vec![value];
    if !f.exceptions.is_empty() {
        ways.push(json!({ "enum": f.exceptions }));
        words.push_str(&format!(
            "; also accepted as they are: {}",
            f.exceptions.join(", ")
        ));
    }
    if !needed {
        ways.push(json!({ "$ref": "#/components/schemas/Absent" }));
    }
    if !f.default_value.is_empty() {
        words.push_str(&format!("; when absent: {}", f.default_value));
    }
    let mut s = match ways.len() {
        1 => ways.remove(0),
        _ => json!({ "anyOf": ways }),
    };
    if let Json::Object(m) = &mut s {
        m.insert("description".into(), Json::String(words));
        if !f.default_value.is_empty() {
            m.insert("default".into(), Json::String(f.default_value.clone()));
        }
    }
    s
}

/// Fields the definition does not list: refused, or kept as sent (a scalar) when it allows them.
fn extra_fields(i: &InterfaceDef) -> Json {
    match i.allow_extra_fields {
        true => json!({ "type": ["string", "number", "null"] }),
        false => json!(false),
    }
}

/// Whether a field must carry a value for an insert, update or all: required, and no default
/// to fill it in.
fn needed_to_write(f: &FieldDef) -> bool {
    f.required && f.default_value.is_empty()
}

/// A row of an insert (POST), update (PUT) or all (PATCH).
pub(super) fn write_row(i: &InterfaceDef) -> Json {
    let properties: Map<String, Json> = i
        .fields
        .iter()
        .map(|f| (f.name.clone(), field_schema(f, needed_to_write(f))))
        .collect();
    let required: Vec<&str> = i
        .fields
        .iter()
        .filter(|f| needed_to_write(f))
        .map(|f| f.name.as_str())
        .collect();
    json!({
        "type": "object",
        "description": format!("A row of {}/{}: {}", i.data_category, i.biz_key, i.description),
        "properties": properties,
        "required": required,
        "additionalProperties": extra_fields(i),
    })
}

/// A row of a delete (DELETE): what identifies it, its uid or else its business key; other
/// fields may be sent and are checked as for a write.
pub(super) fn delete_row(i: &InterfaceDef) -> Json {
    let properties: Map<String, Json> = i
        .fields
        .iter()
        .map(|f| (f.name.clone(), field_schema(f, false)))
        .collect();
    let field = |name: &str| i.fields.iter().find(|f| f.name == name);
    let identified_by = |names: Vec<&FieldDef>| {
        let props: Map<String, Json> = names
            .iter()
            .map(|f| (f.name.clone(), field_schema(f, true)))
            .collect();
        let required: Vec<&str> = names.iter().map(|f| f.name.as_str()).collect();
        json!({ "required": required, "properties": props })
    };
    let key: Vec<&FieldDef> = i
        .business_key
        .iter()
        .filter_map(|k| field(k))
        .filter(|f| f.default_value.is_empty())
        .collect();
    let mut ways = vec![identified_by(key)];
    if let Some(uid) = field(&i.uid_field) {
        ways.insert(0, identified_by(vec![uid]));
    }
    json!({
        "type": "object",
        "description": format!(
            "A row of {}/{} to delete: its {}business key ({})",
            i.data_category,
            i.biz_key,
            if i.uid_field.is_empty() { String::new() } else { format!("{}, or else its ", i.uid_field) },
            i.business_key.join(", ")
        ),
        "properties": properties,
        "anyOf": ways,
        "additionalProperties": extra_fields(i),
    })
}

/// A record as the read-back returns it: the row as wharf holds it, every value as text.
pub(super) fn record(i: &InterfaceDef) -> Json {
    let properties: Map<String, Json> = i
        .fields
        .iter()
        .map(|f| (f.name.clone(), json!({ "type": "string" })))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": i.business_key,
        "additionalProperties": match i.allow_extra_fields {
            true => json!({ "type": "string" }),
            false => json!(false),
        },
    })
}

/// The envelope every data call sends (SPEC §4), `data` left to each interface.
pub(super) fn envelope() -> Json {
    let count = |max: u64, words: &str| {
        json!({
            "type": ["integer", "string"],
            "minimum": 1,
            "maximum": max,
            "pattern": "^0*[1-9][0-9]*$",
            "maxLength": 19,
            "description": words,
        })
    };
    json!({
        "type": "object",
        "required": ["batch_id", "batch_size", "seq_id", "seq_size", "data"],
        "properties": {
            "batch_id": { "type": "string", "minLength": 1, "maxLength": 16,
                "description": "the batch, chosen by you; every sequence of a batch carries it" },
            "batch_size": count(100_000_000, "rows in the whole batch (a number or a numeric string)"),
            "seq_id": { "type": "string", "minLength": 1, "maxLength": 64,
                "description": "this sequence (one request) within the batch" },
            "seq_size": count(500, "rows in this sequence: `data` holds exactly this many"),
            "appName": { "type": "string", "description": "optional; must be your app name" },
            "instantExecute": { "type": "boolean",
                "description": "apply as soon as the batch is complete (the default without executeTs)" },
            "executeTs": { "type": "string", "format": "date-time",
                "description": "ISO-8601 with an offset: apply then (+2 h … +30 d)" },
            "revertTs": { "type": "string", "format": "date-time",
                "description": "ISO-8601 with an offset: revert then (+3 h … +60 d, at least 15 min after executeTs)" },
            "data": { "type": "array", "minItems": 1, "maxItems": 500,
                "description": "the rows; a key repeated within the batch is refused (E00W00 on an insert)" },
        },
        "additionalProperties": false,
    })
}

/// An interface's request body: the envelope with `data` items of `row` (a schema reference).
pub(super) fn body(row: &str) -> Json {
    json!({
        "allOf": [
            { "$ref": "#/components/schemas/Envelope" },
            { "properties": { "data": { "items": { "$ref": row } } } },
        ],
    })
}

/// A request example: seed 002's envelope around the interface's example row, for a delete
/// only the row's business key. `None` when the definition has no example.
pub(super) fn example(i: &InterfaceDef, delete: bool) -> Option<Json> {
    let Json::Object(mut row) = serde_json::from_str::<Json>(&i.example).ok()? else {
        return None;
    };
    if delete {
        row.retain(|name, _| i.business_key.contains(name));
    }
    Some(json!({
        "batch_id": "100055",
        "batch_size": 1,
        "seq_id": "1",
        "seq_size": 1,
        "data": [row],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decimal's pattern accepts exactly the texts core's decimal rule accepts.
    #[test]
    fn decimal_patterns_agree_with_core() {
        let texts = [
            "0",
            "-0",
            "10.1",
            "-1",
            "1.",
            ".5",
            "+1",
            "1e3",
            "1,5",
            "",
            "-",
            "0.0",
            "00.25",
            "1.1230",
            "1.0005",
            "99.99",
            "100",
            "0.281",
            "0.28",
            "123",
            "123.00",
            "1234",
            "0001234567890.123",
            "1234567890123",
            "12345678901234",
            "1.5",
            "0.5",
            "1..2",
            "1.2.3",
        ];
        for (p, s) in [(13, 3), (4, 2), (2, 2), (3, 0), (1, 0), (38, 10)] {
            let re = regex::Regex::new(&decimal_pattern(p, s)).expect("a valid pattern");
            for t in texts {
                let core = wharf_core::validate::check_decimal(t, p, s).is_none();
                assert_eq!(re.is_match(t), core, "decimal({p},{s}) {t:?}");
            }
        }
    }

    #[test]
    fn types_are_read_from_cores_rule() {
        use wharf_proto::v1::FieldDetail;
        let qty = FieldDef {
            r#type: "decimal(13,3)".into(),
            rule: Some(FieldDetail {
                format: "decimal".into(),
                max_digits: Some(13),
                max_decimals: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (schema, words) = value_schema(&qty);
        assert_eq!(schema["pattern"], json!(decimal_pattern(13, 3)));
        assert!(words.starts_with("decimal(13,3)"), "{words}");
        let day = FieldDef {
            r#type: "date".into(),
            rule: Some(FieldDetail {
                format: "yyyy-mm-dd".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(value_schema(&day).0["format"], "date");
        // A definition without core's rule is named, not guessed.
        let unknown = FieldDef {
            r#type: "money".into(),
            ..Default::default()
        };
        assert_eq!(value_schema(&unknown).1, "type money");
    }
}
