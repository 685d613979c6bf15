//! Every sentence the page says about an error, in one place (its words, in English and
//! Simplified Chinese, are the `hint.`, `describe.`, `general.`, `dup.` and `explain.` entries
//! of the `i18n` catalogue).
//!
//! Core says what failed in its fixed vocabulary (`type`, `fields`) and what the rule was
//! (`detail`, README "Answers"); this turns the two into a sentence a person can act on. It
//! decides nothing: no rule is repeated here, only core's detail is worded. An answer stored
//! before details existed still reads, with the type's general sentence.

use wharf_proto::v1::{self as pb, value::Kind, FieldDetail, VerifyDetail};

use crate::i18n::{t, tf};

/// A value as the user typed it, as a sentence or a cell shows it.
pub(crate) fn value_text(v: Option<&pb::Value>) -> String {
    match v.and_then(|v| v.kind.as_ref()) {
        Some(Kind::Text(s)) | Some(Kind::Number(s)) | Some(Kind::Json(s)) => s.clone(),
        Some(Kind::Boolean(b)) => b.to_string(),
        Some(Kind::Null(_)) => "null".into(),
        None => String::new(),
    }
}

/// The vocabulary of core's error types (SPEC §5), as core writes them.
mod kind {
    pub(super) const REQUIRED: &str = "required field missing";
    pub(super) const LENGTH: &str = "value length exceed";
    pub(super) const NUMBER: &str = "invalid number";
    pub(super) const PRECISION: &str = "number precision exceed";
    pub(super) const DATE: &str = "invalid date";
    pub(super) const NOT_ALLOWED: &str = "value not allowed";
    pub(super) const UNKNOWN: &str = "unknown field";
    pub(super) const TYPE: &str = "invalid type";
    pub(super) const DUPLICATE: &str = "duplicate key";
}

/// Most allowed values a sentence lists before it says how many there are in all.
const MAX_LISTED_VALUES: usize = 20;

/// `N/A`-like values a field takes whatever its type, as the end of a sentence.
fn also(d: &FieldDetail) -> String {
    match d.also_accepted.as_slice() {
        [] => String::new(),
        [one] => tf("hint.also_one", &[("value", one)]),
        many => tf("hint.also_many", &[("values", &many.join(", "))]),
    }
}

/// "digits" with its number right.
fn digits(n: u32) -> String {
    if n == 1 {
        t("hint.digit_one").into()
    } else {
        tf("hint.digits", &[("n", &n)])
    }
}

/// What a decimal field takes, from its precision and scale.
fn decimal_shape(d: &FieldDetail) -> Option<String> {
    let (all, after) = (d.max_digits?, d.max_decimals?);
    let before = all.saturating_sub(after);
    Some(if after == 0 {
        tf("hint.shape_whole", &[("digits", &digits(before))])
    } else {
        tf(
            "hint.shape_split",
            &[("before", &digits(before)), ("after", &digits(after))],
        )
    })
}

/// The sentence for one failing field: core's `kind` and the field's detail (`None` when
/// the answer carries none).
pub(crate) fn field_sentence(kind: &str, d: Option<&FieldDetail>) -> String {
    let general = || general_sentence(kind);
    let Some(d) = d else {
        return general();
    };
    if d.control_characters {
        return t("hint.control").into();
    }
    let sentence = match kind {
        kind::LENGTH => match d.max_length {
            Some(n) => tf("hint.too_long", &[("n", &n)]),
            None => general(),
        },
        kind::DATE => match (d.format.as_str(), d.example.as_str()) {
            ("", _) => general(),
            (format, "") => tf("hint.date", &[("format", &format)]),
            (format, example) => tf(
                "hint.date_example",
                &[("format", &format), ("example", &example)],
            ),
        },
        kind::NUMBER if d.format == "digits" => match d.max_length {
            Some(n) => tf("hint.digits_only_max", &[("n", &n)]),
            None => t("hint.digits_only").into(),
        },
        kind::NUMBER => match decimal_shape(d) {
            Some(shape) => tf("hint.number", &[("shape", &shape)]),
            None => general(),
        },
        kind::PRECISION => match (d.max_digits, d.max_decimals) {
            (Some(_), Some(0)) => tf(
                "hint.precision_whole",
                &[("shape", &decimal_shape(d).unwrap_or_default())],
            ),
            (Some(all), Some(after)) => tf(
                "hint.precision_split",
                &[
                    ("after", &digits(after)),
                    ("before", &digits(all.saturating_sub(after))),
                ],
            ),
            _ => general(),
        },
        kind::NOT_ALLOWED if !d.allowed.is_empty() => {
            let shown: Vec<&str> = d
                .allowed
                .iter()
                .take(MAX_LISTED_VALUES)
                .map(String::as_str)
                .collect();
            let more = d.allowed.len() - shown.len();
            let rest = if more > 0 {
                tf("hint.allowed_more", &[("n", &d.allowed.len())])
            } else {
                String::new()
            };
            tf(
                "hint.allowed",
                &[("values", &shown.join(", ")), ("rest", &rest)],
            )
        }
        _ => general(),
    };
    sentence + &also(d)
}

/// What to write in a field, from its whole rule (core's `FieldDef.rule`): for a template's
/// field sheet, before anything failed.
pub(crate) fn field_description(d: &FieldDetail) -> String {
    let what = if !d.allowed.is_empty() {
        t("describe.allowed").to_string()
    } else {
        match d.format.as_str() {
            "yyyy-mm-dd" if d.example.is_empty() => t("describe.date").into(),
            "yyyy-mm-dd" => tf("describe.date_example", &[("example", &d.example)]),
            "digits" => match d.max_length {
                Some(n) => tf("describe.digits_max", &[("n", &n)]),
                None => t("describe.digits").into(),
            },
            "decimal" => match decimal_shape(d) {
                Some(shape) => tf("describe.decimal_shape", &[("shape", &shape)]),
                None => t("describe.decimal").into(),
            },
            _ => match d.max_length {
                Some(n) => tf("describe.text_max", &[("n", &n)]),
                None => t("describe.text").into(),
            },
        }
    };
    format!("{what}{}{}", t("describe.end"), also(d))
}

/// The sentence for a kind without any detail.
pub(crate) fn general_sentence(kind: &str) -> String {
    match kind {
        kind::REQUIRED => t("general.required"),
        kind::LENGTH => t("general.length"),
        kind::NUMBER => t("general.number"),
        kind::PRECISION => t("general.precision"),
        kind::DATE => t("general.date"),
        kind::NOT_ALLOWED => t("general.not_allowed"),
        kind::UNKNOWN => t("general.unknown"),
        kind::TYPE => t("general.type"),
        kind::DUPLICATE => t("general.duplicate"),
        _ => t("general.other"),
    }
    .into()
}

/// The key a duplicate has, as `field=value` pairs.
fn key_text(key: &[pb::Field]) -> String {
    key.iter()
        .map(|f| format!("{}={}", f.name, value_text(f.value.as_ref())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sentence for a row whose key is taken: which row it repeats (within the upload) or
/// that the key exists already, and what to do.
pub(crate) fn duplicate_sentence(fields: &str, d: Option<&VerifyDetail>) -> String {
    let key = match d {
        Some(d) if !d.key.is_empty() => key_text(&d.key),
        _ => fields.to_string(),
    };
    match d.and_then(|d| d.repeats.as_ref()) {
        Some(r) if r.line > 0 => tf("dup.row", &[("line", &r.line), ("key", &key)]),
        Some(r) => tf("dup.part", &[("line", &(r.index + 1)), ("key", &key)]),
        None if d.is_some_and(|d| !d.key.is_empty()) => tf("dup.exists", &[("key", &key)]),
        None => tf("dup.other", &[("key", &key)]),
    }
}

/// A summary's code and message explained in plain words ("" when the message says it
/// plainly already).
pub(crate) fn explain(code: &str, msg: &str) -> String {
    if msg.starts_with("abandoned by its sender") {
        return t("explain.abandoned").into();
    }
    if code == "0" && msg.contains("batch checked:") {
        return t("explain.checked").into();
    }
    match code {
        "0" => t("explain.ok"),
        "E00V00" => t("explain.verify"),
        "E00W00" => t("explain.write"),
        "E00M00" => t("explain.multiple"),
        "E00P00" => t("explain.retry"),
        "E00A00" => t("explain.consumed"),
        "-1" => t("explain.system"),
        _ => "",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(f: impl FnOnce(&mut FieldDetail)) -> FieldDetail {
        let mut d = FieldDetail {
            field: "f".into(),
            ..Default::default()
        };
        f(&mut d);
        d
    }

    #[test]
    fn each_kind_with_its_detail_is_a_sentence() {
        let date = detail(|d| {
            d.format = "yyyy-mm-dd".into();
            d.example = "2024-02-29".into();
        });
        assert_eq!(
            field_sentence(kind::DATE, Some(&date)),
            "Use the date format yyyy-mm-dd, for example 2024-02-29 (a day the calendar has)."
        );
        let length = detail(|d| d.max_length = Some(30));
        assert_eq!(
            field_sentence(kind::LENGTH, Some(&length)),
            "Too long: use at most 30 characters."
        );
        let split = detail(|d| {
            d.format = "decimal".into();
            d.max_digits = Some(4);
            d.max_decimals = Some(2);
        });
        assert_eq!(
            field_sentence(kind::PRECISION, Some(&split)),
            "At most 2 digits after the decimal point (and at most 2 digits before it)."
        );
        let priority = detail(|d| {
            d.format = "decimal".into();
            d.max_digits = Some(13);
            d.max_decimals = Some(3);
            d.also_accepted = vec!["N/A".into()];
        });
        assert_eq!(
            field_sentence(kind::NUMBER, Some(&priority)),
            "Enter a plain number such as 12.5: at most 10 digits before the decimal point and \
             at most 3 digits after it; no spaces, thousands separators or units. You may also \
             write N/A."
        );
        let whole = detail(|d| {
            d.max_digits = Some(5);
            d.max_decimals = Some(0);
        });
        assert_eq!(
            field_sentence(kind::PRECISION, Some(&whole)),
            "Too many digits: a whole number of at most 5 digits."
        );
        let version = detail(|d| {
            d.format = "digits".into();
            d.max_length = Some(16);
        });
        assert_eq!(
            field_sentence(kind::NUMBER, Some(&version)),
            "Use digits only (0-9), at most 16 of them."
        );
        let bu = detail(|d| d.allowed = vec!["ThinkNB".into(), "IdeaNB".into()]);
        assert_eq!(
            field_sentence(kind::NOT_ALLOWED, Some(&bu)),
            "Allowed: ThinkNB, IdeaNB. Write one of them exactly, capitals included."
        );
        let many = detail(|d| d.allowed = (0..25).map(|i| format!("v{i}")).collect());
        let s = field_sentence(kind::NOT_ALLOWED, Some(&many));
        assert!(
            s.contains("v19, … (25 in all)") && !s.contains("v20"),
            "{s}"
        );
        let control = detail(|d| d.control_characters = true);
        assert!(field_sentence(kind::NOT_ALLOWED, Some(&control)).contains("control characters"));
    }

    #[test]
    fn without_a_detail_each_kind_still_has_a_sentence() {
        for k in [
            kind::REQUIRED,
            kind::LENGTH,
            kind::NUMBER,
            kind::PRECISION,
            kind::DATE,
            kind::NOT_ALLOWED,
            kind::UNKNOWN,
            kind::TYPE,
            kind::DUPLICATE,
        ] {
            let s = field_sentence(k, None);
            assert!(s.ends_with('.') && s != general_sentence("?"), "{k}: {s}");
        }
    }

    #[test]
    fn a_duplicate_names_the_row_it_repeats_or_the_key_taken() {
        let key = vec![
            pb::Field {
                name: "pn".into(),
                value: Some(pb::Value {
                    kind: Some(pb::value::Kind::Text("P1".into())),
                }),
            },
            pb::Field {
                name: "plant".into(),
                value: Some(pb::Value {
                    kind: Some(pb::value::Kind::Text("H121".into())),
                }),
            },
        ];
        let repeats = VerifyDetail {
            key: key.clone(),
            repeats: Some(pb::RowRef { index: 0, line: 2 }),
            ..Default::default()
        };
        assert_eq!(
            duplicate_sentence("pn,plant", Some(&repeats)),
            "Same key as row 2 (pn=P1, plant=H121): each row needs its own key. Remove one of \
             the two rows or correct its key."
        );
        let taken = VerifyDetail {
            key,
            ..Default::default()
        };
        assert!(duplicate_sentence("pn,plant", Some(&taken))
            .starts_with("The key pn=P1, plant=H121 already exists"));
        assert!(duplicate_sentence("pn,plant", None).contains("(pn,plant)"));
    }

    #[test]
    fn the_words_explained_are_cores_own() {
        use wharf_core::codes::{code, code_msg, kind as core};
        let pairs = [
            (kind::REQUIRED, core::REQUIRED),
            (kind::LENGTH, core::LENGTH),
            (kind::NUMBER, core::NUMBER),
            (kind::PRECISION, core::PRECISION),
            (kind::DATE, core::DATE),
            (kind::NOT_ALLOWED, core::NOT_ALLOWED),
            (kind::UNKNOWN, core::UNKNOWN),
            (kind::TYPE, core::TYPE),
            (kind::DUPLICATE, core::DUPLICATE),
        ];
        for (ours, cores) in pairs {
            assert_eq!(ours, cores);
        }
        for c in [
            code::OK,
            code::SYSTEM,
            code::CONSUMED,
            code::RETRY_LIMIT,
            code::VERIFY,
            code::WRITE,
            code::MULTIPLE,
        ] {
            assert!(!explain(c, code_msg(c)).is_empty(), "{c} is explained");
        }
        for rejected in [0, 1, 2] {
            let codes = vec!["E00V00".to_string(); rejected];
            let (c, msg) = wharf_core::batch::abandon::abandon_failure(&codes);
            assert!(explain(&c, &msg).contains("withdrawn"), "{msg}");
        }
    }

    #[test]
    fn summary_codes_are_explained() {
        assert!(explain(
            "E00P00",
            "abandoned by its sender: 1 of its sequences was rejected"
        )
        .contains("withdrawn"));
        assert!(explain("E00M00", "multiple exceptions").contains("Two kinds"));
        assert!(
            explain("E00W00", "write exception, unique constraint violation")
                .contains("already taken")
        );
        assert_eq!(explain("", "cancelled"), "");
    }
}
