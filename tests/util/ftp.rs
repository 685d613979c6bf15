//! The FTP door used with a real FTP client (suppaftp, passive mode), as a partner would.

use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpStream};

use super::{Wharf, PASSWORD};

/// The upload folder of t1/bom for `partner`.
pub fn bom_dir(partner: &str) -> String {
    format!("/Planning/SCC/{partner}/t1/bom")
}

/// A control connection to the server's FTP port, not logged in yet.
pub fn connect(w: &Wharf) -> FtpStream {
    connect_at(w.ftp_port)
}

/// A control connection to the FTP door on loopback port `port`, not logged in yet.
pub fn connect_at(port: u16) -> FtpStream {
    let ftp = FtpStream::connect(("127.0.0.1", port)).expect("connect to the FTP port");
    ftp.get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    ftp
}

/// Logged in, binary transfers (bytes go as they are: no CRLF conversion).
pub fn login(w: &Wharf, user: &str) -> FtpStream {
    login_at(w.ftp_port, user)
}

/// Logged in at the FTP door on loopback port `port` (a second door of the installation),
/// binary transfers.
pub fn login_at(port: u16, user: &str) -> FtpStream {
    let mut ftp = connect_at(port);
    ftp.login(user, PASSWORD)
        .unwrap_or_else(|e| panic!("{user} logs in: {e:?}"));
    ftp.transfer_type(FileType::Binary).expect("TYPE I");
    ftp
}

/// The FTP reply code a refused command got (0 when it was not a reply at all).
pub fn reply_code<T: std::fmt::Debug>(r: Result<T, FtpError>) -> u32 {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        // suppaftp knows no name for some codes (534 "TLS required"): read the reply line.
        Err(FtpError::UnexpectedResponse(resp)) => match resp.status.code() {
            0 => String::from_utf8_lossy(&resp.body)
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            code => code,
        },
        Err(other) => {
            eprintln!("not a reply: {other:?}");
            0
        }
    }
}

/// Assert a command was refused with a permanent negative reply (5xx).
#[track_caller]
pub fn refused<T: std::fmt::Debug>(what: &str, r: Result<T, FtpError>) -> u32 {
    let code = reply_code(r);
    assert!((500..600).contains(&code), "{what}: reply {code}, want 5xx");
    code
}

/// STOR `name` (relative to the working directory, or absolute) with `body`.
pub fn put(ftp: &mut FtpStream, name: &str, body: &[u8]) -> Result<u64, FtpError> {
    ftp.put_file(name, &mut Cursor::new(body.to_vec()))
}

/// RETR a feedback file and parse it.
pub fn get_json(ftp: &mut FtpStream, path: &str) -> Value {
    let bytes = ftp
        .retr_as_buffer(path)
        .unwrap_or_else(|e| panic!("RETR {path}: {e:?}"))
        .into_inner();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{path} is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// NLST of `path`, sorted.
pub fn names(ftp: &mut FtpStream, path: &str) -> Vec<String> {
    let mut n = ftp
        .nlst(Some(path))
        .unwrap_or_else(|e| panic!("NLST {path}: {e:?}"));
    n.sort();
    n
}

/// Upload `body` as `name` into `dir` and return its feedback file, after checking that the
/// feedback folder lists it.
pub fn deliver(ftp: &mut FtpStream, dir: &str, name: &str, body: &[u8]) -> Value {
    put(ftp, &format!("{dir}/{name}"), body).unwrap_or_else(|e| panic!("STOR {dir}/{name}: {e:?}"));
    feedback_of(ftp, dir, name)
}

/// Deliver by rename, as MFT clients do: upload `body` into `dir` as `name.filepart`, rename
/// it to `name`, and return the feedback file.
pub fn deliver_by_rename(ftp: &mut FtpStream, dir: &str, name: &str, body: &[u8]) -> Value {
    let temp = format!("{dir}/{name}.filepart");
    put(ftp, &temp, body).unwrap_or_else(|e| panic!("STOR {temp}: {e:?}"));
    ftp.rename(&temp, &format!("{dir}/{name}"))
        .unwrap_or_else(|e| panic!("RNFR {temp} RNTO {name}: {e:?}"));
    feedback_of(ftp, dir, name)
}

/// The feedback file of `name` delivered into `dir`, after checking the folder lists it.
fn feedback_of(ftp: &mut FtpStream, dir: &str, name: &str) -> Value {
    let feedback = format!("{name}.result.json");
    let listed = names(ftp, &format!("{dir}/feedback"));
    assert!(
        listed.contains(&feedback),
        "feedback/{feedback} is listed: {listed:?}"
    );
    get_json(ftp, &format!("{dir}/feedback/{feedback}"))
}

/// A raw control connection, for what a client library hides: send a line, read the reply.
pub struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Control {
    /// Connected to the FTP door on loopback `port`, its greeting read.
    pub fn connect(port: u16) -> Control {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the FTP port");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let mut c = Control {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        };
        c.expect("greeting", 220);
        c
    }

    /// The next reply, all its lines (a multi-line one goes "ddd-" ... "ddd "); `None` when
    /// the server closed the connection instead.
    pub fn try_reply(&mut self) -> Option<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() >= 4
                && line.as_bytes()[3] == b' '
                && line.as_bytes()[..3].iter().all(u8::is_ascii_digit)
            {
                return Some(all.trim_end().to_string());
            }
        }
    }

    /// The next reply, all its lines.
    pub fn reply(&mut self) -> String {
        self.try_reply()
            .expect("a reply: the server closed the control connection")
    }

    /// The next reply, which must end with `code`'s line.
    #[track_caller]
    pub fn expect(&mut self, what: &str, code: u32) -> String {
        let reply = self.reply();
        let last = reply.lines().last().unwrap_or_default();
        assert!(last.starts_with(&code.to_string()), "{what}: {reply}");
        reply
    }

    /// A second handle on the connection, for sending from another thread.
    pub fn writer(&self) -> TcpStream {
        self.writer.try_clone().expect("clone the connection")
    }

    /// Send `bytes` as they are.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Send `line` and expect `code`.
    #[track_caller]
    pub fn send(&mut self, line: &str, code: u32) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send a command");
        self.expect(line, code)
    }

    /// Logged in as `user` with the test password.
    pub fn login(port: u16, user: &str) -> Control {
        let mut c = Control::connect(port);
        c.send(&format!("USER {user}"), 331);
        c.send(&format!("PASS {PASSWORD}"), 230);
        c
    }
}

/// The data port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
pub fn pasv_port(reply: &str) -> u16 {
    let inner = reply
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .unwrap_or_else(|| panic!("not a PASV reply: {reply}"))
        .0;
    let n: Vec<u16> = inner
        .split(',')
        .map(|s| s.trim().parse().expect("a number"))
        .collect();
    n[4] * 256 + n[5]
}
