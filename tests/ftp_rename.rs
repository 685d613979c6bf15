//! FTP delivery a partner can trust (issue: no half files): a file uploaded under a
//! temporary name is held, not read, and delivered once when renamed; an upload cut off
//! half-way (the data connection reset, ABOR, the control connection lost) applies nothing;
//! the one cut a plain STOR cannot see (a clean close half-way) is shown, and shown closed by
//! delivery by rename. Real binary, real clients (suppaftp, curl, Python's ftplib).

mod util;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use util::data::{bom_rows as rows, envelope, export, keys, sheet_csv as csv, sheet_xlsx as xlsx};
use util::ftp::{bom_dir, get_json, login, names, put, refused};
use util::{installation, Backend, Wharf, PASSWORD};

/// A file of `rows` in format `ext` for operation `op` (`insert` or `all`).
fn file(ext: &str, op: &str, serial: usize, rows: &[Value]) -> (String, Vec<u8>) {
    let name = format!("bom_{op}_20221001003000_{serial}.{ext}");
    let body = match ext {
        "csv" => csv(rows),
        "xlsx" => xlsx(rows),
        _ => envelope(&util::unique("R"), rows.len(), "1", rows.to_vec()).into_bytes(),
    };
    (name, body)
}

/// Seconds between now and an MDTM time as suppaftp prints it (`YYYY-MM-DD hh:mm:ss`, UTC).
fn chrono_free_age(when: &str) -> i64 {
    let n = |a: usize, b: usize| -> i64 { when[a..b].parse().expect("a number") };
    let days = wharf_proto::time::days_from_civil(n(0, 4), n(5, 7) as u32, n(8, 10) as u32);
    let then = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    (now - then).abs()
}

fn key_count(w: &Wharf, partner: &str) -> usize {
    export(w, partner, "t1/bom", None).len()
}

/// Every documented temporary name: listed with its size while held, nothing applied; the
/// rename delivers it once with its feedback; a rename onto a delivered name is answered as
/// a re-delivery; a held file can be deleted; one over the size limit is refused; curl's
/// upload-then-rename works as MFT tools do it.
fn delivery_by_rename(backend: Backend) {
    let (mut w, partner, user) = installation(backend);
    w.extra_env
        .push(("WHARF_FTP_MAX_FILE_BYTES".into(), "200000".into()));
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let mut ftp = login(&w, &user);
    ftp.cwd(&dir).expect("CWD");
    let forms = [
        |n: &str| format!("{n}.part"),
        |n: &str| format!("{n}.partial"),
        |n: &str| format!("{n}.filepart"),
        |n: &str| format!("{n}.TMP"),
        |n: &str| format!("{n}.upload"),
        |n: &str| format!(".in.{n}."),
    ];
    let mut applied = 0;
    for (i, temp_of) in forms.iter().enumerate() {
        let ext = ["json", "csv", "xlsx"][i % 3];
        let batch = rows(&format!("r{i}k"), 3);
        let (name, body) = file(ext, "insert", i + 1, &batch);
        let temp = temp_of(&name);
        put(&mut ftp, &temp, &body).unwrap_or_else(|e| panic!("STOR {temp}: {e:?}"));
        assert!(names(&mut ftp, &dir).contains(&temp), "{temp} is listed");
        assert_eq!(ftp.size(&temp).expect("SIZE"), body.len(), "{temp}");
        if i == 0 {
            // As FileZilla and WinSCP look at it: MDTM today, LIST with real dates, nothing
            // executable.
            let modified = ftp.mdtm(&temp).expect("MDTM");
            let age = chrono_free_age(&modified.to_string());
            assert!(age < 600, "MDTM {modified}: received just now");
            let list = ftp.list(None).expect("LIST");
            let held = list.iter().find(|l| l.ends_with(&temp)).expect("listed");
            assert!(held.starts_with("-rw-r--r--"), "{held}");
            let folder = list
                .iter()
                .find(|l| l.ends_with("feedback"))
                .expect("feedback/");
            assert!(folder.starts_with("drwxr-xr-x"), "{folder}");
            assert!(!folder.contains("1970"), "{folder}");
        }
        assert_eq!(
            key_count(&w, &partner),
            applied,
            "{temp}: nothing applied yet"
        );
        assert!(
            !names(&mut ftp, "feedback")
                .iter()
                .any(|f| f.starts_with(&name)),
            "{temp}: no feedback before the rename"
        );
        ftp.rename(&temp, &name)
            .unwrap_or_else(|e| panic!("RNFR {temp} RNTO {name}: {e:?}"));
        let fb = get_json(&mut ftp, &format!("feedback/{name}.result.json"));
        assert_eq!(fb["code"], "0", "{temp}: {fb}");
        applied += 3;
        assert_eq!(key_count(&w, &partner), applied, "{temp}: applied once");
        assert!(!names(&mut ftp, &dir).contains(&temp), "{temp} is gone");
        // Consumed, never listed, but an MFT tool checking its upload finds it: SIZE is the
        // bytes delivered, MDTM the time of delivery.
        assert!(
            !names(&mut ftp, &dir).contains(&name),
            "{name} is not listed"
        );
        assert_eq!(ftp.size(&name).expect("SIZE"), body.len(), "{name}");
        let delivered = ftp.mdtm(&name).expect("MDTM");
        assert!(chrono_free_age(&delivered.to_string()) < 600, "{delivered}");
    }
    refused(
        "SIZE of a name never delivered",
        ftp.size("bom_insert_20221001003000_99.json"),
    );

    // A rename onto a name already delivered: a re-delivery, nothing applied again.
    let (first, _) = file("json", "insert", 1, &[]);
    put(
        &mut ftp,
        "again.part",
        envelope("AGAIN", 1, "1", rows("again", 1)).as_bytes(),
    )
    .expect("STOR again.part");
    ftp.rename("again.part", &first)
        .expect("rename onto a delivered name");
    let fb = get_json(&mut ftp, &format!("feedback/{first}.result.json"));
    assert_eq!(fb["code"], "E00A00", "{fb}");
    assert_eq!(key_count(&w, &partner), applied);

    // A held file can be deleted; then there is nothing to rename.
    put(&mut ftp, "gone.csv.part", b"whatever").expect("STOR");
    ftp.rm("gone.csv.part").expect("DELE a held file");
    assert!(!names(&mut ftp, &dir).contains(&"gone.csv.part".to_string()));
    refused(
        "RNFR of a deleted held file",
        ftp.rename("gone.csv.part", "bom_insert_20221001003000_90.csv"),
    );
    // Delivered files are not renamed or deleted by name; a held file cannot become another
    // temporary name.
    put(&mut ftp, "held.json.part", b"{}").expect("STOR");
    refused(
        "RNTO a temporary name",
        ftp.rename("held.json.part", "other.part"),
    );
    refused(
        "DELE an upload name",
        ftp.rm("bom_insert_20221001003000_1.json"),
    );
    // Over the size limit: refused (552), not held.
    let code = refused(
        "a held file over the limit",
        put(&mut ftp, "big.csv.part", &vec![b'x'; 250_000]),
    );
    assert_eq!(code, 552);
    assert!(!names(&mut ftp, &dir).contains(&"big.csv.part".to_string()));
    let _ = ftp.quit();

    // curl as a scripted MFT client: upload under .part, rename after the transfer.
    let (name, body) = file("csv", "insert", 40, &rows("curl", 2));
    let path = w.data_dir.join("curl.csv");
    std::fs::write(&path, &body).expect("file");
    let out = Command::new("curl")
        .args(["-sS", "--ftp-pasv", "-T"])
        .arg(&path)
        .args(["-u", &format!("{user}:{PASSWORD}")])
        .args([
            "-Q",
            &format!("-RNFR {name}.part"),
            "-Q",
            &format!("-RNTO {name}"),
        ])
        .arg(format!("ftp://127.0.0.1:{}{dir}/{name}.part", w.ftp_port))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ftp = login(&w, &user);
    let fb = get_json(&mut ftp, &format!("{dir}/feedback/{name}.result.json"));
    assert_eq!(fb["code"], "0", "{fb}");
    assert_eq!(key_count(&w, &partner), applied + 2);
    let _ = ftp.quit();
}

#[test]
fn delivery_by_rename_sqlite() {
    delivery_by_rename(Backend::Sqlite);
}

#[test]
fn delivery_by_rename_postgres() {
    delivery_by_rename(Backend::Postgres);
}

/// Two sessions rename the same held file at the same moment: it is delivered once.
#[test]
fn two_sessions_renaming_one_file_deliver_it_once() {
    let (w, partner, user) = installation(Backend::Postgres);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let (name, body) = file("json", "insert", 7, &rows("twice", 4));
    let mut ftp = login(&w, &user);
    put(&mut ftp, &format!("{dir}/{name}.part"), &body).expect("STOR");
    let _ = ftp.quit();
    let renames: Vec<_> = (0..2)
        .map(|_| {
            let mut ftp = login(&w, &user);
            let (dir, name) = (dir.clone(), name.clone());
            std::thread::spawn(move || {
                ftp.cwd(&dir).expect("CWD");
                let r = ftp.rename(&format!("{name}.part"), &name);
                let _ = ftp.quit();
                r.is_ok()
            })
        })
        .collect();
    let ok = renames
        .into_iter()
        .map(|t| t.join().expect("rename thread"))
        .filter(|ok| *ok)
        .count();
    assert!(ok >= 1, "at least one rename succeeds");
    assert_eq!(key_count(&w, &partner), 4, "delivered once");
    let mut ftp = login(&w, &user);
    let fb = get_json(&mut ftp, &format!("{dir}/feedback/{name}.result.json"));
    // The feedback is the delivery's answer, or, when the second rename came last, the
    // re-delivery's, which names the first answer.
    let msg = fb["msg"].as_str().unwrap_or("");
    assert!(
        fb["code"] == "0" || (fb["code"] == "E00A00" && msg.contains("answered 0")),
        "{fb}"
    );
    let _ = ftp.quit();
}

/// Cut `body` off half-way as `name` with `mode` (tests/ftp/cutoff.py); the replies the
/// control connection got after the cut, joined by ` | `.
fn cut_off(w: &Wharf, user: &str, dir: &str, name: &str, body: &[u8], mode: &str) -> String {
    let path = w.data_dir.join(util::unique("cut"));
    std::fs::write(&path, body).expect("file");
    let mut child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ftp/cutoff.py"))
        .args([&w.ftp_port.to_string(), user, dir, name])
        .arg(&path)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("cutoff.py");
    assert!(
        out.status.success(),
        "cutoff.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Uploads cut off half-way, for .csv, .xlsx and .json, insert and all: the data connection
/// reset, ABOR, the control connection lost: nothing applied, the data as it was, no
/// feedback, and an FTP error where the connection still takes one.
fn cut_off_uploads_apply_nothing(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    // What the partner has: 20 rows an `all` cut off would wrongly replace.
    let mut ftp = login(&w, &user);
    let (seed, body) = file("json", "insert", 1, &rows("seed", 20));
    put(&mut ftp, &format!("{dir}/{seed}"), &body).expect("STOR the seed");
    let _ = ftp.quit();
    let before = keys(&export(&w, &partner, "t1/bom", None));
    assert_eq!(before.len(), 20);
    let mut serial = 100;
    for ext in ["csv", "xlsx", "json"] {
        for op in ["insert", "all"] {
            for mode in ["rst", "abor", "control"] {
                serial += 1;
                let (name, body) = file(ext, op, serial, &rows(&format!("c{serial}k"), 2000));
                let reply = cut_off(&w, &user, &dir, &name, &body, mode);
                // Where the control connection is still there, it is never told the file was
                // written: an error reply for the STOR (or, after ABOR, the ABOR's 226
                // "Closed data channel"), when libunftp gets it out before the session ends.
                assert!(
                    !reply.contains("File successfully written"),
                    "{name} {mode}: {reply}"
                );
                if let Some(r) = reply.split(" | ").find(|r| r.starts_with("226")) {
                    assert!(
                        mode == "abor" && r.contains("Closed data channel"),
                        "{name} {mode}: {reply}"
                    );
                }
                // Let a wrongly finished upload land before looking.
                std::thread::sleep(Duration::from_millis(200));
                let now = keys(&export(&w, &partner, "t1/bom", None));
                assert!(
                    now == before,
                    "{name} cut off by {mode} ({reply}): nothing applied, but {} rows are \
                     there now (before: {})",
                    now.len(),
                    before.len()
                );
                let mut ftp = login(&w, &user);
                let fb = names(&mut ftp, &format!("{dir}/feedback"));
                assert!(
                    !fb.iter().any(|f| f.starts_with(&name)),
                    "{name} {mode}: no feedback: {fb:?}"
                );
                let _ = ftp.quit();
            }
        }
    }
}

#[test]
fn cut_off_uploads_apply_nothing_sqlite() {
    cut_off_uploads_apply_nothing(Backend::Sqlite);
}

#[test]
fn cut_off_uploads_apply_nothing_postgres() {
    cut_off_uploads_apply_nothing(Backend::Postgres);
}

/// The cut stream-mode FTP cannot see: a CSV closed cleanly half-way under its delivery name
/// is a whole (shorter) file to the server, and applied. Under a temporary name the same cut
/// leaves a held file that is never delivered: delivery by rename closes the hole.
#[test]
fn a_clean_close_half_way_is_seen_only_with_delivery_by_rename() {
    let (w, partner, user) = installation(Backend::Sqlite);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let (name, body) = file("csv", "insert", 1, &rows("fin", 2000));
    let reply = cut_off(&w, &user, &dir, &name, &body, "fin");
    assert!(
        reply.starts_with("226"),
        "the server saw a whole file: {reply}"
    );
    let applied = key_count(&w, &partner);
    assert!(
        applied > 0 && applied < 2000,
        "the documented limit: part of the file applied ({applied} rows)"
    );
    let (name, body) = file("csv", "insert", 2, &rows("held", 2000));
    let temp = format!("{name}.filepart");
    let reply = cut_off(&w, &user, &dir, &temp, &body, "fin");
    assert!(reply.starts_with("226"), "{reply}");
    assert_eq!(key_count(&w, &partner), applied, "held, not applied");
    let mut ftp = login(&w, &user);
    ftp.cwd(&dir).expect("CWD");
    assert!(
        names(&mut ftp, &dir).contains(&temp),
        "the cut file is held"
    );
    assert!(
        !names(&mut ftp, "feedback")
            .iter()
            .any(|f| f.starts_with(&name)),
        "and never delivered"
    );
    let _ = ftp.quit();
}
