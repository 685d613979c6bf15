use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
use wharf_proto::v1::value::Kind;
use wharf_proto::v1::Row;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::xlsx::{datetime_kind, number_text};
use crate::*;

/// A row as `(line, ["name=T:text" | "name=N:number"])`.
type Flat = (u32, Vec<String>);

fn flat(sheet: &Sheet) -> Vec<Flat> {
    sheet
        .rows()
        .map(|r| {
            let cells = r
                .row
                .fields
                .iter()
                .map(|f| {
                    let v = match f.value.as_ref().and_then(|v| v.kind.as_ref()) {
                        Some(Kind::Text(s)) => format!("T:{s}"),
                        Some(Kind::Number(s)) => format!("N:{s}"),
                        other => format!("?{other:?}"),
                    };
                    format!("{}={v}", f.name)
                })
                .collect();
            (r.line, cells)
        })
        .collect()
}

/// Every read in these tests is checked against [`open`] and the file read again: the same
/// error, or the same header, row count and rows, handed out in batches of any size.
fn read_csv(bytes: &[u8], limits: &Limits) -> Result<Sheet, SheetError> {
    read(Format::Csv, bytes, limits)
}

fn read_xlsx(bytes: &[u8], limits: &Limits) -> Result<Sheet, SheetError> {
    read(Format::Xlsx, bytes, limits)
}

fn read(format: Format, bytes: &[u8], limits: &Limits) -> Result<Sheet, SheetError> {
    let whole = crate::read(format, bytes, limits);
    same_as_read(
        &whole,
        open(format, Bytes::copy_from_slice(bytes), limits),
        &[],
    );
    whole
}

/// `opened` gives what `whole` gives, its columns mapped as `fields` says.
fn same_as_read(
    whole: &Result<Sheet, SheetError>,
    opened: Result<SheetFile, SheetError>,
    fields: &[String],
) {
    let (sheet, file) = match (whole, opened) {
        (Err(a), Err(b)) => return assert_eq!(*a, b),
        (Ok(sheet), Ok(file)) => (sheet, file),
        (a, b) => panic!("read: {a:?}\nopened: {b:?}"),
    };
    let mut sheet = sheet.clone();
    let mut file = file;
    if !fields.is_empty() {
        sheet.map_columns(fields);
        file.map_columns(fields);
    }
    assert_eq!(file.header(), sheet.header);
    assert_eq!(file.len(), sheet.len());
    assert_eq!(file.is_empty(), sheet.is_empty());
    let want: Vec<Row> = sheet.rows().map(Row::from).collect();
    let head: Vec<Row> = file.head().rows().map(Row::from).collect();
    assert!(head.len() >= want.len().min(HEAD_ROWS), "{}", head.len());
    assert_eq!(head[..], want[..head.len()]);
    for per in [1, 2, 7, 5000] {
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        file.clone()
            .rows_by(per, |rows| {
                sizes.push(rows.len());
                got.extend(rows);
                true
            })
            .expect("read again");
        assert_eq!(got, want, "in batches of {per}");
        if let Some((last, full)) = sizes.split_last() {
            assert!(full.iter().all(|&n| n == per), "{sizes:?}");
            assert!((1..=per).contains(last), "{sizes:?}");
        }
    }
}

fn row(line: u32, cells: &[&str]) -> Flat {
    (line, cells.iter().map(|s| s.to_string()).collect())
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_reads() {
    /// (case, input, header, rows)
    type Case<'a> = (&'a str, &'a [u8], &'a [&'a str], Vec<Flat>);
    let cases: &[Case] = &[
        (
            "plain, no final newline",
            b"a,b\n1,2",
            &["a", "b"],
            vec![row(2, &["a=T:1", "b=T:2"])],
        ),
        (
            "quoted comma and doubled quotes",
            b"a,b\n\"x,y\",\"he said \"\"hi\"\"\"\n",
            &["a", "b"],
            vec![row(2, &["a=T:x,y", "b=T:he said \"hi\""])],
        ),
        (
            "quoted line breaks stay in the value and do not start a row",
            b"a,b\n\"line1\nline2\",z\n\"p\r\nq\",4\n5,6\n",
            &["a", "b"],
            vec![
                row(2, &["a=T:line1\nline2", "b=T:z"]),
                row(3, &["a=T:p\r\nq", "b=T:4"]),
                row(4, &["a=T:5", "b=T:6"]),
            ],
        ),
        (
            "CRLF",
            b"a,b\r\n1,2\r\n3,4\r\n",
            &["a", "b"],
            vec![row(2, &["a=T:1", "b=T:2"]), row(3, &["a=T:3", "b=T:4"])],
        ),
        (
            "lone CR",
            b"a,b\r1,2\r",
            &["a", "b"],
            vec![row(2, &["a=T:1", "b=T:2"])],
        ),
        (
            "UTF-8 BOM and Chinese text",
            "\u{feff}vendor_code,vendor_name\nV1,联想供应商\n".as_bytes(),
            &["vendor_code", "vendor_name"],
            vec![row(2, &["vendor_code=T:V1", "vendor_name=T:联想供应商"])],
        ),
        (
            "blank lines and comma-only lines skipped, row numbers kept",
            b"a,b\n\n1,2\n,\n\r\n3,4\n\n",
            &["a", "b"],
            vec![row(3, &["a=T:1", "b=T:2"]), row(6, &["a=T:3", "b=T:4"])],
        ),
        (
            "empty and quoted-empty cells are absent fields",
            b"a,b,c\n1,,3\n,\"\",x\n",
            &["a", "b", "c"],
            vec![row(2, &["a=T:1", "c=T:3"]), row(3, &["c=T:x"])],
        ),
        (
            "cells beyond the header keep their data under the column's letter",
            b"a,b\n1,2,,x\n,,y\n",
            &["a", "b"],
            vec![
                row(2, &["a=T:1", "b=T:2", "column D=T:x"]),
                row(3, &["column C=T:y"]),
            ],
        ),
        (
            "header names trimmed; values kept as sent",
            b" a ,\tb \n 1 ,2\n",
            &["a", "b"],
            vec![row(2, &["a=T: 1 ", "b=T:2"])],
        ),
        (
            "trailing blank header cells are no columns",
            b"a,b,,\n1,2,,\n",
            &["a", "b"],
            vec![row(2, &["a=T:1", "b=T:2"])],
        ),
        ("header only", b"a,b\n", &["a", "b"], vec![]),
        (
            "a bare quote inside an unquoted value is kept",
            b"a\n12\" pipe\n",
            &["a"],
            vec![row(2, &["a=T:12\" pipe"])],
        ),
    ];
    for (name, input, header, rows) in cases {
        let sheet = read_csv(input, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: unexpected error {e}"));
        assert_eq!(sheet.header, *header, "{name}: header");
        assert_eq!(flat(&sheet), *rows, "{name}: rows");
    }
}

#[test]
fn csv_refuses() {
    let col = |c: &str| c.to_string();
    let cases: &[(&str, &[u8], SheetError)] = &[
        ("empty file", b"", SheetError::Empty),
        ("only blank lines", b"\n\r\n,,\n", SheetError::Empty),
        ("row 1 blank", b"\na,b\n1,2\n", SheetError::EmptyHeader),
        ("row 1 only commas", b",,\n1,2\n", SheetError::EmptyHeader),
        (
            "blank name in the middle",
            b"a,,c\n1,2,3\n",
            SheetError::BlankHeader { column: col("B") },
        ),
        (
            "blank (spaces) name first",
            b"  ,b\n",
            SheetError::BlankHeader { column: col("A") },
        ),
        (
            "duplicate name",
            b"vendor_code,b,c, vendor_code\n",
            SheetError::DuplicateHeader {
                name: col("vendor_code"),
                first: col("A"),
                second: col("D"),
            },
        ),
        (
            "unclosed quote",
            b"a,b\n1,\"oops\n2,3\n",
            SheetError::Csv {
                line: 2,
                msg: col("the quoted value in column B is never closed (a \" is missing)"),
            },
        ),
        (
            "text after a closing quote",
            b"a,b\n1,2\n\"x\"y,3\n",
            SheetError::Csv {
                line: 3,
                msg: col("column A: text follows the closing quote of a quoted value (a quote inside a quoted value must be doubled: \"\")"),
            },
        ),
        (
            "not UTF-8 (Windows-1252 e-acute) names the row and column",
            b"a,b\n1,2\r\n3,caf\xe9\r\n",
            SheetError::Csv {
                line: 3,
                msg: col("column B is not UTF-8 text; save the file as \"CSV UTF-8 (comma delimited)\""),
            },
        ),
        (
            "UTF-16",
            b"\xFF\xFEa\x00,\x00b\x00",
            SheetError::Csv {
                line: 1,
                msg: col("the file is UTF-16 text; save it as \"CSV UTF-8 (comma delimited)\""),
            },
        ),
    ];
    for (name, input, want) in cases {
        let got = read_csv(input, &Limits::default());
        assert_eq!(got.as_ref().err(), Some(want), "{name}: got {got:?}");
    }
}

#[test]
fn header_messages_read_well() {
    let blank = read_csv(b"a,b,,d\n", &Limits::default()).unwrap_err();
    assert_eq!(
        blank.to_string(),
        "column C has no name in row 1 (every column up to the last field name needs one)"
    );
    let dup = read_csv(b"vendor_code,b,c,vendor_code\n", &Limits::default()).unwrap_err();
    assert_eq!(
        dup.to_string(),
        "field vendor_code appears twice in row 1 (columns A and D)"
    );
    // A 4 KB header cell above many one-cell rows would be repeated in every row: refused.
    let mut amplifier = format!("a,{}\n", "h".repeat(4096)).into_bytes();
    for _ in 0..1000 {
        amplifier.extend_from_slice(b"1,2\n");
    }
    let long = read_csv(&amplifier, &Limits::default()).unwrap_err();
    assert_eq!(
        long.to_string(),
        "the name in row 1, column B is 4096 characters long; field names have at most 128"
    );
    // The limit counts characters, not bytes.
    let at_limit = format!("{}\n1\n", "\u{4f9b}".repeat(MAX_HEADER_CHARS));
    assert!(read_csv(at_limit.as_bytes(), &Limits::default()).is_ok());
}

#[test]
fn csv_limits() {
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        read_csv(b"a,b\n1,2\n3,4\n", &small),
        Err(SheetError::TooLarge {
            size: 12,
            limit: 10
        })
    );
    let few = Limits {
        max_cells: 5,
        ..Limits::default()
    };
    // Empty cells do not count: 2 + 2 + 1 filled cells pass, one more does not.
    assert!(read_csv(b"a,b\n1,2\n,,,,\n3,,,\n", &few).is_ok());
    assert_eq!(
        read_csv(b"a,b\n1,2\n3,4\n", &few),
        Err(SheetError::TooManyCells { limit: 5 })
    );
}

#[test]
fn csv_given_a_workbook() {
    let err = read_csv(&simple_workbook(), &Limits::default()).unwrap_err();
    assert!(matches!(err, SheetError::NotASheet(_)), "{err:?}");
}

#[test]
fn format_and_columns() {
    assert_eq!(
        Format::from_file_name("bom_insert_x_1.CSV"),
        Some(Format::Csv)
    );
    assert_eq!(Format::from_file_name("a.b.xlsx"), Some(Format::Xlsx));
    assert_eq!(Format::from_file_name("a.json"), None);
    assert_eq!(Format::from_file_name("xlsx"), None);
    let sheet = read(Format::Csv, b"a\n1\n", &Limits::default()).unwrap();
    assert_eq!(flat(&sheet), vec![row(2, &["a=T:1"])]);
    for (col, name) in [
        (0, "A"),
        (25, "Z"),
        (26, "AA"),
        (51, "AZ"),
        (52, "BA"),
        (701, "ZZ"),
        (702, "AAA"),
        (16383, "XFD"),
    ] {
        assert_eq!(column_name(col), name);
    }
}

// ---------------------------------------------------------------- XLSX

fn simple_workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "a").unwrap();
    ws.write_string(1, 0, "x").unwrap();
    wb.save_to_buffer().unwrap()
}

#[test]
fn xlsx_reads_values_rows_and_first_sheet_only() {
    let mut wb = Workbook::new();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    let stamp = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let time = XFormat::new().set_num_format("hh:mm");
    let ws = wb.add_worksheet();
    for (c, name) in [
        "vendor_code",
        " quantity_per ",
        "vendor_name",
        "effective_start_date",
        "flag",
        "note",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *name).unwrap();
    }
    // Row 2: every kind of value; column F (note) left empty.
    ws.write_string(1, 0, "V001").unwrap();
    ws.write_number(1, 1, 10.1).unwrap();
    ws.write_string(1, 2, "联想供应商 Co.").unwrap();
    ws.write_date_with_format(1, 3, ExcelDateTime::from_ymd(2022, 9, 14).unwrap(), &date)
        .unwrap();
    ws.write_boolean(1, 4, true).unwrap();
    // Row 3: numbers as numbers where text might be expected; a date-time; a blank but
    // formatted cell; an empty string.
    ws.write_number(2, 0, 1000).unwrap();
    ws.write_number(2, 1, 0.28).unwrap();
    ws.write_blank(2, 2, &date).unwrap();
    let dt = ExcelDateTime::from_ymd(2022, 9, 14)
        .unwrap()
        .and_hms(13, 45, 30)
        .unwrap();
    ws.write_datetime_with_format(2, 3, dt, &stamp).unwrap();
    ws.write_string(2, 4, "").unwrap();
    // Row 4 empty; row 5: a formula result at full binary precision, a large and a negative
    // number, a time of day, a cell beyond the header (column H).
    ws.write_number(4, 0, 0.1 + 0.2).unwrap();
    ws.write_number(4, 1, -5.5).unwrap();
    ws.write_number(4, 2, 123_456_789_012.0).unwrap();
    let t = ExcelDateTime::from_hms(8, 30, 0).unwrap();
    ws.write_datetime_with_format(4, 3, t, &time).unwrap();
    ws.write_string(4, 7, "stray").unwrap();
    // A second sheet: never read.
    let other = wb.add_worksheet();
    other.write_string(0, 0, "other").unwrap();
    other.write_string(1, 0, "must not appear").unwrap();
    let bytes = wb.save_to_buffer().unwrap();

    let sheet = read_xlsx(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        sheet.header,
        [
            "vendor_code",
            "quantity_per",
            "vendor_name",
            "effective_start_date",
            "flag",
            "note"
        ]
    );
    assert_eq!(
        flat(&sheet),
        vec![
            row(
                2,
                &[
                    "vendor_code=T:V001",
                    "quantity_per=N:10.1",
                    "vendor_name=T:联想供应商 Co.",
                    "effective_start_date=T:2022-09-14",
                    "flag=T:true",
                ]
            ),
            row(
                3,
                &[
                    "vendor_code=N:1000",
                    "quantity_per=N:0.28",
                    "effective_start_date=T:2022-09-14T13:45:30",
                ]
            ),
            row(
                5,
                &[
                    "vendor_code=N:0.3",
                    "quantity_per=N:-5.5",
                    "vendor_name=N:123456789012",
                    "effective_start_date=T:08:30:00",
                    "column H=T:stray",
                ]
            ),
        ]
    );
    // The same through `read`.
    assert_eq!(read(Format::Xlsx, &bytes, &Limits::default()), Ok(sheet));
}

#[test]
fn xlsx_header_problems() {
    type Build = fn(&mut rust_xlsxwriter::Worksheet);
    let cases: &[(&str, Build, SheetError)] = &[
        ("nothing at all", |_| {}, SheetError::Empty),
        (
            "data below an empty row 1",
            |ws| {
                ws.write_string(1, 0, "a").unwrap();
            },
            SheetError::EmptyHeader,
        ),
        (
            "blank name in column B",
            |ws| {
                ws.write_string(0, 0, "a").unwrap();
                ws.write_string(0, 2, "c").unwrap();
            },
            SheetError::BlankHeader { column: "B".into() },
        ),
        (
            "no name in column A",
            |ws| {
                ws.write_string(0, 1, "b").unwrap();
            },
            SheetError::BlankHeader { column: "A".into() },
        ),
        (
            "duplicate, one with spaces",
            |ws| {
                ws.write_string(0, 0, "vendor_code").unwrap();
                ws.write_string(0, 1, "b").unwrap();
                ws.write_string(0, 2, "c").unwrap();
                ws.write_string(0, 3, "vendor_code ").unwrap();
            },
            SheetError::DuplicateHeader {
                name: "vendor_code".into(),
                first: "A".into(),
                second: "D".into(),
            },
        ),
    ];
    for (name, build, want) in cases {
        let mut wb = Workbook::new();
        build(wb.add_worksheet());
        let bytes = wb.save_to_buffer().unwrap();
        let got = read_xlsx(&bytes, &Limits::default());
        assert_eq!(got.as_ref().err(), Some(want), "{name}: got {got:?}");
    }
}

#[test]
fn xlsx_counts_cells() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for r in 0..4u32 {
        for c in 0..3u16 {
            ws.write_string(r, c, format!("v{r}{c}")).unwrap();
        }
    }
    let bytes = wb.save_to_buffer().unwrap();
    let at = |max_cells| Limits {
        max_cells,
        ..Limits::default()
    };
    assert_eq!(read_xlsx(&bytes, &at(12)).unwrap().len(), 3);
    assert_eq!(
        read_xlsx(&bytes, &at(11)),
        Err(SheetError::TooManyCells { limit: 11 })
    );
    let tiny = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        read_xlsx(&bytes, &tiny),
        Err(SheetError::TooLarge { limit: 100, .. })
    ));
}

/// A shared string shown by many cells is kept once, however many cells show it; every cell
/// still reads as its text, named after its column.
#[test]
fn xlsx_keeps_a_shared_string_once() {
    let long = "a long description shared by every row ".repeat(20);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "desc").unwrap();
    ws.write_string(0, 1, "n").unwrap();
    for r in 1..=2000u32 {
        ws.write_string(r, 0, &long).unwrap();
        ws.write_number(r, 1, f64::from(r)).unwrap();
    }
    let bytes = wb.save_to_buffer().unwrap();
    let sheet = read_xlsx(&bytes, &Limits::default()).unwrap();
    assert_eq!(sheet.len(), 2000);
    assert!(
        sheet.text.len() < 2 * long.len() + 2000 * 5,
        "the text is held once: {} bytes",
        sheet.text.len()
    );
    let rows = flat(&sheet);
    assert_eq!(rows[0], (2, vec![format!("desc=T:{long}"), "n=N:1".into()]));
    assert_eq!(
        rows[1999],
        (2001, vec![format!("desc=T:{long}"), "n=N:2000".into()])
    );
}

/// A sheet's rows are built when they are handed out, from text held once: what a sheet
/// keeps is its cells' text and a few bytes a cell, not a field name and a value per cell.
#[test]
fn a_read_sheet_holds_its_text_once() {
    let mut csv = String::from("first_name,second_name\n");
    for n in 0..1000 {
        csv.push_str(&format!("{n},x{n}\n"));
    }
    let sheet = read_csv(csv.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(sheet.len(), 1000);
    assert!(sheet.text.len() < csv.len(), "{}", sheet.text.len());
    assert_eq!(sheet.cells.len(), 2000);
    let rows: Vec<SheetRow> = sheet.rows().collect();
    assert_eq!(rows.len(), 1000);
    assert_eq!(rows[999].line, 1001);
    assert_eq!(rows[999].row.fields[1].name, "second_name");
}

#[test]
fn xlsx_not_a_workbook() {
    let zip_of_text = {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("hello.txt", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"hello").unwrap();
        w.finish().unwrap().into_inner()
    };
    let mut cut = simple_workbook();
    cut.truncate(cut.len() / 2);
    let cases: &[(&str, Vec<u8>, &str)] = &[
        ("empty", vec![], "the file is empty"),
        (
            "garbage",
            (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "this file is not an .xlsx workbook",
        ),
        (
            "a CSV named .xlsx",
            "vendor_code,name\nV1,联想\n".as_bytes().to_vec(),
            "this is a text file, not an .xlsx workbook (a CSV file must be named .csv)",
        ),
        (
            "an old .xls",
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0".to_vec(),
            "this is an old-format Excel file (.xls) or a password-protected workbook: save it as an .xlsx workbook without a password",
        ),
        (
            "a zip that is no workbook",
            zip_of_text,
            "this zip file is not an .xlsx workbook",
        ),
        ("a truncated workbook", cut, "the file is damaged"),
        ("only a zip signature", b"PK\x03\x04".to_vec(), "the file is damaged"),
    ];
    for (name, bytes, want) in cases {
        match read_xlsx(bytes, &Limits::default()) {
            Err(SheetError::NotASheet(msg)) => {
                assert!(msg.starts_with(want), "{name}: {msg}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// A zip with one deflated part of `size` zero bytes, written as a stream.
fn zeros_zip(name: &str, size: usize) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(size as u64 >= u32::MAX as u64);
    w.start_file(name, options).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        w.write_all(&block[..n]).unwrap();
        left -= n;
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn xlsx_zip_bombs_refused_before_unpacking() {
    // ~600 MiB of zeros: over the 512 MiB total.
    let bomb = zeros_zip("xl/worksheets/sheet1.xml", 600 << 20);
    assert!(bomb.len() < 4 << 20, "packed to {} bytes", bomb.len());
    let start = Instant::now();
    let got = read_xlsx(&bomb, &Limits::default());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    match got {
        Err(SheetError::ZipBomb { reason }) => {
            assert!(reason.contains("more than 512 MiB"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // 20 MiB packed ~1000:1: under the total, refused for its ratio.
    let dense = zeros_zip("xl/sharedStrings.xml", 20 << 20);
    match read_xlsx(&dense, &Limits::default()) {
        Err(SheetError::ZipBomb { reason }) => {
            assert!(reason.contains("which no real workbook does"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // A real workbook against a tiny unpacked total.
    let tight = Limits {
        max_unzipped_bytes: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        read_xlsx(&simple_workbook(), &tight),
        Err(SheetError::ZipBomb { .. })
    ));
}

/// `bytes` re-zipped with `edit` applied to each part's text.
fn rezip(bytes: &[u8], edit: impl Fn(&str, String) -> String) -> Vec<u8> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        let mut text = String::new();
        part.read_to_string(&mut text).unwrap();
        w.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
        )
        .unwrap();
        w.write_all(edit(&name, text).as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn xlsx_shared_string_count_checked() {
    let good = simple_workbook();
    // Rewritten but unchanged: still reads (the re-zip itself is sound).
    let same = rezip(&good, |_, t| t);
    assert_eq!(read_xlsx(&same, &Limits::default()).unwrap().len(), 1);
    // A count of billions in a tiny table would make the reader reserve ~100 GB up front.
    for count in [
        "4000000000",
        "0000000000000000000000000000000000000000004000000000",
    ] {
        let bad = rezip(&good, |name, text| {
            if name == "xl/sharedStrings.xml" {
                let start = text.find("uniqueCount=\"").unwrap() + 13;
                let end = start + text[start..].find('"').unwrap();
                format!("{}{count}{}", &text[..start], &text[end..])
            } else {
                text
            }
        });
        match read_xlsx(&bad, &Limits::default()) {
            Err(SheetError::NotASheet(msg)) => assert!(
                msg.contains("declares more strings than it can hold"),
                "{msg}"
            ),
            other => panic!("{count}: {other:?}"),
        }
    }
}

#[test]
fn cell_values() {
    for (f, want) in [
        (10.1, "10.1"),
        (1000.0, "1000"),
        (0.28, "0.28"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1e21, "1000000000000000000000"),
        (1.5e-7, "0.00000015"),
        (123456.789, "123456.789"),
        (99999999999999.9, "99999999999999.9"),
    ] {
        assert_eq!(number_text(f), want, "{f:?}");
    }
    use calamine::{CellErrorType, DataRef, ExcelDateTimeType};
    let dt = |v: f64, ty| datetime_kind(&calamine::ExcelDateTime::new(v, ty, false));
    let text = |s: &str| Kind::Text(s.to_string());
    assert_eq!(dt(44818.0, ExcelDateTimeType::DateTime), text("2022-09-14"));
    assert_eq!(
        dt(44818.5, ExcelDateTimeType::DateTime),
        text("2022-09-14T12:00:00")
    );
    assert_eq!(dt(0.25, ExcelDateTimeType::DateTime), text("06:00:00"));
    assert_eq!(dt(1.5, ExcelDateTimeType::TimeDelta), text("36:00:00"));
    assert_eq!(
        dt(-1.0, ExcelDateTimeType::DateTime),
        Kind::Number("-1".into())
    );
    assert_eq!(
        crate::xlsx::cell_kind(&DataRef::Error(CellErrorType::NA)),
        Some(text("#N/A"))
    );
    assert_eq!(
        crate::xlsx::cell_kind(&DataRef::Error(CellErrorType::Div0)),
        Some(text("#DIV/0!"))
    );
    assert_eq!(
        crate::xlsx::cell_kind(&DataRef::DateTimeIso("2022-09-14T00:00:00".into())),
        Some(text("2022-09-14"))
    );
    assert_eq!(
        crate::xlsx::cell_kind(&DataRef::Bool(false)),
        Some(text("false"))
    );
    assert_eq!(crate::xlsx::cell_kind(&DataRef::SharedString("")), None);
    assert_eq!(
        crate::xlsx::cell_kind(&DataRef::Int(-42)),
        Some(Kind::Number("-42".into()))
    );
}

#[test]
fn xlsx_hidden_first_sheet_skipped() {
    let mut wb = Workbook::new();
    let hidden = wb.add_worksheet();
    hidden.write_string(0, 0, "lists").unwrap();
    hidden.write_string(1, 0, "must not appear").unwrap();
    hidden.set_hidden(true);
    let data = wb.add_worksheet();
    data.write_string(0, 0, "a").unwrap();
    data.write_string(1, 0, "x").unwrap();
    data.set_active(true);
    let bytes = wb.save_to_buffer().unwrap();
    let sheet = read_xlsx(&bytes, &Limits::default()).unwrap();
    assert_eq!(sheet.header, ["a"]);
    assert_eq!(flat(&sheet), vec![row(2, &["a=T:x"])]);
}

// ---------------------------------------------------------------- read in two passes

/// A sheet of `rows` rows of three columns, as a CSV and as a workbook.
fn both(rows: u32) -> [(Format, Vec<u8>); 2] {
    let mut csv = String::from("a,b,c\n");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["a", "b", "c"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..=rows {
        // Every 5th row empty, every 3rd without its middle cell.
        if r % 5 == 0 {
            csv.push_str(",,\n");
            continue;
        }
        let b = if r % 3 == 0 {
            String::new()
        } else {
            format!("x{r}")
        };
        csv.push_str(&format!("{r},{b},shared\n"));
        ws.write_number(r, 0, f64::from(r)).unwrap();
        if !b.is_empty() {
            ws.write_string(r, 1, &b).unwrap();
        }
        ws.write_string(r, 2, "shared").unwrap();
    }
    [
        (Format::Csv, csv.into_bytes()),
        (Format::Xlsx, wb.save_to_buffer().unwrap()),
    ]
}

#[test]
fn an_opened_sheet_keeps_its_head_and_reads_the_rest_again() {
    for (format, bytes) in both(1000) {
        let file = open(format, Bytes::from(bytes.clone()), &Limits::default()).unwrap();
        assert_eq!(file.len(), 800, "{format:?}");
        // Only the head is held: the rest is read again from the bytes.
        assert_eq!(file.head().len(), HEAD_ROWS, "{format:?}");
        same_as_read(
            &crate::read(format, &bytes, &Limits::default()),
            open(format, Bytes::from(bytes), &Limits::default()),
            &[],
        );
    }
}

#[test]
fn an_opened_sheet_is_sent_with_its_columns_mapped() {
    for (format, bytes) in both(300) {
        let whole = crate::read(format, &bytes, &Limits::default());
        // Column b left out, a and c renamed, one more name than columns.
        let fields: Vec<String> = ["first", "", "third", "fourth"].map(String::from).to_vec();
        let opened = open(format, Bytes::from(bytes), &Limits::default());
        same_as_read(&whole, opened, &fields);
    }
}

#[test]
fn reading_again_stops_when_told() {
    for (format, bytes) in both(1000) {
        let file = open(format, Bytes::from(bytes), &Limits::default()).unwrap();
        let mut calls = 0;
        file.rows_by(100, |_| {
            calls += 1;
            calls < 2
        })
        .unwrap();
        assert_eq!(calls, 2, "{format:?}");
    }
}

#[test]
fn an_opened_workbook_with_cells_out_of_order_is_read_whole() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "a").unwrap();
    for r in 1..=3u32 {
        ws.write_number(r, 0, f64::from(r)).unwrap();
    }
    let good = wb.save_to_buffer().unwrap();
    // Row 2 moved after row 4, and row 3 written twice (the last one counts).
    let moved = rezip(&good, |name, text| {
        if name != "xl/worksheets/sheet1.xml" {
            return text;
        }
        let start = text.find("<row r=\"2\"").unwrap();
        let end = start + text[start..].find("</row>").unwrap() + 6;
        let row2 = text[start..end].to_string();
        let rest = format!("{}{}", &text[..start], &text[end..]);
        let at = rest.find("</sheetData>").unwrap();
        let again = row2.replace("r=\"2\"", "r=\"3\"").replace("A2", "A3");
        format!("{}{row2}{again}{}", &rest[..at], &rest[at..])
    });
    let sheet = read_xlsx(&moved, &Limits::default()).unwrap();
    assert_eq!(
        flat(&sheet),
        vec![row(2, &["a=N:1"]), row(3, &["a=N:1"]), row(4, &["a=N:3"])]
    );
    let file = open(Format::Xlsx, Bytes::from(moved), &Limits::default()).unwrap();
    assert_eq!(file.head().len(), 3);
}

/// A second pass writes a number or date repeated down a column out once: the same text as a
/// cell of its own would have, whatever comes between.
#[test]
fn repeated_numbers_and_dates_read_again_the_same() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    let when = XFormat::new().set_num_format("yyyy-mm-dd hh:mm");
    let time = XFormat::new().set_num_format("[h]:mm:ss");
    for (c, h) in ["n", "d", "mixed"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let d = ExcelDateTime::from_ymd(2022, 9, 14).unwrap();
    let t = ExcelDateTime::from_hms(36, 0, 0).unwrap();
    for r in 1..=HEAD_ROWS as u32 + 50 {
        ws.write_number(r, 0, if r % 7 == 0 { -0.0 } else { 0.0 })
            .unwrap();
        ws.write_datetime_with_format(r, 1, &d, if r % 3 == 0 { &when } else { &date })
            .unwrap();
        match r % 4 {
            0 => ws.write_number(r, 2, 10.125).unwrap(),
            1 => ws.write_datetime_with_format(r, 2, &d, &date).unwrap(),
            2 => ws.write_datetime_with_format(r, 2, &t, &time).unwrap(),
            _ => ws.write_number_with_format(r, 2, 44818.0, &date).unwrap(),
        };
    }
    let bytes = wb.save_to_buffer().unwrap();
    let sheet = read_xlsx(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        flat(&sheet)[..4],
        [
            row(2, &["n=N:0", "d=T:2022-09-14", "mixed=T:2022-09-14"]),
            row(3, &["n=N:0", "d=T:2022-09-14", "mixed=T:36:00:00"]),
            row(4, &["n=N:0", "d=T:2022-09-14", "mixed=T:2022-09-14"]),
            row(5, &["n=N:0", "d=T:2022-09-14", "mixed=N:10.125"]),
        ]
    );
}
