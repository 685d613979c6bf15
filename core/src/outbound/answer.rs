//! What a partner's answer means for a sequence (SPEC §7.1). Pure.

/// The fate of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `0` or `E00A00`: the partner has the sequence.
    Delivered,
    /// `-1`, HTTP 5xx / 408 / 429, timeouts, connection errors: send it again later, same
    /// batch_id and seq_id (the partner's dedupe makes that safe).
    Retry,
    /// Any other code (E00V00, E00W00, E00M00, E00P00, …) or another 4xx: resending the same
    /// data cannot help.
    Failed,
}

/// An answer read: the verdict and what the partner said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub verdict: Verdict,
    pub code: String,
    pub msg: String,
}

/// The partner's `code` and `msg`, when the body is the seed's `{code, msg, result}`.
fn code_and_msg(body: &[u8]) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = match doc.get("code")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let msg = match doc.get("msg") {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    Some((code, msg))
}

/// HTTP statuses worth another try whatever the body says (the partner, or a proxy in
/// front of it, is busy or broken).
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 500..=599 | 408 | 429)
}

/// Classify an HTTP answer (a 401 is the caller's business first: it refetches a token once).
pub fn classify(status: u16, body: &[u8]) -> Classified {
    let said = code_and_msg(body);
    let (code, msg) = said.clone().unwrap_or_default();
    let verdict = match status {
        _ if retryable_status(status) => Verdict::Retry,
        200..=299 => match said.as_ref().map(|(c, _)| c.as_str()) {
            Some("0") | Some("E00A00") => Verdict::Delivered,
            Some("-1") => Verdict::Retry,
            _ => Verdict::Failed,
        },
        _ if code == "-1" => Verdict::Retry,
        _ => Verdict::Failed,
    };
    let msg = if said.is_none() && verdict != Verdict::Delivered {
        format!("HTTP {status}, an answer without the seed's code")
    } else {
        msg
    };
    Classified { verdict, code, msg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn answers_are_classified_as_the_spec_says() {
        let v = |status, body: &str| classify(status, body.as_bytes()).verdict;
        assert_eq!(v(200, r#"{"code":"0","msg":"request success"}"#), Delivered);
        assert_eq!(v(200, r#"{"code":"E00A00"}"#), Delivered);
        assert_eq!(v(200, r#"{"code":0}"#), Delivered);
        assert_eq!(v(200, r#"{"code":"-1","msg":"system error"}"#), Retry);
        assert_eq!(v(503, r#"{"code":"-1"}"#), Retry);
        assert_eq!(v(500, "<html>oops</html>"), Retry);
        assert_eq!(v(502, ""), Retry);
        assert_eq!(v(429, ""), Retry);
        assert_eq!(v(408, ""), Retry);
        assert_eq!(v(200, r#"{"code":"E00V00","result":[]}"#), Failed);
        assert_eq!(v(400, r#"{"code":"E00V00"}"#), Failed);
        assert_eq!(v(200, r#"{"code":"E00W00"}"#), Failed);
        assert_eq!(v(200, r#"{"code":"E00M00"}"#), Failed);
        assert_eq!(v(200, r#"{"code":"E00P00"}"#), Failed);
        assert_eq!(v(404, "not found"), Failed);
        assert_eq!(v(401, ""), Failed);
        assert_eq!(v(200, "not json"), Failed);
        assert_eq!(v(302, ""), Failed);
    }

    #[test]
    fn the_partners_words_are_kept() {
        let c = classify(
            200,
            br#"{"code":"E00V00","msg":"data verification failed!"}"#,
        );
        assert_eq!(
            (c.code.as_str(), c.msg.as_str()),
            ("E00V00", "data verification failed!")
        );
        let c = classify(500, b"<html>");
        assert_eq!(c.code, "");
        assert!(c.msg.contains("HTTP 500"), "{}", c.msg);
    }
}
