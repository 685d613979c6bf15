//! Consumers: the company's own systems that read what partners send (`wharf consumer
//! add|list|revoke`). Each may read the interfaces it was given and no other; partners'
//! credentials are not consumers' and consumers' open no partner door. What they share with
//! operators (tokens, names, the audit) is `principals`.

use serde::Serialize;

use crate::audit::Origin;
use crate::error::{CoreError, Result};
use crate::service::Core;
use crate::store::principals::{Kind, PrincipalRow};

/// What a consumer may read: every interface, stored as `*`.
pub const EVERY_INTERFACE: &str = "*";

/// A consumer as reported (never its token or the token's hash). Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerInfo {
    pub name: String,
    /// The interfaces (`data_category/biz_key`) it may read; `["*"]`: every one.
    pub interfaces: Vec<String>,
    pub created_unix: i64,
    /// `None`: active.
    pub revoked_unix: Option<i64>,
    /// When its token was last used, to the minute.
    pub last_used_unix: Option<i64>,
}

impl ConsumerInfo {
    /// Whether it may read interface `id` (`data_category/biz_key`).
    pub fn reads(&self, id: &str) -> bool {
        self.interfaces
            .iter()
            .any(|i| i == EVERY_INTERFACE || i == id)
    }
}

impl From<PrincipalRow> for ConsumerInfo {
    fn from(r: PrincipalRow) -> Self {
        let reads = r.reads.unwrap_or_default();
        ConsumerInfo {
            name: r.name,
            interfaces: reads
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            created_unix: r.created_unix,
            revoked_unix: r.revoked_unix,
            last_used_unix: r.last_used_unix,
        }
    }
}

impl Core {
    /// A new consumer `name` that may read `interfaces` (`data_category/biz_key` each, or
    /// `*` alone for every one); returns its token, shown once. `Invalid` for an interface
    /// core does not know; `Conflict` when an active operator or consumer has that name.
    pub async fn add_consumer(
        &self,
        o: &Origin,
        name: &str,
        interfaces: &[String],
    ) -> Result<String> {
        let reads = self.consumer_reads(interfaces)?;
        let detail = serde_json::json!({ "interfaces": interfaces });
        self.add_principal(o, Kind::Consumer, name, Some(&reads), detail)
            .await
    }

    /// `interfaces` as stored, after checking each is known.
    fn consumer_reads(&self, interfaces: &[String]) -> Result<String> {
        if interfaces == [EVERY_INTERFACE] {
            return Ok(EVERY_INTERFACE.to_string());
        }
        if interfaces.is_empty() {
            return Err(CoreError::Invalid(
                "a consumer reads at least one interface (or * for every one)".into(),
            ));
        }
        for id in interfaces {
            let known = id
                .split_once('/')
                .is_some_and(|(cat, biz)| self.registry().get(cat, biz).is_some());
            if !known {
                let all: Vec<String> = self.registry().all().map(|i| i.id()).collect();
                return Err(CoreError::Invalid(format!(
                    "unknown interface {id:?}; core knows {}",
                    all.join(", ")
                )));
            }
        }
        Ok(interfaces.join(","))
    }

    /// Every consumer, active or revoked, by name.
    pub async fn consumers(&self) -> Result<Vec<ConsumerInfo>> {
        let rows = self.store.principals().principals(Kind::Consumer).await?;
        Ok(rows.into_iter().map(ConsumerInfo::from).collect())
    }

    /// Revoke consumer `name`: its token stops working at once.
    pub async fn revoke_consumer(&self, o: &Origin, name: &str) -> Result<()> {
        self.revoke_principal(o, Kind::Consumer, name).await
    }

    /// The active consumer holding `token`; `Unauthenticated` for anything else (a partner's
    /// token or an operator's included).
    pub async fn verify_consumer(&self, token: &str) -> Result<ConsumerInfo> {
        Ok(ConsumerInfo::from(
            self.verify_principal(Kind::Consumer, token).await?,
        ))
    }

    /// The active consumer `name` (a front-end names the consumer it verified);
    /// `Unauthenticated` when it is unknown or was revoked meanwhile.
    pub(crate) async fn active_consumer(&self, name: &str) -> Result<ConsumerInfo> {
        match self
            .store
            .principals()
            .principal(Kind::Consumer, name)
            .await?
        {
            Some(r) if r.revoked_unix.is_none() => Ok(ConsumerInfo::from(r)),
            _ => Err(CoreError::Unauthenticated),
        }
    }
}
