//! The template workbook of an interface: sheet one holds the field names in row 1 (the row
//! the upload reads as its header), sheet two explains each field. Columns of text and digits
//! are formatted as text, so a part number like `00123` keeps its zeros; date columns as
//! dates, so a typed date is stored as a real date cell. Served as a download to the users
//! of the interface. Every text cell goes through `wharf_sheet::out::xlsx_text`, so a name,
//! allowed value or default that starts like a formula stays text.

use hyper::StatusCode;
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, XlsxError};
use wharf_proto::v1 as pb;
use wharf_sheet::out::xlsx_text;

use crate::core_error::Call;
use crate::pages::{self, Reply};
use crate::session::Session;
use crate::Upload;

/// The `.xlsx` bytes of `iface`'s template.
pub(crate) fn template(iface: &pb::InterfaceDef) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xE8EEF7))
        .set_border_bottom(FormatBorder::Thin);
    let as_text = Format::new().set_num_format("@");
    let as_date = Format::new().set_num_format("yyyy-mm-dd");

    let data = book.add_worksheet();
    data.set_name("data")?;
    for (col, f) in iface.fields.iter().enumerate() {
        let col = u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)?;
        xlsx_text(data, 0, col, &f.name, &header)?;
        data.set_column_width(col, (f.name.chars().count() as f64 + 4.0).max(12.0))?;
        if f.r#type == "date" {
            data.set_column_format(col, &as_date)?;
        } else if f.r#type == "string" || f.r#type == "digits" {
            data.set_column_format(col, &as_text)?;
        }
    }
    data.set_freeze_panes(1, 0)?;

    let about = book.add_worksheet();
    about.set_name("fields")?;
    let titles = [
        "field",
        "type",
        "required",
        "max length",
        "allowed values",
        "default",
        "business key",
    ];
    for (col, t) in titles.iter().enumerate() {
        xlsx_text(about, 0, col as u16, t, &header)?;
    }
    for (i, f) in iface.fields.iter().enumerate() {
        let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        let length = if f.max_length == 0 {
            String::new()
        } else {
            f.max_length.to_string()
        };
        let cells = [
            f.name.clone(),
            f.r#type.clone(),
            if f.required { "yes" } else { "no" }.to_string(),
            length,
            f.allowed.join(", "),
            f.default_value.clone(),
            if iface.business_key.contains(&f.name) {
                "yes"
            } else {
                ""
            }
            .to_string(),
        ];
        let plain = Format::new();
        for (col, c) in cells.iter().enumerate() {
            xlsx_text(about, row, col as u16, c, &plain)?;
        }
    }
    for (col, width) in [24.0, 16.0, 10.0, 12.0, 40.0, 12.0, 14.0]
        .iter()
        .enumerate()
    {
        about.set_column_width(col as u16, *width)?;
    }
    book.save_to_buffer()
}

impl Upload {
    /// The template workbook of one of the user's interfaces, as a download.
    pub(crate) async fn template(&self, s: &Session, category: &str, biz_key: &str) -> Reply {
        let mut core = self.core.clone();
        let defs = match core
            .list_interfaces(pb::ListInterfacesRequest {
                partner: s.partner.clone(),
                all: false,
            })
            .await
        {
            Ok(d) => d.into_inner().interfaces,
            Err(st) => return self.core_error(Call::Page(s), &st),
        };
        let Some(def) = defs
            .iter()
            .find(|d| d.data_category == category && d.biz_key == biz_key)
        else {
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
                    "Internal error",
                    "The template could not be built.",
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
