//! What the load benches share: ports, the t1/bom row they push, the server's RSS, a raw
//! `COPY` of the same rows (the physical limit each bench is compared with), and a hyper client
//! connection.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

pub fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `wharf` binary a bench runs: this build's, or another build (say, the one before a
/// change, to compare with the same cases) named by `WHARF_BENCH_BIN`.
pub fn wharf_bin() -> String {
    std::env::var("WHARF_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wharf").to_string())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Rows in each file the FTP and SFTP benches deliver.
pub const FILE_ROWS: usize = 5000;

/// The delivery name of the file doors' bench file `n` (a t1/bom insert).
pub fn bom_file_name(n: usize) -> String {
    format!("bom_insert_20221001003000_{n}.json")
}

/// File `n` of the file doors' benches: a t1/bom JSON envelope of [`FILE_ROWS`] rows (~1.5 MB)
/// as one sequence of batch `{batch}{n:05}`; `n` makes the business keys unique.
pub fn bom_file(batch: &str, n: usize) -> Vec<u8> {
    let rows: Vec<String> = (0..FILE_ROWS)
        .map(|i| {
            format!(
                r#"{{"vendor_code":"2022012","vendor_father_item":"F{n:05}","father_item":"5B20S43052","vendor_child_item":"C{i:06}","child_item":"5B20S43053","quantity_per":10.125,"effective_start_date":"2022-09-14","effective_end_date":"2024-02-29","priority":"N/A","split":0.28,"version":"20211012000000"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"batch_id":"{batch}{n:05}","batch_size":{FILE_ROWS},"seq_id":"1","seq_size":{FILE_ROWS},"data":[{}]}}"#,
        rows.join(",")
    )
    .into_bytes()
}

/// An FTP client of the file doors' benches (suppaftp, plain FTP).
pub mod ftp {
    use std::io::Cursor;
    use std::time::Duration;

    use suppaftp::FtpStream;

    /// A session of `user` (password `bench-password-1`) on `port`, in `dir`.
    pub fn session(port: u16, user: &str, dir: &str) -> FtpStream {
        let mut ftp = FtpStream::connect(("127.0.0.1", port)).expect("connect");
        ftp.login(user, "bench-password-1").expect("login");
        ftp.cwd(dir).expect("cwd");
        ftp
    }

    /// STOR `body` as `name` (wharf ingests it before it answers).
    pub fn store(ftp: &mut FtpStream, name: &str, body: Vec<u8>) {
        ftp.put_file(name, &mut Cursor::new(body)).expect("STOR");
    }

    /// Poll the feedback folder until `name`'s feedback file is listed.
    pub fn wait_for_feedback(ftp: &mut FtpStream, name: &str) {
        let feedback = format!("{name}.result.json");
        loop {
            let listed = ftp.nlst(Some("feedback")).expect("NLST");
            if listed.iter().any(|l| l.ends_with(&feedback)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `name`'s feedback says it was applied.
    pub fn expect_applied(ftp: &mut FtpStream, name: &str) {
        let answer = ftp
            .retr_as_buffer(&format!("feedback/{name}.result.json"))
            .expect("RETR");
        let v: serde_json::Value = serde_json::from_slice(answer.get_ref()).expect("json");
        assert_eq!(v["code"], "0", "{v}");
    }
}

/// One t1/bom row's JSON; `n` makes the business key unique.
pub fn row_json(n: usize) -> String {
    format!(
        r#"{{"bu":"ThinkNB","vendor_code":"2022012","vendor_father_item":"VF{n:09}","father_item":"5B20S43052","vendor_child_item":"VC{n:09}","child_item":"5B20S43053","quantity_per":10.125,"effective_start_date":"2022-09-14","effective_end_date":"2024-02-29","priority":"N/A","split":0.28,"version":"20211012000000","owner":"planner"}}"#
    )
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Raw COPY of `rows` rows into a table shaped like wharf's `records`.
pub async fn raw_copy(url: &str, table: &str, rows: usize) -> Duration {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(
            &format!(
                "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (partner TEXT NOT NULL, \
                 env TEXT NOT NULL, iface TEXT NOT NULL, rkey TEXT COLLATE \"C\" NOT NULL, uid TEXT, \
                 data TEXT NOT NULL, batch_pk BIGINT NOT NULL, PRIMARY KEY (partner, env, iface, rkey)); \
                 CREATE UNIQUE INDEX ON {table} (partner, env, iface, uid) WHERE uid IS NOT NULL"
            ),
        )
        .await
        .expect("create");
    let mut text = String::with_capacity(rows * 420);
    for n in 0..rows {
        let data = row_json(n).replace('\\', "\\\\");
        text.push_str(&format!(
            "P\tprod\tt1/bom\t[\"2022012\",\"VF{n:09}\",\"5B20S43052\",\"VC{n:09}\",\"20211012000000\"]\t\\N\t{data}\t1\n"
        ));
    }
    let started = Instant::now();
    let sink = client
        .copy_in(&format!("COPY {table} FROM STDIN"))
        .await
        .expect("copy");
    futures_util::pin_mut!(sink);
    sink.send(Bytes::from(text)).await.expect("send");
    sink.finish().await.expect("finish");
    started.elapsed()
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub async fn connect(
    port: u16,
) -> (
    Sender,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    (send, async move {
        let _ = conn.await;
    })
}

/// A client-credentials token of `partner` from the HTTP API on `port`.
pub async fn client_token(port: u16, partner: &str, secret: &str) -> String {
    use http_body_util::BodyExt;
    let (mut send, conn) = connect(port).await;
    tokio::spawn(conn);
    let req = hyper::Request::post("/oauth/token")
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!(
            "grant_type=client_credentials&client_id={partner}&client_secret={secret}"
        ))))
        .expect("request");
    let body = send.send_request(req).await.expect("token").into_body();
    let bytes = body.collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["access_token"].as_str().expect("token").to_string()
}

/// The peak RSS of a process, sampled every `every` from [`PeakRss::start`] to
/// [`PeakRss::stop`].
pub struct PeakRss {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
    pid: u32,
}

impl PeakRss {
    pub fn start(pid: u32, every: Duration) -> PeakRss {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peak = std::sync::Arc::new(AtomicU64::new(rss_kib(pid)));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(every).await;
                }
            })
        };
        PeakRss {
            peak,
            done,
            sampler,
            pid,
        }
    }

    /// The peak, KiB.
    pub async fn stop(self) -> u64 {
        use std::sync::atomic::Ordering;
        self.done.store(true, Ordering::Relaxed);
        self.sampler.await.expect("sampler");
        self.peak.fetch_max(rss_kib(self.pid), Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// Wait (up to 30 s) until something listens on `port` of 127.0.0.1: the server started.
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "wharf serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `wharf serve` of its own for a bench (release binary, `WHARF_BENCH_BIN` to measure
/// another), with one partner and one FTP user; killed and its data removed when dropped.
/// `url`: PostgreSQL, or the embedded SQLite store when `None`; `tag` names its partner,
/// user and data folder; `passive`: the first of `ports` passive ports.
pub struct FtpServer {
    pub child: std::process::Child,
    pub ftp: u16,
    pub user: String,
    /// The user's t1/bom upload folder.
    pub dir: String,
    data_dir: std::path::PathBuf,
}

impl FtpServer {
    pub fn start(url: Option<&str>, tag: &str, passive: u16, ports: u16) -> FtpServer {
        use std::process::{Command, Stdio};
        let bin = wharf_bin();
        let data_dir = std::env::temp_dir().join(format!("wharf-bench-{tag}"));
        let (http, grpc, ftp) = (free_port(), free_port(), free_port());
        let partner = format!("B{tag}").to_uppercase();
        let user = format!("b{tag}").to_lowercase();
        let command = |args: &[&str]| {
            let mut c = Command::new(&bin);
            c.args(args)
                .env("WHARF_DATA_DIR", &data_dir)
                .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{http}"))
                .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{grpc}"))
                .env("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp}"))
                // Not used here: any free port.
                .env("WHARF_SFTP_ADDR", "127.0.0.1:0")
                .env(
                    "WHARF_FTP_PASSIVE_PORTS",
                    format!("{passive}-{}", passive + ports - 1),
                )
                .env("RUST_LOG", "warn")
                .stderr(Stdio::null());
            if let Some(url) = url {
                c.env("WHARF_DATABASE_URL", url);
            }
            c
        };
        let run = |args: &[&str], stdin: &str| {
            let mut child = command(args).stdin(Stdio::piped()).spawn().expect("wharf");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
                .expect("stdin");
            assert!(child.wait().expect("wait").success(), "wharf {args:?}");
        };
        // The admin commands never create a store: make it first, as an operator would.
        run(&["migrate"], "");
        run(&["partner", "add", &partner], "bench-secret-1\n");
        run(
            &["user", "add", &user, "--partner", &partner],
            "bench-password-1\n",
        );
        let child = command(&["serve"]).spawn().expect("wharf serve");
        wait_listening(ftp);
        FtpServer {
            child,
            ftp,
            user,
            dir: format!("/Planning/SCC/{partner}/t1/bom"),
            data_dir,
        }
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
