//! A partner's user logged in through core, by password or by public key. No anonymous login.

use std::fmt;
use std::net::IpAddr;

use tracing::field::Empty;
use tracing::Instrument;
use wharf_proto::trace::{self, Context};
use wharf_proto::v1 as pb;
use wharf_proto::CoreClient;

use crate::door::Door;

/// A logged-in user: who they are for core, and which interfaces their partner may use.
#[derive(Debug, Clone)]
pub struct FileUser {
    pub username: String,
    pub partner: String,
    /// `data_category/biz_key`
    pub interfaces: Vec<String>,
    /// The session's trace: its login span; every upload of the session is a child of it.
    pub session: Context,
}

impl fmt::Display for FileUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.username, self.partner)
    }
}

/// How a user proves who they are.
#[derive(Clone, Copy)]
pub enum Proof<'a> {
    /// The user's wharf password.
    Password(&'a str),
    /// A public key the door has seen a valid signature of, in OpenSSH's `ALGORITHM BASE64`
    /// form: core says whether it is one of the user's keys.
    PublicKey(&'a str),
}

impl fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proof::Password(_) => f.write_str("Password(..)"),
            Proof::PublicKey(k) => write!(f, "PublicKey({k})"),
        }
    }
}

/// The login span of `door`, a root: every upload of the session becomes its child.
fn login_span(door: Door, username: &str, source: &str) -> tracing::Span {
    macro_rules! span {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                otel.kind = "server",
                user = %username,
                source = %source,
                method = Empty,
                partner = Empty,
                code = Empty,
            )
        };
    }
    match door {
        Door::Ftp => span!("ftp login"),
        Door::Sftp => span!("sftp login"),
    }
}

/// Log `username` in through core from `source` (the client's address). `Err` is core's
/// answer: `Unauthenticated` (wrong password or key, no such user, or an address the
/// partner does not allow), `ResourceExhausted` (the address or name is banned; its
/// `retry-after`: `wharf_proto::login::retry_after`), or core not answering; the door words it.
pub async fn login(
    core: &CoreClient,
    door: Door,
    username: &str,
    proof: Proof<'_>,
    source: IpAddr,
) -> Result<FileUser, tonic::Status> {
    let span = login_span(door, username, &source.to_string());
    let caller = Some(wharf_proto::login::caller(door.name(), source));
    let mut core = core.clone();
    let answer = match proof {
        Proof::Password(password) => {
            span.record("method", "password");
            core.authenticate(pb::AuthenticateRequest {
                username: username.to_string(),
                password: password.to_string(),
                caller,
            })
            .instrument(span.clone())
            .await
        }
        Proof::PublicKey(key) => {
            span.record("method", "publickey");
            core.authenticate_key(pb::AuthenticateKeyRequest {
                username: username.to_string(),
                public_key: key.to_string(),
                caller,
            })
            .instrument(span.clone())
            .await
        }
    };
    match answer {
        Ok(p) => {
            let p = p.into_inner();
            span.record("code", "0");
            span.record("partner", p.partner.as_str());
            Ok(FileUser {
                username: username.to_string(),
                partner: p.partner,
                interfaces: p.interfaces,
                session: trace::of(&span),
            })
        }
        Err(s) => {
            let refused = matches!(
                s.code(),
                tonic::Code::Unauthenticated | tonic::Code::ResourceExhausted
            );
            span.record("code", if refused { "530" } else { "-1" });
            if s.code() == tonic::Code::PermissionDenied {
                tracing::error!(
                    msg = s.message(),
                    "core refused this file server: check WHARF_INTERNAL_TOKEN"
                );
            } else if !refused {
                tracing::warn!(code = ?s.code(), msg = s.message(), "core call failed");
            }
            Err(s)
        }
    }
}
