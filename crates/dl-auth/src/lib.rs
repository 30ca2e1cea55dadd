//! Caller authentication for the Decision Layer worker and gateway.
//!
//! * [`JwtVerifier`] verifies `authorization: Bearer <JWT>` headers against issuers configured by
//!   OIDC discovery or JWKS URL: pinned asymmetric algorithms, required `kid`, cached JWKS with
//!   background refresh and rate-limited refresh on unknown `kid` (key rotation without restart),
//!   `iss`/`aud`/`exp`/`nbf`/`iat` with leeway, size limits. It yields a [`CallerIdentity`].
//!   Verified tokens are cached (bounded, keyed by their SHA-256, time claims re-checked on every
//!   use, invalidated by a JWKS change): see [`TokenCacheStats`] and ADR 0021.
//! * [`JwtVerifier::verify_detached_signature`] checks the `dl-signature` header: a detached JWS
//!   (ES256 or EdDSA) over the request payload.
//! * [`caller_allowed`] is the deny-by-default allow-list check.
//! * [`sole_header_value`] reads a credential header that must appear at most once (twice is
//!   ambiguous and refused).
//! * [`AuthFile`] reads the auth file (`DL_AUTH_CONFIG`) for every service.
//! * [`mtls`] validates client certificates and applies the hybrid JWT/certificate rule.
//!
//! Every failure is an [`AuthError`] with a stable [`AuthError::code`]; failures are counted in
//! `dl_auth_failures_total{reason}` (see [`metrics`]). Tokens are never logged.

pub mod config;
pub mod error;
mod file;
mod header;
pub mod identity;
mod jwk;
mod jwks;
mod jwt;
pub mod metrics;
pub mod mtls;
mod token_cache;

pub use config::{AuthConfig, CallerKeyConfig, IssuerConfig};
pub use error::{AuthError, BoundReason, CertReason, InvalidReason, SignatureReason};
pub use file::{AuthFile, CallerRateLimit};
pub use header::sole_header_value;
pub use identity::{
    caller_allowed, is_valid_tenant, validate_allow_list, AllowListError, CallerIdentity,
    DEFAULT_TENANT,
};
pub use jwks::JwksStats;
/// Parsers of untrusted input for the fuzz targets (feature `fuzzing`; not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use jwt::fuzzing;
pub use jwt::JwtVerifier;
pub use metrics::describe_metrics;
pub use token_cache::TokenCacheStats;
