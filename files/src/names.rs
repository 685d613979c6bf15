//! Upload file names: `{biz_key}_{crud}_{yyyyMMddHHmmss}_{serial}` with an optional `.json`,
//! `.csv` or `.xlsx` extension (seed 001). This is FTP's own naming rule; what the file holds
//! is core's business.

use wharf_proto::v1::Operation;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Json,
    Csv,
    Xlsx,
}

/// A well-formed upload name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadName {
    pub operation: Operation,
    pub content: Content,
    /// `yyyyMMddHHmmss` as written.
    pub timestamp: String,
    pub serial: String,
}

/// The endings of a temporary name (any case): MFT clients upload under one and rename when
/// the transfer is complete (WinSCP `.filepart`, others `.part`, `.partial`, `.tmp`,
/// `.upload`). A name starting with `.` is temporary too (lftp's `.in.NAME.`, hidden files).
pub const TEMPORARY_SUFFIXES: [&str; 5] = [".part", ".partial", ".filepart", ".tmp", ".upload"];

/// Whether `name` is a temporary name: held, not read, until renamed to a delivery name.
pub fn is_temporary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.') || TEMPORARY_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Longest name accepted (bytes).
pub const MAX_NAME: usize = 200;

/// Parse `name` uploaded into the folder of `biz_key`. `Err` says, for the partner, what is
/// wrong with it.
pub fn parse(name: &str, biz_key: &str) -> Result<UploadName, String> {
    const SHAPE: &str = "{biz_key}_{crud}_{yyyyMMddHHmmss}_{serial}[.json|.csv|.xlsx]";
    if name.len() > MAX_NAME {
        return Err(format!("the file name is longer than {MAX_NAME} bytes"));
    }
    let (stem, content) = match name.rsplit_once('.') {
        None => (name, Content::Json),
        Some((stem, ext)) => match ext.to_ascii_lowercase().as_str() {
            "json" => (stem, Content::Json),
            "csv" => (stem, Content::Csv),
            "xlsx" => (stem, Content::Xlsx),
            _ => {
                return Err(format!(
                    "unknown extension .{ext}: use .json, .csv, .xlsx or none ({SHAPE})"
                ))
            }
        },
    };
    let Some(rest) = stem.strip_prefix(biz_key).and_then(|r| r.strip_prefix('_')) else {
        return Err(format!(
            "the name must start with this folder's biz_key \"{biz_key}_\" ({SHAPE})"
        ));
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let [crud, timestamp, serial] = parts.as_slice() else {
        return Err(format!("the name does not follow {SHAPE}"));
    };
    let operation = match *crud {
        "insert" => Operation::Insert,
        "update" => Operation::Update,
        "delete" => Operation::Delete,
        "all" => Operation::All,
        other => {
            return Err(format!(
                "unknown crud \"{other}\": use insert, update, delete or all"
            ))
        }
    };
    if !is_timestamp(timestamp) {
        return Err(format!(
            "\"{timestamp}\" is not a real time written yyyyMMddHHmmss"
        ));
    }
    if serial.is_empty() || serial.len() > 32 || !serial.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err("the serial must be 1-32 letters or digits".into());
    }
    Ok(UploadName {
        operation,
        content,
        timestamp: timestamp.to_string(),
        serial: serial.to_string(),
    })
}

/// `yyyyMMddHHmmss` naming a real moment (2024-02-29 yes, 2023-02-29 no, 24:00 no).
fn is_timestamp(t: &str) -> bool {
    if t.len() != 14 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let n = |a: usize, b: usize| t[a..b].parse::<u32>().unwrap_or(u32::MAX);
    let (y, m, d, hh, mm, ss) = (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
    y >= 1
        && wharf_proto::time::days_in_month(i64::from(y), m).is_some_and(|n| (1..=n).contains(&d))
        && hh < 24
        && mm < 60
        && ss < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_told_apart() {
        for name in [
            "bom_insert_20221001003000_1.json.part",
            "bom_insert_20221001003000_1.csv.PARTIAL",
            "bom_insert_20221001003000_1.xlsx.filepart",
            "bom_insert_20221001003000_1.tmp",
            "x.upload",
            ".in.bom_insert_20221001003000_1.json.",
            ".hidden",
        ] {
            assert!(is_temporary(name), "{name}");
        }
        for name in [
            "bom_insert_20221001003000_1.json",
            "bom_insert_20221001003000_1",
            "bom_insert_20221001003000_1.csv",
            "part",
            "bom_tmp_20221001003000_1.xlsx",
        ] {
            assert!(!is_temporary(name), "{name}");
        }
    }

    #[test]
    fn names_follow_the_seed() {
        let ok = parse("bom_update_20220928123000_001", "bom").unwrap();
        assert_eq!(ok.operation, Operation::Update);
        assert_eq!(ok.content, Content::Json);
        assert_eq!(ok.serial, "001");
        let csv = parse("master_data_all_20221001003000_7.CSV", "master_data").unwrap();
        assert_eq!((csv.operation, csv.content), (Operation::All, Content::Csv));
        assert_eq!(
            parse("bom_insert_20240229000000_1.xlsx", "bom")
                .unwrap()
                .content,
            Content::Xlsx
        );
        assert_eq!(
            parse("bom_delete_20221001003000_1.json", "bom")
                .unwrap()
                .operation,
            Operation::Delete
        );
        let bad = [
            ("bom_update_20220928123000_001.txt", "unknown extension"),
            ("item_update_20220928123000_001", "must start with"),
            ("bom_upsert_20220928123000_001", "unknown crud"),
            ("bom_update_20230229123000_001", "real time"),
            ("bom_update_20220928246000_001", "real time"),
            ("bom_update_2022092812300_001", "real time"),
            ("bom_update_20220928123000_", "serial"),
            ("bom_update_20220928123000_0-1", "serial"),
            ("bom_update_20220928123000", "does not follow"),
            ("bom_update_20220928123000_1_2", "does not follow"),
            ("bom", "must start with"),
            ("", "must start with"),
            ("..", "unknown extension"),
        ];
        for (name, why) in bad {
            let err = parse(name, "bom").unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
        }
        assert!(parse(
            &format!("bom_all_20220101000000_{}", "1".repeat(300)),
            "bom"
        )
        .is_err());
    }

    /// Deterministic fuzzing: arbitrary byte soup and mutations of a good name never panic,
    /// and whatever parses really has the shape.
    #[test]
    fn the_parser_never_panics_on_arbitrary_names() {
        let good = "master_data_insert_20221001003000_001.json";
        let alphabet: Vec<char> =
            "_.-/\\%:0123456789abcdexyzINSERTjsoncvlx\u{0}\u{e9}\u{4e2d}\u{1f600} "
                .chars()
                .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50_000 {
            let mut s: Vec<char> = if next() % 2 == 0 {
                good.chars().collect()
            } else {
                Vec::new()
            };
            for _ in 0..(next() % 8) {
                let c = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 if !s.is_empty() => {
                        let i = (next() % s.len() as u64) as usize;
                        s[i] = c;
                    }
                    1 if !s.is_empty() => {
                        let i = (next() % s.len() as u64) as usize;
                        s.remove(i);
                    }
                    _ => {
                        let i = (next() % (s.len() as u64 + 1)) as usize;
                        s.insert(i, c);
                    }
                }
            }
            let name: String = s.into_iter().collect();
            if let Ok(p) = parse(&name, "master_data") {
                assert!(name.starts_with("master_data_"), "{name}");
                assert!(is_timestamp(&p.timestamp), "{name}");
                assert!(
                    p.serial.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "{name}"
                );
            }
        }
    }
}
