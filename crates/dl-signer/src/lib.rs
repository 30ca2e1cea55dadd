//! Signing for Decision Layer.
//!
//! * [`Signer`]: AWS KMS ([`AwsKmsSigner`], ECC_NIST_P256 / ECDSA_SHA_256, digests, retries with
//!   full-jitter backoff, per-attempt timeouts, circuit breaker) or a local PKCS#8 key file
//!   ([`LocalKeyFile`], P-256 or Ed25519, created 0600 on first use).
//! * [`WorkerKey`]: a fresh in-memory key per worker start / rotation, certified once by the
//!   [`Signer`] (`SIGNING_KEY_CERTIFIED`), signing each decision locally in microseconds, so
//!   per-decision signatures never touch KMS quotas. [`WorkerKeyManager`] rides out KMS outages
//!   until the key expires, then fails closed.
//! * [`sign_checkpoint`] / [`verify_checkpoint`]: KMS-signed chain heads; [`CheckpointPolicy`]
//!   bounds KMS calls to `chains × 1000 / min_interval_ms` per second.
//! * Offline verification from a DER SubjectPublicKeyInfo: [`verify_signature`],
//!   [`verify_certificate`], [`verify_decision_signature`], [`verify_checkpoint`]; many Ed25519
//!   signatures by one key at once with [`BatchKey`] (ADR 0025).
//!
//! Signed payloads are domain-prefixed canonical JSON; see the crate README and the module docs
//! of [`worker_key`] and [`checkpoint`]. Metrics are listed in [`metrics`].

mod batch;
pub mod checkpoint;
mod crypto;
mod error;
pub mod kms;
mod local;
pub mod metrics;
mod resilience;
mod signer;
pub mod worker_key;

pub use batch::{BatchItem, BatchKey};
pub use checkpoint::{
    checkpoint_payload, sign_checkpoint, sign_checkpoint_for_head, verify_checkpoint,
    CheckpointPolicy, CheckpointTracker, CHECKPOINT_DOMAIN,
};
pub use crypto::{
    b64url, b64url_decode, fingerprint_key_id, verify_raw, verify_signature, Algorithm, PublicKey,
};
pub use error::{SignerError, VerifyError};
pub use kms::{admin, kms_client, AwsKmsSigner, KmsConfig, KmsMessageType};
pub use local::{LocalKeyFile, LOCAL_KEY_ID_PREFIX};
pub use resilience::{BreakerConfig, BreakerState, CircuitBreaker, RetryPolicy};
pub use signer::{KeyInfo, Signer, SignerConfig, DEFAULT_KEY_FILE};
pub use worker_key::{
    certificate_payload, decision_payload, verify_certificate, verify_decision_signature,
    verify_decision_signature_at, Refresh, WorkerKey, WorkerKeyManager, WorkerKeyPolicy,
    CERTIFICATE_DOMAIN, DECISION_DOMAIN,
};
