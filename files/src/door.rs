//! Which file door a file or a login came through.

/// A file door: the names of its spans and log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Ftp,
    Sftp,
}

impl Door {
    /// The door's name as core records it (`wharf_proto::login`).
    pub fn name(self) -> &'static str {
        match self {
            Door::Ftp => wharf_proto::login::FTP,
            Door::Sftp => wharf_proto::login::SFTP,
        }
    }
}
