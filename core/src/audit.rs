//! The audit trail's API (Kind, Origin, Entry, `Core::audit`), as the audit-trail foundation
//! defines it. Until that lands on this branch, `Core::audit` only logs: the foundation's
//! version replaces this file whole.

use serde::Serialize;

use crate::error::Result;
use crate::service::Core;

/// What kind of event a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Admin,
    Login,
    Batch,
    File,
    Push,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Admin => "admin",
            Kind::Login => "login",
            Kind::Batch => "batch",
            Kind::File => "file",
            Kind::Push => "push",
        }
    }
}

/// Who acts and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub actor: String,
    pub door: String,
    pub addr: String,
}

impl Origin {
    pub fn cli(user: &str) -> Origin {
        Origin {
            actor: format!("cli:{user}"),
            door: "cli".into(),
            addr: String::new(),
        }
    }

    pub fn core() -> Origin {
        Origin {
            actor: "core".into(),
            door: "core".into(),
            addr: String::new(),
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub action: String,
    pub partner: String,
    pub user: String,
    pub detail: serde_json::Value,
}

impl Entry {
    pub fn new(kind: Kind, action: &str, partner: &str, user: &str) -> Entry {
        Entry {
            kind,
            action: action.to_string(),
            partner: partner.to_string(),
            user: user.to_string(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Entry {
        self.detail = detail;
        self
    }
}

impl Core {
    /// Record `e` as done by `o` now.
    pub async fn audit(&self, o: &Origin, e: Entry) -> Result<()> {
        tracing::info!(
            kind = e.kind.as_str(),
            action = %e.action,
            actor = %o.actor,
            door = %o.door,
            addr = %o.addr,
            partner = %e.partner,
            user = %e.user,
            detail = %e.detail,
            "audit"
        );
        Ok(())
    }
}
