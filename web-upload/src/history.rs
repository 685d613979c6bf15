//! The history page: the user's own batches, newest first, a page at a time.

use hyper::StatusCode;
use wharf_proto::v1 as pb;

use crate::core_error::Call;
use crate::hints;
use crate::pages::{self, HistoryRow, Reply};
use crate::routes::{env_name, result_href};
use crate::schedule;
use crate::session::{self, Session};
use crate::Upload;

/// Batches per history page.
const HISTORY_PAGE: u32 = 50;

impl Upload {
    /// The page of batches older than the cursor `before` (0: the newest).
    pub(crate) async fn history(&self, s: &Session, before: u64) -> Reply {
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
            Err(st) => return self.core_error(Call::Page(s), &st),
        };
        let older_href = match list.last() {
            Some(last) if list.len() == HISTORY_PAGE as usize => {
                format!("/batches?before={}", last.cursor)
            }
            _ => String::new(),
        };
        // A sheet fixed in the grid names the batch it corrects (its held file says which).
        let mut corrects: Vec<String> = Vec::with_capacity(list.len());
        for b in &list {
            let mut named = String::new();
            if b.transport == "upload" {
                named = match self.corrects(s, &b.batch_id).await {
                    Ok(c) => c,
                    Err(st) => return self.core_error(Call::Page(s), &st),
                };
            }
            corrects.push(named);
        }
        let batches = list
            .iter()
            .zip(corrects)
            .map(|(b, corrects)| {
                let env = env_name(b.environment);
                let state = pages::shown_state(b);
                let code = match b.state.as_str() {
                    "applied" | "held" | "reverted" => "0".to_string(),
                    _ => b.failure_code.clone(),
                };
                HistoryRow {
                    code_explained: hints::explain(&code, &b.failure_msg),
                    time: pages::utc(b.created_unix),
                    interface: format!("{}/{}", b.data_category, b.biz_key),
                    environment: env.into(),
                    operation: b.operation.clone(),
                    rows: b.batch_size,
                    label: pages::state_label(&state),
                    state,
                    code,
                    file: b.source.clone(),
                    href: result_href(env, &b.data_category, &b.biz_key, &b.batch_id),
                    corrects_href: if corrects.is_empty() {
                        String::new()
                    } else {
                        result_href(env, &b.data_category, &b.biz_key, &corrects)
                    },
                    corrects,
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
}
