//! Partners, users, tokens, interfaces and bans: the routes over core's lifecycle and
//! defender operations (the same methods `wharf partner|user|token|interface …` call).

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::json;
use wharf_core::accounts::TokenSelector;
use wharf_core::Core;

use crate::input::{body, query, Operator};
use crate::reply::{self, ask, done, items, Reply};
use crate::routes::Route;

type Answer = Result<Reply, Reply>;

/// The grace period of a rotated secret when the request names none: 24 h.
const DEFAULT_GRACE_SECS: u64 = 24 * 3600;

pub(crate) async fn dispatch(
    core: &Core,
    limit: usize,
    req: Request<Incoming>,
    route: Route,
    op: &Operator,
) -> Answer {
    let method = req.method().clone();
    let o = &op.origin;
    match (route, method) {
        (Route::Interfaces, Method::GET) => {
            query(&req, &[])?;
            Ok(items(&core.interface_definitions()))
        }
        (Route::Interface(id), Method::GET) => {
            query(&req, &[])?;
            Ok(reply::ok_of(&ask(core.interface_definition(&id))?))
        }
        (Route::Partners, Method::GET) => {
            query(&req, &[])?;
            Ok(items(&ask(core.partners().await)?))
        }
        (Route::Partners, Method::POST) => {
            query(&req, &[])?;
            let b = body(req, limit, &["name", "secret", "interfaces"]).await?;
            let name = b.text("name")?;
            let secret = b.text("secret")?;
            let interfaces = b.opt_list("interfaces")?;
            ask(core.add_partner(o, &name, &secret, interfaces).await)?;
            Ok(reply::ok_of(&ask(core.partner_info(&name).await)?))
        }
        (Route::Partner(p), Method::GET) => {
            query(&req, &[])?;
            Ok(reply::ok_of(&ask(core.partner_info(&p).await)?))
        }
        (Route::Partner(p), Method::DELETE) => {
            let q = query(&req, &["with_data"])?;
            let with_data = q.flag("with_data")?;
            ask(core.remove_partner(o, &p, with_data).await)?;
            Ok(done(json!({ "removed": p, "with_data": with_data })))
        }
        (Route::PartnerPart(p, what), method) => {
            partner_part(core, limit, req, o, p, &what, method).await
        }
        (Route::Users, Method::GET) => {
            let q = query(&req, &["partner"])?;
            Ok(items(&ask(core.users(q.text("partner")).await)?))
        }
        (Route::Users, Method::POST) => {
            query(&req, &[])?;
            let b = body(req, limit, &["username", "partner", "password"]).await?;
            let username = b.text("username")?;
            let partner = b.text("partner")?;
            let password = b.text("password")?;
            ask(core.add_user(o, &username, &partner, &password).await)?;
            Ok(reply::ok_of(&ask(core.user_info(&username).await)?))
        }
        (Route::User(u), Method::GET) => {
            query(&req, &[])?;
            Ok(reply::ok_of(&ask(core.user_info(&u).await)?))
        }
        (Route::User(u), Method::DELETE) => {
            query(&req, &[])?;
            ask(core.remove_user(o, &u).await)?;
            Ok(done(json!({ "removed": u })))
        }
        (Route::UserPart(u, what), method) => {
            user_part(core, limit, req, o, u, &what, method).await
        }
        (Route::Tokens, Method::GET) => {
            let q = query(&req, &["partner", "user"])?;
            Ok(items(&ask(core
                .tokens(q.text("partner"), q.text("user"))
                .await)?))
        }
        (Route::Tokens, Method::DELETE) => {
            let q = query(&req, &["partner", "user"])?;
            let which = match (q.text("partner"), q.text("user")) {
                (Some(p), None) => TokenSelector::Partner(p.to_string()),
                (None, Some(u)) => TokenSelector::User(u.to_string()),
                _ => {
                    return Err(reply::bad_request(
                        "revoke every token of one owner: give exactly one of the query \
                         parameters partner or user (one token: DELETE /admin/v1/tokens/{id})",
                    ))
                }
            };
            let n = ask(core.revoke_tokens(o, &which).await)?;
            Ok(done(json!({ "revoked": n })))
        }
        (Route::Token(id), Method::DELETE) => {
            query(&req, &[])?;
            let n = ask(core.revoke_tokens(o, &TokenSelector::Id(id.clone())).await)?;
            if n == 0 {
                return Err(reply::not_found(&format!("not found: token {id}")));
            }
            Ok(done(json!({ "revoked": n })))
        }
        (Route::Bans, Method::GET) => {
            query(&req, &[])?;
            Ok(items(&ask(core.bans().await)?))
        }
        (Route::Bans, Method::DELETE) => {
            let q = query(&req, &["user", "address"])?;
            let (user, addr) = (q.text("user"), q.text("address"));
            if user.is_none() && addr.is_none() {
                return Err(reply::bad_request(
                    "say whose ban to lift: the query parameter user, address, or both",
                ));
            }
            let n = ask(core.unlock(o, user, addr).await)?;
            Ok(done(json!({ "lifted": n })))
        }
        (route, _) => Ok(reply::method_not_allowed(allowed(&route))),
    }
}

/// The methods a route takes, for 405's `Allow`.
fn allowed(route: &Route) -> &'static str {
    match route {
        Route::Partners | Route::Users => "GET, POST",
        Route::Partner(_) | Route::User(_) | Route::Tokens | Route::Bans => "GET, DELETE",
        Route::Token(_) => "DELETE",
        _ => "GET",
    }
}

async fn partner_part(
    core: &Core,
    limit: usize,
    req: Request<Incoming>,
    o: &wharf_core::audit::Origin,
    p: String,
    what: &str,
    method: Method,
) -> Answer {
    query(&req, &[])?;
    match (what, method) {
        ("disable" | "enable", Method::POST) => {
            ask(core.set_partner_disabled(o, &p, what == "disable").await)?;
            Ok(reply::ok_of(&ask(core.partner_info(&p).await)?))
        }
        ("interfaces", Method::PUT) => {
            let b = body(req, limit, &["interfaces"]).await?;
            let interfaces = b.list_or_null("interfaces")?;
            ask(core.set_partner_interfaces(o, &p, interfaces).await)?;
            Ok(reply::ok_of(&ask(core.partner_info(&p).await)?))
        }
        ("rotate-secret", Method::POST) => {
            let b = body(req, limit, &["secret", "grace_secs"]).await?;
            let secret = b.text("secret")?;
            let grace = b.opt_u64("grace_secs")?.unwrap_or(DEFAULT_GRACE_SECS);
            ask(core.rotate_partner_secret(o, &p, &secret, grace).await)?;
            Ok(reply::ok_of(&ask(core.partner_info(&p).await)?))
        }
        ("addresses", Method::GET) => {
            let cidrs = ask(core.partner_addresses(&p).await)?;
            Ok(reply::ok_of(&json!({ "partner": p, "cidrs": cidrs })))
        }
        ("addresses", Method::PUT) => {
            let b = body(req, limit, &["cidrs"]).await?;
            let cidrs = b.list("cidrs")?;
            ask(core.set_partner_addresses(o, &p, cidrs).await)?;
            let cidrs = ask(core.partner_addresses(&p).await)?;
            Ok(reply::ok_of(&json!({ "partner": p, "cidrs": cidrs })))
        }
        ("disable" | "enable" | "rotate-secret", _) => Ok(reply::method_not_allowed("POST")),
        ("interfaces", _) => Ok(reply::method_not_allowed("PUT")),
        ("addresses", _) => Ok(reply::method_not_allowed("GET, PUT")),
        _ => Err(reply::not_found(
            "no such route; the routes are in GET /admin/v1/openapi.yaml",
        )),
    }
}

async fn user_part(
    core: &Core,
    limit: usize,
    req: Request<Incoming>,
    o: &wharf_core::audit::Origin,
    u: String,
    what: &str,
    method: Method,
) -> Answer {
    query(&req, &[])?;
    match (what, method) {
        ("disable" | "enable", Method::POST) => {
            ask(core.set_user_disabled(o, &u, what == "disable").await)?;
            Ok(reply::ok_of(&ask(core.user_info(&u).await)?))
        }
        ("reset-password", Method::POST) => {
            let b = body(req, limit, &["password"]).await?;
            let password = b.text("password")?;
            ask(core.reset_password(o, &u, &password).await)?;
            Ok(reply::ok_of(&ask(core.user_info(&u).await)?))
        }
        ("unlock", Method::POST) => {
            // An unknown user is a 404, not "nothing to lift".
            ask(core.user_info(&u).await)?;
            let n = ask(core.unlock(o, Some(&u), None).await)?;
            Ok(done(json!({ "lifted": n })))
        }
        ("disable" | "enable" | "reset-password" | "unlock", _) => {
            Ok(reply::method_not_allowed("POST"))
        }
        _ => Err(reply::not_found(
            "no such route; the routes are in GET /admin/v1/openapi.yaml",
        )),
    }
}
