//! The lifecycle of partners, users, tokens and interfaces run from the CLI as an operator
//! would, against the real binary on SQLite and PostgreSQL, checked through the real doors:
//! the HTTP API (curl, Basic and bearer), FTP (a real client) and the upload page's login form.

mod util;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::data::{bom_row, envelope, export};
use util::ftp::{bom_dir, connect, login, put, reply_code};
use util::http::{client_token, request, send, token_request, Auth, Reply};
use util::{add_partner, add_user, installation, Backend, Wharf, PASSWORD, SECRET};

const SYNC: &str = "/v1.0/scc/data/sync";

fn bom_url(w: &Wharf) -> String {
    format!("{}{SYNC}/t1/bom", w.http_url())
}

/// A data call that needs the caller in: 404 (no such batch) when let in, 401 when refused.
fn batch_status(w: &Wharf, auth: &Auth) -> u16 {
    request(
        "GET",
        &format!("{}/batches/NO-SUCH", bom_url(w)),
        auth,
        None,
        &[],
    )
    .status
}

/// The HTTP status of the upload page with the session in `jar`: 200 signed in, 303 sent
/// back to the login form.
fn page_status(w: &Wharf, jar: &Path) -> String {
    util::upload::curl_jar(
        jar,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{}/upload", w.upload_url()),
        ],
    )
}

/// A CLI command that must fail; its exit code and stderr.
fn fails(w: &Wharf, args: &[&str], stdin: &str) -> (i32, String) {
    let out = w.run(args, stdin);
    assert!(!out.status.success(), "wharf {args:?} should fail");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `wharf token list --json` as parsed.
fn tokens(w: &Wharf, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["token", "list", "--json"];
    all.extend_from_slice(args);
    json_of(&w.ok(&all, "")).as_array().expect("a list").clone()
}

/// SHA-256 of `text`, hex (how tokens are stored), with the coreutils tool.
fn sha256(text: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", "printf %s \"$1\" | sha256sum", "sh", text])
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// The operator's changes of `partner` in the audit trail (`wharf audit list --kind admin`):
/// their actions, oldest first, and the whole trail's text.
fn admin_trail(w: &Wharf, partner: &str) -> (Vec<String>, String) {
    let out = w.ok(
        &[
            "audit",
            "list",
            "--kind",
            "admin",
            "--partner",
            partner,
            "--json",
        ],
        "",
    );
    let actions = out
        .lines()
        .map(|l| json_of(l)["action"].as_str().expect("action").to_string())
        .collect();
    (actions, out)
}

/// `check` holds within a second of now (polled): the change is seen at once, not after a
/// cache's lifetime.
#[track_caller]
fn within_a_second(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: not within a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Disable a partner: refused at once on HTTP (Basic, bearer, token endpoint), FTP (a new
/// login and a session already open) and the upload page (its session and a new login);
/// enabled again, everything works again, its existing token and session included. A
/// disabled user alike.
fn disable_and_enable(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let token = client_token(&w.http_url(), &partner);
    let jar = w.data_dir.join("page.jar");
    util::upload::login(&w.upload_url(), &jar, &user);
    assert_eq!(page_status(&w, &jar), "200");
    assert_eq!(batch_status(&w, &Auth::Basic(&user, PASSWORD)), 404);
    assert_eq!(batch_status(&w, &Auth::Bearer(&token)), 404);
    let mut open = login(&w, &user);

    let out = w.ok(&["partner", "disable", &partner], "");
    assert!(out.contains("disabled"), "{out}");
    within_a_second("HTTP Basic", || {
        batch_status(&w, &Auth::Basic(&user, PASSWORD)) == 401
    });
    within_a_second("HTTP bearer", || {
        batch_status(&w, &Auth::Bearer(&token)) == 401
    });
    within_a_second("upload page session", || page_status(&w, &jar) == "303");
    let r = token_request(
        &w.http_url(),
        &format!("grant_type=client_credentials&client_id={partner}&client_secret={SECRET}"),
        None,
    );
    assert_eq!(r.status, 401, "a new token: {r:?}");
    let other_jar = w.data_dir.join("other.jar");
    assert_ne!(
        util::upload::login_status(&w.upload_url(), &other_jar, &user),
        "303",
        "a new upload page login"
    );
    assert_eq!(
        reply_code(connect(&w).login(user.as_str(), PASSWORD)),
        530,
        "a new FTP login"
    );
    let body = envelope("OPEN-FTP", 1, "1", vec![bom_row("open")]);
    let sent = put(
        &mut open,
        &format!("{}/bom_insert_20221001003000_1.json", bom_dir(&partner)),
        body.as_bytes(),
    );
    assert!(
        sent.is_err(),
        "the FTP session open before sends nothing: {sent:?}"
    );
    let _ = open.quit();
    let shown = json_of(&w.ok(&["partner", "show", &partner, "--json"], ""));
    assert_eq!(shown["disabled"], true, "{shown}");

    w.ok(&["partner", "enable", &partner], "");
    assert_eq!(batch_status(&w, &Auth::Basic(&user, PASSWORD)), 404);
    assert_eq!(batch_status(&w, &Auth::Bearer(&token)), 404);
    // The page dropped the refused session's cookie (it sent the browser to log in): a
    // new login works.
    util::upload::login(&w.upload_url(), &jar, &user);
    assert_eq!(page_status(&w, &jar), "200");
    let mut ftp = login(&w, &user);
    let _ = ftp.quit();

    // A user alike, while its partner's own token still works.
    w.ok(&["user", "disable", &user], "");
    assert_eq!(batch_status(&w, &Auth::Basic(&user, PASSWORD)), 401);
    assert_eq!(page_status(&w, &jar), "303");
    assert_eq!(reply_code(connect(&w).login(user.as_str(), PASSWORD)), 530);
    assert_eq!(batch_status(&w, &Auth::Bearer(&token)), 404);
    let shown = json_of(&w.ok(&["user", "show", &user, "--json"], ""));
    assert_eq!(shown["disabled"], true, "{shown}");
    w.ok(&["user", "enable", &user], "");
    assert_eq!(batch_status(&w, &Auth::Basic(&user, PASSWORD)), 404);
    util::upload::login(&w.upload_url(), &jar, &user);
    assert_eq!(page_status(&w, &jar), "200");

    let (actions, _) = admin_trail(&w, &partner);
    assert_eq!(
        actions,
        [
            "partner.add",
            "user.add",
            "partner.disable",
            "partner.enable",
            "user.disable",
            "user.enable"
        ]
    );
}

/// Rotate a client secret with a short grace: both work during it, only the new one after.
fn rotate_secret(backend: Backend) {
    let (w, partner, _user) = installation(backend);
    let _server = w.serve();
    let grant = |secret: &str| -> Reply {
        token_request(
            &w.http_url(),
            &format!("grant_type=client_credentials&client_id={partner}&client_secret={secret}"),
            None,
        )
    };
    let (code, err) = fails(
        &w,
        &["partner", "rotate-secret", &partner, "--grace", "soon"],
        "client-secret-2\n",
    );
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--grace"), "{err}");
    let out = w.ok(
        &["partner", "rotate-secret", &partner, "--grace", "3s"],
        "client-secret-2\n",
    );
    let rotated = Instant::now();
    assert!(out.contains("works until"), "{out}");
    assert!(!out.contains("client-secret"), "no secret printed: {out}");
    assert_eq!(grant(SECRET).status, 200, "the old secret, in the grace");
    assert_eq!(grant("client-secret-2").status, 200, "the new secret");
    let shown = json_of(&w.ok(&["partner", "show", &partner, "--json"], ""));
    assert!(shown["previous_secret_valid_until"].is_i64(), "{shown}");
    assert!(shown["secret_rotated_unix"].is_i64(), "{shown}");
    let text = serde_json::to_string(&shown).expect("json");
    assert!(
        !text.contains("secret-2") && !text.contains("argon2"),
        "{text}"
    );

    // The grace ends on a whole second after 3 s: wait past it.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(rotated.elapsed()));
    assert_eq!(grant(SECRET).status, 401, "the old secret, after the grace");
    assert_eq!(grant("client-secret-2").status, 200);
    let shown = json_of(&w.ok(&["partner", "show", &partner, "--json"], ""));
    assert!(shown["previous_secret_valid_until"].is_null(), "{shown}");

    // Without a grace the previous one stops at once.
    w.ok(
        &["partner", "rotate-secret", &partner, "--grace", "0"],
        "client-secret-3\n",
    );
    assert_eq!(grant("client-secret-2").status, 401);
    assert_eq!(grant("client-secret-3").status, 200);

    let (actions, text) = admin_trail(&w, &partner);
    assert_eq!(
        actions,
        [
            "partner.add",
            "user.add",
            "partner.rotate-secret",
            "partner.rotate-secret"
        ]
    );
    for secret in [SECRET, "client-secret-2", "client-secret-3", "argon2"] {
        assert!(!text.contains(secret), "{secret} in the trail: {text}");
    }
}

/// Reset a password from stdin: the old one is refused, the new one works, the user's
/// tokens and sessions end; revoke tokens by id, by user, by partner; lists never show a
/// token or its hash.
fn passwords_and_tokens(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let base = w.http_url();
    let api = client_token(&base, &partner);
    let r = token_request(
        &base,
        &format!(
            "grant_type=password&client_id={partner}&client_secret={SECRET}&username={user}&password={PASSWORD}"
        ),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let user_token = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let jar = w.data_dir.join("page.jar");
    util::upload::login(&w.upload_url(), &jar, &user);

    let listed = tokens(&w, &["--partner", &partner]);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let kinds: Vec<_> = listed.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "session").count(), 1);
    for out in [
        w.ok(&["token", "list"], ""),
        w.ok(&["token", "list", "--json"], ""),
        w.ok(&["token", "list", "--user", &user], ""),
    ] {
        for secret in [&api, &user_token] {
            assert!(!out.contains(secret.as_str()), "a token printed: {out}");
            assert!(
                !out.contains(&sha256(secret)),
                "a token's hash printed: {out}"
            );
        }
    }
    assert_eq!(tokens(&w, &["--user", &user]).len(), 2);
    let table = w.ok(&["token", "list", "--partner", &partner], "");
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("LAST USED"), "{table}");

    // Revoke the partner's own token by id: 401 at once; the user's still works.
    let api_id = listed
        .iter()
        .find(|t| t["kind"] == "api" && t["user"].is_null())
        .expect("the client-credentials token")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = w.ok(&["token", "revoke", &api_id], "");
    assert!(out.starts_with("1 "), "{out}");
    assert_eq!(batch_status(&w, &Auth::Bearer(&api)), 401);
    assert_eq!(batch_status(&w, &Auth::Bearer(&user_token)), 404);
    let (code, err) = fails(&w, &["token", "revoke", &api_id], "");
    assert_eq!(code, 65, "{err}");
    let (code, _) = fails(&w, &["token", "revoke"], "");
    assert_eq!(code, 2, "clap: one of ID, --partner, --user");

    // Reset the password: old refused, new in, the user's token and session gone.
    let (code, err) = fails(&w, &["user", "reset-password", &user], "");
    assert_ne!(code, 0, "{err}");
    w.ok(&["user", "reset-password", &user], "password-456\n");
    assert_eq!(batch_status(&w, &Auth::Basic(&user, PASSWORD)), 401);
    assert_eq!(batch_status(&w, &Auth::Basic(&user, "password-456")), 404);
    assert_eq!(batch_status(&w, &Auth::Bearer(&user_token)), 401);
    assert_eq!(page_status(&w, &jar), "303");
    assert!(tokens(&w, &["--user", &user]).is_empty());
    let shown = json_of(&w.ok(&["user", "show", &user, "--json"], ""));
    assert!(shown["password_changed_unix"].is_i64(), "{shown}");
    let mut ftp = connect(&w);
    assert_eq!(reply_code(ftp.login(user.as_str(), PASSWORD)), 530);
    let mut ftp = connect(&w);
    ftp.login(user.as_str(), "password-456")
        .expect("FTP with the new password");
    let _ = ftp.quit();

    // Revoke all of a partner's.
    client_token(&base, &partner);
    let again = client_token(&base, &partner);
    w.ok(&["token", "revoke", "--partner", &partner], "");
    assert_eq!(batch_status(&w, &Auth::Bearer(&again)), 401);
    assert!(tokens(&w, &["--partner", &partner]).is_empty());

    let (actions, text) = admin_trail(&w, &partner);
    assert_eq!(
        actions,
        [
            "partner.add",
            "user.add",
            "token.revoke",
            "user.reset-password",
            "token.revoke"
        ]
    );
    assert!(text.contains(&api_id), "revoked ids are named: {text}");
    for secret in [&api, &user_token, &again] {
        assert!(
            !text.contains(secret.as_str()),
            "a token in the trail: {text}"
        );
    }
    assert!(!text.contains("password-456"), "{text}");
}

/// `set-interfaces` is seen at once on HTTP and FTP; list, show, remove of users and
/// partners; a partner holding data is removed only with --with-data (and --yes off a
/// terminal).
fn interfaces_and_removal(backend: Backend) {
    let (w, partner, user) = installation(backend);
    let _server = w.serve();
    let bom = bom_url(&w);
    let body = envelope("IF-1", 1, "1", vec![bom_row("if1")]);
    send("POST", &bom, &Auth::Basic(&user, PASSWORD), &body).expect(200, "0");

    w.ok(
        &["partner", "set-interfaces", &partner, "odm/master_data"],
        "",
    );
    let body = envelope("IF-2", 1, "1", vec![bom_row("if2")]);
    let r = send("POST", &bom, &Auth::Basic(&user, PASSWORD), &body);
    assert_ne!(r.json()["code"], "0", "t1/bom refused at once: {r:?}");
    let mut ftp = login(&w, &user);
    assert_ne!(
        reply_code(ftp.cwd(bom_dir(&partner))),
        250,
        "FTP: no t1/bom folder"
    );
    let _ = ftp.quit();
    let shown = json_of(&w.ok(&["partner", "show", &partner, "--json"], ""));
    assert_eq!(shown["interfaces"], serde_json::json!(["odm/master_data"]));
    let (code, err) = fails(&w, &["partner", "set-interfaces", &partner, "no/such"], "");
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("no/such"), "{err}");
    let (code, _) = fails(&w, &["partner", "set-interfaces", &partner], "");
    assert_eq!(code, 2, "clap: a list or --all");
    w.ok(&["partner", "set-interfaces", &partner, "--all"], "");
    send("POST", &bom, &Auth::Basic(&user, PASSWORD), &body).expect(200, "0");
    let mut ftp = login(&w, &user);
    ftp.cwd(bom_dir(&partner)).expect("FTP: t1/bom again");
    let _ = ftp.quit();

    // Interfaces as core loaded them.
    let list = w.ok(&["interface", "list"], "");
    assert!(
        list.contains("t1/bom") && list.contains("odm/master_data"),
        "{list}"
    );
    let def = json_of(&w.ok(&["interface", "show", "t1/bom", "--json"], ""));
    assert_eq!(def["id"], "t1/bom");
    assert!(def["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "quantity_per" && f["type"] == "decimal(13,3)"));
    let (code, _) = fails(&w, &["interface", "show", "t1/nothing"], "");
    assert_eq!(code, 65);

    // Lists.
    let other = add_partner(&w, None);
    let second = add_user(&w, &partner);
    let partners = json_of(&w.ok(&["partner", "list", "--json"], ""));
    let mine = partners
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == partner.as_str())
        .expect("listed")
        .clone();
    let mut users = vec![user.clone(), second.clone()];
    users.sort();
    assert_eq!(mine["users"], serde_json::json!(users));
    let table = w.ok(&["partner", "list"], "");
    assert!(
        table.contains(&other) && table.starts_with("PARTNER"),
        "{table}"
    );
    let listed = json_of(&w.ok(&["user", "list", "--partner", &partner, "--json"], ""));
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(!listed.to_string().contains("argon2"), "{listed}");
    let table = w.ok(&["user", "list"], "");
    assert!(table.contains(&second), "{table}");
    let (code, _) = fails(&w, &["user", "list", "--partner", "nobody-at-all"], "");
    assert_eq!(code, 65);

    // Remove a user: its logins end.
    w.ok(&["user", "remove", &second], "");
    assert_eq!(batch_status(&w, &Auth::Basic(&second, PASSWORD)), 401);
    let (code, _) = fails(&w, &["user", "show", &second], "");
    assert_eq!(code, 65);

    // A partner holding data: refused, then --with-data wants --yes off a terminal.
    let (code, err) = fails(&w, &["partner", "remove", &partner], "");
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("--with-data") && err.contains("records"),
        "{err}"
    );
    assert_eq!(export(&w, &partner, "t1/bom", None).len(), 2, "data kept");
    let (code, err) = fails(&w, &["partner", "remove", &partner, "--with-data"], "");
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(export(&w, &partner, "t1/bom", None).len(), 2, "data kept");
    w.ok(&["partner", "remove", &partner, "--with-data", "--yes"], "");
    assert_eq!(batch_status(&w, &Auth::Basic(&user, PASSWORD)), 401);
    let (code, _) = fails(&w, &["partner", "show", &partner], "");
    assert_eq!(code, 65);
    let (code, _) = fails(&w, &["user", "show", &user], "");
    assert_eq!(code, 65);
    // The name can be onboarded again and starts empty.
    w.ok(&["partner", "add", &partner], &format!("{SECRET}\n"));
    assert!(export(&w, &partner, "t1/bom", None).is_empty());

    let (actions, _) = admin_trail(&w, &partner);
    assert_eq!(
        actions,
        [
            "partner.add",
            "user.add",
            "partner.set-interfaces",
            "partner.set-interfaces",
            "user.add",
            "user.remove",
            "partner.remove",
            "partner.add"
        ]
    );

    // A partner without data goes without --with-data.
    w.ok(&["partner", "remove", &other], "");
    let table = w.ok(&["partner", "list"], "");
    assert!(!table.contains(&other), "{table}");
}

#[test]
fn disable_and_enable_sqlite() {
    disable_and_enable(Backend::Sqlite);
}

#[test]
fn disable_and_enable_postgres() {
    disable_and_enable(Backend::Postgres);
}

#[test]
fn rotate_secret_sqlite() {
    rotate_secret(Backend::Sqlite);
}

#[test]
fn rotate_secret_postgres() {
    rotate_secret(Backend::Postgres);
}

#[test]
fn passwords_and_tokens_sqlite() {
    passwords_and_tokens(Backend::Sqlite);
}

#[test]
fn passwords_and_tokens_postgres() {
    passwords_and_tokens(Backend::Postgres);
}

#[test]
fn interfaces_and_removal_sqlite() {
    interfaces_and_removal(Backend::Sqlite);
}

#[test]
fn interfaces_and_removal_postgres() {
    interfaces_and_removal(Backend::Postgres);
}
