//! What operators and consumers share: wharf's own principals, apart from partners and their
//! users. A principal is a name and one random token (256 bits, shown once when it is made,
//! stored as its SHA-256 like partners' bearer tokens), made and revoked with the CLI; every
//! change is audited (kind admin, never the token). Names are unique across kinds.

use crate::audit::{Entry, Kind as AuditKind, Origin};
use crate::auth;
use crate::error::{CoreError, Result};
use crate::service::Core;
use crate::store::principals::{Kind, PrincipalRow};

/// Longest principal name.
pub(crate) const MAX_NAME_CHARS: usize = 64;

pub(crate) fn check_name(kind: Kind, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "{} {name:?}: use 1-64 letters, digits, '_', '-', '.' or '@'",
            kind.as_str()
        )))
    }
}

/// Whether `token` could be one of ours (64 lower-case hex digits): anything else is refused
/// without a store round trip.
fn could_be_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Core {
    /// A new principal of `kind` named `name` (a consumer with the interfaces it `reads`);
    /// returns its token, which is not kept anywhere: the caller shows it once. `Conflict`
    /// when an active principal of any kind has that name (a revoked one's name may be given
    /// again). `detail` goes to the audit record beside the name.
    pub(crate) async fn add_principal(
        &self,
        o: &Origin,
        kind: Kind,
        name: &str,
        reads: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<String> {
        check_name(kind, name)?;
        let store = self.store.principals();
        let taken = || CoreError::Conflict(format!("the name {name} is taken"));
        if store.name_active(name).await? {
            return Err(taken());
        }
        // Recorded first: a failing audit write stops the change.
        let mut d = serde_json::json!({ kind.as_str(): name });
        if let (Some(d), serde_json::Value::Object(extra)) = (d.as_object_mut(), detail) {
            d.extend(extra);
        }
        let action = format!("{}.add", kind.as_str());
        self.audit(o, Entry::new(AuditKind::Admin, &action, "", "").detail(d))
            .await?;
        let (token, hash) = auth::new_token();
        if !store
            .insert_principal(kind, name, reads, &hash, self.now())
            .await?
        {
            // Made by somebody else between the check and here.
            return Err(taken());
        }
        tracing::info!(kind = kind.as_str(), name = %name, actor = %o.actor, "principal added");
        Ok(token)
    }

    /// Revoke the `kind` principal `name`: its token stops working at once. `NotFound` when
    /// there is no active one of that name.
    pub(crate) async fn revoke_principal(&self, o: &Origin, kind: Kind, name: &str) -> Result<()> {
        let store = self.store.principals();
        let known = if name.len() <= MAX_NAME_CHARS {
            store.principal(kind, name).await?
        } else {
            None
        };
        let missing = || CoreError::NotFound(format!("{} {name}", kind.as_str()));
        match known {
            Some(r) if r.revoked_unix.is_none() => {}
            _ => return Err(missing()),
        }
        let detail = serde_json::json!({
            kind.as_str(): name,
            "before": { "revoked": false },
            "after": { "revoked": true },
        });
        let action = format!("{}.revoke", kind.as_str());
        self.audit(
            o,
            Entry::new(AuditKind::Admin, &action, "", "").detail(detail),
        )
        .await?;
        if !store.revoke_principal(kind, name, self.now()).await? {
            return Err(missing());
        }
        tracing::info!(kind = kind.as_str(), name = %name, actor = %o.actor, "principal revoked");
        Ok(())
    }

    /// The active `kind` principal holding `token`; `Unauthenticated` for anything else
    /// (unknown, revoked, another kind's, malformed — one answer). Its use is noted, at most
    /// once a minute.
    pub(crate) async fn verify_principal(&self, kind: Kind, token: &str) -> Result<PrincipalRow> {
        if !could_be_token(token) {
            return Err(CoreError::Unauthenticated);
        }
        let store = self.store.principals();
        let row = store
            .principal_by_token(kind, &auth::token_hash(token))
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if let Err(e) = store.touch_principal(&row.name, self.now()).await {
            // Bookkeeping only: the request goes on.
            tracing::warn!(error = %e, "could not note a token's use");
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tokens_are_checked() {
        assert!(check_name(Kind::Operator, "terraform").is_ok());
        assert!(check_name(Kind::Consumer, "ops@acme.example").is_ok());
        assert!(check_name(Kind::Operator, "").is_err());
        assert!(check_name(Kind::Consumer, "a b").is_err());
        assert!(check_name(Kind::Operator, &"a".repeat(65)).is_err());
        let (token, _) = auth::new_token();
        assert!(could_be_token(&token));
        assert!(!could_be_token(&token.to_uppercase()));
        assert!(!could_be_token("client-secret-1"));
    }
}
