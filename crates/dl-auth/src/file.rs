//! The auth file (`DL_AUTH_CONFIG`) shared by the worker, the gateway and the agent: one parser,
//! one set of rules, so every service reads the same file the same way.
//!
//! Two shapes are accepted (YAML or JSON):
//!
//! * bare: the [`AuthConfig`] itself (`issuers: ...`);
//! * wrapped: `auth:` (the [`AuthConfig`]) next to the worker's `require_signature:` and
//!   `rate_limits:`. No other top-level key is accepted, so a typo fails the start of every
//!   service instead of being ignored by some of them.
//!
//! Services that do not use a part ignore it (the gateway and the agent read only `auth`).

use std::path::Path;

use serde::Deserialize;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::identity::validate_allow_list;

/// The whole auth file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// The bearer-token verifier's configuration.
    pub auth: AuthConfig,
    /// Allow-list entries (dl-auth grammar) of callers that must sign every request (worker).
    #[serde(default)]
    pub require_signature: Vec<String>,
    /// Per-caller rate limits; the first entry whose allow-list entry matches applies (worker).
    #[serde(default)]
    pub rate_limits: Vec<CallerRateLimit>,
}

/// One entry of `rate_limits`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerRateLimit {
    /// Allow-list entry (dl-auth grammar) naming the callers.
    pub caller: String,
    /// Sustained requests per second (checked by the rate limiter that uses it).
    pub per_second: f64,
    /// Requests allowed back to back from idle (checked by the rate limiter that uses it).
    pub burst: u32,
}

impl AuthFile {
    /// Reads and checks the file at `path` (either shape). Errors are [`AuthError::Config`]
    /// naming the file.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Config(format!("reading {}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|e| AuthError::Config(format!("auth config {}: {}", path.display(), e)))
    }

    /// Parses and checks file text (either shape).
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let wrapped = value.as_mapping().is_some_and(|m| m.contains_key("auth"));
        let file = if wrapped {
            serde_yaml::from_value(value).map_err(|e| e.to_string())?
        } else {
            AuthFile {
                auth: serde_yaml::from_value(value).map_err(|e| e.to_string())?,
                require_signature: Vec::new(),
                rate_limits: Vec::new(),
            }
        };
        file.auth.validate().map_err(|e| e.to_string())?;
        validate_allow_list(&file.require_signature)
            .map_err(|e| format!("require_signature: {e}"))?;
        for rl in &file.rate_limits {
            validate_allow_list(std::slice::from_ref(&rl.caller))
                .map_err(|e| format!("rate_limits: {e}"))?;
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "issuers:\n  - issuer: https://idp.example\n    jwks_url: https://idp.example/jwks\n    audiences: [decision-layer]\n    algorithms: [ES256]\n";

    fn wrapped(extra: &str) -> String {
        let indented: String = ISSUER.lines().map(|l| format!("  {l}\n")).collect();
        format!("auth:\n{indented}{extra}")
    }

    #[test]
    fn both_shapes_give_the_same_auth_config() {
        let bare = AuthFile::parse(ISSUER).unwrap();
        let full = AuthFile::parse(&wrapped(
            "require_signature: [\"sub:benefit-system\"]\nrate_limits:\n  - {caller: \"sub:batch\", per_second: 5, burst: 10}\n",
        ))
        .unwrap();
        assert_eq!(
            format!("{:?}", bare.auth.issuers),
            format!("{:?}", full.auth.issuers)
        );
        assert!(bare.require_signature.is_empty() && bare.rate_limits.is_empty());
        assert_eq!(full.require_signature, ["sub:benefit-system"]);
        assert_eq!(full.rate_limits[0].caller, "sub:batch");
    }

    #[test]
    fn unknown_keys_and_bad_allow_lists_are_refused() {
        let typo = AuthFile::parse(&wrapped("require_signatures: []\n")).unwrap_err();
        assert!(typo.contains("require_signatures"), "{typo}");
        assert!(AuthFile::parse(&wrapped("require_signature: [\"nonsense\"]\n")).is_err());
        assert!(AuthFile::parse(&wrapped(
            "rate_limits:\n  - {caller: \"nonsense\", per_second: 1, burst: 1}\n"
        ))
        .is_err());
        assert!(AuthFile::parse("issuers: []\n").is_err(), "validated");
    }

    #[test]
    fn load_names_the_file() {
        let missing = AuthFile::load(Path::new("/nonexistent/auth.yaml")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/auth.yaml"));
    }
}
