//! The gRPC server (`wharf.v1.Core`): internal only, every call carries the internal token.
//!
//! Core errors become `tonic::Status` here and nowhere else.

use std::future::Future;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status};
use tracing::field::Empty;
use tracing::{info_span, Instrument};
use wharf_proto::json::value_text;
use wharf_proto::trace;
use wharf_proto::v1::{self as pb, consumer_server::ConsumerServer, core_server::CoreServer};

use crate::auth::constant_time_eq;
use crate::consumer_grpc::{query_records, read_changes};
use crate::defender::Caller;
use crate::error::CoreError;
use crate::model::TokenKind;
use crate::query::Reader;
use crate::service::{Core, Principal};

/// Metadata key carrying the internal token (`authorization: Bearer <token>`).
pub const AUTH_HEADER: &str = "authorization";

impl From<CoreError> for Status {
    fn from(e: CoreError) -> Status {
        match e {
            CoreError::NotFound(m) => Status::not_found(m),
            CoreError::Unauthenticated => Status::unauthenticated("bad credentials"),
            CoreError::Invalid(m) => Status::invalid_argument(m),
            CoreError::Conflict(m) => Status::already_exists(m),
            CoreError::Precondition(m) => Status::failed_precondition(m),
            CoreError::TooManyAttempts { retry_after_secs } => {
                let mut s = Status::resource_exhausted(e.to_string());
                s.metadata_mut().insert(
                    wharf_proto::login::RETRY_AFTER,
                    tonic::metadata::MetadataValue::from(retry_after_secs),
                );
                s
            }
            CoreError::Busy(m) => Status::unavailable(m),
            CoreError::Store(m) => {
                tracing::error!(error = %m, "store failure");
                Status::unavailable("store unavailable, safe to retry")
            }
            CoreError::Definition { .. } => Status::internal(e.to_string()),
        }
    }
}

fn principal(p: Principal) -> pb::Principal {
    pb::Principal {
        partner: p.partner,
        user: p.user.unwrap_or_default(),
        interfaces: p.interfaces,
    }
}

/// One span per call, a child of the caller's W3C context (gateway, FTP, upload page or
/// CLI), carrying its trace id for the logs of one push to line up across doors.
fn rpc_span(req: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let caller = trace::from_headers(req.headers());
    let method = req.uri().path().trim_start_matches('/');
    let span = info_span!(
        "grpc",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        trace_id = %trace::trace_id(&caller),
    );
    trace::adopt(&span, &caller);
    span
}

/// The tonic service over [`Core`].
pub struct CoreService {
    core: Core,
}

#[tonic::async_trait]
impl pb::core_server::Core for CoreService {
    async fn ingest_batch(
        &self,
        request: Request<pb::IngestBatchRequest>,
    ) -> Result<Response<pb::IngestBatchResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!(
            "ingest",
            partner = %req.partner,
            interface = %format_args!("{}/{}", req.data_category, req.biz_key),
            transport = req.transport().as_str_name(),
            batch_id = %value_text(&req.batch_id),
            seq_id = %value_text(&req.seq_id),
            rows = req.rows.len(),
            code = Empty,
            otel.status_code = Empty,
        );
        async move {
            let started = std::time::Instant::now();
            let res = self.core.ingest(&req).await;
            let span = tracing::Span::current();
            match &res {
                Ok(r) => {
                    span.record("code", r.code.as_str());
                    tracing::info!(code = %r.code, micros = started.elapsed().as_micros() as u64, "sequence answered")
                }
                Err(e) => {
                    span.record("code", "-1");
                    span.record("otel.status_code", "ERROR");
                    tracing::warn!(error = %e, "sequence failed")
                }
            }
            let mut answer = res?;
            if req.code_only {
                answer.problems = Vec::new();
                answer.groups = Vec::new();
            }
            Ok(Response::new(answer))
        }
        .instrument(span)
        .await
    }

    async fn get_batch(
        &self,
        request: Request<pb::GetBatchRequest>,
    ) -> Result<Response<pb::GetBatchResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("get_batch", partner = %req.partner, batch_id = %req.batch_id);
        Ok(Response::new(
            self.core.get_batch(&req).instrument(span).await?,
        ))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let req = request.into_inner();
        let span = info_span!("authenticate", user = %req.username);
        let caller = Caller::from_proto(req.caller.as_ref())?;
        let p = self
            .core
            .authenticate(&caller, &req.username, &req.password)
            .instrument(span)
            .await?;
        Ok(Response::new(principal(p)))
    }

    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("issue_token", client_id = %req.client_id, grant = %req.grant_type);
        let caller = Caller::from_proto(req.caller.as_ref())?;
        Ok(Response::new(
            self.core
                .issue_token(&caller, &req)
                .instrument(span)
                .await?,
        ))
    }

    async fn verify_token(
        &self,
        request: Request<pb::VerifyTokenRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let req = request.into_inner();
        let kind = TokenKind::from_proto(req.kind)
            .ok_or_else(|| Status::invalid_argument("unknown token kind"))?;
        let caller = Caller::from_proto(req.caller.as_ref())?;
        let p = self
            .core
            .verify_token(&caller, &req.token, kind)
            .instrument(info_span!("verify_token"))
            .await?;
        Ok(Response::new(principal(p)))
    }

    async fn list_interfaces(
        &self,
        request: Request<pb::ListInterfacesRequest>,
    ) -> Result<Response<pb::ListInterfacesResponse>, Status> {
        let req = request.into_inner();
        if req.all {
            let interfaces = self.core.all_interfaces();
            return Ok(Response::new(pb::ListInterfacesResponse { interfaces }));
        }
        let interfaces = self
            .core
            .list_interfaces(&req.partner)
            .instrument(info_span!("list_interfaces", partner = %req.partner))
            .await?;
        Ok(Response::new(pb::ListInterfacesResponse { interfaces }))
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        let req = request.into_inner();
        let files = self
            .core
            .list_files(&req)
            .instrument(info_span!("list_files", partner = %req.partner))
            .await?;
        Ok(Response::new(pb::ListFilesResponse { files }))
    }

    async fn get_file(
        &self,
        request: Request<pb::FileRef>,
    ) -> Result<Response<pb::GetFileResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("get_file", partner = %req.partner, file = %req.name);
        Ok(Response::new(
            self.core.get_file(&req).instrument(span).await?,
        ))
    }

    async fn delete_file(
        &self,
        request: Request<pb::FileRef>,
    ) -> Result<Response<pb::DeleteFileResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("delete_file", partner = %req.partner, file = %req.name);
        let deleted = self.core.delete_file(&req).instrument(span).await?;
        Ok(Response::new(pb::DeleteFileResponse { deleted }))
    }

    async fn put_file_part(
        &self,
        request: Request<pb::PutFilePartRequest>,
    ) -> Result<Response<pb::PutFilePartResponse>, Status> {
        let req = request.into_inner();
        let (partner, file) = req
            .file
            .as_ref()
            .map(|f| (f.partner.clone(), f.name.clone()))
            .unwrap_or_default();
        let span = info_span!("put_file_part", partner = %partner, file = %file, bytes = req.content.len());
        self.core.put_file_part(&req).instrument(span).await?;
        Ok(Response::new(pb::PutFilePartResponse {}))
    }

    async fn list_file_parts(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilePartsResponse>, Status> {
        let req = request.into_inner();
        let parts = self
            .core
            .list_file_parts(&req)
            .instrument(info_span!("list_file_parts", partner = %req.partner))
            .await?;
        Ok(Response::new(pb::ListFilePartsResponse { parts }))
    }

    async fn get_file_part(
        &self,
        request: Request<pb::FileRef>,
    ) -> Result<Response<pb::GetFilePartResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("get_file_part", partner = %req.partner, file = %req.name);
        Ok(Response::new(
            self.core.get_file_part(&req).instrument(span).await?,
        ))
    }

    async fn delete_file_part(
        &self,
        request: Request<pb::FileRef>,
    ) -> Result<Response<pb::DeleteFileResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("delete_file_part", partner = %req.partner, file = %req.name);
        let deleted = self.core.delete_file_part(&req).instrument(span).await?;
        Ok(Response::new(pb::DeleteFileResponse { deleted }))
    }

    async fn start_session(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("start_session", user = %req.username);
        let caller = Caller::from_proto(req.caller.as_ref())?;
        Ok(Response::new(
            self.core
                .start_session(&caller, &req.username, &req.password)
                .instrument(span)
                .await?,
        ))
    }

    async fn end_session(
        &self,
        request: Request<pb::VerifyTokenRequest>,
    ) -> Result<Response<pb::EndSessionResponse>, Status> {
        let req = request.into_inner();
        let ended = self
            .core
            .end_session(&req.token)
            .instrument(info_span!("end_session"))
            .await?;
        Ok(Response::new(pb::EndSessionResponse { ended }))
    }

    async fn abandon_batch(
        &self,
        request: Request<pb::GetBatchRequest>,
    ) -> Result<Response<pb::GetBatchResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("abandon_batch", partner = %req.partner, batch_id = %req.batch_id);
        async move {
            let b = self.core.abandon_batch(&req).await?;
            tracing::info!(state = %b.state, code = %b.failure_code, "batch abandoned");
            Ok(Response::new(b))
        }
        .instrument(span)
        .await
    }

    async fn list_batches(
        &self,
        request: Request<pb::ListBatchesRequest>,
    ) -> Result<Response<pb::ListBatchesResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("list_batches", partner = %req.partner, user = %req.user);
        Ok(Response::new(
            self.core.list_batches(&req).instrument(span).await?,
        ))
    }

    async fn act_on_batch(
        &self,
        request: Request<pb::BatchActionRequest>,
    ) -> Result<Response<pb::GetBatchResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!(
            "act_on_batch",
            partner = %req.partner,
            batch_id = %req.batch_id,
            action = %req.action,
            actor = %req.actor,
        );
        async move {
            let b = self.core.act_on_batch(&req).await?;
            tracing::info!(
                state = %b.state,
                execute = %b.execute_status,
                revert = %b.revert_status,
                "batch action done"
            );
            Ok(Response::new(b))
        }
        .instrument(span)
        .await
    }

    async fn ready(
        &self,
        _request: Request<pb::ReadyRequest>,
    ) -> Result<Response<pb::ReadyResponse>, Status> {
        let answer = match self.core.ready().await {
            Ok(()) => pb::ReadyResponse {
                ready: true,
                reason: String::new(),
            },
            Err(reason) => pb::ReadyResponse {
                ready: false,
                reason,
            },
        };
        Ok(Response::new(answer))
    }

    async fn authenticate_key(
        &self,
        request: Request<pb::AuthenticateKeyRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let req = request.into_inner();
        let span = info_span!("authenticate_key", user = %req.username);
        let caller = Caller::from_proto(req.caller.as_ref())?;
        let p = self
            .core
            .authenticate_key(&caller, &req.username, &req.public_key)
            .instrument(span)
            .await?;
        Ok(Response::new(principal(p)))
    }

    async fn get_sftp_host_key(
        &self,
        _request: Request<pb::SftpHostKeyRequest>,
    ) -> Result<Response<pb::SftpHostKey>, Status> {
        let key = self.core.sftp_host_key().await?;
        Ok(Response::new(pb::SftpHostKey {
            openssh_private_key: key.private_pem,
            fingerprint: key.fingerprint,
        }))
    }

    async fn query_records(
        &self,
        request: Request<pb::QueryRecordsRequest>,
    ) -> Result<Response<pb::QueryRecordsResponse>, Status> {
        let req = request.into_inner();
        let reader = if req.consumer.is_empty() {
            Reader::Partner(req.partner.clone())
        } else {
            Reader::Consumer(req.consumer.clone())
        };
        query_records(&self.core, reader, req).await
    }

    async fn verify_consumer(
        &self,
        request: Request<pb::VerifyConsumerRequest>,
    ) -> Result<Response<pb::ConsumerPrincipal>, Status> {
        let c = self
            .core
            .verify_consumer(&request.into_inner().token)
            .instrument(info_span!("verify_consumer"))
            .await?;
        Ok(Response::new(pb::ConsumerPrincipal {
            name: c.name,
            interfaces: c.interfaces,
        }))
    }

    async fn read_changes(
        &self,
        request: Request<pb::ReadChangesRequest>,
    ) -> Result<Response<pb::ReadChangesResponse>, Status> {
        let req = request.into_inner();
        let consumer = req.consumer.clone();
        read_changes(&self.core, &consumer, req).await
    }

    async fn match_columns(
        &self,
        request: Request<pb::MatchColumnsRequest>,
    ) -> Result<Response<pb::MatchColumnsResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("match_columns", partner = %req.partner, columns = req.headers.len());
        Ok(Response::new(
            self.core.match_columns(&req).instrument(span).await?,
        ))
    }

    async fn save_columns(
        &self,
        request: Request<pb::SaveColumnsRequest>,
    ) -> Result<Response<pb::MatchColumnsResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("save_columns", partner = %req.partner, user = %req.user);
        let origin = crate::audit::Origin {
            actor: format!("user:{}", req.user),
            door: "upload".into(),
            addr: String::new(),
        };
        Ok(Response::new(
            self.core
                .save_columns(&origin, &req)
                .instrument(span)
                .await?,
        ))
    }

    async fn hold_upload(
        &self,
        request: Request<pb::HoldUploadRequest>,
    ) -> Result<Response<pb::HoldUploadResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("hold_upload", partner = %req.partner, bytes = req.content.len());
        let id = self.core.hold_upload(req).instrument(span).await?;
        Ok(Response::new(pb::HoldUploadResponse { id }))
    }

    async fn check_rows(
        &self,
        request: Request<pb::CheckRowsRequest>,
    ) -> Result<Response<pb::CheckRowsResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("check_rows", partner = %req.partner, rows = req.rows.len());
        let problems = self.core.check_rows(&req).instrument(span).await?;
        Ok(Response::new(pb::CheckRowsResponse { problems }))
    }

    async fn get_held_upload(
        &self,
        request: Request<pb::HeldUploadRef>,
    ) -> Result<Response<pb::GetHeldUploadResponse>, Status> {
        let req = request.into_inner();
        let span = info_span!("get_held_upload", partner = %req.partner);
        Ok(Response::new(
            self.core.held_upload(&req).instrument(span).await?,
        ))
    }

    async fn push_to_partner(
        &self,
        request: Request<tonic::Streaming<pb::PushChunk>>,
    ) -> Result<Response<pb::PushResponse>, Status> {
        // The caller's context, or this call's span when spans are exported.
        let traceparent =
            trace::to_traceparent(&trace::outgoing(&trace::from_metadata(request.metadata())));
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("an empty push stream"))?;
        let op = crate::model::Operation::from_proto(first.operation)
            .ok_or_else(|| Status::invalid_argument("operation: insert, update, delete or all"))?;
        let req = crate::outbound::intake::PushRequest {
            partner: first.partner,
            env: crate::model::Environment::from_proto(first.environment),
            data_category: first.data_category,
            biz_key: first.biz_key,
            op,
            traceparent,
        };
        let span = info_span!(
            "push_to_partner",
            partner = %req.partner,
            interface = %format_args!("{}/{}", req.data_category, req.biz_key),
            operation = op.as_str(),
        );
        let mut source = ChunkRows {
            first: Some(first.rows),
            stream,
        };
        async move {
            let outcome = self.core.push(req, &mut source).await?;
            let response = outcome.into_response();
            tracing::info!(code = %response.code, push_id = %response.push_id, rows = response.rows, "push taken");
            Ok(Response::new(response))
        }
        .instrument(span)
        .await
    }

    async fn get_push(
        &self,
        request: Request<pb::GetPushRequest>,
    ) -> Result<Response<pb::PushView>, Status> {
        let req = request.into_inner();
        Ok(Response::new(self.core.get_push(&req.push_id).await?))
    }
}

/// A `PushToPartner` stream's rows, chunk by chunk.
struct ChunkRows {
    first: Option<Vec<pb::Row>>,
    stream: tonic::Streaming<pb::PushChunk>,
}

#[tonic::async_trait]
impl crate::outbound::intake::RowSource for ChunkRows {
    async fn next_rows(&mut self) -> crate::error::Result<Option<Vec<pb::Row>>> {
        if let Some(rows) = self.first.take() {
            return Ok(Some(rows));
        }
        match self.stream.message().await {
            Ok(chunk) => Ok(chunk.map(|c| c.rows)),
            Err(s) => Err(CoreError::Invalid(format!(
                "the push stream broke: {}",
                s.message()
            ))),
        }
    }
}

/// Refuses every call that does not carry the internal token.
#[derive(Clone)]
pub struct InternalToken(std::sync::Arc<str>);

impl InternalToken {
    pub fn new(token: &str) -> InternalToken {
        InternalToken(token.into())
    }
}

impl tonic::service::Interceptor for InternalToken {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let given = req
            .metadata()
            .get(AUTH_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !given.is_empty() && constant_time_eq(given.as_bytes(), self.0.as_bytes()) {
            Ok(req)
        } else {
            // Not `unauthenticated`: that is the answer about a partner's credentials, and a
            // front-end with the wrong token must not make partners think theirs are wrong.
            Err(Status::permission_denied("internal token required"))
        }
    }
}

/// Core's gRPC over TLS: its certificate chain and key, and, for mutual TLS, the CA a
/// front-end's client certificate must chain to (a front-end without one is refused in the
/// handshake). Checked when made, so a bad file stops start-up, not the first handshake.
#[derive(Clone, Debug)]
pub struct GrpcTls {
    config: ServerTlsConfig,
    mutual: bool,
}

/// Which file of core's gRPC TLS cannot be used, and why.
#[derive(Debug)]
pub enum GrpcTlsError {
    /// The certificate chain.
    Certificate(String),
    /// The private key.
    Key(String),
    /// The certificate and key together (the key is not the certificate's).
    Pair(String),
    /// The client CA.
    ClientCa(String),
}

/// How long core waits for a front-end's side of the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl GrpcTls {
    /// TLS with `cert_pem` (PEM chain, core's own first) and `key_pem`; with `client_ca_pem`,
    /// mutual TLS: clients must show a certificate that chains to it.
    pub fn new(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: Option<&[u8]>,
    ) -> Result<GrpcTls, GrpcTlsError> {
        wharf_proto::tls::check_certificates(cert_pem).map_err(GrpcTlsError::Certificate)?;
        wharf_proto::tls::check_private_key(key_pem).map_err(GrpcTlsError::Key)?;
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert_pem, key_pem))
            .timeout(TLS_HANDSHAKE_TIMEOUT);
        if let Some(ca) = client_ca_pem {
            wharf_proto::tls::check_ca(ca).map_err(GrpcTlsError::ClientCa)?;
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        // What tonic builds from it now, rather than when serving starts: a key that is not
        // the certificate's is refused here.
        tonic::transport::Server::builder()
            .tls_config(config.clone())
            .map_err(|e| {
                GrpcTlsError::Pair(
                    std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), |s| format!("{e}: {s}")),
                )
            })?;
        Ok(GrpcTls {
            config,
            mutual: client_ca_pem.is_some(),
        })
    }

    /// Whether clients must show a certificate.
    pub fn mutual(&self) -> bool {
        self.mutual
    }
}

/// Serve core's gRPC on an already-bound listener until `shutdown` completes; in-flight
/// calls finish first.
pub async fn serve(
    listener: TcpListener,
    core: Core,
    token: InternalToken,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    serve_with(listener, core, token, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (mutual when it has a client CA).
pub async fn serve_with(
    listener: TcpListener,
    core: Core,
    token: InternalToken,
    tls: Option<GrpcTls>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let svc = tonic::service::interceptor::InterceptedService::new(
        CoreServer::new(CoreService { core: core.clone() })
            .max_decoding_message_size(64 * 1024 * 1024),
        token,
    );
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        // A handshake a client fails (no certificate, an untrusted one, plain HTTP/2) closes
        // that connection only; tonic logs it at debug (`tonic::transport::server`).
        server = server.tls_config(tls.config)?;
    }
    // The consumer API: no internal token, a consumer's own (`consumer_grpc`).
    let consumers = ConsumerServer::new(crate::consumer_grpc::ConsumerService::new(core));
    server
        .timeout(std::time::Duration::from_secs(120))
        .trace_fn(rpc_span)
        .add_service(svc)
        .add_service(consumers)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}
