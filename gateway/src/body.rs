//! Reading request bodies under a limit, and HTML/OAuth2 form encoding: shared by the web doors
//! (the HTTP API's token endpoint and the upload page's forms).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::Request;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the limit (declared or actual).
    TooLarge,
    /// The connection broke or the framing was bad.
    Broken(String),
}

/// The whole body, refusing one over `limit` bytes before reading it when its length is
/// declared, and as soon as it passes the limit otherwise.
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    if declared_length(&req).is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Broken(e.to_string())),
    }
}

/// The `Content-Length` a request declares, if any.
pub fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// One `application/x-www-form-urlencoded` component (`+` is a space).
pub fn form_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// `application/x-www-form-urlencoded` pairs, in order.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

/// The value of the first field `name` of a parsed form ("" when absent).
pub fn form_field(form: &[(String, String)], name: &str) -> String {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        assert_eq!(
            parse_form(b"grant_type=password&username=a%40b&password=p+w%26x&x"),
            vec![
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), "a@b".to_string()),
                ("password".to_string(), "p w&x".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        let form = parse_form(b"a=1&b=2&a=3");
        assert_eq!(form_field(&form, "a"), "1", "the first one counts");
        assert_eq!(form_field(&form, "c"), "");
    }
}
