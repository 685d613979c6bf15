//! Every response the upload page sends is built here: the pages (askama templates in
//! `templates/`, every value escaped), redirects, downloads and static files, all with the
//! same security headers.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use wharf_proto::v1 as pb;

pub(crate) use wharf_gateway::reply::Reply;

use crate::i18n::t;

/// The signed-in user, for the header of every page.
#[derive(Debug, Clone)]
pub(crate) struct Nav {
    pub(crate) user: String,
    pub(crate) partner: String,
    /// The session's CSRF token, for the logout form.
    pub(crate) csrf: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) username: String,
    pub(crate) error: String,
}

/// One interface the user may send, for the form.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    /// `data_category/biz_key`.
    pub(crate) id: String,
    /// The template's URL.
    pub(crate) template_href: String,
}

#[derive(Template)]
#[template(path = "upload.html")]
pub(crate) struct UploadPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) interfaces: Vec<Choice>,
    /// What the form had (kept after a refusal).
    pub(crate) interface: String,
    pub(crate) environment: String,
    pub(crate) operation: String,
    pub(crate) check_only: bool,
    pub(crate) max_mib: u64,
    pub(crate) error: String,
}

#[derive(Template)]
#[template(path = "fix.html")]
pub(crate) struct FixPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) batch_id: String,
    pub(crate) file: String,
    pub(crate) interface: String,
    pub(crate) result_href: String,
    pub(crate) rows_href: String,
    pub(crate) check_href: String,
    pub(crate) submit_href: String,
    pub(crate) annotated_href: String,
    pub(crate) csv_href: String,
}

/// One column on the mapping page.
#[derive(Debug, Clone)]
pub(crate) struct MapColumn {
    pub(crate) index: usize,
    /// The spreadsheet's column letter.
    pub(crate) letter: String,
    pub(crate) header: String,
    /// The column's first few values.
    pub(crate) samples: String,
    /// The field chosen or suggested (`""`: ignore).
    pub(crate) selected: String,
    /// How core matched it (`exact`, `label`, `guess`, `unknown`, …), a class for the row.
    pub(crate) how: String,
    /// What that means, in words.
    pub(crate) note: String,
}

/// A field on the mapping page's choices.
#[derive(Debug, Clone)]
pub(crate) struct FieldOption {
    pub(crate) name: String,
    /// The name, its labels, and whether it is required.
    pub(crate) text: String,
}

#[derive(Template)]
#[template(path = "columns.html")]
pub(crate) struct ColumnsPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) file: String,
    /// The upload form's choices, carried through the step.
    pub(crate) interface: String,
    pub(crate) environment: String,
    pub(crate) operation: String,
    pub(crate) confirm_all: bool,
    /// The schedule inputs, as the form had them.
    pub(crate) when: String,
    pub(crate) execute_at: String,
    pub(crate) revert_at: String,
    pub(crate) tz: String,
    /// The id core holds the file under.
    pub(crate) held: String,
    pub(crate) columns: Vec<MapColumn>,
    pub(crate) fields: Vec<FieldOption>,
    pub(crate) missing: Vec<String>,
    pub(crate) error: String,
}

/// One of core's messages to a rejected sequence, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub(crate) msg: String,
    pub(crate) explained: String,
}

/// The summary of a result page.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    /// One plain sentence on what happened to the data.
    pub(crate) headline: String,
    pub(crate) code: String,
    pub(crate) msg: String,
    /// The code and message in plain words ("" when the message is plain already).
    pub(crate) explained: String,
    /// Core's messages to each rejected sequence, deduplicated.
    pub(crate) notes: Vec<Note>,
    pub(crate) state: String,
    pub(crate) batch_id: String,
    pub(crate) interface: String,
    pub(crate) environment: String,
    pub(crate) operation: String,
    pub(crate) file: String,
    pub(crate) time: Moment,
    pub(crate) rows_sent: u64,
    pub(crate) rows_applied: u64,
    pub(crate) plan: Plan,
    pub(crate) actions: Vec<Action>,
    /// The batch's own URL, the base of its action forms ("" when there is no batch).
    pub(crate) href: String,
    /// A sheet fixed in the grid: the batch it corrects, and its result page ("" else).
    pub(crate) corrects: String,
    pub(crate) corrects_href: String,
}

impl Summary {
    /// Whether the data is in, or will be: applied, or held to apply at its time.
    pub(crate) fn ok(&self) -> bool {
        matches!(self.state.as_str(), "applied" | "held" | "checked")
    }

    /// The status badge's word.
    pub(crate) fn badge(&self) -> &'static str {
        state_label(&self.state)
    }
}

/// A batch's state as the page names it: core's state, but `rejected` for an open batch
/// none of whose rows was taken (only rejected sequences so far), which will not complete
/// by itself, and `checked` for a held batch sent as check only (nothing applied; it waits
/// for "Apply now" or "Discard").
pub(crate) fn shown_state(b: &pb::GetBatchResponse) -> String {
    match b.state.as_str() {
        "open" if b.staged_rows == 0 => "rejected".into(),
        "held" if b.check_only => "checked".into(),
        state => state.into(),
    }
}

/// The word a status badge shows for a state (its CSS class is the state itself).
pub(crate) fn state_label(state: &str) -> &'static str {
    match state {
        "applied" => t("state.applied"),
        "held" => t("state.held"),
        "checked" => t("state.checked"),
        "reverted" => t("state.reverted"),
        "cancelled" => t("state.cancelled"),
        "failed" => t("state.failed"),
        "expired" => t("state.expired"),
        "rejected" => t("state.rejected"),
        "refused" => t("state.refused"),
        "open" => t("state.open"),
        _ => t("state.unknown"),
    }
}

/// One line of the error table, ready to show.
#[derive(Debug, Clone)]
pub(crate) struct ErrorRow {
    pub(crate) line: String,
    pub(crate) field: String,
    pub(crate) kind: String,
    pub(crate) value: String,
    pub(crate) hint: String,
}

#[derive(Template)]
#[template(path = "result.html")]
pub(crate) struct ResultPage {
    pub(crate) nav: Option<Nav>,
    /// The session's CSRF token, for the action forms.
    pub(crate) csrf: String,
    pub(crate) summary: Summary,
    /// This page of the error table.
    pub(crate) errors: Vec<ErrorRow>,
    pub(crate) total_errors: usize,
    pub(crate) first_shown: usize,
    pub(crate) last_shown: usize,
    /// Links to the CSV of every error and to the neighbouring pages ("" when none).
    pub(crate) csv_href: String,
    /// The uploaded sheet with its errors marked (kept a day).
    pub(crate) annotated_href: String,
    /// The grid that fixes the failing rows.
    pub(crate) fix_href: String,
    pub(crate) prev_href: String,
    pub(crate) next_href: String,
}

/// A button acting on a scheduled batch (execute now, revert, cancel).
#[derive(Debug, Clone)]
pub(crate) struct Action {
    /// `execute`, `revert` or `cancel`: the last path segment of the form's URL.
    pub(crate) name: String,
    pub(crate) label: String,
    /// Asked before sending ("" when the action needs no confirmation).
    pub(crate) confirm: String,
}

/// A batch's schedule, as shown: "" when it has none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// The status and who acted, e.g. `idle`, `finished by alice`; and when (its time, shown
    /// in the user's time zone by the page's script).
    pub(crate) execute: String,
    pub(crate) execute_at: Moment,
    pub(crate) revert: String,
    pub(crate) revert_at: Moment,
    /// Details core gave (an execution that failed, rows a revert left).
    pub(crate) detail: String,
}

/// One batch in the history.
#[derive(Debug, Clone)]
pub(crate) struct HistoryRow {
    pub(crate) time: Moment,
    pub(crate) interface: String,
    pub(crate) environment: String,
    pub(crate) operation: String,
    pub(crate) rows: u64,
    pub(crate) state: String,
    /// The status badge's word.
    pub(crate) label: &'static str,
    pub(crate) code: String,
    /// The code (and the batch's failure message) in plain words, shown on hover.
    pub(crate) code_explained: String,
    pub(crate) file: String,
    pub(crate) href: String,
    /// A sheet fixed in the grid: the batch it corrects, and its result page ("" else).
    pub(crate) corrects: String,
    pub(crate) corrects_href: String,
    pub(crate) plan: Plan,
    pub(crate) actions: Vec<Action>,
}

#[derive(Template)]
#[template(path = "history.html")]
pub(crate) struct HistoryPage {
    pub(crate) nav: Option<Nav>,
    /// The session's CSRF token, for the action forms.
    pub(crate) csrf: String,
    pub(crate) batches: Vec<HistoryRow>,
    pub(crate) older_href: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) question: String,
    pub(crate) action_href: String,
    pub(crate) label: String,
    pub(crate) back_href: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub(crate) nav: Option<Nav>,
    pub(crate) title: String,
    pub(crate) message: String,
    pub(crate) back_href: String,
    pub(crate) back_label: String,
}

fn secure_headers(r: &mut Reply) {
    let h = r.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// A response with a body and the door's headers.
pub(crate) fn bytes(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    secure_headers(&mut r);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A rendered page. A template that fails to render (it cannot, short of a bug) is a 500
/// with a plain message rather than a panic.
pub(crate) fn page(status: StatusCode, t: &impl Template) -> Reply {
    match t.render() {
        Ok(html) => bytes(status, "text/html; charset=utf-8", html),
        Err(e) => {
            tracing::error!(error = %e, "page did not render");
            bytes(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "internal error: the page could not be rendered",
            )
        }
    }
}

/// A message page (not found, refused, core unavailable, …).
pub(crate) fn message(status: StatusCode, nav: Option<Nav>, title: &str, message: &str) -> Reply {
    let (back_href, back_label) = if nav.is_some() {
        ("/upload", t("message.back_upload"))
    } else {
        ("/login", t("message.go_login"))
    };
    page(
        status,
        &MessagePage {
            nav,
            title: title.to_string(),
            message: message.to_string(),
            back_href: back_href.into(),
            back_label: back_label.into(),
        },
    )
}

/// 404: a page that does not exist, or a batch or interface that is not the user's.
pub(crate) fn not_found(nav: Option<Nav>) -> Reply {
    message(
        StatusCode::NOT_FOUND,
        nav,
        t("message.not_found"),
        t("message.not_found_text"),
    )
}

/// 403: a form without its session's CSRF token.
/// 408: the request (its body included) did not arrive in time; nothing was done.
pub(crate) fn too_slow(nav: Option<Nav>) -> Reply {
    message(
        StatusCode::REQUEST_TIMEOUT,
        nav,
        t("message.too_slow"),
        t("message.too_slow_text"),
    )
}

pub(crate) fn csrf_refused(nav: Option<Nav>) -> Reply {
    message(
        StatusCode::FORBIDDEN,
        nav,
        t("message.csrf"),
        t("message.csrf_text"),
    )
}

/// 303 See Other to `to`, optionally setting cookies.
pub(crate) fn redirect(to: &str, cookies: &[String]) -> Reply {
    let mut r = bytes(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(hyper::header::LOCATION, v);
    }
    with_cookies(r, cookies)
}

pub(crate) fn with_cookies(mut r: Reply, cookies: &[String]) -> Reply {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(hyper::header::SET_COOKIE, v);
        }
    }
    r
}

/// A file to save, under `name`.
pub(crate) fn download(content_type: &'static str, name: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = bytes(StatusCode::OK, content_type, body);
    // Names are built by the door from ASCII parts; anything else is replaced.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        r.headers_mut()
            .insert(hyper::header::CONTENT_DISPOSITION, v);
    }
    r
}

/// The stylesheet and the small script, compiled in.
pub(crate) fn static_file(name: &str) -> Option<Reply> {
    let (ty, body): (&'static str, &'static str) = match name {
        "wharf.css" => (
            "text/css; charset=utf-8",
            include_str!("../static/wharf.css"),
        ),
        "upload.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../static/upload.js"),
        ),
        "fix.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../static/fix.js"),
        ),
        _ => return None,
    };
    let mut r = bytes(StatusCode::OK, ty, body);
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Some(r)
}

/// A moment shown on a page: its UTC text (`YYYY-MM-DD HH:MM:SS UTC`, what a page without
/// JavaScript shows and the hover shows) and its RFC 3339 form, from which the page's script
/// writes it in the browser's time zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Moment {
    pub(crate) iso: String,
    pub(crate) text: String,
}

impl Moment {
    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl std::fmt::Display for Moment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A Unix time as a [`Moment`].
pub(crate) fn utc(unix: i64) -> Moment {
    Moment {
        iso: wharf_proto::time::rfc3339(unix),
        text: wharf_proto::time::readable(unix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_users_sent() {
        let r = page(
            StatusCode::OK,
            &MessagePage {
                nav: Some(Nav {
                    user: "<script>alert(1)</script>".into(),
                    partner: "p&q".into(),
                    csrf: "c\"x".into(),
                }),
                title: "t".into(),
                message: "<b>hi</b>".into(),
                back_href: "/upload".into(),
                back_label: "back".into(),
            },
        );
        let headers = r.headers().clone();
        let body = String::from_utf8(
            futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(r.into_body()))
                .expect("a full body is ready")
                .expect("infallible")
                .to_bytes()
                .to_vec(),
        )
        .expect("utf-8");
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(body.contains("&#60;script&#62;"), "{body}");
        assert!(!body.contains("<b>hi</b>"));
        assert!(!body.contains("c\"x"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
    }
}
