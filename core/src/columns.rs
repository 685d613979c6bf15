//! A sheet's columns matched to an interface's fields (issue #23 item 1): by exact name, by a
//! mapping the partner confirmed before, by label, by alternate name, then by spelling
//! (`interfaces::normalise`). Every sheet door asks core, so an upload and an FTP sheet read
//! the same headers the same way; the upload page shows the result as its mapping step and
//! sends back what the user chose, which core checks and remembers per partner and
//! interface. The uploaded file waits in core meanwhile (`HoldUpload`): the mapping step is
//! a second request, maybe to another replica of the page.

use std::collections::{BTreeMap, HashMap, HashSet};

use wharf_proto::v1 as pb;

use crate::audit::{Entry, Kind as AuditKind, Origin};
use crate::codes;
use crate::error::{CoreError, Result};
use crate::interfaces::{normalise, Interface};
use crate::model::Operation;
use crate::service::Core;
use crate::store::sheets::{HeldUpload, HOLD_SECS};
use crate::validate;

/// Most columns a sheet may have matched at once (a header row is at most this wide).
pub const MAX_COLUMNS: usize = 1024;

/// Most rows one `CheckRows` call checks.
pub const MAX_CHECKED_ROWS: usize = 1000;

/// How a column found its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The header is the field's name.
    Exact,
    /// The partner mapped this header to this field (or told wharf to ignore it) before.
    Remembered,
    /// The header is one of the field's labels.
    Label,
    /// The header is one of the field's alternate names.
    Alternate,
    /// The header is the field's name, a label or an alternate, spelled differently (case,
    /// spaces, `_`, `-`, `.`).
    Spelling,
    /// No field, but the interface keeps fields it does not list: sent as it is.
    Extra,
    /// A guess to confirm: the header contains, or is part of, one field's spelling. Not
    /// applied without the user's word.
    Guess,
    /// No field.
    Unknown,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Exact => "exact",
            How::Remembered => "remembered",
            How::Label => "label",
            How::Alternate => "alternate",
            How::Spelling => "spelling",
            How::Extra => "extra",
            How::Guess => "guess",
            How::Unknown => "unknown",
        }
    }
}

/// One column of the sheet: its header, and the field it fills (`""`: none, ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub header: String,
    pub field: String,
    pub how: How,
}

/// A sheet's columns, matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub columns: Vec<Column>,
    /// Required fields (without a default) that no column fills.
    pub missing: Vec<String>,
}

impl Matched {
    /// Whether the sheet can be sent as matched: every column has a field, is extra or is
    /// remembered as ignored, and no required field is missing.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
            && self
                .columns
                .iter()
                .all(|c| !matches!(c.how, How::Guess | How::Unknown))
    }
}

/// Which field each spelling names, per kind, normalised; a spelling two fields share is
/// `None` (it names neither).
struct Spellings<'a> {
    label: HashMap<String, Option<&'a str>>,
    alternate: HashMap<String, Option<&'a str>>,
    any: HashMap<String, Option<&'a str>>,
}

impl<'a> Spellings<'a> {
    fn of(iface: &'a Interface) -> Self {
        fn add<'a>(m: &mut HashMap<String, Option<&'a str>>, key: String, field: &'a str) {
            m.entry(key)
                .and_modify(|f| {
                    if *f != Some(field) {
                        *f = None
                    }
                })
                .or_insert(Some(field));
        }
        let mut s = Spellings {
            label: HashMap::new(),
            alternate: HashMap::new(),
            any: HashMap::new(),
        };
        for f in &iface.fields {
            for l in f.labels.values() {
                add(&mut s.label, l.trim().to_string(), &f.name);
            }
            for a in &f.alternates {
                add(&mut s.alternate, a.trim().to_string(), &f.name);
            }
            for text in f.spellings() {
                add(&mut s.any, normalise(text), &f.name);
            }
        }
        s
    }
}

/// Match `headers` (row 1, in column order) to `iface`'s fields, given the mapping the
/// partner confirmed before (`remembered`: normalised header → field, `""` for ignore). A
/// field is filled by one column at most: the first (from the left) that names it.
pub fn match_headers(
    iface: &Interface,
    op: Operation,
    headers: &[String],
    remembered: &BTreeMap<String, String>,
) -> Matched {
    let spell = Spellings::of(iface);
    let is_field = |name: &str| iface.field(name).is_some();
    let mut taken: HashSet<String> = HashSet::new();
    // Strong matches first, over every column, so a later exact name is not stolen by an
    // earlier column's looser spelling.
    let mut columns: Vec<Column> = headers
        .iter()
        .map(|h| Column {
            header: h.clone(),
            field: String::new(),
            how: How::Unknown,
        })
        .collect();
    let header_key = |c: &Column| c.header.trim().to_string();
    type Rule<'r> = Box<dyn Fn(&Column) -> Option<(String, How)> + 'r>;
    let rules: Vec<Rule<'_>> = vec![
        Box::new(|c| is_field(c.header.trim()).then(|| (header_key(c), How::Exact))),
        Box::new(|c| {
            remembered
                .get(&normalise(&c.header))
                .filter(|f| f.is_empty() || is_field(f))
                .map(|f| (f.clone(), How::Remembered))
        }),
        Box::new(|c| {
            spell
                .label
                .get(&header_key(c))
                .copied()
                .flatten()
                .map(|f| (f.to_string(), How::Label))
        }),
        Box::new(|c| {
            spell
                .alternate
                .get(&header_key(c))
                .copied()
                .flatten()
                .map(|f| (f.to_string(), How::Alternate))
        }),
        Box::new(|c| {
            spell
                .any
                .get(&normalise(&c.header))
                .copied()
                .flatten()
                .map(|f| (f.to_string(), How::Spelling))
        }),
    ];
    for rule in &rules {
        for c in columns.iter_mut().filter(|c| c.how == How::Unknown) {
            if let Some((field, how)) = rule(c) {
                // An ignored column takes no field; a field goes to one column only.
                if field.is_empty() || taken.insert(field.clone()) {
                    c.field = field;
                    c.how = how;
                }
            }
        }
    }
    for c in columns.iter_mut().filter(|c| c.how == How::Unknown) {
        if iface.allow_extra_fields {
            c.field = c.header.trim().to_string();
            c.how = How::Extra;
        } else if let Some(f) = guess(&spell, &c.header, &taken) {
            c.field = f.to_string();
            c.how = How::Guess;
        }
    }
    let filled = |name: &str| taken.contains(name);
    let missing = needed(iface, op, &filled);
    Matched { columns, missing }
}

/// The fields a sheet must have a column for, given which are `filled`: every required
/// field without a default; for a delete only what identifies a row (the uid, or else the
/// business key), as `validate::check_row` asks of each row.
fn needed(iface: &Interface, op: Operation, filled: &dyn Fn(&str) -> bool) -> Vec<String> {
    let uid = iface.uid_field.as_deref().is_some_and(filled);
    iface
        .fields
        .iter()
        .filter(|f| f.default.is_none() && !filled(&f.name))
        .filter(|f| match op {
            Operation::Delete => !uid && iface.business_key.contains(&f.name),
            _ => f.required,
        })
        .map(|f| f.name.clone())
        .collect()
}

/// The one field not yet taken whose spelling contains the header or is contained in it
/// (normalised, at least 3 characters), if exactly one field fits.
fn guess<'a>(spell: &Spellings<'a>, header: &str, taken: &HashSet<String>) -> Option<&'a str> {
    let h = normalise(header);
    if h.chars().count() < 3 {
        return None;
    }
    let mut found: Option<&str> = None;
    for (key, field) in &spell.any {
        let Some(field) = *field else { continue };
        if taken.contains(field) || !(key.contains(&h) || h.contains(key.as_str())) {
            continue;
        }
        match found {
            Some(f) if f != field => return None,
            _ => found = Some(field),
        }
    }
    found
}

/// Check a mapping the user chose (`choices[i]`: the field column `i` fills, `""`: ignore
/// it): each field named exists and is chosen once, and every required field is filled.
pub fn check_choices(
    iface: &Interface,
    op: Operation,
    headers: &[String],
    choices: &[String],
) -> Result<()> {
    if choices.len() != headers.len() {
        return Err(CoreError::Invalid(format!(
            "the sheet has {} columns but {} were mapped",
            headers.len(),
            choices.len()
        )));
    }
    let mut chosen: HashMap<&str, &str> = HashMap::new();
    for (header, field) in headers.iter().zip(choices) {
        if field.is_empty() {
            continue;
        }
        if iface.field(field).is_none() && !iface.allow_extra_fields {
            return Err(CoreError::Invalid(format!(
                "column {header:?}: {} has no field {field:?}",
                iface.id()
            )));
        }
        if let Some(first) = chosen.insert(field, header) {
            return Err(CoreError::Invalid(format!(
                "columns {first:?} and {header:?} both fill field {field:?}: choose one, ignore the other"
            )));
        }
    }
    let missing = needed(iface, op, &|name| chosen.contains_key(name));
    if !missing.is_empty() {
        return Err(CoreError::Invalid(format!(
            "no column fills the required field(s) {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn matched_proto(m: Matched) -> pb::MatchColumnsResponse {
    let complete = m.complete();
    pb::MatchColumnsResponse {
        columns: m
            .columns
            .into_iter()
            .map(|c| pb::ColumnMatch {
                header: c.header,
                field: c.field,
                how: c.how.as_str().to_string(),
            })
            .collect(),
        missing: m.missing,
        complete,
    }
}

fn check_headers(headers: &[String]) -> Result<()> {
    if headers.len() > MAX_COLUMNS {
        return Err(CoreError::Invalid(format!(
            "a sheet may have at most {MAX_COLUMNS} columns, this one has {}",
            headers.len()
        )));
    }
    Ok(())
}

impl Core {
    /// Match a sheet's headers to the interface's fields for `partner`.
    pub async fn match_columns(
        &self,
        req: &pb::MatchColumnsRequest,
    ) -> Result<pb::MatchColumnsResponse> {
        check_headers(&req.headers)?;
        let iface = self
            .interface_for(&req.partner, &req.data_category, &req.biz_key)
            .await?;
        let remembered = self
            .store
            .sheets()
            .column_mapping(&req.partner, &iface.id())
            .await?;
        let op = Operation::from_proto(req.operation).unwrap_or(Operation::Insert);
        Ok(matched_proto(match_headers(
            iface,
            op,
            &req.headers,
            &remembered,
        )))
    }

    /// Check the mapping a user chose and remember it for the partner and interface (every
    /// header, by its normalised spelling, and what it fills or that it is ignored). Answers
    /// the headers matched again, now with the mapping remembered.
    pub async fn save_columns(
        &self,
        o: &Origin,
        req: &pb::SaveColumnsRequest,
    ) -> Result<pb::MatchColumnsResponse> {
        let headers: Vec<String> = req.columns.iter().map(|c| c.header.clone()).collect();
        let choices: Vec<String> = req.columns.iter().map(|c| c.field.clone()).collect();
        check_headers(&headers)?;
        let iface = self
            .interface_for(&req.partner, &req.data_category, &req.biz_key)
            .await?;
        let op = Operation::from_proto(req.operation).unwrap_or(Operation::Insert);
        check_choices(iface, op, &headers, &choices)?;
        // A header that names its field exactly needs no memory.
        let pairs: Vec<(String, String)> = headers
            .iter()
            .zip(&choices)
            .filter(|(h, f)| h.trim() != f.as_str())
            .map(|(h, f)| (normalise(h), f.clone()))
            .filter(|(h, _)| !h.is_empty())
            .collect();
        let id = iface.id();
        self.audit_event(
            o,
            Entry::new(AuditKind::Admin, "columns.mapped", &req.partner, &req.user).detail(
                serde_json::json!({
                    "interface": id,
                    "columns": pairs.iter().map(|(h, f)| serde_json::json!([h, f])).collect::<Vec<_>>(),
                }),
            ),
        )
        .await?;
        self.store
            .sheets()
            .remember_columns(&req.partner, &id, &pairs, self.now())
            .await?;
        let remembered = self
            .store
            .sheets()
            .column_mapping(&req.partner, &id)
            .await?;
        Ok(matched_proto(match_headers(
            iface,
            op,
            &headers,
            &remembered,
        )))
    }

    /// Check rows against the interface's field rules, as a sequence's rows are checked
    /// (nothing stored, no key looked up): the failing ones, each with its problems.
    pub async fn check_rows(&self, req: &pb::CheckRowsRequest) -> Result<Vec<pb::RowProblem>> {
        if req.rows.len() > MAX_CHECKED_ROWS {
            return Err(CoreError::Invalid(format!(
                "at most {MAX_CHECKED_ROWS} rows may be checked at once, not {}",
                req.rows.len()
            )));
        }
        let op = Operation::from_proto(req.operation)
            .ok_or_else(|| CoreError::Invalid("operation: insert, update, delete or all".into()))?;
        let iface = self
            .interface_for(&req.partner, &req.data_category, &req.biz_key)
            .await?;
        Ok(req
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                validate::check_row(iface, op, row)
                    .err()
                    .map(|verify| codes::problem(Some(i as u32), Some(row.clone()), verify))
            })
            .collect())
    }

    /// Keep an uploaded file for its user while its columns are mapped; its new id.
    pub async fn hold_upload(&self, req: pb::HoldUploadRequest) -> Result<String> {
        self.partner_named(&req.partner)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {}", req.partner)))?;
        // 256 random bits: with the partner and user checked, nobody else reads it.
        let (id, _) = crate::auth::new_token();
        self.store
            .sheets()
            .hold_upload(&HeldUpload {
                partner: req.partner,
                id: id.clone(),
                username: req.user,
                file_name: req.file_name,
                content: req.content,
                created_unix: self.now(),
                batch_id: req.batch_id,
                corrects: req.corrects,
            })
            .await?;
        Ok(id)
    }

    /// A held upload, for the user who uploaded it only, while it is young enough.
    pub async fn held_upload(&self, r: &pb::HeldUploadRef) -> Result<pb::GetHeldUploadResponse> {
        let sheets = self.store.sheets();
        let held = if r.id.is_empty() {
            sheets
                .held_upload_of(&r.partner, &r.batch_id, !r.without_content)
                .await?
        } else {
            sheets.held_upload(&r.partner, &r.id).await?
        };
        Ok(match held {
            Some(u) if u.username == r.user && u.created_unix >= self.now() - HOLD_SECS => {
                pb::GetHeldUploadResponse {
                    found: true,
                    file_name: u.file_name,
                    content: u.content,
                    batch_id: u.batch_id,
                    id: u.id,
                    corrects: u.corrects,
                }
            }
            _ => pb::GetHeldUploadResponse::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::Registry;

    fn bom() -> Interface {
        Registry::load(None)
            .unwrap()
            .get("t1", "bom")
            .unwrap()
            .clone()
    }

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    fn fields(m: &Matched) -> Vec<(&str, &str)> {
        m.columns
            .iter()
            .map(|c| (c.field.as_str(), c.how.as_str()))
            .collect()
    }

    const REQUIRED: [&str; 11] = [
        "vendor_code",
        "vendor_father_item",
        "father_item",
        "vendor_child_item",
        "child_item",
        "quantity_per",
        "effective_start_date",
        "effective_end_date",
        "priority",
        "split",
        "version",
    ];

    #[test]
    fn names_labels_alternates_and_spellings_match() {
        let m = match_headers(
            &bom(),
            Operation::Insert,
            &headers(&[
                "vendor_code",
                "供应商名称",
                "Vendor Upper Item",
                " Father-Item ",
                "ＶＥＮＤＯＲ＿ＣＨＩＬＤ＿ＩＴＥＭ",
                "lenovo child item",
                "Qty Per",
                "生效日期",
                "EFFECTIVE END DATE",
                "优先级",
                "split",
                "Version",
            ]),
            &BTreeMap::new(),
        );
        assert_eq!(
            fields(&m),
            vec![
                ("vendor_code", "exact"),
                ("vendor_name", "label"),
                ("vendor_father_item", "alternate"),
                ("father_item", "spelling"),
                ("vendor_child_item", "spelling"),
                ("child_item", "spelling"),
                ("quantity_per", "alternate"),
                ("effective_start_date", "alternate"),
                ("effective_end_date", "spelling"),
                ("priority", "alternate"),
                ("split", "exact"),
                ("version", "label"),
            ]
        );
        assert!(m.missing.is_empty(), "{:?}", m.missing);
        assert!(m.complete());
    }

    #[test]
    fn unknown_headers_and_missing_fields_make_it_incomplete() {
        let m = match_headers(
            &bom(),
            Operation::Insert,
            &headers(&["Vendor Code", "Remarks", "Item"]),
            &BTreeMap::new(),
        );
        assert_eq!(m.columns[0].field, "vendor_code");
        assert_eq!(m.columns[1].how, How::Unknown);
        // "Item" is part of several fields' names: no guess.
        assert_eq!(m.columns[2].how, How::Unknown);
        assert!(m.missing.contains(&"split".to_string()));
        assert!(!m.missing.contains(&"vendor_code".to_string()));
        assert!(!m.complete());
    }

    #[test]
    fn a_guess_is_offered_but_not_taken() {
        let m = match_headers(
            &bom(),
            Operation::Insert,
            &headers(&["Alt Grp", "desc"]),
            &BTreeMap::new(),
        );
        assert_eq!(m.columns[0].how, How::Unknown);
        assert_eq!(
            (m.columns[1].field.as_str(), m.columns[1].how),
            ("vendor_child_item_desc", How::Guess)
        );
        assert!(!m.complete());
    }

    #[test]
    fn remembered_mappings_come_before_labels_but_not_names() {
        let mut remembered = BTreeMap::new();
        remembered.insert(normalise("Code"), "vendor_code".to_string());
        remembered.insert(normalise("Remarks"), String::new());
        // A remembered field the interface no longer has is forgotten.
        remembered.insert(normalise("Old"), "gone".to_string());
        let m = match_headers(
            &bom(),
            Operation::Insert,
            &headers(&["CODE ", "remarks", "Old", "vendor_code"]),
            &remembered,
        );
        assert_eq!(
            fields(&m),
            vec![
                ("", "unknown"),
                ("", "remembered"),
                ("", "unknown"),
                ("vendor_code", "exact"),
            ]
        );
    }

    #[test]
    fn a_field_fills_one_column_only() {
        let m = match_headers(
            &bom(),
            Operation::Insert,
            &headers(&["Vendor code", "供应商编码", "vendor_code"]),
            &BTreeMap::new(),
        );
        assert_eq!(
            fields(&m),
            vec![("", "unknown"), ("", "unknown"), ("vendor_code", "exact")]
        );
    }

    #[test]
    fn extra_fields_pass_where_the_interface_keeps_them() {
        let mut iface = bom();
        iface.allow_extra_fields = true;
        let m = match_headers(
            &iface,
            Operation::Insert,
            &headers(&["Remarks"]),
            &BTreeMap::new(),
        );
        assert_eq!(fields(&m), vec![("Remarks", "extra")]);
    }

    #[test]
    fn a_delete_needs_only_what_identifies_a_row() {
        let key = headers(&[
            "vendor_code",
            "vendor_father_item",
            "father_item",
            "vendor_child_item",
            "version",
        ]);
        let m = match_headers(&bom(), Operation::Delete, &key, &BTreeMap::new());
        assert!(m.complete(), "{:?}", m.missing);
        let m = match_headers(&bom(), Operation::Insert, &key, &BTreeMap::new());
        assert!(m.missing.contains(&"split".to_string()), "{:?}", m.missing);
        let m = match_headers(
            &bom(),
            Operation::Delete,
            &headers(&["uid"]),
            &BTreeMap::new(),
        );
        assert!(m.complete(), "{:?}", m.missing);
        let m = match_headers(&bom(), Operation::Delete, &key[1..], &BTreeMap::new());
        assert_eq!(m.missing, vec!["vendor_code"]);
    }

    #[test]
    fn choices_are_checked() {
        let iface = bom();
        let mut h = headers(&REQUIRED);
        h.push("Remarks".into());
        let mut c: Vec<String> = REQUIRED.iter().map(|s| s.to_string()).collect();
        c.push(String::new());
        check_choices(&iface, Operation::Insert, &h, &c).unwrap();
        let mut twice = c.clone();
        twice[10] = "split".into();
        let e = check_choices(&iface, Operation::Insert, &h, &twice)
            .unwrap_err()
            .to_string();
        assert!(e.contains("both fill field \"split\""), "{e}");
        let mut none = c.clone();
        none[0] = String::new();
        let e = check_choices(&iface, Operation::Insert, &h, &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("required field(s) vendor_code"), "{e}");
        let mut bad = c.clone();
        bad[11] = "nope".into();
        let e = check_choices(&iface, Operation::Insert, &h, &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no field \"nope\""), "{e}");
        let e = check_choices(&iface, Operation::Insert, &h, &c[1..])
            .unwrap_err()
            .to_string();
        assert!(e.contains("12 columns but 11"), "{e}");
    }
}
