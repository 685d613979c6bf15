//! What wharf's gate in front of libunftp promises (ftp-frontend/src/gate.rs, session.rs):
//! descriptors of a session end with it, command lines are bounded, a refused login says why,
//! and no reply names the library. Through the real binary and raw control connections;
//! SQLite unless a test needs more.
//!
//! libunftp 0.24 alone keeps a passive data connection that was opened but never used for 5
//! minutes after its session ended; wharf runs each session on a runtime of its own and drops
//! it with the session (ftp-frontend/src/session.rs).

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::data::{bom_row, envelope};
use util::ftp::{bom_dir, pasv_port, Control};
use util::{installation, Backend, PASSWORD};

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's /proc/<pid>/fd")
        .count()
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

/// A process's peak resident memory (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A command line without an end, before and after a login: answered `500` naming the limit
/// once it passes 4,096 bytes, the connection closed, and the server's memory does not grow
/// with what was sent (2 x 32 MiB). A line of exactly the limit is still a command.
#[test]
fn endless_command_lines_are_cut() {
    let (w, _partner, user) = installation(Backend::Sqlite);
    let mut server = w.serve();
    let pid = server.child.id();
    Control::login(w.ftp_port, &user).send("QUIT", 221);
    let before = peak_kib(pid);
    for logged_in in [false, true] {
        let mut c = match logged_in {
            true => Control::login(w.ftp_port, &user),
            false => Control::connect(w.ftp_port),
        };
        let mut writer = c.writer();
        let sending = std::thread::spawn(move || {
            let chunk = vec![b'A'; 64 * 1024];
            for _ in 0..512 {
                if writer.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let reply = c.try_reply().expect("a reply before the connection closes");
        assert!(
            reply.starts_with("500 ") && reply.contains("4096 bytes"),
            "logged in: {logged_in}: {reply}"
        );
        assert_eq!(c.try_reply(), None, "the connection is closed after it");
        sending.join().expect("the sender ends");
    }
    let grown = peak_kib(pid).saturating_sub(before);
    eprintln!("peak memory before: {before} KiB; grown by the endless lines: {grown} KiB");
    assert!(
        grown < 16 * 1024,
        "64 MiB of endless lines grew the server's peak memory by {grown} KiB"
    );
    // At the limit (CRLF included) a line is read as a command; one byte more is not.
    let mut c = Control::login(w.ftp_port, &user);
    let pad = |len: usize| format!("SIZE /{}", "x".repeat(len - "SIZE /".len() - 2));
    c.send(&pad(4096), 550);
    c.write(format!("{}\r\n", pad(4097)).as_bytes())
        .expect("send");
    assert!(c.reply().starts_with("500 "));
    server.stop("wharf serve");
}

/// HELP, STAT, SYST and FEAT, before and after a login, name no library, version or type.
#[test]
fn replies_name_no_library() {
    let (w, _partner, user) = installation(Backend::Sqlite);
    let _server = w.serve();
    let leaks = |reply: &str| {
        [
            "unftp",
            "0.24",
            "::",
            "sbe",
            "authenticator",
            "Some(",
            "Powered",
        ]
        .into_iter()
        .find(|word| reply.contains(word))
    };
    let mut c = Control::connect(w.ftp_port);
    let help = c.send("HELP", 214);
    assert_eq!(leaks(&help), None, "{help}");
    c.send(&format!("USER {user}"), 331);
    c.send(&format!("PASS {PASSWORD}"), 230);
    for (command, code) in [("HELP", 214), ("STAT", 211), ("SYST", 215), ("FEAT", 211)] {
        let reply = c.send(command, code);
        assert_eq!(leaks(&reply), None, "{command}: {reply}");
    }
    // FEAT still lists the features clients look for.
    let features = c.send("FEAT", 211);
    for feature in ["SIZE", "MDTM", "MLST", "UTF8"] {
        assert!(features.contains(feature), "FEAT: {features}");
    }
    let status = c.send("STAT", 211);
    assert!(status.contains(&format!("logged in as {user}")), "{status}");
    assert!(status.contains("connected from 127.0.0.1"), "{status}");
    // A client that sends QUIT and at once closes its sending side still reads the 221.
    let mut c = Control::connect(w.ftp_port);
    c.write(b"QUIT\r\n").expect("send");
    c.writer()
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let bye = c.reply();
    assert!(bye.starts_with("221"), "{bye}");
}

/// STOR `body` as `name` through a raw control connection.
fn stor(c: &mut Control, name: &str, body: &[u8]) {
    let port = pasv_port(&c.send("PASV", 227));
    let mut data = TcpStream::connect(("127.0.0.1", port)).expect("the data port");
    c.send(&format!("STOR {name}"), 150);
    data.write_all(body).expect("send the file");
    drop(data);
    c.expect("STOR done", 226);
}

/// MLST of a name relative to the working directory, as FileZilla sends it after an upload:
/// a held temporary file and a delivered one answer their size; absolute paths too.
#[test]
fn mlst_takes_relative_paths() {
    let (w, partner, user) = installation(Backend::Sqlite);
    let _server = w.serve();
    let mut c = Control::login(w.ftp_port, &user);
    let dir = bom_dir(&partner);
    c.send(&format!("CWD {dir}"), 250);
    let body = envelope("MLST-1", 1, "1", vec![bom_row("m")]);
    let held = "bom_insert_20221001003000_1.json.part";
    stor(&mut c, held, body.as_bytes());
    let delivered = "bom_insert_20221001003000_2.json";
    stor(&mut c, delivered, body.as_bytes());
    let size = format!("size={};", body.len()).to_lowercase();
    for name in [
        held.to_string(),
        delivered.to_string(),
        format!("{dir}/{held}"),
    ] {
        let facts = c.send(&format!("MLST {name}"), 250).to_lowercase();
        assert!(facts.contains(&size), "MLST {name}: {facts}");
    }
    // From the folder above, a relative path with a folder in it.
    c.send("CDUP", 250);
    let facts = c.send(&format!("MLST bom/{held}"), 250).to_lowercase();
    assert!(facts.contains(&size), "{facts}");
    // A name that is not there is still refused.
    c.send("MLST bom/nothing.json", 550);
}

/// A refused login says why: a wrong password is `530`; a login locked after too many
/// failures is `421` with how long to wait, even with the right password; with core stopped
/// (a split deployment) it is `421`, not a password problem.
#[test]
fn refused_logins_say_why() {
    let (mut w, _partner, user) = installation(Backend::Sqlite);
    w.extra_env = vec![("WHARF_DEFENDER_THRESHOLD".into(), "3".into())];
    let mut core = w.start_core();
    let mut ftp = w.start_front_end("ftp");
    for _ in 0..3 {
        let mut c = Control::connect(w.ftp_port);
        c.send(&format!("USER {user}"), 331);
        let reply = c.send("PASS wrong-password", 530);
        assert!(!reply.contains("temporarily"), "{reply}");
    }
    let mut c = Control::connect(w.ftp_port);
    c.send(&format!("USER {user}"), 331);
    let reply = c.send(&format!("PASS {PASSWORD}"), 421);
    assert!(
        reply.contains("temporarily refused") && reply.contains("try again in"),
        "{reply}"
    );
    assert_eq!(c.try_reply(), None, "closed after 421");

    core.stop("wharf core");
    let mut c = Control::connect(w.ftp_port);
    c.send(&format!("USER {user}"), 331);
    let reply = c.send(&format!("PASS {PASSWORD}"), 421);
    assert!(reply.contains("try again in a few minutes"), "{reply}");
    ftp.stop("wharf ftp");
}

/// A passive port takes the data connection of its session's own address only: a stranger
/// from another address connecting first is closed, and the partner's listing still arrives.
#[test]
fn data_connections_come_from_the_session_only() {
    let (w, _partner, user) = installation(Backend::Sqlite);
    let _server = w.serve();
    let mut c = Control::login(w.ftp_port, &user);
    let port = pasv_port(&c.send("PASV", 227));
    let target: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let stranger =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    let from: std::net::SocketAddr = ([127, 0, 0, 2], 0).into();
    stranger.bind(&from.into()).expect("bind 127.0.0.2");
    stranger.connect(&target.into()).expect("connect");
    let mut stranger: TcpStream = stranger.into();
    stranger
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut got = Vec::new();
    let read = std::io::Read::read_to_end(&mut stranger, &mut got);
    assert!(
        got.is_empty() && read.is_ok(),
        "the stranger is closed, unserved: {read:?} {got:?}"
    );
    let data = TcpStream::connect(target).expect("the partner's data connection");
    c.send("LIST /", 150);
    let mut listing = String::new();
    BufReader::new(data)
        .read_to_string(&mut listing)
        .expect("the listing");
    c.expect("LIST done", 226);
    assert!(listing.contains("Planning"), "{listing}");
}

/// `WHARF_FTP_MAX_SESSIONS`: one connection more than the limit is answered `421` and closed;
/// when a session ends its place is free again.
#[test]
fn sessions_past_the_limit_are_told_to_come_back() {
    let (mut w, _partner, user) = installation(Backend::Sqlite);
    w.extra_env = vec![("WHARF_FTP_MAX_SESSIONS".into(), "2".into())];
    let _server = w.serve();
    let mut first = Control::login(w.ftp_port, &user);
    let _second = Control::connect(w.ftp_port);
    let mut third = TcpStream::connect(("127.0.0.1", w.ftp_port)).expect("connect");
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut said = String::new();
    third
        .read_to_string(&mut said)
        .expect("a reply, then the close");
    assert!(said.starts_with("421 Too many connections"), "{said}");
    first.send("QUIT", 221);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = TcpStream::connect(("127.0.0.1", w.ftp_port)).expect("connect");
        next.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut greeting = [0u8; 3];
        next.read_exact(&mut greeting).expect("a reply");
        if &greeting == b"220" {
            break;
        }
        assert!(Instant::now() < deadline, "no place came free after a QUIT");
        std::thread::sleep(Duration::from_millis(100));
    }
}
