//! The file operations both file doors offer, as calls to core: what a path lists, what it
//! is, a feedback file's bytes, storing an upload (delivered, or held under a temporary
//! name), delivery by rename, removal. Refusals are door-neutral ([`FileError`]); each door
//! words them in its protocol (an FTP reply code, an SFTP status).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use tracing::field::Empty;
use tracing::Instrument;
use wharf_proto::json::value_text;
use wharf_proto::trace;
use wharf_proto::v1 as pb;
use wharf_proto::CoreClient;
use wharf_sheet::send::{self, Sent};

use crate::door::Door;
use crate::drain::{Transfer, Transfers};
use crate::names::{self, Content};
use crate::tree::{self, Folder, Node, FEEDBACK_SUFFIX};
use crate::user::FileUser;

/// Why a file operation was refused. The message is for the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// No such file.
    Missing,
    /// No such folder.
    NoFolder,
    /// Not allowed here (the tree is fixed; uploads go into interface folders; only feedback
    /// and temporary files can be removed).
    Denied(String),
    /// The name cannot be delivered (core kept no feedback file for it): final, do not retry.
    NameRefused(String),
    /// Over the size limit.
    TooLarge(String),
    /// The server is shutting down: try again in a moment.
    ShuttingDown(String),
    /// Core did not answer: try again.
    CoreDown(String),
    /// The transfer broke before its end: nothing of it was used.
    Broken(String),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Missing => f.write_str("no such file"),
            FileError::NoFolder => f.write_str("no such folder"),
            FileError::Denied(m)
            | FileError::NameRefused(m)
            | FileError::TooLarge(m)
            | FileError::ShuttingDown(m)
            | FileError::CoreDown(m)
            | FileError::Broken(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FileError {}

fn core_down(s: tonic::Status) -> FileError {
    tracing::warn!(code = ?s.code(), msg = s.message(), "core call failed");
    FileError::CoreDown(format!("core unavailable, retry: {}", s.message()))
}

fn denied(why: &str) -> FileError {
    FileError::Denied(why.to_string())
}

/// A file or folder of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub dir: bool,
    pub len: u64,
    pub modified: SystemTime,
}

impl Entry {
    /// A folder of the virtual tree: it exists as long as the partner's interface does, so
    /// it is dated now (not 1970, which clients show as a broken date).
    fn dir(name: &str) -> Entry {
        Entry {
            name: name.to_string(),
            dir: true,
            len: 0,
            modified: SystemTime::now(),
        }
    }

    fn file(name: String, len: u64, created_unix: i64) -> Entry {
        Entry {
            name,
            dir: false,
            len,
            modified: UNIX_EPOCH + Duration::from_secs(created_unix.max(0) as u64),
        }
    }

    /// Folders `rwxr-xr-x`, files `rw-r--r--`: nothing in the tree is executable.
    pub fn mode(&self) -> u32 {
        if self.dir {
            0o755
        } else {
            0o644
        }
    }
}

/// How big an upload may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest upload accepted, in bytes.
    pub max_file_bytes: u64,
    /// Most data rows one sheet may hold (0: no limit).
    pub max_file_rows: u64,
}

/// The largest file a temporary name holds: core keeps it whole and hands it back in one gRPC
/// message (64 MiB at most).
pub const MAX_TEMPORARY_BYTES: u64 = 60 << 20;

/// The file operations of one door, all of them calls to core. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Files {
    core: CoreClient,
    door: Door,
    env: pb::Environment,
    limits: Limits,
    /// Uploads in progress, shared by every session: shutdown waits for them.
    transfers: Transfers,
}

impl Files {
    pub fn new(
        core: CoreClient,
        door: Door,
        env: pb::Environment,
        limits: Limits,
        transfers: Transfers,
    ) -> Files {
        Files {
            core,
            door,
            env,
            limits,
            transfers,
        }
    }

    fn file_ref(&self, user: &FileUser, folder: &Folder, name: &str) -> pb::FileRef {
        pb::FileRef {
            partner: user.partner.clone(),
            environment: self.env as i32,
            data_category: folder.data_category.clone(),
            biz_key: folder.biz_key.clone(),
            name: name.to_string(),
        }
    }

    fn list_request(&self, user: &FileUser, folder: &Folder) -> pb::ListFilesRequest {
        pb::ListFilesRequest {
            partner: user.partner.clone(),
            environment: self.env as i32,
            data_category: folder.data_category.clone(),
            biz_key: folder.biz_key.clone(),
        }
    }

    async fn feedback(
        &self,
        user: &FileUser,
        folder: &Folder,
        name: &str,
    ) -> Result<pb::GetFileResponse, FileError> {
        let mut core = self.core.clone();
        core.get_file(self.file_ref(user, folder, name))
            .await
            .map(tonic::Response::into_inner)
            .map_err(core_down)
    }

    /// The files a folder holds under temporary names.
    async fn held(
        &self,
        user: &FileUser,
        folder: &Folder,
    ) -> Result<Vec<pb::FilePartInfo>, FileError> {
        let mut core = self.core.clone();
        Ok(core
            .list_file_parts(self.list_request(user, folder))
            .await
            .map_err(core_down)?
            .into_inner()
            .parts)
    }

    /// What `path` is.
    pub async fn stat(&self, user: &FileUser, path: &Path) -> Result<Entry, FileError> {
        let base = tree::normalize(path).pop().unwrap_or_else(|| "/".into());
        match tree::resolve(path, &user.partner, &user.interfaces) {
            Node::Dir(_) | Node::Interface(_) | Node::Feedback(_) => Ok(Entry::dir(&base)),
            Node::FeedbackFile(folder, name) => {
                let f = self.feedback(user, &folder, &name).await?;
                match (f.found, f.info) {
                    (true, Some(info)) => {
                        Ok(Entry::file(base, info.answer_size, info.created_unix))
                    }
                    _ => Err(FileError::Missing),
                }
            }
            Node::Upload(folder, name) if names::is_temporary(&name) => self
                .held(user, &folder)
                .await?
                .into_iter()
                .find(|p| p.name == name)
                .map(|p| Entry::file(base, p.size, p.received_unix))
                .ok_or(FileError::Missing),
            // A delivered file is consumed (never listed), but its name answers with the
            // size and time it was delivered, so a client can check its upload (FTP SIZE and
            // MDTM, SFTP stat).
            Node::Upload(folder, name) => {
                let f = self.feedback(user, &folder, &name).await?;
                match (f.found, f.info) {
                    (
                        true,
                        Some(pb::FileInfo {
                            size: Some(size),
                            created_unix,
                            ..
                        }),
                    ) => Ok(Entry::file(base, size, created_unix)),
                    _ => Err(FileError::Missing),
                }
            }
            Node::Missing => Err(FileError::Missing),
        }
    }

    /// Whether `path` is a folder of the tree.
    pub fn is_folder(&self, user: &FileUser, path: &Path) -> bool {
        matches!(
            tree::resolve(path, &user.partner, &user.interfaces),
            Node::Dir(_) | Node::Interface(_) | Node::Feedback(_)
        )
    }

    /// What the folder `path` holds.
    pub async fn list(&self, user: &FileUser, path: &Path) -> Result<Vec<Entry>, FileError> {
        match tree::resolve(path, &user.partner, &user.interfaces) {
            Node::Dir(children) => Ok(children.iter().map(|c| Entry::dir(c)).collect()),
            // Uploads are consumed on arrival: the folder holds `feedback/` and the files held
            // under a temporary name until they are renamed.
            Node::Interface(folder) => {
                let mut entries = vec![Entry::dir("feedback")];
                entries.extend(
                    self.held(user, &folder)
                        .await?
                        .into_iter()
                        .map(|p| Entry::file(p.name, p.size, p.received_unix)),
                );
                Ok(entries)
            }
            Node::Feedback(folder) => {
                let mut core = self.core.clone();
                let files = core
                    .list_files(self.list_request(user, &folder))
                    .await
                    .map_err(core_down)?
                    .into_inner()
                    .files;
                Ok(files
                    .into_iter()
                    .map(|f| {
                        Entry::file(
                            format!("{}{FEEDBACK_SUFFIX}", f.name),
                            f.answer_size,
                            f.created_unix,
                        )
                    })
                    .collect())
            }
            _ => Err(FileError::NoFolder),
        }
    }

    /// A feedback file's bytes (the only files that can be read).
    pub async fn read(&self, user: &FileUser, path: &Path) -> Result<Vec<u8>, FileError> {
        let Node::FeedbackFile(folder, name) = tree::resolve(path, &user.partner, &user.interfaces)
        else {
            return Err(FileError::Missing);
        };
        let f = self.feedback(user, &folder, &name).await?;
        if !f.found {
            return Err(FileError::Missing);
        }
        Ok(f.answer.into_bytes())
    }

    /// Where an upload to `path` goes, and the most bytes it may hold; refused unless it goes
    /// into an interface folder.
    pub fn upload_target(
        &self,
        user: &FileUser,
        path: &Path,
    ) -> Result<(Folder, String, u64), FileError> {
        let Node::Upload(folder, name) = tree::resolve(path, &user.partner, &user.interfaces)
        else {
            return Err(denied(
                "uploads go into a /Planning/SCC/{appName}/{data_category}/{biz_key}/ folder",
            ));
        };
        let limit = if names::is_temporary(&name) {
            self.limits.max_file_bytes.min(MAX_TEMPORARY_BYTES)
        } else {
            self.limits.max_file_bytes
        };
        Ok((folder, name, limit))
    }

    /// Begin an upload: held until its answer is back, so a stopping server waits for it
    /// (see [`Transfers`]). Refused while the server is shutting down.
    pub fn begin(&self) -> Result<Transfer, FileError> {
        self.transfers.start().ok_or_else(|| {
            FileError::ShuttingDown(
                "the server is shutting down: send the file again in a moment".into(),
            )
        })
    }

    /// Read one upload whole, at most `limit` bytes. A transfer that breaks (the connection
    /// reset, an abort) is an error: nothing of it is used.
    pub async fn read_whole<R: tokio::io::AsyncRead + Unpin>(
        input: R,
        limit: u64,
    ) -> Result<Vec<u8>, FileError> {
        // Bounded: never hold more than the limit (plus one byte to notice it was crossed).
        let mut bytes = Vec::new();
        input
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| FileError::Broken(e.to_string()))?;
        if bytes.len() as u64 > limit {
            return Err(too_large(limit));
        }
        Ok(bytes)
    }

    /// A whole upload of `name` into `folder`: a temporary name is held by core, not read,
    /// until a rename delivers it; any other name is delivered now. The bytes stored.
    pub async fn store(
        &self,
        user: &FileUser,
        folder: &Folder,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<u64, FileError> {
        if names::is_temporary(name) {
            return self.hold(user, folder, name, bytes).await;
        }
        let span = self.upload_span(user, folder, name);
        self.deliver(user, folder, name, bytes)
            .instrument(span)
            .await
    }

    async fn hold(
        &self,
        user: &FileUser,
        folder: &Folder,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<u64, FileError> {
        let size = bytes.len() as u64;
        let limit = self.limits.max_file_bytes.min(MAX_TEMPORARY_BYTES);
        if size > limit {
            return Err(too_large(limit));
        }
        let mut core = self.core.clone();
        core.put_file_part(pb::PutFilePartRequest {
            file: Some(self.file_ref(user, folder, name)),
            content: bytes,
        })
        .await
        .map_err(core_down)?;
        tracing::info!(partner = %user.partner, file = %name, bytes = size, door = ?self.door, "file held under a temporary name");
        Ok(size)
    }

    /// Hand a whole file delivered as `name` to core and log core's answer.
    async fn deliver(
        &self,
        user: &FileUser,
        folder: &Folder,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<u64, FileError> {
        if bytes.len() as u64 > self.limits.max_file_bytes {
            return Err(too_large(self.limits.max_file_bytes));
        }
        let size = bytes.len() as u64;
        // Reading a sheet or a large JSON file is CPU work: off the door's runtime thread, so
        // other sessions keep moving (the FTP door runs its sessions on one thread).
        let upload = {
            let (partner, username) = (user.partner.clone(), user.username.clone());
            let (env, folder, name) = (self.env, folder.clone(), name.to_string());
            let max_file_rows = self.limits.max_file_rows;
            tokio::task::spawn_blocking(move || {
                upload_request(
                    &partner,
                    &username,
                    env,
                    &folder,
                    &name,
                    bytes,
                    max_file_rows,
                )
            })
            .await
            .map_err(|e| FileError::CoreDown(format!("reading the file failed: {e}")))?
        };
        let span = tracing::Span::current();
        span.record("bytes", size);
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
                mut sheet,
            } => {
                send::map_sheet(&mut core, &template, &mut sheet)
                    .await
                    .map_err(core_down)?;
                span.record("batch_id", batch_id.as_str());
                if let Ok(s) = &sheet {
                    span.record("rows", s.len());
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
        tracing::info!(partner = %user.partner, file = %name, code = %answer.code, bytes = size, door = ?self.door, "file delivered");
        if answer.not_kept {
            // Core refused the name itself and could keep no feedback file under it: a final
            // refusal, so the partner does not retry it.
            return Err(FileError::NameRefused(answer.msg));
        }
        Ok(size)
    }

    /// Rename a temporary name to a delivery name in the same folder: the held file is
    /// delivered under the new name exactly as an upload of it would be (feedback, dedupe by
    /// name), then forgotten. Two sessions renaming one file at once deliver one name: core
    /// answers the second as a re-delivery.
    pub async fn rename(&self, user: &FileUser, from: &Path, to: &Path) -> Result<(), FileError> {
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
            return Err(FileError::NameRefused(
                "rename to the delivery name (a temporary name is not delivered)".into(),
            ));
        }
        let _transfer = self.transfers.start().ok_or_else(|| {
            FileError::ShuttingDown(
                "the server is shutting down: rename the file again in a moment".into(),
            )
        })?;
        let mut core = self.core.clone();
        let part = core
            .get_file_part(self.file_ref(user, &folder, &held))
            .await
            .map_err(core_down)?
            .into_inner();
        if !part.found {
            return Err(FileError::Missing);
        }
        let span = self.upload_span(user, &folder, &name);
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

    /// Remove a feedback file or a file held under a temporary name (nothing else can be).
    pub async fn remove(&self, user: &FileUser, path: &Path) -> Result<(), FileError> {
        let mut core = self.core.clone();
        let deleted = match tree::resolve(path, &user.partner, &user.interfaces) {
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
            Err(FileError::Missing)
        }
    }

    /// The span of one delivery of `name`, a child of the session's login.
    fn upload_span(&self, user: &FileUser, folder: &Folder, name: &str) -> tracing::Span {
        macro_rules! span {
            ($name:literal) => {
                tracing::info_span!(
                    $name,
                    otel.kind = "server",
                    partner = %user.partner,
                    interface = %format_args!("{}/{}", folder.data_category, folder.biz_key),
                    file = %name,
                    bytes = Empty,
                    batch_id = Empty,
                    seq_id = Empty,
                    rows = Empty,
                    code = Empty,
                )
            };
        }
        let span = match self.door {
            Door::Ftp => span!("ftp upload"),
            Door::Sftp => span!("sftp upload"),
        };
        trace::adopt(&span, &user.session);
        span
    }
}

fn too_large(limit: u64) -> FileError {
    FileError::TooLarge(format!("the file is larger than {limit} bytes"))
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
    /// a name that breaks the file doors' naming rule.
    One(pb::IngestBatchRequest),
    /// A sheet, sent as ONE batch of sequences of up to 5,000 rows by the sender the upload
    /// page shares (`wharf_sheet::send`), under a batch_id derived from the file name. Every
    /// sequence names the file, so core records one answer for the whole file.
    Sheet {
        template: pb::IngestBatchRequest,
        batch_id: String,
        sheet: Result<wharf_sheet::SheetFile, wharf_sheet::SheetError>,
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
    bytes: Vec<u8>,
    max_file_rows: u64,
) -> Upload {
    let mut req = pb::IngestBatchRequest {
        file_bytes: bytes.len() as u64,
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
            wharf_proto::json::read_envelope(&bytes, &mut req);
            return Upload::One(req);
        }
        Content::Csv => wharf_sheet::Format::Csv,
        Content::Xlsx => wharf_sheet::Format::Xlsx,
    };
    req.max_file_rows = max_file_rows;
    Upload::Sheet {
        template: req,
        batch_id: sheet_batch_id(name),
        sheet: wharf_sheet::open(format, bytes.into(), &wharf_sheet::Limits::default()),
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
            b"{}".to_vec(),
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
            br#"{"batch_id":"B"}"#.to_vec(),
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
            b"a,b\n1,2\n3,4\n".to_vec(),
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
        assert_eq!(sheet.expect("read").len(), 2);
    }
}
