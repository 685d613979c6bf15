//! Reading current records page by page (queries and partners' read-back). One statement per
//! page, so a page is one consistent snapshot on both stores. Pages follow `(partner, rkey)`,
//! the order of the records' primary key, with a keyset cursor: a row is never on two pages,
//! and a row that existed when paging began and still exists is never skipped, whatever
//! applies meanwhile.

use crate::model::Environment;

/// One page's selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    pub env: Environment,
    pub iface: String,
    /// Only this partner's records; `None`: every partner's.
    pub partner: Option<String>,
    /// The whole business key (its canonical encoding): at most one record per partner.
    pub rkey: Option<String>,
    /// Business-key fields that must equal these values (when not the whole key).
    pub fields: Vec<(String, String)>,
    /// Rows after this `(partner, rkey)`, the last one of the previous page.
    pub after: Option<(String, String)>,
    /// At most this many rows.
    pub limit: u32,
}

/// A current record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub partner: String,
    pub rkey: String,
    /// The row's JSON object.
    pub data: String,
}

/// How a store reads one field of a record's JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The SQL reading the field named by parameter `$n` as text.
    fn field(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("(data::json ->> CAST(${n} AS TEXT))"),
            Dialect::Sqlite => format!("json_extract(data, ${n})"),
        }
    }

    /// The SQL reading parameter `$n` as the row limit.
    fn limit(self, n: usize) -> String {
        match self {
            // The parameters are text; PostgreSQL reads the limit from its text.
            Dialect::Postgres => format!("CAST(CAST(${n} AS TEXT) AS BIGINT)"),
            Dialect::Sqlite => format!("${n}"),
        }
    }

    /// The parameter naming field `name` for [`Dialect::field`].
    fn field_param(self, name: &str) -> String {
        match self {
            Dialect::Postgres => name.to_string(),
            // A JSON path; the name quoted as a JSON string (field names are plain, but a
            // quote or backslash must not end the path).
            Dialect::Sqlite => format!(
                "$.{}",
                serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into())
            ),
        }
    }
}

/// The statement for `s` and its text parameters, in `$n` order. Every value is a parameter,
/// so the statements are few (one per shape of filter) and each is prepared once.
pub fn select(s: &Select, dialect: Dialect) -> (String, Vec<String>) {
    let mut params = vec![s.env.as_str().to_string(), s.iface.clone()];
    let mut sql =
        String::from("SELECT partner, rkey, data FROM records WHERE env = $1 AND iface = $2");
    if let Some(p) = &s.partner {
        let n = bind(&mut params, p.clone());
        sql.push_str(&format!(" AND partner = ${n}"));
    }
    if let Some(k) = &s.rkey {
        let n = bind(&mut params, k.clone());
        sql.push_str(&format!(" AND rkey = ${n}"));
    }
    for (name, value) in &s.fields {
        let field = dialect.field(bind(&mut params, dialect.field_param(name)));
        let n = bind(&mut params, value.clone());
        sql.push_str(&format!(" AND {field} = ${n}"));
    }
    if let Some((partner, rkey)) = &s.after {
        let p = bind(&mut params, partner.clone());
        let k = bind(&mut params, rkey.clone());
        sql.push_str(&format!(
            " AND (partner > ${p} OR (partner = ${p} AND rkey > ${k}))"
        ));
    }
    let n = bind(&mut params, s.limit.to_string());
    sql.push_str(&format!(
        " ORDER BY partner, rkey LIMIT {}",
        dialect.limit(n)
    ));
    (sql, params)
}

/// Add a parameter; its number.
fn bind(params: &mut Vec<String>, value: String) -> usize {
    params.push(value);
    params.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_is_a_parameter() {
        let s = Select {
            env: Environment::Prod,
            iface: "t1/bom".into(),
            partner: Some("P".into()),
            rkey: None,
            fields: vec![("vendor_code".into(), "V'1".into())],
            after: Some(("P".into(), "[\"a\"]".into())),
            limit: 11,
        };
        let (sql, params) = select(&s, Dialect::Sqlite);
        assert_eq!(
            sql,
            "SELECT partner, rkey, data FROM records WHERE env = $1 AND iface = $2 \
             AND partner = $3 AND json_extract(data, $4) = $5 \
             AND (partner > $6 OR (partner = $6 AND rkey > $7)) ORDER BY partner, rkey LIMIT $8"
        );
        assert_eq!(
            params,
            [
                "prod",
                "t1/bom",
                "P",
                "$.\"vendor_code\"",
                "V'1",
                "P",
                "[\"a\"]",
                "11"
            ]
        );
        let (sql, params) = select(&s, Dialect::Postgres);
        assert!(
            sql.contains("AND (data::json ->> CAST($4 AS TEXT)) = $5"),
            "{sql}"
        );
        assert_eq!(params[3], "vendor_code");
    }
}
