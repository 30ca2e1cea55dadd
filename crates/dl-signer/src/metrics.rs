//! Metric names (Prometheus, via the `metrics` facade). Labels are bounded:
//! `operation` ∈ {Sign, GetPublicKey, DescribeKey, Verify}, `outcome` ∈ {ok, rejected, throttled, error,
//! timeout, circuit_open}, `algorithm` ∈ {ECDSA_P256_SHA256, Ed25519}.

/// Counter: KMS calls by `operation` and `outcome`. `circuit_open` counts calls refused locally
/// by the open circuit breaker (no request was sent).
pub const KMS_CALLS_TOTAL: &str = "dl_signer_kms_calls_total";
/// Histogram (seconds): duration of each KMS request attempt, by `operation`.
pub const KMS_SECONDS: &str = "dl_signer_kms_seconds";
/// Gauge: 1 while the KMS circuit breaker is open (or half-open), 0 when closed.
pub const CIRCUIT_OPEN: &str = "dl_signer_circuit_open";
/// Counter: signatures made locally (worker keys and local key files), by `algorithm`.
pub const LOCAL_SIGNATURES_TOTAL: &str = "dl_signer_local_signatures_total";

pub(crate) fn kms_call(operation: &'static str, outcome: &'static str) {
    metrics::counter!(KMS_CALLS_TOTAL, "operation" => operation, "outcome" => outcome).increment(1);
}

pub(crate) fn kms_seconds(operation: &'static str, seconds: f64) {
    metrics::histogram!(KMS_SECONDS, "operation" => operation).record(seconds);
}

pub(crate) fn circuit_open(open: bool) {
    metrics::gauge!(CIRCUIT_OPEN).set(if open { 1.0 } else { 0.0 });
}

pub(crate) fn local_signature(algorithm: crate::Algorithm) {
    metrics::counter!(LOCAL_SIGNATURES_TOTAL, "algorithm" => algorithm.as_str()).increment(1);
}

/// Registers help text for the metrics above (call once per process that signs).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(KMS_CALLS_TOTAL, "KMS calls by operation and outcome.");
    describe_histogram!(
        KMS_SECONDS,
        Unit::Seconds,
        "Duration of each KMS request attempt, by operation."
    );
    describe_gauge!(
        CIRCUIT_OPEN,
        "1 while the KMS circuit breaker is open or half-open, 0 when closed."
    );
    describe_counter!(
        LOCAL_SIGNATURES_TOTAL,
        "Signatures made locally (worker keys, local key files), by algorithm."
    );
}
