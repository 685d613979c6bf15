//! SSH keys for the SFTP door, in OpenSSH's formats: users' authorized public keys (which
//! algorithms are allowed, their SHA-256 fingerprints) and the one host key every SFTP door
//! presents. Keys are parsed by `ssh-key`, the RustCrypto crate the SFTP door's SSH server
//! (russh) uses too. Imports nothing of core.

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

/// Shortest RSA key accepted (bits).
pub const MIN_RSA_BITS: u32 = 2048;

/// An authorized public key as wharf keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// `ssh-ed25519` or `ssh-rsa`.
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `ALGORITHM BASE64`, without the comment.
    pub public_key: String,
    pub comment: String,
}

/// Read one public key in OpenSSH's one-line form (`ssh-ed25519 AAAA… comment`, as in
/// `id_ed25519.pub` or an `authorized_keys` line without options). Only Ed25519 and RSA
/// keys of at least [`MIN_RSA_BITS`] are accepted; `Err` says why not, for the operator.
pub fn parse_authorized_key(line: &str) -> Result<AuthorizedKey, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err("no public key given: pass one line like \"ssh-ed25519 AAAA… comment\"".into());
    }
    if line.len() > 16 * 1024 {
        return Err("the public key is longer than 16 KiB".into());
    }
    let key = PublicKey::from_openssh(line).map_err(|e| {
        format!("not an OpenSSH public key ({e}): pass one line like \"ssh-ed25519 AAAA… comment\" (options before the key are not read)")
    })?;
    check_algorithm(&key)?;
    let comment = key.comment().to_string();
    Ok(AuthorizedKey {
        algorithm: key.algorithm().as_str().to_string(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        public_key: without_comment(&key)?,
        comment,
    })
}

fn check_algorithm(key: &PublicKey) -> Result<(), String> {
    let data = key.key_data();
    if data.is_ed25519() {
        return Ok(());
    }
    if let Some(rsa) = data.rsa() {
        let bits = rsa.key_size();
        return if bits >= MIN_RSA_BITS {
            Ok(())
        } else {
            Err(format!(
                "an RSA key of {bits} bits is too short: at least {MIN_RSA_BITS}"
            ))
        };
    }
    Err(format!(
        "{} keys are not accepted: use an Ed25519 key (ssh-keygen -t ed25519) or RSA of at least {MIN_RSA_BITS} bits",
        key.algorithm().as_str()
    ))
}

fn without_comment(key: &PublicKey) -> Result<String, String> {
    let mut bare = key.clone();
    bare.set_comment("");
    bare.to_openssh()
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot write the key: {e}"))
}

/// The SHA-256 fingerprint of a key offered at login (`ALGORITHM BASE64`); `None` when it is
/// not a key wharf accepts.
pub fn offered_fingerprint(public_key: &str) -> Option<String> {
    let key = PublicKey::from_openssh(public_key.trim()).ok()?;
    check_algorithm(&key).ok()?;
    Some(key.fingerprint(HashAlg::Sha256).to_string())
}

/// A new Ed25519 host key from `seed` (32 random bytes), in OpenSSH's private key form.
pub fn new_host_key(seed: &[u8; 32]) -> Result<String, String> {
    let key = PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(seed));
    key.to_openssh(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| format!("cannot write the host key: {e}"))
}

/// The host key the SFTP doors present. Its `Debug` never shows the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct HostKey {
    /// OpenSSH's private key form.
    pub private_pem: String,
    /// `SHA256:…`, what partners pin.
    pub fingerprint: String,
    /// `ALGORITHM BASE64`, the line for a `known_hosts` file.
    pub public_key: String,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Read a host key, checking it can be used: an unencrypted OpenSSH private key, Ed25519 or
/// RSA.
pub fn read_host_key(pem: &str) -> Result<HostKey, String> {
    let key = PrivateKey::from_openssh(pem.trim()).map_err(|e| {
        format!("not an OpenSSH private key ({e}): write one with ssh-keygen -t ed25519 -N ''")
    })?;
    if key.is_encrypted() {
        return Err("the host key is encrypted: give it without a passphrase".into());
    }
    check_algorithm(key.public_key())?;
    Ok(HostKey {
        private_pem: pem.to_string(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        public_key: without_comment(key.public_key())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -t ed25519 -C test@wharf`'s public half (a throw-away key).
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/n9DhKsyytlbNTawi7FuF5G6FMLlyzqsasm4xjJo3G test@wharf";

    const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC5xwu2TyYxtL7dSfK/PgVLeiINYZkatKSiSaFZZRxfG4RuKof10kipzhnl7GlGzybPlhsL3NUbxRgc++6T557B7yAaFOP5TErr4o0ol4XhoHFON/US1kpCJK5ANP/pFXpnveFWvjiY5ablQog2eSMx41RFOMd5weBF+JcvSL7W1Q==";

    #[test]
    fn ed25519_keys_are_read_with_their_fingerprint() {
        let k = parse_authorized_key(ED25519).expect("an Ed25519 key");
        assert_eq!(k.algorithm, "ssh-ed25519");
        assert_eq!(k.comment, "test@wharf");
        // As `ssh-keygen -lf` prints it.
        assert_eq!(
            k.fingerprint,
            "SHA256:zpRI8cXXo3bo/vLZmpl6pIlpOLRVzTy0LPA/GwPUdr8"
        );
        assert!(!k.public_key.contains("test@wharf"));
        assert_eq!(offered_fingerprint(&k.public_key), Some(k.fingerprint));
    }

    #[test]
    fn other_text_is_refused_with_a_reason() {
        for (line, why) in [
            ("", "no public key"),
            ("ssh-ed25519 !!!", "not an OpenSSH public key"),
            ("hello", "not an OpenSSH public key"),
            (RSA_1024, "too short"),
            (
                "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
                "not an OpenSSH public key",
            ),
        ] {
            let err = parse_authorized_key(line).unwrap_err();
            assert!(err.contains(why), "{line:?}: {err}");
        }
    }

    #[test]
    fn a_host_key_is_made_and_read_back() {
        let pem = new_host_key(&[7; 32]).expect("made");
        assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let a = read_host_key(&pem).expect("read");
        assert!(a.public_key.starts_with("ssh-ed25519 "), "{}", a.public_key);
        assert!(!format!("{a:?}").contains("PRIVATE"));
        let again = read_host_key(&new_host_key(&[7; 32]).unwrap()).unwrap();
        assert_eq!(a.fingerprint, again.fingerprint);
        let other = read_host_key(&new_host_key(&[8; 32]).unwrap()).unwrap();
        assert_ne!(a.fingerprint, other.fingerprint);
        assert!(read_host_key("nope").is_err());
    }
}
