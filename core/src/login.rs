//! Logins on every door, in one place: HTTP Basic and the upload page's form (a password),
//! the OAuth2 token endpoint (a client secret, and a password for the password grant), SFTP
//! keys, and the use of a token or session. Each one:
//!
//! 1. is refused unchecked while the caller's address or the name is banned
//!    (`crate::defender`; `TooManyAttempts`, RESOURCE_EXHAUSTED with `retry-after`);
//! 2. checks the credential, an unknown name spending the time of a wrong password
//!    (`auth::check_secret`), so the clock tells nothing;
//! 3. is refused like a wrong password when the partner's allow list does not hold the
//!    caller's address;
//! 4. scores a failure against the address and the name (keys are not scored: a client offers
//!    its keys in turn, and a key cannot be guessed; a token is never scored either);
//! 5. is recorded in the audit (kind `login`): `login.succeeded`, `login.failed` (reason
//!    `bad-password` or `unknown-user`) or `login.refused` (`locked`, `address`, or
//!    `disabled`: the partner or user is disabled, `service::admit`; not scored). The use of a token or session is
//!    not a login and is recorded only when refused. An audit write that fails fails the
//!    login with a system error.

use serde_json::json;
use wharf_proto::v1 as pb;

use crate::audit::{Entry, Kind};
use crate::auth;
use crate::defender::{self, client_key, user_key, Caller};
use crate::error::{CoreError, Result};
use crate::model::TokenKind;
use crate::service::{Core, Principal};
use crate::ssh;
use crate::validate;

/// Longest name kept in a login's audit record (a guesser's names can be anything).
const SHOWN_NAME_CHARS: usize = 64;

/// A name as the audit shows it: at most 64 characters, control characters as `?`.
fn shown(name: &str) -> String {
    name.chars()
        .take(SHOWN_NAME_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Why a login did not get in, as the audit's `detail.reason` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadPassword,
    UnknownUser,
    Locked,
    Address,
    /// The partner or user is disabled (partners' and users' lifecycle).
    Disabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadPassword => "bad-password",
            Reason::UnknownUser => "unknown-user",
            Reason::Locked => "locked",
            Reason::Address => "address",
            Reason::Disabled => "disabled",
        }
    }

    /// `login.failed` for a wrong credential, `login.refused` for a policy.
    fn action(self) -> &'static str {
        match self {
            Reason::BadPassword | Reason::UnknownUser => "login.failed",
            Reason::Locked | Reason::Address | Reason::Disabled => "login.refused",
        }
    }
}

/// What a credential check found.
enum Checked {
    In(Principal),
    /// A wrong credential; `partner`: the known name's partner ("" when unknown).
    Out {
        reason: Reason,
        partner: String,
    },
}

/// One login being decided: who it is for, how it proves it, and its defender keys.
struct Attempt<'a> {
    caller: &'a Caller,
    /// `password`, `publickey`, `client-credentials`, `password-grant`, `session`.
    method: &'static str,
    /// The audit's actor (`user:NAME`, `partner:APP`).
    actor: String,
    /// The partner named by the attempt itself (the client id), "" when it names none.
    partner: String,
    /// The user name as given (shown).
    user: String,
    /// The defender keys of the names (not the address).
    names: Vec<String>,
    /// Whether a failure is scored (not for keys).
    scored: bool,
}

impl Attempt<'_> {
    async fn record(
        &self,
        core: &Core,
        action: &str,
        partner: &str,
        reason: Option<Reason>,
    ) -> Result<()> {
        let mut detail = json!({ "method": self.method });
        if let Some(r) = reason {
            detail["reason"] = json!(r.as_str());
        }
        core.audit(
            &self.caller.origin(self.actor.clone()),
            Entry::new(Kind::Login, action, partner, &self.user).detail(detail),
        )
        .await
    }

    async fn refuse(&self, core: &Core, partner: &str, reason: Reason) -> Result<()> {
        self.record(core, reason.action(), partner, Some(reason))
            .await
    }
}

impl Core {
    /// The principal of a credential that checked out, or `Disabled` when the partner or the
    /// user may not act (`service::admit`, the one rule every door passes).
    async fn admitted(&self, partner: &str, user: Option<String>) -> Result<Checked> {
        match self.principal(partner, user).await {
            Ok(p) => Ok(Checked::In(p)),
            Err(CoreError::Unauthenticated) => Ok(Checked::Out {
                reason: Reason::Disabled,
                partner: partner.to_string(),
            }),
            Err(e) => Err(e),
        }
    }
}

/// How a token use logs in, as the audit says it.
fn token_method(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Api => "token",
        TokenKind::Session => "session",
    }
}

/// The defender key of a user name, when the name could be one (else only the address is
/// scored: no user could ever have it).
fn user_keys(name: &str) -> Vec<String> {
    if validate::could_be_key(name, 64) {
        vec![user_key(name)]
    } else {
        Vec::new()
    }
}

impl Core {
    /// Decide one login (see the module's steps) with `check` for step 2.
    async fn login(
        &self,
        a: Attempt<'_>,
        check: impl std::future::Future<Output = Result<Checked>>,
    ) -> Result<Principal> {
        if let Some(secs) = self.banned(a.caller, &a.names).await? {
            a.refuse(self, &a.partner, Reason::Locked).await?;
            return Err(CoreError::TooManyAttempts {
                retry_after_secs: secs,
            });
        }
        let p = match check.await? {
            Checked::Out { reason, partner } => {
                // A disabled account's right credential is no guess: not scored.
                let late = if a.scored && reason != Reason::Disabled {
                    let points = match reason {
                        Reason::UnknownUser => defender::SCORE_UNKNOWN_USER,
                        _ => defender::SCORE_BAD_PASSWORD,
                    };
                    self.score_failure(a.caller, a.names.first().cloned(), points)
                        .await?
                } else {
                    self.banned(a.caller, &a.names).await?
                };
                // A ban that began while this check ran answers for it.
                if let Some(secs) = late {
                    a.refuse(self, &partner, Reason::Locked).await?;
                    return Err(CoreError::TooManyAttempts {
                        retry_after_secs: secs,
                    });
                }
                a.refuse(self, &partner, reason).await?;
                return Err(CoreError::Unauthenticated);
            }
            Checked::In(p) => p,
        };
        if !self.allowed_from(&p.partner, a.caller).await? {
            if a.scored {
                let late = self
                    .score_failure(
                        a.caller,
                        a.names.first().cloned(),
                        defender::SCORE_BAD_PASSWORD,
                    )
                    .await?;
                if let Some(secs) = late {
                    a.refuse(self, &p.partner, Reason::Locked).await?;
                    return Err(CoreError::TooManyAttempts {
                        retry_after_secs: secs,
                    });
                }
            }
            a.refuse(self, &p.partner, Reason::Address).await?;
            return Err(CoreError::Unauthenticated);
        }
        // A ban that began while this check ran (other replicas' failures) holds too: no
        // login gets in past a ban, however many were in flight.
        if let Some(secs) = self.banned(a.caller, &a.names).await? {
            a.refuse(self, &p.partner, Reason::Locked).await?;
            return Err(CoreError::TooManyAttempts {
                retry_after_secs: secs,
            });
        }
        a.record(self, "login.succeeded", &p.partner, None).await?;
        Ok(p)
    }

    /// A user's name and password (HTTP Basic, FTP, SFTP): see the module.
    pub async fn authenticate(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
    ) -> Result<Principal> {
        self.password_login(caller, "password", username, password)
            .await
    }

    async fn password_login(
        &self,
        caller: &Caller,
        method: &'static str,
        username: &str,
        password: &str,
    ) -> Result<Principal> {
        let a = Attempt {
            caller,
            method,
            actor: format!("user:{}", shown(username)),
            partner: String::new(),
            user: shown(username),
            names: user_keys(username),
            scored: true,
        };
        self.login(a, self.check_password(username, password)).await
    }

    async fn check_password(&self, username: &str, password: &str) -> Result<Checked> {
        let user = self.user_named(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.as_str());
        Ok(match user {
            Some(u) if auth::check_secret(password, hash).await => {
                self.admitted(&u.partner, Some(u.username)).await?
            }
            Some(u) => Checked::Out {
                reason: Reason::BadPassword,
                partner: u.partner,
            },
            None => {
                auth::check_secret(password, None).await;
                Checked::Out {
                    reason: Reason::UnknownUser,
                    partner: String::new(),
                }
            }
        })
    }

    /// A partner's client id and secret: its current secret, or the one it replaced while the
    /// rotation's grace lasts.
    async fn check_client(&self, client_id: &str, client_secret: &str) -> Result<Checked> {
        Ok(match self.partner_named(client_id).await? {
            Some(p) => {
                let current = auth::check_secret(client_secret, Some(&p.secret_hash)).await;
                let previous = match (&p.prev_secret_hash, p.prev_secret_until) {
                    (Some(hash), Some(until)) if !current && self.now() < until => {
                        auth::check_secret(client_secret, Some(hash)).await
                    }
                    _ => false,
                };
                if current || previous {
                    self.admitted(&p.name, None).await?
                } else {
                    Checked::Out {
                        reason: Reason::BadPassword,
                        partner: p.name,
                    }
                }
            }
            None => {
                auth::check_secret(client_secret, None).await;
                Checked::Out {
                    reason: Reason::UnknownUser,
                    partner: String::new(),
                }
            }
        })
    }

    /// The OAuth2 token endpoint's logic: `client_credentials`, or `password` (the user must
    /// belong to the client's partner). The client's check is a login of the partner; the
    /// password grant's user check is the user's login.
    pub async fn issue_token(
        &self,
        caller: &Caller,
        req: &pb::IssueTokenRequest,
    ) -> Result<pb::IssueTokenResponse> {
        let password_grant = match req.grant_type.as_str() {
            "client_credentials" => false,
            "password" => true,
            other => {
                return Err(CoreError::Invalid(format!(
                    "unsupported grant_type {other:?}"
                )))
            }
        };
        let client = Attempt {
            caller,
            method: "client-credentials",
            actor: format!("partner:{}", shown(&req.client_id)),
            partner: shown(&req.client_id),
            user: String::new(),
            names: if validate::could_be_key(&req.client_id, 64) {
                vec![client_key(&req.client_id)]
            } else {
                Vec::new()
            },
            scored: true,
        };
        let partner = self
            .login(
                client,
                self.check_client(&req.client_id, &req.client_secret),
            )
            .await?;
        let user = if password_grant {
            let p = self
                .password_login(caller, "password-grant", &req.username, &req.password)
                .await?;
            if p.partner != partner.partner {
                return Err(CoreError::Unauthenticated);
            }
            p.user
        } else {
            None
        };
        let ttl = self.settings().token_ttl_secs;
        self.new_token(partner.partner, user, TokenKind::Api, ttl)
            .await
    }

    /// Upload page login: the user's password (a login like every other), then a session
    /// token living `session_ttl_secs`. It opens the upload page only: VerifyToken resolves it
    /// when asked for a session, never as an API token.
    pub async fn start_session(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
    ) -> Result<pb::IssueTokenResponse> {
        let p = self
            .password_login(caller, "password", username, password)
            .await?;
        let ttl = self.settings().session_ttl_secs;
        self.new_token(p.partner, p.user, TokenKind::Session, ttl)
            .await
    }

    /// Resolve a token issued for `kind` (an API bearer token, or an upload page session);
    /// unknown, expired and other-kind tokens are the same failure. The caller's address must
    /// not be banned and must be one the partner allows; such a refusal is recorded, a use
    /// that passes is not (it is no login).
    pub async fn verify_token(
        &self,
        caller: &Caller,
        token: &str,
        kind: TokenKind,
    ) -> Result<Principal> {
        let hash = auth::token_hash(token);
        let now = self.now();
        let found = match self.store.token(&hash).await? {
            Some(t) if t.expires_unix > now && t.kind == kind.as_str() => t,
            _ => return Err(CoreError::Unauthenticated),
        };
        let p = match self
            .admitted(&found.partner, found.username.clone())
            .await?
        {
            Checked::In(p) => p,
            Checked::Out { reason, partner } => {
                let actor = match &found.username {
                    Some(u) => format!("user:{u}"),
                    None => format!("partner:{partner}"),
                };
                let detail = json!({ "method": token_method(kind), "reason": reason.as_str() });
                let e = Entry::new(Kind::Login, reason.action(), &partner, "").detail(detail);
                self.audit(&caller.origin(actor), e).await?;
                return Err(CoreError::Unauthenticated);
            }
        };
        let stale = found
            .last_used_unix
            .is_none_or(|at| now - at >= crate::store::accounts::TOUCH_EVERY_SECS);
        if stale {
            // Only a note: a failure to write it must not refuse the caller.
            if let Err(e) = self.store.accounts().touch_token(&hash, now).await {
                tracing::warn!(error = %e, "could not note a token's last use");
            }
        }
        let a = Attempt {
            caller,
            method: token_method(kind),
            actor: match &p.user {
                Some(u) => format!("user:{u}"),
                None => format!("partner:{}", p.partner),
            },
            partner: p.partner.clone(),
            user: p.user.clone().unwrap_or_default(),
            names: Vec::new(),
            scored: false,
        };
        if let Some(secs) = self.banned(caller, &[]).await? {
            a.refuse(self, &p.partner, Reason::Locked).await?;
            return Err(CoreError::TooManyAttempts {
                retry_after_secs: secs,
            });
        }
        if !self.allowed_from(&p.partner, caller).await? {
            a.refuse(self, &p.partner, Reason::Address).await?;
            return Err(CoreError::Unauthenticated);
        }
        Ok(p)
    }

    /// An SFTP key login: `public_key` (`ALGORITHM BASE64`) is one whose signature the door
    /// verified; it logs in when it is one of the user's keys. Bans and the allow list hold;
    /// a key that is not the user's is recorded but not scored.
    pub async fn authenticate_key(
        &self,
        caller: &Caller,
        username: &str,
        public_key: &str,
    ) -> Result<Principal> {
        let a = Attempt {
            caller,
            method: "publickey",
            actor: format!("user:{}", shown(username)),
            partner: String::new(),
            user: shown(username),
            names: user_keys(username),
            scored: false,
        };
        self.login(a, self.check_key(username, public_key)).await
    }

    async fn check_key(&self, username: &str, public_key: &str) -> Result<Checked> {
        let Some(user) = self.user_named(username).await? else {
            return Ok(Checked::Out {
                reason: Reason::UnknownUser,
                partner: String::new(),
            });
        };
        let known = match ssh::offered_fingerprint(public_key) {
            Some(fingerprint) => self
                .store
                .user_keys(username)
                .await?
                .iter()
                .any(|k| k.fingerprint == fingerprint),
            None => false,
        };
        if !known {
            return Ok(Checked::Out {
                reason: Reason::BadPassword,
                partner: user.partner,
            });
        }
        self.admitted(&user.partner, Some(user.username)).await
    }
}
