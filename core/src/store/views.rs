//! Typed views for SQL tools: per interface, one view over `records` with the row's partner,
//! environment and batch, one column per field of the definition (in its order) and the row
//! as sent. Planned here from the registry, the same for both stores; each backend renders
//! and installs them (`pg/views.rs`: `wharf_data.{category}_{biz_key}`, typed columns;
//! `sqlite/views.rs`: `wharf_data_{category}_{biz_key}`, text columns).
//!
//! Names come from definition files, so they are checked here (a name PostgreSQL would cut
//! short, a field named like a fixed column, two interfaces on one view name) and always
//! written quoted ([`ident`], [`literal`]); a problem leaves that interface without a view
//! and is reported, it does not stop core: views serve reporting, ingest must go on.

use crate::interfaces::{FieldRule, Interface, Registry};

/// The columns every view starts with (`data`, the row as stored, ends it).
pub const FIXED_COLUMNS: [&str; 4] = ["partner", "environment", "batch_id", "data"];

/// PostgreSQL keeps 63 bytes of a name (`NAMEDATALEN - 1`) and drops the rest silently: two
/// long names could become one.
const MAX_NAME_BYTES: usize = 63;

/// What the store makes of one interface.
#[derive(Debug)]
pub struct View<'a> {
    /// `data_category/biz_key`: the rows' `records.iface`.
    pub iface: String,
    /// `{data_category}_{biz_key}`, before a backend's schema or prefix.
    pub name: String,
    /// The definition's fields, in its order: one column each.
    pub fields: &'a [FieldRule],
}

/// An interface left without a view, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub iface: String,
    /// The view name it would have (`{data_category}_{biz_key}`): an older view of that name
    /// is its own, not one of an interface no longer defined.
    pub name: String,
    pub msg: String,
}

/// The views of every interface, and the interfaces that cannot have one.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    pub views: Vec<View<'a>>,
    pub failed: Vec<Failure>,
}

impl Plan<'_> {
    /// Whether view name `name` (before a backend's schema or prefix) is a defined
    /// interface's, with a view or not.
    pub fn defines(&self, name: &str) -> bool {
        self.views.iter().any(|v| v.name == name) || self.failed.iter().any(|f| f.name == name)
    }
}

/// What installing the views did.
#[derive(Debug, Default)]
pub struct Report {
    /// Views made (or made again: their definition changed).
    pub created: Vec<String>,
    /// Views already as the definitions say, left untouched.
    pub unchanged: Vec<String>,
    /// Interfaces without a current view.
    pub failed: Vec<Failure>,
    /// Views wharf made earlier for interfaces no longer defined: kept (they still read the
    /// stored rows), for an operator to drop.
    pub orphans: Vec<String>,
}

/// A view per interface of `registry`, and the interfaces that cannot have one.
pub fn plan(registry: &Registry) -> Plan<'_> {
    let mut plan = Plan::default();
    for iface in registry.all() {
        let name = format!("{}_{}", iface.data_category, iface.biz_key);
        let fault = match plan.views.iter().find(|v| v.name == name) {
            Some(first) => Some(format!(
                "its view name {name:?} is {}'s already",
                first.iface
            )),
            None => fault(&name, iface),
        };
        match fault {
            Some(msg) => plan.failed.push(Failure {
                iface: iface.id(),
                name,
                msg,
            }),
            None => plan.views.push(View {
                iface: iface.id(),
                name,
                fields: &iface.fields,
            }),
        }
    }
    plan
}

/// Why interface `iface` cannot have view `name`, if it cannot.
fn fault(name: &str, iface: &Interface) -> Option<String> {
    if name.len() > MAX_NAME_BYTES {
        return Some(format!(
            "the view name {name:?} is longer than {MAX_NAME_BYTES} bytes"
        ));
    }
    for f in &iface.fields {
        if FIXED_COLUMNS.contains(&f.name.as_str()) {
            return Some(format!(
                "field {:?} has the name of a fixed column ({})",
                f.name,
                FIXED_COLUMNS.join(", ")
            ));
        }
        if f.name.len() > MAX_NAME_BYTES {
            return Some(format!(
                "field {:?} has a name longer than {MAX_NAME_BYTES} bytes",
                f.name
            ));
        }
        if f.name.contains('\0') || f.exceptions.iter().any(|e| e.contains('\0')) {
            return Some(format!(
                "field {:?}: a NUL character in its name or exceptions",
                f.name
            ));
        }
    }
    None
}

/// `name` as a quoted SQL identifier (`"` doubled), for both stores.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal, for both stores. PostgreSQL gets `E'…'` with `\` and `'`
/// doubled, which reads the same whatever `standard_conforming_strings` says.
pub fn literal(text: &str, postgres: bool) -> String {
    let quoted = text.replace('\'', "''");
    if postgres {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// `WHEN v IN (exceptions) THEN NULL ` for a typed column (nothing when there are none): an
/// exception is "no value of this type", so it reads NULL.
pub fn exceptions_null(v: &str, rule: &FieldRule, postgres: bool) -> String {
    if rule.exceptions.is_empty() {
        return String::new();
    }
    let list: Vec<String> = rule
        .exceptions
        .iter()
        .map(|e| literal(e, postgres))
        .collect();
    format!("WHEN {v} IN ({}) THEN NULL ", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::parse_definition;

    fn registry_with(defs: &[&str]) -> Registry {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wharf-views-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, d) in defs.iter().enumerate() {
            std::fs::write(dir.join(format!("{i}.json")), d).unwrap();
        }
        let reg = Registry::load(Some(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        reg
    }

    fn def(category: &str, biz_key: &str, field: &str) -> String {
        serde_json::json!({
            "data_category": category, "biz_key": biz_key, "business_key": [field],
            "fields": [{"name": field, "type": "string", "required": true}]
        })
        .to_string()
    }

    #[test]
    fn built_ins_get_views_in_definition_order() {
        let reg = Registry::load(None).unwrap();
        let Plan { views, failed } = plan(&reg);
        assert!(failed.is_empty(), "{failed:?}");
        let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["odm_master_data", "t1_bom"]);
        let bom = &views[1];
        assert_eq!(bom.iface, "t1/bom");
        assert_eq!(bom.fields[0].name, "uid");
        assert_eq!(bom.fields.len(), 18);
    }

    #[test]
    fn names_a_store_cannot_hold_leave_that_interface_out() {
        let long = "f".repeat(64);
        let cases = [
            (def("tn", "a", "partner"), "tn/a", "fixed column"),
            (def("tn", "b", "batch_id"), "tn/b", "fixed column"),
            (def("tn", "c", &long), "tn/c", "longer than 63 bytes"),
            (
                def(&"x".repeat(40), &"y".repeat(23), "k"),
                "",
                "longer than 63",
            ),
        ];
        for (text, iface, want) in &cases {
            let reg = registry_with(&[text]);
            let Plan { views, failed } = plan(&reg);
            assert_eq!(views.len(), 2, "the built-ins keep their views: {text}");
            assert_eq!(failed.len(), 1, "{text}");
            if !iface.is_empty() {
                assert_eq!(failed[0].iface, *iface);
            }
            assert!(failed[0].msg.contains(want), "{}", failed[0].msg);
        }
        // 63 bytes is still fine.
        let reg = registry_with(&[&def("tn", "d", &"f".repeat(63))]);
        let Plan { views, failed } = plan(&reg);
        assert!(failed.is_empty() && views.len() == 3, "{failed:?}");
    }

    #[test]
    fn two_interfaces_on_one_view_name_keep_the_first() {
        let a = def("a_b", "c", "k");
        let b = def("a", "b_c", "k");
        let reg = registry_with(&[&a, &b]);
        let p = plan(&reg);
        assert!(p.defines("a_b_c") && !p.defines("a_b"));
        let Plan { views, failed } = p;
        assert_eq!(views.iter().filter(|v| v.name == "a_b_c").count(), 1);
        // The registry is ordered by id: a/b_c comes first, a_b/c is left out.
        assert_eq!(
            failed,
            vec![Failure {
                iface: "a_b/c".into(),
                name: "a_b_c".into(),
                msg: "its view name \"a_b_c\" is a/b_c's already".into()
            }]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("LENOVO_PN"), "\"LENOVO_PN\"");
        assert_eq!(literal("it's", false), "'it''s'");
        assert_eq!(literal("a\\'b", true), "E'a\\\\''b'");
        let rule = parse_definition(
            "f.json",
            r#"{"data_category":"x","biz_key":"y","business_key":["a"],
                "fields":[{"name":"a","type":"date","required":true,"exceptions":["N/A","it's"]}]}"#,
        )
        .unwrap()
        .fields
        .remove(0);
        assert_eq!(
            exceptions_null("v", &rule, false),
            "WHEN v IN ('N/A', 'it''s') THEN NULL "
        );
    }
}
