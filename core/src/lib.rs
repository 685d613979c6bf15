//! wharf core: the one place where wharf's rules live.
//!
//! It owns the interface registry, validation, batches (staging, dedupe, apply), partners,
//! users and tokens, both stores, and the gRPC server the front-ends call. It must not know
//! about any transport's format: front-ends translate into `IngestBatch` and back.
//!
//! # Layout
//! The floor, importing nothing of core:
//! - [`model`]: the nouns (environment, operation, door, batch/action/push states, scope,
//!   schedule, batch policy) and their stored and proto forms.
//! - [`codes`]: the answer vocabulary: result codes and messages, row-error kinds, seed 003's
//!   numbers, and the one builder of a problem entry and of an answer.
//!
//! The rooms above it:
//! - [`interfaces`]: definition files → typed field rules.
//! - [`validate`]: envelope and row rules (pure).
//! - [`schedule`]: a batch's schedule and its windows (pure).
//! - [`batch`]: the decisions for one sequence and the atomic apply of a batch
//!   (`batch::ingest`), abandon, execute / revert / cancel (`batch::actions`), and how a
//!   stored batch is reported (`batch::view`).
//! - [`timestamp`]: ISO-8601 in, RFC 3339 out.
//! - [`clock`]: the one clock of core, injectable in tests.
//! - [`store`]: the `Store` trait, `store::pg` and `store::sqlite`, and their shared SQL.
//! - [`accounts`]: the lifecycle of partners, users, tokens and sessions (list, disable,
//!   rotate, reset, revoke, remove) and the interface definitions, audited.
//! - [`audit`]: the audit trail's records, who acts and the reading filter.
//! - [`auth`]: argon2 hashes and tokens.
//! - [`defender`]: failed logins scored per address and name in the store, bans, partners'
//!   allow lists.
//! - [`login`]: every door's logins in one place: bans, allow lists, scoring, the audit.
//! - [`outbound`]: outbound push: endpoints, intake, the dispatcher (SPEC §7.1).
//! - [`secret`]: sealing outbound credentials with `WHARF_SECRET_KEY`.
//! - [`sftp`]: users' SSH keys and the host key, for the SFTP door.
//! - [`ssh`]: SSH keys for the SFTP door (users' public keys, the host key).
//! - [`operators`]: the admin API's principals and their tokens.
//! - [`metrics`]: Prometheus counters of every door's sequences, and the scrape.
//! - [`service`]: `Core`, the facade used by gRPC and the CLI.
//! - [`grpc`]: the tonic server and its internal-token guard.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod clock;
pub mod codes;
pub mod columns;
pub mod consumer_grpc;
pub mod consumers;
pub mod defender;
pub mod error;
pub mod feed;
pub mod grpc;
pub mod interfaces;
pub mod login;
pub mod metrics;
pub mod model;
pub mod operators;
pub mod outbound;
pub mod principals;
pub mod query;
pub mod schedule;
pub mod secret;
pub mod service;
pub mod sftp;
pub mod ssh;
pub mod store;
pub mod timestamp;
pub mod validate;
pub mod webhooks;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::CoreError;
pub use service::{Core, Principal, Settings, DEFAULT_PART_MAX_AGE_SECS};

/// PostgreSQL when a database is given (its URL and TLS settings, `store::pg::Database`),
/// else the SQLite file in `data_dir`.
pub async fn open_store(
    database: Option<&store::pg::Database>,
    data_dir: &Path,
    max_connections: usize,
) -> Result<Arc<dyn store::Store>, CoreError> {
    Ok(match database {
        Some(db) => Arc::new(store::pg::PgStore::connect_to(db, max_connections).await?),
        None => Arc::new(store::sqlite::SqliteStore::open(data_dir)?),
    })
}

/// Expire abandoned batches and purge dead tokens every `every`, until `shutdown`.
pub async fn run_housekeeping(
    core: Core,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => match core.housekeeping().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(batches = n, "expired abandoned batches"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            },
        }
    }
}

/// Run scheduled executes and reverts as they fall due (SPEC §7.2) every `every`, until
/// `shutdown`. The first tick is at once, so work that fell due while no core ran is done at
/// start-up. Each action is its own short transaction; nothing is held between ticks.
pub async fn run_scheduler(
    core: Core,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => match core.run_due().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(actions = n, "scheduled batch actions ran"),
                Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
            },
        }
    }
}

/// Send queued pushes to partners (SPEC §7.1) and consumers' webhooks until `shutdown`;
/// in-flight sequences finish and their pushes are given back, attempts in flight are
/// recorded. Needs the secret key (`Core::with_secret_key`).
pub async fn run_dispatcher(
    core: Core,
    settings: outbound::DispatchSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CoreError> {
    let client = outbound::http::Client::from_settings(&settings).map_err(CoreError::Invalid)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tokio::join!(
        async {
            shutdown.await;
            let _ = stop.send(true);
        },
        outbound::dispatch::run(
            core.clone(),
            settings.clone(),
            client.clone(),
            until_stopped(stopped.clone())
        ),
        webhooks::deliver::run(core, settings, client, until_stopped(stopped)),
    );
    Ok(())
}
