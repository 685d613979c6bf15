//! A sender gives up on an open batch (AbandonBatch): it fails with the code its stored
//! rejections carry, and its staged rows go.

use crate::codes::code;
use crate::error::Result;
use crate::model::{BatchPolicy, BatchState, Scope};
use crate::store::Store;

/// The failure of a batch its sender abandoned: the code its stored rejections share,
/// E00M00 when they differ, `-1` when none was stored; and why, in words.
pub fn abandon_failure(codes: &[String]) -> (String, String) {
    let code = match codes.split_first() {
        None => code::SYSTEM.to_string(),
        Some((first, rest)) if rest.iter().all(|c| c == first) => first.clone(),
        Some(_) => code::MULTIPLE.to_string(),
    };
    let msg = match codes.len() {
        0 => "abandoned by its sender: none of its sequences was rejected".to_string(),
        1 => "abandoned by its sender: 1 of its sequences was rejected".to_string(),
        n => format!("abandoned by its sender: {n} of its sequences were rejected"),
    };
    (code, msg)
}

/// The sender gives up on an open batch: it fails with [`abandon_failure`], its staged rows
/// go, and every later sequence gets the failure (step 2 of `batch::ingest`). A batch that is not open (applied,
/// failed, expired, or open past its expiry, which is expired in all but name) stays as it
/// is. `false` when the batch does not exist.
pub async fn abandon(
    store: &dyn Store,
    policy: BatchPolicy,
    scope: &Scope,
    batch_id: &str,
    now_unix: i64,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let Some(mut b) = tx.lock_existing(scope, batch_id).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    let past_expiry = b.created_unix.saturating_add(policy.expiry_secs) <= now_unix;
    if b.state == BatchState::Open && !past_expiry {
        let mut codes = Vec::new();
        for row in tx.rejections(b.pk).await? {
            codes.push(row.code()?);
        }
        let (code, msg) = abandon_failure(&codes);
        tx.drop_staged(b.pk).await?;
        tx.set_state(b.pk, BatchState::Failed, Some((&code, &msg)), now_unix)
            .await?;
        b.state = BatchState::Failed;
        let creator = b.creator.clone();
        let detail = serde_json::json!({"code": code, "msg": msg, "abandoned": true});
        super::audit(&mut *tx, &b, "batch.failed", &creator, detail, now_unix).await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_batch_fails_with_the_code_of_its_rejections() {
        let codes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (code, msg) = abandon_failure(&codes(&["E00V00", "E00V00"]));
        assert_eq!(code, "E00V00");
        assert_eq!(
            msg,
            "abandoned by its sender: 2 of its sequences were rejected"
        );
        assert_eq!(abandon_failure(&codes(&["E00W00"])).0, "E00W00");
        assert_eq!(abandon_failure(&codes(&["E00V00", "E00W00"])).0, "E00M00");
        assert_eq!(abandon_failure(&codes(&["E00M00", "E00M00"])).0, "E00M00");
        assert_eq!(abandon_failure(&[]).0, "-1");
    }
}
