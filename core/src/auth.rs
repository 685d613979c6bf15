//! Credentials: argon2 hashes for partner secrets and user passwords; random access tokens
//! stored only as their SHA-256.

use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

/// An argon2id PHC string for `secret`.
pub fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Invalid(format!("cannot hash secret: {e}")))
}

/// Most argon2 memory one check may use (64 MiB): a stored hash asking for more never
/// matches, so a bad row cannot make a login allocate without bound. wharf's own hashes use
/// argon2's default, 19 MiB.
const MAX_BLOCKS: usize = 64 * 1024;

/// argon2 working memory, kept for the next check: at most [`PARALLEL_CHECKS`] buffers.
/// Allocating 19 MiB afresh for every check made the process grow with every HTTP Basic
/// request (the allocator keeps freed blocks in the arena of whichever blocking-pool thread
/// ran the check), so checks borrow a buffer and give it back.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Whether `secret` matches the stored PHC string. A malformed hash never matches.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h))
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let mut memory = MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        secret.as_bytes(),
        salt,
        out,
        &mut memory[..blocks],
    );
    let mut kept = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() < PARALLEL_CHECKS {
        kept.push(memory);
    }
    hashed.is_ok() && constant_time_eq(out, expected.as_bytes())
}

/// Spend the same time as a real check when there is nothing to check against, so a caller
/// cannot tell an unknown name from a wrong password by the clock.
pub fn verify_nothing(secret: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_secret("wharf-dummy").unwrap_or_default());
    let _ = verify_secret(secret, phc);
}

/// Checks running at once: argon2 costs tens of milliseconds of CPU, so a flood of logins
/// waits here instead of taking every core from ingest.
const PARALLEL_CHECKS: usize = 2;
static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PARALLEL_CHECKS);

/// [`verify_secret`] on the blocking pool, at most two at a time. `phc = None` spends the
/// same time and fails (an unknown name must not answer faster than a wrong password).
pub async fn check_secret(secret: &str, phc: Option<&str>) -> bool {
    let Ok(permit) = CHECKS.acquire().await else {
        return false;
    };
    let secret = secret.to_string();
    let phc = phc.map(str::to_string);
    // The permit goes with the check: a caller that gives up (a dropped connection) does not
    // free its slot while argon2 still runs on the blocking pool.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match phc {
            Some(phc) => verify_secret(&secret, &phc),
            None => {
                verify_nothing(&secret);
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// A new random token (256 bits, hex) and the hash under which it is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex(&bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// A token's public id: 12 hex characters, random (not derived from the token), what lists
/// show and revocations name.
pub fn new_token_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The stored form of a token: tokens carry 256 random bits, so a fast hash is enough.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hex of `bytes` (token hashes, sequence fingerprints).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_secret() {
        let h = hash_secret("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret("s3cret", &h));
        assert!(!verify_secret("s3cret ", &h));
        assert!(!verify_secret("s3cret", "not-a-hash"));
        assert!(!verify_secret("", &h));
        // The argon2 crate's own verifier agrees with the pooled one.
        use argon2::PasswordVerifier;
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert_ne!(hash_secret("s3cret").unwrap(), h, "salted");
    }

    #[test]
    fn hashes_asking_for_too_much_memory_never_match() {
        // A real hash of the right secret, one segment (4 blocks with one lane) more than a
        // check may use: refused unchecked. The same secret at the limit matches, so the size
        // alone refused it.
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let with_blocks = |blocks: usize| {
            let params = Params::new(blocks as u32, 1, 1, None).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"s3cret", &salt)
                .unwrap()
                .to_string()
        };
        assert!(!verify_secret("s3cret", &with_blocks(MAX_BLOCKS + 4)));
        assert!(verify_secret("s3cret", &with_blocks(MAX_BLOCKS)));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (t1, h1) = new_token();
        let (t2, _) = new_token();
        assert_eq!(t1.len(), 64);
        assert_ne!(t1, t2);
        assert_eq!(token_hash(&t1), h1);
        assert_ne!(t1, h1);
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
