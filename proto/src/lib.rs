//! The gRPC contract between wharf's front-ends and core (package `wharf.v1`), and the client
//! a front-end uses to reach core with the internal token.
//!
//! This crate owns wire types only: no rule, no store, no transport policy.
#![forbid(unsafe_code)]

/// Generated `wharf.v1` types and the tonic client and server.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("wharf.v1");
}

pub mod json;
pub mod time;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Adds `authorization: Bearer <internal token>` to every call.
#[derive(Clone)]
pub struct WithToken(AsciiMetadataValue);

impl tonic::service::Interceptor for WithToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// A client of core that authenticates with the internal token.
pub type CoreClient = v1::core_client::CoreClient<InterceptedService<Channel, WithToken>>;

/// Errors reaching core.
#[derive(Debug)]
pub enum ConnectError {
    /// The URL or token cannot be used.
    Invalid(String),
    /// Core did not answer.
    Transport(tonic::transport::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Invalid(m) => write!(f, "{m}"),
            ConnectError::Transport(e) => write!(f, "cannot reach core: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Connect lazily to core at `url` (e.g. `http://127.0.0.1:50051`).
pub fn connect(url: &str, internal_token: &str) -> Result<CoreClient, ConnectError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ConnectError::Invalid(format!("core url {url:?}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(120));
    let value: AsciiMetadataValue = format!("Bearer {internal_token}")
        .parse()
        .map_err(|_| ConnectError::Invalid("internal token is not ASCII".into()))?;
    let channel = endpoint.connect_lazy();
    Ok(
        v1::core_client::CoreClient::with_interceptor(channel, WithToken(value))
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024),
    )
}
