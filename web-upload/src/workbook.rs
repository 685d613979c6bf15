//! The template workbook of an interface: sheet one holds the field names in row 1 (the row
//! the upload reads as its header; required fields' headers stand out), with a drop-down for
//! each field that has allowed values and, on every column, a note of what to write; sheet two
//! explains each field in plain words (core's rule, worded by `hints`), with an example. Columns of text and digits
//! are formatted as text, so a part number like `00123` keeps its zeros; date columns as
//! dates, so a typed date is stored as a real date cell. Served as a download to the users
//! of the interface. Every text cell goes through `wharf_sheet::out::xlsx_text`, so a name,
//! allowed value or default that starts like a formula stays text.

use hyper::StatusCode;
use rust_xlsxwriter::{Color, DataValidation, Format, FormatBorder, Formula, Workbook, XlsxError};
use wharf_proto::v1 as pb;
use wharf_sheet::out::xlsx_text;

use crate::core_error::Call;
use crate::hints;
use crate::i18n::{t, tf};
use crate::pages::{self, Reply};
use crate::session::Session;
use crate::Upload;

/// Rows of the data sheet that get the drop-downs and the input messages (the page's row
/// limit; Excel stores the range once, whatever its size).
const TEMPLATE_ROWS: u32 = 100_000;

/// Excel's longest input message.
const MAX_INPUT_MESSAGE: usize = 255;

/// The `.xlsx` bytes of `iface`'s template.
pub(crate) fn template(iface: &pb::InterfaceDef) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xE8EEF7))
        .set_border_bottom(FormatBorder::Thin);
    // Required fields' headers stand out (and the field sheet says "yes").
    let required_header = Format::new()
        .set_bold()
        .set_font_color(Color::White)
        .set_background_color(Color::RGB(0x1F4E8C))
        .set_border_bottom(FormatBorder::Thin);
    let as_text = Format::new().set_num_format("@");
    let as_date = Format::new().set_num_format("yyyy-mm-dd");
    let example: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&iface.example).unwrap_or_default();
    let described: Vec<(String, pb::FieldDetail)> = iface
        .fields
        .iter()
        .map(|f| {
            let rule = f.rule.clone().unwrap_or_default();
            (hints::field_description(&rule), rule)
        })
        .collect();

    // Values of long drop-down lists (over Excel's 255 characters inline) live on a hidden
    // sheet, one column per field.
    let mut lists = Vec::new();
    let data = book.add_worksheet();
    data.set_name("data")?;
    for (col, (f, (description, rule))) in iface.fields.iter().zip(&described).enumerate() {
        let col = u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)?;
        let format = if f.required {
            &required_header
        } else {
            &header
        };
        xlsx_text(data, 0, col, &f.name, format)?;
        data.set_column_width(col, (f.name.chars().count() as f64 + 4.0).max(12.0))?;
        if f.r#type == "date" {
            data.set_column_format(col, &as_date)?;
        } else if f.r#type == "string" || f.r#type == "digits" {
            data.set_column_format(col, &as_text)?;
        }
        let mut message: String = description.chars().take(MAX_INPUT_MESSAGE).collect();
        if message.chars().count() == MAX_INPUT_MESSAGE {
            message = message
                .chars()
                .take(MAX_INPUT_MESSAGE - 1)
                .collect::<String>()
                + "…";
        }
        let title: String = f.name.chars().take(32).collect();
        let mut rule_of_cell = DataValidation::new()
            .set_input_title(title)?
            .set_input_message(message)?;
        let values: Vec<&str> = rule
            .allowed
            .iter()
            .chain(&rule.also_accepted)
            .map(String::as_str)
            .collect();
        if !rule.allowed.is_empty() {
            rule_of_cell = match rule_of_cell.clone().allow_list_strings(&values) {
                Ok(inline) => inline,
                Err(_) => {
                    let list_col =
                        u16::try_from(lists.len()).map_err(|_| XlsxError::RowColumnLimitError)?;
                    lists.push(values.iter().map(|v| v.to_string()).collect::<Vec<_>>());
                    let last = values.len().max(1);
                    rule_of_cell.allow_list_formula(Formula::new(format!(
                        "=lists!${letter}$1:${letter}${last}",
                        letter = column_letter(list_col)
                    )))
                }
            }
            .set_error_title(t("workbook.not_allowed"))?
            .set_error_message(tf("workbook.list_only", &[("field", &f.name)]))?;
        } else {
            rule_of_cell = rule_of_cell.allow_any_value();
        }
        data.add_data_validation(1, col, TEMPLATE_ROWS, col, &rule_of_cell)?;
    }
    data.set_freeze_panes(1, 0)?;

    let about = book.add_worksheet();
    about.set_name("fields")?;
    let titles = [
        t("workbook.field"),
        t("workbook.label"),
        t("workbook.what"),
        t("workbook.required"),
        t("workbook.example"),
        t("workbook.allowed"),
        t("workbook.also"),
        t("workbook.default"),
        t("workbook.key"),
    ];
    let lang = crate::i18n::lang().tag();
    let (yes, no) = (t("workbook.yes"), t("workbook.no"));
    for (col, t) in titles.iter().enumerate() {
        xlsx_text(about, 0, col as u16, t, &header)?;
    }
    let plain = Format::new().set_text_wrap();
    for (i, (f, (description, rule))) in iface.fields.iter().zip(&described).enumerate() {
        let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        let shown_example = match example.get(&f.name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => rule.example.clone(),
            Some(other) => other.to_string(),
        };
        // The field's label in the user's language, where the interface gives one.
        let label = f.labels.get(lang).cloned().unwrap_or_default();
        let cells = [
            f.name.clone(),
            label,
            description.clone(),
            if f.required { yes } else { no }.to_string(),
            shown_example,
            f.allowed.join(", "),
            f.exceptions.join(", "),
            f.default_value.clone(),
            if iface.business_key.contains(&f.name) {
                yes
            } else {
                ""
            }
            .to_string(),
        ];
        for (col, c) in cells.iter().enumerate() {
            xlsx_text(about, row, col as u16, c, &plain)?;
        }
    }
    for (col, width) in [24.0, 20.0, 48.0, 10.0, 18.0, 40.0, 14.0, 12.0, 14.0]
        .iter()
        .enumerate()
    {
        about.set_column_width(col as u16, *width)?;
    }

    if !lists.is_empty() {
        let sheet = book.add_worksheet();
        sheet.set_name("lists")?;
        for (col, values) in lists.iter().enumerate() {
            let col = u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (row, v) in values.iter().enumerate() {
                let row = u32::try_from(row).map_err(|_| XlsxError::RowColumnLimitError)?;
                xlsx_text(sheet, row, col, v, &Format::new())?;
            }
        }
        sheet.set_hidden(true);
    }
    book.save_to_buffer()
}

/// A spreadsheet column's letters (0 is `A`).
fn column_letter(col: u16) -> String {
    let mut n = u32::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

impl Upload {
    /// The definition of one of the user's interfaces (`None`: not one of theirs), or the
    /// page saying core could not be asked.
    pub(crate) async fn interface_def(
        &self,
        s: &Session,
        category: &str,
        biz_key: &str,
    ) -> Result<Option<pb::InterfaceDef>, Reply> {
        let mut core = self.core.clone();
        match core
            .list_interfaces(pb::ListInterfacesRequest {
                partner: s.partner.clone(),
                all: false,
            })
            .await
        {
            Ok(d) => Ok(d
                .into_inner()
                .interfaces
                .into_iter()
                .find(|d| d.data_category == category && d.biz_key == biz_key)),
            Err(st) => Err(self.core_error(Call::Page(s), &st)),
        }
    }

    /// The template workbook of one of the user's interfaces, as a download.
    pub(crate) async fn template(&self, s: &Session, category: &str, biz_key: &str) -> Reply {
        let def = match self.interface_def(s, category, biz_key).await {
            Ok(d) => d,
            Err(r) => return r,
        };
        let Some(def) = def.as_ref() else {
            return pages::not_found(Some(s.nav()));
        };
        match template(def) {
            Ok(bytes) => pages::download(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("{category}_{biz_key}_template.xlsx"),
                bytes,
            ),
            Err(e) => {
                tracing::error!(error = %e, "template workbook failed");
                pages::message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(s.nav()),
                    t("message.internal"),
                    t("workbook.failed"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_reads_back_as_an_empty_sheet_with_the_interface_header() {
        let iface = pb::InterfaceDef {
            data_category: "t1".into(),
            biz_key: "bom".into(),
            business_key: vec!["part".into()],
            fields: vec![
                pb::FieldDef {
                    name: "part".into(),
                    r#type: "string".into(),
                    required: true,
                    max_length: 40,
                    ..Default::default()
                },
                pb::FieldDef {
                    name: "valid_from".into(),
                    r#type: "date".into(),
                    ..Default::default()
                },
                pb::FieldDef {
                    name: "unit".into(),
                    r#type: "string".into(),
                    allowed: vec!["PCS".into(), "KG".into()],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let bytes = template(&iface).expect("template");
        // The upload page's own reader takes it: header only, no rows.
        let sheet = wharf_sheet::read(
            wharf_sheet::Format::Xlsx,
            &bytes,
            &wharf_sheet::Limits::default(),
        )
        .expect("readable");
        assert_eq!(sheet.header, vec!["part", "valid_from", "unit"]);
        assert!(sheet.is_empty());
    }
}
