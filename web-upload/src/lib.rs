//! Upload pages (askama); filled by the upload issue.
//!
//! Not built yet: this crate is a placeholder so the workspace has its final shape.
#![forbid(unsafe_code)]
