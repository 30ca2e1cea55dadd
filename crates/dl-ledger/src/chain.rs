//! Appending to and verifying a hash chain.

use dl_schema::LedgerRecord;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::canonical_json;

/// `prev_hash` of the first record of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain-separation prefix hashed before the canonical JSON.
pub const HASH_DOMAIN: &[u8] = b"dl.ledger.v1\n";

/// Computes the hash a record must carry (its own `hash` field is ignored).
///
/// Writes the canonical JSON straight from the record ([`crate::record_canonical_json`]); the
/// result is the same as [`record_hash_reference`]'s, only cheaper.
pub fn record_hash(record: &LedgerRecord) -> String {
    let mut text = String::with_capacity(1024);
    crate::direct::write_record_for_hash(&mut text, record);
    hash_canonical(&text)
}

/// The hash of a record computed literally as `schemas/ledger-hash.md` reads: the record as a
/// `serde_json::Value`, `hash` removed, [`canonical_json`]. Slower than [`record_hash`]; kept as
/// the reference the fast path is tested and benchmarked against.
pub fn record_hash_reference(record: &LedgerRecord) -> String {
    hash_canonical(&canonical_json(&hashed_value(record)))
}

/// `V` of `schemas/ledger-hash.md` without its `hash` member: the record's JSON value, with a
/// null `tenant` left out of the decision or rejection body (records written before tenants
/// keep their hashes).
pub(crate) fn hashed_value(record: &LedgerRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("hash");
        for body in ["decision", "rejection"] {
            if let Some(body) = map.get_mut(body).and_then(|b| b.as_object_mut()) {
                drop_null_tenant(body);
            }
        }
    }
    value
}

/// Removes a `tenant` member whose value is null.
pub(crate) fn drop_null_tenant(body: &mut serde_json::Map<String, serde_json::Value>) {
    if body.get("tenant").is_some_and(serde_json::Value::is_null) {
        body.remove("tenant");
    }
}

fn hash_canonical(text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN);
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

/// Most record hashes a head keeps for its segment's Merkle tree (32 MiB): past it, e.g. while
/// checkpoints keep failing, the segment is given up and its checkpoint gets no root.
pub const MAX_SEGMENT_LEAVES: usize = 1 << 20;

/// The head of one chain: where the next record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// `<topic>:<partition>`.
    pub chain_id: String,
    /// Sequence the next record gets.
    pub next_sequence: i64,
    /// Hash of the last record (or [`GENESIS_HASH`]).
    pub head_hash: String,
    /// Hashes of the records after the last checkpoint (the next checkpoint's Merkle tree
    /// leaves, ADR 0032); `None` when not known (a head recovered without its segment).
    segment: Option<Vec<crate::merkle::Hash32>>,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis(chain_id: impl Into<String>) -> Self {
        Self {
            chain_id: chain_id.into(),
            next_sequence: 0,
            head_hash: GENESIS_HASH.to_string(),
            segment: Some(Vec::new()),
        }
    }

    /// The head after `last`, the newest record of a chain. Its segment is known only when
    /// `last` is a checkpoint (then it is empty); see [`ChainHead::with_segment`].
    pub fn after(last: &LedgerRecord) -> Self {
        Self {
            chain_id: last.chain_id.clone(),
            next_sequence: last.sequence + 1,
            head_hash: last.hash.clone(),
            segment: (last.kind == dl_schema::LedgerRecordKind::Checkpoint).then(Vec::new),
        }
    }

    /// Sets the hashes of the records after the last checkpoint (oldest first), read back on
    /// recovery; `None` when they could not be read.
    pub fn with_segment(mut self, segment: Option<Vec<crate::merkle::Hash32>>) -> Self {
        self.segment = segment.filter(|s| s.len() <= MAX_SEGMENT_LEAVES);
        self
    }

    /// The record hashes the next checkpoint covers, if known.
    pub fn segment(&self) -> Option<&[crate::merkle::Hash32]> {
        self.segment.as_deref()
    }

    /// The Merkle root (lowercase hex) the next checkpoint commits to, if the segment is known.
    pub fn segment_root(&self) -> Option<String> {
        self.segment
            .as_deref()
            .map(|s| hex::encode(crate::merkle::root(s)))
    }

    /// Fills chain id, sequence, previous hash and hash of `record`, and advances the head.
    /// A checkpoint starts a new segment; any other record is a leaf of the current one.
    pub fn append(&mut self, mut record: LedgerRecord) -> LedgerRecord {
        record.chain_id = self.chain_id.clone();
        record.sequence = self.next_sequence;
        record.prev_hash = std::mem::take(&mut self.head_hash);
        record.hash = String::new();
        record.hash = record_hash(&record);
        self.next_sequence += 1;
        self.head_hash = record.hash.clone();
        if record.kind == dl_schema::LedgerRecordKind::Checkpoint {
            self.segment = Some(Vec::new());
        } else if let Some(segment) = &mut self.segment {
            match crate::merkle::parse_hash(&record.hash) {
                Ok(h) if segment.len() < MAX_SEGMENT_LEAVES => segment.push(h),
                _ => self.segment = None,
            }
        }
        record
    }
}

/// A place where a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainBreak {
    /// The record's content does not hash to its `hash` (the record was edited).
    #[error("{chain_id}#{sequence}: hash mismatch: recorded {recorded}, recomputed {recomputed}")]
    HashMismatch {
        /// Chain.
        chain_id: String,
        /// Sequence of the record.
        sequence: i64,
        /// `hash` as recorded.
        recorded: String,
        /// Hash recomputed from the content.
        recomputed: String,
    },
    /// The sequence is not the one expected (a record was deleted, duplicated or moved).
    #[error("{chain_id}: expected sequence {expected}, found {found}")]
    SequenceGap {
        /// Chain.
        chain_id: String,
        /// Sequence expected next.
        expected: i64,
        /// Sequence found.
        found: i64,
    },
    /// `prev_hash` does not name the previous record.
    #[error("{chain_id}#{sequence}: prev_hash {found} does not link to {expected}")]
    BrokenLink {
        /// Chain.
        chain_id: String,
        /// Sequence of the record.
        sequence: i64,
        /// The previous record's hash.
        expected: String,
        /// `prev_hash` as recorded.
        found: String,
    },
    /// The body named by `kind` is missing, or another body is set too.
    #[error("{chain_id}#{sequence}: body does not match kind {kind}")]
    MalformedBody {
        /// Chain.
        chain_id: String,
        /// Sequence.
        sequence: i64,
        /// Declared kind.
        kind: &'static str,
    },
}

/// Verifies the records of one chain in order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected: Option<ChainHead>,
}

impl ChainVerifier {
    /// A verifier expecting the chain from its first record.
    pub fn from_genesis(chain_id: impl Into<String>) -> Self {
        Self {
            expected: Some(ChainHead::genesis(chain_id)),
        }
    }

    /// A verifier that trusts `head` as the state before the next record.
    pub fn resume(head: ChainHead) -> Self {
        Self {
            expected: Some(head),
        }
    }

    /// A verifier that accepts whatever record comes first (for a window of a chain).
    pub fn anywhere() -> Self {
        Self { expected: None }
    }

    /// The state after the last record seen.
    pub fn head(&self) -> Option<&ChainHead> {
        self.expected.as_ref()
    }

    /// Checks `record` against the chain so far and advances. After a break, the verifier
    /// continues from the offending record so that one break is reported once.
    pub fn verify(&mut self, record: &LedgerRecord) -> Result<(), ChainBreak> {
        let outcome = self.check(record);
        self.expected = Some(ChainHead::after(record));
        outcome
    }

    fn check(&self, record: &LedgerRecord) -> Result<(), ChainBreak> {
        let recomputed = record_hash(record);
        if recomputed != record.hash {
            return Err(ChainBreak::HashMismatch {
                chain_id: record.chain_id.clone(),
                sequence: record.sequence,
                recorded: record.hash.clone(),
                recomputed,
            });
        }
        if !record.body_matches_kind() {
            return Err(ChainBreak::MalformedBody {
                chain_id: record.chain_id.clone(),
                sequence: record.sequence,
                kind: record.kind.as_str(),
            });
        }
        if let Some(head) = &self.expected {
            if record.sequence != head.next_sequence || record.chain_id != head.chain_id {
                return Err(ChainBreak::SequenceGap {
                    chain_id: head.chain_id.clone(),
                    expected: head.next_sequence,
                    found: record.sequence,
                });
            }
            if record.prev_hash != head.head_hash {
                return Err(ChainBreak::BrokenLink {
                    chain_id: record.chain_id.clone(),
                    sequence: record.sequence,
                    expected: head.head_hash.clone(),
                    found: record.prev_hash.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dl_schema::LedgerRecordKind;
    use dl_schema::{RequestRejected, SourcePosition};

    fn rejected(i: i64) -> LedgerRecord {
        LedgerRecord {
            chain_id: String::new(),
            sequence: 0,
            prev_hash: String::new(),
            hash: String::new(),
            recorded_at: 1_700_000_000_000 + i,
            kind: LedgerRecordKind::RequestRejected,
            decision: None,
            rejection: Some(RequestRejected {
                decision_id: format!("d{i}"),
                request_id: format!("r{i}"),
                source: SourcePosition {
                    topic: "decision.requests".into(),
                    partition: 0,
                    offset: i,
                },
                caller: None,
                function_id: "f".into(),
                function_version: None,
                code: "UNKNOWN_FUNCTION".into(),
                message: "no such function".into(),
                decided_at: 1,
                tenant: None,
            }),
            key_certified: None,
            checkpoint: None,
        }
    }

    fn chain(n: i64) -> Vec<LedgerRecord> {
        let mut head = ChainHead::genesis("decision.ledger:0");
        (0..n).map(|i| head.append(rejected(i))).collect()
    }

    fn verify_all(records: &[LedgerRecord]) -> Result<(), ChainBreak> {
        let mut v = ChainVerifier::from_genesis("decision.ledger:0");
        records.iter().try_for_each(|r| v.verify(r))
    }

    #[test]
    fn an_appended_chain_verifies() {
        let records = chain(5);
        assert_eq!(records[0].prev_hash, GENESIS_HASH);
        assert_eq!(records[4].sequence, 4);
        assert_eq!(verify_all(&records), Ok(()));
    }

    #[test]
    fn an_edit_is_a_hash_mismatch() {
        let mut records = chain(5);
        records[2].rejection.as_mut().unwrap().code = "DECIDED_AFTER_ALL".into();
        assert!(matches!(
            verify_all(&records),
            Err(ChainBreak::HashMismatch { sequence: 2, .. })
        ));
    }

    #[test]
    fn a_deletion_is_a_gap_and_a_swap_is_detected() {
        let mut records = chain(5);
        records.remove(3);
        assert!(matches!(
            verify_all(&records),
            Err(ChainBreak::SequenceGap {
                expected: 3,
                found: 4,
                ..
            })
        ));
        let mut records = chain(5);
        records.swap(1, 2);
        assert!(verify_all(&records).is_err());
    }

    #[test]
    fn a_rehashed_edit_breaks_the_link() {
        let mut records = chain(4);
        records[1].rejection.as_mut().unwrap().message = "forged".into();
        records[1].hash = record_hash(&records[1]);
        assert!(matches!(
            verify_all(&records),
            Err(ChainBreak::BrokenLink { sequence: 2, .. })
        ));
    }

    #[test]
    fn known_answer_for_auditors() {
        // Recomputed independently by tests/python/ledger_hash.py over the same record.
        let r = chain(1).remove(0);
        assert_eq!(r.hash, record_hash(&r));
        assert_eq!(r.hash, record_hash_reference(&r));
        assert_eq!(r.hash.len(), 64);
    }
}
