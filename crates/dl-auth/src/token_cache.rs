//! The verified-token cache of one [`crate::JwtVerifier`] (ADR 0021).
//!
//! The same bearer token arrives with thousands of requests; its signature needs checking once.
//! An entry is keyed by the SHA-256 of the exact token bytes (the token itself is neither kept as
//! a key nor logged) and holds what verification produced: the caller identity, the time claims,
//! and the content generation of the issuer's JWKS the signing key came from. The verifier uses
//! an entry only while that generation is current and re-checks `exp`, `nbf` and `iat` with its
//! clock and leeway on every use. Bounded: the least recently used entry makes room for a new
//! one (`hashlink::LruCache` behind a mutex; lookups are hash lookups of the digest).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashlink::LruCache;
use sha2::{Digest, Sha256};

use crate::identity::CallerIdentity;
use crate::metrics;

/// SHA-256 of the exact token bytes: the cache key.
pub(crate) type TokenDigest = [u8; 32];

/// The cache key of `token`.
pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The time claims of a verified token, checked again on every use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    pub exp: i64,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
}

/// What verifying a token produced.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The caller, before any certificate-binding check (that depends on the request).
    pub identity: CallerIdentity,
    pub times: Times,
    /// Content generation of the issuer's token JWKS that held the verifying key.
    pub key_generation: u64,
}

/// Counters and size of a verifier's token cache (for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCacheStats {
    /// Most entries kept (0: the cache is off).
    pub capacity: usize,
    /// Entries now.
    pub entries: usize,
    /// Tokens answered from the cache (their time claims still checked).
    pub hits: u64,
    /// Tokens verified in full (not cached, or their entry was no longer usable).
    pub misses: u64,
    /// Entries dropped to make room (least recently used first).
    pub evictions: u64,
    /// Entries dropped because their JWKS key set changed or the token expired.
    pub invalidations: u64,
}

/// Bounded map from token digest to verification result.
pub(crate) struct TokenCache {
    entries: Mutex<LruCache<TokenDigest, Arc<Verified>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

impl TokenCache {
    /// A cache of at most `capacity` entries; `None` for capacity 0 (cache off).
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        (capacity > 0).then(|| TokenCache {
            entries: Mutex::new(LruCache::new(capacity)),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<TokenDigest, Arc<Verified>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of `key`, marked as most recently used.
    pub(crate) fn get(&self, key: &TokenDigest) -> Option<Arc<Verified>> {
        self.lock().get(key).cloned()
    }

    /// Stores `value`, evicting the least recently used entry when the cache is full.
    pub(crate) fn insert(&self, key: TokenDigest, value: Arc<Verified>) {
        let evicted = {
            let mut map = self.lock();
            let evicted = if !map.contains_key(&key) && map.len() >= self.capacity {
                map.remove_lru().is_some()
            } else {
                false
            };
            map.insert(key, value);
            evicted
        };
        if evicted {
            self.evictions.fetch_add(1, Ordering::Relaxed);
            metrics::token_cache_eviction();
        }
    }

    /// Drops the entry of `key` (its key set changed, or the token expired).
    pub(crate) fn invalidate(&self, key: &TokenDigest) {
        if self.lock().remove(key).is_some() {
            self.invalidations.fetch_add(1, Ordering::Relaxed);
            metrics::token_cache_invalidation();
        }
    }

    /// Counts a token answered from the cache.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        metrics::token_cache_hit();
    }

    /// Counts a token verified in full.
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        metrics::token_cache_miss();
    }

    pub(crate) fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            capacity: self.capacity,
            entries: self.lock().len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(subject: &str) -> Arc<Verified> {
        Arc::new(Verified {
            identity: CallerIdentity::new("https://idp", subject),
            times: Times {
                exp: 2_000_000_000,
                nbf: None,
                iat: None,
            },
            key_generation: 1,
        })
    }

    #[test]
    fn capacity_zero_is_off() {
        assert!(TokenCache::new(0).is_none());
    }

    #[test]
    fn bounded_with_least_recently_used_eviction() {
        let c = TokenCache::new(3).unwrap();
        let keys: Vec<TokenDigest> = (0..10).map(|i| digest(&format!("t{i}"))).collect();
        for (i, k) in keys.iter().take(3).enumerate() {
            c.insert(*k, entry(&format!("s{i}")));
        }
        // Touch t0, so t1 is the least recently used.
        assert_eq!(c.get(&keys[0]).unwrap().identity.subject, "s0");
        c.insert(keys[3], entry("s3"));
        assert!(c.get(&keys[1]).is_none());
        assert!(c.get(&keys[0]).is_some());
        for (i, k) in keys.iter().enumerate().skip(4) {
            c.insert(*k, entry(&format!("s{i}")));
            assert!(c.stats().entries <= 3);
        }
        let s = c.stats();
        assert_eq!(s.entries, 3);
        assert_eq!(s.capacity, 3);
        assert_eq!(s.evictions, 7);
        // Replacing an entry evicts nothing.
        c.insert(keys[9], entry("again"));
        assert_eq!(c.stats().evictions, 7);
        assert_eq!(c.get(&keys[9]).unwrap().identity.subject, "again");
    }

    #[test]
    fn invalidate_counts_only_present_entries() {
        let c = TokenCache::new(2).unwrap();
        let k = digest("t");
        c.invalidate(&k);
        c.insert(k, entry("s"));
        c.invalidate(&k);
        assert!(c.get(&k).is_none());
        assert_eq!(c.stats().invalidations, 1);
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn key_is_the_sha256_of_the_exact_bytes() {
        assert_ne!(digest("a.b.c"), digest("a.b.c "));
        assert_eq!(
            hex::encode(digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
