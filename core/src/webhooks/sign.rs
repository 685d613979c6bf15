//! Standard Webhooks signing (<https://www.standardwebhooks.com/>), pure: a secret is
//! `whsec_` and base64 of random bytes; a signature is `v1,` and base64 of
//! HMAC-SHA256(secret bytes, `{webhook-id}.{webhook-timestamp}.{body}`). During a rotation
//! both secrets sign and the header carries both signatures, space-separated.

use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{CoreError, Result};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// What every secret starts with.
pub const PREFIX: &str = "whsec_";
/// Random bytes in a new secret.
const SECRET_BYTES: usize = 32;

/// A new secret, `whsec_…`.
pub fn new_secret() -> Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CoreError::Store("no randomness for a webhook secret".into()))?;
    Ok(format!("{PREFIX}{}", B64.encode(bytes)))
}

/// One `v1,…` signature of `body` sent as message `id` at `timestamp` (unix seconds).
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let bytes = B64
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .map_err(|_| CoreError::Invalid("a webhook secret is not whsec_ and base64".into()))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Ok(format!("v1,{}", B64.encode(ctx.sign().as_ref())))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let sigs = secrets
        .iter()
        .map(|s| signature(s, id, timestamp, body))
        .collect::<Result<Vec<_>>>()?;
    Ok(sigs.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_test_vector() {
        // From the Standard Webhooks reference libraries' tests.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_fresh_and_two_secrets_give_two_signatures() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        assert_eq!(B64.decode(&a[PREFIX.len()..]).unwrap().len(), SECRET_BYTES);
        let h = header(&[a.clone(), b.clone()], "msg_1", 5, b"{}").unwrap();
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature(&a, "msg_1", 5, b"{}").unwrap());
        assert_eq!(parts[1], signature(&b, "msg_1", 5, b"{}").unwrap());
        assert!(signature("whsec_!!", "m", 1, b"").is_err());
    }
}
