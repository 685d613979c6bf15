//! A batch's sheet as its user uploaded it (core holds the file a day, `GetHeldUpload` by
//! batch), read again by the door's own reader, with the field each column fills (as core
//! matches the headers now) and the batch's error lines: what the marked copy (`annotated`)
//! and the grid (`fix`) are built from.

use hyper::StatusCode;
use wharf_proto::v1 as pb;
use wharf_sheet::Sheet;

use crate::core_error::Call;
use crate::pages::{self, Reply};
use crate::report::{self, ErrorLine};
use crate::send::operation_of;
use crate::session::Session;
use crate::Upload;

/// A batch's uploaded sheet and its errors.
pub(crate) struct SentSheet {
    pub(crate) batch: pb::GetBatchResponse,
    pub(crate) file_name: String,
    pub(crate) sheet: Sheet,
    /// The field column `i` fills (`""`: ignored).
    pub(crate) fields: Vec<String>,
    pub(crate) lines: Vec<ErrorLine>,
}

impl Upload {
    /// The batch that batch `batch_id` corrects (a sheet fixed in the grid; its held file
    /// says which), `""` when none.
    pub(crate) async fn corrects(
        &self,
        s: &Session,
        batch_id: &str,
    ) -> Result<String, tonic::Status> {
        let mut core = self.core.clone();
        Ok(core
            .get_held_upload(pb::HeldUploadRef {
                partner: s.partner.clone(),
                user: s.user.clone(),
                id: String::new(),
                batch_id: batch_id.to_string(),
                without_content: true,
            })
            .await?
            .into_inner()
            .corrects)
    }

    /// The sheet batch `batch_id` was sent from, or the page saying why there is none.
    pub(crate) async fn sent_sheet(
        &self,
        s: &Session,
        (env, category, biz_key, batch_id): (&str, &str, &str, &str),
    ) -> Result<SentSheet, Reply> {
        let batch = self
            .batch(s, env, category, biz_key, batch_id, true)
            .await?;
        let mut core = self.core.clone();
        let held = core
            .get_held_upload(pb::HeldUploadRef {
                partner: s.partner.clone(),
                user: s.user.clone(),
                id: String::new(),
                batch_id: batch.batch_id.clone(),
                without_content: false,
            })
            .await
            .map_err(|st| self.core_error(Call::Page(s), &st))?
            .into_inner();
        let gone = || {
            pages::message(
                StatusCode::NOT_FOUND,
                Some(s.nav()),
                crate::i18n::t("sent.gone"),
                crate::i18n::t("sent.gone_text"),
            )
        };
        let format = wharf_sheet::Format::from_file_name(&held.file_name)
            .filter(|_| held.found)
            .ok_or_else(gone)?;
        let limits = self.cfg.sheet_limits.clone();
        let content = held.content;
        let sheet =
            tokio::task::spawn_blocking(move || wharf_sheet::read(format, &content, &limits)).await;
        let Ok(Ok(sheet)) = sheet else {
            return Err(gone());
        };
        let fields = core
            .match_columns(pb::MatchColumnsRequest {
                partner: s.partner.clone(),
                data_category: category.to_string(),
                biz_key: biz_key.to_string(),
                headers: sheet.header.clone(),
                operation: operation_of(&batch.operation).unwrap_or(pb::Operation::Insert) as i32,
            })
            .await
            .map(|m| wharf_sheet::send::settled_fields(m.get_ref()))
            .map_err(|st| self.core_error(Call::Page(s), &st))?;
        let lines = report::error_lines(batch.rejections.iter().filter_map(|r| r.answer.as_ref()));
        Ok(SentSheet {
            batch,
            file_name: held.file_name,
            sheet,
            fields,
            lines,
        })
    }
}
