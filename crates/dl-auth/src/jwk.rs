//! Public JWK parsing (RFC 7517/7518/8037), strict about key types and sizes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Key family and curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    P256,
    P384,
    Ed25519,
    Rsa,
}

/// A verification key from a JWKS or the configuration.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub kid: String,
    pub kind: KeyKind,
    /// `alg` member, when the JWK pins one.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
    /// Non-standard `sub` member: the subject this request-signing key belongs to.
    pub subject: Option<String>,
    /// SHA-256 over the members that decide what this key verifies (`kid`, `kty`, `crv`, `x`,
    /// `y`, `n`, `e`, `alg`, `sub`): equal fingerprints mean the same key. Lets a JWKS refresh
    /// tell a changed key set from an unchanged one.
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish()
    }
}

impl PublicKey {
    /// Whether this key may verify a JWS with `alg`.
    pub fn compatible(&self, alg: Algorithm) -> bool {
        let family_ok = matches!(
            (self.kind, alg),
            (KeyKind::P256, Algorithm::ES256)
                | (KeyKind::P384, Algorithm::ES384)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
                | (
                    KeyKind::Rsa,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                )
        );
        family_ok && self.alg.is_none_or(|a| a == alg)
    }
}

/// Parses an asymmetric JWS algorithm name; `none` and HMAC algorithms are refused.
pub(crate) fn parse_asymmetric_alg(name: &str) -> Option<Algorithm> {
    Some(match name {
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        _ => return None,
    })
}

fn str_member<'a>(v: &'a Value, name: &str) -> Result<&'a str, &'static str> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or("missing or non-string member")
}

fn b64_len(s: &str, expected: std::ops::RangeInclusive<usize>) -> Result<(), &'static str> {
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "bad base64url")?;
    if expected.contains(&bytes.len()) {
        Ok(())
    } else {
        Err("bad key component length")
    }
}

/// SHA-256 over the key-defining members, each as `name 0x00 len(value) value` (absent or
/// non-string members as empty), in a fixed order: independent of member order in the document.
fn fingerprint(v: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    for name in ["kid", "kty", "crv", "x", "y", "n", "e", "alg", "sub"] {
        let value = v.get(name).and_then(Value::as_str).unwrap_or("");
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update((value.len() as u64).to_be_bytes());
        h.update(value.as_bytes());
    }
    h.finalize().into()
}

/// Parses one public signing JWK. Keys without `kid`, encryption keys, private keys and
/// unsupported types are refused with a short reason (the caller skips them).
pub(crate) fn parse_jwk(v: &Value) -> Result<PublicKey, &'static str> {
    if !v.is_object() {
        return Err("not an object");
    }
    if v.get("d").is_some() {
        return Err("private key material");
    }
    let kid = str_member(v, "kid").map_err(|_| "no kid")?;
    if kid.is_empty() || kid.len() > 256 {
        return Err("bad kid length");
    }
    if let Some(u) = v.get("use") {
        if u.as_str() != Some("sig") {
            return Err("not a signature key");
        }
    }
    if let Some(ops) = v.get("key_ops") {
        let ok = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !ok {
            return Err("key_ops without verify");
        }
    }
    let alg = match v.get("alg") {
        None => None,
        Some(a) => Some(
            a.as_str()
                .and_then(parse_asymmetric_alg)
                .ok_or("unsupported alg")?,
        ),
    };
    let kty = str_member(v, "kty")?;
    let (kind, key) = match kty {
        "EC" => {
            let crv = str_member(v, "crv")?;
            let x = str_member(v, "x")?;
            let y = str_member(v, "y")?;
            let (kind, len) = match crv {
                "P-256" => (KeyKind::P256, 32),
                "P-384" => (KeyKind::P384, 48),
                _ => return Err("unsupported curve"),
            };
            b64_len(x, len..=len)?;
            b64_len(y, len..=len)?;
            let key = DecodingKey::from_ec_components(x, y).map_err(|_| "bad EC key")?;
            (kind, key)
        }
        "OKP" => {
            let crv = str_member(v, "crv")?;
            if crv != "Ed25519" {
                return Err("unsupported curve");
            }
            let x = str_member(v, "x")?;
            b64_len(x, 32..=32)?;
            let key = DecodingKey::from_ed_components(x).map_err(|_| "bad OKP key")?;
            (KeyKind::Ed25519, key)
        }
        "RSA" => {
            let n = str_member(v, "n")?;
            let e = str_member(v, "e")?;
            // 2048..=8192-bit moduli only.
            b64_len(n, 256..=1024)?;
            b64_len(e, 1..=8)?;
            let key = DecodingKey::from_rsa_components(n, e).map_err(|_| "bad RSA key")?;
            (KeyKind::Rsa, key)
        }
        _ => return Err("unsupported kty"),
    };
    let pk = PublicKey {
        kid: kid.to_string(),
        kind,
        alg,
        key,
        subject: v.get("sub").and_then(Value::as_str).map(str::to_string),
        fingerprint: fingerprint(v),
    };
    if let Some(a) = alg {
        if !pk.compatible(a) {
            return Err("alg does not match key type");
        }
    }
    Ok(pk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rsa_key_of_rfc7638() {
        // The RSA example of RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let k = parse_jwk(&jwk).unwrap();
        assert!(k.compatible(Algorithm::RS256));
        assert!(!k.compatible(Algorithm::PS256));
        assert!(!k.compatible(Algorithm::HS256));
        assert!(!k.compatible(Algorithm::ES256));
    }

    #[test]
    fn fingerprint_names_the_key_not_the_document() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let a = parse_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":x,"kid":"k"})).unwrap();
        let b =
            parse_jwk(&json!({"kid":"k","x":x,"crv":"Ed25519","kty":"OKP","use":"sig"})).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        let other_kid = parse_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":x,"kid":"k2"})).unwrap();
        assert_ne!(a.fingerprint, other_kid.fingerprint);
        let bound =
            parse_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":x,"kid":"k","sub":"s"})).unwrap();
        assert_ne!(a.fingerprint, bound.fingerprint);
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(parse_jwk(&json!({"kty":"oct","k":"AAAA","kid":"x"})).is_err());
        assert!(parse_jwk(&json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"x"})).is_err());
        assert!(parse_jwk(
            &json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
        )
        .is_err());
        assert!(parse_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k","use":"enc"})).is_err());
        assert!(parse_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k","alg":"ES256"})).is_err());
        assert!(parse_jwk(&json!("x")).is_err());
        assert!(parse_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k"})).is_ok());
    }
}
