//! Partners' spreadsheets (`.csv`, `.xlsx`) turned into rows, for every door that takes them
//! (the FTP front-end and the upload page).
//!
//! This crate owns reading a sheet's bytes: the first row gives the field names, every later
//! row becomes one [`SheetRow`] of field name -> value, numbered with the spreadsheet's own
//! row numbers (the header is row 1), so a door can report "row 7" exactly as the partner sees
//! it. It also owns the limits that keep a hostile file from exhausting memory (input size,
//! filled cells, zip bombs).
//!
//! It must not judge the data: types, lengths, decimals, dates, required and unknown fields
//! are core's rules (`wharf-core`'s `validate.rs`). This crate only reads: a number cell is
//! passed on as a number's text, a text cell as text, an empty cell as an absent field, and a
//! filled cell under a column with no field name under a synthetic name (`column F`) so that
//! core reports it instead of the data being dropped. Errors here are only about the file
//! itself (not a sheet, damaged, too large, the header row unusable).
//!
//! [`send`] sends a sheet read here to core as one batch of sequences, the same way from
//! every door (the upload page and FTP).
//!
//! [`out`] is the other direction: every cell of every CSV or workbook wharf writes goes
//! through it, so no cell runs as a formula when a person opens the file.
#![forbid(unsafe_code)]

mod csv;
mod file;
pub mod out;
pub mod send;
mod xlsx;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ops::Range;

use wharf_proto::v1::value::Kind;
use wharf_proto::v1::{Field, Row, Value};

pub use crate::csv::read_csv;
pub use crate::file::{open, SheetFile, HEAD_ROWS};
pub use crate::xlsx::read_xlsx;

/// How much a sheet may hold. The defaults suit the upload page and FTP (a sequence holds at
/// most 5,000 rows; a batch may be bigger, but one file is one read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest input accepted, in bytes (the file as received).
    pub max_bytes: usize,
    /// The most filled cells (header included) one sheet may have; empty cells do not count.
    pub max_cells: usize,
    /// XLSX only: the most bytes the workbook's parts may unpack to, all parts together.
    pub max_unzipped_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 20,
            max_cells: 5_000_000,
            max_unzipped_bytes: 512 << 20,
        }
    }
}

/// One data row of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    /// The spreadsheet's row number: the header is row 1, so the first data row is usually 2.
    /// Empty rows are skipped but still counted, so this is the number the partner sees.
    pub line: u32,
    /// The filled cells, in column order, as fields named after the header.
    pub row: Row,
}

impl From<SheetRow> for Row {
    /// The row as core takes it, carrying its spreadsheet row number for the answers.
    fn from(r: SheetRow) -> Row {
        Row {
            line: r.line,
            ..r.row
        }
    }
}

/// A sheet read: its field names and its non-empty data rows.
///
/// The rows are held compactly (every cell's text in one buffer, a cell a column number and
/// a place in it) and become [`SheetRow`]s, each cell a field named after its header, only
/// when [`Sheet::rows`] hands them out: a sender turns them into sequences one at a time, so
/// a big sheet never exists as a `String` per cell and per field name all at once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sheet {
    /// The field names of row 1, trimmed, in column order (column A first).
    pub header: Vec<String>,
    /// Every cell's text, one after the other.
    text: String,
    /// Every filled cell of the data rows, row after row, in column order.
    cells: Vec<Cell>,
    /// The data rows that hold at least one filled cell, in row order: (line, first cell).
    rows: Vec<(u32, u32)>,
    /// Columns left out of every row (a mapping said to ignore them), by column number.
    ignored: Vec<bool>,
}

/// One filled cell: its column and where its text lies in [`Sheet`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cell {
    pub(crate) col: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
    /// A number cell (its text is the number's), not a text cell.
    pub(crate) number: bool,
}

impl Sheet {
    /// Name the columns as a mapping says: `fields[i]` is the field column `i` fills, `""`
    /// to leave the column out of every row. Columns past `fields` keep their header.
    pub fn map_columns(&mut self, fields: &[String]) {
        self.ignored = vec![false; self.header.len()];
        for (i, field) in fields.iter().enumerate().take(self.header.len()) {
            if field.is_empty() {
                self.ignored[i] = true;
            } else {
                self.header[i] = field.clone();
            }
        }
    }

    /// The column a row's field named `name` came from (its header; column A is 0).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The spreadsheet row number of each data row, in row order, without building the rows.
    pub fn lines(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.rows.iter().map(|&(line, _)| line)
    }

    /// How many data rows the sheet holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the sheet holds no data row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The data rows in row order, each built as it is handed out.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = SheetRow> + '_ {
        self.rows_in(0..self.rows.len())
    }

    /// The data rows `range` (0 is the first data row), each built as it is handed out.
    pub fn rows_in(&self, range: Range<usize>) -> impl ExactSizeIterator<Item = SheetRow> + '_ {
        let range = range.start.min(self.rows.len())..range.end.min(self.rows.len());
        range.map(|i| self.row(i))
    }

    fn row(&self, i: usize) -> SheetRow {
        let (line, first) = self.rows[i];
        let end = self
            .rows
            .get(i + 1)
            .map_or(self.cells.len(), |&(_, next)| next as usize);
        let fields = self.cells[first as usize..end]
            .iter()
            .filter(|c| !self.ignores(c.col))
            .map(|c| {
                let text = self.text[c.start as usize..(c.start + c.len) as usize].to_string();
                field(&self.header, c.col, text, c.number)
            })
            .collect();
        SheetRow {
            line,
            row: Row {
                fields,
                ..Default::default()
            },
        }
    }

    /// Whether column `col` is left out of every row (a mapping said so).
    pub(crate) fn ignores(&self, col: u32) -> bool {
        self.ignored.get(col as usize).copied().unwrap_or(false)
    }
}

/// A filled cell of column `col` as a row's field: named after its column's header (a column
/// past the last name as `column F`), a number cell's text as a number.
pub(crate) fn field(header: &[String], col: u32, text: String, number: bool) -> Field {
    Field {
        name: match header.get(col as usize) {
            Some(name) => name.clone(),
            None => format!("column {}", column_name(col)),
        },
        value: Some(Value {
            kind: Some(if number {
                Kind::Number(text)
            } else {
                Kind::Text(text)
            }),
        }),
    }
}

/// The file formats a sheet can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values, RFC 4180, UTF-8.
    Csv,
    /// An Office Open XML workbook (Excel 2007 and later).
    Xlsx,
}

impl Format {
    /// The format for a file name's extension (`.csv`, `.xlsx`, any case), if it is a sheet.
    pub fn from_file_name(name: &str) -> Option<Format> {
        let (_, ext) = name.rsplit_once('.')?;
        if ext.eq_ignore_ascii_case("csv") {
            Some(Format::Csv)
        } else if ext.eq_ignore_ascii_case("xlsx") {
            Some(Format::Xlsx)
        } else {
            None
        }
    }
}

/// Read a sheet of the given format.
pub fn read(format: Format, bytes: &[u8], limits: &Limits) -> Result<Sheet, SheetError> {
    match format {
        Format::Csv => read_csv(bytes, limits),
        Format::Xlsx => read_xlsx(bytes, limits),
    }
}

/// Why a file could not be read as a sheet. The messages are written for the partner's
/// business user: they name rows and columns as the spreadsheet shows them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// The input is larger than [`Limits::max_bytes`].
    #[error("the file is too large ({size} bytes; at most {limit} bytes are accepted): split it into smaller files")]
    TooLarge { size: usize, limit: usize },
    /// The sheet has more filled cells than [`Limits::max_cells`].
    #[error("the sheet has more than {limit} filled cells: split it into smaller files")]
    TooManyCells { limit: usize },
    /// The workbook would unpack to too much data, or one of its parts is packed suspiciously
    /// tightly (a zip bomb). Refused before anything is unpacked.
    #[error("the workbook is refused: {reason}")]
    ZipBomb { reason: String },
    /// The bytes are not a workbook (or not one that can be read): garbage, a CSV file named
    /// `.xlsx`, an old `.xls` file, a password-protected or damaged workbook.
    #[error("{0}")]
    NotASheet(String),
    /// No filled cell at all.
    #[error("the sheet is empty: row 1 must hold the field names and the rows below it the data")]
    Empty,
    /// Row 1 is empty while later rows are not.
    #[error("row 1 is empty: it must hold the field names")]
    EmptyHeader,
    /// A column of row 1 left of the last field name has no name.
    #[error(
        "column {column} has no name in row 1 (every column up to the last field name needs one)"
    )]
    BlankHeader { column: String },
    /// A field name longer than any field has ([`MAX_HEADER_CHARS`]): every data cell is
    /// named after its header, so a huge one would be repeated in every row.
    #[error("the name in row 1, column {column} is {chars} characters long; field names have at most {limit}")]
    LongHeader {
        column: String,
        chars: usize,
        limit: usize,
    },
    /// The same field name twice in row 1.
    #[error("field {name} appears twice in row 1 (columns {first} and {second})")]
    DuplicateHeader {
        name: String,
        first: String,
        second: String,
    },
    /// A CSV file that breaks the format at a row (row numbers as a spreadsheet shows them).
    #[error("row {line}: {msg}")]
    Csv { line: u32, msg: String },
}

/// `A` for column 0, `Z` for 25, `AA` for 26: the spreadsheet's column letters.
pub fn column_name(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

pub(crate) fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), SheetError> {
    if bytes.len() > limits.max_bytes {
        return Err(SheetError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Counts filled cells against [`Limits::max_cells`] while a reader goes.
pub(crate) struct CellBudget {
    used: usize,
    limit: usize,
}

impl CellBudget {
    pub(crate) fn new(limits: &Limits) -> Self {
        CellBudget {
            used: 0,
            limit: limits.max_cells,
        }
    }

    pub(crate) fn take(&mut self) -> Result<(), SheetError> {
        self.used += 1;
        if self.used > self.limit {
            return Err(SheetError::TooManyCells { limit: self.limit });
        }
        Ok(())
    }
}

/// A sheet as a reader finds it: cells' texts into one buffer ([`Builder::text`]), then the
/// filled cells in row order, columns in order within a row ([`Builder::push`]). Row 1 is
/// the header.
#[derive(Default)]
pub(crate) struct Builder {
    text: String,
    cells: Vec<Cell>,
    rows: Vec<(u32, u32)>,
}

impl Builder {
    /// Keep `s`; returns where it lies, for [`Builder::push`].
    pub(crate) fn text(&mut self, s: &str) -> Result<(u32, u32), SheetError> {
        let start = self.text.len();
        let (Ok(start32), Ok(len)) = (u32::try_from(start), u32::try_from(s.len())) else {
            return Err(too_much_text());
        };
        if start32.checked_add(len).is_none() {
            return Err(too_much_text());
        }
        self.text.push_str(s);
        Ok((start32, len))
    }

    /// A filled cell of row `line` (never a row before the last one pushed), column `col`,
    /// its text where [`Builder::text`] put it.
    pub(crate) fn push(&mut self, line: u32, col: u32, (start, len): (u32, u32), number: bool) {
        if self.rows.last().is_none_or(|&(l, _)| l != line) {
            self.rows.push((line, self.cells.len() as u32));
        }
        self.cells.push(Cell {
            col,
            start,
            len,
            number,
        });
    }

    /// The sheet: row 1's cells are the field names, the other rows the data.
    pub(crate) fn finish(self) -> Result<Sheet, SheetError> {
        let Builder {
            mut text,
            mut cells,
            mut rows,
        } = self;
        let Some(&(line, _)) = rows.first() else {
            return Err(SheetError::Empty);
        };
        if line != 1 {
            return Err(SheetError::EmptyHeader);
        }
        let header_end = rows.get(1).map_or(cells.len(), |&(_, next)| next as usize);
        let header = header_names(
            cells[..header_end]
                .iter()
                .map(|c| (c.col, &text[c.start as usize..(c.start + c.len) as usize])),
        )?;
        // The header's cells are not data: the rows start after them.
        cells.drain(..header_end);
        rows.remove(0);
        for r in &mut rows {
            r.1 -= header_end as u32;
        }
        cells.shrink_to_fit();
        rows.shrink_to_fit();
        text.shrink_to_fit();
        Ok(Sheet {
            header,
            text,
            cells,
            rows,
            ignored: Vec::new(),
        })
    }
}

fn too_much_text() -> SheetError {
    SheetError::TooLarge {
        size: u32::MAX as usize,
        limit: u32::MAX as usize,
    }
}

/// The longest field name a header cell may hold. Interface field names are short words;
/// every data cell carries its column's name, so this bounds what the names add to a sheet.
pub const MAX_HEADER_CHARS: usize = 128;

/// Row 1's cells (in column order) into field names: trimmed, none blank up to the last one,
/// none longer than [`MAX_HEADER_CHARS`], none repeated. The first problem from the left is
/// reported.
fn header_names<'a>(
    cells: impl Iterator<Item = (u32, &'a str)>,
) -> Result<Vec<String>, SheetError> {
    let mut header: Vec<String> = Vec::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (col, text) in cells {
        let name = text.trim().to_string();
        if name.is_empty() {
            continue;
        }
        let expected = header.len() as u32;
        if col != expected {
            return Err(SheetError::BlankHeader {
                column: column_name(expected),
            });
        }
        let chars = name.chars().count();
        if chars > MAX_HEADER_CHARS {
            return Err(SheetError::LongHeader {
                column: column_name(col),
                chars,
                limit: MAX_HEADER_CHARS,
            });
        }
        if let Some(&first) = seen.get(&name) {
            return Err(SheetError::DuplicateHeader {
                name,
                first: column_name(first),
                second: column_name(col),
            });
        }
        seen.insert(name.clone(), col);
        header.push(name);
    }
    if header.is_empty() {
        return Err(SheetError::EmptyHeader);
    }
    Ok(header)
}
