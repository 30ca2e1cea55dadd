//! Redis key names. Keys hold only hashes: no caller name or request id is readable in Redis.

use sha2::{Digest, Sha256};

/// Nonce key: `<prefix>nonce:<hex sha256(len(caller) as u64 big-endian ‖ caller ‖ request_id)>`.
///
/// The length prefix makes the encoding unambiguous (caller `a|b` with id `c` and caller `a` with
/// id `b|c` get different keys), whatever characters a caller name contains.
pub fn nonce_key(prefix: &str, caller: &str, request_id: &str) -> String {
    format!("{prefix}nonce:{}", request_hash(caller, request_id))
}

/// Key of the stored result of the request that spent a nonce: `<prefix>res:<the nonce key's
/// hash>`, so a request's nonce and its result are found from the same `(caller, request_id)`.
pub fn result_key(prefix: &str, caller: &str, request_id: &str) -> String {
    format!("{prefix}res:{}", request_hash(caller, request_id))
}

/// `hex(sha256(len(caller) as u64 big-endian ‖ caller ‖ request_id))`.
fn request_hash(caller: &str, request_id: &str) -> String {
    let mut h = Sha256::new();
    h.update((caller.len() as u64).to_be_bytes());
    h.update(caller.as_bytes());
    h.update(request_id.as_bytes());
    hex::encode(h.finalize())
}

/// Rate-limit state key of a caller: `<prefix>rl:<hex sha256(caller)>`.
pub fn rate_key(prefix: &str, caller: &str) -> String {
    format!(
        "{prefix}rl:{}",
        hex::encode(Sha256::digest(caller.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_namespaced_and_unambiguous() {
        let k = nonce_key("dl:", "caller-x", "req-1");
        assert!(k.starts_with("dl:nonce:"));
        assert_eq!(k.len(), "dl:nonce:".len() + 64);
        assert!(!k.contains("caller-x") && !k.contains("req-1"));
        assert_ne!(nonce_key("dl:", "a|b", "c"), nonce_key("dl:", "a", "b|c"));
        assert_ne!(nonce_key("dl:", "ab", "c"), nonce_key("dl:", "a", "bc"));
        assert_eq!(k, nonce_key("dl:", "caller-x", "req-1"));
        let res = result_key("dl:", "caller-x", "req-1");
        assert_eq!(res["dl:res:".len()..], k["dl:nonce:".len()..]);
        let r = rate_key("dl:", "caller-x");
        assert!(r.starts_with("dl:rl:") && !r.contains("caller-x"));
    }
}
