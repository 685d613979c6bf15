//! What core does for the SFTP door: users' authorized keys (added, listed, removed by the
//! CLI; checked at key login) and the one host key every SFTP door presents.

use rand::RngCore;

use crate::audit::{Entry, Kind, Origin};
use crate::error::{CoreError, Result};
use crate::service::Core;
use crate::ssh;
use crate::store::UserKeyRow;

/// The name the SFTP host key is kept under.
const HOST_KEY: &str = "sftp-ed25519";

impl Core {
    /// Record a change of `username`'s keys (the fingerprint only: a public key is no secret,
    /// but the fingerprint is what operators compare).
    async fn audit_key(
        &self,
        o: &Origin,
        action: &str,
        username: &str,
        fingerprint: &str,
    ) -> Result<()> {
        let partner = self
            .user_named(username)
            .await?
            .map(|u| u.partner)
            .unwrap_or_default();
        let e = Entry::new(Kind::Admin, action, &partner, username)
            .detail(serde_json::json!({"fingerprint": fingerprint}));
        self.audit(o, e).await
    }

    async fn existing_user(&self, username: &str) -> Result<()> {
        match self.user_named(username).await? {
            Some(_) => Ok(()),
            None => Err(CoreError::NotFound(format!("user {username}"))),
        }
    }

    /// Authorize one more public key (OpenSSH's one-line form) for `username`'s SFTP logins.
    pub async fn add_user_key(&self, o: &Origin, username: &str, line: &str) -> Result<UserKeyRow> {
        self.existing_user(username).await?;
        let key = ssh::parse_authorized_key(line).map_err(CoreError::Invalid)?;
        let row = UserKeyRow {
            username: username.to_string(),
            fingerprint: key.fingerprint,
            public_key: key.public_key,
            comment: key.comment,
            added_unix: self.now(),
        };
        self.audit_key(o, "user.key-add", username, &row.fingerprint)
            .await?;
        self.store.insert_user_key(&row).await?;
        tracing::info!(user = %username, fingerprint = %row.fingerprint, "SSH key added");
        Ok(row)
    }

    /// The keys `username` may log in with.
    pub async fn user_keys(&self, username: &str) -> Result<Vec<UserKeyRow>> {
        self.existing_user(username).await?;
        self.store.user_keys(username).await
    }

    /// Remove one of `username`'s keys, named by its `SHA256:` fingerprint.
    pub async fn remove_user_key(
        &self,
        o: &Origin,
        username: &str,
        fingerprint: &str,
    ) -> Result<()> {
        self.existing_user(username).await?;
        let known = self.store.user_keys(username).await?;
        if known.iter().any(|k| k.fingerprint == fingerprint) {
            self.audit_key(o, "user.key-remove", username, fingerprint)
                .await?;
        }
        if self.store.delete_user_key(username, fingerprint).await? {
            tracing::info!(user = %username, fingerprint = %fingerprint, "SSH key removed");
            Ok(())
        } else {
            Err(CoreError::NotFound(format!(
                "key {fingerprint} of user {username} (see `wharf user key list {username}`)"
            )))
        }
    }

    /// The SFTP host key: the one given to core, else the one kept in the store, made
    /// (Ed25519) the first time it is asked for.
    pub async fn sftp_host_key(&self) -> Result<ssh::HostKey> {
        let pem = match &self.sftp_host_key {
            Some(pem) => pem.to_string(),
            None => {
                let mut seed = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut seed);
                let new = ssh::new_host_key(&seed).map_err(CoreError::Store)?;
                self.store.host_key(HOST_KEY, &new, self.now()).await?
            }
        };
        ssh::read_host_key(&pem).map_err(|e| CoreError::Store(format!("the SFTP host key: {e}")))
    }
}
