//! Sheets wharf writes (the upload page's errors CSV, its template workbooks): every text cell
//! goes through here, so that no cell a partner or a definition supplied can run as a formula
//! when a person opens the file (OWASP ASVS 5.0 requirement 1.2.10, CWE-1236).
//!
//! A cell whose first character is one a spreadsheet starts a formula with (`=`, `+`, `-`,
//! `@`, tab, carriage return, NUL) is marked as text: in CSV with a leading `'`, in XLSX with
//! the cell format's quote prefix (the cell keeps its exact text and stays text when edited).
//! A cell that is entirely a plain number (`-12.5`, `-3`) cannot be a formula and is left as it
//! is, so negative numbers still read as numbers.

use std::borrow::Cow;

use rust_xlsxwriter::{Format, Worksheet, XlsxError};

/// The first characters that make a spreadsheet read a cell as a formula.
const TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\0'];

/// `-` followed by digits, optionally `.` and more digits: a plain negative number.
fn plain_negative_number(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-') else {
        return false;
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// Whether a spreadsheet could read `cell` as a formula.
pub fn is_formula_like(cell: &str) -> bool {
    cell.starts_with(TRIGGERS) && !plain_negative_number(cell)
}

/// The text of a CSV cell with a formula trigger defused by a leading `'`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if is_formula_like(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// One CSV cell: defused ([`neutralise`]), then quoted per RFC 4180 (§2.6, §2.7) when it holds
/// a comma, a double quote, a line break, or starts or ends with a space.
pub fn csv_cell(cell: &str) -> String {
    let s = neutralise(cell);
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into_owned()
    }
}

/// One CSV record: every cell through [`csv_cell`], comma-separated, ended by CRLF.
pub fn csv_record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells
        .into_iter()
        .map(csv_cell)
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Write a text cell into an XLSX worksheet in `format`; a formula-like text gets the format's
/// quote prefix, so it is shown and kept as text.
pub fn xlsx_text(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    format: &Format,
) -> Result<(), XlsxError> {
    if is_formula_like(text) {
        let quoted = format.clone().set_quote_prefix();
        sheet.write_string_with_format(row, col, text, &quoted)?;
    } else {
        sheet.write_string_with_format(row, col, text, format)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ASVS 1.2.10 trigger (and carriage return, NUL), as a value and as a header name,
    /// the two attacks, and plain negative numbers that must stay numbers.
    #[test]
    fn every_formula_trigger_is_defused_and_plain_negative_numbers_stay() {
        let table: &[(&str, &str)] = &[
            ("=1+2", "'=1+2"),
            (
                "=HYPERLINK(\"http://evil\")",
                "\"'=HYPERLINK(\"\"http://evil\"\")\"",
            ),
            ("+1+2", "'+1+2"),
            ("-cmd", "'-cmd"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("\0=1", "'\0=1"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("-1+1|cmd", "'-1+1|cmd"),
            ("-1+1", "'-1+1"),
            ("-1.", "'-1."),
            ("-.5", "'-.5"),
            ("-1e5", "'-1e5"),
            ("-", "'-"),
            ("+5", "'+5"),
            ("-12.5", "-12.5"),
            ("-3", "-3"),
            ("-0.001", "-0.001"),
            ("12.5", "12.5"),
            ("plain text", "plain text"),
            ("a=b", "a=b"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
        ];
        for (cell, want) in table {
            // A value and a header name are the same kind of cell: the same rule.
            assert_eq!(csv_cell(cell), *want, "value {cell:?}");
            assert_eq!(
                csv_record(["field", cell]),
                format!("field,{want}\r\n"),
                "header {cell:?}"
            );
        }
        assert_eq!(
            csv_record(["-1+1|cmd", "-2+3+cmd|' /C calc'!A0", "-12.5"]),
            "'-1+1|cmd,'-2+3+cmd|' /C calc'!A0,-12.5\r\n"
        );
    }

    /// XLSX cells keep their exact text; the formula-like ones get the quote prefix.
    #[test]
    fn xlsx_cells_keep_their_text_and_formula_like_ones_are_quote_prefixed() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let cells = ["-1+1|cmd", "=1+2", "name", "-12.5"];
        for (col, c) in cells.iter().enumerate() {
            xlsx_text(sheet, 0, col as u16, c, &Format::new()).expect("write");
        }
        let bytes = book.save_to_buffer().expect("xlsx");
        let read = crate::read_xlsx(&bytes, &crate::Limits::default()).expect("read");
        assert_eq!(read.header, cells);
        // The styles part carries the quote prefix (only the two formula-like cells use it).
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut styles = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/styles.xml").expect("styles"),
            &mut styles,
        )
        .expect("utf-8");
        assert!(styles.contains("quotePrefix=\"1\""), "{styles}");
        let mut sheet_xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").expect("sheet"),
            &mut sheet_xml,
        )
        .expect("utf-8");
        let styled = sheet_xml.matches(" s=\"").count();
        assert_eq!(styled, 2, "{sheet_xml}");
    }
}
