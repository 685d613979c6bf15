//! The buttons of the result and history pages: execute a held batch now, revert an applied
//! one (after a confirmation page), cancel one that has not run.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use wharf_gateway::body::{form_field, parse_form, read_body, BodyError};
use wharf_proto::v1 as pb;

use crate::core_error::Call;
use crate::pages::{self, Reply};
use crate::routes::{env_of, result_href, FORM_LIMIT};
use crate::session::Session;
use crate::Upload;

impl Upload {
    /// A button on the history or result page: execute now, revert, cancel.
    pub(crate) async fn act(
        &self,
        s: &Session,
        (env, category, biz_key, batch_id): (&str, &str, &str, &str),
        action: &str,
        req: Request<Incoming>,
    ) -> Reply {
        let form = match read_body(req, FORM_LIMIT).await {
            Ok(b) => parse_form(&b),
            Err(BodyError::TimedOut) => return pages::too_slow(Some(s.nav())),
            Err(_) => Vec::new(),
        };
        let field = |name: &str| form_field(&form, name);
        if !s.csrf_ok(&field("csrf")) {
            return pages::csrf_refused(Some(s.nav()));
        }
        let href = result_href(env, category, biz_key, batch_id);
        if action == "revert" && field("confirmed") != "yes" {
            return pages::page(
                StatusCode::OK,
                &pages::ConfirmPage {
                    nav: Some(s.nav()),
                    question: crate::i18n::tf("action.revert_batch", &[("batch", &batch_id)]),
                    action_href: format!("{href}/revert"),
                    label: crate::i18n::t("action.revert").into(),
                    back_href: href,
                },
            );
        }
        let Some(environment) = env_of(env) else {
            return pages::not_found(Some(s.nav()));
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
            Err(st) => self.core_error(Call::Page(s), &st),
        }
    }
}
