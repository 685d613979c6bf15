//! An OTLP trace receiver for the tests: a real tonic server speaking the collector's trace
//! service (from the `opentelemetry-proto` crate) on loopback. It keeps every span it is sent,
//! and the whole of every export request as text, for tests to look for secrets in.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

/// One span as received.
#[derive(Clone, Debug)]
pub struct Span {
    /// The exporting process's `service.name`.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// "" for a root span.
    pub parent_id: String,
    /// OTLP's SpanKind number (1 internal, 2 server, 3 client).
    pub kind: i32,
    pub attrs: BTreeMap<String, String>,
    /// OTLP's status code (0 unset, 1 ok, 2 error).
    pub status: i32,
}

impl Span {
    /// An attribute's value, "" when absent.
    pub fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    /// Every export request, as its Debug text: every string it carries is in there.
    raw: Vec<String>,
}

struct Collector(Arc<Mutex<Received>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let req = request.into_inner();
        let mut got = self.0.lock().expect("receiver lock");
        got.raw.push(format!("{req:?}"));
        for rs in &req.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| attrs(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    got.spans.push(Span {
                        service: service.clone(),
                        name: s.name.clone(),
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_id: hex(&s.parent_span_id),
                        kind: s.kind,
                        attrs: attrs(&s.attributes),
                        status: s.status.as_ref().map(|st| st.code).unwrap_or(0),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    got: Arc<Mutex<Received>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start() -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("receiver runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the receiver");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("receiver address")
        );
        let got = Arc::new(Mutex::new(Received::default()));
        let service = TraceServiceServer::new(Collector(got.clone()));
        runtime.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        Receiver {
            url,
            got,
            _runtime: runtime,
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.got.lock().expect("receiver lock").spans.clone()
    }

    /// Every export request so far, as text.
    pub fn raw(&self) -> String {
        self.got.lock().expect("receiver lock").raw.join("\n")
    }

    /// The spans of `trace_id`, once those named in `names` have all arrived (at most
    /// `limit`); fails naming what is missing.
    #[track_caller]
    pub fn trace(&self, trace_id: &str, names: &[&str], limit: Duration) -> Vec<Span> {
        let deadline = Instant::now() + limit;
        loop {
            let spans: Vec<Span> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect();
            let missing: Vec<&&str> = names
                .iter()
                .filter(|n| !spans.iter().any(|s| s.name == **n))
                .collect();
            if missing.is_empty() {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id}: spans {missing:?} did not arrive within {} s; got {:#?}",
                limit.as_secs(),
                spans
                    .iter()
                    .map(|s| (&s.service, &s.name))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The one span named `name` among `spans`.
#[track_caller]
pub fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one span {name:?} in {spans:#?}");
    found[0]
}
