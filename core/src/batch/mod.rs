//! Batches (SPEC §4, §5, §7.2): what one sequence gets and when a batch is applied
//! ([`ingest`]), a sender giving up ([`abandon`]), execute / revert / cancel of a complete
//! batch by the scheduler or by hand ([`actions`]), the one answer of a file door's file sent
//! as several sequences ([`file`]), and how a stored batch is reported
//! ([`view`]).

pub mod abandon;
pub mod actions;
pub mod file;
pub mod ingest;
pub mod view;

pub use abandon::{abandon, abandon_failure};
pub use ingest::{ingest, ScheduleInput, Sequence};
