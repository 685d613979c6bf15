//! The SFTP door as partners use it: the real OpenSSH `sftp` client (keys from `ssh-keygen`,
//! the host key pinned from `wharf sftp host-key`) against the real binary, on SQLite and
//! PostgreSQL. Logins by password and by Ed25519 and RSA keys, wrong ones refused; the tree;
//! `.json`/`.csv`/`.xlsx` delivered and answered; delivery by rename; a transfer killed
//! before its close applies nothing; traversal and removal refused; the host key one and the
//! same across restarts and replicas; a split deployment that loses nothing when one SFTP
//! process is killed.

mod util;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::data::{
    bom_rows as rows, envelope, expect_code, export, keys, sheet_csv as csv, sheet_xlsx as xlsx,
};
use util::sftp::{add_key, host_key, keygen, scan, Client, Login};
use util::{add_partner, add_user, free_port, installation, unique, Backend, Wharf};

fn bom_dir(partner: &str) -> String {
    format!("/Planning/SCC/{partner}/t1/bom")
}

fn json(rows: &[Value]) -> Vec<u8> {
    // A batch_id of at most 16 characters (the envelope's limit), unique to this run.
    let id = unique("B");
    let id = &id[id.len().saturating_sub(16)..];
    envelope(id, rows.len(), "1", rows.to_vec()).into_bytes()
}

fn stored_keys(w: &Wharf, partner: &str) -> Vec<String> {
    keys(&export(w, partner, "t1/bom", None))
}

fn sftp_door(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let keys_dir = w.data_dir.join("keys");

    // Logins: the password, an Ed25519 key, an RSA key; wrong ones refused.
    let by_password = Client::password(&w, &user);
    assert!(by_password.logs_in(), "password login");
    let ed = keygen(&keys_dir, "ed25519", None);
    let rsa = keygen(&keys_dir, "rsa", Some(3072));
    let ed_fp = add_key(&w, &user, &ed);
    add_key(&w, &user, &rsa);
    let listed = w.ok(&["user", "key", "list", &user], "");
    assert!(
        listed.contains(&ed_fp) && listed.contains("ssh-rsa"),
        "{listed}"
    );
    let by_ed = Client::new(&w, w.sftp_port, &user, Login::Key(ed.clone()));
    let by_rsa = Client::new(&w, w.sftp_port, &user, Login::Key(rsa.clone()));
    assert!(by_ed.logs_in(), "Ed25519 key login");
    assert!(by_rsa.logs_in(), "RSA key login (rsa-sha2)");
    let stranger = keygen(&keys_dir, "ed25519", None);
    assert!(
        !Client::new(&w, w.sftp_port, &user, Login::Key(stranger)).logs_in(),
        "a key nobody registered is refused"
    );
    assert!(
        !Client::new(&w, w.sftp_port, &user, Login::Password("wrong-pass".into())).logs_in(),
        "a wrong password is refused"
    );
    // A removed key stops working.
    w.ok(&["user", "key", "remove", &user, &ed_fp], "");
    assert!(!by_ed.logs_in(), "a removed key is refused");
    let refused = w.run(&["user", "key", "add", &user], "ssh-dss AAAA nope\n");
    assert_eq!(refused.status.code(), Some(65), "{refused:?}");

    // The tree, as over FTP.
    let c = by_rsa;
    assert_eq!(c.names("/"), ["Planning"]);
    assert_eq!(c.names("/Planning/SCC"), vec![partner.clone()]);
    assert_eq!(c.names(&dir), ["feedback"]);
    let long = c.ok(&format!("ls -l {dir}\n"));
    assert!(long.contains("drwxr-xr-x"), "{long}");

    // .json, .csv and .xlsx delivered and answered; the feedback read back with get.
    let a = c.deliver(
        &dir,
        "bom_insert_20221001003000_1.json",
        &json(&rows("J", 3)),
    );
    expect_code(&a, "0");
    let b = c.deliver(&dir, "bom_insert_20221001003000_2.csv", &csv(&rows("C", 4)));
    expect_code(&b, "0");
    let x = c.deliver(
        &dir,
        "bom_insert_20221001003000_3.xlsx",
        &xlsx(&rows("X", 2)),
    );
    expect_code(&x, "0");
    assert_eq!(stored_keys(&w, &partner).len(), 9);
    // A delivered name is consumed, not listed, but stat finds it with the bytes delivered.
    let long = c.ok(&format!("ls -l {dir}/bom_insert_20221001003000_2.csv\n"));
    let csv_bytes = csv(&rows("C", 4)).len();
    assert!(long.contains(&format!(" {csv_bytes} ")), "{long}");
    c.fails(&format!("ls -l {dir}/bom_insert_20221001003000_9.csv\n"));
    // The same name again: a re-delivery, nothing applied twice.
    let again = c.deliver(
        &dir,
        "bom_insert_20221001003000_1.json",
        &json(&rows("Q", 1)),
    );
    expect_code(&again, "E00A00");
    let feedback = c.names(&format!("{dir}/feedback"));
    assert_eq!(feedback.len(), 3, "{feedback:?}");
    let long = c.ok(&format!("ls -l {dir}/feedback\n"));
    assert!(
        long.contains("-rw-r--r--"),
        "files are not executable: {long}"
    );
    // A bad name is answered in its feedback file, as over FTP.
    let bad = c.deliver(
        &dir,
        "bom_upsert_20221001003000_4.json",
        &json(&rows("Z", 1)),
    );
    expect_code(&bad, "E00V00");

    // Delivery by rename: held (listed with its size), not read, delivered once by rename.
    let body = json(&rows("R", 2));
    let out = c.put(&dir, "bom_insert_20221001003000_5.json.part", &body);
    assert!(out.status.success(), "{out:?}");
    let long = c.ok(&format!("ls -l {dir}\n"));
    assert!(
        long.contains(&format!(" {} ", body.len()))
            && long.contains("bom_insert_20221001003000_5.json.part"),
        "held file listed with its size: {long}"
    );
    assert_eq!(
        stored_keys(&w, &partner).len(),
        9,
        "a held file is not read"
    );
    c.ok(&format!(
        "rename {dir}/bom_insert_20221001003000_5.json.part {dir}/bom_insert_20221001003000_5.json\n"
    ));
    expect_code(&c.feedback(&dir, "bom_insert_20221001003000_5.json"), "0");
    assert_eq!(stored_keys(&w, &partner).len(), 11);
    assert_eq!(c.names(&dir), ["feedback"], "the held file is gone");

    // Traversal: nothing outside the home's tree, nothing of another partner, not even one
    // whose name this one's name begins with.
    let prefixed = format!("{partner}X");
    w.ok(&["partner", "add", &prefixed], "client-secret-2\n");
    for path in [
        "/etc/passwd".to_string(),
        "../../../etc/passwd".to_string(),
        format!("{dir}/../../../../../etc/passwd"),
        format!("/Planning/SCC/{prefixed}/t1/bom"),
    ] {
        c.fails(&format!("ls {path}\n"));
        c.fails(&format!("get {path} /dev/null\n"));
    }
    assert_eq!(c.names("/../../.."), ["Planning"], "`..` stops at the root");
    let out = c.put(
        &format!("/Planning/SCC/{prefixed}/t1/bom"),
        "bom_insert_20221001003000_6.json",
        &json(&rows("O", 1)),
    );
    assert!(
        !out.status.success(),
        "no upload into another partner's folder"
    );
    let out = c.put(
        "/",
        "bom_insert_20221001003000_7.json",
        &json(&rows("O", 1)),
    );
    assert!(
        !out.status.success(),
        "no upload outside an interface folder"
    );

    // Removal: only feedback and temporary files.
    let err = c.fails(&format!("rm {dir}/bom_insert_20221001003000_1.json\n"));
    assert!(err.contains("ermission denied"), "{err}");
    c.fails(&format!("rmdir {dir}/feedback\n"));
    c.fails(&format!("mkdir {dir}/new\n"));
    let err = c.fails(&format!(
        "chmod 600 {dir}/feedback/bom_insert_20221001003000_1.json.result.json\n"
    ));
    assert!(err.contains("nsupported"), "{err}");
    c.ok(&format!(
        "rm {dir}/feedback/bom_insert_20221001003000_1.json.result.json\n"
    ));
    assert_eq!(c.names(&format!("{dir}/feedback")).len(), 4);

    // No shell, no commands.
    let out = std::process::Command::new("ssh")
        .args(["-F", "/dev/null", "-p", &w.sftp_port.to_string()])
        .args(["-o", "BatchMode=yes", "-o", "HostKeyAlias=wharf"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            c.dir.join("known_hosts").display()
        ))
        .args(["-i"])
        .arg(&rsa)
        .arg(format!("{user}@127.0.0.1"))
        .arg("id")
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    assert!(!out.status.success(), "exec refused: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exec request failed"),
        "{out:?}"
    );
}

#[test]
fn sftp_door_sqlite() {
    sftp_door(Backend::Sqlite);
}

#[test]
fn sftp_door_postgres() {
    sftp_door(Backend::Postgres);
}

/// Start uploading `body` as `dir/name` with `sftp` throttled to 800 Kbit/s, and return the
/// client `after` that time, checked to be still uploading: the file has not had its close.
/// Its stdin stays open, so only a kill (of it or of its server) ends it.
fn upload_in_flight(c: &Client, dir: &str, name: &str, body: &[u8], after: Duration) -> Child {
    let local = c.dir.join(unique("big-"));
    std::fs::write(&local, body).expect("local file");
    let mut child = c
        .command_with(&["-l", "800"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sftp");
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(format!("put {} {dir}/{name}\n", local.display()).as_bytes())
        .expect("command");
    std::thread::sleep(after);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the upload of {name} was still running after {after:?}"
    );
    child
}

/// Upload `body` as `dir/name` and kill the client (SIGKILL) mid-transfer: the file never
/// gets its close.
fn killed_mid_transfer(c: &Client, dir: &str, name: &str, body: &[u8], after: Duration) {
    let mut child = upload_in_flight(c, dir, name, body, after);
    let _ = child.kill();
    let _ = child.wait();
}

fn a_transfer_killed_before_its_close_applies_nothing(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let c = Client::password(&w, &user);
    // About 350 KB: over three seconds at 800 Kbit/s.
    let body = csv(&rows("K", 5000));
    assert!(body.len() > 250_000, "{}", body.len());
    for name in [
        "bom_all_20221001003000_1.csv",
        "bom_all_20221001003000_2.csv.part",
    ] {
        killed_mid_transfer(&c, &dir, name, &body, Duration::from_millis(1200));
    }
    // Let the server see the connection go.
    std::thread::sleep(Duration::from_millis(500));
    assert!(stored_keys(&w, &partner).is_empty(), "nothing applied");
    assert_eq!(c.names(&dir), ["feedback"], "nothing held");
    assert!(
        c.names(&format!("{dir}/feedback")).is_empty(),
        "no feedback"
    );
    // The same file sent whole then is delivered, once.
    expect_code(&c.deliver(&dir, "bom_all_20221001003000_1.csv", &body), "0");
    assert_eq!(stored_keys(&w, &partner).len(), 5000);
}

#[test]
fn a_transfer_killed_before_its_close_applies_nothing_sqlite() {
    a_transfer_killed_before_its_close_applies_nothing(Backend::Sqlite);
}

#[test]
fn a_transfer_killed_before_its_close_applies_nothing_postgres() {
    a_transfer_killed_before_its_close_applies_nothing(Backend::Postgres);
}

/// `wharf core` and two `wharf sftp`: one host key (the one `wharf sftp host-key` prints, kept
/// across a restart of core), uploads through both, and one SFTP process killed mid-run
/// loses nothing: its files are sent again through the other and applied once.
#[test]
fn split_sftp_replicas_share_one_host_key_and_lose_nothing() {
    let w = Wharf::new(Backend::Postgres);
    let partner = add_partner(&w, Some("t1/bom"));
    let user = add_user(&w, &partner);
    let dir = bom_dir(&partner);
    let mut core = w.start_core();
    let two = free_port();
    let mut one_proc = w.start_front_end("sftp");
    let _two_proc = w.start(
        &["sftp"],
        &[
            ("WHARF_CORE_URL", w.grpc_url()),
            ("WHARF_SFTP_ADDR", format!("127.0.0.1:{two}")),
        ],
        two,
    );
    let (pinned, fingerprint) = host_key(&w);
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    assert_eq!(scan(w.sftp_port), pinned, "replica one presents core's key");
    assert_eq!(scan(two), pinned, "replica two presents the same key");

    let one = Client::password(&w, &user);
    let other = Client::new(&w, two, &user, Login::Password(util::PASSWORD.into()));
    expect_code(
        &one.deliver(
            &dir,
            "bom_insert_20221001003000_1.json",
            &json(&rows("A", 2)),
        ),
        "0",
    );
    expect_code(
        &other.deliver(
            &dir,
            "bom_insert_20221001003000_2.json",
            &json(&rows("B", 2)),
        ),
        "0",
    );
    // Each replica lists what the other delivered: the state is core's.
    assert_eq!(one.names(&format!("{dir}/feedback")).len(), 2);

    // Replica one dies (SIGKILL) while a file is being written through it.
    let body = csv(&rows("K", 5000));
    let mut child = upload_in_flight(
        &one,
        &dir,
        "bom_all_20221001003000_3.csv",
        &body,
        Duration::from_millis(1200),
    );
    let _ = one_proc.child.kill();
    let _ = one_proc.child.wait();
    let status = child.wait().expect("sftp ends");
    drop(child);
    assert!(!status.success(), "the client saw its server die");
    assert_eq!(
        stored_keys(&w, &partner).len(),
        4,
        "nothing of the cut file applied"
    );
    // The partner sends it again through the replica still up: applied once, whole.
    expect_code(
        &other.deliver(&dir, "bom_all_20221001003000_3.csv", &body),
        "0",
    );
    assert_eq!(stored_keys(&w, &partner).len(), 5000);

    // Core restarts: the same host key.
    core.stop("core");
    let _core = w.start_core();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if other.logs_in() {
            break;
        }
        assert!(Instant::now() < deadline, "replica two works again");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(host_key(&w), (pinned.clone(), fingerprint));
    assert_eq!(scan(two), pinned);
}

/// Over its limit a user's connections are refused; an idle one is closed.
#[test]
fn sessions_per_user_are_bounded() {
    let (mut w, partner, user) = installation(Backend::Sqlite);
    w.extra_env
        .push(("WHARF_SFTP_MAX_SESSIONS_PER_USER".into(), "2".into()));
    let _server = w.serve();
    let c = Client::password(&w, &user);
    let hold = || {
        let mut child = c
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sftp");
        {
            let stdin = child.stdin.as_mut().expect("stdin");
            stdin.write_all(b"pwd\n").expect("pwd");
            stdin.flush().expect("flush");
        }
        // Logged in once `pwd` answered.
        let mut out = child.stdout.take().expect("stdout");
        let mut buf = [0u8; 64];
        use std::io::Read;
        let n = out.read(&mut buf).expect("read");
        assert!(n > 0, "logged in");
        (child, out)
    };
    let first = hold();
    let second = hold();
    assert!(!c.logs_in(), "a third session of the same user is refused");
    let other_user = add_user(&w, &partner);
    assert!(
        Client::password(&w, &other_user).logs_in(),
        "other users are not affected"
    );
    drop(first);
    let (mut child, _) = second;
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.logs_in() {
        assert!(
            Instant::now() < deadline,
            "a place is free again once a session ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A connection with no traffic for `WHARF_SFTP_IDLE_TIMEOUT_SECS` is closed by the server.
#[test]
fn an_idle_session_is_closed() {
    let (mut w, _partner, user) = installation(Backend::Sqlite);
    w.extra_env
        .push(("WHARF_SFTP_IDLE_TIMEOUT_SECS".into(), "2".into()));
    let _server = w.serve();
    let c = Client::password(&w, &user);
    let session = |idle: Duration| {
        let mut child = c
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sftp");

        let mut stdin = child.stdin.take().expect("stdin");
        // `ls` talks to the server; the client waits for its next command meanwhile.
        stdin.write_all(b"ls /\n").expect("ls");
        std::thread::sleep(idle);
        let _ = stdin.write_all(b"ls /\n");
        drop(stdin);
        let out = child.wait_with_output().expect("sftp ends");
        let listed = String::from_utf8_lossy(&out.stdout)
            .matches("/Planning")
            .count();
        (out.status.success(), listed)
    };
    assert_eq!(
        session(Duration::from_millis(200)),
        (true, 2),
        "a busy session lists twice"
    );
    let (ok, listed) = session(Duration::from_secs(4));
    assert!(
        !ok && listed == 1,
        "after 4 s idle the server had closed the session: ok={ok}, listed={listed}"
    );
}

/// A feedback folder of 2,000 files lists whole: more than one SFTP packet holds (OpenSSH's
/// client takes 256 KiB), so the server hands the listing out in parts.
#[test]
fn a_big_feedback_folder_lists_whole() {
    let (w, partner, user) = installation(Backend::Sqlite);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let c = Client::password(&w, &user);
    let local = c.dir.join("tiny.json");
    std::fs::write(&local, b"{}").expect("local");
    // Names that break the naming rule: each is answered (E00V00) without reading rows.
    let n = 2000;
    let script: String = (0..n)
        .map(|i| {
            format!(
                "put {} {dir}/bom_upsert_20221001003000_{i:05}.json\n",
                local.display()
            )
        })
        .collect();
    c.ok(&script);
    let listed = c.names(&format!("{dir}/feedback"));
    assert_eq!(listed.len(), n, "every feedback file listed");
    assert!(listed.iter().all(|l| l.ends_with(".json.result.json")));
}

/// A host key given to core as a file (a Kubernetes Secret, say) is the one every SFTP door
/// presents and `wharf sftp host-key` prints; a file that is not a usable key stops start-up.
#[test]
fn a_host_key_given_as_a_file_is_the_one_presented() {
    let (mut w, _partner, user) = installation(Backend::Sqlite);
    let dir = w.data_dir.join("secret");
    let key = keygen(&dir, "ed25519", None);
    let keygen_fingerprint = {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&key)
            .output()
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_string()
    };
    w.extra_env
        .push(("WHARF_SFTP_HOST_KEY_FILE".into(), key.display().to_string()));
    let (line, fingerprint) = host_key(&w);
    assert_eq!(fingerprint, keygen_fingerprint);
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).expect("pub");
    assert!(public.starts_with(&line), "{public} vs {line}");
    let _server = w.serve();
    assert_eq!(scan(w.sftp_port), line, "the door presents the given key");
    assert!(Client::password(&w, &user).logs_in());

    // Not a key: exit 64, naming the variable.
    std::fs::write(dir.join("bad"), "not a key").expect("bad key");
    w.extra_env.pop();
    w.extra_env.push((
        "WHARF_SFTP_HOST_KEY_FILE".into(),
        dir.join("bad").display().to_string(),
    ));
    let out = w.run(&["sftp", "host-key"], "");
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WHARF_SFTP_HOST_KEY_FILE"),
        "{out:?}"
    );
}
