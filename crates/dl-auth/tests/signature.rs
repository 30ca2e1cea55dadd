//! Detached request signatures (`dl-signature`, RFC 7515 Appendix F) with keys from the
//! configuration and from the issuer's JWKS served by the real OIDC provider.

mod common;

use common::*;
use dl_auth::{AuthError, CallerKeyConfig, JwtVerifier, SignatureReason};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

struct EsKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

fn es_key(kid: &str) -> EsKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let pk = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&pk[1..33]), "y": b64(&pk[33..65]),
                     "kid": kid, "alg": "ES256", "use": "sig"});
    EsKey { pair, jwk }
}

fn es_thumbprint(jwk: &Value) -> String {
    let canon = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64(Sha256::digest(canon.as_bytes()))
}

/// `<b64url(header)>..<b64url(sig over header64 "." b64url(payload))>`
fn detached(header: &Value, payload: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let h = b64(header.to_string());
    let input = format!("{h}.{}", b64(payload));
    format!("{h}..{}", b64(sign(input.as_bytes()))).into_bytes()
}

fn es_sign(k: &EsKey) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |m| {
        k.pair
            .sign(&SystemRandom::new(), m)
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

fn bad(r: Result<(), AuthError>, reason: SignatureReason) {
    let e = r.expect_err("signature accepted");
    assert_eq!(e.code(), "AUTH_BAD_SIGNATURE", "{e}");
    assert_eq!(e, AuthError::BadSignature(reason));
}

const PAYLOAD: &[u8] = b"\xc3\x01avro-single-object-bytes\x00\xff{\"request_id\":\"r-1\"}";

#[tokio::test]
async fn configured_es256_key() {
    let p = Provider::start().await;
    let key = es_key("caller-es-1");
    let mut cfg = p.config();
    cfg.caller_keys.push(CallerKeyConfig {
        principal: format!("{}|{}", p.issuer, CLIENT),
        jwk: key.jwk.clone(),
    });
    let v = JwtVerifier::new(cfg).await.unwrap();
    let id = v
        .verify_bearer(Some(&bearer(&p.default_token().await)))
        .await
        .unwrap();
    let hdr = json!({"alg": "ES256", "kid": "caller-es-1"});

    let sig = detached(&hdr, PAYLOAD, es_sign(&key));
    v.verify_detached_signature(&id, &sig, PAYLOAD)
        .await
        .unwrap();
    // Empty payload is signable too.
    let sig_empty = detached(&hdr, b"", es_sign(&key));
    v.verify_detached_signature(&id, &sig_empty, b"")
        .await
        .unwrap();

    // Tampered payload, or the signature of another payload.
    let mut tampered = PAYLOAD.to_vec();
    tampered[5] ^= 1;
    bad(
        v.verify_detached_signature(&id, &sig, &tampered).await,
        SignatureReason::Invalid,
    );
    bad(
        v.verify_detached_signature(&id, &sig_empty, PAYLOAD).await,
        SignatureReason::Invalid,
    );
    // Another caller cannot use this caller's key.
    let mut other = id.clone();
    other.subject = "dl-auditor-client".into();
    bad(
        v.verify_detached_signature(&other, &sig, PAYLOAD).await,
        SignatureReason::UnknownKey,
    );
    // A signature made with another key under the same kid.
    let impostor = es_key("caller-es-1");
    let forged = detached(&hdr, PAYLOAD, es_sign(&impostor));
    bad(
        v.verify_detached_signature(&id, &forged, PAYLOAD).await,
        SignatureReason::Invalid,
    );

    // Header rules.
    let cases: Vec<(Value, SignatureReason)> = vec![
        (
            json!({"alg": "ES256", "kid": "caller-es-1", "b64": false, "crit": ["b64"]}),
            SignatureReason::UnsupportedHeader,
        ),
        (
            json!({"alg": "ES256", "kid": "caller-es-1", "crit": ["zip"]}),
            SignatureReason::UnsupportedHeader,
        ),
        (
            json!({"alg": "HS256", "kid": "caller-es-1"}),
            SignatureReason::AlgorithmNotAllowed,
        ),
        (
            json!({"alg": "ES384", "kid": "caller-es-1"}),
            SignatureReason::AlgorithmNotAllowed,
        ),
        (
            json!({"alg": "none", "kid": "caller-es-1"}),
            SignatureReason::AlgorithmNotAllowed,
        ),
        (json!({"alg": "ES256"}), SignatureReason::MissingKid),
        (
            json!({"alg": "EdDSA", "kid": "caller-es-1"}),
            SignatureReason::KeyMismatch,
        ),
    ];
    for (h, reason) in cases {
        let s = detached(&h, PAYLOAD, es_sign(&key));
        bad(v.verify_detached_signature(&id, &s, PAYLOAD).await, reason);
    }
    // b64:true with crit is the normal encoding and is accepted.
    let h = json!({"alg": "ES256", "kid": "caller-es-1", "b64": true, "crit": ["b64"]});
    let s = detached(&h, PAYLOAD, es_sign(&key));
    v.verify_detached_signature(&id, &s, PAYLOAD).await.unwrap();

    // Shape rules.
    let text = String::from_utf8(sig.clone()).unwrap();
    let (h64, s64) = text.split_once("..").unwrap();
    let attached = format!("{h64}.{}.{s64}", b64(PAYLOAD));
    bad(
        v.verify_detached_signature(&id, attached.as_bytes(), PAYLOAD)
            .await,
        SignatureReason::Malformed,
    );
    for junk in [&b"abc"[..], b"a..b..c", b"\xff..\xfe", b"..", b"e30..%%%"] {
        bad(
            v.verify_detached_signature(&id, junk, PAYLOAD).await,
            SignatureReason::Malformed,
        );
    }
    bad(
        v.verify_detached_signature(&id, b"", PAYLOAD).await,
        SignatureReason::Missing,
    );
    bad(
        v.verify_detached_signature(&id, &vec![b'a'; 10_000], PAYLOAD)
            .await,
        SignatureReason::Oversized,
    );
    let big = vec![0u8; 2 << 20];
    bad(
        v.verify_detached_signature(&id, &sig, &big).await,
        SignatureReason::Oversized,
    );
}

#[tokio::test]
async fn eddsa_key_from_issuer_jwks_and_key_binding() {
    // The caller's Ed25519 key is published in the issuer's JWKS.
    let mut seed = [0u8; 32];
    SystemRandom::new().fill(&mut seed).unwrap();
    let ed = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref()),
                        "d": b64(seed), "kid": "caller-ed-1", "alg": "EdDSA", "use": "sig"});
    let p = Provider::start_with_env(&[("DL_OIDC_EXTRA_JWKS", json!([ed_jwk]).to_string())]).await;
    let es = es_key("caller-es-2");
    let mut cfg = p.config();
    cfg.caller_keys.push(CallerKeyConfig {
        principal: format!("{}|{}", p.issuer, CLIENT),
        jwk: es.jwk.clone(),
    });
    let v = JwtVerifier::new(cfg).await.unwrap();
    let id = v
        .verify_bearer(Some(&bearer(&p.default_token().await)))
        .await
        .unwrap();

    let ed_hdr = json!({"alg": "EdDSA", "kid": "caller-ed-1"});
    let sig = detached(&ed_hdr, PAYLOAD, |m| ed.sign(m).as_ref().to_vec());
    v.verify_detached_signature(&id, &sig, PAYLOAD)
        .await
        .unwrap();
    bad(
        v.verify_detached_signature(&id, &sig, b"other payload")
            .await,
        SignatureReason::Invalid,
    );
    // Unknown kid in the JWKS.
    let s = detached(&json!({"alg": "EdDSA", "kid": "nope"}), PAYLOAD, |m| {
        ed.sign(m).as_ref().to_vec()
    });
    bad(
        v.verify_detached_signature(&id, &s, PAYLOAD).await,
        SignatureReason::UnknownKey,
    );

    // A token bound to the ES256 key (cnf.jkt): only that key may sign this caller's requests.
    let mut claims = p.claims();
    claims["cnf"] = json!({"jkt": es_thumbprint(&es.jwk)});
    let bound_token = p.sign(json!({}), claims, false).await;
    let bound = v.verify_bearer(Some(&bearer(&bound_token))).await.unwrap();
    assert_eq!(bound.key_thumbprint, Some(es_thumbprint(&es.jwk)));
    let es_sig = detached(
        &json!({"alg": "ES256", "kid": "caller-es-2"}),
        PAYLOAD,
        es_sign(&es),
    );
    v.verify_detached_signature(&bound, &es_sig, PAYLOAD)
        .await
        .unwrap();
    bad(
        v.verify_detached_signature(&bound, &sig, PAYLOAD).await,
        SignatureReason::KeyMismatch,
    );
}
