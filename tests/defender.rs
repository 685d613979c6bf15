//! Source addresses, allow lists and the defender, through the real binary and real clients
//! bound to other loopback addresses (curl `--interface` for HTTP, the upload page and FTP,
//! OpenSSH's `BindAddress` for SFTP):
//!
//! - a partner's allow list refuses 127.0.0.2 and lets 127.0.0.1 in, on every door;
//! - two cores on one PostgreSQL, a gateway each: failures spread over both ban the address
//!   and the name; the ban holds on every door, answers 429 with `Retry-After`, ends after its
//!   (short, configured) time or by `wharf user unlock`;
//! - a login with an unknown name takes as long as one with a wrong password;
//! - every kind of login is recorded once in the audit trail with its door, address and reason.
//!
//! Each test bans addresses of its own (127.0.0.2 … 127.0.0.9), never 127.0.0.1.

mod util;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::sftp::{Client, Login};
use util::{add_partner, add_user, free_port, unique, Backend, Server, Wharf, PASSWORD, SECRET};

const BOM: &str = "/v1.0/scc/data/sync/t1/bom";

fn curl(from: &str, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "--interface", from])
        .args(args)
        .output()
        .expect("curl runs")
}

/// An HTTP answer: status and headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `curl ARGS` from `from`, headers and body read back.
fn http(from: &str, args: &[&str]) -> Answer {
    let out = curl(from, &[&["-i"], args].concat());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// HTTP Basic on the batch route (404: logged in, no such batch).
fn basic(from: &str, base: &str, user: &str, password: &str) -> Answer {
    http(
        from,
        &[
            "-u",
            &format!("{user}:{password}"),
            &format!("{base}{BOM}/batches/NO-SUCH"),
        ],
    )
}

fn bearer(from: &str, base: &str, token: &str) -> Answer {
    http(
        from,
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("{base}{BOM}/batches/NO-SUCH"),
        ],
    )
}

/// The token endpoint's client credentials grant.
fn client_token(from: &str, base: &str, partner: &str) -> Answer {
    http(
        from,
        &[
            "-d",
            &format!("grant_type=client_credentials&client_id={partner}&client_secret={SECRET}"),
            &format!("{base}/oauth/token"),
        ],
    )
}

/// An FTP login with curl (it lists the root after logging in); the reply lines it saw.
fn ftp(from: &str, port: u16, user: &str, password: &str) -> (bool, String) {
    let out = curl(
        from,
        &[
            "-v",
            "--user",
            &format!("{user}:{password}"),
            &format!("ftp://127.0.0.1:{port}/"),
        ],
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether an SFTP password login from `from` gets in.
fn sftp_logs_in(client: &Client, from: &str) -> bool {
    let mut child = client
        .command_with(&["-o", &format!("BindAddress={from}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sftp runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"pwd\n");
    }
    child
        .wait_with_output()
        .expect("sftp ends")
        .status
        .success()
}

/// The upload page's login form from `from`: status and page.
fn page_login(from: &str, base: &str, jar: &Path, user: &str, password: &str) -> Answer {
    let jar_s = jar.display().to_string();
    let form = curl(
        from,
        &["-b", &jar_s, "-c", &jar_s, &format!("{base}/login")],
    );
    let csrf = util::upload::csrf(&String::from_utf8_lossy(&form.stdout));
    http(
        from,
        &[
            "-b",
            &jar_s,
            "-c",
            &jar_s,
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("username={user}"),
            "--data-urlencode",
            &format!("password={password}"),
            &format!("{base}/login"),
        ],
    )
}

/// The upload page's form page with the session in `jar`, from `from`.
fn page(from: &str, base: &str, jar: &Path) -> Answer {
    let jar_s = jar.display().to_string();
    http(from, &["-b", &jar_s, &format!("{base}/upload")])
}

fn jar(w: &Wharf) -> std::path::PathBuf {
    std::fs::create_dir_all(&w.data_dir).expect("data dir");
    w.data_dir.join(unique("jar-"))
}

fn allow_list(backend: Backend) {
    let mut w = Wharf::new(backend);
    // Refusals from 127.0.0.2 score too; no ban in this test.
    w.extra_env = vec![("WHARF_DEFENDER_THRESHOLD".into(), "1000".into())];
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let other = add_partner(&w, None);
    let other_user = add_user(&w, &other);
    let key_dir = w.data_dir.join("keys");
    std::fs::create_dir_all(&key_dir).expect("key dir");
    let _server = w.serve();
    let base = w.http_url();
    let upload = w.upload_url();
    let (good, bad) = ("127.0.0.1", "127.0.0.2");

    let set = w.ok(
        &[
            "partner",
            "set-addresses",
            &partner,
            "127.0.0.1/32,10.0.0.0/8",
        ],
        "",
    );
    assert!(set.contains("10.0.0.0/8, 127.0.0.1/32"), "{set}");
    assert_eq!(
        w.run(&["partner", "set-addresses", &partner, "127.0.0.1/33"], "")
            .status
            .code(),
        Some(65),
        "a bad CIDR is refused"
    );

    // Tokens and sessions made from the allowed address, used from the other one below.
    let token = client_token(good, &base, &partner);
    assert_eq!(token.status, 200, "{}", token.body);
    let token: Value = serde_json::from_str(&token.body).expect("token JSON");
    let token = token["access_token"].as_str().expect("a token").to_string();
    let session = jar(&w);
    assert_eq!(
        page_login(good, &upload, &session, &user, PASSWORD).status,
        303
    );

    // HTTP Basic, bearer, token endpoint.
    assert_eq!(basic(good, &base, &user, PASSWORD).status, 404);
    assert_eq!(basic(bad, &base, &user, PASSWORD).status, 401);
    assert_eq!(bearer(good, &base, &token).status, 404);
    assert_eq!(bearer(bad, &base, &token).status, 401);
    assert_eq!(client_token(bad, &base, &partner).status, 401);
    // Another partner without a list is not affected.
    assert_eq!(basic(bad, &base, &other_user, PASSWORD).status, 404);
    // FTP.
    assert!(
        ftp(good, w.ftp_port, &user, PASSWORD).0,
        "FTP from the allowed address"
    );
    let (ok, said) = ftp(bad, w.ftp_port, &user, PASSWORD);
    assert!(!ok && said.contains("530"), "FTP from elsewhere: {said}");
    // SFTP, by password and by key.
    let password = Client::password(&w, &user);
    assert!(sftp_logs_in(&password, good));
    assert!(
        !sftp_logs_in(&password, bad),
        "SFTP password from elsewhere"
    );
    let key = util::sftp::keygen(&key_dir, "ed25519", None);
    util::sftp::add_key(&w, &user, &key);
    let by_key = Client::new(&w, w.sftp_port, &user, Login::Key(key));
    assert!(sftp_logs_in(&by_key, good));
    assert!(!sftp_logs_in(&by_key, bad), "SFTP key from elsewhere");
    // The upload page: the login form, and a session used from elsewhere.
    assert_eq!(
        page_login(bad, &upload, &jar(&w), &user, PASSWORD).status,
        401
    );
    assert_eq!(page(good, &upload, &session).status, 200);
    assert_eq!(
        page(bad, &upload, &session).status,
        303,
        "back to the login"
    );

    // The refusals are in the audit, reason "address", with the door and the address.
    let refused = w.audit(&["--kind", "login", "--partner", &partner]);
    let refused: Vec<&Value> = refused
        .iter()
        .filter(|r| r["detail"]["reason"] == "address")
        .collect();
    let doors: std::collections::BTreeSet<&str> =
        refused.iter().filter_map(|r| r["door"].as_str()).collect();
    assert_eq!(
        doors.into_iter().collect::<Vec<_>>(),
        ["ftp", "http", "sftp", "upload"],
        "{refused:?}"
    );
    assert!(refused
        .iter()
        .all(|r| r["addr"] == bad && r["action"] == "login.refused"));

    // --any lifts the list: every door lets 127.0.0.2 in again.
    let any = w.ok(&["partner", "set-addresses", &partner, "--any"], "");
    assert!(any.contains("any address"), "{any}");
    assert_eq!(basic(bad, &base, &user, PASSWORD).status, 404);
    assert_eq!(bearer(bad, &base, &token).status, 404);
    assert!(ftp(bad, w.ftp_port, &user, PASSWORD).0);
    assert!(sftp_logs_in(&password, bad));
    assert_eq!(page(bad, &upload, &session).status, 200);
}

#[test]
fn allow_list_sqlite() {
    allow_list(Backend::Sqlite);
}

#[test]
fn allow_list_postgres() {
    allow_list(Backend::Postgres);
}

/// Until `f` is true, at most `limit`.
fn wait_for(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < until, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn two_replicas_share_one_defender() {
    const BAN_SECS: u64 = 6;
    let mut w = Wharf::new(Backend::Postgres);
    w.extra_env = vec![
        ("WHARF_DEFENDER_THRESHOLD".into(), "6".into()),
        ("WHARF_DEFENDER_BAN_SECS".into(), BAN_SECS.to_string()),
        ("WHARF_DEFENDER_OBSERVATION_SECS".into(), "600".into()),
    ];
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let user2 = add_user(&w, &partner);

    let core_ports = [w.grpc_port, free_port()];
    let _cores: Vec<Server> = core_ports
        .iter()
        .map(|&port| {
            w.start(
                &["core"],
                &[("WHARF_GRPC_ADDR", format!("127.0.0.1:{port}"))],
                port,
            )
        })
        .collect();
    let core_url = (
        "WHARF_CORE_URL",
        core_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    let http_ports = [w.http_port, free_port()];
    let _gateways: Vec<Server> = http_ports
        .iter()
        .map(|&port| {
            w.start(
                &["gateway"],
                &[
                    core_url.clone(),
                    ("WHARF_HTTP_ADDR", format!("127.0.0.1:{port}")),
                ],
                port,
            )
        })
        .collect();
    let _ftp = w.start(&["ftp"], std::slice::from_ref(&core_url), w.ftp_port);
    let _sftp = w.start(&["sftp"], std::slice::from_ref(&core_url), w.sftp_port);
    let _upload = w.start(&["upload"], std::slice::from_ref(&core_url), w.upload_port);
    let gw = http_ports.map(|p| format!("http://127.0.0.1:{p}"));
    let upload = w.upload_url();
    let sftp = Client::password(&w, &user);

    // Six wrong passwords from 127.0.0.3, alternating between the gateways (so between the
    // cores): each is checked; together they reach the threshold.
    let from = "127.0.0.3";
    for i in 0..6 {
        let r = basic(from, &gw[i % 2], &user, "wrong-password");
        assert_eq!(r.status, 401, "wrong #{}: {}", i + 1, r.body);
    }
    // Banned on both gateways, the right password included, with Retry-After.
    for g in &gw {
        let r = basic(from, g, &user, PASSWORD);
        assert_eq!(r.status, 429, "{}", r.body);
        let secs: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After: {:?}", r.headers));
        assert!((1..=BAN_SECS).contains(&secs), "Retry-After {secs}");
        assert!(r.body.contains("try again in"), "{}", r.body);
    }
    // And on every door.
    assert_eq!(
        client_token(from, &gw[1], &partner).status,
        429,
        "token endpoint"
    );
    // FTP says the login is refused for now, and for how long (not 530, a wrong password).
    let (ok, said) = ftp(from, w.ftp_port, &user, PASSWORD);
    assert!(
        !ok && said.contains("421") && said.contains("try again in"),
        "FTP: {said}"
    );
    assert!(!sftp_logs_in(&sftp, from), "SFTP");
    let r = page_login(from, &upload, &jar(&w), &user, PASSWORD);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    assert!(r.body.contains("Try again after"), "{}", r.body);
    // The name is banned too: its owner from 127.0.0.1 waits as well.
    assert_eq!(basic("127.0.0.1", &gw[0], &user, PASSWORD).status, 429);
    let bans = w.ok(&["user", "bans", "--json"], "");
    assert!(bans.contains("\"address:127.0.0.3\""), "{bans}");
    assert!(bans.contains(&format!("\"user:{user}\"")), "{bans}");

    // The ban ends after its time, for both.
    wait_for(Duration::from_secs(BAN_SECS + 3), "the ban ends", || {
        basic(from, &gw[0], &user, PASSWORD).status == 404
    });
    assert_eq!(basic(from, &gw[1], &user, PASSWORD).status, 404);
    assert!(
        ftp(from, w.ftp_port, &user, PASSWORD).0,
        "FTP after the ban"
    );
    assert!(sftp_logs_in(&sftp, from), "SFTP after the ban");

    // Unknown names score double: three from 127.0.0.4 ban that address (and no name).
    let from = "127.0.0.4";
    for i in 0..3 {
        let ghost = unique("ghost");
        assert_eq!(basic(from, &gw[i % 2], &ghost, "x").status, 401);
    }
    assert_eq!(basic(from, &gw[0], &user, PASSWORD).status, 429);
    assert_eq!(
        basic("127.0.0.1", &gw[0], &user, PASSWORD).status,
        404,
        "the name is free"
    );
    // Lifted by an operator.
    let said = w.ok(&["user", "unlock", "--address", from], "");
    assert!(said.contains("unlocked"), "{said}");
    assert_eq!(basic(from, &gw[0], &user, PASSWORD).status, 404);
    assert_eq!(basic(from, &gw[1], &user, PASSWORD).status, 404);

    // A name's ban lifted by name: the address's lift alone leaves the name banned.
    let from = "127.0.0.5";
    for i in 0..6 {
        assert_eq!(
            basic(from, &gw[i % 2], &user2, "wrong-password").status,
            401
        );
    }
    w.ok(&["user", "unlock", "--address", from], "");
    assert_eq!(
        basic(from, &gw[0], &user2, PASSWORD).status,
        429,
        "the name"
    );
    w.ok(&["user", "unlock", &user2], "");
    assert_eq!(basic(from, &gw[0], &user2, PASSWORD).status, 404);
    assert_eq!(basic(from, &gw[1], &user2, PASSWORD).status, 404);
}

/// Mean milliseconds of `n` calls of `f`, interleaved with another kind by the caller.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn an_unknown_name_takes_as_long_as_a_wrong_password() {
    const N: usize = 50;
    // The margin: the means may differ by at most this share of the slower one. An unknown
    // name runs the same argon2 check against a dummy hash; what differs is one row read.
    const MARGIN: f64 = 0.25;
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env = vec![("WHARF_DEFENDER_THRESHOLD".into(), "10000".into())];
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let _server = w.serve();
    let base = w.http_url();
    let from = "127.0.0.6";
    // Warm up (connections, the dummy hash).
    for _ in 0..3 {
        basic(from, &base, &unique("ghost"), "x");
        basic(from, &base, &user, "wrong-password");
    }
    let (mut unknown, mut wrong) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..N {
        let ghost = unique("ghost");
        let t = Instant::now();
        let a = basic(from, &base, &ghost, "wrong-password");
        unknown += t.elapsed();
        let t = Instant::now();
        let b = basic(from, &base, &user, "wrong-password");
        wrong += t.elapsed();
        // The same answer, byte for byte.
        assert_eq!((a.status, &a.body), (b.status, &b.body));
        assert_eq!(a.status, 401);
    }
    let (u, k) = (ms(unknown) / N as f64, ms(wrong) / N as f64);
    eprintln!(
        "login timing over {N} each (HTTP Basic, curl): unknown user {u:.1} ms, known user with a wrong password {k:.1} ms, difference {:.1} ms ({:.1} %)",
        u - k,
        100.0 * (u - k) / k
    );
    assert!(
        (u - k).abs() <= MARGIN * u.max(k),
        "unknown {u:.1} ms vs wrong password {k:.1} ms: over the {MARGIN} margin"
    );
}

#[test]
fn every_login_is_recorded_once() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env = vec![("WHARF_DEFENDER_THRESHOLD".into(), "3".into())];
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let key_dir = w.data_dir.join("keys");
    std::fs::create_dir_all(&key_dir).expect("key dir");
    let key = util::sftp::keygen(&key_dir, "ed25519", None);
    util::sftp::add_key(&w, &user, &key);
    let _server = w.serve();
    let base = w.http_url();
    let upload = w.upload_url();
    let from = "127.0.0.7";
    let records = |user: &str| w.audit(&["--kind", "login", "--user", user]);

    // One of each: Basic, token (client credentials), FTP, SFTP password, SFTP key, page.
    assert_eq!(basic(from, &base, &user, PASSWORD).status, 404);
    assert_eq!(client_token(from, &base, &partner).status, 200);
    assert!(ftp(from, w.ftp_port, &user, PASSWORD).0);
    assert!(sftp_logs_in(&Client::password(&w, &user), from));
    assert!(sftp_logs_in(
        &Client::new(&w, w.sftp_port, &user, Login::Key(key)),
        from
    ));
    assert_eq!(
        page_login(from, &upload, &jar(&w), &user, PASSWORD).status,
        303
    );
    let got = records(&user);
    let seen: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|r| {
            (
                r["door"].as_str().unwrap_or(""),
                r["detail"]["method"].as_str().unwrap_or(""),
                r["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("http", "password", "login.succeeded"),
            ("ftp", "password", "login.succeeded"),
            ("sftp", "password", "login.succeeded"),
            ("sftp", "publickey", "login.succeeded"),
            ("upload", "password", "login.succeeded"),
        ],
        "{got:?}"
    );
    for r in &got {
        assert_eq!(r["kind"], "login");
        assert_eq!(
            (r["addr"].as_str(), r["partner"].as_str()),
            (Some(from), Some(partner.as_str()))
        );
        assert_eq!(r["actor"], format!("user:{user}"));
    }
    let client = w
        .audit(&["--kind", "login", "--partner", &partner])
        .into_iter()
        .filter(|r| r["detail"]["method"] == "client-credentials")
        .collect::<Vec<_>>();
    assert_eq!(client.len(), 1, "{client:?}");
    assert_eq!(client[0]["actor"], format!("partner:{partner}"));
    assert_eq!(client[0]["action"], "login.succeeded");

    // Failures and refusals, each once: a wrong password, an unknown name, then (threshold 3
    // reached by 1 + 2) the right password refused as locked.
    let from = "127.0.0.8";
    let ghost = unique("ghost");
    assert_eq!(basic(from, &base, &user, "wrong-password").status, 401);
    assert_eq!(basic(from, &base, &ghost, "wrong-password").status, 401);
    assert_eq!(basic(from, &base, &user, PASSWORD).status, 429);
    let reasons = |user: &str| -> Vec<(String, String)> {
        records(user)
            .iter()
            .filter(|r| r["addr"] == from)
            .map(|r| {
                (
                    r["action"].as_str().unwrap_or("").to_string(),
                    r["detail"]["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        reasons(&user),
        [
            pair("login.failed", "bad-password"),
            pair("login.refused", "locked")
        ]
    );
    assert_eq!(reasons(&ghost), [pair("login.failed", "unknown-user")]);
    // A bearer token's use is not a login: nothing more was recorded for it.
    let all = w.audit(&["--kind", "login"]);
    assert!(
        all.iter().all(|r| r["detail"]["method"] != "token"),
        "{all:?}"
    );
    // No secret anywhere in the trail.
    let text = w.ok(&["audit", "list", "--json"], "");
    for secret in [PASSWORD, SECRET, "wrong-password"] {
        assert!(!text.contains(secret), "{secret} in the audit trail");
    }
}
