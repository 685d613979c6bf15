//! The user's own sheet back, its errors marked (issue #23 item 6): every failing cell filled
//! red with a note saying what is wrong and how to fix it, a problem with a field the sheet
//! has no column for noted on the row's first cell. Built from the file as uploaded (core
//! holds it for a day, `GetHeldUpload` by batch), read again by the door's own reader, the
//! columns named as core matches them, and the error lines the result page shows.

use std::collections::BTreeMap;

use hyper::StatusCode;
use rust_xlsxwriter::{Color, Format, Note, Workbook, XlsxError};
use wharf_proto::v1 as pb;
use wharf_sheet::Sheet;

use crate::pages::{self, Reply};
use crate::report::ErrorLine;
use crate::session::Session;
use crate::Upload;

/// Most notes one workbook carries; failing cells past them are still filled red.
const MAX_NOTES: usize = 20_000;

/// The cells of `sheet` with `lines` marked. `fields[i]` is the field column `i` fills.
pub(crate) fn annotate(
    sheet: &Sheet,
    fields: &[String],
    lines: &[ErrorLine],
) -> Result<Vec<u8>, XlsxError> {
    // (row, column) → what is wrong there; row 0 is the header (line 1).
    let mut marks: BTreeMap<(u32, u16), Vec<String>> = BTreeMap::new();
    for e in lines.iter().filter(|e| e.line > 1) {
        let row = e.line - 1;
        let cols: Vec<u16> = e
            .field
            .split(',')
            .filter_map(|f| fields.iter().position(|c| c == f.trim()))
            .map(|c| c as u16)
            .collect();
        let text = if cols.is_empty() {
            format!("{} — {}: {}", e.field, e.kind, e.hint)
        } else {
            format!("{}: {}", e.kind, e.hint)
        };
        for col in if cols.is_empty() { vec![0] } else { cols } {
            let notes = marks.entry((row, col)).or_default();
            if !notes.contains(&text) {
                notes.push(text.clone());
            }
        }
    }
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("sheet")?;
    let plain = Format::new();
    let bold = Format::new().set_bold();
    let bad = Format::new().set_background_color(Color::RGB(0xFFC7CE));
    for (col, header) in sheet.header.iter().enumerate() {
        wharf_sheet::out::xlsx_text(ws, 0, col as u16, header, &bold)?;
        ws.set_column_width(col as u16, 18)?;
    }
    let mut filled: std::collections::HashSet<(u32, u16)> = std::collections::HashSet::new();
    for row in sheet.rows() {
        let r = row.line - 1;
        for f in &row.row.fields {
            let Some(col) = sheet.column(&f.name) else {
                continue;
            };
            let col = col as u16;
            let format = if marks.contains_key(&(r, col)) {
                &bad
            } else {
                &plain
            };
            match f.value.as_ref().and_then(|v| v.kind.as_ref()) {
                Some(pb::value::Kind::Number(n)) => match n.parse::<f64>() {
                    Ok(x) => {
                        ws.write_number_with_format(r, col, x, format)?;
                    }
                    Err(_) => wharf_sheet::out::xlsx_text(ws, r, col, n, format)?,
                },
                Some(pb::value::Kind::Text(t)) => {
                    wharf_sheet::out::xlsx_text(ws, r, col, t, format)?
                }
                _ => continue,
            }
            filled.insert((r, col));
        }
    }
    for (i, ((row, col), notes)) in marks.iter().enumerate() {
        // An empty failing cell (a required value left out) is filled red too.
        if !filled.contains(&(*row, *col)) {
            ws.write_blank(*row, *col, &bad)?;
        }
        if i < MAX_NOTES {
            ws.insert_note(
                *row,
                *col,
                &Note::new(notes.join("\n"))
                    .set_author("wharf")
                    .set_width(360)
                    .set_height(120),
            )?;
        }
    }
    book.save_to_buffer()
}

impl Upload {
    /// The uploaded sheet of a batch with its errors marked, as a download.
    pub(crate) async fn annotated(&self, s: &Session, at: (&str, &str, &str, &str)) -> Reply {
        let sent = match self.sent_sheet(s, at).await {
            Ok(sent) => sent,
            Err(r) => return r,
        };
        let name = sent
            .file_name
            .rsplit_once('.')
            .map_or(sent.file_name.as_str(), |(n, _)| n)
            .to_string();
        let built =
            tokio::task::spawn_blocking(move || annotate(&sent.sheet, &sent.fields, &sent.lines))
                .await;
        let error = match built {
            Ok(Ok(bytes)) => {
                return pages::download(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    &format!("{name}-errors.xlsx"),
                    bytes,
                )
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::error!(%error, "annotated workbook failed");
        pages::message(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(s.nav()),
            crate::i18n::t("message.internal"),
            crate::i18n::t("annotated.failed"),
        )
    }
}
