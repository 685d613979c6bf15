//! The golden corpus (`tests/golden/cases/*.json`, format in `tests/golden/README.md`) played
//! through every door against the real `wharf serve`, on SQLite and on PostgreSQL: gRPC
//! `IngestBatch` directly, the HTTP API, FTP and SFTP (the real OpenSSH `sftp` client) each
//! with `.json` files and with `.csv` files, and the upload page's form with `.xlsx` files.
//! Every door must give every step the case's answer and leave the case's data set, and FTP
//! and SFTP must serve the same feedback file byte for byte. SPEC §1 and §8: the transport
//! does not change behaviour.
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
use suppaftp::FtpStream;
use util::ftp::{login, login_at, names, put};
use util::http::{client_token, send, Auth};
use util::sftp::{host_key, Client, Delivery, Login};
use util::upload::{self, by_id};
use util::{
    add_partner_and_user, free_port, free_port_range, unique, Backend, Server, Wharf, PASSWORD,
    TOKEN,
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
    SftpJson,
    SftpCsv,
    UploadXlsx,
}

const DOORS: [Door; 7] = [
    Door::Grpc,
    Door::Http,
    Door::FtpJson,
    Door::FtpCsv,
    Door::SftpJson,
    Door::SftpCsv,
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
            Door::SftpJson => "sftp-json",
            Door::SftpCsv => "sftp-csv",
            Door::UploadXlsx => "upload-xlsx",
        }
    }

    /// A file door's file extension (`None`: not a file door). FTP and SFTP are one file door
    /// reached two ways (the `files` crate): same tree, names, bodies, answers and feedback
    /// files, so everything below that depends on the door depends on this, not on the way.
    fn file_ext(self) -> Option<&'static str> {
        match self {
            Door::FtpJson | Door::SftpJson => Some("json"),
            Door::FtpCsv | Door::SftpCsv => Some("csv"),
            Door::Grpc | Door::Http | Door::UploadXlsx => None,
        }
    }

    /// For an SFTP door, the FTP door delivering the same files: the two must serve the same
    /// feedback file for every step both played.
    fn ftp_twin(self) -> Option<Door> {
        match self {
            Door::SftpJson => Some(Door::FtpJson),
            Door::SftpCsv => Some(Door::FtpCsv),
            _ => None,
        }
    }

    fn sheet(self) -> bool {
        self == Door::UploadXlsx || self.file_ext() == Some("csv")
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
            // The upload page sends no header core does not know: a column no field is named
            // by, or a required field no column fills, gets its mapping step instead
            // (web-upload/tests/pages.rs tests it).
            if self == Door::UploadXlsx {
                let header = header_of(data.map_or(&[][..], Vec::as_slice));
                let asks = s.expect.problems.iter().any(|(_, (_, ty, fields))| {
                    ty == "unknown field"
                        || (ty == "required field missing"
                            && fields
                                .split(',')
                                .any(|f| !header.iter().any(|h| h == f.trim())))
                });
                if asks {
                    return Some("the page asks to match its columns first".into());
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
    /// field (one per row for a duplicate key, naming all its key fields) with the sheet's
    /// row number (index + 2: the header is row 1) and no group codes; every other door
    /// answers core's JSON as it is.
    fn expected(self, expect: &Outcome) -> Outcome {
        if self != Door::UploadXlsx {
            return expect.clone();
        }
        let mut lines: Vec<(String, Problem)> = expect
            .problems
            .iter()
            .flat_map(|(_, (i, ty, fields))| {
                let fields: Vec<String> = if ty == "duplicate key" {
                    vec![fields
                        .split(',')
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(",")]
                } else {
                    fields.split(',').map(|f| f.trim().to_string()).collect()
                };
                fields
                    .into_iter()
                    .map(move |f| (String::new(), (i.map(|i| i + 2), ty.clone(), f)))
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
/// FTP and an SFTP server of the `uat` space (a file door's environment is the server's
/// configuration).
struct Site {
    w: Wharf,
    _serve: Server,
    _ftp_uat: Server,
    ftp_uat_port: u16,
    _sftp_uat: Server,
    sftp_uat_port: u16,
    /// The SFTP host key every `sftp` client pins (`wharf sftp host-key`, read once).
    host_key: String,
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
        let sftp_uat_port = free_port();
        let sftp_uat = w.start(
            &["sftp"],
            &[
                ("WHARF_CORE_URL", w.grpc_url()),
                ("WHARF_SFTP_ENV", "uat".into()),
                ("WHARF_SFTP_ADDR", format!("127.0.0.1:{sftp_uat_port}")),
            ],
            sftp_uat_port,
        );
        let (host_key, _) = host_key(&w);
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
            _sftp_uat: sftp_uat,
            sftp_uat_port,
            host_key,
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
    ftp: Option<FtpStream>,
    ftp_uat: Option<FtpStream>,
    sftp: Option<Client>,
    sftp_uat: Option<Client>,
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
            sftp: None,
            sftp_uat: None,
            jar,
            serial: 0,
        }
    }

    fn ftp(&mut self, site: &Site, env: &str) -> &mut FtpStream {
        let user = self.user.clone();
        if env == "uat" {
            self.ftp_uat
                .get_or_insert_with(|| login_at(site.ftp_uat_port, &user))
        } else {
            self.ftp.get_or_insert_with(|| login(&site.w, &user))
        }
    }

    /// This seat's `sftp` client of the door of `env` (each use is one `sftp` session).
    fn sftp(&mut self, site: &Site, env: &str) -> &Client {
        let (slot, port) = if env == "uat" {
            (&mut self.sftp_uat, site.sftp_uat_port)
        } else {
            (&mut self.sftp, site.w.sftp_port)
        };
        slot.get_or_insert_with(|| {
            let login = Login::Password(PASSWORD.into());
            Client::pinned(&site.w, port, &self.user, login, &site.host_key)
        })
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

/// What a door answered to one step, and a file door's feedback file as it served it.
struct Played {
    outcome: Outcome,
    feedback: Option<Vec<u8>>,
}

/// Play `steps` (one step, or a file door's run: see `play_case`) through one door in order;
/// returns what the door answered to each.
fn play(site: &Site, door: Door, seat: &mut Seat, iface: &str, steps: &[Step]) -> Vec<Played> {
    if door.file_ext().is_some() {
        return play_files(site, door, seat, iface, steps);
    }
    steps
        .iter()
        .map(|step| Played {
            outcome: answer(site, door, seat, iface, step),
            feedback: None,
        })
        .collect()
}

/// What a door that is not a file door answers to one step.
fn answer(site: &Site, door: Door, seat: &Seat, iface: &str, step: &Step) -> Outcome {
    let (cat, biz) = iface.split_once('/').expect("iface");
    match door {
        Door::FtpJson | Door::FtpCsv | Door::SftpJson | Door::SftpCsv => {
            unreachable!("file doors play in play_files")
        }
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

/// Deliver `body` as `name` into `dir` over FTP (by rename when `by_rename`) and return its
/// feedback file's bytes as served, after checking the feedback folder lists it: what
/// `util::ftp::deliver` and `deliver_by_rename` do, but keeping the bytes for the comparison
/// with SFTP.
fn ftp_deliver(
    ftp: &mut FtpStream,
    dir: &str,
    name: &str,
    body: &[u8],
    by_rename: bool,
) -> Vec<u8> {
    let path = format!("{dir}/{name}");
    if by_rename {
        let temp = format!("{path}.filepart");
        put(ftp, &temp, body).unwrap_or_else(|e| panic!("STOR {temp}: {e:?}"));
        ftp.rename(&temp, &path)
            .unwrap_or_else(|e| panic!("RNFR {temp} RNTO {name}: {e:?}"));
    } else {
        put(ftp, &path, body).unwrap_or_else(|e| panic!("STOR {path}: {e:?}"));
    }
    let feedback = format!("{name}.result.json");
    let listed = names(ftp, &format!("{dir}/feedback"));
    assert!(
        listed.contains(&feedback),
        "feedback/{feedback} is listed: {listed:?}"
    );
    let path = format!("{dir}/feedback/{feedback}");
    ftp.retr_as_buffer(&path)
        .unwrap_or_else(|e| panic!("RETR {path}: {e:?}"))
        .into_inner()
}

/// Play a run of steps of one partner and environment through a file door: FTP or SFTP, the
/// same files under the same names in the same folder. The CSV doors deliver by rename (as MFT
/// clients do), the JSON doors by a plain upload: both must answer as every other door.
fn play_files(
    site: &Site,
    door: Door,
    seat: &mut Seat,
    iface: &str,
    steps: &[Step],
) -> Vec<Played> {
    let (cat, biz) = iface.split_once('/').expect("iface");
    let ext = door.file_ext().expect("a file door");
    let by_rename = ext == "csv";
    let dir = format!("/Planning/SCC/{}/{cat}/{biz}", seat.partner);
    let files: Vec<(String, Vec<u8>)> = steps
        .iter()
        .map(|step| {
            seat.serial += 1;
            let body = if ext == "json" {
                step.body.clone().into_bytes()
            } else {
                csv_of(step.envelope.as_ref().expect("envelope")).into_bytes()
            };
            let name = format!("{biz}_{}_20221001003000_{}.{ext}", step.op, seat.serial);
            (name, body)
        })
        .collect();
    let env = &steps.first().expect("a step").env;
    let feedback: Vec<Vec<u8>> = if matches!(door, Door::SftpJson | Door::SftpCsv) {
        // One `sftp` session (an SSH handshake and a login each) for the whole run.
        let deliveries: Vec<Delivery> = files
            .iter()
            .map(|(name, body)| Delivery {
                dir: &dir,
                name,
                body,
                by_rename,
            })
            .collect();
        seat.sftp(site, env).deliver_all(&deliveries)
    } else {
        let ftp = seat.ftp(site, env);
        files
            .iter()
            .map(|(name, body)| ftp_deliver(ftp, &dir, name, body, by_rename))
            .collect()
    };
    files
        .iter()
        .zip(feedback)
        .map(|((name, _), feedback)| {
            let answer: Value = serde_json::from_slice(&feedback).unwrap_or_else(|e| {
                panic!(
                    "{name}'s feedback via {} is not JSON ({e}): {}",
                    door.name(),
                    String::from_utf8_lossy(&feedback)
                )
            });
            Played {
                outcome: outcome_of(&answer),
                feedback: Some(feedback),
            }
        })
        .collect()
}

/// A file door's feedback files of one case, by step (`None`: not a file door).
type Feedback = Vec<Option<Vec<u8>>>;

/// What one door did.
struct DoorRun {
    door: Door,
    played: usize,
    /// The cases it could not play, by reason.
    refused: BTreeMap<String, usize>,
    failures: Vec<String>,
    /// The feedback files of the cases it played, by case name.
    feedback: BTreeMap<String, Feedback>,
    took: std::time::Duration,
}

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
                    let started = std::time::Instant::now();
                    let mut run = DoorRun {
                        door,
                        played: 0,
                        refused: BTreeMap::new(),
                        failures: Vec::new(),
                        feedback: BTreeMap::new(),
                        took: Default::default(),
                    };
                    for case in cases {
                        if let Some(why) = door.can_play(case) {
                            *run.refused.entry(why).or_default() += 1;
                            continue;
                        }
                        run.played += 1;
                        let (failures, feedback) = play_case(site, door, case);
                        run.failures.extend(failures);
                        run.feedback.insert(case.name.clone(), feedback);
                    }
                    run.took = started.elapsed();
                    run
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a door's thread"))
            .collect()
    });
    let mut failures: Vec<String> = results.iter().flat_map(|r| r.failures.clone()).collect();
    let (compared, differ) = same_feedback(&results);
    failures.extend(differ);
    let mut report: BTreeMap<&str, &DoorRun> = BTreeMap::new();
    for r in &results {
        report.insert(r.door.name(), r);
    }
    for (door, r) in &report {
        eprintln!(
            "golden {backend:?} {door}: played {} cases in {:.0?}; not played: {:?}",
            r.played, r.took, r.refused
        );
    }
    eprintln!("golden {backend:?}: {compared} steps' feedback files compared between FTP and SFTP");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every step FTP and SFTP both played must have got the same feedback file, byte for byte
/// (`.json` against `.json`, `.csv` against `.csv`; nothing is compared when `GOLDEN_DOORS`
/// leaves one of the two out). Both doors send the same body under the same name into their
/// own partner's folder (`play_files`: per-seat serials, so the names match), hence the same
/// batch ids (the envelope's, or for a sheet the one core's file doors derive from the name);
/// only the partners' names differ, and no answer names its partner. So the bytes are
/// compared as served, with no normalisation. Returns how many feedback files were compared,
/// and the mismatches.
fn same_feedback(results: &[DoorRun]) -> (usize, Vec<String>) {
    let (mut compared, mut failures) = (0, Vec::new());
    for sftp in results {
        let Some(ftp) = sftp
            .door
            .ftp_twin()
            .and_then(|twin| results.iter().find(|r| r.door == twin))
        else {
            continue;
        };
        for (case, sftp_steps) in &sftp.feedback {
            let Some(ftp_steps) = ftp.feedback.get(case) else {
                continue;
            };
            for (i, (a, b)) in ftp_steps.iter().zip(sftp_steps).enumerate() {
                if let (Some(a), Some(b)) = (a, b) {
                    compared += 1;
                    if a != b {
                        failures.push(format!(
                            "{case} step {}: feedback via {} and {} differ:\n   {}\n   {}",
                            i + 1,
                            ftp.door.name(),
                            sftp.door.name(),
                            String::from_utf8_lossy(a),
                            String::from_utf8_lossy(b)
                        ));
                    }
                }
            }
        }
    }
    (compared, failures)
}

/// Play one case through one door: its mismatches, and its steps' feedback files.
fn play_case(site: &Site, door: Door, case: &Case) -> (Vec<String>, Feedback) {
    let mut failures = Vec::new();
    let mut feedback = Vec::new();
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
    // A file door plays each run of consecutive steps of one partner and environment in one
    // session: for SFTP, one `sftp` process (an SSH handshake and a login) per run, not per
    // step. Every other door plays one step at a time.
    let runs = case
        .steps
        .chunk_by(|a, b| door.file_ext().is_some() && a.partner == b.partner && a.env == b.env);
    let mut i = 0;
    for run in runs {
        let seat = if run[0].partner == "other" {
            other.get_or_insert_with(|| Seat::open(site, door))
        } else {
            &mut main
        };
        for (step, played) in run.iter().zip(play(site, door, seat, &case.iface, run)) {
            i += 1;
            feedback.push(played.feedback);
            let got = played.outcome;
            let want = door.expected(&step.expect);
            if got != want {
                failures.push(format!(
                    "{} via {} step {i}:\n   want {want:?}\n    got {got:?}",
                    case.name,
                    door.name(),
                ));
            }
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
    (failures, feedback)
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
