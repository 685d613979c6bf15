//! The golden corpus (`tests/golden/cases/*.json`, format in `tests/golden/README.md`) played
//! through every door against the real `wharf serve`, on SQLite and on PostgreSQL: gRPC
//! `IngestBatch` directly, the HTTP API, FTP with `.json` files, FTP with `.csv` files and the
//! upload page's form with `.xlsx` files. Every door must give every step the case's answer and
//! leave the case's data set. SPEC §1 and §8: the transport does not change behaviour.
//!
//! What a door legitimately adds or cannot say lives in one place: [`Door::can_play`] (why a
//! sheet door cannot play a case) and [`Door::expected`] (how the case's answer reads through
//! that door). Nothing is skipped silently: the run prints what each door played.
//!
//! Knobs for working on the corpus: `GOLDEN_DOORS=grpc,http` plays only those doors,
//! `GOLDEN_CASES=bom` only cases whose file name contains that text. CI sets neither.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use util::ftp::{deliver, deliver_by_rename, login, login_at};
use util::http::{client_token, send, Auth};
use util::upload::{self, by_id};
use util::{
    add_partner_and_user, free_port, free_port_range, unique, Backend, Server, Wharf, TOKEN,
};

/// One problem as the corpus writes it: `[row index | null, type, fields]`.
type Problem = (Option<u64>, String, String);

/// An answer, reduced to what every door must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    code: String,
    /// The problems in core's order; for E00M00, each group's code before its problems.
    problems: Vec<(String, Problem)>,
}

#[derive(Debug, Clone)]
struct Step {
    op: String,
    env: String,
    partner: String,
    /// The body as sent: the envelope's JSON text, or `raw`.
    body: String,
    envelope: Option<Value>,
    expect: Outcome,
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    iface: String,
    given: Vec<Value>,
    steps: Vec<Step>,
    after: Vec<Value>,
    after_uat: Vec<Value>,
    after_other: Vec<Value>,
    /// Why the case says it cannot be a sheet ("" when it can).
    not_a_sheet: String,
}

fn problems_of(v: &Value, ctx: &str) -> Vec<Problem> {
    v.as_array()
        .unwrap_or_else(|| panic!("{ctx}: problems must be an array"))
        .iter()
        .map(|p| {
            let p = p
                .as_array()
                .unwrap_or_else(|| panic!("{ctx}: a problem is [index, type, fields]"));
            assert_eq!(p.len(), 3, "{ctx}: a problem is [index, type, fields]");
            (
                p[0].as_u64(),
                p[1].as_str().expect("type").to_string(),
                p[2].as_str().expect("fields").to_string(),
            )
        })
        .collect()
}

fn expected_outcome(e: &Value, ctx: &str) -> Outcome {
    let code = e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: expect.code"))
        .to_string();
    let mut problems = Vec::new();
    if let Some(groups) = e.get("groups") {
        let groups = groups
            .as_object()
            .unwrap_or_else(|| panic!("{ctx}: groups"));
        // Core lists E00V00 before E00W00.
        for g in ["E00V00", "E00W00"] {
            if let Some(list) = groups.get(g) {
                problems.extend(
                    problems_of(list, ctx)
                        .into_iter()
                        .map(|p| (g.to_string(), p)),
                );
            }
        }
    } else if let Some(list) = e.get("problems") {
        problems.extend(
            problems_of(list, ctx)
                .into_iter()
                .map(|p| (code.clone(), p)),
        );
    }
    Outcome { code, problems }
}

fn load_case(path: &Path) -> Case {
    let name = path
        .file_stem()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(path).expect("case file");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let steps = list("steps")
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ctx = format!("{name} step {}", i + 1);
            let envelope = s.get("envelope").cloned();
            let body = match (&envelope, s.get("raw").and_then(Value::as_str)) {
                (Some(e), None) => e.to_string(),
                (None, Some(raw)) => raw.to_string(),
                _ => panic!("{ctx}: exactly one of envelope and raw"),
            };
            Step {
                op: s["op"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{ctx}: op"))
                    .to_string(),
                env: s
                    .get("env")
                    .and_then(Value::as_str)
                    .unwrap_or("prod")
                    .to_string(),
                partner: s
                    .get("partner")
                    .and_then(Value::as_str)
                    .unwrap_or("main")
                    .to_string(),
                body,
                envelope,
                expect: expected_outcome(&s["expect"], &ctx),
            }
        })
        .collect::<Vec<_>>();
    assert!(!steps.is_empty(), "{name}: no steps");
    Case {
        iface: v["interface"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: interface"))
            .to_string(),
        given: list("given"),
        steps,
        after: list("after"),
        after_uat: list("after_uat"),
        after_other: list("after_other"),
        not_a_sheet: match v.get("sheet") {
            Some(Value::Bool(false)) => v
                .get("sheet_why")
                .and_then(Value::as_str)
                .unwrap_or("the case says so")
                .to_string(),
            _ => String::new(),
        },
        name,
    }
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cases");
    let filter = std::env::var("GOLDEN_CASES").unwrap_or_default();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/golden/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_case(p)).collect()
}

/// The doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Grpc,
    Http,
    FtpJson,
    FtpCsv,
    UploadXlsx,
}

const DOORS: [Door; 5] = [
    Door::Grpc,
    Door::Http,
    Door::FtpJson,
    Door::FtpCsv,
    Door::UploadXlsx,
];

/// A scalar of a sheet cell: text, or (xlsx only) a number whose literal survives an f64.
enum Cell {
    Text(String),
    Number(String),
}

impl Door {
    fn name(self) -> &'static str {
        match self {
            Door::Grpc => "grpc",
            Door::Http => "http",
            Door::FtpJson => "ftp-json",
            Door::FtpCsv => "ftp-csv",
            Door::UploadXlsx => "upload-xlsx",
        }
    }

    fn sheet(self) -> bool {
        matches!(self, Door::FtpCsv | Door::UploadXlsx)
    }

    /// Why this door cannot play `case` (`None`: it can). Only sheet doors refuse, and only
    /// for what a sheet cannot say: a sheet is one whole batch of rows of cells, and its door
    /// makes the batch id.
    fn can_play(self, case: &Case) -> Option<String> {
        if !self.sheet() {
            return None;
        }
        if !case.not_a_sheet.is_empty() {
            return Some(case.not_a_sheet.clone());
        }
        for s in &case.steps {
            let Some(env) = &s.envelope else {
                return Some("a raw body".into());
            };
            if s.expect.problems.iter().any(|(_, p)| p.0.is_none()) {
                return Some("an envelope problem".into());
            }
            if matches!(s.expect.code.as_str(), "E00A00" | "E00P00") {
                return Some(format!(
                    "{} depends on the sender's batch ids",
                    s.expect.code
                ));
            }
            let data = env["data"].as_array();
            let n = data.map_or(0, Vec::len);
            let whole = |k: &str| env[k].as_u64().or_else(|| env[k].as_str()?.parse().ok());
            if whole("batch_size") != Some(n as u64) || whole("seq_size") != Some(n as u64) {
                return Some("not one whole batch in one sequence".into());
            }
            if n == 0 {
                return Some("no rows".into());
            }
            if env.as_object().is_some_and(|o| {
                o.keys().any(|k| {
                    !["batch_id", "batch_size", "seq_id", "seq_size", "data"].contains(&k.as_str())
                })
            }) {
                return Some("envelope fields a sheet has no place for".into());
            }
            for row in data.into_iter().flatten() {
                let Some(obj) = row.as_object() else {
                    return Some("a data item that is not an object".into());
                };
                for v in obj.values() {
                    if Self::cell(self, v).is_none() {
                        return Some(format!("a value a {} cell cannot hold: {v}", self.name()));
                    }
                }
            }
        }
        None
    }

    /// The cell a JSON value becomes in this door's sheet, if it can be one. Empty text would
    /// read back as an absent field, so it cannot.
    fn cell(self, v: &Value) -> Option<Cell> {
        // XML 1.0 has no place for C0 control characters other than TAB, LF and CR.
        let xml_text = |s: &str| {
            s.chars()
                .all(|c| c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
        };
        match v {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) if self == Door::UploadXlsx && !xml_text(s) => None,
            Value::String(s) => Some(Cell::Text(s.clone())),
            Value::Number(n) if self == Door::UploadXlsx => {
                let lit = n.to_string();
                let back = lit.parse::<f64>().ok()?.to_string();
                (back == lit).then_some(Cell::Number(lit))
            }
            _ => None,
        }
    }

    /// How `expect` reads through this door. The upload page shows one line per failing
    /// field with the sheet's row number (index + 2: the header is row 1) and no group
    /// codes; every other door answers core's JSON as it is.
    fn expected(self, expect: &Outcome) -> Outcome {
        if self != Door::UploadXlsx {
            return expect.clone();
        }
        let mut lines: Vec<(String, Problem)> = expect
            .problems
            .iter()
            .flat_map(|(_, (i, ty, fields))| {
                fields.split(',').map(move |f| {
                    (
                        String::new(),
                        (i.map(|i| i + 2), ty.clone(), f.trim().to_string()),
                    )
                })
            })
            .collect();
        lines.sort_by_key(|(_, p)| p.0);
        Outcome {
            code: expect.code.clone(),
            problems: lines,
        }
    }
}

/// A JSON answer (`{code,msg,result}`) reduced to an [`Outcome`].
fn outcome_of(answer: &Value) -> Outcome {
    let code = answer["code"].as_str().unwrap_or_default().to_string();
    let list = |v: &Value, group: &str| -> Vec<(String, Problem)> {
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                let index = p.get("index").and_then(Value::as_u64);
                p["verify"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |v| {
                        (
                            group.to_string(),
                            (
                                index,
                                v["type"].as_str().unwrap_or_default().to_string(),
                                v["fields"].as_str().unwrap_or_default().to_string(),
                            ),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let problems = if code == "E00M00" {
        answer["result"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| list(&g["result"], g["code"].as_str().unwrap_or_default()))
            .collect()
    } else {
        list(&answer["result"], &code)
    };
    Outcome { code, problems }
}

/// The installation every case runs in: `wharf serve` with the corpus's interface, plus an
/// FTP server of the `uat` space (FTP's environment is the server's configuration).
struct Site {
    w: Wharf,
    _serve: Server,
    _ftp_uat: Server,
    ftp_uat_port: u16,
    rt: tokio::runtime::Runtime,
    grpc: wharf_proto::CoreClient,
}

impl Site {
    fn start(backend: Backend) -> Site {
        let mut w = Wharf::new(backend);
        let interfaces = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/interfaces");
        w.extra_env.push((
            "WHARF_INTERFACES_DIR".into(),
            interfaces.display().to_string(),
        ));
        let serve = w.serve();
        let ftp_uat_port = free_port();
        let passive = free_port_range(8);
        let ftp_uat = w.start(
            &["ftp"],
            &[
                ("WHARF_CORE_URL", w.grpc_url()),
                ("WHARF_FTP_ENV", "uat".into()),
                ("WHARF_FTP_ADDR", format!("127.0.0.1:{ftp_uat_port}")),
                (
                    "WHARF_FTP_PASSIVE_PORTS",
                    format!("{passive}-{}", passive + 7),
                ),
            ],
            ftp_uat_port,
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let grpc = {
            let _in_rt = rt.enter();
            wharf_proto::connect(&w.grpc_url(), TOKEN).expect("core client")
        };
        Site {
            w,
            _serve: serve,
            _ftp_uat: ftp_uat,
            ftp_uat_port,
            rt,
            grpc,
        }
    }

    fn grpc_ingest(&self, partner: &str, iface: &str, op: &str, env: &str, body: &[u8]) -> Value {
        use wharf_proto::v1 as pb;
        let (cat, biz) = iface.split_once('/').expect("iface");
        let mut req = pb::IngestBatchRequest {
            partner: partner.to_string(),
            environment: if env == "uat" {
                pb::Environment::Uat
            } else {
                pb::Environment::Prod
            } as i32,
            data_category: cat.to_string(),
            biz_key: biz.to_string(),
            operation: match op {
                "insert" => pb::Operation::Insert,
                "update" => pb::Operation::Update,
                "delete" => pb::Operation::Delete,
                "all" => pb::Operation::All,
                other => panic!("unknown op {other}"),
            } as i32,
            transport: pb::Transport::Grpc as i32,
            ..Default::default()
        };
        wharf_proto::json::read_envelope(body, &mut req);
        let mut client = self.grpc.clone();
        let answer = self
            .rt
            .block_on(client.ingest_batch(req))
            .unwrap_or_else(|s| panic!("IngestBatch: {s:?}"))
            .into_inner();
        wharf_proto::json::answer_json(&answer)
    }

    fn export(&self, partner: &str, iface: &str, env: &str) -> Vec<Value> {
        util::data::export(&self.w, partner, iface, Some(env))
    }
}

/// One partner's session at one door.
struct Seat {
    partner: String,
    user: String,
    token: String,
    ftp: Option<suppaftp::FtpStream>,
    ftp_uat: Option<suppaftp::FtpStream>,
    jar: PathBuf,
    serial: u32,
}

impl Seat {
    fn open(site: &Site, door: Door) -> Seat {
        let (partner, user) = add_partner_and_user(&site.w);
        let token = if door == Door::Http {
            client_token(&site.w.http_url(), &partner)
        } else {
            String::new()
        };
        let jar = site.w.data_dir.join(format!("{}.cookies", unique("jar")));
        if door == Door::UploadXlsx {
            upload::login(&site.w.upload_url(), &jar, &user);
        }
        Seat {
            partner,
            user,
            token,
            ftp: None,
            ftp_uat: None,
            jar,
            serial: 0,
        }
    }

    fn ftp(&mut self, site: &Site, env: &str) -> &mut suppaftp::FtpStream {
        let user = self.user.clone();
        if env == "uat" {
            self.ftp_uat
                .get_or_insert_with(|| login_at(site.ftp_uat_port, &user))
        } else {
            self.ftp.get_or_insert_with(|| login(&site.w, &user))
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        for ftp in [self.ftp.take(), self.ftp_uat.take()].into_iter().flatten() {
            let mut ftp = ftp;
            let _ = ftp.quit();
        }
    }
}

/// The upload page's result: its code, and its error table as (row, field, type) lines.
fn result_outcome(page: &str) -> Outcome {
    let cell = |row: &str, class: &str| -> String {
        let marker = format!("<td class=\"{class}\">");
        let at = row.find(&marker).expect("cell") + marker.len();
        row[at..at + row[at..].find("</td>").expect("cell end")].to_string()
    };
    let problems = page
        .split("<tr><td class=\"line\">")
        .skip(1)
        .map(|r| {
            let r = format!("<td class=\"line\">{r}");
            let line = cell(&r, "line").parse::<u64>().ok();
            (String::new(), (line, cell(&r, "type"), cell(&r, "field")))
        })
        .collect();
    Outcome {
        code: by_id(page, "result-code"),
        problems,
    }
}

/// A sheet's header: every field of the rows, in the order they first appear.
fn header_of(rows: &[Value]) -> Vec<String> {
    let mut header: Vec<String> = Vec::new();
    for r in rows {
        for k in r.as_object().expect("object").keys() {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    header
}

fn csv_of(env: &Value) -> String {
    let rows = env["data"].as_array().expect("data");
    let header = header_of(rows);
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = header
        .iter()
        .map(|h| quote(h))
        .collect::<Vec<_>>()
        .join(",")
        + "\r\n";
    for r in rows {
        let line: Vec<String> = header
            .iter()
            .map(|h| {
                r.get(h)
                    .and_then(Value::as_str)
                    .map(quote)
                    .unwrap_or_default()
            })
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn xlsx_of(env: &Value) -> Vec<u8> {
    let rows = env["data"].as_array().expect("data");
    let header = header_of(rows);
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, h).expect("header");
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, h) in header.iter().enumerate() {
            let (row, col) = (i as u32 + 1, c as u16);
            match r.get(h).and_then(|v| Door::UploadXlsx.cell(v)) {
                Some(Cell::Text(s)) => {
                    sheet.write_string(row, col, &s).expect("cell");
                }
                Some(Cell::Number(n)) => {
                    sheet
                        .write_number(row, col, n.parse::<f64>().expect("number"))
                        .expect("cell");
                }
                None => {}
            }
        }
    }
    book.save_to_buffer().expect("xlsx")
}

/// Play one step through one door; returns what the door answered.
fn play(site: &Site, door: Door, seat: &mut Seat, iface: &str, step: &Step) -> Outcome {
    let (cat, biz) = iface.split_once('/').expect("iface");
    match door {
        Door::Grpc => outcome_of(&site.grpc_ingest(
            &seat.partner,
            iface,
            &step.op,
            &step.env,
            step.body.as_bytes(),
        )),
        Door::Http => {
            let method = match step.op.as_str() {
                "insert" => "POST",
                "update" => "PUT",
                "delete" => "DELETE",
                _ => "PATCH",
            };
            let prefix = if step.env == "uat" { "/uat" } else { "" };
            let url = format!(
                "{}{prefix}/v1.0/scc/data/sync/{cat}/{biz}",
                site.w.http_url()
            );
            outcome_of(&send(method, &url, &Auth::Bearer(&seat.token), &step.body).json())
        }
        Door::FtpJson | Door::FtpCsv => {
            seat.serial += 1;
            let (ext, body) = if door == Door::FtpJson {
                ("json", step.body.clone().into_bytes())
            } else {
                (
                    "csv",
                    csv_of(step.envelope.as_ref().expect("envelope")).into_bytes(),
                )
            };
            let name = format!("{biz}_{}_20221001003000_{}.{ext}", step.op, seat.serial);
            let dir = format!("/Planning/SCC/{}/{cat}/{biz}", seat.partner);
            let ftp = seat.ftp(site, &step.env);
            // The CSV door delivers by rename (as MFT clients do), the JSON door by a plain
            // STOR: both must answer as every other door.
            if door == Door::FtpCsv {
                outcome_of(&deliver_by_rename(ftp, &dir, &name, &body))
            } else {
                outcome_of(&deliver(ftp, &dir, &name, &body))
            }
        }
        Door::UploadXlsx => {
            let file = site.w.data_dir.join(format!("{}.xlsx", unique("sheet")));
            std::fs::write(&file, xlsx_of(step.envelope.as_ref().expect("envelope")))
                .expect("sheet");
            let base = site.w.upload_url();
            let location = upload::send(&base, &seat.jar, iface, &step.env, &step.op, &file);
            result_outcome(&upload::page(&seat.jar, &location))
        }
    }
}

/// What one door did: cases played, cases it could not play (by reason), mismatches.
type DoorRun = (Door, usize, BTreeMap<String, usize>, Vec<String>);

/// Play every case through every door and fail with every mismatch at once.
fn run(backend: Backend) {
    let site = Site::start(backend);
    let cases = cases();
    assert!(
        std::env::var("GOLDEN_CASES").is_ok() || cases.len() >= 60,
        "the corpus has {} cases; it must have at least 60",
        cases.len()
    );
    let only: Vec<String> = std::env::var("GOLDEN_DOORS")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    // The doors play in parallel (each case in its own partners, so they cannot meet).
    let doors: Vec<Door> = DOORS
        .into_iter()
        .filter(|d| only.is_empty() || only.iter().any(|o| o == d.name()))
        .collect();
    let results: Vec<DoorRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = doors
            .iter()
            .map(|&door| {
                let (site, cases) = (&site, &cases);
                scope.spawn(move || {
                    let (mut played, mut refused, mut failures) =
                        (0, BTreeMap::<String, usize>::new(), Vec::new());
                    for case in cases {
                        if let Some(why) = door.can_play(case) {
                            *refused.entry(why).or_default() += 1;
                            continue;
                        }
                        played += 1;
                        failures.extend(play_case(site, door, case));
                    }
                    (door, played, refused, failures)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a door's thread"))
            .collect()
    });
    let mut failures: Vec<String> = Vec::new();
    let mut report: BTreeMap<&str, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
    for (door, played, refused, f) in results {
        report.insert(door.name(), (played, refused));
        failures.extend(f);
    }
    for (door, (played, refused)) in &report {
        eprintln!("golden {backend:?} {door}: played {played} cases; not played: {refused:?}");
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn play_case(site: &Site, door: Door, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let mut main = Seat::open(site, door);
    let mut other: Option<Seat> = None;
    for (i, g) in case.given.iter().enumerate() {
        let rows = g["rows"].as_array().cloned().unwrap_or_default();
        let env = g.get("env").and_then(Value::as_str).unwrap_or("prod");
        let seat = if g.get("partner").and_then(Value::as_str) == Some("other") {
            other.get_or_insert_with(|| Seat::open(site, door))
        } else {
            &mut main
        };
        let body = json!({
            "batch_id": format!("GIVEN{i}"),
            "batch_size": rows.len(),
            "seq_id": "1",
            "seq_size": rows.len(),
            "data": rows,
        });
        let op = g.get("op").and_then(Value::as_str).unwrap_or("insert");
        let answer = site.grpc_ingest(
            &seat.partner,
            &case.iface,
            op,
            env,
            body.to_string().as_bytes(),
        );
        assert_eq!(
            answer["code"], "0",
            "{}: given {i} must apply: {answer}",
            case.name
        );
    }
    for (i, step) in case.steps.iter().enumerate() {
        let seat = if step.partner == "other" {
            other.get_or_insert_with(|| Seat::open(site, door))
        } else {
            &mut main
        };
        let got = play(site, door, seat, &case.iface, step);
        let want = door.expected(&step.expect);
        if got != want {
            failures.push(format!(
                "{} via {} step {}:\n   want {want:?}\n    got {got:?}",
                case.name,
                door.name(),
                i + 1
            ));
        }
    }
    let other_partner = other.as_ref().map(|s| s.partner.clone());
    for (what, partner, env, want) in [
        ("after", Some(main.partner.clone()), "prod", &case.after),
        (
            "after_uat",
            Some(main.partner.clone()),
            "uat",
            &case.after_uat,
        ),
        ("after_other", other_partner, "prod", &case.after_other),
    ] {
        let got = match &partner {
            Some(p) => site.export(p, &case.iface, env),
            None => Vec::new(),
        };
        if &got != want {
            failures.push(format!(
                "{} via {}: {what}:\n   want {}\n    got {}",
                case.name,
                door.name(),
                Value::from(want.clone()),
                Value::from(got)
            ));
        }
    }
    failures
}

#[test]
fn golden_corpus_through_every_door_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn golden_corpus_through_every_door_postgres() {
    run(Backend::Postgres);
}

/// The corpus's own checks, so a broken case file fails here with its name, not in a door.
#[test]
fn every_case_file_reads() {
    let all = cases();
    for c in &all {
        for s in &c.steps {
            assert!(
                ["insert", "update", "delete", "all"].contains(&s.op.as_str()),
                "{}: op {}",
                c.name,
                s.op
            );
            assert!(["prod", "uat"].contains(&s.env.as_str()), "{}", c.name);
            assert!(
                ["main", "other"].contains(&s.partner.as_str()),
                "{}",
                c.name
            );
        }
    }
}
