//! Fixing failing rows in the browser (issue #23 item 2). The result page of a batch that
//! failed on its rows opens them in a grid (`/fix`, `static/fix.js`): the failing rows of the
//! sheet as uploaded, each failing cell marked with how to fix it. Each edited row is checked
//! by core (`CheckRows`, the rules a sequence's rows meet; the page holds none of them), and
//! when every row passes the corrected sheet — the uploaded one with the edited rows in
//! place — is held and sent as a new batch that names the one it corrects. Rows are handed to
//! the page all at once and shown a page at a time, so 10,000 of them do not freeze it.
//! Without JavaScript the grid page says so and offers the marked copy and the CSV.

use std::collections::HashMap;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde_json::{json, Value as Json};
use wharf_gateway::body::read_body;
use wharf_proto::v1 as pb;
use wharf_sheet::Sheet;

use crate::columns::Held;
use crate::i18n::t;
use crate::pages::{self, Reply};
use crate::report::{self, ErrorLine};
use crate::routes::{env_of, result_href};
use crate::send::operation_of;
use crate::send::{self, Sent, Target};
use crate::sent::SentSheet;
use crate::session::{self, Session};
use crate::Upload;

/// Most failing rows the grid takes; past them, the marked copy.
pub(crate) const MAX_GRID_ROWS: usize = 20_000;
/// A row checked: its values, as JSON.
const CHECK_LIMIT: usize = 256 * 1024;
/// The edits sent with the corrected sheet.
const SUBMIT_LIMIT: usize = 16 << 20;

/// A cell's text in a sheet row.
fn text(f: &pb::Field) -> Option<&str> {
    match f.value.as_ref().and_then(|v| v.kind.as_ref()) {
        Some(pb::value::Kind::Text(t) | pb::value::Kind::Number(t)) => Some(t),
        _ => None,
    }
}

/// The problems of one line, as the grid shows them: the field (`""` for one the sheet has
/// no column for: then named in the hint), the type, the sentence.
fn problems_json(lines: &[&ErrorLine], columns: &[String]) -> Vec<Json> {
    lines
        .iter()
        .map(|e| {
            let on_column = e
                .field
                .split(',')
                .any(|f| columns.iter().any(|c| c == f.trim()));
            json!({
                "field": if on_column { e.field.as_str() } else { "" },
                "kind": e.kind,
                "hint": if on_column { e.hint.clone() } else { format!("{}: {}", e.field, e.hint) },
            })
        })
        .collect()
}

/// The grid's rows: every failing line of the sheet (at most [`MAX_GRID_ROWS`]), its values
/// in the order of `columns` (the fields the sheet's columns fill).
pub(crate) fn grid(sent: &SentSheet) -> Json {
    let columns: Vec<String> = sent
        .fields
        .iter()
        .filter(|f| !f.is_empty())
        .cloned()
        .collect();
    let mut by_line: HashMap<u32, Vec<&ErrorLine>> = HashMap::new();
    for e in sent.lines.iter().filter(|e| e.line > 1) {
        by_line.entry(e.line).or_default().push(e);
    }
    let mut rows = Vec::new();
    // Only the failing rows are built.
    for (i, line) in sent.sheet.lines().enumerate() {
        let Some(problems) = by_line.get(&line) else {
            continue;
        };
        if rows.len() == MAX_GRID_ROWS {
            break;
        }
        let Some(row) = sent.sheet.rows_in(i..i + 1).next() else {
            continue;
        };
        let mut values = vec![String::new(); columns.len()];
        for f in &row.row.fields {
            let Some(field) = sent
                .sheet
                .column(&f.name)
                .and_then(|col| sent.fields.get(col))
            else {
                continue;
            };
            if let (Some(i), Some(t)) = (columns.iter().position(|c| c == field), text(f)) {
                values[i] = t.to_string();
            }
        }
        rows.push(json!({
            "line": row.line,
            "values": values,
            "problems": problems_json(problems, &columns),
        }));
    }
    let failing = by_line.len();
    json!({
        "columns": columns,
        "rows": rows,
        "failing": failing,
        "shown": rows.len(),
        "sheet_rows": sent.sheet.len(),
    })
}

/// The corrected sheet: the uploaded one's rows in their order, the edited lines' values
/// replaced (`edits`: line → field → value), under the fields' names as headers; numbers
/// left unedited stay numbers.
pub(crate) fn corrected(
    sheet: &Sheet,
    fields: &[String],
    edits: &HashMap<u32, HashMap<String, String>>,
) -> Result<Vec<u8>, XlsxError> {
    let columns: Vec<&String> = fields.iter().filter(|f| !f.is_empty()).collect();
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    let plain = Format::new();
    for (c, name) in columns.iter().enumerate() {
        wharf_sheet::out::xlsx_text(ws, 0, c as u16, name, &plain)?;
    }
    let mut r = 0u32;
    for row in sheet.rows() {
        r += 1;
        let edited = edits.get(&row.line);
        for f in &row.row.fields {
            let Some(field) = sheet.column(&f.name).and_then(|col| fields.get(col)) else {
                continue;
            };
            let Some(c) = columns.iter().position(|c| *c == field) else {
                continue;
            };
            if edited.is_some_and(|e| e.contains_key(field)) {
                continue;
            }
            match f.value.as_ref().and_then(|v| v.kind.as_ref()) {
                Some(pb::value::Kind::Number(n)) => match n.parse::<f64>() {
                    Ok(x) => {
                        ws.write_number(r, c as u16, x)?;
                    }
                    Err(_) => wharf_sheet::out::xlsx_text(ws, r, c as u16, n, &plain)?,
                },
                Some(pb::value::Kind::Text(t)) => {
                    wharf_sheet::out::xlsx_text(ws, r, c as u16, t, &plain)?
                }
                _ => {}
            }
        }
        for (field, value) in edited.into_iter().flatten() {
            if let Some(c) = columns.iter().position(|c| *c == field) {
                if !value.is_empty() {
                    wharf_sheet::out::xlsx_text(ws, r, c as u16, value, &plain)?;
                }
            }
        }
    }
    book.save_to_buffer()
}

fn json_reply(status: StatusCode, body: &Json) -> Reply {
    pages::bytes(status, "application/json", body.to_string())
}

fn json_error(status: StatusCode, msg: &str) -> Reply {
    json_reply(status, &json!({ "error": msg }))
}

/// The JSON body of a grid request, its CSRF token checked.
async fn body(s: &Session, req: Request<Incoming>, limit: usize) -> Result<Json, Reply> {
    let bytes = read_body(req, limit)
        .await
        .map_err(|_| json_error(StatusCode::PAYLOAD_TOO_LARGE, t("fix.err.body")))?;
    let v: Json = serde_json::from_slice(&bytes)
        .map_err(|_| json_error(StatusCode::BAD_REQUEST, t("fix.err.json")))?;
    if !s.csrf_ok(v["csrf"].as_str().unwrap_or_default()) {
        return Err(json_error(StatusCode::FORBIDDEN, t("fix.err.csrf")));
    }
    Ok(v)
}

impl Upload {
    /// The grid page (its rows come from `fix_rows`).
    pub(crate) async fn fix_page(&self, s: &Session, at: (&str, &str, &str, &str)) -> Reply {
        let b = match self.batch(s, at.0, at.1, at.2, at.3, false).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let base = result_href(at.0, at.1, at.2, at.3);
        pages::page(
            StatusCode::OK,
            &pages::FixPage {
                nav: Some(s.nav()),
                csrf: session::csrf_token(&s.token),
                batch_id: b.batch_id.clone(),
                file: b.source.clone(),
                interface: format!("{}/{}", b.data_category, b.biz_key),
                result_href: base.clone(),
                rows_href: format!("{base}/fix/rows"),
                check_href: format!("{base}/fix/check"),
                submit_href: format!("{base}/fix"),
                annotated_href: format!("{base}/annotated.xlsx"),
                csv_href: format!("{base}/errors.csv"),
            },
        )
    }

    /// The failing rows of the batch's sheet, as JSON.
    pub(crate) async fn fix_rows(&self, s: &Session, at: (&str, &str, &str, &str)) -> Reply {
        match self.sent_sheet(s, at).await {
            Ok(sent) => json_reply(StatusCode::OK, &grid(&sent)),
            Err(page) => page,
        }
    }

    /// One edited row checked by core: its problems, each with its sentence.
    pub(crate) async fn fix_check(
        &self,
        s: &Session,
        (env, category, biz_key, batch_id): (&str, &str, &str, &str),
        req: Request<Incoming>,
    ) -> Reply {
        let v = match body(s, req, CHECK_LIMIT).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let b = match self.batch(s, env, category, biz_key, batch_id, false).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let line = v["line"].as_u64().unwrap_or(0) as u32;
        let fields = v["values"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k, v.as_str()?)))
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| pb::Field {
                        name: k.clone(),
                        value: Some(pb::Value {
                            kind: Some(pb::value::Kind::Text(v.to_string())),
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let row = pb::Row {
            fields,
            line,
            ..Default::default()
        };
        let mut core = self.core.clone();
        let checked = core
            .check_rows(pb::CheckRowsRequest {
                partner: s.partner.clone(),
                data_category: category.to_string(),
                biz_key: biz_key.to_string(),
                operation: operation_of(&b.operation).unwrap_or(pb::Operation::Insert) as i32,
                rows: vec![row.clone()],
            })
            .await;
        let problems = match checked {
            Ok(r) => r.into_inner().problems,
            Err(st) => return json_error(StatusCode::BAD_GATEWAY, st.message()),
        };
        let answer = pb::IngestBatchResponse {
            problems,
            ..Default::default()
        };
        let lines = report::error_lines([&answer]);
        // The grid's columns: every field the page sent, filled or not.
        let known: Vec<String> = v["values"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let refs: Vec<&ErrorLine> = lines.iter().collect();
        json_reply(
            StatusCode::OK,
            &json!({ "line": line, "problems": problems_json(&refs, &known) }),
        )
    }

    /// The corrected sheet sent as a new batch; its result page's address, as JSON.
    pub(crate) async fn fix_submit(
        &self,
        s: &Session,
        at: (&str, &str, &str, &str),
        req: Request<Incoming>,
    ) -> Reply {
        let v = match body(s, req, SUBMIT_LIMIT).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let sent = match self.sent_sheet(s, at).await {
            Ok(sent) => sent,
            Err(_) => return json_error(StatusCode::NOT_FOUND, t("fix.err.gone")),
        };
        let mut edits: HashMap<u32, HashMap<String, String>> = HashMap::new();
        for (line, values) in v["edits"].as_object().into_iter().flatten() {
            let Ok(line) = line.parse::<u32>() else {
                continue;
            };
            let row = edits.entry(line).or_default();
            for (field, value) in values.as_object().into_iter().flatten() {
                row.insert(
                    field.clone(),
                    value.as_str().unwrap_or_default().to_string(),
                );
            }
        }
        let SentSheet {
            batch,
            file_name,
            sheet,
            fields,
            ..
        } = sent;
        let built = tokio::task::spawn_blocking(move || {
            corrected(&sheet, &fields, &edits).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let bytes = match built {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(%error, "corrected sheet failed");
                return json_error(StatusCode::INTERNAL_SERVER_ERROR, t("fix.err.build"));
            }
        };
        let stem = file_name
            .rsplit_once('.')
            .map_or(file_name.as_str(), |(n, _)| n);
        let name = format!("{stem}-fixed.xlsx");
        let batch_id = send::new_batch_id();
        let held = Held {
            category: &batch.data_category,
            biz_key: &batch.biz_key,
            file_name: &name,
            content: &bytes,
            batch_id: &batch_id,
            corrects: &batch.batch_id,
        };
        if let Err(st) = self.hold(s, &held).await {
            return json_error(StatusCode::BAD_GATEWAY, st.message());
        }
        let limits = self.cfg.sheet_limits.clone();
        let sheet = tokio::task::spawn_blocking(move || {
            wharf_sheet::open(wharf_sheet::Format::Xlsx, bytes.into(), &limits)
        })
        .await;
        let Ok(sheet) = sheet else {
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, t("fix.err.read"));
        };
        let Some(env) = env_of(at.0) else {
            return json_error(StatusCode::NOT_FOUND, t("fix.err.env"));
        };
        let target = Target {
            partner: s.partner.clone(),
            user: s.user.clone(),
            env,
            data_category: batch.data_category.clone(),
            biz_key: batch.biz_key.clone(),
            operation: operation_of(&batch.operation).unwrap_or(pb::Operation::Insert),
            source: name,
            // Sent to apply now; a checked sheet's correction is checked again.
            schedule: Default::default(),
            check_only: batch.check_only,
        };
        let sent = self.send_sheet(&target, &batch_id, sheet).await;
        match sent {
            Ok(Sent::Batch { batch_id, .. }) => json_reply(
                StatusCode::OK,
                &json!({ "href": result_href(at.0, at.1, at.2, &batch_id) }),
            ),
            Ok(Sent::Answered(a)) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &a.msg),
            Err(st) => json_error(StatusCode::BAD_GATEWAY, st.message()),
        }
    }
}
