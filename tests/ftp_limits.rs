//! The FTP door's use of descriptors: passive data connections a session opened should end
//! with the session. Against the embedded SQLite store; one installation per test.
//!
//! libunftp 0.24 alone keeps a passive data connection that was opened but never used for 5
//! minutes after its session ended; wharf runs each session on a runtime of its own and drops
//! it with the session (ftp-frontend/src/session.rs).

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::{installation, Backend, PASSWORD};

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's /proc/<pid>/fd")
        .count()
}

/// A minimal control connection: send a line, read the (last line of the) reply.
struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Control {
    fn connect(port: u16) -> Control {
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

    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read a reply");
            assert!(!line.is_empty(), "the server closed the control connection");
            // The last line of a reply is "ddd " (a multi-line one goes "ddd-" ... "ddd ").
            if line.len() >= 4 && line.as_bytes()[3] == b' ' {
                return line.trim_end().to_string();
            }
        }
    }

    #[track_caller]
    fn expect(&mut self, what: &str, code: u32) -> String {
        let reply = self.reply();
        assert!(reply.starts_with(&code.to_string()), "{what}: {reply}");
        reply
    }

    #[track_caller]
    fn send(&mut self, line: &str, code: u32) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send a command");
        self.expect(line, code)
    }
}

/// The data port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_port(reply: &str) -> u16 {
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

/// 100 sessions that each open a passive data connection and quit (half without using it,
/// half after a listing): a few seconds later the server holds about the descriptors it
/// held before.
#[test]
fn passive_data_connections_end_with_the_session() {
    let (w, _partner, user) = installation(Backend::Sqlite);
    let mut server = w.serve();
    let pid = server.child.id();

    // Warm up (core's connections, the first session's lazy state), then the baseline.
    for _ in 0..3 {
        let mut c = Control::connect(w.ftp_port);
        c.send(&format!("USER {user}"), 331);
        c.send(&format!("PASS {PASSWORD}"), 230);
        c.send("QUIT", 221);
    }
    std::thread::sleep(Duration::from_millis(500));
    let baseline = open_fds(pid);

    for i in 0..100 {
        let mut c = Control::connect(w.ftp_port);
        c.send(&format!("USER {user}"), 331);
        c.send(&format!("PASS {PASSWORD}"), 230);
        let port = pasv_port(&c.send("PASV", 227));
        let data = TcpStream::connect(("127.0.0.1", port)).expect("connect to the data port");
        if i % 2 == 0 {
            // Idle: connected, never used.
            std::thread::sleep(Duration::from_millis(20));
        } else {
            c.send("LIST", 150);
            let mut listing = String::new();
            let mut r = BufReader::new(data.try_clone().expect("clone"));
            while r.read_line(&mut listing).expect("read the listing") > 0 {}
            c.expect("LIST done", 226);
        }
        c.send("QUIT", 221);
        // The client closes its side, as a partner's client does.
        drop(data);
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = open_fds(pid);
    while now > baseline + 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now = open_fds(pid);
    }
    assert!(
        now <= baseline + 10,
        "10 s after 100 sessions ended the server holds {now} descriptors, {baseline} before"
    );
    server.stop("wharf serve");
}
