//! Sessions without server state: the session cookie holds a token core issued (core keeps
//! its hash and its expiry), and every form's CSRF token is derived from it, so any replica
//! can check both. Before login, a random cookie and the login form carry the same value
//! (double submit). A request's cookie becomes a [`Session`] by asking core.

use hyper::header::COOKIE;
use std::net::SocketAddr;

use hyper::{HeaderMap, Request};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tonic::Status;
use wharf_proto::v1 as pb;

use crate::core_error::Call;
use crate::pages::{self, Nav, Reply};
use crate::Upload;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "wharf_session";
/// The login form's CSRF cookie.
pub(crate) const LOGIN_COOKIE: &str = "wharf_login";
/// How long a login form stays usable.
const LOGIN_FORM_SECS: u64 = 3600;

/// A cookie's value from the request, if sent.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The session cookie for a token core issued, living as long as the token.
pub(crate) fn session_cookie(token: &str, max_age: u64, secure: bool) -> String {
    set_cookie(SESSION_COOKIE, token, "/", max_age, secure)
}

/// A cookie that removes the session cookie.
pub(crate) fn clear_session_cookie(secure: bool) -> String {
    set_cookie(SESSION_COOKIE, "", "/", 0, secure)
}

/// The switcher's cookie: the chosen language, for a year, sent on every page (`Lax`, so a
/// link from elsewhere still opens in it).
pub(crate) fn lang_cookie(lang: crate::i18n::Lang, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}",
        crate::i18n::LANG_COOKIE,
        lang.tag()
    )
}

/// A fresh random value for the login form and its cookie.
pub(crate) fn new_login_nonce() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

pub(crate) fn login_cookie(nonce: &str, secure: bool) -> String {
    set_cookie(LOGIN_COOKIE, nonce, "/login", LOGIN_FORM_SECS, secure)
}

/// A cookie that removes the login form's cookie (after a login).
pub(crate) fn clear_login_cookie(secure: bool) -> String {
    set_cookie(LOGIN_COOKIE, "", "/login", 0, secure)
}

/// The CSRF token of a session: a one-way function of the session token, so a page can show
/// it without revealing the token, and a forged form (which cannot read the cookie) cannot
/// know it.
pub(crate) fn csrf_token(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"wharf upload csrf v1\0");
    h.update(session_token.as_bytes());
    hex(&h.finalize()[..20])
}

/// Compare secrets without leaking where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && !a.is_empty() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signed-in user, as core knows the session.
pub(crate) struct Session {
    pub(crate) token: String,
    pub(crate) partner: String,
    pub(crate) user: String,
    pub(crate) interfaces: Vec<String>,
}

impl Session {
    pub(crate) fn nav(&self) -> Nav {
        Nav {
            user: self.user.clone(),
            partner: self.partner.clone(),
            csrf: csrf_token(&self.token),
        }
    }

    pub(crate) fn csrf_ok(&self, sent: &str) -> bool {
        same_secret(sent, &csrf_token(&self.token))
    }
}

/// The client's address, as the accept loop saw it (a request extension set by `handle`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// What core is told about the client of `req` at a credential check.
pub(crate) fn caller<B>(req: &Request<B>) -> Option<pb::Caller> {
    req.extensions()
        .get::<Peer>()
        .map(|p| wharf_proto::login::caller(wharf_proto::login::UPLOAD, p.0.ip()))
}

impl Upload {
    /// The session behind the request's cookie, or the response to send instead (the login
    /// page when there is none or it has expired, a refusal when the client's address may
    /// not use it).
    pub(crate) async fn session<B>(&self, req: &Request<B>) -> Result<Session, Reply> {
        let Some(token) = cookie(req.headers(), SESSION_COOKIE) else {
            return Err(pages::redirect("/login", &[]));
        };
        let mut core = self.core.clone();
        let principal = core
            .verify_token(pb::VerifyTokenRequest {
                token: token.clone(),
                // A login of this page; an API token opens nothing here.
                kind: pb::TokenKind::Session as i32,
                caller: caller(req),
            })
            .await
            .map(tonic::Response::into_inner)
            .and_then(|p| {
                // A client-credentials token names no user: it is not a session.
                if p.user.is_empty() {
                    Err(Status::unauthenticated("not a session"))
                } else {
                    Ok(p)
                }
            });
        match principal {
            Ok(p) => Ok(Session {
                token,
                partner: p.partner,
                user: p.user,
                interfaces: p.interfaces,
            }),
            Err(st) => Err(self.core_error(Call::Session, &st)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; wharf_session=tok; b=2"),
        );
        h.append(COOKIE, HeaderValue::from_static("wharf_login=n"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, LOGIN_COOKIE).as_deref(), Some("n"));
        assert_eq!(cookie(&h, "missing"), None);
        h.insert(COOKIE, HeaderValue::from_static("wharf_session="));
        assert_eq!(
            cookie(&h, SESSION_COOKIE),
            None,
            "an empty cookie is no cookie"
        );
    }

    #[test]
    fn session_cookies_are_http_only_and_strict() {
        let c = session_cookie("t", 60, false);
        assert_eq!(
            c,
            "wharf_session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert!(session_cookie("t", 60, true).ends_with("; Secure"));
        assert!(clear_session_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_depend_on_the_session_and_compare_exactly() {
        let a = csrf_token("session-a");
        assert_eq!(a, csrf_token("session-a"));
        assert_ne!(a, csrf_token("session-b"));
        assert!(!a.contains("session"));
        assert!(same_secret(&a, &csrf_token("session-a")));
        assert!(!same_secret(&a, &csrf_token("session-b")));
        assert!(!same_secret("", ""), "an empty token never matches");
        assert!(!same_secret(&a, &a[..10]));
        assert_ne!(new_login_nonce(), new_login_nonce());
    }
}
