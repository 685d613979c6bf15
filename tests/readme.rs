//! README.md cannot rot: every ```sh block in it runs here, in order, against a real
//! `wharf serve`, and what a block shows a command printing (the `#` lines right under it)
//! must be what it printed.
//!
//! How a block runs: the README's addresses (`127.0.0.1:8080`, `:2121`, `:8081`, `:50051`, `:7322`
//! and any other `127.0.0.1:PORT`, plus `WHARF_FTP_PASSIVE_PORTS=A-B`) become free ports of
//! this test, the partner `LCFC` and the user `alice` get unique names (PostgreSQL is
//! shared by every test), and `wharf` on PATH is the binary under test. The block then runs
//! with `bash -euo pipefail` in its own process group (killed afterwards, so a server a
//! block starts in the background never outlives it), with the environment `wharf serve`
//! has, in one working directory shared by all blocks.
//!
//! Blocks that cannot run inside a test are listed in [`NOT_RUN`] with how they are
//! exercised instead; any other block runs, so a new one is run too. Commands written
//! inline in the prose are checked the same way ([`inline_commands`]). The ```json block
//! is an interface definition and must load, and the configuration table must name exactly
//! the variables `src/config.rs` reads.

mod util;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{add_partner, free_port, free_port_range, unique, Backend, Wharf};

/// The sh blocks not run here (their whole text), and how each is exercised instead.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "cargo run --release -- serve",
        "cargo builds the one binary, `wharf`, and runs `wharf serve`: this test runs that \
         binary's `serve` (CARGO_BIN_EXE_wharf) before the blocks, and the blocks use it",
    ),
    (
        "scripts/test",
        "CI: `.ci/run` runs it (checked below); it runs this test among all the others",
    ),
];

/// Commands written inline in the prose that no block contains, and how each is exercised.
const INLINE_ELSEWHERE: &[(&str, &str)] = &[
    (
        "wharf consumer webhook add",
        "tests/webhooks.rs subscribes consumers with and without --events, and is refused without WHARF_SECRET_KEY",
    ),
    (
        "wharf consumer webhook list",
        "tests/webhooks.rs reads states and delivery counts (table and JSON)",
    ),
    (
        "wharf consumer webhook rotate-secret",
        "tests/webhooks.rs rotates with a grace and without",
    ),
    (
        "wharf consumer webhook remove",
        "tests/webhooks.rs removes a disabled subscription",
    ),
    (
        "wharf partner list",
        "tests/admin_cli.rs lists partners (table and JSON) on both stores",
    ),
    (
        "wharf partner show APP",
        "the block runs `wharf partner show LCFC --json`; tests/admin_cli.rs the rest",
    ),
    (
        "wharf partner disable APP",
        "the block disables and enables LCFC",
    ),
    (
        "wharf partner set-interfaces APP LIST",
        "the block sets LCFC's",
    ),
    (
        "wharf partner rotate-secret APP [--grace DUR]",
        "the block rotates LCFC's; tests/admin_cli.rs checks the grace",
    ),
    (
        "wharf partner remove APP [--with-data] [--yes]",
        "the block removes OLDCO; tests/admin_cli.rs removes one with data",
    ),
    (
        "wharf user list [--partner APP]",
        "the block lists LCFC's users; tests/admin_cli.rs all",
    ),
    ("wharf user show NAME", "tests/admin_cli.rs shows users"),
    (
        "wharf user disable NAME",
        "the block disables and enables alice",
    ),
    ("wharf user reset-password NAME", "the block resets alice's"),
    ("wharf user remove NAME", "the block removes oldco-user"),
    (
        "wharf token list [--partner APP] [--user NAME]",
        "the block lists alice's; tests/admin_cli.rs every filter",
    ),
    (
        "wharf token revoke ID",
        "tests/admin_cli.rs revokes by id, user and partner; the block by partner",
    ),
    ("wharf interface list", "tests/admin_cli.rs lists them"),
    (
        "wharf interface show DATA_CATEGORY/BIZ_KEY",
        "the block shows t1/bom",
    ),
    ("wharf serve", "this test runs it; the blocks talk to it"),
    (
        ".ci/run",
        "CI's entry point: it runs scripts/test (checked below)",
    ),
    (
        "cargo install --path .",
        "a release build installed: this test puts the binary it built on the PATH instead",
    ),
    (
        "WHARF_SCREENSHOTS=docs cargo test --test upload_browser",
        "scripts/test runs the same test; the variable only makes it write the screenshots",
    ),
];

/// Commands written inline that this test runs itself (exit 0 expected).
const INLINE_RUN: &[&str] = &["wharf --help", "wharf migrate"];

/// The README's default addresses and which of the installation's ports each stands for.
fn default_ports(w: &Wharf) -> HashMap<u16, u16> {
    HashMap::from([
        (8080, w.http_port),
        (2121, w.ftp_port),
        (8081, w.upload_port),
        (2222, w.sftp_port),
        (50051, w.grpc_port),
        (7322, w.admin_api_port),
    ])
}

/// How long one block may take.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(90);

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// One fenced block of the README.
#[derive(Debug)]
struct Block {
    lang: String,
    text: String,
    /// 1-based line of its opening fence.
    line: usize,
}

fn fenced_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, Vec<&str>)> = None;
    for (i, line) in readme.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(lang)) => open = Some((lang.trim().to_string(), i + 1, Vec::new())),
            (Some(_), Some(_)) => {
                let (lang, line, lines) = open.take().expect("open block");
                blocks.push(Block {
                    lang,
                    text: lines.join("\n") + "\n",
                    line,
                });
            }
            (Some((_, _, lines)), None) => lines.push(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md: a code block is never closed");
    blocks
}

/// The README without its fenced blocks.
fn prose(readme: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Inline code spans of the prose that are commands: the first word after any `NAME=value`
/// is `wharf` (with arguments), `cargo`, `curl`, or a script under `scripts/` or `.ci/`.
fn inline_commands(readme: &str) -> Vec<String> {
    let prose = prose(readme);
    let mut spans = Vec::new();
    for line in prose.lines() {
        let mut parts = line.split('`');
        parts.next();
        while let (Some(span), Some(_)) = (parts.next(), parts.next()) {
            spans.push(span.to_string());
        }
    }
    spans.sort();
    spans.dedup();
    spans
        .into_iter()
        .filter(|span| {
            let words: Vec<&str> = span
                .split_whitespace()
                .skip_while(|w| {
                    w.split_once('=').is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    })
                })
                .collect();
            match words.first() {
                Some(&"wharf") => words.len() > 1,
                Some(&("cargo" | "curl")) => true,
                Some(first) => first.starts_with("scripts/") || first.starts_with(".ci/"),
                None => false,
            }
        })
        .collect()
}

/// What one line of a block is.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Blank,
    Command,
    /// A comment that is not right under a command: it explains what follows.
    Note,
    /// A comment right under a command (or under another such line): what it prints.
    Output,
}

/// A block made ready to run: its script, with a marker printed where each shown output
/// ends, and the outputs it shows, in order.
#[derive(Debug)]
struct Prepared {
    script: String,
    shown: Vec<Vec<String>>,
}

const MARK: &str = "@@readme-output-ends";

fn prepare(text: &str) -> Prepared {
    let mut script = String::new();
    let mut shown: Vec<Vec<String>> = Vec::new();
    let mut prev = Kind::Blank;
    let mut heredoc: Option<String> = None;
    let mut continued = false;
    for line in text.lines() {
        if let Some(end) = &heredoc {
            if line == end {
                heredoc = None;
            }
            script.push_str(line);
            script.push('\n');
            continue;
        }
        let trimmed = line.trim_start();
        let kind = if continued {
            Kind::Command
        } else if trimmed.is_empty() {
            Kind::Blank
        } else if let Some(comment) = trimmed.strip_prefix('#') {
            if matches!(prev, Kind::Command | Kind::Output) {
                if prev == Kind::Command {
                    // The commands above print what this group shows: mark where it ends.
                    script.push_str(&format!("printf '\\n{MARK} %d\\n' {}\n", shown.len()));
                    shown.push(Vec::new());
                }
                let shown_line = comment.strip_prefix(' ').unwrap_or(comment);
                shown
                    .last_mut()
                    .expect("group")
                    .push(shown_line.to_string());
                Kind::Output
            } else {
                Kind::Note
            }
        } else {
            Kind::Command
        };
        if kind == Kind::Command {
            continued = line.ends_with('\\');
            heredoc = heredoc_end(line);
        }
        script.push_str(line);
        script.push('\n');
        prev = kind;
    }
    assert!(
        heredoc.is_none(),
        "a here-document is never closed:\n{text}"
    );
    script.push_str(&format!("printf '\\n{MARK} %d\\n' {}\n", shown.len()));
    Prepared { script, shown }
}

/// The terminator of a here-document this line opens (`<<'EOF'`, `<<EOF`, `<<-EOF`).
fn heredoc_end(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("<<")?;
    let rest = rest.trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// The README's names and addresses made this test's own.
struct Rewrite {
    names: Vec<(String, String)>,
    ports: HashMap<u16, u16>,
    ranges: HashMap<(u16, u16), (u16, u16)>,
}

impl Rewrite {
    fn apply(&mut self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.names {
            text = text.replace(from.as_str(), to);
        }
        let text = self.ports(&text);
        self.ranges(&text)
    }

    /// `127.0.0.1:PORT` → a port of this test (the same one for the same PORT everywhere).
    fn ports(&mut self, text: &str) -> String {
        const HOST: &str = "127.0.0.1:";
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(HOST) {
            let after = &rest[at + HOST.len()..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            out.push_str(&rest[..at + HOST.len()]);
            match after[..digits].parse::<u16>() {
                Ok(port) => {
                    let mine = *self.ports.entry(port).or_insert_with(free_port);
                    out.push_str(&mine.to_string());
                }
                Err(_) => out.push_str(&after[..digits]),
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        out
    }

    /// `WHARF_FTP_PASSIVE_PORTS=A-B` → a free range of the same length.
    fn ranges(&mut self, text: &str) -> String {
        const KEY: &str = "WHARF_FTP_PASSIVE_PORTS=";
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(KEY) {
            let after = &rest[at + KEY.len()..];
            let len = after
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .count();
            out.push_str(&rest[..at + KEY.len()]);
            let range = after[..len]
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)));
            match range {
                Some((a, b)) if a <= b => {
                    let (x, y) = *self.ranges.entry((a, b)).or_insert_with(|| {
                        let x = free_port_range(b - a + 1);
                        (x, x + (b - a))
                    });
                    out.push_str(&format!("{x}-{y}"));
                }
                _ => out.push_str(&after[..len]),
            }
            rest = &after[len..];
        }
        out.push_str(rest);
        out
    }
}

/// One item a command prints: a JSON document or a line of text.
#[derive(Debug)]
enum Item {
    Json(Value),
    Text(String),
}

/// `…` outside JSON strings becomes the string `"…"`, which matches any value, or where an
/// object member goes, the member `"…":"…"`, which lets the object have more members.
fn quote_ellipses(text: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    // Open containers, and whether the next thing in the innermost object is a key.
    let mut stack: Vec<char> = Vec::new();
    let mut key_next = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            out.push(c);
            continue;
        }
        match c {
            '…' if key_next && stack.last() == Some(&'{') => {
                out.push_str("\"…\":\"…\"");
                key_next = false;
            }
            '…' => out.push_str("\"…\""),
            _ => {
                match c {
                    '"' => {
                        in_string = true;
                        key_next = false;
                    }
                    '{' | '[' => {
                        stack.push(c);
                        key_next = c == '{';
                    }
                    '}' | ']' => {
                        stack.pop();
                        key_next = false;
                    }
                    ',' => key_next = stack.last() == Some(&'{'),
                    ':' => key_next = false,
                    _ => {}
                }
                out.push(c);
            }
        }
    }
    out
}

/// The items a block shows: a line starting with `{` or `[` opens a JSON document that
/// may go on over the following lines.
fn shown_items(lines: &[String]) -> Vec<Item> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with('{') || line.starts_with('[') {
            let mut doc = String::new();
            let mut parsed = None;
            for (j, more) in lines.iter().enumerate().skip(i) {
                doc.push_str(more.trim());
                doc.push('\n');
                if let Ok(v) = serde_json::from_str::<Value>(&quote_ellipses(&doc)) {
                    parsed = Some((v, j));
                    break;
                }
            }
            let (v, j) =
                parsed.unwrap_or_else(|| panic!("README shows output that is not JSON: {doc}"));
            items.push(Item::Json(v));
            i = j + 1;
        } else {
            if !line.is_empty() {
                items.push(Item::Text(line.to_string()));
            }
            i += 1;
        }
    }
    items
}

/// What a command printed, line by line; a line that parses as JSON is a document.
fn printed_items(text: &str) -> Vec<Item> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if l.starts_with('{') || l.starts_with('[') => Item::Json(v),
            _ => Item::Text(l.to_string()),
        })
        .collect()
}

/// `pattern` with `…` standing for any text.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The shown JSON `want` matches the printed `got`: the same keys in the same order, the
/// same values, where the string `"…"` matches any value and `…` in a string any text.
fn json_matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(w), _) if w == "…" => true,
        (Value::String(w), Value::String(g)) => glob(w, g),
        (Value::Object(w), Value::Object(g)) if w.contains_key("…") => {
            // The members shown, in the order shown, among others.
            let mut got = g.iter();
            w.iter()
                .filter(|(k, _)| *k != "…")
                .all(|(k, a)| got.any(|(gk, b)| gk == k && json_matches(a, b)))
        }
        (Value::Object(w), Value::Object(g)) => {
            w.keys().eq(g.keys())
                && w.iter()
                    .zip(g.values())
                    .all(|((_, a), b)| json_matches(a, b))
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| json_matches(a, b))
        }
        (Value::Number(w), Value::Number(g)) => w.to_string() == g.to_string(),
        _ => want == got,
    }
}

fn items_match(want: &[Item], got: &[Item]) -> bool {
    want.len() == got.len()
        && want.iter().zip(got).all(|(w, g)| match (w, g) {
            (Item::Json(w), Item::Json(g)) => json_matches(w, g),
            (Item::Text(w), Item::Text(g)) => glob(w, g),
            _ => false,
        })
}

/// What a finished block left.
struct Ran {
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// Run `script` with bash in its own process group; kill the group when it is done.
fn run_script(script: &Path, dir: &Path, env: &[(String, String)]) -> Ran {
    use std::os::unix::process::CommandExt;
    let out_path = script.with_extension("stdout");
    let err_path = script.with_extension("stderr");
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail"])
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn bash");
    let group = child.id();
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait bash") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the block left running (its background servers) ends with it.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let status = match status {
        Some(s) => s,
        None => child.wait().expect("wait killed bash"),
    };
    let timed_out = Instant::now() > deadline;
    Ran {
        ok: status.success() && !timed_out,
        status: if timed_out {
            format!("killed after {} s", BLOCK_TIMEOUT.as_secs())
        } else {
            status.to_string()
        },
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Check one block's run against what it shows; `Err` explains the difference.
fn check(prepared: &Prepared, ran: &Ran) -> Result<(), String> {
    if !ran.ok {
        return Err(format!("the block failed ({})", ran.status));
    }
    // Split stdout at the markers: part i is what the commands above group i printed.
    let mut parts: Vec<String> = vec![String::new()];
    for line in ran.stdout.lines() {
        match line.strip_prefix(MARK) {
            Some(n) => {
                let n: usize = n.trim().parse().expect("marker number");
                assert_eq!(n + 1, parts.len(), "markers in order");
                parts.push(String::new());
            }
            None => {
                let part = parts.last_mut().expect("part");
                part.push_str(line);
                part.push('\n');
            }
        }
    }
    if parts.len() != prepared.shown.len() + 2 {
        return Err(format!(
            "expected {} output markers, found {}",
            prepared.shown.len() + 1,
            parts.len() - 1
        ));
    }
    for (i, shown) in prepared.shown.iter().enumerate() {
        let want = shown_items(shown);
        let got = printed_items(&parts[i]);
        if !items_match(&want, &got) {
            return Err(format!(
                "output {} differs\n--- shown ---\n{}\n--- printed ---\n{}",
                i + 1,
                shown.join("\n"),
                parts[i].trim()
            ));
        }
    }
    let unshown = &parts[prepared.shown.len()];
    if !unshown.trim().is_empty() {
        return Err(format!(
            "the last commands print what the README does not show:\n{}",
            unshown.trim()
        ));
    }
    Ok(())
}

/// The environment `wharf serve` runs with, `wharf` on PATH, RUST_LOG as a reader has it.
fn block_env(w: &Wharf, bin_dir: &Path) -> Vec<(String, String)> {
    let cmd = w.command(&[]);
    let mut env: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
        .filter(|(k, _)| k != "RUST_LOG" && k != "PATH")
        .collect();
    let path = std::env::var("PATH").unwrap_or_default();
    env.push(("PATH".into(), format!("{}:{path}", bin_dir.display())));
    env
}

fn readme(backend: Backend) {
    let started = Instant::now();
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let blocks = fenced_blocks(&readme);

    // Every block is one this test knows how to treat.
    for b in &blocks {
        assert!(
            matches!(b.lang.as_str(), "sh" | "json" | ""),
            "README.md:{}: a ```{} block: use ```sh for commands (this test runs them)",
            b.line,
            b.lang
        );
        if b.lang.is_empty() {
            for l in b.text.lines() {
                let first = l.split_whitespace().next().unwrap_or("");
                assert!(
                    !matches!(first, "wharf" | "curl" | "cargo" | "echo")
                        && !first.starts_with("scripts/"),
                    "README.md:{}: commands in a block without a language: make it ```sh",
                    b.line
                );
            }
        }
    }
    let sh: Vec<&Block> = blocks.iter().filter(|b| b.lang == "sh").collect();
    for (text, how) in NOT_RUN {
        let n = sh.iter().filter(|b| b.text.trim() == *text).count();
        assert_eq!(
            n, 1,
            "NOT_RUN lists the block `{text}` ({how}), found {n} times in README.md"
        );
    }
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
        .expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "exec scripts/test"),
        ".ci/run must run scripts/test:\n{ci}"
    );
    let to_run: Vec<&Block> = sh
        .iter()
        .copied()
        .filter(|b| !NOT_RUN.iter().any(|(t, _)| b.text.trim() == *t))
        .collect();
    assert!(!to_run.is_empty(), "no sh block to run");

    // Inline commands: in a block that runs, run here, or exercised elsewhere.
    for cmd in inline_commands(&readme) {
        let covered = to_run.iter().any(|b| b.text.contains(&cmd))
            || INLINE_RUN.contains(&cmd.as_str())
            || INLINE_ELSEWHERE.iter().any(|(c, _)| *c == cmd);
        assert!(
            covered,
            "README.md shows `{cmd}` inline, but no block runs it: put it in a ```sh block, \
             or list it in INLINE_RUN or INLINE_ELSEWHERE"
        );
    }

    let w = Wharf::new(backend);
    let _server = w.serve();
    let bin_dir = w.data_dir.join("bin");
    let work = w.data_dir.join("work");
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    std::fs::create_dir_all(&work).expect("work dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_wharf"), bin_dir.join("wharf"))
        .expect("wharf on PATH");
    let env = block_env(&w, &bin_dir);
    let mut rewrite = Rewrite {
        names: vec![
            ("LCFC".into(), unique("LCFC")),
            ("alice".into(), unique("alice")),
            ("ci-bot".into(), unique("cibot")),
        ],
        ports: default_ports(&w),
        ranges: HashMap::new(),
    };

    for (n, b) in to_run.iter().enumerate() {
        let text = rewrite.apply(&b.text);
        let prepared = prepare(&text);
        let script = work.join(format!("block-{n}.sh"));
        std::fs::write(&script, &prepared.script).expect("write script");
        let t = Instant::now();
        let ran = run_script(&script, &work, &env);
        if let Err(why) = check(&prepared, &ran) {
            panic!(
                "README.md:{} ({backend:?}): {why}\n=== the block as run ===\n{}\n=== stdout ===\n{}\n=== stderr ===\n{}",
                b.line, prepared.script, ran.stdout, ran.stderr
            );
        }
        eprintln!("README.md:{}: ok in {} ms", b.line, t.elapsed().as_millis());
    }

    for cmd in INLINE_RUN {
        let script = work.join("inline.sh");
        std::fs::write(&script, format!("{cmd}\n")).expect("write script");
        let ran = run_script(&script, &work, &env);
        assert!(ran.ok, "`{cmd}`: {}\n{}", ran.status, ran.stderr);
    }

    // The ```json blocks are interface definitions: with them added, wharf starts.
    let json: Vec<&Block> = blocks.iter().filter(|b| b.lang == "json").collect();
    if !json.is_empty() {
        let dir = w.data_dir.join("interfaces");
        std::fs::create_dir_all(&dir).expect("interfaces dir");
        let mut ids = Vec::new();
        for (n, b) in json.iter().enumerate() {
            std::fs::write(dir.join(format!("readme-{n}.json")), &b.text).expect("write");
            let def: Value = serde_json::from_str(&b.text)
                .unwrap_or_explained(&format!("README.md:{}: not JSON", b.line));
            ids.push((
                def["data_category"]
                    .as_str()
                    .expect("data_category")
                    .to_string(),
                def["biz_key"].as_str().expect("biz_key").to_string(),
            ));
        }
        let partner = add_partner(&w, None);
        for (category, biz_key) in ids {
            let out = w
                .command(&["export", &category, &biz_key, "--partner", &partner])
                .env("WHARF_INTERFACES_DIR", &dir)
                .output()
                .expect("run wharf export");
            assert!(
                out.status.success(),
                "the README's interface {category}/{biz_key} does not load: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!(
        "README ({backend:?}): {} blocks run in {} ms",
        to_run.len(),
        started.elapsed().as_millis()
    );
}

trait Explained<T> {
    fn unwrap_or_explained(self, what: &str) -> T;
}

impl<T, E: std::fmt::Display> Explained<T> for Result<T, E> {
    fn unwrap_or_explained(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

#[test]
fn readme_sqlite() {
    readme(Backend::Sqlite);
}

#[test]
fn readme_postgres() {
    readme(Backend::Postgres);
}

/// The README's configuration table names exactly the variables `src/config.rs` reads.
#[test]
fn config_table_lists_every_variable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(root.join("src/config.rs")).expect("src/config.rs");
    let mut read: Vec<String> = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const ENV_"))
        .filter_map(|l| l.split('"').nth(1))
        .map(str::to_string)
        .collect();
    read.sort();
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let mut listed: Vec<String> = readme
        .lines()
        .filter(|l| l.starts_with("| `WHARF_"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or("");
            first_cell
                .split('`')
                .filter(|w| w.starts_with("WHARF_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    listed.sort();
    assert!(
        read.len() > 10,
        "src/config.rs has its ENV_ constants: {read:?}"
    );
    assert_eq!(
        listed, read,
        "README.md's configuration table against src/config.rs's ENV_ constants"
    );
}

/// The block reader itself: outputs under commands, notes elsewhere, here-documents kept.
#[test]
fn blocks_are_read_as_documented() {
    let p = prepare(
        "# a note\nfoo \\\n  --bar\n# {\"code\":\"0\",\n#  \"n\":…}\n\n# another note\n\
         cat > f <<'EOF'\n# not a comment\nEOF\nbaz\n# text …\n",
    );
    assert_eq!(
        p.shown,
        [
            vec!["{\"code\":\"0\",".to_string(), " \"n\":…}".to_string()],
            vec!["text …".to_string()]
        ]
    );
    assert!(p.script.contains("# not a comment\nEOF\nbaz\nprintf"));
    let want = shown_items(&p.shown[0]);
    let got = printed_items("{\"code\":\"0\",\"n\":12}\n");
    assert!(items_match(&want, &got));
    let got = printed_items("{\"n\":12,\"code\":\"0\"}\n");
    assert!(!items_match(&want, &got), "key order counts");
    let want = shown_items(&["{\"a\":1,…,\"c\":[…],\"d\":\"x…\"}".to_string()]);
    let got = printed_items("{\"a\":1,\"b\":2,\"c\":[1],\"d\":\"xy\",\"e\":{}}");
    assert!(items_match(&want, &got), "{want:?}");
    let got = printed_items("{\"c\":[1],\"a\":1,\"d\":\"xy\"}");
    assert!(
        !items_match(&want, &got),
        "the members shown keep their order"
    );
    let got = printed_items("{\"a\":1,\"c\":[1,2],\"d\":\"xy\"}");
    assert!(!items_match(&want, &got), "[…] is one element");
    assert!(glob("text …", "text anything"));
    assert!(!glob("a…b", "ab-"));
    assert!(glob("a…b…c", "a-b-c"));
    assert!(!glob("a…a", "a"));

    let mut r = Rewrite {
        names: vec![("LCFC".into(), "P1".into())],
        ports: HashMap::from([(8080, 1)]),
        ranges: HashMap::new(),
    };
    let out = r.apply("LCFC http://127.0.0.1:8080/x WHARF_FTP_PASSIVE_PORTS=50200-50203 y");
    assert!(
        out.starts_with("P1 http://127.0.0.1:1/x WHARF_FTP_PASSIVE_PORTS="),
        "{out}"
    );
    let (a, b) = out
        .split('=')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.split_once('-'))
        .expect("range");
    assert_eq!(b.parse::<u16>().unwrap() - a.parse::<u16>().unwrap(), 3);

    let inline = inline_commands("Run `wharf serve`, not `wharf`; `A_B=1 cargo test`, `x`.\n");
    assert_eq!(inline, ["A_B=1 cargo test", "wharf serve"]);
}
