//! How the outbox is reported (gRPC `GetPush`, `wharf outbox list|retry`).

use wharf_proto::v1 as pb;

use crate::audit::{Entry, Kind, Origin};
use crate::error::{CoreError, Result};
use crate::model::PushState;
use crate::service::Core;
use crate::store::outbox::{PushFilter, PushRow, SeqRow};

/// Pushes `outbox list` shows at most.
pub const LIST_LIMIT: u32 = 1000;

fn view(p: PushRow, seqs: Vec<SeqRow>) -> pb::PushView {
    let (category, biz_key) = p.iface.split_once('/').unwrap_or((p.iface.as_str(), ""));
    pb::PushView {
        push_id: p.push_id.clone(),
        partner: p.partner.clone(),
        environment: p.env.to_proto() as i32,
        data_category: category.to_string(),
        biz_key: biz_key.to_string(),
        operation: p.operation.clone(),
        rows: p.rows.max(0) as u64,
        state: p.state.as_str().to_string(),
        created_unix: p.created_unix,
        updated_unix: p.updated_unix,
        sequences: seqs
            .into_iter()
            .map(|s| pb::PushSequence {
                seq_id: s.seq_no.to_string(),
                rows: s.rows.max(0) as u64,
                state: s.state.as_str().to_string(),
                attempts: u32::try_from(s.attempts).unwrap_or(u32::MAX),
                http_status: u32::try_from(s.http_status).unwrap_or(0),
                code: s.code,
                msg: s.msg,
                answer: s.answer,
            })
            .collect(),
    }
}

impl Core {
    async fn push_row(&self, push_id: &str) -> Result<PushRow> {
        match self.store.outbox().push(push_id).await? {
            Some(p) if p.state != PushState::Writing => Ok(p),
            _ => Err(CoreError::NotFound(format!("push {push_id}"))),
        }
    }

    /// One push and its sequences.
    pub async fn get_push(&self, push_id: &str) -> Result<pb::PushView> {
        let p = self.push_row(push_id).await?;
        let seqs = self.store.outbox().push_seqs(p.pk).await?;
        Ok(view(p, seqs))
    }

    /// Pushes, newest first, with their sequences (`wharf outbox list`).
    pub async fn list_pushes(
        &self,
        partner: Option<String>,
        state: Option<String>,
    ) -> Result<Vec<pb::PushView>> {
        let state = match state.as_deref().map(|s| (s, PushState::parse(s))) {
            None => None,
            Some((_, Some(s))) if s != PushState::Writing => Some(s),
            Some((s, _)) => {
                return Err(CoreError::Invalid(format!(
                    "state {s:?}: use pending, delivered or failed"
                )))
            }
        };
        let filter = PushFilter {
            partner,
            state,
            limit: LIST_LIMIT,
        };
        let mut out = Vec::new();
        for p in self.store.outbox().pushes(&filter).await? {
            let seqs = self.store.outbox().push_seqs(p.pk).await?;
            out.push(view(p, seqs));
        }
        Ok(out)
    }

    /// Send a failed push again (`wharf outbox retry`): from its failed sequence on, with
    /// the same batch_id and seq_ids, attempts counted anew.
    pub async fn retry_push(&self, o: &Origin, push_id: &str) -> Result<pb::PushView> {
        let p = self.push_row(push_id).await?;
        if p.state == PushState::Failed {
            let detail = serde_json::json!({"push_id": push_id, "environment": p.env.as_str(),
                "interface": p.iface, "from_seq": p.next_seq});
            self.audit(
                o,
                Entry::new(Kind::Push, "push.retry", &p.partner, "").detail(detail),
            )
            .await?;
        }
        if !self.store.outbox().retry_push(p.pk, self.now()).await? {
            return Err(CoreError::Precondition(format!(
                "push {push_id} is {}; only a failed push is retried",
                p.state.as_str()
            )));
        }
        self.get_push(push_id).await
    }

    /// Sequences waiting to be delivered (the outbox depth metric).
    pub async fn outbox_depth(&self) -> Result<u64> {
        self.store.outbox().outbox_depth().await
    }
}
