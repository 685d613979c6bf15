//! FTP login through core: a wharf user's name and password. No anonymous login.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use unftp_core::auth::{
    AuthenticationError, Authenticator, Credentials, Principal, UserDetail, UserDetailError,
    UserDetailProvider,
};
use wharf_files::user::Proof;
use wharf_files::{Door, FileUser};
use wharf_proto::CoreClient;

/// A logged-in user, as libunftp holds it: the file doors' user.
#[derive(Debug, Clone)]
pub struct FtpUser(pub FileUser);

impl fmt::Display for FtpUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl UserDetail for FtpUser {}

/// Principals core confirmed, handed from the authenticator to the user-detail provider of
/// the same login. Refreshed by every login; holds no secret.
type Confirmed = Arc<Mutex<HashMap<String, FtpUser>>>;

/// Why core refused a login for a reason other than the credentials: the gate tells the
/// partner instead of libunftp's one `530 Authentication failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Core could not be asked (down, unreachable): try again later.
    Unavailable,
    /// Too many failed logins for this name or address: refused for `retry_after` seconds
    /// (when core said).
    Locked { retry_after: Option<u64> },
}

/// The last login refusal of one connection, from its authenticator to its gate.
pub type RefusalSlot = Arc<Mutex<Option<Refusal>>>;

/// Checks passwords with core.
#[derive(Debug, Clone)]
pub struct CoreLogin {
    core: CoreClient,
    confirmed: Confirmed,
    metrics: wharf_metrics::Metrics,
    /// The partner's address: libunftp sees the gate's loopback connection, not the client.
    peer: Option<IpAddr>,
    refusal: RefusalSlot,
}

impl CoreLogin {
    pub fn new(core: CoreClient) -> CoreLogin {
        CoreLogin {
            core,
            confirmed: Arc::default(),
            metrics: wharf_metrics::Metrics::default(),
            peer: None,
            refusal: RefusalSlot::default(),
        }
    }

    /// This login for one connection from `peer`, telling `refusal` why a login was refused
    /// when it was not for the credentials.
    pub fn for_connection(&self, peer: IpAddr, refusal: RefusalSlot) -> CoreLogin {
        CoreLogin {
            peer: Some(peer),
            refusal,
            ..self.clone()
        }
    }

    fn refused(&self, why: Refusal) {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some(why);
        }
    }

    /// The same login counting into `metrics` (the process's registry).
    pub fn with_metrics(self, metrics: wharf_metrics::Metrics) -> CoreLogin {
        CoreLogin { metrics, ..self }
    }

    /// The user-detail side of this login.
    pub fn users(&self) -> ConfirmedUsers {
        ConfirmedUsers {
            confirmed: self.confirmed.clone(),
        }
    }
}

#[async_trait]
impl Authenticator for CoreLogin {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let Some(password) = creds.password.as_deref().filter(|p| !p.is_empty()) else {
            return Err(AuthenticationError::BadPassword);
        };
        let answer = wharf_files::user::login(
            &self.core,
            Door::Ftp,
            username,
            Proof::Password(password),
            self.peer.unwrap_or(creds.source_ip),
        )
        .await;
        self.metrics.login(
            wharf_metrics::Door::ftp,
            wharf_metrics::Login::of_grpc(answer.as_ref().err().map(|s| s.code() as i32)),
        );
        match answer {
            Ok(user) => {
                self.metrics.ftp_reply(230);
                if let Ok(mut map) = self.confirmed.lock() {
                    map.insert(username.to_string(), FtpUser(user));
                }
                Ok(Principal {
                    username: username.to_string(),
                })
            }
            Err(s) if s.code() == tonic::Code::Unauthenticated => {
                self.metrics.ftp_reply(530);
                Err(AuthenticationError::BadPassword)
            }
            // A locked name or a banned address, and core out of reach: libunftp answers
            // 530 whatever the error, and the gate replaces that answer with the reason (the
            // gate counts the reply it sends).
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                self.refused(Refusal::Locked {
                    retry_after: wharf_proto::login::retry_after(&s),
                });
                Err(AuthenticationError::BadPassword)
            }
            Err(s) => {
                self.refused(Refusal::Unavailable);
                Err(AuthenticationError::new(format!(
                    "core unavailable: {}",
                    s.message()
                )))
            }
        }
    }
}

/// Hands libunftp the user core confirmed at login.
#[derive(Debug, Clone)]
pub struct ConfirmedUsers {
    confirmed: Confirmed,
}

#[async_trait]
impl UserDetailProvider for ConfirmedUsers {
    type User = FtpUser;

    async fn provide_user_detail(&self, principal: &Principal) -> Result<FtpUser, UserDetailError> {
        self.confirmed
            .lock()
            .ok()
            .and_then(|m| m.get(&principal.username).cloned())
            .ok_or_else(|| UserDetailError::UserNotFound {
                username: principal.username.clone(),
            })
    }
}
