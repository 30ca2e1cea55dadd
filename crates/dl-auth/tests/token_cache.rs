//! The verified-token cache (ADR 0021) against the real OIDC provider
//! (`scripts/oidc/provider.mjs`): hits answer like misses, expiry is checked on every use, a JWKS
//! change invalidates, the size is bounded, and one verifier's entries serve no other.

mod common;

use std::time::Duration;

use common::*;
use dl_auth::{AuthError, InvalidReason, JwtVerifier, TokenCacheStats};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;

fn assert_invalid(r: Result<dl_auth::CallerIdentity, AuthError>, reason: InvalidReason) {
    match r {
        Err(e) => assert_eq!(e, AuthError::InvalidToken(reason), "{e}"),
        Ok(id) => panic!("expected {reason:?}, accepted {id:?}"),
    }
}

#[tokio::test]
async fn a_hit_returns_the_same_identity_as_a_miss() {
    let p = Provider::start().await;
    let v = JwtVerifier::new(p.config()).await.unwrap();
    let mut off_cfg = p.config();
    off_cfg.token_cache_capacity = 0;
    let off = JwtVerifier::new(off_cfg).await.unwrap();
    let token = p
        .token(CLIENT, SECRET, "decisions:submit decisions:read")
        .await;

    let first = v.verify_bearer(Some(&bearer(&token))).await.unwrap();
    let s = v.token_cache_stats();
    assert_eq!((s.misses, s.hits, s.entries), (1, 0, 1), "{s:?}");
    // Another carrier of the same token bytes (bare token, other header spelling) hits.
    let second = v.verify_token(&token).await.unwrap();
    let third = v
        .verify_bearer(Some(format!("  bearer   {token} ").as_bytes()))
        .await
        .unwrap();
    let s = v.token_cache_stats();
    assert_eq!((s.misses, s.hits, s.entries), (1, 2, 1), "{s:?}");
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert_eq!(first.principal(), second.principal());
    assert_eq!(first.principal(), format!("{}|{}", p.issuer, CLIENT));
    // The verifier without a cache gives the same identity, and counts nothing.
    let uncached = off.verify_bearer(Some(&bearer(&token))).await.unwrap();
    assert_eq!(first, uncached);
    assert_eq!(off.token_cache_stats(), TokenCacheStats::default());
    // Clones share the cache.
    v.clone()
        .verify_bearer(Some(&bearer(&token)))
        .await
        .unwrap();
    assert_eq!(v.token_cache_stats().hits, 3);
    // Rejections are never cached: a token with a bad signature (another token's signature by
    // the same key) stays a miss.
    let other = p.sign(json!({}), p.claims(), false).await;
    let (signing_input, _) = token.rsplit_once('.').unwrap();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    let forged = format!("{signing_input}.{other_signature}");
    for _ in 0..2 {
        assert_invalid(
            v.verify_bearer(Some(&bearer(&forged))).await,
            InvalidReason::BadSignature,
        );
    }
    let s = v.token_cache_stats();
    assert_eq!((s.misses, s.hits, s.entries), (3, 3, 1), "{s:?}");
}

#[tokio::test]
async fn an_expired_token_is_refused_although_cached() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    // No leeway, so the token expires at `exp` exactly.
    cfg.leeway = Duration::ZERO;
    let v = JwtVerifier::new(cfg).await.unwrap();
    let exp = now() + 4;
    let mut c = p.claims();
    c["exp"] = json!(exp);
    let t = p.sign(json!({}), c, false).await;
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    let s = v.token_cache_stats();
    assert_eq!((s.misses, s.hits, s.entries), (1, 1, 1), "{s:?}");

    // Wait until the verifier's clock has passed `exp` (no timing assertion: just waiting).
    while now() < exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::Expired,
    );
    // It was answered from the cache (no signature check) and its entry is gone.
    let s = v.token_cache_stats();
    assert_eq!((s.misses, s.hits, s.entries), (1, 2, 0), "{s:?}");
    assert_eq!(s.invalidations, 1);
    // Verified in full now, and refused the same way.
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::Expired,
    );
    assert_eq!(v.token_cache_stats().misses, 2);
}

#[tokio::test]
async fn the_leeway_applies_to_cached_tokens_as_to_fresh_ones() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.leeway = Duration::from_secs(30);
    let v = JwtVerifier::new(cfg).await.unwrap();
    // Expired 5 s ago, within the leeway: accepted, cached, accepted from the cache.
    let mut c = p.claims();
    c["exp"] = json!(now() - 5);
    let t = p.sign(json!({}), c, false).await;
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    assert_eq!(v.token_cache_stats().hits, 1);
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_invalidates_its_cached_tokens() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.jwks_min_refresh_interval = Duration::ZERO;
    let v = JwtVerifier::new(cfg).await.unwrap();
    let t1 = p.default_token().await;
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    assert_eq!(v.token_cache_stats().hits, 1);

    // A key is added: the JWKS changed, so every cached token is verified again once (flush on
    // any change); t1's key is still published, so it is accepted and cached again.
    let added = p.rotate(false).await;
    let t2 = p.default_token().await;
    assert_eq!(kid_of(&t2), added);
    v.verify_bearer(Some(&bearer(&t2))).await.unwrap();
    let before = v.token_cache_stats();
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    let after = v.token_cache_stats();
    assert_eq!(after.misses, before.misses + 1, "{after:?}");
    assert_eq!(after.invalidations, before.invalidations + 1, "{after:?}");
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    assert_eq!(v.token_cache_stats().hits, after.hits + 1);

    // The old keys are retired; a token with the newest kid makes the verifier refetch. t1 was
    // cached and its key is gone: refused although cached.
    let newest = p.rotate(true).await;
    let t3 = p.default_token().await;
    assert_eq!(kid_of(&t3), newest);
    v.verify_bearer(Some(&bearer(&t3))).await.unwrap();
    let before = v.token_cache_stats();
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t1))).await,
        InvalidReason::UnknownKid,
    );
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t2))).await,
        InvalidReason::UnknownKid,
    );
    let after = v.token_cache_stats();
    assert_eq!(after.hits, before.hits, "{after:?}");
    assert_eq!(after.invalidations, before.invalidations + 2, "{after:?}");
    // The token of the remaining key is cached and served.
    v.verify_bearer(Some(&bearer(&t3))).await.unwrap();
    assert_eq!(v.token_cache_stats().hits, after.hits + 1);
}

#[tokio::test]
async fn a_workload_served_from_the_cache_still_notices_a_removed_key() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    // Every use of the cache finds the JWKS due for a background refresh.
    cfg.jwks_refresh_interval = Duration::ZERO;
    cfg.jwks_min_refresh_interval = Duration::ZERO;
    let v = JwtVerifier::new(cfg).await.unwrap();
    let t1 = p.default_token().await;
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    p.rotate(true).await;
    // Only t1 is presented: no unknown kid triggers a fetch, yet the background refresh that
    // cache hits start sees the key set change, and t1 is refused (bounded number of tries).
    let mut refused = None;
    for _ in 0..100 {
        match v.verify_bearer(Some(&bearer(&t1))).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some(AuthError::InvalidToken(InvalidReason::UnknownKid))
    );
    assert!(v.token_cache_stats().invalidations >= 1);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.token_cache_capacity = 3;
    let v = JwtVerifier::new(cfg).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..10 {
        let mut c = p.claims();
        c["jti"] = json!(format!("bounded-{i}"));
        tokens.push(p.sign(json!({}), c, false).await);
    }
    for t in &tokens {
        v.verify_bearer(Some(&bearer(t))).await.unwrap();
        let s = v.token_cache_stats();
        assert!(s.entries <= 3, "{s:?}");
    }
    let s = v.token_cache_stats();
    assert_eq!(
        (s.capacity, s.entries, s.misses, s.evictions),
        (3, 3, 10, 7),
        "{s:?}"
    );
    // The three most recent are cached; the first was evicted and is verified again (and still
    // accepted).
    for t in &tokens[7..] {
        v.verify_bearer(Some(&bearer(t))).await.unwrap();
    }
    assert_eq!(v.token_cache_stats().hits, 3);
    let id = v.verify_bearer(Some(&bearer(&tokens[0]))).await.unwrap();
    assert_eq!(id.token_id.as_deref(), Some("bounded-0"));
    let s = v.token_cache_stats();
    assert_eq!((s.entries, s.misses, s.evictions), (3, 11, 8), "{s:?}");
}

#[tokio::test]
async fn a_cached_token_serves_no_verifier_configured_otherwise() {
    let p = Provider::start().await;
    let v = JwtVerifier::new(p.config()).await.unwrap();
    let t = p.default_token().await;
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    assert_eq!(v.token_cache_stats().hits, 1);

    // Another audience.
    let mut other_aud = p.config();
    other_aud.issuers[0].audiences = vec!["urn:dl:another-service".into()];
    let v2 = JwtVerifier::new(other_aud).await.unwrap();
    assert_invalid(
        v2.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::WrongAudience,
    );
    // Another issuer (same keys, but the token's `iss` is not configured there).
    let mut other_iss = p.config();
    other_iss.issuers[0].issuer = format!("{}/elsewhere", p.issuer);
    other_iss.issuers[0].discovery_url = None;
    other_iss.issuers[0].jwks_url = Some(format!("{}/jwks", p.issuer));
    let v3 = JwtVerifier::new(other_iss).await.unwrap();
    assert_invalid(
        v3.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::UnknownIssuer,
    );
    // Another token type.
    let mut other_typ = p.config();
    other_typ.issuers[0].token_types = Some(vec!["JWT".into()]);
    let v4 = JwtVerifier::new(other_typ).await.unwrap();
    assert_invalid(
        v4.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::WrongType,
    );
    for other in [&v2, &v3, &v4] {
        let s = other.token_cache_stats();
        assert_eq!((s.hits, s.entries), (0, 0), "{s:?}");
    }
    // The first verifier still answers from its own cache.
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    assert_eq!(v.token_cache_stats().hits, 2);
}

#[test]
fn cache_metrics_are_recorded_without_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            dl_auth::describe_metrics();
            let p = Provider::start().await;
            let mut cfg = p.config();
            cfg.token_cache_capacity = 1;
            let v = JwtVerifier::new(cfg).await.unwrap();
            let t1 = p.default_token().await;
            let mut c = p.claims();
            c["jti"] = json!("metrics-2");
            let t2 = p.sign(json!({}), c, false).await;
            for _ in 0..3 {
                v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
            }
            // Evicts t1.
            v.verify_bearer(Some(&bearer(&t2))).await.unwrap();
        })
    });
    let mut seen = std::collections::HashMap::new();
    for (key, _unit, desc, value) in snapshotter.snapshot().into_vec() {
        let k = key.key();
        if !k.name().starts_with("dl_auth_token_cache_") {
            continue;
        }
        assert_eq!(k.labels().count(), 0, "{}", k.name());
        assert!(desc.is_some(), "{} is not described", k.name());
        if let DebugValue::Counter(n) = value {
            seen.insert(k.name().to_string(), n);
        }
    }
    assert_eq!(seen.get(dl_auth::metrics::TOKEN_CACHE_HITS_TOTAL), Some(&2));
    assert_eq!(
        seen.get(dl_auth::metrics::TOKEN_CACHE_MISSES_TOTAL),
        Some(&2)
    );
    assert_eq!(
        seen.get(dl_auth::metrics::TOKEN_CACHE_EVICTIONS_TOTAL),
        Some(&1)
    );
}
