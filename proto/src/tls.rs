//! TLS from a front-end to core: what the front-end trusts and shows ([`CoreTls`]), and the
//! channel under every core client ([`Explained`]), which tells the failures an operator can
//! fix (an untrusted certificate, a client certificate core wants, a scheme that does not
//! match core's) in words instead of "transport error".
//!
//! The handshake of every call is tonic's (rustls with ring). A failure the call's error
//! names (core's certificate refused here, a plain HTTP/2 client meeting a TLS core) is read
//! from it. A refusal by core of this front-end's certificate is not: with TLS 1.3 the
//! client's handshake is over before core checks that certificate, so the call only sees its
//! connection close. For those, [`Explained`] makes one diagnostic handshake of its own with
//! the same trust and certificate and reads core's alert (at most once every few seconds).
//! A plain (`http://`) client meeting a TLS core mostly sees HTTP/2 fail on core's alert, but
//! core may also just reset the connection first: then a diagnostic TLS hello tells whether
//! core answers TLS (its certificate is asked for, and refused unread).

use std::error::Error as StdError;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, AlertDescription, CertificateError};
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::{BoxFuture, Service, StdError as BoxError};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Uri};

/// How long a front-end waits for core's side of the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A diagnosis is reused this long, so failing calls in a burst make one diagnostic handshake.
const DIAGNOSIS_TTL: Duration = Duration::from_secs(5);
/// Each step of a diagnostic handshake (connect, handshake, core's first bytes) waits this.
const DIAGNOSIS_STEP: Duration = Duration::from_secs(2);

/// What a front-end needs to reach core over TLS: the CA core's certificate must chain to
/// (`WHARF_CORE_CA_FILE`), and, for a core that asks for one (mutual TLS), this front-end's
/// certificate and key (`WHARF_CORE_CLIENT_CERT`, `WHARF_CORE_CLIENT_KEY`). Only the PEM
/// given is trusted: no system roots. `Debug` shows no key.
#[derive(Clone)]
pub struct CoreTls {
    ca_pem: Vec<u8>,
    roots: Arc<rustls::RootCertStore>,
    client: Option<ClientCert>,
}

/// A client certificate as tonic takes it (PEM) and as rustls does (DER).
#[derive(Clone)]
struct ClientCert {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for CoreTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreTls")
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl CoreTls {
    /// Trust the CA certificates in `ca_pem` (PEM; one or more). `Err` says what is wrong with
    /// the text; the caller names the file.
    pub fn new(ca_pem: &[u8]) -> Result<CoreTls, String> {
        Ok(CoreTls {
            ca_pem: ca_pem.to_vec(),
            roots: Arc::new(roots(ca_pem)?),
            client: None,
        })
    }

    /// Show core this certificate (`cert_pem`: PEM chain, this front-end's own first) with
    /// its private key (`key_pem`). `Err` names which of the two is wrong.
    pub fn with_client_certificate(
        self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<CoreTls, ClientCertError> {
        let chain = certificates(cert_pem).map_err(ClientCertError::Certificate)?;
        let key = private_key(key_pem).map_err(ClientCertError::Key)?;
        Ok(CoreTls {
            client: Some(ClientCert {
                cert_pem: cert_pem.to_vec(),
                key_pem: key_pem.to_vec(),
                chain,
                key: Arc::new(key),
            }),
            ..self
        })
    }

    /// Whether this front-end shows core a certificate.
    pub fn has_client_certificate(&self) -> bool {
        self.client.is_some()
    }

    /// tonic's client configuration: core's name is checked against the URL's host.
    pub(crate) fn client_config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .timeout(HANDSHAKE_TIMEOUT);
        match &self.client {
            Some(c) => config.identity(Identity::from_pem(&c.cert_pem, &c.key_pem)),
            None => config,
        }
    }

    /// The same trust and certificate for the diagnostic handshakes to the cores at `uris`.
    pub(crate) fn diagnosis(&self, uris: &[&Uri]) -> Result<Diagnosis, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(self.roots.clone());
        let mut config = match &self.client {
            Some(c) => builder
                .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
                .map_err(|e| e.to_string())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Diagnosis::new(config, uris)
    }
}

/// The verifier of a plain client's diagnostic hello: it trusts nothing. Being asked to
/// verify a certificate at all shows the server speaks TLS; the handshake then fails with
/// [`SPEAKS_TLS`].
#[derive(Debug)]
struct TrustsNothing(Arc<rustls::crypto::CryptoProvider>);

/// The error [`TrustsNothing`] ends a diagnostic hello with.
const SPEAKS_TLS: &str = "wharf-probe: the server presented a TLS certificate";

impl rustls::client::danger::ServerCertVerifier for TrustsNothing {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(SPEAKS_TLS.into()))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(SPEAKS_TLS.into()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(SPEAKS_TLS.into()))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Which half of a client certificate cannot be used.
#[derive(Debug)]
pub enum ClientCertError {
    /// The certificate file's text.
    Certificate(String),
    /// The key file's text.
    Key(String),
}

/// The certificates in `pem`; at least one.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

/// The CA certificates in `pem` as trust anchors.
fn roots(pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(pem)? {
        roots
            .add(cert)
            .map_err(|e| format!("not a usable CA certificate ({e})"))?;
    }
    Ok(roots)
}

/// The private key in `pem`.
fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no PEM private key in it ({e})"))
}

/// That `pem` holds a certificate chain (PEM, at least one certificate). `Err` says what is
/// wrong with the text; the caller names the file. Shared by both ends of core's gRPC.
pub fn check_certificates(pem: &[u8]) -> Result<(), String> {
    certificates(pem).map(|_| ())
}

/// That `pem` holds CA certificates a TLS peer can be checked against (PEM, at least one,
/// each a well-formed X.509 certificate).
pub fn check_ca(pem: &[u8]) -> Result<(), String> {
    roots(pem).map(|_| ())
}

/// That `pem` holds a private key (PEM: PKCS#8, PKCS#1 or SEC1).
pub fn check_private_key(pem: &[u8]) -> Result<(), String> {
    private_key(pem).map(|_| ())
}

/// How a client reaches core, for reading its failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `http://`: no TLS.
    Plain,
    /// `https://` without a client certificate.
    Tls,
    /// `https://` with a client certificate.
    MutualTls,
}

/// tonic's channel to core, whose failures that an operator can fix come back as an
/// UNAVAILABLE status saying what to fix (see [`explain`]); every other failure is tonic's own.
#[derive(Clone)]
pub struct Explained {
    inner: Channel,
    mode: Mode,
    /// Over TLS: diagnostic handshakes for failures the call's error does not explain.
    diagnosis: Option<Arc<Diagnosis>>,
}

impl std::fmt::Debug for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explained")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Explained {
    pub(crate) fn new(inner: Channel, mode: Mode, diagnosis: Option<Diagnosis>) -> Explained {
        Explained {
            inner,
            mode,
            diagnosis: diagnosis.map(Arc::new),
        }
    }
}

impl Service<Request<Body>> for Explained {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness fails only when the channel is gone: nothing to explain.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (mode, diagnosis) = (self.mode, self.diagnosis.clone());
        let call = self.inner.call(req);
        Box::pin(async move {
            let err: BoxError = match call.await {
                Ok(response) => return Ok(response),
                Err(e) => Box::new(e),
            };
            let why = match explain(mode, &*err) {
                Some(why) => Some(why),
                None => match diagnosis {
                    Some(d) if !core_down(&*err) => d.why(mode).await,
                    _ => None,
                },
            };
            Err(match why {
                Some(why) => {
                    tracing::debug!(error = %chain_text(&*err), "core call failed");
                    operator_status(why)
                }
                None => err,
            })
        })
    }
}

/// Diagnostic handshakes with the cores of one client (see the module's doc), the last
/// finding kept for [`DIAGNOSIS_TTL`].
pub(crate) struct Diagnosis {
    config: Arc<rustls::ClientConfig>,
    /// Each core's host, port and the name its certificate must carry.
    targets: Vec<(String, u16, ServerName<'static>)>,
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl Diagnosis {
    fn new(config: rustls::ClientConfig, uris: &[&Uri]) -> Result<Diagnosis, String> {
        let targets = uris
            .iter()
            .map(|uri| {
                let (host, port) = crate::probe_target(uri);
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("core url host {host:?}: {e}"))?;
                Ok((host, port, name))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Diagnosis {
            config: Arc::new(config),
            targets,
            last: Mutex::new(None),
        })
    }

    /// For a plain client of the cores at `uris`: a hello that only finds out whether core
    /// speaks TLS (it trusts no certificate, so nothing is ever sent over it).
    pub(crate) fn plain(uris: &[&Uri]) -> Result<Diagnosis, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(TrustsNothing(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Diagnosis::new(config, uris)
    }

    /// What an operator must fix about TLS with the cores, if a handshake shows it. Calls
    /// failing together wait for one diagnosis and share it.
    async fn why(&self, mode: Mode) -> Option<String> {
        let mut last = self.last.lock().await;
        if let Some((_, why)) = last.as_ref().filter(|(at, _)| at.elapsed() < DIAGNOSIS_TTL) {
            return why.clone();
        }
        let mut found = None;
        for (host, port, name) in &self.targets {
            found = handshake(&self.config, host, *port, name.clone(), mode).await;
            if found.is_some() {
                break;
            }
        }
        *last = Some((Instant::now(), found.clone()));
        found
    }
}

/// One diagnostic handshake with core at `host:port`, then a read of core's first bytes (its
/// HTTP/2 settings when it accepted this front-end, its alert when it did not).
async fn handshake(
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    name: ServerName<'static>,
    mode: Mode,
) -> Option<String> {
    use tokio::time::timeout;
    let tcp = timeout(DIAGNOSIS_STEP, tokio::net::TcpStream::connect((host, port)))
        .await
        .ok()?
        .ok()?;
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let mut tls = match timeout(DIAGNOSIS_STEP, connector.connect(name, tcp)).await {
        Err(_) => return None,
        Ok(Err(e)) if mode == Mode::Plain => {
            let speaks_tls =
                matches!(rustls_error(&e), Some(rustls::Error::General(m)) if m == SPEAKS_TLS);
            return speaks_tls.then(|| plain_meets_tls("core answered a TLS hello"));
        }
        Ok(Err(e)) => return explain(mode, &e),
        // A plain probe trusts nothing, so it never gets here.
        Ok(Ok(tls)) => tls,
    };
    let mut first = [0u8; 16];
    match timeout(DIAGNOSIS_STEP, tls.read(&mut first)).await {
        Ok(Err(e)) => explain(mode, &e),
        _ => None,
    }
}

/// Whether `err` is core not being there (no connection, or none in time), which no TLS
/// setting explains.
fn core_down(err: &(dyn StdError + 'static)) -> bool {
    chain(err).into_iter().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            )
        }) || e.to_string().contains("timed out")
    })
}

/// Marks a status [`Explained`] made: the failure is the front-end's configuration (or
/// core's), not core being down. Local only: never sent.
const OPERATOR_FAULT: &str = "wharf-operator-fault";

/// Whether a failed call's status says what an operator must fix (see [`explain`]): worth an
/// error in the log rather than a warning about core being away.
pub fn operator_fault(status: &tonic::Status) -> bool {
    status.metadata().contains_key(OPERATOR_FAULT)
}

/// An UNAVAILABLE status saying `why`, marked as an [`operator_fault`].
fn operator_status(why: String) -> BoxError {
    let mut status = tonic::Status::unavailable(why);
    status.metadata_mut().insert(
        OPERATOR_FAULT,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    Box::new(status)
}

/// What the operator of a front-end can fix about a failed call to core, if the failure says:
/// the CA in `WHARF_CORE_CA_FILE` did not sign core's certificate, the certificate does not
/// name the host in `WHARF_CORE_URL`, core wants a client certificate and none is set, core
/// refused the one that is, or one side speaks TLS and the other does not.
pub(crate) fn explain(mode: Mode, err: &(dyn StdError + 'static)) -> Option<String> {
    if let Some(tls) = rustls_error(err) {
        return tls_failure(mode, tls);
    }
    match mode {
        // A TLS core answers the plain HTTP/2 preface with a TLS alert record, which HTTP/2
        // reads as a frame far too large (or core just closes): a protocol error.
        Mode::Plain if h2_protocol_error(err) => Some(plain_meets_tls(&chain_text(err))),
        _ => None,
    }
}

/// The words for a plain (`http://`) front-end meeting a core that speaks TLS; `seen` is what
/// showed it.
fn plain_meets_tls(seen: &str) -> String {
    format!(
        "core did not answer plain HTTP/2 ({seen}): if core serves its gRPC over TLS \
         (WHARF_GRPC_TLS_CERT), WHARF_CORE_URL must be https:// with WHARF_CORE_CA_FILE"
    )
}

/// The words for a TLS failure seen by a client in `mode`.
fn tls_failure(mode: Mode, tls: &rustls::Error) -> Option<String> {
    use rustls::Error as E;
    Some(match tls {
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "core's certificate does not name the host in WHARF_CORE_URL ({tls}): connect by a \
             name or address the certificate carries"
        ),
        E::InvalidCertificate(
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnhandledCriticalExtension
            | CertificateError::InvalidPurpose
            | CertificateError::InvalidPurposeContext { .. },
        ) => format!(
            "core's certificate was not trusted by WHARF_CORE_CA_FILE ({tls}): that file must \
             hold the CA that signed core's certificate (WHARF_GRPC_TLS_CERT)"
        ),
        E::InvalidCertificate(_) => format!("core's certificate was refused ({tls})"),
        // Core refused the handshake because of (the lack of) this front-end's certificate:
        // TLS 1.3 says "certificate required"; other refusals name the fault.
        E::AlertReceived(alert) if mode == Mode::Tls && refuses_client(*alert) => format!(
            "core requires a client certificate (mutual TLS, {tls}): set \
             WHARF_CORE_CLIENT_CERT and WHARF_CORE_CLIENT_KEY to a certificate signed by the \
             CA in core's WHARF_GRPC_CLIENT_CA"
        ),
        E::AlertReceived(alert) if mode == Mode::MutualTls && refuses_client(*alert) => format!(
            "core refused this front-end's client certificate ({tls}): \
             WHARF_CORE_CLIENT_CERT must be signed by the CA in core's WHARF_GRPC_CLIENT_CA \
             and be valid now"
        ),
        E::InvalidMessage(_) => format!(
            "core did not answer TLS ({tls}): WHARF_CORE_URL is https://, so core must serve \
             its gRPC over TLS (WHARF_GRPC_TLS_CERT and WHARF_GRPC_TLS_KEY)"
        ),
        other => format!("TLS with core failed: {other}"),
    })
}

/// Alerts a TLS server sends when a client certificate is missing or not accepted.
fn refuses_client(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::CertificateRequired
            | AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
    )
}

/// Every error of `err`'s chain, `err` first. An `io::Error` hides the error it carries from
/// `source()`, and an `h2::Error` the `io::Error` it carries: both are looked into.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            if let Some(io) = h2.get_io() {
                out.push(io);
            }
        }
        if let Some(io) = out.last().and_then(|e| e.downcast_ref::<std::io::Error>()) {
            if let Some(inner) = io.get_ref() {
                out.push(inner);
            }
        }
        next = e.source();
    }
    out
}

/// The rustls error somewhere in `err`'s chain.
fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// Whether HTTP/2 itself failed on what the other side sent (not a reset or a timeout).
fn h2_protocol_error(err: &(dyn StdError + 'static)) -> bool {
    chain(err).into_iter().any(|e| {
        e.downcast_ref::<h2::Error>().is_some_and(|h2| {
            h2.get_io().is_none()
                && matches!(
                    h2.reason(),
                    Some(h2::Reason::FRAME_SIZE_ERROR | h2::Reason::PROTOCOL_ERROR)
                )
        })
    })
}

/// `err` and its sources as one line, each message once.
pub(crate) fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(err) {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// A TLS server configuration serving `cert` (a PEM chain) with `key` (a PEM private key),
/// no client certificates; shared by the HTTPS listeners and the FTP door. `Err` names the
/// file at fault and why.
pub fn server_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let certs = certificates(&read(cert)?)
        .map_err(|why| format!("certificate {}: {why}", cert.display()))?;
    let private =
        private_key(&read(key)?).map_err(|why| format!("key {}: {why}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| format!("certificate and key do not fit: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn an_untrusted_core_names_the_ca_file() {
        let e = io(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        let why = explain(Mode::Tls, &e).unwrap();
        assert!(
            why.contains("core's certificate was not trusted by WHARF_CORE_CA_FILE"),
            "{why}"
        );
        let e = io(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert!(explain(Mode::MutualTls, &e)
            .unwrap()
            .contains("does not name the host in WHARF_CORE_URL"));
    }

    #[test]
    fn a_missing_or_refused_client_certificate_is_told_apart() {
        let alert = || {
            io(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired,
            ))
        };
        let why = explain(Mode::Tls, &alert()).unwrap();
        assert!(why.contains("core requires a client certificate"), "{why}");
        assert!(why.contains("WHARF_CORE_CLIENT_CERT"), "{why}");
        let why = explain(Mode::MutualTls, &alert()).unwrap();
        assert!(
            why.contains("core refused this front-end's client certificate"),
            "{why}"
        );
    }

    #[test]
    fn a_plain_protocol_error_hints_at_tls() {
        let e = h2::Error::from(h2::Reason::FRAME_SIZE_ERROR);
        let why = explain(Mode::Plain, &e).unwrap();
        assert!(why.contains("WHARF_CORE_URL must be https://"), "{why}");
        // Over TLS, a protocol error is core's or the network's business.
        assert_eq!(explain(Mode::Tls, &e), None);
        // A refused connection is no TLS matter.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(explain(Mode::Plain, &refused), None);
        assert_eq!(explain(Mode::Tls, &refused), None);
    }

    #[test]
    fn pem_is_checked_before_use() {
        assert!(CoreTls::new(b"").is_err());
        assert!(CoreTls::new(b"not pem").is_err());
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(CoreTls::new(garbage).is_err());
    }
}
