//! Metrics of this crate (through the `metrics` facade; the service installs the exporter).
//!
//! Labels are bounded: `reason` comes from a fixed list, `issuer` from the configuration,
//! `outcome` is `success`, `error` or `rate_limited`. No caller, token or request ids.

/// Counter: rejected authentications, labelled by `reason` ([`crate::AuthError::reason`]).
pub const FAILURES_TOTAL: &str = "dl_auth_failures_total";
/// Counter: JWKS fetches by `issuer` and `outcome` (`success`, `error`, `rate_limited`).
pub const JWKS_REFRESHES_TOTAL: &str = "dl_auth_jwks_refreshes_total";
/// Histogram: seconds by which a token's `iat` lies ahead of this verifier's clock (0 when it
/// does not), observed for every signature-valid token with an `iat`.
pub const CLOCK_SKEW_SECONDS: &str = "dl_auth_clock_skew_seconds";
/// Counter: bearer tokens answered from the verified-token cache (no signature check; the time
/// claims are still checked).
pub const TOKEN_CACHE_HITS_TOTAL: &str = "dl_auth_token_cache_hits_total";
/// Counter: bearer tokens verified in full while the cache is on (not cached, or the entry was
/// no longer usable).
pub const TOKEN_CACHE_MISSES_TOTAL: &str = "dl_auth_token_cache_misses_total";
/// Counter: cache entries dropped to make room for new ones (least recently used first).
pub const TOKEN_CACHE_EVICTIONS_TOTAL: &str = "dl_auth_token_cache_evictions_total";
/// Counter: cache entries dropped because the issuer's JWKS changed or the token expired.
pub const TOKEN_CACHE_INVALIDATIONS_TOTAL: &str = "dl_auth_token_cache_invalidations_total";

/// Registers descriptions and units of the metrics (call once after installing the recorder).
pub fn describe_metrics() {
    metrics::describe_counter!(FAILURES_TOTAL, "Rejected caller authentications by reason");
    metrics::describe_counter!(
        JWKS_REFRESHES_TOTAL,
        "JWKS fetches by issuer and outcome (success, error, rate_limited)"
    );
    metrics::describe_histogram!(
        CLOCK_SKEW_SECONDS,
        metrics::Unit::Seconds,
        "Seconds by which a token's iat is ahead of the verifier's clock"
    );
    metrics::describe_counter!(
        TOKEN_CACHE_HITS_TOTAL,
        "Bearer tokens answered from the verified-token cache (time claims still checked)"
    );
    metrics::describe_counter!(
        TOKEN_CACHE_MISSES_TOTAL,
        "Bearer tokens verified in full (not in the verified-token cache, or entry unusable)"
    );
    metrics::describe_counter!(
        TOKEN_CACHE_EVICTIONS_TOTAL,
        "Verified-token cache entries evicted to make room (least recently used)"
    );
    metrics::describe_counter!(
        TOKEN_CACHE_INVALIDATIONS_TOTAL,
        "Verified-token cache entries dropped: JWKS key set changed or token expired"
    );
}

pub(crate) fn failure(reason: &'static str) {
    metrics::counter!(FAILURES_TOTAL, "reason" => reason).increment(1);
}

pub(crate) fn jwks_refresh(issuer: &str, outcome: &'static str) {
    metrics::counter!(JWKS_REFRESHES_TOTAL, "issuer" => issuer.to_string(), "outcome" => outcome)
        .increment(1);
}

pub(crate) fn clock_skew(seconds: f64) {
    metrics::histogram!(CLOCK_SKEW_SECONDS).record(seconds);
}

pub(crate) fn token_cache_hit() {
    metrics::counter!(TOKEN_CACHE_HITS_TOTAL).increment(1);
}

pub(crate) fn token_cache_miss() {
    metrics::counter!(TOKEN_CACHE_MISSES_TOTAL).increment(1);
}

pub(crate) fn token_cache_eviction() {
    metrics::counter!(TOKEN_CACHE_EVICTIONS_TOTAL).increment(1);
}

pub(crate) fn token_cache_invalidation() {
    metrics::counter!(TOKEN_CACHE_INVALIDATIONS_TOTAL).increment(1);
}
