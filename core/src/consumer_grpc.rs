//! The consumer API over gRPC (`wharf.v1.Consumer`), served on core's gRPC port beside the
//! front-ends' `Core` service: the company's systems call it themselves, with their consumer
//! token as `authorization: Bearer TOKEN`. The internal token of the front-ends does not
//! open it, and a consumer token opens nothing of `Core`. The calls are `Core`'s own
//! (`grpc::query_records`, `grpc::read_changes`) for the consumer the token names.

use tonic::{Request, Response, Status};
use wharf_proto::v1 as pb;

use crate::grpc::{self, AUTH_HEADER};
use crate::query::Reader;
use crate::service::Core;

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
        grpc::query_records(&self.core, Reader::Consumer(name), request.into_inner()).await
    }

    async fn read_changes(
        &self,
        request: Request<pb::ReadChangesRequest>,
    ) -> Result<Response<pb::ReadChangesResponse>, Status> {
        let name = self.consumer(&request).await?;
        grpc::read_changes(&self.core, &name, request.into_inner()).await
    }
}
