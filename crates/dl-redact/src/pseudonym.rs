//! Keyed pseudonyms: the same identifier gives the same pseudonym under one key, so views and
//! metrics can still be joined on a person, and nobody without the key can recompute or reverse
//! it (unlike a plain hash of a HETU, which anyone can brute-force over the ~10⁹ valid codes).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::RedactError;

/// Smallest accepted key, in bytes (HMAC-SHA256's block-size security level starts at 32).
pub const MIN_KEY_BYTES: usize = 32;

/// Makes pseudonyms `psn:<key id>:<20 hex digits>` (80 bits of HMAC-SHA256).
///
/// The key id is part of the pseudonym so a key rotation is visible: pseudonyms of different
/// keys never collide by accident and never look joinable when they are not.
#[derive(Clone)]
pub struct Pseudonymizer {
    key_id: String,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Pseudonymizer {
    /// A pseudonymizer with `key` (at least [`MIN_KEY_BYTES`]) named `key_id`
    /// (1–32 characters of `[A-Za-z0-9_-]`).
    pub fn new(key_id: &str, key: &[u8]) -> Result<Self, RedactError> {
        let id_ok = (1..=32).contains(&key_id.len())
            && key_id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !id_ok {
            return Err(RedactError::BadKeyId(key_id.into()));
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(RedactError::ShortKey(key.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| RedactError::ShortKey(0))?;
        Ok(Self {
            key_id: key_id.into(),
            mac,
        })
    }

    /// The key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The pseudonym of `value` in `domain` (an entity code, or `json` for whole field values):
    /// the domain keeps equal strings of different kinds apart.
    pub fn pseudonym(&self, domain: &str, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(&(domain.len() as u32).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("psn:{}:{}", self.key_id, hex::encode(&tag[..10]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn stable_per_key_and_domain() {
        let p = Pseudonymizer::new("k1", KEY).unwrap();
        let a = p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T");
        assert_eq!(a, p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T"));
        assert!(a.starts_with("psn:k1:") && a.len() == "psn:k1:".len() + 20);
        assert_ne!(a, p.pseudonym("json", "131052-308T"));
        // The separator is part of the identity.
        assert_ne!(
            p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "100190-999P"),
            p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "100190Y999P")
        );
        let q = Pseudonymizer::new("k2", b"another key of thirty-two bytes!").unwrap();
        assert_ne!(
            a["psn:k1:".len()..],
            q.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T")["psn:k2:".len()..]
        );
    }

    #[test]
    fn refuses_weak_keys_and_odd_ids() {
        assert!(matches!(
            Pseudonymizer::new("k1", b"short"),
            Err(RedactError::ShortKey(5))
        ));
        assert!(matches!(
            Pseudonymizer::new("k:1", KEY),
            Err(RedactError::BadKeyId(_))
        ));
        assert!(matches!(
            Pseudonymizer::new("", KEY),
            Err(RedactError::BadKeyId(_))
        ));
        assert!(!format!("{:?}", Pseudonymizer::new("k1", KEY).unwrap()).contains("0123"));
    }
}
