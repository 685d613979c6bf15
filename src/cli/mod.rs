//! The command line: the clap schema of every `wharf` command, the admin commands' dispatch,
//! and what they share ([`Usage`], [`read_secret`]). The commands that serve are run by
//! [`crate::serve`]; the admin commands' bodies are in [`admin`] and [`outbound`].

mod accounts;
mod admin;
mod audit;
mod consumer;
mod defender;
mod operator;
mod outbound;

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::serve::build_core;

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "wharf: one integration gateway for partners' supply-chain data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// All-in-one: core, the HTTP API, FTP, SFTP and the upload page in one process.
    Serve,
    /// Core alone: gRPC for the front-ends (needs WHARF_INTERNAL_TOKEN).
    Core,
    /// The HTTP API alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN).
    Gateway,
    /// The FTP server alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN).
    Ftp,
    /// The upload page alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN).
    Upload,
    /// The SFTP server alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN);
    /// `wharf sftp host-key` prints the host key partners pin.
    Sftp {
        #[command(subcommand)]
        action: Option<SftpCmd>,
    },
    #[command(flatten)]
    Admin(Admin),
}

/// `wharf sftp …` besides serving.
#[derive(Subcommand)]
pub enum SftpCmd {
    /// Print the SFTP host key's SHA-256 fingerprint and its public key (a known_hosts
    /// line): what partners pin. Made and kept in the store the first time it is asked for,
    /// unless WHARF_SFTP_HOST_KEY_FILE gives one.
    HostKey,
}

/// The admin commands: each runs core in-process against the configured store, acts, prints.
#[derive(Subcommand)]
pub enum Admin {
    /// Manage partners.
    Partner {
        #[command(subcommand)]
        action: admin::PartnerCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: admin::UserCmd,
    },
    /// API tokens and upload-page sessions: list them (never the token), revoke them.
    Token {
        #[command(subcommand)]
        action: accounts::TokenCmd,
    },
    /// The interfaces core loaded and their definitions.
    Interface {
        #[command(subcommand)]
        action: accounts::InterfaceCmd,
    },
    /// Print a partner's current records as JSON lines.
    Export(admin::ExportArgs),
    /// Act on a batch by hand (SPEC §7.2): execute a held batch now, revert an applied one,
    /// cancel one that has not run. Prints the batch's proposal view as JSON.
    Batch {
        #[command(subcommand)]
        action: admin::BatchCmd,
    },
    /// Partners' receiving addresses for outbound push (SPEC §7.1).
    Endpoint {
        #[command(subcommand)]
        action: outbound::EndpointCmd,
    },
    /// Push JSON lines (stdin) to a partner's endpoint: checked, queued, sent by the
    /// dispatcher of `wharf serve` / `wharf core`.
    Push(outbound::PushArgs),
    /// The outbound queue: what was pushed, what got through, what failed.
    Outbox {
        #[command(subcommand)]
        action: outbound::OutboxCmd,
    },
    /// The audit trail: who did what, when and from where.
    Audit {
        #[command(subcommand)]
        action: audit::AuditCmd,
    },
    /// The admin HTTP API's operators and their tokens (WHARF_ADMIN_API_ADDR).
    Operator {
        #[command(subcommand)]
        action: operator::OperatorCmd,
    },
    /// The consumer API's consumers: the company's systems that read partners' data.
    Consumer {
        #[command(subcommand)]
        action: consumer::ConsumerCmd,
    },
    /// Create the store, or bring an existing one to this version's schema (what the servers
    /// do at start-up). The other admin commands never create a store.
    Migrate,
}

impl Command {
    /// The service name spans are exported under (unless `OTEL_SERVICE_NAME` says).
    pub fn service_name(&self) -> &'static str {
        match self {
            Command::Serve => "wharf",
            Command::Core => "wharf-core",
            Command::Gateway => "wharf-gateway",
            Command::Ftp => "wharf-ftp",
            Command::Upload => "wharf-upload",
            Command::Sftp { action: None } => "wharf-sftp",
            Command::Sftp { action: Some(_) } => "wharf-cli",
            Command::Admin(_) => "wharf-cli",
        }
    }
}

/// Bad usage or configuration: exit 64.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Run one admin command against core built from `cfg`.
pub async fn run(cmd: Admin, cfg: Config) -> anyhow::Result<()> {
    let needs_key = matches!(
        cmd,
        Admin::Push(_)
            | Admin::Endpoint {
                action: outbound::EndpointCmd::Set { .. }
            }
    );
    if needs_key {
        outbound::need_key(cfg.core.secret_key.is_some())?;
    }
    if matches!(&cmd, Admin::Consumer { action } if consumer::needs_key(action))
        && cfg.core.secret_key.is_none()
    {
        return Err(consumer::no_key());
    }
    if !matches!(cmd, Admin::Migrate) {
        existing_store(&cfg).await?;
    }
    let core = build_core(cfg.core).await?;
    let origin = wharf_core::audit::Origin::cli(&cfg.user);
    match cmd {
        Admin::Partner { action } => admin::partner(&core, action, &origin).await,
        Admin::User { action } => admin::user(&core, action, &origin).await,
        Admin::Token { action } => accounts::token(&core, &origin, action).await,
        Admin::Interface { action } => accounts::interface(&core, action),
        Admin::Export(args) => admin::export(&core, args).await,
        Admin::Batch { action } => admin::batch(&core, action, &cfg.user).await,
        Admin::Endpoint { action } => outbound::endpoint(&core, action, &cfg.user).await,
        Admin::Push(args) => outbound::push(&core, args).await,
        Admin::Outbox { action } => outbound::outbox(&core, action, &cfg.user).await,
        Admin::Audit { action } => audit::audit(&core, action).await,
        Admin::Operator { action } => operator::operator(&core, action, &cfg.user).await,
        Admin::Consumer { action } => consumer::consumer(&core, action, &cfg.user).await,
        Admin::Migrate => {
            let version = core.store().schema_version().await?;
            println!(
                "store ready: {}, schema version {version}",
                core.store().backend()
            );
            Ok(())
        }
    }
}

/// `wharf sftp host-key`: the host key every SFTP door presents, as partners pin it.
pub async fn sftp_host_key(cfg: Config) -> anyhow::Result<()> {
    existing_store(&cfg).await?;
    let core = build_core(cfg.core).await?;
    let key = core.sftp_host_key().await?;
    println!("{}", key.fingerprint);
    println!("{}", key.public_key);
    Ok(())
}

/// An admin command works on the store the servers keep: one that does not exist yet is an
/// error that says where wharf looked (run from another directory, a relative
/// `WHARF_DATA_DIR` points elsewhere, a database wharf never started on), never a new empty
/// store.
async fn existing_store(cfg: &Config) -> anyhow::Result<()> {
    if let Some(db) = &cfg.core.database {
        if wharf_core::store::pg::PgStore::has_store(db).await? {
            return Ok(());
        }
        return Err(Usage(format!(
            "no wharf store in the PostgreSQL database at {} (it has no wharf tables): check \
             {}, or create the store with `wharf migrate`",
            db.place(),
            crate::config::ENV_DATABASE_URL,
        ))
        .into());
    }
    let file = wharf_core::store::sqlite::SqliteStore::file_in(&cfg.core.data_dir);
    if file.exists() {
        return Ok(());
    }
    let shown = std::path::absolute(&file).unwrap_or(file);
    Err(Usage(format!(
        "no wharf store at {} ({} is {:?}): run this where `wharf serve` keeps its data, set \
         {} (or {} for PostgreSQL), or create a new store with `wharf migrate`",
        shown.display(),
        crate::config::ENV_DATA_DIR,
        cfg.core.data_dir.display().to_string(),
        crate::config::ENV_DATA_DIR,
        crate::config::ENV_DATABASE_URL,
    ))
    .into())
}

/// One secret from stdin: the first line, without its line ending.
fn read_secret(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading stdin")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        bail!("no {what} on stdin");
    }
    Ok(secret)
}
