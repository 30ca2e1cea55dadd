//! Roles the gateway honours, mapped per issuer (`DL_GATEWAY_ROLES`): a token's roles (from its
//! issuer's `roles_claim` in the auth config) count only through the map of the issuer that
//! signed it; an issuer without a map grants no roles. Deny by default: no file, no roles.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use dl_auth::CallerIdentity;
use serde::Deserialize;

/// A role of the gateway's read rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every decision, every audience's explanation and the audit report.
    Auditor,
    /// Reads every decision and the subject and case-worker explanations.
    CaseWorker,
}

impl Role {
    /// Its name in the read rules.
    pub fn name(self) -> &'static str {
        match self {
            Role::Auditor => crate::api::ROLE_AUDITOR,
            Role::CaseWorker => crate::api::ROLE_CASE_WORKER,
        }
    }
}

/// `issuers: {<issuer>: {<role in the token>: auditor | case_worker}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMap {
    #[serde(default)]
    issuers: BTreeMap<String, BTreeMap<String, Role>>,
}

impl RoleMap {
    /// Reads the map (YAML or JSON) and checks that it names only issuers of `auth`.
    pub fn load(path: &Path, auth: &dl_auth::AuthConfig) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let map: RoleMap = serde_yaml::from_str(&text)
            .with_context(|| format!("invalid role map {}", path.display()))?;
        for issuer in map.issuers.keys() {
            anyhow::ensure!(
                auth.issuers.iter().any(|i| &i.issuer == issuer),
                "role map {}: issuer {issuer:?} is not in the auth config",
                path.display()
            );
        }
        Ok(map)
    }

    /// Replaces the token's roles by the gateway roles its issuer maps them to.
    pub fn apply(&self, id: &mut CallerIdentity) {
        let mut roles: Vec<String> = Vec::new();
        if let Some(map) = self.issuers.get(&id.issuer) {
            for role in id.roles.iter().filter_map(|r| map.get(r)) {
                if !roles.iter().any(|r| r == role.name()) {
                    roles.push(role.name().to_string());
                }
            }
        }
        id.roles = roles;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(issuer: &str, roles: &[&str]) -> CallerIdentity {
        let mut id = CallerIdentity::new(issuer, "someone");
        id.roles = roles.iter().map(|r| r.to_string()).collect();
        id
    }

    #[test]
    fn roles_are_mapped_per_issuer() {
        let map: RoleMap = serde_yaml::from_str(
            "issuers:\n  https://a: {dl-auditors: auditor, auditor: auditor, clerks: case_worker}\n  https://b: {}\n",
        )
        .unwrap();
        let mut a = caller("https://a", &["dl-auditors", "auditor", "clerks", "admin"]);
        map.apply(&mut a);
        assert_eq!(a.roles, ["auditor", "case_worker"]);
        for issuer in ["https://b", "https://c"] {
            let mut other = caller(issuer, &["auditor", "case_worker", "dl-auditors"]);
            map.apply(&mut other);
            assert!(other.roles.is_empty(), "{issuer} grants no roles");
        }
        let mut none = caller("https://a", &["auditor"]);
        RoleMap::default().apply(&mut none);
        assert!(none.roles.is_empty(), "no map: no roles");
        assert!(serde_yaml::from_str::<RoleMap>("issuers: {x: {r: admin}}").is_err());
        assert!(serde_yaml::from_str::<RoleMap>("roles: {}").is_err());
    }
}
