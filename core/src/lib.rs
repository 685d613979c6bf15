//! wharf core: the one place where wharf's rules live.
//!
//! It owns the interface registry, validation, batches (staging, dedupe, apply), partners,
//! users and tokens, both stores, and the gRPC server the front-ends call. It must not know
//! about any transport's format: front-ends translate into `IngestBatch` and back.
//!
//! # Layout
//! - [`interfaces`]: definition files → typed field rules.
//! - [`validate`]: envelope and row rules (pure).
//! - [`batch`]: the decisions for one sequence and the atomic apply of a batch, and abandon.
//! - [`batch_view`]: how a stored batch is reported (GetBatch, ListBatches).
//! - [`store`]: the `Store` trait, `store::pg` and `store::sqlite`, and their shared SQL.
//! - [`auth`]: argon2 hashes and tokens.
//! - [`limiter`]: login rate limiting per user name.
//! - [`service`]: `Core`, the facade used by gRPC and the CLI.
//! - [`grpc`]: the tonic server and its internal-token guard.
#![forbid(unsafe_code)]

pub mod auth;
pub mod batch;
pub mod batch_view;
pub mod error;
pub mod grpc;
pub mod interfaces;
pub mod limiter;
pub mod service;
pub mod store;
pub mod validate;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::CoreError;
pub use service::{Core, Principal, Settings};

/// PostgreSQL when a database URL is given, else the SQLite file in `data_dir`.
pub async fn open_store(
    database_url: Option<&str>,
    data_dir: &Path,
    max_connections: usize,
) -> Result<Arc<dyn store::Store>, CoreError> {
    Ok(match database_url {
        Some(url) => Arc::new(store::pg::PgStore::connect(url, max_connections).await?),
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
