//! The split deployment under load, with failures (issue #10): two `wharf core`, two
//! `wharf gateway`, one `wharf ftp` and one `wharf upload`, separate processes on one
//! PostgreSQL, the front-ends given both cores in `WHARF_CORE_URL`. Eight clients push the
//! same batches through different doors (both gateways and FTP) at once and resend a sequence
//! through another door when a door fails; mid-run one core and one gateway are SIGKILLed.
//! At the end every batch is applied exactly once, nothing is lost, and every answer a client
//! got was `0` or `E00A00`, apart from system errors (`-1`, broken connections) around the
//! kills, each followed by a successful resend.

mod util;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use suppaftp::types::FileType;
use suppaftp::FtpStream;
use util::data::{bom_row, envelope, export};
use util::ftp::{bom_dir, put};
use util::http::{client_token, curl};
use util::{
    add_partner, add_user, free_port, free_port_range, upload, Backend, Server, Wharf, PASSWORD,
};

const BATCHES: usize = 16;
const SEQUENCES: usize = 4;
const ROWS: usize = 50;
const CLIENTS: usize = 8;
/// Clients that send each batch (each all of its sequences).
const SENDERS_PER_BATCH: usize = 3;
/// A client that got a system error waits this long, then resends through another door.
const PAUSE: Duration = Duration::from_millis(200);
/// Resends of one sequence by one client before it gives up (a failure).
const MAX_ATTEMPTS: usize = 25;
/// System errors are allowed from a kill until this long after it.
const KILL_WINDOW: Duration = Duration::from_secs(5);
/// No client sends after this (from the start of the run); a bound, never reached when well.
const RUN_LIMIT: Duration = Duration::from_secs(40);

fn batch_id(b: usize) -> String {
    format!("SPLIT-{b:02}")
}

fn key(b: usize, s: usize, r: usize) -> String {
    format!("b{b:02}s{s}r{r:02}")
}

/// Row `r` of sequence `s` of batch `b`: its own key and its own value.
fn row(b: usize, s: usize, r: usize) -> Value {
    let mut v = bom_row(&key(b, s, r));
    v["child_item"] = json!(format!("C{b}-{s}-{r}"));
    v
}

/// Sequence `s` of batch `b` (seq_id `s + 1`), the same bytes whoever sends it.
fn sequence(b: usize, s: usize) -> String {
    envelope(
        &batch_id(b),
        SEQUENCES * ROWS,
        &(s + 1).to_string(),
        (0..ROWS).map(|r| row(b, s, r)).collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// doors and answers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Door {
    /// Gateway 0 (survives) or 1 (killed mid-run).
    Gateway(usize),
    Ftp,
}

const DOORS: [Door; 3] = [Door::Gateway(0), Door::Gateway(1), Door::Ftp];

/// What one send got.
#[derive(Clone, Debug)]
enum Outcome {
    /// A `{code,msg}` answer: HTTP status (0 for an FTP feedback file), code, msg.
    Answer(u16, String, String),
    /// No answer: the connection broke or was refused, FTP refused the transfer, ...
    Transport(String),
}

impl Outcome {
    /// `0` or `E00A00`: this client is done with the sequence.
    fn done(&self) -> bool {
        matches!(self, Outcome::Answer(_, c, _) if c == "0" || c == "E00A00")
    }

    /// A system error: the client resends (through another door).
    fn system_error(&self) -> bool {
        match self {
            Outcome::Answer(_, c, _) => c == "-1",
            Outcome::Transport(_) => true,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answer(status, code, msg) => write!(f, "{code} ({status}) {msg:?}"),
            Outcome::Transport(e) => write!(f, "no answer: {e}"),
        }
    }
}

/// One send of one sequence by one client, as recorded.
#[derive(Clone, Debug)]
struct Sent {
    client: usize,
    batch: usize,
    seq: usize,
    door: Door,
    attempt: usize,
    started: Instant,
    ended: Instant,
    outcome: Outcome,
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "client {} batch {} seq {} via {:?} (attempt {}): {}",
            self.client,
            batch_id(self.batch),
            self.seq + 1,
            self.door,
            self.attempt,
            self.outcome
        )
    }
}

/// How a client authenticates over HTTP.
enum Auth {
    Basic(String),
    Bearer(String),
}

/// POST a sequence to t1/bom at `base`.
fn http_send(base: &str, auth: &Auth, body: &str) -> Outcome {
    let url = format!("{base}/v1.0/scc/data/sync/t1/bom");
    let credentials = match auth {
        Auth::Basic(user) => vec!["-u".to_string(), format!("{user}:{PASSWORD}")],
        Auth::Bearer(token) => vec!["-H".to_string(), format!("Authorization: Bearer {token}")],
    };
    let mut args: Vec<&str> = vec!["--max-time", "20", "-w", "\n%{http_code}", "-X", "POST"];
    args.extend(credentials.iter().map(String::as_str));
    args.extend([
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "@-",
        &url,
    ]);
    let out = curl(&args, Some(body.as_bytes()));
    if !out.status.success() {
        return Outcome::Transport(format!(
            "curl exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    answer_of(&String::from_utf8_lossy(&out.stdout))
}

/// `{body}\n{status}` as curl's `-w` wrote it.
fn answer_of(text: &str) -> Outcome {
    let Some((body, status)) = text.rsplit_once('\n') else {
        return Outcome::Transport(format!("no status from curl: {text:?}"));
    };
    let status: u16 = status.trim().parse().unwrap_or(0);
    match serde_json::from_str::<Value>(body) {
        Ok(v) => Outcome::Answer(
            status,
            v["code"].as_str().unwrap_or("(no code)").to_string(),
            v["msg"].as_str().unwrap_or_default().to_string(),
        ),
        // Not a wharf answer: reported as an answer nobody may get.
        Err(_) => Outcome::Answer(status, format!("(not JSON) {body}"), String::new()),
    }
}

/// Upload a sequence as the `.json` file `name` and read its feedback file, logging in first
/// when `session` has no connection. A failure drops the connection.
fn ftp_send(
    addr: SocketAddr,
    user: &str,
    session: &mut Option<FtpStream>,
    dir: &str,
    name: &str,
    body: &str,
) -> Outcome {
    let result = (|| -> Result<Value, String> {
        if session.is_none() {
            let ftp = FtpStream::connect_timeout(addr, Duration::from_secs(10))
                .map_err(|e| format!("ftp connect: {e}"))?;
            ftp.get_ref()
                .set_read_timeout(Some(Duration::from_secs(20)))
                .map_err(|e| format!("ftp read timeout: {e}"))?;
            *session = Some(ftp);
            let ftp = session.as_mut().expect("just set");
            ftp.login(user, PASSWORD)
                .map_err(|e| format!("ftp login: {e}"))?;
            ftp.transfer_type(FileType::Binary)
                .map_err(|e| format!("ftp TYPE I: {e}"))?;
        }
        let ftp = session.as_mut().expect("logged in");
        put(ftp, &format!("{dir}/{name}"), body.as_bytes())
            .map_err(|e| format!("ftp STOR {name}: {e}"))?;
        let feedback = format!("{dir}/feedback/{name}.result.json");
        let bytes = ftp
            .retr_as_buffer(&feedback)
            .map_err(|e| format!("ftp RETR {feedback}: {e}"))?
            .into_inner();
        serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{feedback} is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    })();
    match result {
        Ok(v) => Outcome::Answer(
            0,
            v["code"].as_str().unwrap_or("(no code)").to_string(),
            v["msg"].as_str().unwrap_or_default().to_string(),
        ),
        Err(e) => {
            if let Some(mut ftp) = session.take() {
                let _ = ftp.quit();
            }
            Outcome::Transport(e)
        }
    }
}

/// The batches client `c` sends (all their sequences): `SENDERS_PER_BATCH` neighbouring
/// clients share each batch.
fn share(c: usize) -> Vec<(usize, usize)> {
    let mut mine: Vec<(usize, usize)> = (0..BATCHES)
        .filter(|b| (b + c) % CLIENTS < SENDERS_PER_BATCH)
        .flat_map(|b| (0..SEQUENCES).map(move |s| (b, s)))
        .collect();
    // First sequences first: the clients of a batch send its sequences at about the same time.
    mine.sort_by_key(|&(b, s)| (s, b));
    mine
}

// ---------------------------------------------------------------------------------------------
// the test

/// What the clients share.
struct Run {
    user: String,
    /// Client-credentials tokens for the clients that use bearer auth.
    token: String,
    gateways: [String; 2],
    ftp_addr: SocketAddr,
    dir: String,
    /// The killed gateway is taken out of the rotation (as a load balancer would).
    gateway_1_gone: AtomicBool,
    sent: Mutex<Vec<Sent>>,
    /// Sequences clients are done with (or gave up on).
    finished: AtomicUsize,
    start: Instant,
}

impl Run {
    /// The door for `attempt` of sequence (b, s) by client `c`: the clients of a batch start
    /// at different doors, and each resend moves to the next door.
    fn door(&self, c: usize, b: usize, s: usize, attempt: usize) -> Door {
        (0..DOORS.len())
            .map(|i| DOORS[(c + b + s + attempt + i) % DOORS.len()])
            .find(|d| !(*d == Door::Gateway(1) && self.gateway_1_gone.load(Ordering::SeqCst)))
            .expect("a door")
    }

    fn client(&self, c: usize) {
        let auth = if c.is_multiple_of(2) {
            Auth::Bearer(self.token.clone())
        } else {
            Auth::Basic(self.user.clone())
        };
        let mut ftp: Option<FtpStream> = None;
        for (b, s) in share(c) {
            let body = sequence(b, s);
            for attempt in 0.. {
                let door = self.door(c, b, s, attempt);
                let started = Instant::now();
                let outcome = match door {
                    Door::Gateway(g) => http_send(&self.gateways[g], &auth, &body),
                    Door::Ftp => {
                        let name = format!("bom_insert_20240101120000_c{c}b{b}s{s}a{attempt}.json");
                        ftp_send(self.ftp_addr, &self.user, &mut ftp, &self.dir, &name, &body)
                    }
                };
                let sent = Sent {
                    client: c,
                    batch: b,
                    seq: s,
                    door,
                    attempt,
                    started,
                    ended: Instant::now(),
                    outcome: outcome.clone(),
                };
                self.sent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(sent);
                if !outcome.system_error()
                    || attempt + 1 >= MAX_ATTEMPTS
                    || self.start.elapsed() > RUN_LIMIT
                {
                    break;
                }
                std::thread::sleep(PAUSE);
            }
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(mut ftp) = ftp {
            let _ = ftp.quit();
        }
    }
}

/// Wait until `n` sequences are finished, at most until the run limit.
fn wait_finished(run: &Run, n: usize, what: &str) {
    while run.finished.load(Ordering::SeqCst) < n {
        assert!(
            run.start.elapsed() < RUN_LIMIT,
            "{what}: only {} of {n} sequences finished in {RUN_LIMIT:?}",
            run.finished.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGKILL a component; returns when it is gone.
fn kill(what: &str, server: &mut Server) -> Instant {
    server
        .child
        .kill()
        .unwrap_or_else(|e| panic!("SIGKILL {what}: {e}"));
    let at = Instant::now();
    let status = server.child.wait().expect("wait");
    eprintln!("split: SIGKILLed {what} ({status})");
    at
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn split_deployment_survives_a_core_and_a_gateway_killed() {
    let w = Wharf::new(Backend::Postgres);
    let partner = add_partner(&w, Some("t1/bom"));
    let user = add_user(&w, &partner);
    let begun = Instant::now();

    // Two cores on one store, each with its own gRPC and admin port.
    let core_ports = [w.grpc_port, free_port()];
    let mut cores: Vec<Server> = core_ports
        .iter()
        .map(|&port| {
            w.start(
                &["core"],
                &[
                    ("WHARF_GRPC_ADDR", format!("127.0.0.1:{port}")),
                    ("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", free_port())),
                ],
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
    let mut gateways: Vec<Server> = http_ports
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
    let passive = free_port_range(64);
    let mut ftp_server = w.start(
        &["ftp"],
        &[
            core_url.clone(),
            (
                "WHARF_FTP_PASSIVE_PORTS",
                format!("{passive}-{}", passive + 63),
            ),
        ],
        w.ftp_port,
    );
    let mut upload_server = w.start(&["upload"], std::slice::from_ref(&core_url), w.upload_port);
    let gateway_urls = http_ports.map(|p| format!("http://127.0.0.1:{p}"));
    let token = client_token(&gateway_urls[0], &partner);
    eprintln!("split: 6 processes up in {} ms", ms(begun.elapsed()));

    let run = Run {
        user: user.clone(),
        token,
        gateways: gateway_urls.clone(),
        ftp_addr: SocketAddr::from(([127, 0, 0, 1], w.ftp_port)),
        dir: bom_dir(&partner),
        gateway_1_gone: AtomicBool::new(false),
        sent: Mutex::new(Vec::new()),
        finished: AtomicUsize::new(0),
        start: Instant::now(),
    };
    let total: usize = (0..CLIENTS).map(|c| share(c).len()).sum();
    assert_eq!(total, BATCHES * SEQUENCES * SENDERS_PER_BATCH);
    let (core_killed, gateway_killed) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let run = &run;
                scope.spawn(move || run.client(c))
            })
            .collect();
        // A fifth of the way: core 1 goes; at half way, gateway 1.
        wait_finished(&run, total / 5, "before the core kill");
        let core_killed = kill("core 1", &mut cores[1]);
        wait_finished(&run, total / 2, "before the gateway kill");
        let gateway_killed = kill("gateway 1", &mut gateways[1]);
        run.gateway_1_gone.store(true, Ordering::SeqCst);
        for (c, client) in clients.into_iter().enumerate() {
            if client.join().is_err() {
                panic!("client {c} panicked");
            }
        }
        (core_killed, gateway_killed)
    });
    let run_took = run.start.elapsed();
    let sent = run.sent.into_inner().unwrap_or_else(|p| p.into_inner());

    // ---- what the clients saw
    let mut failures: Vec<String> = Vec::new();
    let kills = [("core 1", core_killed), ("gateway 1", gateway_killed)];
    let near_a_kill = |s: &Sent| {
        kills
            .iter()
            .any(|(_, at)| s.ended >= *at && s.started <= *at + KILL_WINDOW)
    };
    for s in &sent {
        if s.outcome.system_error() {
            if !near_a_kill(s) {
                failures.push(format!(
                    "a system error away from the kills ({} ms into the run): {s}",
                    ms(s.started - run.start)
                ));
            }
        } else if !s.outcome.done() {
            failures.push(format!("an answer no resend may get: {s}"));
        }
    }
    // Each client ended each of its sequences with 0 or E00A00.
    let mut last: BTreeMap<(usize, usize, usize), &Sent> = BTreeMap::new();
    for s in &sent {
        let k = (s.batch, s.seq, s.client);
        if last.get(&k).is_none_or(|l| l.attempt < s.attempt) {
            last.insert(k, s);
        }
    }
    for c in 0..CLIENTS {
        for (b, s) in share(c) {
            match last.get(&(b, s, c)) {
                None => failures.push(format!(
                    "client {c} never sent batch {} seq {}",
                    batch_id(b),
                    s + 1
                )),
                Some(l) if !l.outcome.done() => {
                    failures.push(format!("not followed by a successful resend: {l}"))
                }
                Some(_) => {}
            }
        }
    }
    // One sequence is accepted (`0`) at most once, whoever sent it and how.
    let mut accepted: HashMap<(usize, usize), Vec<&Sent>> = HashMap::new();
    for s in &sent {
        if matches!(&s.outcome, Outcome::Answer(_, c, _) if c == "0") {
            accepted.entry((s.batch, s.seq)).or_default().push(s);
        }
    }
    for ((b, s), got) in &accepted {
        if got.len() > 1 {
            let list: Vec<String> = got.iter().map(|s| s.to_string()).collect();
            failures.push(format!(
                "batch {} seq {} accepted {} times: {list:?}",
                batch_id(*b),
                s + 1,
                got.len()
            ));
        }
    }

    // What happened at the kills.
    let by_door = |d: Door| sent.iter().filter(|s| s.door == d).count();
    eprintln!(
        "split: {} sends ({} client sequences) in {} ms: gateway 0 {}, gateway 1 {}, FTP {}",
        sent.len(),
        total,
        ms(run_took),
        by_door(Door::Gateway(0)),
        by_door(Door::Gateway(1)),
        by_door(Door::Ftp)
    );
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for s in &sent {
        let class = match &s.outcome {
            Outcome::Answer(_, code, _) => code.clone(),
            Outcome::Transport(_) => "no answer".to_string(),
        };
        *codes.entry(class).or_default() += 1;
    }
    eprintln!("split: answers {codes:?}");
    // Each system error belongs to the last kill before it ended.
    let kill_of = |s: &Sent| kills.iter().rposition(|(_, at)| s.ended >= *at);
    for (k, (what, at)) in kills.into_iter().enumerate() {
        let errors: Vec<&Sent> = sent
            .iter()
            .filter(|s| s.outcome.system_error() && kill_of(s) == Some(k))
            .collect();
        let last_error = errors.iter().map(|s| s.ended - at).max();
        let first_ok_after = sent
            .iter()
            .filter(|s| s.started >= at && s.outcome.done())
            .map(|s| s.ended - at)
            .min();
        eprintln!(
            "split: {what} killed {} ms into the run: {} system errors, the last {} ms after \
             the kill; first good answer {} ms after it",
            ms(at - run.start),
            errors.len(),
            last_error.map_or("-".into(), |d| ms(d).to_string()),
            first_ok_after.map_or("-".into(), |d| ms(d).to_string())
        );
        for e in errors {
            eprintln!(
                "split:   +{} ms (took {} ms) {e}",
                ms(e.ended - at),
                ms(e.ended - e.started)
            );
        }
    }

    // ---- what core holds: every batch applied once, as its senders sent it
    let get = |url: &str| -> (Outcome, Value) {
        let out = curl(
            &[
                "--max-time",
                "20",
                "-w",
                "\n%{http_code}",
                "-u",
                &format!("{user}:{PASSWORD}"),
                url,
            ],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let body = text
            .rsplit_once('\n')
            .and_then(|(b, _)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        if out.status.success() {
            (answer_of(&text), body)
        } else {
            (
                Outcome::Transport(String::from_utf8_lossy(&out.stderr).into_owned()),
                body,
            )
        }
    };
    for b in 0..BATCHES {
        let url = format!(
            "{}/v1.0/scc/data/sync/t1/bom/batches/{}",
            gateway_urls[0],
            batch_id(b)
        );
        let (outcome, body) = get(&url);
        let result = &body["result"];
        if !matches!(&outcome, Outcome::Answer(200, c, _) if c == "0")
            || result["state"] != "applied"
            || result["staged_rows"].as_u64() != Some((SEQUENCES * ROWS) as u64)
            || result["batch_size"].as_u64() != Some((SEQUENCES * ROWS) as u64)
        {
            failures.push(format!(
                "batch {} on the surviving gateway: {outcome}: {body}",
                batch_id(b)
            ));
        }
    }
    // A resend of every sequence after the kills, through the surviving doors: E00A00 each.
    let mut ftp = None;
    for b in 0..BATCHES {
        for s in 0..SEQUENCES {
            let (door, outcome) = if (b + s) % 2 == 0 {
                (
                    Door::Gateway(0),
                    http_send(
                        &gateway_urls[0],
                        &Auth::Basic(user.clone()),
                        &sequence(b, s),
                    ),
                )
            } else {
                let name = format!("bom_insert_20240101120000_final{b}s{s}.json");
                (
                    Door::Ftp,
                    ftp_send(
                        run.ftp_addr,
                        &user,
                        &mut ftp,
                        &run.dir,
                        &name,
                        &sequence(b, s),
                    ),
                )
            };
            if !matches!(&outcome, Outcome::Answer(_, c, _) if c == "E00A00") {
                failures.push(format!(
                    "the resend after the run of batch {} seq {} via {door:?}: {outcome}",
                    batch_id(b),
                    s + 1
                ));
            }
        }
    }
    if let Some(mut ftp) = ftp {
        let _ = ftp.quit();
    }
    let rows = export(&w, &partner, "t1/bom", None);
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    for b in 0..BATCHES {
        for s in 0..SEQUENCES {
            for r in 0..ROWS {
                let mut v = row(b, s, r);
                v["vendor_parent_item"] = json!("NA");
                want.insert(key(b, s, r), v);
            }
        }
    }
    let mut got: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &rows {
        got.entry(r["vendor_father_item"].as_str().unwrap_or("").to_string())
            .or_default()
            .push(r);
    }
    for (k, v) in &want {
        match got.get(k).map(Vec::as_slice) {
            None => failures.push(format!("row {k} is lost")),
            Some([one]) if *one == v => {}
            Some(other) => failures.push(format!("row {k}: want {v}, exported {other:?}")),
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        failures.push(format!("row {k} exported, never sent"));
    }
    if rows.len() != want.len() {
        failures.push(format!("{} rows exported, want {}", rows.len(), want.len()));
    }

    // The upload page still reaches a core (the one alive).
    let jar = w.data_dir.join("split.cookies");
    for i in 0..4 {
        let base = w.upload_url();
        let status = upload::login_status(&base, &jar, &user);
        if status != "303" {
            failures.push(format!(
                "upload page login {i} after the kills: HTTP {status}, want 303"
            ));
        }
    }

    // The survivors stop cleanly.
    for (what, server) in [
        ("gateway 0", &mut gateways[0]),
        ("wharf ftp", &mut ftp_server),
        ("wharf upload", &mut upload_server),
        ("core 0", &mut cores[0]),
    ] {
        let status = server.terminate();
        if !status.success() {
            failures.push(format!("{what} exited with {status}: {}", server.stderr()));
        }
    }
    eprintln!("split: done in {} ms", ms(begun.elapsed()));
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
