//! Error types. Messages never contain key material.

use thiserror::Error;

/// Why a signing operation (or a signer's construction) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignerError {
    /// The KMS could not be reached or kept failing transiently (network error, timeout,
    /// throttling, 5xx) after the bounded retries, or the circuit breaker is open. The request
    /// may succeed later; callers keep using what they have (a still-valid worker key) and fail
    /// closed once it expires.
    #[error("KMS unavailable for {operation} after {attempts} attempt(s){}: {message}", if *circuit_open { " (circuit open)" } else { "" })]
    Unavailable {
        /// KMS operation, e.g. `Sign`.
        operation: &'static str,
        /// Attempts made by this call (0 when the circuit was already open).
        attempts: u32,
        /// Whether the circuit breaker is open.
        circuit_open: bool,
        /// Last transient error, without key material.
        message: String,
    },
    /// The KMS answered and refused (unknown key, disabled key, wrong key usage, access denied,
    /// invalid request). Retrying the same request will not help.
    #[error("KMS rejected {operation}: {code}: {message}")]
    Rejected {
        /// KMS operation, e.g. `Sign`.
        operation: &'static str,
        /// AWS error code, e.g. `NotFoundException`.
        code: String,
        /// AWS error message.
        message: String,
    },
    /// Invalid configuration (missing key id, bad environment value, unsupported key spec).
    #[error("signer configuration: {0}")]
    Config(String),
    /// The local key file could not be read, created or parsed, or its permissions are unsafe.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// Path of the key file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An input that cannot be signed (e.g. a malformed head hash for a checkpoint).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The KMS returned something that is not a usable public key or signature, or a signature
    /// made by the KMS does not verify offline (see `Signer::self_test`).
    #[error("KMS response unusable: {0}")]
    BadResponse(String),
    /// The worker key is outside its validity period: the worker must stop signing (fail closed).
    #[error("worker key {key_id} is not valid at {at_ms} (valid {valid_from}..{valid_until})")]
    KeyExpired {
        /// Worker key id.
        key_id: String,
        /// The time asked about (ms since the epoch).
        at_ms: i64,
        /// Start of validity (ms).
        valid_from: i64,
        /// End of validity, exclusive (ms).
        valid_until: i64,
    },
}

impl SignerError {
    /// True for [`SignerError::Unavailable`]: a transient condition worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Why a signature, certificate or checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The public key is not a DER SubjectPublicKeyInfo of a P-256 or Ed25519 key.
    #[error("unusable public key: {0}")]
    BadPublicKey(String),
    /// The algorithm is not `ECDSA_P256_SHA256` or `Ed25519`, or does not match the key.
    #[error("algorithm mismatch or unsupported: {0}")]
    Algorithm(String),
    /// A field is malformed (bad base64url, bad hex, bad length, inconsistent times).
    #[error("malformed: {0}")]
    Malformed(String),
    /// The signature's key id is not the certified key's id.
    #[error("key id mismatch: expected {expected}, found {found}")]
    KeyIdMismatch {
        /// Key id that should have signed.
        expected: String,
        /// Key id named by the signature.
        found: String,
    },
    /// The signing time is outside the certificate's validity.
    #[error("signed at {at_ms}, outside the validity {valid_from}..{valid_until}")]
    OutsideValidity {
        /// Claimed signing time (ms).
        at_ms: i64,
        /// Start of validity (ms).
        valid_from: i64,
        /// End of validity, exclusive (ms).
        valid_until: i64,
    },
    /// The signature does not verify: the message, the signed fields or the signature were
    /// altered, or another key signed it.
    #[error("signature does not verify")]
    BadSignature,
}
