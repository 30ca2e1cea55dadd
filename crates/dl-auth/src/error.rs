//! Error type with stable rejection codes.

use std::fmt;

/// Why a bearer token was rejected. The [`InvalidReason::as_str`] value is the `reason` label of
/// `dl_auth_failures_total` and is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// The `authorization` header is not `Bearer <token>`, or the token is not a compact JWS with
    /// base64url parts and JSON header/claims.
    Malformed,
    /// The token (or the header carrying it) is larger than `max_token_bytes`.
    Oversized,
    /// The JWS `alg` is not pinned for the issuer (this covers `none` and every HMAC algorithm).
    AlgorithmNotAllowed,
    /// The JWS header has no `kid`.
    MissingKid,
    /// The `iss` claim names no configured issuer.
    UnknownIssuer,
    /// No key with the token's `kid` is published by the issuer (after a refresh).
    UnknownKid,
    /// The key found for `kid` cannot verify the token's algorithm (type, curve or `alg` mismatch).
    KeyMismatch,
    /// The signature does not verify (tampered header or payload, or a foreign key).
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `exp - iat` exceeds the issuer's `max_token_lifetime`.
    LifetimeTooLong,
    /// No configured audience is in `aud`.
    WrongAudience,
    /// A required claim (`exp`, `sub`, `iat` when required) is missing or has the wrong type.
    MissingClaim,
    /// A claim (scopes, roles, subject) exceeds the size limits.
    ClaimTooLarge,
    /// The JWS `typ` is not one of the issuer's accepted token types.
    WrongType,
    /// The JWS header lists critical extensions (`crit`) this verifier does not implement.
    UnsupportedCritical,
}

impl InvalidReason {
    /// Stable snake_case name, used as a metrics label and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            InvalidReason::Malformed => "malformed",
            InvalidReason::Oversized => "oversized",
            InvalidReason::AlgorithmNotAllowed => "alg_not_allowed",
            InvalidReason::MissingKid => "missing_kid",
            InvalidReason::UnknownIssuer => "unknown_issuer",
            InvalidReason::UnknownKid => "unknown_kid",
            InvalidReason::KeyMismatch => "key_mismatch",
            InvalidReason::BadSignature => "bad_signature",
            InvalidReason::Expired => "expired",
            InvalidReason::NotYetValid => "not_yet_valid",
            InvalidReason::IssuedInFuture => "issued_in_future",
            InvalidReason::LifetimeTooLong => "lifetime_too_long",
            InvalidReason::WrongAudience => "wrong_audience",
            InvalidReason::MissingClaim => "missing_claim",
            InvalidReason::ClaimTooLarge => "claim_too_large",
            InvalidReason::WrongType => "wrong_type",
            InvalidReason::UnsupportedCritical => "unsupported_crit",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a detached request signature (`dl-signature`) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureReason {
    /// The header is absent or empty while a signature is required.
    Missing,
    /// Not a detached compact JWS (`<header>..<signature>`), or the header is not valid JSON.
    Malformed,
    /// The signature header or the payload exceeds the configured limits.
    Oversized,
    /// The JWS `alg` is not allowed for request signatures (only ES256 and EdDSA, as configured).
    AlgorithmNotAllowed,
    /// The JWS header has no `kid`.
    MissingKid,
    /// `b64: false` or unknown `crit` entries: only RFC 7515 Appendix F detached content with
    /// normal base64url payload encoding is accepted.
    UnsupportedHeader,
    /// No key with this `kid` is known for the caller.
    UnknownKey,
    /// The key found is of the wrong type for the algorithm, or is published for another
    /// subject.
    KeyMismatch,
    /// The issuer's JWKS key has no `sub` member: it is bound to no subject and verifies no
    /// caller's request signature.
    KeyNotBound,
    /// The signature does not verify over the payload.
    Invalid,
    /// The caller's issuer is not configured.
    UnknownIssuer,
}

impl SignatureReason {
    /// Stable snake_case name, used as a metrics label and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            SignatureReason::Missing => "signature_missing",
            SignatureReason::Malformed => "signature_malformed",
            SignatureReason::Oversized => "signature_oversized",
            SignatureReason::AlgorithmNotAllowed => "signature_alg_not_allowed",
            SignatureReason::MissingKid => "signature_missing_kid",
            SignatureReason::UnsupportedHeader => "signature_unsupported_header",
            SignatureReason::UnknownKey => "signature_unknown_key",
            SignatureReason::KeyMismatch => "signature_key_mismatch",
            SignatureReason::KeyNotBound => "signature_key_not_bound",
            SignatureReason::Invalid => "signature_invalid",
            SignatureReason::UnknownIssuer => "signature_unknown_issuer",
        }
    }
}

impl fmt::Display for SignatureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a sender-constrained token (one with a `cnf` claim) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoundReason {
    /// `cnf.jkt` (DPoP, RFC 9449): proof of possession of a key is not supported.
    KeyBindingUnsupported,
    /// `cnf.x5t#S256` (RFC 8705) but no client certificate was presented on this channel, so
    /// the binding cannot be verified.
    CertificateNotPresented,
    /// `cnf` is not an object, or names a confirmation method other than `x5t#S256`.
    UnknownConfirmation,
}

impl BoundReason {
    /// Stable snake_case name, used as a metrics label and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            BoundReason::KeyBindingUnsupported => "bound_key_unsupported",
            BoundReason::CertificateNotPresented => "bound_certificate_not_presented",
            BoundReason::UnknownConfirmation => "bound_unknown_confirmation",
        }
    }
}

impl fmt::Display for BoundReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a client certificate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertReason {
    /// The peer presented no certificate.
    Missing,
    /// The certificate could not be parsed.
    Malformed,
    /// The chain does not lead to a configured CA.
    UnknownIssuer,
    /// The certificate is outside its validity period.
    Expired,
    /// The certificate is listed in a configured CRL.
    Revoked,
    /// The revocation status could not be determined (no CRL from its issuer) and unknown status
    /// is not allowed.
    RevocationUnknown,
    /// The certificate is not valid for TLS client authentication (extended key usage).
    WrongUsage,
    /// The certificate carries no usable identity (no URI/DNS/email SAN and no CN).
    NoIdentity,
    /// Any other chain validation failure.
    Invalid,
}

impl CertReason {
    /// Stable snake_case name, used as a metrics label and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            CertReason::Missing => "cert_missing",
            CertReason::Malformed => "cert_malformed",
            CertReason::UnknownIssuer => "cert_unknown_issuer",
            CertReason::Expired => "cert_expired",
            CertReason::Revoked => "cert_revoked",
            CertReason::RevocationUnknown => "cert_revocation_unknown",
            CertReason::WrongUsage => "cert_wrong_usage",
            CertReason::NoIdentity => "cert_no_identity",
            CertReason::Invalid => "cert_invalid",
        }
    }
}

impl fmt::Display for CertReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure of this crate. Each maps to a stable rejection code ([`AuthError::code`]) that
/// goes into `DecisionResult.rejection.code`. Messages never contain token material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` header, or an empty one.
    #[error("no bearer token")]
    MissingToken,
    /// The bearer token failed validation.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidReason),
    /// The token is sender-constrained (`cnf`) and its binding cannot be verified here: it is
    /// not accepted as a bearer token.
    #[error("sender-constrained token not accepted: {0}")]
    BoundToken(BoundReason),
    /// The caller is authenticated but not allowed (allow list, hybrid mTLS/JWT mismatch).
    #[error("caller not allowed: {0}")]
    Forbidden(&'static str),
    /// The detached request signature failed validation.
    #[error("bad request signature: {0}")]
    BadSignature(SignatureReason),
    /// The issuer's keys could not be fetched and none are cached: fail closed.
    #[error("identity provider unavailable for issuer {issuer}: {detail}")]
    Unavailable {
        /// Configured issuer identifier.
        issuer: String,
        /// What failed (network error, HTTP status, bad document). Never contains tokens.
        detail: String,
    },
    /// The client certificate failed validation.
    #[error("invalid client certificate: {0}")]
    InvalidCertificate(CertReason),
    /// The configuration is invalid (only returned by constructors).
    #[error("invalid auth configuration: {0}")]
    Config(String),
    /// The deployment declares tenants and the verified identity has none of them (no tenant
    /// claim, or one naming an undeclared tenant).
    #[error("the caller belongs to no tenant of this deployment")]
    NoTenant,
}

impl AuthError {
    /// Every code [`AuthError::code`] returns (docs/rejection-codes.md lists each one; the
    /// repository's drift test checks it).
    pub const CODES: &'static [&'static str] = &[
        "AUTH_MISSING_TOKEN",
        "AUTH_INVALID_TOKEN",
        "AUTH_BOUND_TOKEN_UNSUPPORTED",
        "AUTH_FORBIDDEN",
        "AUTH_BAD_SIGNATURE",
        "AUTH_UNAVAILABLE",
        "AUTH_INVALID_CERTIFICATE",
        "AUTH_CONFIG",
        "AUTH_NO_TENANT",
    ];

    /// Stable rejection code: `AUTH_MISSING_TOKEN`, `AUTH_INVALID_TOKEN`, `AUTH_FORBIDDEN`,
    /// `AUTH_BAD_SIGNATURE`, `AUTH_UNAVAILABLE`, `AUTH_INVALID_CERTIFICATE`,
    /// `AUTH_BOUND_TOKEN_UNSUPPORTED` or `AUTH_CONFIG`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "AUTH_MISSING_TOKEN",
            AuthError::InvalidToken(_) => "AUTH_INVALID_TOKEN",
            AuthError::BoundToken(_) => "AUTH_BOUND_TOKEN_UNSUPPORTED",
            AuthError::Forbidden(_) => "AUTH_FORBIDDEN",
            AuthError::BadSignature(_) => "AUTH_BAD_SIGNATURE",
            AuthError::Unavailable { .. } => "AUTH_UNAVAILABLE",
            AuthError::InvalidCertificate(_) => "AUTH_INVALID_CERTIFICATE",
            AuthError::Config(_) => "AUTH_CONFIG",
            AuthError::NoTenant => "AUTH_NO_TENANT",
        }
    }

    /// Bounded, stable reason name (the `reason` label of `dl_auth_failures_total`).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::InvalidToken(r) => r.as_str(),
            AuthError::BoundToken(r) => r.as_str(),
            AuthError::Forbidden(_) => "forbidden",
            AuthError::BadSignature(r) => r.as_str(),
            AuthError::Unavailable { .. } => "unavailable",
            AuthError::InvalidCertificate(r) => r.as_str(),
            AuthError::Config(_) => "config",
            AuthError::NoTenant => "no_tenant",
        }
    }

    /// A rejection code plus a short human-readable message, for `DecisionResult.rejection`.
    pub fn rejection(&self) -> (&'static str, String) {
        (self.code(), self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let all = [
            AuthError::MissingToken,
            AuthError::InvalidToken(InvalidReason::Malformed),
            AuthError::BoundToken(BoundReason::KeyBindingUnsupported),
            AuthError::Forbidden("x"),
            AuthError::BadSignature(SignatureReason::Missing),
            AuthError::Unavailable {
                issuer: String::new(),
                detail: String::new(),
            },
            AuthError::InvalidCertificate(CertReason::Missing),
            AuthError::Config(String::new()),
            AuthError::NoTenant,
        ];
        let codes: Vec<&str> = all.iter().map(AuthError::code).collect();
        assert_eq!(codes, AuthError::CODES);
    }
}
