//! Serving: `wharf serve` (everything in one process) and `wharf core|gateway|ftp|upload`
//! (one component alone), their listeners, and the staged shutdown that drains them. Also
//! [`build_core`], the core that serving and the admin commands run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use wharf_core::grpc::InternalToken;
use wharf_core::model::BatchPolicy;
use wharf_core::{Core, Settings};

use std::net::SocketAddr;

use crate::config::{
    Config, CoreConfig, CoreTlsFiles, GrpcTlsFiles, ENV_ADMIN_ADDR, ENV_ADMIN_API_ADDR,
    ENV_ADMIN_API_TLS_CERT, ENV_ADMIN_API_TLS_KEY, ENV_CORE_CA_FILE, ENV_CORE_CLIENT_CERT,
    ENV_CORE_CLIENT_KEY, ENV_FTP_ADDR, ENV_GRPC_ADDR, ENV_GRPC_CLIENT_CA, ENV_GRPC_TLS_CERT,
    ENV_GRPC_TLS_KEY, ENV_HTTP_ADDR, ENV_SFTP_ADDR, ENV_UPLOAD_ADDR,
};

/// Core as configured: its store opened (migrated), its interfaces loaded, its settings, and
/// the secret key, which core keeps.
pub async fn build_core(cfg: CoreConfig) -> anyhow::Result<Core> {
    let registry = wharf_core::interfaces::Registry::load(cfg.interfaces_dir.as_deref())?;
    wharf_core::validate::check_examples(&registry)?;
    let store =
        wharf_core::open_store(cfg.database.as_ref(), &cfg.data_dir, cfg.db_max_connections)
            .await
            .context("opening the store")?;
    let settings = Settings {
        batch: BatchPolicy {
            max_attempts: cfg.max_attempts,
            expiry_secs: cfg.batch_expiry_secs,
            schedule: match cfg.schedule_min_lead_secs {
                Some(secs) => wharf_core::model::Bounds::with_min_lead(secs),
                None => wharf_core::model::Bounds::default(),
            },
        },
        token_ttl_secs: cfg.token_ttl_secs,
        defender: cfg.defender,
        session_ttl_secs: cfg.session_ttl_secs,
        part_max_age_secs: cfg.temp_file_max_age_secs,
        audit_retention_secs: cfg.audit_retention_days.saturating_mul(86_400),
        feed_retention_secs: cfg.feed_retention_days.saturating_mul(86_400),
    };
    let mut core = Core::new(store, Arc::new(registry), settings);
    if let Some(key) = cfg.secret_key {
        core = core.with_secret_key(key);
    }
    if let Some(host_key) = cfg.sftp_host_key {
        core = core.with_sftp_host_key(host_key.private_pem);
    }
    Ok(core)
}

/// `wharf serve`: every component in this process, core's gRPC on loopback.
pub async fn serve_all(mut cfg: Config) -> anyhow::Result<()> {
    if !cfg.grpc_addr.ip().is_loopback() {
        bail!(
            "under `wharf serve` core's gRPC binds loopback only; {} is not",
            cfg.grpc_addr
        );
    }
    if cfg.grpc_tls.take().is_some() {
        // Its front-ends are in this process and reach core on loopback: nothing to protect.
        tracing::warn!(
            "{ENV_GRPC_TLS_CERT}/{ENV_GRPC_TLS_KEY} are for `wharf core` run alone; under \
             `wharf serve` core's gRPC stays plain on loopback"
        );
    }
    // All-in-one: the front-ends in this process share a token nobody else knows.
    let token = cfg
        .internal_token
        .clone()
        .unwrap_or_else(|| wharf_core::auth::new_token().0);
    serve(cfg, &token, Parts::ALL).await
}

/// Core's share of the shutdown when the front-ends used the whole grace period: the
/// sequences they were waiting for still get their commit and reply.
const CORE_MIN_DRAIN: Duration = Duration::from_secs(1);

type Stopped = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>;

/// Which components one process runs.
#[derive(Clone, Copy)]
pub struct Parts {
    core: bool,
    gateway: bool,
    ftp: bool,
    upload: bool,
    sftp: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        core: true,
        gateway: true,
        ftp: true,
        upload: true,
        sftp: true,
    };
    pub const NONE: Parts = Parts {
        core: false,
        gateway: false,
        ftp: false,
        upload: false,
        sftp: false,
    };
    pub const fn with_core(self) -> Parts {
        Parts { core: true, ..self }
    }
    pub const fn with_gateway(self) -> Parts {
        Parts {
            gateway: true,
            ..self
        }
    }
    pub const fn with_ftp(self) -> Parts {
        Parts { ftp: true, ..self }
    }
    pub const fn with_sftp(self) -> Parts {
        Parts { sftp: true, ..self }
    }
    pub const fn with_upload(self) -> Parts {
        Parts {
            upload: true,
            ..self
        }
    }
}

/// One component alone (for Helm): it needs the internal token its peers share.
pub async fn serve_alone(cfg: Config, name: &str, parts: Parts) -> anyhow::Result<()> {
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
    // Listened for before anything is bound: a SIGTERM while the servers start (as soon as a
    // port answers) is a shutdown, not the default action (death).
    let shutdown = shutdown_signal();
    // Every listener is bound before anything is announced or started: a port that is taken
    // stops the process with nothing listening and no "listening" line (exit 64).
    let bound = Bound::all(&cfg, parts).await?;
    let mut core_tasks = Vec::new();
    let metrics = wharf_metrics::Metrics::new(env!("CARGO_PKG_VERSION"));
    // Readiness of this process when it runs core: core's own.
    let mut ready = None;
    // TLS towards core: only for a front-end run alone (in one process, core is on loopback).
    let mut core_tls = None;
    // The admin API's tasks: a door of core's own, drained with the front-ends.
    let mut admin_api_task = None;
    let core_url = if let Some(listener) = bound.grpc {
        let push_on = cfg.core.secret_key.is_some();
        // Read before the store is opened: a bad file stops start-up at once.
        let grpc_tls = cfg.grpc_tls.as_ref().map(grpc_tls).transpose()?;
        let admin_api_tls = cfg
            .admin_api_tls
            .as_ref()
            .map(|(cert, key)| {
                wharf_gateway::tls::acceptor(cert, key).map_err(|e| {
                    anyhow::anyhow!("{ENV_ADMIN_API_TLS_CERT}/{ENV_ADMIN_API_TLS_KEY}: {e}")
                })
            })
            .transpose()?;
        let core = build_core(cfg.core).await?.with_metrics(metrics.clone());
        install_views(&core).await;
        ready = Some(core_admin(core.clone()));
        if let Some(listener) = bound.admin_api {
            tracing::info!(
                admin_api = %listener.local_addr()?,
                tls = admin_api_tls.is_some(),
                "wharf admin API listening (operator tokens only)"
            );
            admin_api_task = Some(tokio::spawn(wharf_admin::serve(
                listener,
                wharf_admin::AdminApi::new(core.clone()),
                admin_api_tls,
                stopped(1),
            )));
        }
        let addr = listener.local_addr()?;
        tracing::info!(
            grpc = %addr,
            tls = match &grpc_tls {
                None => "off",
                Some(t) if t.mutual() => "mutual",
                Some(_) => "on",
            },
            store = core.store().backend(),
            "wharf core listening"
        );
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
        let grpc = tokio::spawn(wharf_core::grpc::serve_with(
            listener,
            core,
            InternalToken::new(token),
            grpc_tls,
            stopped(2),
        ));
        core_tasks.push((grpc, housekeeping, scheduler, dispatcher));
        format!("http://{addr}")
    } else {
        if cfg.core_urls.is_empty() {
            bail!("WHARF_CORE_URL must be set for a front-end run alone");
        }
        core_tls = cfg.core_tls.as_ref().map(core_tls_from).transpose()?;
        cfg.core_urls.join(",")
    };
    let connect = || wharf_proto::connect_with(&core_url, token, core_tls.as_ref());
    // The first front-end's client tells at start-up whether core can be reached (a wrong CA,
    // a missing client certificate), so the log says so before the first partner call does.
    let mut first_client = None;
    let mut front_ends: Vec<tokio::task::JoinHandle<()>> = admin_api_task.into_iter().collect();
    // A front-end that cannot run stops the whole process.
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(4);
    if let Some(listener) = bound.ftp {
        let client = connect()?;
        first_client.get_or_insert_with(|| client.clone());
        tracing::info!(
            ftp = %listener.local_addr()?,
            env = ?cfg.ftp.env,
            tls = cfg.ftp.tls.is_some(),
            "wharf FTP listening"
        );
        let ftp_cfg = cfg.ftp.clone();
        let stop = stopped(1);
        let fatal = fatal_tx.clone();
        let metrics = metrics.clone();
        front_ends.push(tokio::spawn(async move {
            if let Err(e) = wharf_ftp::serve(listener, client, ftp_cfg, metrics, stop).await {
                let _ = fatal.send(e.to_string()).await;
            }
        }));
    }
    if let Some(listener) = bound.sftp {
        let client = connect()?;
        first_client.get_or_insert_with(|| client.clone());
        tracing::info!(
            sftp = %listener.local_addr()?,
            env = ?cfg.sftp.env,
            "wharf SFTP listening"
        );
        let serving = wharf_sftp::serve(
            listener,
            client,
            cfg.sftp.clone(),
            metrics.clone(),
            stopped(1),
        );
        let fatal = fatal_tx.clone();
        front_ends.push(tokio::spawn(async move {
            if let Err(e) = serving.await {
                let _ = fatal.send(format!("SFTP server: {e}")).await;
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
    if let Some(listener) = bound.http {
        let client = connect()?;
        first_client.get_or_insert_with(|| client.clone());
        tracing::info!(
            http = %listener.local_addr()?,
            tls = tls.is_some(),
            core = %core_url,
            "wharf HTTP API listening"
        );
        front_ends.push(tokio::spawn(wharf_gateway::serve(
            listener,
            wharf_gateway::Gateway::new(client)
                .with_request_timeout(cfg.http_timeout)
                .with_metrics(metrics.clone()),
            tls.clone(),
            stopped(1),
        )));
    }
    if let Some(listener) = bound.upload {
        let client = connect()?;
        first_client.get_or_insert_with(|| client.clone());
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
            wharf_upload::Upload::new(client, upload_cfg).with_metrics(metrics.clone()),
            tls,
            stopped(1),
        )));
    }
    // Every process answers probes and /metrics on its admin listener; a front-end run alone
    // is ready when core is, as its first client sees it.
    let ready = ready.or_else(|| {
        first_client
            .clone()
            .map(wharf_gateway::health::Admin::for_core_client)
    });
    let admin_task = match ready {
        Some(admin) => {
            let listener = bound.admin;
            tracing::info!(admin = %listener.local_addr()?, "wharf admin listening (/healthz, /readyz, /metrics)");
            let admin = match parts.core {
                // Core's scrape adds the store's gauges; its Admin already has it.
                true => admin,
                false => {
                    let m = metrics.clone();
                    admin.with_metrics(move || {
                        let m = m.clone();
                        async move { (wharf_metrics::CONTENT_TYPE, m.render()) }
                    })
                }
            };
            Some(tokio::spawn(wharf_gateway::health::serve_admin(
                listener,
                admin,
                stopped(3),
            )))
        }
        None => None,
    };
    if let (false, Some(client)) = (parts.core, first_client) {
        tokio::spawn(check_core(client, core_url.clone(), core_tls.is_some()));
    }
    drop(fatal_tx);
    let failure = tokio::select! {
        _ = shutdown => None,
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

/// A listener that could not be bound: bad configuration, so exit 64 naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({var}): {source}")]
pub struct BindError {
    pub var: &'static str,
    pub addr: SocketAddr,
    source: std::io::Error,
}

async fn bind(var: &'static str, addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { var, addr, source })
}

/// The listeners of one process, all bound before any is announced.
struct Bound {
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
    upload: Option<TcpListener>,
    ftp: Option<TcpListener>,
    sftp: Option<TcpListener>,
    admin: TcpListener,
    /// The admin HTTP API: with core, unless `WHARF_ADMIN_API_ADDR=off`.
    admin_api: Option<TcpListener>,
}

impl Bound {
    async fn all(cfg: &Config, parts: Parts) -> Result<Bound, BindError> {
        let grpc = match parts.core {
            true => Some(bind(ENV_GRPC_ADDR, cfg.grpc_addr).await?),
            false => None,
        };
        let ftp = match parts.ftp {
            true => Some(bind(ENV_FTP_ADDR, cfg.ftp_addr).await?),
            false => None,
        };
        let http = match parts.gateway {
            true => Some(bind(ENV_HTTP_ADDR, cfg.http_addr).await?),
            false => None,
        };
        let upload = match parts.upload {
            true => Some(bind(ENV_UPLOAD_ADDR, cfg.upload_addr).await?),
            false => None,
        };
        let sftp = match parts.sftp {
            true => Some(bind(ENV_SFTP_ADDR, cfg.sftp_addr).await?),
            false => None,
        };
        let admin = bind(ENV_ADMIN_ADDR, cfg.admin_addr).await?;
        let admin_api = match (parts.core, cfg.admin_api_addr) {
            (true, Some(addr)) => Some(bind(ENV_ADMIN_API_ADDR, addr).await?),
            _ => None,
        };
        Ok(Bound {
            admin_api,
            grpc,
            http,
            upload,
            ftp,
            sftp,
            admin,
        })
    }
}

/// Core's gRPC TLS from its PEM files; an error names the variable and file at fault.
fn grpc_tls(files: &GrpcTlsFiles) -> anyhow::Result<wharf_core::grpc::GrpcTls> {
    use wharf_core::grpc::GrpcTlsError as E;
    let cert = read_pem(ENV_GRPC_TLS_CERT, &files.cert)?;
    let key = read_pem(ENV_GRPC_TLS_KEY, &files.key)?;
    let ca = match &files.client_ca {
        Some(path) => Some(read_pem(ENV_GRPC_CLIENT_CA, path)?),
        None => None,
    };
    wharf_core::grpc::GrpcTls::new(&cert, &key, ca.as_deref()).map_err(|e| match e {
        E::Certificate(why) => {
            anyhow::anyhow!("{ENV_GRPC_TLS_CERT}={}: {why}", files.cert.display())
        }
        E::Key(why) => anyhow::anyhow!("{ENV_GRPC_TLS_KEY}={}: {why}", files.key.display()),
        E::Pair(why) => anyhow::anyhow!(
            "{ENV_GRPC_TLS_CERT} and {ENV_GRPC_TLS_KEY} cannot serve TLS together (is the key \
             the certificate's?): {why}"
        ),
        E::ClientCa(why) => anyhow::anyhow!(
            "{ENV_GRPC_CLIENT_CA}={}: {why}",
            files
                .client_ca
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        ),
    })
}

/// A front-end's TLS towards core from its PEM files; an error names the variable and file at
/// fault.
fn core_tls_from(files: &CoreTlsFiles) -> anyhow::Result<wharf_proto::CoreTls> {
    let ca = read_pem(ENV_CORE_CA_FILE, &files.ca)?;
    let tls = wharf_proto::CoreTls::new(&ca)
        .map_err(|why| anyhow::anyhow!("{ENV_CORE_CA_FILE}={}: {why}", files.ca.display()))?;
    let Some((cert_path, key_path)) = &files.client else {
        return Ok(tls);
    };
    let cert = read_pem(ENV_CORE_CLIENT_CERT, cert_path)?;
    let key = read_pem(ENV_CORE_CLIENT_KEY, key_path)?;
    tls.with_client_certificate(&cert, &key)
        .map_err(|e| match e {
            wharf_proto::tls::ClientCertError::Certificate(why) => {
                anyhow::anyhow!("{ENV_CORE_CLIENT_CERT}={}: {why}", cert_path.display())
            }
            wharf_proto::tls::ClientCertError::Key(why) => {
                anyhow::anyhow!("{ENV_CORE_CLIENT_KEY}={}: {why}", key_path.display())
            }
        })
}

/// The bytes of the PEM file `path` that variable `var` names.
fn read_pem(var: &str, path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{var}={}: cannot read it: {e}", path.display()))
}

/// Ask core once whether it can be reached, and log what a front-end's operator can fix.
/// Start-up goes on either way: core may simply not be up yet.
async fn check_core(mut client: wharf_proto::CoreClient, url: String, tls: bool) {
    let ask = client.ready(wharf_proto::v1::ReadyRequest {});
    match tokio::time::timeout(Duration::from_secs(10), ask).await {
        Ok(Ok(_)) => tracing::info!(core = %url, tls, "core reachable"),
        Ok(Err(status)) if wharf_proto::tls::operator_fault(&status) => tracing::error!(
            core = %url,
            error = %status.message(),
            "cannot use core; calls will fail until this is fixed"
        ),
        Ok(Err(status)) if status.code() == tonic::Code::PermissionDenied => tracing::error!(
            core = %url,
            error = %status.message(),
            "core refused this front-end's internal token: WHARF_INTERNAL_TOKEN must be core's"
        ),
        Ok(Err(status)) => tracing::warn!(
            core = %url,
            code = ?status.code(),
            error = %status.message(),
            "core not reachable yet"
        ),
        Err(_) => tracing::warn!(core = %url, "core did not answer within 10 s"),
    }
}

/// The typed views for SQL tools, made where core runs. A view that cannot be made is logged
/// as an error naming its interface, and core serves all the same: the views serve
/// reporting, and partners' deliveries must not wait on them.
async fn install_views(core: &Core) {
    let report = match core.install_views().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("typed views for SQL tools not made: {e}");
            return;
        }
    };
    for f in &report.failed {
        tracing::error!(interface = %f.iface, "no typed view for SQL tools: {}", f.msg);
    }
    for name in &report.orphans {
        tracing::warn!(
            view = %name,
            "typed view of an interface no longer defined: kept, drop it when unwanted"
        );
    }
    tracing::info!(
        created = ?report.created,
        unchanged = report.unchanged.len(),
        failed = report.failed.len(),
        "typed views for SQL tools"
    );
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
                wharf_core::metrics::render(core.metrics(), core.store()).await,
            )
        }
    })
}

/// Ctrl-C or SIGTERM, listened for from this call on (not from the first poll).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = wait(int) => {}, _ = wait(term) => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
