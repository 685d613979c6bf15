//! The routes of the upload page and the flow of each page and form. Every form is checked
//! for its CSRF token before anything is done; every failure becomes a page that says what
//! happened (`pages`), never a panic.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::Instrument;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{HeaderMap, Method, Request, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tonic::Code;
use wharf_gateway::body::{declared_length, form_field, parse_form, read_body};
use wharf_proto::v1 as pb;

use crate::pages::{self, Choice, ErrorRow, HistoryRow, Nav, Reply, Summary};
use crate::report;
use crate::schedule::{self, ScheduleForm};
use crate::send::{self, Sent, Target};
use crate::session;
use crate::Upload;

/// Longest a request may take; an upload of a big sheet included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The login and logout forms.
const FORM_LIMIT: usize = 16 * 1024;
/// Each form field of the upload form but the file.
const FIELD_LIMIT: u64 = 4 * 1024;
/// Error lines per result page.
const ERRORS_PER_PAGE: usize = 100;
/// Batches per history page.
const HISTORY_PAGE: u32 = 50;

/// Path segments are encoded like this in the links the pages carry.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A signed-in user, as core knows the session.
struct Session {
    token: String,
    partner: String,
    user: String,
    interfaces: Vec<String>,
}

impl Session {
    fn nav(&self) -> Nav {
        Nav {
            user: self.user.clone(),
            partner: self.partner.clone(),
            csrf: session::csrf_token(&self.token),
        }
    }

    fn csrf_ok(&self, sent: &str) -> bool {
        session::same_secret(sent, &session::csrf_token(&self.token))
    }
}

fn core_down(nav: Option<Nav>, s: &tonic::Status) -> Reply {
    tracing::warn!(code = ?s.code(), "core call failed");
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        nav,
        "wharf is not available",
        "The wharf core could not be reached or failed. Nothing was applied; try again in a moment.",
    )
}

fn env_of(text: &str) -> Option<pb::Environment> {
    match text {
        "prod" => Some(pb::Environment::Prod),
        "uat" => Some(pb::Environment::Uat),
        _ => None,
    }
}

fn env_name(v: i32) -> &'static str {
    match pb::Environment::try_from(v) {
        Ok(pb::Environment::Uat) => "uat",
        _ => "prod",
    }
}

fn operation_of(text: &str) -> Option<pb::Operation> {
    match text {
        "insert" => Some(pb::Operation::Insert),
        "update" => Some(pb::Operation::Update),
        "delete" => Some(pb::Operation::Delete),
        "all" => Some(pb::Operation::All),
        _ => None,
    }
}

fn query_param(req_query: Option<&str>, name: &str) -> String {
    form_field(&parse_form(req_query.unwrap_or_default().as_bytes()), name)
}

/// The file name a browser sent, without any directory part, control characters or
/// excessive length.
fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn sheet_format(name: &str) -> Option<wharf_sheet::Format> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xlsx") {
        Some(wharf_sheet::Format::Xlsx)
    } else if lower.ends_with(".csv") {
        Some(wharf_sheet::Format::Csv)
    } else {
        None
    }
}

fn result_href(env: &str, data_category: &str, biz_key: &str, batch_id: &str) -> String {
    format!(
        "/batches/{env}/{}/{}/{}",
        enc(data_category),
        enc(biz_key),
        enc(batch_id)
    )
}

/// What happened to the data, in one sentence for the person who sent it.
fn headline(s: &Summary, lines: &[report::ErrorLine]) -> String {
    let mut rows: Vec<u32> = lines.iter().map(|e| e.line).filter(|l| *l > 0).collect();
    rows.dedup();
    match s.state.as_str() {
        "applied" => format!("All {} rows were applied.", s.rows_applied),
        "open" => "This batch is not complete yet; nothing has been applied.".into(),
        "held" => format!(
            "Scheduled: all {} rows will be applied at {}.",
            s.rows_sent,
            s.plan.execute.split(" · ").next().unwrap_or_default()
        ),
        "reverted" => format!("All {} rows were applied, then reverted.", s.rows_applied),
        "cancelled" => "Cancelled: nothing was applied.".into(),
        "expired" => {
            "This batch expired before all of its rows arrived; nothing was applied.".into()
        }
        "refused" => "The file could not be read as a sheet; nothing was applied.".into(),
        _ if !rows.is_empty() => format!(
            "Nothing was applied: {} {} in {} {}. Fix {} and upload the whole sheet again.",
            lines.len(),
            if lines.len() == 1 { "error" } else { "errors" },
            rows.len(),
            if rows.len() == 1 { "row" } else { "rows" },
            if rows.len() == 1 { "it" } else { "them" },
        ),
        _ => "Nothing was applied.".into(),
    }
}

/// What the upload form sent.
#[derive(Default)]
struct UploadForm {
    csrf: String,
    interface: String,
    environment: String,
    operation: String,
    confirm_all: bool,
    schedule: ScheduleForm,
    file_name: String,
    file: Option<Bytes>,
}

/// Why the upload form could not be read.
enum FormError {
    TooLarge,
    Unreadable(String),
}

impl Upload {
    pub(crate) async fn handle(self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        // One span per request, named by its first path segment (low cardinality: batch ids
        // stay in the path attribute).
        let first = path.split('/').nth(1).unwrap_or("");
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
        let reply = match tokio::time::timeout(REQUEST_TIMEOUT, self.route(req))
            .instrument(span.clone())
            .await
        {
            Ok(r) => r,
            Err(_) => pages::message(
                StatusCode::REQUEST_TIMEOUT,
                None,
                "Too slow",
                "The request took too long and was stopped. Nothing was applied.",
            ),
        };
        // No query strings, cookies or bodies in the log: they can carry secrets.
        let status = reply.status().as_u16();
        span.record("status", status);
        span.in_scope(|| {
            tracing::info!(
                status,
                ms = started.elapsed().as_millis() as u64,
                "upload page"
            )
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
                pages::static_file(name).unwrap_or_else(|| self.not_found(None))
            }
            (&Method::GET, [""]) => {
                let to = if session::cookie(req.headers(), session::SESSION_COOKIE).is_some() {
                    "/upload"
                } else {
                    "/login"
                };
                pages::redirect(to, &[])
            }
            (&Method::GET, ["login"]) => self.login_form(StatusCode::OK, "", ""),
            (&Method::POST, ["login"]) => self.login(req).await,
            (&Method::POST, ["logout"]) => self.logout(req).await,
            (&Method::GET, ["upload"]) => match self.session(req.headers()).await {
                Ok(s) => self.upload_form(&s, StatusCode::OK, &UploadForm::default(), ""),
                Err(r) => r,
            },
            (&Method::POST, ["upload"]) => match self.session(req.headers()).await {
                Ok(s) => self.upload(&s, req).await,
                Err(r) => r,
            },
            (&Method::GET, ["batches"]) => match self.session(req.headers()).await {
                Ok(s) => self.history(&s, query.as_deref()).await,
                Err(r) => r,
            },
            (&Method::GET, ["batches", env, category, biz_key, batch_id]) => {
                match self.session(req.headers()).await {
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
                match self.session(req.headers()).await {
                    Ok(s) => self.errors_csv(&s, env, category, biz_key, batch_id).await,
                    Err(r) => r,
                }
            }
            (
                &Method::POST,
                ["batches", env, category, biz_key, batch_id, action @ ("execute" | "revert" | "cancel")],
            ) => match self.session(req.headers()).await {
                Ok(s) => {
                    let target = (*env, *category, *biz_key, *batch_id);
                    self.act(&s, target, action, req).await
                }
                Err(r) => r,
            },
            (&Method::GET, ["templates", category, file]) => {
                match (
                    self.session(req.headers()).await,
                    file.strip_suffix(".xlsx"),
                ) {
                    (Ok(s), Some(biz_key)) => self.template(&s, category, biz_key).await,
                    (Ok(s), None) => self.not_found(Some(s.nav())),
                    (Err(r), _) => r,
                }
            }
            (_, ["login" | "logout" | "upload" | "batches" | "healthz" | "readyz"]) => {
                pages::message(
                    StatusCode::METHOD_NOT_ALLOWED,
                    None,
                    "Not allowed",
                    "This page does not take that kind of request.",
                )
            }
            _ => self.not_found(None),
        }
    }

    fn not_found(&self, nav: Option<Nav>) -> Reply {
        pages::message(
            StatusCode::NOT_FOUND,
            nav,
            "Not found",
            "There is no such page, or it is not yours to see.",
        )
    }

    /// The session behind the request's cookie, or the response to send instead (the login
    /// page when there is none or it has expired).
    async fn session(&self, headers: &HeaderMap) -> Result<Session, Reply> {
        let Some(token) = session::cookie(headers, session::SESSION_COOKIE) else {
            return Err(pages::redirect("/login", &[]));
        };
        let mut core = self.core.clone();
        match core
            .verify_token(pb::VerifyTokenRequest {
                token: token.clone(),
            })
            .await
        {
            // A client-credentials token names no user: it is not a session.
            Ok(p) if !p.get_ref().user.is_empty() => {
                let p = p.into_inner();
                Ok(Session {
                    token,
                    partner: p.partner,
                    user: p.user,
                    interfaces: p.interfaces,
                })
            }
            Ok(_) => Err(pages::redirect(
                "/login",
                &[session::clear_session_cookie(self.cfg.secure_cookies)],
            )),
            Err(s) if s.code() == Code::Unauthenticated => Err(pages::redirect(
                "/login",
                &[session::clear_session_cookie(self.cfg.secure_cookies)],
            )),
            Err(s) => Err(core_down(None, &s)),
        }
    }

    fn login_form(&self, status: StatusCode, username: &str, error: &str) -> Reply {
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

    async fn login(&self, req: Request<Incoming>) -> Reply {
        let expected = session::cookie(req.headers(), session::LOGIN_COOKIE).unwrap_or_default();
        let body = match read_body(req, FORM_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                return self.login_form(StatusCode::BAD_REQUEST, "", "The form could not be read.")
            }
        };
        let form = parse_form(&body);
        let field = |name: &str| form_field(&form, name);
        let username = field("username");
        if !session::same_secret(&field("csrf"), &expected) {
            return self.login_form(
                StatusCode::FORBIDDEN,
                &username,
                "This login form has expired or was not sent from this site. Please log in again.",
            );
        }
        let mut core = self.core.clone();
        let answer = core
            .start_session(pb::AuthenticateRequest {
                username: username.clone(),
                password: field("password"),
            })
            .await;
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
            Err(s) if s.code() == Code::Unauthenticated => self.login_form(
                StatusCode::UNAUTHORIZED,
                &username,
                "Wrong user name or password.",
            ),
            Err(s) if s.code() == Code::ResourceExhausted => {
                self.login_form(StatusCode::TOO_MANY_REQUESTS, &username, s.message())
            }
            Err(s) => core_down(None, &s),
        }
    }

    async fn logout(&self, req: Request<Incoming>) -> Reply {
        let clear = [session::clear_session_cookie(self.cfg.secure_cookies)];
        let s = match self.session(req.headers()).await {
            Ok(s) => s,
            // No live session: nothing to end.
            Err(_) => return pages::redirect("/login", &clear),
        };
        let sent = match read_body(req, FORM_LIMIT).await {
            Ok(b) => form_field(&parse_form(&b), "csrf"),
            Err(_) => String::new(),
        };
        if !s.csrf_ok(&sent) {
            return self.csrf_refused(&s);
        }
        let mut core = self.core.clone();
        if let Err(st) = core
            .end_session(pb::VerifyTokenRequest {
                token: s.token.clone(),
            })
            .await
        {
            return core_down(Some(s.nav()), &st);
        }
        pages::redirect("/login", &clear)
    }

    fn csrf_refused(&self, s: &Session) -> Reply {
        pages::message(
            StatusCode::FORBIDDEN,
            Some(s.nav()),
            "Form refused",
            "This form was not sent from this site, or it is too old. Nothing was done; open the page again and resend.",
        )
    }

    fn upload_form(&self, s: &Session, status: StatusCode, f: &UploadForm, error: &str) -> Reply {
        let interfaces = s
            .interfaces
            .iter()
            .map(|id| {
                let (category, biz_key) = id.split_once('/').unwrap_or((id, ""));
                Choice {
                    id: id.clone(),
                    template_href: format!("/templates/{}/{}.xlsx", enc(category), enc(biz_key)),
                }
            })
            .collect();
        let or = |v: &str, d: &str| {
            if v.is_empty() {
                d.to_string()
            } else {
                v.to_string()
            }
        };
        pages::page(
            status,
            &pages::UploadPage {
                nav: Some(s.nav()),
                interfaces,
                interface: f.interface.clone(),
                environment: or(&f.environment, "prod"),
                operation: or(&f.operation, "insert"),
                max_mib: self.cfg.max_file_bytes().div_ceil(1 << 20),
                error: error.to_string(),
            },
        )
    }

    /// Read the multipart upload form, holding the file under the size limit.
    async fn read_upload_form(&self, req: Request<Incoming>) -> Result<UploadForm, FormError> {
        let boundary = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or_else(|| {
                FormError::Unreadable("the form was not sent as multipart/form-data".into())
            })?;
        let whole = self.cfg.max_file_bytes() + 64 * 1024;
        if declared_length(&req).is_some_and(|n| n > whole) {
            return Err(FormError::TooLarge);
        }
        let limits = multer::SizeLimit::new()
            .whole_stream(whole)
            .per_field(FIELD_LIMIT)
            .for_field("file", self.cfg.max_file_bytes());
        let stream = BodyDataStream::new(req.into_body()).map(|r| r.map_err(std::io::Error::other));
        let mut mp = multer::Multipart::with_constraints(
            stream,
            boundary,
            multer::Constraints::new().size_limit(limits),
        );
        let map_err = |e: multer::Error| match e {
            multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
                FormError::TooLarge
            }
            other => FormError::Unreadable(other.to_string()),
        };
        let mut f = UploadForm::default();
        while let Some(field) = mp.next_field().await.map_err(map_err)? {
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                f.file_name = clean_file_name(field.file_name().unwrap_or_default());
                f.file = Some(field.bytes().await.map_err(map_err)?);
                continue;
            }
            let value = field.text().await.map_err(map_err)?;
            match name.as_str() {
                "csrf" => f.csrf = value,
                "interface" => f.interface = value,
                "environment" => f.environment = value,
                "operation" => f.operation = value,
                "confirm_all" => f.confirm_all = value == "yes",
                "when" => f.schedule.when = value,
                "execute_at" => f.schedule.execute_at = value,
                "revert_at" => f.schedule.revert_at = value,
                "tz" => f.schedule.tz_offset_minutes = value,
                // Anything else a browser adds is not ours to read.
                _ => {}
            }
        }
        Ok(f)
    }

    async fn upload(&self, s: &Session, req: Request<Incoming>) -> Reply {
        let f = match self.read_upload_form(req).await {
            Ok(f) => f,
            Err(FormError::TooLarge) => {
                return self.upload_form(
                    s,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &UploadForm::default(),
                    &format!(
                        "The file is larger than {} MiB, the most one upload may hold. Split it into smaller sheets.",
                        self.cfg.max_file_bytes().div_ceil(1 << 20)
                    ),
                )
            }
            Err(FormError::Unreadable(why)) => {
                return self.upload_form(
                    s,
                    StatusCode::BAD_REQUEST,
                    &UploadForm::default(),
                    &format!("The form could not be read ({why}). Please try again."),
                )
            }
        };
        if !s.csrf_ok(&f.csrf) {
            return self.csrf_refused(s);
        }
        let refuse = |msg: &str| self.upload_form(s, StatusCode::BAD_REQUEST, &f, msg);
        let Some((category, biz_key)) = f.interface.split_once('/') else {
            return refuse("Choose an interface.");
        };
        let Some(env) = env_of(&f.environment) else {
            return refuse("Choose the environment: prod or uat.");
        };
        let Some(operation) = operation_of(&f.operation) else {
            return refuse("Choose the operation: insert, update, delete or all.");
        };
        if operation == pb::Operation::All && !f.confirm_all {
            return refuse(
                "The operation \"all\" replaces the whole data set: tick the box to confirm it.",
            );
        }
        let Some(bytes) = f.file.clone().filter(|_| !f.file_name.is_empty()) else {
            return refuse("Choose a file to upload.");
        };
        let Some(format) = sheet_format(&f.file_name) else {
            return refuse(&format!(
                "\"{}\" is not a sheet wharf reads: upload an .xlsx or .csv file.",
                f.file_name
            ));
        };
        let limits = self.cfg.sheet_limits.clone();
        // Unpacking and parsing a workbook is CPU work: keep it off the I/O threads.
        let sheet =
            match tokio::task::spawn_blocking(move || wharf_sheet::read(format, &bytes, &limits))
                .await
            {
                Ok(sheet) => sheet,
                Err(e) => {
                    tracing::error!(error = %e, "sheet reader stopped");
                    return pages::message(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some(s.nav()),
                        "Internal error",
                        "The sheet could not be processed. Nothing was applied.",
                    );
                }
            };
        let target = Target {
            partner: s.partner.clone(),
            user: s.user.clone(),
            env,
            data_category: category.to_string(),
            biz_key: biz_key.to_string(),
            operation,
            source: f.file_name.clone(),
            schedule: f.schedule.schedule(),
        };
        let mut core = self.core.clone();
        match send::send_sheet(&mut core, &target, sheet).await {
            Ok(Sent::Batch { batch_id }) => pages::redirect(
                &result_href(&f.environment, category, biz_key, &batch_id),
                &[],
            ),
            Ok(Sent::Unreadable(answer)) => {
                let summary = Summary {
                    code: answer.code.clone(),
                    msg: answer.msg.clone(),
                    state: "refused".into(),
                    interface: f.interface.clone(),
                    environment: f.environment.clone(),
                    operation: f.operation.clone(),
                    file: f.file_name.clone(),
                    ..Summary::default()
                };
                let lines = report::error_lines([&answer]);
                self.result_page(s, summary, lines, 1, "")
            }
            Err(st) if st.code() == Code::NotFound => self.not_found(Some(s.nav())),
            Err(st) => core_down(Some(s.nav()), &st),
        }
    }

    async fn batch(
        &self,
        s: &Session,
        env: &str,
        category: &str,
        biz_key: &str,
        batch_id: &str,
    ) -> Result<pb::GetBatchResponse, Reply> {
        let Some(environment) = env_of(env) else {
            return Err(self.not_found(Some(s.nav())));
        };
        let mut core = self.core.clone();
        match core
            .get_batch(pb::GetBatchRequest {
                partner: s.partner.clone(),
                environment: environment as i32,
                data_category: category.to_string(),
                biz_key: biz_key.to_string(),
                batch_id: batch_id.to_string(),
                with_rejections: true,
            })
            .await
        {
            Ok(b) if b.get_ref().found => Ok(b.into_inner()),
            Ok(_) => Err(self.not_found(Some(s.nav()))),
            Err(st) if st.code() == Code::NotFound => Err(self.not_found(Some(s.nav()))),
            Err(st) => Err(core_down(Some(s.nav()), &st)),
        }
    }

    async fn result(
        &self,
        s: &Session,
        env: &str,
        category: &str,
        biz_key: &str,
        batch_id: &str,
        page: usize,
    ) -> Reply {
        let b = match self.batch(s, env, category, biz_key, batch_id).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        // A reverted batch was applied first: its rows landed, then went back.
        let applied = b.state == "applied" || b.state == "reverted";
        let (code, msg) = match b.state.as_str() {
            "applied" => (
                "0".to_string(),
                format!("request success: batch applied ({} rows)", b.batch_size),
            ),
            "held" => (
                "0".to_string(),
                format!(
                    "request success: batch scheduled to apply at {}",
                    b.execute_ts
                ),
            ),
            "reverted" => (
                "0".to_string(),
                "request success: batch applied, then reverted".to_string(),
            ),
            "cancelled" => (
                String::new(),
                "cancelled before it was applied; nothing was applied".to_string(),
            ),
            "failed" => (b.failure_code.clone(), b.failure_msg.clone()),
            "expired" => (
                String::new(),
                "expired before all of its rows arrived; nothing was applied".to_string(),
            ),
            _ => (
                String::new(),
                format!(
                    "not complete: {} of {} rows staged, nothing applied yet",
                    b.staged_rows, b.batch_size
                ),
            ),
        };
        let mut notes: Vec<String> = Vec::new();
        for r in &b.rejections {
            if let Some(a) = &r.answer {
                if !notes.contains(&a.msg) {
                    notes.push(a.msg.clone());
                }
            }
        }
        let summary = Summary {
            headline: String::new(),
            code,
            msg,
            notes,
            state: b.state.clone(),
            batch_id: b.batch_id.clone(),
            interface: format!("{}/{}", b.data_category, b.biz_key),
            environment: env_name(b.environment).into(),
            operation: b.operation.clone(),
            file: b.source.clone(),
            time: pages::utc(b.created_unix),
            rows_sent: b.batch_size,
            rows_applied: if applied { b.batch_size } else { 0 },
            plan: schedule::plan(&b),
            actions: schedule::actions(&b),
            href: result_href(env, category, biz_key, batch_id),
        };
        let lines = report::error_lines(b.rejections.iter().filter_map(|r| r.answer.as_ref()));
        let base = result_href(env, category, biz_key, batch_id);
        self.result_page(s, summary, lines, page, &base)
    }

    /// The result page of `summary` with page `page` (1-based) of its error lines; `base`
    /// is the page's own URL ("" when it has none: an unreadable file).
    fn result_page(
        &self,
        s: &Session,
        mut summary: Summary,
        lines: Vec<report::ErrorLine>,
        page: usize,
        base: &str,
    ) -> Reply {
        let total = lines.len();
        summary.headline = headline(&summary, &lines);
        let pages_n = total.div_ceil(ERRORS_PER_PAGE).max(1);
        let page = page.clamp(1, pages_n);
        let first = (page - 1) * ERRORS_PER_PAGE;
        let errors: Vec<ErrorRow> = lines
            .into_iter()
            .skip(first)
            .take(ERRORS_PER_PAGE)
            .map(|e| ErrorRow {
                line: if e.line == 0 {
                    "—".into()
                } else {
                    e.line.to_string()
                },
                field: e.field,
                kind: e.kind,
                value: e.value,
            })
            .collect();
        let link = |p: usize| {
            if base.is_empty() || p == 0 || p > pages_n || p == page {
                String::new()
            } else {
                format!("{base}?page={p}")
            }
        };
        let shown = errors.len();
        pages::page(
            StatusCode::OK,
            &pages::ResultPage {
                nav: Some(s.nav()),
                csrf: session::csrf_token(&s.token),
                summary,
                total_errors: total,
                first_shown: first + 1,
                last_shown: first + shown,
                errors,
                csv_href: if base.is_empty() {
                    String::new()
                } else {
                    format!("{base}/errors.csv")
                },
                prev_href: link(page - 1),
                next_href: link(page + 1),
            },
        )
    }

    /// A button on the history or result page: execute now, revert, cancel.
    async fn act(
        &self,
        s: &Session,
        (env, category, biz_key, batch_id): (&str, &str, &str, &str),
        action: &str,
        req: Request<Incoming>,
    ) -> Reply {
        let form = match read_body(req, FORM_LIMIT).await {
            Ok(b) => parse_form(&b),
            Err(_) => Vec::new(),
        };
        let field = |name: &str| form_field(&form, name);
        if !s.csrf_ok(&field("csrf")) {
            return self.csrf_refused(s);
        }
        let href = result_href(env, category, biz_key, batch_id);
        if action == "revert" && field("confirmed") != "yes" {
            return pages::page(
                StatusCode::OK,
                &pages::ConfirmPage {
                    nav: Some(s.nav()),
                    question: format!(
                        "Revert batch {batch_id} now? Every row it inserted, changed or deleted goes back to what it was before; rows changed since by a later batch are left and listed."
                    ),
                    action_href: format!("{href}/revert"),
                    label: "Revert now".into(),
                    back_href: href,
                },
            );
        }
        let Some(environment) = env_of(env) else {
            return self.not_found(Some(s.nav()));
        };
        let mut core = self.core.clone();
        match core
            .act_on_batch(pb::BatchActionRequest {
                partner: s.partner.clone(),
                environment: environment as i32,
                data_category: category.to_string(),
                biz_key: biz_key.to_string(),
                batch_id: batch_id.to_string(),
                action: action.to_string(),
                actor: s.user.clone(),
            })
            .await
        {
            Ok(_) => pages::redirect(&href, &[]),
            Err(st) if st.code() == Code::NotFound => self.not_found(Some(s.nav())),
            Err(st) if st.code() == Code::FailedPrecondition => pages::message(
                StatusCode::CONFLICT,
                Some(s.nav()),
                "Not possible now",
                st.message(),
            ),
            Err(st) => core_down(Some(s.nav()), &st),
        }
    }

    async fn errors_csv(
        &self,
        s: &Session,
        env: &str,
        category: &str,
        biz_key: &str,
        batch_id: &str,
    ) -> Reply {
        let b = match self.batch(s, env, category, biz_key, batch_id).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let lines = report::error_lines(b.rejections.iter().filter_map(|r| r.answer.as_ref()));
        pages::download(
            "text/csv; charset=utf-8",
            &format!("errors-{}.csv", b.batch_id),
            report::errors_csv(&lines),
        )
    }

    async fn history(&self, s: &Session, query: Option<&str>) -> Reply {
        let before = query_param(query, "before")
            .parse::<u64>()
            .ok()
            .unwrap_or(0);
        let mut core = self.core.clone();
        let list = match core
            .list_batches(pb::ListBatchesRequest {
                partner: s.partner.clone(),
                user: s.user.clone(),
                limit: HISTORY_PAGE,
                before,
            })
            .await
        {
            Ok(l) => l.into_inner().batches,
            Err(st) => return core_down(Some(s.nav()), &st),
        };
        let older_href = match list.last() {
            Some(last) if list.len() == HISTORY_PAGE as usize => {
                format!("/batches?before={}", last.cursor)
            }
            _ => String::new(),
        };
        let batches = list
            .iter()
            .map(|b| {
                let env = env_name(b.environment);
                HistoryRow {
                    time: pages::utc(b.created_unix),
                    interface: format!("{}/{}", b.data_category, b.biz_key),
                    environment: env.into(),
                    operation: b.operation.clone(),
                    rows: b.batch_size,
                    state: b.state.clone(),
                    code: match b.state.as_str() {
                        "applied" | "held" | "reverted" => "0".into(),
                        _ => b.failure_code.clone(),
                    },
                    file: b.source.clone(),
                    href: result_href(env, &b.data_category, &b.biz_key, &b.batch_id),
                    plan: schedule::plan(b),
                    actions: schedule::actions(b),
                }
            })
            .collect();
        pages::page(
            StatusCode::OK,
            &pages::HistoryPage {
                nav: Some(s.nav()),
                csrf: session::csrf_token(&s.token),
                batches,
                older_href,
            },
        )
    }

    async fn template(&self, s: &Session, category: &str, biz_key: &str) -> Reply {
        let mut core = self.core.clone();
        let defs = match core
            .list_interfaces(pb::ListInterfacesRequest {
                partner: s.partner.clone(),
            })
            .await
        {
            Ok(d) => d.into_inner().interfaces,
            Err(st) => return core_down(Some(s.nav()), &st),
        };
        let Some(def) = defs
            .iter()
            .find(|d| d.data_category == category && d.biz_key == biz_key)
        else {
            return self.not_found(Some(s.nav()));
        };
        match crate::workbook::template(def) {
            Ok(bytes) => pages::download(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("{category}_{biz_key}_template.xlsx"),
                bytes,
            ),
            Err(e) => {
                tracing::error!(error = %e, "template workbook failed");
                pages::message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(s.nav()),
                    "Internal error",
                    "The template could not be built.",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_directories_and_control_characters() {
        assert_eq!(clean_file_name("C:\\Users\\me\\bom.xlsx"), "bom.xlsx");
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("a\u{0}b\r\n.csv"), "ab.csv");
        assert_eq!(clean_file_name(&"x".repeat(500)).len(), 200);
        assert_eq!(clean_file_name("供应商清单.xlsx"), "供应商清单.xlsx");
    }

    #[test]
    fn sheets_are_known_by_their_extension() {
        assert_eq!(sheet_format("a.XLSX"), Some(wharf_sheet::Format::Xlsx));
        assert_eq!(sheet_format("a.csv"), Some(wharf_sheet::Format::Csv));
        assert_eq!(sheet_format("a.xls"), None);
        assert_eq!(sheet_format("a.pdf"), None);
        assert_eq!(sheet_format("xlsx"), None);
    }

    #[test]
    fn result_links_encode_every_segment() {
        assert_eq!(
            result_href("uat", "t1", "b o/m", "id#1"),
            "/batches/uat/t1/b%20o%2Fm/id%231"
        );
    }
}
