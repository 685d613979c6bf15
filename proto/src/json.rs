//! The JSON envelope, both ways: a request body (API) or file (FTP `.json`) into the
//! `IngestBatch` fields, and core's answer into `{code, msg, result}`.
//!
//! Translation only. It reports what it saw (a body that is not JSON, a field of the wrong JSON
//! type, a `data` item that is not an object) and core decides what that means. Numbers keep
//! their literal text (serde_json's `arbitrary_precision`): a decimal never becomes an f64.
//! Objects keep every key as sent, a repeated one included ([`Pairs`]): a row with a field
//! twice reaches core with it twice (core refuses it, as a sheet with a column name twice is
//! refused), and an envelope field sent twice is reported as mistyped.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value as Json};

use crate::v1::{
    value::Kind, Field, FieldDetail, IngestBatchRequest, IngestBatchResponse, Row, RowProblem,
    Value, VerifyDetail,
};

/// Envelope fields of the contract (SPEC §4). Anything else is reported as unknown.
const ENVELOPE_FIELDS: &[&str] = &[
    "batch_id",
    "batch_size",
    "seq_id",
    "seq_size",
    "data",
    "appName",
    "instantExecute",
    "executeTs",
    "revertTs",
];

fn value(j: Json) -> Value {
    let kind = match j {
        Json::Null => Kind::Null(true),
        Json::Bool(b) => Kind::Boolean(b),
        Json::Number(n) => Kind::Number(n.to_string()),
        Json::String(s) => Kind::Text(s),
        other => Kind::Json(other.to_string()),
    };
    Value { kind: Some(kind) }
}

/// A JSON object's members in the order sent, a repeated key kept as often as it was sent
/// (a map would keep only one). Read in the same single pass as any value.
struct Pairs<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Members<V> {
            type Value = Pairs<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<V>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(member) = map.next_entry::<String, V>()? {
                    out.push(member);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(Members(PhantomData))
    }
}

/// One `data` item: an object's members become the row's fields, every one as sent (a field
/// sent twice is there twice, for core to refuse); anything else is a row that is not one.
fn row(item: &RawValue) -> Row {
    let text = item.get();
    if text.starts_with('{') {
        if let Ok(Pairs(members)) = serde_json::from_str::<Pairs<Json>>(text) {
            return Row {
                fields: members
                    .into_iter()
                    .map(|(name, v)| Field {
                        name,
                        value: Some(value(v)),
                    })
                    .collect(),
                not_object: String::new(),
                line: 0,
            };
        }
    }
    let other = serde_json::from_str::<Json>(text).unwrap_or(Json::Null);
    Row {
        fields: Vec::new(),
        not_object: other.to_string(),
        line: 0,
    }
}

/// Fill the envelope fields of `req` from a JSON body. Never fails: what cannot be read is
/// recorded in `unreadable` / `mistyped_envelope_fields` for core to answer. An envelope field
/// sent twice is mistyped (the first one is read).
pub fn read_envelope(body: &[u8], req: &mut IngestBatchRequest) {
    let members = match serde_json::from_slice::<Pairs<&RawValue>>(body) {
        Ok(Pairs(members)) => members,
        Err(e) => {
            req.unreadable = match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => "the body is not a JSON object".into(),
                Err(_) => format!("the body is not valid JSON: {e}"),
            };
            return;
        }
    };
    let mut seen: HashSet<&str> = HashSet::with_capacity(members.len());
    for (name, raw) in &members {
        if !seen.insert(name.as_str()) {
            let listed = |list: &[String]| list.iter().any(|f| f == name);
            if ENVELOPE_FIELDS.contains(&name.as_str()) && !listed(&req.mistyped_envelope_fields) {
                req.mistyped_envelope_fields.push(name.clone());
            }
            continue;
        }
        let scalar = || serde_json::from_str::<Json>(raw.get()).ok().map(value);
        match name.as_str() {
            "batch_id" => req.batch_id = scalar(),
            "batch_size" => req.batch_size = scalar(),
            "seq_id" => req.seq_id = scalar(),
            "seq_size" => req.seq_size = scalar(),
            "appName" => req.app_name = scalar(),
            // The batch's schedule (SPEC §7.2); core checks it.
            "instantExecute" => req.instant_execute = scalar(),
            "executeTs" => req.execute_ts = scalar(),
            "revertTs" => req.revert_ts = scalar(),
            "data" => {
                req.has_data = true;
                match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
                    Ok(items) => req.rows = items.into_iter().map(row).collect(),
                    Err(_) => req.mistyped_envelope_fields.push("data".into()),
                }
            }
            _ => req.unknown_envelope_fields.push(name.clone()),
        }
    }
}

/// A text or number envelope value as at most 64 characters, for logs and span attributes;
/// anything else is "".
pub fn value_text(v: &Option<Value>) -> String {
    match v.as_ref().and_then(|v| v.kind.as_ref()) {
        Some(Kind::Text(s)) | Some(Kind::Number(s)) => s.chars().take(64).collect(),
        _ => String::new(),
    }
}

fn json_value(v: &Value) -> Json {
    match v.kind.as_ref() {
        None | Some(Kind::Null(_)) => Json::Null,
        Some(Kind::Text(s)) => Json::String(s.clone()),
        Some(Kind::Number(s)) => s
            .parse::<Number>()
            .map(Json::Number)
            .unwrap_or_else(|_| Json::String(s.clone())),
        Some(Kind::Boolean(b)) => Json::Bool(*b),
        Some(Kind::Json(s)) => serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone())),
    }
}

/// A row as the partner sent it.
pub fn row_json(r: &Row) -> Json {
    if !r.not_object.is_empty() {
        return serde_json::from_str(&r.not_object).unwrap_or(Json::Null);
    }
    let mut m = Map::new();
    for f in &r.fields {
        m.insert(
            f.name.clone(),
            f.value.as_ref().map(json_value).unwrap_or(Json::Null),
        );
    }
    Json::Object(m)
}

fn problem_json(p: &RowProblem) -> Json {
    let mut m = Map::new();
    if let Some(i) = p.index {
        m.insert("index".into(), Json::from(i));
    }
    if let Some(line) = p.row.as_ref().map(|r| r.line).filter(|l| *l > 0) {
        m.insert("line".into(), Json::from(line));
    }
    if let Some(r) = &p.row {
        m.insert("row".into(), row_json(r));
    }
    let verify: Vec<Json> = p
        .verify
        .iter()
        .map(|v| {
            let mut e = Map::new();
            e.insert("type".into(), Json::String(v.r#type.clone()));
            e.insert("fields".into(), Json::String(v.fields.clone()));
            if !v.code.is_empty() {
                e.insert("code".into(), Json::String(v.code.clone()));
            }
            if let Some(d) = v.detail.as_ref().and_then(detail_json) {
                e.insert("detail".into(), d);
            }
            Json::Object(e)
        })
        .collect();
    m.insert("verify".into(), Json::Array(verify));
    Json::Object(m)
}

/// One field's rule as an answer's `detail.by_field` shows it: only the parts that apply.
fn field_detail_json(f: &FieldDetail) -> Json {
    let mut m = Map::new();
    if let Some(n) = f.max_length {
        m.insert("max_length".into(), Json::from(n));
    }
    if !f.format.is_empty() {
        m.insert("format".into(), Json::String(f.format.clone()));
    }
    if !f.example.is_empty() {
        m.insert("example".into(), Json::String(f.example.clone()));
    }
    if !f.allowed.is_empty() {
        m.insert("allowed".into(), Json::from(f.allowed.clone()));
    }
    if let Some(n) = f.max_digits {
        m.insert("max_digits".into(), Json::from(n));
    }
    if let Some(n) = f.max_decimals {
        m.insert("max_decimals".into(), Json::from(n));
    }
    if !f.also_accepted.is_empty() {
        m.insert("also_accepted".into(), Json::from(f.also_accepted.clone()));
    }
    if f.control_characters {
        m.insert("control_characters".into(), Json::Bool(true));
    }
    Json::Object(m)
}

/// A `verify` entry's `detail` object (README, "Answers"): `by_field` (field name → its
/// rule), `repeats` (`{index, line}` of the earlier row a duplicate repeats) and `key` (the
/// key already taken, field → value). `None` when there is nothing to say.
pub fn detail_json(d: &VerifyDetail) -> Option<Json> {
    let mut m = Map::new();
    if !d.by_field.is_empty() {
        let by_field: Map<String, Json> = d
            .by_field
            .iter()
            .map(|f| (f.field.clone(), field_detail_json(f)))
            .collect();
        m.insert("by_field".into(), Json::Object(by_field));
    }
    if let Some(r) = &d.repeats {
        let mut e = Map::new();
        e.insert("index".into(), Json::from(r.index));
        if r.line > 0 {
            e.insert("line".into(), Json::from(r.line));
        }
        m.insert("repeats".into(), Json::Object(e));
    }
    if !d.key.is_empty() {
        let key: Map<String, Json> = d
            .key
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.value.as_ref().map(json_value).unwrap_or(Json::Null),
                )
            })
            .collect();
        m.insert("key".into(), Json::Object(key));
    }
    (!m.is_empty()).then_some(Json::Object(m))
}

/// Core's answer as every door shows it: `{"code", "msg", "result"}` (result omitted when empty).
pub fn answer_json(r: &IngestBatchResponse) -> Json {
    let mut m = Map::new();
    m.insert("code".into(), Json::String(r.code.clone()));
    m.insert("msg".into(), Json::String(r.msg.clone()));
    let result: Vec<Json> = if r.groups.is_empty() {
        r.problems.iter().map(problem_json).collect()
    } else {
        r.groups
            .iter()
            .map(|g| {
                let mut e = Map::new();
                e.insert("code".into(), Json::String(g.code.clone()));
                e.insert("msg".into(), Json::String(g.msg.clone()));
                e.insert(
                    "result".into(),
                    Json::Array(g.problems.iter().map(problem_json).collect()),
                );
                Json::Object(e)
            })
            .collect()
    };
    if !result.is_empty() {
        m.insert("result".into(), Json::Array(result));
    }
    Json::Object(m)
}

/// [`answer_json`] as text, byte for byte `answer_json(r).to_string()`, written one problem
/// at a time ([`AnswerText`]): an answer may list a hundred thousand failing rows, and their
/// JSON tree never exists whole (only its text does).
pub fn answer_json_text(r: &IngestBatchResponse) -> String {
    let mut out = AnswerText::new(&r.code, &r.msg);
    if !r.groups.is_empty() {
        for g in &r.groups {
            out.group(&g.code, &g.msg);
            for p in &g.problems {
                out.problem(p);
            }
        }
    } else if !r.problems.is_empty() {
        out.result();
        for p in &r.problems {
            out.problem(p);
        }
    }
    out.finish()
}

/// An answer's JSON text written piece by piece, in the shape [`answer_json`] gives it: its
/// code and message, then either problems (after [`AnswerText::result`]) or groups of
/// problems (each begun by [`AnswerText::group`]). A writer that reads the problems from
/// elsewhere one at a time never holds more than one problem's JSON tree.
pub struct AnswerText {
    out: String,
    /// `result` is open; its groups (or its problems) so far.
    result: Option<usize>,
    /// A group is open; its problems so far.
    group: Option<usize>,
}

impl AnswerText {
    /// `{"code":…,"msg":…` so far.
    pub fn new(code: &str, msg: &str) -> AnswerText {
        let mut out = String::from("{\"code\":");
        out.push_str(&Json::from(code).to_string());
        out.push_str(",\"msg\":");
        out.push_str(&Json::from(msg).to_string());
        AnswerText {
            out,
            result: None,
            group: None,
        }
    }

    /// Open `result` for problems (an answer without groups).
    pub fn result(&mut self) {
        if self.result.is_none() {
            self.out.push_str(",\"result\":[");
            self.result = Some(0);
        }
    }

    /// Open the next group of `result` (E00M00), closing the one before.
    pub fn group(&mut self, code: &str, msg: &str) {
        self.end_group();
        self.result();
        let n = self.result.get_or_insert(0);
        if *n > 0 {
            self.out.push(',');
        }
        *n += 1;
        self.out.push_str("{\"code\":");
        self.out.push_str(&Json::from(code).to_string());
        self.out.push_str(",\"msg\":");
        self.out.push_str(&Json::from(msg).to_string());
        self.out.push_str(",\"result\":[");
        self.group = Some(0);
    }

    /// One more problem, in the open group, or else in `result`.
    pub fn problem(&mut self, p: &RowProblem) {
        let n = match (&mut self.group, &mut self.result) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                self.out.push_str(",\"result\":[");
                self.result.insert(0)
            }
        };
        if *n > 0 {
            self.out.push(',');
        }
        *n += 1;
        self.out.push_str(&problem_json(p).to_string());
    }

    fn end_group(&mut self) {
        if self.group.take().is_some() {
            self.out.push_str("]}");
        }
    }

    /// The text, every bracket closed.
    pub fn finish(mut self) -> String {
        self.end_group();
        if self.result.is_some() {
            self.out.push(']');
        }
        self.out.push('}');
        self.out
    }
}

/// A batch's state and seed 003's proposal view of it (SPEC §7.2), as the HTTP API and the
/// CLI show it. Times are RFC 3339 UTC ("" when unset).
pub fn batch_json(b: &crate::v1::GetBatchResponse) -> Json {
    let time = |unix: i64| {
        if unix > 0 {
            crate::time::rfc3339(unix)
        } else {
            String::new()
        }
    };
    serde_json::json!({
        "batch_id": b.batch_id,
        "interface": format!("{}/{}", b.data_category, b.biz_key),
        "state": b.state,
        "operation": b.operation,
        "batch_size": b.batch_size,
        "staged_rows": b.staged_rows,
        "sequences": b.sequences,
        "failure_code": b.failure_code,
        "failure_msg": b.failure_msg,
        "proposalType": "batch",
        "batchSource": b.batch_source,
        "instantExecute": b.instant_execute,
        "executeTs": b.execute_ts,
        "executeStatus": b.execute_status,
        "executor": b.executor,
        "executeDetail": b.execute_detail,
        "revertTs": b.revert_ts,
        "revertStatus": b.revert_status,
        "reverter": b.reverter,
        "revertDetail": b.revert_detail,
        "creator": b.creator,
        "createdTs": time(b.created_unix),
        "modifier": b.modifier,
        "modifiedTs": time(b.modified_unix),
        "checkOnly": b.check_only,
    })
}

/// One line of a JSON-lines file as a row (`wharf push`): an object's fields, or — for a
/// line that is not an object or not JSON — the line as text in `not_object`, for core to
/// refuse (a field twice is kept twice, as in a `data` item). `line` is the 1-based line number.
pub fn row_from_line(text: &str, line: u32) -> Row {
    let mut r = match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => row(raw),
        Err(_) => Row {
            fields: Vec::new(),
            not_object: Json::String(text.chars().take(200).collect()).to_string(),
            line: 0,
        },
    };
    r.line = line;
    r
}

/// A push as the CLI shows it (`wharf outbox list --json`). Times are RFC 3339 UTC.
pub fn push_json(p: &crate::v1::PushView) -> Json {
    let env = match crate::v1::Environment::try_from(p.environment) {
        Ok(crate::v1::Environment::Uat) => "uat",
        _ => "prod",
    };
    let sequences: Vec<Json> = p
        .sequences
        .iter()
        .map(|s| {
            serde_json::json!({
                "seq_id": s.seq_id,
                "rows": s.rows,
                "state": s.state,
                "attempts": s.attempts,
                "http_status": s.http_status,
                "code": s.code,
                "msg": s.msg,
            })
        })
        .collect();
    serde_json::json!({
        "push_id": p.push_id,
        "partner": p.partner,
        "env": env,
        "interface": format!("{}/{}", p.data_category, p.biz_key),
        "operation": p.operation,
        "rows": p.rows,
        "state": p.state,
        "created": crate::time::rfc3339(p.created_unix),
        "updated": crate::time::rfc3339(p.updated_unix),
        "sequences": sequences,
    })
}

/// The answer for a failure to reach core or of core itself: code `-1`, safe to retry.
pub fn system_error_json(msg: &str) -> Json {
    let mut m = Map::new();
    m.insert("code".into(), Json::String("-1".into()));
    m.insert("msg".into(), Json::String(format!("system error: {msg}")));
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text_and_rows_their_fields() {
        let body = br#"{"batch_id":"LCFC202206230001","batch_size":"250000","seq_id":"1","seq_size":2,
            "data":[{"QTY":1000.10,"big":123456789012345678901234.5},{"LENOVO_PN":"SD10W87241"}],"x":1}"#;
        let mut req = IngestBatchRequest::default();
        read_envelope(body, &mut req);
        assert_eq!(req.unreadable, "");
        assert!(req.has_data);
        assert_eq!(req.rows.len(), 2);
        let qty = req.rows[0].fields[0].value.clone().unwrap().kind.unwrap();
        assert_eq!(qty, Kind::Number("1000.10".into()));
        let big = req.rows[0].fields[1].value.clone().unwrap().kind.unwrap();
        assert_eq!(big, Kind::Number("123456789012345678901234.5".into()));
        assert_eq!(
            req.seq_size.unwrap().kind.unwrap(),
            Kind::Number("2".into())
        );
        assert_eq!(req.unknown_envelope_fields, vec!["x".to_string()]);
        assert_eq!(
            row_json(&req.rows[0]).to_string(),
            r#"{"QTY":1000.10,"big":123456789012345678901234.5}"#
        );
    }

    #[test]
    fn a_schedule_is_read_as_sent_for_core_to_judge() {
        let body = br#"{"batch_id":"b","instantExecute":false,"executeTs":"2024-04-10T02:00:00Z",
            "revertTs":7,"data":[]}"#;
        let mut req = IngestBatchRequest::default();
        read_envelope(body, &mut req);
        assert!(req.unknown_envelope_fields.is_empty());
        assert_eq!(
            req.instant_execute.unwrap().kind,
            Some(Kind::Boolean(false))
        );
        assert_eq!(
            req.execute_ts.unwrap().kind,
            Some(Kind::Text("2024-04-10T02:00:00Z".into()))
        );
        assert_eq!(req.revert_ts.unwrap().kind, Some(Kind::Number("7".into())));
        let mut req = IngestBatchRequest::default();
        read_envelope(br#"{"batch_id":"b","data":[]}"#, &mut req);
        assert!(
            req.instant_execute.is_none() && req.execute_ts.is_none() && req.revert_ts.is_none()
        );
    }

    #[test]
    fn a_key_sent_twice_is_kept_twice_for_core_to_refuse() {
        let body = br#"{"batch_id":"b","seq_id":"1","seq_id":"2","x":1,"x":2,
            "data":[{"QTY":"1","PLANT":"H1","QTY":"2"},{"QTY":"3"}]}"#;
        let mut req = IngestBatchRequest::default();
        read_envelope(body, &mut req);
        assert_eq!(req.unreadable, "");
        let names: Vec<&str> = req.rows[0].fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["QTY", "PLANT", "QTY"], "every member, in order");
        assert_eq!(req.rows[1].fields.len(), 1);
        // An envelope field twice is mistyped (the first is read); an unknown one is listed once.
        assert_eq!(req.mistyped_envelope_fields, vec!["seq_id".to_string()]);
        assert_eq!(req.seq_id.unwrap().kind, Some(Kind::Text("1".into())));
        assert_eq!(req.unknown_envelope_fields, vec!["x".to_string()]);
        // The same for a JSON-lines row.
        let r = row_from_line(r#" {"a":1,"a":2} "#, 3);
        assert_eq!((r.fields.len(), r.line), (2, 3));
        assert_eq!(row_from_line("[1]", 1).not_object, "[1]");
    }

    #[test]
    fn unreadable_bodies_are_reported_not_guessed() {
        for (body, expect) in [
            (&b"{not json"[..], "not valid JSON"),
            (b"[1,2]", "not a JSON object"),
            (b"", "not valid JSON"),
        ] {
            let mut req = IngestBatchRequest::default();
            read_envelope(body, &mut req);
            assert!(req.unreadable.contains(expect), "{:?}", req.unreadable);
        }
        let mut req = IngestBatchRequest::default();
        read_envelope(br#"{"batch_id":"b","data":"nope"}"#, &mut req);
        assert_eq!(req.mistyped_envelope_fields, vec!["data".to_string()]);
        let mut req = IngestBatchRequest::default();
        read_envelope(br#"{"data":[1,{"a":"b"}]}"#, &mut req);
        assert_eq!(req.rows[0].not_object, "1");
        assert!(req.rows[1].not_object.is_empty());
        let mut req = IngestBatchRequest::default();
        read_envelope(br#"{"batch_id":"b"}"#, &mut req);
        assert!(!req.has_data);
    }

    #[test]
    fn answers_render_in_the_seed_shape() {
        let r = IngestBatchResponse {
            code: "0".into(),
            msg: "request success".into(),
            ..Default::default()
        };
        assert_eq!(
            answer_json(&r).to_string(),
            r#"{"code":"0","msg":"request success"}"#
        );
        let r = IngestBatchResponse {
            code: "E00V00".into(),
            msg: "data verification failed!".into(),
            problems: vec![RowProblem {
                index: Some(0),
                row: Some(Row {
                    fields: vec![Field {
                        name: "version".into(),
                        value: Some(Value {
                            kind: Some(Kind::Text("20220915080100123456".into())),
                        }),
                    }],
                    not_object: String::new(),
                    line: 0,
                }),
                verify: vec![crate::v1::Verify {
                    r#type: "value length exceed".into(),
                    fields: "version".into(),
                    code: String::new(),
                    detail: None,
                }],
            }],
            ..Default::default()
        };
        assert_eq!(
            answer_json(&r).to_string(),
            r#"{"code":"E00V00","msg":"data verification failed!","result":[{"index":0,"row":{"version":"20220915080100123456"},"verify":[{"type":"value length exceed","fields":"version"}]}]}"#
        );
    }

    #[test]
    fn a_verify_detail_shows_only_its_parts_that_apply() {
        use crate::v1::{RowRef, Verify};
        let text = |s: &str| {
            Some(Value {
                kind: Some(Kind::Text(s.into())),
            })
        };
        let entry = |detail: Option<VerifyDetail>| {
            let r = IngestBatchResponse {
                code: "E00V00".into(),
                msg: String::new(),
                problems: vec![RowProblem {
                    index: Some(1),
                    row: None,
                    verify: vec![Verify {
                        r#type: "t".into(),
                        fields: "a,b".into(),
                        code: String::new(),
                        detail,
                    }],
                }],
                ..Default::default()
            };
            answer_json(&r)["result"][0]["verify"][0].to_string()
        };
        assert_eq!(entry(None), r#"{"type":"t","fields":"a,b"}"#);
        assert_eq!(
            entry(Some(VerifyDetail::default())),
            r#"{"type":"t","fields":"a,b"}"#,
            "an empty detail is left out"
        );
        let by_field = vec![
            FieldDetail {
                field: "a".into(),
                max_digits: Some(4),
                max_decimals: Some(2),
                format: "decimal".into(),
                also_accepted: vec!["N/A".into()],
                ..Default::default()
            },
            FieldDetail {
                field: "b".into(),
                allowed: vec!["X".into(), "Y".into()],
                max_length: Some(0),
                control_characters: true,
                example: "e".into(),
                ..Default::default()
            },
        ];
        assert_eq!(
            entry(Some(VerifyDetail {
                by_field,
                ..Default::default()
            })),
            r#"{"type":"t","fields":"a,b","detail":{"by_field":{"a":{"format":"decimal","max_digits":4,"max_decimals":2,"also_accepted":["N/A"]},"b":{"max_length":0,"example":"e","allowed":["X","Y"],"control_characters":true}}}}"#
        );
        let dup = |line| VerifyDetail {
            repeats: Some(RowRef { index: 0, line }),
            key: vec![
                Field {
                    name: "a".into(),
                    value: text("1"),
                },
                Field {
                    name: "b".into(),
                    value: None,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            entry(Some(dup(2))),
            r#"{"type":"t","fields":"a,b","detail":{"repeats":{"index":0,"line":2},"key":{"a":"1","b":null}}}"#
        );
        assert_eq!(
            entry(Some(dup(0))),
            r#"{"type":"t","fields":"a,b","detail":{"repeats":{"index":0},"key":{"a":"1","b":null}}}"#,
            "no line for a row that came from no sheet"
        );
    }

    /// The answer's text written problem by problem is the text of its JSON tree, whatever
    /// it holds: groups, envelope problems, rows that were not objects, numbers, escapes.
    #[test]
    fn answer_text_is_the_answer_json_byte_for_byte() {
        let field = |name: &str, kind: Kind| Field {
            name: name.into(),
            value: Some(Value { kind: Some(kind) }),
        };
        let row_problem = |index: u32, line: u32| RowProblem {
            index: Some(index),
            row: Some(Row {
                fields: vec![
                    field("a \"quoted\"\n", Kind::Text("\u{0}x\u{1F600}".into())),
                    field("n", Kind::Number("10.125".into())),
                    field("big", Kind::Number("123456789012345678901234567890".into())),
                    field("bad", Kind::Number("1.2.3".into())),
                    field("b", Kind::Boolean(true)),
                    field("j", Kind::Json(r#"{"z":[1,2]}"#.into())),
                    Field {
                        name: "none".into(),
                        value: None,
                    },
                ],
                not_object: String::new(),
                line,
            }),
            verify: vec![crate::v1::Verify {
                r#type: "invalid date".into(),
                fields: "a,n".into(),
                code: "40009214".into(),
                // The detail is written as the tree writes it.
                detail: Some(VerifyDetail {
                    by_field: vec![FieldDetail {
                        field: "a".into(),
                        format: "yyyy-mm-dd".into(),
                        example: "2024-02-29".into(),
                        also_accepted: vec!["N/A".into()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }],
        };
        let envelope = RowProblem {
            index: None,
            row: None,
            verify: vec![crate::v1::Verify {
                r#type: "value not allowed".into(),
                fields: "batch_size".into(),
                code: String::new(),
                detail: None,
            }],
        };
        let not_object = RowProblem {
            index: Some(2),
            row: Some(Row {
                fields: vec![],
                not_object: "[1,\"x\"]".into(),
                line: 0,
            }),
            verify: vec![],
        };
        let answers = [
            IngestBatchResponse::default(),
            IngestBatchResponse {
                code: "E00V00".into(),
                msg: "failed \"here\"".into(),
                problems: vec![envelope.clone(), row_problem(0, 7), not_object.clone()],
                ..Default::default()
            },
            IngestBatchResponse {
                code: "E00M00".into(),
                msg: "both".into(),
                groups: vec![
                    crate::v1::CodeGroup {
                        code: "E00V00".into(),
                        msg: "v".into(),
                        problems: vec![row_problem(1, 0), envelope],
                    },
                    crate::v1::CodeGroup {
                        code: "E00W00".into(),
                        msg: "w".into(),
                        problems: vec![],
                    },
                ],
                ..Default::default()
            },
        ];
        for r in &answers {
            assert_eq!(answer_json_text(r), answer_json(r).to_string(), "{r:?}");
        }
    }
}
