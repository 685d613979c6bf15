//! Core's Prometheus metrics (SPEC §7.3), counted here and only here: every door's sequences
//! pass through `Core::ingest`, so one count covers the HTTP API, FTP and the upload page.
//!
//! A small hand-written registry: counters and a histogram on atomics with fixed buckets,
//! rendered in the text exposition format 0.0.4. Labels are low-cardinality by construction:
//! `door` is the batch source (`api`, `ftp`, `excel`), `code` one of core's result codes
//! (anything else becomes `other`) or `error` when the call failed as a whole. Batch ids,
//! partners, users and secrets never become labels.
//!
//! Gauges that come from the store (`wharf_batches`) are computed at scrape time by
//! [`render`]: the one function a new gauge is added to.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::codes::code;
use crate::error::Result;
use crate::model::BatchState;
use crate::store::Store;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the sequence latency buckets: a small sequence answers in
/// milliseconds, a 5,000-row file sequence in seconds, and the gRPC timeout is 120 s.
const SEQUENCE_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The doors, as `Transport::batch_source` names them.
const DOORS: [&str; 3] = ["api", "ftp", "excel"];

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

fn door_label(door: &str) -> &'static str {
    DOORS
        .iter()
        .find(|d| **d == door)
        .copied()
        .unwrap_or("other")
}

/// A histogram with [`SEQUENCE_BUCKETS`]: per-bucket counts (not cumulative; summed when
/// rendered), the sum in microseconds and the count.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; SEQUENCE_BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = SEQUENCE_BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counters keyed by a fixed label pair. The keys are `&'static str` from the closed sets
/// above, so the map stays small; the lock is held for a lookup and an add.
#[derive(Default)]
struct Counters(Mutex<BTreeMap<(&'static str, &'static str), u64>>);

impl Counters {
    fn add(&self, key: (&'static str, &'static str), n: u64) {
        // A poisoned lock only means a panic elsewhere while adding: the counts stay usable.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(key).or_insert(0) += n;
    }

    fn snapshot(&self) -> Vec<((&'static str, &'static str), u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// What core counts while it runs (per process; Prometheus sums replicas).
#[derive(Default)]
pub struct Metrics {
    /// `wharf_requests_total{door,code}`: IngestBatch calls.
    requests: Counters,
    /// `wharf_rows_total{door,code}`: rows in those calls.
    rows: Counters,
    /// `wharf_sequence_seconds{door}`: IngestBatch latency, one histogram per door.
    sequence_seconds: [Histogram; DOORS.len()],
    /// `wharf_resend_conflicts_total{door}`: consumed sequences sent again with other content.
    resend_conflicts: Counters,
}

impl Metrics {
    /// Count one IngestBatch call from `door` (a batch source) carrying `rows` rows, answered
    /// with `outcome` (the answer's code; `None` when the call failed), after `took`.
    pub fn sequence(&self, door: &str, rows: usize, outcome: Option<&str>, took: Duration) {
        let door = door_label(door);
        let code = code_label(outcome);
        self.requests.add((door, code), 1);
        self.rows.add((door, code), rows as u64);
        if let Some(i) = DOORS.iter().position(|d| *d == door) {
            self.sequence_seconds[i].observe(took);
        }
    }

    /// Count a consumed sequence sent again from `door` with other content than it had.
    pub fn resend_conflict(&self, door: &str) {
        self.resend_conflicts.add((door_label(door), ""), 1);
    }

    /// The counters and histograms in the text format.
    fn write(&self, out: &mut Exposition) {
        out.family(
            "wharf_requests_total",
            "counter",
            "Sequences (IngestBatch calls) core answered, by door and result code.",
        );
        for ((door, code), n) in self.requests.snapshot() {
            out.sample("wharf_requests_total", &[("door", door), ("code", code)], n);
        }
        out.family(
            "wharf_rows_total",
            "counter",
            "Rows in those sequences, by door and result code.",
        );
        for ((door, code), n) in self.rows.snapshot() {
            out.sample("wharf_rows_total", &[("door", door), ("code", code)], n);
        }
        out.family(
            "wharf_resend_conflicts_total",
            "counter",
            "Consumed sequences sent again with other content (answered E00A00, nothing applied), by door.",
        );
        for ((door, _), n) in self.resend_conflicts.snapshot() {
            out.sample("wharf_resend_conflicts_total", &[("door", door)], n);
        }
        out.family(
            "wharf_sequence_seconds",
            "histogram",
            "Time core took to answer one sequence, by door.",
        );
        for (door, h) in DOORS.iter().zip(&self.sequence_seconds) {
            let mut cumulative = 0;
            for (le, n) in SEQUENCE_BUCKETS.iter().zip(&h.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let le = le.to_string();
                out.sample(
                    "wharf_sequence_seconds_bucket",
                    &[("door", door), ("le", &le)],
                    cumulative,
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            out.sample(
                "wharf_sequence_seconds_bucket",
                &[("door", door), ("le", "+Inf")],
                count,
            );
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            out.sample("wharf_sequence_seconds_sum", &[("door", door)], sum);
            out.sample("wharf_sequence_seconds_count", &[("door", door)], count);
        }
    }
}

/// Text exposition format 0.0.4 being written.
#[derive(Default)]
pub struct Exposition(String);

impl Exposition {
    /// `# HELP` and `# TYPE` of a metric family (before its samples).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line; label values are escaped (`\\`, `\"`, `\n`).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let v = v
                    .replace('\\', r"\\")
                    .replace('"', r#"\""#)
                    .replace('\n', r"\n");
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A gauge family of one sample without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// How long a scrape waits for the store's gauges before leaving them out.
const GAUGE_TIMEOUT: Duration = Duration::from_secs(2);

/// The whole scrape: core's counters, then the gauges read from the store now. A gauge is one
/// `out.gauge…` line here. When the store does not answer, its gauges are left out (the
/// counters still come) and `wharf_store_up` says 0.
pub async fn render(metrics: &Metrics, store: &dyn Store) -> String {
    let mut out = Exposition::default();
    metrics.write(&mut out);
    let gauges = tokio::time::timeout(GAUGE_TIMEOUT, store_gauges(store, &mut out)).await;
    let up = matches!(gauges, Ok(Ok(())));
    if !up {
        tracing::warn!(error = %match gauges {
            Ok(Err(e)) => e.to_string(),
            _ => format!("no answer within {} s", GAUGE_TIMEOUT.as_secs()),
        }, "metrics: store gauges left out");
    }
    out.gauge(
        "wharf_store_up",
        "1 when the store answered this scrape's queries, else 0.",
        u8::from(up),
    );
    out.finish()
}

/// The gauges computed by store queries at scrape time.
async fn store_gauges(store: &dyn Store, out: &mut Exposition) -> Result<()> {
    let counts = store.batch_counts().await?;
    out.family("wharf_batches", "gauge", "Batches in the store, by state.");
    for state in BatchState::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        out.sample("wharf_batches", &[("state", state.as_str())], n);
    }
    out.family(
        "wharf_outbox_depth",
        "gauge",
        "Outbound sequences not delivered yet, of pushes still pending (SPEC §7.1).",
    );
    out.sample(
        "wharf_outbox_depth",
        &[],
        store.outbox().outbox_depth().await?,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_doors_stay_in_their_closed_sets() {
        assert_eq!(code_label(Some("0")), "0");
        assert_eq!(code_label(Some("E00V00")), "E00V00");
        assert_eq!(code_label(Some("-1")), "-1");
        assert_eq!(code_label(None), "error");
        assert_eq!(code_label(Some("batch 100055 secret")), "other");
        assert_eq!(door_label("excel"), "excel");
        assert_eq!(door_label("grpc"), "other");
    }

    #[test]
    fn exposition_has_help_type_and_escaped_labels() {
        let mut out = Exposition::default();
        out.family("x_total", "counter", "Help with \\ and\nnewline.");
        out.sample("x_total", &[("a", "q\"b\\c\nd"), ("b", "1")], 3);
        out.gauge("y", "A gauge.", 1.5);
        assert_eq!(
            out.finish(),
            "# HELP x_total Help with \\\\ and\\nnewline.\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"b\\\\c\\nd\",b=\"1\"} 3\n\
             # HELP y A gauge.\n# TYPE y gauge\ny 1.5\n"
        );
    }

    #[test]
    fn counters_and_histogram_render_cumulatively() {
        let m = Metrics::default();
        m.sequence("api", 3, Some("0"), Duration::from_millis(3));
        m.sequence("api", 2, Some("0"), Duration::from_millis(300));
        m.sequence("api", 7, Some("E00V00"), Duration::from_secs(200));
        m.sequence("ftp", 1, None, Duration::from_millis(20));
        let mut out = Exposition::default();
        m.write(&mut out);
        let text = out.finish();
        let has = |line: &str| {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            )
        };
        has("# TYPE wharf_requests_total counter");
        has("wharf_requests_total{door=\"api\",code=\"0\"} 2");
        has("wharf_requests_total{door=\"api\",code=\"E00V00\"} 1");
        has("wharf_requests_total{door=\"ftp\",code=\"error\"} 1");
        has("wharf_rows_total{door=\"api\",code=\"0\"} 5");
        has("wharf_rows_total{door=\"api\",code=\"E00V00\"} 7");
        has("# TYPE wharf_sequence_seconds histogram");
        has("wharf_sequence_seconds_bucket{door=\"api\",le=\"0.005\"} 1");
        has("wharf_sequence_seconds_bucket{door=\"api\",le=\"0.25\"} 1");
        has("wharf_sequence_seconds_bucket{door=\"api\",le=\"0.5\"} 2");
        has("wharf_sequence_seconds_bucket{door=\"api\",le=\"120\"} 2");
        has("wharf_sequence_seconds_bucket{door=\"api\",le=\"+Inf\"} 3");
        has("wharf_sequence_seconds_count{door=\"api\"} 3");
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("wharf_sequence_seconds_sum{door=\"api\"} "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(sum.is_some_and(|s| (s - 200.303).abs() < 1e-6), "{text}");
        has("wharf_sequence_seconds_bucket{door=\"ftp\",le=\"0.025\"} 1");
        has("wharf_sequence_seconds_count{door=\"excel\"} 0");
        // Every sample line is `name{labels} value` or `name value`, value a number.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("a value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[tokio::test]
    async fn a_scrape_reads_batches_by_state_from_the_store() {
        let store = crate::store::sqlite::SqliteStore::in_memory().unwrap();
        let text = render(&Metrics::default(), &store).await;
        assert!(text.contains("# TYPE wharf_batches gauge\n"), "{text}");
        for state in BatchState::ALL {
            let line = format!("wharf_batches{{state=\"{}\"}} 0", state.as_str());
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.lines().any(|l| l == "wharf_store_up 1"), "{text}");
    }
}
