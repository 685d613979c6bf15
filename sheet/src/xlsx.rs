//! XLSX workbooks (Office Open XML, Excel 2007 and later), read with `calamine`: the first
//! visible worksheet only, cell by cell (no dense grid, so a lone far-away cell costs nothing).
//!
//! Before calamine sees the bytes, the zip container is checked from its central directory
//! alone (nothing unpacked): the parts together must unpack to at most
//! [`Limits::max_unzipped_bytes`], and no big part may be packed more tightly than a real
//! workbook ever is. The zip reader then refuses any part that unpacks past its declared size,
//! so the declared sizes bound the work. The shared-string table's declared count is checked
//! too (calamine reserves memory for it up front).
//!
//! Cell values: numbers -> [`Kind::Number`] with the text Excel shows at full precision (15
//! significant digits, shortest form: `10.1`, `1000`, `0.28`); text -> [`Kind::Text`]; booleans
//! -> `true` / `false`; date cells -> `yyyy-mm-dd` (`yyyy-mm-ddTHH:MM:SS` when the time is not
//! midnight, `HH:MM:SS` for a time of day alone); error cells -> their text (`#N/A`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Cursor, Read};

use calamine::{DataRef, ExcelDateTime, Reader, SheetType, SheetVisible, Xlsx, XlsxError};
use wharf_proto::v1::value::Kind;
use zip::ZipArchive;

use wharf_proto::v1::Row;

use crate::file::{Rows, Scan};
use crate::{check_size, Builder, CellBudget, Limits, Sheet, SheetError};

/// A part may unpack to this much before its packing ratio is looked at.
const RATIO_FLOOR: u64 = 10 << 20;
/// Real workbook parts pack at most about 100:1 (long runs of identical XML); zip bombs at ~1000:1.
const MAX_RATIO: u64 = 200;

/// Read the first visible worksheet of an XLSX workbook: row 1 holds the field names, every
/// later non-empty row is a data row.
pub fn read_xlsx(bytes: &[u8], limits: &Limits) -> Result<Sheet, SheetError> {
    checked(bytes, limits)?;
    let (mut workbook, name) = first_sheet(bytes)?;
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
    let mut budget = CellBudget::new(limits);
    let mut sheet = Builder::default();
    // A shared string is kept once however many cells show it (by where calamine holds it).
    let mut shared: HashMap<(usize, usize), (u32, u32)> = HashMap::new();
    let mut cells: Vec<Placed> = Vec::new();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let value = cell.get_value();
        let Some((number, text)) = cell_text(value) else {
            continue;
        };
        budget.take()?;
        let at = match value {
            DataRef::SharedString(s) => match shared.entry((s.as_ptr() as usize, s.len())) {
                std::collections::hash_map::Entry::Occupied(e) => *e.get(),
                std::collections::hash_map::Entry::Vacant(e) => *e.insert(sheet.text(&text)?),
            },
            _ => sheet.text(&text)?,
        };
        let (row, col) = cell.get_position();
        cells.push(Placed {
            row,
            col,
            at,
            number,
        });
    }
    drop(reader);
    into_rows(cells, &mut sheet);
    sheet.finish()
}

/// The size and zip checks, before calamine sees the bytes.
fn checked(bytes: &[u8], limits: &Limits) -> Result<(), SheetError> {
    check_size(bytes, limits)?;
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(SheetError::NotASheet(not_a_zip(bytes)));
    }
    check_zip(bytes, limits)
}

/// A workbook read from memory.
type Book<'a> = Xlsx<Cursor<&'a [u8]>>;

/// The workbook and the name of the worksheet read: the first visible one.
fn first_sheet(bytes: &[u8]) -> Result<(Book<'_>, String), SheetError> {
    let workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let sheets = workbook.sheets_metadata();
    let worksheets = || sheets.iter().filter(|s| s.typ == SheetType::WorkSheet);
    let name = worksheets()
        .find(|s| s.visible == SheetVisible::Visible)
        .or_else(|| worksheets().next())
        .map(|s| s.name.clone())
        .ok_or_else(|| SheetError::NotASheet("the workbook has no worksheet".into()))?;
    Ok((workbook, name))
}

/// The most text a cell that is not text can show (a number written out in full: 15
/// significant digits, up to about 310 places).
const MAX_NUMBER_TEXT: u64 = 400;

/// A first pass over a workbook ([`crate::open`]): `None` when its cells are out of row
/// order or its text may be more than a held sheet addresses (then it is read whole).
pub(crate) fn scan_xlsx(bytes: &[u8], limits: &Limits) -> Result<Option<Scan>, SheetError> {
    checked(bytes, limits)?;
    let (mut workbook, name) = first_sheet(bytes)?;
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
    let mut budget = CellBudget::new(limits);
    let mut scan = Scan::default();
    let mut last: Option<(u32, u32)> = None;
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let value = cell.get_value();
        if !filled(value) {
            continue;
        }
        budget.take()?;
        let (row, col) = cell.get_position();
        if last.is_some_and(|at| (row, col) <= at) {
            return Ok(None);
        }
        last = Some((row, col));
        let line = row.saturating_add(1);
        if scan.row(line) {
            if let Some((number, text)) = cell_text(value) {
                scan.keep(line, col, &text, number);
            }
        } else {
            scan.pass(match value {
                DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
                    s.len() as u64
                }
                DataRef::SharedString(s) => s.len() as u64,
                _ => MAX_NUMBER_TEXT,
            });
        }
        if !scan.fits() {
            return Ok(None);
        }
    }
    Ok(Some(scan))
}

/// The second pass over a workbook [`scan_xlsx`] passed: every filled cell to `rows`.
pub(crate) fn stream_xlsx<F: FnMut(Vec<Row>) -> bool>(
    bytes: &[u8],
    rows: &mut Rows<'_, F>,
) -> Result<(), SheetError> {
    let (mut workbook, name) = first_sheet(bytes)?;
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
    let mut repeats = Repeats::default();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let value = cell.get_value();
        let (row, col) = cell.get_position();
        let line = row.saturating_add(1);
        let key = Repeat::of(value);
        if let Some((number, text)) = key.and_then(|k| repeats.get(col, k)) {
            if !rows.cell(line, col, text, number) {
                break;
            }
            continue;
        }
        let Some((number, text)) = cell_text(value) else {
            continue;
        };
        let text = text.into_owned();
        if let Some(k) = key {
            repeats.put(col, k, number, &text);
        }
        if !rows.cell(line, col, text, number) {
            break;
        }
    }
    Ok(())
}

/// A number or date cell's value, exactly (its bits), for [`Repeats`].
#[derive(Clone, Copy, PartialEq)]
enum Repeat {
    Float(u64),
    Date(ExcelDateTime, u64),
}

impl Repeat {
    fn of(value: &DataRef<'_>) -> Option<Repeat> {
        match value {
            DataRef::Float(f) => Some(Repeat::Float(f.to_bits())),
            DataRef::DateTime(dt) => Some(Repeat::Date(*dt, dt.as_f64().to_bits())),
            _ => None,
        }
    }
}

/// The last number or date cell of each column and its text: a column showing one price or
/// one date over many rows has the text written out once, not once a row.
#[derive(Default)]
struct Repeats(Vec<Option<(Repeat, bool, String)>>);

impl Repeats {
    /// Columns past this are not remembered (a worksheet has 16,384).
    const COLUMNS: usize = 16_384;

    fn get(&self, col: u32, key: Repeat) -> Option<(bool, String)> {
        match self.0.get(col as usize) {
            Some(Some((k, number, text))) if *k == key => Some((*number, text.clone())),
            _ => None,
        }
    }

    fn put(&mut self, col: u32, key: Repeat, number: bool, text: &str) {
        let col = col as usize;
        if col >= Self::COLUMNS {
            return;
        }
        if self.0.len() <= col {
            self.0.resize(col + 1, None);
        }
        self.0[col] = Some((key, number, text.to_string()));
    }
}

/// A cell read, before the cells are put in order.
struct Placed {
    row: u32,
    col: u32,
    at: (u32, u32),
    number: bool,
}

/// Cells in any order into rows in row order, cells in column order (a repeated position keeps
/// the last value written, as Excel would).
fn into_rows(mut cells: Vec<Placed>, sheet: &mut Builder) {
    if !cells.is_sorted_by(|a, b| (a.row, a.col) < (b.row, b.col)) {
        // Stable: of cells at one position, the last one written stays last.
        cells.sort_by_key(|c| (c.row, c.col));
        cells.reverse();
        cells.dedup_by_key(|c| (c.row, c.col));
        cells.reverse();
    }
    for c in cells {
        sheet.push(c.row.saturating_add(1), c.col, c.at, c.number);
    }
}

/// A cell's value, `None` for an empty cell.
#[cfg(test)]
pub(crate) fn cell_kind(value: &DataRef<'_>) -> Option<Kind> {
    cell_text(value).map(|(number, text)| {
        if number {
            Kind::Number(text.into_owned())
        } else {
            Kind::Text(text.into_owned())
        }
    })
}

/// A cell's value as (is a number, its text); `None` for an empty cell.
pub(crate) fn cell_text<'a>(value: &'a DataRef<'_>) -> Option<(bool, Cow<'a, str>)> {
    let text = |s: &'a str| Some((false, Cow::Borrowed(s)));
    if !filled(value) {
        return None;
    }
    match value {
        DataRef::Empty => None,
        DataRef::String(s) => text(s),
        DataRef::SharedString(s) => text(s),
        DataRef::Int(i) => Some((true, Cow::Owned(i.to_string()))),
        DataRef::Float(f) => Some((true, Cow::Owned(number_text(*f)))),
        DataRef::Bool(b) => Some((false, Cow::Owned(b.to_string()))),
        DataRef::DateTime(dt) => Some(match datetime_kind(dt) {
            Kind::Number(s) => (true, Cow::Owned(s)),
            Kind::Text(s) => (false, Cow::Owned(s)),
            // `datetime_kind` gives a number or a text only.
            _ => return None,
        }),
        DataRef::DateTimeIso(s) => text(
            s.strip_suffix("T00:00:00")
                .or_else(|| s.strip_suffix("T00:00:00.000"))
                .unwrap_or(s),
        ),
        DataRef::DurationIso(s) => text(s),
        DataRef::Error(e) => Some((false, Cow::Owned(e.to_string()))),
    }
}

/// Whether a cell is filled (an empty text is not).
fn filled(value: &DataRef<'_>) -> bool {
    match value {
        DataRef::Empty | DataRef::SharedString("") => false,
        DataRef::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A number as Excel shows it at full precision: 15 significant digits, then the shortest text
/// that reads back the same (`10.1`, `1000`, `0.28`; a formula's `0.30000000000000004` is `0.3`).
pub(crate) fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    if rounded == 0.0 {
        return "0".into();
    }
    format!("{rounded}")
}

/// A date-formatted cell: `yyyy-mm-dd`, with `THH:MM:SS` unless it is midnight; a time of day
/// alone (a serial below 1) as `HH:MM:SS`; a duration as `H:MM:SS`.
pub(crate) fn datetime_kind(dt: &ExcelDateTime) -> Kind {
    let serial = dt.as_f64();
    if dt.is_duration() {
        let ms = (serial.abs() * 86_400_000.0).round() as u64;
        let sign = if serial < 0.0 { "-" } else { "" };
        let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
        return Kind::Text(format!("{sign}{h}:{m:02}:{s:02}"));
    }
    if !(0.0..2_958_466.0).contains(&serial) {
        // Outside Excel's dates (it shows ####): pass the serial number on.
        return Kind::Number(number_text(serial));
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let time = if ms == 0 {
        format!("{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{h:02}:{mi:02}:{s:02}.{ms:03}")
    };
    let text = if serial < 1.0 {
        time
    } else if (h, mi, s, ms) == (0, 0, 0, 0) {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{time}")
    };
    Kind::Text(text)
}

/// The zip container, from its central directory: total unpacked size and packing ratios;
/// then the shared-string table's declared count.
fn check_zip(bytes: &[u8], limits: &Limits) -> Result<(), SheetError> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        SheetError::NotASheet(format!(
            "the file is damaged or is not an .xlsx workbook ({e})"
        ))
    })?;
    let mut total: u64 = 0;
    let mut shared_strings = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| SheetError::NotASheet(format!("the workbook is damaged ({e})")))?;
        let (size, packed) = (entry.size(), entry.compressed_size());
        total = total.saturating_add(size);
        if total > limits.max_unzipped_bytes {
            return Err(SheetError::ZipBomb {
                reason: format!(
                    "it would unpack to more than {} MiB; split the data into smaller files",
                    limits.max_unzipped_bytes >> 20
                ),
            });
        }
        if size > RATIO_FLOOR && size / packed.max(1) > MAX_RATIO {
            return Err(SheetError::ZipBomb {
                reason: format!(
                    "one of its parts unpacks {}:1 ({} MiB), which no real workbook does",
                    size / packed.max(1),
                    size >> 20
                ),
            });
        }
        let name = entry
            .name()
            .map(|n| n.replace('\\', "/").to_ascii_lowercase());
        if name.is_ok_and(|n| n.ends_with("sharedstrings.xml")) {
            shared_strings.push((i, size));
        }
    }
    for (i, size) in shared_strings {
        let part = zip
            .by_index(i)
            .map_err(|e| SheetError::NotASheet(format!("the workbook is damaged ({e})")))?;
        check_unique_count(part, size)?;
    }
    Ok(())
}

/// calamine reserves room for the shared-string table's `uniqueCount` before reading it: a
/// count no part of this size can hold (each string takes at least `<si/>`, 5 bytes) would
/// make it ask for more memory than the machine has. Every `uniqueCount` in the part is
/// checked, wherever it stands, as the XML reader could meet any of them.
fn check_unique_count(mut part: impl Read, size: u64) -> Result<(), SheetError> {
    const PATTERN: &[u8] = b"uniqueCount";
    /// Bytes after the pattern that hold `="digits"` in any real file.
    const TAIL: usize = 256;
    let damaged = |what: &str| {
        SheetError::NotASheet(format!(
            "the workbook is damaged (its shared-string table {what})"
        ))
    };
    let bound = size / 4 + 1;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let got = part
            .read(&mut chunk)
            .map_err(|_| damaged("cannot be unpacked"))?;
        buf.extend_from_slice(&chunk[..got]);
        let eof = got == 0;
        // Occurrences starting before `ready` have their whole tail in `buf`.
        let ready = if eof {
            buf.len()
        } else {
            buf.len().saturating_sub(PATTERN.len() + TAIL)
        };
        let mut p = 0;
        while p < ready {
            let Some(off) = buf[p..ready].iter().position(|&b| b == b'u') else {
                break;
            };
            p += off;
            if buf[p..].starts_with(PATTERN) {
                let tail_start = p + PATTERN.len();
                let tail = &buf[tail_start..buf.len().min(tail_start + TAIL)];
                match declared_count(tail) {
                    Count::Fine => {}
                    Count::Value(n) if n <= bound => {}
                    Count::Value(_) | Count::Absurd => {
                        return Err(damaged("declares more strings than it can hold"));
                    }
                }
            }
            p += 1;
        }
        buf.drain(..ready);
        if eof {
            return Ok(());
        }
    }
}

enum Count {
    /// Not an attribute value calamine would read as a count.
    Fine,
    Value(u64),
    /// Too long to tell, or beyond any count.
    Absurd,
}

/// The value of `="…"` at the start of `tail`, as calamine would read it (digits, any number
/// of leading zeros).
fn declared_count(tail: &[u8]) -> Count {
    let ws = |b: &u8| b.is_ascii_whitespace();
    let rest = &tail[tail.iter().take_while(|b| ws(b)).count()..];
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Count::Fine;
    };
    let rest = &rest[rest.iter().take_while(|b| ws(b)).count()..];
    let Some((&quote, rest)) = rest.split_first() else {
        return Count::Absurd;
    };
    if quote != b'"' && quote != b'\'' {
        return Count::Fine;
    }
    let Some(end) = rest.iter().position(|&b| b == quote) else {
        return Count::Absurd;
    };
    let value = &rest[..end];
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Count::Fine;
    }
    let digits = &value[value.iter().take_while(|&&b| b == b'0').count()..];
    if digits.len() > 18 {
        return Count::Absurd;
    }
    // At most 18 digits: fits in u64.
    Count::Value(
        digits
            .iter()
            .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')),
    )
}

/// What the bytes look like, for a file that is not a zip container at all.
fn not_a_zip(bytes: &[u8]) -> String {
    const CFB: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    if bytes.is_empty() {
        return "the file is empty".into();
    }
    if bytes.starts_with(CFB) {
        return "this is an old-format Excel file (.xls) or a password-protected workbook: save it as an .xlsx workbook without a password".into();
    }
    let head = &bytes[..bytes.len().min(4096)];
    let text = match std::str::from_utf8(head) {
        Ok(s) => Some(s),
        // Cut inside a character at the end of the window: still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    if text.is_some_and(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace())) {
        return "this is a text file, not an .xlsx workbook (a CSV file must be named .csv)".into();
    }
    "this file is not an .xlsx workbook".into()
}

/// calamine could not read a zip container that passed the checks.
fn unreadable(e: XlsxError) -> SheetError {
    let msg = match e {
        XlsxError::Password => {
            "the workbook is password-protected: save it without a password".to_string()
        }
        XlsxError::FileNotFound(_) | XlsxError::RelationshipNotFound => {
            "this zip file is not an .xlsx workbook".to_string()
        }
        e => format!("the workbook is damaged and cannot be read ({e})"),
    };
    SheetError::NotASheet(msg)
}
