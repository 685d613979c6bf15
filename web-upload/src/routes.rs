//! The routes: each request's span and time limit, which page a method and path are, and the
//! other way round, the links the pages carry (every path segment percent-encoded).

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::Instrument;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use wharf_gateway::body::{form_field, parse_form, BodyDeadline};
use wharf_metrics::Door;
use wharf_proto::v1 as pb;

use crate::i18n;
use crate::multipart::UploadForm;
use crate::pages::{self, Reply};
use crate::session;
use crate::Upload;

/// Longest a request may take; an upload of a big sheet included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The url-encoded forms: login, logout and the buttons acting on a batch.
pub(crate) const FORM_LIMIT: usize = 16 * 1024;

/// Path segments are encoded like this in the links the pages carry.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The URL of a batch's result page.
pub(crate) fn result_href(env: &str, data_category: &str, biz_key: &str, batch_id: &str) -> String {
    format!(
        "/batches/{env}/{}/{}/{}",
        enc(data_category),
        enc(biz_key),
        enc(batch_id)
    )
}

/// An environment as URLs and forms name it.
pub(crate) fn env_of(text: &str) -> Option<pb::Environment> {
    match text {
        "prod" => Some(pb::Environment::Prod),
        "uat" => Some(pb::Environment::Uat),
        _ => None,
    }
}

pub(crate) fn env_name(v: i32) -> &'static str {
    match pb::Environment::try_from(v) {
        Ok(pb::Environment::Uat) => "uat",
        _ => "prod",
    }
}

fn query_param(req_query: Option<&str>, name: &str) -> String {
    form_field(&parse_form(req_query.unwrap_or_default().as_bytes()), name)
}

impl Upload {
    pub(crate) async fn handle(self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        // One span per request, named by its first path segment (low cardinality: batch ids
        // stay in the path attribute).
        let first = path.split('/').nth(1).unwrap_or("");
        let template = template(&path);
        let probe = matches!(template, "/healthz" | "/readyz");
        let caller = wharf_proto::trace::from_headers(req.headers());
        let span = tracing::info_span!(
            "upload page",
            otel.name = format!("upload {method} /{first}").as_str(),
            otel.kind = "server",
            trace_id = %wharf_proto::trace::trace_id(&caller),
            %peer,
            %method,
            path = %path,
            status = tracing::field::Empty,
        );
        wharf_proto::trace::adopt(&span, &caller);
        // The body must be in by the deadline too (the shared body reader answers 408 for it).
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let mut req = req;
        req.extensions_mut().insert(BodyDeadline(deadline));
        req.extensions_mut().insert(session::Peer(peer));
        // The page's language, for every text of this request.
        let here = i18n::Here {
            lang: i18n::Lang::of_request(
                session::cookie(req.headers(), i18n::LANG_COOKIE).as_deref(),
                req.headers()
                    .get(hyper::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            ),
            back: enc(match (&method, req.uri().path_and_query()) {
                (&Method::GET, Some(pq)) => pq.as_str(),
                _ => "/upload",
            }),
        };
        let reply = i18n::scope(here, async {
            match tokio::time::timeout_at(deadline, self.route(req))
                .instrument(span.clone())
                .await
            {
                Ok(r) => r,
                Err(_) => pages::too_slow(None),
            }
        })
        .await;
        // No query strings, cookies or bodies in the log: they can carry secrets.
        let status = reply.status().as_u16();
        span.record("status", status);
        let took = started.elapsed();
        self.metrics
            .http_request(Door::upload, template, method.as_str(), status, took);
        if status == 413 {
            self.metrics.too_large(Door::upload);
        }
        // Probes only at debug: a load balancer asks every few seconds.
        let ms = took.as_millis() as u64;
        span.in_scope(|| match probe {
            true => tracing::debug!(status, ms, "upload page"),
            false => tracing::info!(status, ms, "upload page"),
        });
        reply
    }

    async fn route(&self, req: Request<Incoming>) -> Reply {
        let segments: Vec<String> = req
            .uri()
            .path()
            .split('/')
            .skip(1)
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        let query = req.uri().query().map(str::to_string);
        match (&method, segs.as_slice()) {
            (&Method::GET, ["healthz"]) => {
                pages::bytes(StatusCode::OK, "text/plain; charset=utf-8", "ok\n")
            }
            (&Method::GET, ["readyz"]) => wharf_gateway::health::ready_text(
                wharf_gateway::health::core_ready(&self.core).await,
            ),
            (&Method::GET, ["static", name]) => {
                pages::static_file(name).unwrap_or_else(|| pages::not_found(None))
            }
            (&Method::GET, [""]) => {
                let to = if session::cookie(req.headers(), session::SESSION_COOKIE).is_some() {
                    "/upload"
                } else {
                    "/login"
                };
                pages::redirect(to, &[])
            }
            (&Method::GET, ["lang", tag]) => match i18n::Lang::from_tag(tag) {
                Some(lang) => {
                    let back = query_param(query.as_deref(), "back");
                    let to = if i18n::local_path(&back) { &back } else { "/" };
                    pages::redirect(to, &[session::lang_cookie(lang, self.cfg.secure_cookies)])
                }
                None => pages::not_found(None),
            },
            (&Method::GET, ["login"]) => self.login_form(StatusCode::OK, "", ""),
            (&Method::POST, ["login"]) => self.login(req).await,
            (&Method::POST, ["logout"]) => self.logout(req).await,
            (&Method::GET, ["upload"]) => match self.session(&req).await {
                Ok(s) => self.upload_form(&s, StatusCode::OK, &UploadForm::default(), ""),
                Err(r) => r,
            },
            (&Method::POST, ["upload"]) => match self.session(&req).await {
                Ok(s) => self.upload(&s, req).await,
                Err(r) => r,
            },
            (&Method::GET, ["batches"]) => match self.session(&req).await {
                Ok(s) => {
                    let before = query_param(query.as_deref(), "before")
                        .parse::<u64>()
                        .ok()
                        .unwrap_or(0);
                    self.history(&s, before).await
                }
                Err(r) => r,
            },
            (&Method::GET, ["batches", env, category, biz_key, batch_id]) => {
                match self.session(&req).await {
                    Ok(s) => {
                        let page = query_param(query.as_deref(), "page")
                            .parse::<usize>()
                            .ok()
                            .unwrap_or(1);
                        self.result(&s, env, category, biz_key, batch_id, page)
                            .await
                    }
                    Err(r) => r,
                }
            }
            (&Method::GET, ["batches", env, category, biz_key, batch_id, "errors.csv"]) => {
                match self.session(&req).await {
                    Ok(s) => self.errors_csv(&s, env, category, biz_key, batch_id).await,
                    Err(r) => r,
                }
            }
            (&Method::GET, ["batches", env, category, biz_key, batch_id, "fix"]) => {
                match self.session(&req).await {
                    Ok(s) => self.fix_page(&s, (env, category, biz_key, batch_id)).await,
                    Err(r) => r,
                }
            }
            (&Method::GET, ["batches", env, category, biz_key, batch_id, "fix", "rows"]) => {
                match self.session(&req).await {
                    Ok(s) => self.fix_rows(&s, (env, category, biz_key, batch_id)).await,
                    Err(r) => r,
                }
            }
            (&Method::POST, ["batches", env, category, biz_key, batch_id, "fix", "check"]) => {
                match self.session(&req).await {
                    Ok(s) => {
                        self.fix_check(&s, (env, category, biz_key, batch_id), req)
                            .await
                    }
                    Err(r) => r,
                }
            }
            (&Method::POST, ["batches", env, category, biz_key, batch_id, "fix"]) => {
                match self.session(&req).await {
                    Ok(s) => {
                        self.fix_submit(&s, (env, category, biz_key, batch_id), req)
                            .await
                    }
                    Err(r) => r,
                }
            }
            (&Method::GET, ["batches", env, category, biz_key, batch_id, "annotated.xlsx"]) => {
                match self.session(&req).await {
                    Ok(s) => self.annotated(&s, (env, category, biz_key, batch_id)).await,
                    Err(r) => r,
                }
            }
            (
                &Method::POST,
                ["batches", env, category, biz_key, batch_id, action @ ("execute" | "revert" | "cancel")],
            ) => match self.session(&req).await {
                Ok(s) => {
                    let target = (*env, *category, *biz_key, *batch_id);
                    self.act(&s, target, action, req).await
                }
                Err(r) => r,
            },
            (&Method::GET, ["templates", category, file]) => {
                match (self.session(&req).await, file.strip_suffix(".xlsx")) {
                    (Ok(s), Some(biz_key)) => self.template(&s, category, biz_key).await,
                    (Ok(s), None) => pages::not_found(Some(s.nav())),
                    (Err(r), _) => r,
                }
            }
            (_, ["login" | "logout" | "upload" | "batches" | "healthz" | "readyz"]) => {
                pages::message(
                    StatusCode::METHOD_NOT_ALLOWED,
                    None,
                    i18n::t("message.not_allowed"),
                    i18n::t("message.not_allowed_text"),
                )
            }
            _ => pages::not_found(None),
        }
    }
}

/// A path's route template, the `route` label of its metrics (never the raw path: batch ids
/// and interface names stay out of labels).
fn template(path: &str) -> &'static str {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    match segs.as_slice() {
        [""] => "/",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["static", _] => "/static/{file}",
        ["lang", _] => "/lang/{lang}",
        ["login"] => "/login",
        ["logout"] => "/logout",
        ["upload"] => "/upload",
        ["batches"] => "/batches",
        ["batches", _, _, _, _] => "/batches/{env}/{data_category}/{biz_key}/{batch_id}",
        ["batches", _, _, _, _, "errors.csv"] => {
            "/batches/{env}/{data_category}/{biz_key}/{batch_id}/errors.csv"
        }
        ["batches", _, _, _, _, "fix"] => "/batches/{env}/{data_category}/{biz_key}/{batch_id}/fix",
        ["batches", _, _, _, _, "fix", "rows" | "check"] => {
            "/batches/{env}/{data_category}/{biz_key}/{batch_id}/fix/{part}"
        }
        ["batches", _, _, _, _, "annotated.xlsx"] => {
            "/batches/{env}/{data_category}/{biz_key}/{batch_id}/annotated.xlsx"
        }
        ["batches", _, _, _, _, "execute" | "revert" | "cancel"] => {
            "/batches/{env}/{data_category}/{biz_key}/{batch_id}/{action}"
        }
        ["templates", _, _] => "/templates/{data_category}/{file}",
        _ => "unmatched",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_see_route_templates_not_paths() {
        assert_eq!(template("/"), "/");
        assert_eq!(template("/readyz"), "/readyz");
        assert_eq!(
            template("/batches/prod/t1/bom/100055"),
            "/batches/{env}/{data_category}/{biz_key}/{batch_id}"
        );
        assert_eq!(
            template("/batches/prod/t1/bom/100055/revert"),
            "/batches/{env}/{data_category}/{biz_key}/{batch_id}/{action}"
        );
        assert_eq!(template("/batches/prod/t1/bom/1/drop"), "unmatched");
        assert_eq!(template("/etc/passwd"), "unmatched");
    }

    #[test]
    fn result_links_encode_every_segment() {
        assert_eq!(
            result_href("uat", "t1", "b o/m", "id#1"),
            "/batches/uat/t1/b%20o%2Fm/id%231"
        );
    }
}
