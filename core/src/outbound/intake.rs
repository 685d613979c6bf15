//! Taking a push in (gRPC `PushToPartner`, `wharf push`): rows are checked by the same rules
//! as inbound rows (`validate::check_row`, in-push duplicate keys), cut into sequences of at
//! most 500 rows as they arrive, and written to the outbox a few sequences at a time, so a
//! push of any size streams through bounded memory. Only a push whose every row passed is
//! sealed for sending; any failing row refuses it whole and nothing of it stays.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use async_trait::async_trait;
use rand::RngCore;
use wharf_proto::v1 as pb;

use crate::audit::{Entry, Kind, Origin};
use crate::codes;
use crate::error::{CoreError, Result};
use crate::model::{Environment, Operation};
use crate::service::Core;
use crate::store::outbox::NewPush;
use crate::validate;

/// Rows per sequence (seed 000: 500 ≥ seq_size ≥ 1).
pub const SEQ_ROWS: usize = 500;
/// Sequences written to the store per transaction while a push comes in.
const SEQS_PER_WRITE: usize = 16;
/// Failing rows listed in a refusal (all are counted).
pub const MAX_LISTED: usize = 1000;

/// Where a push's rows come from, a chunk at a time (a gRPC stream, stdin).
#[async_trait]
pub trait RowSource: Send {
    /// The next rows, `None` at the end.
    async fn next_rows(&mut self) -> Result<Option<Vec<pb::Row>>>;
}

/// What to push where.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub partner: String,
    pub env: Environment,
    pub data_category: String,
    pub biz_key: String,
    pub op: Operation,
    /// The W3C `traceparent` of the call ("" when none); the delivery continues its trace.
    pub traceparent: String,
}

/// A push taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Also the batch_id the partner sees.
    pub push_id: String,
    pub rows: u64,
    pub sequences: u64,
    pub url: String,
}

#[derive(Debug)]
pub enum PushOutcome {
    Queued(Queued),
    /// The rows broke a rule: the answer (E00V00 / E00W00 / E00M00), nothing queued.
    Refused(pb::IngestBatchResponse),
}

impl PushOutcome {
    /// As gRPC answers it.
    pub fn into_response(self) -> pb::PushResponse {
        match self {
            PushOutcome::Queued(q) => pb::PushResponse {
                code: codes::code::OK.into(),
                msg: format!("queued: {} rows in {} sequences", q.rows, q.sequences),
                answer: None,
                push_id: q.push_id,
                rows: q.rows,
                sequences: q.sequences,
                url: q.url,
            },
            PushOutcome::Refused(answer) => pb::PushResponse {
                code: answer.code.clone(),
                msg: answer.msg.clone(),
                answer: Some(answer),
                ..Default::default()
            },
        }
    }
}

/// A push id: 16 random hex digits (seed 000's batch_id length).
fn new_push_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// 128 bits of a key, to find repeats without keeping the keys.
fn fingerprint(kind: u8, key: &str) -> u128 {
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, kind, key).hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x5eed)) << 64) | u128::from(half(0xfeed))
}

/// The sequences being cut: rows appended as JSON, full ones waiting to be written.
struct Cutter {
    current: String,
    in_current: usize,
    next_seq: i64,
    full: Vec<(i64, i64, String)>,
}

impl Cutter {
    fn new() -> Cutter {
        Cutter {
            current: String::new(),
            in_current: 0,
            next_seq: 1,
            full: Vec::new(),
        }
    }

    fn add(&mut self, row_json: &str) {
        self.current
            .push(if self.in_current == 0 { '[' } else { ',' });
        self.current.push_str(row_json);
        self.in_current += 1;
        if self.in_current == SEQ_ROWS {
            self.close();
        }
    }

    fn close(&mut self) {
        if self.in_current == 0 {
            return;
        }
        self.current.push(']');
        let data = std::mem::take(&mut self.current);
        self.full
            .push((self.next_seq, self.in_current as i64, data));
        self.next_seq += 1;
        self.in_current = 0;
    }
}

impl Core {
    /// Take a push in: check every row, queue it in sequences for the dispatcher, or refuse
    /// it whole. Needs the partner's endpoint for the interface and environment.
    pub async fn push(&self, req: PushRequest, source: &mut dyn RowSource) -> Result<PushOutcome> {
        // Without the key nothing could be sent: say so now, not after a silent queue.
        self.secret_key()?;
        let iface = self
            .interface_for(&req.partner, &req.data_category, &req.biz_key)
            .await?;
        let outbox = self.store.outbox();
        let endpoint = outbox
            .endpoint(&req.partner, req.env, &iface.id())
            .await?
            .ok_or_else(|| {
                CoreError::NotFound(format!(
                    "endpoint of partner {} for {} ({}): register one with `wharf endpoint set`",
                    req.partner,
                    iface.id(),
                    req.env.as_str()
                ))
            })?;
        let push_id = new_push_id();
        let pk = outbox
            .create_push(&NewPush {
                push_id: push_id.clone(),
                partner: req.partner.clone(),
                env: req.env,
                iface: iface.id(),
                operation: req.op.as_str().to_string(),
                created_unix: self.now(),
                traceparent: req.traceparent.clone(),
            })
            .await?;
        match self.take_rows(pk, iface, req.op, source).await {
            Ok(Taken::Rows(rows, sequences)) => {
                let queued = Entry::new(Kind::Push, "push.queued", &req.partner, "").detail(
                    serde_json::json!({"push_id": push_id, "environment": req.env.as_str(),
                        "interface": iface.id(), "operation": req.op.as_str(),
                        "rows": rows, "sequences": sequences}),
                );
                // Recorded before it can be sent: a push the trail cannot record is not sent.
                if let Err(e) = self.audit(&Origin::core(), queued).await {
                    let _ = outbox.drop_push(pk).await;
                    return Err(e);
                }
                outbox
                    .seal_push(pk, rows as i64, sequences as i64, self.now())
                    .await?;
                Ok(PushOutcome::Queued(Queued {
                    push_id,
                    rows,
                    sequences,
                    url: endpoint.url,
                }))
            }
            Ok(Taken::Refused(answer)) => {
                outbox.drop_push(pk).await?;
                Ok(PushOutcome::Refused(answer))
            }
            Err(e) => {
                // Best effort: housekeeping drops what an interrupted push left.
                let _ = outbox.drop_push(pk).await;
                Err(e)
            }
        }
    }

    async fn take_rows(
        &self,
        pk: i64,
        iface: &crate::interfaces::Interface,
        op: Operation,
        source: &mut dyn RowSource,
    ) -> Result<Taken> {
        let outbox = self.store.outbox();
        let mut cut = Cutter::new();
        let mut seen: HashSet<u128> = HashSet::new();
        let mut invalid = Vec::new();
        let mut duplicates = Vec::new();
        let mut failing: u64 = 0;
        let mut index: u64 = 0;
        while let Some(rows) = source.next_rows().await? {
            for row in rows {
                let at = u32::try_from(index).map_err(|_| {
                    CoreError::Invalid("a push holds at most 4,294,967,295 rows".into())
                })?;
                index += 1;
                match validate::check_row(iface, op, &row) {
                    Err(verify) => {
                        failing += 1;
                        if invalid.len() + duplicates.len() < MAX_LISTED {
                            invalid.push(codes::problem(Some(at), Some(row), verify));
                        }
                    }
                    Ok(clean) => {
                        if op != Operation::Delete {
                            let dup_key = clean
                                .rkey
                                .as_ref()
                                .is_some_and(|k| !seen.insert(fingerprint(b'k', k)));
                            let dup_uid = clean
                                .uid
                                .as_ref()
                                .is_some_and(|u| !seen.insert(fingerprint(b'u', u)));
                            if dup_key || dup_uid {
                                failing += 1;
                                if invalid.len() + duplicates.len() < MAX_LISTED {
                                    duplicates.push(validate::duplicate_problem(
                                        iface, at, &row, dup_key, None,
                                    ));
                                }
                                continue;
                            }
                        }
                        if failing == 0 {
                            cut.add(&clean.data);
                        }
                    }
                }
            }
            if failing == 0 && cut.full.len() >= SEQS_PER_WRITE {
                outbox
                    .add_push_seqs(pk, &std::mem::take(&mut cut.full), self.now())
                    .await?;
            }
        }
        if failing > 0 {
            let why = if failing as usize > invalid.len() + duplicates.len() {
                format!("({failing} rows failed; the first {MAX_LISTED} are listed)")
            } else {
                String::new()
            };
            return Ok(Taken::Refused(codes::rejection(invalid, duplicates, &why)));
        }
        if index == 0 {
            return Err(CoreError::Invalid("no rows to push".into()));
        }
        cut.close();
        if !cut.full.is_empty() {
            outbox.add_push_seqs(pk, &cut.full, self.now()).await?;
        }
        Ok(Taken::Rows(index, (cut.next_seq - 1) as u64))
    }
}

enum Taken {
    Rows(u64, u64),
    Refused(pb::IngestBatchResponse),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_into_sequences_of_500() {
        let mut c = Cutter::new();
        for _ in 0..1001 {
            c.add("{}");
        }
        c.close();
        let sizes: Vec<i64> = c.full.iter().map(|s| s.1).collect();
        assert_eq!(sizes, [500, 500, 1]);
        assert_eq!(c.full[2].2, "[{}]");
        assert!(c.full[0].2.starts_with("[{},{}") && c.full[0].2.ends_with("{}]"));
        assert_eq!(c.next_seq, 4);
    }

    #[test]
    fn push_ids_are_16_characters() {
        let id = new_push_id();
        assert_eq!(id.len(), 16);
        assert_ne!(id, new_push_id());
    }
}
