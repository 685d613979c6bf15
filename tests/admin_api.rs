//! The admin HTTP API against the real binary, on SQLite and PostgreSQL: operators made with
//! the CLI, every route called with curl as a platform team's script would, refusals of
//! anything but an active operator's token (partners' credentials included), the audit trail
//! naming `operator:NAME` from `admin-api` for changes made through it, HTTPS on its listener,
//! and every answer checked against `admin-api/openapi.yaml` by the Python `openapi-core`
//! validator.

mod util;

use std::process::Command;

use serde_json::{json, Value};
use util::http::{client_token, request, Auth, Reply};
use util::openapi::Client;
use util::{add_partner_and_user, Backend, Wharf, PASSWORD, SECRET};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/admin-api/openapi.yaml");
/// The document's server (`url: /`).
const SERVER: &str = "http://127.0.0.1";

/// A new operator made with the CLI; its token (the one line on stdout).
fn add_operator(w: &Wharf, name: &str) -> String {
    let out = w.ok(&["operator", "add", name], "");
    let token = out.trim().to_string();
    assert_eq!(token.len(), 64, "one token on stdout: {out:?}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{out:?}");
    token
}

/// Assert a 401 with the API's JSON error and its Bearer challenge.
#[track_caller]
fn assert_401(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert_eq!(r.json()["error"], "unauthorized", "{what}: {r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")),
        "{what}: {r:?}"
    );
}

/// Every audit record matching `query`, through the API's pages of `page` records.
fn audit_all(api: &Client, token: &str, query: &str, page: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let r = api.get(
            &format!("/admin/v1/audit?{query}&limit={page}{after}"),
            token,
        );
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.json();
        let items = body["items"].as_array().expect("items").clone();
        assert!(items.len() <= page as usize);
        all.extend(items);
        match body["next_after"].as_i64() {
            Some(id) => after = format!("&after={id}"),
            None => return all,
        }
    }
}

/// Operators made, listed, revoked and made again with the CLI; the API opens for an active
/// operator's token only; clear 4xx answers; the audit trail of it all, read page by page.
fn operators_and_refusals(backend: Backend) {
    let w = Wharf::new(backend);
    let (partner, user) = add_partner_and_user(&w);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 1;
    let name = util::unique("ops");
    let token = add_operator(&w, &name);
    // The name is taken while it is active.
    let again = w.run(&["operator", "add", &name], "");
    assert_eq!(again.status.code(), Some(65), "{again:?}");
    let _server = w.serve();
    let api = Client::new(w.admin_api_url(), DOC, SERVER);

    // The document itself, open to all, is the file.
    let doc = api.call("GET", "/admin/v1/openapi.yaml", &Auth::None, None);
    assert_eq!(doc.status, 200, "{doc:?}");
    assert_eq!(
        doc.body,
        std::fs::read_to_string(DOC).expect("the document")
    );

    // The operator's token opens the API; its list never shows a token.
    let r = api.get("/admin/v1/operators", &token);
    assert_eq!(r.status, 200, "{r:?}");
    let ops = r.json()["items"].as_array().expect("items").clone();
    let me = ops
        .iter()
        .find(|o| o["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} listed: {ops:?}"));
    assert!(
        me["revoked_unix"].is_null() && me["last_used_unix"].is_i64(),
        "{me}"
    );
    assert!(!r.body.contains(&token), "a token in the list");

    // Anything but an active operator's token: 401.
    let path = "/admin/v1/operators";
    assert_401(&api.call("GET", path, &Auth::None, None), "no token");
    let flipped = if token.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{flipped}", &token[..63]);
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&wrong), None),
        "a wrong token",
    );
    assert_401(
        &api.call("GET", path, &Auth::Bearer("not-even-hex"), None),
        "a malformed token",
    );
    assert_401(
        &api.call("GET", path, &Auth::Basic(&user, PASSWORD), None),
        "a partner's user's Basic credentials",
    );
    assert_401(
        &api.call("GET", path, &Auth::Basic(&partner, SECRET), None),
        "a partner's client credentials as Basic",
    );
    let partner_token = client_token(&w.http_url(), &partner);
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&partner_token), None),
        "a partner's bearer token",
    );
    // Unknown routes are refused before they are looked up, and named after.
    let base = w.admin_api_url();
    assert_401(
        &request(
            "GET",
            &format!("{base}/admin/v1/nothing-here"),
            &Auth::None,
            None,
            &[],
        ),
        "an unknown route without a token",
    );
    let r = request(
        "GET",
        &format!("{}/admin/v1/nothing-here", w.admin_api_url()),
        &Auth::Bearer(&token),
        None,
        &[],
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["error"], "not_found");

    // Clear 4xx answers.
    // (Neither is in the document, so they are not checked against it.)
    let r = request(
        "POST",
        &format!("{base}{path}"),
        &Auth::Bearer(&token),
        None,
        &[],
    );
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("GET"));
    let r = api.get("/admin/v1/operators?verbose=1", &token);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("verbose"),
        "{r:?}"
    );
    for (query, names) in [
        ("kind=logins", "kind"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("since=yesterday", "since"),
        ("after=-1", "after"),
        ("limit=1&limit=2", "limit"),
    ] {
        let r = api.get(&format!("/admin/v1/audit?{query}"), &token);
        assert_eq!(r.status, 400, "{query}: {r:?}");
        assert!(
            r.json()["message"].as_str().unwrap_or("").contains(names),
            "{query}: {r:?}"
        );
    }

    // Revoked with the CLI: the same token is refused at once.
    w.ok(&["operator", "revoke", &name], "");
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&token), None),
        "a revoked token",
    );
    let missing = w.run(&["operator", "revoke", &name], "");
    assert_eq!(
        missing.status.code(),
        Some(65),
        "revoking twice: {missing:?}"
    );
    // The name may be given again, with a new token; the old one stays dead.
    let token2 = add_operator(&w, &name);
    assert_ne!(token2, token);
    assert_401(
        &api.call("GET", path, &Auth::Bearer(&token), None),
        "the old token",
    );
    let r = api.get(path, &token2);
    assert_eq!(r.status, 200, "{r:?}");

    // The audit trail says who made and revoked the operator, from the CLI, never the token;
    // read a page of one record at a time to walk the cursor.
    let records = audit_all(&api, &token2, &format!("kind=admin&since={since}"), 1);
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| r["detail"]["operator"] == name.as_str())
        .collect();
    let actions: Vec<&str> = mine
        .iter()
        .map(|r| r["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["operator.add", "operator.revoke", "operator.add"],
        "{records:#?}"
    );
    for r in &mine {
        assert_eq!(r["actor"], "cli:unknown", "{r}");
        assert_eq!(r["door"], "cli", "{r}");
        assert_eq!(r["kind"], "admin", "{r}");
    }
    let ids: Vec<i64> = records
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        ids.windows(2).all(|p| p[0] < p[1]),
        "ascending ids: {ids:?}"
    );
    let text = serde_json::to_string(&records).expect("json");
    assert!(
        !text.contains(&token) && !text.contains(&token2),
        "a token in the audit"
    );

    // The CLI's list agrees.
    let listed = w.ok(&["operator", "list", "--json"], "");
    let line: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .find(|v| v["name"] == name.as_str())
        .expect("listed");
    assert!(line["revoked_unix"].is_null(), "{line}");
    assert!(!listed.contains(&token2));

    api.check_against_document();
}

#[test]
fn operators_and_refusals_sqlite() {
    operators_and_refusals(Backend::Sqlite);
}

#[test]
fn operators_and_refusals_postgres() {
    operators_and_refusals(Backend::Postgres);
}

/// With a certificate the admin API serves HTTPS only, on its own listener: a client that
/// trusts the certificate gets in, plain HTTP gets no answer.
#[test]
fn the_admin_api_serves_https_with_its_certificate() {
    let mut w = Wharf::new(Backend::Sqlite);
    let (cert, key) = util::make_cert(&w, util::KeyType::Ec);
    w.extra_env
        .push(("WHARF_ADMIN_API_TLS_CERT".into(), cert.clone()));
    w.extra_env.push(("WHARF_ADMIN_API_TLS_KEY".into(), key));
    let token = add_operator(&w, &util::unique("tls"));
    let mut server = w.serve();
    let mut api = Client::new(
        format!("https://127.0.0.1:{}", w.admin_api_port),
        DOC,
        SERVER,
    );
    api.extra = vec!["--cacert".into(), cert];
    let r = api.get("/admin/v1/operators", &token);
    assert_eq!(r.status, 200, "{r:?}");
    assert_401(
        &api.call("GET", "/admin/v1/operators", &Auth::None, None),
        "HTTPS without a token",
    );
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(format!("{}/admin/v1/operators", w.admin_api_url()))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "000",
        "plain HTTP on the TLS listener gets no answer"
    );
    assert!(
        server.stderr().contains("wharf admin API listening"),
        "{}",
        server.stderr()
    );
    api.check_against_document();

    // A key that does not fit stops start-up naming the variables.
    let mut bad = Wharf::new(Backend::Sqlite);
    let (cert2, _) = util::make_cert(&bad, util::KeyType::Rsa);
    bad.extra_env
        .push(("WHARF_ADMIN_API_TLS_CERT".into(), cert2.clone()));
    bad.extra_env
        .push(("WHARF_ADMIN_API_TLS_KEY".into(), cert2));
    let out = bad.run(&["serve"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("WHARF_ADMIN_API_TLS_KEY"), "{stderr}");
}

/// `WHARF_ADMIN_API_ADDR=off`: no admin API; a taken port stops start-up naming the variable.
#[test]
fn the_admin_api_can_be_turned_off_and_its_port_is_checked() {
    let mut w = Wharf::new(Backend::Sqlite);
    w.extra_env
        .push(("WHARF_ADMIN_API_ADDR".into(), "off".into()));
    let mut server = w.serve();
    assert!(!server.stderr().contains("admin API listening"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", w.admin_api_port)).is_err());
    server.stop("wharf serve without the admin API");

    let w = Wharf::new(Backend::Sqlite);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", w.admin_api_port)).expect("bind");
    let out = w.run(&["serve"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("WHARF_ADMIN_API_ADDR"), "{stderr}");
}

/// The HTTP status of one HTTP Basic data call of `user` on the gateway (404: logged in, the
/// batch is unknown; 401: refused).
fn basic_status(w: &Wharf, user: &str, password: &str) -> u16 {
    request(
        "GET",
        &format!("{}/v1.0/scc/data/sync/t1/bom/batches/NO-SUCH", w.http_url()),
        &Auth::Basic(user, password),
        None,
        &[],
    )
    .status
}

/// The status of a client-credentials token request of `partner` with `secret`.
fn token_status(w: &Wharf, partner: &str, secret: &str) -> u16 {
    util::http::token_request(
        &w.http_url(),
        &format!("grant_type=client_credentials&client_id={partner}&client_secret={secret}"),
        None,
    )
    .status
}

/// A partner's whole life through the admin API: onboard, users, disable and enable, interfaces,
/// secret rotation, password reset, tokens listed and revoked, removal refused with data and
/// done with it; every change in the audit trail as `operator:NAME` from `admin-api`, no
/// secret anywhere in it; every answer as documented.
fn a_partners_life(backend: Backend) {
    let mut w = Wharf::new(backend);
    // Twenty failed logins ban a name and an address (the bans part below; the refusals
    // before it stay under that).
    w.extra_env
        .push(("WHARF_DEFENDER_THRESHOLD".into(), "20".into()));
    let name = util::unique("ops");
    let token = add_operator(&w, &name);
    let _server = w.serve();
    let api = Client::new(w.admin_api_url(), DOC, SERVER);
    let op = Auth::Bearer(&token);
    let call = |method: &str, path: &str, body: Option<Value>| -> Reply {
        api.call(method, path, &op, body.as_ref())
    };

    // Onboard a partner and a user; the secrets go in bodies and never come back.
    let partner = util::unique("P");
    let user = util::unique("u");
    let secret = "client-secret-first-1";
    let r = call(
        "POST",
        "/admin/v1/partners",
        Some(json!({ "name": partner, "secret": secret })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["name"], partner.as_str());
    assert!(
        r.json()["interfaces"].is_null() && !r.body.contains(secret),
        "{r:?}"
    );
    let r = call(
        "POST",
        "/admin/v1/partners",
        Some(json!({ "name": partner, "secret": secret })),
    );
    assert_eq!(r.status, 409, "a name taken: {r:?}");
    let r = call(
        "POST",
        "/admin/v1/users",
        Some(json!({ "username": user, "partner": partner, "password": PASSWORD })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["partner"], partner.as_str());
    let r = call(
        "POST",
        "/admin/v1/users",
        Some(json!({ "username": util::unique("u"), "partner": "NO-SUCH", "password": PASSWORD })),
    );
    assert_eq!(r.status, 404, "a user of no partner: {r:?}");
    assert_eq!(
        basic_status(&w, &user, PASSWORD),
        404,
        "the new user logs in"
    );

    // Reads.
    let r = call("GET", "/admin/v1/partners", None);
    assert!(
        r.json()["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["name"] == partner.as_str())),
        "{r:?}"
    );
    let r = call("GET", &format!("/admin/v1/partners/{partner}"), None);
    assert_eq!(r.json()["users"], json!([user]), "{r:?}");
    assert_eq!(call("GET", "/admin/v1/partners/NO-SUCH", None).status, 404);
    let r = call("GET", &format!("/admin/v1/users?partner={partner}"), None);
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(1), "{r:?}");
    let r = call("GET", &format!("/admin/v1/users/{user}"), None);
    assert_eq!(
        (r.status, r.json()["disabled"].clone()),
        (200, json!(false)),
        "{r:?}"
    );
    assert_eq!(call("GET", "/admin/v1/users/NO-SUCH", None).status, 404);
    let r = call("GET", "/admin/v1/interfaces", None);
    assert!(
        r.json()["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["id"] == "t1/bom")),
        "{r:?}"
    );
    let r = call("GET", "/admin/v1/interfaces/t1/bom", None);
    assert_eq!(
        (r.status, r.json()["id"].clone()),
        (200, json!("t1/bom")),
        "{r:?}"
    );
    assert_eq!(
        call("GET", "/admin/v1/interfaces/no/such", None).status,
        404
    );

    // Disable: refused on the gateway at once; enable: back.
    let r = call(
        "POST",
        &format!("/admin/v1/partners/{partner}/disable"),
        None,
    );
    assert_eq!(
        (r.status, r.json()["disabled"].clone()),
        (200, json!(true)),
        "{r:?}"
    );
    assert_eq!(
        basic_status(&w, &user, PASSWORD),
        401,
        "a disabled partner's user"
    );
    let r = call(
        "POST",
        &format!("/admin/v1/partners/{partner}/enable"),
        None,
    );
    assert_eq!(r.json()["disabled"], false, "{r:?}");
    assert_eq!(basic_status(&w, &user, PASSWORD), 404, "enabled again");
    let r = call("POST", &format!("/admin/v1/users/{user}/disable"), None);
    assert_eq!(r.json()["disabled"], true, "{r:?}");
    assert_eq!(basic_status(&w, &user, PASSWORD), 401, "a disabled user");
    call("POST", &format!("/admin/v1/users/{user}/enable"), None);
    assert_eq!(
        basic_status(&w, &user, PASSWORD),
        404,
        "the user enabled again"
    );

    // Interfaces: bad bodies are named; a good one shows at once.
    let path = format!("/admin/v1/partners/{partner}/interfaces");
    for (body, names) in [
        (json!({ "interfaces": "t1/bom" }), "interfaces"),
        (json!({ "interface": ["t1/bom"] }), "interface"),
        (json!({}), "interfaces"),
        (json!({ "interfaces": ["no/such"] }), "no/such"),
    ] {
        let r = call("PUT", &path, Some(body.clone()));
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert!(
            r.json()["message"].as_str().unwrap_or("").contains(names),
            "{body}: {r:?}"
        );
    }
    let r = api.call("PUT", &path, &op, None);
    assert_eq!(r.status, 400, "no body: {r:?}");
    let big = json!({ "interfaces": vec!["x".repeat(100); 1000] });
    let r = call("PUT", &path, Some(big));
    assert_eq!(r.status, 413, "{r:?}");
    let r = call(
        "PUT",
        &path,
        Some(json!({ "interfaces": ["odm/master_data"] })),
    );
    assert_eq!(r.json()["interfaces"], json!(["odm/master_data"]), "{r:?}");
    let denied = util::http::send(
        "POST",
        &format!("{}/v1.0/scc/data/sync/t1/bom", w.http_url()),
        &Auth::Basic(&user, PASSWORD),
        &util::data::envelope("B1", 1, "1", vec![util::data::bom_row("k1")]),
    );
    assert_eq!(denied.status, 404, "t1/bom no longer allowed: {denied:?}");
    let r = call("PUT", &path, Some(json!({ "interfaces": null })));
    assert!(r.json()["interfaces"].is_null(), "{r:?}");

    // A batch: the partner now holds data.
    let sent = util::http::send(
        "POST",
        &format!("{}/v1.0/scc/data/sync/t1/bom", w.http_url()),
        &Auth::Basic(&user, PASSWORD),
        &util::data::envelope("B1", 1, "1", vec![util::data::bom_row("k1")]),
    );
    sent.expect(200, "0");

    // Rotate the secret without grace: only the new one works.
    let new_secret = "client-secret-second-2";
    let r = call(
        "POST",
        &format!("/admin/v1/partners/{partner}/rotate-secret"),
        Some(json!({ "secret": new_secret, "grace_secs": 0 })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["secret_rotated_unix"].is_i64(), "{r:?}");
    assert_eq!(token_status(&w, &partner, secret), 401, "the old secret");
    assert_eq!(
        token_status(&w, &partner, new_secret),
        200,
        "the new secret"
    );

    // Reset the password: the old one is refused.
    let new_password = "password-second-2";
    let r = call(
        "POST",
        &format!("/admin/v1/users/{user}/reset-password"),
        Some(json!({ "password": new_password })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(basic_status(&w, &user, PASSWORD), 401, "the old password");
    assert_eq!(
        basic_status(&w, &user, new_password),
        404,
        "the new password"
    );

    // Tokens: listed by id (never the token), revoked one by one or all at once.
    let t = util::http::token_request(
        &w.http_url(),
        &format!("grant_type=client_credentials&client_id={partner}&client_secret={new_secret}"),
        None,
    )
    .json()["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    let r = call("GET", &format!("/admin/v1/tokens?partner={partner}"), None);
    assert!(!r.body.contains(&t), "a token in the list");
    let ids: Vec<String> = r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!ids.is_empty(), "{r:?}");
    let bearer = |tok: &str| {
        request(
            "GET",
            &format!("{}/v1.0/scc/data/sync/t1/bom/batches/NO-SUCH", w.http_url()),
            &Auth::Bearer(tok),
            None,
            &[],
        )
        .status
    };
    assert_eq!(bearer(&t), 404, "the token works");
    for id in &ids {
        let r = call("DELETE", &format!("/admin/v1/tokens/{id}"), None);
        assert_eq!(
            (r.status, r.json()["revoked"].clone()),
            (200, json!(1)),
            "{r:?}"
        );
    }
    assert_eq!(bearer(&t), 401, "a revoked token");
    assert_eq!(
        call("DELETE", "/admin/v1/tokens/no-such-id", None).status,
        404
    );
    assert_eq!(call("DELETE", "/admin/v1/tokens", None).status, 400);
    let r = call(
        "DELETE",
        &format!("/admin/v1/tokens?partner={partner}"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");

    // The allow list: another address only refuses this one; empty allows any again.
    let path = format!("/admin/v1/partners/{partner}/addresses");
    let r = call("PUT", &path, Some(json!({ "cidrs": ["127.0.0.2/32"] })));
    assert_eq!(r.json()["cidrs"], json!(["127.0.0.2/32"]), "{r:?}");
    assert_eq!(
        basic_status(&w, &user, new_password),
        401,
        "not from 127.0.0.1"
    );
    let r = call("PUT", &path, Some(json!({ "cidrs": ["not-an-address"] })));
    assert_eq!(r.status, 400, "{r:?}");
    let r = call("PUT", &path, Some(json!({ "cidrs": [] })));
    assert_eq!(r.json()["cidrs"], json!([]), "{r:?}");
    let r = call("GET", &path, None);
    assert_eq!(
        (r.status, r.json()["cidrs"].clone()),
        (200, json!([])),
        "{r:?}"
    );
    assert_eq!(
        basic_status(&w, &user, new_password),
        404,
        "any address again"
    );

    // Bans: twenty wrong passwords ban the name and the address; the API lists and lifts them.
    for _ in 0..20 {
        basic_status(&w, &user, "wrong-password-0");
    }
    assert_eq!(basic_status(&w, &user, new_password), 429, "banned");
    let r = call("GET", "/admin/v1/bans", None);
    let whats: Vec<String> = r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["what"].as_str().unwrap_or("").to_string())
        .collect();
    // The address's failures (every refusal above counted too) reach the threshold first.
    assert!(
        whats.contains(&"address:127.0.0.1".to_string()),
        "{whats:?}"
    );
    let r = call("POST", &format!("/admin/v1/users/{user}/unlock"), None);
    assert!(r.json()["lifted"].is_u64(), "{r:?}");
    assert_eq!(
        basic_status(&w, &user, new_password),
        429,
        "the address is still banned"
    );
    assert_eq!(
        call("POST", "/admin/v1/users/NO-SUCH/unlock", None).status,
        404
    );
    assert_eq!(call("DELETE", "/admin/v1/bans", None).status, 400);
    let r = call("DELETE", "/admin/v1/bans?address=127.0.0.1", None);
    assert!(r.json()["lifted"].as_u64().is_some_and(|n| n >= 1), "{r:?}");
    assert_eq!(
        basic_status(&w, &user, new_password),
        404,
        "the bans lifted"
    );

    // Remove: refused while it holds data, done with it.
    let r = call("DELETE", &format!("/admin/v1/partners/{partner}"), None);
    assert_eq!(r.status, 409, "{r:?}");
    let r = call(
        "DELETE",
        &format!("/admin/v1/partners/{partner}?with_data=yes"),
        None,
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = call(
        "DELETE",
        &format!("/admin/v1/partners/{partner}?with_data=true"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        call("GET", &format!("/admin/v1/partners/{partner}"), None).status,
        404
    );
    assert_eq!(
        basic_status(&w, &user, new_password),
        401,
        "a removed partner's user"
    );

    // The audit trail: every change above, by this operator from the admin API.
    let records = audit_all(&api, &token, &format!("partner={partner}&kind=admin"), 100);
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap_or(""))
        .collect();
    for expected in [
        "partner.add",
        "user.add",
        "partner.disable",
        "partner.enable",
        "user.disable",
        "user.enable",
        "partner.set-interfaces",
        "partner.rotate-secret",
        "user.reset-password",
        "token.revoke",
        "partner.set-addresses",
        "partner.remove",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    for r in &records {
        assert_eq!(r["actor"], format!("operator:{name}"), "{r}");
        assert_eq!(r["door"], "admin-api", "{r}");
        assert_eq!(r["addr"], "127.0.0.1", "{r}");
    }
    let text = serde_json::to_string(&records).expect("json");
    for s in [
        secret,
        new_secret,
        PASSWORD,
        new_password,
        token.as_str(),
        t.as_str(),
    ] {
        assert!(!text.contains(s), "a secret in the audit: {s}");
    }
    api.check_against_document();
}

#[test]
fn a_partners_life_sqlite() {
    a_partners_life(Backend::Sqlite);
}

#[test]
fn a_partners_life_postgres() {
    a_partners_life(Backend::Postgres);
}
