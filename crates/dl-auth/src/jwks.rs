//! OIDC discovery and JWKS fetching, caching and refreshing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::jwk::{parse_jwk, PublicKey};
use crate::metrics;

/// HTTP side: a shared client plus the size limits.
pub(crate) struct Fetcher {
    http: reqwest::Client,
    max_bytes: usize,
    max_keys: usize,
    allow_http: bool,
}

impl Fetcher {
    pub(crate) fn new(cfg: &AuthConfig) -> Result<Self, AuthError> {
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.http_timeout)
            .connect_timeout(cfg.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!cfg.allow_insecure_http)
            .user_agent("dl-auth");
        if let Some(path) = &cfg.http_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| AuthError::Config(format!("http_ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| AuthError::Config(format!("http_ca_file {}: {e}", path.display())))?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| AuthError::Config(format!("HTTP client: {e}")))?;
        Ok(Fetcher {
            http,
            max_bytes: cfg.max_jwks_bytes,
            max_keys: cfg.max_jwks_keys,
            allow_http: cfg.allow_insecure_http,
        })
    }

    fn url_allowed(&self, url: &str) -> bool {
        let l = url.to_ascii_lowercase();
        l.starts_with("https://") || (self.allow_http && l.starts_with("http://"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        if !self.url_allowed(url) {
            return Err("URL scheme not allowed".into());
        }
        let mut resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP status {}", resp.status().as_u16()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err("document too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("read failed: {}", e.without_url()))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err("document too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| "document is not JSON".to_string())
    }

    /// Fetches the discovery document and returns its `jwks_uri`.
    async fn discover(&self, discovery_url: &str, issuer: &str) -> Result<String, String> {
        let doc = self.get_json(discovery_url).await?;
        let iss = doc.get("issuer").and_then(Value::as_str);
        if iss != Some(issuer) {
            return Err("discovery document names another issuer".into());
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("discovery document has no jwks_uri")?;
        if !self.url_allowed(uri) {
            return Err("jwks_uri scheme not allowed".into());
        }
        Ok(uri.to_string())
    }

    /// Fetches a JWKS and keeps its usable signature keys, grouped by `kid`.
    async fn jwks(&self, url: &str) -> Result<HashMap<String, Vec<Arc<PublicKey>>>, String> {
        let doc = self.get_json(url).await?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no keys array")?;
        let mut out: HashMap<String, Vec<Arc<PublicKey>>> = HashMap::new();
        let mut kept = 0usize;
        for k in keys {
            if kept >= self.max_keys {
                tracing::warn!(
                    url,
                    max = self.max_keys,
                    "JWKS has too many keys; rest ignored"
                );
                break;
            }
            match parse_jwk(k) {
                Ok(pk) => {
                    kept += 1;
                    out.entry(pk.kid.clone()).or_default().push(Arc::new(pk));
                }
                Err(why) => tracing::debug!(url, why, "JWKS entry skipped"),
            }
        }
        if out.is_empty() {
            return Err("JWKS has no usable signature keys".into());
        }
        Ok(out)
    }
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Vec<Arc<PublicKey>>>,
    fetched_at: Option<Instant>,
    /// Content generation: 0 before the first successful fetch, incremented by every fetch whose
    /// key set differs from the one before (a key added, removed or changed). A refresh that
    /// brings the same keys keeps it. Verified-token cache entries carry the generation their
    /// key came from and are only used while it is current.
    generation: u64,
    /// SHA-256 over the sorted fingerprints of `keys`.
    digest: [u8; 32],
}

/// SHA-256 over the sorted key fingerprints of a key set (order of the JWKS does not matter).
fn key_set_digest(keys: &HashMap<String, Vec<Arc<PublicKey>>>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut prints: Vec<[u8; 32]> = keys.values().flatten().map(|k| k.fingerprint).collect();
    prints.sort_unstable();
    let mut h = Sha256::new();
    for p in &prints {
        h.update(p);
    }
    h.finalize().into()
}

#[derive(Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    jwks_uri: Option<String>,
}

/// Keys of one `kid` with the content generation of the key set they were read from.
type GenerationKeys = (Vec<Arc<PublicKey>>, u64);

/// Result of a key lookup.
pub(crate) enum Lookup {
    /// Keys with the requested `kid` (several when an issuer reuses a kid across key types), and
    /// the content generation of the key set they were read from.
    Found(Vec<Arc<PublicKey>>, u64),
    /// The key set is usable but has no such `kid`.
    Unknown,
    /// No usable key set: fetch failed and nothing (fresh enough) is cached.
    Unavailable(String),
}

/// Counters of one key source (for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// Fetch attempts (successful or not).
    pub fetches: u64,
    /// Successful fetches.
    pub successes: u64,
    /// Refreshes skipped by the rate limit.
    pub rate_limited: u64,
}

/// One JWKS of one issuer, with its cache and refresh policy.
pub(crate) struct KeySource {
    issuer: String,
    discovery_url: Option<String>,
    jwks_url: Option<String>,
    refresh_interval: Duration,
    min_refresh_interval: Duration,
    max_stale: Duration,
    fetcher: Arc<Fetcher>,
    cache: RwLock<KeySet>,
    refresh: tokio::sync::Mutex<RefreshState>,
    generation: AtomicU64,
    background: AtomicBool,
    fetches: AtomicU64,
    successes: AtomicU64,
    rate_limited: AtomicU64,
}

impl KeySource {
    pub(crate) fn new(
        issuer: &str,
        discovery_url: Option<String>,
        jwks_url: Option<String>,
        cfg: &AuthConfig,
        fetcher: Arc<Fetcher>,
    ) -> Self {
        KeySource {
            issuer: issuer.to_string(),
            discovery_url,
            jwks_url,
            refresh_interval: cfg.jwks_refresh_interval,
            min_refresh_interval: cfg.jwks_min_refresh_interval,
            max_stale: cfg.jwks_max_stale,
            fetcher,
            cache: RwLock::new(KeySet::default()),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
            generation: AtomicU64::new(0),
            background: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> JwksStats {
        JwksStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            successes: self.successes.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Looks up (usable) cached keys for `kid` with the set's generation; returns also whether
    /// the cache is usable and whether it is stale.
    fn cached(&self, kid: &str) -> (Option<GenerationKeys>, bool, bool) {
        let set = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let Some(at) = set.fetched_at else {
            return (None, false, false);
        };
        let age = at.elapsed();
        if age > self.max_stale {
            return (None, false, true);
        }
        (
            set.keys.get(kid).cloned().map(|k| (k, set.generation)),
            true,
            age > self.refresh_interval,
        )
    }

    /// Whether keys read at content generation `generation` are still what this source serves:
    /// the key set has not changed since, and it is usable (not older than `jwks_max_stale`).
    /// Like a key lookup, starts a background refresh when the set is older than
    /// `jwks_refresh_interval`, so a workload served from the verified-token cache still notices
    /// rotations.
    pub(crate) fn is_current(self: &Arc<Self>, generation: u64) -> bool {
        let (current, stale) = {
            let set = self.cache.read().unwrap_or_else(|e| e.into_inner());
            match set.fetched_at {
                None => (false, false),
                Some(at) => {
                    let age = at.elapsed();
                    (
                        age <= self.max_stale && set.generation == generation,
                        age > self.refresh_interval,
                    )
                }
            }
        };
        if stale {
            self.spawn_background_refresh();
        }
        current
    }

    /// Finds the keys for `kid`, refreshing the JWKS when the kid is unknown (rate-limited) and
    /// in the background when the cache is old.
    pub(crate) async fn lookup(self: &Arc<Self>, kid: &str) -> Lookup {
        let seen = self.generation.load(Ordering::Acquire);
        let (found, usable, stale) = self.cached(kid);
        if let Some((keys, generation)) = found {
            if stale {
                self.spawn_background_refresh();
            }
            return Lookup::Found(keys, generation);
        }
        // Unknown kid, or nothing usable cached: refresh now (rate-limited, de-duplicated).
        let result = self.refresh(seen).await;
        let (found, usable_after, _) = self.cached(kid);
        match (found, result) {
            (Some((keys, generation)), _) => Lookup::Found(keys, generation),
            // The identity provider could not be asked: the kid may belong to a new key.
            (None, Err(e)) => Lookup::Unavailable(e),
            (None, Ok(())) if usable_after || usable => Lookup::Unknown,
            (None, Ok(())) => Lookup::Unavailable("no usable keys cached".to_string()),
        }
    }

    fn spawn_background_refresh(self: &Arc<Self>) {
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let me = Arc::clone(self);
                handle.spawn(async move {
                    let seen = me.generation.load(Ordering::Acquire);
                    let _ = me.refresh(seen).await;
                    me.background.store(false, Ordering::Release);
                });
            }
            Err(_) => self.background.store(false, Ordering::Release),
        }
    }

    /// Fetches the JWKS unless another task did so since generation `seen`, or the last attempt
    /// is more recent than the minimum refresh interval.
    pub(crate) async fn refresh(&self, seen: u64) -> Result<(), String> {
        let mut st = self.refresh.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            // Somebody fetched while we waited for the lock.
            return match &st.last_error {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            };
        }
        if let Some(t) = st.last_attempt {
            if t.elapsed() < self.min_refresh_interval {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                metrics::jwks_refresh(&self.issuer, "rate_limited");
                return match &st.last_error {
                    Some(e) => Err(e.clone()),
                    None => Ok(()),
                };
            }
        }
        st.last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = self.fetch(&mut st).await;
        self.generation.fetch_add(1, Ordering::AcqRel);
        match outcome {
            Ok(keys) => {
                let n = keys.len();
                let digest = key_set_digest(&keys);
                {
                    let mut set = self.cache.write().unwrap_or_else(|e| e.into_inner());
                    if set.generation == 0 || set.digest != digest {
                        set.generation += 1;
                        set.digest = digest;
                        if set.generation > 1 {
                            tracing::info!(issuer = %self.issuer, kids = n, "JWKS changed; tokens verified with the previous key set will be verified again");
                        }
                    }
                    set.keys = keys;
                    set.fetched_at = Some(Instant::now());
                }
                st.last_error = None;
                self.successes.fetch_add(1, Ordering::Relaxed);
                metrics::jwks_refresh(&self.issuer, "success");
                tracing::debug!(issuer = %self.issuer, kids = n, "JWKS refreshed");
                Ok(())
            }
            Err(e) => {
                metrics::jwks_refresh(&self.issuer, "error");
                tracing::warn!(issuer = %self.issuer, error = %e, "JWKS refresh failed");
                st.last_error = Some(e.clone());
                // A failed discovery may have been caused by a moved jwks_uri: rediscover next time.
                if self.jwks_url.is_none() {
                    st.jwks_uri = None;
                }
                Err(e)
            }
        }
    }

    async fn fetch(
        &self,
        st: &mut RefreshState,
    ) -> Result<HashMap<String, Vec<Arc<PublicKey>>>, String> {
        let uri = match (&self.jwks_url, &st.jwks_uri, &self.discovery_url) {
            (Some(u), _, _) => u.clone(),
            (None, Some(u), _) => u.clone(),
            (None, None, Some(d)) => {
                let u = self
                    .fetcher
                    .discover(d, &self.issuer)
                    .await
                    .map_err(|e| format!("discovery: {e}"))?;
                st.jwks_uri = Some(u.clone());
                u
            }
            (None, None, None) => return Err("no JWKS location configured".into()),
        };
        self.fetcher
            .jwks(&uri)
            .await
            .map_err(|e| format!("jwks: {e}"))
    }
}
