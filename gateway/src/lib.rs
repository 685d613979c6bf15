//! HTTP API front-end (hyper); filled by the HTTP API issue.
//!
//! Not built yet: this crate is a placeholder so the workspace has its final shape.
#![forbid(unsafe_code)]
