//! What wharf's file doors share. FTP (`wharf-ftp`, libunftp) and SFTP (`wharf-sftp`, russh)
//! differ in protocol only: the tree a partner sees, which names deliver a file and which hold
//! it, how a file becomes a batch, what a feedback file says, and every refusal are decided
//! here, once, so a partner gets byte-for-byte the same answer through either door.
//!
//! # Layout
//! - [`names`]: upload names, `{biz_key}_{crud}_{yyyyMMddHHmmss}_{serial}` plus an extension,
//!   and the temporary names that hold a file until it is renamed.
//! - [`tree`]: the per-partner virtual tree and path normalization.
//! - [`user`]: a partner's user logged in through core (password or public key).
//! - [`ops`]: the file operations (list, stat, read feedback, store, rename, remove) as calls
//!   to core, with door-neutral refusals ([`FileError`]) each door words in its protocol.
//! - [`drain`]: uploads in flight, so shutdown lets them finish.
//! - [`door`]: which door (FTP, SFTP) a file came through.
#![forbid(unsafe_code)]

pub mod door;
pub mod drain;
pub mod names;
pub mod ops;
pub mod tree;
pub mod user;

pub use door::Door;
pub use ops::{Entry, FileError, Files, Limits};
pub use user::FileUser;

/// Default largest upload (64 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Default most data rows one sheet may hold (a sheet is one batch of 5,000-row sequences).
pub const DEFAULT_MAX_FILE_ROWS: u64 = 100_000;
