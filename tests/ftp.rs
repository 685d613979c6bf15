//! End to end over FTP: the real `wharf serve`, used with a real FTP client (suppaftp, passive
//! mode) and curl for FTPS, as a partner would use it (SPEC §4-§6, seed 001), against the
//! embedded SQLite store and a real PostgreSQL. One server per test.

mod util;

use serde_json::Value;
use suppaftp::FtpStream;
use util::data::{
    bom_row, bom_row_with, envelope, expect_code, export, keys, problem, problems, row_of,
    seed_002_stored, BOM_FIELDS, SEED_002,
};
use util::ftp::{bom_dir, connect, deliver, get_json, login, names, put, refused, reply_code};
use util::http::curl;
use util::{
    add_partner, add_partner_and_user, add_user, installation, make_cert, Backend, KeyType, Wharf,
    PASSWORD,
};

// ---------------------------------------------------------------------------------------------
// curl (the HTTP API for comparison, and FTPS)

#[track_caller]
fn curl_ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = curl(args, stdin);
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// POST a JSON body to the HTTP API's t1/bom with HTTP Basic; returns the answer.
fn http_post_bom(w: &Wharf, user: &str, body: &str) -> Value {
    let url = format!("{}/v1.0/scc/data/sync/t1/bom", w.http_url());
    let auth = format!("{user}:{PASSWORD}");
    let out = curl_ok(
        &[
            "-X",
            "POST",
            "-u",
            &auth,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            &url,
        ],
        Some(body.as_bytes()),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("HTTP answer is not JSON ({e}): {out}"))
}

// ---------------------------------------------------------------------------------------------
// scenarios

/// Logins (wrong password, unknown user, anonymous refused), the virtual tree and the
/// interfaces a partner may use.
fn login_and_tree(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let limited = add_partner(&w, Some("odm/master_data"));
    let limited_user = add_user(&w, &limited);
    let _server = w.serve();

    for (what, name, password) in [
        ("a wrong password", user.as_str(), "wrong-password"),
        ("an unknown user", "nobody-here", PASSWORD),
        ("anonymous", "anonymous", "guest@example.com"),
        ("anonymous, empty password", "anonymous", ""),
    ] {
        let mut ftp = connect(&w);
        let code = reply_code(ftp.login(name, password));
        assert_eq!(code, 530, "{what} is refused with 530");
        // Not logged in: nothing can be read.
        let code = reply_code(ftp.pwd());
        assert_eq!(code, 530, "{what}: PWD before a login");
    }

    let mut ftp = login(&w, &user);
    assert_eq!(ftp.pwd().unwrap(), "/");
    let lines = ftp.list(None).expect("LIST /");
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().last() == Some("Planning")),
        "LIST / shows Planning: {lines:?}"
    );
    assert_eq!(names(&mut ftp, "/"), ["Planning"]);
    for dir in ["Planning", "SCC", partner.as_str(), "t1", "bom"] {
        ftp.cwd(dir)
            .unwrap_or_else(|e| panic!("CWD {dir} (relative): {e:?}"));
    }
    assert_eq!(ftp.pwd().unwrap(), bom_dir(&partner));
    assert_eq!(
        names(&mut ftp, "."),
        ["feedback"],
        "the folder holds feedback only"
    );
    let lines = ftp.list(None).expect("LIST bom");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with('d') && lines[0].ends_with(" feedback"),
        "{lines:?}"
    );
    assert!(
        names(&mut ftp, "feedback").is_empty(),
        "nothing delivered yet"
    );
    ftp.cwd("feedback").expect("CWD feedback");
    ftp.cwd("/").expect("CWD /");
    ftp.cwd(bom_dir(&partner)).expect("CWD absolute");
    let _ = ftp.quit();

    // A partner limited to odm/master_data sees odm only and cannot enter t1.
    let mut ftp = login(&w, &limited_user);
    assert_eq!(
        names(&mut ftp, &format!("/Planning/SCC/{limited}")),
        ["odm"]
    );
    assert_eq!(
        names(&mut ftp, &format!("/Planning/SCC/{limited}/odm")),
        ["master_data"]
    );
    refused(
        "CWD t1 of a limited partner",
        ftp.cwd(format!("/Planning/SCC/{limited}/t1")),
    );
    refused(
        "CWD t1/bom of a limited partner",
        ftp.cwd(bom_dir(&limited)),
    );
    let r = put(
        &mut ftp,
        &format!("{}/bom_insert_20221001003000_1.json", bom_dir(&limited)),
        SEED_002.as_bytes(),
    );
    refused("STOR into t1/bom of a limited partner", r);
    ftp.cwd(format!("/Planning/SCC/{limited}/odm/master_data"))
        .expect("CWD odm/master_data");
    assert_eq!(names(&mut ftp, "."), ["feedback"]);
    let _ = ftp.quit();
    assert!(export(&w, &partner, "t1/bom", None).is_empty());
}

/// Seed 002's example as a `.json` file and without an extension.
fn seed_json(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let (lcfc, lcfc_user) = add_partner_and_user(&w);
    let _server = w.serve();
    let dir = bom_dir(&partner);

    let mut ftp = login(&w, &user);
    ftp.cwd(&dir).expect("CWD bom");
    let name = "bom_insert_20221001003000_001.json";
    let fb = deliver(&mut ftp, &dir, name, SEED_002.as_bytes());
    expect_code(&fb, "0");
    assert!(fb.get("result").is_none(), "no result on success: {fb}");
    // Relative names from the working directory reach the same file.
    let again = get_json(&mut ftp, &format!("feedback/{name}.result.json"));
    assert_eq!(again, fb);
    // The upload itself is consumed: the folder still lists only `feedback`.
    assert_eq!(names(&mut ftp, "."), ["feedback"]);
    assert_eq!(names(&mut ftp, "feedback"), [format!("{name}.result.json")]);
    let size = ftp
        .size(format!("feedback/{name}.result.json"))
        .expect("SIZE of a feedback file");
    let body = ftp
        .retr_as_buffer(&format!("feedback/{name}.result.json"))
        .unwrap()
        .into_inner();
    assert_eq!(size, body.len(), "SIZE matches the bytes sent");

    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(
        rows,
        [seed_002_stored()],
        "the seed row, decimals as sent, defaults filled in"
    );

    // The same body under another name: a new file, but batch 100055 sequence 1 was consumed.
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_002",
        SEED_002.as_bytes(),
    );
    expect_code(&fb, "E00A00");
    assert_eq!(export(&w, &partner, "t1/bom", None).len(), 1);
    let _ = ftp.quit();

    // Seed 002's own example path, no extension (the default is the JSON envelope).
    let mut ftp = login(&w, &lcfc_user);
    let dir = bom_dir(&lcfc);
    ftp.cwd(&dir).expect("CWD bom");
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_update_20220928123000_001",
        SEED_002.as_bytes(),
    );
    expect_code(&fb, "0");
    let rows = export(&w, &lcfc, "t1/bom", None);
    assert_eq!(keys(&rows), ["ee"]);
    assert_eq!(rows[0]["quantity_per"], "10.1");
    let _ = ftp.quit();
}

/// Invalid rows: the same `result` as the HTTP API gives for the same body.
fn invalid_content(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let rows = || {
        vec![
            bom_row_with("v0", &[("quantity_per", "12345678901.1")]),
            bom_row_with("v1", &[("effective_start_date", "2022-02-29")]),
            bom_row("v2"),
        ]
    };

    let mut ftp = login(&w, &user);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_3.json",
        envelope("FTP-V", 3, "1", rows()).as_bytes(),
    );
    expect_code(&fb, "E00V00");
    assert_eq!(
        problems(&fb),
        [
            problem(Some(0), "number precision exceed", "quantity_per"),
            problem(Some(1), "invalid date", "effective_start_date"),
        ],
        "{fb}"
    );
    assert_eq!(fb["result"][0]["row"]["quantity_per"], "12345678901.1");
    assert_eq!(fb["result"][1]["row"]["effective_start_date"], "2022-02-29");
    let _ = ftp.quit();

    let api = http_post_bom(&w, &user, &envelope("HTTP-V", 3, "1", rows()));
    expect_code(&api, "E00V00");
    assert_eq!(
        api["result"], fb["result"],
        "the same rows, types and fields on both transports"
    );
    assert!(
        export(&w, &partner, "t1/bom", None).is_empty(),
        "nothing of a failing sequence"
    );
}

/// Names that break the rule: a feedback file with E00V00 on `file name`, nothing read.
fn malformed_names(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let body = envelope("NAMES", 1, "1", vec![bom_row("n")]);

    let mut ftp = login(&w, &user);
    ftp.cwd(&dir).expect("CWD bom");
    let bad = [
        "item_insert_20221001003000_1.json",
        "bom_upsert_20221001003000_1",
        "bom_insert_2022_1",
        "bom_insert_20221001003000_1.txt",
    ];
    for name in bad {
        let fb = deliver(&mut ftp, &dir, name, body.as_bytes());
        expect_code(&fb, "E00V00");
        assert_eq!(
            problems(&fb),
            [problem(None, "value not allowed", "file name")],
            "{name}: {fb}"
        );
        assert!(fb["result"][0].get("row").is_none(), "{name}: {fb}");
    }
    let mut want: Vec<String> = bad.iter().map(|n| format!("{n}.result.json")).collect();
    want.sort();
    assert_eq!(names(&mut ftp, "feedback"), want);
    assert!(
        export(&w, &partner, "t1/bom", None).is_empty(),
        "nothing imported"
    );

    // The body was never read: under a good name the same batch is still new.
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_1.json",
        body.as_bytes(),
    );
    expect_code(&fb, "0");
    assert_eq!(keys(&export(&w, &partner, "t1/bom", None)), ["n"]);
    let _ = ftp.quit();
}

/// Names no store can key a feedback file by (NUL, 3,900 characters: a longer one does not fit
/// a command line, see tests/ftp_gate.rs; CR is core's test, as an FTP client cannot send it
/// in a command): a permanent 553
/// reply (core's E00V00 on "file name", kept nowhere), never a transient 451 retried forever;
/// nothing read, nothing listed, and the server keeps serving.
fn unstorable_names(backend: Backend) {
    let w = Wharf::new(backend);
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let body = envelope("UNSTORABLE", 1, "1", vec![bom_row("u")]);

    let mut ftp = login(&w, &user);
    let long = format!("bom_insert_20221001003000_{}", "1".repeat(3_900));
    for name in ["bom_insert_20221001003000_1\0.json", long.as_str()] {
        let code = reply_code(put(&mut ftp, &format!("{dir}/{name}"), body.as_bytes()));
        assert_eq!(code, 553, "{name:.40?}: want 553 file name not allowed");
    }
    assert!(names(&mut ftp, &format!("{dir}/feedback")).is_empty());
    assert!(
        export(&w, &partner, "t1/bom", None).is_empty(),
        "nothing read"
    );
    // The session is still good: a proper name is delivered and answered.
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_1.json",
        body.as_bytes(),
    );
    expect_code(&fb, "0");
    let _ = ftp.quit();
}

/// The same name delivered twice: E00A00, nothing applied twice.
fn duplicate_name(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let name = "bom_insert_20221001003000_5.json";

    let mut ftp = login(&w, &user);
    let body = envelope("DUP", 2, "1", vec![bom_row("d1"), bom_row("d2")]);
    let fb = deliver(&mut ftp, &dir, name, body.as_bytes());
    expect_code(&fb, "0");
    assert_eq!(keys(&export(&w, &partner, "t1/bom", None)), ["d1", "d2"]);

    // Sent again (even with another batch in it): not read, answered "already delivered".
    let body = envelope("DUP-2", 1, "1", vec![bom_row("d3")]);
    let fb = deliver(&mut ftp, &dir, name, body.as_bytes());
    expect_code(&fb, "E00A00");
    assert_eq!(
        names(&mut ftp, &format!("{dir}/feedback")),
        [format!("{name}.result.json")],
        "one feedback file per name"
    );
    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(keys(&rows), ["d1", "d2"], "export unchanged: {rows:?}");
    let _ = ftp.quit();
}

/// 5,000 rows per file is the FTP limit (SPEC §4); 5,001 is an envelope error.
fn seq_size_limit(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let rows = |n: usize| {
        (0..n)
            .map(|i| bom_row(&format!("k{i:05}")))
            .collect::<Vec<_>>()
    };

    let mut ftp = login(&w, &user);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_50.json",
        envelope("BIG-5000", 5000, "1", rows(5000)).as_bytes(),
    );
    expect_code(&fb, "0");
    let exported = export(&w, &partner, "t1/bom", None);
    assert_eq!(exported.len(), 5000);
    assert_eq!(keys(&exported)[4999], "k04999");

    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_51.json",
        envelope("BIG-5001", 5001, "1", rows(5001)).as_bytes(),
    );
    expect_code(&fb, "E00V00");
    let p = problems(&fb);
    assert!(
        p.contains(&problem(None, "value not allowed", "seq_size")),
        "an envelope problem on seq_size, without an index: {p:?}"
    );
    assert_eq!(export(&w, &partner, "t1/bom", None).len(), 5000);
    let _ = ftp.quit();
}

/// crud `all`: the partner's whole set is replaced by the file's rows.
fn crud_all(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);

    let mut ftp = login(&w, &user);
    let body = envelope(
        "ALL-1",
        3,
        "1",
        vec![bom_row("a1"), bom_row("a2"), bom_row("a3")],
    );
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_1.json",
        body.as_bytes(),
    );
    expect_code(&fb, "0");
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["a1", "a2", "a3"]
    );

    let body = envelope(
        "ALL-2",
        1,
        "1",
        vec![bom_row_with("z", &[("owner", "ftp")])],
    );
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_all_20221001003100_2.json",
        body.as_bytes(),
    );
    expect_code(&fb, "0");
    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(keys(&rows), ["z"], "all replaces the whole set");
    assert_eq!(row_of(&rows, "z")["owner"], "ftp");
    let _ = ftp.quit();
}

/// Traversal, other partners' folders, writes outside an interface folder, mkdir/rename/rmdir:
/// all refused; feedback files can be deleted once.
fn hostile_paths(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let (other, other_user) = add_partner_and_user(&w);
    let _server = w.serve();
    let dir = bom_dir(&partner);
    let good = envelope("HOST", 1, "1", vec![bom_row("h")]);

    // The other partner delivers a file: its feedback must stay out of reach.
    let mut theirs = login(&w, &other_user);
    let secret_name = "bom_insert_20221001003000_8.json";
    let fb = deliver(&mut theirs, &bom_dir(&other), secret_name, good.as_bytes());
    expect_code(&fb, "0");
    let _ = theirs.quit();

    // libunftp echoes the working directory as the client spelled it ("/.." after CWD ..
    // at the root); every path is resolved with `..` applied and never above `/`, so what
    // PWD names, resolved the same way, must be the expected directory. Deviations are
    // collected and reported at the end, so that the checks after them still run.
    let mut defects: Vec<String> = Vec::new();
    let mut pwd_is = |ftp: &mut FtpStream, after: &str, want: &str| {
        let at = pwd_of(ftp);
        let resolved = resolved(&at);
        if resolved != want {
            defects.push(format!(
                "after {after}, PWD answers {at:?} (= {resolved:?}), want {want:?}"
            ));
        }
    };
    let mut ftp = login(&w, &user);
    ftp.cwd("..").expect("CWD .. at / is harmless");
    pwd_is(&mut ftp, "CWD .. from /", "/");
    assert_eq!(
        names(&mut ftp, "."),
        ["Planning"],
        "after CWD .. from /, the working directory is still the root"
    );
    ftp.cwd("/").expect("CWD /");
    ftp.cdup().expect("CDUP at / is harmless");
    pwd_is(&mut ftp, "CDUP from /", "/");
    ftp.cwd("/").expect("CWD /");
    ftp.cwd(format!("{dir}/../../.."))
        .expect("CWD up inside the tree");
    pwd_is(&mut ftp, &format!("CWD {dir}/../../.."), "/Planning/SCC");
    ftp.cwd("/").expect("CWD /");
    assert_eq!(names(&mut ftp, "."), ["Planning"], "still the virtual root");
    assert_eq!(names(&mut ftp, "../../.."), ["Planning"], "never above it");

    refused("CWD /etc", ftp.cwd("/etc"));
    refused("CWD ../../etc", ftp.cwd("../../etc"));
    for path in [
        "../../../etc/passwd",
        "/etc/passwd",
        "/../../etc/passwd",
        "etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
    ] {
        refused(&format!("RETR {path}"), ftp.retr_as_buffer(path));
    }
    pwd_is(&mut ftp, "refused commands at /", "/");

    // Another partner's folder does not exist for this user, by any spelling.
    let their_dir = bom_dir(&other);
    refused("CWD /Planning/SCC/OTHER", ftp.cwd("/Planning/SCC/OTHER"));
    refused(
        "CWD other partner",
        ftp.cwd(format!("/Planning/SCC/{other}")),
    );
    refused("CWD other partner's bom", ftp.cwd(&their_dir));
    refused(
        "CWD other partner via ..",
        ftp.cwd(format!("{dir}/../../../{other}/t1/bom")),
    );
    refused(
        "RETR other partner's feedback",
        ftp.retr_as_buffer(&format!("{their_dir}/feedback/{secret_name}.result.json")),
    );
    refused(
        "RETR other partner's feedback via ..",
        ftp.retr_as_buffer(&format!(
            "{dir}/../../../{other}/t1/bom/feedback/{secret_name}.result.json"
        )),
    );
    refused(
        "NLST other partner's feedback",
        ftp.nlst(Some(&format!("{their_dir}/feedback"))),
    );
    refused(
        "DELE other partner's feedback",
        ftp.rm(format!("{their_dir}/feedback/{secret_name}.result.json")),
    );
    assert_eq!(
        names(&mut ftp, "/Planning/SCC"),
        [partner.as_str()],
        "only this partner's folder is visible"
    );

    // Percent-encoded dots are names, not `..`.
    ftp.cwd(&dir).expect("CWD bom");
    refused("CWD %2e%2e", ftp.cwd("%2e%2e"));
    refused("CWD %2e%2e/%2e%2e", ftp.cwd("%2e%2e/%2e%2e"));
    refused(
        "CWD bom/%2e%2e/%2e%2e",
        ftp.cwd(format!("{dir}/%2e%2e/%2e%2e")),
    );
    refused(
        "RETR %2e%2e feedback",
        ftp.retr_as_buffer("%2e%2e/feedback/x.result.json"),
    );
    pwd_is(&mut ftp, "refused commands in bom", &dir);

    // Writes outside an interface folder.
    let name = "bom_insert_20221001003000_1.json";
    for target in [
        format!("/{name}"),
        format!("/Planning/SCC/{partner}/{name}"),
        format!("/Planning/SCC/{partner}/t1/{name}"),
        format!("{dir}/feedback/{name}"),
        format!("{dir}/feedback/{name}.result.json"),
        format!("{their_dir}/{name}"),
        format!("{dir}/../../../{other}/t1/bom/{name}"),
        format!("/etc/{name}"),
        format!("{dir}/sub/{name}"),
    ] {
        refused(
            &format!("STOR {target}"),
            put(&mut ftp, &target, good.as_bytes()),
        );
    }
    assert!(
        names(&mut ftp, "feedback").is_empty(),
        "no refused write left feedback"
    );
    assert!(
        export(&w, &partner, "t1/bom", None).is_empty(),
        "no refused write was read"
    );
    assert_eq!(
        keys(&export(&w, &other, "t1/bom", None)),
        ["h"],
        "the other partner is untouched"
    );

    // The layout is fixed.
    refused("MKD", ftp.mkdir("new"));
    refused("MKD absolute", ftp.mkdir(format!("{dir}/feedback/new")));
    refused("RMD feedback", ftp.rmdir("feedback"));
    refused("RMD bom", ftp.rmdir(&dir));

    // A real delivery, then its feedback: not renamable, deletable exactly once.
    let fb = deliver(&mut ftp, &dir, name, good.as_bytes());
    expect_code(&fb, "0");
    let feedback = format!("feedback/{name}.result.json");
    refused(
        "RNFR/RNTO a feedback file",
        ftp.rename(feedback.as_str(), "feedback/renamed.result.json"),
    );
    refused("RNFR/RNTO feedback folder", ftp.rename("feedback", "fb2"));
    ftp.rm(&feedback).expect("DELE a feedback file");
    assert!(names(&mut ftp, "feedback").is_empty(), "deleted");
    refused("DELE twice", ftp.rm(&feedback));
    refused("RETR a deleted feedback", ftp.retr_as_buffer(&feedback));
    refused("DELE the feedback folder", ftp.rm("feedback"));
    refused("DELE the upload folder", ftp.rm(&dir));
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["h"],
        "deleting feedback keeps the data"
    );
    let _ = ftp.quit();
    assert!(
        defects.is_empty(),
        "PWD leaves the virtual tree's spelling:\n{}",
        defects.join("\n")
    );
}

fn pwd_of(ftp: &mut FtpStream) -> String {
    ftp.pwd().expect("PWD")
}

/// An absolute path with `.` and `..` applied, never above `/`.
fn resolved(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A CSV sheet of t1/bom rows: a header row of field names, then one line per row.
fn sheet(rows: &[Value]) -> String {
    let mut csv = BOM_FIELDS.join(",");
    csv.push_str("\r\n");
    for row in rows {
        let cells: Vec<&str> = BOM_FIELDS
            .iter()
            .map(|f| row[*f].as_str().expect("text"))
            .collect();
        csv.push_str(&cells.join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// A CSV file: header row = field names, the whole file one batch.
fn csv_upload(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let dir = bom_dir(&partner);

    let csv = sheet(&[bom_row("c1"), bom_row("c2")]);

    let mut ftp = login(&w, &user);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_7.csv",
        csv.as_bytes(),
    );
    expect_code(&fb, "0");
    let rows = export(&w, &partner, "t1/bom", None);
    assert_eq!(keys(&rows), ["c1", "c2"]);
    assert_eq!(row_of(&rows, "c2")["quantity_per"], "10.1");
    assert_eq!(row_of(&rows, "c2")["effective_end_date"], "2022-09-14");

    // An invalid cell: E00V00 naming the row and the field, nothing imported.
    let bad = sheet(&[
        bom_row("c3"),
        bom_row_with("c4", &[("effective_end_date", "2022-02-30")]),
    ]);
    let fb = deliver(
        &mut ftp,
        &dir,
        "bom_insert_20221001003000_8.csv",
        bad.as_bytes(),
    );
    expect_code(&fb, "E00V00");
    assert_eq!(
        problems(&fb),
        [problem(Some(1), "invalid date", "effective_end_date")],
        "{fb}"
    );
    assert_eq!(fb["result"][0]["row"]["effective_end_date"], "2022-02-30");
    assert_eq!(
        fb["result"][0]["line"], 3,
        "the spreadsheet row (header = 1) is named beside the index: {fb}"
    );
    assert_eq!(keys(&export(&w, &partner, "t1/bom", None)), ["c1", "c2"]);
    let _ = ftp.quit();
}

/// FTPS (explicit, AUTH TLS) with curl; with WHARF_FTP_REQUIRE_TLS plain logins are refused.
fn ftps(backend: Backend, require: bool) {
    let mut w = Wharf::new(backend);
    let (cert, key) = make_cert(&w, KeyType::Ec);
    w.extra_env = vec![
        ("WHARF_TLS_CERT".into(), cert.clone()),
        ("WHARF_TLS_KEY".into(), key),
    ];
    if require {
        w.extra_env
            .push(("WHARF_FTP_REQUIRE_TLS".into(), "true".into()));
    }
    let (partner, user) = add_partner_and_user(&w);
    let _server = w.serve();
    let base = format!("ftp://127.0.0.1:{}{}", w.ftp_port, bom_dir(&partner));
    let auth = format!("{user}:{PASSWORD}");
    let tls = ["--ssl-reqd", "--cacert", cert.as_str(), "-u", auth.as_str()];
    let ctx = if require {
        "TLS required"
    } else {
        "TLS offered"
    };

    let listing = curl_ok(&[&tls[..], &[&format!("{base}/")]].concat(), None);
    assert_eq!(
        listing.lines().filter(|l| !l.is_empty()).count(),
        1,
        "{ctx}: {listing}"
    );
    assert!(listing.trim_end().ends_with("feedback"), "{ctx}: {listing}");

    let name = format!(
        "bom_insert_20221001003000_{}.json",
        if require { 10 } else { 9 }
    );
    let file = w.data_dir.join(&name);
    std::fs::write(&file, envelope("FTPS", 1, "1", vec![bom_row("tls")])).unwrap();
    let file = file.display().to_string();
    curl_ok(
        &[&tls[..], &["-T", file.as_str(), &format!("{base}/{name}")]].concat(),
        None,
    );
    let fb = curl_ok(
        &[&tls[..], &[&format!("{base}/feedback/{name}.result.json")]].concat(),
        None,
    );
    let fb: Value =
        serde_json::from_str(&fb).unwrap_or_else(|e| panic!("{ctx}: not JSON ({e}): {fb}"));
    expect_code(&fb, "0");
    assert_eq!(
        keys(&export(&w, &partner, "t1/bom", None)),
        ["tls"],
        "{ctx}"
    );

    // A wrong password over TLS is still refused.
    let bad = format!("{user}:wrong-password");
    let out = curl(
        &[
            "--ssl-reqd",
            "--cacert",
            &cert,
            "-u",
            &bad,
            &format!("{base}/"),
        ],
        None,
    );
    assert!(!out.status.success(), "{ctx}: a wrong password over FTPS");

    // Plain FTP.
    let mut ftp = connect(&w);
    let r = ftp.login(user.as_str(), PASSWORD);
    if require {
        let code = reply_code(r);
        assert!(
            (500..600).contains(&code),
            "{ctx}: a plain login is refused, got {code}"
        );
        let code = reply_code(ftp.pwd());
        assert!(
            (500..600).contains(&code),
            "{ctx}: not logged in, got {code}"
        );
    } else {
        r.unwrap_or_else(|e| panic!("{ctx}: plain FTP still works when not required: {e:?}"));
    }
    let _ = ftp.quit();
}

// ---------------------------------------------------------------------------------------------
// tests

#[test]
fn login_and_tree_sqlite() {
    login_and_tree(Backend::Sqlite);
}

#[test]
fn login_and_tree_postgres() {
    login_and_tree(Backend::Postgres);
}

#[test]
fn seed_json_sqlite() {
    seed_json(Backend::Sqlite);
}

#[test]
fn seed_json_postgres() {
    seed_json(Backend::Postgres);
}

#[test]
fn invalid_content_sqlite() {
    invalid_content(Backend::Sqlite);
}

#[test]
fn invalid_content_postgres() {
    invalid_content(Backend::Postgres);
}

#[test]
fn malformed_names_sqlite() {
    malformed_names(Backend::Sqlite);
}

#[test]
fn malformed_names_postgres() {
    malformed_names(Backend::Postgres);
}

#[test]
fn unstorable_names_sqlite() {
    unstorable_names(Backend::Sqlite);
}

#[test]
fn unstorable_names_postgres() {
    unstorable_names(Backend::Postgres);
}

#[test]
fn duplicate_name_sqlite() {
    duplicate_name(Backend::Sqlite);
}

#[test]
fn duplicate_name_postgres() {
    duplicate_name(Backend::Postgres);
}

#[test]
fn seq_size_limit_sqlite() {
    seq_size_limit(Backend::Sqlite);
}

#[test]
fn seq_size_limit_postgres() {
    seq_size_limit(Backend::Postgres);
}

#[test]
fn crud_all_sqlite() {
    crud_all(Backend::Sqlite);
}

#[test]
fn crud_all_postgres() {
    crud_all(Backend::Postgres);
}

#[test]
fn hostile_paths_sqlite() {
    hostile_paths(Backend::Sqlite);
}

#[test]
fn hostile_paths_postgres() {
    hostile_paths(Backend::Postgres);
}

#[test]
fn csv_upload_sqlite() {
    csv_upload(Backend::Sqlite);
}

#[test]
fn csv_upload_postgres() {
    csv_upload(Backend::Postgres);
}

#[test]
fn ftps_sqlite() {
    ftps(Backend::Sqlite, false);
}

#[test]
fn ftps_postgres() {
    ftps(Backend::Postgres, false);
}

#[test]
fn ftps_required_sqlite() {
    ftps(Backend::Sqlite, true);
}

#[test]
fn ftps_required_postgres() {
    ftps(Backend::Postgres, true);
}
