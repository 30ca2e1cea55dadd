//! RFC 6962 (RFC 9162 section 2.1) Merkle tree hashes and inclusion proofs over a checkpoint's
//! segment of the ledger (ADR 0032, "Inclusion proofs").
//!
//! Leaf hash `SHA-256(0x00 || data)`, node hash `SHA-256(0x01 || left || right)`, the tree split
//! at the largest power of two smaller than its size. A checkpoint's leaves are the 32 bytes of
//! each covered record's `hash`, in sequence order. Pure functions, no state: the worker, the
//! verifier, the gateway and `dlctl` all use these.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest.
pub type Hash32 = [u8; 32];

/// Why a proof could not be made or does not verify. [`MerkleError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The audit path has the wrong length for the index and size.
    #[error("the audit path has the wrong length for leaf {index} of {size}")]
    PathLength {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The path leads to another root.
    #[error("the audit path leads to root {computed}, not {expected}")]
    RootMismatch {
        /// The root the proof should lead to (hex).
        expected: String,
        /// The root it leads to (hex).
        computed: String,
    },
    /// A hash is not 64 hexadecimal digits.
    #[error("not a SHA-256 hash in hex: {0:?}")]
    BadHash(String),
}

impl MerkleError {
    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IndexOutOfRange { .. } => "INDEX_OUT_OF_RANGE",
            Self::PathLength { .. } => "BAD_PATH_LENGTH",
            Self::RootMismatch { .. } => "ROOT_MISMATCH",
            Self::BadHash(_) => "BAD_HASH",
        }
    }
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash (RFC 6962 `MTH`) of `leaves` (the leaves' data, not their hashes).
/// The empty tree's hash is `SHA-256("")`.
pub fn root<T: AsRef<[u8]>>(leaves: &[T]) -> Hash32 {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(leaves[0].as_ref()),
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path (RFC 6962 `PATH`) of leaf `index`: sibling hashes from the leaf up.
pub fn inclusion_proof<T: AsRef<[u8]>>(
    leaves: &[T],
    index: usize,
) -> Result<Vec<Hash32>, MerkleError> {
    if index >= leaves.len() {
        return Err(MerkleError::IndexOutOfRange {
            index: index as u64,
            size: leaves.len() as u64,
        });
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0usize, leaves.len(), index);
    // Top-down, then reversed: the top-level sibling is the last element.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            path.push(root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(root(&leaves[lo..lo + k]));
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The root an audit path leads to from `leaf` (the leaf's hash) at `index` in a tree of
/// `size` (RFC 9162 section 2.1.3.2).
pub fn root_from_path(
    leaf: Hash32,
    index: u64,
    size: u64,
    path: &[Hash32],
) -> Result<Hash32, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in path {
        if s == 0 {
            return Err(MerkleError::PathLength { index, size });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::PathLength { index, size });
    }
    Ok(r)
}

/// Verifies that `data` is leaf `index` of the tree of `size` leaves with root `expected`.
pub fn verify_inclusion(
    data: &[u8],
    index: u64,
    size: u64,
    path: &[Hash32],
    expected: &Hash32,
) -> Result<(), MerkleError> {
    let computed = root_from_path(leaf_hash(data), index, size, path)?;
    if &computed != expected {
        return Err(MerkleError::RootMismatch {
            expected: hex::encode(expected),
            computed: hex::encode(computed),
        });
    }
    Ok(())
}

/// Parses a 64-digit hex hash (a record's `hash`, a root, a path element).
pub fn parse_hash(hex_text: &str) -> Result<Hash32, MerkleError> {
    let mut out = [0u8; 32];
    if hex_text.len() != 64 || hex::decode_to_slice(hex_text, &mut out).is_err() {
        let shown: String = hex_text.chars().take(80).collect();
        return Err(MerkleError::BadHash(shown));
    }
    Ok(out)
}

/// The `merkle_root` of a checkpoint over records with these `hash`es (hex), in sequence order:
/// lowercase hex of [`root`] over their 32-byte values.
pub fn segment_root_hex<S: AsRef<str>>(record_hashes: &[S]) -> Result<String, MerkleError> {
    let leaves = record_hashes
        .iter()
        .map(|h| parse_hash(h.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(hex::encode(root(&leaves)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The leaves and roots of the certificate-transparency reference tests (RFC 6962's
    /// authors' test data, also in transparency-dev/merkle's `testonly`).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Vec<u8>> {
        LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect()
    }

    #[test]
    fn empty_tree_is_the_hash_of_nothing() {
        let none: [&[u8]; 0] = [];
        assert_eq!(
            hex::encode(root(&none)),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let data = leaves();
        for n in 1..=8 {
            assert_eq!(hex::encode(root(&data[..n])), ROOTS[n - 1], "size {n}");
        }
    }

    #[test]
    fn audit_paths_match_the_reference_vectors() {
        // RFC 6962 reference: leaf 0 of 8, leaf 5 of 8, leaf 2 of 3, leaf 1 of 5.
        let data = leaves();
        let hexes = |p: Vec<Hash32>| p.iter().map(hex::encode).collect::<Vec<_>>();
        assert_eq!(
            hexes(inclusion_proof(&data, 0).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(inclusion_proof(&data, 5).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(inclusion_proof(&data[..3], 2).unwrap()),
            ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]
        );
        assert_eq!(
            hexes(inclusion_proof(&data[..5], 1).unwrap()),
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let data = leaves();
        assert_eq!(
            inclusion_proof(&data, 8).unwrap_err().code(),
            "INDEX_OUT_OF_RANGE"
        );
        let r = root(&data);
        let path = inclusion_proof(&data, 3).unwrap();
        assert_eq!(
            verify_inclusion(&data[3], 3, 8, &path[..2], &r)
                .unwrap_err()
                .code(),
            "BAD_PATH_LENGTH"
        );
        assert_eq!(
            verify_inclusion(&data[3], 9, 8, &path, &r)
                .unwrap_err()
                .code(),
            "INDEX_OUT_OF_RANGE"
        );
        assert_eq!(parse_hash("zz").unwrap_err().code(), "BAD_HASH");
        assert_eq!(
            segment_root_hex(&[ROOTS[0]]).unwrap(),
            hex::encode(leaf_hash(&parse_hash(ROOTS[0]).unwrap()))
        );
    }

    #[test]
    fn a_head_collects_its_segment_and_a_checkpoint_starts_a_new_one() {
        use dl_schema::{LedgerRecord, LedgerRecordKind};
        let mut head = crate::ChainHead::genesis("c:0");
        let mut hashes = Vec::new();
        for i in 0..3 {
            let r = head.append(LedgerRecord::unchained(
                LedgerRecordKind::RequestRejected,
                i,
            ));
            hashes.push(r.hash);
        }
        assert_eq!(head.segment().map(<[_]>::len), Some(3));
        assert_eq!(
            head.segment_root(),
            Some(segment_root_hex(&hashes).unwrap())
        );
        let cp = head.append(LedgerRecord::unchained(LedgerRecordKind::Checkpoint, 9));
        assert_eq!(head.segment().map(<[_]>::len), Some(0));
        // Recovered after a checkpoint: known (empty); after another record: unknown until set.
        assert_eq!(
            crate::ChainHead::after(&cp).segment().map(<[_]>::len),
            Some(0)
        );
        let r = head.append(LedgerRecord::unchained(
            LedgerRecordKind::RequestRejected,
            10,
        ));
        let recovered = crate::ChainHead::after(&r);
        assert_eq!(recovered.segment_root(), None);
        let recovered = recovered.with_segment(Some(vec![parse_hash(&r.hash).unwrap()]));
        assert_eq!(recovered.segment_root(), head.segment_root());
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_a_change_fails(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 1..70),
            pick in any::<usize>(),
            flip in any::<(usize, u8)>(),
        ) {
            let r = root(&raw);
            let n = raw.len() as u64;
            for (i, leaf) in raw.iter().enumerate() {
                let path = inclusion_proof(&raw, i).unwrap();
                prop_assert!(verify_inclusion(leaf, i as u64, n, &path, &r).is_ok());
            }
            let i = pick % raw.len();
            let path = inclusion_proof(&raw, i).unwrap();
            let bit = 1u8 << (flip.1 % 8);
            // A changed leaf fails.
            let mut leaf = raw[i];
            leaf[flip.0 % 32] ^= bit;
            prop_assert!(verify_inclusion(&leaf, i as u64, n, &path, &r).is_err());
            // A changed path element fails.
            if !path.is_empty() {
                let mut bad = path.clone();
                let j = flip.0 % bad.len();
                bad[j][flip.0 % 32] ^= bit;
                prop_assert!(verify_inclusion(&raw[i], i as u64, n, &bad, &r).is_err());
            }
            // Another index fails (unless both leaves are equal).
            if n > 1 {
                let other = (i + 1) % raw.len();
                if raw[other] != raw[i] {
                    prop_assert!(verify_inclusion(&raw[i], other as u64, n, &path, &r).is_err());
                }
            }
        }
    }
}
