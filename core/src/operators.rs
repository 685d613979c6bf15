//! Operators: the principals of the admin HTTP API, apart from partners and their users. An
//! operator is a name and one random token (256 bits, shown once when it is made, stored as
//! its SHA-256 like partners' bearer tokens). Made and revoked with the CLI (`wharf operator
//! add|list|revoke`); every change is audited (kind admin, never the token).

use serde::Serialize;

use crate::audit::{Entry, Kind, Origin};
use crate::auth;
use crate::error::{CoreError, Result};
use crate::service::Core;
use crate::store::operators::OperatorRow;

/// Longest operator name.
const MAX_NAME_CHARS: usize = 64;

/// An operator as reported (never its token or the token's hash). Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorInfo {
    pub name: String,
    pub created_unix: i64,
    /// `None`: active.
    pub revoked_unix: Option<i64>,
    /// When its token was last used, to the minute.
    pub last_used_unix: Option<i64>,
}

impl From<OperatorRow> for OperatorInfo {
    fn from(r: OperatorRow) -> Self {
        OperatorInfo {
            name: r.name,
            created_unix: r.created_unix,
            revoked_unix: r.revoked_unix,
            last_used_unix: r.last_used_unix,
        }
    }
}

fn check_operator_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "operator {name:?}: use 1-64 letters, digits, '_', '-', '.' or '@'"
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
    /// A new operator `name`; returns its token, which is not kept anywhere: the caller shows
    /// it once. `Conflict` when an active operator has that name (a revoked one's name may be
    /// given again).
    pub async fn add_operator(&self, o: &Origin, name: &str) -> Result<String> {
        check_operator_name(name)?;
        let ops = self.store.operators();
        let before = ops.operator(name).await?;
        if before.as_ref().is_some_and(|r| r.revoked_unix.is_none()) {
            return Err(CoreError::Conflict(format!("operator {name}")));
        }
        // Recorded first: a failing audit write stops the change.
        let detail = serde_json::json!({
            "operator": name,
            "before": before.map(|r| serde_json::json!({ "revoked_unix": r.revoked_unix })),
        });
        self.audit(
            o,
            Entry::new(Kind::Admin, "operator.add", "", "").detail(detail),
        )
        .await?;
        let (token, hash) = auth::new_token();
        if !ops.insert_operator(name, &hash, self.now()).await? {
            // Made by somebody else between the check and here.
            return Err(CoreError::Conflict(format!("operator {name}")));
        }
        tracing::info!(operator = %name, actor = %o.actor, "operator added");
        Ok(token)
    }

    /// Every operator, active or revoked, by name.
    pub async fn operators(&self) -> Result<Vec<OperatorInfo>> {
        Ok(self
            .store
            .operators()
            .operators()
            .await?
            .into_iter()
            .map(OperatorInfo::from)
            .collect())
    }

    /// Revoke operator `name`: its token stops working at once. `NotFound` when there is no
    /// active operator of that name.
    pub async fn revoke_operator(&self, o: &Origin, name: &str) -> Result<()> {
        let ops = self.store.operators();
        let known = if name.len() <= MAX_NAME_CHARS {
            ops.operator(name).await?
        } else {
            None
        };
        match known {
            Some(r) if r.revoked_unix.is_none() => {}
            _ => return Err(CoreError::NotFound(format!("operator {name}"))),
        }
        let detail = serde_json::json!({
            "operator": name,
            "before": { "revoked": false },
            "after": { "revoked": true },
        });
        self.audit(
            o,
            Entry::new(Kind::Admin, "operator.revoke", "", "").detail(detail),
        )
        .await?;
        if !ops.revoke_operator(name, self.now()).await? {
            return Err(CoreError::NotFound(format!("operator {name}")));
        }
        tracing::info!(operator = %name, actor = %o.actor, "operator revoked");
        Ok(())
    }

    /// The active operator holding `token`; `Unauthenticated` for anything else (unknown,
    /// revoked, malformed — one answer). Its use is noted, at most once a minute.
    pub async fn verify_operator(&self, token: &str) -> Result<OperatorInfo> {
        if !could_be_token(token) {
            return Err(CoreError::Unauthenticated);
        }
        let ops = self.store.operators();
        let row = ops
            .operator_by_token(&auth::token_hash(token))
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if let Err(e) = ops.touch_operator(&row.name, self.now()).await {
            // Bookkeeping only: the request goes on.
            tracing::warn!(error = %e, "could not note an operator token's use");
        }
        Ok(OperatorInfo::from(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tokens_are_checked() {
        assert!(check_operator_name("terraform").is_ok());
        assert!(check_operator_name("ops@acme.example").is_ok());
        assert!(check_operator_name("").is_err());
        assert!(check_operator_name("a b").is_err());
        assert!(check_operator_name(&"a".repeat(65)).is_err());
        let (token, _) = auth::new_token();
        assert!(could_be_token(&token));
        assert!(!could_be_token(&token.to_uppercase()));
        assert!(!could_be_token("client-secret-1"));
    }
}
