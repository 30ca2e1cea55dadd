//! Keyed pseudonyms: the same identifier gives the same pseudonym under one key, so views and
//! metrics can still be joined on a person, and nobody without the key can recompute or reverse
//! it (unlike a plain hash of a HETU, which anyone can brute-force over the ~10⁹ valid codes).
//!
//! Each tenant of a shared deployment (docs/tenancy.md) gets its own key, derived from the
//! configured one ([`Pseudonymizer::for_tenant`]): the same person id in two tenants gives
//! pseudonyms that cannot be linked without the master key.

use std::sync::Arc;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::RedactError;

/// Smallest accepted key, in bytes (HMAC-SHA256's block-size security level starts at 32).
pub const MIN_KEY_BYTES: usize = 32;

/// HKDF salt of the per-tenant pseudonym keys: a fixed domain string, so these keys are
/// unrelated to anything else ever derived from the same master key.
pub const TENANT_KEY_SALT: &[u8] = b"decision-layer/pseudonym-key/v1";

/// Makes pseudonyms `psn:<key id>:<20 hex digits>` (80 bits of HMAC-SHA256).
///
/// The key id is part of the pseudonym so a key rotation is visible: pseudonyms of different
/// keys never collide by accident and never look joinable when they are not.
#[derive(Clone)]
pub struct Pseudonymizer {
    key_id: String,
    mac: Hmac<Sha256>,
    /// The configured (master) key and its id, from which tenants' keys are derived.
    master: Arc<(String, Vec<u8>)>,
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
            master: Arc::new((key_id.into(), key.to_vec())),
        })
    }

    /// The pseudonymizer of `tenant` (a valid id: `dl_schema::tenant::is_valid_tenant`): key =
    /// HKDF-SHA256(ikm = the master key given to [`Pseudonymizer::new`], salt =
    /// [`TENANT_KEY_SALT`], info = the tenant id), 32 bytes; key id `<master key id>/<tenant>`. Always derived from the master key, whichever
    /// pseudonymizer it is called on. The default tenant keeps the master key: the caller
    /// decides which tenant that is (the explainer: `default`).
    pub fn for_tenant(&self, tenant: &str) -> Result<Self, RedactError> {
        if !dl_schema::tenant::is_valid_tenant(tenant) {
            return Err(RedactError::BadTenant(tenant.into()));
        }
        let (master_id, master_key) = &*self.master;
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(TENANT_KEY_SALT), master_key)
            .expand(tenant.as_bytes(), &mut key)
            .map_err(|_| RedactError::ShortKey(0))?;
        let mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| RedactError::ShortKey(0))?;
        Ok(Self {
            key_id: format!("{master_id}/{tenant}"),
            mac,
            master: self.master.clone(),
        })
    }

    /// The key's id (`<master key id>/<tenant>` for a tenant's derived key).
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

    /// Pinned: the pseudonyms of the master key never change (every view written so far, and
    /// every default-tenant view from now on, carries them). The pinned values were computed
    /// apart from this code, from the documented formulas (Python's `hmac`, RFC 5869 HKDF).
    #[test]
    fn the_master_key_gives_the_pseudonyms_it_always_gave() {
        let p = Pseudonymizer::new("k1", KEY).unwrap();
        assert_eq!(
            p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T"),
            PINNED_MASTER
        );
    }

    const PINNED_MASTER: &str = "psn:k1:3fd719e4bd29ab2fdd03";

    #[test]
    fn tenants_get_unlinkable_pseudonyms() {
        let master = Pseudonymizer::new("k1", KEY).unwrap();
        let kela = master.for_tenant("kela").unwrap();
        let bank = master.for_tenant("bank").unwrap();
        assert_eq!(kela.key_id(), "k1/kela");
        let hetu = |p: &Pseudonymizer| p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T");
        let digits = |s: String| s.rsplit(':').next().unwrap_or_default().to_string();
        let (a, b, m) = (hetu(&kela), hetu(&bank), hetu(&master));
        assert!(
            a.starts_with("psn:k1/kela:") && b.starts_with("psn:k1/bank:"),
            "{a} {b}"
        );
        // Not only the key id differs: the digits do, pairwise.
        assert_ne!(digits(a.clone()), digits(b.clone()));
        assert_ne!(digits(a.clone()), digits(m.clone()));
        assert_ne!(digits(b), digits(m));
        // Stable per tenant, and derived from the master key whichever pseudonymizer derives.
        assert_eq!(hetu(&master.for_tenant("kela").unwrap()), a);
        assert_eq!(hetu(&bank.for_tenant("kela").unwrap()), a);
        // Another master key gives other tenant keys.
        let other = Pseudonymizer::new("k1", b"another key of thirty-two bytes!").unwrap();
        assert_ne!(hetu(&other.for_tenant("kela").unwrap()), a);
        // Pinned: HKDF-SHA256(ikm = KEY, salt = TENANT_KEY_SALT, info = "kela").
        assert_eq!(a, PINNED_KELA);
        for bad in [
            "",
            "Kela",
            "-kela",
            "kela/x",
            "a".repeat(33).as_str(),
            "kelä",
        ] {
            assert!(
                matches!(master.for_tenant(bad), Err(RedactError::BadTenant(_))),
                "{bad:?}"
            );
        }
        assert!(!format!("{kela:?}").contains("0123"));
    }

    const PINNED_KELA: &str = "psn:k1/kela:5a6762432aecd370ac57";

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
