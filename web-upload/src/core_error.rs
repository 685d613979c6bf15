//! A failed call to core becomes a page here, and only here: [`Upload::core_error`] decides
//! every status and text the door shows for a `tonic::Status`.

use hyper::StatusCode;
use tonic::{Code, Status};

use crate::i18n;
use crate::pages::{self, Reply};
use crate::session::{self, Session};
use crate::Upload;

/// What the failed call was made for: the same failure reads differently on each.
pub(crate) enum Call<'a> {
    /// Checking a request's session cookie.
    Session,
    /// Logging in with the login form, as this user name.
    Login(&'a str),
    /// A signed-in user's page or form.
    Page(&'a Session),
}

/// "Try again at HH:MM:SS UTC (in N seconds)." for a ban core timed.
fn try_again(st: &Status) -> String {
    match wharf_proto::login::retry_after(st) {
        Some(secs) => {
            let at = wharf_proto::time::rfc3339(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64)
                    .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
            );
            i18n::tf(
                "login.banned_until",
                &[
                    ("at", &at.replace('T', " ").replace('Z', " UTC")),
                    ("secs", &secs),
                ],
            )
        }
        None => i18n::t("login.banned").into(),
    }
}

fn retry_after_header(page: &mut Reply, st: &Status) {
    if let Some(secs) = wharf_proto::login::retry_after(st) {
        page.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(secs),
        );
    }
}

impl Upload {
    /// The page for core's failure `st` to answer a call made for `call`.
    pub(crate) fn core_error(&self, call: Call<'_>, st: &Status) -> Reply {
        match (call, st.code()) {
            // The session has expired or was ended: log in again.
            (Call::Session, Code::Unauthenticated) => pages::redirect(
                "/login",
                &[session::clear_session_cookie(self.cfg.secure_cookies)],
            ),
            (Call::Login(username), Code::Unauthenticated) => {
                self.login_form(StatusCode::UNAUTHORIZED, username, i18n::t("login.wrong"))
            }
            // Banned after too many failed logins: say when to try again.
            (Call::Login(username), Code::ResourceExhausted) => {
                let mut page =
                    self.login_form(StatusCode::TOO_MANY_REQUESTS, username, &try_again(st));
                retry_after_header(&mut page, st);
                page
            }
            // A session used from a banned address: the login page says when to come back.
            (Call::Session, Code::ResourceExhausted) => {
                let mut page = self.login_form(StatusCode::TOO_MANY_REQUESTS, "", &try_again(st));
                retry_after_header(&mut page, st);
                page
            }
            (Call::Page(s), Code::NotFound) => pages::not_found(Some(s.nav())),
            // The batch is not in a state that allows the action (a second revert, ...).
            (Call::Page(s), Code::FailedPrecondition) => pages::message(
                StatusCode::CONFLICT,
                Some(s.nav()),
                i18n::t("message.not_possible"),
                st.message(),
            ),
            (call, code) => {
                if wharf_proto::tls::operator_fault(st) {
                    tracing::error!(
                        msg = st.message(),
                        "core call failed: check TLS towards core"
                    );
                } else {
                    tracing::warn!(code = ?code, msg = st.message(), "core call failed");
                }
                let nav = match call {
                    Call::Page(s) => Some(s.nav()),
                    Call::Session | Call::Login(_) => None,
                };
                pages::message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    nav,
                    i18n::t("message.unavailable"),
                    i18n::t("message.unavailable_text"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UploadConfig;

    #[tokio::test]
    async fn each_failure_gets_its_page() {
        // Never called: the pages are built from the failure alone.
        let client = wharf_proto::connect("http://127.0.0.1:9", "t").expect("a lazy client");
        let up = Upload::new(client, UploadConfig::default());
        let s = Session {
            token: "t".into(),
            partner: "p".into(),
            user: "u".into(),
            interfaces: Vec::new(),
        };
        let down = Status::unavailable("down");
        for (call, st, want) in [
            (Call::Session, Status::unauthenticated("x"), 303),
            (Call::Session, down.clone(), 503),
            (Call::Login("u"), Status::unauthenticated("x"), 401),
            (Call::Login("u"), Status::resource_exhausted("x"), 429),
            (Call::Login("u"), down.clone(), 503),
            (Call::Page(&s), Status::not_found("x"), 404),
            (Call::Page(&s), Status::failed_precondition("x"), 409),
            (Call::Page(&s), Status::unauthenticated("x"), 503),
            (Call::Page(&s), down, 503),
        ] {
            let code = st.code();
            assert_eq!(up.core_error(call, &st).status().as_u16(), want, "{code:?}");
        }
    }
}
