//! The gRPC contract between wharf's front-ends and core (package `wharf.v1`), and the client
//! a front-end uses to reach core with the internal token.
//!
//! This crate owns wire types only: no rule, no store. Its one piece of transport policy is
//! how a front-end reaches core (`connect`: one URL, or several cores balanced over).
#![forbid(unsafe_code)]

/// Generated `wharf.v1` types and the tonic client and server.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("wharf.v1");
}

pub mod json;
pub mod login;
pub mod time;
pub mod tls;
pub mod trace;

use std::time::Duration;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;

use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

pub use tls::CoreTls;
use tls::{Explained, Mode};

/// Adds `authorization: Bearer <internal token>` to every call, and the W3C context of the
/// calling span when spans are exported (else a context the caller set stays as it is).
#[derive(Clone)]
pub struct WithToken(AsciiMetadataValue);

impl tonic::service::Interceptor for WithToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        trace::to_metadata(&trace::current(), req.metadata_mut());
        Ok(req)
    }
}

/// A client of core that authenticates with the internal token; its failures that an
/// operator can fix (TLS trust, a client certificate) read as such ([`tls::Explained`]).
pub type CoreClient = v1::core_client::CoreClient<InterceptedService<Explained, WithToken>>;

/// Errors reaching core.
#[derive(Debug)]
pub enum ConnectError {
    /// The URL or token cannot be used.
    Invalid(String),
    /// Core did not answer.
    Transport(tonic::transport::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Invalid(m) => write!(f, "{m}"),
            ConnectError::Transport(e) => write!(f, "cannot reach core: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// How often a client of several cores checks which of them accept connections.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A core that does not accept a TCP connection within this is taken as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Connect lazily to core at `urls` in plain HTTP/2 (`http://` URLs only): see
/// [`connect_with`].
pub fn connect(urls: &str, internal_token: &str) -> Result<CoreClient, ConnectError> {
    connect_with(urls, internal_token, None)
}

/// Connect lazily to core at `urls`: one URL (e.g. `http://127.0.0.1:50051`, or a Kubernetes
/// Service that balances by itself), or a comma-separated list of core replicas
/// (`http://127.0.0.1:5001,http://127.0.0.1:5002`) that calls are balanced over.
///
/// `https://` URLs need `tls` (the CA core's certificate must chain to, and a client
/// certificate when core asks for one); the certificate must name the URL's host. `http://`
/// URLs take no `tls`, and one list is all `http://` or all `https://`.
///
/// With several URLs, calls go only to the cores that accept connections: a task checks each
/// core every second (a TCP connect) and takes a core that is down out of the balance until
/// it is back. While no core is up, all stay in, so calls fail at once (a system error, safe
/// to retry) instead of waiting. A call in flight on a core that dies fails as soon as its
/// connection breaks; HTTP/2 keepalive pings (every 10 s while calls are open, 10 s to answer)
/// bound that wait when the connection goes silent instead of breaking. Must be called
/// inside a tokio runtime.
pub fn connect_with(
    urls: &str,
    internal_token: &str,
    tls: Option<&CoreTls>,
) -> Result<CoreClient, ConnectError> {
    let endpoints = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(endpoint)
        .collect::<Result<Vec<_>, _>>()?;
    let https = endpoints
        .iter()
        .filter(|e| e.uri().scheme_str() == Some("https"))
        .count();
    let mode = match (https, tls) {
        (0, None) => Mode::Plain,
        (0, Some(_)) => {
            return Err(ConnectError::Invalid(format!(
                "core url {urls:?} is http://, but TLS settings for core were given \
                 (WHARF_CORE_CA_FILE, WHARF_CORE_CLIENT_CERT): use https:// URLs, or drop them"
            )))
        }
        (n, _) if n < endpoints.len() => {
            return Err(ConnectError::Invalid(format!(
                "core url {urls:?} mixes http:// and https://: every core is reached alike, \
                 all over TLS (https://) or none"
            )))
        }
        (_, None) => {
            return Err(ConnectError::Invalid(format!(
                "core url {urls:?} is https://: WHARF_CORE_CA_FILE must name the PEM file of \
                 the CA that signed core's certificate"
            )))
        }
        (_, Some(t)) if t.has_client_certificate() => Mode::MutualTls,
        (_, Some(_)) => Mode::Tls,
    };
    let client_cert_hint =
        " (check that WHARF_CORE_CLIENT_KEY is the key of WHARF_CORE_CLIENT_CERT)";
    let (endpoints, diagnosis) = match tls {
        None => {
            let uris: Vec<&tonic::transport::Uri> = endpoints.iter().map(Endpoint::uri).collect();
            let diagnosis = tls::Diagnosis::plain(&uris)
                .map_err(|e| ConnectError::Invalid(format!("core url: {e}")))?;
            (endpoints, Some(diagnosis))
        }
        Some(tls) => {
            let hint = if tls.has_client_certificate() {
                client_cert_hint
            } else {
                ""
            };
            let uris: Vec<&tonic::transport::Uri> = endpoints.iter().map(Endpoint::uri).collect();
            let diagnosis = tls
                .diagnosis(&uris)
                .map_err(|e| ConnectError::Invalid(format!("TLS towards core: {e}{hint}")))?;
            let endpoints = endpoints
                .into_iter()
                .map(|e| {
                    e.tls_config(tls.client_config()).map_err(|e| {
                        ConnectError::Invalid(format!(
                            "TLS towards core: {}{hint}",
                            tls::chain_text(&e)
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            (endpoints, Some(diagnosis))
        }
    };
    let value: AsciiMetadataValue = format!("Bearer {internal_token}")
        .parse()
        .map_err(|_| ConnectError::Invalid("internal token is not ASCII".into()))?;
    let channel = match endpoints.as_slice() {
        [] => return Err(ConnectError::Invalid(format!("core url {urls:?}: no URL"))),
        [one] => one.connect_lazy(),
        _ => balanced(endpoints),
    };
    Ok(v1::core_client::CoreClient::with_interceptor(
        Explained::new(channel, mode, diagnosis),
        WithToken(value),
    )
    .max_decoding_message_size(64 * 1024 * 1024)
    .max_encoding_message_size(64 * 1024 * 1024))
}

/// One core's endpoint with the client's connection settings.
fn endpoint(url: &str) -> Result<Endpoint, ConnectError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ConnectError::Invalid(format!("core url {url:?}: {e}")))?;
    let uri = endpoint.uri();
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(ConnectError::Invalid(format!(
            "core url {url:?}: want http://HOST:PORT or https://HOST:PORT"
        )));
    }
    Ok(endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(120))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(false))
}

/// A channel balanced over the cores of `endpoints` that are up (see [`connect`]).
fn balanced(endpoints: Vec<Endpoint>) -> Channel {
    let (channel, changes) = Channel::balance_channel::<usize>(2 * endpoints.len() + 16);
    for (i, e) in endpoints.iter().enumerate() {
        // Room for every endpoint: the channel's capacity is larger than the list.
        let _ = changes.try_send(Change::Insert(i, e.clone()));
    }
    tokio::spawn(watch_cores(endpoints, changes));
    channel
}

/// Keep the balance to the cores that accept connections, until the channel is dropped.
async fn watch_cores(endpoints: Vec<Endpoint>, changes: Sender<Change<usize, Endpoint>>) {
    let targets: Vec<(String, u16)> = endpoints.iter().map(|e| probe_target(e.uri())).collect();
    let mut in_use = vec![true; endpoints.len()];
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if changes.is_closed() {
            return;
        }
        let mut probes = tokio::task::JoinSet::new();
        for (i, (host, port)) in targets.iter().cloned().enumerate() {
            probes.spawn(async move {
                let connect = tokio::net::TcpStream::connect((host.as_str(), port));
                let up = matches!(
                    tokio::time::timeout(PROBE_TIMEOUT, connect).await,
                    Ok(Ok(_))
                );
                (i, up)
            });
        }
        let mut up = vec![false; endpoints.len()];
        while let Some(done) = probes.join_next().await {
            if let Ok((i, ok)) = done {
                up[i] = ok;
            }
        }
        // No core up: keep them all, so calls fail fast rather than wait for one.
        let want = if up.contains(&true) {
            up
        } else {
            vec![true; endpoints.len()]
        };
        for (i, endpoint) in endpoints.iter().enumerate() {
            let change = match (in_use[i], want[i]) {
                (false, true) => {
                    tracing::info!(core = %endpoint.uri(), "core is up: calls go to it again");
                    Change::Insert(i, endpoint.clone())
                }
                (true, false) => {
                    tracing::warn!(core = %endpoint.uri(), "core is down: calls go to the others");
                    Change::Remove(i)
                }
                _ => continue,
            };
            if changes.send(change).await.is_err() {
                return;
            }
            in_use[i] = want[i];
        }
    }
}

/// Where to check that a core accepts connections: its URL's host and port.
fn probe_target(uri: &tonic::transport::Uri) -> (String, u16) {
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    (host, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_core_urls_are_refused() {
        for bad in [
            "",
            " , ",
            "core:50051",
            "ftp://core:21",
            "http://a:1,core-b:2",
        ] {
            assert!(
                matches!(
                    connect(bad, "token-0123456789abcdef"),
                    Err(ConnectError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn one_url_or_several() {
        connect("http://127.0.0.1:1", "token-0123456789abcdef").expect("one");
        connect(
            "http://127.0.0.1:1, http://127.0.0.1:2",
            "token-0123456789abcdef",
        )
        .expect("two");
    }

    #[tokio::test]
    async fn https_urls_take_tls_and_http_urls_do_not() {
        let dir = std::env::temp_dir().join(wharf_testkit::unique("wharf-proto-tls-"));
        let ca = wharf_testkit::ca::TestCa::new(&dir, "core-ca");
        let client = ca.client_cert("gateway");
        let pem = |p: &std::path::Path| std::fs::read(p).unwrap();
        let tls = CoreTls::new(&pem(&ca.cert)).expect("a CA");
        let mutual = tls
            .clone()
            .with_client_certificate(&pem(&client.cert), &pem(&client.key))
            .expect("a client certificate");
        let token = "token-0123456789abcdef";
        connect_with("https://localhost:1", token, Some(&tls)).expect("TLS");
        connect_with(
            "https://localhost:1,https://127.0.0.1:2",
            token,
            Some(&mutual),
        )
        .expect("mutual TLS, balanced");
        let refused = |urls: &str, tls: Option<&CoreTls>| match connect_with(urls, token, tls) {
            Err(ConnectError::Invalid(why)) => why,
            Ok(_) => panic!("{urls} accepted"),
            Err(e) => panic!("{urls}: {e}"),
        };
        assert!(refused("https://localhost:1", None).contains("WHARF_CORE_CA_FILE"));
        assert!(refused("http://localhost:1", Some(&tls)).contains("is http://"));
        assert!(
            refused("https://localhost:1,http://localhost:2", Some(&tls))
                .contains("mixes http:// and https://")
        );
        // A key that is not the certificate's is refused before any call.
        let other = ca.client_cert("other");
        let mismatched = tls
            .with_client_certificate(&pem(&client.cert), &pem(&other.key))
            .expect("each file alone is fine");
        assert!(refused("https://localhost:1", Some(&mismatched))
            .contains("WHARF_CORE_CLIENT_KEY is the key of WHARF_CORE_CLIENT_CERT"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn probes_go_to_the_url_host_and_port() {
        let target = |u: &str| probe_target(&u.parse().unwrap());
        assert_eq!(target("http://127.0.0.1:5001"), ("127.0.0.1".into(), 5001));
        assert_eq!(
            target("https://core.internal"),
            ("core.internal".into(), 443)
        );
        assert_eq!(target("http://core"), ("core".into(), 80));
        assert_eq!(target("http://[::1]:5002"), ("::1".into(), 5002));
    }
}
