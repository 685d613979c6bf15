//! Outbound push (SPEC §7.1, seed 000): the company sends rows to partners' receiving
//! addresses.
//!
//! - [`endpoint`]: partners' endpoints and their auth (secrets sealed, `crate::secret`).
//! - [`intake`]: a push in (gRPC `PushToPartner`, `wharf push`): checked by the inbound
//!   rules, cut into sequences of ≤ 500 rows, queued in the outbox (`store::outbox`).
//! - [`dispatch`]: the dispatcher that sends queued sequences, in order, with retries.
//! - [`answer`]: what a partner's answer means (delivered / retry / failed).
//! - [`http`]: the HTTP client (hyper + rustls).
//! - [`view`]: `GetPush`, `wharf outbox list|retry`.

pub mod answer;
pub mod dispatch;
pub mod endpoint;
pub mod http;
pub mod intake;
pub mod view;

pub use dispatch::DispatchSettings;
