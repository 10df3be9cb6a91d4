//! gRPC integration (feature `grpc`): tonic status codes for the circuit
//! breaker ([`GrpcClassifier`]) and the retry ([`RetryGrpc`]), replaying
//! requests from gRPC's retry buffer ([`GrpcReplay`], its limit set by
//! [`BufferRequestLayer`]),
//! seawall's rejections as gRPC statuses for clients and servers
//! ([`GrpcStatusLayer`], [`status_of`]), and the `Stack::grpc_client`
//! preset.
//!
//! A tonic `Channel` is a tower service of `http::Request<tonic::body::Body>`,
//! so seawall's layers wrap it like any HTTP client; the status of a failed
//! call arrives "trailers-only", in the response headers, where these
//! classifiers read it (a status sent in trailers after a response body is
//! not visible below the generated client, and counts as a success).
//!
//! ```no_run
//! use seawall::stack::Stack;
//! use tower::ServiceBuilder;
//!
//! # async fn run() -> Result<(), seawall::BoxError> {
//! let channel = tonic::transport::Channel::from_static("http://127.0.0.1:50051").connect().await?;
//! let svc = ServiceBuilder::new()
//!     .layer(Stack::grpc_client("inventory")?)  // timeouts, retry, breaker, bulkhead
//!     .service(channel);
//! // let mut client = InventoryClient::new(svc);
//! # Ok(()) }
//! ```

//!
//! # Streaming calls
//!
//! Every layer's work on a call ends when the response's headers arrive;
//! a stream's messages come after. So for a server stream (or a
//! bidirectional one):
//!
//! - timeouts bound the wait for the headers, not the stream: bound a
//!   stream's whole length where you read it (`tokio::time::timeout`
//!   around the reading loop);
//! - a bulkhead's slot is back once the headers are sent:
//!   [`StreamingBulkheadLayer`](crate::http::StreamingBulkheadLayer) holds
//!   it until the response body ends, fails or is dropped;
//! - the retry decides on the headers: a stream that has begun is never
//!   restarted (as in gRPC), and a status sent in trailers after messages
//!   is not seen by the retry or the breaker;
//! - a client stream's messages go on as the caller writes them, and the
//!   retry keeps a copy of each (gRPC's retry buffer, 1 MiB a call unless
//!   [`BufferRequestLayer`] says otherwise) to send again if the server
//!   refuses the call before answering.
//!
//! Give streaming methods a stack of their own on a shared channel with
//! [`PerMethodLayer`] (for example one attempt, no attempt timeout).

mod buffer;
mod classify;
#[cfg(feature = "grpc-health")]
mod health;
mod method;
#[cfg(feature = "grpc-service-config")]
mod service_config;
mod status;

pub use self::buffer::{BufferRequest, BufferRequestLayer};
pub use self::classify::{parse_grpc_timeout, CodeSet, GrpcClassifier, GrpcReplay, RetryGrpc};
#[cfg(feature = "grpc-health")]
pub use self::health::HealthWatch;
pub use self::method::{PerMethod, PerMethodLayer};
#[cfg(feature = "grpc-service-config")]
pub use self::service_config::{ServiceConfig, MAX_ATTEMPTS};
pub use self::status::{status_of, GrpcStatus, GrpcStatusFuture, GrpcStatusLayer};

/// The gRPC status of a response: from its `grpc-status` header (a
/// trailers-only response), else `Ok` (the status will come in trailers).
pub fn status_code<B>(res: &http::Response<B>) -> tonic::Code {
    res.headers()
        .get("grpc-status")
        .map_or(tonic::Code::Ok, |v| tonic::Code::from_bytes(v.as_bytes()))
}
