//! Bearer-token verification against a real OIDC provider (oidc-provider 9.13.3 via
//! `scripts/oidc/provider.mjs`): real tokens, crafted bad tokens, key rotation, outages.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dl_auth::{caller_allowed, AuthError, InvalidReason, JwtVerifier};
use serde_json::{json, Value};

fn assert_invalid(r: Result<dl_auth::CallerIdentity, AuthError>, reason: InvalidReason) {
    match r {
        Err(e) => {
            assert_eq!(e.code(), "AUTH_INVALID_TOKEN", "{e}");
            assert_eq!(e, AuthError::InvalidToken(reason), "{e}");
        }
        Ok(id) => panic!("expected {reason:?}, accepted {id:?}"),
    }
}

#[test]
fn verifier_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<JwtVerifier>();
}

#[tokio::test]
async fn real_token_is_accepted_and_mapped() {
    let p = Provider::start().await;
    let v = JwtVerifier::new(p.config()).await.unwrap();
    let token = p
        .token(CLIENT, SECRET, "decisions:submit decisions:read")
        .await;
    let id = v.verify_bearer(Some(&bearer(&token))).await.unwrap();
    assert_eq!(id.issuer, p.issuer);
    assert_eq!(id.subject, CLIENT);
    assert_eq!(id.client_id.as_deref(), Some(CLIENT));
    assert_eq!(id.scopes, vec!["decisions:submit", "decisions:read"]);
    assert_eq!(id.roles, vec!["submitter"]);
    assert!(id.token_id.is_some());
    assert!(id.expires_at > now());
    assert_eq!(id.principal(), format!("{}|{}", p.issuer, CLIENT));
    assert!(caller_allowed(&id, &["scope:decisions:submit".into()]));
    assert!(caller_allowed(
        &id,
        &[format!("iss:{}|sub:{}", p.issuer, CLIENT)]
    ));
    assert!(!caller_allowed(&id, &["role:auditor".into()]));
    assert!(!caller_allowed(&id, &[]));

    // Another client, other roles; scheme is case-insensitive and extra blanks are fine.
    let t2 = p
        .token("dl-auditor-client", "dl-auditor-secret", "audit:read")
        .await;
    let id2 = v
        .verify_bearer(Some(format!("  bearer   {t2} ").as_bytes()))
        .await
        .unwrap();
    assert_eq!(id2.subject, "dl-auditor-client");
    assert_eq!(id2.roles, vec!["auditor", "reader"]);
    assert!(caller_allowed(&id2, &["role:auditor".into()]));
    // Only one JWKS fetch so far (at start).
    assert_eq!(v.jwks_stats(&p.issuer).unwrap().fetches, 1);
}

#[tokio::test]
async fn missing_and_malformed_headers() {
    let p = Provider::start().await;
    let v = JwtVerifier::new(p.config()).await.unwrap();
    let e = v.verify_bearer(None).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_MISSING_TOKEN");
    assert_eq!(
        v.verify_bearer(Some(b"")).await.unwrap_err().code(),
        "AUTH_MISSING_TOKEN"
    );
    assert_eq!(
        v.verify_bearer(Some(b"Bearer   "))
            .await
            .unwrap_err()
            .code(),
        "AUTH_MISSING_TOKEN"
    );
    let token = p.default_token().await;
    for bad in [
        format!("Basic {token}").into_bytes(),
        token.clone().into_bytes(),
        b"Bearer a.b".to_vec(),
        b"Bearer a.b.c.d".to_vec(),
        b"Bearer !!!.???.***".to_vec(),
        b"Bearer \xff\xfe".to_vec(),
        format!("Bearer {token} extra").into_bytes(),
        // Header and payload that are base64 but not JSON objects.
        format!("Bearer {}.{}.{}", b64("[]"), b64("1"), b64("x")).into_bytes(),
    ] {
        assert_invalid(v.verify_bearer(Some(&bad)).await, InvalidReason::Malformed);
    }
}

#[tokio::test]
async fn crafted_bad_tokens_are_rejected_with_their_code() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.leeway = Duration::from_secs(30);
    let v = JwtVerifier::new(cfg).await.unwrap();
    let n = now();
    let hdr = json!({});

    // Sanity: a crafted token with good claims is accepted (the harness signs correctly).
    let good = p.sign(hdr.clone(), p.claims(), false).await;
    v.verify_bearer(Some(&bearer(&good))).await.unwrap();

    // Expired (beyond leeway) and within leeway.
    let mut c = p.claims();
    c["iat"] = json!(n - 7200);
    c["exp"] = json!(n - 3600);
    let t = p.sign(hdr.clone(), c, false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::Expired,
    );
    let mut c = p.claims();
    c["exp"] = json!(n - 5);
    let t = p.sign(hdr.clone(), c, false).await;
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();

    // Not yet valid.
    let mut c = p.claims();
    c["nbf"] = json!(n + 3600);
    let t = p.sign(hdr.clone(), c, false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::NotYetValid,
    );

    // Issued in the future.
    let mut c = p.claims();
    c["iat"] = json!(n + 3600);
    c["exp"] = json!(n + 7200);
    let t = p.sign(hdr.clone(), c, false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::IssuedInFuture,
    );

    // Wrong issuer (signed with the provider's real key).
    let mut c = p.claims();
    c["iss"] = json!("https://evil.example");
    let t = p.sign(hdr.clone(), c, false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::UnknownIssuer,
    );

    // Wrong audience (string and array forms); right one inside an array is fine.
    for aud in [
        json!("urn:other"),
        json!(["urn:other", "urn:x"]),
        json!(null),
    ] {
        let mut c = p.claims();
        c["aud"] = aud;
        let t = p.sign(hdr.clone(), c, false).await;
        assert_invalid(
            v.verify_bearer(Some(&bearer(&t))).await,
            InvalidReason::WrongAudience,
        );
    }
    let mut c = p.claims();
    c["aud"] = json!(["urn:other", AUDIENCE]);
    let t = p.sign(hdr.clone(), c, false).await;
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();

    // Missing claims.
    for claim in ["exp", "sub", "iat"] {
        let mut c = p.claims();
        c.as_object_mut().unwrap().remove(claim);
        let t = p.sign(hdr.clone(), c, false).await;
        assert_invalid(
            v.verify_bearer(Some(&bearer(&t))).await,
            InvalidReason::MissingClaim,
        );
    }

    // Unknown kid (real key, unpublished kid) and a rogue key with its own kid.
    let t = p
        .sign(json!({"kid": "no-such-kid"}), p.claims(), false)
        .await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::UnknownKid,
    );
    let t = p.sign(hdr.clone(), p.claims(), true).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::UnknownKid,
    );
    // A rogue key claiming the real kid: the signature does not verify.
    let real_kid = kid_of(&good);
    let t = p.sign(json!({"kid": real_kid}), p.claims(), true).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::BadSignature,
    );

    // Missing kid.
    let t = p.sign(json!({"kid": null}), p.claims(), false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::MissingKid,
    );

    // Wrong typ (an ID token shape) when at+jwt is required.
    let t = p.sign(json!({"typ": "JWT"}), p.claims(), false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::WrongType,
    );

    // Critical header extensions are refused.
    let t = p
        .sign(json!({"crit": ["b64"], "b64": true}), p.claims(), false)
        .await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::UnsupportedCritical,
    );

    // alg none, with and without a signature part.
    let h = b64(json!({"alg": "none", "typ": "at+jwt", "kid": real_kid}).to_string());
    let c = b64(p.claims().to_string());
    assert_invalid(
        v.verify_bearer(Some(&bearer(&format!("{h}.{c}.")))).await,
        InvalidReason::Malformed,
    );
    assert_invalid(
        v.verify_bearer(Some(&bearer(&format!("{h}.{c}.{}", b64("x")))))
            .await,
        InvalidReason::AlgorithmNotAllowed,
    );

    // Tampered payload of a real token (scope widened).
    let real = p.default_token().await;
    let parts: Vec<&str> = real.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    claims["scope"] = json!("decisions:submit audit:read");
    let tampered = format!("{}.{}.{}", parts[0], b64(claims.to_string()), parts[2]);
    assert_invalid(
        v.verify_bearer(Some(&bearer(&tampered))).await,
        InvalidReason::BadSignature,
    );
    // Tampered header (typ changed) also breaks the signature.
    let mut header: Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    header["typ"] = json!("AT+JWT");
    let tampered = format!("{}.{}.{}", b64(header.to_string()), parts[1], parts[2]);
    assert_invalid(
        v.verify_bearer(Some(&bearer(&tampered))).await,
        InvalidReason::BadSignature,
    );

    // Oversized: a validly signed token with a 10 KB claim, and a 1 MB header.
    let mut c = p.claims();
    c["padding"] = json!("x".repeat(10_000));
    let t = p.sign(hdr.clone(), c, false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::Oversized,
    );
    let huge = vec![b'a'; 1 << 20];
    assert_invalid(v.verify_bearer(Some(&huge)).await, InvalidReason::Oversized);

    // Too many scopes.
    let mut c = p.claims();
    c["scope"] = json!((0..100)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join(" "));
    let t = p.sign(hdr.clone(), c, false).await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::ClaimTooLarge,
    );
}

/// HS256 "signed" with the issuer's public key (the algorithm-confusion attack): refused before
/// any key is used, whatever public-key encoding the attacker used as HMAC secret.
#[tokio::test]
async fn hs256_signed_with_public_key_is_rejected() {
    let p = Provider::start().await;
    let v = JwtVerifier::new(p.config()).await.unwrap();
    let good = p.default_token().await;
    let kid = kid_of(&good);
    let jwks: Value = reqwest::get(format!("{}/jwks", p.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"][0].clone();
    let mut point = vec![4u8];
    point.extend(unb64(jwk["x"].as_str().unwrap()));
    point.extend(unb64(jwk["y"].as_str().unwrap()));
    let secrets: Vec<Vec<u8>> = vec![point, jwk.to_string().into_bytes()];
    for secret in secrets {
        let h = b64(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}).to_string());
        let c = b64(p.claims().to_string());
        let input = format!("{h}.{c}");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let sig = b64(ring::hmac::sign(&key, input.as_bytes()).as_ref());
        let r = v
            .verify_bearer(Some(&bearer(&format!("{input}.{sig}"))))
            .await;
        assert_invalid(r, InvalidReason::AlgorithmNotAllowed);
    }
}

#[tokio::test]
async fn key_rotation_is_picked_up_without_restart() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    // Unknown kids may trigger a refresh at once (the rate limit is tested separately).
    cfg.jwks_min_refresh_interval = Duration::ZERO;
    let v = Arc::new(JwtVerifier::new(cfg).await.unwrap());
    let t1 = p.default_token().await;
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    assert_eq!(v.jwks_stats(&p.issuer).unwrap().fetches, 1);

    let new_kid = p.rotate(false).await;
    let t2 = p.default_token().await;
    assert_eq!(kid_of(&t2), new_kid);
    assert_ne!(kid_of(&t1), new_kid);
    // The new kid is unknown to the cache: one refresh, then accepted.
    let id = v.verify_bearer(Some(&bearer(&t2))).await.unwrap();
    assert_eq!(id.subject, CLIENT);
    assert_eq!(v.jwks_stats(&p.issuer).unwrap().fetches, 2);
    // Old tokens stay valid while the old key is still published; no further fetch.
    v.verify_bearer(Some(&bearer(&t1))).await.unwrap();
    v.verify_bearer(Some(&bearer(&t2))).await.unwrap();
    assert_eq!(v.jwks_stats(&p.issuer).unwrap().fetches, 2);

    // Retire the old keys: a token with the newest kid triggers a refresh; afterwards the
    // retired key is gone from the cache and its tokens are refused.
    let newest = p.rotate(true).await;
    let t3 = p.default_token().await;
    assert_eq!(kid_of(&t3), newest);
    v.verify_bearer(Some(&bearer(&t3))).await.unwrap();
    assert_eq!(v.jwks_stats(&p.issuer).unwrap().fetches, 3);
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t1))).await,
        InvalidReason::UnknownKid,
    );

    // Concurrent verifications of a token with a new kid share one refresh.
    p.rotate(false).await;
    let t4 = p.default_token().await;
    let before = v.jwks_stats(&p.issuer).unwrap().fetches;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let v = Arc::clone(&v);
        let t4 = t4.clone();
        tasks.push(tokio::spawn(async move {
            v.verify_bearer(Some(&bearer(&t4))).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(v.jwks_stats(&p.issuer).unwrap().fetches, before + 1);
}

#[tokio::test]
async fn unknown_kid_refresh_is_rate_limited() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.jwks_min_refresh_interval = Duration::from_secs(3600);
    let v = JwtVerifier::new(cfg).await.unwrap();
    for i in 0..20 {
        let t = p
            .sign(json!({"kid": format!("random-{i}")}), p.claims(), false)
            .await;
        assert_invalid(
            v.verify_bearer(Some(&bearer(&t))).await,
            InvalidReason::UnknownKid,
        );
    }
    let s = v.jwks_stats(&p.issuer).unwrap();
    assert_eq!(s.fetches, 1, "{s:?}");
    assert_eq!(s.rate_limited, 20, "{s:?}");
    // The price of the rate limit: a freshly rotated key is only seen after the interval.
    p.rotate(false).await;
    let t = p.default_token().await;
    assert_invalid(
        v.verify_bearer(Some(&bearer(&t))).await,
        InvalidReason::UnknownKid,
    );
}

#[tokio::test]
async fn provider_outage_fails_closed_but_cache_keeps_working() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.jwks_min_refresh_interval = Duration::ZERO;
    let v = JwtVerifier::new(cfg.clone()).await.unwrap();
    let t = p.default_token().await;
    let crafted_unknown = p.sign(json!({"kid": "later-key"}), p.claims(), false).await;
    let issuer = p.issuer.clone();
    drop(p); // provider killed

    // Cached key: still verifies.
    v.verify_bearer(Some(&bearer(&t))).await.unwrap();
    // Unknown kid while the provider is down: cannot be checked, fail closed.
    let e = v
        .verify_bearer(Some(&bearer(&crafted_unknown)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "AUTH_UNAVAILABLE", "{e}");

    // A verifier started while the provider is down: no keys at all.
    let v2 = JwtVerifier::new(cfg.clone()).await.unwrap();
    let e = v2.verify_bearer(Some(&bearer(&t))).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_UNAVAILABLE");
    assert!(matches!(e, AuthError::Unavailable { issuer: ref i, .. } if *i == issuer));
    let mut strict = cfg;
    strict.fail_on_unreachable_issuer = true;
    let e = JwtVerifier::new(strict).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_UNAVAILABLE");
}

#[tokio::test]
async fn discovery_issuer_mismatch_is_refused() {
    let p = Provider::start().await;
    let mut cfg = p.config();
    // Configured issuer differs from the discovery document's issuer.
    cfg.issuers[0].issuer = format!("{}/other", p.issuer);
    let v = JwtVerifier::new(cfg).await.unwrap();
    let mut c = p.claims();
    c["iss"] = json!(format!("{}/other", p.issuer));
    let t = p.sign(json!({}), c, false).await;
    let e = v.verify_bearer(Some(&bearer(&t))).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_UNAVAILABLE");

    // Direct jwks_url (no discovery) works.
    let mut cfg = p.config();
    cfg.issuers[0].discovery_url = None;
    cfg.issuers[0].jwks_url = Some(format!("{}/jwks", p.issuer));
    let v = JwtVerifier::new(cfg).await.unwrap();
    v.verify_bearer(Some(&bearer(&p.default_token().await)))
        .await
        .unwrap();
}

/// Security review (issue 15, Medium 6): tokens bound to a key (`cnf.jkt`, DPoP) or to a client
/// certificate (`cnf.x5t#S256`, RFC 8705) were accepted as plain bearer tokens, so whoever read
/// one could use it without the key or certificate. A bound token is refused unless its binding
/// is verified: against the client certificate the caller presented, for `x5t#S256`; never for
/// `jkt`, which is not supported.
#[tokio::test]
async fn bound_tokens_are_not_accepted_as_bearer_tokens() {
    let p = Provider::start().await;
    let v = JwtVerifier::new(p.config()).await.unwrap();
    let bound = |cnf: Value| {
        let mut claims = p.claims();
        claims["cnf"] = cnf;
        let p = &p;
        async move { p.sign(json!({}), claims, false).await }
    };
    let cert = dl_auth::mtls::CertIdentity {
        common_name: Some(CLIENT.to_string()),
        uri_sans: vec![],
        dns_sans: vec![],
        email_sans: vec![],
        serial_hex: "0a".into(),
        thumbprint_s256: "cert-thumbprint".into(),
        not_after: now() + 3600,
    };
    let unsupported = |r: Result<dl_auth::CallerIdentity, AuthError>| {
        let e = r.expect_err("a bound token was accepted as a bearer token");
        assert_eq!(e.code(), "AUTH_BOUND_TOKEN_UNSUPPORTED", "{e}");
    };

    let dpop = bound(json!({"jkt": "some-key-thumbprint"})).await;
    unsupported(v.verify_bearer(Some(&bearer(&dpop))).await);
    unsupported(
        v.verify_bearer_with_certificate(Some(&bearer(&dpop)), &cert)
            .await,
    );
    let unknown = bound(json!({"jwk": {"kty": "EC"}})).await;
    unsupported(v.verify_bearer(Some(&bearer(&unknown))).await);

    let mtls = bound(json!({"x5t#S256": "cert-thumbprint"})).await;
    // No client certificate on this channel (a Kafka header): the binding cannot be checked.
    unsupported(v.verify_bearer(Some(&bearer(&mtls))).await);
    // The certificate it is bound to: accepted.
    let id = v
        .verify_bearer_with_certificate(Some(&bearer(&mtls)), &cert)
        .await
        .unwrap();
    assert_eq!(id.cert_thumbprint.as_deref(), Some("cert-thumbprint"));
    // Another certificate: forbidden.
    let other = dl_auth::mtls::CertIdentity {
        thumbprint_s256: "another".into(),
        ..cert.clone()
    };
    assert_eq!(
        v.verify_bearer_with_certificate(Some(&bearer(&mtls)), &other)
            .await
            .unwrap_err()
            .code(),
        "AUTH_FORBIDDEN"
    );
    // An unbound token is still a bearer token, with or without a certificate.
    let plain = p.default_token().await;
    v.verify_bearer(Some(&bearer(&plain))).await.unwrap();
    v.verify_bearer_with_certificate(Some(&bearer(&plain)), &cert)
        .await
        .unwrap();
}
