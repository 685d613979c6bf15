//! libunftp's storage back-end over the file operations the file doors share
//! ([`wharf_files::Files`]): this module only translates between libunftp's types and them.
//! Nothing is kept on local disk, so any number of replicas behind one address behave as one.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use unftp_core::storage::{Error, ErrorKind, Fileinfo, Metadata, Permissions, StorageBackend};
use wharf_files::{Entry, FileError, Files};

use crate::login::FtpUser;

/// A file or folder of the tree, as libunftp sees it.
#[derive(Debug, Clone)]
pub struct Meta(Entry);

impl Metadata for Meta {
    fn len(&self) -> u64 {
        self.0.len
    }
    fn is_dir(&self) -> bool {
        self.0.dir
    }
    fn is_file(&self) -> bool {
        !self.0.dir
    }
    fn is_symlink(&self) -> bool {
        false
    }
    fn modified(&self) -> unftp_core::storage::Result<SystemTime> {
        Ok(self.0.modified)
    }
    fn gid(&self) -> u32 {
        0
    }
    fn permissions(&self) -> Permissions {
        Permissions(self.0.mode())
    }
    fn uid(&self) -> u32 {
        0
    }
}

/// An FTP reply for a refusal.
fn reply(e: FileError) -> Error {
    match e {
        FileError::Missing => Error::from(ErrorKind::PermanentFileNotAvailable),
        FileError::NoFolder => Error::from(ErrorKind::PermanentDirectoryNotAvailable),
        FileError::Denied(m) => Error::new(ErrorKind::PermissionDenied, m),
        FileError::NameRefused(m) => Error::new(ErrorKind::FileNameNotAllowedError, m),
        FileError::TooLarge(m) => Error::new(ErrorKind::ExceededStorageAllocationError, m),
        FileError::ShuttingDown(m) => Error::new(ErrorKind::TransientFileNotAvailable, m),
        FileError::CoreDown(m) => Error::new(ErrorKind::LocalError, m),
        FileError::Broken(m) => Error::new(ErrorKind::ConnectionClosed, m),
    }
}

/// The storage back-end: one per session, all of them talking to core.
#[derive(Debug, Clone)]
pub struct CoreTree {
    files: Files,
    metrics: wharf_metrics::Metrics,
}

impl CoreTree {
    pub fn new(files: Files, metrics: wharf_metrics::Metrics) -> CoreTree {
        CoreTree { files, metrics }
    }

    /// A STOR: refused unless it goes into an interface folder, else read whole (bounded)
    /// and stored.
    async fn store<R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &FtpUser,
        input: R,
        path: &Path,
        start_pos: u64,
    ) -> Result<u64, FileError> {
        let (folder, name, limit) = self.files.upload_target(&user.0, path)?;
        if start_pos != 0 {
            return Err(FileError::Denied(
                "resuming or appending an upload is not supported: send the whole file".into(),
            ));
        }
        // Held until the answer is back: a stopping server waits for it.
        let _transfer = self.files.begin()?;
        let bytes = Files::read_whole(input, limit).await?;
        self.files.store(&user.0, &folder, &name, bytes).await
    }
}

#[async_trait]
impl StorageBackend<FtpUser> for CoreTree {
    type Metadata = Meta;

    fn name(&self) -> &str {
        "wharf-core"
    }

    async fn metadata<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<Meta> {
        self.files
            .stat(&user.0, path.as_ref())
            .await
            .map(Meta)
            .map_err(reply)
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<Vec<Fileinfo<PathBuf, Meta>>> {
        let entries = self
            .files
            .list(&user.0, path.as_ref())
            .await
            .map_err(reply)?;
        Ok(entries
            .into_iter()
            .map(|e| Fileinfo {
                path: PathBuf::from(&e.name),
                metadata: Meta(e),
            })
            .collect())
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        let bytes = self
            .files
            .read(&user.0, path.as_ref())
            .await
            .map_err(reply)?;
        let from = usize::try_from(start_pos)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        Ok(Box::new(std::io::Cursor::new(bytes[from..].to_vec())))
    }

    async fn put<
        P: AsRef<Path> + Send + Debug,
        R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    >(
        &self,
        user: &FtpUser,
        input: R,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let result = self
            .store(user, input, path.as_ref(), start_pos)
            .await
            .map_err(reply);
        crate::counting::upload(&self.metrics, &result);
        result
    }

    async fn del<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        self.files
            .remove(&user.0, path.as_ref())
            .await
            .map_err(reply)
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(reply(FileError::Denied(
            "the folder layout is fixed".into(),
        )))
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        from: P,
        to: P,
    ) -> unftp_core::storage::Result<()> {
        self.files
            .rename(&user.0, from.as_ref(), to.as_ref())
            .await
            .map_err(reply)
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(reply(FileError::Denied(
            "the folder layout is fixed".into(),
        )))
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        if self.files.is_folder(&user.0, path.as_ref()) {
            Ok(())
        } else {
            Err(reply(FileError::NoFolder))
        }
    }
}
