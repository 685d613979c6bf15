//! [`Core`]: the one entry point to wharf's rules, used by the gRPC server and the CLI alike.

use std::sync::Arc;

use wharf_proto::json::value_text;
use wharf_proto::v1 as pb;

use crate::audit::{Entry, Filter, Kind, Origin, Record};
use crate::auth;
use crate::batch::file::FileAnswer;
use crate::batch::{self, actions, actions::Action, view};
use crate::clock::{self, Clock};
use crate::codes::{self, code};
use crate::error::{CoreError, Result};
use crate::interfaces::{Interface, Registry};
use crate::model::{
    BatchPolicy, DefenderPolicy, Environment, Operation, Scope, TokenKind, Transport,
};
use crate::store::sql::latest_schema_version;
use crate::store::views;
use crate::store::{FileRow, PartRow, PartnerRow, Store, TokenRow, UserRow};
use crate::validate::{self, SequenceInput, MAX_BATCH_ID_CHARS};
use wharf_metrics::Metrics;

pub use crate::clock::now_unix;

fn file_info(f: &FileRow) -> pb::FileInfo {
    pb::FileInfo {
        name: f.name.clone(),
        code: f.code.clone(),
        answer_size: f.answer.len() as u64,
        created_unix: f.created_unix,
        size: f.size,
    }
}

/// How long a file held under a temporary name is kept by default: a day.
pub const DEFAULT_PART_MAX_AGE_SECS: i64 = 24 * 3600;

fn part_info(p: &PartRow) -> pb::FilePartInfo {
    pb::FilePartInfo {
        name: p.name.clone(),
        size: p.size,
        received_unix: p.received_unix,
    }
}

/// Longest a readiness check waits for the store.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A request that names a data space: partner, environment and interface.
trait ScopedRequest {
    fn scope_parts(&self) -> (&str, i32, &str, &str);
}

macro_rules! scoped_request {
    ($($t:ty),+) => {$(
        impl ScopedRequest for $t {
            fn scope_parts(&self) -> (&str, i32, &str, &str) {
                (&self.partner, self.environment, &self.data_category, &self.biz_key)
            }
        }
    )+};
}

scoped_request!(
    pb::IngestBatchRequest,
    pb::ListFilesRequest,
    pb::FileRef,
    pb::GetBatchRequest,
    pb::BatchActionRequest
);

/// Core's tunables.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub batch: BatchPolicy,
    /// Lifetime of an OAuth2 access token.
    pub token_ttl_secs: u64,
    /// Lifetime of an upload-page session (StartSession's token).
    pub session_ttl_secs: u64,
    /// The defender: failed logins scored per address and name, bans (the `defender` module).
    pub defender: DefenderPolicy,
    /// Files held under a temporary name (delivery by rename) older than this are removed by
    /// housekeeping.
    pub part_max_age_secs: i64,
    /// Audit records older than this are pruned by housekeeping.
    pub audit_retention_secs: i64,
    /// Change-feed events older than this are pruned by housekeeping.
    pub feed_retention_secs: i64,
}

/// How long the audit trail is kept by default: 400 days.
pub const DEFAULT_AUDIT_RETENTION_SECS: i64 = 400 * 86_400;
/// How long change-feed events are kept by default: 30 days.
pub const DEFAULT_FEED_RETENTION_SECS: i64 = 30 * 86_400;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch: BatchPolicy::default(),
            token_ttl_secs: 3600,
            session_ttl_secs: 8 * 3600,
            defender: DefenderPolicy::default(),
            part_max_age_secs: DEFAULT_PART_MAX_AGE_SECS,
            audit_retention_secs: DEFAULT_AUDIT_RETENTION_SECS,
            feed_retention_secs: DEFAULT_FEED_RETENTION_SECS,
        }
    }
}

/// Who a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub partner: String,
    /// `None` for a client-credentials token.
    pub user: Option<String>,
    pub interfaces: Vec<String>,
}

/// The core service: registry + store + settings.
#[derive(Clone)]
pub struct Core {
    pub(crate) store: Arc<dyn Store>,
    registry: Arc<Registry>,
    settings: Settings,
    /// Seals and opens outbound credentials; `None`: outbound push is off (SPEC §7.1).
    pub(crate) secret_key: Option<Arc<crate::secret::SecretKey>>,
    /// Every "now" of core comes from here (the system clock unless a test set another).
    clock: Clock,
    /// Shared by every clone: what `/metrics` reports for this process.
    metrics: Metrics,
    /// The SFTP host key given to core (`WHARF_SFTP_HOST_KEY_FILE`); `None`: the one kept in
    /// the store.
    pub(crate) sftp_host_key: Option<Arc<str>>,
    /// When this process's last compaction round marked spent versions (unix seconds; 0:
    /// never): the next round looks only at batches settled since a minute before it.
    compact_mark: Arc<std::sync::atomic::AtomicI64>,
}

/// Whether a batch with this id could exist (see `validate::could_be_key`).
fn could_be_batch_id(id: &str) -> bool {
    validate::could_be_key(id, MAX_BATCH_ID_CHARS)
}

/// NotFound for a batch id no batch can have (nothing to look up).
fn batch_id_could_exist(id: &str) -> Result<()> {
    if could_be_batch_id(id) {
        Ok(())
    } else {
        Err(CoreError::NotFound(format!("batch {id:?}")))
    }
}

/// Longest partner or user name.
const MAX_NAME_CHARS: usize = 64;

pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "{what} {name:?}: use 1-64 letters, digits, '_', '-' or '.'"
        )))
    }
}

/// The one rule of who may act at all, on every door: a disabled partner is refused, and so
/// is a disabled user or one that is not the partner's. Everything a credential opens
/// (`principal`, `check_client`) and everything a session already open sends (`interface_for`,
/// ingest) passes here; the refusal is the same as a bad credential's.
pub(crate) fn admit(p: &PartnerRow, u: Option<&UserRow>) -> Result<()> {
    if p.disabled {
        tracing::info!(partner = %p.name, "refused: the partner is disabled");
        return Err(CoreError::Unauthenticated);
    }
    if let Some(u) = u {
        if u.disabled || u.partner != p.name {
            tracing::info!(user = %u.username, "refused: the user is disabled");
            return Err(CoreError::Unauthenticated);
        }
    }
    Ok(())
}

impl Core {
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, settings: Settings) -> Core {
        Core {
            store,
            registry,
            settings,
            clock: clock::system(),
            secret_key: None,
            sftp_host_key: None,
            compact_mark: Arc::default(),
            metrics: Metrics::default(),
        }
    }

    /// The same core with the key that seals outbound credentials (`WHARF_SECRET_KEY`).
    pub fn with_secret_key(mut self, key: crate::secret::SecretKey) -> Core {
        self.secret_key = Some(Arc::new(key));
        self
    }

    /// The same core presenting `pem` (an OpenSSH private key, checked by
    /// [`crate::ssh::read_host_key`]) as the SFTP host key instead of the stored one.
    pub fn with_sftp_host_key(mut self, pem: String) -> Core {
        self.sftp_host_key = Some(Arc::from(pem));
        self
    }

    /// The same core reading time from `clock` (tests move time instead of waiting).
    pub fn with_clock(mut self, clock: Clock) -> Core {
        self.clock = clock;
        self
    }

    /// Core's tunables.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Now, by core's clock.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// This process's counters (rendered by `metrics::render`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The same core counting into `metrics` (the process's one registry, shared with the
    /// front-ends `wharf serve` runs beside it).
    pub fn with_metrics(mut self, metrics: Metrics) -> Core {
        self.metrics = metrics;
        self
    }

    /// Whether core can serve: its store answers within [`READY_TIMEOUT`] and has every
    /// migration this build knows. `Err` says why, briefly (no addresses, no credentials;
    /// the detail goes to the log).
    pub async fn ready(&self) -> std::result::Result<(), String> {
        // A broken PostgreSQL pool can wait on a connect or a full pool: never hang a probe.
        match tokio::time::timeout(READY_TIMEOUT, self.store.schema_version()).await {
            Err(_) => Err(format!(
                "store did not answer within {} s",
                READY_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: store unreachable");
                Err("store unreachable".into())
            }
            Ok(Ok(v)) if v < latest_schema_version() => Err(format!(
                "store migrations pending (at version {v}, this build needs {})",
                latest_schema_version()
            )),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// The partner named `name`, if there is one. A name that could never have been given
    /// (control characters, too long) is not looked up: it is simply not found, on every store.
    pub(crate) async fn partner_named(&self, name: &str) -> Result<Option<PartnerRow>> {
        if !validate::could_be_key(name, MAX_NAME_CHARS) {
            return Ok(None);
        }
        self.store.partner(name).await
    }

    /// The user named `name`, if there is one (looked up like [`Core::partner_named`]).
    pub(crate) async fn user_named(&self, name: &str) -> Result<Option<UserRow>> {
        if !validate::could_be_key(name, MAX_NAME_CHARS) {
            return Ok(None);
        }
        self.store.user(name).await
    }

    fn interfaces_of(&self, p: &PartnerRow) -> Vec<String> {
        match &p.interfaces {
            Some(list) => list.clone(),
            None => self.registry.all().map(Interface::id).collect(),
        }
    }

    /// Who a checked credential stands for, if they may act: the partner and the user (when
    /// one) exist and pass [`admit`]. Every login, every token and every SSH key ends here.
    pub(crate) async fn principal(&self, partner: &str, user: Option<String>) -> Result<Principal> {
        let p = self
            .partner_named(partner)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let u = match &user {
            Some(name) => Some(
                self.user_named(name)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?,
            ),
            None => None,
        };
        admit(&p, u.as_ref())?;
        Ok(Principal {
            interfaces: self.interfaces_of(&p),
            partner: p.name,
            user,
        })
    }

    /// A random bearer token of `kind` for `partner`/`user`, stored hashed, living `ttl`
    /// seconds.
    pub(crate) async fn new_token(
        &self,
        partner: String,
        user: Option<String>,
        kind: TokenKind,
        ttl: u64,
    ) -> Result<pb::IssueTokenResponse> {
        let (token, hash) = auth::new_token();
        let now = self.now();
        let row = TokenRow {
            id: auth::new_token_id(),
            partner,
            username: user,
            issued_unix: now,
            expires_unix: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            kind: kind.as_str().to_string(),
            last_used_unix: None,
        };
        self.store.insert_token(&hash, &row).await?;
        Ok(pb::IssueTokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: ttl,
        })
    }

    /// Upload page logout: the token stops working at once. `false` when it was unknown
    /// (already ended, expired and purged, or never issued).
    pub async fn end_session(&self, token: &str) -> Result<bool> {
        self.store.delete_token(&auth::token_hash(token)).await
    }

    /// The interface a partner asked for, if it exists and the partner may use it.
    pub(crate) async fn interface_for(
        &self,
        partner: &str,
        category: &str,
        biz_key: &str,
    ) -> Result<&Interface> {
        let p = self
            .partner_named(partner)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {partner}")))?;
        // A disabled partner's sessions already open (FTP, SFTP) are refused here too.
        admit(&p, None)?;
        self.allowed_interface(&p, category, biz_key)
    }

    /// The interface, if it exists and partner `p` may use it (`None` of `p.interfaces`: all).
    pub(crate) fn allowed_interface(
        &self,
        p: &PartnerRow,
        category: &str,
        biz_key: &str,
    ) -> Result<&Interface> {
        let not_found = || CoreError::NotFound(format!("interface {category}/{biz_key}"));
        let iface = self.registry.get(category, biz_key).ok_or_else(not_found)?;
        if p.interfaces
            .as_ref()
            .is_some_and(|l| !l.contains(&iface.id()))
        {
            return Err(not_found());
        }
        Ok(iface)
    }

    /// One sequence through every rule (see `batch`), counted in [`Metrics`] by door and
    /// answer code whichever door sent it. A file door's delivery (transport FTP
    /// with a file name in `source`) is answered once per name; the answer is kept as the
    /// file's feedback.
    pub async fn ingest(&self, req: &pb::IngestBatchRequest) -> Result<pb::IngestBatchResponse> {
        let started = std::time::Instant::now();
        let res = self.ingest_counted(req).await;
        let door = Transport::from_proto(req.transport).batch_source();
        if res.as_ref().is_ok_and(|r| r.content_differs) {
            crate::metrics::resend_conflict(&self.metrics, door);
        }
        crate::metrics::sequence(
            &self.metrics,
            door,
            req.rows.len(),
            res.as_ref().ok().map(|r| r.code.as_str()),
            started.elapsed(),
        );
        res
    }

    async fn ingest_counted(
        &self,
        req: &pb::IngestBatchRequest,
    ) -> Result<pb::IngestBatchResponse> {
        let file_door =
            Transport::from_proto(req.transport) == Transport::Ftp && !req.source.is_empty();
        if !file_door {
            return self.ingest_sequence(req).await;
        }
        let scope = self.scope_of(req).await?;
        if let Some(why) = validate::file_name_fault(&req.source) {
            // The name cannot be the key of its feedback: nothing of the file is read or kept,
            // and the door gives this answer in its own reply.
            let mut answer = codes::refuse_source(&why);
            answer.not_kept = true;
            return Ok(answer);
        }
        if let Some(first) = self.store.file(&scope, &req.source).await? {
            // Not read again. Its feedback now says so, naming how it was first answered.
            if first.code == code::CONSUMED {
                return Ok(codes::file_consumed(&req.source, "earlier"));
            }
            let answer = codes::file_consumed(&req.source, &first.code);
            let again = FileRow {
                name: req.source.clone(),
                code: answer.code.clone(),
                answer: wharf_proto::json::answer_json_text(&answer),
                created_unix: self.now(),
                size: Some(req.file_bytes),
            };
            self.store.delete_file(&scope, &req.source).await?;
            self.store.insert_file(&scope, &again).await?;
            return Ok(answer);
        }
        let answer = if !req.bad_source.is_empty() {
            codes::refuse_source(&req.bad_source)
        } else if req.max_file_rows > 0 && req.file_rows > req.max_file_rows {
            codes::file_over_row_limit(req.file_rows, req.max_file_rows)
        } else if req.file_sequences > 1 {
            // One file, several sequences of one batch: its answer waits until the file is
            // settled (`batch::file`); each sequence gets its own answer meanwhile.
            let answer = self.ingest_sequence(req).await?;
            let last = value_text(&req.seq_id) == req.file_sequences.to_string();
            let batch_id = value_text(&req.batch_id);
            if !could_be_batch_id(&batch_id) {
                // No batch could exist under it: this sequence's answer is the file's.
                self.record_file(&scope, &req.source, req.file_bytes, &answer)
                    .await?;
                return Ok(answer);
            }
            if let Some(settled) = batch::file::settle(
                self.store.as_ref(),
                self.settings.batch,
                &scope,
                &req.source,
                &batch_id,
                last,
                Some(&answer),
                self.now(),
            )
            .await?
            {
                self.record_file(&scope, &req.source, req.file_bytes, settled)
                    .await?;
            }
            return Ok(answer);
        } else {
            self.ingest_sequence(req).await?
        };
        if let Some(first) = self
            .record_file(&scope, &req.source, req.file_bytes, &answer)
            .await?
        {
            // Delivered twice at the same moment: the first answer recorded stands.
            return Ok(codes::file_consumed(&req.source, &first));
        }
        Ok(answer)
    }

    /// Keep `answer` as the feedback of file `name` (of `size` bytes, when known). When the
    /// name already has an answer (delivered twice at the same moment) that one stands: its
    /// code is returned.
    async fn record_file(
        &self,
        scope: &Scope,
        name: &str,
        size: impl Into<Option<u64>>,
        answer: impl Into<FileAnswer>,
    ) -> Result<Option<String>> {
        let size = size.into();
        let answer: FileAnswer = answer.into();
        let mut e = Entry::new(Kind::File, "file.delivered", &scope.partner, "");
        e.detail = serde_json::json!({"name": name, "code": answer.code, "size": size,
            "environment": scope.env.as_str(), "interface": scope.iface});
        self.audit_event(
            &Origin {
                actor: format!("partner:{}", scope.partner),
                door: "ftp".into(),
                addr: String::new(),
            },
            e,
        )
        .await?;
        let file = FileRow {
            name: name.to_string(),
            code: answer.code.clone(),
            answer: answer.json,
            created_unix: self.now(),
            size,
        };
        if self.store.insert_file(scope, &file).await? {
            return Ok(None);
        }
        let first = self.store.file(scope, name).await?;
        match first {
            // A copy of this very delivery (the same name sent twice at once) recorded first
            // and was told its sequence was consumed: nothing of it was applied, so the
            // answer of the delivery that did the work is the file's feedback.
            Some(f) if f.code == code::CONSUMED && answer.code != code::CONSUMED => {
                self.store.delete_file(scope, name).await?;
                self.store.insert_file(scope, &file).await?;
                Ok(None)
            }
            other => Ok(other.map(|f| f.code)),
        }
    }

    /// The data space a request names, if its interface exists and its partner may use it.
    async fn scope_of(&self, req: &impl ScopedRequest) -> Result<Scope> {
        let (partner, environment, category, biz_key) = req.scope_parts();
        let iface = self.interface_for(partner, category, biz_key).await?;
        Ok(Scope {
            partner: partner.to_string(),
            env: Environment::from_proto(environment),
            iface: iface.id(),
        })
    }

    /// A file door's delivered files of one interface.
    pub async fn list_files(&self, req: &pb::ListFilesRequest) -> Result<Vec<pb::FileInfo>> {
        let scope = self.scope_of(req).await?;
        Ok(self
            .store
            .files(&scope)
            .await?
            .iter()
            .map(file_info)
            .collect())
    }

    /// One delivered file and its answer.
    pub async fn get_file(&self, req: &pb::FileRef) -> Result<pb::GetFileResponse> {
        let scope = self.scope_of(req).await?;
        if validate::file_name_fault(&req.name).is_some() {
            return Ok(pb::GetFileResponse::default());
        }
        Ok(match self.store.file(&scope, &req.name).await? {
            Some(f) => pb::GetFileResponse {
                found: true,
                info: Some(file_info(&f)),
                answer: f.answer,
            },
            None => pb::GetFileResponse::default(),
        })
    }

    /// Forget a delivered file's answer (the partner deletes its feedback file). The name
    /// may then be delivered again.
    pub async fn delete_file(&self, req: &pb::FileRef) -> Result<bool> {
        let scope = self.scope_of(req).await?;
        if validate::file_name_fault(&req.name).is_some() {
            return Ok(false);
        }
        self.store.delete_file(&scope, &req.name).await
    }

    /// Keep a file a file door received under a temporary name (delivery by rename). Its
    /// bytes are not read: only the rename to a delivery name makes it a delivery.
    pub async fn put_file_part(&self, req: &pb::PutFilePartRequest) -> Result<()> {
        let file = req
            .file
            .as_ref()
            .ok_or_else(|| CoreError::Invalid("file is required".into()))?;
        let scope = self.scope_of(file).await?;
        if let Some(why) = validate::file_name_fault(&file.name) {
            return Err(CoreError::Invalid(format!("file name: {why}")));
        }
        self.store
            .put_part(&scope, &file.name, &req.content, self.now())
            .await
    }

    /// The files a folder holds under temporary names.
    pub async fn list_file_parts(
        &self,
        req: &pb::ListFilesRequest,
    ) -> Result<Vec<pb::FilePartInfo>> {
        let scope = self.scope_of(req).await?;
        Ok(self
            .store
            .parts(&scope)
            .await?
            .iter()
            .map(part_info)
            .collect())
    }

    /// One file held under a temporary name, with its bytes.
    pub async fn get_file_part(&self, req: &pb::FileRef) -> Result<pb::GetFilePartResponse> {
        let scope = self.scope_of(req).await?;
        if validate::file_name_fault(&req.name).is_some() {
            return Ok(pb::GetFilePartResponse::default());
        }
        Ok(match self.store.part(&scope, &req.name).await? {
            Some((info, content)) => pb::GetFilePartResponse {
                found: true,
                info: Some(part_info(&info)),
                content,
            },
            None => pb::GetFilePartResponse::default(),
        })
    }

    /// Forget a file held under a temporary name (deleted, or delivered by its rename).
    pub async fn delete_file_part(&self, req: &pb::FileRef) -> Result<bool> {
        let scope = self.scope_of(req).await?;
        if validate::file_name_fault(&req.name).is_some() {
            return Ok(false);
        }
        self.store.delete_part(&scope, &req.name).await
    }

    async fn ingest_sequence(
        &self,
        req: &pb::IngestBatchRequest,
    ) -> Result<pb::IngestBatchResponse> {
        let iface = self
            .interface_for(&req.partner, &req.data_category, &req.biz_key)
            .await?;
        if !req.user.is_empty() {
            // A disabled user's session already open sends nothing more. (`user` is a label
            // a trusted gRPC caller may set without a user behind it: only a user that
            // exists is judged.)
            if let Some(u) = self.user_named(&req.user).await? {
                let p = self
                    .partner_named(&req.partner)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?;
                admit(&p, Some(&u))?;
            }
        }
        let operation = Operation::from_proto(req.operation)
            .ok_or_else(|| CoreError::Invalid("operation is not set".into()))?;
        let scope = Scope {
            partner: req.partner.clone(),
            env: Environment::from_proto(req.environment),
            iface: iface.id(),
        };
        let creator = if req.user.is_empty() {
            &req.partner
        } else {
            &req.user
        };
        let seq = batch::Sequence {
            scope: &scope,
            iface,
            creator,
            source: &req.source,
            schedule: batch::ScheduleInput {
                instant_execute: req.instant_execute.as_ref(),
                execute_ts: req.execute_ts.as_ref(),
                revert_ts: req.revert_ts.as_ref(),
            },
            check_only: req.check_only,
            input: SequenceInput {
                partner: &req.partner,
                operation,
                transport: Transport::from_proto(req.transport),
                batch_id: req.batch_id.as_ref(),
                batch_size: req.batch_size.as_ref(),
                seq_id: req.seq_id.as_ref(),
                seq_size: req.seq_size.as_ref(),
                app_name: req.app_name.as_ref(),
                has_data: req.has_data,
                rows: &req.rows,
                unknown_envelope_fields: &req.unknown_envelope_fields,
                unreadable: &req.unreadable,
                mistyped_envelope_fields: &req.mistyped_envelope_fields,
            },
        };
        batch::ingest(self.store.as_ref(), self.settings.batch, seq, self.now()).await
    }

    /// A batch's state, if it exists in the partner's scope; with `with_rejections`, the last
    /// answer of each of its sequences that stands rejected.
    pub async fn get_batch(&self, req: &pb::GetBatchRequest) -> Result<pb::GetBatchResponse> {
        let scope = self.scope_of(req).await?;
        self.report_batch(&scope, &req.batch_id, req.with_rejections)
            .await
    }

    async fn report_batch(
        &self,
        scope: &Scope,
        batch_id: &str,
        with_rejections: bool,
    ) -> Result<pb::GetBatchResponse> {
        let found = if could_be_batch_id(batch_id) {
            self.store.batch(scope, batch_id).await?
        } else {
            None
        };
        let Some(b) = found else {
            return Ok(pb::GetBatchResponse {
                found: false,
                batch_id: batch_id.to_string(),
                ..Default::default()
            });
        };
        let pk = b.pk;
        let mut r = view::response(b);
        if with_rejections {
            r.rejections = view::rejections(self.store.rejections(pk).await?)?;
        }
        Ok(r)
    }

    /// The sender gives up on an open batch (see `batch::abandon`); answered like GetBatch
    /// with rejections, unless the sender asks `without_rejections`. An unknown batch is
    /// NotFound.
    pub async fn abandon_batch(&self, req: &pb::GetBatchRequest) -> Result<pb::GetBatchResponse> {
        let scope = self.scope_of(req).await?;
        batch_id_could_exist(&req.batch_id)?;
        let found = batch::abandon(
            self.store.as_ref(),
            self.settings.batch,
            &scope,
            &req.batch_id,
            self.now(),
        )
        .await?;
        if !found {
            return Err(CoreError::NotFound(format!("batch {}", req.batch_id)));
        }
        self.settle_abandoned_file(&scope, &req.batch_id).await?;
        self.report_batch(&scope, &req.batch_id, !req.without_rejections)
            .await
    }

    /// A file door's file sent as several sequences whose sender gave up on its batch gets
    /// its one answer now (`batch::file`), unless it has one already.
    async fn settle_abandoned_file(&self, scope: &Scope, batch_id: &str) -> Result<()> {
        let Some(b) = self.store.batch(scope, batch_id).await? else {
            return Ok(());
        };
        if b.transport != Transport::Ftp
            || validate::file_name_fault(&b.source).is_some()
            || self.store.file(scope, &b.source).await?.is_some()
        {
            return Ok(());
        }
        if let Some(settled) = batch::file::settle(
            self.store.as_ref(),
            self.settings.batch,
            scope,
            &b.source,
            batch_id,
            true,
            None,
            self.now(),
        )
        .await?
        {
            self.record_file(scope, &b.source, None, settled).await?;
        }
        Ok(())
    }

    /// A user acts on a batch by hand: `execute` a held batch now, `revert` an applied one,
    /// `cancel` one that has not run (see `batch_actions`). Answered like GetBatch. NotFound
    /// for an unknown batch; Precondition (with the reason) when its state does not allow it.
    pub async fn act_on_batch(&self, req: &pb::BatchActionRequest) -> Result<pb::GetBatchResponse> {
        // Not `scope_of`: an operator acts on a disabled partner's batches too, and on those of
        // an interface the partner was since denied (cancel what is held, revert what landed).
        // A door's caller passed its credential check, which admits, before it asks.
        let (partner, environment, category, biz_key) = req.scope_parts();
        if self.partner_named(partner).await?.is_none() {
            return Err(CoreError::NotFound(format!("partner {partner}")));
        }
        let iface = self
            .registry
            .get(category, biz_key)
            .ok_or_else(|| CoreError::NotFound(format!("interface {category}/{biz_key}")))?;
        let scope = Scope {
            partner: partner.to_string(),
            env: Environment::from_proto(environment),
            iface: iface.id(),
        };
        let action = Action::parse(&req.action).ok_or_else(|| {
            CoreError::Invalid(format!(
                "action {:?}: use execute, revert or cancel",
                req.action
            ))
        })?;
        let actor = req.actor.trim();
        if actor.is_empty() || actor.chars().count() > 128 || actor.chars().any(char::is_control) {
            return Err(CoreError::Invalid(
                "actor: the user acting, 1-128 printable characters".into(),
            ));
        }
        batch_id_could_exist(&req.batch_id)?;
        actions::act(
            self.store.as_ref(),
            &scope,
            &req.batch_id,
            action,
            actor,
            self.now(),
        )
        .await?;
        self.report_batch(&scope, &req.batch_id, false).await
    }

    /// Run the scheduled executes and reverts that are due now (the scheduler's tick);
    /// returns how many ran.
    pub async fn run_due(&self) -> Result<usize> {
        actions::run_due(self.store.as_ref(), self.now()).await
    }

    /// The partner's interfaces (`data_category/biz_key`) holding a batch with this id in
    /// `env` (batch ids are unique per interface only): the CLI finds a batch by id alone.
    pub async fn interfaces_with_batch(
        &self,
        partner: &str,
        env: Environment,
        batch_id: &str,
    ) -> Result<Vec<String>> {
        let p = self
            .partner_named(partner)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {partner}")))?;
        let mut found = Vec::new();
        if !could_be_batch_id(batch_id) {
            return Ok(found);
        }
        for iface in self.interfaces_of(&p) {
            let scope = Scope {
                partner: partner.to_string(),
                env,
                iface: iface.clone(),
            };
            if self.store.batch(&scope, batch_id).await?.is_some() {
                found.push(iface);
            }
        }
        Ok(found)
    }

    /// The one interface of the partner holding a batch with this id in `env`, for acting on
    /// a batch by id alone: none is NotFound, and an id used in several interfaces is refused
    /// (the caller must name the interface).
    pub async fn interface_of_batch(
        &self,
        partner: &str,
        env: Environment,
        batch_id: &str,
    ) -> Result<String> {
        let mut found = self.interfaces_with_batch(partner, env, batch_id).await?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(CoreError::NotFound(format!(
                "batch {batch_id} of partner {partner} in {}",
                env.as_str()
            ))),
            _ => Err(CoreError::Invalid(format!(
                "batch id {batch_id} is used in several interfaces ({}): say which with --interface",
                found.join(", ")
            ))),
        }
    }

    /// The batches one user of the partner created, over every interface and environment,
    /// newest first, a page at a time (`before` = the last `cursor` seen).
    pub async fn list_batches(
        &self,
        req: &pb::ListBatchesRequest,
    ) -> Result<pb::ListBatchesResponse> {
        if req.user.is_empty() {
            return Err(CoreError::Invalid("user is not set".into()));
        }
        if !validate::could_be_key(&req.user, MAX_NAME_CHARS) {
            // No batch was ever created by a name that cannot be one.
            return Ok(pb::ListBatchesResponse::default());
        }
        if self.partner_named(&req.partner).await?.is_none() {
            return Err(CoreError::NotFound(format!("partner {}", req.partner)));
        }
        let before = match req.before {
            0 => i64::MAX,
            n => i64::try_from(n).unwrap_or(i64::MAX),
        };
        let rows = self
            .store
            .user_batches(&req.partner, &req.user, before, view::page_size(req.limit))
            .await?;
        Ok(pb::ListBatchesResponse {
            batches: rows.into_iter().map(view::response).collect(),
        })
    }

    /// The partner's interfaces with their field definitions.
    pub async fn list_interfaces(&self, partner: &str) -> Result<Vec<pb::InterfaceDef>> {
        let p = self
            .partner_named(partner)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {partner}")))?;
        let allowed = self.interfaces_of(&p);
        Ok(self
            .registry
            .all()
            .filter(|i| allowed.contains(&i.id()))
            .map(interface_def)
            .collect())
    }

    /// Every interface core loaded, whoever may use it: what the partners' API document
    /// describes.
    pub fn all_interfaces(&self) -> Vec<pb::InterfaceDef> {
        self.registry.all().map(interface_def).collect()
    }

    /// Make or replace the store's typed views for SQL tools, one per interface
    /// (`store/views.rs`), under the store's lock for them. Core's start-up calls it (the
    /// servers, not the admin commands); interfaces left without a view are in the report.
    pub async fn install_views(&self) -> Result<views::Report> {
        self.store.install_views(&views::plan(&self.registry)).await
    }

    /// The current records of a partner's interface: one JSON object per row.
    pub async fn export(
        &self,
        partner: &str,
        env: Environment,
        category: &str,
        biz_key: &str,
    ) -> Result<Vec<String>> {
        // Not `interface_for`: a disabled partner's data stays readable by the operator.
        let p = self
            .partner_named(partner)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {partner}")))?;
        let iface = self.allowed_interface(&p, category, biz_key)?;
        let scope = Scope {
            partner: partner.to_string(),
            env,
            iface: iface.id(),
        };
        self.store.records(&scope).await
    }

    /// Expire abandoned batches and purge dead tokens; returns the batches expired.
    /// Record `e` as done by `o` now. An error means it was not recorded: the caller fails
    /// the action it records instead of letting it happen unrecorded.
    pub async fn audit(&self, o: &Origin, e: Entry) -> Result<()> {
        self.store
            .audit()
            .append(&e.row(o, self.now()))
            .await
            .map_err(|err| CoreError::Store(format!("cannot write the audit trail: {err}")))
    }

    /// Record event `e` (one consumers may subscribe to, like `file.delivered`) as done by
    /// `o` now, and queue its webhooks' deliveries in the same transaction.
    pub(crate) async fn audit_event(&self, o: &Origin, e: Entry) -> Result<()> {
        let row = e.row(o, self.now());
        let mut tx = self.store.begin().await?;
        tx.audit(&row).await?;
        if let Some(event) = crate::store::webhooks::Event::from_audit(&row) {
            tx.webhook_event(&event).await?;
        }
        tx.commit()
            .await
            .map_err(|err| CoreError::Store(format!("cannot write the audit trail: {err}")))
    }

    /// Audit records matching `f`, oldest first.
    pub async fn audit_list(&self, f: &Filter) -> Result<Vec<Record>> {
        let rows = self.store.audit().read(&f.query()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, r)| Record::from_row(id, r))
            .collect())
    }

    /// Compaction (`store::versions`): move what can never be current again out of the
    /// records' way, a chunk a transaction, at most 100 chunks a round (the next round goes
    /// on). Returns how many versions moved.
    pub async fn compact(&self) -> Result<u64> {
        use std::sync::atomic::Ordering;
        let now = self.now();
        // The first round of a process looks at every settled batch; later ones at those
        // settled since the round before (with a minute's margin).
        let since = match self.compact_mark.load(Ordering::Relaxed) {
            0 => 0,
            last => last - 60,
        };
        self.store.mark_spent(since).await?;
        self.compact_mark.store(now, Ordering::Relaxed);
        let chunk = crate::store::versions::COMPACT_CHUNK;
        let mut moved = 0;
        for _ in 0..100 {
            let n = self.store.compact(chunk).await?;
            moved += n;
            if n < chunk as u64 {
                break;
            }
        }
        if moved > 0 {
            tracing::info!(versions = moved, "compacted superseded record versions");
        }
        Ok(moved)
    }

    pub async fn housekeeping(&self) -> Result<u64> {
        let now = self.now();
        self.store.purge_tokens(now).await?;
        // Scores untouched for a day and not banned: the key starts afresh (offences too).
        self.store.defender().prune_scores(now - 24 * 3600).await?;
        // A push whose intake died half-way (its writer killed) is never sealed: drop it.
        let parts = self
            .store
            .prune_parts(now - self.settings.part_max_age_secs)
            .await?;
        if parts > 0 {
            tracing::info!(
                files = parts,
                "removed files left under a temporary name past their age"
            );
        }
        let held = self
            .store
            .sheets()
            .prune_uploads(now - crate::store::sheets::HOLD_SECS)
            .await?;
        if held > 0 {
            tracing::info!(
                files = held,
                "removed uploads held for a mapping step past a day"
            );
        }
        let pruned = self
            .store
            .audit()
            .prune(now.saturating_sub(self.settings.audit_retention_secs))
            .await?;
        if pruned > 0 {
            tracing::info!(
                records = pruned,
                "pruned audit records past their retention"
            );
        }
        let events = self.prune_feed(now).await?;
        if events > 0 {
            tracing::info!(events, "pruned change-feed events past their retention");
        }
        // Finished webhook deliveries are kept as long as the change feed's events.
        let deliveries = self
            .store
            .webhooks()
            .prune_deliveries(now.saturating_sub(self.settings.feed_retention_secs))
            .await?;
        if deliveries > 0 {
            tracing::info!(deliveries, "pruned finished webhook deliveries");
        }
        self.compact().await?;
        let dropped = self.store.outbox().purge_unsealed(now - 3600).await?;
        if dropped > 0 {
            tracing::info!(
                pushes = dropped,
                "dropped pushes whose intake never finished"
            );
        }
        self.store
            .expire_batches(now - self.settings.batch.expiry_secs, now)
            .await
    }
}

/// An interface's definition as the front-ends read it.
fn interface_def(i: &Interface) -> pb::InterfaceDef {
    pb::InterfaceDef {
        data_category: i.data_category.clone(),
        biz_key: i.biz_key.clone(),
        business_key: i.business_key.clone(),
        fields: i
            .fields
            .iter()
            .map(|f| pb::FieldDef {
                name: f.name.clone(),
                r#type: f.ty.name(),
                required: f.required,
                max_length: f.max_length.unwrap_or(0) as u32,
                allowed: f.allowed.clone(),
                exceptions: f.exceptions.clone(),
                default_value: f.default.clone().unwrap_or_default(),
                rule: Some(crate::validate::field_rules(f)),
                labels: f.labels.clone().into_iter().collect(),
                alternates: f.alternates.clone(),
            })
            .collect(),
        description: i.description.clone(),
        uid_field: i.uid_field.clone().unwrap_or_default(),
        allow_extra_fields: i.allow_extra_fields,
        example: i.example.clone().unwrap_or_default(),
    }
}
