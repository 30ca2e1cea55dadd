//! Detached request signatures (`dl-signature`, RFC 7515 Appendix F) with keys from the
//! configuration and from the issuer's JWKS served by the real OIDC provider.

mod common;

use common::*;
use dl_auth::{AuthError, CallerKeyConfig, JwtVerifier, SignatureReason};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

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

/// `<b64url(header)>..<b64url(sig over header64 "." b64url(payload))>`
fn detached(header: &Value, payload: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let h = b64(header.to_string());
    let input = format!("{h}.{}", b64(payload));
    format!("{h}..{}", b64(sign(input.as_bytes()))).into_bytes()
}

/// Serves `jwks` at every path over plain HTTP on loopback (an issuer's request-signing JWKS,
/// `signing_jwks_url`, which may carry the non-standard `sub` member); returns its URL.
async fn serve_jwks(jwks: Value) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let body = jwks.to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
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
async fn eddsa_key_from_issuer_jwks_bound_to_its_subject() {
    // The caller's Ed25519 key is published in the issuer's JWKS, bound to the caller's subject.
    let mut seed = [0u8; 32];
    SystemRandom::new().fill(&mut seed).unwrap();
    let ed = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref()),
                        "kid": "caller-ed-1", "alg": "EdDSA", "use": "sig", "sub": CLIENT});
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.issuers[0].signing_jwks_url = Some(serve_jwks(json!({"keys": [ed_jwk]})).await);
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
    // Another subject of the same issuer cannot use it.
    let mut other = id.clone();
    other.subject = "someone-else".into();
    bad(
        v.verify_detached_signature(&other, &sig, PAYLOAD).await,
        SignatureReason::KeyMismatch,
    );
    // Unknown kid in the JWKS.
    let s = detached(&json!({"alg": "EdDSA", "kid": "nope"}), PAYLOAD, |m| {
        ed.sign(m).as_ref().to_vec()
    });
    bad(
        v.verify_detached_signature(&id, &s, PAYLOAD).await,
        SignatureReason::UnknownKey,
    );
}

/// Security review (issue 15, Low): a request-signing key in the issuer's JWKS without a `sub`
/// member verified a detached signature for any subject of that issuer. A JWKS key must name
/// the subject it belongs to.
#[tokio::test]
async fn a_jwks_key_without_sub_verifies_no_ones_signature() {
    let mut seed = [0u8; 32];
    SystemRandom::new().fill(&mut seed).unwrap();
    let ed = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let unbound = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref()),
                         "kid": "anyone-ed-1", "alg": "EdDSA", "use": "sig"});
    let p = Provider::start().await;
    let mut cfg = p.config();
    cfg.issuers[0].signing_jwks_url = Some(serve_jwks(json!({"keys": [unbound]})).await);
    let v = JwtVerifier::new(cfg).await.unwrap();
    let id = v
        .verify_bearer(Some(&bearer(&p.default_token().await)))
        .await
        .unwrap();
    let sig = detached(
        &json!({"alg": "EdDSA", "kid": "anyone-ed-1"}),
        PAYLOAD,
        |m| ed.sign(m).as_ref().to_vec(),
    );
    bad(
        v.verify_detached_signature(&id, &sig, PAYLOAD).await,
        SignatureReason::KeyNotBound,
    );
}
