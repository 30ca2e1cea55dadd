//! Worker keys: a fresh in-memory key per worker start or rotation period, certified by the KMS
//! (one KMS `Sign` per rotation), signing every decision locally.
//!
//! Certificate payload (the bytes the certifier signs):
//!
//! ```text
//! "dl.signer.key-certificate.v1\n" || canonical_json({
//!     "algorithm": <"Ed25519" | "ECDSA_P256_SHA256">,
//!     "certifier_key_id": <KMS key ARN or local key id>,
//!     "key_id": "wk:" + first 32 hex digits of SHA-256(SPKI DER),
//!     "public_key": base64url(SPKI DER),
//!     "valid_from": <ms since epoch, integer>,
//!     "valid_until": <ms since epoch, integer, exclusive>,
//!     "worker_id": <string>
//! })
//! ```
//!
//! `canonical_json` is the ledger's (`dl_ledger::canonical_json`, RFC 8785 for strings and
//! integers): keys sorted, no whitespace. `certificate_signature` is the certifier's signature
//! value (base64url, no padding; DER ECDSA for KMS). The certifier's algorithm follows from its
//! public key.

use std::sync::Arc;
use std::time::Duration;

use dl_schema::{DecisionRecorded, Signature, SigningKeyCertified};
use serde_json::json;

use crate::crypto::{
    b64url, b64url_decode, check_algorithm, fingerprint_key_id, Algorithm, KeyPair, PublicKey,
};
use crate::error::{SignerError, VerifyError};
use crate::signer::Signer;

/// Domain prefix of certificate payloads.
pub const CERTIFICATE_DOMAIN: &[u8] = b"dl.signer.key-certificate.v1\n";
/// Domain prefix of decision payloads ([`decision_payload`]).
pub const DECISION_DOMAIN: &[u8] = b"dl.signer.decision.v1\n";
/// Prefix of worker key ids.
pub const WORKER_KEY_ID_PREFIX: &str = "wk:";
/// Longest accepted worker id.
pub const MAX_WORKER_ID_LEN: usize = 256;

/// The exact bytes a certifier signs for `cert` (its `certificate_signature` is not included).
pub fn certificate_payload(cert: &SigningKeyCertified) -> Vec<u8> {
    let value = json!({
        "algorithm": cert.algorithm,
        "certifier_key_id": cert.certifier_key_id,
        "key_id": cert.key_id,
        "public_key": cert.public_key,
        "valid_from": cert.valid_from,
        "valid_until": cert.valid_until,
        "worker_id": cert.worker_id,
    });
    let mut out = CERTIFICATE_DOMAIN.to_vec();
    out.extend_from_slice(dl_ledger::canonical_json(&value).as_bytes());
    out
}

/// The bytes a worker signs for a recorded decision: `"dl.signer.decision.v1\n"` followed by the
/// canonical JSON of the `DecisionRecorded` body without its `signature` field. The worker puts
/// the resulting signature into `DecisionRecorded.signature` and `DecisionResult.signature`.
pub fn decision_payload(decision: &DecisionRecorded) -> Vec<u8> {
    // Written straight from the struct; byte-for-byte the canonical JSON of the serde_json value
    // without "signature" (checked by dl-ledger's tests).
    let text = dl_ledger::decision_canonical_json_unsigned(decision);
    let mut out = Vec::with_capacity(DECISION_DOMAIN.len() + text.len());
    out.extend_from_slice(DECISION_DOMAIN);
    out.extend_from_slice(text.as_bytes());
    out
}

/// Lifetime settings of worker keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerKeyPolicy {
    /// Algorithm of the worker keys.
    pub algorithm: Algorithm,
    /// Validity period written into each certificate.
    pub validity: Duration,
    /// Rotation starts this long before the end of validity. The difference
    /// `renew_before` is the KMS outage a worker rides out: rotation failures are tolerated until
    /// the current key expires, then the worker stops deciding (fail closed).
    pub renew_before: Duration,
}

impl Default for WorkerKeyPolicy {
    /// Ed25519, valid 6 h, rotated after 1 h (so a KMS outage of up to 5 h is ridden out).
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Ed25519,
            validity: Duration::from_secs(6 * 3600),
            renew_before: Duration::from_secs(5 * 3600),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn check_worker_id(worker_id: &str) -> Result<(), SignerError> {
    if worker_id.is_empty()
        || worker_id.len() > MAX_WORKER_ID_LEN
        || worker_id.chars().any(char::is_control)
    {
        return Err(SignerError::InvalidInput(format!(
            "worker id must be 1..={MAX_WORKER_ID_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// An in-memory signing key with its KMS certificate.
pub struct WorkerKey {
    key: KeyPair,
    cert: SigningKeyCertified,
    renew_at: i64,
}

impl std::fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerKey")
            .field("certificate", &self.cert)
            .field("renew_at", &self.renew_at)
            .finish()
    }
}

impl WorkerKey {
    /// Generates a key and has `certifier` sign its certificate, valid from `now_ms` for
    /// `policy.validity`. One KMS `Sign` call (plus `GetPublicKey` when the certifier's key is
    /// not cached). The certificate is verified offline before it is returned, so a KMS that
    /// signs wrongly is caught here ([`SignerError::BadResponse`]).
    ///
    /// Append the certificate to the ledger (`SIGNING_KEY_CERTIFIED`) before the first decision
    /// signed with the key.
    pub async fn certify(
        certifier: &Signer,
        worker_id: &str,
        policy: &WorkerKeyPolicy,
        now_ms: i64,
    ) -> Result<Self, SignerError> {
        check_worker_id(worker_id)?;
        if policy.validity.is_zero() {
            return Err(SignerError::Config(
                "worker key validity must be positive".into(),
            ));
        }
        let valid_until = now_ms
            .checked_add(ms(policy.validity))
            .ok_or_else(|| SignerError::InvalidInput("validity overflows".into()))?;
        let key = KeyPair::generate(policy.algorithm);
        let spki = key.spki_der();
        let certifier_key = certifier.key_info().await?;
        let mut cert = SigningKeyCertified {
            key_id: fingerprint_key_id(WORKER_KEY_ID_PREFIX, &spki),
            algorithm: policy.algorithm.as_str().to_string(),
            public_key: b64url(&spki),
            worker_id: worker_id.to_string(),
            valid_from: now_ms,
            valid_until,
            certifier_key_id: certifier_key.key_id.clone(),
            certificate_signature: String::new(),
        };
        let signature = certifier
            .sign_with(&certifier_key, &certificate_payload(&cert))
            .await?;
        cert.certificate_signature = signature.value;
        verify_certificate(&cert, &certifier_key.public_key_spki).map_err(|e| {
            SignerError::BadResponse(format!(
                "certificate signed by {} does not verify ({e}); for moto set DL_KMS_MESSAGE_TYPE=raw",
                certifier_key.key_id
            ))
        })?;
        let renew_at = valid_until
            .saturating_sub(ms(policy.renew_before))
            .max(now_ms);
        tracing::info!(key_id = %cert.key_id, certifier = %cert.certifier_key_id, valid_until, "worker key certified");
        Ok(Self {
            key,
            cert,
            renew_at,
        })
    }

    /// Signs `message` locally (no KMS call, no clock). Check [`valid_at`](Self::valid_at) or
    /// use [`try_sign`](Self::try_sign) to fail closed on an expired key.
    pub fn sign(&self, message: &[u8]) -> Signature {
        crate::metrics::local_signature(self.key.algorithm());
        Signature {
            algorithm: self.cert.algorithm.clone(),
            key_id: self.cert.key_id.clone(),
            value: b64url(&self.key.sign(message)),
        }
    }

    /// Signs when the key is valid at `now_ms`, else [`SignerError::KeyExpired`] (fail closed).
    pub fn try_sign(&self, now_ms: i64, message: &[u8]) -> Result<Signature, SignerError> {
        if !self.valid_at(now_ms) {
            return Err(SignerError::KeyExpired {
                key_id: self.cert.key_id.clone(),
                at_ms: now_ms,
                valid_from: self.cert.valid_from,
                valid_until: self.cert.valid_until,
            });
        }
        Ok(self.sign(message))
    }

    /// Whether `valid_from ≤ now_ms < valid_until`.
    pub fn valid_at(&self, now_ms: i64) -> bool {
        self.cert.valid_from <= now_ms && now_ms < self.cert.valid_until
    }

    /// Whether a new key should be certified: the renewal time is reached or the key is not
    /// valid at `now_ms`.
    pub fn needs_rotation(&self, now_ms: i64) -> bool {
        now_ms >= self.renew_at || !self.valid_at(now_ms)
    }

    /// The certificate (the `SIGNING_KEY_CERTIFIED` ledger body).
    pub fn certificate(&self) -> &SigningKeyCertified {
        &self.cert
    }

    /// The key id carried by its signatures.
    pub fn key_id(&self) -> &str {
        &self.cert.key_id
    }

    /// DER SubjectPublicKeyInfo of the key.
    pub fn public_key_spki(&self) -> Vec<u8> {
        self.key.spki_der()
    }
}

/// Checks a certificate offline against the certifier's public key (DER SPKI, e.g. from KMS
/// `GetPublicKey` of `cert.certifier_key_id`): field consistency (algorithm matches the public
/// key, `key_id` is the public key's fingerprint id, `valid_from < valid_until`) and the
/// certifier's signature over [`certificate_payload`].
pub fn verify_certificate(
    cert: &SigningKeyCertified,
    certifier_public_key_spki: &[u8],
) -> Result<(), VerifyError> {
    let subject = PublicKey::from_spki_b64url(&cert.public_key)?;
    check_algorithm(&subject, &cert.algorithm)?;
    let spki = b64url_decode(&cert.public_key)?;
    let expected_id = fingerprint_key_id(WORKER_KEY_ID_PREFIX, &spki);
    if cert.key_id != expected_id {
        return Err(VerifyError::KeyIdMismatch {
            expected: expected_id,
            found: cert.key_id.clone(),
        });
    }
    if cert.valid_from >= cert.valid_until {
        return Err(VerifyError::Malformed(
            "valid_from is not before valid_until".into(),
        ));
    }
    if cert.worker_id.is_empty() || cert.certifier_key_id.is_empty() {
        return Err(VerifyError::Malformed(
            "empty worker or certifier id".into(),
        ));
    }
    let certifier = PublicKey::from_spki_der(certifier_public_key_spki)?;
    let signature = b64url_decode(&cert.certificate_signature)?;
    certifier.verify(&certificate_payload(cert), &signature)
}

/// Checks a decision signature offline against a certificate (verify the certificate itself once
/// with [`verify_certificate`]): the key id and algorithm must be the certificate's and the
/// signature must verify with its public key.
pub fn verify_decision_signature(
    cert: &SigningKeyCertified,
    message: &[u8],
    signature: &Signature,
) -> Result<(), VerifyError> {
    if signature.key_id != cert.key_id {
        return Err(VerifyError::KeyIdMismatch {
            expected: cert.key_id.clone(),
            found: signature.key_id.clone(),
        });
    }
    let key = PublicKey::from_spki_b64url(&cert.public_key)?;
    check_algorithm(&key, &cert.algorithm)?;
    check_algorithm(&key, &signature.algorithm)?;
    key.verify(message, &b64url_decode(&signature.value)?)
}

/// [`verify_decision_signature`] plus a validity check of the signing time (e.g. `decided_at`).
pub fn verify_decision_signature_at(
    cert: &SigningKeyCertified,
    message: &[u8],
    signature: &Signature,
    signed_at_ms: i64,
) -> Result<(), VerifyError> {
    if !(cert.valid_from <= signed_at_ms && signed_at_ms < cert.valid_until) {
        return Err(VerifyError::OutsideValidity {
            at_ms: signed_at_ms,
            valid_from: cert.valid_from,
            valid_until: cert.valid_until,
        });
    }
    verify_decision_signature(cert, message, signature)
}

/// What [`WorkerKeyManager::refresh`] did.
#[derive(Debug)]
pub enum Refresh {
    /// The current key is fine.
    Unchanged,
    /// A new key was certified; append this certificate to the ledger before using the key.
    Rotated(SigningKeyCertified),
    /// Rotation was due but failed; the current key is still valid and stays in use.
    Deferred(SignerError),
}

/// Holds a worker's current key and implements the outage behaviour: keep deciding with the
/// current certified key while it is valid, rotate when due, and fail closed when it expires
/// without a successful rotation.
#[derive(Debug)]
pub struct WorkerKeyManager {
    worker_id: String,
    policy: WorkerKeyPolicy,
    current: Option<Arc<WorkerKey>>,
}

impl WorkerKeyManager {
    /// A manager without a key yet (the first [`refresh`](Self::refresh) certifies one).
    pub fn new(worker_id: impl Into<String>, policy: WorkerKeyPolicy) -> Self {
        Self {
            worker_id: worker_id.into(),
            policy,
            current: None,
        }
    }

    /// Certifies a new key when none is held or rotation is due. Errors only when no valid key
    /// remains (the caller must stop deciding); a failed rotation with a still-valid key is
    /// [`Refresh::Deferred`]. With an open circuit this returns without a network call.
    pub async fn refresh(
        &mut self,
        certifier: &Signer,
        now_ms: i64,
    ) -> Result<Refresh, SignerError> {
        if let Some(k) = &self.current {
            if !k.needs_rotation(now_ms) {
                return Ok(Refresh::Unchanged);
            }
        }
        match WorkerKey::certify(certifier, &self.worker_id, &self.policy, now_ms).await {
            Ok(key) => {
                let cert = key.certificate().clone();
                self.current = Some(Arc::new(key));
                Ok(Refresh::Rotated(cert))
            }
            Err(e) => match &self.current {
                Some(k) if k.valid_at(now_ms) => {
                    tracing::warn!(error = %e, key_id = %k.key_id(), valid_until = k.cert.valid_until, "worker key rotation deferred");
                    Ok(Refresh::Deferred(e))
                }
                _ => Err(e),
            },
        }
    }

    /// The current key when valid at `now_ms`; otherwise [`SignerError::KeyExpired`] (or
    /// `Config` when none was ever certified). Shared, so signers need not hold the manager
    /// while a rotation talks to the KMS.
    pub fn current(&self, now_ms: i64) -> Result<Arc<WorkerKey>, SignerError> {
        match &self.current {
            Some(k) if k.valid_at(now_ms) => Ok(k.clone()),
            Some(k) => Err(SignerError::KeyExpired {
                key_id: k.cert.key_id.clone(),
                at_ms: now_ms,
                valid_from: k.cert.valid_from,
                valid_until: k.cert.valid_until,
            }),
            None => Err(SignerError::Config("no worker key certified yet".into())),
        }
    }
}
