//! One partner connection: its own thread and runtime, a libunftp session built for it, and
//! the gate in front (see [`crate::gate`]).
//!
//! libunftp leaves a passive data connection's task waiting five minutes for a command even
//! after its session ended (holding the socket, in CLOSE_WAIT once the client went). Running
//! each session on a runtime of its own, dropped when the control connection ends, ends every
//! task libunftp started for it, so descriptors come back as soon as a partner leaves.
//!
//! libunftp sees its session from a loopback address of wharf's ([`inner_ip`]): the gate's
//! control connection and each data connection come from there. Data connections are taken
//! on the passive port of the address the partner reached, only from the partner's own
//! address (libunftp's own check would compare with the loopback address), and passed on to
//! libunftp's listener on the same port of the inner address ([`forward`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libunftp::options::{FtpsRequired, PassiveHost};
use libunftp::{Server, ServerBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls::ServerConfig;

use crate::backend::CoreTree;
use crate::config::FtpConfig;
use crate::counting;
use crate::gate::{self, Gate};
use crate::login::{CoreLogin, FtpUser, RefusalSlot};

/// The first line a partner reads.
const GREETING: &str = "wharf FTP: log in with your wharf user";

/// How long libunftp's session gets to end after its gate closed.
const SESSION_END: Duration = Duration::from_secs(2);

/// What every session of the door shares.
pub(crate) struct Door {
    pub login: CoreLogin,
    pub tree: CoreTree,
    pub cfg: FtpConfig,
    pub tls: Option<Arc<ServerConfig>>,
    pub sessions: counting::Sessions,
    pub downloads: counting::Downloads,
    pub metrics: wharf_metrics::Metrics,
    pub closing: watch::Receiver<bool>,
}

impl Door {
    /// A libunftp server for one connection from `peer` that reached `local`.
    fn server(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
        refusal: RefusalSlot,
    ) -> Result<Server<CoreTree, FtpUser>, libunftp::ServerError> {
        let tree = self.tree.clone();
        let login = self.login.for_connection(peer.ip(), refusal);
        let mut builder = ServerBuilder::<CoreTree, FtpUser>::with_user_detail_provider(
            Box::new(move || tree.clone()),
            Arc::new(login.users()),
        )
        .authenticator(Arc::new(login))
        .greeting(GREETING)
        .notify_presence(self.sessions.clone())
        .notify_data(self.downloads.clone())
        .passive_ports(self.cfg.passive_ports.clone())
        // libunftp sees the gate's loopback connection: PASV must name the address the
        // partner reached, and data ports are bound there.
        .passive_host(match (&self.cfg.passive_host, local.ip()) {
            (Some(host), _) => PassiveHost::from(host.as_str()),
            (None, IpAddr::V4(ip)) => PassiveHost::Ip(ip),
            (None, IpAddr::V6(_)) => PassiveHost::FromConnection,
        })
        .binder(PassiveBinder {
            public: local.ip(),
            inner: inner_ip(local.ip()),
            client: peer.ip(),
        })
        .idle_session_timeout(self.cfg.idle_timeout.as_secs());
        if let Some(tls) = &self.tls {
            // The gate secures the control connection; libunftp the data connections.
            builder = builder.ftps_manual::<std::path::PathBuf>(tls.clone());
            if self.cfg.require_tls {
                builder = builder.ftps_required(FtpsRequired::None, FtpsRequired::All);
            }
        }
        builder.build()
    }
}

/// Serve `client` on a thread and runtime of its own; `live` is held until it ended.
pub(crate) fn spawn(client: std::net::TcpStream, door: Arc<Door>, live: Arc<()>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("wharf-ftp-session".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::warn!(error = %e, "FTP: no runtime for a session");
                    return;
                }
            };
            runtime.block_on(serve(client, &door));
            // Ends what libunftp left running for this session (an idle data connection).
            runtime.shutdown_background();
            drop(live);
        })
        .map(|_| ())
}

async fn serve(client: std::net::TcpStream, door: &Door) {
    let client = match TcpStream::from_std(client) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "FTP: a connection could not be served");
            return;
        }
    };
    let (Ok(peer), Ok(local)) = (client.peer_addr(), client.local_addr()) else {
        return;
    };
    let (gate_end, unftp_end) = match loopback_pair(inner_ip(local.ip())).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "FTP: no loopback connection for a session");
            return;
        }
    };
    let refusal = RefusalSlot::default();
    let server = match door.server(peer, local, refusal.clone()) {
        Ok(server) => server,
        Err(e) => {
            tracing::warn!(error = %e, "FTP: a session could not be set up");
            return;
        }
    };
    let session = tokio::spawn(server.service(unftp_end));
    let gate = Gate {
        tls: door.tls.clone().map(gate::acceptor),
        require_tls: door.cfg.require_tls,
        refusal,
        peer,
        closing: door.closing.clone(),
        metrics: door.metrics.clone(),
    };
    gate::relay(client, gate_end, gate).await;
    let _ = tokio::time::timeout(SESSION_END, session).await;
}

/// The loopback address libunftp's sessions are reached from and listen on: never the address
/// a partner reached, so its passive ports can be the same numbers.
fn inner_ip(public: IpAddr) -> IpAddr {
    let inner = Ipv4Addr::new(127, 1, 0, 1);
    if public == IpAddr::V4(inner) {
        Ipv4Addr::new(127, 1, 0, 2).into()
    } else {
        inner.into()
    }
}

/// A TCP socket of `ip`'s family, not bound yet.
fn socket_for(ip: IpAddr) -> io::Result<TcpSocket> {
    match ip {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
}

/// A socket bound to `ip` (any port), to connect from.
fn socket_on(ip: IpAddr) -> io::Result<TcpSocket> {
    let socket = socket_for(ip)?;
    socket.bind(SocketAddr::new(ip, 0))?;
    Ok(socket)
}

/// Two ends of one TCP connection on `ip`, the first the connecting one. The accepted end is
/// checked to be that connection, not another local process's.
async fn loopback_pair(ip: IpAddr) -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((ip, 0)).await?;
    let addr = listener.local_addr()?;
    let (connected, accepted) = tokio::join!(socket_on(ip)?.connect(addr), listener.accept());
    let connected = connected?;
    let (accepted, from) = accepted?;
    if from != connected.local_addr()? {
        return Err(io::Error::other("a stranger took the loopback connection"));
    }
    connected.set_nodelay(true)?;
    accepted.set_nodelay(true)?;
    Ok((connected, accepted))
}

/// How long a passive port waits for the partner's data connection (libunftp's own wait).
const DATA_CONNECT: Duration = Duration::from_secs(15);

/// Binds each passive port twice, on the address the partner reached and on the inner
/// address, and forwards the partner's data connection from one to the other.
///
/// The binds and listens happen under one lock: libunftp's own binder binds with
/// `SO_REUSEADDR` and listens later, and sessions on two threads could both bind one port
/// before either listened, the second then failing.
#[derive(Debug)]
struct PassiveBinder {
    public: IpAddr,
    inner: IpAddr,
    client: IpAddr,
}

/// Serialises passive binds across sessions.
static BINDING: Mutex<()> = Mutex::new(());
/// Where the next search for a free passive port starts.
static NEXT_PORT: AtomicUsize = AtomicUsize::new(0);

/// A socket bound to `ip`:`port` and listening, or `None` when that port is taken there.
fn listening(ip: IpAddr, port: u16) -> io::Result<Option<TcpSocket>> {
    let socket = socket_for(ip)?;
    socket.set_reuseaddr(true)?;
    if socket.bind(SocketAddr::new(ip, port)).is_err() {
        return Ok(None);
    }
    // A listen on it again (libunftp's, or `TcpSocket::listen`) only sets the backlog.
    Ok(socket2::SockRef::from(&socket)
        .listen(1024)
        .ok()
        .map(|_| socket))
}

#[async_trait::async_trait]
impl libunftp::options::Binder for PassiveBinder {
    async fn bind(&mut self, _gate: IpAddr, ports: RangeInclusive<u16>) -> io::Result<TcpSocket> {
        let (public, inner, port) = {
            let _one_at_a_time = BINDING.lock().unwrap_or_else(|p| p.into_inner());
            let first = *ports.start() as usize;
            let count = ports.len().max(1);
            let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
            let mut found = None;
            for i in 0..count {
                let port = (first + (start + i) % count) as u16;
                let Some(public) = listening(self.public, port)? else {
                    continue;
                };
                if let Some(inner) = listening(self.inner, port)? {
                    found = Some((public, inner, port));
                    break;
                }
            }
            found.ok_or_else(|| {
                io::Error::new(io::ErrorKind::AddrInUse, "every passive port is in use")
            })?
        };
        let public = public.listen(1024)?;
        tokio::spawn(forward(
            public,
            self.client,
            SocketAddr::new(self.inner, port),
        ));
        Ok(inner)
    }
}

/// Take the partner's data connection on `public` (from `client` only; others are closed)
/// and pass it on to libunftp's listener at `inner`, both ways, until both ends closed. A
/// connection that breaks on one side is reset on the other, so a cut-off upload reads as
/// cut off, never as a clean end.
async fn forward(public: TcpListener, client: IpAddr, inner: SocketAddr) {
    let waiting = tokio::time::sleep(DATA_CONNECT);
    tokio::pin!(waiting);
    let mut outer = loop {
        tokio::select! {
            _ = &mut waiting => return,
            accepted = public.accept() => match accepted {
                Ok((stream, from)) if from.ip() == client => break stream,
                Ok((_, from)) => {
                    tracing::warn!(%from, "FTP: a data connection from another address than its session's was closed");
                }
                Err(_) => return,
            },
        }
    };
    drop(public);
    let Ok(mut unftp) = async { socket_on(inner.ip())?.connect(inner).await }.await else {
        reset(&outer);
        return;
    };
    let _ = outer.set_nodelay(true);
    let _ = unftp.set_nodelay(true);
    let (mut up, mut down) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let (mut up_open, mut down_open) = (true, true);
    while up_open || down_open {
        tokio::select! {
            read = outer.read(&mut up), if up_open => match read {
                Ok(0) => {
                    let _ = unftp.shutdown().await;
                    up_open = false;
                }
                Ok(n) => {
                    if unftp.write_all(&up[..n]).await.is_err() {
                        return reset(&outer);
                    }
                }
                Err(_) => return reset(&unftp),
            },
            read = unftp.read(&mut down), if down_open => match read {
                Ok(0) => {
                    let _ = outer.shutdown().await;
                    down_open = false;
                }
                Ok(n) => {
                    if outer.write_all(&down[..n]).await.is_err() {
                        return reset(&unftp);
                    }
                }
                Err(_) => return reset(&outer),
            },
        }
    }
}

/// Make `stream`'s close a reset (RST), not an orderly end.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
