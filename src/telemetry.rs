//! Logs and traces. Logs go to stderr (`RUST_LOG` filters them). Spans are exported over OTLP
//! gRPC when, and only when, `OTEL_EXPORTER_OTLP_ENDPOINT` (or its `_TRACES_` form) is set;
//! everything else comes from the standard `OTEL_*` variables, read by the OpenTelemetry SDK
//! itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`).

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::Source;

/// The exporter, when spans are exported; flushed by [`Telemetry::shutdown`].
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// How spans are exported, read from `OTEL_*` (the environment is passed in for tests).
#[derive(Debug, PartialEq)]
pub enum Export {
    Off,
    Otlp,
}

/// Decide from the standard variables whether to export, refusing settings this build
/// cannot honour rather than ignoring them.
pub fn export_from(var: impl Fn(&str) -> Option<String>) -> Result<Export, String> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(Export::Off);
    }
    match set("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
        None | Some("otlp") => {}
        Some("none") => return Ok(Export::Off),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER={other} is not supported: use otlp (or none)"
            ))
        }
    }
    if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        return Ok(Export::Off);
    }
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(p) = set(name) {
            if p.trim() != "grpc" {
                return Err(format!(
                    "{name}={p} is not supported: wharf exports OTLP over gRPC (set grpc or unset it)"
                ));
            }
            break;
        }
    }
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        if let Some(url) = set(name) {
            if !url.trim().starts_with("http://") {
                return Err(format!(
                    "{name} must be an http:// gRPC address (a local collector or agent); \
                     this build has no TLS for OTLP"
                ));
            }
            break;
        }
    }
    Ok(Export::Otlp)
}

/// How log lines are written (`WHARF_LOG_FORMAT`).
#[derive(Debug, PartialEq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `text` (the default) or `json`; anything else is refused by name.
pub fn log_format(value: Option<String>) -> Result<LogFormat, String> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(format!(
            "{}={other} is not a log format: use text or json",
            crate::config::ENV_LOG_FORMAT
        )),
    }
}

/// Install the log (and, when configured, span export) subscriber. `component` names the
/// service unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` does; `src` is where the
/// `OTEL_*` variables are read. Must be called inside the Tokio runtime: the OTLP client runs
/// on it.
pub fn init(component: &str, src: &dyn Source) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            "info,tonic=warn,h2=warn,tower=warn,hyper=warn,libunftp=warn,unftp_core=warn",
        )
    });
    let var = |name: &str| src.get(name);
    // Text for people (the default), or one JSON object per line with the fields of the
    // event and of the spans it happened in (the request's `trace_id` among them).
    let logs = match log_format(var(crate::config::ENV_LOG_FORMAT))? {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let provider = match export_from(var)? {
        Export::Off => None,
        Export::Otlp => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .map_err(|e| format!("OTLP exporter: {e}"))?;
            let named = var("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty())
                || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|v| v.contains("service.name="));
            let mut resource = Resource::builder();
            if !named {
                resource = resource.with_service_name(component.to_string());
            }
            Some(
                SdkTracerProvider::builder()
                    .with_resource(resource.build())
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
    };
    // Only wharf's own spans are exported (not the HTTP/2 or FTP libraries' internals), at
    // info whatever RUST_LOG says.
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("wharf"))
            .with_location(false)
            .with_threads(false)
            .with_filter(Targets::new().with_target("wharf", tracing::Level::INFO))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| format!("logging: {e}"))?;
    if provider.is_some() {
        tracing::info!(service = component, "exporting spans over OTLP");
    }
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Send what is buffered and stop exporting. Blocks: call it outside async code, while the
    /// runtime still runs.
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            if let Err(e) = p.shutdown() {
                eprintln!("wharf: flushing spans: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(vars: &[(&str, &str)]) -> Result<Export, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        export_from(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn export_follows_the_standard_variables() {
        assert_eq!(decide(&[]), Ok(Export::Off));
        assert_eq!(
            decide(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]),
            Ok(Export::Off)
        );
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        assert_eq!(decide(&[on]), Ok(Export::Otlp));
        assert_eq!(
            decide(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317")]),
            Ok(Export::Otlp)
        );
        assert_eq!(
            decide(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
            Ok(Export::Otlp)
        );
        assert_eq!(
            decide(&[on, ("OTEL_SDK_DISABLED", "true")]),
            Ok(Export::Off)
        );
        assert_eq!(
            decide(&[on, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(Export::Off)
        );
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(log_format(None), Ok(LogFormat::Text));
        assert_eq!(log_format(Some("json".into())), Ok(LogFormat::Json));
        let e = log_format(Some("xml".into())).unwrap_err();
        assert!(e.contains("WHARF_LOG_FORMAT=xml"), "{e}");
    }

    #[test]
    fn settings_this_build_cannot_honour_are_refused_by_name() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        let e = decide(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap_err();
        assert!(
            e.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"),
            "{e}"
        );
        let e = decide(&[on, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(e.contains("OTEL_TRACES_EXPORTER"), "{e}");
        let e = decide(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317")]).unwrap_err();
        assert!(e.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{e}");
        // The signal's own protocol wins over the generic one.
        assert_eq!(
            decide(&[
                on,
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ]),
            Ok(Export::Otlp)
        );
    }
}
