//! SFTP load: 5,000-row t1/bom JSON files delivered with the real OpenSSH `sftp` client
//! (batch mode, Ed25519 key login, the host key pinned from `wharf sftp host-key`) to the real
//! `wharf serve` on PostgreSQL.
//!
//! - Latency: one long-lived `sftp -b -` fed through a pipe; for each of 50 files, the time
//!   from writing its `put` to the client having fetched its feedback file (`get` of
//!   `feedback/NAME.result.json`, then a `pwd` whose answer on stdout marks the end). wharf
//!   ingests a file when its handle is closed, before it answers the close. p50/p99; every
//!   feedback must say code `0`. Beside it, same run: the same files over FTP, one session,
//!   STOR then RETR of the feedback.
//! - Throughput: 4 parallel `sftp` sessions × 12 files, and in the same run the same with 4
//!   parallel FTP sessions (suppaftp, as `ftp_load`), rows/s and the SFTP/FTP ratio. Each
//!   session logs in before the clock starts; each file's feedback is fetched and checked. The
//!   two doors take turns (SFTP first in odd rounds, FTP first in even ones), over
//!   `WHARF_BENCH_ROUNDS` rounds. The CPU `wharf serve` and the `sftp`/`ssh` processes
//!   used meanwhile is read from `/proc`.
//! - A raw `COPY` of as many t1/bom rows into the same PostgreSQL, same run: the physical limit.
//!
//! Environment: `WHARF_BENCH_DATABASE_URL` (required), `WHARF_BENCH_SFTP_FILES` (default 50),
//! `WHARF_BENCH_SFTP_PER_SESSION` (files per parallel session, default 12),
//! `WHARF_BENCH_ROUNDS` (default 3), `WHARF_BENCH_SFTP_OPTIONS` (extra `sftp` options, split on
//! spaces, for trying the client's knobs; none by default). Run with `scripts/bench`.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{bom_file, bom_file_name, env_num, free_port, raw_copy, wait_listening, FILE_ROWS};

/// Parallel sessions of the throughput part, for each door.
const SESSIONS: usize = 4;

/// CPU seconds (user + system) from `/proc/{pid}/stat`: of the process itself, and of its
/// children it has waited for.
fn cpu_secs(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let fields: Vec<f64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0.0);
    // Clock ticks of 1/100 s (`getconf CLK_TCK` on Linux).
    (
        (field(14) + field(15)) / 100.0,
        (field(16) + field(17)) / 100.0,
    )
}

/// One door's parallel part: wall time, and CPU seconds of `wharf serve` and of the client's
/// processes (`sftp` and its `ssh`; the FTP client runs in this process and is not counted).
#[derive(Clone, Copy)]
struct Part {
    wall: Duration,
    server_cpu: f64,
    client_cpu: f64,
}

/// Run `part`, with the CPU `wharf serve` (`server`) and this process's waited-for children
/// used meanwhile.
fn measure(server: u32, part: impl FnOnce() -> Duration) -> Part {
    let me = std::process::id();
    let (server_before, _) = cpu_secs(server);
    let (_, children_before) = cpu_secs(me);
    let wall = part();
    Part {
        wall,
        server_cpu: cpu_secs(server).0 - server_before,
        client_cpu: cpu_secs(me).1 - children_before,
    }
}

/// What an `sftp` client needs: port, user, key, the pinned host key, a local folder.
struct Client {
    /// Options put before the others (`WHARF_BENCH_SFTP_OPTIONS`, split on spaces): for trying
    /// the client's knobs; none by default, as partners run it.
    options: Vec<String>,
    port: u16,
    user: String,
    key: PathBuf,
    known_hosts: PathBuf,
    dir: PathBuf,
}

/// A running `sftp -b -`: commands are written to its stdin, its stdout is read line by line.
struct Sftp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: PathBuf,
}

impl Client {
    /// Start `sftp` in batch mode reading commands from its stdin, logged in by key, in
    /// `dir`; returns once the session answers.
    fn start(&self, dir: &str, tag: &str) -> Sftp {
        let stderr = self.dir.join(format!("sftp-{tag}.stderr"));
        let mut child = Command::new("sftp")
            .current_dir(&self.dir)
            .args(&self.options)
            .args(["-q", "-b", "-", "-P", &self.port.to_string()])
            .args([
                "-o",
                "HostKeyAlias=wharf",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "ConnectTimeout=10"])
            .args(["-F", "/dev/null"])
            .arg("-i")
            .arg(&self.key)
            .args(["-o", "IdentitiesOnly=yes"])
            .args(["-o", "PreferredAuthentications=publickey"])
            .args(["-o", "PasswordAuthentication=no"])
            .arg(format!("{}@127.0.0.1", self.user))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("sftp (openssh-client) installed");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut sftp = Sftp {
            child,
            stdin,
            stdout,
            stderr,
        };
        sftp.send(&format!("cd {dir}\n"));
        sftp.mark();
        sftp
    }
}

impl Sftp {
    fn send(&mut self, commands: &str) {
        self.stdin
            .write_all(commands.as_bytes())
            .and_then(|_| self.stdin.flush())
            .expect("write to sftp");
    }

    /// Send `pwd` and read stdout until its answer: every command before it is done (batch
    /// mode runs them in order and stops at the first that fails).
    fn mark(&mut self) {
        self.send("pwd\n");
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read sftp stdout");
            if n == 0 {
                let _ = self.child.wait();
                panic!(
                    "sftp stopped: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            if line.starts_with("Remote working directory:") {
                return;
            }
        }
    }

    fn quit(mut self) {
        self.send("quit\n");
        drop(self.stdin);
        let status = self.child.wait().expect("wait sftp");
        assert!(status.success(), "sftp: {status}");
    }
}

/// The commands that deliver local file `local` as `name` and fetch its feedback to `fb`.
fn put_and_get(local: &Path, name: &str, fb: &Path) -> String {
    format!(
        "put {} {name}\nget feedback/{name}.result.json {}\n",
        local.display(),
        fb.display()
    )
}

/// The feedback fetched to `fb` says code `0` (applied).
fn expect_applied(fb: &Path) {
    let bytes = std::fs::read(fb).unwrap_or_else(|e| panic!("{}: {e}", fb.display()));
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("feedback is JSON");
    assert_eq!(v["code"], "0", "{v}");
}

/// Local files `n` for the `sftp` client to put: (path, delivery name).
fn local_files(dir: &Path, ns: &[usize]) -> Vec<(PathBuf, String)> {
    ns.iter()
        .map(|&n| {
            let name = bom_file_name(n);
            let path = dir.join(&name);
            std::fs::write(&path, bom_file("SFTP", n)).expect("local file");
            (path, name)
        })
        .collect()
}

/// The file numbers of session `s` of a parallel part (`base` apart per door and round).
fn session_files(base: usize, s: usize, per_session: usize) -> Vec<usize> {
    (0..per_session).map(|k| base + s * 1000 + k).collect()
}

/// 4 parallel `sftp` sessions putting `per_session` files each (and fetching each feedback);
/// the time from all being logged in to the last one done.
fn sftp_parallel(client: &Arc<Client>, dir: &str, base: usize, per_session: usize) -> Duration {
    let fb_dir = client.dir.join(format!("feedback-{base}"));
    std::fs::create_dir_all(&fb_dir).expect("feedback dir");
    let barrier = Arc::new(Barrier::new(SESSIONS + 1));
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|s| {
            let files = local_files(&client.dir, &session_files(base, s, per_session));
            let (client, barrier, dir, fb_dir) = (
                client.clone(),
                barrier.clone(),
                dir.to_string(),
                fb_dir.clone(),
            );
            std::thread::spawn(move || {
                let mut sftp = client.start(&dir, &format!("{base}-{s}"));
                let commands: String = files
                    .iter()
                    .map(|(local, name)| {
                        put_and_get(local, name, &fb_dir.join(format!("{name}.result.json")))
                    })
                    .collect();
                barrier.wait();
                sftp.send(&commands);
                sftp.mark();
                let done = Instant::now();
                sftp.quit();
                for (local, name) in &files {
                    expect_applied(&fb_dir.join(format!("{name}.result.json")));
                    let _ = std::fs::remove_file(local);
                }
                done
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    sessions
        .into_iter()
        .map(|s| s.join().expect("sftp session"))
        .max()
        .expect("sessions")
        - started
}

/// The same with 4 parallel FTP sessions (STOR, then RETR of the feedback, as `ftp_load`).
fn ftp_parallel(port: u16, user: &str, dir: &str, base: usize, per_session: usize) -> Duration {
    let barrier = Arc::new(Barrier::new(SESSIONS + 1));
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|s| {
            let (user, dir, barrier) = (user.to_string(), dir.to_string(), barrier.clone());
            std::thread::spawn(move || {
                let files: Vec<(String, Vec<u8>)> = session_files(base, s, per_session)
                    .into_iter()
                    .map(|n| (bom_file_name(n), bom_file("FTP", n)))
                    .collect();
                let mut ftp = common::ftp::session(port, &user, &dir);
                barrier.wait();
                for (name, body) in files {
                    common::ftp::store(&mut ftp, &name, body);
                    common::ftp::expect_applied(&mut ftp, &name);
                }
                let done = Instant::now();
                let _ = ftp.quit();
                done
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    sessions
        .into_iter()
        .map(|s| s.join().expect("ftp session"))
        .max()
        .expect("sessions")
        - started
}

fn main() {
    let url = std::env::var("WHARF_BENCH_DATABASE_URL")
        .expect("WHARF_BENCH_DATABASE_URL: run scripts/bench, which starts a private PostgreSQL");
    let files = env_num("WHARF_BENCH_SFTP_FILES", 50);
    let per_session = env_num("WHARF_BENCH_SFTP_PER_SESSION", 12);
    let rounds = env_num("WHARF_BENCH_ROUNDS", 3).max(1);
    let bin = env!("CARGO_BIN_EXE_wharf");
    let data_dir = std::env::temp_dir().join(format!("wharf-sftp-bench-{}", std::process::id()));
    let local = data_dir.join("client");
    std::fs::create_dir_all(&local).expect("client dir");
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let (ftp_port, sftp_port) = (ports[2], ports[3]);
    // Passive ports for four FTP sessions, with room: libunftp picks one at random per
    // transfer.
    let passive = 42000 + (std::process::id() % 100) as u16 * 64;
    let partner = format!("SFTPB{}", std::process::id());
    let user = format!("sftpbench{}", std::process::id());
    let command = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .env("WHARF_DATABASE_URL", &url)
            .env("WHARF_DATA_DIR", &data_dir)
            .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{}", ports[0]))
            .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{}", ports[1]))
            .env("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp_port}"))
            .env("WHARF_SFTP_ADDR", format!("127.0.0.1:{sftp_port}"))
            .env("WHARF_UPLOAD_ADDR", format!("127.0.0.1:{}", ports[4]))
            .env("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", ports[5]))
            .env(
                "WHARF_FTP_PASSIVE_PORTS",
                format!("{passive}-{}", passive + 63),
            )
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null());
        c
    };
    let run = |args: &[&str], stdin: &str| -> String {
        let mut child = command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("wharf");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "wharf {args:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    // The admin commands never create a store: make it first, as an operator would.
    run(&["migrate"], "");
    run(&["partner", "add", &partner], "bench-secret-1\n");
    run(
        &["user", "add", &user, "--partner", &partner],
        "bench-password-1\n",
    );
    let key = local.join("id_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench@wharf", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client) installed");
    assert!(keygen.success(), "ssh-keygen");
    let public = format!("{}.pub", key.display());
    run(&["user", "key", "add", &user, "--file", &public], "");
    // Pin the host key wharf prints (line 2: `ssh-ed25519 AAAA…`): never trust on first use.
    let host_key = run(&["sftp", "host-key"], "");
    let host_key = host_key.lines().nth(1).expect("host key line");
    let known_hosts = local.join("known_hosts");
    std::fs::write(&known_hosts, format!("wharf {host_key}\n")).expect("known_hosts");
    let options = std::env::var("WHARF_BENCH_SFTP_OPTIONS").unwrap_or_default();
    let client = Arc::new(Client {
        options: options.split_whitespace().map(str::to_string).collect(),
        port: sftp_port,
        user: user.clone(),
        key,
        known_hosts,
        dir: local.clone(),
    });

    let mut server = command(&["serve"]).spawn().expect("wharf serve");
    wait_listening(ftp_port);
    wait_listening(sftp_port);
    let dir = format!("/Planning/SCC/{partner}/t1/bom");

    // Latency: one session, one file after the other.
    let uploads = local_files(&local, &(0..files).collect::<Vec<_>>());
    let fb_dir = local.join("feedback");
    std::fs::create_dir_all(&fb_dir).expect("feedback dir");
    let mut sftp = client.start(&dir, "latency");
    let mut times: Vec<Duration> = uploads
        .iter()
        .map(|(path, name)| {
            let fb = fb_dir.join(format!("{name}.result.json"));
            let started = Instant::now();
            sftp.send(&put_and_get(path, name, &fb));
            sftp.mark();
            let elapsed = started.elapsed();
            expect_applied(&fb);
            elapsed
        })
        .collect();
    sftp.quit();
    times.sort();
    // The same over FTP, same run: STOR, then RETR of the feedback.
    let mut ftp = common::ftp::session(ftp_port, &user, &dir);
    let mut ftp_times: Vec<Duration> = (0..files)
        .map(|i| {
            let n = 50_000 + i;
            let (name, body) = (bom_file_name(n), bom_file("FTP", n));
            let started = Instant::now();
            common::ftp::store(&mut ftp, &name, body);
            common::ftp::expect_applied(&mut ftp, &name);
            started.elapsed()
        })
        .collect();
    let _ = ftp.quit();
    ftp_times.sort();

    // Throughput: the two doors take turns.
    let pid = server.id();
    let mut measured: Vec<(Part, Part)> = Vec::new();
    for round in 0..rounds {
        let (sftp_base, ftp_base) = (100_000 + round * 10_000, 200_000 + round * 10_000);
        let sftp = || measure(pid, || sftp_parallel(&client, &dir, sftp_base, per_session));
        let ftp = || {
            measure(pid, || {
                ftp_parallel(ftp_port, &user, &dir, ftp_base, per_session)
            })
        };
        let (s, f) = if round % 2 == 0 {
            let s = sftp();
            (s, ftp())
        } else {
            let f = ftp();
            (sftp(), f)
        };
        measured.push((s, f));
    }
    let _ = server.kill();
    let _ = server.wait();

    let parallel_rows = SESSIONS * per_session * FILE_ROWS;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let copy = rt.block_on(raw_copy(&url, "bench_sftp_copy", parallel_rows));
    let _ = std::fs::remove_dir_all(&data_dir);

    let pct = |times: &[Duration], p: f64| {
        times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
    };
    let rate = |p: &Part| parallel_rows as f64 / p.wall.as_secs_f64();
    println!(
        "SFTP load: {files} files of {FILE_ROWS} t1/bom rows (JSON, ~1.5 MB), OpenSSH sftp{}, PostgreSQL",
        if options.is_empty() {
            String::new()
        } else {
            format!(" ({options})")
        }
    );
    println!("| measure | value |");
    println!("|---|---|");
    for p in [0.50, 0.99] {
        println!(
            "| p{:.0}: SFTP put → feedback got / FTP STOR → feedback got (RETR) | {:.0} ms / {:.0} ms |",
            p * 100.0,
            pct(&times, p),
            pct(&ftp_times, p)
        );
    }
    let files_in_part = (SESSIONS * per_session) as f64;
    for (round, (s, f)) in measured.iter().enumerate() {
        let order = if round % 2 == 0 {
            "SFTP first"
        } else {
            "FTP first"
        };
        println!(
            "| round {} ({order}): {SESSIONS} × {per_session} files, SFTP / FTP | {:.0} rows/s ({:.1} s) / {:.0} rows/s ({:.1} s) = {:.0} % |",
            round + 1,
            rate(s),
            s.wall.as_secs_f64(),
            rate(f),
            f.wall.as_secs_f64(),
            100.0 * rate(s) / rate(f)
        );
        println!(
            "| round {}: wharf serve CPU per file, SFTP / FTP; sftp+ssh client CPU per file | {:.0} ms / {:.0} ms; {:.0} ms |",
            round + 1,
            1e3 * s.server_cpu / files_in_part,
            1e3 * f.server_cpu / files_in_part,
            1e3 * s.client_cpu / files_in_part
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
    };
    let sftp_rate = median(measured.iter().map(|(s, _)| rate(s)).collect());
    let ftp_rate = median(measured.iter().map(|(_, f)| rate(f)).collect());
    let ratio = median(measured.iter().map(|(s, f)| rate(s) / rate(f)).collect());
    println!(
        "| median: SFTP {:.0} rows/s, FTP {:.0} rows/s, SFTP/FTP | {:.0} % |",
        sftp_rate,
        ftp_rate,
        100.0 * ratio
    );
    println!(
        "| raw COPY of {parallel_rows} t1/bom rows | {:.2} s ({:.0} rows/s) |",
        copy.as_secs_f64(),
        parallel_rows as f64 / copy.as_secs_f64()
    );
}
