//! CSV as RFC 4180 describes it: comma-separated, fields optionally in double quotes (a quote
//! inside doubled, commas and line breaks inside kept), records ended by `\r\n`, `\n` or a lone
//! `\r`. UTF-8, with or without a byte-order mark. Every cell is text.
//!
//! Row numbers are record numbers (a quoted line break does not start a new row), which is
//! what a spreadsheet program shows when it opens the file; blank lines are rows too.

use wharf_proto::v1::Row;

use crate::file::{Rows, Scan, Stop};
use crate::{check_size, column_name, Builder, CellBudget, Limits, Sheet, SheetError};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Read a CSV file: row 1 holds the field names, every later non-empty row is a data row.
pub fn read_csv(bytes: &[u8], limits: &Limits) -> Result<Sheet, SheetError> {
    let mut rows = Builder::default();
    records(data(bytes, limits)?, limits, |line, col, text| {
        let at = rows.text(text)?;
        rows.push(line, col, at, false);
        Ok::<_, SheetError>(())
    })?;
    rows.finish()
}

/// A first pass over a CSV file ([`crate::open`]): `None` when its text is more than a held
/// sheet addresses (then it is read whole, which refuses it).
pub(crate) fn scan_csv(bytes: &[u8], limits: &Limits) -> Result<Option<Scan>, SheetError> {
    let mut scan = Scan::default();
    let went = records(data(bytes, limits)?, limits, |line, col, text| {
        if scan.row(line) {
            scan.keep(line, col, text, false);
        } else {
            scan.pass(text.len() as u64);
        }
        if scan.fits() {
            Ok(())
        } else {
            Err(Stop::Early)
        }
    });
    match went {
        Ok(()) => Ok(Some(scan)),
        Err(Stop::Early) => Ok(None),
        Err(Stop::Sheet(e)) => Err(e),
    }
}

/// The second pass over a CSV file [`scan_csv`] passed: every cell to `rows`.
pub(crate) fn stream_csv<F: FnMut(Vec<Row>) -> bool>(
    bytes: &[u8],
    limits: &Limits,
    rows: &mut Rows<'_, F>,
) -> Result<(), SheetError> {
    let went = records(data(bytes, limits)?, limits, |line, col, text| {
        if rows.cell(line, col, text.to_string(), false) {
            Ok(())
        } else {
            Err(Stop::Early)
        }
    });
    match went {
        Ok(()) | Err(Stop::Early) => Ok(()),
        Err(Stop::Sheet(e)) => Err(e),
    }
}

/// The file's records, after the checks of its encoding and size.
fn data<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a [u8], SheetError> {
    check_size(bytes, limits)?;
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(SheetError::Csv {
            line: 1,
            msg: "the file is UTF-16 text; save it as \"CSV UTF-8 (comma delimited)\"".into(),
        });
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(SheetError::NotASheet(
            "this is an Excel workbook (.xlsx), not a CSV file: send it named .xlsx, or save it as \"CSV UTF-8 (comma delimited)\"".into(),
        ));
    }
    Ok(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes))
}

/// Split `data` into records and hand each non-empty cell to `cell` (line, column, text) as it
/// is read; an error from `cell` stops the reading.
fn records<E: From<SheetError>>(
    data: &[u8],
    limits: &Limits,
    mut cell: impl FnMut(u32, u32, &str) -> Result<(), E>,
) -> Result<(), E> {
    let mut budget = CellBudget::new(limits);
    let mut line: u32 = 0;
    let mut i = 0;
    let n = data.len();
    let mut field: Vec<u8> = Vec::new();
    while i < n {
        line = line.saturating_add(1);
        let mut col: u32 = 0;
        // One field per turn; the record ends at a line break or the end of the data.
        loop {
            field.clear();
            if i < n && data[i] == b'"' {
                i += 1;
                loop {
                    let Some(q) = data[i..].iter().position(|&b| b == b'"') else {
                        return Err(SheetError::Csv {
                            line,
                            msg: format!(
                                "the quoted value in column {} is never closed (a \" is missing)",
                                column_name(col)
                            ),
                        }
                        .into());
                    };
                    field.extend_from_slice(&data[i..i + q]);
                    i += q + 1;
                    if data.get(i) == Some(&b'"') {
                        field.push(b'"');
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i < n && !matches!(data[i], b',' | b'\r' | b'\n') {
                    return Err(SheetError::Csv {
                        line,
                        msg: format!(
                            "column {}: text follows the closing quote of a quoted value (a quote inside a quoted value must be doubled: \"\")",
                            column_name(col)
                        ),
                    }
                    .into());
                }
            } else {
                let end = data[i..]
                    .iter()
                    .position(|&b| matches!(b, b',' | b'\r' | b'\n'))
                    .map_or(n, |p| i + p);
                field.extend_from_slice(&data[i..end]);
                i = end;
            }
            if !field.is_empty() {
                let text = std::str::from_utf8(&field).map_err(|_| SheetError::Csv {
                    line,
                    msg: format!(
                        "column {} is not UTF-8 text; save the file as \"CSV UTF-8 (comma delimited)\"",
                        column_name(col)
                    ),
                })?;
                budget.take()?;
                cell(line, col, text)?;
            }
            match data.get(i) {
                Some(b',') => {
                    i += 1;
                    col = col.saturating_add(1);
                }
                Some(b'\r') => {
                    i += 1;
                    if data.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                    break;
                }
                Some(b'\n') => {
                    i += 1;
                    break;
                }
                _ => break,
            }
        }
    }
    Ok(())
}
