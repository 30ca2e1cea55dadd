//! Bearer-token (JWT) verification and detached request signatures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::config::{AuthConfig, IssuerConfig};
use crate::error::{AuthError, BoundReason, InvalidReason, SignatureReason};
use crate::identity::CallerIdentity;
use crate::jwk::{parse_asymmetric_alg, parse_jwk, PublicKey};
use crate::jwks::{Fetcher, JwksStats, KeySource, Lookup};
use crate::metrics;
use crate::token_cache::{self, Times, TokenCache, TokenCacheStats, TokenDigest, Verified};

#[cfg(feature = "fuzzing")]
#[path = "fuzzing.rs"]
pub mod fuzzing;

/// Most scopes or roles taken from one token.
pub const MAX_LIST_ENTRIES: usize = 64;
/// Longest single scope, role, subject, client id or token id.
pub const MAX_CLAIM_STRING: usize = 512;

struct IssuerRuntime {
    cfg: IssuerConfig,
    algorithms: Vec<Algorithm>,
    signature_algorithms: Vec<Algorithm>,
    token_keys: Arc<KeySource>,
    signing_keys: Option<Arc<KeySource>>,
}

struct Inner {
    cfg: AuthConfig,
    issuers: HashMap<String, IssuerRuntime>,
    caller_keys: HashMap<String, Vec<Arc<PublicKey>>>,
    /// Verified tokens of this verifier (and so of its issuers, audiences and leeway only);
    /// `None` when `token_cache_capacity` is 0.
    token_cache: Option<TokenCache>,
}

/// Verifies bearer tokens and detached request signatures against the configured issuers.
///
/// Cheap to clone (an `Arc` inside); `Send + Sync`. JWKS are cached per issuer, refreshed in the
/// background when older than `jwks_refresh_interval`, and re-fetched (rate-limited) when a token
/// names an unknown `kid`, so signing-key rotation needs no restart.
///
/// Verified tokens are remembered (`token_cache_capacity`, default 10,000, keyed by the token's
/// SHA-256): a token seen again costs a hash lookup instead of a signature check. `exp`, `nbf`
/// and `iat` are checked on every use with the same clock and leeway, and any change of the
/// issuer's JWKS (a key added, removed or replaced) makes its cached tokens verify in full again.
/// Clones share the cache; another verifier (another configuration) has its own.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.inner.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The caller's tenant (docs/tenancy.md): `None` without declared tenants; else the issuer's
/// fixed `tenant`, or the value of its `tenant_claim`, which must be a declared tenant
/// (`AUTH_NO_TENANT` otherwise).
fn tenant_of(
    issuer: &crate::config::IssuerConfig,
    declared: &[String],
    claims: &Map<String, Value>,
) -> Result<Option<String>, AuthError> {
    if declared.is_empty() {
        return Ok(None);
    }
    let named = match (&issuer.tenant, &issuer.tenant_claim) {
        (Some(fixed), _) => Some(fixed.as_str()),
        (None, Some(path)) => claim_at_path(claims, path).and_then(Value::as_str),
        (None, None) => None,
    };
    match named {
        Some(t) if declared.iter().any(|d| d == t) => Ok(Some(t.to_string())),
        _ => Err(AuthError::NoTenant),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn algs(names: &[String]) -> Result<Vec<Algorithm>, AuthError> {
    names
        .iter()
        .map(|n| {
            parse_asymmetric_alg(n)
                .ok_or_else(|| AuthError::Config(format!("algorithm {n:?} not allowed")))
        })
        .collect()
}

impl JwtVerifier {
    /// Validates the configuration, fetches every issuer's discovery document and JWKS, and
    /// returns the verifier. An unreachable issuer is logged and retried on use (its tokens get
    /// `AUTH_UNAVAILABLE` meanwhile) unless `fail_on_unreachable_issuer` is set.
    pub async fn new(cfg: AuthConfig) -> Result<Self, AuthError> {
        cfg.validate()?;
        let fetcher = Arc::new(Fetcher::new(&cfg)?);
        let mut issuers = HashMap::new();
        for ic in &cfg.issuers {
            let token_keys = Arc::new(KeySource::new(
                &ic.issuer,
                ic.discovery_url.clone(),
                ic.jwks_url.clone(),
                &cfg,
                Arc::clone(&fetcher),
            ));
            let signing_keys = ic.signing_jwks_url.as_ref().map(|u| {
                Arc::new(KeySource::new(
                    &ic.issuer,
                    None,
                    Some(u.clone()),
                    &cfg,
                    Arc::clone(&fetcher),
                ))
            });
            issuers.insert(
                ic.issuer.clone(),
                IssuerRuntime {
                    cfg: ic.clone(),
                    algorithms: algs(&ic.algorithms)?,
                    signature_algorithms: algs(&ic.signature_algorithms)?,
                    token_keys,
                    signing_keys,
                },
            );
        }
        let mut caller_keys: HashMap<String, Vec<Arc<PublicKey>>> = HashMap::new();
        for ck in &cfg.caller_keys {
            let pk = parse_jwk(&ck.jwk).map_err(|why| {
                AuthError::Config(format!("caller key for {:?}: {why}", ck.principal))
            })?;
            caller_keys
                .entry(ck.principal.clone())
                .or_default()
                .push(Arc::new(pk));
        }
        for (name, rt) in &issuers {
            if let Err(e) = rt.token_keys.refresh(0).await {
                if cfg.fail_on_unreachable_issuer {
                    return Err(AuthError::Unavailable {
                        issuer: name.clone(),
                        detail: e,
                    });
                }
                tracing::warn!(issuer = %name, error = %e, "issuer keys not available at start; will retry on use");
            }
        }
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                token_cache: TokenCache::new(cfg.token_cache_capacity),
                cfg,
                issuers,
                caller_keys,
            }),
        })
    }

    /// Fetch counters of an issuer's token JWKS (`None` for an unknown issuer).
    pub fn jwks_stats(&self, issuer: &str) -> Option<JwksStats> {
        self.inner.issuers.get(issuer).map(|r| r.token_keys.stats())
    }

    /// Size and counters of the verified-token cache (all zero when it is off).
    pub fn token_cache_stats(&self) -> TokenCacheStats {
        self.inner
            .token_cache
            .as_ref()
            .map(TokenCache::stats)
            .unwrap_or_default()
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.keys().map(String::as_str)
    }

    /// The tenant of a caller identified by a client certificate of `issuer`'s subjects (mTLS,
    /// docs/tenancy.md): `None` without declared tenants, else the issuer's fixed `tenant`. A
    /// certificate carries no claims, so an issuer with a `tenant_claim` only (or an unknown
    /// issuer) gives `AUTH_NO_TENANT`.
    pub fn certificate_tenant(&self, issuer: &str) -> Result<Option<String>, AuthError> {
        match self.inner.issuers.get(issuer) {
            Some(rt) => tenant_of(&rt.cfg, &self.inner.cfg.tenants, &Map::new()),
            None if self.inner.cfg.tenants.is_empty() => Ok(None),
            None => Err(AuthError::NoTenant),
        }
    }

    /// Verifies the value of an `authorization` header (`Bearer <JWT>`) and returns the caller.
    ///
    /// Deny by default: any missing piece, unknown issuer or key, unpinned algorithm, bad
    /// signature or failed claim check is an error. Failures are counted in
    /// `dl_auth_failures_total{reason}`; tokens are never logged.
    ///
    /// A sender-constrained token (`cnf`) is refused here (`AUTH_BOUND_TOKEN_UNSUPPORTED`): no
    /// client certificate accompanies the header, so its binding cannot be verified. See
    /// [`JwtVerifier::verify_bearer_with_certificate`].
    pub async fn verify_bearer(
        &self,
        authorization_header: Option<&[u8]>,
    ) -> Result<CallerIdentity, AuthError> {
        self.verify_bearer_bound(authorization_header, None).await
    }

    /// Like [`JwtVerifier::verify_bearer`] for a caller that presented the (validated) client
    /// certificate `cert`: a token bound to a certificate (`cnf.x5t#S256`, RFC 8705) is accepted
    /// only with that certificate (another one: `AUTH_FORBIDDEN`); `cnf.jkt` (DPoP) is never
    /// accepted. Unbound tokens are checked as by `verify_bearer`.
    pub async fn verify_bearer_with_certificate(
        &self,
        authorization_header: Option<&[u8]>,
        cert: &crate::mtls::CertIdentity,
    ) -> Result<CallerIdentity, AuthError> {
        self.verify_bearer_bound(authorization_header, Some(cert))
            .await
    }

    async fn verify_bearer_bound(
        &self,
        authorization_header: Option<&[u8]>,
        cert: Option<&crate::mtls::CertIdentity>,
    ) -> Result<CallerIdentity, AuthError> {
        let r = self
            .verify_bearer_inner(authorization_header)
            .await
            .and_then(|id| check_binding(id, cert));
        if let Err(e) = &r {
            metrics::failure(e.reason());
            tracing::debug!(
                code = e.code(),
                reason = e.reason(),
                "bearer token rejected"
            );
        }
        r
    }

    async fn verify_bearer_inner(
        &self,
        header: Option<&[u8]>,
    ) -> Result<CallerIdentity, AuthError> {
        let invalid = AuthError::InvalidToken;
        let max = self.inner.cfg.max_token_bytes;
        let raw = header.ok_or(AuthError::MissingToken)?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(AuthError::MissingToken);
        }
        if raw.len() > max + 64 {
            return Err(invalid(InvalidReason::Oversized));
        }
        let text = std::str::from_utf8(raw).map_err(|_| invalid(InvalidReason::Malformed))?;
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MissingToken);
        }
        let (scheme, rest) = text
            .split_once([' ', '\t'])
            .ok_or(invalid(InvalidReason::Malformed))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(invalid(InvalidReason::Malformed));
        }
        let token = rest.trim_matches(|c: char| c.is_ascii_whitespace());
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if token.len() > max {
            return Err(invalid(InvalidReason::Oversized));
        }
        self.verify_token_inner(token).await
    }

    /// Verifies a bare compact JWT (without the `Bearer` prefix), e.g. from another carrier.
    /// Same checks and metrics as [`JwtVerifier::verify_bearer`].
    pub async fn verify_token(&self, token: &str) -> Result<CallerIdentity, AuthError> {
        let r = self
            .verify_token_inner(token)
            .await
            .and_then(|id| check_binding(id, None));
        if let Err(e) = &r {
            metrics::failure(e.reason());
        }
        r
    }

    async fn verify_token_inner(&self, token: &str) -> Result<CallerIdentity, AuthError> {
        if token.len() > self.inner.cfg.max_token_bytes {
            return Err(AuthError::InvalidToken(InvalidReason::Oversized));
        }
        let Some(cache) = &self.inner.token_cache else {
            return self.verify_signed(token).await.map(|v| v.identity);
        };
        let key = token_cache::digest(token);
        if let Some(answer) = self.answer_from_cache(cache, &key) {
            cache.hit();
            return answer;
        }
        cache.miss();
        let verified = Arc::new(self.verify_signed(token).await?);
        let identity = verified.identity.clone();
        cache.insert(key, verified);
        Ok(identity)
    }

    /// The answer for a cached token: `None` when it is not cached or its entry is no longer
    /// usable (the issuer's key set changed or is past `jwks_max_stale`); else the identity, or
    /// the error of the time checks, which run on every use exactly as after a signature check.
    fn answer_from_cache(
        &self,
        cache: &TokenCache,
        key: &TokenDigest,
    ) -> Option<Result<CallerIdentity, AuthError>> {
        let entry = cache.get(key)?;
        let current = self
            .inner
            .issuers
            .get(&entry.identity.issuer)
            .is_some_and(|rt| rt.token_keys.is_current(entry.key_generation));
        if !current {
            cache.invalidate(key);
            return None;
        }
        match self.check_times(&entry.times) {
            Ok(()) => Some(Ok(entry.identity.clone())),
            Err(e) => {
                if e == AuthError::InvalidToken(InvalidReason::Expired) {
                    // It never becomes valid again.
                    cache.invalidate(key);
                }
                Some(Err(e))
            }
        }
    }

    /// Full verification of a compact JWT: structure, issuer, algorithm, key, signature, claims.
    async fn verify_signed(&self, token: &str) -> Result<Verified, AuthError> {
        let invalid = AuthError::InvalidToken;
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(InvalidReason::Malformed));
        };
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(invalid(InvalidReason::Malformed));
        }
        let header = decode_object(h64).ok_or(invalid(InvalidReason::Malformed))?;
        let claims = decode_object(p64).ok_or(invalid(InvalidReason::Malformed))?;
        if URL_SAFE_NO_PAD.decode(s64).is_err() {
            return Err(invalid(InvalidReason::Malformed));
        }
        if header.contains_key("crit") || header.contains_key("b64") {
            return Err(invalid(InvalidReason::UnsupportedCritical));
        }
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(invalid(InvalidReason::MissingClaim))?;
        let rt = self
            .inner
            .issuers
            .get(iss)
            .ok_or(invalid(InvalidReason::UnknownIssuer))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(parse_asymmetric_alg)
            .filter(|a| rt.algorithms.contains(a))
            .ok_or(invalid(InvalidReason::AlgorithmNotAllowed))?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(invalid(InvalidReason::MissingKid))?;
        if let Some(types) = &rt.cfg.token_types {
            let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
            let norm = |t: &str| {
                let t = t.to_ascii_lowercase();
                t.strip_prefix("application/")
                    .map(str::to_string)
                    .unwrap_or(t)
            };
            if !types.iter().any(|t| norm(t) == norm(typ)) {
                return Err(invalid(InvalidReason::WrongType));
            }
        }
        let (keys, key_generation) = match rt.token_keys.lookup(kid).await {
            Lookup::Found(keys, generation) => (keys, generation),
            Lookup::Unknown => return Err(invalid(InvalidReason::UnknownKid)),
            Lookup::Unavailable(detail) => {
                return Err(AuthError::Unavailable {
                    issuer: rt.cfg.issuer.clone(),
                    detail,
                })
            }
        };
        let candidates: Vec<_> = keys.iter().filter(|k| k.compatible(alg)).collect();
        if candidates.is_empty() {
            return Err(invalid(InvalidReason::KeyMismatch));
        }
        let signing_input = &token[..h64.len() + 1 + p64.len()];
        let ok = candidates.iter().any(|k| {
            jsonwebtoken::crypto::verify(s64, signing_input.as_bytes(), &k.key, alg)
                .unwrap_or(false)
        });
        if !ok {
            return Err(invalid(InvalidReason::BadSignature));
        }
        let (identity, times) = self.check_claims(rt, &claims)?;
        Ok(Verified {
            identity,
            times,
            key_generation,
        })
    }

    fn leeway_secs(&self) -> i64 {
        i64::try_from(self.inner.cfg.leeway.as_secs()).unwrap_or(600)
    }

    /// `exp`, `nbf` and `iat` against this verifier's clock with its leeway: after the signature
    /// check and on every use of a cached token.
    fn check_times(&self, t: &Times) -> Result<(), AuthError> {
        let invalid = AuthError::InvalidToken;
        let now = now_secs();
        let leeway = self.leeway_secs();
        if now >= t.exp.saturating_add(leeway) {
            return Err(invalid(InvalidReason::Expired));
        }
        if t.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(invalid(InvalidReason::NotYetValid));
        }
        if t.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(invalid(InvalidReason::IssuedInFuture));
        }
        Ok(())
    }

    fn check_claims(
        &self,
        rt: &IssuerRuntime,
        claims: &Map<String, Value>,
    ) -> Result<(CallerIdentity, Times), AuthError> {
        let invalid = AuthError::InvalidToken;
        let now = now_secs();
        let num = |name: &str| -> Result<Option<i64>, AuthError> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().map(|f| f as i64))
                    .map(Some)
                    .ok_or(invalid(InvalidReason::MissingClaim)),
            }
        };
        let exp = num("exp")?.ok_or(invalid(InvalidReason::MissingClaim))?;
        let nbf = num("nbf")?;
        let iat = num("iat")?;
        if let Some(iat) = iat {
            metrics::clock_skew(iat.saturating_sub(now).max(0) as f64);
        }
        let times = Times { exp, nbf, iat };
        self.check_times(&times)?;
        if iat.is_none() && (rt.cfg.require_iat || rt.cfg.max_token_lifetime.is_some()) {
            return Err(invalid(InvalidReason::MissingClaim));
        }
        if let (Some(max), Some(iat)) = (rt.cfg.max_token_lifetime, iat) {
            let max = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
            if exp.saturating_sub(iat) > max {
                return Err(invalid(InvalidReason::LifetimeTooLong));
            }
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => rt.cfg.audiences.iter().any(|x| x == a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| rt.cfg.audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !aud_ok {
            return Err(invalid(InvalidReason::WrongAudience));
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(invalid(InvalidReason::MissingClaim))?;
        if subject.len() > MAX_CLAIM_STRING {
            return Err(invalid(InvalidReason::ClaimTooLarge));
        }
        let scopes = match claims.get("scope") {
            Some(v) => string_list(v)?,
            None => match claims.get("scp") {
                Some(v) => string_list(v)?,
                None => Vec::new(),
            },
        };
        let roles_path = rt.cfg.roles_claim.as_deref().unwrap_or("roles");
        let roles = match claim_at_path(claims, roles_path) {
            Some(v) => string_list(v)?,
            None => Vec::new(),
        };
        let opt_string = |v: Option<&Value>| -> Result<Option<String>, AuthError> {
            match v.and_then(Value::as_str) {
                Some(s) if s.len() > MAX_CLAIM_STRING => Err(invalid(InvalidReason::ClaimTooLarge)),
                Some(s) => Ok(Some(s.to_string())),
                None => Ok(None),
            }
        };
        let cert_thumbprint = match claims.get("cnf") {
            None => None,
            Some(Value::Object(cnf)) if cnf.contains_key("jkt") => {
                return Err(AuthError::BoundToken(BoundReason::KeyBindingUnsupported))
            }
            Some(Value::Object(cnf)) if cnf.len() == 1 && cnf.contains_key("x5t#S256") => {
                match opt_string(cnf.get("x5t#S256"))? {
                    Some(t) if !t.is_empty() => Some(t),
                    _ => return Err(AuthError::BoundToken(BoundReason::UnknownConfirmation)),
                }
            }
            Some(_) => return Err(AuthError::BoundToken(BoundReason::UnknownConfirmation)),
        };
        let identity = CallerIdentity {
            issuer: rt.cfg.issuer.clone(),
            subject: subject.to_string(),
            scopes,
            roles,
            client_id: opt_string(claims.get("client_id"))?,
            token_id: opt_string(claims.get("jti"))?,
            expires_at: exp,
            cert_thumbprint,
            tenant: tenant_of(&rt.cfg, &self.inner.cfg.tenants, claims)?,
        };
        Ok((identity, times))
    }

    /// Verifies a detached JWS (RFC 7515 Appendix F: `<header>..<signature>`, normal base64url
    /// payload encoding) over `payload`, made by the caller `identity`.
    ///
    /// The key is chosen by the JWS `kid`: first among the keys configured for the caller's
    /// principal (`caller_keys`), else from the issuer's signing JWKS (`signing_jwks_url`, or the
    /// token JWKS). A JWKS key is only accepted when it names the caller's subject in its `sub`
    /// member: a key without `sub` belongs to nobody in particular and verifies no one's
    /// request (`signature_key_not_bound`).
    /// Only ES256 and EdDSA (as configured per issuer) are accepted.
    pub async fn verify_detached_signature(
        &self,
        identity: &CallerIdentity,
        jws: &[u8],
        payload: &[u8],
    ) -> Result<(), AuthError> {
        let r = self.verify_detached_inner(identity, jws, payload).await;
        if let Err(e) = &r {
            metrics::failure(e.reason());
            tracing::debug!(
                code = e.code(),
                reason = e.reason(),
                "request signature rejected"
            );
        }
        r
    }

    async fn verify_detached_inner(
        &self,
        identity: &CallerIdentity,
        jws: &[u8],
        payload: &[u8],
    ) -> Result<(), AuthError> {
        let bad = AuthError::BadSignature;
        let cfg = &self.inner.cfg;
        if jws.iter().all(u8::is_ascii_whitespace) {
            return Err(bad(SignatureReason::Missing));
        }
        if jws.len() > cfg.max_signature_bytes || payload.len() > cfg.max_signed_payload_bytes {
            return Err(bad(SignatureReason::Oversized));
        }
        let text = std::str::from_utf8(jws).map_err(|_| bad(SignatureReason::Malformed))?;
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let mut parts = text.split('.');
        let (Some(h64), Some(""), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(SignatureReason::Malformed));
        };
        if h64.is_empty() || s64.is_empty() || URL_SAFE_NO_PAD.decode(s64).is_err() {
            return Err(bad(SignatureReason::Malformed));
        }
        let header = decode_object(h64).ok_or(bad(SignatureReason::Malformed))?;
        let rt = self
            .inner
            .issuers
            .get(&identity.issuer)
            .ok_or(bad(SignatureReason::UnknownIssuer))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(parse_asymmetric_alg)
            .filter(|a| rt.signature_algorithms.contains(a))
            .ok_or(bad(SignatureReason::AlgorithmNotAllowed))?;
        let b64_ok = match header.get("b64") {
            None => true,
            Some(v) => v.as_bool() == Some(true),
        };
        let crit_ok = match header.get("crit") {
            None => true,
            Some(Value::Array(list)) => {
                !list.is_empty()
                    && list.iter().all(|c| c.as_str() == Some("b64"))
                    && header.contains_key("b64")
            }
            Some(_) => false,
        };
        if !b64_ok || !crit_ok {
            return Err(bad(SignatureReason::UnsupportedHeader));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(bad(SignatureReason::MissingKid))?;

        let configured: Vec<Arc<PublicKey>> = self
            .inner
            .caller_keys
            .get(&identity.principal())
            .map(|ks| ks.iter().filter(|k| k.kid == kid).cloned().collect())
            .unwrap_or_default();
        let mut keys = if configured.is_empty() {
            let source = rt.signing_keys.as_ref().unwrap_or(&rt.token_keys);
            match source.lookup(kid).await {
                Lookup::Found(keys, _) => {
                    if keys.iter().all(|k| k.subject.is_none()) {
                        return Err(bad(SignatureReason::KeyNotBound));
                    }
                    let own: Vec<_> = keys
                        .into_iter()
                        .filter(|k| k.subject.as_deref() == Some(identity.subject.as_str()))
                        .collect();
                    if own.is_empty() {
                        return Err(bad(SignatureReason::KeyMismatch));
                    }
                    own
                }
                Lookup::Unknown => return Err(bad(SignatureReason::UnknownKey)),
                Lookup::Unavailable(detail) => {
                    return Err(AuthError::Unavailable {
                        issuer: rt.cfg.issuer.clone(),
                        detail,
                    })
                }
            }
        } else {
            configured
        };
        keys.retain(|k| k.compatible(alg));
        if keys.is_empty() {
            return Err(bad(SignatureReason::KeyMismatch));
        }
        let mut signing_input =
            String::with_capacity(h64.len() + 1 + payload.len().div_ceil(3) * 4);
        signing_input.push_str(h64);
        signing_input.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut signing_input);
        let ok = keys.iter().any(|k| {
            jsonwebtoken::crypto::verify(s64, signing_input.as_bytes(), &k.key, alg)
                .unwrap_or(false)
        });
        if ok {
            Ok(())
        } else {
            Err(bad(SignatureReason::Invalid))
        }
    }
}

/// A certificate-bound token needs the certificate it is bound to.
fn check_binding(
    id: CallerIdentity,
    cert: Option<&crate::mtls::CertIdentity>,
) -> Result<CallerIdentity, AuthError> {
    match (&id.cert_thumbprint, cert) {
        (None, _) => Ok(id),
        (Some(_), None) => Err(AuthError::BoundToken(BoundReason::CertificateNotPresented)),
        (Some(t), Some(c)) if *t == c.thumbprint_s256 => Ok(id),
        (Some(_), Some(_)) => Err(AuthError::Forbidden(
            "token is bound to another client certificate",
        )),
    }
}

/// base64url-decodes and parses a JSON object.
fn decode_object(b64: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Follows a dotted path (`realm_access.roles`) into the claims.
fn claim_at_path<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// A space-separated string or an array of strings, de-duplicated and bounded. Non-string array
/// members are ignored (they grant nothing).
fn string_list(v: &Value) -> Result<Vec<String>, AuthError> {
    let items: Vec<&str> = match v {
        Value::String(s) => s.split_ascii_whitespace().collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if items.len() > MAX_LIST_ENTRIES || items.iter().any(|s| s.len() > MAX_CLAIM_STRING) {
        return Err(AuthError::InvalidToken(InvalidReason::ClaimTooLarge));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for s in items {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tenant_comes_from_the_issuer_or_its_claim_and_must_be_declared() {
        let mut issuer =
            crate::config::IssuerConfig::new("https://idp", "https://idp/d", vec![], vec![]);
        let claims = json!({"org": {"tenant": "bank"}, "tenant": "kela"});
        let m = claims.as_object().unwrap();
        let declared = ["kela".to_string(), "bank".to_string()];
        // No declared tenants: no tenant, whatever the token says.
        assert_eq!(tenant_of(&issuer, &[], m), Ok(None));
        issuer.tenant_claim = Some("org.tenant".into());
        assert_eq!(tenant_of(&issuer, &declared, m), Ok(Some("bank".into())));
        assert_eq!(
            tenant_of(&issuer, &declared[..1], m),
            Err(AuthError::NoTenant),
            "an undeclared tenant"
        );
        issuer.tenant_claim = Some("missing".into());
        assert_eq!(tenant_of(&issuer, &declared, m), Err(AuthError::NoTenant));
        // A fixed tenant wins over anything the token claims.
        issuer.tenant = Some("kela".into());
        issuer.tenant_claim = None;
        let claims = json!({"tenant": "bank"});
        assert_eq!(
            tenant_of(&issuer, &declared, claims.as_object().unwrap()),
            Ok(Some("kela".into()))
        );
    }

    #[test]
    fn lists_and_paths() {
        let claims = json!({"realm_access": {"roles": ["a", "b", "a", 3]}, "scope": "x y  x"});
        let m = claims.as_object().unwrap();
        assert_eq!(
            string_list(claim_at_path(m, "realm_access.roles").unwrap()).unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(string_list(&m["scope"]).unwrap(), vec!["x", "y"]);
        assert!(claim_at_path(m, "realm_access.nope").is_none());
        let many: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        assert!(string_list(&json!(many.join(" "))).is_err());
    }

    #[test]
    fn decode_object_rejects_non_objects() {
        assert!(decode_object(&URL_SAFE_NO_PAD.encode("[1]")).is_none());
        assert!(decode_object("!!").is_none());
        assert!(decode_object(&URL_SAFE_NO_PAD.encode("{\"a\":1}")).is_some());
    }
}
