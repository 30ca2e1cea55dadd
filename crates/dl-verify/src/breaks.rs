//! Break kinds and breaks.

use serde::Serialize;

/// What kind of problem a [`Break`] is. The names ([`BreakKind::as_str`]) are stable: they are
/// stored in `chain_breaks.break_kind` and printed by `dlctl ledger verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakKind {
    /// The record names another chain than the one it is read from.
    ChainMismatch,
    /// The sequence is not the previous one plus one (or 0 at the start): a record was deleted,
    /// duplicated or moved.
    SequenceGap,
    /// `prev_hash` is not the previous record's hash.
    BrokenLink,
    /// The recomputed hash differs from the recorded `hash`: the record was edited.
    HashMismatch,
    /// The body named by `kind` is missing, or another body is set too.
    MalformedBody,
    /// The record could not be decoded at all.
    Undecodable,
    /// A decision carries no signature (and unsigned decisions are not allowed).
    UnsignedDecision,
    /// A decision is signed by a key without a (valid) certificate earlier in the chain.
    UnknownSigningKey,
    /// A decision's signature does not verify (wrong key id/algorithm, altered decision or
    /// signature).
    BadDecisionSignature,
    /// A decision's `decided_at` lies outside its signing key's validity.
    KeyNotValid,
    /// A key certificate does not verify with its certifier's public key.
    BadKeyCertificate,
    /// A certificate or checkpoint names a certifier key that is not a trust anchor.
    UntrustedCertifier,
    /// A checkpoint's signature does not verify.
    BadCheckpoint,
    /// A checkpoint's `up_to_sequence`/`head_hash` do not name the record before it.
    CheckpointMismatch,
    /// A checkpoint's `merkle_root` is not the RFC 6962 root over the hashes of the records it
    /// covers (after the previous checkpoint up to `up_to_sequence`, ADR 0032).
    MerkleRootMismatch,
    /// A projected `decisions` row differs from its ledger record (or is missing).
    DecisionRowMismatch,
}

impl BreakKind {
    /// Every kind, in check order.
    pub const ALL: [BreakKind; 16] = [
        Self::ChainMismatch,
        Self::SequenceGap,
        Self::BrokenLink,
        Self::HashMismatch,
        Self::MalformedBody,
        Self::Undecodable,
        Self::UnsignedDecision,
        Self::UnknownSigningKey,
        Self::BadDecisionSignature,
        Self::KeyNotValid,
        Self::BadKeyCertificate,
        Self::UntrustedCertifier,
        Self::BadCheckpoint,
        Self::CheckpointMismatch,
        Self::MerkleRootMismatch,
        Self::DecisionRowMismatch,
    ];

    /// The stable SCREAMING_CASE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChainMismatch => "CHAIN_MISMATCH",
            Self::SequenceGap => "SEQUENCE_GAP",
            Self::BrokenLink => "BROKEN_LINK",
            Self::HashMismatch => "HASH_MISMATCH",
            Self::MalformedBody => "MALFORMED_BODY",
            Self::Undecodable => "UNDECODABLE",
            Self::UnsignedDecision => "UNSIGNED_DECISION",
            Self::UnknownSigningKey => "UNKNOWN_SIGNING_KEY",
            Self::BadDecisionSignature => "BAD_DECISION_SIGNATURE",
            Self::KeyNotValid => "KEY_NOT_VALID",
            Self::BadKeyCertificate => "BAD_KEY_CERTIFICATE",
            Self::UntrustedCertifier => "UNTRUSTED_CERTIFIER",
            Self::BadCheckpoint => "BAD_CHECKPOINT",
            Self::CheckpointMismatch => "CHECKPOINT_MISMATCH",
            Self::MerkleRootMismatch => "MERKLE_ROOT_MISMATCH",
            Self::DecisionRowMismatch => "DECISION_ROW_MISMATCH",
        }
    }

    /// Parses a name written by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BreakKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One place where a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// Chain (`<topic>:<partition>`).
    pub chain_id: String,
    /// Sequence of the offending record (for a gap: the sequence expected there); `None` when
    /// unknown (an undecodable record).
    pub sequence: Option<i64>,
    /// What is wrong.
    pub kind: BreakKind,
    /// What the verifier expected, when one value is expected (e.g. the previous hash).
    pub expected: Option<String>,
    /// What it found instead.
    pub found: Option<String>,
    /// A sentence for humans (never contains decision input or output).
    pub detail: String,
}

impl Break {
    pub(crate) fn new(
        chain_id: &str,
        sequence: Option<i64>,
        kind: BreakKind,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            chain_id: chain_id.to_string(),
            sequence,
            kind,
            expected: None,
            found: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn differs(mut self, expected: impl ToString, found: impl ToString) -> Self {
        self.expected = Some(expected.to_string());
        self.found = Some(found.to_string());
        self
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sequence {
            Some(s) => write!(f, "{}#{s}: {}: {}", self.chain_id, self.kind, self.detail)?,
            None => write!(f, "{}: {}: {}", self.chain_id, self.kind, self.detail)?,
        }
        if let (Some(e), Some(x)) = (&self.expected, &self.found) {
            write!(f, " (expected {e}, found {x})")?;
        }
        Ok(())
    }
}
