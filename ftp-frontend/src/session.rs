//! One partner connection: its own thread and runtime, a libunftp session built for it, and
//! the gate in front (see [`crate::gate`]).
//!
//! libunftp leaves a passive data connection's task waiting five minutes for a command even
//! after its session ended (holding the socket, in CLOSE_WAIT once the client went). Running
//! each session on a runtime of its own, dropped when the control connection ends, ends every
//! task libunftp started for it, so descriptors come back as soon as a partner leaves.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libunftp::options::{FtpsRequired, PassiveHost};
use libunftp::{Server, ServerBuilder};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls::ServerConfig;

use crate::backend::CoreTree;
use crate::counting;
use crate::gate::{self, Gate};
use crate::login::{CoreLogin, FtpUser, RefusalSlot};
use crate::FtpConfig;

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
        .binder(PassiveBinder { ip: local.ip() })
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
    let (gate_end, unftp_end) = match loopback_pair(local.ip()).await {
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

/// Two ends of one loopback TCP connection, the first the connecting one. The accepted end
/// is checked to be that connection, not another local process's.
async fn loopback_pair(like: IpAddr) -> io::Result<(TcpStream, TcpStream)> {
    let ip: IpAddr = match like {
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    };
    let listener = TcpListener::bind((ip, 0)).await?;
    let addr = listener.local_addr()?;
    let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let connected = connected?;
    let (accepted, from) = accepted?;
    if from != connected.local_addr()? {
        return Err(io::Error::other("a stranger took the loopback connection"));
    }
    connected.set_nodelay(true)?;
    accepted.set_nodelay(true)?;
    Ok((connected, accepted))
}

/// Binds passive data ports on the address the partner reached, and listens at once.
///
/// libunftp binds a random port with `SO_REUSEADDR` and listens after; sessions on two threads
/// could both bind one port before either listened, and the second would fail. Here the bind
/// and the listen happen under one lock, so a port in use is seen as in use.
#[derive(Debug)]
struct PassiveBinder {
    ip: IpAddr,
}

/// Serialises passive binds across sessions.
static BINDING: Mutex<()> = Mutex::new(());
/// Where the next search for a free passive port starts.
static NEXT_PORT: AtomicUsize = AtomicUsize::new(0);

#[async_trait::async_trait]
impl libunftp::options::Binder for PassiveBinder {
    async fn bind(&mut self, _gate: IpAddr, ports: RangeInclusive<u16>) -> io::Result<TcpSocket> {
        let _one_at_a_time = BINDING.lock().unwrap_or_else(|p| p.into_inner());
        let first = *ports.start() as usize;
        let count = ports.len().max(1);
        let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        for i in 0..count {
            let port = (first + (start + i) % count) as u16;
            let socket = match self.ip {
                IpAddr::V4(_) => TcpSocket::new_v4()?,
                IpAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.set_reuseaddr(true)?;
            if socket.bind(SocketAddr::new(self.ip, port)).is_err() {
                continue;
            }
            // libunftp listens again on it: a second listen only sets the backlog.
            if socket2::SockRef::from(&socket).listen(1024).is_ok() {
                return Ok(socket);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every passive port is in use",
        ))
    }
}
