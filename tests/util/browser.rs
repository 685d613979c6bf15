//! A minimal, blocking W3C WebDriver client for browser end-to-end tests: it starts
//! `/usr/bin/chromedriver` (Debian's `chromium-driver`; `scripts/browser.sh` installs it) and
//! drives a headless `/usr/bin/chromium` through it, over plain HTTP/1.1 on a `TcpStream`
//! with `serde_json` bodies. Every WebDriver error is a panic carrying the error JSON and the
//! tail of chromedriver's log: this is a test helper.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{free_port, unique};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long `find`, `wait_for` and the other waits look before giving up.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often they look.
const POLL: Duration = Duration::from_millis(50);
/// The key W3C WebDriver gives an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium under chromedriver, with one WebDriver session. Dropping it deletes the
/// session (chromedriver then closes Chromium), kills chromedriver, and removes its temporary
/// directory (kept, with its path printed, when the test is panicking).
/// The browser's time zone (UTC+08:00, no daylight saving), and how pages write its offset.
pub const BROWSER_TZ: &str = "Asia/Shanghai";
pub const BROWSER_UTC_OFFSET: &str = "UTC+08:00";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// The temporary directory: `profile/`, `downloads/`, `chromedriver.log`.
    pub dir: PathBuf,
    /// Where downloads land.
    pub downloads: PathBuf,
    log: PathBuf,
    profile: PathBuf,
}

/// An element found on the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
    /// The CSS selector it was found by (for messages).
    pub css: String,
}

impl Browser {
    /// Start chromedriver on a free port, wait until it answers, open a headless Chromium
    /// session with a fresh profile and a private download directory.
    pub fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: run scripts/browser.sh's browser_install (scripts/test does)"
            );
        }
        let dir = std::env::temp_dir().join(unique("wharf-browser-"));
        let profile = dir.join("profile");
        let downloads = dir.join("downloads");
        std::fs::create_dir_all(&profile).expect("browser profile dir");
        std::fs::create_dir_all(&downloads).expect("browser downloads dir");
        let log = dir.join("chromedriver.log");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            // The browser is in a time zone of its own, not the server's UTC: pages show
            // times in the browser's zone, and forms send its offset.
            .env("TZ", BROWSER_TZ)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let mut b = Browser {
            driver,
            port,
            session: String::new(),
            dir,
            downloads,
            log,
            profile,
        };
        b.wait_until_ready();
        b.new_session();
        b
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, v)) = http(self.port, "GET", "/status", None) {
                if v["value"]["ready"] == true {
                    return;
                }
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited early: {status}\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer GET /status in 20 s\n{}",
                self.log_tail()
            );
            std::thread::sleep(POLL);
        }
    }

    fn new_session(&mut self) {
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--no-first-run".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    // A confirm() stays open until the test accepts or dismisses it; any other
                    // command meanwhile fails ("unexpected alert open") instead of silently
                    // dismissing it.
                    "unhandledPromptBehavior": "ignore",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": args,
                        "prefs": {
                            "download.default_directory": self.downloads.display().to_string(),
                            "download.prompt_for_download": false,
                            "download.directory_upgrade": true,
                            "safebrowsing.enabled": false,
                        },
                    },
                }
            }
        });
        let v = self.expect_ok("POST", "/session", Some(&caps));
        self.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session answer without sessionId: {v}"))
            .to_string();
        self.cmd(
            "POST",
            "timeouts",
            json!({"pageLoad": 30_000, "script": 10_000, "implicit": 0}),
        );
        // Headless Chromium may ignore the download prefs; tell it over CDP as well.
        self.cdp(
            "Browser.setDownloadBehavior",
            json!({
                "behavior": "allow",
                "downloadPath": self.downloads.display().to_string(),
                "eventsEnabled": false,
            }),
        );
    }

    // -----------------------------------------------------------------------------------------
    // the wire

    /// The tail of chromedriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        format!(
            "--- chromedriver log ({}), last 4000 bytes ---\n{}",
            self.log.display(),
            &log[start..]
        )
    }

    /// A request to chromedriver: the `value` of a success, or the `value` of an error
    /// (`{error, message, stacktrace}`).
    fn try_raw(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Value> {
        let (status, v) = http(self.port, method, path, body).unwrap_or_else(|e| {
            panic!(
                "WebDriver {method} {path}: no answer from chromedriver: {e}\n{}",
                self.log_tail()
            )
        });
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        let is_error = status != 200 || value.get("error").is_some_and(|e| e.is_string());
        if is_error {
            Err(if value.is_null() { v } else { value })
        } else {
            Ok(value)
        }
    }

    #[track_caller]
    fn expect_ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        match self.try_raw(method, path, body) {
            Ok(v) => v,
            Err(e) => panic!(
                "WebDriver {method} {path} failed: {}\n{}",
                short(&e),
                self.log_tail()
            ),
        }
    }

    /// A session command (`path` relative to `/session/{id}/`); panics on an error.
    #[track_caller]
    pub fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let full = self.path(path);
        let body = (method == "POST").then_some(body);
        self.expect_ok(method, &full, body.as_ref())
    }

    /// A session command that may fail: the error's `value` (`{error, message, …}`) on failure.
    pub fn try_cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let full = self.path(path);
        let body = (method == "POST").then_some(body);
        self.try_raw(method, &full, body.as_ref())
    }

    fn path(&self, rel: &str) -> String {
        if rel.is_empty() {
            format!("/session/{}", self.session)
        } else {
            format!("/session/{}/{rel}", self.session)
        }
    }

    /// A Chrome DevTools Protocol command through chromedriver.
    #[track_caller]
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    // -----------------------------------------------------------------------------------------
    // navigation and page

    /// Load `url` and wait for the page load to finish.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url }));
    }

    #[track_caller]
    pub fn current_url(&self) -> String {
        self.cmd("GET", "url", Value::Null)
            .as_str()
            .expect("the URL is a string")
            .to_string()
    }

    #[track_caller]
    pub fn title(&self) -> String {
        self.cmd("GET", "title", Value::Null)
            .as_str()
            .expect("the title is a string")
            .to_string()
    }

    #[track_caller]
    pub fn page_source(&self) -> String {
        self.cmd("GET", "source", Value::Null)
            .as_str()
            .expect("the page source is a string")
            .to_string()
    }

    /// The current URL and the start of the page source, for failure messages.
    pub fn page_snippet(&self) -> String {
        let url = self
            .try_cmd("GET", "url", Value::Null)
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| format!("(no URL: {})", short(&e)));
        let src = self
            .try_cmd("GET", "source", Value::Null)
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| format!("(no source: {})", short(&e)));
        let cut = (0..=src.len().min(3000))
            .rev()
            .find(|&i| src.is_char_boundary(i))
            .unwrap_or(0);
        let more = if cut < src.len() { "\n[…]" } else { "" };
        format!("page {url}:\n{}{more}", &src[..cut])
    }

    /// Run a script (`return …` gives a value) with `args`.
    #[track_caller]
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Run an asynchronous script: it gets `args` and, last, a callback to call with its
    /// result (e.g. `fetch(arguments[0]).then(r => r.text()).then(arguments[1])`).
    #[track_caller]
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "execute/async",
            json!({"script": script, "args": args}),
        )
    }

    /// `GET url` from inside the page (same origin, the page's cookies): (status, body text).
    #[track_caller]
    pub fn fetch_text(&self, url: &str) -> (u16, String) {
        let v = self.execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], {credentials: 'same-origin'})
               .then(r => r.text().then(t => done([r.status, t])))
               .catch(e => done([0, String(e)]));",
            json!([url]),
        );
        let status = v[0].as_u64().unwrap_or(0) as u16;
        (status, v[1].as_str().unwrap_or_default().to_string())
    }

    /// Save a PNG screenshot of the viewport to `path` (parent directories are created).
    #[track_caller]
    pub fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let b64 = self.cmd("GET", "screenshot", Value::Null);
        let png = base64_decode(b64.as_str().expect("screenshot is base64 text"));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("write screenshot {}: {e}", path.display()));
    }

    // -----------------------------------------------------------------------------------------
    // elements

    fn try_find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self.cmd(
            "POST",
            "elements",
            json!({"using": "css selector", "value": css}),
        );
        v.as_array()
            .unwrap_or_else(|| panic!("elements answer is not a list: {v}"))
            .iter()
            .map(|e| self.element(e, css))
            .collect()
    }

    fn element(&self, v: &Value, css: &str) -> Element<'_> {
        Element {
            browser: self,
            id: v[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("not an element reference: {v}"))
                .to_string(),
            css: css.to_string(),
        }
    }

    /// The first element matching `css`, waiting up to [`WAIT`] for it to appear; panics with
    /// the page's URL and source when it does not.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.try_cmd(
                "POST",
                "element",
                json!({"using": "css selector", "value": css}),
            ) {
                Ok(v) => return self.element(&v, css),
                Err(e) if e["error"] == "no such element" => {}
                Err(e) => panic!(
                    "find {css:?}: {}\n{}\n{}",
                    short(&e),
                    self.page_snippet(),
                    self.log_tail()
                ),
            }
            if Instant::now() >= deadline {
                panic!(
                    "no element {css:?} within {WAIT:?}\n{}",
                    self.page_snippet()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Every element matching `css` now (no waiting; may be empty).
    #[track_caller]
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        self.try_find_all(css)
    }

    /// Whether an element matches `css` now (no waiting).
    #[track_caller]
    pub fn exists(&self, css: &str) -> bool {
        !self.try_find_all(css).is_empty()
    }

    /// Wait up to [`WAIT`] for an element matching `css`.
    #[track_caller]
    pub fn wait_for(&self, css: &str) {
        let _ = self.find(css);
    }

    /// Wait up to [`WAIT`] until no element matches `css`.
    #[track_caller]
    pub fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while self.exists(css) {
            if Instant::now() >= deadline {
                panic!(
                    "element {css:?} still there after {WAIT:?}\n{}",
                    self.page_snippet()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Wait up to [`WAIT`] until the current URL contains `part`; returns the URL.
    #[track_caller]
    pub fn wait_for_url_contains(&self, part: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.current_url();
            if url.contains(part) {
                return url;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the URL never contained {part:?} within {WAIT:?}\n{}",
                    self.page_snippet()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Choose the option whose value is `value` in the `<select>` matching `select_css`, the
    /// way a user does (a click on the option).
    #[track_caller]
    pub fn select_option(&self, select_css: &str, value: &str) {
        let select = self.find(select_css);
        let options = self.find_all(&format!("{select_css} option"));
        let option = options
            .iter()
            .find(|o| o.attr("value").as_deref() == Some(value))
            .unwrap_or_else(|| {
                let have: Vec<_> = options.iter().filter_map(|o| o.attr("value")).collect();
                panic!("{select_css} has no option {value:?}; it has {have:?}")
            });
        option.click();
        assert_eq!(
            select.value(),
            value,
            "{select_css} did not take the option {value:?}"
        );
    }

    // -----------------------------------------------------------------------------------------
    // dialogs (alert, confirm, prompt)

    /// Wait up to [`WAIT`] for a dialog; its text.
    #[track_caller]
    pub fn alert_text(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.try_cmd("GET", "alert/text", Value::Null) {
                Ok(v) => return v.as_str().unwrap_or_default().to_string(),
                Err(e) if e["error"] == "no such alert" => {}
                Err(e) => panic!("alert text: {}", short(&e)),
            }
            if Instant::now() >= deadline {
                panic!("no dialog opened within {WAIT:?}\n{}", self.page_snippet());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether a dialog is open now.
    pub fn alert_open(&self) -> bool {
        self.try_cmd("GET", "alert/text", Value::Null).is_ok()
    }

    /// Wait for a dialog and press OK; returns its text.
    #[track_caller]
    pub fn accept_alert(&self) -> String {
        let text = self.alert_text();
        self.cmd("POST", "alert/accept", json!({}));
        text
    }

    /// Wait for a dialog and press Cancel; returns its text.
    #[track_caller]
    pub fn dismiss_alert(&self) -> String {
        let text = self.alert_text();
        self.cmd("POST", "alert/dismiss", json!({}));
        text
    }

    // -----------------------------------------------------------------------------------------
    // downloads

    /// Wait up to `timeout` for a finished download (not a `.crdownload`) whose name ends
    /// with `name_suffix`, with no download still in progress; its path.
    #[track_caller]
    pub fn downloaded_file(&self, name_suffix: &str, timeout: Duration) -> PathBuf {
        let deadline = Instant::now() + timeout;
        loop {
            let names: Vec<String> = std::fs::read_dir(&self.downloads)
                .expect("read the downloads dir")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let busy = names.iter().any(|n| n.ends_with(".crdownload"));
            if !busy {
                if let Some(n) = names.iter().find(|n| n.ends_with(name_suffix)) {
                    let path = self.downloads.join(n);
                    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                        return path;
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "no finished download *{name_suffix} in {} within {timeout:?}; it holds {names:?}",
                    self.downloads.display()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Every file name in the download directory now.
    pub fn downloads_now(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.downloads)
            .expect("read the downloads dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The pids of Chromium processes using this browser's profile (normally none after the
    /// session is deleted).
    fn chromium_pids(&self) -> Vec<u32> {
        let needle = format!("--user-data-dir={}", self.profile.display());
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| c.split(|&b| b == 0).any(|arg| arg == needle.as_bytes()))
                    .unwrap_or(false)
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // chromedriver closes Chromium when its session is deleted.
            let _ = http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Anything of ours still alive (a session that could not be deleted): by pid.
        for pid in self.chromium_pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        if std::thread::panicking() {
            eprintln!(
                "browser: kept {} (chromedriver.log, downloads/)",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Element<'_> {
    fn at(&self, rel: &str) -> String {
        format!("element/{}/{rel}", self.id)
    }

    #[track_caller]
    pub fn click(&self) {
        if let Err(e) = self.browser.try_cmd("POST", &self.at("click"), json!({})) {
            panic!(
                "click {:?}: {}\n{}",
                self.css,
                short(&e),
                self.browser.page_snippet()
            );
        }
    }

    /// Type `text` into it (for `<input type=file>`: a file's absolute path).
    #[track_caller]
    pub fn send_keys(&self, text: &str) {
        if let Err(e) = self
            .browser
            .try_cmd("POST", &self.at("value"), json!({ "text": text }))
        {
            panic!(
                "send_keys to {:?}: {}\n{}",
                self.css,
                short(&e),
                self.browser.page_snippet()
            );
        }
    }

    #[track_caller]
    pub fn clear(&self) {
        self.browser.cmd("POST", &self.at("clear"), json!({}));
    }

    /// Its rendered text (as a user sees it; whitespace collapsed by the browser).
    #[track_caller]
    pub fn text(&self) -> String {
        self.browser
            .cmd("GET", &self.at("text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// An attribute (as written in the HTML; `href` comes back resolved by Chromium); `None`
    /// when absent.
    #[track_caller]
    pub fn attr(&self, name: &str) -> Option<String> {
        let v = self
            .browser
            .cmd("GET", &self.at(&format!("attribute/{name}")), Value::Null);
        v.as_str().map(str::to_string)
    }

    /// A DOM property (e.g. `checked`, `href`).
    #[track_caller]
    pub fn property(&self, name: &str) -> Value {
        self.browser
            .cmd("GET", &self.at(&format!("property/{name}")), Value::Null)
    }

    /// Its current `value` property (inputs, selects, textareas).
    #[track_caller]
    pub fn value(&self) -> String {
        self.property("value")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Elements matching `css` inside this one (no waiting).
    #[track_caller]
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self.browser.cmd(
            "POST",
            &self.at("elements"),
            json!({"using": "css selector", "value": css}),
        );
        v.as_array()
            .unwrap_or_else(|| panic!("elements answer is not a list: {v}"))
            .iter()
            .map(|e| self.browser.element(e, &format!("{} {css}", self.css)))
            .collect()
    }

    /// The first element matching `css` inside this one; panics when there is none.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element<'_> {
        self.find_all(css).into_iter().next().unwrap_or_else(|| {
            panic!(
                "no {css:?} inside {:?}\n{}",
                self.css,
                self.browser.page_snippet()
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1, one request per connection

/// One request to `127.0.0.1:port`: (status, body as JSON; `Null` when empty).
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    // Page loads are bounded by the session's pageLoad timeout (30 s); leave room above it.
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json; charset=utf-8\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    // chromedriver keeps the connection open despite `Connection: close`: read the head, then
    // exactly Content-Length bytes (or chunks up to the last one; or to EOF).
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let split = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed before the end of the head: {:?}",
                String::from_utf8_lossy(&raw)
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut payload = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
    loop {
        let done = if chunked {
            dechunk(&payload).is_ok()
        } else if let Some(length) = length {
            payload.len() >= length
        } else {
            false
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    if chunked {
        payload = dechunk(&payload)?;
    } else if let Some(length) = length {
        payload.truncate(length);
    }
    let value = if payload.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&payload).map_err(|e| {
            format!(
                "HTTP {status}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&payload)
            )
        })?
    };
    Ok((status, value))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line")?;
        let line = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {line:?}: {e}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err("a short chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

/// A WebDriver error without its (long) stack trace.
fn short(e: &Value) -> String {
    let mut e = e.clone();
    if let Some(o) = e.as_object_mut() {
        o.remove("stacktrace");
    }
    e.to_string()
}

/// Standard base64 (RFC 4648, `=` padding; whitespace ignored).
pub fn base64_decode(text: &str) -> Vec<u8> {
    fn sextet(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => panic!("not a base64 character: {:?}", c as char),
        }
    }
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        // 2 digits → 1 byte, 3 → 2, 4 → 3.
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
