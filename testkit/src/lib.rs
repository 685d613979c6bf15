//! What the test crates of the workspace share (core's, the upload page's and the end-to-end
//! tests of the binary): unique names, the test PostgreSQL's URL and a throw-away CA for TLS
//! tests (`ca`, with the openssl CLI). Dev-only and without dependencies, and never on
//! wharf-core (core's own tests would see two copies of its types).

pub mod ca;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test (or earlier run against the same database) uses: `prefix`, then the
/// process id, the clock's nanoseconds and a counter.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}x{}",
        std::process::id() % 100_000,
        nanos % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The PostgreSQL the test command started (`WHARF_TEST_DATABASE_URL`). Missing is a failure,
/// never a skip.
pub fn pg_url() -> String {
    std::env::var("WHARF_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "WHARF_TEST_DATABASE_URL is not set: run the suite with scripts/test, which starts \
             a private PostgreSQL (the PostgreSQL tests never skip)"
        )
    })
}
