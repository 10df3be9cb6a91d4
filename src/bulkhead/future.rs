//! The bulkhead layers' response futures. Each holds its slot until the
//! inner call completes, and returns it when dropped (cancelled) or unwound.

use super::{Acquire, BulkheadPermit};

/// The response future of [`BulkheadService`](super::BulkheadService): a
/// ready [`BulkheadFull`](crate::error::BulkheadFull), or the inner call
/// holding its slot until it ends.
pub type ResponseFuture<F> = crate::future::AdmitFuture<crate::future::Guarded<F, BulkheadPermit>>;

/// The response future of [`WaitingBulkheadService`](super::WaitingBulkheadService):
/// waits (FIFO, up to `max_wait`) for a slot, then drives its own clone of
/// the inner service to readiness and calls it, holding the slot until the
/// call ends.
pub type WaitingResponseFuture<S, Req> =
    crate::waiting::WaitThenCall<S, Req, Acquire, BulkheadPermit>;
