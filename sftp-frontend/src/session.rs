//! The SFTP subsystem of one session (protocol version 3, as OpenSSH, WinSCP and FileZilla
//! speak it) over the file doors' shared operations.
//!
//! - A file opened for writing is collected in memory (bounded by the size limit) and handed
//!   to core when its handle is CLOSEd: the close is the explicit end of the file. A session
//!   that ends with the handle open delivers nothing.
//! - Reading is for feedback files; listing, stat, rename (delivery by rename of a temporary
//!   name) and remove (feedback and temporary files) are as over FTP.
//! - What the tree cannot do (folders, links, attributes) is answered `OP_UNSUPPORTED` or
//!   `PERMISSION_DENIED` with a message saying so.

use std::collections::HashMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use wharf_files::drain::Transfer;
use wharf_files::tree::{self, Folder};
use wharf_files::{Entry, FileError, FileUser, Files};
use wharf_metrics::Outcome;

/// Handles one session may hold open at once.
const MAX_HANDLES: usize = 32;
/// Files one session may be writing at once (each held in memory until closed).
const MAX_WRITING: usize = 4;
/// Most bytes one READ answers.
const MAX_READ: u32 = 256 * 1024;
/// Most entries one READDIR answers: a feedback folder of thousands of files would not fit
/// one packet of the size clients take (OpenSSH's is 256 KiB), so it is handed out in parts.
const MAX_READDIR: usize = 100;

/// An SFTP status for a refusal of the shared operations.
fn status(e: FileError) -> StatusReply {
    match e {
        FileError::Missing => StatusCode::NoSuchFile.with_message("no such file"),
        FileError::NoFolder => StatusCode::NoSuchFile.with_message("no such folder"),
        FileError::Denied(m) => StatusCode::PermissionDenied.with_message(m),
        FileError::NameRefused(m)
        | FileError::TooLarge(m)
        | FileError::ShuttingDown(m)
        | FileError::CoreDown(m)
        | FileError::Broken(m) => StatusCode::Failure.with_message(m),
    }
}

fn unsupported(why: &str) -> StatusReply {
    StatusCode::OpUnsupported.with_message(why)
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

fn attrs(e: &Entry) -> FileAttributes {
    let mtime = e
        .modified
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    FileAttributes {
        size: Some(e.len),
        uid: Some(0),
        gid: Some(0),
        user: None,
        group: None,
        // The type bits with the mode: clients tell folders from files by them.
        permissions: Some(if e.dir { 0o040000 } else { 0o100000 } | e.mode()),
        atime: Some(mtime),
        mtime: Some(mtime),
    }
}

/// A file being written: where it goes, the bytes so far.
struct Writing {
    folder: Folder,
    name: String,
    limit: u64,
    bytes: Vec<u8>,
    /// Set when a write broke the file (over the limit): the close answers it and delivers
    /// nothing.
    broken: Option<FileError>,
    /// Held until the file is answered: a stopping server waits for it.
    _transfer: Transfer,
}

impl Writing {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), FileError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let end = offset.saturating_add(data.len() as u64);
        if end > self.limit {
            let e = FileError::TooLarge(format!("the file is larger than {} bytes", self.limit));
            self.broken = Some(e.clone());
            self.bytes = Vec::new();
            return Err(e);
        }
        // Writes usually come in order; one that leaves a gap is filled when the gap's
        // bytes arrive (clients pipeline requests).
        let (start, end) = (offset as usize, end as usize);
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[start..end].copy_from_slice(data);
        Ok(())
    }
}

enum Open {
    /// A folder's entries not handed out yet (READDIR gives them in parts).
    Dir(std::collections::VecDeque<Entry>),
    /// A feedback file's bytes.
    Read(Vec<u8>),
    Write(Box<Writing>),
}

/// One SFTP session of a logged-in user.
pub struct SftpSession {
    files: Files,
    user: FileUser,
    metrics: wharf_metrics::Metrics,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

impl SftpSession {
    pub fn new(files: Files, user: FileUser, metrics: wharf_metrics::Metrics) -> SftpSession {
        SftpSession {
            files,
            user,
            metrics,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    fn add(&mut self, id: u32, open: Open) -> Result<Handle, StatusReply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure
                .with_message(format!("too many open files (at most {MAX_HANDLES})")));
        }
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), open);
        Ok(Handle { id, handle })
    }

    fn writing(&self) -> usize {
        self.handles
            .values()
            .filter(|h| matches!(h, Open::Write(_)))
            .count()
    }

    fn open_write(
        &mut self,
        id: u32,
        path: &Path,
        flags: OpenFlags,
    ) -> Result<Handle, StatusReply> {
        if flags.contains(OpenFlags::APPEND) {
            return Err(status(FileError::Denied(
                "resuming or appending an upload is not supported: send the whole file".into(),
            )));
        }
        let (folder, name, limit) = self.files.upload_target(&self.user, path).map_err(status)?;
        if self.writing() >= MAX_WRITING {
            return Err(StatusCode::Failure.with_message(format!(
                "too many files being written at once in this session (at most {MAX_WRITING})"
            )));
        }
        let transfer = self.files.begin().map_err(status)?;
        self.add(
            id,
            Open::Write(Box::new(Writing {
                folder,
                name,
                limit,
                bytes: Vec::new(),
                broken: None,
                _transfer: transfer,
            })),
        )
    }

    /// A file's end: hand it to core (or say why it was not).
    async fn deliver(&mut self, w: Writing) -> Result<(), StatusReply> {
        let Writing {
            folder,
            name,
            bytes,
            broken,
            ..
        } = w;
        if let Some(e) = broken {
            self.metrics.too_large(wharf_metrics::Door::sftp);
            self.metrics.sftp_upload(Outcome::refused);
            return Err(status(e));
        }
        let result = self.files.store(&self.user, &folder, &name, bytes).await;
        self.metrics.sftp_upload(match &result {
            Ok(_) => Outcome::ok,
            Err(FileError::NameRefused(_) | FileError::Denied(_) | FileError::TooLarge(_)) => {
                Outcome::refused
            }
            Err(_) => Outcome::error,
        });
        result.map(|_| ()).map_err(status)
    }
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        unsupported("not supported by this server")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        // The home is the tree's root; a path is resolved there, never above it.
        let parts = tree::normalize(Path::new(&path));
        Ok(Name {
            id,
            files: vec![File::dummy(format!("/{}", parts.join("/")))],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let entry = self
            .files
            .stat(&self.user, Path::new(&path))
            .await
            .map_err(status)?;
        Ok(Attrs {
            id,
            attrs: attrs(&entry),
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        // Nothing in the tree is a link.
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let len = match self.handles.get(&handle) {
            Some(Open::Read(bytes)) => bytes.len() as u64,
            Some(Open::Write(w)) => w.bytes.len() as u64,
            Some(Open::Dir(_)) => {
                return Ok(Attrs {
                    id,
                    attrs: attrs(&Entry {
                        name: String::new(),
                        dir: true,
                        len: 0,
                        modified: std::time::SystemTime::now(),
                    }),
                })
            }
            None => return Err(StatusCode::Failure.with_message("no such handle")),
        };
        let mut a = FileAttributes::empty();
        a.size = Some(len);
        a.permissions = Some(0o100644);
        Ok(Attrs { id, attrs: a })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let entries = self
            .files
            .list(&self.user, Path::new(&path))
            .await
            .map_err(status)?;
        self.add(id, Open::Dir(entries.into()))
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir(entries)) if entries.is_empty() => Err(StatusCode::Eof.into()),
            Some(Open::Dir(entries)) => {
                let n = entries.len().min(MAX_READDIR);
                Ok(Name {
                    id,
                    files: entries
                        .drain(..n)
                        .map(|e| {
                            let a = attrs(&e);
                            File::new(e.name, a)
                        })
                        .collect(),
                })
            }
            _ => Err(StatusCode::Failure.with_message("not a folder handle")),
        }
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let path = Path::new(&filename);
        let writes = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::APPEND,
        );
        if writes {
            return self.open_write(id, path, pflags);
        }
        let bytes = self.files.read(&self.user, path).await.map_err(status)?;
        self.add(id, Open::Read(bytes))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let Some(Open::Read(bytes)) = self.handles.get(&handle) else {
            return Err(StatusCode::Failure.with_message("not a handle opened for reading"));
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= bytes.len() {
            return Err(StatusCode::Eof.into());
        }
        let end = start
            .saturating_add(len.min(MAX_READ) as usize)
            .min(bytes.len());
        Ok(Data {
            id,
            data: bytes[start..end].to_vec(),
        })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let Some(Open::Write(w)) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure.with_message("not a handle opened for writing"));
        };
        w.write(offset, &data).map_err(status)?;
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(Open::Write(w)) => {
                self.deliver(*w).await?;
                Ok(ok(id))
            }
            Some(_) => Ok(ok(id)),
            None => Err(StatusCode::Failure.with_message("no such handle")),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        self.files
            .remove(&self.user, Path::new(&filename))
            .await
            .map_err(status)?;
        Ok(ok(id))
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        self.files
            .rename(&self.user, Path::new(&oldpath), Path::new(&newpath))
            .await
            .map_err(status)?;
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        _id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Err(status(FileError::Denied(
            "the folder layout is fixed".into(),
        )))
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(status(FileError::Denied(
            "the folder layout is fixed".into(),
        )))
    }

    async fn setstat(
        &mut self,
        _id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Err(unsupported(
            "file attributes cannot be set: wharf keeps no times or permissions of its own",
        ))
    }

    async fn fsetstat(
        &mut self,
        _id: u32,
        _handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Err(unsupported(
            "file attributes cannot be set: wharf keeps no times or permissions of its own",
        ))
    }

    async fn readlink(&mut self, _id: u32, _path: String) -> Result<Name, Self::Error> {
        Err(unsupported("there are no links in this tree"))
    }

    async fn symlink(
        &mut self,
        _id: u32,
        _linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        Err(unsupported("there are no links in this tree"))
    }
}
