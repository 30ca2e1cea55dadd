//! Entry points for the fuzz targets (`fuzz/fuzz_targets/auth_jwt.rs`), compiled only with the
//! `fuzzing` feature: the parsers of untrusted input that [`JwtVerifier`]'s public methods
//! cannot reach without a valid signature, and the JWK parser (JWKS documents come from the
//! network). No network access.

use serde_json::{Map, Value};

use super::{decode_object, JwtVerifier};
use crate::error::{AuthError, InvalidReason};
use crate::identity::CallerIdentity;

/// Parses one JWKS entry (JSON) as the JWKS fetcher does; `Err` is the reason it is skipped.
pub fn jwk(json: &[u8]) -> Result<(), &'static str> {
    let value: Value = serde_json::from_slice(json).map_err(|_| "not JSON")?;
    crate::jwk::parse_jwk(&value).map(|_| ())
}

/// Decodes one base64url segment of a compact JWS (header or payload) to its JSON object.
pub fn segment(b64: &str) -> Option<Map<String, Value>> {
    decode_object(b64)
}

/// Checks a claims set (JSON) for `issuer` as a token with a valid signature would be checked:
/// times, audience, subject, scopes, roles, `cnf`. `None` when `issuer` is not configured.
pub fn claims(
    verifier: &JwtVerifier,
    issuer: &str,
    claims_json: &[u8],
) -> Option<Result<CallerIdentity, AuthError>> {
    let rt = verifier.inner.issuers.get(issuer)?;
    let claims = match serde_json::from_slice::<Value>(claims_json) {
        Ok(Value::Object(map)) => map,
        _ => return Some(Err(AuthError::InvalidToken(InvalidReason::Malformed))),
    };
    Some(
        verifier
            .check_claims(rt, &claims)
            .map(|(identity, _times)| identity),
    )
}
