//! A private, throw-away PostgreSQL cluster a test may stop and start again (the shared
//! `WHARF_TEST_DATABASE_URL` server is never stopped: other tests use it). Like
//! `scripts/pg.sh`: initdb into a temp dir, its own port, trust auth, the socket in the same
//! dir; as root, initdb and postgres run as the `postgres` user. Anything that goes wrong
//! fails the test loudly: PostgreSQL tests never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{free_port, unique};

/// A running (or stopped) private cluster; stopped and removed when dropped.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

/// The newest `/usr/lib/postgresql/*/bin` that has `initdb`.
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").is_file());
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (install the postgresql package)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgCluster {
    /// initdb and start a cluster on a free port; waits until it accepts connections.
    pub fn start() -> PgCluster {
        let dir = std::env::temp_dir().join(unique("wharf-pgc-"));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let cluster = PgCluster {
            dir,
            bin: bin_dir(),
            port: free_port(),
        };
        if is_root() {
            let out = Command::new("chown")
                .arg("postgres")
                .arg(&cluster.dir)
                .output()
                .expect("run chown");
            assert!(out.status.success(), "chown postgres: {out:?}");
        }
        let data = cluster.dir.join("data");
        let out = cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "wharf".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        cluster.resume();
        cluster
    }

    /// `postgres://wharf@127.0.0.1:PORT/postgres` (trust auth; wharf makes its tables there).
    pub fn url(&self) -> String {
        format!("postgres://wharf@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m immediate`: the server goes away as in a crash.
    pub fn stop(&self) {
        let data = self.dir.join("data");
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
    }

    /// Start the (initialised) cluster again and wait until it accepts connections.
    pub fn resume(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not listen on {} in 30 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run one of the cluster's binaries (as `postgres` when we are root).
    fn run(&self, name: &str, args: &[&std::ffi::OsStr]) -> Output {
        let program = self.bin.join(name);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(Path::new("/"))
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "stop".as_ref(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
