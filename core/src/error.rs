//! The one error type of wharf-core.

/// Everything that can go wrong inside core. Row-level problems are not errors: they are
/// answers (E00V00 …) built by `batch`. These are the failures that answer `-1` or stop start-up.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An interface definition file is broken; start-up stops with this message.
    #[error("interface definition {file}: {field}: {msg}")]
    Definition {
        file: String,
        field: String,
        msg: String,
    },
    /// The store failed (connection lost, disk full, constraint we did not expect).
    #[error("store: {0}")]
    Store(String),
    /// A caller asked for something that does not exist (partner, user, interface).
    #[error("not found: {0}")]
    NotFound(String),
    /// A caller asked for something that already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// Bad input to an administrative call (CLI, gRPC), said in plain words.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The action is not possible in the current state of what it acts on (cancel a batch
    /// already executed, revert one twice), said in plain words.
    #[error("not possible: {0}")]
    Precondition(String),
    /// Credentials did not check out. Deliberately says nothing about which part was wrong.
    #[error("bad credentials")]
    Unauthenticated,
    /// Too many failed logins from the caller's address or for the name lately (the
    /// defender's ban): logins are refused, without checking the credential, for this many
    /// more seconds.
    #[error(
        "login temporarily refused after too many failed logins; try again in {retry_after_secs} s"
    )]
    TooManyAttempts { retry_after_secs: u64 },

    /// Too much at once (a user name's password checks stayed busy): safe to retry.
    #[error("busy: {0}")]
    Busy(String),
}

impl From<tokio_postgres::Error> for CoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // `{:#}` would add the server's detail; the plain form never carries parameters.
        CoreError::Store(format!("postgresql: {e}"))
    }
}

impl From<deadpool_postgres::PoolError> for CoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        CoreError::Store(format!("postgresql pool: {e}"))
    }
}

impl From<rusqlite::Error> for CoreError {
    fn from(e: rusqlite::Error) -> Self {
        CoreError::Store(format!("sqlite: {e}"))
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
