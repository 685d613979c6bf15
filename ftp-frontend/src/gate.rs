//! The control connection's gate: wharf's own small layer between a partner's FTP client and
//! libunftp, for what libunftp cannot be told from outside.
//!
//! The gate relays one control connection to its libunftp session over loopback and:
//! - refuses a command line longer than [`MAX_LINE`] bytes with a `500` reply and closes the
//!   connection (libunftp buffers a line without limit until its newline);
//! - does explicit FTPS (`AUTH TLS`) itself, so it reads the commands in TLS as well;
//!   libunftp secures the data connections (`PROT P`) with the same configuration, whose
//!   session cache lets them resume the control connection's session;
//! - says why a login was refused: `421` when core cannot be asked or the name or address is
//!   locked (with how long), where libunftp answers `530` to every refusal;
//! - answers `HELP` and `STAT` without naming the library, its version or its types;
//! - makes a relative `MLST` path absolute, from the directory the last `CWD` reply confirmed
//!   (libunftp hands it to the storage as it came).
//!
//! Everything else passes through unchanged, in order: the gate never answers a command
//! libunftp also answers, so replies cannot be reordered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::login::{Refusal, RefusalSlot};

/// The longest command line taken, its CRLF included. Commands are short; a path is bounded
/// far below this by the file-name rules.
pub const MAX_LINE: usize = 4096;

/// How long a client gets for the TLS handshake after `AUTH TLS`.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// How long libunftp's last replies are passed on after the client stopped sending.
const LAST_REPLIES: Duration = Duration::from_secs(2);

/// How long a connection refused for an overlong line is read (and dropped) after its reply.
const LINGER: Duration = Duration::from_secs(2);

/// What one connection's gate knows.
pub(crate) struct Gate {
    /// FTPS offered (`AUTH TLS`) with this acceptor.
    pub tls: Option<TlsAcceptor>,
    /// No login without TLS on the control connection.
    pub require_tls: bool,
    /// Why the last login was refused, when not for its credentials.
    pub refusal: RefusalSlot,
    /// The partner's address.
    pub peer: SocketAddr,
    /// Becomes true when the server shuts down.
    pub closing: watch::Receiver<bool>,
    pub metrics: wharf_metrics::Metrics,
}

/// The partner's side of the control connection: plain until `AUTH TLS`.
enum Client {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Client {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Client::Plain(s) => s.read(buf).await,
            Client::Tls(s) => s.read(buf).await,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Client::Plain(s) => s.write_all(bytes).await,
            Client::Tls(s) => s.write_all(bytes).await,
        }
    }

    async fn close(&mut self) {
        let _ = match self {
            Client::Plain(s) => s.shutdown().await,
            Client::Tls(s) => s.shutdown().await,
        };
    }

    /// Close after a refusal while the client may still be sending: end the writing side,
    /// then read and drop what comes for a moment, so the client reads the reply before the
    /// connection is reset (a close with unread bytes resets it at once).
    async fn close_lingering(&mut self) {
        self.close().await;
        let mut sink = [0u8; 16 * 1024];
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(n) = self.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

/// What the gate does with one command line.
#[derive(Debug, PartialEq)]
enum Step {
    /// Pass these bytes on to libunftp.
    Forward(Vec<u8>),
    /// Answer this reply line (no CRLF) and go on.
    Answer(String),
    /// Answer `234` and run the TLS handshake.
    StartTls,
}

/// The gate's view of the session, from the commands and libunftp's replies.
#[derive(Debug)]
struct Session {
    tls: bool,
    tls_offered: bool,
    require_tls: bool,
    /// The directory the last successful `CWD`/`CDUP` moved to.
    cwd: String,
    /// Where a `CWD`/`CDUP` sent on goes if its reply is `250`.
    pending_cwd: Option<String>,
    /// The name of the last `USER`, and whether a login succeeded.
    user: Option<String>,
    logged_in: bool,
    /// A `HELP` or bare `STAT` was passed on: its reply is replaced (FEAT's reply is a `211`
    /// too, and passes as it is).
    pending_own: Option<Own>,
}

/// Replies the gate words itself.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Own {
    Help,
    Status,
}

impl Session {
    fn new(tls_offered: bool, require_tls: bool) -> Session {
        Session {
            tls: false,
            tls_offered,
            require_tls,
            cwd: "/".into(),
            pending_cwd: None,
            user: None,
            logged_in: false,
            pending_own: None,
        }
    }

    /// What to do with `line` (one command, its line end included).
    fn command(&mut self, line: &[u8]) -> Step {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a),
            None => (text.to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "AUTH" if self.tls_offered => {
                if self.tls {
                    Step::Answer("503 The control connection already uses TLS.".into())
                } else if ["TLS", "SSL", "TLS-C"]
                    .contains(&arg.trim().to_ascii_uppercase().as_str())
                {
                    Step::StartTls
                } else {
                    Step::Answer("504 Only AUTH TLS is offered.".into())
                }
            }
            "CCC" if self.tls => Step::Answer("534 The control connection stays in TLS.".into()),
            "USER" | "PASS" if self.require_tls && !self.tls => Step::Answer(
                "534 A TLS connection is required on the control channel: use AUTH TLS first."
                    .into(),
            ),
            "USER" => {
                self.user = Some(arg.to_string());
                self.logged_in = false;
                Step::Forward(line.to_vec())
            }
            "CWD" | "XCWD" => {
                self.pending_cwd = Some(resolve(&self.cwd, arg));
                Step::Forward(line.to_vec())
            }
            "CDUP" | "XCUP" => {
                self.pending_cwd = Some(resolve(&self.cwd, ".."));
                Step::Forward(line.to_vec())
            }
            "HELP" => {
                self.pending_own = Some(Own::Help);
                Step::Forward(line.to_vec())
            }
            "STAT" if arg.trim().is_empty() => {
                self.pending_own = Some(Own::Status);
                Step::Forward(line.to_vec())
            }
            "MLST" if !arg.is_empty() && !arg.starts_with('/') => {
                Step::Forward(format!("MLST {}\r\n", resolve(&self.cwd, arg)).into_bytes())
            }
            _ => Step::Forward(line.to_vec()),
        }
    }

    /// The reply to send the partner for libunftp's `reply` (complete, CRLF included), and
    /// whether to close the connection after it.
    fn reply(&mut self, reply: Vec<u8>, gate: &Gate) -> (Vec<u8>, bool) {
        let code = reply_code(&reply);
        let mut own = None;
        if code >= 200 {
            let moved = self.pending_cwd.take();
            if code == 250 {
                if let Some(dir) = moved {
                    self.cwd = dir;
                }
            }
            own = self.pending_own.take();
        }
        match code {
            230 => {
                self.logged_in = true;
                self.cwd = "/".into();
                (reply, false)
            }
            530 => match gate.refusal.lock().ok().and_then(|mut r| r.take()) {
                Some(why) => {
                    gate.metrics.ftp_reply(421);
                    (line(&refusal_text(why)), true)
                }
                None => (reply, false),
            },
            214 if own == Some(Own::Help) => (help(), false),
            211 if own == Some(Own::Status) => (self.status(gate.peer), false),
            _ => (reply, false),
        }
    }

    /// `STAT` with no argument: this connection, in wharf's words.
    fn status(&self, peer: SocketAddr) -> Vec<u8> {
        let login = match (&self.user, self.logged_in) {
            (Some(user), true) => format!("logged in as {user}"),
            _ => "not logged in".into(),
        };
        let security = if self.tls { "TLS" } else { "plain" };
        format!(
            "211-wharf FTP status\r\n connected from {}\r\n control connection: {security}\r\n \
             {login}\r\n working directory: {}\r\n211 End of status\r\n",
            peer.ip(),
            self.cwd
        )
        .into_bytes()
    }
}

/// The reply libunftp's 530 becomes when core refused for `why`.
fn refusal_text(why: Refusal) -> String {
    match why {
        Refusal::Unavailable => "421 wharf cannot check logins right now (its core is not \
                                 reachable): nothing is wrong with your password; try again \
                                 in a few minutes."
            .into(),
        Refusal::Locked {
            retry_after: Some(secs),
        } => format!(
            "421 Login temporarily refused after too many failed logins: try again in {secs} \
             seconds."
        ),
        Refusal::Locked { retry_after: None } => {
            "421 Login temporarily refused after too many failed logins: try again later.".into()
        }
    }
}

fn line(text: &str) -> Vec<u8> {
    format!("{text}\r\n").into_bytes()
}

/// `HELP`: what the door takes, no library name or version.
fn help() -> Vec<u8> {
    b"214-wharf FTP. Upload files to your interface folders; each answer appears in feedback/.\r\n \
      Commands: USER PASS AUTH PBSZ PROT FEAT OPTS SYST STAT HELP NOOP QUIT PWD CWD CDUP LIST\r\n \
      NLST MLSD MLST SIZE MDTM TYPE MODE STRU PASV EPSV REST STOR RETR DELE RNFR RNTO ABOR\r\n\
      214 Help OK.\r\n"
        .to_vec()
}

/// The code of a reply (its first three digits), 0 when it has none.
fn reply_code(reply: &[u8]) -> u16 {
    reply
        .get(..3)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// One complete reply at the front of `buf` (all its lines, when it has several), taken out.
fn take_reply(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let first_end = buf.iter().position(|b| *b == b'\n')? + 1;
    let multi = buf.len() > 3 && buf[3] == b'-' && reply_code(buf) != 0;
    if !multi {
        return Some(buf.drain(..first_end).collect());
    }
    // A multi-line reply ends with a line starting with its code and a space.
    let mut end_marker = buf[..3].to_vec();
    end_marker.push(b' ');
    let mut at = first_end;
    while at < buf.len() {
        let next = at + buf[at..].iter().position(|b| *b == b'\n')? + 1;
        if buf[at..].starts_with(&end_marker) {
            return Some(buf.drain(..next).collect());
        }
        at = next;
    }
    None
}

/// `path` from `cwd`, with `.` and `..` taken out; always absolute.
fn resolve(cwd: &str, path: &str) -> String {
    let path = path.trim();
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Relay `client` to libunftp's `inner` end until either closes or the server shuts down.
pub(crate) async fn relay(client: TcpStream, mut inner: TcpStream, gate: Gate) {
    let mut client = Client::Plain(client);
    let mut session = Session::new(gate.tls.is_some(), gate.require_tls);
    let mut closing = gate.closing.clone();
    let mut commands: Vec<u8> = Vec::with_capacity(512);
    let mut replies: Vec<u8> = Vec::with_capacity(512);
    let mut from_client = [0u8; 4096];
    let mut from_core = [0u8; 8192];
    // Once the client has sent its last byte, libunftp's last replies (a 221 to QUIT) still
    // go to it, for a moment.
    let mut client_done = false;
    let last_replies = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(last_replies);
    'relay: loop {
        tokio::select! {
            read = client.read(&mut from_client), if !client_done => {
                let n = match read {
                    Ok(0) => {
                        client_done = true;
                        let _ = inner.shutdown().await;
                        last_replies.as_mut().reset(tokio::time::Instant::now() + LAST_REPLIES);
                        continue;
                    }
                    Err(_) => break,
                    Ok(n) => n,
                };
                commands.extend_from_slice(&from_client[..n]);
                // A line (its end included) over the limit stops the reading here.
                let mut too_long = false;
                while let Some(end) = commands.iter().position(|b| *b == b'\n') {
                    if end + 1 > MAX_LINE {
                        too_long = true;
                        break;
                    }
                    let line: Vec<u8> = commands.drain(..=end).collect();
                    match session.command(&line) {
                        Step::Forward(bytes) => {
                            if inner.write_all(&bytes).await.is_err() {
                                break 'relay;
                            }
                        }
                        Step::Answer(text) => {
                            if client.send(&self::line(&text)).await.is_err() {
                                break 'relay;
                            }
                        }
                        Step::StartTls => {
                            let Some(acceptor) = gate.tls.clone() else { break 'relay };
                            match start_tls(client, &commands, acceptor).await {
                                Some(secured) => {
                                    client = secured;
                                    session.tls = true;
                                }
                                None => return,
                            }
                        }
                    }
                }
                // Or that many bytes without an end yet.
                if too_long || commands.len() > MAX_LINE {
                    gate.metrics.ftp_reply(500);
                    let _ = client
                        .send(&self::line(&format!(
                            "500 Command line too long: at most {MAX_LINE} bytes; closing the \
                             connection."
                        )))
                        .await;
                    client.close_lingering().await;
                    return;
                }
            }
            read = inner.read(&mut from_core) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                replies.extend_from_slice(&from_core[..n]);
                while let Some(reply) = take_reply(&mut replies) {
                    let (out, close) = session.reply(reply, &gate);
                    if client.send(&out).await.is_err() || close {
                        break 'relay;
                    }
                }
            }
            _ = &mut last_replies => break,
            changed = closing.changed() => {
                if changed.is_err() || *closing.borrow() {
                    let _ = client
                        .send(b"421 wharf is shutting down: reconnect in a moment.\r\n")
                        .await;
                    break;
                }
            }
        }
    }
    client.close().await;
}

/// Answer `AUTH TLS` and run the handshake; `None` when it failed (the connection is then
/// closed). Bytes sent after `AUTH TLS` and before its answer break the protocol.
async fn start_tls(client: Client, pending: &[u8], acceptor: TlsAcceptor) -> Option<Client> {
    let Client::Plain(mut plain) = client else {
        return None;
    };
    if !pending.is_empty() {
        let _ = plain
            .write_all(b"503 Nothing may follow AUTH TLS before its answer.\r\n")
            .await;
        return None;
    }
    plain
        .write_all(b"234 AUTH TLS OK: go ahead with the TLS handshake.\r\n")
        .await
        .ok()?;
    match tokio::time::timeout(HANDSHAKE, acceptor.accept(plain)).await {
        Ok(Ok(secured)) => Some(Client::Tls(Box::new(secured))),
        _ => None,
    }
}

/// The acceptor for `config`, shared with libunftp's data connections.
pub(crate) fn acceptor(config: Arc<tokio_rustls::rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gate without TLS, for a client on loopback.
    fn plain_gate() -> (watch::Sender<bool>, Gate) {
        let (tx, rx) = watch::channel(false);
        let gate = Gate {
            tls: None,
            require_tls: false,
            refusal: RefusalSlot::default(),
            peer: "127.0.0.1:1".parse().unwrap(),
            closing: rx,
            metrics: wharf_metrics::Metrics::default(),
        };
        (tx, gate)
    }

    #[test]
    fn a_reply_is_taken_whole() {
        let mut buf = b"220 hello\r\n331 pass".to_vec();
        assert_eq!(take_reply(&mut buf).unwrap(), b"220 hello\r\n");
        assert_eq!(take_reply(&mut buf), None);
        let mut buf = b"211-a\r\n b\r\n211-not the end\r\n211 end\r\nrest".to_vec();
        assert_eq!(
            take_reply(&mut buf).unwrap(),
            b"211-a\r\n b\r\n211-not the end\r\n211 end\r\n"
        );
        assert_eq!(buf, b"rest");
        let mut buf = b"214-half\r\n".to_vec();
        assert_eq!(take_reply(&mut buf), None);
    }

    #[test]
    fn paths_resolve_from_the_working_directory() {
        assert_eq!(resolve("/", "a.csv"), "/a.csv");
        assert_eq!(resolve("/P/t1/bom", "x.csv"), "/P/t1/bom/x.csv");
        assert_eq!(resolve("/P/t1/bom", "../y"), "/P/t1/y");
        assert_eq!(resolve("/P", "/abs/z"), "/abs/z");
        assert_eq!(resolve("/", ".."), "/");
    }

    #[test]
    fn mlst_relative_paths_become_absolute_after_a_confirmed_cwd() {
        let (_closing, gate) = plain_gate();
        let mut s = Session::new(false, false);
        assert_eq!(
            s.command(b"CWD /P/t1/bom\r\n"),
            Step::Forward(b"CWD /P/t1/bom\r\n".to_vec())
        );
        // A refused CWD moves nowhere.
        s.reply(b"550 no\r\n".to_vec(), &gate);
        assert_eq!(
            s.command(b"MLST a.csv\r\n"),
            Step::Forward(b"MLST /a.csv\r\n".to_vec())
        );
        s.command(b"CWD /P/t1/bom\r\n");
        s.reply(b"250 ok\r\n".to_vec(), &gate);
        assert_eq!(
            s.command(b"mlst a.csv\r\n"),
            Step::Forward(b"MLST /P/t1/bom/a.csv\r\n".to_vec())
        );
        assert_eq!(
            s.command(b"MLST /x\r\n"),
            Step::Forward(b"MLST /x\r\n".to_vec())
        );
    }

    #[test]
    fn a_refused_login_says_why() {
        let (_closing, gate) = plain_gate();
        let mut s = Session::new(false, false);
        let (out, close) = s.reply(b"530 Authentication failed\r\n".to_vec(), &gate);
        assert_eq!(
            (out.as_slice(), close),
            (&b"530 Authentication failed\r\n"[..], false)
        );
        *gate.refusal.lock().unwrap() = Some(Refusal::Locked {
            retry_after: Some(90),
        });
        let (out, close) = s.reply(b"530 Authentication failed\r\n".to_vec(), &gate);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("421 ") && out.contains("90 seconds"),
            "{out}"
        );
        assert!(close);
        // Told once: the next refusal is for the credentials again.
        let (out, _) = s.reply(b"530 Authentication failed\r\n".to_vec(), &gate);
        assert!(out.starts_with(b"530 "));
        s.command(b"HELP\r\n");
        let (out, _) = s.reply(b"214-x\r\n214 Powered by libunftp 0.24\r\n".to_vec(), &gate);
        assert!(!String::from_utf8(out).unwrap().contains("libunftp"));
        // FEAT's 211 is libunftp's list of features, passed on as it is; STAT's is replaced.
        s.command(b"FEAT\r\n");
        let feat = b"211-Extensions supported:\r\n MLST size*;\r\n211 END\r\n".to_vec();
        assert_eq!(s.reply(feat.clone(), &gate).0, feat);
        s.command(b"STAT\r\n");
        let (out, _) = s.reply(b"211-powered by libunftp\r\n211 End\r\n".to_vec(), &gate);
        assert!(String::from_utf8(out).unwrap().contains("wharf FTP status"));
    }
}
