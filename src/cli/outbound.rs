//! `wharf endpoint set|list`, `wharf push`, `wharf outbox list|retry` (SPEC §7.1): parse,
//! call core, print. The rules are core's.

use std::io::Write;

use clap::Subcommand;
use tokio::io::AsyncBufReadExt;
use wharf_core::audit::Origin;
use wharf_core::model::{Environment, Operation};
use wharf_core::outbound::endpoint::{Auth, EndpointInput, Secrets};
use wharf_core::outbound::intake::{PushOutcome, PushRequest, RowSource};
use wharf_core::{Core, CoreError};
use wharf_proto::v1 as pb;

use super::{read_secret, Usage};

#[derive(Subcommand)]
pub enum EndpointCmd {
    /// Register (or replace) a partner's receiving address for one interface. Secrets come
    /// from stdin: basic → the password; oauth2-client → the client secret; oauth2-password
    /// → the client secret, then the password on the next line.
    Set {
        app_name: String,
        #[arg(value_name = "DATA_CATEGORY/BIZ_KEY")]
        interface: String,
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "prod", value_parser = ["prod", "uat"])]
        env: String,
        #[arg(long, value_parser = ["basic", "oauth2-client", "oauth2-password"])]
        auth: String,
        /// The OAuth2 token URL (oauth2-client, oauth2-password).
        #[arg(long)]
        auth_path: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// The user (basic, oauth2-password).
        #[arg(long)]
        username: Option<String>,
        /// Accept a plain http:// URL for prod (uat accepts it anyway).
        #[arg(long)]
        allow_http: bool,
    },
    /// Show registered endpoints (never their secrets).
    List {
        #[arg(long)]
        partner: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct PushArgs {
    data_category: String,
    biz_key: String,
    #[arg(long)]
    partner: String,
    #[arg(long, value_parser = ["insert", "update", "delete", "all"])]
    op: String,
    #[arg(long, default_value = "prod", value_parser = ["prod", "uat"])]
    env: String,
}

#[derive(Subcommand)]
pub enum OutboxCmd {
    /// Pushes, newest first, with the state of their sequences.
    List {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        state: Option<String>,
        /// One JSON object per push per line.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed push again, from its failed sequence on (same batch_id and seq_ids).
    Retry { push_id: String },
}

fn env_of(text: &str) -> Environment {
    Environment::parse(text).unwrap_or(Environment::Prod)
}

/// Outbound commands need the key; without it they stop before touching anything.
pub fn need_key(core_has_key: bool) -> anyhow::Result<()> {
    if core_has_key {
        Ok(())
    } else {
        Err(Usage(
            "outbound push needs WHARF_SECRET_KEY: 32 random bytes in base64 (e.g. `openssl rand -base64 32`), the same for every wharf process".into(),
        )
        .into())
    }
}

pub async fn endpoint(core: &Core, cmd: EndpointCmd, user: &str) -> anyhow::Result<()> {
    match cmd {
        EndpointCmd::Set {
            app_name,
            interface,
            url,
            env,
            auth,
            auth_path,
            client_id,
            username,
            allow_http,
        } => {
            let auth = Auth::parse(&auth).ok_or_else(|| Usage(format!("--auth {auth}")))?;
            let secrets = match auth {
                Auth::Basic => Secrets {
                    password: read_secret("password")?,
                    ..Secrets::default()
                },
                Auth::Client => Secrets {
                    client_secret: read_secret("client secret")?,
                    ..Secrets::default()
                },
                Auth::Password => Secrets {
                    client_secret: read_secret("client secret")?,
                    password: read_secret("password")?,
                },
            };
            let row = core
                .set_endpoint(
                    &Origin::cli(user),
                    EndpointInput {
                        partner: app_name,
                        env: env_of(&env),
                        iface: interface,
                        url,
                        auth,
                        auth_path: auth_path.unwrap_or_default(),
                        client_id: client_id.unwrap_or_default(),
                        username: username.unwrap_or_default(),
                        secrets,
                        allow_http,
                    },
                )
                .await?;
            println!(
                "endpoint of {} for {} ({}) set: {} ({})",
                row.partner,
                row.iface,
                row.env.as_str(),
                row.url,
                row.auth
            );
            Ok(())
        }
        EndpointCmd::List { partner } => {
            let rows = core.endpoints(partner.as_deref()).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            writeln!(
                out,
                "{:<16} {:<16} {:<4} {:<15} {:<10} {:<16} URL",
                "PARTNER", "INTERFACE", "ENV", "AUTH", "CLIENT_ID", "USERNAME"
            )?;
            for r in rows {
                writeln!(
                    out,
                    "{:<16} {:<16} {:<4} {:<15} {:<10} {:<16} {}",
                    r.partner,
                    r.iface,
                    r.env.as_str(),
                    r.auth,
                    dash(&r.client_id),
                    dash(&r.username),
                    r.url
                )?;
            }
            out.flush()?;
            Ok(())
        }
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// stdin's JSON lines, 500 at a time; blank lines are skipped but counted.
struct StdinRows {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>,
    line: u32,
}

#[async_trait::async_trait]
impl RowSource for StdinRows {
    async fn next_rows(&mut self) -> wharf_core::error::Result<Option<Vec<pb::Row>>> {
        let mut rows = Vec::with_capacity(500);
        while rows.len() < 500 {
            let next = self
                .lines
                .next_line()
                .await
                .map_err(|e| CoreError::Invalid(format!("reading stdin: {e}")))?;
            let Some(text) = next else { break };
            self.line = self.line.saturating_add(1);
            if text.trim().is_empty() {
                continue;
            }
            rows.push(wharf_proto::json::row_from_line(&text, self.line));
        }
        Ok(if rows.is_empty() { None } else { Some(rows) })
    }
}

pub async fn push(core: &Core, a: PushArgs) -> anyhow::Result<()> {
    let op = Operation::parse(&a.op).ok_or_else(|| Usage(format!("--op {}", a.op)))?;
    let span = tracing::info_span!(
        "cli push",
        partner = %a.partner,
        interface = %format_args!("{}/{}", a.data_category, a.biz_key),
        operation = op.as_str(),
    );
    let req = PushRequest {
        partner: a.partner,
        env: env_of(&a.env),
        data_category: a.data_category,
        biz_key: a.biz_key,
        op,
        // The push's delivery continues this command's trace (when spans are exported).
        traceparent: wharf_proto::trace::to_traceparent(&wharf_proto::trace::of(&span)),
    };
    let mut source = StdinRows {
        lines: tokio::io::BufReader::new(tokio::io::stdin()).lines(),
        line: 0,
    };
    match core.push(req, &mut source).await? {
        PushOutcome::Queued(q) => {
            println!(
                "push {} queued: {} rows in {} sequences",
                q.push_id, q.rows, q.sequences
            );
            println!("to {}; watch it with `wharf outbox list`", q.url);
            Ok(())
        }
        PushOutcome::Refused(answer) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&wharf_proto::json::answer_json(&answer))?
            );
            Err(CoreError::Invalid(format!(
                "push refused ({}): nothing was queued",
                answer.code
            ))
            .into())
        }
    }
}

pub async fn outbox(core: &Core, cmd: OutboxCmd, user: &str) -> anyhow::Result<()> {
    match cmd {
        OutboxCmd::List {
            partner,
            state,
            json,
        } => {
            let pushes = core.list_pushes(partner, state).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if json {
                for p in &pushes {
                    writeln!(out, "{}", wharf_proto::json::push_json(p))?;
                }
            } else {
                write_table(&mut out, &pushes)?;
            }
            out.flush()?;
            Ok(())
        }
        OutboxCmd::Retry { push_id } => {
            let p = core.retry_push(&Origin::cli(user), &push_id).await?;
            println!("push {} is pending again", p.push_id);
            Ok(())
        }
    }
}

fn write_table(out: &mut impl Write, pushes: &[pb::PushView]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16} {:<16} {:<4} {:<16} {:<6} {:>8} {:<9} {:>9} CREATED",
        "PUSH_ID", "PARTNER", "ENV", "INTERFACE", "OP", "ROWS", "STATE", "SEQS"
    )?;
    for p in pushes {
        let delivered = p
            .sequences
            .iter()
            .filter(|s| s.state == "delivered")
            .count();
        let env = Environment::from_proto(p.environment).as_str();
        writeln!(
            out,
            "{:<16} {:<16} {:<4} {:<16} {:<6} {:>8} {:<9} {:>9} {}",
            p.push_id,
            p.partner,
            env,
            format!("{}/{}", p.data_category, p.biz_key),
            p.operation,
            p.rows,
            p.state,
            format!("{delivered}/{}", p.sequences.len()),
            wharf_proto::time::readable(p.created_unix)
        )?;
        // Sequences that needed more than one try or did not get through: say why.
        for s in p
            .sequences
            .iter()
            .filter(|s| s.state != "delivered" && s.attempts > 0)
        {
            let http = if s.http_status == 0 {
                "no HTTP answer".to_string()
            } else {
                format!("HTTP {}", s.http_status)
            };
            writeln!(
                out,
                "  seq {}: {}, {} attempt(s), {}, code {:?}: {}",
                s.seq_id, s.state, s.attempts, http, s.code, s.msg
            )?;
        }
    }
    Ok(())
}
