//! Replay protection and per-caller rate limiting for the Decision Layer, backed by Redis.
//!
//! * A request's `request_id` is a nonce: single use per caller within the acceptance window.
//!   It is consumed with one atomic `SET key position NX GET PX ttl` (Redis **7.0 or newer**: `NX`
//!   together with `GET` was refused before 7.0). The value stored is the Kafka position of the
//!   message (`topic/partition/offset`), so a redelivery of the same message is told apart from a
//!   replay in the same command.
//! * `issued_at` must lie in `[now - window, now + max_skew]`.
//! * A caller may have a rate limit (GCRA, state in Redis, shared by all worker replicas), run in a
//!   Lua script together with the nonce so a rate-limited request does not consume its nonce.
//! * All commands of a batch go in one pipeline: one round trip per batch.
//! * Fail closed: any Redis problem is [`ReplayError::Unavailable`]; nothing is accepted.
//!
//! See `README.md` of this crate for the full semantics.

mod config;
mod guard;
mod keys;
mod verdict;

pub use config::{RateLimit, ReplayConfig};
pub use guard::StoredResult;
pub use guard::{CheckItem, ReplayGuard};
pub use keys::{nonce_key, rate_key, result_key};
pub use verdict::{
    is_valid_request_id, Verdict, CODE_RATE_LIMITED, CODE_REPLAY, CODE_REQUEST_ID_INVALID,
    CODE_REQUEST_ID_REUSED, CODE_REQUEST_IN_PROGRESS, CODE_STALE_REQUEST, MAX_REQUEST_ID_BYTES,
};

/// Error code of [`ReplayError::Unavailable`].
pub const CODE_REPLAY_STORE_UNAVAILABLE: &str = "REPLAY_STORE_UNAVAILABLE";
/// Error code of [`ReplayError::Config`].
pub const CODE_REPLAY_CONFIG_INVALID: &str = "REPLAY_CONFIG_INVALID";

/// Errors of the replay guard. None of them carries a caller or request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Redis could not be reached, timed out, or answered with an error or an unexpected reply.
    /// Fail closed: the caller must not accept the batch; stop consuming and retry later. Parts
    /// of the failed batch may have been applied; retrying the same messages (same positions) is
    /// safe because their nonces then read back as [`Verdict::Redelivery`].
    #[error("replay store unavailable: {0}")]
    Unavailable(String),
    /// Invalid configuration or Redis URL, or a Redis server older than 7.0.
    #[error("invalid replay configuration: {0}")]
    Config(String),
}

impl ReplayError {
    /// Every code [`ReplayError::code`] returns (docs/rejection-codes.md lists each one; the
    /// repository's drift test checks it).
    pub const CODES: &'static [&'static str] =
        &[CODE_REPLAY_STORE_UNAVAILABLE, CODE_REPLAY_CONFIG_INVALID];

    /// Stable code: `REPLAY_STORE_UNAVAILABLE` or `REPLAY_CONFIG_INVALID`.
    pub fn code(&self) -> &'static str {
        match self {
            ReplayError::Unavailable(_) => CODE_REPLAY_STORE_UNAVAILABLE,
            ReplayError::Config(_) => CODE_REPLAY_CONFIG_INVALID,
        }
    }
}

/// Registers descriptions of this crate's metrics with the installed `metrics` recorder.
///
/// * `dl_replay_checks_total{outcome}` — checked requests by outcome: `fresh`, `redelivery`,
///   `replay`, `resubmission`, `reused`, `stale`, `future`, `invalid`, `rate_limited`.
/// * `dl_replay_results_stored_total` — results stored for answering resubmissions.
/// * `dl_rate_limited_total` — requests rejected by a caller rate limit.
/// * `dl_replay_redis_seconds` — duration of one Redis round trip (one per batch).
/// * `dl_replay_redis_round_trips_total` — Redis round trips (pipelines and pings).
/// * `dl_replay_store_errors_total` — failed Redis round trips (the batch failed closed).
/// * `dl_replay_nonces_released_total` — nonces given back after a retryable outcome.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "dl_replay_checks_total",
        "Requests checked for replay, by outcome"
    );
    metrics::describe_counter!(
        "dl_rate_limited_total",
        "Requests rejected by a per-caller rate limit"
    );
    metrics::describe_histogram!(
        "dl_replay_redis_seconds",
        metrics::Unit::Seconds,
        "Duration of one Redis round trip of the replay guard (one pipelined batch)"
    );
    metrics::describe_counter!(
        "dl_replay_redis_round_trips_total",
        "Redis round trips made by the replay guard"
    );
    metrics::describe_counter!(
        "dl_replay_store_errors_total",
        "Redis round trips of the replay guard that failed (fail closed)"
    );
    metrics::describe_counter!(
        "dl_replay_nonces_released_total",
        "Nonces given back after a retryable outcome (the request id may be sent again)"
    );
    metrics::describe_counter!(
        "dl_replay_results_stored_total",
        "Committed results stored to answer resubmissions of the same request"
    );
}
