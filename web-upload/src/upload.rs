//! The upload page: its form, and a sent sheet checked, read and handed to `send`; the
//! answer is the batch's result page (or, for a file that is not a sheet, core's reason).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use wharf_proto::v1 as pb;

use crate::columns::{Held, Settled};
use crate::core_error::Call;
use crate::i18n::{t, tf};
use crate::multipart::{FormError, UploadForm};
use crate::pages::{self, Choice, Reply, Summary};
use crate::report;
use crate::routes::{enc, env_of, result_href};
use crate::send::{self, operation_of, Sent, Target};
use crate::session::Session;
use crate::Upload;

impl Upload {
    pub(crate) fn upload_form(
        &self,
        s: &Session,
        status: StatusCode,
        f: &UploadForm,
        error: &str,
    ) -> Reply {
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
                // No default: production data is never written because nobody chose.
                environment: f.environment.clone(),
                operation: or(&f.operation, "insert"),
                check_only: f.check_only,
                max_mib: self.cfg.max_file_bytes().div_ceil(1 << 20),
                error: error.to_string(),
            },
        )
    }

    pub(crate) async fn upload(&self, s: &Session, req: Request<Incoming>) -> Reply {
        let f = match self.read_upload_form(req).await {
            Ok(f) => f,
            Err(FormError::TooLarge) => {
                return self.upload_form(
                    s,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &UploadForm::default(),
                    &tf(
                        "upload.too_large",
                        &[("mib", &self.cfg.max_file_bytes().div_ceil(1 << 20))],
                    ),
                )
            }
            Err(FormError::TimedOut) => return pages::too_slow(Some(s.nav())),
            Err(FormError::Unreadable(why)) => {
                return self.upload_form(
                    s,
                    StatusCode::BAD_REQUEST,
                    &UploadForm::default(),
                    &tf("upload.unreadable", &[("why", &why)]),
                )
            }
        };
        if !s.csrf_ok(&f.csrf) {
            return pages::csrf_refused(Some(s.nav()));
        }
        let refuse = |msg: &str| self.upload_form(s, StatusCode::BAD_REQUEST, &f, msg);
        let Some((category, biz_key)) = f.interface.split_once('/') else {
            return refuse(t("upload.choose_interface"));
        };
        let Some(env) = env_of(&f.environment) else {
            return refuse(t("upload.choose_env"));
        };
        let Some(operation) = operation_of(&f.operation) else {
            return refuse(t("upload.choose_op"));
        };
        if operation == pb::Operation::All && !f.confirm_all {
            return refuse(t("upload.confirm_all"));
        }
        if f.check_only && f.schedule.is_planned() {
            return refuse(t("upload.check_scheduled"));
        }
        // The file: sent with the form, or held by core while its columns were mapped.
        let (file_name, bytes, batch_id) = if f.held.is_empty() {
            match f.file.clone().filter(|_| !f.file_name.is_empty()) {
                Some(bytes) => (f.file_name.clone(), bytes, send::new_batch_id()),
                None => return refuse(t("upload.choose_file")),
            }
        } else {
            let mut core = self.core.clone();
            match core
                .get_held_upload(pb::HeldUploadRef {
                    partner: s.partner.clone(),
                    user: s.user.clone(),
                    id: f.held.clone(),
                    batch_id: String::new(),
                    without_content: false,
                })
                .await
            {
                Ok(r) if r.get_ref().found => {
                    let r = r.into_inner();
                    (r.file_name, bytes::Bytes::from(r.content), r.batch_id)
                }
                Ok(_) => return refuse(t("upload.held_gone")),
                Err(st) => return self.core_error(Call::Page(s), &st),
            }
        };
        let Some(format) = wharf_sheet::Format::from_file_name(&file_name) else {
            return refuse(&tf("upload.not_a_sheet", &[("file", &file_name)]));
        };
        let limits = self.cfg.sheet_limits.clone();
        let content = bytes.clone();
        // Unpacking and parsing a workbook is CPU work: keep it off the I/O threads. The
        // sheet is checked whole here but not held: its rows are read again as they are sent.
        let mut sheet =
            match tokio::task::spawn_blocking(move || wharf_sheet::open(format, content, &limits))
                .await
            {
                Ok(sheet) => sheet,
                Err(e) => {
                    tracing::error!(error = %e, "sheet reader stopped");
                    return pages::message(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some(s.nav()),
                        t("message.internal"),
                        t("upload.failed"),
                    );
                }
            };
        if let Ok(sheet) = &mut sheet {
            let held = Held {
                category,
                biz_key,
                file_name: &file_name,
                content: &bytes,
                batch_id: &batch_id,
                corrects: "",
            };
            if let Settled::Ask(page) = self.settle_columns(s, &f, &held, sheet).await {
                return page;
            }
            // Kept for a day, for the copy with its errors marked.
            if f.held.is_empty() {
                if let Err(st) = self.hold(s, &held).await {
                    return self.core_error(Call::Page(s), &st);
                }
            }
        }
        drop(bytes);
        let target = Target {
            partner: s.partner.clone(),
            user: s.user.clone(),
            env,
            data_category: category.to_string(),
            biz_key: biz_key.to_string(),
            operation,
            source: file_name.clone(),
            schedule: f.schedule.schedule(),
            check_only: f.check_only,
        };
        let sent = self.send_sheet(&target, &batch_id, sheet).await;
        match sent {
            Ok(Sent::Batch { batch_id, .. }) => pages::redirect(
                &result_href(&f.environment, category, biz_key, &batch_id),
                &[],
            ),
            Ok(Sent::Answered(answer)) => {
                let summary = Summary {
                    code: answer.code.clone(),
                    msg: answer.msg.clone(),
                    state: "refused".into(),
                    interface: f.interface.clone(),
                    environment: f.environment.clone(),
                    operation: f.operation.clone(),
                    file: file_name.clone(),
                    ..Summary::default()
                };
                let lines = report::error_lines([&answer]);
                self.result_page(s, summary, lines, 1, "")
            }
            Err(st) => self.core_error(Call::Page(s), &st),
        }
    }
}
