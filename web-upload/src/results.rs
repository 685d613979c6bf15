//! A batch's result page (its summary and a page of its error table) and the CSV of all its
//! errors, both from core's stored batch and rejections.

use hyper::StatusCode;
use wharf_proto::v1 as pb;

use crate::core_error::Call;
use crate::hints;
use crate::i18n::{t, tf};
use crate::pages::{self, ErrorRow, Note, Reply, Summary};
use crate::report;
use crate::routes::{env_name, env_of, result_href};
use crate::schedule;
use crate::session::{self, Session};
use crate::Upload;

/// Error lines per result page.
const ERRORS_PER_PAGE: usize = 100;

/// What happened to the data, in one sentence for the person who sent it.
fn headline(s: &Summary, lines: &[report::ErrorLine]) -> String {
    let mut rows: Vec<u32> = lines.iter().map(|e| e.line).filter(|l| *l > 0).collect();
    rows.dedup();
    match s.state.as_str() {
        "applied" => tf("headline.applied", &[("n", &s.rows_applied)]),
        "open" => t("headline.open").into(),
        "held" => tf(
            "headline.held",
            &[("n", &s.rows_sent), ("at", &s.plan.execute_at.text)],
        ),
        "checked" => tf("headline.checked", &[("n", &s.rows_sent)]),
        "reverted" => tf("headline.reverted", &[("n", &s.rows_applied)]),
        "cancelled" => t("headline.cancelled").into(),
        "expired" => t("headline.expired").into(),
        "refused" => t("headline.refused").into(),
        _ if !rows.is_empty() => {
            let key = match (lines.len() == 1, rows.len() == 1) {
                (true, _) => "headline.failed_1_1",
                (false, true) => "headline.failed_n_1",
                (false, false) => "headline.failed_n_n",
            };
            tf(key, &[("errors", &lines.len()), ("rows", &rows.len())])
        }
        _ => t("headline.nothing").into(),
    }
}

impl Upload {
    /// The batch a result page's URL names, with its rejections when `rejections`.
    pub(crate) async fn batch(
        &self,
        s: &Session,
        env: &str,
        category: &str,
        biz_key: &str,
        batch_id: &str,
        rejections: bool,
    ) -> Result<pb::GetBatchResponse, Reply> {
        let Some(environment) = env_of(env) else {
            return Err(pages::not_found(Some(s.nav())));
        };
        let mut core = self.core.clone();
        match core
            .get_batch(pb::GetBatchRequest {
                partner: s.partner.clone(),
                environment: environment as i32,
                data_category: category.to_string(),
                biz_key: biz_key.to_string(),
                batch_id: batch_id.to_string(),
                with_rejections: rejections,
                without_rejections: false,
            })
            .await
        {
            Ok(b) if b.get_ref().found => Ok(b.into_inner()),
            Ok(_) => Err(pages::not_found(Some(s.nav()))),
            Err(st) => Err(self.core_error(Call::Page(s), &st)),
        }
    }

    pub(crate) async fn result(
        &self,
        s: &Session,
        env: &str,
        category: &str,
        biz_key: &str,
        batch_id: &str,
        page: usize,
    ) -> Reply {
        let b = match self.batch(s, env, category, biz_key, batch_id, true).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let base = result_href(env, category, biz_key, batch_id);
        // A reverted batch was applied first: its rows landed, then went back.
        let applied = b.state == "applied" || b.state == "reverted";
        let (code, msg) = match b.state.as_str() {
            "applied" => (
                "0".to_string(),
                format!("request success: batch applied ({} rows)", b.batch_size),
            ),
            "held" if b.check_only => (
                "0".to_string(),
                format!(
                    "request success: batch checked: all {} rows pass; nothing was applied",
                    b.batch_size
                ),
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
            // Only rejected sequences so far: their last answer is the batch's.
            _ if b.staged_rows == 0 && !b.rejections.is_empty() => b
                .rejections
                .iter()
                .rev()
                .find_map(|r| r.answer.as_ref())
                .map(|a| (a.code.clone(), a.msg.clone()))
                .unwrap_or_default(),
            _ => (
                String::new(),
                format!(
                    "not complete: {} of {} rows staged, nothing applied yet",
                    b.staged_rows, b.batch_size
                ),
            ),
        };
        let mut notes: Vec<Note> = Vec::new();
        for r in &b.rejections {
            if let Some(a) = &r.answer {
                if !notes.iter().any(|n| n.msg == a.msg) {
                    notes.push(Note {
                        msg: a.msg.clone(),
                        explained: hints::explain(&a.code, &a.msg),
                    });
                }
            }
        }
        // A sheet fixed in the grid names the batch it corrects.
        let corrects = match self.corrects(s, &b.batch_id).await {
            Ok(c) => c,
            Err(st) => return self.core_error(Call::Page(s), &st),
        };
        let summary = Summary {
            corrects_href: if corrects.is_empty() {
                String::new()
            } else {
                result_href(env, category, biz_key, &corrects)
            },
            corrects,
            headline: String::new(),
            explained: String::new(),
            code,
            msg,
            notes,
            // `rejected` needs rejections to show (a batch just begun has none staged yet).
            state: if b.rejections.is_empty() && b.state == "open" {
                b.state.clone()
            } else {
                pages::shown_state(&b)
            },
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
            href: base.clone(),
        };
        let lines = report::error_lines(b.rejections.iter().filter_map(|r| r.answer.as_ref()));
        self.result_page(s, summary, lines, page, &base)
    }

    /// The result page of `summary` with page `page` (1-based) of its error lines; `base`
    /// is the page's own URL ("" when it has none: an unreadable file).
    pub(crate) fn result_page(
        &self,
        s: &Session,
        mut summary: Summary,
        lines: Vec<report::ErrorLine>,
        page: usize,
        base: &str,
    ) -> Reply {
        let total = lines.len();
        summary.headline = headline(&summary, &lines);
        summary.explained = hints::explain(&summary.code, &summary.msg);
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
                hint: e.hint,
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
                annotated_href: if base.is_empty() {
                    String::new()
                } else {
                    format!("{base}/annotated.xlsx")
                },
                fix_href: if base.is_empty() {
                    String::new()
                } else {
                    format!("{base}/fix")
                },
                prev_href: link(page - 1),
                next_href: link(page + 1),
            },
        )
    }

    pub(crate) async fn errors_csv(
        &self,
        s: &Session,
        env: &str,
        category: &str,
        biz_key: &str,
        batch_id: &str,
    ) -> Reply {
        let b = match self.batch(s, env, category, biz_key, batch_id, true).await {
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
}
