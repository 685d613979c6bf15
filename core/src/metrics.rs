//! Core's share of the Prometheus metrics (SPEC §7.3), counted here and only here: every
//! door's sequences pass through `Core::ingest`, so one count covers the HTTP API, FTP and
//! the upload page. The families themselves (names, help, buckets) are `wharf_metrics`'s;
//! this module keeps what is core's to decide: which result codes a `code` label may carry,
//! and the gauges read from the store at scrape time ([`render`]).

use std::time::Duration;

use wharf_metrics::{Door, Metrics};

use crate::codes::code;
use crate::error::Result;
use crate::model::BatchState;
use crate::store::Store;

pub use wharf_metrics::CONTENT_TYPE;

/// Core's result codes; a label never carries anything else.
const CODES: [&str; 7] = [
    code::OK,
    code::SYSTEM,
    code::CONSUMED,
    code::RETRY_LIMIT,
    code::VERIFY,
    code::WRITE,
    code::MULTIPLE,
];

/// The `code` label of an IngestBatch outcome: the answer's code, `error` when the call
/// failed (a gRPC error), `other` for a code core does not define (never a free text).
fn code_label(outcome: Option<&str>) -> &'static str {
    match outcome {
        None => "error",
        Some(c) => CODES.iter().find(|k| **k == c).copied().unwrap_or("other"),
    }
}

/// Count one IngestBatch call from batch source `source` carrying `rows` rows, answered with
/// `outcome` (the answer's code; `None` when the call failed), after `took`. A source that
/// is no door (none today) is not counted.
pub fn sequence(m: &Metrics, source: &str, rows: usize, outcome: Option<&str>, took: Duration) {
    if let Some(door) = Door::of_source(source) {
        m.sequence(door, code_label(outcome), rows as u64, took);
    }
}

/// Count a consumed sequence sent again from `source` with other content than it had.
pub fn resend_conflict(m: &Metrics, source: &str) {
    if let Some(door) = Door::of_source(source) {
        m.resend_conflict(door);
    }
}

/// How long a scrape waits for the store's gauges before leaving them as they were.
const GAUGE_TIMEOUT: Duration = Duration::from_secs(2);

/// The whole scrape: the store's gauges read now, then every family of this process. When
/// the store does not answer, `wharf_store_up` says 0 (the counters still come).
pub async fn render(metrics: &Metrics, store: &dyn Store) -> String {
    match tokio::time::timeout(GAUGE_TIMEOUT, store_gauges(store)).await {
        Ok(Ok((batches, outbox))) => metrics.store_gauges(Some((&batches, outbox))),
        failed => {
            tracing::warn!(error = %match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} s", GAUGE_TIMEOUT.as_secs()),
            }, "metrics: store gauges not read");
            metrics.store_gauges(None);
        }
    }
    metrics.render()
}

/// Batches by state (every state, 0 when none) and the outbox depth.
async fn store_gauges(store: &dyn Store) -> Result<(Vec<(&'static str, i64)>, i64)> {
    let counts = store.batch_counts().await?;
    let batches = BatchState::ALL
        .iter()
        .map(|state| {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            (state.as_str(), n as i64)
        })
        .collect();
    Ok((batches, store.outbox().outbox_depth().await? as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_stay_in_their_closed_set() {
        assert_eq!(code_label(Some("0")), "0");
        assert_eq!(code_label(Some("E00V00")), "E00V00");
        assert_eq!(code_label(Some("-1")), "-1");
        assert_eq!(code_label(None), "error");
        assert_eq!(code_label(Some("batch 100055 secret")), "other");
    }

    #[tokio::test]
    async fn a_scrape_counts_sequences_and_reads_batches_by_state_from_the_store() {
        let store = crate::store::sqlite::SqliteStore::in_memory().unwrap();
        let m = Metrics::default();
        sequence(&m, "excel", 3, Some("0"), Duration::from_millis(3));
        sequence(&m, "api", 2, None, Duration::from_millis(3));
        let text = render(&m, &store).await;
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        has("wharf_sequences_total{door=\"upload\",code=\"0\"} 1");
        has("wharf_rows_total{door=\"upload\",code=\"0\"} 3");
        has("wharf_sequences_total{door=\"api\",code=\"error\"} 1");
        has("# TYPE wharf_batches gauge");
        for state in BatchState::ALL {
            has(&format!("wharf_batches{{state=\"{}\"}} 0", state.as_str()));
        }
        has("wharf_outbox_depth 0");
        has("wharf_store_up 1");
    }
}
