//! FTP front-end (libunftp); filled by the FTP issue.
//!
//! Not built yet: this crate is a placeholder so the workspace has its final shape.
#![forbid(unsafe_code)]
