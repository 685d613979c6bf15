//! OpenTelemetry end to end (issue #10): the real binary exports spans over OTLP gRPC to a
//! receiver in the test (a tonic server of the collector's trace service). One API push is
//! one trace from the gateway through core into the store, across processes too; FTP uploads
//! hang off their session's login; an outbound push is delivered in the trace of the
//! `wharf push` that made it, and the partner gets that context as `traceparent`; spans are
//! flushed on SIGTERM; no attribute carries a password, client secret or token.

mod util;

use std::time::Duration;

use serde_json::Value;
use util::data::{bom_row, envelope};
use util::ftp::{bom_dir, deliver, login};
use util::http::{client_token, request, Auth, Reply};
use util::otlp::{one, Receiver, Span};
use util::{add_partner, add_partner_and_user, unique, Backend, Wharf, PASSWORD, SECRET, TOKEN};

const BOM: &str = "/v1.0/scc/data/sync/t1/bom";
const WAIT: Duration = Duration::from_secs(20);
/// The span id of the caller's own span, in every `traceparent` the tests send.
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A fresh W3C trace id.
fn new_trace_id() -> String {
    let u = unique("");
    let digits: String = u.chars().filter(char::is_ascii_hexdigit).collect();
    format!("{:0>32}", digits)[..32].to_string()
}

/// A fresh batch id (short: batch ids have a length limit).
fn batch_id() -> String {
    format!("b{}", &new_trace_id()[20..])
}

fn traceparent(trace_id: &str) -> String {
    format!("traceparent: 00-{trace_id}-{CALLER_SPAN}-01")
}

fn exporting(w: &mut Wharf, rx: &Receiver, schedule_delay_ms: u64) {
    w.extra_env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), rx.url.clone()),
        (
            "OTEL_BSP_SCHEDULE_DELAY".into(),
            schedule_delay_ms.to_string(),
        ),
    ]);
}

/// A SQLite installation exporting to `rx`, with a partner and a user of it.
fn exporting_installation(rx: &Receiver, schedule_delay_ms: u64) -> (Wharf, String, String) {
    let mut w = Wharf::new(Backend::Sqlite);
    exporting(&mut w, rx, schedule_delay_ms);
    let (partner, user) = add_partner_and_user(&w);
    (w, partner, user)
}

fn push(base: &str, auth: &Auth, body: &str, extra: &[&str]) -> Reply {
    request(
        "POST",
        &format!("{base}{BOM}"),
        auth,
        Some(("application/json", body.as_bytes())),
        extra,
    )
}

/// The parent of `span` among `spans`.
#[track_caller]
fn parent<'a>(spans: &'a [Span], span: &Span) -> &'a Span {
    spans
        .iter()
        .find(|s| s.span_id == span.parent_id)
        .unwrap_or_else(|| panic!("the parent of {:?} is not in the trace", span.name))
}

/// The sequence's attributes, the same on the gateway's span and core's.
#[track_caller]
fn sequence_attrs(s: &Span, partner: &str, batch_id: &str, rows: &str, code: &str) {
    assert_eq!(s.attr("partner"), partner, "{s:#?}");
    assert_eq!(s.attr("interface"), "t1/bom", "{s:#?}");
    assert_eq!(s.attr("batch_id"), batch_id, "{s:#?}");
    assert_eq!(s.attr("seq_id"), "1", "{s:#?}");
    assert_eq!(s.attr("rows"), rows, "{s:#?}");
    assert_eq!(s.attr("code"), code, "{s:#?}");
}

/// Every store span of a sequence that was applied, each a child of core's `ingest`.
const STORE_SPANS: [&str; 5] = [
    "store begin",
    "store lock batch",
    "store stage",
    "store apply",
    "store commit",
];

/// `wharf serve`: a push with Basic auth and the caller's traceparent is one trace, the
/// caller's span → "api sequence" → core's IngestBatch → "ingest" → the store's spans, with
/// the sequence's attributes; a bearer-token push without traceparent is a trace of its own
/// rooted at the gateway; the token request is traced too; and no exported text holds the
/// password, the client secret, the token or the internal token.
#[test]
fn one_api_push_is_one_trace_from_the_gateway_into_the_store() {
    let rx = Receiver::start();
    let (w, partner, user) = exporting_installation(&rx, 100);
    let _server = w.serve();
    let base = w.http_url();

    // Basic auth, with the caller's trace context.
    let trace = new_trace_id();
    let batch = batch_id();
    let body = envelope(&batch, 2, "1", vec![bom_row("A-1"), bom_row("A-2")]);
    push(
        &base,
        &Auth::Basic(&user, PASSWORD),
        &body,
        &["-H", &traceparent(&trace)],
    )
    .expect(200, "0");
    let mut names = vec![
        "api sequence",
        "wharf.v1.Core/Authenticate",
        "wharf.v1.Core/IngestBatch",
        "ingest",
    ];
    names.extend(STORE_SPANS);
    let spans = rx.trace(&trace, &names, WAIT);
    for s in &spans {
        assert_eq!(s.service, "wharf", "{s:#?}");
    }
    let api = one(&spans, "api sequence");
    assert_eq!(
        api.parent_id, CALLER_SPAN,
        "the gateway continues the caller's trace"
    );
    assert_eq!(api.kind, 2, "a server span");
    sequence_attrs(api, &partner, &batch, "2", "0");
    assert_eq!(api.attr("status"), "200");
    assert_eq!(api.attr("method"), "POST");
    let rpc = one(&spans, "wharf.v1.Core/IngestBatch");
    assert_eq!(
        rpc.parent_id, api.span_id,
        "core's call hangs off the gateway's span"
    );
    let auth = one(&spans, "wharf.v1.Core/Authenticate");
    assert_eq!(auth.parent_id, api.span_id);
    let ingest = one(&spans, "ingest");
    assert_eq!(ingest.parent_id, rpc.span_id);
    sequence_attrs(ingest, &partner, &batch, "2", "0");
    assert_eq!(ingest.attr("transport"), "TRANSPORT_API");
    for name in STORE_SPANS {
        let s = one(&spans, name);
        assert_eq!(parent(&spans, s).name, "ingest", "{name}");
        assert_eq!(s.attr("db.system"), "sqlite", "{name}");
    }
    assert_eq!(one(&spans, "store stage").attr("rows"), "2");

    // A bearer token, no traceparent: a trace of its own, rooted at the gateway.
    let token = client_token(&base, &partner);
    let batch2 = batch_id();
    let body = envelope(&batch2, 1, "1", vec![bom_row("B-1")]);
    push(&base, &Auth::Bearer(&token), &body, &[]).expect(200, "0");
    let trace2 = wait_for_span(&rx, |s| {
        s.name == "api sequence" && s.attr("batch_id") == batch2
    })
    .trace_id;
    assert_ne!(trace2, trace);
    let spans2 = rx.trace(
        &trace2,
        &[
            "api sequence",
            "wharf.v1.Core/VerifyToken",
            "wharf.v1.Core/IngestBatch",
            "ingest",
            "store commit",
        ],
        WAIT,
    );
    let api2 = one(&spans2, "api sequence");
    assert_eq!(
        api2.parent_id, "",
        "a root span when the caller sent no context"
    );
    sequence_attrs(api2, &partner, &batch2, "1", "0");
    // The token request is a trace too: the gateway's span over core's IssueToken.
    let token_span = wait_for_span(&rx, |s| s.name == "api token");
    rx.trace(
        &token_span.trace_id,
        &["api token", "wharf.v1.Core/IssueToken"],
        WAIT,
    );

    // A rejected sequence records its code on both sides.
    let trace3 = new_trace_id();
    let bad = envelope(&batch_id(), 1, "1", vec![serde_json::json!({"nope": 1})]);
    let r = push(
        &base,
        &Auth::Basic(&user, PASSWORD),
        &bad,
        &["-H", &traceparent(&trace3)],
    );
    let code = r.json()["code"].as_str().unwrap_or_default().to_string();
    assert_ne!(code, "0", "{r:?}");
    let spans3 = rx.trace(&trace3, &["api sequence", "ingest"], WAIT);
    assert_eq!(one(&spans3, "api sequence").attr("code"), code);
    assert_eq!(one(&spans3, "ingest").attr("code"), code);

    // No secret anywhere in what was exported.
    let raw = rx.raw();
    let basic = util::receiver::base64(format!("{user}:{PASSWORD}").as_bytes());
    for secret in [PASSWORD, SECRET, token.as_str(), TOKEN, basic.as_str()] {
        assert!(
            !raw.contains(secret),
            "an exported span carries a secret ({secret})"
        );
    }
}

/// Wait for one span matching `pred`.
#[track_caller]
fn wait_for_span(rx: &Receiver, pred: impl Fn(&Span) -> bool) -> Span {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(s) = rx.spans().into_iter().find(|s| pred(s)) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "no such span arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `wharf gateway` and `wharf core` as two processes: the trace crosses from one to the
/// other (each under its own service name), and spans held back by a long export delay are
/// sent when SIGTERM stops the process (flushed, not lost).
#[test]
fn a_trace_crosses_processes_and_is_flushed_on_sigterm() {
    let rx = Receiver::start();
    // Ten minutes: nothing is exported before shutdown unless the processes flush.
    let (w, _partner, user) = exporting_installation(&rx, 600_000);
    let mut core = w.start_core();
    let mut gateway = w.start_front_end("gateway");
    let trace = new_trace_id();
    let batch = batch_id();
    let body = envelope(&batch, 1, "1", vec![bom_row("C-1")]);
    push(
        &w.http_url(),
        &Auth::Basic(&user, PASSWORD),
        &body,
        &["-H", &traceparent(&trace)],
    )
    .expect(200, "0");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        rx.spans().iter().all(|s| s.trace_id != trace),
        "spans went out before shutdown: the export delay did not hold them"
    );
    assert!(gateway.terminate().success(), "{}", gateway.stderr());
    assert!(core.terminate().success(), "{}", core.stderr());
    let spans = rx.trace(
        &trace,
        &[
            "api sequence",
            "wharf.v1.Core/IngestBatch",
            "ingest",
            "store commit",
        ],
        WAIT,
    );
    let api = one(&spans, "api sequence");
    assert_eq!(api.service, "wharf-gateway");
    let rpc = one(&spans, "wharf.v1.Core/IngestBatch");
    assert_eq!(rpc.service, "wharf-core");
    assert_eq!(
        rpc.parent_id, api.span_id,
        "core's span is the gateway's child"
    );
    assert_eq!(one(&spans, "store commit").service, "wharf-core");
}

/// An FTP session is one trace: its login, then each upload with the file's sequence
/// attributes, core's IngestBatch under the upload.
#[test]
fn an_ftp_session_is_one_trace() {
    let rx = Receiver::start();
    let (w, partner, user) = exporting_installation(&rx, 100);
    let _server = w.serve();
    let mut ftp = login(&w, &user);
    let dir = bom_dir(&partner);
    let name = "bom_insert_20260101000000_1.json";
    let body = envelope("ftp-batch-1", 2, "1", vec![bom_row("F-1"), bom_row("F-2")]);
    let answer: Value = deliver(&mut ftp, &dir, name, body.as_bytes());
    assert_eq!(answer["code"], "0", "{answer}");
    let name2 = "bom_insert_20260101000001_2.json";
    let body2 = envelope("ftp-batch-2", 1, "1", vec![bom_row("F-3")]);
    deliver(&mut ftp, &dir, name2, body2.as_bytes());
    let _ = ftp.quit();

    let login_span = wait_for_span(&rx, |s| s.name == "ftp login" && s.attr("user") == user);
    assert_eq!(login_span.attr("partner"), partner);
    assert_eq!(login_span.attr("code"), "0");
    let spans = rx.trace(
        &login_span.trace_id,
        &[
            "ftp login",
            "wharf.v1.Core/Authenticate",
            "ftp upload",
            "wharf.v1.Core/IngestBatch",
            "ingest",
            "store commit",
        ],
        WAIT,
    );
    let uploads: Vec<&Span> = spans.iter().filter(|s| s.name == "ftp upload").collect();
    // Both uploads of the session, in its trace.
    let deadline = std::time::Instant::now() + WAIT;
    let mut n = uploads.len();
    while n < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        n = rx
            .spans()
            .iter()
            .filter(|s| s.trace_id == login_span.trace_id && s.name == "ftp upload")
            .count();
    }
    assert_eq!(n, 2, "both uploads belong to the session's trace");
    let spans = rx.trace(&login_span.trace_id, &["ftp upload"], WAIT);
    let first = spans
        .iter()
        .find(|s| s.name == "ftp upload" && s.attr("file") == name)
        .expect("the first upload's span");
    assert_eq!(first.parent_id, login_span.span_id);
    assert_eq!(first.attr("partner"), partner);
    assert_eq!(first.attr("interface"), "t1/bom");
    assert_eq!(first.attr("batch_id"), "ftp-batch-1");
    assert_eq!(first.attr("rows"), "2");
    assert_eq!(first.attr("code"), "0");
    let ingest_rpc = spans
        .iter()
        .find(|s| s.name == "wharf.v1.Core/IngestBatch" && s.parent_id == first.span_id)
        .expect("core's IngestBatch under the first upload");
    let ingest = spans
        .iter()
        .find(|s| s.name == "ingest" && s.parent_id == ingest_rpc.span_id)
        .expect("core's ingest span");
    assert_eq!(ingest.attr("transport"), "TRANSPORT_FTP");
    assert!(
        !rx.raw().contains(PASSWORD),
        "the FTP password was exported"
    );
}

/// Settings this build cannot honour stop start-up with exit 64 and the variable's name,
/// rather than silently exporting nothing.
#[test]
fn unsupported_otel_settings_are_refused_at_start() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env.extend([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            "http://127.0.0.1:4318".into(),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/protobuf".into()),
    ]);
    let out = w.run(&["serve"], "");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{err}");
}

/// `wharf push` (the CLI exports its own span) → the dispatcher's "push send" span per
/// sequence, children of the CLI's span; each request to the partner carries `traceparent`
/// naming that very span; the endpoint's password is nowhere in the spans.
#[test]
fn an_outbound_push_is_delivered_in_the_trace_it_was_made_in() {
    use util::receiver::{secret_key, wait_for, Receiver as Partner};
    let rx = Receiver::start();
    let partner_api = Partner::start();
    let mut w = Wharf::new(Backend::Sqlite);
    exporting(&mut w, &rx, 100);
    w.extra_env.push(("WHARF_SECRET_KEY".into(), secret_key()));
    let partner = add_partner(&w, None);
    let endpoint_password = "endpoint-pw-Zq81";
    let url = partner_api.url("/push/bom");
    w.ok(
        &[
            "endpoint",
            "set",
            &partner,
            "t1/bom",
            "--url",
            &url,
            "--auth",
            "basic",
            "--username",
            "wharf",
            "--allow-http",
        ],
        &format!("{endpoint_password}\n"),
    );
    let _server = w.serve();
    let rows: String = (0..600)
        .map(|i| format!("{}\n", bom_row(&format!("T{i:05}"))))
        .collect();
    let out = w.ok(
        &["push", "t1", "bom", "--partner", &partner, "--op", "insert"],
        &rows,
    );
    let push_id = out
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("push PUSH_ID queued: {out}"))
        .to_string();
    wait_for(30, "both sequences delivered", || {
        partner_api.delivered(&push_id, "1") == 1 && partner_api.delivered(&push_id, "2") == 1
    });
    let cli = wait_for_span(&rx, |s| {
        s.name == "cli push" && s.attr("partner") == partner
    });
    assert_eq!(cli.service, "wharf-cli");
    let spans = rx.trace(&cli.trace_id, &["cli push", "push send"], WAIT);
    let deadline = std::time::Instant::now() + WAIT;
    let mut sends: Vec<Span> = Vec::new();
    while sends.len() < 2 && std::time::Instant::now() < deadline {
        sends = rx
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == cli.trace_id && s.name == "push send")
            .collect();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sends.len(), 2, "one span per sequence: {spans:#?}");
    sends.sort_by(|a, b| a.attr("seq_id").cmp(b.attr("seq_id")));
    for (send, (seq, n)) in sends.iter().zip([("1", "500"), ("2", "100")]) {
        assert_eq!(send.service, "wharf");
        assert_eq!(
            send.parent_id, cli.span_id,
            "delivery continues the push's trace"
        );
        assert_eq!(send.kind, 3, "a client span");
        assert_eq!(send.attr("partner"), partner);
        assert_eq!(send.attr("interface"), "t1/bom");
        assert_eq!(send.attr("batch_id"), push_id);
        assert_eq!(send.attr("seq_id"), seq);
        assert_eq!(send.attr("rows"), n);
        assert_eq!(send.attr("attempt"), "1");
        assert_eq!(send.attr("http_status"), "200");
        assert_eq!(send.attr("code"), "0");
        // The partner got this span's context.
        let got = partner_api
            .seen()
            .into_iter()
            .find(|r| r.seq_id == Value::String(seq.to_string()))
            .expect("the request of the sequence");
        assert_eq!(
            got.header("traceparent"),
            Some(format!("00-{}-{}-01", cli.trace_id, send.span_id).as_str()),
            "seq {seq}"
        );
    }
    let raw = rx.raw();
    assert!(
        !raw.contains(endpoint_password),
        "the endpoint's password was exported"
    );
}
