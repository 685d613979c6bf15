//! wharf's Prometheus metrics: one registry per process with every family of every door, so a
//! metric has one name, one help text and one place. Built on `prometheus-client` (the
//! Prometheus project's Rust client) and rendered in the Prometheus text format 0.0.4.
//!
//! Labels are closed sets by construction: a door is [`Door`], a route is the route's
//! template (never a raw path), a method one of [`method_label`]'s, a status a number, a
//! code one of core's result codes (core maps anything else to `other`). Batch ids,
//! partners, users and secrets never become labels.
//!
//! Counters only ever go up within a process; Prometheus sums replicas.
#![forbid(unsafe_code)]

mod process;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the HTTP request duration buckets.
const HTTP_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds (seconds) of the sequence latency buckets: a small sequence answers in
/// milliseconds, a 5,000-row file sequence in seconds, and the gRPC timeout is 120 s.
const SEQUENCE_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The doors partners come through.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Door {
    /// The HTTP JSON API.
    api,
    /// The FTP/FTPS server.
    ftp,
    /// The browser upload page.
    upload,
    /// The SFTP server.
    sftp,
}

impl Door {
    /// The door of a batch source as core names it (`api`, `ftp`, `excel`); `None` for
    /// anything else.
    pub fn of_source(source: &str) -> Option<Door> {
        match source {
            "api" => Some(Door::api),
            "ftp" => Some(Door::ftp),
            "excel" => Some(Door::upload),
            _ => None,
        }
    }
}

/// How a login ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Login {
    /// Accepted.
    success,
    /// Wrong name or password (or token).
    refused,
    /// Too many wrong passwords: refused without a check.
    locked,
    /// Core could not decide (unreachable, busy).
    unavailable,
}

impl Login {
    /// The outcome of a login core answered: `None` when it succeeded, else the gRPC status
    /// code (numbers of the gRPC specification): 16 UNAUTHENTICATED is a refusal, 8
    /// RESOURCE_EXHAUSTED a lockout, anything else means core could not decide.
    pub fn of_grpc(code: Option<i32>) -> Login {
        match code {
            None => Login::success,
            Some(16) => Login::refused,
            Some(8) => Login::locked,
            Some(_) => Login::unavailable,
        }
    }
}

/// What an FTP transfer was.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Direction {
    /// A file the partner sent (STOR).
    upload,
    /// A file the partner fetched (RETR: feedback).
    download,
}

/// How an FTP transfer or an upload-page file ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Received and answered (whatever core's answer says of its rows).
    ok,
    /// Refused before core saw it (bad name, too large, not allowed).
    refused,
    /// Failed on wharf's side (core unreachable, the connection broke).
    error,
}

/// A method label: the methods wharf serves, anything else `other`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    door: Door,
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpTimeLabels {
    door: Door,
    route: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    door: Door,
    outcome: Login,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DoorLabels {
    door: Door,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    direction: Direction,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: Direction,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SequenceLabels {
    door: Door,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn sequence_histogram() -> Histogram {
    Histogram::new(SEQUENCE_BUCKETS)
}

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histograms<HttpTimeLabels>,
    logins: Family<LoginLabels, Counter>,
    too_large: Family<DoorLabels, Counter>,
    ftp_sessions: Counter,
    ftp_sessions_active: Gauge,
    sftp_sessions: Counter,
    sftp_sessions_active: Gauge,
    sftp_uploads: Family<OutcomeLabels, Counter>,
    ftp_transfers: Family<TransferLabels, Counter>,
    ftp_bytes: Family<DirectionLabels, Counter>,
    ftp_replies: Family<ClassLabels, Counter>,
    uploads: Family<OutcomeLabels, Counter>,
    sequences: Family<SequenceLabels, Counter>,
    rows: Family<SequenceLabels, Counter>,
    sequence_seconds: Histograms<DoorLabels>,
    resend_conflicts: Family<DoorLabels, Counter>,
    batches: Family<StateLabels, Gauge>,
    outbox_depth: Gauge,
    store_up: Gauge,
}

/// One process's metrics. Cheap to clone: every clone counts into the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new("unknown")
    }
}

impl Metrics {
    /// Every family, registered once; `version` is `wharf_build_info`'s label.
    pub fn new(version: &str) -> Metrics {
        let mut r = Registry::default();
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: version.to_string(),
            })
            .set(1);
        r.register(
            "wharf_build_info",
            "Always 1; the version of the wharf binary in its label",
            build_info,
        );
        r.register_collector(Box::new(process::Process::started_now()));
        let inner = Inner {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(http_histogram),
            logins: Family::default(),
            too_large: Family::default(),
            ftp_sessions: Counter::default(),
            ftp_sessions_active: Gauge::default(),
            sftp_sessions: Counter::default(),
            sftp_sessions_active: Gauge::default(),
            sftp_uploads: Family::default(),
            ftp_transfers: Family::default(),
            ftp_bytes: Family::default(),
            ftp_replies: Family::default(),
            uploads: Family::default(),
            sequences: Family::default(),
            rows: Family::default(),
            sequence_seconds: Family::new_with_constructor(sequence_histogram),
            resend_conflicts: Family::default(),
            batches: Family::default(),
            outbox_depth: Gauge::default(),
            store_up: Gauge::default(),
            registry: Registry::default(),
        };
        // `_total` is added to counters' names by the encoder.
        r.register(
            "wharf_http_requests",
            "HTTP requests answered, by door, route template, method and status",
            inner.http_requests.clone(),
        );
        r.register(
            "wharf_http_request_duration_seconds",
            "Time to answer an HTTP request, by door, route template and method",
            inner.http_seconds.clone(),
        );
        r.register(
            "wharf_logins",
            "Logins (HTTP Basic, token requests, bearer tokens, FTP, upload page), by door and outcome",
            inner.logins.clone(),
        );
        r.register(
            "wharf_bodies_too_large",
            "Request bodies and files refused for their size (HTTP 413, FTP 552), by door",
            inner.too_large.clone(),
        );
        r.register(
            "wharf_ftp_sessions",
            "FTP sessions logged in",
            inner.ftp_sessions.clone(),
        );
        r.register(
            "wharf_ftp_sessions_active",
            "FTP sessions logged in now",
            inner.ftp_sessions_active.clone(),
        );
        r.register(
            "wharf_sftp_sessions",
            "SFTP sessions logged in",
            inner.sftp_sessions.clone(),
        );
        r.register(
            "wharf_sftp_sessions_active",
            "SFTP sessions logged in now",
            inner.sftp_sessions_active.clone(),
        );
        r.register(
            "wharf_sftp_uploads",
            "Files written over SFTP and closed, by outcome (ok, refused, error)",
            inner.sftp_uploads.clone(),
        );
        r.register(
            "wharf_ftp_transfers",
            "FTP file transfers, by direction and outcome",
            inner.ftp_transfers.clone(),
        );
        r.register(
            "wharf_ftp_transfer_bytes",
            "Bytes of FTP file transfers, by direction",
            inner.ftp_bytes.clone(),
        );
        r.register(
            "wharf_ftp_replies",
            "FTP replies wharf decided (logins, file commands), by class (2xx, 4xx, 5xx)",
            inner.ftp_replies.clone(),
        );
        r.register(
            "wharf_upload_files",
            "Files sent through the upload page, by outcome",
            inner.uploads.clone(),
        );
        r.register(
            "wharf_sequences",
            "Sequences (IngestBatch calls) core answered, by door and result code",
            inner.sequences.clone(),
        );
        r.register(
            "wharf_rows",
            "Rows in those sequences, by door and result code",
            inner.rows.clone(),
        );
        r.register(
            "wharf_sequence_duration_seconds",
            "Time core took to answer one sequence, by door",
            inner.sequence_seconds.clone(),
        );
        r.register(
            "wharf_resend_conflicts",
            "Consumed sequences sent again with other content (answered E00A00, nothing applied), by door",
            inner.resend_conflicts.clone(),
        );
        r.register(
            "wharf_batches",
            "Batches in the store, by state (read from the store at scrape time)",
            inner.batches.clone(),
        );
        r.register(
            "wharf_outbox_depth",
            "Outbound sequences not delivered yet, of pushes still pending (read at scrape time)",
            inner.outbox_depth.clone(),
        );
        r.register(
            "wharf_store_up",
            "1 when the store answered this scrape's queries, else 0",
            inner.store_up.clone(),
        );
        Metrics(Arc::new(Inner {
            registry: r,
            ..inner
        }))
    }

    /// The whole registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug in a family.
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.0.registry).is_err()
        {
            out.push_str("# wharf: metrics encoding failed\n");
        }
        out
    }

    /// One HTTP request answered: `route` is the route's template.
    pub fn http_request(
        &self,
        door: Door,
        route: &'static str,
        method: &str,
        status: u16,
        took: Duration,
    ) {
        let method = method_label(method);
        self.0
            .http_requests
            .get_or_create(&HttpLabels {
                door,
                route,
                method,
                status,
            })
            .inc();
        self.0
            .http_seconds
            .get_or_create(&HttpTimeLabels {
                door,
                route,
                method,
            })
            .observe(took.as_secs_f64());
    }

    /// One login decided.
    pub fn login(&self, door: Door, outcome: Login) {
        self.0
            .logins
            .get_or_create(&LoginLabels { door, outcome })
            .inc();
    }

    /// A body or file refused for its size.
    pub fn too_large(&self, door: Door) {
        self.0.too_large.get_or_create(&DoorLabels { door }).inc();
    }

    /// An FTP session logged in.
    pub fn ftp_session_started(&self) {
        self.0.ftp_sessions.inc();
        self.0.ftp_sessions_active.inc();
    }

    /// A logged-in FTP session ended.
    pub fn ftp_session_ended(&self) {
        self.0.ftp_sessions_active.dec();
    }

    /// An SFTP session logged in.
    pub fn sftp_session_started(&self) {
        self.0.sftp_sessions.inc();
        self.0.sftp_sessions_active.inc();
    }

    /// A logged-in SFTP session ended.
    pub fn sftp_session_ended(&self) {
        self.0.sftp_sessions_active.dec();
    }

    /// A file written over SFTP was closed and handed on.
    pub fn sftp_upload(&self, outcome: Outcome) {
        self.0
            .sftp_uploads
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// An FTP transfer ended after `bytes`.
    pub fn ftp_transfer(&self, direction: Direction, outcome: Outcome, bytes: u64) {
        self.0
            .ftp_transfers
            .get_or_create(&TransferLabels { direction, outcome })
            .inc();
        self.0
            .ftp_bytes
            .get_or_create(&DirectionLabels { direction })
            .inc_by(bytes);
    }

    /// An FTP reply wharf decided, by its class.
    pub fn ftp_reply(&self, code: u16) {
        let class = match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.0
            .ftp_replies
            .get_or_create(&ClassLabels { class })
            .inc();
    }

    /// A file through the upload page.
    pub fn upload(&self, outcome: Outcome) {
        self.0
            .uploads
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// One sequence core answered with `code` (already one of core's codes, `error` or
    /// `other`) for `rows` rows after `took`.
    pub fn sequence(&self, door: Door, code: &'static str, rows: u64, took: Duration) {
        let labels = SequenceLabels { door, code };
        self.0.sequences.get_or_create(&labels).inc();
        self.0.rows.get_or_create(&labels).inc_by(rows);
        self.0
            .sequence_seconds
            .get_or_create(&DoorLabels { door })
            .observe(took.as_secs_f64());
    }

    /// A consumed sequence sent again with other content.
    pub fn resend_conflict(&self, door: Door) {
        self.0
            .resend_conflicts
            .get_or_create(&DoorLabels { door })
            .inc();
    }

    /// The store's gauges as read now; `None` when the store did not answer (`wharf_store_up`
    /// 0, the other gauges keep their last values).
    pub fn store_gauges(&self, read: Option<(&[(&'static str, i64)], i64)>) {
        match read {
            Some((batches, outbox)) => {
                for (state, n) in batches {
                    self.0.batches.get_or_create(&StateLabels { state }).set(*n);
                }
                self.0.outbox_depth.set(outbox);
                self.0.store_up.set(1);
            }
            None => {
                self.0.store_up.set(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    #[test]
    fn families_render_with_their_labels_and_suffixes() {
        let m = Metrics::new("1.2.3");
        m.http_request(
            Door::api,
            "/v1.0/scc/data/sync/{data_category}/{biz_key}",
            "POST",
            200,
            Duration::from_millis(3),
        );
        m.http_request(
            Door::api,
            "/oauth/token",
            "BREW",
            405,
            Duration::from_secs(1),
        );
        m.login(Door::ftp, Login::refused);
        m.too_large(Door::upload);
        m.ftp_session_started();
        m.ftp_session_started();
        m.ftp_session_ended();
        m.sftp_session_started();
        m.sftp_upload(Outcome::refused);
        m.login(Door::sftp, Login::success);
        m.ftp_transfer(Direction::upload, Outcome::ok, 120);
        m.ftp_reply(226);
        m.ftp_reply(553);
        m.sequence(Door::upload, "0", 7, Duration::from_millis(300));
        m.store_gauges(Some((&[("open", 2)], 5)));
        let text = m.render();
        has(&text, "wharf_build_info{version=\"1.2.3\"} 1");
        has(&text, "# TYPE wharf_http_requests_total counter");
        has(
            &text,
            "wharf_http_requests_total{door=\"api\",route=\"/v1.0/scc/data/sync/{data_category}/{biz_key}\",method=\"POST\",status=\"200\"} 1",
        );
        has(
            &text,
            "wharf_http_requests_total{door=\"api\",route=\"/oauth/token\",method=\"other\",status=\"405\"} 1",
        );
        has(
            &text,
            "wharf_http_request_duration_seconds_bucket{door=\"api\",route=\"/v1.0/scc/data/sync/{data_category}/{biz_key}\",method=\"POST\",le=\"0.005\"} 1",
        );
        has(
            &text,
            "wharf_logins_total{door=\"ftp\",outcome=\"refused\"} 1",
        );
        has(&text, "wharf_bodies_too_large_total{door=\"upload\"} 1");
        has(&text, "wharf_ftp_sessions_total 2");
        has(&text, "wharf_ftp_sessions_active 1");
        has(&text, "wharf_sftp_sessions_active 1");
        has(&text, "wharf_sftp_uploads_total{outcome=\"refused\"} 1");
        has(
            &text,
            "wharf_logins_total{door=\"sftp\",outcome=\"success\"} 1",
        );
        has(
            &text,
            "wharf_ftp_transfers_total{direction=\"upload\",outcome=\"ok\"} 1",
        );
        has(
            &text,
            "wharf_ftp_transfer_bytes_total{direction=\"upload\"} 120",
        );
        has(&text, "wharf_ftp_replies_total{class=\"2xx\"} 1");
        has(&text, "wharf_ftp_replies_total{class=\"5xx\"} 1");
        has(&text, "wharf_sequences_total{door=\"upload\",code=\"0\"} 1");
        has(&text, "wharf_rows_total{door=\"upload\",code=\"0\"} 7");
        has(&text, "wharf_batches{state=\"open\"} 2");
        has(&text, "wharf_outbox_depth 5");
        has(&text, "wharf_store_up 1");
        m.store_gauges(None);
        has(&m.render(), "wharf_store_up 0");
        has(&text, "# TYPE process_resident_memory_bytes gauge");
    }

    #[test]
    fn grpc_codes_map_to_login_outcomes() {
        assert_eq!(Login::of_grpc(None), Login::success);
        assert_eq!(Login::of_grpc(Some(16)), Login::refused);
        assert_eq!(Login::of_grpc(Some(8)), Login::locked);
        assert_eq!(Login::of_grpc(Some(14)), Login::unavailable);
    }

    #[test]
    fn batch_sources_map_to_doors() {
        assert_eq!(Door::of_source("excel"), Some(Door::upload));
        assert_eq!(Door::of_source("api"), Some(Door::api));
        assert_eq!(Door::of_source("grpc"), None);
    }
}
