//! A sheet file read in two passes, so a big sheet is never held whole: [`open`] looks at
//! every cell once (every check [`crate::read`] makes, the same errors, the row count, the
//! header and the first [`HEAD_ROWS`] rows kept), and [`SheetFile::rows_by`] reads the file
//! again from its bytes, handing the rows out a few thousand at a time as they are read.
//!
//! The count comes first because every sequence of a sheet's batch says how many rows the
//! whole file holds, and a file that cannot be read must be refused before its first sequence
//! is sent. What is alive while a sheet is sent is the file's bytes, the reader's own state
//! (for a workbook, calamine's shared-string table) and the rows of the sequences in flight.
//!
//! A workbook whose cells are not stored in row order (no spreadsheet program writes one; a
//! hand-made file could) is read whole by [`crate::read`] instead, as is one whose text could
//! pass what a held sheet can address: both give exactly what the reader gives.

use bytes::Bytes;
use wharf_proto::v1::Row;

use crate::{field, Builder, Format, Limits, Sheet, SheetError};

/// The data rows [`open`] keeps for a look (the mapping step's first values of each column).
pub const HEAD_ROWS: usize = 200;

/// A sheet file checked whole: its header, how many data rows it holds, its first rows, and
/// its bytes to read the rest from.
#[derive(Debug, Clone)]
pub struct SheetFile {
    /// The first [`HEAD_ROWS`] data rows; the whole sheet when `source` is `None`.
    head: Sheet,
    /// Data rows in the whole file.
    len: usize,
    /// Where the rows are read again from; `None`: `head` is the whole sheet.
    source: Option<Box<Source>>,
}

#[derive(Debug, Clone)]
struct Source {
    format: Format,
    bytes: Bytes,
    limits: Limits,
}

/// Look at a whole sheet file: the same checks and errors as [`crate::read`], but only the
/// header and the first [`HEAD_ROWS`] data rows are kept.
pub fn open(format: Format, bytes: Bytes, limits: &Limits) -> Result<SheetFile, SheetError> {
    let scanned = match format {
        Format::Csv => crate::csv::scan_csv(&bytes, limits)?,
        Format::Xlsx => crate::xlsx::scan_xlsx(&bytes, limits)?,
    };
    let Some(scan) = scanned else {
        // Cells out of order, or too much text to tell: the reader settles it, whole.
        let head = crate::read(format, &bytes, limits)?;
        return Ok(SheetFile {
            len: head.len(),
            head,
            source: None,
        });
    };
    let (head, len) = scan.finish()?;
    Ok(SheetFile {
        head,
        len,
        source: Some(Box::new(Source {
            format,
            bytes,
            limits: limits.clone(),
        })),
    })
}

impl SheetFile {
    /// The field names of row 1 (as [`SheetFile::map_columns`] named them).
    pub fn header(&self) -> &[String] {
        &self.head.header
    }

    /// Name the columns as a mapping says (see [`Sheet::map_columns`]).
    pub fn map_columns(&mut self, fields: &[String]) {
        self.head.map_columns(fields);
    }

    /// How many data rows the file holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file holds no data row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first data rows (at least [`HEAD_ROWS`] of them, when the file has as many).
    pub fn head(&self) -> &Sheet {
        &self.head
    }

    /// Every data row in row order as core takes it (each cell a field named after its
    /// column), handed to `take` `per` rows at a time (the last time fewer) as they are read;
    /// `take` answers `false` to stop reading.
    pub fn rows_by(
        self,
        per: usize,
        mut take: impl FnMut(Vec<Row>) -> bool,
    ) -> Result<(), SheetError> {
        let per = per.max(1);
        let Some(source) = self.source else {
            let mut at = 0;
            while at < self.head.len() {
                let end = self.head.len().min(at + per);
                if !take(self.head.rows_in(at..end).map(Row::from).collect()) {
                    return Ok(());
                }
                at = end;
            }
            return Ok(());
        };
        let mut rows = Rows {
            head: &self.head,
            per,
            take: &mut take,
            batch: Vec::new(),
            line: 0,
            stopped: false,
        };
        match source.format {
            Format::Csv => crate::csv::stream_csv(&source.bytes, &source.limits, &mut rows)?,
            Format::Xlsx => crate::xlsx::stream_xlsx(&source.bytes, &mut rows)?,
        }
        rows.flush();
        Ok(())
    }
}

/// Why a pass over a file's cells stopped.
pub(crate) enum Stop {
    /// The file is refused.
    Sheet(SheetError),
    /// The pass has what it needs (or must leave the rest to the reader).
    Early,
}

impl From<SheetError> for Stop {
    fn from(e: SheetError) -> Self {
        Stop::Sheet(e)
    }
}

/// The rows of a second pass, built as their cells arrive and handed out by the batch.
pub(crate) struct Rows<'a, F: FnMut(Vec<Row>) -> bool> {
    /// The header (as mapped) and the columns left out.
    head: &'a Sheet,
    per: usize,
    take: &'a mut F,
    batch: Vec<Row>,
    /// The row being built (0: none yet).
    line: u32,
    stopped: bool,
}

impl<F: FnMut(Vec<Row>) -> bool> Rows<'_, F> {
    /// A filled cell of row `line` (row 1, the header, is passed over). `false`: stop reading.
    pub(crate) fn cell(&mut self, line: u32, col: u32, text: String, number: bool) -> bool {
        if line <= 1 {
            return true;
        }
        if line != self.line {
            if self.batch.len() >= self.per {
                self.flush();
                if self.stopped {
                    return false;
                }
            }
            self.line = line;
            if self.batch.capacity() == 0 {
                self.batch
                    .reserve_exact(self.per.min(crate::send::SEQUENCE_ROWS));
            }
            self.batch.push(Row {
                line,
                // Most rows fill most columns: one allocation, not one per doubling.
                fields: Vec::with_capacity(self.head.header.len()),
                ..Default::default()
            });
        }
        if !self.head.ignores(col) {
            if let Some(row) = self.batch.last_mut() {
                row.fields.push(field(&self.head.header, col, text, number));
            }
        }
        true
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() && !self.stopped {
            let batch = std::mem::take(&mut self.batch);
            self.stopped = !(self.take)(batch);
        }
    }
}

/// What a first pass keeps and counts: row 1 and the first [`HEAD_ROWS`] data rows, how many
/// rows hold a filled cell, and a bound on all the text.
#[derive(Default)]
pub(crate) struct Scan {
    head: Builder,
    /// Rows with a filled cell seen so far, the header's included.
    rows: usize,
    /// The last of them (0: none yet).
    line: u32,
    /// At least as many bytes as the reader would keep of the cells' text.
    text: u64,
    /// The head's text could not be kept: let the reader settle it.
    overflow: bool,
}

impl Scan {
    /// A filled cell is in row `line`: whether its text is kept (it is in the head).
    pub(crate) fn row(&mut self, line: u32) -> bool {
        if line != self.line {
            self.line = line;
            self.rows += 1;
        }
        self.rows <= HEAD_ROWS + 1
    }

    /// A kept cell (one [`Scan::row`] said to keep).
    pub(crate) fn keep(&mut self, line: u32, col: u32, text: &str, number: bool) {
        self.text += text.len() as u64;
        match self.head.text(text) {
            Ok(at) => self.head.push(line, col, at, number),
            Err(_) => self.overflow = true,
        }
    }

    /// A cell passed over, whose text is at most `len` bytes.
    pub(crate) fn pass(&mut self, len: u64) {
        self.text = self.text.saturating_add(len);
    }

    /// Whether the reader could address all the text (a held sheet's offsets are 32-bit).
    pub(crate) fn fits(&self) -> bool {
        !self.overflow && self.text <= u64::from(u32::MAX)
    }

    /// The head and the number of data rows; the reader's errors about the header.
    fn finish(self) -> Result<(Sheet, usize), SheetError> {
        let head = self.head.finish()?;
        // `finish` refuses a sheet whose first filled row is not row 1: the rest are data.
        Ok((head, self.rows - 1))
    }
}
