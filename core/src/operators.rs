//! Operators: the principals of the admin HTTP API (`wharf operator add|list|revoke`). What
//! they share with consumers (tokens, names, the audit) is `principals`.

use serde::Serialize;

use crate::audit::Origin;
use crate::error::Result;
use crate::service::Core;
use crate::store::principals::{Kind, PrincipalRow};

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

impl From<PrincipalRow> for OperatorInfo {
    fn from(r: PrincipalRow) -> Self {
        OperatorInfo {
            name: r.name,
            created_unix: r.created_unix,
            revoked_unix: r.revoked_unix,
            last_used_unix: r.last_used_unix,
        }
    }
}

impl Core {
    /// A new operator `name`; returns its token, shown once. `Conflict` when an active
    /// operator or consumer has that name.
    pub async fn add_operator(&self, o: &Origin, name: &str) -> Result<String> {
        self.add_principal(o, Kind::Operator, name, None, serde_json::json!({}))
            .await
    }

    /// Every operator, active or revoked, by name.
    pub async fn operators(&self) -> Result<Vec<OperatorInfo>> {
        let rows = self.store.principals().principals(Kind::Operator).await?;
        Ok(rows.into_iter().map(OperatorInfo::from).collect())
    }

    /// Revoke operator `name`: its token stops working at once.
    pub async fn revoke_operator(&self, o: &Origin, name: &str) -> Result<()> {
        self.revoke_principal(o, Kind::Operator, name).await
    }

    /// The active operator holding `token`; `Unauthenticated` for anything else.
    pub async fn verify_operator(&self, token: &str) -> Result<OperatorInfo> {
        Ok(OperatorInfo::from(
            self.verify_principal(Kind::Operator, token).await?,
        ))
    }
}
