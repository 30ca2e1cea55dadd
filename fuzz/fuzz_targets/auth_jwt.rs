//! JWT / JWS parsing in dl-auth, without the network. The first byte picks the entry:
//! 0 an `authorization` header (`verify_bearer`), 1 a compact JWT (`verify_token`), 2 a claims
//! set checked as a validly signed token's would be, 3 a JWKS key entry, 4 a detached JWS over
//! a payload (bytes after the first newline) against a configured Ed25519 caller key (the
//! signature really is verified), 5 a base64url JWS segment.
//!
//! The issuer's JWKS URL points at a closed local port: its keys are unavailable, so tokens
//! that pass every structural check end as `AUTH_UNAVAILABLE`; refreshes are rate-limited.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use dl_auth::{fuzzing, AuthConfig, CallerIdentity, CallerKeyConfig, IssuerConfig, JwtVerifier};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://issuer.fuzz.invalid";

struct Env {
    rt: tokio::runtime::Runtime,
    verifier: JwtVerifier,
    caller: CallerIdentity,
}

static ENV: LazyLock<Env> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut issuer = IssuerConfig::new(
        ISSUER,
        "https://127.0.0.1:9/.well-known/openid-configuration",
        vec!["decision-layer".into()],
        vec!["ES256".into(), "EdDSA".into(), "RS256".into()],
    );
    issuer.discovery_url = None;
    issuer.jwks_url = Some("https://127.0.0.1:9/jwks".into());
    let mut cfg = AuthConfig::new(vec![issuer]);
    cfg.http_timeout = Duration::from_millis(200);
    cfg.jwks_min_refresh_interval = Duration::from_secs(24 * 3600);
    cfg.caller_keys = vec![CallerKeyConfig {
        principal: format!("{ISSUER}|fuzz-client"),
        // RFC 8037 appendix A.2's Ed25519 public key.
        jwk: serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "k1",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }),
    }];
    let verifier = rt.block_on(JwtVerifier::new(cfg)).expect("verifier");
    Env {
        rt,
        verifier,
        caller: CallerIdentity::new(ISSUER, "fuzz-client"),
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let env = &*ENV;
    match mode % 6 {
        0 => {
            let _ = env.rt.block_on(env.verifier.verify_bearer(Some(rest)));
        }
        1 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                let _ = env.rt.block_on(env.verifier.verify_token(token));
            }
        }
        2 => {
            if let Some(Ok(id)) = fuzzing::claims(&env.verifier, ISSUER, rest) {
                assert_eq!(id.issuer, ISSUER);
                assert!(!id.subject.is_empty());
            }
        }
        3 => {
            let _ = fuzzing::jwk(rest);
        }
        4 => {
            let (jws, payload) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let _ = env.rt.block_on(env.verifier.verify_detached_signature(
                &env.caller,
                jws,
                payload,
            ));
        }
        _ => {
            if let Ok(segment) = std::str::from_utf8(rest) {
                let _ = fuzzing::segment(segment);
            }
        }
    }
});
