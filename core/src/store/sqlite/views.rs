//! The views on SQLite: `wharf_data_{category}_{biz_key}` (SQLite has no schemas), the same
//! columns as PostgreSQL's, but every field a text column: SQLite has no exact decimal type
//! (a REAL would round), so a number or a date is the text wharf accepted; an exception
//! (`N/A`) in a decimal or date field reads NULL, as on PostgreSQL. Made at core's start-up
//! in one `BEGIN IMMEDIATE` transaction; a view whose stored statement is already the one
//! the definition gives is left alone.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::interfaces::{FieldRule, FieldType};
use crate::store::views::{exceptions_null, ident, literal, Failure, Plan, Report, View};

/// What every view's name starts with: the name space is wharf's.
pub const PREFIX: &str = "wharf_data_";

/// Make or replace the views of `plan`, in one transaction.
pub(super) fn install(c: &Connection, plan: &Plan<'_>) -> rusqlite::Result<Report> {
    c.execute_batch("BEGIN IMMEDIATE")?;
    match install_in(c, plan) {
        Ok(report) => {
            c.execute_batch("COMMIT")?;
            Ok(report)
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn install_in(c: &Connection, plan: &Plan<'_>) -> rusqlite::Result<Report> {
    let mut existing: BTreeMap<String, String> = BTreeMap::new();
    {
        let mut stmt = c.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'view' AND substr(name, 1, ?1) = ?2",
        )?;
        let rows = stmt.query_map(rusqlite::params![PREFIX.len(), PREFIX], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        for row in rows {
            let (name, sql) = row?;
            existing.insert(name, sql);
        }
    }
    let mut report = Report {
        failed: plan.failed.clone(),
        ..Report::default()
    };
    for view in &plan.views {
        let name = format!("{PREFIX}{}", view.name);
        let create = create_sql(&name, view);
        if existing.get(&name) == Some(&create) {
            report.unchanged.push(name);
            continue;
        }
        let statements = format!(
            "SAVEPOINT view; DROP VIEW IF EXISTS {}; {create}; RELEASE view",
            ident(&name)
        );
        match c.execute_batch(&statements) {
            Ok(()) => report.created.push(name),
            Err(e) => {
                c.execute_batch("ROLLBACK TO view; RELEASE view")?;
                report.failed.push(Failure {
                    iface: view.iface.clone(),
                    name: view.name.clone(),
                    msg: format!("{name}: {e}"),
                });
            }
        }
    }
    report.orphans = existing
        .into_keys()
        .filter(|name| !name.strip_prefix(PREFIX).is_some_and(|n| plan.defines(n)))
        .collect();
    Ok(report)
}

/// The `CREATE VIEW` statement of `view`, named `name`. A field's value is looked up with
/// `json_each` by its exact key: a JSON path would misread a name holding `.` or `"`.
fn create_sql(name: &str, view: &View<'_>) -> String {
    let mut columns = vec![
        "r.partner AS partner".to_string(),
        "r.env AS environment".to_string(),
        "b.batch_id AS batch_id".to_string(),
    ];
    for rule in view.fields {
        let v = format!(
            "(SELECT value FROM json_each(r.data) WHERE key = {})",
            literal(&rule.name, false)
        );
        columns.push(format!("{} AS {}", column(&v, rule), ident(&rule.name)));
    }
    columns.push("r.data AS data".to_string());
    format!(
        "CREATE VIEW {} AS SELECT {} FROM records r LEFT JOIN batches b ON b.pk = r.batch_pk \
         WHERE r.iface = {}",
        ident(name),
        columns.join(", "),
        literal(&view.iface, false)
    )
}

fn column(v: &str, rule: &FieldRule) -> String {
    match rule.ty {
        FieldType::Decimal { .. } | FieldType::Date if !rule.exceptions.is_empty() => {
            format!("CASE {}ELSE {v} END", exceptions_null(v, rule, false))
        }
        _ => v.to_string(),
    }
}
