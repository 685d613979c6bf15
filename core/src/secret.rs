//! Outbound credentials at rest (SPEC §7.1): sealed with ChaCha20-Poly1305 under
//! `WHARF_SECRET_KEY` (32 random bytes, base64). They are encrypted, not hashed, because they
//! must be sent. The associated data binds a sealed value to its endpoint, so a value copied
//! onto another partner's row does not open.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{CoreError, Result};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Prefix of a sealed value: the format, for a later key rotation.
const VERSION: &str = "v1.";

/// The key that seals outbound credentials. Its bytes are never printed.
pub struct SecretKey(LessSafeKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// Read `WHARF_SECRET_KEY`'s value: base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<SecretKey> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| CoreError::Invalid("WHARF_SECRET_KEY is not base64".into()))?;
        if bytes.len() != 32 {
            return Err(CoreError::Invalid(format!(
                "WHARF_SECRET_KEY must be 32 bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`); it is {}",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| CoreError::Invalid("WHARF_SECRET_KEY: unusable key".into()))?;
        Ok(SecretKey(LessSafeKey::new(key)))
    }

    /// Seal `plain` for the record named by `context`.
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CoreError::Store("no randomness for a nonce".into()))?;
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CoreError::Store("sealing a secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{VERSION}{}", B64.encode(out)))
    }

    /// Open what [`seal`](Self::seal) made for `context`; an error when the key or the
    /// context differ, or the value was changed.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>> {
        let wrong = || {
            CoreError::Invalid(
                "a stored secret does not open with WHARF_SECRET_KEY (another key?)".into(),
            )
        };
        let raw = sealed
            .strip_prefix(VERSION)
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(wrong)?;
        if raw.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_base64(&B64.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let k = key(7);
        let sealed = k.seal(b"hunter2", "p/prod/t1/bom").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(k.open(&sealed, "p/prod/t1/bom").unwrap(), b"hunter2");
        assert!(k.open(&sealed, "q/prod/t1/bom").is_err(), "another record");
        assert!(
            key(8).open(&sealed, "p/prod/t1/bom").is_err(),
            "another key"
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(k.open(&tampered, "p/prod/t1/bom").is_err());
        assert_ne!(
            sealed,
            k.seal(b"hunter2", "p/prod/t1/bom").unwrap(),
            "fresh nonce"
        );
    }

    #[test]
    fn the_key_must_be_32_bytes_of_base64() {
        assert!(SecretKey::from_base64("not base64!").is_err());
        assert!(SecretKey::from_base64(&B64.encode([1u8; 16])).is_err());
        assert!(SecretKey::from_base64(&B64.encode([1u8; 32])).is_ok());
    }
}
