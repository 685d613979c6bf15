//! `wharf`: the one binary. Parses the command line and configuration, composes the crates,
//! serves, and waits for shutdown. No business logic lives here.
#![forbid(unsafe_code)]

mod config;
mod outbound_cli;
mod telemetry;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use wharf_core::batch::{BatchPolicy, Environment};
use wharf_core::grpc::InternalToken;
use wharf_core::{Core, CoreError, Settings};

use config::{Config, CoreConfig, ProcessEnv};

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "wharf: one integration gateway for partners' supply-chain data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// All-in-one: core, the HTTP API, FTP and the upload page in one process.
    Serve,
    /// Core alone: gRPC for the front-ends (needs WHARF_INTERNAL_TOKEN).
    Core,
    /// The HTTP API alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN).
    Gateway,
    /// The FTP server alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN).
    Ftp,
    /// The upload page alone, against core at WHARF_CORE_URL (needs WHARF_INTERNAL_TOKEN).
    Upload,
    /// Manage partners.
    Partner {
        #[command(subcommand)]
        action: PartnerCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserCmd,
    },
    /// Print a partner's current records as JSON lines.
    Export {
        data_category: String,
        biz_key: String,
        #[arg(long)]
        partner: String,
        #[arg(long, default_value = "prod", value_parser = ["prod", "uat"])]
        env: String,
    },
    /// Act on a batch by hand (SPEC §7.2): execute a held batch now, revert an applied one,
    /// cancel one that has not run. Prints the batch's proposal view as JSON.
    Batch {
        #[command(subcommand)]
        action: BatchCmd,
    },
    /// Partners' receiving addresses for outbound push (SPEC §7.1).
    Endpoint {
        #[command(subcommand)]
        action: outbound_cli::EndpointCmd,
    },
    /// Push JSON lines (stdin) to a partner's endpoint: checked, queued, sent by the
    /// dispatcher of `wharf serve` / `wharf core`.
    Push(outbound_cli::PushArgs),
    /// The outbound queue: what was pushed, what got through, what failed.
    Outbox {
        #[command(subcommand)]
        action: outbound_cli::OutboxCmd,
    },
}

impl Command {
    /// The service name spans are exported under (unless `OTEL_SERVICE_NAME` says).
    fn service_name(&self) -> &'static str {
        match self {
            Command::Serve => "wharf",
            Command::Core => "wharf-core",
            Command::Gateway => "wharf-gateway",
            Command::Ftp => "wharf-ftp",
            Command::Upload => "wharf-upload",
            _ => "wharf-cli",
        }
    }
}

/// Bad usage or configuration: exit 64.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[derive(Subcommand)]
enum BatchCmd {
    /// Apply a held (scheduled) batch now instead of at its executeTs.
    Execute(BatchTarget),
    /// Take an applied batch's rows back out (once).
    Revert(BatchTarget),
    /// Stop a batch that has not been executed yet.
    Cancel(BatchTarget),
}

#[derive(clap::Args)]
struct BatchTarget {
    batch_id: String,
    #[arg(long)]
    partner: String,
    #[arg(long, default_value = "prod", value_parser = ["prod", "uat"])]
    env: String,
    /// The batch's interface, DATA_CATEGORY/BIZ_KEY (e.g. t1/bom). Batch ids are unique per
    /// interface only: without it the id is looked up in every interface of the partner, and
    /// the command refuses when more than one has it.
    #[arg(long, value_name = "DATA_CATEGORY/BIZ_KEY")]
    interface: Option<String>,
    /// Who acts (the batch's executor / reverter / modifier); default `cli:$USER`.
    #[arg(long = "as", value_name = "NAME")]
    as_user: Option<String>,
}

#[derive(Subcommand)]
enum PartnerCmd {
    /// Create a partner; its client secret is read from stdin (client_id = APP_NAME).
    Add {
        app_name: String,
        /// Limit the partner to these interfaces (default: all), e.g. t1/bom,odm/master_data.
        #[arg(long, value_delimiter = ',')]
        interfaces: Option<Vec<String>>,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user of a partner; the password is read from stdin.
    Add {
        username: String,
        #[arg(long)]
        partner: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: cannot start the runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let telemetry = {
        let _in_runtime = rt.enter();
        match telemetry::init(cli.command.service_name(), &ProcessEnv) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("wharf: configuration: {e}");
                return ExitCode::from(64);
            }
        }
    };
    let cfg = match Config::from_source(&ProcessEnv) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("wharf: configuration: {e}");
            }
            return ExitCode::from(64);
        }
    };
    let outcome = rt.block_on(run(cli, cfg));
    // Spans still buffered go out before the process ends (the runtime still runs).
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharf: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                return ExitCode::from(64);
            }
            match e.downcast_ref::<CoreError>() {
                Some(CoreError::Invalid(_))
                | Some(CoreError::NotFound(_))
                | Some(CoreError::Conflict(_))
                | Some(CoreError::Precondition(_)) => ExitCode::from(65),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// Core as configured: its store opened (migrated), its interfaces loaded, its settings, and
/// the secret key, which core keeps.
async fn build_core(cfg: CoreConfig) -> anyhow::Result<Core> {
    let registry = wharf_core::interfaces::Registry::load(cfg.interfaces_dir.as_deref())?;
    let store = wharf_core::open_store(
        cfg.database_url.as_deref(),
        &cfg.data_dir,
        cfg.db_max_connections,
    )
    .await
    .context("opening the store")?;
    let settings = Settings {
        batch: BatchPolicy {
            max_attempts: cfg.max_attempts,
            expiry_secs: cfg.batch_expiry_secs,
            schedule: match cfg.schedule_min_lead_secs {
                Some(secs) => wharf_core::schedule::Bounds::with_min_lead(secs),
                None => wharf_core::schedule::Bounds::default(),
            },
        },
        token_ttl_secs: cfg.token_ttl_secs,
        session_ttl_secs: cfg.session_ttl_secs,
        ..Settings::default()
    };
    let core = Core::new(store, Arc::new(registry), settings);
    Ok(match cfg.secret_key {
        Some(key) => core.with_secret_key(key),
        None => core,
    })
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

async fn run(cli: Cli, cfg: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            if !cfg.grpc_addr.ip().is_loopback() {
                bail!(
                    "under `wharf serve` core's gRPC binds loopback only; {} is not",
                    cfg.grpc_addr
                );
            }
            // All-in-one: the front-ends in this process share a token nobody else knows.
            let token = cfg
                .internal_token
                .clone()
                .unwrap_or_else(|| wharf_core::auth::new_token().0);
            serve(cfg, &token, Parts::ALL).await
        }
        Command::Core => serve_alone(cfg, "core", Parts::NONE.with_core()).await,
        Command::Gateway => serve_alone(cfg, "gateway", Parts::NONE.with_gateway()).await,
        Command::Ftp => serve_alone(cfg, "ftp", Parts::NONE.with_ftp()).await,
        Command::Upload => serve_alone(cfg, "upload", Parts::NONE.with_upload()).await,
        Command::Partner {
            action:
                PartnerCmd::Add {
                    app_name,
                    interfaces,
                },
        } => {
            let core = build_core(cfg.core).await?;
            let secret = read_secret("client secret")?;
            core.add_partner(&app_name, &secret, interfaces).await?;
            println!("partner {app_name} created");
            Ok(())
        }
        Command::User {
            action: UserCmd::Add { username, partner },
        } => {
            let core = build_core(cfg.core).await?;
            let password = read_secret("password")?;
            core.add_user(&username, &partner, &password).await?;
            println!("user {username} created for partner {partner}");
            Ok(())
        }
        Command::Export {
            data_category,
            biz_key,
            partner,
            env,
        } => {
            let core = build_core(cfg.core).await?;
            let env = Environment::parse(&env).unwrap_or(Environment::Prod);
            let rows = core.export(&partner, env, &data_category, &biz_key).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for row in rows {
                writeln!(out, "{row}")?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Endpoint { action } => {
            if matches!(action, outbound_cli::EndpointCmd::Set { .. }) {
                outbound_cli::need_key(cfg.core.secret_key.is_some())?;
            }
            let core = build_core(cfg.core).await?;
            outbound_cli::endpoint(&core, action).await
        }
        Command::Push(args) => {
            outbound_cli::need_key(cfg.core.secret_key.is_some())?;
            let core = build_core(cfg.core).await?;
            outbound_cli::push(&core, args).await
        }
        Command::Outbox { action } => {
            let core = build_core(cfg.core).await?;
            outbound_cli::outbox(&core, action).await
        }
        Command::Batch { action } => {
            let (name, target) = match action {
                BatchCmd::Execute(t) => ("execute", t),
                BatchCmd::Revert(t) => ("revert", t),
                BatchCmd::Cancel(t) => ("cancel", t),
            };
            let core = build_core(cfg.core).await?;
            let b = act_on_batch(&core, name, target, &cfg.user).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&wharf_proto::json::batch_json(&b))?
            );
            Ok(())
        }
    }
}

/// `wharf batch execute|revert|cancel`: find the batch's interface, act as `--as` or
/// `cli:$USER` (`user`).
async fn act_on_batch(
    core: &Core,
    action: &str,
    t: BatchTarget,
    user: &str,
) -> anyhow::Result<wharf_proto::v1::GetBatchResponse> {
    use wharf_proto::v1 as pb;
    let env = Environment::parse(&t.env).unwrap_or(Environment::Prod);
    let iface = match t.interface {
        Some(i) => i,
        None => {
            core.interface_of_batch(&t.partner, env, &t.batch_id)
                .await?
        }
    };
    let (category, biz_key) = iface.split_once('/').ok_or_else(|| {
        CoreError::Invalid(format!(
            "--interface {iface:?}: use DATA_CATEGORY/BIZ_KEY, e.g. t1/bom"
        ))
    })?;
    let actor = t.as_user.unwrap_or_else(|| format!("cli:{user}"));
    let req = pb::BatchActionRequest {
        partner: t.partner,
        environment: env.to_proto() as i32,
        data_category: category.to_string(),
        biz_key: biz_key.to_string(),
        batch_id: t.batch_id,
        action: action.to_string(),
        actor,
    };
    Ok(core.act_on_batch(&req).await?)
}

/// Core's share of the shutdown when the front-ends used the whole grace period: the
/// sequences they were waiting for still get their commit and reply.
const CORE_MIN_DRAIN: Duration = Duration::from_secs(1);

type Stopped = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>;

/// Which components a process runs.
/// Which components one process runs.
#[derive(Clone, Copy)]
struct Parts {
    core: bool,
    gateway: bool,
    ftp: bool,
    upload: bool,
}

impl Parts {
    const ALL: Parts = Parts {
        core: true,
        gateway: true,
        ftp: true,
        upload: true,
    };
    const NONE: Parts = Parts {
        core: false,
        gateway: false,
        ftp: false,
        upload: false,
    };
    const fn with_core(self) -> Parts {
        Parts { core: true, ..self }
    }
    const fn with_gateway(self) -> Parts {
        Parts {
            gateway: true,
            ..self
        }
    }
    const fn with_ftp(self) -> Parts {
        Parts { ftp: true, ..self }
    }
    const fn with_upload(self) -> Parts {
        Parts {
            upload: true,
            ..self
        }
    }
}

/// One component alone (for Helm): it needs the internal token its peers share.
async fn serve_alone(cfg: Config, name: &str, parts: Parts) -> anyhow::Result<()> {
    let token = cfg
        .internal_token
        .clone()
        .with_context(|| format!("WHARF_INTERNAL_TOKEN must be set for `wharf {name}`"))?;
    serve(cfg, &token, parts).await
}

/// Run the chosen components until Ctrl-C or SIGTERM, then drain within
/// `WHARF_SHUTDOWN_GRACE_SECS`: the front-ends first (they stop accepting and finish
/// in-flight requests and transfers, which still need core), then core, then the admin
/// listener (probes keep answering while the process drains).
async fn serve(cfg: Config, token: &str, parts: Parts) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(0u8);
    // Stage 1 stops the front-ends, stage 2 core, stage 3 the admin listener.
    let stopped = |stage: u8| -> Stopped {
        let mut rx = stop_rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s >= stage).await;
        })
    };
    let mut core_tasks = Vec::new();
    // Core's probes and metrics, or (FTP alone) a front-end's probe, on WHARF_ADMIN_ADDR.
    let mut admin = None;
    let core_url = if parts.core {
        let push_on = cfg.core.secret_key.is_some();
        let core = build_core(cfg.core).await?;
        admin = Some(core_admin(core.clone()));
        let listener = TcpListener::bind(cfg.grpc_addr)
            .await
            .with_context(|| format!("binding core's gRPC on {}", cfg.grpc_addr))?;
        let addr = listener.local_addr()?;
        tracing::info!(grpc = %addr, store = core.store().backend(), "wharf core listening");
        let housekeeping = tokio::spawn(wharf_core::run_housekeeping(
            core.clone(),
            Duration::from_secs(60),
            stopped(2),
        ));
        // Scheduled executes and reverts (SPEC §7.2); its first tick runs what fell due while
        // no core was up.
        let scheduler = tokio::spawn(wharf_core::run_scheduler(
            core.clone(),
            Duration::from_secs(1),
            stopped(2),
        ));
        // Outbound push (SPEC §7.1): only with the key that opens partners' credentials.
        let dispatcher = if push_on {
            tracing::info!(
                concurrency = cfg.push.concurrency,
                per_partner = cfg.push.partner_concurrency,
                "outbound push dispatcher running"
            );
            Some(tokio::spawn(wharf_core::run_dispatcher(
                core.clone(),
                cfg.push.clone(),
                stopped(2),
            )))
        } else {
            tracing::warn!(
                "outbound push is off: WHARF_SECRET_KEY is not set (see README, outbound push)"
            );
            None
        };
        let grpc = tokio::spawn(wharf_core::grpc::serve(
            listener,
            core,
            InternalToken::new(token),
            stopped(2),
        ));
        core_tasks.push((grpc, housekeeping, scheduler, dispatcher));
        format!("http://{addr}")
    } else {
        if cfg.core_urls.is_empty() {
            bail!("WHARF_CORE_URL must be set for a front-end run alone");
        }
        cfg.core_urls.join(",")
    };
    let mut front_ends = Vec::new();
    // A front-end that cannot run (its port taken, say) stops the whole process.
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(4);
    if parts.ftp {
        let client = wharf_proto::connect(&core_url, token)?;
        if admin.is_none() {
            admin = Some(wharf_gateway::health::Admin::for_core_client(
                client.clone(),
            ));
        }
        tracing::info!(
            ftp = %cfg.ftp_addr,
            env = ?cfg.ftp.env,
            tls = cfg.ftp.tls.is_some(),
            "wharf FTP listening"
        );
        let addr = cfg.ftp_addr;
        let ftp_cfg = cfg.ftp.clone();
        let stop = stopped(1);
        let fatal = fatal_tx.clone();
        front_ends.push(tokio::spawn(async move {
            if let Err(e) = wharf_ftp::serve(addr, client, ftp_cfg, stop).await {
                let _ = fatal.send(e.to_string()).await;
            }
        }));
    }
    // The HTTP API and the upload page serve the same certificate, read once.
    let tls = match &cfg.tls {
        Some((cert, key)) if parts.gateway || parts.upload => {
            Some(wharf_gateway::tls::acceptor(cert, key)?)
        }
        _ => None,
    };
    if parts.gateway {
        let client = wharf_proto::connect(&core_url, token)?;
        let listener = TcpListener::bind(cfg.http_addr)
            .await
            .with_context(|| format!("binding the HTTP API on {}", cfg.http_addr))?;
        tracing::info!(
            http = %listener.local_addr()?,
            tls = tls.is_some(),
            core = %core_url,
            "wharf HTTP API listening"
        );
        front_ends.push(tokio::spawn(wharf_gateway::serve(
            listener,
            wharf_gateway::Gateway::new(client),
            tls.clone(),
            stopped(1),
        )));
    }
    if parts.upload {
        let client = wharf_proto::connect(&core_url, token)?;
        let listener = TcpListener::bind(cfg.upload_addr)
            .await
            .with_context(|| format!("binding the upload page on {}", cfg.upload_addr))?;
        tracing::info!(
            upload = %listener.local_addr()?,
            tls = tls.is_some(),
            "wharf upload page listening"
        );
        let upload_cfg = wharf_upload::UploadConfig {
            secure_cookies: tls.is_some() || cfg.upload_secure_cookies,
            ..wharf_upload::UploadConfig::with_max_file_bytes(cfg.upload_max_file_bytes)
        };
        front_ends.push(tokio::spawn(wharf_upload::serve(
            listener,
            wharf_upload::Upload::new(client, upload_cfg),
            tls,
            stopped(1),
        )));
    }
    let admin_task = match admin {
        Some(admin) => {
            let listener = TcpListener::bind(cfg.admin_addr).await.with_context(|| {
                format!(
                    "binding the admin listener (WHARF_ADMIN_ADDR) on {}",
                    cfg.admin_addr
                )
            })?;
            tracing::info!(admin = %listener.local_addr()?, "wharf admin listening (/healthz, /readyz, /metrics)");
            Some(tokio::spawn(wharf_gateway::health::serve_admin(
                listener,
                admin,
                stopped(3),
            )))
        }
        None => None,
    };
    drop(fatal_tx);
    let failure = tokio::select! {
        _ = shutdown_signal() => None,
        Some(e) = fatal_rx.recv() => Some(e),
    };
    if let Some(e) = &failure {
        tracing::error!(error = %e, "a component failed; shutting down");
    }
    let grace = cfg.shutdown_grace;
    let deadline = tokio::time::Instant::now() + grace;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: finishing in-flight requests, sequences and transfers"
    );
    let _ = stop_tx.send(1);
    for mut task in front_ends {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "a front-end was still busy after the grace period; closing it"
            );
            task.abort();
        }
    }
    let _ = stop_tx.send(2);
    let core_deadline = deadline.max(tokio::time::Instant::now() + CORE_MIN_DRAIN);
    for (mut grpc, housekeeping, scheduler, dispatcher) in core_tasks {
        // In-flight calls finish; idle connections get no longer than the grace period.
        match tokio::time::timeout_at(core_deadline, &mut grpc).await {
            Ok(joined) => joined.context("gRPC task")??,
            Err(_) => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "gRPC connections still open after the grace period; closing them"
                );
                grpc.abort();
            }
        }
        housekeeping.await.context("housekeeping task")?;
        scheduler.await.context("scheduler task")?;
        if let Some(mut d) = dispatcher {
            // In-flight sequences finish and their pushes go back, within the grace period;
            // a send cut off there is resent later under the same batch_id and seq_id.
            match tokio::time::timeout_at(core_deadline, &mut d).await {
                Ok(joined) => joined.context("dispatcher task")??,
                Err(_) => {
                    tracing::warn!(
                        "outbound sequences still in flight after the grace period; stopping them"
                    );
                    d.abort();
                }
            }
        }
    }
    let _ = stop_tx.send(3);
    if let Some(mut task) = admin_task {
        if tokio::time::timeout(CORE_MIN_DRAIN, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
    tracing::info!("stopped");
    match failure {
        Some(e) => bail!(e),
        None => Ok(()),
    }
}

/// Core's admin listener: ready when its store is (`Core::ready`), and its metrics.
fn core_admin(core: Core) -> wharf_gateway::health::Admin {
    let probe = core.clone();
    wharf_gateway::health::Admin::new(move || {
        let core = probe.clone();
        async move { core.ready().await }
    })
    .with_metrics(move || {
        let core = core.clone();
        async move {
            (
                wharf_core::metrics::CONTENT_TYPE,
                wharf_core::metrics::render(&core).await,
            )
        }
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
