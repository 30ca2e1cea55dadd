//! Configuration (deserialised from the service's YAML/JSON config file).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::AuthError;

/// Algorithms accepted for bearer tokens. HMAC algorithms and `none` are never accepted: keys come
/// from a public JWKS, and an HMAC "secret" taken from a public key is the classic confusion attack.
pub const TOKEN_ALGORITHMS: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// Algorithms accepted for detached request signatures (`dl-signature`).
pub const SIGNATURE_ALGORITHMS: &[&str] = &["ES256", "EdDSA"];

/// Hard upper bound for `max_token_bytes`.
pub const MAX_TOKEN_BYTES_LIMIT: usize = 64 * 1024;

/// Settings of the bearer-token verifier (all issuers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Trusted token issuers. A token whose `iss` is not listed is rejected.
    pub issuers: Vec<IssuerConfig>,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat` (default 60 s, at most 10 min).
    /// Accepts integer seconds or a string such as `"30s"`, `"2m"`, `"500ms"`.
    #[serde(default = "default_leeway", deserialize_with = "de_duration")]
    pub leeway: Duration,
    /// Largest accepted token in bytes (default 8192, at most 65536).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Age after which cached JWKS are refreshed in the background (default 5 min).
    #[serde(default = "default_refresh", deserialize_with = "de_duration")]
    pub jwks_refresh_interval: Duration,
    /// Minimum time between two JWKS fetches of one issuer triggered by an unknown `kid`
    /// (default 30 s). Protects the identity provider from floods of tokens with random `kid`s.
    #[serde(default = "default_min_refresh", deserialize_with = "de_duration")]
    pub jwks_min_refresh_interval: Duration,
    /// How long cached keys stay usable while the JWKS cannot be refreshed (default 24 h). After
    /// that, verification fails closed with `AUTH_UNAVAILABLE`.
    #[serde(default = "default_max_stale", deserialize_with = "de_duration")]
    pub jwks_max_stale: Duration,
    /// Timeout of each discovery/JWKS HTTP request (default 5 s).
    #[serde(default = "default_http_timeout", deserialize_with = "de_duration")]
    pub http_timeout: Duration,
    /// Largest accepted discovery document or JWKS in bytes (default 256 KiB).
    #[serde(default = "default_max_jwks_bytes")]
    pub max_jwks_bytes: usize,
    /// Most keys kept from one JWKS (default 64; further keys are ignored).
    #[serde(default = "default_max_jwks_keys")]
    pub max_jwks_keys: usize,
    /// Allow `http://` discovery and JWKS URLs (tests and local stacks only; default false).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Extra PEM CA bundle trusted for discovery/JWKS HTTPS, besides the built-in web roots.
    #[serde(default)]
    pub http_ca_file: Option<PathBuf>,
    /// Fail [`crate::JwtVerifier::new`] when an issuer's keys cannot be fetched at start
    /// (default false: start anyway, reject its tokens with `AUTH_UNAVAILABLE` until the
    /// identity provider answers).
    #[serde(default)]
    pub fail_on_unreachable_issuer: bool,
    /// Request-signing public keys configured per caller (see [`CallerKeyConfig`]).
    #[serde(default)]
    pub caller_keys: Vec<CallerKeyConfig>,
    /// Largest payload accepted for detached-signature verification (default 1 MiB).
    #[serde(default = "default_max_signed_payload")]
    pub max_signed_payload_bytes: usize,
    /// Largest `dl-signature` header value (default 4096 bytes).
    #[serde(default = "default_max_signature_bytes")]
    pub max_signature_bytes: usize,
    /// Most verified tokens remembered by the verifier (default 10,000; 0 turns the cache off,
    /// at most [`MAX_TOKEN_CACHE_CAPACITY`]). A token seen again is not verified again: its
    /// entry, keyed by the SHA-256 of the token, holds the caller identity, and `exp`, `nbf` and
    /// `iat` are checked again on every use; a change of the issuer's JWKS invalidates it. The
    /// least recently used entry makes room for a new one.
    #[serde(default = "default_token_cache_capacity")]
    pub token_cache_capacity: usize,
    /// The tenants this deployment serves (docs/tenancy.md), e.g. `["kela", "bank"]`: each
    /// 1 to 32 characters of `a-z 0-9 -`, starting with a letter or digit. Empty (the default):
    /// one tenant, [`DEFAULT_TENANT`](crate::DEFAULT_TENANT), for every caller. Declared: every
    /// caller's tenant comes from its issuer (`tenant` or `tenant_claim`) and must be one of
    /// these, else `AUTH_NO_TENANT`. Also bounds the `tenant` label of metrics.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// Upper bound of [`AuthConfig::token_cache_capacity`].
pub const MAX_TOKEN_CACHE_CAPACITY: usize = 1_000_000;

/// One trusted token issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Issuer identifier, compared exactly with the token's `iss` and the discovery document's
    /// `issuer`. Must not contain `|` (it separates issuer and subject in principals).
    pub issuer: String,
    /// OpenID Connect discovery URL (`.../.well-known/openid-configuration`); its `jwks_uri`
    /// is used unless `jwks_url` is given.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// JWKS URL; overrides the discovery document's `jwks_uri`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Accepted audiences; the token's `aud` must contain at least one. Must not be empty.
    pub audiences: Vec<String>,
    /// Pinned JWS algorithms for this issuer's tokens, e.g. `["ES256"]`. Must not be empty; only
    /// asymmetric algorithms ([`TOKEN_ALGORITHMS`]) are accepted.
    pub algorithms: Vec<String>,
    /// Claim holding the caller's roles; a dotted path reaches into objects
    /// (`realm_access.roles`). Default `roles`. The value may be an array of strings or a
    /// space-separated string.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// Accepted JWS `typ` values (compared case-insensitively, `application/` prefix ignored),
    /// e.g. `["at+jwt"]`. Default: not checked.
    #[serde(default)]
    pub token_types: Option<Vec<String>>,
    /// Require an `iat` claim (default true, as RFC 9068 does).
    #[serde(default = "default_true")]
    pub require_iat: bool,
    /// Reject tokens whose `exp - iat` is longer than this (default: no limit).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub max_token_lifetime: Option<Duration>,
    /// Algorithms accepted for detached request signatures of this issuer's callers
    /// (default `["ES256", "EdDSA"]`; a subset of [`SIGNATURE_ALGORITHMS`]).
    #[serde(default = "default_signature_algorithms")]
    pub signature_algorithms: Vec<String>,
    /// JWKS with the callers' request-signing keys. Default: the issuer's token JWKS.
    #[serde(default)]
    pub signing_jwks_url: Option<String>,
    /// With declared [`AuthConfig::tenants`]: every caller of this issuer belongs to this tenant
    /// (an identity provider per tenant). Exclusive with `tenant_claim`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// With declared [`AuthConfig::tenants`]: the claim (a dotted path, like `roles_claim`)
    /// naming the caller's tenant (one identity provider for several tenants). A token without
    /// it, or naming an undeclared tenant, is refused `AUTH_NO_TENANT`.
    #[serde(default)]
    pub tenant_claim: Option<String>,
}

/// A request-signing public key configured for one caller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerKeyConfig {
    /// The caller's principal, `"<issuer>|<subject>"` (see [`crate::CallerIdentity::principal`]).
    pub principal: String,
    /// Public JWK with a `kid` (EC P-256 for ES256 or OKP Ed25519 for EdDSA). Private members
    /// (`d`) are refused.
    pub jwk: serde_json::Value,
}

impl IssuerConfig {
    /// A config with the given issuer and discovery URL, audiences and algorithms, and the
    /// defaults for everything else.
    pub fn new(
        issuer: impl Into<String>,
        discovery_url: impl Into<String>,
        audiences: Vec<String>,
        algorithms: Vec<String>,
    ) -> Self {
        IssuerConfig {
            issuer: issuer.into(),
            discovery_url: Some(discovery_url.into()),
            jwks_url: None,
            audiences,
            algorithms,
            roles_claim: None,
            token_types: None,
            require_iat: true,
            max_token_lifetime: None,
            signature_algorithms: default_signature_algorithms(),
            signing_jwks_url: None,
            tenant: None,
            tenant_claim: None,
        }
    }
}

impl AuthConfig {
    /// A config with these issuers and the defaults for everything else.
    pub fn new(issuers: Vec<IssuerConfig>) -> Self {
        AuthConfig {
            issuers,
            leeway: default_leeway(),
            max_token_bytes: default_max_token_bytes(),
            jwks_refresh_interval: default_refresh(),
            jwks_min_refresh_interval: default_min_refresh(),
            jwks_max_stale: default_max_stale(),
            http_timeout: default_http_timeout(),
            max_jwks_bytes: default_max_jwks_bytes(),
            max_jwks_keys: default_max_jwks_keys(),
            allow_insecure_http: false,
            http_ca_file: None,
            fail_on_unreachable_issuer: false,
            caller_keys: Vec::new(),
            max_signed_payload_bytes: default_max_signed_payload(),
            max_signature_bytes: default_max_signature_bytes(),
            token_cache_capacity: default_token_cache_capacity(),
            tenants: Vec::new(),
        }
    }

    /// Parses a JSON config document.
    pub fn from_json(text: &str) -> Result<Self, AuthError> {
        serde_json::from_str(text).map_err(|e| AuthError::Config(e.to_string()))
    }

    /// Reads the auth file (YAML or JSON), bare or wrapped in `auth:`, checks all of it and
    /// returns its `auth` part: [`AuthFile::load`](crate::AuthFile::load), the one parser of the
    /// file shared by every service.
    pub fn load(path: &std::path::Path) -> Result<Self, AuthError> {
        crate::file::AuthFile::load(path).map(|f| f.auth)
    }

    /// Checks every rule that `JwtVerifier::new` enforces, without network access.
    pub fn validate(&self) -> Result<(), AuthError> {
        let cfg = |m: String| Err(AuthError::Config(m));
        if self.issuers.is_empty() {
            return cfg("no issuers configured".into());
        }
        for (i, t) in self.tenants.iter().enumerate() {
            if !crate::is_valid_tenant(t) || self.tenants[..i].contains(t) {
                return cfg(format!(
                    "tenant {t:?}: 1 to 32 of a-z 0-9 -, starting with a letter or digit, declared once"
                ));
            }
        }
        if self.leeway > Duration::from_secs(600) {
            return cfg("leeway must be at most 10 minutes".into());
        }
        if self.max_token_bytes == 0 || self.max_token_bytes > MAX_TOKEN_BYTES_LIMIT {
            return cfg(format!(
                "max_token_bytes must be in 1..={MAX_TOKEN_BYTES_LIMIT}"
            ));
        }
        if self.max_jwks_bytes == 0 || self.max_jwks_bytes > 16 * 1024 * 1024 {
            return cfg("max_jwks_bytes must be in 1..=16 MiB".into());
        }
        if self.max_jwks_keys == 0 || self.max_jwks_keys > 1024 {
            return cfg("max_jwks_keys must be in 1..=1024".into());
        }
        if self.max_signature_bytes == 0 || self.max_signature_bytes > 64 * 1024 {
            return cfg("max_signature_bytes must be in 1..=65536".into());
        }
        if self.max_signed_payload_bytes > 64 * 1024 * 1024 {
            return cfg("max_signed_payload_bytes must be at most 64 MiB".into());
        }
        if self.token_cache_capacity > MAX_TOKEN_CACHE_CAPACITY {
            return cfg(format!(
                "token_cache_capacity must be at most {MAX_TOKEN_CACHE_CAPACITY}"
            ));
        }
        if self.http_timeout.is_zero() {
            return cfg("http_timeout must be positive".into());
        }
        let mut seen = std::collections::HashSet::new();
        for iss in &self.issuers {
            if iss.issuer.is_empty() || iss.issuer.contains('|') || iss.issuer.len() > 1024 {
                return cfg(format!(
                    "issuer {:?}: must be non-empty, at most 1024 bytes, without '|'",
                    iss.issuer
                ));
            }
            if !seen.insert(iss.issuer.as_str()) {
                return cfg(format!("issuer {:?} configured twice", iss.issuer));
            }
            if iss.discovery_url.is_none() && iss.jwks_url.is_none() {
                return cfg(format!(
                    "issuer {:?}: needs discovery_url or jwks_url",
                    iss.issuer
                ));
            }
            for url in [&iss.discovery_url, &iss.jwks_url, &iss.signing_jwks_url]
                .into_iter()
                .flatten()
            {
                self.check_url(url)?;
            }
            if iss.audiences.is_empty() || iss.audiences.iter().any(|a| a.is_empty()) {
                return cfg(format!(
                    "issuer {:?}: audiences must be a non-empty list of non-empty strings",
                    iss.issuer
                ));
            }
            if iss.algorithms.is_empty() {
                return cfg(format!(
                    "issuer {:?}: algorithms must be pinned (e.g. [\"ES256\"])",
                    iss.issuer
                ));
            }
            for alg in &iss.algorithms {
                if !TOKEN_ALGORITHMS.contains(&alg.as_str()) {
                    return cfg(format!(
                        "issuer {:?}: algorithm {alg:?} not allowed (never none or HMAC); allowed: {TOKEN_ALGORITHMS:?}",
                        iss.issuer
                    ));
                }
            }
            for alg in &iss.signature_algorithms {
                if !SIGNATURE_ALGORITHMS.contains(&alg.as_str()) {
                    return cfg(format!(
                        "issuer {:?}: signature algorithm {alg:?} not allowed; allowed: {SIGNATURE_ALGORITHMS:?}",
                        iss.issuer
                    ));
                }
            }
            if let Some(rc) = &iss.roles_claim {
                if rc.is_empty() || rc.split('.').any(|p| p.is_empty()) || rc.len() > 256 {
                    return cfg(format!("issuer {:?}: bad roles_claim", iss.issuer));
                }
            }
            if let Some(tc) = &iss.tenant_claim {
                if tc.is_empty() || tc.split('.').any(|p| p.is_empty()) || tc.len() > 256 {
                    return cfg(format!("issuer {:?}: bad tenant_claim", iss.issuer));
                }
            }
            match (&iss.tenant, &iss.tenant_claim, self.tenants.is_empty()) {
                (Some(_), Some(_), _) => {
                    return cfg(format!(
                        "issuer {:?}: tenant and tenant_claim are exclusive",
                        iss.issuer
                    ))
                }
                (Some(_), _, true) | (_, Some(_), true) => {
                    return cfg(format!(
                        "issuer {:?}: tenant or tenant_claim needs declared tenants",
                        iss.issuer
                    ))
                }
                (None, None, false) => {
                    return cfg(format!(
                    "issuer {:?}: with declared tenants, each issuer needs tenant or tenant_claim",
                    iss.issuer
                ))
                }
                (Some(t), None, false) if !self.tenants.contains(t) => {
                    return cfg(format!(
                        "issuer {:?}: tenant {t:?} is not declared in tenants",
                        iss.issuer
                    ))
                }
                _ => {}
            }
        }
        for key in &self.caller_keys {
            if !key.principal.contains('|') {
                return cfg(format!(
                    "caller key principal {:?} must be \"<issuer>|<subject>\"",
                    key.principal
                ));
            }
            if key.jwk.get("d").is_some() {
                return cfg(format!(
                    "caller key for {:?} contains a private key member 'd'",
                    key.principal
                ));
            }
        }
        Ok(())
    }

    fn check_url(&self, url: &str) -> Result<(), AuthError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://")
            || (self.allow_insecure_http && lower.starts_with("http://"))
        {
            Ok(())
        } else {
            Err(AuthError::Config(format!(
                "URL {url:?} must be https:// (http:// only with allow_insecure_http)"
            )))
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_leeway() -> Duration {
    Duration::from_secs(60)
}
fn default_max_token_bytes() -> usize {
    8192
}
fn default_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_min_refresh() -> Duration {
    Duration::from_secs(30)
}
fn default_max_stale() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_http_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_jwks_bytes() -> usize {
    256 * 1024
}
fn default_max_jwks_keys() -> usize {
    64
}
fn default_max_signed_payload() -> usize {
    1024 * 1024
}
fn default_max_signature_bytes() -> usize {
    4096
}
fn default_token_cache_capacity() -> usize {
    10_000
}
fn default_signature_algorithms() -> Vec<String> {
    SIGNATURE_ALGORITHMS.iter().map(|s| s.to_string()).collect()
}

/// Parses `"90"`, `"90s"`, `"1500ms"`, `"5m"`, `"2h"` into a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, mult_ms): (&str, u64) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (t, 1000)
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(mult_ms).map(Duration::from_millis)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationRepr {
    Secs(u64),
    Text(String),
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match DurationRepr::deserialize(d)? {
        DurationRepr::Secs(s) => Ok(Duration::from_secs(s)),
        DurationRepr::Text(t) => parse_duration(&t)
            .ok_or_else(|| serde::de::Error::custom(format!("bad duration {t:?}"))),
    }
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }

    #[test]
    fn parses_json_and_validates() {
        let cfg = AuthConfig::from_json(
            r#"{"issuers":[{"issuer":"https://idp.example","discovery_url":"https://idp.example/.well-known/openid-configuration",
                "audiences":["urn:dl"],"algorithms":["ES256"],"max_token_lifetime":"1h"}],"leeway":"30s"}"#,
        )
        .unwrap();
        assert_eq!(cfg.leeway, Duration::from_secs(30));
        assert_eq!(
            cfg.issuers[0].max_token_lifetime,
            Some(Duration::from_secs(3600))
        );
        cfg.validate().unwrap();
        assert_eq!(cfg.token_cache_capacity, 10_000);
    }

    #[test]
    fn tenants_are_declared_and_every_issuer_names_its_tenant() {
        let issuer = || {
            IssuerConfig::new(
                "https://idp",
                "https://idp/.well-known/openid-configuration",
                vec!["a".into()],
                vec!["ES256".into()],
            )
        };
        let mut cfg = AuthConfig::new(vec![issuer()]);
        cfg.validate().unwrap();
        cfg.issuers[0].tenant = Some("kela".into());
        assert!(cfg.validate().is_err(), "a tenant without declared tenants");
        cfg.tenants = vec!["kela".into(), "bank".into()];
        cfg.validate().unwrap();
        cfg.issuers[0].tenant = Some("hospital".into());
        assert!(cfg.validate().is_err(), "an undeclared tenant");
        cfg.issuers[0].tenant = None;
        assert!(
            cfg.validate().is_err(),
            "declared tenants, issuer names none"
        );
        cfg.issuers[0].tenant_claim = Some("org.tenant".into());
        cfg.validate().unwrap();
        cfg.issuers[0].tenant = Some("kela".into());
        assert!(cfg.validate().is_err(), "tenant and tenant_claim");
        cfg.issuers[0].tenant = None;
        for bad in ["", "Kela", "-kela", "k_l", &"k".repeat(33)] {
            cfg.tenants = vec![bad.to_string()];
            assert!(cfg.validate().is_err(), "{bad:?}");
        }
        cfg.tenants = vec!["kela".into(), "kela".into()];
        assert!(cfg.validate().is_err(), "declared twice");
    }

    #[test]
    fn token_cache_capacity_is_bounded() {
        let mut cfg = AuthConfig::new(vec![IssuerConfig::new(
            "https://idp",
            "https://idp/.well-known/openid-configuration",
            vec!["a".into()],
            vec!["ES256".into()],
        )]);
        cfg.token_cache_capacity = 0;
        cfg.validate().unwrap();
        cfg.token_cache_capacity = MAX_TOKEN_CACHE_CAPACITY + 1;
        assert_eq!(cfg.validate().unwrap_err().code(), "AUTH_CONFIG");
    }

    #[test]
    fn rejects_hmac_none_and_unpinned() {
        for algs in [vec![], vec!["HS256"], vec!["none"], vec!["ES256", "HS512"]] {
            let mut cfg = AuthConfig::new(vec![IssuerConfig::new(
                "https://idp",
                "https://idp/.well-known/openid-configuration",
                vec!["a".into()],
                algs.iter().map(|s| s.to_string()).collect(),
            )]);
            cfg.allow_insecure_http = false;
            assert_eq!(cfg.validate().unwrap_err().code(), "AUTH_CONFIG");
        }
    }

    #[test]
    fn rejects_http_without_opt_in_and_bad_issuer() {
        let mk = |iss: &str, url: &str| {
            AuthConfig::new(vec![IssuerConfig::new(
                iss,
                url,
                vec!["a".into()],
                vec!["ES256".into()],
            )])
        };
        assert!(mk("http://x", "http://x/d").validate().is_err());
        let mut ok = mk("http://x", "http://x/d");
        ok.allow_insecure_http = true;
        ok.validate().unwrap();
        assert!(mk("https://x|y", "https://x/d").validate().is_err());
        let mut no_aud = mk("https://x", "https://x/d");
        no_aud.issuers[0].audiences.clear();
        assert!(no_aud.validate().is_err());
    }
}
