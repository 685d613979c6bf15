//! The upload page: its form, and a sent sheet checked, read and handed to `send`; the
//! answer is the batch's result page (or, for a file that is not a sheet, core's reason).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use wharf_proto::v1 as pb;

use wharf_metrics::Outcome;

use crate::core_error::Call;
use crate::multipart::{FormError, UploadForm};
use crate::pages::{self, Choice, Reply, Summary};
use crate::report;
use crate::routes::{enc, env_of, result_href};
use crate::send::{self, Sent, Target};
use crate::session::Session;
use crate::Upload;

fn operation_of(text: &str) -> Option<pb::Operation> {
    match text {
        "insert" => Some(pb::Operation::Insert),
        "update" => Some(pb::Operation::Update),
        "delete" => Some(pb::Operation::Delete),
        "all" => Some(pb::Operation::All),
        _ => None,
    }
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
                    &format!(
                        "The file is larger than {} MiB, the most one upload may hold. Split it into smaller sheets.",
                        self.cfg.max_file_bytes().div_ceil(1 << 20)
                    ),
                )
            }
            Err(FormError::TimedOut) => return pages::too_slow(Some(s.nav())),
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
            return pages::csrf_refused(Some(s.nav()));
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
        if f.check_only && f.schedule.is_planned() {
            return refuse(
                "Check only applies nothing, so there is nothing to schedule: choose \"Apply as soon as the sheet is in\" with no revert time, or untick Check only. You apply a checked sheet with its \"Apply now\" button.",
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
            check_only: f.check_only,
        };
        let mut core = self.core.clone();
        let sent = send::send_sheet(&mut core, &target, sheet).await;
        self.metrics.upload(match &sent {
            Ok(Sent::Batch { .. }) => Outcome::ok,
            Ok(Sent::Answered(_)) => Outcome::refused,
            Err(_) => Outcome::error,
        });
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
                    file: f.file_name.clone(),
                    ..Summary::default()
                };
                let lines = report::error_lines([&answer]);
                self.result_page(s, summary, lines, 1, "")
            }
            Err(st) => self.core_error(Call::Page(s), &st),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheets_are_known_by_their_extension() {
        assert_eq!(sheet_format("a.XLSX"), Some(wharf_sheet::Format::Xlsx));
        assert_eq!(sheet_format("a.csv"), Some(wharf_sheet::Format::Csv));
        assert_eq!(sheet_format("a.xls"), None);
        assert_eq!(sheet_format("a.pdf"), None);
        assert_eq!(sheet_format("xlsx"), None);
    }
}
