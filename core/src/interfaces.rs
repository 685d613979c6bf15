//! The interface registry: `data_category/biz_key` plus a schema, loaded from definition files.
//!
//! Interfaces are data. The built-ins ship inside the binary; `WHARF_INTERFACES_DIR` adds more.
//! A definition that does not parse stops start-up with the file and the field named.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::error::CoreError;

/// Definitions compiled into the binary: (file name, text).
const BUILT_INS: &[(&str, &str)] = &[
    ("t1_bom.json", include_str!("../interfaces/t1_bom.json")),
    (
        "odm_master_data.json",
        include_str!("../interfaces/odm_master_data.json"),
    ),
];

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text, limited by `max_length` characters.
    String,
    /// A decimal with at most `precision - scale` integer digits and `scale` fraction digits.
    Decimal { precision: u8, scale: u8 },
    /// A real calendar date written `yyyy-mm-dd`.
    Date,
    /// One or more ASCII digits (at most `max_length`), kept as text.
    Digits,
}

impl FieldType {
    fn parse(text: &str) -> Option<FieldType> {
        match text {
            "string" => return Some(FieldType::String),
            "date" => return Some(FieldType::Date),
            "digits" => return Some(FieldType::Digits),
            _ => {}
        }
        let inner = text.strip_prefix("decimal(")?.strip_suffix(')')?;
        let (p, s) = inner.split_once(',')?;
        let precision: u8 = p.trim().parse().ok()?;
        let scale: u8 = s.trim().parse().ok()?;
        (precision > 0 && scale <= precision && precision <= 38)
            .then_some(FieldType::Decimal { precision, scale })
    }

    /// The type as written in definition files, e.g. `decimal(13,3)`.
    pub fn name(&self) -> String {
        match self {
            FieldType::String => "string".into(),
            FieldType::Date => "date".into(),
            FieldType::Digits => "digits".into(),
            FieldType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        }
    }
}

/// The rules for one field.
#[derive(Debug, Clone)]
pub struct FieldRule {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
    /// Maximum length in characters (not bytes); `None` means unlimited.
    pub max_length: Option<usize>,
    /// When non-empty, the value must be one of these.
    pub allowed: Vec<String>,
    /// Literal values accepted as they are, whatever the type says (e.g. `N/A`).
    pub exceptions: Vec<String>,
    /// Used when the field is absent or empty.
    pub default: Option<String>,
    /// What people call the field, by language tag (`en`, `zh-CN`): a sheet's header may be
    /// its label instead of its name.
    pub labels: BTreeMap<String, String>,
    /// Other headers a sheet may give the field (common spellings, older names).
    pub alternates: Vec<String>,
}

impl FieldRule {
    /// Every header that names this field as written in its definition: the name, the
    /// labels, the alternates.
    pub fn spellings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(self.labels.values().map(String::as_str))
            .chain(self.alternates.iter().map(String::as_str))
    }
}

/// A header reduced to what tells it apart: lower case, without white space, `_`, `-` and
/// `.` (`Vendor Code`, `vendor_code` and `VENDOR-CODE ` are one), full-width forms as their
/// ASCII twins (`ＶＥＮＤＯＲ　ＣＯＤＥ`).
pub fn normalise(header: &str) -> String {
    header
        .chars()
        .map(|c| match c {
            // Full-width ASCII (U+FF01..U+FF5E) is ASCII shifted by 0xFEE0.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// One interface: its name, fields, business key and optional uid field.
#[derive(Debug, Clone)]
pub struct Interface {
    pub data_category: String,
    pub biz_key: String,
    pub description: String,
    pub fields: Vec<FieldRule>,
    /// Field names whose values identify a row when it has no uid.
    pub business_key: Vec<String>,
    /// A field that identifies a row directly when present.
    pub uid_field: Option<String>,
    /// Accept fields the definition does not list (kept as sent).
    pub allow_extra_fields: bool,
    /// An example row, a JSON object's text as written in the definition (numbers keep their
    /// literal text): what the partners' API document shows. Core's start-up checks that it
    /// passes the interface's own rules (`validate::check_examples`).
    pub example: Option<String>,
}

impl Interface {
    /// `data_category/biz_key`, the name used in storage, logs and partner permissions.
    pub fn id(&self) -> String {
        format!("{}/{}", self.data_category, self.biz_key)
    }

    pub fn field(&self, name: &str) -> Option<&FieldRule> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    data_category: String,
    biz_key: String,
    #[serde(default)]
    description: String,
    business_key: Vec<String>,
    #[serde(default)]
    uid_field: Option<String>,
    #[serde(default)]
    allow_extra_fields: bool,
    fields: Vec<FileField>,
    #[serde(default)]
    example: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    allowed: Vec<String>,
    #[serde(default)]
    exceptions: Vec<String>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    alternates: Vec<String>,
}

/// Longest label or alternate name (a sheet's header is at most this long too).
const MAX_SPELLING_CHARS: usize = 128;

fn bad(file: &str, field: &str, msg: impl Into<String>) -> CoreError {
    CoreError::Definition {
        file: file.to_string(),
        field: field.to_string(),
        msg: msg.into(),
    }
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parse one definition file's text into an [`Interface`].
pub fn parse_definition(file: &str, text: &str) -> Result<Interface, CoreError> {
    let def: FileDef = serde_json::from_str(text).map_err(|e| bad(file, "", e.to_string()))?;
    if !is_segment(&def.data_category) {
        return Err(bad(
            file,
            "data_category",
            "must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    if !is_segment(&def.biz_key) {
        return Err(bad(
            file,
            "biz_key",
            "must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    let mut fields = Vec::with_capacity(def.fields.len());
    let mut seen = HashSet::new();
    for f in def.fields {
        let at = format!("fields.{}", f.name);
        if f.name.is_empty() || !seen.insert(f.name.clone()) {
            return Err(bad(file, &at, "field names must be non-empty and unique"));
        }
        let ty = FieldType::parse(&f.ty).ok_or_else(|| {
            bad(
                file,
                &at,
                format!(
                    "unknown type {:?} (string, date, digits or decimal(p,s))",
                    f.ty
                ),
            )
        })?;
        if f.max_length == Some(0) {
            return Err(bad(file, &at, "max_length must be at least 1"));
        }
        for text in f.labels.values().chain(&f.alternates) {
            if normalise(text).is_empty() || text.chars().count() > MAX_SPELLING_CHARS {
                return Err(bad(
                    file,
                    &at,
                    format!("label or alternate {text:?} must hold 1-{MAX_SPELLING_CHARS} characters besides spaces, '_', '-' and '.'"),
                ));
            }
        }
        fields.push(FieldRule {
            name: f.name,
            ty,
            required: f.required,
            max_length: f.max_length,
            allowed: f.allowed,
            exceptions: f.exceptions,
            default: f.default,
            labels: f.labels,
            alternates: f.alternates,
        });
    }
    // A label or alternate must name one field only, however it is spelled. (Names that
    // differ only in case or '_' are older than labels and stay allowed: a header spelled
    // like both is matched by neither.)
    let names: BTreeMap<String, &str> = fields
        .iter()
        .map(|f| (normalise(&f.name), f.name.as_str()))
        .collect();
    let mut spelled: BTreeMap<String, &str> = BTreeMap::new();
    for f in &fields {
        for text in f.labels.values().chain(&f.alternates) {
            let key = normalise(text);
            let clash = [names.get(&key), spelled.get(&key)]
                .into_iter()
                .flatten()
                .find(|other| **other != f.name);
            if let Some(other) = clash {
                return Err(bad(
                    file,
                    &format!("fields.{}", f.name),
                    format!("{text:?} could name field {other:?} too (headers are matched ignoring case, spaces, '_', '-' and '.')"),
                ));
            }
            spelled.insert(key, &f.name);
        }
    }
    if def.business_key.is_empty() {
        return Err(bad(file, "business_key", "lists no field"));
    }
    for k in &def.business_key {
        let Some(f) = fields.iter().find(|f| &f.name == k) else {
            return Err(bad(
                file,
                "business_key",
                format!("names unknown field {k:?}"),
            ));
        };
        // A row must always have its key: key fields are required or have a default.
        if !f.required && f.default.is_none() {
            return Err(bad(
                file,
                &format!("fields.{k}"),
                "a business-key field must be required or have a default",
            ));
        }
    }
    if let Some(uid) = &def.uid_field {
        if !seen.contains(uid) {
            return Err(bad(
                file,
                "uid_field",
                format!("names unknown field {uid:?}"),
            ));
        }
    }
    Ok(Interface {
        data_category: def.data_category,
        biz_key: def.biz_key,
        description: def.description,
        fields,
        business_key: def.business_key,
        uid_field: def.uid_field,
        allow_extra_fields: def.allow_extra_fields,
        example: def
            .example
            .map(|row| serde_json::Value::Object(row).to_string()),
    })
}

/// Every interface wharf knows, by `data_category/biz_key`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_id: BTreeMap<String, Interface>,
}

impl Registry {
    /// The built-in interfaces plus every `*.json` file in `extra_dir` (when given).
    pub fn load(extra_dir: Option<&Path>) -> Result<Registry, CoreError> {
        let mut reg = Registry::default();
        for (file, text) in BUILT_INS {
            reg.add(file, parse_definition(file, text)?)?;
        }
        if let Some(dir) = extra_dir {
            let read = |e: std::io::Error| bad(&dir.display().to_string(), "", e.to_string());
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(read)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            paths.sort();
            for path in paths {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(read)?;
                reg.add(&name, parse_definition(&name, &text)?)?;
            }
        }
        Ok(reg)
    }

    fn add(&mut self, file: &str, iface: Interface) -> Result<(), CoreError> {
        let id = iface.id();
        if self.by_id.contains_key(&id) {
            return Err(bad(file, "", format!("interface {id} is defined twice")));
        }
        self.by_id.insert(id, iface);
        Ok(())
    }

    pub fn get(&self, data_category: &str, biz_key: &str) -> Option<&Interface> {
        self.by_id.get(&format!("{data_category}/{biz_key}"))
    }

    pub fn all(&self) -> impl Iterator<Item = &Interface> {
        self.by_id.values()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_load_with_the_spec_rules() {
        let reg = Registry::load(None).unwrap();
        let bom = reg.get("t1", "bom").unwrap();
        assert_eq!(bom.business_key.len(), 5);
        assert_eq!(bom.uid_field.as_deref(), Some("uid"));
        let q = bom.field("quantity_per").unwrap();
        assert_eq!(
            q.ty,
            FieldType::Decimal {
                precision: 13,
                scale: 3
            }
        );
        assert!(q.required);
        assert_eq!(
            bom.field("vendor_parent_item").unwrap().default.as_deref(),
            Some("NA")
        );
        assert_eq!(bom.field("priority").unwrap().exceptions, vec!["N/A"]);
        assert_eq!(bom.field("bu").unwrap().allowed.len(), 11);
        // Seed 002's request example's row, its numbers as written.
        let example = bom.example.as_deref().unwrap();
        assert!(example.starts_with(r#"{"child_item":"123","#), "{example}");
        assert!(example.contains(r#""priority":10.2,"#), "{example}");
        let odm = reg.get("odm", "master_data").unwrap();
        assert_eq!(odm.business_key, vec!["LENOVO_PN", "PLANT"]);
        assert!(reg.get("t1", "nope").is_none());
    }

    #[test]
    fn broken_definitions_name_the_file_and_field() {
        let cases = [
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["a"],"fields":[{"name":"a","type":"decimal(3"}]}"#,
                "fields.a",
            ),
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["b"],"fields":[{"name":"a","type":"string"}]}"#,
                "business_key",
            ),
            (
                r#"{"data_category":"x/../","biz_key":"y","business_key":["a"],"fields":[{"name":"a","type":"string"}]}"#,
                "data_category",
            ),
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["a"],"fields":[{"name":"a","type":"string","max_length":0}]}"#,
                "fields.a",
            ),
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["a"],"fields":[{"name":"a","type":"string"}]}"#,
                "fields.a",
            ),
            // A label that could name another field.
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["a_b"],"fields":[{"name":"a_b","type":"string","required":true},{"name":"c","type":"string","labels":{"en":"A B"}}]}"#,
                "fields.c",
            ),
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["a"],"fields":[{"name":"a","type":"string","required":true,"alternates":["Code"]},{"name":"c","type":"string","alternates":["code."]}]}"#,
                "fields.c",
            ),
            (
                r#"{"data_category":"x","biz_key":"y","business_key":["a"],"fields":[{"name":"a","type":"string","required":true,"alternates":[" _ "]}]}"#,
                "fields.a",
            ),
        ];
        for (text, field) in cases {
            match parse_definition("f.json", text) {
                Err(CoreError::Definition { file, field: f, .. }) => {
                    assert_eq!(file, "f.json");
                    assert_eq!(f, field, "{text}");
                }
                other => panic!("expected a definition error for {text}, got {other:?}"),
            }
        }
    }

    #[test]
    fn extra_dir_adds_interfaces_and_rejects_duplicates() {
        let dir = std::env::temp_dir().join(format!("wharf-if-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("x.json"),
            r#"{"data_category":"tn","biz_key":"stock","business_key":["a"],"fields":[{"name":"a","type":"string","required":true}]}"#,
        )
        .unwrap();
        let reg = Registry::load(Some(&dir)).unwrap();
        assert!(reg.get("tn", "stock").is_some());
        std::fs::write(
            dir.join("y.json"),
            r#"{"data_category":"tn","biz_key":"stock","business_key":["a"],"fields":[{"name":"a","type":"string","required":true}]}"#,
        )
        .unwrap();
        let err = Registry::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("y.json") && err.contains("defined twice"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
