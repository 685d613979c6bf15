//! libunftp's storage back-end as a virtual tree backed by core: uploads become `IngestBatch`
//! calls, feedback files are core's recorded answers. Nothing is kept on local disk, so any
//! number of replicas behind one address behave as one.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::io::AsyncReadExt;
use tracing::field::Empty;
use tracing::Instrument;
use unftp_core::storage::{Error, ErrorKind, Fileinfo, Metadata, Permissions, StorageBackend};
use wharf_proto::json::value_text;
use wharf_proto::trace;
use wharf_proto::v1 as pb;
use wharf_proto::CoreClient;
use wharf_sheet::send::{self, Sent};

use crate::drain::Transfers;
use crate::login::FtpUser;
use crate::names::{self, Content};
use crate::tree::{self, Folder, Node, FEEDBACK_SUFFIX};

/// A virtual file or directory.
#[derive(Debug, Clone)]
pub struct Meta {
    dir: bool,
    len: u64,
    modified: SystemTime,
}

impl Meta {
    /// A folder of the virtual tree: it exists as long as the partner's interface does, so
    /// it is dated now (not 1970, which clients show as a broken date).
    fn dir() -> Meta {
        Meta {
            dir: true,
            len: 0,
            modified: SystemTime::now(),
        }
    }

    fn file(len: u64, created_unix: i64) -> Meta {
        Meta {
            dir: false,
            len,
            modified: UNIX_EPOCH + Duration::from_secs(created_unix.max(0) as u64),
        }
    }
}

impl Metadata for Meta {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_dir(&self) -> bool {
        self.dir
    }
    fn is_file(&self) -> bool {
        !self.dir
    }
    fn is_symlink(&self) -> bool {
        false
    }
    fn modified(&self) -> unftp_core::storage::Result<SystemTime> {
        Ok(self.modified)
    }
    fn gid(&self) -> u32 {
        0
    }
    /// Folders `rwxr-xr-x`, files `rw-r--r--`: nothing in the tree is executable.
    fn permissions(&self) -> Permissions {
        Permissions(if self.dir { 0o755 } else { 0o644 })
    }
    fn uid(&self) -> u32 {
        0
    }
}

/// The storage back-end: one per session, all of them talking to core.
#[derive(Debug, Clone)]
pub struct CoreTree {
    core: CoreClient,
    env: pb::Environment,
    /// Largest upload accepted, in bytes.
    max_file_bytes: u64,
    /// Most data rows one sheet may hold (0: no limit).
    max_file_rows: u64,
    /// Uploads in progress, shared by every session: shutdown waits for them.
    transfers: Transfers,
    metrics: wharf_metrics::Metrics,
}

impl CoreTree {
    pub fn new(
        core: CoreClient,
        env: pb::Environment,
        max_file_bytes: u64,
        max_file_rows: u64,
        transfers: Transfers,
        metrics: wharf_metrics::Metrics,
    ) -> CoreTree {
        CoreTree {
            core,
            env,
            max_file_bytes,
            max_file_rows,
            transfers,
            metrics,
        }
    }

    fn file_ref(&self, user: &FtpUser, folder: &Folder, name: &str) -> pb::FileRef {
        pb::FileRef {
            partner: user.partner.clone(),
            environment: self.env as i32,
            data_category: folder.data_category.clone(),
            biz_key: folder.biz_key.clone(),
            name: name.to_string(),
        }
    }

    async fn feedback(
        &self,
        user: &FtpUser,
        folder: &Folder,
        name: &str,
    ) -> Result<pb::GetFileResponse, Error> {
        let mut core = self.core.clone();
        core.get_file(self.file_ref(user, folder, name))
            .await
            .map(tonic::Response::into_inner)
            .map_err(core_down)
    }

    /// Read one upload whole, at most `limit` bytes. A transfer that breaks (the data
    /// connection reset, an ABOR) is an error: nothing of it is used.
    async fn read_whole<R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        input: R,
        limit: u64,
        what: &str,
    ) -> unftp_core::storage::Result<Vec<u8>> {
        // Bounded: never hold more than the limit (plus one byte to notice it was crossed).
        let mut bytes = Vec::new();
        input
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::new(ErrorKind::ConnectionClosed, e))?;
        if bytes.len() as u64 > limit {
            return Err(Error::new(
                ErrorKind::ExceededStorageAllocationError,
                format!("{what} is larger than {limit} bytes"),
            ));
        }
        Ok(bytes)
    }

    /// Read one upload (bounded), hand it to core, log core's answer.
    async fn upload<R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &FtpUser,
        input: R,
        folder: Folder,
        name: &str,
    ) -> unftp_core::storage::Result<u64> {
        let bytes = Self::read_whole(input, self.max_file_bytes, "the file").await?;
        self.deliver(user, &folder, name, bytes).await
    }

    /// Hand a whole file delivered as `name` to core and log core's answer.
    async fn deliver(
        &self,
        user: &FtpUser,
        folder: &Folder,
        name: &str,
        bytes: Vec<u8>,
    ) -> unftp_core::storage::Result<u64> {
        let upload = upload_request(
            &user.partner,
            &user.username,
            self.env,
            folder,
            name,
            &bytes,
            self.max_file_rows,
        );
        let span = tracing::Span::current();
        span.record("bytes", bytes.len());
        let mut core = self.core.clone();
        let answer = match upload {
            Upload::One(req) => {
                span.record("batch_id", value_text(&req.batch_id).as_str());
                span.record("seq_id", value_text(&req.seq_id).as_str());
                span.record("rows", req.rows.len());
                core.ingest_batch(req)
                    .await
                    .map_err(core_down)?
                    .into_inner()
            }
            Upload::Sheet {
                template,
                batch_id,
                sheet,
            } => {
                span.record("batch_id", batch_id.as_str());
                if let Ok(s) = &sheet {
                    span.record("rows", s.rows.len());
                }
                match send::send_sheet(&mut core, &template, &batch_id, sheet)
                    .await
                    .map_err(core_down)?
                {
                    Sent::Batch {
                        sequences, last, ..
                    } => {
                        span.record("seq_id", sequences);
                        last
                    }
                    Sent::Answered(answer) => answer,
                }
            }
        };
        span.record("code", answer.code.as_str());
        tracing::info!(partner = %user.partner, file = %name, code = %answer.code, bytes = bytes.len(), "file delivered");
        if answer.not_kept {
            // Core refused the name itself and could keep no feedback file under it: say so
            // in the reply, a permanent one (553), so the partner does not retry it.
            return Err(Error::new(ErrorKind::FileNameNotAllowedError, answer.msg));
        }
        Ok(bytes.len() as u64)
    }

    /// A STOR: refused unless it goes into an interface folder, else read and ingested.
    async fn store<
        P: AsRef<Path> + Send + Debug,
        R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    >(
        &self,
        user: &FtpUser,
        input: R,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let Node::Upload(folder, name) =
            tree::resolve(path.as_ref(), &user.partner, &user.interfaces)
        else {
            return Err(denied(
                "uploads go into a /Planning/SCC/{appName}/{data_category}/{biz_key}/ folder",
            ));
        };
        if start_pos != 0 {
            return Err(denied(
                "resuming or appending an upload is not supported: send the whole file",
            ));
        }
        if names::is_temporary(&name) {
            return self.hold(user, input, &folder, &name).await;
        }
        // Held until the answer is back: a stopping server waits for it (see `drain`).
        let Some(_transfer) = self.transfers.start() else {
            return Err(Error::new(
                ErrorKind::TransientFileNotAvailable,
                "the server is shutting down: send the file again in a moment".to_string(),
            ));
        };
        let span = upload_span(user, &folder, &name);
        self.upload(user, input, folder, &name)
            .instrument(span)
            .await
    }

    /// A STOR to a temporary name: kept by core whole, not read, until a rename delivers it.
    async fn hold<R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &FtpUser,
        input: R,
        folder: &Folder,
        name: &str,
    ) -> unftp_core::storage::Result<u64> {
        let limit = self.max_file_bytes.min(MAX_TEMPORARY_BYTES);
        let bytes = Self::read_whole(input, limit, "a file under a temporary name").await?;
        let size = bytes.len() as u64;
        let mut core = self.core.clone();
        core.put_file_part(pb::PutFilePartRequest {
            file: Some(self.file_ref(user, folder, name)),
            content: bytes,
        })
        .await
        .map_err(core_down)?;
        tracing::info!(partner = %user.partner, file = %name, bytes = size, "file held under a temporary name");
        Ok(size)
    }

    /// The files a folder holds under temporary names.
    async fn held(&self, user: &FtpUser, folder: &Folder) -> Result<Vec<pb::FilePartInfo>, Error> {
        let mut core = self.core.clone();
        Ok(core
            .list_file_parts(pb::ListFilesRequest {
                partner: user.partner.clone(),
                environment: self.env as i32,
                data_category: folder.data_category.clone(),
                biz_key: folder.biz_key.clone(),
            })
            .await
            .map_err(core_down)?
            .into_inner()
            .parts)
    }

    /// RNFR a temporary name, RNTO a delivery name in the same folder: the held file is
    /// delivered under the new name exactly as a STOR of it would be (feedback, dedupe by
    /// name), then forgotten. Two sessions renaming one file at once deliver one name: core
    /// answers the second as a re-delivery.
    async fn deliver_held(
        &self,
        user: &FtpUser,
        from: &Path,
        to: &Path,
    ) -> unftp_core::storage::Result<()> {
        let (Node::Upload(folder, held), Node::Upload(to_folder, name)) = (
            tree::resolve(from, &user.partner, &user.interfaces),
            tree::resolve(to, &user.partner, &user.interfaces),
        ) else {
            return Err(denied(
                "only a file uploaded under a temporary name can be renamed, within its folder",
            ));
        };
        if !names::is_temporary(&held) {
            return Err(denied(
                "only a file uploaded under a temporary name can be renamed",
            ));
        }
        if to_folder != folder {
            return Err(denied("a file is delivered by rename within its folder"));
        }
        if names::is_temporary(&name) {
            return Err(Error::new(
                ErrorKind::FileNameNotAllowedError,
                "rename to the delivery name (a temporary name is not delivered)".to_string(),
            ));
        }
        let Some(_transfer) = self.transfers.start() else {
            return Err(Error::new(
                ErrorKind::TransientFileNotAvailable,
                "the server is shutting down: rename the file again in a moment".to_string(),
            ));
        };
        let mut core = self.core.clone();
        let part = core
            .get_file_part(self.file_ref(user, &folder, &held))
            .await
            .map_err(core_down)?
            .into_inner();
        if !part.found {
            return Err(missing());
        }
        let span = upload_span(user, &folder, &name);
        self.deliver(user, &folder, &name, part.content)
            .instrument(span)
            .await?;
        // Delivered: forget it. Were this lost (the process dying now), the file stays held,
        // and a second rename is answered as a re-delivery: nothing is applied twice.
        core.delete_file_part(self.file_ref(user, &folder, &held))
            .await
            .map_err(core_down)?;
        Ok(())
    }
}

/// The largest file a temporary name holds: core keeps it whole and hands it back in one gRPC
/// message (64 MiB at most).
pub const MAX_TEMPORARY_BYTES: u64 = 60 << 20;

/// The span of one delivery of `name`, a child of the session's login.
fn upload_span(user: &FtpUser, folder: &Folder, name: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "ftp upload",
        otel.kind = "server",
        partner = %user.partner,
        interface = %format_args!("{}/{}", folder.data_category, folder.biz_key),
        file = %name,
        bytes = Empty,
        batch_id = Empty,
        seq_id = Empty,
        rows = Empty,
        code = Empty,
    );
    trace::adopt(&span, &user.session);
    span
}

fn core_down(s: tonic::Status) -> Error {
    tracing::warn!(code = ?s.code(), msg = s.message(), "core call failed");
    Error::new(
        ErrorKind::LocalError,
        format!("core unavailable, retry: {}", s.message()),
    )
}

fn denied(why: &str) -> Error {
    Error::new(ErrorKind::PermissionDenied, why.to_string())
}

fn missing() -> Error {
    Error::from(ErrorKind::PermanentFileNotAvailable)
}

/// A stable 16-character batch_id for a sheet delivered as `name` (FNV-1a, hex): the same name
/// always makes the same batch, so a re-delivery is recognised.
fn sheet_batch_id(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What an upload is sent to core as.
#[derive(Debug)]
pub enum Upload {
    /// One `IngestBatch` request: a JSON envelope (one sequence, by the envelope's rules), or
    /// a name that breaks FTP's naming rule.
    One(pb::IngestBatchRequest),
    /// A sheet, sent as ONE batch of sequences of up to 5,000 rows by the sender the upload
    /// page shares (`wharf_sheet::send`), under a batch_id derived from the file name. Every
    /// sequence names the file, so core records one answer for the whole file.
    Sheet {
        template: pb::IngestBatchRequest,
        batch_id: String,
        sheet: Result<wharf_sheet::Sheet, wharf_sheet::SheetError>,
    },
}

/// What an upload of `name` holding `bytes` is sent as; a sheet may hold at most
/// `max_file_rows` data rows (0: no limit), over which core refuses it whole.
pub fn upload_request(
    partner: &str,
    user: &str,
    env: pb::Environment,
    folder: &Folder,
    name: &str,
    bytes: &[u8],
    max_file_rows: u64,
) -> Upload {
    let mut req = pb::IngestBatchRequest {
        partner: partner.to_string(),
        user: user.to_string(),
        environment: env as i32,
        data_category: folder.data_category.clone(),
        biz_key: folder.biz_key.clone(),
        transport: pb::Transport::Ftp as i32,
        source: name.to_string(),
        ..Default::default()
    };
    let parsed = match names::parse(name, &folder.biz_key) {
        Ok(p) => p,
        Err(why) => {
            req.bad_source = why;
            return Upload::One(req);
        }
    };
    req.operation = parsed.operation as i32;
    let format = match parsed.content {
        Content::Json => {
            wharf_proto::json::read_envelope(bytes, &mut req);
            return Upload::One(req);
        }
        Content::Csv => wharf_sheet::Format::Csv,
        Content::Xlsx => wharf_sheet::Format::Xlsx,
    };
    req.max_file_rows = max_file_rows;
    Upload::Sheet {
        template: req,
        batch_id: sheet_batch_id(name),
        sheet: wharf_sheet::read(format, bytes, &wharf_sheet::Limits::default()),
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
        match tree::resolve(path.as_ref(), &user.partner, &user.interfaces) {
            Node::Dir(_) | Node::Interface(_) | Node::Feedback(_) => Ok(Meta::dir()),
            Node::FeedbackFile(folder, name) => {
                let f = self.feedback(user, &folder, &name).await?;
                match (f.found, f.info) {
                    (true, Some(info)) => Ok(Meta::file(info.answer_size, info.created_unix)),
                    _ => Err(missing()),
                }
            }
            Node::Upload(folder, name) if names::is_temporary(&name) => self
                .held(user, &folder)
                .await?
                .into_iter()
                .find(|p| p.name == name)
                .map(|p| Meta::file(p.size, p.received_unix))
                .ok_or_else(missing),
            Node::Upload(..) | Node::Missing => Err(missing()),
        }
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<Vec<Fileinfo<PathBuf, Meta>>> {
        let dir = |name: &str| Fileinfo {
            path: PathBuf::from(name),
            metadata: Meta::dir(),
        };
        match tree::resolve(path.as_ref(), &user.partner, &user.interfaces) {
            Node::Dir(children) => Ok(children.iter().map(|c| dir(c)).collect()),
            // Uploads are consumed on arrival: the folder holds `feedback/` and the files held
            // under a temporary name until they are renamed.
            Node::Interface(folder) => {
                let mut entries = vec![dir("feedback")];
                entries.extend(
                    self.held(user, &folder)
                        .await?
                        .into_iter()
                        .map(|p| Fileinfo {
                            path: PathBuf::from(p.name),
                            metadata: Meta::file(p.size, p.received_unix),
                        }),
                );
                Ok(entries)
            }
            Node::Feedback(folder) => {
                let mut core = self.core.clone();
                let files = core
                    .list_files(pb::ListFilesRequest {
                        partner: user.partner.clone(),
                        environment: self.env as i32,
                        data_category: folder.data_category,
                        biz_key: folder.biz_key,
                    })
                    .await
                    .map_err(core_down)?
                    .into_inner()
                    .files;
                Ok(files
                    .into_iter()
                    .map(|f| Fileinfo {
                        path: PathBuf::from(format!("{}{FEEDBACK_SUFFIX}", f.name)),
                        metadata: Meta::file(f.answer_size, f.created_unix),
                    })
                    .collect())
            }
            _ => Err(Error::from(ErrorKind::PermanentDirectoryNotAvailable)),
        }
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        let Node::FeedbackFile(folder, name) =
            tree::resolve(path.as_ref(), &user.partner, &user.interfaces)
        else {
            return Err(missing());
        };
        let f = self.feedback(user, &folder, &name).await?;
        if !f.found {
            return Err(missing());
        }
        let bytes = f.answer.into_bytes();
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
        let result = self.store(user, input, path, start_pos).await;
        crate::counting::upload(&self.metrics, &result);
        result
    }

    async fn del<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let mut core = self.core.clone();
        let deleted = match tree::resolve(path.as_ref(), &user.partner, &user.interfaces) {
            Node::FeedbackFile(folder, name) => {
                core.delete_file(self.file_ref(user, &folder, &name))
                    .await
                    .map_err(core_down)?
                    .into_inner()
                    .deleted
            }
            Node::Upload(folder, name) if names::is_temporary(&name) => {
                core.delete_file_part(self.file_ref(user, &folder, &name))
                    .await
                    .map_err(core_down)?
                    .into_inner()
                    .deleted
            }
            _ => {
                return Err(denied(
                    "only feedback files and files under a temporary name can be deleted",
                ))
            }
        };
        if deleted {
            Ok(())
        } else {
            Err(missing())
        }
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(denied("the folder layout is fixed"))
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        from: P,
        to: P,
    ) -> unftp_core::storage::Result<()> {
        self.deliver_held(user, from.as_ref(), to.as_ref()).await
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(denied("the folder layout is fixed"))
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        match tree::resolve(path.as_ref(), &user.partner, &user.interfaces) {
            Node::Dir(_) | Node::Interface(_) | Node::Feedback(_) => Ok(()),
            _ => Err(Error::from(ErrorKind::PermanentDirectoryNotAvailable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_batch_ids_are_stable_and_16_chars() {
        let a = sheet_batch_id("bom_all_20220101000000_1.csv");
        assert_eq!(a.len(), 16);
        assert_eq!(a, sheet_batch_id("bom_all_20220101000000_1.csv"));
        assert_ne!(a, sheet_batch_id("bom_all_20220101000000_2.csv"));
    }

    #[test]
    fn a_bad_name_is_reported_not_read() {
        let folder = Folder {
            data_category: "t1".into(),
            biz_key: "bom".into(),
        };
        let one = |upload| match upload {
            Upload::One(req) => req,
            other => panic!("one request, not {other:?}"),
        };
        let req = one(upload_request(
            "P",
            "u",
            pb::Environment::Prod,
            &folder,
            "item_all_20220101000000_1",
            b"{}",
            100,
        ));
        assert!(req.bad_source.contains("biz_key"), "{}", req.bad_source);
        assert!(req.rows.is_empty() && req.batch_id.is_none());
        let req = one(upload_request(
            "P",
            "u",
            pb::Environment::Uat,
            &folder,
            "bom_update_20220101000000_1",
            br#"{"batch_id":"B"}"#,
            100,
        ));
        assert_eq!(req.bad_source, "");
        assert_eq!(req.operation, pb::Operation::Update as i32);
        assert_eq!(req.transport, pb::Transport::Ftp as i32);
        assert_eq!(req.environment, pb::Environment::Uat as i32);
        assert!(req.batch_id.is_some());
    }

    #[test]
    fn a_sheet_is_one_batch_named_after_its_file() {
        let folder = Folder {
            data_category: "t1".into(),
            biz_key: "bom".into(),
        };
        let name = "bom_insert_20220101000000_1.csv";
        let Upload::Sheet {
            template,
            batch_id,
            sheet,
        } = upload_request(
            "P",
            "u",
            pb::Environment::Prod,
            &folder,
            name,
            b"a,b\n1,2\n3,4\n",
            1000,
        )
        else {
            panic!("a sheet");
        };
        assert_eq!(batch_id, sheet_batch_id(name));
        assert_eq!(template.source, name);
        assert_eq!(template.max_file_rows, 1000);
        assert_eq!(template.operation, pb::Operation::Insert as i32);
        assert!(template.rows.is_empty() && template.batch_id.is_none());
        assert_eq!(sheet.expect("read").rows.len(), 2);
    }
}
