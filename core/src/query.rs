//! Queries: the current records of one interface, filtered by partner, environment and
//! equality on business-key fields, page by page. Partners read back their own records;
//! consumers read the interfaces they were given, every partner's or one's. One statement
//! per page (`store::query`), so each page is one snapshot, and a keyset cursor: across
//! pages a row is never repeated, and a row present throughout is never skipped.

use base64::Engine;

use crate::consumers::ConsumerInfo;
use crate::error::{CoreError, Result};
use crate::interfaces::Interface;
use crate::model::Environment;
use crate::service::{admit, Core};
use crate::store::query::Select;
use crate::validate::encode_key;

/// Rows a page holds when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Most rows one page may hold.
pub const MAX_LIMIT: u32 = 10_000;

/// Who reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// A partner reading back its own records.
    Partner(String),
    /// A consumer (`wharf consumer add`), by name.
    Consumer(String),
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    pub env: Environment,
    pub data_category: String,
    pub biz_key: String,
    /// A consumer's filter on one partner (a partner always reads its own).
    pub partner: Option<String>,
    /// Business-key fields and the values they must equal.
    pub key: Vec<(String, String)>,
    /// The previous page's `next`; empty for the first page.
    pub after: String,
    /// 0: [`DEFAULT_LIMIT`].
    pub limit: u32,
}

/// One page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    /// `(partner, the row's JSON object)`, by partner then business key.
    pub records: Vec<(String, String)>,
    /// The cursor of the next page; empty when this one is the last.
    pub next: String,
}

impl Core {
    /// One page of `q` as `reader` may see it. `NotFound` for an interface the reader may not
    /// read (as for one that does not exist); `Invalid` for a filter on a field that is not
    /// part of the business key, a repeated one, a cursor this API did not give, or a limit
    /// over [`MAX_LIMIT`].
    pub async fn query_records(&self, reader: &Reader, q: &RecordQuery) -> Result<RecordPage> {
        let (iface, partner) = match reader {
            Reader::Partner(name) => {
                let p = self
                    .partner_named(name)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?;
                admit(&p, None)?;
                let iface = self.allowed_interface(&p, &q.data_category, &q.biz_key)?;
                (iface, Some(name.clone()))
            }
            Reader::Consumer(name) => {
                let c = self.active_consumer(name).await?;
                (self.readable(&c, q)?, q.partner.clone())
            }
        };
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(CoreError::Invalid(format!(
                    "limit: at most {MAX_LIMIT} records a page"
                )))
            }
            n => n,
        };
        let (rkey, fields) = key_filter(iface, &q.key)?;
        let select = Select {
            env: q.env,
            iface: iface.id(),
            partner,
            rkey,
            fields,
            after: match q.after.as_str() {
                "" => None,
                c => Some(decode_cursor(c)?),
            },
            // One more than asked: whether there is a next page.
            limit: limit + 1,
        };
        let mut rows = self.store.query_records(&select).await?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last()
                .map(|r| encode_cursor(&r.partner, &r.rkey))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(RecordPage {
            records: rows.into_iter().map(|r| (r.partner, r.data)).collect(),
            next,
        })
    }

    /// The interface of `q` if consumer `c` may read it.
    fn readable(&self, c: &ConsumerInfo, q: &RecordQuery) -> Result<&Interface> {
        let not_found =
            || CoreError::NotFound(format!("interface {}/{}", q.data_category, q.biz_key));
        let iface = self
            .registry()
            .get(&q.data_category, &q.biz_key)
            .ok_or_else(not_found)?;
        if !c.reads(&iface.id()) {
            return Err(not_found());
        }
        Ok(iface)
    }
}

/// Field names and values.
type Pairs = Vec<(String, String)>;

/// The store's filter for `key`: the whole business key as its canonical encoding, or the
/// fields given, in the key's order.
fn key_filter(iface: &Interface, key: &[(String, String)]) -> Result<(Option<String>, Pairs)> {
    for (i, (name, _)) in key.iter().enumerate() {
        if !iface.business_key.contains(name) {
            return Err(CoreError::Invalid(format!(
                "{name} is not a business-key field of {}; filter on {}",
                iface.id(),
                iface.business_key.join(", ")
            )));
        }
        if key[..i].iter().any(|(n, _)| n == name) {
            return Err(CoreError::Invalid(format!("{name} is given twice")));
        }
    }
    let ordered: Pairs = iface
        .business_key
        .iter()
        .filter_map(|k| key.iter().find(|(n, _)| n == k).cloned())
        .collect();
    if ordered.len() == iface.business_key.len() {
        let values: Vec<&String> = ordered.iter().map(|(_, v)| v).collect();
        return Ok((Some(encode_key(&values)), Vec::new()));
    }
    Ok((None, ordered))
}

/// A page's cursor: its last row's partner and business key, opaque to the caller.
fn encode_cursor(partner: &str, rkey: &str) -> String {
    let json = serde_json::json!([partner, rkey]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str) -> Result<(String, String)> {
    let bad = || CoreError::Invalid("after: not a cursor this API gave".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let (partner, rkey): (String, String) = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((partner, rkey))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::Registry;

    fn bom() -> Interface {
        Registry::load(None)
            .expect("built-ins")
            .get("t1", "bom")
            .expect("t1/bom")
            .clone()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_whole_key_is_one_lookup_and_part_of_it_a_filter_in_key_order() {
        let iface = bom();
        let whole = pairs(&[
            ("version", "1"),
            ("vendor_code", "V"),
            ("vendor_father_item", "F"),
            ("father_item", "FI"),
            ("vendor_child_item", "C"),
        ]);
        let (rkey, fields) = key_filter(&iface, &whole).expect("whole key");
        assert_eq!(rkey.as_deref(), Some(r#"["V","F","FI","C","1"]"#));
        assert!(fields.is_empty());
        let (rkey, fields) =
            key_filter(&iface, &pairs(&[("version", "1"), ("vendor_code", "V")])).expect("part");
        assert_eq!(rkey, None);
        assert_eq!(fields, pairs(&[("vendor_code", "V"), ("version", "1")]));
        let e = key_filter(&iface, &pairs(&[("vendor_name", "x")])).unwrap_err();
        assert!(e.to_string().contains("not a business-key field"), "{e}");
        let e = key_filter(&iface, &pairs(&[("version", "1"), ("version", "2")])).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = encode_cursor("P-1", r#"["a","b"]"#);
        assert_eq!(
            decode_cursor(&c).expect("ours"),
            ("P-1".to_string(), r#"["a","b"]"#.to_string())
        );
        for bad in ["x", "%%", "WzFd", "e30"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
