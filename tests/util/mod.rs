//! Shared helpers for the end-to-end tests: run the real `wharf` binary as an operator would.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod browser;
pub mod data;
pub mod ftp;
pub mod http;
pub mod openapi;
pub mod otlp;
pub mod pgcluster;
pub mod receiver;
pub mod sftp;
pub mod upload;

pub use wharf_testkit::{pg_url, unique};

/// Passive ports per test server: libunftp picks one at random per transfer, and a port
/// just used may still be held.
const PASSIVE_PORTS: u16 = 16;

pub const TOKEN: &str = "e2e-internal-token-0123456789";

/// The client secret `add_partner` gives every partner.
pub const SECRET: &str = "client-secret-1";

/// The password `add_user` gives every user.
pub const PASSWORD: &str = "password-123";

/// Which store a test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One wharf installation: a data dir (SQLite) or the test PostgreSQL, plus fixed ports.
pub struct Wharf {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub grpc_port: u16,
    /// Where `wharf serve` puts the HTTP API.
    pub http_port: u16,
    /// FTP control port, and the first of this server's passive data ports.
    pub ftp_port: u16,
    pub ftp_passive_port: u16,
    /// Where `wharf serve` puts the upload page.
    pub upload_port: u16,
    /// Where `wharf serve` puts the SFTP server.
    pub sftp_port: u16,
    /// Where `wharf serve` puts the admin listener (`/healthz`, `/readyz`, `/metrics`):
    /// never the default 9090, tests run side by side (`start` gives each process its own).
    pub admin_port: u16,
    /// Where `wharf serve` puts the admin HTTP API (`WHARF_ADMIN_API_ADDR`; `start` gives
    /// each process its own).
    pub admin_api_port: u16,
    pub extra_env: Vec<(String, String)>,
}

/// A port the kernel just said was free, never one this test process handed out before
/// (tests run side by side and a released port may come back at once).
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// The first of `n` consecutive ports that were all free a moment ago (FTP passive ranges).
pub fn free_port_range(n: u16) -> u16 {
    for attempt in 0..200u32 {
        let seed = std::process::id()
            .wrapping_mul(7919)
            .wrapping_add(attempt.wrapping_mul(104_729))
            .wrapping_add(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0),
            );
        // Below Linux's ephemeral range (32768 and up), where free_port's ports come from,
        // so a passive range never takes a port another server was just given.
        let base = 20_000 + (seed % 12_000) as u16;
        let held: Vec<_> = (base..base + n)
            .map_while(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports")
}

/// A new partner (a unique name, secret `SECRET`) made with the CLI, limited to `interfaces`
/// (a comma-separated list such as `odm/master_data`) when given; returns its name.
pub fn add_partner(w: &Wharf, interfaces: Option<&str>) -> String {
    let name = unique("P");
    let mut args = vec!["partner", "add", name.as_str()];
    if let Some(list) = interfaces {
        args.extend(["--interfaces", list]);
    }
    w.ok(&args, &format!("{SECRET}\n"));
    name
}

/// A new user of `partner` (a unique name, password `PASSWORD`) made with the CLI; returns
/// its name.
pub fn add_user(w: &Wharf, partner: &str) -> String {
    let name = unique("u");
    w.ok(
        &["user", "add", &name, "--partner", partner],
        &format!("{PASSWORD}\n"),
    );
    name
}

/// A new partner allowed every interface and a user of it, made with the CLI:
/// (partner, user).
pub fn add_partner_and_user(w: &Wharf) -> (String, String) {
    let partner = add_partner(w, None);
    let user = add_user(w, &partner);
    (partner, user)
}

/// A new installation on `backend`, not serving yet, with a partner allowed every interface
/// and a user of it: (wharf, partner, user).
pub fn installation(backend: Backend) -> (Wharf, String, String) {
    let w = Wharf::new(backend);
    let (partner, user) = add_partner_and_user(&w);
    (w, partner, user)
}

/// A database of its own in the test PostgreSQL for one installation. Core keeps the
/// defender's failed-login scores and bans in the store, per source address, and every test's
/// clients come from 127.0.0.1: in one shared database, one test's wrong passwords would ban
/// the others.
pub fn own_database() -> String {
    let base = pg_url();
    let Some((server, _)) = base.rsplit_once('/') else {
        panic!("WHARF_TEST_DATABASE_URL {base:?} names no database");
    };
    let name = unique("wharf_e2e_");
    let out = Command::new("psql")
        .args([
            base.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql (the PostgreSQL client) runs");
    assert!(
        out.status.success(),
        "creating database {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{server}/{name}")
}

impl Wharf {
    pub fn new(backend: Backend) -> Wharf {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(own_database()),
        };
        // Distinct: free_port never hands out a port twice.
        let ports = [
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        ];
        let w = Wharf {
            data_dir: std::env::temp_dir().join(unique("wharf-e2e-")),
            database_url,
            grpc_port: ports[0],
            http_port: ports[1],
            ftp_port: ports[2],
            ftp_passive_port: free_port_range(PASSIVE_PORTS),
            upload_port: ports[3],
            admin_port: ports[4],
            sftp_port: ports[5],
            admin_api_port: free_port(),
            extra_env: Vec::new(),
        };
        // The admin commands never create a store: make it as an operator would.
        w.ok(&["migrate"], "");
        w
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("WHARF_DATA_DIR", &self.data_dir)
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{}", self.grpc_port))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{}", self.ftp_port))
            .env(
                "WHARF_FTP_PASSIVE_PORTS",
                format!(
                    "{}-{}",
                    self.ftp_passive_port,
                    self.ftp_passive_port + PASSIVE_PORTS - 1
                ),
            )
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{}", self.http_port))
            .env(
                "WHARF_UPLOAD_ADDR",
                format!("127.0.0.1:{}", self.upload_port),
            )
            .env("WHARF_SFTP_ADDR", format!("127.0.0.1:{}", self.sftp_port))
            .env("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", self.admin_port))
            .env(
                "WHARF_ADMIN_API_ADDR",
                format!("127.0.0.1:{}", self.admin_api_port),
            )
            .env("WHARF_INTERNAL_TOKEN", TOKEN);
        if let Some(url) = &self.database_url {
            c.env("WHARF_DATABASE_URL", url);
        }
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Run a CLI command with `stdin` fed in; returns its output.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wharf");
        let written = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        // A command that ends without reading all of its stdin (it needed none, or refused
        // the arguments first) closes the pipe: its status and output say what happened.
        if let Err(e) = written {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
        child.wait_with_output().expect("wait wharf")
    }

    /// Run a CLI command that must succeed; returns its stdout.
    /// `wharf audit list --json ARGS`: the audit trail's records, one per line, parsed.
    pub fn audit(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["audit", "list", "--json"];
        all.extend_from_slice(args);
        self.ok(&all, "")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "wharf {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Start `wharf serve` and wait until core's gRPC port and the HTTP API's port accept
    /// connections.
    pub fn serve(&self) -> Server {
        // Logs go to a file: an unread pipe would stall the server once full.
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let log = self.data_dir.join(format!("serve-{}.log", unique("")));
        let child = self
            .command(&["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn wharf serve");
        let mut server = Server { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in [
            self.grpc_port,
            self.http_port,
            self.ftp_port,
            self.upload_port,
            self.sftp_port,
        ] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!("wharf serve exited early: {status}: {}", server.stderr());
                }
                assert!(
                    Instant::now() < deadline,
                    "wharf serve did not listen on port {port} in 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        server
    }

    /// Start `wharf {args}` (one component alone, say) with `env` on top of the
    /// installation's, logging to a file, and wait until `port` accepts connections. Each
    /// process started so gets an admin listener port of its own (several components of one
    /// installation run side by side) unless `env` names `WHARF_ADMIN_ADDR`, and so does
    /// the admin API (`WHARF_ADMIN_API_ADDR`).
    pub fn start(&self, args: &[&str], env: &[(&str, String)], port: u16) -> Server {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let log = self
            .data_dir
            .join(format!("{}-{}.log", args.join("-"), unique("")));
        let mut cmd = self.command(args);
        cmd.env("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("WHARF_ADMIN_API_ADDR", format!("127.0.0.1:{}", free_port()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn wharf {args:?}: {e}"));
        let mut server = Server { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("wharf {args:?} exited early: {status}: {}", server.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "wharf {args:?} did not listen on port {port} in 30 s: {}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `wharf core` alone, on the installation's gRPC port.
    pub fn start_core(&self) -> Server {
        self.start(&["core"], &[], self.grpc_port)
    }

    /// Front-end `component` (`gateway`, `ftp`, `upload` or `sftp`) alone, on the installation's port
    /// for it, calling the installation's core (`WHARF_CORE_URL`).
    pub fn start_front_end(&self, component: &str) -> Server {
        let port = match component {
            "gateway" => self.http_port,
            "ftp" => self.ftp_port,
            "upload" => self.upload_port,
            "sftp" => self.sftp_port,
            other => panic!("no front-end {other:?}"),
        };
        self.start(&[component], &[("WHARF_CORE_URL", self.grpc_url())], port)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The upload page's base URL (plain HTTP).
    pub fn upload_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.upload_port)
    }

    /// The admin listener's base URL.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The admin HTTP API's base URL under `wharf serve` (plain HTTP).
    pub fn admin_api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_api_port)
    }

    /// The HTTP API's base URL (plain HTTP; tests serving HTTPS build their own).
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for Wharf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A running `wharf serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
}

impl Server {
    /// SIGTERM, then wait (at most 30 s) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "wharf did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and assert a clean exit (`what` names the process in the failure).
    #[track_caller]
    pub fn stop(&mut self, what: &str) {
        let status = self.terminate();
        assert!(
            status.success(),
            "{what} exits cleanly on SIGTERM, got {status}: {}",
            self.stderr()
        );
    }

    pub fn stderr(&mut self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key of a test certificate: RSA for one door, EC for the other, so both kinds are served.
#[derive(Clone, Copy)]
pub enum KeyType {
    Rsa,
    Ec,
}

/// A self-signed certificate for localhost and 127.0.0.1 and its key, PEM files in the data
/// dir, made with the openssl CLI; returns their paths.
pub fn make_cert(w: &Wharf, key_type: KeyType) -> (String, String) {
    std::fs::create_dir_all(&w.data_dir).expect("data dir");
    let cert = w.data_dir.join("cert.pem");
    let key = w.data_dir.join("key.pem");
    let new_key: &[&str] = match key_type {
        KeyType::Rsa => &["-newkey", "rsa:2048"],
        KeyType::Ec => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    };
    let out = Command::new("openssl")
        .args(["req", "-x509"])
        .args(new_key)
        .args(["-nodes", "-subj", "/CN=localhost"])
        .args([
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-days",
            "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}
