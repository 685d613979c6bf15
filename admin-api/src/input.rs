//! What a request brings: its query parameters and its JSON body, read strictly. Anything
//! unknown or of the wrong type is refused with a message naming the parameter or field, so
//! a typo in a script is a 400, never a silently ignored setting.

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{Map, Value};
use wharf_gateway::body::{form_decode, read_body, BodyError};

use wharf_core::audit::Origin;

use crate::reply::{self, Reply};

/// The operator a request is made by (its bearer token checked by core).
pub(crate) struct Operator {
    /// Who does it, for the audit trail.
    pub origin: Origin,
}

/// The query parameters of a request, each given at most once.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The parameters of `query` (the part after `?`); `allowed` are the names this route
    /// reads: any other is a 400, as is one given twice.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Query, Reply> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (form_decode(k), form_decode(v));
            if !allowed.contains(&k.as_str()) {
                return Err(reply::bad_request(&format!(
                    "unknown query parameter {k:?}{}",
                    expected(allowed)
                )));
            }
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(reply::bad_request(&format!(
                    "query parameter {k:?} given twice"
                )));
            }
            pairs.push((k, v));
        }
        Ok(Query(pairs))
    }

    /// The text of `name`, when given and not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `name` as `true` / `false` (absent: `false`).
    pub fn flag(&self, name: &str) -> Result<bool, Reply> {
        match self.text(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(reply::bad_request(&format!(
                "query parameter {name}={other:?}: use true or false"
            ))),
        }
    }

    /// `name` as an integer within `range` (absent: `None`).
    pub fn int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, Reply> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        match text.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(reply::bad_request(&format!(
                "query parameter {name}={text:?}: use a whole number from {} to {}",
                range.start(),
                range.end()
            ))),
        }
    }
}

fn expected(allowed: &[&str]) -> String {
    match allowed {
        [] => " (this route takes none)".to_string(),
        names => format!(" (this route takes {})", names.join(", ")),
    }
}

/// A JSON object body, its fields checked one by one.
pub struct Body {
    fields: Map<String, Value>,
}

impl Body {
    /// Read the body of `req` (at most `limit` bytes) as a JSON object whose fields are all
    /// among `allowed`.
    pub async fn read(
        req: Request<Incoming>,
        limit: usize,
        allowed: &[&str],
    ) -> Result<Body, Reply> {
        let bytes = match read_body(req, limit).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => return Err(reply::too_large(limit)),
            Err(BodyError::TimedOut) => {
                return Err(reply::timeout("the request body did not arrive in time"))
            }
            Err(BodyError::Broken(why)) => {
                return Err(reply::bad_request(&format!(
                    "the body could not be read: {why}"
                )))
            }
        };
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| reply::bad_request(&format!("the body is not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(reply::bad_request("the body must be a JSON object"));
        };
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(reply::bad_request(&format!(
                "unknown field {unknown:?}{}",
                expected(allowed).replace("this route takes", "this route's body has")
            )));
        }
        Ok(Body { fields })
    }

    /// A required text field.
    pub fn text(&self, name: &str) -> Result<String, Reply> {
        match self.fields.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(reply::bad_request(&format!(
                "field {name:?} must be a string"
            ))),
            None => Err(reply::bad_request(&format!("field {name:?} is required"))),
        }
    }

    /// An optional text field.
    pub fn opt_text(&self, name: &str) -> Result<Option<String>, Reply> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.text(name).map(Some),
        }
    }

    /// A required field that is a list of strings or `null` (`None`).
    pub fn list_or_null(&self, name: &str) -> Result<Option<Vec<String>>, Reply> {
        match self.fields.get(name) {
            None => Err(reply::bad_request(&format!(
                "field {name:?} is required (a list of strings, or null)"
            ))),
            Some(Value::Null) => Ok(None),
            Some(_) => self.list(name).map(Some),
        }
    }

    /// An optional list of strings (absent or `null`: `None`).
    pub fn opt_list(&self, name: &str) -> Result<Option<Vec<String>>, Reply> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.list(name).map(Some),
        }
    }

    /// A required list of strings.
    pub fn list(&self, name: &str) -> Result<Vec<String>, Reply> {
        let bad = || reply::bad_request(&format!("field {name:?} must be a list of strings"));
        match self.fields.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
            None => Err(reply::bad_request(&format!("field {name:?} is required"))),
        }
    }

    /// An optional whole number of at least 0.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, Reply> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                reply::bad_request(&format!(
                    "field {name:?} must be a whole number of 0 or more"
                ))
            }),
        }
    }
}

/// The query of `req`, taking only `allowed`.
pub(crate) fn query(req: &Request<Incoming>, allowed: &[&str]) -> Result<Query, Reply> {
    Query::parse(req.uri().query(), allowed)
}

/// A JSON body taking only `allowed` fields.
pub(crate) async fn body(
    req: Request<Incoming>,
    limit: usize,
    allowed: &[&str],
) -> Result<Body, Reply> {
    Body::read(req, limit, allowed).await
}
