//! Signed checkpoints over a chain head, and when to make them.
//!
//! Checkpoint payload (the bytes the KMS signs):
//!
//! ```text
//! "dl.signer.checkpoint.v1\n" || canonical_json({
//!     "chain_id": <"<ledger topic>:<partition>">,
//!     "head_hash": <64 lowercase hex digits: hash of record up_to_sequence>,
//!     "merkle_root": <64 lowercase hex digits, or null>,
//!     "signer_key_id": <KMS key ARN or local key id>,
//!     "up_to_sequence": <integer ≥ 0>
//! })
//! ```
//!
//! `Checkpoint.signature` is the signature value (base64url, no padding; DER ECDSA for KMS). The
//! algorithm follows from the signer's public key. `chain_id` is not a field of the `Checkpoint`
//! body (it is the enclosing `LedgerRecord`'s), but it is signed, so a checkpoint cannot be
//! replayed onto another chain.

use dl_ledger::ChainHead;
use dl_schema::Checkpoint;
use serde_json::json;

use crate::crypto::{b64url_decode, PublicKey};
use crate::error::{SignerError, VerifyError};
use crate::signer::Signer;

/// Domain prefix of checkpoint payloads.
pub const CHECKPOINT_DOMAIN: &[u8] = b"dl.signer.checkpoint.v1\n";

fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The exact bytes signed for a checkpoint; refuses malformed fields.
pub fn checkpoint_payload(
    chain_id: &str,
    up_to_sequence: i64,
    head_hash: &str,
    merkle_root: Option<&str>,
    signer_key_id: &str,
) -> Result<Vec<u8>, String> {
    if chain_id.is_empty() {
        return Err("empty chain id".into());
    }
    if up_to_sequence < 0 {
        return Err("negative sequence".into());
    }
    if !is_hash(head_hash) {
        return Err("head_hash is not 64 lowercase hex digits".into());
    }
    if merkle_root.is_some_and(|m| !is_hash(m)) {
        return Err("merkle_root is not 64 lowercase hex digits".into());
    }
    if signer_key_id.is_empty() {
        return Err("empty signer key id".into());
    }
    let value = json!({
        "chain_id": chain_id,
        "head_hash": head_hash,
        "merkle_root": merkle_root,
        "signer_key_id": signer_key_id,
        "up_to_sequence": up_to_sequence,
    });
    let mut out = CHECKPOINT_DOMAIN.to_vec();
    out.extend_from_slice(dl_ledger::canonical_json(&value).as_bytes());
    Ok(out)
}

/// Signs a checkpoint covering records `0..=up_to_sequence` of `chain_id` whose last record has
/// hash `head_hash`. One KMS `Sign` call.
pub async fn sign_checkpoint(
    signer: &Signer,
    chain_id: &str,
    up_to_sequence: i64,
    head_hash: &str,
    merkle_root: Option<&str>,
) -> Result<Checkpoint, SignerError> {
    // Validate before touching the KMS.
    checkpoint_payload(chain_id, up_to_sequence, head_hash, merkle_root, "-")
        .map_err(SignerError::InvalidInput)?;
    let key = signer.key_info().await?;
    let payload = checkpoint_payload(
        chain_id,
        up_to_sequence,
        head_hash,
        merkle_root,
        &key.key_id,
    )
    .map_err(SignerError::InvalidInput)?;
    let signature = signer.sign_with(&key, &payload).await?;
    Ok(Checkpoint {
        up_to_sequence,
        head_hash: head_hash.to_string(),
        merkle_root: merkle_root.map(str::to_string),
        signer_key_id: key.key_id.clone(),
        signature: signature.value,
    })
}

/// Signs a checkpoint of a chain's current head (the last appended record). Refuses an empty
/// chain.
pub async fn sign_checkpoint_for_head(
    signer: &Signer,
    head: &ChainHead,
    merkle_root: Option<&str>,
) -> Result<Checkpoint, SignerError> {
    if head.next_sequence <= 0 {
        return Err(SignerError::InvalidInput(
            "an empty chain has nothing to checkpoint".into(),
        ));
    }
    sign_checkpoint(
        signer,
        &head.chain_id,
        head.next_sequence - 1,
        &head.head_hash,
        merkle_root,
    )
    .await
}

/// Verifies a checkpoint of `chain_id` offline with the public key (DER SPKI) of
/// `checkpoint.signer_key_id`. It does not check that `head_hash` is the hash of record
/// `up_to_sequence`: the ledger verifier does that while walking the chain.
pub fn verify_checkpoint(
    chain_id: &str,
    checkpoint: &Checkpoint,
    signer_public_key_spki: &[u8],
) -> Result<(), VerifyError> {
    let payload = checkpoint_payload(
        chain_id,
        checkpoint.up_to_sequence,
        &checkpoint.head_hash,
        checkpoint.merkle_root.as_deref(),
        &checkpoint.signer_key_id,
    )
    .map_err(VerifyError::Malformed)?;
    let key = PublicKey::from_spki_der(signer_public_key_spki)?;
    key.verify(&payload, &b64url_decode(&checkpoint.signature)?)
}

/// When checkpoints are due.
///
/// A checkpoint of a chain is due when at least one record is not covered yet, at least
/// `min_interval_ms` passed since the previous checkpoint, and either `every_records` records are
/// uncovered or `every_ms` passed. Hence, per chain, at most `1000 / min_interval_ms` KMS `Sign`
/// calls per second, and in total `calls/s ≤ chains × 1000 / min_interval_ms`. With
/// [`CheckpointPolicy::new`] `min_interval_ms = every_ms`, so `calls/s ≤ chains × 1000 / every_ms`
/// (e.g. 16 partitions, every 250 ms: ≤ 64 Sign/s, against AWS's shared 1,000/s ECC quota).
/// An idle chain costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Uncovered records that make a checkpoint due (subject to `min_interval_ms`).
    pub every_records: u64,
    /// Longest time an uncovered record waits for a checkpoint (plus the caller's polling delay).
    pub every_ms: u64,
    /// Shortest time between two checkpoints of a chain: the hard bound on the KMS call rate.
    pub min_interval_ms: u64,
}

impl CheckpointPolicy {
    /// `every_records`, `every_ms`, and `min_interval_ms = every_ms`.
    pub fn new(every_records: u64, every_ms: u64) -> Self {
        Self {
            every_records: every_records.max(1),
            every_ms,
            min_interval_ms: every_ms,
        }
    }

    /// Upper bound of KMS `Sign` calls per second for `chains` chains.
    pub fn max_kms_calls_per_second(&self, chains: u64) -> f64 {
        if self.min_interval_ms == 0 {
            return f64::INFINITY;
        }
        chains as f64 * 1000.0 / self.min_interval_ms as f64
    }
}

impl Default for CheckpointPolicy {
    /// Every 1,000 records or 1 s, at most once per second per chain.
    fn default() -> Self {
        Self::new(1000, 1000)
    }
}

/// Per-chain checkpoint bookkeeping for a [`CheckpointPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointTracker {
    policy: CheckpointPolicy,
    covered_through: Option<i64>,
    last_at_ms: Option<i64>,
}

impl CheckpointTracker {
    /// A chain without checkpoints yet (or whose last checkpoint is unknown).
    pub fn new(policy: CheckpointPolicy) -> Self {
        Self {
            policy,
            covered_through: None,
            last_at_ms: None,
        }
    }

    /// Whether a checkpoint is due when the chain's last record has `head_sequence` (−1 for an
    /// empty chain) at `now_ms`.
    pub fn is_due(&self, head_sequence: i64, now_ms: i64) -> bool {
        let covered = self.covered_through.unwrap_or(-1);
        let uncovered = u64::try_from(head_sequence.saturating_sub(covered)).unwrap_or(0);
        if uncovered == 0 {
            return false;
        }
        let elapsed = match self.last_at_ms {
            None => u64::MAX,
            Some(at) => u64::try_from(now_ms.saturating_sub(at)).unwrap_or(0),
        };
        elapsed >= self.policy.min_interval_ms
            && (uncovered >= self.policy.every_records || elapsed >= self.policy.every_ms)
    }

    /// Records a checkpoint made at `at_ms`. Pass the sequence of the ledger record that carries
    /// the checkpoint (one past `up_to_sequence` when it is appended right after), so that the
    /// checkpoint record itself does not make the next checkpoint due on an idle chain.
    pub fn checkpointed(&mut self, covered_through: i64, at_ms: i64) {
        self.covered_through = Some(covered_through);
        self.last_at_ms = Some(at_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_timing() {
        let mut t = CheckpointTracker::new(CheckpointPolicy {
            every_records: 100,
            every_ms: 1000,
            min_interval_ms: 200,
        });
        assert!(!t.is_due(-1, 0), "empty chain");
        assert!(t.is_due(0, 0), "first record, no checkpoint yet");
        t.checkpointed(1, 0);
        assert!(!t.is_due(1, 5000), "idle chain: only the checkpoint record");
        assert!(!t.is_due(50, 999));
        assert!(t.is_due(50, 1000), "time");
        assert!(!t.is_due(101, 199), "min interval");
        assert!(t.is_due(101, 200), "records");
        let p = CheckpointPolicy::new(0, 250);
        assert_eq!(p.every_records, 1);
        assert_eq!(p.max_kms_calls_per_second(16), 64.0);
    }

    #[test]
    fn payload_rejects_malformed_fields() {
        let h = "a".repeat(64);
        assert!(checkpoint_payload("c:0", 0, &h, None, "k").is_ok());
        assert!(checkpoint_payload("c:0", -1, &h, None, "k").is_err());
        assert!(checkpoint_payload("c:0", 0, &"A".repeat(64), None, "k").is_err());
        assert!(checkpoint_payload("c:0", 0, &h, Some("xyz"), "k").is_err());
        assert!(checkpoint_payload("", 0, &h, None, "k").is_err());
        let p = checkpoint_payload("c:0", 7, &h, Some(&h), "k").unwrap();
        let text = String::from_utf8(p).unwrap();
        assert_eq!(
            text,
            format!("dl.signer.checkpoint.v1\n{{\"chain_id\":\"c:0\",\"head_hash\":\"{h}\",\"merkle_root\":\"{h}\",\"signer_key_id\":\"k\",\"up_to_sequence\":7}}")
        );
    }
}
