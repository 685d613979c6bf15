//! The login form, logging in (core starts a session; its token goes into the cookie) and
//! logging out (core ends it).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use wharf_gateway::body::{form_field, parse_form, read_body, BodyError};
use wharf_proto::v1 as pb;

use crate::core_error::Call;
use crate::pages::{self, Reply};
use crate::routes::FORM_LIMIT;
use crate::session;
use crate::Upload;

impl Upload {
    /// The login form with a fresh CSRF nonce (and its cookie), `username` kept and `error`
    /// shown.
    pub(crate) fn login_form(&self, status: StatusCode, username: &str, error: &str) -> Reply {
        let nonce = session::new_login_nonce();
        let page = pages::page(
            status,
            &pages::LoginPage {
                nav: None,
                csrf: nonce.clone(),
                username: username.to_string(),
                error: error.to_string(),
            },
        );
        pages::with_cookies(
            page,
            &[session::login_cookie(&nonce, self.cfg.secure_cookies)],
        )
    }

    pub(crate) async fn login(&self, req: Request<Incoming>) -> Reply {
        let expected = session::cookie(req.headers(), session::LOGIN_COOKIE).unwrap_or_default();
        let caller = session::caller(&req);
        let body = match read_body(req, FORM_LIMIT).await {
            Ok(b) => b,
            Err(BodyError::TimedOut) => return pages::too_slow(None),
            Err(_) => {
                return self.login_form(
                    StatusCode::BAD_REQUEST,
                    "",
                    crate::i18n::t("login.unreadable"),
                )
            }
        };
        let form = parse_form(&body);
        let field = |name: &str| form_field(&form, name);
        let username = field("username");
        if !session::same_secret(&field("csrf"), &expected) {
            return self.login_form(
                StatusCode::FORBIDDEN,
                &username,
                crate::i18n::t("login.expired"),
            );
        }
        let mut core = self.core.clone();
        let answer = core
            .start_session(pb::AuthenticateRequest {
                username: username.clone(),
                password: field("password"),
                caller,
            })
            .await;
        self.metrics.login(
            wharf_metrics::Door::upload,
            wharf_metrics::Login::of_grpc(answer.as_ref().err().map(|s| s.code() as i32)),
        );
        match answer {
            Ok(t) => {
                let t = t.into_inner();
                pages::redirect(
                    "/upload",
                    &[
                        session::session_cookie(
                            &t.access_token,
                            t.expires_in,
                            self.cfg.secure_cookies,
                        ),
                        session::clear_login_cookie(self.cfg.secure_cookies),
                    ],
                )
            }
            Err(st) => self.core_error(Call::Login(&username), &st),
        }
    }

    pub(crate) async fn logout(&self, req: Request<Incoming>) -> Reply {
        let clear = [session::clear_session_cookie(self.cfg.secure_cookies)];
        let s = match self.session(&req).await {
            Ok(s) => s,
            // No live session: nothing to end.
            Err(_) => return pages::redirect("/login", &clear),
        };
        let sent = match read_body(req, FORM_LIMIT).await {
            Ok(b) => form_field(&parse_form(&b), "csrf"),
            Err(BodyError::TimedOut) => return pages::too_slow(Some(s.nav())),
            Err(_) => String::new(),
        };
        if !s.csrf_ok(&sent) {
            return pages::csrf_refused(Some(s.nav()));
        }
        let mut core = self.core.clone();
        if let Err(st) = core
            .end_session(pb::VerifyTokenRequest {
                token: s.token.clone(),
                kind: pb::TokenKind::Session as i32,
                caller: None,
            })
            .await
        {
            return self.core_error(Call::Page(&s), &st);
        }
        pages::redirect("/login", &clear)
    }
}
