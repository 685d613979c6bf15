//! The audit trail: who did what, when and from where. Core writes it in its store, so every
//! replica writes one trail; the application only appends and reads (housekeeping prunes what
//! is older than the retention). A record never holds a secret: details say what changed
//! (before → after), never a password, client secret, token or hash.
//!
//! Writing is never best-effort: `Core::audit` returns the
//! store's error, and the action it records must then fail. Batch events are written inside
//! the transaction that makes them happen (`Tx::audit`), so they exist exactly when it commits.

use serde::Serialize;

use crate::store::audit::{AuditQuery, AuditRow};

/// What kind of event a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An administrative change (CLI, admin API).
    Admin,
    /// A login on any door, succeeded or not.
    Login,
    /// A batch event: received, rejected, applied, held, executed, reverted, cancelled,
    /// failed, expired.
    Batch,
    /// A file delivered through a file door.
    File,
    /// An outbound push: queued, delivered, failed.
    Push,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Admin,
        Kind::Login,
        Kind::Batch,
        Kind::File,
        Kind::Push,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Admin => "admin",
            Kind::Login => "login",
            Kind::Batch => "batch",
            Kind::File => "file",
            Kind::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who acts and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// `cli:$USER`, `operator:NAME`, `user:NAME`, `partner:APP` or `core`.
    pub actor: String,
    /// `cli`, `admin-api`, `http`, `ftp`, `sftp`, `upload` or `core`.
    pub door: String,
    /// The client's IP address; `""` when there is none (the CLI, core's own work).
    pub addr: String,
}

impl Origin {
    /// An operator at the command line (`$USER`).
    pub fn cli(user: &str) -> Origin {
        Origin {
            actor: format!("cli:{user}"),
            door: "cli".into(),
            addr: String::new(),
        }
    }

    /// Core itself: the scheduler, housekeeping, the dispatcher.
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
    /// A dotted verb: `partner.disable`, `login.failed`, `batch.applied`, …
    pub action: String,
    /// The partner concerned; `""` when none.
    pub partner: String,
    /// The user concerned; `""` when none.
    pub user: String,
    /// What happened: before → after, a reason, a code. Never a secret.
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

    /// The stored row of this entry, done by `o` at `now_unix`.
    pub fn row(&self, o: &Origin, now_unix: i64) -> AuditRow {
        AuditRow {
            at_unix: now_unix,
            kind: self.kind.as_str().to_string(),
            action: self.action.clone(),
            actor: o.actor.clone(),
            door: o.door.clone(),
            addr: o.addr.clone(),
            partner: self.partner.clone(),
            user: self.user.clone(),
            detail: self.detail.to_string(),
        }
    }
}

/// Most records one read returns.
pub const MAX_PAGE: u32 = 1000;

/// What to read; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub partner: Option<String>,
    pub user: Option<String>,
    pub kind: Option<Kind>,
    /// From this time on (unix seconds, inclusive).
    pub since: Option<i64>,
    /// Up to this time (unix seconds, inclusive).
    pub until: Option<i64>,
    /// The paging cursor: records after this id.
    pub after: Option<i64>,
    /// At most this many (1..=[`MAX_PAGE`]; 0 means [`MAX_PAGE`]).
    pub limit: u32,
}

impl Filter {
    pub(crate) fn query(&self) -> AuditQuery {
        let limit = match self.limit {
            0 => MAX_PAGE,
            n => n.min(MAX_PAGE),
        };
        AuditQuery {
            after_id: self.after.unwrap_or(0),
            since_unix: self.since.unwrap_or(i64::MIN),
            until_unix: self.until.unwrap_or(i64::MAX),
            partner: self.partner.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            kind: self.kind.map(Kind::as_str).unwrap_or_default().to_string(),
            limit: i64::from(limit),
        }
    }
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub id: i64,
    pub at_unix: i64,
    pub kind: String,
    pub action: String,
    pub actor: String,
    pub door: String,
    pub addr: String,
    pub partner: String,
    pub user: String,
    pub detail: serde_json::Value,
}

impl Record {
    pub(crate) fn from_row(id: i64, r: AuditRow) -> Record {
        let detail = serde_json::from_str(&r.detail)
            .unwrap_or_else(|_| serde_json::Value::String(r.detail.clone()));
        Record {
            id,
            at_unix: r.at_unix,
            kind: r.kind,
            action: r.action,
            actor: r.actor,
            door: r.door,
            addr: r.addr,
            partner: r.partner,
            user: r.user,
            detail,
        }
    }
}

/// A time as an operator writes it in a filter, in unix seconds: RFC 3339
/// (`2026-12-01T08:00:00Z`, `…+08:00`), a UTC date (`2026-12-01`, its midnight), or an age
/// back from `now` (`90s`, `30m`, `24h`, `7d`). `None`: none of those.
pub fn parse_when(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if let Some(t) = crate::timestamp::parse_iso8601(text) {
        return Some(t);
    }
    if text.len() == 10 {
        return crate::timestamp::parse_iso8601(&format!("{text}T00:00:00Z"));
    }
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n: i64 = text
        .get(..text.len() - 1)?
        .parse()
        .ok()
        .filter(|n| *n >= 0)?;
    Some(now.saturating_sub(n.saturating_mul(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_filters() {
        let now = 1_800_000_000;
        assert_eq!(parse_when("2026-12-01T08:00:00Z", now), Some(1_796_112_000));
        assert_eq!(
            parse_when("2026-12-01T16:00:00+08:00", now),
            Some(1_796_112_000)
        );
        assert_eq!(parse_when("2026-12-01", now), Some(1_796_083_200));
        assert_eq!(parse_when("24h", now), Some(now - 86_400));
        assert_eq!(parse_when("7d", now), Some(now - 7 * 86_400));
        assert_eq!(parse_when("30m", now), Some(now - 1800));
        for bad in ["", "yesterday", "-5m", "2026-13-01", "5y", "h"] {
            assert_eq!(parse_when(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn filters_become_queries() {
        let q = Filter::default().query();
        assert_eq!((q.after_id, q.limit), (0, i64::from(MAX_PAGE)));
        assert_eq!((q.since_unix, q.until_unix), (i64::MIN, i64::MAX));
        let q = Filter {
            kind: Some(Kind::Login),
            limit: 5000,
            ..Filter::default()
        }
        .query();
        assert_eq!((q.kind.as_str(), q.limit), ("login", i64::from(MAX_PAGE)));
    }
}
