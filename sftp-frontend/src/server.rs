//! The SSH server: core's host key, modern algorithms only, logins through core, a bounded
//! number of connections per user, and the `sftp` subsystem as the only thing a session can
//! open (no shell, no exec, no forwarding).

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::{Algorithm, HashAlg, PrivateKey};
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet, Preferred, SshId};
use tokio::net::TcpListener;
use tokio::sync::{watch, OnceCell};
use wharf_files::drain::Transfers;
use wharf_files::user::{login, Proof};
use wharf_files::{Door, FileUser, Files, Limits, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILE_ROWS};
use wharf_proto::v1 as pb;
use wharf_proto::v1::Environment;
use wharf_proto::CoreClient;

use crate::session::SftpSession;

/// How the SFTP door runs.
#[derive(Debug, Clone)]
pub struct SftpConfig {
    /// The data space this server writes to (one SFTP service per environment).
    pub env: Environment,
    pub max_file_bytes: u64,
    /// Most data rows one `.csv`/`.xlsx` file may hold: over it the file is refused whole.
    pub max_file_rows: u64,
    /// SSH connections one user may have open at once.
    pub max_sessions_per_user: usize,
    /// Connections with no traffic for this long are closed.
    pub idle_timeout: Duration,
    /// On shutdown, how long files being written may take to be closed and answered.
    pub shutdown_grace: Duration,
}

/// Default SSH connections per user.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 10;

impl Default for SftpConfig {
    fn default() -> Self {
        SftpConfig {
            env: Environment::Prod,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_rows: DEFAULT_MAX_FILE_ROWS,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            idle_timeout: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// What the server says it is: no library name or version for a scanner to match.
const SERVER_ID: &str = "SSH-2.0-wharf";

/// Key exchange: post-quantum hybrid and Curve25519, with OpenSSH's strict-kex extension
/// (the Terrapin fix). No SHA-1 and no NIST curves.
const KEX: &[russh::kex::Name] = &[
    russh::kex::MLKEM768X25519_SHA256,
    russh::kex::CURVE25519,
    russh::kex::CURVE25519_PRE_RFC_8731,
    russh::kex::EXTENSION_SUPPORT_AS_SERVER,
    russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Host key and user key signatures: Ed25519, RSA with SHA-2 only.
const KEYS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// Authenticated ciphers first; CTR only with the encrypt-then-MAC SHA-2 MACs below.
const CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_GCM,
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_128_CTR,
];

const MACS: &[russh::mac::Name] = &[russh::mac::HMAC_SHA512_ETM, russh::mac::HMAC_SHA256_ETM];

/// Wrong logins are answered after this, whatever was wrong (no timing oracle).
const AUTH_REJECTION_TIME: Duration = Duration::from_millis(300);

/// Connections per user, shared by every connection of this process.
#[derive(Debug, Default)]
struct Sessions(Mutex<HashMap<String, usize>>);

impl Sessions {
    /// Take one of `user`'s `max` places; `false` when they are all taken.
    fn claim(&self, user: &str, max: usize) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(user.to_string()).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, user: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(user);
            }
        }
    }
}

/// What every connection of the server shares.
struct Shared {
    core: CoreClient,
    files: Files,
    cfg: SftpConfig,
    metrics: wharf_metrics::Metrics,
    sessions: Sessions,
    /// The SSH settings with core's host key, fetched from core at the first connection.
    ssh: OnceCell<Arc<russh::server::Config>>,
}

impl Shared {
    async fn ssh_config(&self) -> Result<Arc<russh::server::Config>, String> {
        self.ssh
            .get_or_try_init(|| async {
                let mut core = self.core.clone();
                let key = core
                    .get_sftp_host_key(pb::SftpHostKeyRequest {})
                    .await
                    .map_err(|s| format!("core did not give the host key: {}", s.message()))?
                    .into_inner();
                let key = PrivateKey::from_openssh(key.openssh_private_key.trim())
                    .map_err(|e| format!("core's host key cannot be read: {e}"))?;
                tracing::info!(
                    fingerprint = %key.fingerprint(HashAlg::Sha256),
                    "SFTP host key from core"
                );
                Ok(Arc::new(ssh_config(key, &self.cfg)))
            })
            .await
            .cloned()
    }
}

/// The SSH settings: one host key, password and public-key logins, modern algorithms only.
fn ssh_config(key: PrivateKey, cfg: &SftpConfig) -> russh::server::Config {
    russh::server::Config {
        server_id: SshId::Standard(Cow::Borrowed(SERVER_ID)),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: AUTH_REJECTION_TIME,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        max_auth_attempts: 6,
        inactivity_timeout: Some(cfg.idle_timeout),
        nodelay: true,
        preferred: Preferred {
            kex: Cow::Borrowed(KEX),
            key: Cow::Borrowed(KEYS),
            cipher: Cow::Borrowed(CIPHERS),
            mac: Cow::Borrowed(MACS),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    }
}

pub(crate) async fn run(
    listener: TcpListener,
    core: CoreClient,
    cfg: SftpConfig,
    metrics: wharf_metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let transfers = Transfers::default();
    let files = Files::new(
        core.clone(),
        Door::Sftp,
        cfg.env,
        Limits {
            max_file_bytes: cfg.max_file_bytes,
            max_file_rows: cfg.max_file_rows,
        },
        transfers.clone(),
    );
    let grace = cfg.shutdown_grace;
    let shared = Arc::new(Shared {
        core,
        files,
        cfg,
        metrics,
        sessions: Sessions::default(),
        ssh: OnceCell::new(),
    });
    // Set when every session must end.
    let (stop, stopped) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    connections.spawn(connection(shared.clone(), socket, peer, stopped.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "SFTP: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    transfers.drain_logged(grace, "SFTP").await;
    let _ = stop.send(true);
    // Each connection sends its disconnect and ends; do not wait forever for a peer.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// One TCP connection: the SSH session until it ends or the server stops.
async fn connection(
    shared: Arc<Shared>,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stopped: watch::Receiver<bool>,
) {
    let config = match shared.ssh_config().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(peer = %peer, error = %e, "SFTP: connection refused: no host key");
            return;
        }
    };
    let handler = Connection {
        shared,
        peer,
        user: None,
        channels: HashMap::new(),
    };
    let session = match russh::server::run_stream(config, socket, handler).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, "SFTP: connection ended before its session began");
            return;
        }
    };
    let handle = session.handle();
    let stop = async move {
        // The guard `wait_for` returns is not kept across an await.
        let _ = stopped.wait_for(|s| *s).await.map(|_| ());
    };
    tokio::select! {
        _ = stop => {
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "the server is shutting down".into(),
                    "en".into(),
                )
                .await;
        }
        ended = session => {
            if let Err(e) = ended {
                tracing::debug!(peer = %peer, error = %e, "SFTP: connection ended");
            }
        }
    }
}

/// One SSH connection, as russh drives it.
struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// Set once a login was accepted (and a place among the user's sessions taken).
    user: Option<FileUser>,
    /// Session channels opened and not yet given to the SFTP subsystem.
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(user) = &self.user {
            self.shared.sessions.release(&user.username);
            self.shared.metrics.sftp_session_ended();
        }
    }
}

impl Connection {
    /// Core's answer to a login, as russh wants it; a place among the user's sessions taken.
    fn admit(&mut self, answer: Result<FileUser, tonic::Status>) -> Auth {
        let metrics = &self.shared.metrics;
        metrics.login(
            wharf_metrics::Door::sftp,
            wharf_metrics::Login::of_grpc(answer.as_ref().err().map(|s| s.code() as i32)),
        );
        let user = match answer {
            Ok(user) => user,
            Err(_) => return Auth::reject(),
        };
        let max = self.shared.cfg.max_sessions_per_user;
        if !self.shared.sessions.claim(&user.username, max) {
            tracing::warn!(user = %user.username, max, "SFTP: login refused: the user has as many sessions open as allowed");
            return Auth::reject();
        }
        tracing::info!(user = %user.username, partner = %user.partner, peer = %self.peer, "SFTP login");
        self.user = Some(user);
        metrics.sftp_session_started();
        Auth::Accept
    }
}

/// A user key algorithm wharf takes: Ed25519, or RSA signed with SHA-2 (not `ssh-rsa`'s
/// SHA-1).
fn accepted(algorithm: &Algorithm) -> bool {
    KEYS.contains(algorithm)
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.user.is_some() || password.is_empty() {
            return Ok(Auth::reject());
        }
        let answer = login(
            &self.shared.core,
            Door::Sftp,
            user,
            Proof::Password(password),
            self.peer.ip(),
        )
        .await;
        Ok(self.admit(answer))
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Whether the key is the user's is asked once its signature is checked.
        Ok(if accepted(offer.algorithm) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.user.is_some() || !accepted(key.algorithm) {
            return Ok(Auth::reject());
        }
        let Ok(openssh) = key.public_key.to_openssh() else {
            return Ok(Auth::reject());
        };
        let answer = login(
            &self.shared.core,
            Door::Sftp,
            user,
            Proof::PublicKey(&openssh),
            self.peer.ip(),
        )
        .await;
        Ok(self.admit(answer))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // A few at most: a client opens one for its subsystem.
        if self.user.is_some() && self.channels.len() < 4 {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        // A handle dropped unanswered is refused (administratively prohibited).
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match (name, self.channels.remove(&channel), &self.user) {
            ("sftp", Some(ch), Some(user)) => {
                session.channel_success(channel)?;
                let sftp = SftpSession::new(
                    self.shared.files.clone(),
                    user.clone(),
                    self.shared.metrics.clone(),
                );
                russh_sftp::server::run_with_config(
                    ch.into_stream(),
                    sftp,
                    russh_sftp::server::Config::default(),
                )
                .await;
            }
            _ => {
                session.channel_failure(channel)?;
            }
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(channel, session)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(channel, session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

/// Refuse a shell or a command on `channel` (this server offers SFTP only), and close it.
fn refuse(channel: ChannelId, session: &mut Session) -> Result<(), russh::Error> {
    session.channel_failure(channel)?;
    session.close(channel)?;
    Ok(())
}
