//! Reading partners' data over gRPC: `QueryRecords` and `ReadChanges` as both services run
//! them — the front-ends' `Core` (for the reader the gateway names) and the consumer API
//! (`wharf.v1.Consumer`), served on core's gRPC port beside `Core` for the company's systems
//! themselves, with their consumer token as `authorization: Bearer TOKEN`. The internal token
//! of the front-ends does not open `Consumer`, and a consumer token opens nothing of `Core`.

use tonic::{Request, Response, Status};
use tracing::{info_span, Instrument};
use wharf_proto::v1 as pb;

use crate::feed::{ChangesQuery, Event};
use crate::model::Environment;
use crate::query::{Reader, RecordQuery};
use crate::service::Core;

/// The metadata key of a consumer's token (`Bearer TOKEN`).
const AUTH_HEADER: &str = "authorization";

pub struct ConsumerService {
    core: Core,
}

impl ConsumerService {
    pub fn new(core: Core) -> ConsumerService {
        ConsumerService { core }
    }

    /// The consumer the call's bearer token belongs to.
    async fn consumer<T>(&self, req: &Request<T>) -> Result<String, Status> {
        let token = req
            .metadata()
            .get(AUTH_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        Ok(self.core.verify_consumer(token).await?.name)
    }
}

#[tonic::async_trait]
impl pb::consumer_server::Consumer for ConsumerService {
    async fn query_records(
        &self,
        request: Request<pb::QueryRecordsRequest>,
    ) -> Result<Response<pb::QueryRecordsResponse>, Status> {
        let name = self.consumer(&request).await?;
        query_records(&self.core, Reader::Consumer(name), request.into_inner()).await
    }

    async fn read_changes(
        &self,
        request: Request<pb::ReadChangesRequest>,
    ) -> Result<Response<pb::ReadChangesResponse>, Status> {
        let name = self.consumer(&request).await?;
        read_changes(&self.core, &name, request.into_inner()).await
    }
}

/// `QueryRecords` for `reader` (the request's own `consumer` is not read here).
pub(crate) async fn query_records(
    core: &Core,
    reader: Reader,
    req: pb::QueryRecordsRequest,
) -> Result<Response<pb::QueryRecordsResponse>, Status> {
    let q = RecordQuery {
        env: Environment::from_proto(req.environment),
        data_category: req.data_category,
        biz_key: req.biz_key,
        partner: match reader {
            Reader::Consumer(_) if !req.partner.is_empty() => Some(req.partner),
            _ => None,
        },
        key: req.key.into_iter().map(|k| (k.field, k.value)).collect(),
        after: req.after,
        limit: req.limit,
    };
    let span = info_span!(
        "query_records",
        interface = %format_args!("{}/{}", q.data_category, q.biz_key)
    );
    let page = core.query_records(&reader, &q).instrument(span).await?;
    Ok(Response::new(pb::QueryRecordsResponse {
        records: page
            .records
            .into_iter()
            .map(|(partner, data)| pb::RecordItem { partner, data })
            .collect(),
        next: page.next,
    }))
}

/// `ReadChanges` for `consumer` (the request's own `consumer` is not read here).
pub(crate) async fn read_changes(
    core: &Core,
    consumer: &str,
    req: pb::ReadChangesRequest,
) -> Result<Response<pb::ReadChangesResponse>, Status> {
    let some = |s: String| (!s.is_empty()).then_some(s);
    let q = ChangesQuery {
        after: req.after,
        limit: req.limit,
        interface: some(req.interface),
        partner: some(req.partner),
        env: some(req.environment),
    };
    let page = core
        .read_changes(consumer, &q)
        .instrument(info_span!("read_changes", consumer = %consumer))
        .await?;
    Ok(Response::new(pb::ReadChangesResponse {
        events: page.events.into_iter().map(change_event).collect(),
        next: page.next,
    }))
}

/// A feed event as sent to a front-end.
fn change_event(e: Event) -> pb::ChangeEvent {
    pb::ChangeEvent {
        position: e.position,
        kind: e.kind,
        partner: e.partner,
        environment: e.env,
        interface: e.interface,
        batch_id: e.batch_id,
        operation: e.operation,
        door: e.door,
        at_unix: e.at_unix,
        changes: e
            .changes
            .into_iter()
            .map(|c| pb::RowChange {
                change: c.change.to_string(),
                key: c.key,
                uid: c.uid.unwrap_or_default(),
                after: c.after.unwrap_or_default(),
                before: c.before.unwrap_or_default(),
            })
            .collect(),
        complete: e.complete,
    }
}
