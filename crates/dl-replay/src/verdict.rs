//! The outcome of checking one request, and its stable rejection codes.

/// Rejection code: the request id was already used by this caller, from another Kafka message,
/// and the nonce does not say with what payload (it was spent by a worker older than
/// resubmission support). Newer nonces give [`CODE_REQUEST_ID_REUSED`] or the original answer.
pub const CODE_REPLAY: &str = "REPLAY";
/// Rejection code: the request id was already used by this caller for a request that asks
/// something else (another function, version, date or input).
pub const CODE_REQUEST_ID_REUSED: &str = "REQUEST_ID_REUSED";
/// Rejection code of an unrecorded answer to a resubmission whose original has no stored result
/// yet (it is still being decided, or its result could not be stored): retry later with the
/// same request to receive the original decision.
pub const CODE_REQUEST_IN_PROGRESS: &str = "REQUEST_IN_PROGRESS";
/// Rejection code: `issued_at` is outside the acceptance window (too old or too far ahead).
pub const CODE_STALE_REQUEST: &str = "STALE_REQUEST";
/// Rejection code: the request id is empty, longer than [`MAX_REQUEST_ID_BYTES`] or contains
/// control characters.
pub const CODE_REQUEST_ID_INVALID: &str = "REQUEST_ID_INVALID";
/// Rejection code: the caller exceeded its rate limit.
pub const CODE_RATE_LIMITED: &str = "RATE_LIMITED";

/// Longest accepted request id, in bytes of UTF-8.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// Verdict on one [`CheckItem`](crate::CheckItem).
///
/// [`Fresh`](Verdict::Fresh) and [`Redelivery`](Verdict::Redelivery) accept the request; every
/// other variant rejects it with the code from [`rejection_code`](Verdict::rejection_code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// First use of this request id by this caller: the nonce is now consumed.
    Fresh,
    /// The nonce was consumed by this very Kafka message (same topic/partition/offset): a
    /// redelivery after a crash or rebalance, not a replay. Accept and process again.
    Redelivery,
    /// The nonce was consumed by another message that asked the same (same payload digest): a
    /// client's resubmission. Not decided again: it is answered with the original's stored
    /// result ([`ReplayGuard::stored_results`](crate::ReplayGuard::stored_results)), or
    /// `REQUEST_IN_PROGRESS` while there is none. Not a rejection code of its own.
    Resubmission,
    /// The nonce was consumed by another message that asked something else. `REQUEST_ID_REUSED`.
    RequestIdReused,
    /// The nonce was consumed by another message, and its payload is unknown (a nonce written
    /// before payload digests were stored). `REPLAY`.
    Replay,
    /// `issued_at` is more than the window in the past. `STALE_REQUEST`.
    Stale {
        /// `now - issued_at`, in milliseconds.
        age_ms: i64,
    },
    /// `issued_at` is more than the clock-skew tolerance in the future. `STALE_REQUEST`.
    Future {
        /// `issued_at - now`, in milliseconds.
        ahead_ms: i64,
    },
    /// The request id is not a valid nonce. `REQUEST_ID_INVALID`.
    InvalidRequestId,
    /// The caller's rate limit is exhausted; the nonce was not consumed, so the same request id
    /// can be sent again later. `RATE_LIMITED`.
    RateLimited {
        /// When the next request of this caller would be allowed, in milliseconds from now.
        retry_after_ms: u64,
    },
}

impl Verdict {
    /// Every code [`Verdict::rejection_code`] returns (docs/rejection-codes.md lists each one;
    /// the repository's drift test checks it).
    /// `REQUEST_IN_PROGRESS` is listed too: the answer to a [`Resubmission`](Verdict::Resubmission)
    /// without a stored result.
    pub const CODES: &'static [&'static str] = &[
        CODE_REPLAY,
        CODE_REQUEST_ID_REUSED,
        CODE_REQUEST_IN_PROGRESS,
        CODE_STALE_REQUEST,
        CODE_REQUEST_ID_INVALID,
        CODE_RATE_LIMITED,
    ];

    /// Stable rejection code, or `None` when the request is accepted (fresh or redelivered) or
    /// is a resubmission (answered with the original).
    pub fn rejection_code(&self) -> Option<&'static str> {
        match self {
            Verdict::Fresh | Verdict::Redelivery | Verdict::Resubmission => None,
            Verdict::RequestIdReused => Some(CODE_REQUEST_ID_REUSED),
            Verdict::Replay => Some(CODE_REPLAY),
            Verdict::Stale { .. } | Verdict::Future { .. } => Some(CODE_STALE_REQUEST),
            Verdict::InvalidRequestId => Some(CODE_REQUEST_ID_INVALID),
            Verdict::RateLimited { .. } => Some(CODE_RATE_LIMITED),
        }
    }

    /// `true` for [`Fresh`](Verdict::Fresh) and [`Redelivery`](Verdict::Redelivery): the
    /// request is to be decided, and its nonce is spent by this message.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Fresh | Verdict::Redelivery)
    }

    /// Human-readable rejection message for `DecisionResult.rejection.message`, or `None` when
    /// accepted. It never contains the caller or the request id.
    pub fn rejection_message(&self) -> Option<String> {
        match self {
            Verdict::Fresh | Verdict::Redelivery | Verdict::Resubmission => None,
            Verdict::RequestIdReused => Some(
                "request_id was already used by this caller for a different request (function, version, date or input) within the acceptance window; use a new request_id".into(),
            ),
            Verdict::Replay => {
                Some("request_id was already used by this caller within the acceptance window".into())
            }
            Verdict::Stale { age_ms } => Some(format!(
                "issued_at is too old: the request was issued {age_ms} ms ago, outside the acceptance window"
            )),
            Verdict::Future { ahead_ms } => Some(format!(
                "issued_at is too far in the future: {ahead_ms} ms ahead, beyond the clock-skew tolerance"
            )),
            Verdict::InvalidRequestId => Some(format!(
                "request_id must be 1 to {MAX_REQUEST_ID_BYTES} bytes without control characters"
            )),
            Verdict::RateLimited { retry_after_ms } => Some(format!(
                "rate limit exceeded; retry after {retry_after_ms} ms"
            )),
        }
    }

    /// Value of the `outcome` label of `dl_replay_checks_total`.
    pub fn outcome_label(&self) -> &'static str {
        match self {
            Verdict::Fresh => "fresh",
            Verdict::Redelivery => "redelivery",
            Verdict::Resubmission => "resubmission",
            Verdict::RequestIdReused => "reused",
            Verdict::Replay => "replay",
            Verdict::Stale { .. } => "stale",
            Verdict::Future { .. } => "future",
            Verdict::InvalidRequestId => "invalid",
            Verdict::RateLimited { .. } => "rate_limited",
        }
    }
}

/// Whether `request_id` is an acceptable nonce: 1 to [`MAX_REQUEST_ID_BYTES`] bytes, no control
/// characters (Unicode category Cc: C0, DEL, C1).
pub fn is_valid_request_id(request_id: &str) -> bool {
    !request_id.is_empty()
        && request_id.len() <= MAX_REQUEST_ID_BYTES
        && !request_id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_once() {
        use crate::ReplayError;
        let codes: Vec<&str> = [
            ReplayError::Unavailable(String::new()),
            ReplayError::Config(String::new()),
        ]
        .iter()
        .map(ReplayError::code)
        .collect();
        assert_eq!(codes, ReplayError::CODES);
    }

    #[test]
    fn every_code_is_listed() {
        let codes: Vec<&str> = [
            Verdict::Fresh,
            Verdict::Redelivery,
            Verdict::Resubmission,
            Verdict::RequestIdReused,
            Verdict::Replay,
            Verdict::Stale { age_ms: 1 },
            Verdict::Future { ahead_ms: 1 },
            Verdict::InvalidRequestId,
            Verdict::RateLimited { retry_after_ms: 1 },
        ]
        .iter()
        .filter_map(Verdict::rejection_code)
        .chain([CODE_REQUEST_IN_PROGRESS])
        .collect();
        for code in Verdict::CODES {
            assert!(codes.contains(code), "{code} is never returned");
        }
        for code in codes {
            assert!(Verdict::CODES.contains(&code), "{code} is not listed");
        }
    }

    #[test]
    fn codes_and_acceptance() {
        assert_eq!(Verdict::Fresh.rejection_code(), None);
        assert_eq!(Verdict::Redelivery.rejection_code(), None);
        assert_eq!(Verdict::Replay.rejection_code(), Some("REPLAY"));
        assert_eq!(
            Verdict::Stale { age_ms: 1 }.rejection_code(),
            Some("STALE_REQUEST")
        );
        assert_eq!(
            Verdict::Future { ahead_ms: 1 }.rejection_code(),
            Some("STALE_REQUEST")
        );
        assert_eq!(
            Verdict::InvalidRequestId.rejection_code(),
            Some("REQUEST_ID_INVALID")
        );
        assert_eq!(
            Verdict::RateLimited { retry_after_ms: 5 }.rejection_code(),
            Some("RATE_LIMITED")
        );
        assert_eq!(
            Verdict::RequestIdReused.rejection_code(),
            Some("REQUEST_ID_REUSED")
        );
        assert_eq!(Verdict::Resubmission.rejection_code(), None);
        assert!(Verdict::Fresh.is_accepted() && Verdict::Redelivery.is_accepted());
        assert!(!Verdict::Replay.is_accepted());
        assert!(!Verdict::Resubmission.is_accepted() && !Verdict::RequestIdReused.is_accepted());
    }

    #[test]
    fn stale_and_future_messages_differ() {
        let old = Verdict::Stale { age_ms: 400_000 }
            .rejection_message()
            .unwrap();
        let ahead = Verdict::Future { ahead_ms: 31_000 }
            .rejection_message()
            .unwrap();
        assert!(old.contains("too old") && old.contains("400000"));
        assert!(ahead.contains("future") && ahead.contains("31000"));
        assert_eq!(Verdict::Fresh.rejection_message(), None);
    }

    #[test]
    fn request_id_validation() {
        assert!(is_valid_request_id("a"));
        assert!(is_valid_request_id(&"x".repeat(128)));
        assert!(is_valid_request_id("päätös-ÄÖ-€-🙂"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id(&"x".repeat(129)));
        // 43 three-byte characters = 129 bytes: bytes count, not characters.
        assert!(!is_valid_request_id(&"€".repeat(43)));
        assert!(is_valid_request_id(&"€".repeat(42)));
        for bad in ["a\nb", "a\0", "\u{7f}", "\u{85}x", "tab\t", "\r"] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }
}
