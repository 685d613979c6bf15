//! Which batches housekeeping expires, written once for every statement that expires them or
//! records their expiry (`sql::EXPIRE_BATCHES`, `audit::AUDIT_EXPIRING`, PostgreSQL's
//! `EXPIRE_RECORDED`). Its own module, so the schema and the audit trail both use it without
//! importing each other.

/// Which batches expire (`$1` cut-off: created before it): those left open too long, and
/// checked ones (check only) nobody applied or discarded in that time — a check tells what
/// an apply would do now, not a day later, and its staged rows should not linger. The one
/// predicate of [`super::sql::EXPIRE_BATCHES`] and of the `batch.expired` records written with it.
macro_rules! expiring {
    () => {
        "(state = 'open' OR (state = 'held' AND check_only = 1)) AND created_unix < $1"
    };
}
pub(crate) use expiring;
