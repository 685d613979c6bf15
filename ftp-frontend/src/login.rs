//! FTP login through core: a wharf user's name and password. No anonymous login.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracing::field::Empty;
use tracing::Instrument;
use unftp_core::auth::{
    AuthenticationError, Authenticator, Credentials, Principal, UserDetail, UserDetailError,
    UserDetailProvider,
};
use wharf_proto::trace::{self, Context};
use wharf_proto::v1 as pb;
use wharf_proto::CoreClient;

/// A logged-in user: who they are for core, and which interfaces their partner may use.
#[derive(Debug, Clone)]
pub struct FtpUser {
    pub username: String,
    pub partner: String,
    /// `data_category/biz_key`
    pub interfaces: Vec<String>,
    /// The FTP session's trace: its login span; every upload of the session is a child of it.
    /// (libunftp 0.24 shows its own session trace id only to notification listeners, after
    /// the fact, so the session's trace is made here at login.)
    pub session: Context,
}

impl fmt::Display for FtpUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.username, self.partner)
    }
}

impl UserDetail for FtpUser {}

/// Principals core confirmed, handed from the authenticator to the user-detail provider of
/// the same login. Refreshed by every login; holds no secret.
type Confirmed = Arc<Mutex<HashMap<String, FtpUser>>>;

/// Checks passwords with core.
#[derive(Debug, Clone)]
pub struct CoreLogin {
    core: CoreClient,
    confirmed: Confirmed,
    metrics: wharf_metrics::Metrics,
}

impl CoreLogin {
    pub fn new(core: CoreClient) -> CoreLogin {
        CoreLogin {
            core,
            confirmed: Arc::default(),
            metrics: wharf_metrics::Metrics::default(),
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
        let span = tracing::info_span!(
            "ftp login",
            otel.kind = "server",
            user = %username,
            source = %creds.source_ip,
            partner = Empty,
            code = Empty,
        );
        let mut core = self.core.clone();
        let answer = core
            .authenticate(pb::AuthenticateRequest {
                username: username.to_string(),
                password: password.to_string(),
            })
            .instrument(span.clone())
            .await;
        self.metrics.login(
            wharf_metrics::Door::ftp,
            wharf_metrics::Login::of_grpc(answer.as_ref().err().map(|s| s.code() as i32)),
        );
        self.metrics
            .ftp_reply(if answer.is_ok() { 230 } else { 530 });
        match answer {
            Ok(p) => {
                let p = p.into_inner();
                span.record("code", "0");
                span.record("partner", p.partner.as_str());
                let user = FtpUser {
                    username: username.to_string(),
                    partner: p.partner,
                    interfaces: p.interfaces,
                    session: trace::of(&span),
                };
                if let Ok(mut map) = self.confirmed.lock() {
                    map.insert(username.to_string(), user);
                }
                Ok(Principal {
                    username: username.to_string(),
                })
            }
            // Too many wrong passwords: refused like a wrong one (core logs the lockout).
            Err(s)
                if s.code() == tonic::Code::Unauthenticated
                    || s.code() == tonic::Code::ResourceExhausted =>
            {
                span.record("code", "530");
                Err(AuthenticationError::BadPassword)
            }
            Err(s) => {
                span.record("code", "-1");
                if s.code() == tonic::Code::PermissionDenied {
                    tracing::error!(
                        msg = s.message(),
                        "core refused this FTP server: check WHARF_INTERNAL_TOKEN"
                    );
                } else {
                    tracing::warn!(code = ?s.code(), msg = s.message(), "core call failed");
                }
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
