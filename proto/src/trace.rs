//! W3C trace context (`traceparent`, `tracestate`) across wharf's hops: taken from incoming
//! HTTP, carried in gRPC metadata into core, and out on the HTTP requests of outbound pushes.
//!
//! The context travels whether or not spans are exported: with no OpenTelemetry layer
//! installed ([`current`] is then empty) a front-end hands core the caller's own context, so
//! the logs of one push still line up by trace id.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
pub use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The longest `traceparent`/`tracestate` value taken from a caller (W3C allows 512 for the
/// state; anything longer is ignored rather than carried).
const MAX_VALUE: usize = 512;

/// A caller's value for `key`, when it may be used: bounded, and a `traceparent` strictly of
/// the W3C shape `vv-<32 hex>-<16 hex>-ff` (the SDK's parser takes shorter ids too).
fn checked<'a>(key: &str, value: Option<&'a str>) -> Option<&'a str> {
    let v = value.filter(|v| v.len() <= MAX_VALUE)?;
    if key != "traceparent" {
        return Some(v);
    }
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = parts.len() >= 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && (parts.len() == 4 || parts[0] != "00");
    ok.then_some(v)
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        checked(key, self.0.get(key).and_then(|v| v.to_str().ok()))
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct Metadata<'a>(&'a MetadataMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        checked(key, self.0.get(key).and_then(|v| v.to_str().ok()))
    }
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

struct MetadataMut<'a>(&'a mut MetadataMap);

impl Injector for MetadataMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// The caller's context from HTTP headers (empty when absent or malformed).
pub fn from_headers(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// The caller's context from gRPC metadata (empty when absent or malformed).
pub fn from_metadata(md: &MetadataMap) -> Context {
    TraceContextPropagator::new().extract(&Metadata(md))
}

/// The context of the current `tracing` span, empty unless spans are exported.
pub fn current() -> Context {
    of(&tracing::Span::current())
}

/// The context of `span`, empty unless spans are exported.
pub fn of(span: &tracing::Span) -> Context {
    span.context()
}

/// Whether `cx` names a trace.
pub fn is_valid(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

/// `cx` as request headers (nothing when it names no trace).
pub fn to_headers(cx: &Context, headers: &mut HeaderMap) {
    if is_valid(cx) {
        TraceContextPropagator::new().inject_context(cx, &mut HeadersMut(headers));
    }
}

/// `cx` as gRPC metadata (nothing when it names no trace).
pub fn to_metadata(cx: &Context, md: &mut MetadataMap) {
    if is_valid(cx) {
        TraceContextPropagator::new().inject_context(cx, &mut MetadataMut(md));
    }
}

/// `cx` as one `traceparent` value ("" when it names no trace), to be stored.
pub fn to_traceparent(cx: &Context) -> String {
    let mut h = HeaderMap::new();
    to_headers(cx, &mut h);
    h.get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// A stored `traceparent` as a context (empty when "" or malformed).
pub fn from_traceparent(tp: &str) -> Context {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(tp) {
        h.insert("traceparent", v);
    }
    from_headers(&h)
}

/// Make `span` a child of the caller's context `cx`. Without an OpenTelemetry layer this does
/// nothing, which is right: there is no span to parent.
pub fn adopt(span: &tracing::Span, cx: &Context) {
    if is_valid(cx) {
        let _ = span.set_parent(cx.clone());
    }
}

/// The 32-hex trace id of `cx`, or "" (for log lines).
pub fn trace_id(cx: &Context) -> String {
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        sc.trace_id().to_string()
    } else {
        String::new()
    }
}

/// The context to hand the next hop: the current span's when spans are exported, else
/// `fallback` (the caller's own context, carried through unchanged).
pub fn outgoing(fallback: &Context) -> Context {
    let cx = current();
    if is_valid(&cx) {
        cx
    } else {
        fallback.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_goes_from_headers_to_metadata_unchanged() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static(TP));
        h.insert("tracestate", HeaderValue::from_static("vendor=x"));
        let cx = from_headers(&h);
        assert_eq!(trace_id(&cx), "4bf92f3577b34da6a3ce929d0e0e4736");
        let mut md = MetadataMap::new();
        to_metadata(&cx, &mut md);
        assert_eq!(md.get("traceparent").unwrap().to_str().unwrap(), TP);
        assert_eq!(md.get("tracestate").unwrap().to_str().unwrap(), "vendor=x");
        assert_eq!(trace_id(&from_metadata(&md)), trace_id(&cx));
        assert_eq!(to_traceparent(&cx), TP);
        assert_eq!(to_traceparent(&from_traceparent(TP)), TP);
        assert_eq!(to_traceparent(&from_traceparent("")), "");
    }

    #[test]
    fn malformed_or_absent_context_is_empty_and_carries_nothing() {
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902-01",
        ] {
            let mut h = HeaderMap::new();
            h.insert("traceparent", HeaderValue::from_str(bad).unwrap());
            let cx = from_headers(&h);
            assert!(!is_valid(&cx), "{bad}");
            assert_eq!(trace_id(&cx), "");
            let mut out = HeaderMap::new();
            to_headers(&cx, &mut out);
            assert!(out.is_empty(), "{bad}");
        }
        let long = format!("{TP}{}", "0".repeat(MAX_VALUE));
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_str(&long).unwrap());
        assert!(!is_valid(&from_headers(&h)));
    }

    #[test]
    fn without_an_exporting_layer_the_callers_context_goes_on() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static(TP));
        let cx = from_headers(&h);
        assert_eq!(trace_id(&outgoing(&cx)), trace_id(&cx));
    }
}
