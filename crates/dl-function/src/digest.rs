//! The content digest of a function package.
//!
//! Definition (also in the crate README): take every regular file below the package folder whose
//! relative path has no component starting with `.`; write each relative path with `/`
//! separators as UTF-8; sort the files by the bytes of that path; then feed SHA-256, for each file
//! in order, `u64_be(len(path)) || path || u64_be(len(content)) || content`. The digest is
//! `sha256:` followed by the 64 lowercase hex digits of the hash.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Computes the package digest over `files` (relative path -> content).
///
/// A `BTreeMap<String, _>` iterates in byte order of the keys, which is the order the definition
/// requires.
pub fn package_digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for (path, content) in files {
        hasher.update((path.len() as u64).to_be_bytes());
        hasher.update(path.as_bytes());
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(content);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_listing_is_hash_of_nothing() {
        assert_eq!(
            package_digest(&BTreeMap::new()),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn length_prefix_separates_path_and_content() {
        let mut a = BTreeMap::new();
        a.insert("ab".to_string(), b"c".to_vec());
        let mut b = BTreeMap::new();
        b.insert("a".to_string(), b"bc".to_vec());
        assert_ne!(package_digest(&a), package_digest(&b));
    }
}
