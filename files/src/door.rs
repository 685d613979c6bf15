//! Which file door a file or a login came through.

/// A file door: the names of its spans and log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Ftp,
    Sftp,
}
