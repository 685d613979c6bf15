//! The real OpenSSH `sftp` client against a wharf SFTP door: keys made with `ssh-keygen`,
//! the host key pinned from `wharf sftp host-key` (never trust-on-first-use), password logins
//! through `SSH_ASKPASS`, commands in batch mode (`-b -`: the first failing command stops it,
//! unless written `-cmd`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{unique, Wharf, PASSWORD};

/// How a client logs in.
#[derive(Debug, Clone)]
pub enum Login {
    /// This private key file (and no password).
    Key(PathBuf),
    /// This password (through `SSH_ASKPASS`; no key).
    Password(String),
}

/// One user's `sftp` client set up against one SFTP port.
#[derive(Debug, Clone)]
pub struct Client {
    pub port: u16,
    pub user: String,
    pub login: Login,
    /// Holds the pinned host key, the askpass script, and files got.
    pub dir: PathBuf,
}

/// A new key pair (`ed25519`, or `rsa` with `bits`) in `dir`: the private key's path.
pub fn keygen(dir: &Path, kind: &str, bits: Option<u32>) -> PathBuf {
    std::fs::create_dir_all(dir).expect("key dir");
    let path = dir.join(unique("key-"));
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-t", kind, "-N", "", "-C", "test@wharf", "-f"])
        .arg(&path);
    if let Some(bits) = bits {
        c.args(["-b", &bits.to_string()]);
    }
    let out = c.output().expect("ssh-keygen (openssh-client) installed");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    path
}

/// Register the public half of `key` for `user` with the CLI; returns its fingerprint.
pub fn add_key(w: &Wharf, user: &str, key: &Path) -> String {
    let public = key.with_extension("pub");
    let public = if public.exists() {
        public
    } else {
        PathBuf::from(format!("{}.pub", key.display()))
    };
    let out = w.ok(
        &[
            "user",
            "key",
            "add",
            user,
            "--file",
            public.to_str().expect("utf-8 path"),
        ],
        "",
    );
    out.split_whitespace()
        .next()
        .expect("a fingerprint")
        .to_string()
}

/// The host key line `wharf sftp host-key` prints (`ssh-ed25519 AAAA…`) and its fingerprint.
pub fn host_key(w: &Wharf) -> (String, String) {
    let out = w.ok(&["sftp", "host-key"], "");
    let mut lines = out.lines();
    let fingerprint = lines.next().expect("fingerprint line").to_string();
    let key = lines.next().expect("key line").to_string();
    (key, fingerprint)
}

/// The host key the server on `port` presents, as `ssh-keyscan` reads it (`ssh-ed25519 …`).
pub fn scan(port: u16) -> String {
    let out = Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &port.to_string(), "127.0.0.1"])
        .output()
        .expect("ssh-keyscan (openssh-client) installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no host key from port {port}: {out:?}"));
    // `[127.0.0.1]:PORT ssh-ed25519 AAAA…`
    line.split_once(' ')
        .expect("host and key")
        .1
        .trim()
        .to_string()
}

impl Client {
    /// A client of `user` on `port` logging in by `login`, trusting only `w`'s host key.
    pub fn new(w: &Wharf, port: u16, user: &str, login: Login) -> Client {
        let (key, _) = host_key(w);
        Client::pinned(w, port, user, login, &key)
    }

    /// As [`Client::new`], trusting only `key` (a line [`host_key`] read once: each read
    /// runs the CLI).
    pub fn pinned(w: &Wharf, port: u16, user: &str, login: Login, key: &str) -> Client {
        let dir = w.data_dir.join(unique("sftp-client-"));
        std::fs::create_dir_all(&dir).expect("client dir");
        std::fs::write(dir.join("known_hosts"), format!("wharf {key}\n")).expect("known_hosts");
        Client {
            port,
            user: user.to_string(),
            login,
            dir,
        }
    }

    /// A client of `user` on `w`'s SFTP port with the test password.
    pub fn password(w: &Wharf, user: &str) -> Client {
        Client::new(w, w.sftp_port, user, Login::Password(PASSWORD.into()))
    }

    /// The `sftp` command, ready for `-b -` on stdin.
    pub fn command(&self) -> Command {
        self.command_with(&[])
    }

    /// The `sftp` command with `extra` options (`-l KBIT`, say), ready for `-b -` on stdin.
    pub fn command_with(&self, extra: &[&str]) -> Command {
        let mut c = Command::new("sftp");
        c.args(extra);
        c.current_dir(&self.dir)
            // Before `-b`: ssh keeps the first value of an option, and batch mode would
            // otherwise forbid the password prompt.
            .args(["-o", "BatchMode=no"])
            .args(["-q", "-b", "-", "-P", &self.port.to_string()])
            .args([
                "-o",
                "HostKeyAlias=wharf",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.dir.join("known_hosts").display()
            ))
            .args(["-o", "ConnectTimeout=10", "-o", "NumberOfPasswordPrompts=1"])
            .args(["-F", "/dev/null"]);
        match &self.login {
            Login::Key(key) => {
                c.arg("-i")
                    .arg(key)
                    .args(["-o", "IdentitiesOnly=yes"])
                    .args(["-o", "PreferredAuthentications=publickey"])
                    .args(["-o", "PasswordAuthentication=no"]);
            }
            Login::Password(password) => {
                let askpass = self.dir.join(unique("askpass-"));
                std::fs::write(
                    &askpass,
                    format!("#!/bin/sh\nprintf '%s\\n' '{password}'\n"),
                )
                .expect("askpass");
                let mut perms = std::fs::metadata(&askpass).expect("askpass").permissions();
                std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
                std::fs::set_permissions(&askpass, perms).expect("chmod askpass");
                c.env("SSH_ASKPASS", &askpass)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env("DISPLAY", "none")
                    .args(["-o", "PreferredAuthentications=password"])
                    .args(["-o", "PubkeyAuthentication=no"]);
            }
        }
        c.arg(format!("{}@127.0.0.1", self.user));
        c
    }

    /// Run `commands` (one per line) in batch mode; the whole output.
    pub fn run(&self, commands: &str) -> Output {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sftp (openssh-client) installed");
        // Written from a thread: the client echoes every command, and a long script would
        // otherwise fill its stdout pipe while this side still writes its stdin.
        let mut stdin = child.stdin.take().expect("stdin");
        let commands = commands.to_string();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            // The client may stop reading early (a failing command ends batch mode).
            let _ = stdin.write_all(commands.as_bytes());
        });
        let out = child.wait_with_output().expect("wait sftp");
        let _ = writer.join();
        out
    }

    /// Run `commands`, which must all succeed; stdout.
    pub fn ok(&self, commands: &str) -> String {
        let out = self.run(commands);
        assert!(
            out.status.success(),
            "sftp {commands:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `commands`, which must fail; stderr.
    pub fn fails(&self, commands: &str) -> String {
        let out = self.run(commands);
        assert!(
            !out.status.success(),
            "sftp {commands:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Whether the client logs in at all.
    pub fn logs_in(&self) -> bool {
        self.run("pwd\n").status.success()
    }

    /// Put `body` as `dir/name` (a local file of the same name is written first).
    pub fn put(&self, dir: &str, name: &str, body: &[u8]) -> Output {
        let local = self.dir.join(unique("up-"));
        std::fs::write(&local, body).expect("local file");
        self.run(&format!("put {} {dir}/{name}\n", local.display()))
    }

    /// The bytes of the remote file `path`.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        let local = self.dir.join(unique("got-"));
        let out = self.run(&format!("get {path} {}\n", local.display()));
        if !out.status.success() {
            return None;
        }
        std::fs::read(&local).ok()
    }

    /// `dir`'s entry names (`ls -1`).
    pub fn names(&self, dir: &str) -> Vec<String> {
        let out = self.ok(&format!("ls -1a {dir}\n"));
        let mut names: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with("sftp>"))
            .map(|l| l.trim().rsplit('/').next().unwrap_or("").to_string())
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .collect();
        names.sort();
        names
    }

    /// Put `body` as `dir/name` and read its feedback file.
    pub fn deliver(&self, dir: &str, name: &str, body: &[u8]) -> serde_json::Value {
        let out = self.put(dir, name, body);
        assert!(
            out.status.success(),
            "put {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.feedback(dir, name)
    }

    /// The feedback file of `name` in `dir`, parsed.
    pub fn feedback(&self, dir: &str, name: &str) -> serde_json::Value {
        let bytes = self
            .get(&format!("{dir}/feedback/{name}.result.json"))
            .unwrap_or_else(|| panic!("no feedback file for {name}"));
        serde_json::from_slice(&bytes).expect("feedback is JSON")
    }

    /// Deliver `files` in order in ONE session (one SSH handshake, one login): each one put
    /// (under `{name}.filepart` and renamed to `name` when `by_rename`, as MFT clients do),
    /// its feedback folder listed, and its feedback file got. Returns each feedback file's
    /// bytes as served. Panics when a command fails or a feedback file is not listed.
    pub fn deliver_all(&self, files: &[Delivery]) -> Vec<Vec<u8>> {
        let mut commands = String::new();
        let mut got = Vec::new();
        for f in files {
            let local = self.dir.join(unique("up-"));
            std::fs::write(&local, f.body).expect("local file");
            let (dir, name) = (f.dir, f.name);
            if f.by_rename {
                commands.push_str(&format!(
                    "put \"{}\" \"{dir}/{name}.filepart\"\n\
                     rename \"{dir}/{name}.filepart\" \"{dir}/{name}\"\n",
                    local.display()
                ));
            } else {
                commands.push_str(&format!("put \"{}\" \"{dir}/{name}\"\n", local.display()));
            }
            let feedback = self.dir.join(unique("got-"));
            commands.push_str(&format!(
                "ls -1 \"{dir}/feedback\"\nget \"{dir}/feedback/{name}.result.json\" \"{}\"\n",
                feedback.display()
            ));
            got.push(feedback);
        }
        let out = self.ok(&commands);
        // Batch mode echoes each command as `sftp> …`; what follows an `ls` is its listing.
        let (mut listings, mut listing) = (Vec::<Vec<String>>::new(), false);
        for line in out.lines() {
            if let Some(command) = line.strip_prefix("sftp> ") {
                listing = command.starts_with("ls ");
                if listing {
                    listings.push(Vec::new());
                }
            } else if let Some(names) = listings.last_mut().filter(|_| listing) {
                let entry = line.trim().rsplit('/').next().unwrap_or("");
                names.push(entry.to_string());
            }
        }
        assert_eq!(listings.len(), files.len(), "one listing per file: {out}");
        files
            .iter()
            .zip(listings)
            .zip(got)
            .map(|((f, listing), local)| {
                let feedback = format!("{}.result.json", f.name);
                assert!(
                    listing.contains(&feedback),
                    "feedback/{feedback} is listed: {listing:?}"
                );
                std::fs::read(&local).unwrap_or_else(|e| panic!("feedback of {}: {e}", f.name))
            })
            .collect()
    }
}

/// One file for [`Client::deliver_all`].
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub dir: &'a str,
    pub name: &'a str,
    pub body: &'a [u8],
    /// Put under a temporary name and renamed to `name`, rather than put as `name`.
    pub by_rename: bool,
}
