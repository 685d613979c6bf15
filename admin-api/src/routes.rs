//! The admin API's paths, all under `/admin/v1/` (segments percent-decoded). What each one
//! does with which method is `lib.rs`'s business; `admin-api/openapi.yaml` documents them.

use std::borrow::Cow;

/// The prefix of every route.
pub const PREFIX: &str = "/admin/v1";

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/admin/v1/openapi.yaml`: this API's OpenAPI document (no token needed).
    OpenApi,
    /// `/admin/v1/operators`
    Operators,
    /// `/admin/v1/audit`
    Audit,
    /// `/admin/v1/interfaces`
    Interfaces,
    /// `/admin/v1/interfaces/{data_category}/{biz_key}`
    Interface(String),
    /// `/admin/v1/partners`
    Partners,
    /// `/admin/v1/partners/{partner}`
    Partner(String),
    /// `/admin/v1/partners/{partner}/{what}`: disable, enable, interfaces, rotate-secret,
    /// addresses.
    PartnerPart(String, String),
    /// `/admin/v1/users`
    Users,
    /// `/admin/v1/users/{user}`
    User(String),
    /// `/admin/v1/users/{user}/{what}`: disable, enable, reset-password, unlock.
    UserPart(String, String),
    /// `/admin/v1/tokens`
    Tokens,
    /// `/admin/v1/tokens/{id}`
    Token(String),
    /// `/admin/v1/bans`
    Bans,
    NotFound,
}

impl Route {
    /// The route's template, for the access log (never names or ids).
    pub fn template(&self) -> &'static str {
        match self {
            Route::OpenApi => "/admin/v1/openapi.yaml",
            Route::Operators => "/admin/v1/operators",
            Route::Audit => "/admin/v1/audit",
            Route::Interfaces => "/admin/v1/interfaces",
            Route::Interface(_) => "/admin/v1/interfaces/{data_category}/{biz_key}",
            Route::Partners => "/admin/v1/partners",
            Route::Partner(_) => "/admin/v1/partners/{partner}",
            Route::PartnerPart(_, _) => "/admin/v1/partners/{partner}/…",
            Route::Users => "/admin/v1/users",
            Route::User(_) => "/admin/v1/users/{user}",
            Route::UserPart(_, _) => "/admin/v1/users/{user}/…",
            Route::Tokens => "/admin/v1/tokens",
            Route::Token(_) => "/admin/v1/tokens/{id}",
            Route::Bans => "/admin/v1/bans",
            Route::NotFound => "unmatched",
        }
    }
}

fn decode(s: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// The route of `path` (without its query).
pub fn route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('/')) else {
        return Route::NotFound;
    };
    let segs: Vec<String> = rest.split('/').map(|s| decode(s).into_owned()).collect();
    if segs.iter().any(String::is_empty) {
        return Route::NotFound;
    }
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["openapi.yaml"] => Route::OpenApi,
        ["operators"] => Route::Operators,
        ["audit"] => Route::Audit,
        ["interfaces"] => Route::Interfaces,
        ["interfaces", category, biz_key] => Route::Interface(format!("{category}/{biz_key}")),
        ["partners"] => Route::Partners,
        ["partners", p] => Route::Partner(p.to_string()),
        ["partners", p, what] => Route::PartnerPart(p.to_string(), what.to_string()),
        ["users"] => Route::Users,
        ["users", u] => Route::User(u.to_string()),
        ["users", u, what] => Route::UserPart(u.to_string(), what.to_string()),
        ["tokens"] => Route::Tokens,
        ["tokens", id] => Route::Token(id.to_string()),
        ["bans"] => Route::Bans,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route() {
        assert_eq!(route("/admin/v1/operators"), Route::Operators);
        assert_eq!(
            route("/admin/v1/partners/ACME%20Co/disable"),
            Route::PartnerPart("ACME Co".into(), "disable".into())
        );
        assert_eq!(
            route("/admin/v1/interfaces/t1/bom"),
            Route::Interface("t1/bom".into())
        );
        assert_eq!(route("/admin/v1/partners/"), Route::NotFound);
        assert_eq!(route("/admin/v1"), Route::NotFound);
        assert_eq!(route("/admin/v2/operators"), Route::NotFound);
        assert_eq!(route("/v1.0/scc/data/sync/t1/bom"), Route::NotFound);
    }
}
