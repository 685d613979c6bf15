//! The defender: failed logins scored per source address and per name, in the store, so every
//! replica sees one score (SFTPGo's defender is the model). And partners' allow lists: the
//! networks a partner's credentials may be used from.
//!
//! A wrong password scores [`SCORE_BAD_PASSWORD`], an unknown name [`SCORE_UNKNOWN_USER`]
//! (probing for names costs more than guessing passwords), a right credential from an address
//! the partner does not allow [`SCORE_BAD_PASSWORD`] (else a guesser there could tell the
//! right password by never being banned). Each failure scores the address (`address:IP`) as
//! above and the name (`user:NAME`, `client:APP`) one point whatever the failure: a name that
//! does not exist must not be banned sooner than one that does, or the ban would tell a
//! guesser who changes address on every try which names exist. From one address the higher
//! score of unknown names still shows (as in SFTPGo). Scores count within a window of
//! `observation_secs` from its first failure; at `threshold` the key is banned for
//! `ban_secs`, and each repeat offence bans it `ban_increment_percent` longer (at most
//! [`DefenderPolicy::MAX_BAN_SECS`]). A success resets nothing: the failures may be somebody
//! else's. A banned key's logins are refused unchecked until the ban ends or an operator lifts
//! it ([`Core::unlock`]).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use wharf_proto::v1 as pb;

use crate::audit::{Entry, Kind, Origin};
use crate::error::{CoreError, Result};
use crate::model::DefenderPolicy;
use crate::service::Core;
use crate::store::defender::ScoreRow;

/// An unknown user name or client id.
pub const SCORE_UNKNOWN_USER: i64 = 2;
/// A wrong password or secret, or a right one from an address not allowed.
pub const SCORE_BAD_PASSWORD: i64 = 1;

/// Most networks one partner's allow list holds.
pub const MAX_NETWORKS: usize = 100;

/// Where a credential is presented: the door and the client's address (see `pb::Caller`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub door: String,
    /// `None`: the door had no address to tell (never a network client's case).
    pub addr: Option<IpAddr>,
}

impl Caller {
    /// The caller a door sent. A credential check without a door is refused: every door
    /// must say who asks.
    pub fn from_proto(c: Option<&pb::Caller>) -> Result<Caller> {
        let Some(c) = c.filter(|c| !c.door.is_empty()) else {
            return Err(CoreError::Invalid(
                "caller: the door and the client's address are required".into(),
            ));
        };
        if c.door.len() > 32 || !c.door.chars().all(|ch| ch.is_ascii_graphic()) {
            return Err(CoreError::Invalid("caller.door: a short name".into()));
        }
        let addr = match c.address.as_str() {
            "" => None,
            a => Some(
                a.parse::<IpAddr>()
                    .map_err(|_| CoreError::Invalid(format!("caller.address {a:?}: not an IP")))?
                    .to_canonical(),
            ),
        };
        Ok(Caller {
            door: c.door.clone(),
            addr,
        })
    }

    /// A caller at `door` from `addr` (tests, in-process doors).
    pub fn new(door: &str, addr: Option<IpAddr>) -> Caller {
        Caller {
            door: door.to_string(),
            addr,
        }
    }

    /// The audit's origin of this caller acting as `actor`.
    pub fn origin(&self, actor: String) -> Origin {
        Origin {
            actor,
            door: self.door.clone(),
            addr: self.addr.map(|a| a.to_string()).unwrap_or_default(),
        }
    }

    /// The address's key in the defender's scores.
    pub(crate) fn address_key(&self) -> Option<String> {
        self.addr.map(|a| format!("address:{a}"))
    }
}

/// The defender's key of a user name.
pub(crate) fn user_key(name: &str) -> String {
    format!("user:{name}")
}

/// The defender's key of an OAuth2 client id (a partner).
pub(crate) fn client_key(id: &str) -> String {
    format!("client:{id}")
}

/// A ban as `wharf user bans` and the admin API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BanInfo {
    /// `address:IP`, `user:NAME` or `client:APP`.
    pub what: String,
    /// Failures scored in the current window.
    pub score: i64,
    /// When the ban ends (RFC 3339, UTC).
    pub banned_until: String,
    /// Bans this key had, this one included.
    pub offences: i64,
}

/// How long the ban after `offences` earlier ones lasts.
pub fn ban_secs(p: &DefenderPolicy, offences: i64) -> i64 {
    let mut secs = p.ban_secs.max(1);
    for _ in 0..offences.clamp(0, 64) {
        secs = secs.saturating_add(secs.saturating_mul(p.ban_increment_percent.max(0)) / 100);
        if secs >= DefenderPolicy::MAX_BAN_SECS {
            break;
        }
    }
    secs.min(DefenderPolicy::MAX_BAN_SECS)
}

/// The row after a failure scoring `points` at `now` (pure: the store runs it under a lock).
pub fn next(p: &DefenderPolicy, mut row: ScoreRow, points: i64, now: i64) -> ScoreRow {
    row.updated_unix = now;
    if row.banned_until > now {
        // A check that was in flight when the ban began: the ban stands as it is.
        return row;
    }
    if row.score == 0 || row.since_unix.saturating_add(p.observation_secs) <= now {
        row.score = points;
        row.since_unix = now;
    } else {
        row.score = row.score.saturating_add(points);
    }
    if row.score >= p.threshold {
        row.banned_until = now.saturating_add(ban_secs(p, row.offences));
        row.offences += 1;
        row.score = 0;
    }
    row
}

/// `text` as a network: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or one address (`/32`,
/// `/128`), written with its host bits cleared.
pub fn parse_network(text: &str) -> Result<IpNet> {
    let t = text.trim();
    let net = match t.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => t.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
            CoreError::Invalid(format!(
                "{t:?} is not a network: write a CIDR (10.0.0.0/8, 2001:db8::/32) or an address"
            ))
        })?,
    };
    Ok(net.trunc())
}

impl Core {
    /// The networks `partner`'s credentials may be used from; empty: any.
    pub async fn partner_addresses(&self, partner: &str) -> Result<Vec<String>> {
        self.existing_partner(partner).await?;
        self.store.defender().networks(partner).await
    }

    /// Replace `partner`'s allow list with `cidrs` (empty: any address). Recorded in the audit
    /// before it is changed.
    pub async fn set_partner_addresses(
        &self,
        o: &Origin,
        partner: &str,
        cidrs: Vec<String>,
    ) -> Result<()> {
        self.existing_partner(partner).await?;
        if cidrs.len() > MAX_NETWORKS {
            return Err(CoreError::Invalid(format!(
                "at most {MAX_NETWORKS} networks per partner"
            )));
        }
        let mut after = Vec::new();
        for c in &cidrs {
            let net = parse_network(c)?.to_string();
            if !after.contains(&net) {
                after.push(net);
            }
        }
        after.sort();
        let before = self.store.defender().networks(partner).await?;
        self.audit(
            o,
            Entry::new(Kind::Admin, "partner.set-addresses", partner, "")
                .detail(serde_json::json!({ "before": before, "after": after })),
        )
        .await?;
        self.store.defender().set_networks(partner, &after).await
    }

    /// Whether `partner`'s allow list lets `caller` in.
    pub(crate) async fn allowed_from(&self, partner: &str, caller: &Caller) -> Result<bool> {
        let nets = self.store.defender().networks(partner).await?;
        if nets.is_empty() {
            return Ok(true);
        }
        let Some(addr) = caller.addr else {
            return Ok(false);
        };
        Ok(nets
            .iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .any(|n| n.contains(&addr)))
    }

    /// Seconds until the latest ban among the caller's address and `names` ends; `None` when
    /// none of them is banned.
    pub(crate) async fn banned(&self, caller: &Caller, names: &[String]) -> Result<Option<u64>> {
        let mut keys: Vec<String> = names.to_vec();
        keys.extend(caller.address_key());
        let now = self.now();
        Ok(self
            .store
            .defender()
            .banned_until(&keys, now)
            .await?
            .map(|until| u64::try_from(until - now).unwrap_or(1).max(1)))
    }

    /// Score one failure of `points` against the caller's address and `name` (a key of
    /// [`user_key`] or [`client_key`]; `None` when the name could never be one). `Some`
    /// (seconds left) when one of them was banned already before this failure: the check ran
    /// while the ban began, and its answer must be the ban's, so that no more than the
    /// threshold's failures are ever answered as wrong credentials.
    pub(crate) async fn score_failure(
        &self,
        caller: &Caller,
        name: Option<String>,
        points: i64,
    ) -> Result<Option<u64>> {
        let policy = self.settings().defender;
        let now = self.now();
        let mut banned_before: Option<i64> = None;
        // The name's own score counts every failure alike: were an unknown name to score more
        // there, its ban would come sooner and tell a guesser (changing address each try)
        // which names exist. The address takes the higher score of unknown names.
        let keys = caller
            .address_key()
            .map(|k| (k, points))
            .into_iter()
            .chain(name.map(|k| (k, SCORE_BAD_PASSWORD)));
        for (key, points) in keys {
            let before = std::sync::Mutex::new(0i64);
            let step = |row: ScoreRow| {
                if let Ok(mut b) = before.lock() {
                    *b = row.banned_until;
                }
                next(&policy, row, points, now)
            };
            let row = self.store.defender().score(&key, &step).await?;
            let was = before.lock().map(|b| *b).unwrap_or(0);
            if was > now {
                banned_before = banned_before.max(Some(was));
            } else if row.banned_until > now {
                tracing::warn!(what = %row.what, until = row.banned_until, offences = row.offences, "login ban");
            }
        }
        Ok(banned_before.map(|until| u64::try_from(until - now).unwrap_or(1).max(1)))
    }

    /// Lift the bans (and forget the scores) of a user name and/or an address; how many keys
    /// were cleared. Recorded in the audit first.
    pub async fn unlock(&self, o: &Origin, user: Option<&str>, addr: Option<&str>) -> Result<u64> {
        let mut keys = Vec::new();
        if let Some(u) = user {
            keys.push(user_key(u));
            keys.push(client_key(u));
        }
        let addr = match addr {
            Some(a) => Some(
                a.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| CoreError::Invalid(format!("{a:?} is not an IP address")))?
                    .to_canonical(),
            ),
            None => None,
        };
        if let Some(a) = addr {
            keys.push(format!("address:{a}"));
        }
        if keys.is_empty() {
            return Err(CoreError::Invalid(
                "name a user or an address to unlock".into(),
            ));
        }
        self.audit(
            o,
            Entry::new(Kind::Admin, "user.unlock", "", user.unwrap_or("")).detail(
                serde_json::json!({ "address": addr.map(|a| a.to_string()).unwrap_or_default() }),
            ),
        )
        .await?;
        self.store.defender().clear(&keys).await
    }

    /// The bans running now, longest first.
    pub async fn bans(&self) -> Result<Vec<BanInfo>> {
        Ok(self
            .store
            .defender()
            .bans(self.now())
            .await?
            .into_iter()
            .map(|r| BanInfo {
                what: r.what,
                score: r.score,
                banned_until: wharf_proto::time::rfc3339(r.banned_until),
                offences: r.offences,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DefenderPolicy {
        DefenderPolicy {
            threshold: 5,
            observation_secs: 60,
            ban_secs: 100,
            ban_increment_percent: 50,
        }
    }

    fn fresh() -> ScoreRow {
        ScoreRow {
            what: "address:127.0.0.2".into(),
            ..ScoreRow::default()
        }
    }

    #[test]
    fn unknown_names_reach_the_threshold_sooner() {
        let p = policy();
        let mut wrong = fresh();
        for _ in 0..4 {
            wrong = next(&p, wrong, SCORE_BAD_PASSWORD, 1000);
        }
        assert_eq!((wrong.score, wrong.banned_until), (4, 0));
        let mut unknown = fresh();
        for _ in 0..3 {
            unknown = next(&p, unknown, SCORE_UNKNOWN_USER, 1000);
        }
        assert_eq!(unknown.banned_until, 1100, "6 points ≥ 5: banned");
        assert_eq!((unknown.offences, unknown.score), (1, 0));
    }

    #[test]
    fn a_window_closes_and_scores_start_again() {
        let p = policy();
        let mut r = fresh();
        for _ in 0..4 {
            r = next(&p, r, 1, 1000);
        }
        r = next(&p, r, 1, 1060);
        assert_eq!((r.score, r.since_unix, r.banned_until), (1, 1060, 0));
    }

    #[test]
    fn bans_grow_on_repeat_offences_and_are_capped() {
        let p = policy();
        assert_eq!(ban_secs(&p, 0), 100);
        assert_eq!(ban_secs(&p, 1), 150);
        assert_eq!(ban_secs(&p, 2), 225);
        assert_eq!(ban_secs(&p, 1000), DefenderPolicy::MAX_BAN_SECS);
        let mut r = fresh();
        r = next(&p, r, 5, 1000);
        assert_eq!(r.banned_until, 1100);
        // In flight during the ban: nothing moves.
        assert_eq!(next(&p, r.clone(), 5, 1050).banned_until, 1100);
        r = next(&p, r, 5, 1100);
        assert_eq!((r.banned_until, r.offences), (1250, 2));
    }

    #[test]
    fn networks_parse_and_are_written_canonically() {
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(parse_network(" ::1 ").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_network("2001:db8::1/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("example.com").is_err());
    }

    #[test]
    fn callers_need_a_door_and_a_real_address() {
        let c = |door: &str, address: &str| {
            Caller::from_proto(Some(&pb::Caller {
                door: door.into(),
                address: address.into(),
            }))
        };
        assert!(Caller::from_proto(None).is_err());
        assert!(c("", "127.0.0.1").is_err());
        assert!(c("http", "not-an-ip").is_err());
        let mapped = c("ftp", "::ffff:127.0.0.2").unwrap();
        assert_eq!(mapped.address_key().as_deref(), Some("address:127.0.0.2"));
    }
}
