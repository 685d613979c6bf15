//! Handler-level tests of every page and form of the upload page: a real core (SQLite in a
//! temp dir) behind real gRPC, the upload page on a loopback port, and plain HTTP/1.1
//! requests as a browser would send them (cookies, forms, multipart uploads).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wharf_core::model::Environment;
use wharf_core::{Core, Settings};
use wharf_testkit::unique;
use wharf_upload::{serve, Upload, UploadConfig};

const TOKEN: &str = "internal-token-for-upload-tests";
const PASSWORD: &str = "password-123";

const BOM_HEADER: &str = "vendor_code,vendor_father_item,father_item,vendor_child_item,child_item,\
quantity_per,effective_start_date,effective_end_date,priority,split,version";

fn bom_line(key: &str) -> String {
    format!("eee,{key},213,eee,123,10.1,2022-09-14,2022-09-14,10.2,0.28,20220914")
}

/// A CSV sheet of t1/bom with `n` valid rows keyed `K0..`.
fn bom_csv(n: usize) -> String {
    let mut s = format!("{BOM_HEADER}\n");
    for i in 0..n {
        s.push_str(&bom_line(&format!("K{i}")));
        s.push('\n');
    }
    s
}

/// A new partner of `core`, allowed every interface.
async fn add_partner(core: &Core) -> String {
    let partner = unique("p");
    core.add_partner(
        &wharf_core::audit::Origin::cli("test"),
        &partner,
        "client-secret-1",
        None,
    )
    .await
    .expect("partner");
    partner
}

/// A new user of `partner` (password `PASSWORD`).
async fn add_user(core: &Core, partner: &str) -> String {
    let user = unique("u");
    core.add_user(
        &wharf_core::audit::Origin::cli("test"),
        &user,
        partner,
        PASSWORD,
    )
    .await
    .expect("user");
    user
}

/// Core, its gRPC server and the upload page, all on loopback.
struct Site {
    addr: SocketAddr,
    core: Core,
    partner: String,
    user: String,
    _dir: tempfile::TempDir,
}

async fn site_with(cfg: UploadConfig) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = wharf_core::open_store(None, dir.path(), 4)
        .await
        .expect("sqlite store");
    let registry = wharf_core::interfaces::Registry::load(None).expect("interfaces");
    let core = Core::new(store, Arc::new(registry), Settings::default());
    let partner = add_partner(&core).await;
    let user = add_user(&core, &partner).await;
    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
    let grpc_url = format!("http://{}", grpc.local_addr().expect("addr"));
    tokio::spawn(wharf_core::grpc::serve(
        grpc,
        core.clone(),
        wharf_core::grpc::InternalToken::new(TOKEN),
        std::future::pending(),
    ));
    let client = wharf_proto::connect(&grpc_url, TOKEN).expect("client");
    let web = TcpListener::bind("127.0.0.1:0").await.expect("bind web");
    let addr = web.local_addr().expect("addr");
    tokio::spawn(serve(
        web,
        Upload::new(client, cfg),
        None,
        std::future::pending(),
    ));
    Site {
        addr,
        core,
        partner,
        user,
        _dir: dir,
    }
}

async fn site() -> Site {
    site_with(UploadConfig::default()).await
}

/// A site with `cfg` and a browser logged in as its user.
async fn logged_in_with(cfg: UploadConfig) -> (Site, Browser) {
    let site = site_with(cfg).await;
    let mut b = Browser::new(&site);
    b.login(&site.user).await;
    (site, b)
}

/// A site and a browser logged in as its user.
async fn logged_in() -> (Site, Browser) {
    logged_in_with(UploadConfig::default()).await
}

/// One HTTP response.
#[derive(Debug)]
struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the first `name="csrf" value="…"` on the page.
    fn csrf(&self) -> String {
        let text = self.text();
        let at = text
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field on the page: {text}"));
        let rest = &text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("closing quote")].to_string()
    }

    /// The value of the first `name="NAME" value="…"` on the page (a hidden input).
    fn input(&self, name: &str) -> String {
        let text = self.text();
        let marker = format!("name=\"{name}\" value=\"");
        let at = text
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field on the page: {text}"));
        let rest = &text[at + marker.len()..];
        rest[..rest.find('"').expect("closing quote")].to_string()
    }

    /// The option selected in the `<select id="ID">`, `""` when it is the first (empty) one.
    fn selected(&self, id: &str) -> String {
        let text = self.text();
        let at = text
            .find(&format!("<select name=\"{id}\""))
            .or_else(|| text.find(&format!("id=\"{id}\"")))
            .unwrap_or_else(|| panic!("no select {id} on the page: {text}"));
        let rest = &text[at..];
        let rest = &rest[..rest.find("</select>").expect("select end")];
        let Some(sel) = rest.find(" selected>") else {
            return String::new();
        };
        let open = rest[..sel].rfind("value=\"").expect("option value") + "value=\"".len();
        rest[open..rest[open..].find('"').expect("quote") + open].to_string()
    }

    /// The text content of the element with `id`.
    fn by_id(&self, id: &str) -> String {
        let text = self.text();
        let at = text
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} on the page: {text}"));
        let rest = &text[at..];
        let start = rest.find('>').expect("tag end") + 1;
        let end = rest[start..].find('<').expect("next tag");
        rest[start..start + end].trim().to_string()
    }

    /// The cells of the error table, as (row, field, type, value).
    fn error_table(&self) -> Vec<(String, String, String, String)> {
        let text = self.text();
        let cell = |row: &str, class: &str| -> String {
            let marker = format!("<td class=\"{class}\">");
            let at = row.find(&marker).expect("cell") + marker.len();
            row[at..at + row[at..].find("</td>").expect("cell end")].to_string()
        };
        text.split("<tr><td class=\"line\">")
            .skip(1)
            .map(|r| {
                let r = format!("<td class=\"line\">{r}");
                (
                    cell(&r, "line"),
                    cell(&r, "field"),
                    cell(&r, "type"),
                    cell(&r, "value"),
                )
            })
            .collect()
    }
}

/// A browser: a cookie jar over raw HTTP/1.1 requests.
struct Browser {
    addr: SocketAddr,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(site: &Site) -> Browser {
        Browser {
            addr: site.addr,
            cookies: HashMap::new(),
        }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Page {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            head.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write head");
        // The server may answer (413) before reading all of a big body.
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&raw)));
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let page = Page {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        };
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        page
    }

    /// The errors CSV of the newest batch in the history.
    async fn latest_errors_csv(&mut self) -> String {
        let history = self.get("/batches").await.text();
        let href = history
            .split("class=\"result-link\" href=\"")
            .nth(1)
            .expect("link")
            .split('"')
            .next()
            .expect("href");
        format!("{href}/errors.csv")
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, &[], b"").await
    }

    async fn post_form(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.join("&").as_bytes(),
        )
        .await
    }

    async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Page {
        let boundary = "----wharfTestBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        self.send("POST", path, &[("Content-Type", &ct)], &body)
            .await
    }

    async fn post_json(&mut self, path: &str, body: &str) -> Page {
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    /// Send the login form with `csrf`, `user` and `password`; returns the answer.
    async fn post_login(&mut self, csrf: &str, user: &str, password: &str) -> Page {
        self.post_form(
            "/login",
            &[("csrf", csrf), ("username", user), ("password", password)],
        )
        .await
    }

    /// Log in as `user`; returns the upload page.
    async fn login(&mut self, user: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        let r = self.post_login(&csrf, user, PASSWORD).await;
        assert_eq!(r.status, 303, "{}", r.text());
        assert_eq!(r.header("location"), Some("/upload"));
        let page = self.get("/upload").await;
        assert_eq!(page.status, 200, "{}", page.text());
        page
    }

    /// Upload `bytes` as `name` with the upload page's CSRF token; returns the answer to the
    /// POST (not following redirects).
    async fn upload(
        &mut self,
        name: &str,
        bytes: &[u8],
        operation: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let csrf = self.get("/upload").await.csrf();
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("interface", "t1/bom"),
            ("environment", "prod"),
            ("operation", operation),
        ];
        fields.extend_from_slice(extra);
        self.post_multipart("/upload", &fields, Some((name, bytes)))
            .await
    }

    /// Upload and follow the redirect to the result page.
    async fn upload_result(
        &mut self,
        name: &str,
        bytes: &[u8],
        operation: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let r = self.upload(name, bytes, operation, extra).await;
        assert_eq!(r.status, 303, "{}", r.text());
        let to = r.header("location").expect("location").to_string();
        assert!(to.starts_with("/batches/prod/t1/bom/"), "{to}");
        let page = self.get(&to).await;
        assert_eq!(page.status, 200, "{}", page.text());
        page
    }
}

async fn export(site: &Site) -> Vec<serde_json::Value> {
    site.core
        .export(&site.partner, Environment::Prod, "t1", "bom")
        .await
        .expect("export")
        .iter()
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect()
}

#[tokio::test]
async fn login_sets_a_strict_http_only_session_and_checks_its_form() {
    let site = site().await;
    let mut b = Browser::new(&site);
    // Not logged in: every page leads to the login page.
    for path in ["/", "/upload", "/batches", "/templates/t1/bom.xlsx"] {
        let r = b.get(path).await;
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login")),
            "{path}"
        );
    }
    let form = b.get("/login").await;
    assert_eq!(form.status, 200);
    assert!(form.text().contains("id=\"login\""));
    let csrf = form.csrf();
    // A form not from this page: no cookie, or a different token.
    let mut stranger = Browser::new(&site);
    let r = stranger.post_login(&csrf, &site.user, PASSWORD).await;
    assert_eq!(r.status, 403, "no login cookie");
    let r = b.post_login("forged", &site.user, PASSWORD).await;
    assert_eq!(r.status, 403, "wrong token");
    assert!(!b.cookies.contains_key("wharf_session"));
    // Wrong password.
    let csrf = b.get("/login").await.csrf();
    let r = b.post_login(&csrf, &site.user, "nope").await;
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("Wrong user name or password."),
        "{}",
        r.text()
    );
    // The right one.
    let csrf = b.get("/login").await.csrf();
    let r = b.post_login(&csrf, &site.user, PASSWORD).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/upload")));
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("wharf_session="))
        .expect("session cookie")
        .to_string();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP here");
    let page = b.get("/upload").await;
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("<option value=\"t1/bom\""), "{text}");
    assert!(text.contains("href=\"/templates/t1/bom.xlsx\""), "{text}");
    assert!(text.contains(&site.user));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // A session cookie core never issued is no session.
    let mut forger = Browser::new(&site);
    forger
        .cookies
        .insert("wharf_session".into(), "made-up-token".into());
    let r = forger.get("/upload").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
}

#[tokio::test]
async fn logout_ends_the_session_in_core_and_needs_its_token() {
    let site = site().await;
    let mut b = Browser::new(&site);
    let page = b.login(&site.user).await;
    let token = b.cookies["wharf_session"].clone();
    let r = b.post_form("/logout", &[("csrf", "wrong")]).await;
    assert_eq!(r.status, 403, "logout needs the CSRF token");
    let r = b.post_form("/logout", &[("csrf", &page.csrf())]).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert!(!b.cookies.contains_key("wharf_session"));
    // The old cookie no longer works anywhere: core forgot the session.
    let mut replay = Browser::new(&site);
    replay.cookies.insert("wharf_session".into(), token);
    let r = replay.get("/upload").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
}

#[tokio::test]
async fn repeated_wrong_passwords_are_refused_for_a_while() {
    let site = site().await;
    let mut b = Browser::new(&site);
    // Core's defender (default policy): `threshold` wrong passwords are answered as wrong,
    // the next login is refused unchecked.
    let threshold = wharf_core::model::DefenderPolicy::default().threshold;
    let mut statuses = Vec::new();
    for _ in 0..=threshold {
        let csrf = b.get("/login").await.csrf();
        statuses.push(b.post_login(&csrf, &site.user, "wrong").await.status);
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(last, Some(429));
    // Even the right password waits now, and the page says until when.
    let csrf = b.get("/login").await.csrf();
    let r = b.post_login(&csrf, &site.user, PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.text().contains("Too many failed logins"), "{}", r.text());
    assert!(r.text().contains("Try again after"), "{}", r.text());
}

#[tokio::test]
async fn a_valid_csv_is_applied_and_its_result_and_history_show_it() {
    let (site, mut b) = logged_in().await;
    let result = b
        .upload_result("bom.csv", bom_csv(3).as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "0");
    assert_eq!(result.by_id("rows-sent"), "3");
    assert_eq!(result.by_id("rows-applied"), "3");
    assert_eq!(result.by_id("headline"), "All 3 rows were applied.");
    assert!(result.error_table().is_empty());
    let rows = export(&site).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["vendor_father_item"], "K0");
    assert_eq!(rows[0]["quantity_per"], "10.1");
    let history = b.get("/batches").await;
    let text = history.text();
    // Each cell names its column, for the history's layout on a phone.
    assert!(
        text.contains("<td class=\"file\" data-label=\"File\">bom.csv</td>"),
        "{text}"
    );
    assert!(
        text.contains("<td class=\"rows\" data-label=\"Rows\">3</td>"),
        "{text}"
    );
    assert!(text.contains("applied"), "{text}");
    // Times: UTC as text and on hover (what a page without JavaScript shows), and the
    // instant for the page's script to write in the browser's time zone.
    let cell = text
        .split("<td class=\"time\" data-label=\"Time\">")
        .nth(1)
        .and_then(|rest| rest.split("</td>").next())
        .unwrap_or_default();
    assert!(
        cell.starts_with("<time class=\"moment\" datetime=\"")
            && cell.contains("Z\" title=\"")
            && cell.ends_with(" UTC</time>"),
        "{cell}"
    );
    let summary = result.text();
    assert!(
        summary.contains("<time class=\"moment\" datetime=\""),
        "{summary}"
    );
}

#[tokio::test]
async fn failing_rows_are_listed_with_their_sheet_row_numbers_and_nothing_is_applied() {
    let (site, mut b) = logged_in().await;
    let mut csv = bom_csv(4);
    // Row 3 (the second data row): a date that is not one; row 5: a too-long vendor code and
    // an escaped-looking value that must come back escaped.
    csv = csv.replacen(
        "eee,K1,213,eee,123,10.1,2022-09-14",
        "eee,K1,213,eee,123,10.1,2022-13-45",
        1,
    );
    csv = csv.replacen("eee,K3,", &format!("{},K3,", "<b>x</b>".repeat(5)), 1);
    let result = b
        .upload_result("bad.csv", csv.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "E00V00");
    assert_eq!(result.by_id("rows-applied"), "0");
    assert_eq!(
        result.by_id("headline"),
        "Nothing was applied: 2 errors in 2 rows. Fix them and upload the whole sheet again."
    );
    let table = result.error_table();
    assert_eq!(
        table,
        vec![
            (
                "3".into(),
                "effective_start_date".into(),
                "invalid date".into(),
                "2022-13-45".into()
            ),
            (
                "5".into(),
                "vendor_code".into(),
                "value length exceed".into(),
                "&#60;b&#62;x&#60;/b&#62;".repeat(5)
            ),
        ]
    );
    assert!(!result.text().contains("<b>x</b>"));
    assert!(export(&site).await.is_empty(), "all or nothing");
    // The CSV download holds the same lines.
    let csv_href = b.latest_errors_csv().await;
    let download = b.get(&csv_href).await;
    assert_eq!(download.status, 200);
    assert!(download
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/csv"));
    assert_eq!(
        download.text(),
        format!(
            "\u{feff}row,field,error,value,how to fix\r\n\
             3,effective_start_date,invalid date,2022-13-45,\"Use the date format yyyy-mm-dd, for example 2024-02-29 (a day the calendar has).\"\r\n\
             5,vendor_code,value length exceed,{},Too long: use at most 30 characters.\r\n",
            "<b>x</b>".repeat(5)
        )
    );
}

/// Each failing cell reads as a sentence built from core's error type and detail, a
/// duplicate row is one line naming the row it repeats, and the summary's code and messages
/// are explained in plain words; the errors CSV carries the same sentences.
#[tokio::test]
async fn errors_read_as_sentences_that_say_how_to_fix_them() {
    let (site, mut b) = logged_in().await;
    let line = |key: &str, edit: &dyn Fn(String) -> String, bu: &str| {
        format!("{},{bu}\n", edit(bom_line(key)))
    };
    let same = |l: String| l;
    let mut csv = format!("{BOM_HEADER},bu\n");
    csv += &line("K0", &same, "ThinkNB");
    csv += &line(
        "K1",
        &|l| l.replacen("2022-09-14", "2022/10/01", 1),
        "ThinkNB",
    );
    csv += &line("K2", &|l| l.replace(",0.28,", ",1.234,"), "IdeaNB");
    csv += &line("K3", &same, "Thinkpad");
    csv += &line("K0", &same, "ThinkNB");
    csv += &line("K4", &|l| l.replace(",10.2,", ",high,"), "ThinkNB");
    let result = b
        .upload_result("hints.csv", csv.as_bytes(), "insert", &[])
        .await;
    let text = result.text();
    let hints: Vec<(String, String, String)> = text
        .split("<tr><td class=\"line\">")
        .skip(1)
        .map(|r| {
            let cell = |class: &str| {
                let marker = format!("<td class=\"{class}\">");
                let at = r.find(&marker).expect("cell") + marker.len();
                r[at..at + r[at..].find("</td>").expect("cell end")].to_string()
            };
            (
                r[..r.find("</td>").expect("line end")].to_string(),
                cell("field"),
                cell("hint"),
            )
        })
        .collect();
    let key = "vendor_code=eee, vendor_father_item=K0, father_item=213, vendor_child_item=eee, \
               version=20220914";
    let want: Vec<(String, String, String)> = [
        (
            "3",
            "effective_start_date",
            "Use the date format yyyy-mm-dd, for example 2024-02-29 (a day the calendar has)."
                .to_string(),
        ),
        (
            "4",
            "split",
            "At most 2 digits after the decimal point (and at most 2 digits before it).".into(),
        ),
        (
            "5",
            "bu",
            "Allowed: ThinkNB, IdeaNB, ThinkOption, ThinkDT, IdeaOption, IdeaDT, WS, Smart \
             Device, ISG, Mobile Phone, Mobile Tablet. Write one of them exactly, capitals \
             included."
                .into(),
        ),
        (
            "6",
            "vendor_code,vendor_father_item,father_item,vendor_child_item,version",
            format!(
                "Same key as row 2 ({key}): each row needs its own key. Remove one of the two \
                 rows or correct its key."
            ),
        ),
        (
            "7",
            "priority",
            "Enter a plain number such as 12.5: at most 10 digits before the decimal point and \
             at most 3 digits after it; no spaces, thousands separators or units. You may also \
             write N/A."
                .into(),
        ),
    ]
    .into_iter()
    .map(|(l, f, h)| (l.to_string(), f.to_string(), h))
    .collect();
    assert_eq!(hints, want, "{text}");
    assert_eq!(
        result.by_id("result-msg"),
        "abandoned by its sender: 1 of its sequences was rejected"
    );
    assert!(
        result
            .by_id("result-explained")
            .contains("the whole sheet was withdrawn"),
        "{text}"
    );
    assert!(
        text.contains("<span class=\"note-msg\">multiple exceptions</span> <span class=\"note-explained\">Two kinds of problems at once"),
        "{text}"
    );
    assert!(export(&site).await.is_empty(), "all or nothing");
    // The history explains the code on hover.
    let history = b.get("/batches").await.text();
    assert!(
        history.contains("<td class=\"code\" data-label=\"Code\" title=\"The sheet was sent in parts, and some part had failing rows"),
        "{history}"
    );
    let csv_href = b.latest_errors_csv().await;
    let download = b.get(&csv_href).await.text();
    assert!(
        download.contains(&format!(
            "6,\"vendor_code,vendor_father_item,father_item,vendor_child_item,version\",\
             duplicate key,\"eee, K0, 213, eee, 20220914\",\"Same key as row 2 ({key}): each row needs \
             its own key. Remove one of the two rows or correct its key.\"\r\n"
        )),
        "{download}"
    );
}

/// Header names and values a sheet carried come back in the errors CSV defused: what starts
/// like a formula gets a leading `'` (and RFC 4180 quotes), a plain negative number stays.
#[tokio::test]
async fn the_errors_csv_defuses_formulas_in_values_and_header_names() {
    let site = site().await;
    let mut b = Browser::new(&site);
    b.login(&site.user).await;
    // An unknown column named like a formula, a number field holding a formula, and a
    // negative number where a digits field is expected.
    let csv = format!(
        "{BOM_HEADER},-1+1|cmd\n{}\n",
        "eee,K1,213,eee,123,\"-2+3+cmd|' /C calc'!A0\",2022-09-14,2022-09-14,10.2,0.28,-12,@x"
    );
    // The unknown column is offered for mapping (its header shown as text); left ignored.
    let step = b.upload("evil.csv", csv.as_bytes(), "insert", &[]).await;
    assert_eq!(step.status, 200, "{}", step.text());
    assert!(
        step.text().contains("<td class=\"header\">-1+1|cmd</td>"),
        "{}",
        step.text()
    );
    let sent = post_mapping(&mut b, &mapping_form(&step, 12, &[(11, "")])).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let result = b.get(sent.header("location").expect("location")).await;
    assert_eq!(result.by_id("result-code"), "E00V00");
    let csv_href = b.latest_errors_csv().await;
    let download = b.get(&csv_href).await;
    assert_eq!(download.status, 200);
    let text = download.text();
    assert!(
        text.contains("2,quantity_per,invalid number,'-2+3+cmd|' /C calc'!A0,"),
        "{text}"
    );
    assert!(text.contains("2,version,invalid number,-12,"), "{text}");
    for line in text.lines().skip(1) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '@', '\t', '\r']) && !cell.starts_with("-2+"),
                "{cell:?} in {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_sheet_bigger_than_one_sequence_is_one_all_or_nothing_batch() {
    let (site, mut b) = logged_in().await;
    // 5,003 rows with one bad row in the second sequence (sheet row 5,004).
    let mut csv = bom_csv(5003);
    csv = csv.replacen(
        "eee,K5002,213,eee,123,10.1,",
        "eee,K5002,213,eee,123,ten,",
        1,
    );
    let result = b
        .upload_result("big.csv", csv.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "E00V00");
    assert_eq!(
        result.error_table(),
        vec![(
            "5004".into(),
            "quantity_per".into(),
            "invalid number".into(),
            "ten".into()
        )]
    );
    assert!(
        export(&site).await.is_empty(),
        "the valid first sequence was not applied"
    );
    // The same sheet, fixed, lands whole.
    let result = b
        .upload_result("big.csv", bom_csv(5003).as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "0");
    assert_eq!(result.by_id("rows-applied"), "5003");
    assert_eq!(export(&site).await.len(), 5003);
}

#[tokio::test]
async fn forms_without_the_csrf_token_change_nothing() {
    let (site, mut b) = logged_in().await;
    let fields = [
        ("interface", "t1/bom"),
        ("environment", "prod"),
        ("operation", "insert"),
    ];
    let r = b
        .post_multipart("/upload", &fields, Some(("bom.csv", bom_csv(1).as_bytes())))
        .await;
    assert_eq!(r.status, 403, "missing token");
    let mut with_wrong = fields.to_vec();
    with_wrong.push(("csrf", "0123456789abcdef0123456789abcdef01234567"));
    let r = b
        .post_multipart(
            "/upload",
            &with_wrong,
            Some(("bom.csv", bom_csv(1).as_bytes())),
        )
        .await;
    assert_eq!(r.status, 403, "wrong token");
    assert!(export(&site).await.is_empty());
    assert!(b.get("/batches").await.text().contains("No batches yet"));
}

#[tokio::test]
async fn an_oversized_file_is_refused_with_a_clear_message() {
    let (site, mut b) = logged_in_with(UploadConfig::with_max_file_bytes(4096)).await;
    let r = b
        .upload("big.csv", bom_csv(200).as_bytes(), "insert", &[])
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("larger than 1 MiB"), "{}", r.text());
    assert!(export(&site).await.is_empty());
}

#[tokio::test]
async fn a_zip_bomb_and_a_broken_workbook_get_a_code_and_a_reason() {
    let mut cfg = UploadConfig::default();
    // A workbook that unpacks to more than this is treated as a bomb.
    cfg.sheet_limits.max_unzipped_bytes = 64 * 1024;
    let (site, mut b) = logged_in_with(cfg).await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for r in 0..3000u32 {
        sheet
            .write_string(r, 0, "the same text again and again")
            .expect("cell");
        sheet.write_number(r, 1, f64::from(r)).expect("cell");
    }
    let bomb = book.save_to_buffer().expect("xlsx");
    assert!(bomb.len() < 64 * 1024, "small on the wire");
    let r = b.upload("bomb.xlsx", &bomb, "insert", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.by_id("result-code"), "E00V00");
    assert!(
        r.by_id("result-msg").contains("unpack"),
        "{}",
        r.by_id("result-msg")
    );
    let r = b
        .upload("broken.xlsx", b"PK\x03\x04 not really a zip", "insert", &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.by_id("result-code"), "E00V00");
    let r = b.upload("notes.pdf", b"%PDF-1.4", "insert", &[]).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("upload an .xlsx or .csv file"),
        "{}",
        r.text()
    );
    assert!(export(&site).await.is_empty());
}

/// The multipart fields of the mapping page's form as it stands, with `choices` (column
/// number → field) changed.
fn mapping_form(page: &Page, columns: usize, choices: &[(usize, &str)]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        "csrf",
        "held",
        "interface",
        "environment",
        "operation",
        "when",
        "execute_at",
        "revert_at",
        "tz",
    ]
    .iter()
    .map(|n| (n.to_string(), page.input(n)))
    .collect();
    for i in 0..columns {
        let name = format!("column.{i}");
        let value = choices
            .iter()
            .find(|(c, _)| *c == i)
            .map(|(_, f)| f.to_string())
            .unwrap_or_else(|| page.selected(&name));
        fields.push((name, value));
    }
    fields
}

async fn post_mapping(b: &mut Browser, fields: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post_multipart("/upload", &pairs, None).await
}

#[tokio::test]
async fn headers_in_chinese_labels_and_other_spellings_are_matched_without_a_step() {
    let (site, mut b) = logged_in().await;
    let header = "供应商编码,Vendor Upper Item,FATHER ITEM,vendor child item,联想下层节点料号,\
Qty Per,生效日期,Effective_End_Date,优先级,split,版本号";
    let sheet = bom_csv(2).replacen(BOM_HEADER, header, 1);
    let result = b
        .upload_result("labels.csv", sheet.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "0", "{}", result.text());
    let rows = export(&site).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["vendor_code"], "eee");
    assert_eq!(rows[0]["vendor_father_item"], "K0");
    assert_eq!(rows[0]["version"], "20220914");
}

#[tokio::test]
async fn unknown_headers_get_a_mapping_step_whose_choice_is_checked_and_remembered() {
    let (site, mut b) = logged_in().await;
    // "Code" is no field's name, label or alternate; "Remarks" is nothing at all.
    let header = format!("{},Remarks", BOM_HEADER.replacen("vendor_code", "Code", 1));
    let mut sheet = format!("{header}\n");
    for i in 0..3 {
        sheet.push_str(&format!("{},note {i}\n", bom_line(&format!("K{i}"))));
    }
    let step = b.upload("mine.csv", sheet.as_bytes(), "insert", &[]).await;
    assert_eq!(step.status, 200, "{}", step.text());
    let text = step.text();
    assert!(text.contains("Match your columns"), "{text}");
    assert!(text.contains("<td class=\"header\">Code</td>"), "{text}");
    assert!(
        text.contains("<td class=\"samples\">eee · eee · eee</td>"),
        "{text}"
    );
    let missing = &text[text.find("id=\"missing\"").expect("missing")..];
    assert!(
        missing[..missing.find("</p>").expect("end")].contains("<code>vendor_code</code>"),
        "{text}"
    );
    // What core settled is preselected, and its guess for "Code" to confirm; the unknown
    // column is not.
    assert!(text.contains("<tr class=\"column guess\">"), "{text}");
    assert_eq!(step.selected("column.1"), "vendor_father_item");
    assert_eq!(step.selected("column.0"), "vendor_code");
    assert_eq!(step.selected("column.11"), "");
    // Nothing was sent yet.
    assert!(export(&site).await.is_empty());

    // A field chosen twice is refused with the reason, the file still held.
    let twice = mapping_form(&step, 12, &[(0, "vendor_father_item")]);
    let again = post_mapping(&mut b, &twice).await;
    assert_eq!(again.status, 400, "{}", again.text());
    assert!(
        again.by_id("columns-error").contains("both fill field"),
        "{}",
        again.text()
    );
    assert!(export(&site).await.is_empty());

    let chosen = mapping_form(&again, 12, &[(0, "vendor_code"), (11, "")]);
    let sent = post_mapping(&mut b, &chosen).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let to = sent.header("location").expect("location").to_string();
    let result = b.get(&to).await;
    assert_eq!(result.by_id("result-code"), "0", "{}", result.text());
    assert_eq!(result.by_id("rows-applied"), "3");
    let rows = export(&site).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["vendor_code"], "eee");
    assert!(rows[0].get("Remarks").is_none(), "{:?}", rows[0]);

    // The next sheet with these headers goes straight through, read the same way.
    let next = sheet.replace(",K", ",N");
    let result = b
        .upload_result("mine.csv", next.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "0", "{}", result.text());
    assert_eq!(export(&site).await.len(), 6);
}

#[tokio::test]
async fn the_users_own_sheet_comes_back_with_its_failing_cells_noted() {
    let (_site, mut b) = logged_in().await;
    // The user's own headers (labels and spellings), kept in the copy.
    let header = "供应商编码,Vendor Upper Item,FATHER ITEM,vendor child item,联想下层节点料号,\
Qty Per,生效日期,Effective_End_Date,优先级,split,版本号";
    let sheet = format!(
        "{header}\n{}\n{}\n{}\n{}\n",
        bom_line("K0"),
        bom_line("K1").replace("2022-09-14,2022-09-14", "2022-09-14,2022-13-31"),
        bom_line("K2").replace("10.1", "abc"),
        bom_line("K3").replacen("eee", "", 1),
    );
    let result = b
        .upload_result("mine.csv", sheet.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "E00V00", "{}", result.text());
    let text = result.text();
    let href = text
        .split("id=\"annotated\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a link to the annotated sheet");
    let r = b.get(href).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.contains("mine-errors.xlsx")),
        "{:?}",
        r.header("content-disposition")
    );
    // The values, read back by the door's own reader: the user's headers and cells.
    let back = wharf_sheet::read(
        wharf_sheet::Format::Xlsx,
        &r.body,
        &wharf_sheet::Limits::default(),
    )
    .expect("a workbook");
    assert_eq!(back.header.join(","), header);
    let rows: Vec<_> = back.rows().collect();
    assert_eq!(rows.len(), 4);
    let cell = |line: u32, name: &str| -> String {
        rows.iter()
            .find(|r| r.line == line)
            .and_then(|r| r.row.fields.iter().find(|f| f.name == name))
            .and_then(|f| f.value.as_ref())
            .map(|v| match v.kind.as_ref() {
                Some(wharf_proto::v1::value::Kind::Text(t))
                | Some(wharf_proto::v1::value::Kind::Number(t)) => t.clone(),
                _ => String::new(),
            })
            .unwrap_or_default()
    };
    assert_eq!(cell(3, "Effective_End_Date"), "2022-13-31");
    assert_eq!(cell(4, "Qty Per"), "abc");
    assert_eq!(cell(2, "Qty Per"), "10.1");
    // The notes: on the failing cells only, saying what is wrong and how to fix it.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("a zip");
    let mut notes = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/comments1.xml").expect("notes"),
        &mut notes,
    )
    .expect("xml");
    let note = |cell: &str| -> String {
        let at = notes
            .find(&format!("<comment ref=\"{cell}\""))
            .unwrap_or_else(|| panic!("no note on {cell}: {notes}"));
        let rest = &notes[at..];
        rest[..rest.find("</comment>").expect("end")].to_string()
    };
    assert!(note("H3").contains("invalid date"), "{notes}");
    assert!(note("H3").contains("yyyy-mm-dd"), "{notes}");
    assert!(note("F4").contains("invalid number"), "{notes}");
    assert!(note("A5").contains("required field missing"), "{notes}");
    assert_eq!(notes.matches("<comment ref=").count(), 3, "{notes}");
}

#[tokio::test]
async fn failing_rows_are_fixed_in_the_grid_checked_by_core_and_sent_as_a_new_batch() {
    let (site, mut b) = logged_in().await;
    let sheet = format!(
        "{BOM_HEADER}\n{}\n{}\n{}\n{}\n{}\n",
        bom_line("K0"),
        bom_line("K1").replace("2022-09-14,2022-09-14", "2022-09-14,2022-13-31"),
        bom_line("K2").replace("10.1", "abc"),
        bom_line("K3").replacen("eee", "", 1),
        bom_line("K4"),
    );
    let result = b
        .upload_result("mine.csv", sheet.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "E00V00", "{}", result.text());
    let csrf = result.csrf();
    let text = result.text();
    let fix = text
        .split("id=\"fix\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a link to the grid")
        .to_string();
    let original = fix.trim_end_matches("/fix").to_string();
    let page = b.get(&fix).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("id=\"grid\""), "{}", page.text());

    // The failing rows with their values and problems, in the sheet's columns.
    let rows = b.get(&format!("{fix}/rows")).await;
    assert_eq!(rows.status, 200, "{}", rows.text());
    let grid: serde_json::Value = serde_json::from_slice(&rows.body).expect("json");
    let columns: Vec<&str> = grid["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(columns.join(","), BOM_HEADER);
    let lines: Vec<u64> = grid["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5]);
    assert_eq!(grid["rows"][0]["values"][7], "2022-13-31");
    assert_eq!(
        grid["rows"][0]["problems"][0]["field"],
        "effective_end_date"
    );
    assert!(
        grid["rows"][0]["problems"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("yyyy-mm-dd"),
        "{grid}"
    );

    let values = |row: usize, edit: (usize, &str)| -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (i, c) in columns.iter().enumerate() {
            let v = if i == edit.0 {
                edit.1.to_string()
            } else {
                grid["rows"][row]["values"][i].as_str().unwrap().to_string()
            };
            m.insert(c.to_string(), v.into());
        }
        serde_json::Value::Object(m)
    };
    let check = |body: serde_json::Value| body.to_string();
    // Core judges each edit: still wrong, then right.
    let still = b
        .post_json(
            &format!("{fix}/check"),
            &check(serde_json::json!({"csrf": csrf, "line": 3, "values": values(0, (7, "2022/12/31"))})),
        )
        .await;
    assert_eq!(still.status, 200, "{}", still.text());
    let still: serde_json::Value = serde_json::from_slice(&still.body).unwrap();
    assert_eq!(still["problems"][0]["kind"], "invalid date", "{still}");
    let right = b
        .post_json(
            &format!("{fix}/check"),
            &check(serde_json::json!({"csrf": csrf, "line": 3, "values": values(0, (7, "2022-12-31"))})),
        )
        .await;
    let right: serde_json::Value = serde_json::from_slice(&right.body).unwrap();
    assert_eq!(right["problems"], serde_json::json!([]), "{right}");
    // Without the page's token nothing is checked.
    let forged = b
        .post_json(
            &format!("{fix}/check"),
            &check(
                serde_json::json!({"csrf": "x", "line": 3, "values": values(0, (7, "2022-12-31"))}),
            ),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(export(&site).await.is_empty());

    // The corrected sheet: a new batch, applied whole, naming the one it corrects.
    let edits = serde_json::json!({
        "3": values(0, (7, "2022-12-31")),
        "4": values(1, (5, "10.5")),
        "5": values(2, (0, "fff")),
    });
    let sent = b
        .post_json(
            &fix,
            &check(serde_json::json!({"csrf": csrf, "edits": edits})),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    let href = serde_json::from_slice::<serde_json::Value>(&sent.body).unwrap()["href"]
        .as_str()
        .expect("href")
        .to_string();
    assert_ne!(href, original);
    let fixed = b.get(&href).await;
    assert_eq!(fixed.by_id("result-code"), "0", "{}", fixed.text());
    assert_eq!(fixed.by_id("rows-applied"), "5");
    assert!(
        fixed
            .text()
            .contains(&format!("id=\"corrects\" href=\"{original}\"")),
        "{}",
        fixed.text()
    );
    // The history links the corrected batch to the one it corrects.
    let history = b.get("/batches").await.text();
    assert!(
        history.contains(&format!("<a class=\"corrects\" href=\"{original}\">")),
        "{history}"
    );
    let rows = export(&site).await;
    assert_eq!(rows.len(), 5);
    let by_key = |k: &str| {
        rows.iter()
            .find(|r| r["vendor_father_item"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(by_key("K1")["effective_end_date"], "2022-12-31");
    assert_eq!(by_key("K2")["quantity_per"], "10.5");
    assert_eq!(by_key("K3")["vendor_code"], "fff");
    assert_eq!(by_key("K0")["quantity_per"], "10.1");
}

#[tokio::test]
async fn a_held_upload_is_only_its_users_and_an_unknown_one_is_explained() {
    let (site, mut b) = logged_in().await;
    let sheet = bom_csv(1).replacen("vendor_code", "Code", 1);
    let step = b.upload("mine.csv", sheet.as_bytes(), "insert", &[]).await;
    assert_eq!(step.status, 200, "{}", step.text());
    // Another user of the same partner cannot send it.
    let other = add_user(&site.core, &site.partner).await;
    let mut b2 = Browser::new(&site);
    b2.login(&other).await;
    let mut fields = mapping_form(&step, 11, &[(0, "vendor_code")]);
    fields[0].1 = b2.get("/upload").await.csrf();
    let refused = post_mapping(&mut b2, &fields).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("no longer kept"),
        "{}",
        refused.text()
    );
    assert!(export(&site).await.is_empty());
}

#[tokio::test]
async fn a_wrong_header_row_and_an_empty_sheet_are_answered_by_core() {
    let (site, mut b) = logged_in().await;
    let wrong = bom_csv(1).replacen("vendor_code", "supplier", 1);
    // The mapping step offered, the user leaves the column ignored and sends anyway: core
    // answers what is missing.
    let step = b.upload("wrong.csv", wrong.as_bytes(), "insert", &[]).await;
    assert_eq!(step.status, 200, "{}", step.text());
    let fields = mapping_form(&step, 11, &[]);
    let refused = post_mapping(&mut b, &fields).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused
            .by_id("columns-error")
            .contains("required field(s) vendor_code"),
        "{}",
        refused.text()
    );
    let empty = format!("{BOM_HEADER}\n");
    let result = b
        .upload_result("empty.csv", empty.as_bytes(), "insert", &[])
        .await;
    assert_eq!(result.by_id("result-code"), "E00V00");
    assert!(export(&site).await.is_empty());
}

#[tokio::test]
async fn dates_as_excel_date_cells_and_as_text_land_alike() {
    let (site, mut b) = logged_in().await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (c, name) in BOM_HEADER.split(',').enumerate() {
        sheet.write_string(0, c as u16, name).expect("header");
    }
    for (r, key) in [(1u32, "CELL"), (2, "TEXT")] {
        let values = bom_line(key);
        for (c, v) in values.split(',').enumerate() {
            let c = c as u16;
            let is_date = c == 6 || c == 7;
            if is_date && key == "CELL" {
                let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2022, 9, 14).expect("date");
                sheet
                    .write_datetime_with_format(r, c, &d, &date)
                    .expect("date cell");
            } else if c == 5 || c == 8 || c == 9 {
                sheet
                    .write_number(r, c, v.parse::<f64>().expect("number"))
                    .expect("number");
            } else {
                sheet.write_string(r, c, v).expect("text");
            }
        }
    }
    let bytes = book.save_to_buffer().expect("xlsx");
    let result = b.upload_result("dates.xlsx", &bytes, "insert", &[]).await;
    assert_eq!(result.by_id("result-code"), "0", "{}", result.text());
    let rows = export(&site).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["effective_start_date"], rows[0]["effective_start_date"]);
        assert_eq!(row["effective_end_date"], rows[0]["effective_end_date"]);
        assert_eq!(row["quantity_per"], "10.1");
    }
}

#[tokio::test]
async fn all_needs_its_confirmation_and_then_replaces_the_data_set() {
    let (site, mut b) = logged_in().await;
    b.upload_result("first.csv", bom_csv(3).as_bytes(), "insert", &[])
        .await;
    let only_one = format!("{BOM_HEADER}\n{}\n", bom_line("NEW"));
    let r = b.upload("all.csv", only_one.as_bytes(), "all", &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("tick the box"), "{}", r.text());
    assert_eq!(export(&site).await.len(), 3, "unconfirmed: nothing changed");
    let result = b
        .upload_result(
            "all.csv",
            only_one.as_bytes(),
            "all",
            &[("confirm_all", "yes")],
        )
        .await;
    assert_eq!(result.by_id("result-code"), "0");
    let rows = export(&site).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["vendor_father_item"], "NEW");
}

#[tokio::test]
async fn history_is_the_users_own_newest_first_and_results_are_not_shared_across_partners() {
    let (site, mut b) = logged_in().await;
    b.upload_result("one.csv", bom_csv(1).as_bytes(), "insert", &[])
        .await;
    let second = b
        .upload_result("two.csv", bom_csv(2).as_bytes(), "update", &[])
        .await;
    let history = b.get("/batches").await.text();
    let one = history.find(">one.csv<").expect("one");
    let two = history.find(">two.csv<").expect("two");
    assert!(two < one, "newest first");
    // Another user of the same partner sees their own (empty) history.
    let other = add_user(&site.core, &site.partner).await;
    let mut b2 = Browser::new(&site);
    b2.login(&other).await;
    assert!(b2.get("/batches").await.text().contains("No batches yet"));
    // A user of another partner cannot open this partner's result.
    let stranger_partner = add_partner(&site.core).await;
    let stranger = add_user(&site.core, &stranger_partner).await;
    let mut b3 = Browser::new(&site);
    b3.login(&stranger).await;
    let batch_id = second.by_id("batch-id");
    let r = b3.get(&format!("/batches/prod/t1/bom/{batch_id}")).await;
    assert_eq!(r.status, 404);
    let r = b3
        .get(&format!("/batches/prod/t1/bom/{batch_id}/errors.csv"))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_template_is_a_workbook_whose_header_is_the_interface() {
    let (site, mut b) = logged_in().await;
    let r = b.get("/templates/t1/bom.xlsx").await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .unwrap_or_default()
        .contains("t1_bom_template.xlsx"));
    let sheet = wharf_sheet::read(
        wharf_sheet::Format::Xlsx,
        &r.body,
        &wharf_sheet::Limits::default(),
    )
    .expect("a workbook");
    let defs = site
        .core
        .list_interfaces(&site.partner)
        .await
        .expect("defs");
    let bom = defs.iter().find(|d| d.biz_key == "bom").expect("bom");
    let names: Vec<&str> = bom.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(sheet.header, names);

    // Inside the workbook: `bu` has a drop-down of its allowed values; every column says what
    // to write when a cell is selected; the field sheet says it in plain words, with the
    // `N/A` a field also takes and an example, and no type jargon.
    let part = |name: &str| {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("a zip");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).expect(name), &mut text).expect("xml");
        text
    };
    let data = part("xl/worksheets/sheet1.xml");
    let bu = names.iter().position(|n| *n == "bu").expect("bu");
    let bu_col = char::from(b'A' + bu as u8);
    assert!(
        data.contains(
            "<dataValidation type=\"list\" allowBlank=\"1\" showInputMessage=\"1\" \
             showErrorMessage=\"1\" errorTitle=\"Not an allowed value\""
        ) && data.contains(&format!("sqref=\"{bu_col}2:{bu_col}100001\"")),
        "{data}"
    );
    assert!(
        data.contains("<formula1>\"ThinkNB,IdeaNB,ThinkOption"),
        "{data}"
    );
    assert_eq!(
        data.matches("<dataValidation ").count(),
        names.len(),
        "one rule (a list or a note) per column"
    );
    let strings = part("xl/sharedStrings.xml");
    for said in [
        "A date written yyyy-mm-dd, for example 2024-02-29.",
        "A plain number such as 12.5: at most 10 digits before the decimal point and at most 3 \
         digits after it. You may also write N/A.",
        "Digits only (0-9), at most 16 of them; leading zeros are kept.",
        "Text, at most 30 characters. You may also write N/A.",
        "One of the allowed values, written exactly, capitals included.",
        "what to write",
        "also accepted",
    ] {
        assert!(
            strings.contains(said),
            "the field sheet says {said:?}: {strings}"
        );
    }
    assert!(
        !strings.contains("decimal(13,3)"),
        "no type jargon: {strings}"
    );
    // Required headers are styled apart from optional ones: two header styles.
    let styles = part("xl/styles.xml");
    assert!(styles.contains("FF1F4E8C"), "{styles}");

    assert_eq!(b.get("/templates/t1/nope.xlsx").await.status, 404);
    assert_eq!(b.get("/templates/t1/bom.pdf").await.status, 404);
}

#[tokio::test]
async fn unknown_pages_and_methods_get_pages_not_errors() {
    let site = site().await;
    let mut b = Browser::new(&site);
    assert_eq!(b.get("/nope").await.status, 404);
    assert_eq!(b.get("/healthz").await.text(), "ok\n");
    assert_eq!(b.send("DELETE", "/upload", &[], b"").await.status, 405);
    assert_eq!(b.get("/static/wharf.css").await.status, 200);
    assert_eq!(b.get("/static/../Cargo.toml").await.status, 404);
    b.login(&site.user).await;
    assert_eq!(b.get("/batches/prod/t1/bom/nosuchbatch").await.status, 404);
    assert_eq!(b.get("/batches/qa/t1/bom/x").await.status, 404);
    let r = b
        .send(
            "POST",
            "/upload",
            &[("Content-Type", "text/plain")],
            b"hello",
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn thousands_of_errors_are_paged_and_counted() {
    let (_site, mut b) = logged_in().await;
    // 250 rows, every one with a quantity that is not a number.
    let csv = bom_csv(250).replace(",123,10.1,", ",123,many,");
    let r = b.upload("many.csv", csv.as_bytes(), "insert", &[]).await;
    let href = r.header("location").expect("location").to_string();
    let first = b.get(&href).await;
    assert!(
        first
            .by_id("errors-count")
            .starts_with("250 errors, showing 1–100"),
        "{}",
        first.by_id("errors-count")
    );
    let table = first.error_table();
    assert_eq!(table.len(), 100);
    assert_eq!(table[0].0, "2");
    assert!(first.text().contains(&format!("href=\"{href}?page=2\"")));
    let last = b.get(&format!("{href}?page=3")).await;
    let table = last.error_table();
    assert_eq!(table.len(), 50);
    assert_eq!(table[49].0, "251", "the last sheet row");
    assert!(last.by_id("errors-count").contains("showing 201–250"));
    // Out of range pages show the nearest one, never an error.
    assert_eq!(
        b.get(&format!("{href}?page=99")).await.error_table().len(),
        50
    );
    let csv = b.get(&format!("{href}/errors.csv")).await.text();
    assert_eq!(csv.lines().count(), 251, "a header and every error");
}

#[tokio::test]
async fn a_scheduled_sheet_is_held_then_applied_and_reverted_by_hand() {
    let (site, mut b) = logged_in().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // Three hours ahead, as a browser in UTC writes a datetime-local value.
    let at = &wharf_proto::time::rfc3339(now + 3 * 3600)[..16];
    let result = b
        .upload_result(
            "later.csv",
            bom_csv(2).as_bytes(),
            "insert",
            &[("when", "at"), ("execute_at", at), ("tz", "0")],
        )
        .await;
    assert_eq!(result.by_id("result-code"), "0", "{}", result.text());
    assert!(result
        .by_id("headline")
        .starts_with("Scheduled: all 2 rows will be applied at"));
    // Held, not applied: the badge says so (not a green "applied").
    assert_eq!(result.by_id("status"), "scheduled");
    assert!(result.text().contains("class=\"badge held\""));
    assert!(
        result.by_id("plan-execute").contains("idle"),
        "{}",
        result.by_id("plan-execute")
    );
    assert!(export(&site).await.is_empty(), "held, not applied");
    let href = format!("/batches/prod/t1/bom/{}", result.by_id("batch-id"));
    let csrf = result.csrf();
    // A bad schedule is core's to refuse, with seed 003's answer.
    let r = b
        .upload_result(
            "soon.csv",
            bom_csv(1).as_bytes(),
            "insert",
            &[("when", "at"), ("execute_at", "2020-01-01T00:00")],
        )
        .await;
    assert_eq!(r.by_id("result-code"), "E00V00");
    // Apply now, by hand.
    let r = b
        .post_form(
            &format!("{href}/execute"),
            &[("csrf", &csrf), ("confirmed", "")],
        )
        .await;
    assert_eq!((r.status, r.header("location")), (303, Some(href.as_str())));
    let page = b.get(&href).await;
    assert_eq!(page.by_id("headline"), "All 2 rows were applied.");
    assert_eq!(page.by_id("status"), "applied");
    assert!(page
        .by_id("plan-execute")
        .contains(&format!("by {}", site.user)));
    assert_eq!(export(&site).await.len(), 2);
    // Cancel is no longer possible; the page says why instead of failing.
    let r = b
        .post_form(&format!("{href}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    // Revert asks first, then puts every row back.
    let r = b
        .post_form(
            &format!("{href}/revert"),
            &[("csrf", &csrf), ("confirmed", "")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("id=\"question\""), "a confirmation page");
    assert_eq!(
        export(&site).await.len(),
        2,
        "nothing reverted before confirming"
    );
    let r = b
        .post_form(
            &format!("{href}/revert"),
            &[("csrf", "forged"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post_form(
            &format!("{href}/revert"),
            &[("csrf", &csrf), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(export(&site).await.is_empty(), "reverted");
    let page = b.get(&href).await;
    assert_eq!(
        page.by_id("headline"),
        "All 2 rows were applied, then reverted."
    );
    assert_eq!(page.by_id("status"), "reverted");
    let history = b.get("/batches").await.text();
    assert!(history.contains("revert "), "{history}");
    assert!(
        history.contains("<span class=\"badge reverted\">reverted</span>"),
        "{history}"
    );
    // The History page's title is plain text (it once held a script tag).
    assert!(history.contains("<title>History"), "{history}");
    assert!(!history.contains("<title>History<script"), "{history}");
}

/// A file or sequence that was only ever rejected (over FTP or the API) leaves its batch open
/// with nothing staged: history and result page call it rejected, with its answer, not "open,
/// not complete yet".
#[tokio::test]
async fn a_batch_that_was_only_rejected_shows_as_rejected() {
    let (site, mut b) = logged_in().await;
    use wharf_proto::v1 as pb;
    let mut req = pb::IngestBatchRequest {
        partner: site.partner.clone(),
        user: site.user.clone(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        operation: pb::Operation::Insert as i32,
        transport: pb::Transport::Ftp as i32,
        source: "bom_insert_20221001003000_1.json".into(),
        ..Default::default()
    };
    let bad_date = bom_line("R1").replacen("2022-09-14", "2022-13-45", 1);
    let sheet = bom_csv(0);
    let fields: Vec<&str> = sheet.lines().next().expect("header").split(',').collect();
    let row: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .zip(bad_date.split(','))
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    let envelope = serde_json::json!({
        "batch_id": "REJ1", "batch_size": 1, "seq_id": "1", "seq_size": 1, "data": [row]
    });
    wharf_proto::json::read_envelope(envelope.to_string().as_bytes(), &mut req);
    let answer = site.core.ingest(&req).await.expect("ingest");
    assert_eq!(answer.code, "E00V00", "{answer:?}");

    let history = b.get("/batches").await.text();
    assert!(
        history.contains("<span class=\"badge rejected\">rejected</span>"),
        "{history}"
    );
    let page = b.get("/batches/prod/t1/bom/REJ1").await;
    assert_eq!(page.by_id("status"), "rejected", "{}", page.text());
    assert_eq!(page.by_id("result-code"), "E00V00");
    assert_eq!(page.by_id("rows-applied"), "0");
    assert!(!page.text().contains("not complete"), "{}", page.text());
}

/// The environment has no default: the form preselects neither, and a sheet sent without
/// one is refused with a reason, nothing applied.
#[tokio::test]
async fn the_environment_must_be_chosen() {
    let (site, mut b) = logged_in().await;
    let form = b.get("/upload").await.text();
    assert!(
        form.contains("<option value=\"\" selected disabled>choose: prod or uat</option>"),
        "{form}"
    );
    assert!(!form.contains("value=\"prod\" selected"), "{form}");
    let csrf = b.get("/upload").await.csrf();
    let r = b
        .post_multipart(
            "/upload",
            &[
                ("csrf", csrf.as_str()),
                ("interface", "t1/bom"),
                ("operation", "insert"),
            ],
            Some(("ok.csv", bom_csv(2).as_bytes())),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("Choose the environment: prod or uat."),
        "{}",
        r.text()
    );
    assert!(export(&site).await.is_empty(), "nothing applied");
}

/// "Check only": the sheet is checked whole (every rule, keys already in the data included)
/// and nothing is applied; the result page says so with "Apply now" and "Discard", and
/// "Apply now" applies the checked sheet without a second upload. A failing check lists its
/// rows; a check cannot be scheduled.
#[tokio::test]
async fn check_only_applies_nothing_until_apply_now() {
    let (site, mut b) = logged_in().await;
    let form = b.get("/upload").await.text();
    assert!(form.contains("name=\"check_only\" value=\"yes\""), "{form}");
    let check = [("check_only", "yes")];
    let result = b
        .upload_result("check.csv", bom_csv(3).as_bytes(), "insert", &check)
        .await;
    assert_eq!(result.by_id("result-code"), "0", "{}", result.text());
    assert_eq!(result.by_id("status"), "checked — nothing applied");
    assert!(result.text().contains("class=\"badge checked\""));
    assert_eq!(
        result.by_id("headline"),
        "Checked: all 3 rows pass, nothing was applied. Apply them now, or discard the check."
    );
    assert_eq!(result.by_id("rows-applied"), "0");
    assert!(
        result
            .by_id("result-explained")
            .starts_with("Checked, not applied"),
        "{}",
        result.by_id("result-explained")
    );
    let page = result.text();
    assert!(page.contains("class=\"act-execute\""), "{page}");
    assert!(page.contains(">Apply now</button>"), "{page}");
    assert!(page.contains(">Discard</button>"), "{page}");
    assert!(export(&site).await.is_empty(), "a check applies nothing");
    let history = b.get("/batches").await.text();
    assert!(
        history.contains("<span class=\"badge checked\">checked — nothing applied</span>"),
        "{history}"
    );

    // Apply now: the checked rows land, without uploading them again.
    let href = format!("/batches/prod/t1/bom/{}", result.by_id("batch-id"));
    let csrf = result.csrf();
    let r = b
        .post_form(
            &format!("{href}/execute"),
            &[("csrf", &csrf), ("confirmed", "")],
        )
        .await;
    assert_eq!((r.status, r.header("location")), (303, Some(href.as_str())));
    let page = b.get(&href).await;
    assert_eq!(page.by_id("headline"), "All 3 rows were applied.");
    assert_eq!(page.by_id("status"), "applied");
    assert_eq!(export(&site).await.len(), 3);

    // A key already in the data fails the check, row by row; nothing more is applied.
    let mut sheet = bom_csv(0);
    sheet.push_str(&format!("{}\n{}\n", bom_line("K1"), bom_line("K9")));
    let r = b
        .upload_result("clash.csv", sheet.as_bytes(), "insert", &check)
        .await;
    assert_eq!(r.by_id("result-code"), "E00W00", "{}", r.text());
    assert_ne!(r.by_id("status"), "checked — nothing applied");
    assert_eq!(r.by_id("rows-applied"), "0");
    let rows: Vec<String> = r.error_table().into_iter().map(|e| e.0).collect();
    assert!(rows.contains(&"2".to_string()), "{rows:?}");
    assert!(!r.text().contains(">Apply now</button>"), "{}", r.text());
    assert_eq!(export(&site).await.len(), 3);

    // Discard: the checked sheet is cancelled, never applied.
    let mut sheet = bom_csv(0);
    sheet.push_str(&format!("{}\n", bom_line("K7")));
    let r = b
        .upload_result("discard.csv", sheet.as_bytes(), "insert", &check)
        .await;
    let href = format!("/batches/prod/t1/bom/{}", r.by_id("batch-id"));
    let r = b
        .post_form(
            &format!("{href}/cancel"),
            &[("csrf", &csrf), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let page = b.get(&href).await;
    assert_eq!(page.by_id("status"), "cancelled");
    assert_eq!(export(&site).await.len(), 3);

    // A key taken between the check and "Apply now" fails the apply: it is checked again.
    let mut sheet = bom_csv(0);
    sheet.push_str(&format!("{}\n", bom_line("K8")));
    let r = b
        .upload_result("late.csv", sheet.as_bytes(), "insert", &check)
        .await;
    assert_eq!(r.by_id("status"), "checked — nothing applied");
    let href = format!("/batches/prod/t1/bom/{}", r.by_id("batch-id"));
    let r = b
        .upload_result("first.csv", sheet.as_bytes(), "insert", &[])
        .await;
    assert_eq!(r.by_id("status"), "applied");
    assert_eq!(export(&site).await.len(), 4);
    let r = b
        .post_form(
            &format!("{href}/execute"),
            &[("csrf", &csrf), ("confirmed", "")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let page = b.get(&href).await;
    assert_eq!(page.by_id("status"), "failed");
    assert_eq!(page.by_id("result-code"), "E00W00");
    assert_eq!(page.by_id("rows-applied"), "0");
    assert_eq!(export(&site).await.len(), 4);

    // A check applies nothing, so it takes no schedule: the form says so.
    let r = b
        .upload(
            "later.csv",
            bom_csv(1).as_bytes(),
            "insert",
            &[
                ("check_only", "yes"),
                ("when", "at"),
                ("execute_at", "2099-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("Check only applies nothing"),
        "{}",
        r.text()
    );
    assert!(r
        .text()
        .contains("name=\"check_only\" value=\"yes\" checked"));
    assert_eq!(export(&site).await.len(), 4);
}

/// The words a page shows a person: its text between tags and the attributes read out or
/// shown (titles, labels, questions, the grid's words).
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push('\n');
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let tag = &rest[open..open + close];
        for attr in [
            "title=\"",
            "aria-label=\"",
            "data-confirm=\"",
            "placeholder=\"",
        ] {
            if let Some(at) = tag.find(attr) {
                let v = &tag[at + attr.len()..];
                out.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                out.push('\n');
            }
        }
        for part in tag.split(" data-t-").skip(1) {
            if let Some((_, v)) = part.split_once("=\"") {
                // Without its `{placeholders}` (the script fills them).
                let v = &v[..v.find('"').unwrap_or(v.len())];
                for (i, piece) in v.split(['{', '}']).enumerate() {
                    if i % 2 == 0 {
                        out.push_str(piece);
                    }
                }
                out.push('\n');
            }
        }
        // Scripts and styles are not read (the scripts hold no words).
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether `needle` is in `hay` as whole words (not inside a longer word).
fn has_words(hay: &str, needle: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    hay.match_indices(needle).any(|(at, _)| {
        !(word(needle.chars().next()) && word(hay[..at].chars().next_back())
            || word(needle.chars().next_back()) && word(hay[at + needle.len()..].chars().next()))
    })
}

/// Fails when a page rendered in Chinese still says any of the English catalogue: every
/// entry's English, cut at its `{placeholders}`, must be absent as whole words.
fn assert_no_english(what: &str, page: &Page) {
    let html = page.text();
    assert!(
        html.contains("<html lang=\"zh-CN\">"),
        "{what} is not in Chinese: {html}"
    );
    // Core's own code, message, error types and schedule details are the wire contract and
    // stay as core wrote them (the page explains them next to them).
    let mut html_ = html.clone();
    for marker in [
        "id=\"result-msg\">",
        "class=\"note-msg\">",
        "class=\"type\">",
        "id=\"plan-detail\">",
    ] {
        let mut out = String::new();
        let mut rest = html_.as_str();
        while let Some(at) = rest.find(marker) {
            let end = at + marker.len();
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            rest = &rest[rest.find('<').unwrap_or(rest.len())..];
        }
        out.push_str(rest);
        html_ = out;
    }
    let shown = visible(&html_);
    let mut left = Vec::new();
    for (key, en, zh) in wharf_upload::i18n::CATALOGUE {
        if en == zh {
            continue;
        }
        for piece in en.split(['{', '}']).step_by(2) {
            let piece = piece.trim_matches(|c: char| c.is_whitespace() || ",.:;()—".contains(c));
            // Too short to be told from a value (`.`, `—`) or core's own words.
            // Units, formats and names the Chinese keeps (`MiB`, `yyyy-mm-dd`) are not left over.
            if piece.chars().filter(char::is_ascii_alphabetic).count() < 3 || zh.contains(piece) {
                continue;
            }
            if has_words(&shown, piece) {
                left.push(format!("{key}: {piece:?}"));
            }
        }
    }
    assert!(
        left.is_empty(),
        "{what} still says in English: {left:?}\n{shown}"
    );
}

/// `Accept-Language` chooses the language; the switcher's cookie wins over it; English is the
/// default, and the switcher only returns to this site.
#[tokio::test]
async fn the_language_comes_from_the_browser_or_the_switcher() {
    let site = site().await;
    let mut b = Browser::new(&site);
    let page = b.get("/login").await;
    assert!(
        page.text().contains("<html lang=\"en\">"),
        "{}",
        page.text()
    );
    assert!(page.text().contains(">Log in</button>"));
    assert!(page.text().contains("id=\"lang-zh\""));
    let page = b
        .send(
            "GET",
            "/login",
            &[("Accept-Language", "en-GB;q=0.5, zh-CN;q=0.9")],
            b"",
        )
        .await;
    assert!(
        page.text().contains("<html lang=\"zh-CN\">"),
        "{}",
        page.text()
    );
    assert!(page.text().contains(">登录</button>"), "{}", page.text());
    assert!(page.text().contains("id=\"lang-en\""));
    let page = b
        .send("GET", "/login", &[("Accept-Language", "fr, en;q=0.8")], b"")
        .await;
    assert!(page.text().contains("<html lang=\"en\">"));

    // The switcher: a cookie for the whole site, then back to the page.
    let r = b.get("/lang/en?back=%2Flogin%3Fx%3D1").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login?x=1")));
    let cookie = r.set_cookies().join(" | ");
    assert!(
        cookie.contains("wharf_lang=en")
            && cookie.contains("Path=/")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // The cookie wins over the header.
    let page = b
        .send("GET", "/login", &[("Accept-Language", "zh-CN")], b"")
        .await;
    assert!(
        page.text().contains("<html lang=\"en\">"),
        "{}",
        page.text()
    );
    let r = b.get("/lang/zh-CN?back=/login").await;
    assert_eq!(r.status, 303);
    let page = b
        .send("GET", "/login", &[("Accept-Language", "en")], b"")
        .await;
    assert!(page.text().contains("<html lang=\"zh-CN\">"));
    // The switcher's own link returns to the page it is on.
    assert!(
        page.text().contains("href=\"/lang/en?back=%2Flogin\""),
        "{}",
        page.text()
    );

    // Only back to this site; an unknown language is no page.
    for bad in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let r = b
            .get(&format!("/lang/en?back={}", bad.replace('/', "%2F")))
            .await;
        assert_eq!((r.status, r.header("location")), (303, Some("/")), "{bad}");
    }
    assert_eq!(b.get("/lang/fr?back=/login").await.status, 404);
}

/// Every page, in Chinese, says nothing of the English catalogue: login, upload, the mapping
/// step, a result with errors, the grid, history, a confirmation and a message page; the
/// errors CSV and the template speak Chinese too.
#[tokio::test]
async fn in_chinese_no_english_is_left_on_any_page() {
    let site = site().await;
    let mut b = Browser::new(&site);
    assert_eq!(b.get("/lang/zh-CN?back=/login").await.status, 303);
    let login = b.get("/login").await;
    assert_no_english("the login page", &login);
    let r = b
        .post_login(&login.csrf(), &site.user, "wrong-password")
        .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("用户名或密码错误"), "{}", r.text());
    assert_no_english("a refused login", &r);
    b.login(&site.user).await;

    assert_no_english("the upload page", &b.get("/upload").await);
    let r = b.upload("x.csv", bom_csv(1).as_bytes(), "all", &[]).await;
    assert_eq!(r.status, 400);
    assert_no_english("a refused upload", &r);

    // The mapping step.
    let header = BOM_HEADER.replacen("vendor_code", "Lieferant", 1);
    let step = b
        .upload(
            "mine.csv",
            format!("{header}\n{}\n", bom_line("K0")).as_bytes(),
            "insert",
            &[],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.text());
    assert!(step.text().contains("按列匹配"));
    assert_no_english("the mapping step", &step);

    // A result with errors of several kinds, and its grid.
    let sheet = format!(
        "{BOM_HEADER}\n{}\n{}\n{}\n{}\n{}\n",
        bom_line("K0"),
        bom_line("K1").replace("2022-09-14,2022-09-14", "2022-09-14,2022-13-31"),
        bom_line("K2").replace("10.1", "abc"),
        bom_line("K3").replacen("eee", "", 1),
        bom_line("K0"),
    );
    let result = b
        .upload_result("bad.csv", sheet.as_bytes(), "insert", &[])
        .await;
    assert_ne!(result.by_id("result-code"), "0");
    assert!(
        result.by_id("headline").starts_with("未导入任何数据"),
        "{}",
        result.text()
    );
    assert!(result.text().contains("如何修改"));
    assert_no_english("a result with errors", &result);
    let fix = result
        .text()
        .split("id=\"fix\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a link to the grid")
        .to_string();
    assert_no_english("the grid", &b.get(&fix).await);

    // The errors CSV: Chinese headers and sentences, core's types as they are.
    let csv_href = b.latest_errors_csv().await;
    let csv = b.get(&csv_href).await.text();
    assert!(
        csv.starts_with("\u{feff}行,字段,错误,值,如何修改\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("invalid date") && csv.contains("日期格式"),
        "{csv}"
    );

    // An applied batch in the history, its revert asked first.
    let ok = b
        .upload_result("ok.csv", bom_csv(2).as_bytes(), "insert", &[])
        .await;
    assert_eq!(ok.by_id("result-code"), "0", "{}", ok.text());
    assert_eq!(ok.by_id("status"), "已导入");
    assert_no_english("an applied result", &ok);
    assert_no_english("the history", &b.get("/batches").await);
    let href = format!("/batches/prod/t1/bom/{}", ok.by_id("batch-id"));
    let confirm = b
        .post_form(
            &format!("{href}/revert"),
            &[("csrf", &ok.csrf()), ("confirmed", "")],
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    assert_no_english("the revert question", &confirm);

    // A checked sheet (Apply now, Discard) and a scheduled one (its plan and Cancel).
    let checked = b
        .upload_result(
            "check.csv",
            bom_csv(1).replace("K0", "C0").as_bytes(),
            "insert",
            &[("check_only", "yes")],
        )
        .await;
    assert_eq!(
        checked.by_id("status"),
        "已校验 — 未导入",
        "{}",
        checked.text()
    );
    assert!(checked.text().contains("放弃"));
    assert_no_english("a checked result", &checked);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let at = &wharf_proto::time::rfc3339(now + 3 * 3600)[..16];
    let held = b
        .upload_result(
            "later.csv",
            bom_csv(1).replace("K0", "L0").as_bytes(),
            "insert",
            &[("when", "at"), ("execute_at", at), ("tz", "0")],
        )
        .await;
    assert!(
        held.by_id("plan-execute").contains("等待中"),
        "{}",
        held.text()
    );
    assert_no_english("a scheduled result", &held);
    assert_no_english("the history of every kind", &b.get("/batches").await);

    // Message pages.
    let missing = b.get("/batches/prod/t1/bom/nope").await;
    assert_eq!(missing.status, 404);
    assert_no_english("a not-found page", &missing);
    let refused = b.post_form("/logout", &[("csrf", "forged")]).await;
    assert_eq!(refused.status, 403);
    assert_no_english("a refused form", &refused);

    // The template: its notes and field sheet in Chinese, the labels next to the names.
    let book = b.get("/templates/t1/bom.xlsx").await;
    assert_eq!(book.status, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(book.body.clone())).expect("zip");
    let mut strings = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/sharedStrings.xml").expect("strings"),
        &mut strings,
    )
    .expect("xml");
    assert!(
        strings.contains("填写说明") && strings.contains("允许的值之一"),
        "{strings}"
    );
    assert!(!strings.contains("what to write"), "{strings}");
}
