//! The upload form's multipart body, read under the size limits: the file (its name cleaned)
//! and the fields around it.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::Request;
use wharf_gateway::body::{declared_length, timed_body, BodyTimedOut};

use crate::schedule::ScheduleForm;
use crate::Upload;

/// Each form field of the upload form but the file.
const FIELD_LIMIT: u64 = 4 * 1024;

/// Most columns the mapping step's form names (core takes fewer: it answers the rest).
const MAX_FORM_COLUMNS: usize = 4096;

/// What the upload form sent.
#[derive(Default)]
pub(crate) struct UploadForm {
    pub(crate) csrf: String,
    pub(crate) interface: String,
    pub(crate) environment: String,
    pub(crate) operation: String,
    pub(crate) confirm_all: bool,
    pub(crate) schedule: ScheduleForm,
    /// "Check only — validate everything and apply nothing".
    pub(crate) check_only: bool,
    pub(crate) file_name: String,
    pub(crate) file: Option<Bytes>,
    /// The mapping step: the id core holds the file under, and the field chosen for each
    /// column (by column number; `""`: ignore it).
    pub(crate) held: String,
    pub(crate) columns: std::collections::BTreeMap<usize, String>,
}

/// Why the upload form could not be read.
pub(crate) enum FormError {
    TooLarge,
    /// Not complete by the request's deadline.
    TimedOut,
    Unreadable(String),
}

/// The file name a browser sent, without any directory part, control characters or
/// excessive length.
fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Whether a stream error is the body's deadline passing (under the `io::Error` it was put in).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimedOut>() {
            return true;
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

impl Upload {
    /// Read the multipart upload form, holding the file under the size limit.
    pub(crate) async fn read_upload_form(
        &self,
        req: Request<Incoming>,
    ) -> Result<UploadForm, FormError> {
        let boundary = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or_else(|| FormError::Unreadable(crate::i18n::t("upload.not_multipart").into()))?;
        let whole = self.cfg.max_file_bytes() + 64 * 1024;
        if declared_length(&req).is_some_and(|n| n > whole) {
            return Err(FormError::TooLarge);
        }
        let limits = multer::SizeLimit::new()
            .whole_stream(whole)
            .per_field(FIELD_LIMIT)
            .for_field("file", self.cfg.max_file_bytes());
        let stream = BodyDataStream::new(timed_body(req)).map(|r| r.map_err(std::io::Error::other));
        let mut mp = multer::Multipart::with_constraints(
            stream,
            boundary,
            multer::Constraints::new().size_limit(limits),
        );
        let map_err = |e: multer::Error| match e {
            multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
                FormError::TooLarge
            }
            multer::Error::StreamReadFailed(e) if timed_out(e.as_ref()) => FormError::TimedOut,
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
                "held" => f.held = value,
                "check_only" => f.check_only = value == "yes",
                // Anything else a browser adds is not ours to read.
                other => {
                    if let Some(i) = other
                        .strip_prefix("column.")
                        .and_then(|i| i.parse::<usize>().ok())
                        .filter(|i| *i < MAX_FORM_COLUMNS)
                    {
                        f.columns.insert(i, value);
                    }
                }
            }
        }
        Ok(f)
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
}
