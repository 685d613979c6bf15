//! TLS to PostgreSQL, in libpq's words: `sslmode`, `sslrootcert`, `sslcert` and `sslkey`,
//! given as query parameters of `WHARF_DATABASE_URL` or as environment variables beside it
//! (which win), turned into what tokio-postgres needs: the URL without them (its parser
//! knows neither `verify-ca`/`verify-full` nor the file settings), its `sslmode`, and a rustls
//! connector (`tokio-postgres-rustls`, which also gives SCRAM its channel binding) whose
//! certificate check is the one the mode asks for:
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` | when the server offers it | not checked |
//! | `require` | always | not checked; with `sslrootcert`, its chain as `verify-ca` |
//! | `verify-ca` | always | chain up to `sslrootcert` (else the webpki roots) |
//! | `verify-full` | always | chain as `verify-ca`, and the host name |
//!
//! Without a `sslmode`: `verify-full` when a `sslrootcert` is given, else `prefer` when every
//! host is local (a loopback address, `localhost`, a Unix socket), else `verify-full`, so
//! traffic to a remote database is never plain or unverified unless the operator says so.
//! `sslrootcert=system` is the webpki roots and, as in libpq, allows `verify-full` only.
//!
//! Nothing here ever shows the URL or its password: errors name the setting and the hosts.

use std::error::Error as _;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::error::CoreError;

/// The variable holding the database URL (named in messages).
pub const ENV_URL: &str = "WHARF_DATABASE_URL";
/// The variables beside it; each wins over the URL's parameter of the same libpq name.
pub const ENV_SSLMODE: &str = "WHARF_DATABASE_SSLMODE";
pub const ENV_SSLROOTCERT: &str = "WHARF_DATABASE_SSLROOTCERT";
pub const ENV_SSLCERT: &str = "WHARF_DATABASE_SSLCERT";
pub const ENV_SSLKEY: &str = "WHARF_DATABASE_SSLKEY";

/// libpq's `sslmode` (without `allow`, which tries plain first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(text: &str) -> Option<SslMode> {
        SslMode::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings given as environment variables (`None`: not set).
#[derive(Clone, Debug, Default)]
pub struct TlsEnv {
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
}

/// Where a setting came from, so a message names the one to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A query parameter of `WHARF_DATABASE_URL`.
    Url,
    /// Its environment variable.
    Env,
    /// Not given: wharf's default.
    Default,
}

/// The certificates a server's chain is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla roots compiled in (webpki-roots): no `sslrootcert`, or `sslrootcert=system`.
    WebPki { system: bool },
    /// A PEM file (`sslrootcert=PATH`).
    File(PathBuf),
}

/// One of the four settings, for messages: its libpq name and its variable.
#[derive(Clone, Copy)]
enum Setting {
    Mode,
    RootCert,
    Cert,
    Key,
}

impl Setting {
    fn param(self) -> &'static str {
        match self {
            Setting::Mode => "sslmode",
            Setting::RootCert => "sslrootcert",
            Setting::Cert => "sslcert",
            Setting::Key => "sslkey",
        }
    }

    fn var(self) -> &'static str {
        match self {
            Setting::Mode => ENV_SSLMODE,
            Setting::RootCert => ENV_SSLROOTCERT,
            Setting::Cert => ENV_SSLCERT,
            Setting::Key => ENV_SSLKEY,
        }
    }

    /// The setting as the operator gave it: `WHARF_DATABASE_SSLMODE` or `sslmode in
    /// WHARF_DATABASE_URL`.
    fn named(self, from: Origin) -> String {
        match from {
            Origin::Env => self.var().to_string(),
            _ => format!("{} in {ENV_URL}", self.param()),
        }
    }

    /// Both ways to set it, for a hint: `sslrootcert=… in WHARF_DATABASE_URL or
    /// WHARF_DATABASE_SSLROOTCERT`.
    fn both(self, value: &str) -> String {
        format!("{}={value} in {ENV_URL} or {}", self.param(), self.var())
    }
}

/// The PostgreSQL to connect to and how: the URL's connection settings (without the TLS
/// parameters), the TLS settings, and once [`Database::load`]ed, the connector. Its `Debug`
/// shows hosts and TLS settings only, never the user or password.
#[derive(Clone)]
pub struct Database {
    config: tokio_postgres::Config,
    mode: SslMode,
    mode_from: Origin,
    roots: Roots,
    roots_from: Origin,
    /// `sslcert` and `sslkey` (both or neither), with where each came from.
    client: Option<((PathBuf, Origin), (PathBuf, Origin))>,
    /// `host:port`, comma-separated: where, in messages.
    place: String,
    tls: Option<MakeRustlsConnect>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("at", &self.place)
            .field("sslmode", &self.mode.as_str())
            .field("sslrootcert", &self.roots)
            .field("sslcert", &self.client.as_ref().map(|c| &c.0 .0))
            .field("sslkey", &self.client.as_ref().map(|c| &c.1 .0))
            .finish_non_exhaustive()
    }
}

/// The TLS query parameters taken out of a URL (percent-decoded).
#[derive(Default, Debug, PartialEq)]
struct UrlTls {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
}

/// `url` without its `sslmode`, `sslrootcert`, `sslcert` and `sslkey` parameters, and those.
/// The query is found as tokio-postgres' own URL parser finds it (after the credentials,
/// which end at the first `@`), other parameters stay as they were, in order.
fn split_url(url: &str) -> Result<(String, UrlTls), String> {
    let Some(scheme) = ["postgres://", "postgresql://"]
        .into_iter()
        .find(|p| url.starts_with(p))
    else {
        return Err(format!("{ENV_URL} must start with postgres://"));
    };
    let rest = &url[scheme.len()..];
    let after_credentials = rest.find('@').map_or(0, |at| at + 1);
    let Some(q) = rest[after_credentials..]
        .find('?')
        .map(|q| q + after_credentials)
    else {
        return Ok((url.to_string(), UrlTls::default()));
    };
    let mut tls = UrlTls::default();
    let mut kept = Vec::new();
    for pair in rest[q + 1..].split('&') {
        let raw_key = pair.split_once('=').map_or(pair, |(k, _)| k);
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|v| v.into_owned())
        };
        let key = decode(raw_key).unwrap_or_default();
        let slot = match key.as_str() {
            "sslmode" => &mut tls.sslmode,
            "sslrootcert" => &mut tls.sslrootcert,
            "sslcert" => &mut tls.sslcert,
            "sslkey" => &mut tls.sslkey,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        let value = pair
            .split_once('=')
            .map(|(_, v)| v)
            .ok_or_else(|| format!("{ENV_URL}: parameter {key} has no value"))?;
        let value = decode(value)
            .map_err(|_| format!("{ENV_URL}: parameter {key} is not UTF-8 once decoded"))?;
        if value.is_empty() {
            return Err(format!("{ENV_URL}: parameter {key} is empty"));
        }
        // The last one wins, as in tokio-postgres.
        *slot = Some(value);
    }
    let mut base = format!("{scheme}{}", &rest[..q]);
    if !kept.is_empty() {
        base.push('?');
        base.push_str(&kept.join("&"));
    }
    Ok((base, tls))
}

/// Is `host` on this machine: a Unix socket, `localhost` or a loopback address?
fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

/// `host:port` of every host, comma-separated.
fn place(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return "(no host)".into();
    }
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            // One port for all hosts, or one each; 5432 when none is given.
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{} (Unix socket, port {port})", path.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Database {
    /// Read `url` and the settings in `env` (which win over the URL's), without touching any
    /// file. Every problem is named by its setting.
    pub fn parse(url: &str, env: &TlsEnv) -> Result<Database, Vec<String>> {
        let (base, in_url) = split_url(url).map_err(|e| vec![e])?;
        let mut config = tokio_postgres::Config::from_str(&base).map_err(|e| {
            // The kind ("invalid connection string") and its cause (which option is wrong);
            // neither ever carries the password.
            let cause = e.source().map(|s| format!(": {s}")).unwrap_or_default();
            vec![format!("{ENV_URL}: {e}{cause}")]
        })?;
        let mut errors = Vec::new();
        let pick = |from_env: &Option<String>, from_url: &Option<String>| match (from_env, from_url)
        {
            (Some(v), _) => Some((v.clone(), Origin::Env)),
            (None, Some(v)) => Some((v.clone(), Origin::Url)),
            (None, None) => None,
        };
        let (roots, roots_from) = match pick(&env.sslrootcert, &in_url.sslrootcert) {
            Some((v, from)) if v == "system" => (Roots::WebPki { system: true }, from),
            Some((v, from)) => (Roots::File(PathBuf::from(v)), from),
            None => (Roots::WebPki { system: false }, Origin::Default),
        };
        let (mode, mode_from) = match pick(&env.sslmode, &in_url.sslmode) {
            Some((v, from)) => match SslMode::parse(&v) {
                Some(m) => (m, from),
                None => {
                    let all: Vec<&str> = SslMode::ALL.iter().map(|m| m.as_str()).collect();
                    errors.push(format!(
                        "{}={v:?} is not one of {}",
                        Setting::Mode.named(from),
                        all.join(", ")
                    ));
                    (SslMode::VerifyFull, from)
                }
            },
            // A CA given is a CA to check against, wherever the host is.
            None if roots_from != Origin::Default => (SslMode::VerifyFull, Origin::Default),
            None if config.get_hosts().iter().all(is_local) => (SslMode::Prefer, Origin::Default),
            None => (SslMode::VerifyFull, Origin::Default),
        };
        if roots == (Roots::WebPki { system: true }) && mode != SslMode::VerifyFull {
            errors.push(format!(
                "{}=system (the public roots) allows sslmode=verify-full only, not {} ({})",
                Setting::RootCert.named(roots_from),
                mode,
                Setting::Mode.named(mode_from)
            ));
        }
        let cert = pick(&env.sslcert, &in_url.sslcert);
        let key = pick(&env.sslkey, &in_url.sslkey);
        let client = match (cert, key) {
            (Some((c, cf)), Some((k, kf))) => {
                Some(((PathBuf::from(c), cf), (PathBuf::from(k), kf)))
            }
            (None, None) => None,
            (Some((_, from)), None) => {
                errors.push(format!(
                    "{} needs sslkey too ({})",
                    Setting::Cert.named(from),
                    Setting::Key.both("PATH")
                ));
                None
            }
            (None, Some((_, from))) => {
                errors.push(format!(
                    "{} needs sslcert too ({})",
                    Setting::Key.named(from),
                    Setting::Cert.both("PATH")
                ));
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let place = place(&config);
        Ok(Database {
            config,
            mode,
            mode_from,
            roots,
            roots_from,
            client,
            place,
            tls: None,
        })
    }

    /// [`Database::parse`], then read the certificate files and build the connector.
    pub fn new(url: &str, env: &TlsEnv) -> Result<Database, Vec<String>> {
        Database::parse(url, env)?.load().map_err(|e| vec![e])
    }

    /// Read the files the settings name and build the TLS connector.
    pub fn load(mut self) -> Result<Database, String> {
        self.tls = Some(MakeRustlsConnect::new(self.client_config()?));
        Ok(self)
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Where the mode came from (`Origin::Default`: chosen by the hosts).
    pub fn mode_from(&self) -> Origin {
        self.mode_from
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// `sslcert` and `sslkey`, when given.
    pub fn client_cert(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.client.as_ref().map(|(c, k)| (&c.0, &k.0))
    }

    /// `host:port` of every host, for messages.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// tokio-postgres' configuration: the URL's settings and the sslmode it knows.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        self.config.clone()
    }

    /// The connector, built now when [`Database::load`] did not.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, CoreError> {
        match &self.tls {
            Some(tls) => Ok(tls.clone()),
            None => Ok(MakeRustlsConnect::new(
                self.client_config().map_err(CoreError::Invalid)?,
            )),
        }
    }

    /// Is the server's chain checked (verify-ca, verify-full, or require with sslrootcert)?
    fn checks_chain(&self) -> bool {
        match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => matches!(self.roots, Roots::File(_)),
            SslMode::Disable | SslMode::Prefer => false,
        }
    }

    fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS to PostgreSQL: {e}"))?;
        let builder = if self.checks_chain() {
            let roots = Arc::new(self.root_store()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("TLS to PostgreSQL: {e}"))?;
            if self.mode == SslMode::VerifyFull {
                builder.with_webpki_verifier(webpki)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
            }
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
        };
        // disable never speaks TLS: its files are not read (as in libpq).
        match self
            .client
            .as_ref()
            .filter(|_| self.mode != SslMode::Disable)
        {
            None => Ok(builder.with_no_client_auth()),
            Some(((cert, cert_from), (key, key_from))) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect())
                    .map_err(|e| {
                        format!(
                            "{} {}: {e}",
                            Setting::Cert.named(*cert_from),
                            cert.display()
                        )
                    })?;
                if chain.is_empty() {
                    return Err(format!(
                        "{} {}: no PEM certificate in it",
                        Setting::Cert.named(*cert_from),
                        cert.display()
                    ));
                }
                let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    format!("{} {}: {e}", Setting::Key.named(*key_from), key.display())
                })?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    format!(
                        "{} and {} do not fit together: {e}",
                        Setting::Cert.named(*cert_from),
                        Setting::Key.named(*key_from)
                    )
                })
            }
        }
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.roots {
            Roots::WebPki { .. } => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::File(path) => {
                let named = Setting::RootCert.named(self.roots_from);
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect())
                    .map_err(|e| format!("{named} {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "{named} {}: no PEM certificate in it",
                        path.display()
                    ));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        format!("{named} {}: a certificate is unusable: {e}", path.display())
                    })?;
                }
            }
        }
        Ok(roots)
    }

    /// The mode as a message says it: `sslmode=verify-full`, and why when wharf chose it.
    fn mode_text(&self) -> String {
        match (self.mode_from, self.mode) {
            (Origin::Default, SslMode::Prefer) => {
                "sslmode=prefer, wharf's default for a local host".into()
            }
            (Origin::Default, m) if self.roots_from != Origin::Default => {
                format!("sslmode={m}, wharf's default when sslrootcert is given")
            }
            (Origin::Default, m) => {
                format!("sslmode={m}, wharf's default for a host that is not local")
            }
            (_, SslMode::Require) if self.checks_chain() => {
                "sslmode=require with sslrootcert, so the chain is checked as verify-ca".into()
            }
            (_, m) => format!("sslmode={m}"),
        }
    }

    /// Which certificates the chain was checked against, in words.
    fn roots_text(&self) -> String {
        match &self.roots {
            Roots::File(path) => format!(
                "the CA certificates in {} ({})",
                path.display(),
                Setting::RootCert.named(self.roots_from)
            ),
            Roots::WebPki { system: true } => {
                "the public CA roots (sslrootcert=system)".to_string()
            }
            Roots::WebPki { system: false } => {
                "the public CA roots (no sslrootcert given)".to_string()
            }
        }
    }

    /// A failure to open the pool's first connection, in words that name the setting to
    /// change; never the URL or its password.
    pub(crate) fn explain(&self, e: &deadpool_postgres::PoolError) -> CoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => CoreError::Store(self.explain_pg(e)),
            other => CoreError::Store(format!("PostgreSQL at {}: {other}", self.place)),
        }
    }

    fn explain_pg(&self, e: &tokio_postgres::Error) -> String {
        let at = &self.place;
        let mode = self.mode_text();
        if let Some(db) = e.as_db_error() {
            let msg = db.message();
            let tls_only = format!(
                "set sslmode to verify-full, verify-ca or require (in {ENV_URL} or {ENV_SSLMODE})"
            );
            let hint = if msg.contains("no encryption") {
                format!("; the server takes TLS connections only: {tls_only}")
            } else if self.mode == SslMode::Disable
                && db.code()
                    == &tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                // The server's messages may be in another language: the code says enough.
                format!("; if the server takes TLS connections only, {tls_only}")
            } else if msg.contains("certificate") && self.client.is_none() {
                format!(
                    "; give a client certificate with {} and {}",
                    Setting::Cert.both("PATH"),
                    Setting::Key.both("PATH")
                )
            } else {
                String::new()
            };
            return format!("PostgreSQL at {at} refused the connection ({mode}): {msg}{hint}");
        }
        let cause = e.source();
        let text = e.to_string();
        if text == "error performing TLS handshake" {
            let why = match find_rustls(cause) {
                Some(tls) => self.tls_why(tls),
                None => match cause.map(|c| c.to_string()) {
                    Some(c) if c.contains("does not support TLS") => format!(
                        "the server does not offer TLS; {} needs it: turn ssl on at the server, \
                         or on a trusted network only set {}",
                        self.mode,
                        Setting::Mode.both("prefer")
                    ),
                    Some(c) => c,
                    None => text,
                },
            };
            return format!("TLS to PostgreSQL at {at} failed ({mode}): {why}");
        }
        let cause = cause.map(|c| format!(": {c}")).unwrap_or_default();
        format!("PostgreSQL at {at} ({mode}): {text}{cause}")
    }

    /// Why a handshake failed, and what to set.
    fn tls_why(&self, e: &rustls::Error) -> String {
        let rootcert = Setting::RootCert.both("CA.pem");
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    let expected = match c {
                        CertificateError::NotValidForNameContext { expected, .. } => {
                            expected.to_str().into_owned()
                        }
                        _ => self.host_names(),
                    };
                    let presented = match c {
                        CertificateError::NotValidForNameContext { presented, .. }
                            if !presented.is_empty() =>
                        {
                            let names: Vec<String> =
                                presented.iter().map(|p| bare_name(p)).collect();
                            format!(" (it names {})", names.join(", "))
                        }
                        _ => String::new(),
                    };
                    format!(
                        "certificate not valid for host name {expected}{presented}; connect \
                         by a name the certificate carries, or check the chain only with {}",
                        Setting::Mode.both("verify-ca")
                    )
                }
                CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                    "certificate not trusted: {} did not sign it; set {rootcert} to the CA \
                     that signed the server's certificate",
                    self.roots_text()
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired".into()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet".into()
                }
                CertificateError::InvalidPurpose
                | CertificateError::InvalidPurposeContext { .. } => {
                    "the server's certificate is not for a TLS server (extended key usage)".into()
                }
                other => format!("the server's certificate was refused: {other}"),
            },
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::CertificateRequired
                | AlertDescription::HandshakeFailure
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA),
            ) => {
                let hint = if self.client.is_none() {
                    format!(
                        "; if it wants a client certificate, set {} and {}",
                        Setting::Cert.both("PATH"),
                        Setting::Key.both("PATH")
                    )
                } else {
                    "; it may not trust the client certificate (sslcert)".to_string()
                };
                format!("the server ended the handshake ({alert:?}){hint}")
            }
            other => other.to_string(),
        }
    }

    /// The hosts (without ports), for a name check's message.
    fn host_names(&self) -> String {
        self.config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `DnsName("localhost")` → `localhost`, `IpAddress(10.0.0.1)` → `10.0.0.1`.
fn bare_name(presented: &str) -> String {
    match (presented.find('('), presented.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            presented[open + 1..close].trim_matches('"').to_string()
        }
        _ => presented.to_string(),
    }
}

/// The rustls error somewhere in `err`'s chain (tokio-rustls wraps it in an `io::Error`).
fn find_rustls<'a>(
    mut err: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a rustls::Error> {
    while let Some(e) = err {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        err = e.source();
    }
    None
}

/// `prefer`, and `require` without `sslrootcert`: the server's certificate is not checked
/// (libpq's semantics), but the handshake's signatures still are, with the certificate's key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `require` with `sslrootcert`): webpki's whole check but the host name.
/// webpki checks the chain first and the name last, so a name error means the chain held.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> TlsEnv {
        TlsEnv::default()
    }

    fn parse(url: &str) -> Database {
        Database::parse(url, &env()).unwrap_or_else(|e| panic!("{url}: {e:?}"))
    }

    fn refused(url: &str, env: &TlsEnv) -> String {
        match Database::parse(url, env) {
            Ok(db) => panic!("{url} with {env:?} was taken: {db:?}"),
            Err(errors) => errors.join("\n"),
        }
    }

    #[test]
    fn the_tls_parameters_leave_the_url_and_the_others_stay() {
        let (base, tls) = split_url(
            "postgres://u:p%40ss@db.example:6432/app?sslmode=verify-ca&application_name=w&\
             sslrootcert=%2Fetc%2Fca.pem&sslcert=/c.pem&sslkey=/k.pem&options=-c%20x%3Dy",
        )
        .unwrap();
        assert_eq!(
            base,
            "postgres://u:p%40ss@db.example:6432/app?application_name=w&options=-c%20x%3Dy"
        );
        assert_eq!(
            tls,
            UrlTls {
                sslmode: Some("verify-ca".into()),
                sslrootcert: Some("/etc/ca.pem".into()),
                sslcert: Some("/c.pem".into()),
                sslkey: Some("/k.pem".into()),
            }
        );
        let (base, _) = split_url("postgresql://db/app?sslmode=require").unwrap();
        assert_eq!(base, "postgresql://db/app");
        // A '?' in the password is the credentials' (tokio-postgres reads it so too).
        let (base, tls) = split_url("postgres://u:a?b@db/app").unwrap();
        assert_eq!(
            (base.as_str(), tls),
            ("postgres://u:a?b@db/app", UrlTls::default())
        );
    }

    #[test]
    fn url_parameters_set_the_mode_and_files() {
        let db = parse(
            "postgres://u:secret@db.example/app?sslmode=verify-ca&sslrootcert=/etc/ca.pem\
             &sslcert=/c.pem&sslkey=/k.pem",
        );
        assert_eq!(db.mode(), SslMode::VerifyCa);
        assert_eq!(db.mode_from(), Origin::Url);
        assert_eq!(db.roots(), &Roots::File("/etc/ca.pem".into()));
        assert_eq!(
            db.client_cert(),
            Some((&PathBuf::from("/c.pem"), &PathBuf::from("/k.pem")))
        );
        assert_eq!(db.place(), "db.example:5432");
        assert_eq!(
            db.config().get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(db.config().get_dbname(), Some("app"));
        for (mode, pg) in [
            ("disable", tokio_postgres::config::SslMode::Disable),
            ("prefer", tokio_postgres::config::SslMode::Prefer),
            ("require", tokio_postgres::config::SslMode::Require),
            ("verify-full", tokio_postgres::config::SslMode::Require),
        ] {
            let db = parse(&format!("postgres://db.example/app?sslmode={mode}"));
            assert_eq!(db.mode().as_str(), mode);
            assert_eq!(db.config().get_ssl_mode(), pg, "{mode}");
        }
    }

    #[test]
    fn the_variables_win_over_the_url() {
        let url = "postgres://u:p@db.example/app?sslmode=disable&sslrootcert=/url-ca.pem\
                   &sslcert=/url-c.pem&sslkey=/url-k.pem";
        let db = Database::parse(
            url,
            &TlsEnv {
                sslmode: Some("verify-full".into()),
                sslrootcert: Some("/env-ca.pem".into()),
                sslcert: Some("/env-c.pem".into()),
                sslkey: None,
            },
        )
        .unwrap();
        assert_eq!(
            (db.mode(), db.mode_from()),
            (SslMode::VerifyFull, Origin::Env)
        );
        assert_eq!(db.roots(), &Roots::File("/env-ca.pem".into()));
        // Each setting on its own: the key still comes from the URL.
        assert_eq!(
            db.client_cert(),
            Some((&PathBuf::from("/env-c.pem"), &PathBuf::from("/url-k.pem")))
        );
        // The variables alone, with a URL that says nothing of TLS.
        let db = Database::parse(
            "postgres://db.example/app",
            &TlsEnv {
                sslmode: Some("require".into()),
                ..env()
            },
        )
        .unwrap();
        assert_eq!((db.mode(), db.mode_from()), (SslMode::Require, Origin::Env));
    }

    #[test]
    fn the_default_is_prefer_on_this_machine_and_verify_full_elsewhere() {
        for local in [
            "postgres://u:p@localhost:5432/app",
            "postgres://u:p@LOCALHOST/app",
            "postgres://u:p@127.0.0.1/app",
            "postgres://u:p@127.0.0.2/app",
            "postgres://u:p@[::1]:5432/app",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/app",
            "postgres://u@localhost/app?host=/tmp",
            "postgres://u@localhost,127.0.0.1/app",
        ] {
            let db = parse(local);
            assert_eq!(
                (db.mode(), db.mode_from()),
                (SslMode::Prefer, Origin::Default),
                "{local}"
            );
        }
        for remote in [
            "postgres://u:p@db.example/app",
            "postgres://u:p@10.0.0.5:5432/app",
            "postgres://u:p@[2001:db8::1]/app",
            "postgres://u:p@localhost.example.com/app",
            // One remote host among local ones is enough.
            "postgres://u:p@localhost,db.example/app",
        ] {
            let db = parse(remote);
            assert_eq!(
                (db.mode(), db.mode_from()),
                (SslMode::VerifyFull, Origin::Default),
                "{remote}"
            );
            assert_eq!(db.roots(), &Roots::WebPki { system: false });
        }
        // A root certificate asks for verify-full wherever the host is.
        let db = parse("postgres://u@localhost/app?sslrootcert=system");
        assert_eq!(db.mode(), SslMode::VerifyFull);
        assert_eq!(db.roots(), &Roots::WebPki { system: true });
        let db = Database::parse(
            "postgres://u@localhost/app",
            &TlsEnv {
                sslrootcert: Some("/etc/ca.pem".into()),
                ..env()
            },
        )
        .unwrap();
        assert_eq!(
            (db.mode(), db.mode_from()),
            (SslMode::VerifyFull, Origin::Default)
        );
        assert_eq!(
            db.mode_text(),
            "sslmode=verify-full, wharf's default when sslrootcert is given"
        );
        // … unless the mode says otherwise (the file is then not even read, as in libpq).
        let db = parse("postgres://u@localhost/app?sslmode=prefer&sslrootcert=/nonexistent");
        assert_eq!(db.mode(), SslMode::Prefer);
        db.load().unwrap();
    }

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        let why = refused("postgres://db.example/app?sslmode=verify", &env());
        assert!(
            why.contains("sslmode in WHARF_DATABASE_URL=\"verify\"")
                && why.contains("disable, prefer, require, verify-ca, verify-full"),
            "{why}"
        );
        let why = refused(
            "postgres://db.example/app",
            &TlsEnv {
                sslmode: Some("allow".into()),
                ..env()
            },
        );
        assert!(why.starts_with("WHARF_DATABASE_SSLMODE=\"allow\""), "{why}");
        let why = refused("postgres://db.example/app?sslcert=/c.pem", &env());
        assert!(
            why.contains("sslcert in WHARF_DATABASE_URL needs sslkey"),
            "{why}"
        );
        assert!(why.contains("WHARF_DATABASE_SSLKEY"), "{why}");
        let why = refused(
            "postgres://db.example/app",
            &TlsEnv {
                sslkey: Some("/k.pem".into()),
                ..env()
            },
        );
        assert!(
            why.starts_with("WHARF_DATABASE_SSLKEY needs sslcert"),
            "{why}"
        );
        let why = refused(
            "postgres://db.example/app?sslrootcert=system",
            &TlsEnv {
                sslmode: Some("verify-ca".into()),
                ..env()
            },
        );
        assert!(
            why.contains("sslrootcert in WHARF_DATABASE_URL=system")
                && why.contains("not verify-ca (WHARF_DATABASE_SSLMODE)"),
            "{why}"
        );
        let why = refused("postgres://db.example/app?sslmode=", &env());
        assert!(
            why.contains("WHARF_DATABASE_URL: parameter sslmode is empty"),
            "{why}"
        );
        let why = refused("postgres://u:hunter22@db.example:port/app", &env());
        assert!(why.starts_with("WHARF_DATABASE_URL: "), "{why}");
        assert!(!why.contains("hunter22"), "{why}");
        let why = refused("mysql://db.example/app", &env());
        assert!(
            why.contains("WHARF_DATABASE_URL must start with postgres://"),
            "{why}"
        );
        // Several problems at once are all reported.
        let errors = Database::parse(
            "postgres://db.example/app?sslmode=nope&sslcert=/c.pem",
            &env(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn files_are_read_at_load_and_named_when_wrong() {
        let db = parse("postgres://db.example/app?sslrootcert=/nonexistent/ca.pem");
        let why = db.load().unwrap_err();
        assert!(
            why.starts_with("sslrootcert in WHARF_DATABASE_URL /nonexistent/ca.pem: "),
            "{why}"
        );
        let dir = std::env::temp_dir().join(format!("wharf-pgtls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let why = Database::new(
            "postgres://db.example/app",
            &TlsEnv {
                sslrootcert: Some(empty.display().to_string()),
                ..env()
            },
        )
        .unwrap_err()
        .join("");
        assert!(
            why.starts_with("WHARF_DATABASE_SSLROOTCERT ") && why.contains("no PEM certificate"),
            "{why}"
        );
        let why = Database::new(
            "postgres://db.example/app",
            &TlsEnv {
                sslcert: Some(empty.display().to_string()),
                sslkey: Some(empty.display().to_string()),
                ..env()
            },
        )
        .unwrap_err()
        .join("");
        assert!(why.starts_with("WHARF_DATABASE_SSLCERT "), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
        // No file: the public roots, or nothing to check.
        for url in [
            "postgres://db.example/app",
            "postgres://db.example/app?sslmode=require",
            "postgres://localhost/app",
            "postgres://db.example/app?sslmode=disable",
        ] {
            Database::new(url, &env()).unwrap_or_else(|e| panic!("{url}: {e:?}"));
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let db = parse("postgres://wharf:hunter22@db.example/app?sslmode=require");
        let shown = format!("{db:?}");
        assert!(
            !shown.contains("hunter22") && !shown.contains("wharf:"),
            "{shown}"
        );
        assert!(
            shown.contains("db.example:5432") && shown.contains("require"),
            "{shown}"
        );
    }

    #[test]
    fn messages_name_the_mode_and_why_it_was_chosen() {
        let db = parse("postgres://db.example/app");
        assert_eq!(
            db.mode_text(),
            "sslmode=verify-full, wharf's default for a host that is not local"
        );
        let db = parse("postgres://db.example/app?sslmode=require&sslrootcert=/ca.pem");
        assert!(db.mode_text().contains("verify-ca"));
        assert!(db.checks_chain());
        assert!(!parse("postgres://db.example/app?sslmode=require").checks_chain());
        assert_eq!(bare_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(bare_name("IpAddress(10.0.0.1)"), "10.0.0.1");
    }
}
