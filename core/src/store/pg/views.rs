//! The typed views on PostgreSQL: `wharf_data.{category}_{biz_key}`, one column per field
//! typed as the definition says (`decimal(p,s)` → `numeric(p,s)`, `date` → `date`, `string`
//! and `digits` → `text`), made at core's start-up.
//!
//! A typed column reads NULL for an absent value, an exception (`N/A`) and a stored text
//! that does not fit the type (a row stored under an earlier definition): the guards below
//! mirror `validate::check_decimal` and `validate::is_calendar_date`, so a view never fails a
//! reader's query, and `data` keeps the row as stored.
//!
//! One transaction under an advisory lock (replicas starting together make each view once);
//! each view carries a comment with the SHA-256 of its statement, so an unchanged view is
//! left alone (no lock on it, no grant lost) and a changed one is dropped and made again
//! (`CREATE OR REPLACE VIEW` cannot change a column's type), each inside a savepoint: one
//! that fails (a report holding the view past `LOCK_TIMEOUT`, an object of a reporting user
//! that depends on it) keeps its old version and is reported, the others go ahead.

use std::collections::BTreeMap;

use deadpool_postgres::Object;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::interfaces::{FieldRule, FieldType};
use crate::store::views::{exceptions_null, ident, literal, Failure, Plan, Report, View};

/// The schema of the views: wharf's own, nothing else belongs in it.
pub const SCHEMA: &str = "wharf_data";

/// Fixed key for the views' advisory lock (beside the migrations' `0x7768_6172_6601`).
const VIEWS_LOCK: i64 = 0x7768_6172_6602;

/// How long replacing one view waits for the readers holding it before giving up on it.
const LOCK_TIMEOUT: &str = "5s";

/// What a view's comment starts with: the views wharf made, told from anything else.
const COMMENT_PREFIX: &str = "wharf: typed view of interface ";

/// Make or replace the views of `plan`, in one transaction.
pub(super) async fn install(client: &mut Object, plan: &Plan<'_>) -> Result<Report> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&VIEWS_LOCK])
        .await?;
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .await?;
    // Checked first: CREATE SCHEMA IF NOT EXISTS needs the right to create schemas even when
    // a DBA made the schema for wharf beforehand.
    let has_schema = tx
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&SCHEMA])
        .await?
        .is_some();
    if !has_schema {
        tx.batch_execute(&format!("CREATE SCHEMA {}", ident(SCHEMA)))
            .await?;
    }
    let mut existing: BTreeMap<String, Option<String>> = BTreeMap::new();
    for row in tx
        .query(
            "SELECT c.relname::text, obj_description(c.oid, 'pg_class') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'v'",
            &[&SCHEMA],
        )
        .await?
    {
        existing.insert(row.get(0), row.get(1));
    }
    let mut report = Report {
        failed: plan.failed.clone(),
        ..Report::default()
    };
    for view in &plan.views {
        let create = create_sql(view);
        let comment = format!(
            "{COMMENT_PREFIX}{}; sha256 {:x}",
            view.iface,
            Sha256::digest(create.as_bytes())
        );
        if existing.get(&view.name).and_then(Option::as_deref) == Some(comment.as_str()) {
            report.unchanged.push(view.name.clone());
            continue;
        }
        let qualified = format!("{}.{}", ident(SCHEMA), ident(&view.name));
        let statements = format!(
            "SAVEPOINT view; DROP VIEW IF EXISTS {qualified}; {create}; \
             COMMENT ON VIEW {qualified} IS {}; RELEASE SAVEPOINT view",
            literal(&comment, true)
        );
        match tx.batch_execute(&statements).await {
            Ok(()) => report.created.push(view.name.clone()),
            Err(e) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT view; RELEASE SAVEPOINT view")
                    .await?;
                report.failed.push(Failure {
                    iface: view.iface.clone(),
                    name: view.name.clone(),
                    msg: match e.as_db_error() {
                        Some(db) => format!("{SCHEMA}.{}: {}", view.name, db.message()),
                        None => format!("{SCHEMA}.{}: {e}", view.name),
                    },
                });
            }
        }
    }
    report.orphans = existing
        .into_iter()
        .filter(|(name, comment)| {
            comment
                .as_deref()
                .is_some_and(|c| c.starts_with(COMMENT_PREFIX))
                && !plan.defines(name)
        })
        .map(|(name, _)| name)
        .collect();
    tx.commit().await?;
    Ok(report)
}

/// The `CREATE VIEW` statement of `view`. `records` and `batches` are found on the search
/// path of the connection that migrated them; the view keeps the tables it found.
fn create_sql(view: &View<'_>) -> String {
    let mut columns = vec![
        "r.partner AS partner".to_string(),
        "r.env AS environment".to_string(),
        "b.batch_id AS batch_id".to_string(),
    ];
    let mut record = Vec::with_capacity(view.fields.len());
    for rule in view.fields {
        let name = ident(&rule.name);
        columns.push(format!("{} AS {name}", typed(&format!("f.{name}"), rule)));
        record.push(format!("{name} text"));
    }
    columns.push("r.data::jsonb AS data".to_string());
    format!(
        "CREATE VIEW {}.{} AS SELECT {} FROM records r LEFT JOIN batches b ON b.pk = r.batch_pk \
         CROSS JOIN LATERAL json_to_record(r.data::json) AS f({}) WHERE r.iface = {}",
        ident(SCHEMA),
        ident(&view.name),
        columns.join(", "),
        record.join(", "),
        literal(&view.iface, true)
    )
}

/// The column of field `rule`, from its stored text `v`. The outer cast gives the column its
/// declared type (a CASE with NULL branches would lose `numeric`'s precision and scale).
fn typed(v: &str, rule: &FieldRule) -> String {
    let none = exceptions_null(v, rule, true);
    match rule.ty {
        FieldType::String | FieldType::Digits => v.to_string(),
        FieldType::Decimal { precision, scale } => {
            let int_digits = precision - scale;
            // The sign, the integer part without leading zeros, the fraction without
            // trailing zeros: what check_decimal counts, and short enough for numeric's input
            // (a fraction of 20,000 zeros is valid for wharf but overflows the cast).
            let int = format!("ltrim(split_part(ltrim({v}, '-'), '.', 1), '0')");
            let frac = format!("rtrim(split_part({v}, '.', 2), '0')");
            format!(
                "CAST(CASE {none}WHEN {v} ~ '^-?[0-9]+([.][0-9]+)?$' \
                 AND length({int}) <= {int_digits} AND length({frac}) <= {scale} \
                 THEN (CASE WHEN left({v}, 1) = '-' THEN '-' ELSE '' END \
                 || coalesce(nullif({int}, ''), '0') || '.' || {frac})::numeric END \
                 AS numeric({precision},{scale}))"
            )
        }
        FieldType::Date => {
            let (y, m, d) = (
                format!("left({v}, 4)::int"),
                format!("substr({v}, 6, 2)::int"),
                format!("right({v}, 2)::int"),
            );
            // The shape first (so the int casts cannot fail), then the day within its month
            // (the first of the month plus d - 1 days is still day d), then the date.
            format!(
                "CAST(CASE {none}WHEN {v} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' \
                 AND left({v}, 4) <> '0000' THEN CASE WHEN extract(day FROM make_date({y}, {m}, 1) \
                 + ({d} - 1)) = {d} THEN make_date({y}, {m}, {d}) END END AS date)"
            )
        }
    }
}
