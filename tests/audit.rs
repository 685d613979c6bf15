//! The audit trail through the real binary, on SQLite and PostgreSQL: a batch over HTTP, a
//! file over FTP and an operator's revert and key change each leave their records, read with
//! `wharf audit list` (table and JSON, filters), kept across a restart, and no secret the
//! test used is anywhere in them.

mod util;

use serde_json::Value;
use util::data::{bom_rows, envelope};
use util::ftp::{bom_dir, deliver, login};
use util::http::{send, Auth};
use util::{installation, Backend, PASSWORD, SECRET};

fn actions(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect()
}

fn the_trail(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let mut server = w.serve();
    // A batch over HTTP, with a user's Basic credentials.
    let url = format!("{}/v1.0/scc/data/sync/t1/bom", w.http_url());
    let body = envelope("AUD1", 2, "1", bom_rows("a", 2));
    send("POST", &url, &Auth::Basic(&user, PASSWORD), &body).expect(200, "0");
    // A file over FTP.
    let mut ftp = login(&w, &user);
    let file = "bom_insert_20221001003000_001.json";
    let answer = deliver(
        &mut ftp,
        &bom_dir(&partner),
        file,
        envelope("AUD2", 1, "1", bom_rows("b", 1)).as_bytes(),
    );
    assert_eq!(answer["code"], "0", "{answer}");
    drop(ftp);
    // An operator reverts the first batch.
    w.ok(
        &[
            "batch",
            "revert",
            "AUD1",
            "--partner",
            &partner,
            "--as",
            "cli:ops",
        ],
        "",
    );
    server.stop("wharf serve");

    // Kept across a restart, and read while the server runs.
    let _server = w.serve();
    let records = w.audit(&["--partner", &partner]);
    let batch: Vec<&Value> = records.iter().filter(|r| r["kind"] == "batch").collect();
    let seen: Vec<(&str, &str)> = batch
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["detail"]["batch_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("batch.received", "AUD1"),
            ("batch.applied", "AUD1"),
            ("batch.received", "AUD2"),
            ("batch.applied", "AUD2"),
            ("batch.reverted", "AUD1"),
        ],
        "{records:#?}"
    );
    assert_eq!(
        (batch[0]["door"].as_str(), batch[0]["user"].as_str()),
        (Some("http"), Some(user.as_str()))
    );
    assert_eq!(batch[2]["door"], "ftp");
    assert_eq!(
        (batch[4]["actor"].as_str(), batch[4]["door"].as_str()),
        (Some("cli:ops"), Some("cli"))
    );
    let files: Vec<&Value> = records.iter().filter(|r| r["kind"] == "file").collect();
    assert_eq!(files.len(), 1, "{records:#?}");
    assert_eq!(
        (
            files[0]["action"].as_str(),
            files[0]["detail"]["name"].as_str(),
            files[0]["detail"]["code"].as_str()
        ),
        (Some("file.delivered"), Some(file), Some("0"))
    );
    // Ids grow, times are real.
    let ids: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Filters: kind, a cursor, a limit, times.
    assert_eq!(
        actions(&w.audit(&["--partner", &partner, "--kind", "file"])),
        ["file.delivered"]
    );
    let after = ids[1].to_string();
    assert_eq!(
        w.audit(&["--partner", &partner, "--after", &after]),
        records[2..]
    );
    assert_eq!(
        w.audit(&["--partner", &partner, "--limit", "2"]),
        records[..2]
    );
    assert!(w
        .audit(&["--partner", &partner, "--since", "2999-01-01"])
        .is_empty());
    assert_eq!(w.audit(&["--partner", &partner, "--since", "1h"]), records);
    assert!(w
        .audit(&["--partner", &partner, "--until", "2000-01-01"])
        .is_empty());
    let bad = w.run(&["audit", "list", "--since", "yesterday"], "");
    assert_eq!(bad.status.code(), Some(64), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--since \"yesterday\""),
        "{bad:?}"
    );

    // The table: a header and one line per record.
    let table = w.ok(&["audit", "list", "--partner", &partner], "");
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("ID\tTIME\tKIND\tACTION\tACTOR\tDOOR\tADDRESS\tPARTNER\tUSER\tDETAIL")
    );
    assert_eq!(lines.count(), records.len());

    // No secret the test used, in any column of any record.
    let everything = w.ok(&["audit", "list", "--json"], "");
    for secret in [SECRET, PASSWORD] {
        assert!(!everything.contains(secret), "{secret} is in the trail");
    }
}

#[test]
fn the_trail_sqlite() {
    the_trail(Backend::Sqlite);
}

#[test]
fn the_trail_postgres() {
    the_trail(Backend::Postgres);
}
