//! Inclusion proofs of ledger records (ADR 0032): a record's RFC 6962 audit path in the Merkle
//! tree of the checkpoint that covers it, the signed checkpoint, and the checkpoint as a C2SP
//! tlog-checkpoint note body. Built by the gateway (`GET /v1/decisions/{id}/proof`), checked by
//! `dlctl ledger prove` and by `docs/verify_proof.py`.

use base64::Engine as _;
use dl_ledger::merkle::{self, MerkleError};
use dl_schema::Checkpoint;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most records a segment may have for a proof to be built (the worker's bound).
pub const MAX_PROOF_SEGMENT: usize = dl_ledger::MAX_SEGMENT_LEAVES;

/// The signed checkpoint a proof leads to, with what is needed to check its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofCheckpoint {
    /// Chain (`<topic>:<partition>`).
    pub chain_id: String,
    /// Sequence of the `CHECKPOINT` record itself.
    pub sequence: i64,
    /// Last sequence it covers.
    pub up_to_sequence: i64,
    /// Hash of record `up_to_sequence`.
    pub head_hash: String,
    /// The RFC 6962 root (hex) over the records it covers.
    pub merkle_root: String,
    /// The certifier key that signed it (a trust anchor: docs/ledger-integrity.md).
    pub signer_key_id: String,
    /// The signature, base64url (ECDSA P-256 SHA-256 in DER, or Ed25519, by the key).
    pub signature: String,
    /// The exact bytes signed, as UTF-8 text: `dl.signer.checkpoint.v1\n` + canonical JSON of
    /// `{chain_id, head_hash, merkle_root, signer_key_id, up_to_sequence}`.
    pub signed_payload: String,
}

/// An inclusion proof of one ledger record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Chain of the record.
    pub chain_id: String,
    /// Sequence of the record.
    pub sequence: i64,
    /// The record's `hash` (hex): the leaf's data.
    pub record_hash: String,
    /// Sequence of the first record the checkpoint covers (leaf 0).
    pub first_sequence: i64,
    /// Index of the record's leaf (`sequence - first_sequence`).
    pub leaf_index: u64,
    /// Leaves in the tree (records the checkpoint covers).
    pub tree_size: u64,
    /// Sibling hashes (hex) from the leaf up (RFC 6962 `PATH`).
    pub audit_path: Vec<String>,
    /// The checkpoint whose `merkle_root` the path leads to.
    pub checkpoint: ProofCheckpoint,
    /// The checkpoint as a C2SP tlog-checkpoint note body: origin, tree size, base64 root, each
    /// line ending in a newline. Its signature is the checkpoint's own (not a note signature).
    pub note: String,
}

/// Why a proof cannot be built or does not verify. [`ProofError::code`] is stable.
#[derive(Debug, Error)]
pub enum ProofError {
    /// The checkpoint has no Merkle root (written before roots, or its segment was not known).
    #[error("the covering checkpoint has no Merkle root")]
    NoRoot,
    /// The segment given does not hold the record, or is not whole.
    #[error("the segment does not hold the record: {0}")]
    Segment(String),
    /// The path does not lead to the checkpoint's root, or a hash is malformed.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// The note body does not say what the checkpoint says.
    #[error("the note does not match the checkpoint")]
    Note,
    /// The signed payload is not the checkpoint's, or the signature does not verify.
    #[error("checkpoint signature: {0}")]
    Signature(String),
}

impl ProofError {
    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoRoot => "NO_MERKLE_ROOT",
            Self::Segment(_) => "SEGMENT_INCOMPLETE",
            Self::Merkle(e) => e.code(),
            Self::Note => "NOTE_MISMATCH",
            Self::Signature(_) => "BAD_CHECKPOINT_SIGNATURE",
        }
    }
}

/// The C2SP tlog-checkpoint origin of a checkpoint's tree: one tree per segment.
pub fn note_origin(chain_id: &str, first_sequence: i64) -> String {
    format!("decision-layer/{chain_id}/{first_sequence}")
}

/// The note body: `<origin>\n<tree size>\n<base64 root>\n`.
pub fn note_body(origin: &str, tree_size: u64, root: &merkle::Hash32) -> String {
    let root = base64::engine::general_purpose::STANDARD.encode(root);
    format!("{origin}\n{tree_size}\n{root}\n")
}

impl InclusionProof {
    /// Builds the proof of record `sequence` of `chain_id` from the hashes of the records the
    /// checkpoint covers (`segment`, starting at `first_sequence`, in sequence order) and the
    /// checkpoint (`checkpoint_sequence` is its record's sequence).
    pub fn build(
        chain_id: &str,
        sequence: i64,
        first_sequence: i64,
        segment: &[String],
        checkpoint_sequence: i64,
        checkpoint: &Checkpoint,
    ) -> Result<Self, ProofError> {
        let root_hex = checkpoint.merkle_root.clone().ok_or(ProofError::NoRoot)?;
        let root = merkle::parse_hash(&root_hex)?;
        if segment.len() > MAX_PROOF_SEGMENT {
            return Err(ProofError::Segment(format!(
                "{} records, more than {MAX_PROOF_SEGMENT}",
                segment.len()
            )));
        }
        let expected_len = checkpoint.up_to_sequence - first_sequence + 1;
        if i64::try_from(segment.len()).ok() != Some(expected_len) {
            return Err(ProofError::Segment(format!(
                "{} records for sequences {first_sequence}..={}",
                segment.len(),
                checkpoint.up_to_sequence
            )));
        }
        let index = usize::try_from(sequence - first_sequence)
            .ok()
            .filter(|i| *i < segment.len())
            .ok_or_else(|| ProofError::Segment(format!("sequence {sequence} is not in it")))?;
        let leaves = segment
            .iter()
            .map(|h| merkle::parse_hash(h))
            .collect::<Result<Vec<_>, _>>()?;
        let path = merkle::inclusion_proof(&leaves, index)?;
        let payload = dl_signer::checkpoint_payload(
            chain_id,
            checkpoint.up_to_sequence,
            &checkpoint.head_hash,
            Some(&root_hex),
            &checkpoint.signer_key_id,
        )
        .map_err(ProofError::Signature)?;
        let size = leaves.len() as u64;
        Ok(Self {
            chain_id: chain_id.to_string(),
            sequence,
            record_hash: segment[index].clone(),
            first_sequence,
            leaf_index: index as u64,
            tree_size: size,
            audit_path: path.iter().map(hex::encode).collect(),
            checkpoint: ProofCheckpoint {
                chain_id: chain_id.to_string(),
                sequence: checkpoint_sequence,
                up_to_sequence: checkpoint.up_to_sequence,
                head_hash: checkpoint.head_hash.clone(),
                merkle_root: root_hex,
                signer_key_id: checkpoint.signer_key_id.clone(),
                signature: checkpoint.signature.clone(),
                signed_payload: String::from_utf8_lossy(&payload).into_owned(),
            },
            note: note_body(&note_origin(chain_id, first_sequence), size, &root),
        })
    }

    /// Checks the proof: the path leads from the record hash to the checkpoint's root, the
    /// positions and the note agree with the checkpoint, the signed payload is the checkpoint's,
    /// and, given the certifier's public key (DER SubjectPublicKeyInfo), its signature.
    pub fn verify(&self, certifier_spki: Option<&[u8]>) -> Result<(), ProofError> {
        let cp = &self.checkpoint;
        let root = merkle::parse_hash(&cp.merkle_root)?;
        let path = self
            .audit_path
            .iter()
            .map(|h| merkle::parse_hash(h))
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = merkle::parse_hash(&self.record_hash)?;
        let positions = self.chain_id == cp.chain_id
            && self.sequence.checked_sub(self.first_sequence)
                == i64::try_from(self.leaf_index).ok()
            && cp.up_to_sequence.checked_sub(self.first_sequence)
                == i64::try_from(self.tree_size).ok().map(|n| n - 1);
        if !positions {
            return Err(ProofError::Segment(
                "sequence, leaf index, tree size and checkpoint disagree".into(),
            ));
        }
        merkle::verify_inclusion(&leaf, self.leaf_index, self.tree_size, &path, &root)?;
        if self.note
            != note_body(
                &note_origin(&cp.chain_id, self.first_sequence),
                self.tree_size,
                &root,
            )
        {
            return Err(ProofError::Note);
        }
        let checkpoint = Checkpoint {
            up_to_sequence: cp.up_to_sequence,
            head_hash: cp.head_hash.clone(),
            merkle_root: Some(cp.merkle_root.clone()),
            signer_key_id: cp.signer_key_id.clone(),
            signature: cp.signature.clone(),
        };
        let payload = dl_signer::checkpoint_payload(
            &cp.chain_id,
            cp.up_to_sequence,
            &cp.head_hash,
            Some(&cp.merkle_root),
            &cp.signer_key_id,
        )
        .map_err(ProofError::Signature)?;
        if payload != cp.signed_payload.as_bytes() {
            return Err(ProofError::Signature(
                "signed_payload is not the checkpoint's payload".into(),
            ));
        }
        if let Some(spki) = certifier_spki {
            dl_signer::verify_checkpoint(&cp.chain_id, &checkpoint, spki)
                .map_err(|e| ProofError::Signature(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::ChainBuilder;
    use crate::{TrustAnchors, VerifyOptions};
    use dl_signer::LocalKeyFile;

    fn chain(n: u64) -> (tempfile::TempDir, LocalKeyFile, ChainBuilder) {
        let dir = tempfile::tempdir().unwrap();
        let certifier = LocalKeyFile::open_or_create(
            dir.path().join("certifier.pem"),
            dl_signer::Algorithm::EcdsaP256Sha256,
        )
        .unwrap();
        let mut b = ChainBuilder::new("decision.ledger:0", 1_764_324_000_000);
        b.merkle_roots = true;
        for i in 0..3 {
            b.rejection(i);
        }
        b.checkpoint(&certifier).unwrap();
        for i in 0..n {
            b.rejection(100 + i);
        }
        b.checkpoint(&certifier).unwrap();
        (dir, certifier, b)
    }

    fn proof_of(b: &ChainBuilder, sequence: i64) -> InclusionProof {
        let cp_record = b.records.last().unwrap();
        let segment: Vec<String> = b.records[4..cp_record.sequence as usize]
            .iter()
            .map(|r| r.hash.clone())
            .collect();
        InclusionProof::build(
            "decision.ledger:0",
            sequence,
            4,
            &segment,
            cp_record.sequence,
            cp_record.checkpoint.as_ref().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn every_record_of_a_segment_proves_and_an_altered_proof_does_not() {
        let (_dir, certifier, b) = chain(7);
        let spki = certifier.key_info().public_key_spki.clone();
        for seq in 4..11 {
            let p = proof_of(&b, seq);
            p.verify(Some(&spki)).unwrap();
            assert_eq!(p.tree_size, 7);
            assert!(p
                .note
                .starts_with("decision-layer/decision.ledger:0/4\n7\n"));
        }
        let good = proof_of(&b, 6);
        let mut bad = good.clone();
        bad.record_hash = b.records[7].hash.clone();
        assert_eq!(bad.verify(None).unwrap_err().code(), "ROOT_MISMATCH");
        let mut bad = good.clone();
        bad.leaf_index += 1;
        bad.sequence += 1;
        assert_eq!(bad.verify(None).unwrap_err().code(), "ROOT_MISMATCH");
        let mut bad = good.clone();
        bad.checkpoint.merkle_root = "00".repeat(32);
        assert!(bad.verify(None).is_err());
        let mut bad = good.clone();
        bad.checkpoint.signature = proof_of(&b, 4).checkpoint.signature.replace('A', "B");
        if bad.checkpoint.signature != good.checkpoint.signature {
            assert_eq!(
                bad.verify(Some(&spki)).unwrap_err().code(),
                "BAD_CHECKPOINT_SIGNATURE"
            );
        }
    }

    #[test]
    fn the_worker_roots_verify_and_an_altered_root_is_a_break() {
        let (_dir, certifier, b) = chain(5);
        let mut anchors = TrustAnchors::new();
        let info = certifier.key_info();
        anchors
            .insert(&info.key_id, info.public_key_spki.clone())
            .unwrap();
        let opts = VerifyOptions::default();
        let mut v = crate::ChainVerifier::new("decision.ledger:0", opts);
        for r in &b.records {
            assert!(v.push_record(r, &anchors).breaks.is_empty());
        }
        // A checkpoint whose root names other records, re-signed by the certifier itself: only
        // the root check can find it.
        let mut records = b.records.clone();
        let last = records.len() - 1;
        let cp = records[last].checkpoint.clone().unwrap();
        let wrong = "ab".repeat(32);
        let payload = dl_signer::checkpoint_payload(
            "decision.ledger:0",
            cp.up_to_sequence,
            &cp.head_hash,
            Some(&wrong),
            &cp.signer_key_id,
        )
        .unwrap();
        let mut forged = cp.clone();
        forged.merkle_root = Some(wrong);
        forged.signature = certifier.sign(&payload).value;
        records[last].checkpoint = Some(forged);
        records[last].hash = dl_ledger::record_hash(&records[last]);
        let mut v = crate::ChainVerifier::new("decision.ledger:0", opts);
        let kinds: Vec<_> = records
            .iter()
            .flat_map(|r| v.push_record(r, &anchors).breaks)
            .map(|b| b.kind.as_str())
            .collect();
        assert_eq!(kinds, ["MERKLE_ROOT_MISMATCH"]);
        let report = v.report();
        assert_eq!(report.stats.checkpoints_verified, 1);
        // The batch path says the same.
        let items: Vec<_> = records.into_iter().map(crate::Item::Record).collect();
        let report =
            crate::verify_chains(&[("decision.ledger:0".to_string(), items)], &anchors, opts);
        let kinds: Vec<_> = report.breaks().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, ["MERKLE_ROOT_MISMATCH"]);
    }

    #[test]
    fn a_consistent_rewrite_of_foreign_hashes_is_caught_by_the_root() {
        let (_dir, certifier, b) = chain(5);
        let mut anchors = TrustAnchors::new();
        let info = certifier.key_info();
        anchors
            .insert(&info.key_id, info.public_key_spki.clone())
            .unwrap();
        // Records 5 and 6 are another tenant's: seen by position and stated hashes only. 5's hash
        // is rewritten and 6's prev_hash with it, so every link still holds.
        let forged = "cd".repeat(32);
        let items: Vec<crate::Item> = b
            .records
            .iter()
            .map(|r| match r.sequence {
                5 => crate::Item::Opaque {
                    sequence: 5,
                    prev_hash: r.prev_hash.clone(),
                    hash: forged.clone(),
                },
                6 => crate::Item::Opaque {
                    sequence: 6,
                    prev_hash: forged.clone(),
                    hash: r.hash.clone(),
                },
                _ => crate::Item::Record(r.clone()),
            })
            .collect();
        let report = crate::verify_chains(
            &[("decision.ledger:0".to_string(), items)],
            &anchors,
            VerifyOptions::default(),
        );
        let kinds: Vec<_> = report.breaks().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, ["MERKLE_ROOT_MISMATCH"]);
    }
}
