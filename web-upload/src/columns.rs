//! The mapping step: a sheet whose columns core could not all match to fields (a header it
//! does not know, a guess to confirm, a required field no column fills) is held in core and
//! shown column by column, each with its first values and a choice of field; what the user
//! chooses comes back with the upload form, core checks and remembers it, and the sheet is
//! sent with its columns so named. Matching is core's (`MatchColumns`); this is its page.

use hyper::StatusCode;
use wharf_proto::v1 as pb;
use wharf_sheet::{Sheet, SheetFile};

use crate::core_error::Call;
use crate::i18n::t;
use crate::multipart::UploadForm;
use crate::pages::{self, FieldOption, MapColumn, Reply};
use crate::send::operation_of;
use crate::session::Session;
use crate::Upload;

/// How many values of each column the page shows.
const SAMPLES: usize = 3;
/// How many rows it looks through for them: those an opened sheet keeps.
const SAMPLE_ROWS: usize = wharf_sheet::HEAD_ROWS;

fn note(how: &str) -> &'static str {
    match how {
        "exact" => t("how.exact"),
        "remembered" => t("how.remembered"),
        "label" => t("how.label"),
        "alternate" => t("how.alternate"),
        "spelling" => t("how.spelling"),
        "extra" => t("how.extra"),
        "guess" => t("how.guess"),
        _ => t("how.none"),
    }
}

/// The first values of each column, joined.
fn samples(sheet: &Sheet) -> Vec<String> {
    let mut found: Vec<Vec<String>> = vec![Vec::new(); sheet.header.len()];
    for row in sheet.rows().take(SAMPLE_ROWS) {
        for f in row.row.fields {
            let Some(col) = sheet.column(&f.name) else {
                continue;
            };
            let text = match f.value.and_then(|v| v.kind) {
                Some(pb::value::Kind::Text(t) | pb::value::Kind::Number(t)) => t,
                _ => continue,
            };
            if found[col].len() < SAMPLES && !text.trim().is_empty() {
                found[col].push(text.chars().take(40).collect());
            }
        }
        if found.iter().all(|v| v.len() >= SAMPLES) {
            break;
        }
    }
    found.into_iter().map(|v| v.join(" · ")).collect()
}

fn field_options(def: Option<&pb::InterfaceDef>) -> Vec<FieldOption> {
    def.map(|d| {
        d.fields
            .iter()
            .map(|f| {
                let mut text = f.name.clone();
                // English pages name both labels; Chinese pages the Chinese one.
                let shown: &[&str] = match crate::i18n::lang() {
                    crate::i18n::Lang::En => &["en", "zh-CN"],
                    crate::i18n::Lang::ZhCn => &["zh-CN"],
                };
                let labels: Vec<&str> = shown
                    .iter()
                    .filter_map(|l| f.labels.get(*l).map(String::as_str))
                    .collect();
                if !labels.is_empty() {
                    text.push_str(&format!(" — {}", labels.join(" · ")));
                }
                if f.required && f.default_value.is_empty() {
                    text.push_str(t("how.required"));
                }
                FieldOption {
                    name: f.name.clone(),
                    text,
                }
            })
            .collect()
    })
    .unwrap_or_default()
}

/// What the upload does next with its sheet's columns.
pub(crate) enum Settled {
    /// The columns are named: send the sheet.
    Send,
    /// The user must choose first (or core could not be asked): this page.
    Ask(Reply),
}

/// Where the sheet goes and what it was called, for the mapping step.
pub(crate) struct Held<'a> {
    pub(crate) category: &'a str,
    pub(crate) biz_key: &'a str,
    pub(crate) file_name: &'a str,
    pub(crate) content: &'a [u8],
    /// The batch the sheet is sent as.
    pub(crate) batch_id: &'a str,
    /// A sheet fixed in the grid: the batch it corrects (`""` else).
    pub(crate) corrects: &'a str,
}

impl Upload {
    /// Name the sheet's columns: as core matched them when that settles every column, as
    /// the user chose when the form carries a choice, else by asking (the mapping page).
    pub(crate) async fn settle_columns(
        &self,
        s: &Session,
        f: &UploadForm,
        held: &Held<'_>,
        sheet: &mut SheetFile,
    ) -> Settled {
        let op = operation_of(&f.operation).unwrap_or(pb::Operation::Insert);
        let mut core = self.core.clone();
        let matched = core
            .match_columns(pb::MatchColumnsRequest {
                partner: s.partner.clone(),
                data_category: held.category.to_string(),
                biz_key: held.biz_key.to_string(),
                headers: sheet.header().to_vec(),
                operation: op as i32,
            })
            .await;
        let m = match matched {
            Ok(m) => m.into_inner(),
            // An interface the user may not send, a header row too wide to match: core's
            // answer to the batch says what is wrong.
            Err(st)
                if matches!(
                    st.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                return Settled::Send
            }
            Err(st) => return Settled::Ask(self.core_error(Call::Page(s), &st)),
        };
        if !f.columns.is_empty() {
            let chosen: Vec<String> = (0..sheet.header().len())
                .map(|i| f.columns.get(&i).cloned().unwrap_or_default())
                .collect();
            let saved = core
                .save_columns(pb::SaveColumnsRequest {
                    partner: s.partner.clone(),
                    user: s.user.clone(),
                    data_category: held.category.to_string(),
                    biz_key: held.biz_key.to_string(),
                    operation: op as i32,
                    columns: sheet
                        .header()
                        .iter()
                        .zip(&chosen)
                        .map(|(h, c)| pb::ColumnChoice {
                            header: h.clone(),
                            field: c.clone(),
                        })
                        .collect(),
                })
                .await;
            return match saved {
                Ok(_) => {
                    sheet.map_columns(&chosen);
                    Settled::Send
                }
                Err(st) if st.code() == tonic::Code::InvalidArgument => {
                    let mut again = m;
                    for (c, field) in again.columns.iter_mut().zip(&chosen) {
                        c.field = field.clone();
                    }
                    Settled::Ask(
                        self.columns_page(s, f, held, &f.held, sheet, &again, st.message())
                            .await,
                    )
                }
                Err(st) => Settled::Ask(self.core_error(Call::Page(s), &st)),
            };
        }
        if m.complete {
            sheet.map_columns(&wharf_sheet::send::settled_fields(&m));
            return Settled::Send;
        }
        let id = if f.held.is_empty() {
            match self.hold(s, held).await {
                Ok(id) => id,
                Err(st) => return Settled::Ask(self.core_error(Call::Page(s), &st)),
            }
        } else {
            f.held.clone()
        };
        Settled::Ask(self.columns_page(s, f, held, &id, sheet, &m, "").await)
    }

    /// Have core keep the uploaded file (a day) as the batch's; its id.
    pub(crate) async fn hold(&self, s: &Session, held: &Held<'_>) -> Result<String, tonic::Status> {
        let mut core = self.core.clone();
        Ok(core
            .hold_upload(pb::HoldUploadRequest {
                partner: s.partner.clone(),
                user: s.user.clone(),
                file_name: held.file_name.to_string(),
                content: held.content.to_vec(),
                batch_id: held.batch_id.to_string(),
                corrects: held.corrects.to_string(),
            })
            .await?
            .into_inner()
            .id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn columns_page(
        &self,
        s: &Session,
        f: &UploadForm,
        held: &Held<'_>,
        id: &str,
        sheet: &SheetFile,
        m: &pb::MatchColumnsResponse,
        error: &str,
    ) -> Reply {
        let def = match self.interface_def(s, held.category, held.biz_key).await {
            Ok(d) => d,
            Err(r) => return r,
        };
        let values = samples(sheet.head());
        let columns = m
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| MapColumn {
                index: i,
                letter: wharf_sheet::column_name(i as u32),
                header: c.header.clone(),
                samples: values.get(i).cloned().unwrap_or_default(),
                selected: c.field.clone(),
                how: c.how.clone(),
                note: note(&c.how).to_string(),
            })
            .collect();
        pages::page(
            if error.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            },
            &pages::ColumnsPage {
                nav: Some(s.nav()),
                file: held.file_name.to_string(),
                interface: f.interface.clone(),
                environment: f.environment.clone(),
                operation: f.operation.clone(),
                confirm_all: f.confirm_all,
                when: f.schedule.when.clone(),
                execute_at: f.schedule.execute_at.clone(),
                revert_at: f.schedule.revert_at.clone(),
                tz: f.schedule.tz_offset_minutes.clone(),
                held: id.to_string(),
                columns,
                fields: field_options(def.as_ref()),
                missing: m.missing.clone(),
                error: error.to_string(),
            },
        )
    }
}
