//! The outbound HTTP client: hyper's HTTP/1.1 connection over TCP or rustls (the stack the
//! gateway serves with), one kept-alive connection per worker, every exchange bounded by the
//! push timeout, answers read up to a bound.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Bytes of a partner's answer kept (the rest is read and dropped).
pub const ANSWER_BYTES: usize = 16 * 1024;

/// Why an exchange got no HTTP answer: all of these are worth another try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    Connect(String),
    Broken(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer within the timeout"),
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Broken(e) => write!(f, "connection broken: {e}"),
        }
    }
}

/// An HTTP answer: status and the first `ANSWER_BYTES` of the body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Where requests go: scheme, host, port, and the Host header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub authority: String,
    pub uri: Uri,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url:?}: use http:// or https://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            https,
            host,
            port,
            authority: authority.as_str().to_string(),
            uri,
        })
    }

    fn same_server(&self, other: &Target) -> bool {
        self.https == other.https && self.host == other.host && self.port == other.port
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A kept-alive connection to one server.
pub struct Conn {
    server: Target,
    sender: SendRequest<Full<Bytes>>,
}

/// Sends requests; cheap to clone.
#[derive(Clone)]
pub struct Client {
    tls: TlsConnector,
    pub timeout: Duration,
}

impl Client {
    /// A client trusting the Mozilla roots plus `extra_roots` (a private CA), with `timeout`
    /// on every exchange.
    pub fn new(
        timeout: Duration,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> Result<Client, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra_roots {
            roots
                .add(cert)
                .map_err(|e| format!("an extra CA certificate is unusable: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// The dispatcher's client: its timeout, and the roots of its CA file if any.
    pub fn from_settings(s: &super::DispatchSettings) -> Result<Client, String> {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        let extra = match &s.ca_file {
            None => Vec::new(),
            Some(path) => CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("WHARF_PUSH_CA_FILE {}: {e}", path.display()))?,
        };
        Client::new(s.timeout, extra)
    }

    async fn connect(&self, t: &Target) -> Result<Conn, Failure> {
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if t.https {
            let name = ServerName::try_from(t.host.clone())
                .map_err(|_| Failure::Connect(format!("{:?} is not a TLS server name", t.host)))?;
            Box::new(
                self.tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Failure::Connect(format!("TLS: {e}")))?,
            )
        } else {
            Box::new(tcp)
        };
        let (sender, conn) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        tokio::spawn(async move {
            // Ends when the server or we close it; its errors surface on the next request.
            let _ = conn.await;
        });
        Ok(Conn {
            server: t.clone(),
            sender,
        })
    }

    /// One request and its answer, on `conn` when it is open to the same server (a new
    /// connection otherwise), all within the timeout. A failed exchange drops the connection.
    pub async fn exchange(
        &self,
        conn: &mut Option<Conn>,
        t: &Target,
        method: Method,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, Failure> {
        let out = tokio::time::timeout(
            self.timeout,
            self.exchange_now(conn, t, method, headers, body),
        )
        .await
        .unwrap_or(Err(Failure::Timeout));
        if out.is_err() {
            *conn = None;
        }
        out
    }

    async fn exchange_now(
        &self,
        conn: &mut Option<Conn>,
        t: &Target,
        method: Method,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, Failure> {
        // A kept-alive connection that is ready takes the request; one the server closed
        // (or to another server) is replaced.
        let reusable = match conn.as_mut() {
            Some(c) if c.server.same_server(t) => c.sender.ready().await.is_ok(),
            _ => false,
        };
        if !reusable {
            let mut fresh = self.connect(t).await?;
            fresh
                .sender
                .ready()
                .await
                .map_err(|e| Failure::Broken(e.to_string()))?;
            *conn = Some(fresh);
        }
        let Some(c) = conn.as_mut() else {
            return Err(Failure::Connect("no connection".into()));
        };
        let path = t
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &t.authority)
            .header(hyper::header::USER_AGENT, "wharf-push/1");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| Failure::Broken(format!("request: {e}")))?;
        let resp = c
            .sender
            .send_request(req)
            .await
            .map_err(|e| Failure::Broken(e.to_string()))?;
        let status = resp.status().as_u16();
        let mut incoming = resp.into_body();
        let mut body = Vec::new();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| Failure::Broken(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                let room = ANSWER_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok(Answer { status, body })
    }
}

/// `Authorization: Basic …`.
pub fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `application/x-www-form-urlencoded`.
pub fn form(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_forms() {
        let t = Target::parse("https://api.example.com/uat/v1.0/scc/data/sync/t1/bom?x=1").unwrap();
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("api.example.com", 443));
        assert_eq!(
            t.uri.path_and_query().unwrap().as_str(),
            "/uat/v1.0/scc/data/sync/t1/bom?x=1"
        );
        let t = Target::parse("http://127.0.0.1:8080/p").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.https),
            ("127.0.0.1", 8080, false)
        );
        assert!(Target::parse("ftp://x/y").is_err());
        assert_eq!(form(&[("a b", "x&y=z/é")]), "a+b=x%26y%3Dz%2F%C3%A9");
        assert_eq!(basic("u", "p"), "Basic dTpw");
    }
}
