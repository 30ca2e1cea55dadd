//! Approver keys and approval signatures.
//!
//! An approval is an Ed25519 signature over the **approval payload**, the UTF-8 bytes of:
//!
//! ```text
//! decision-layer/registry-approval/v1\n
//! function_id:{id}\n
//! version:{semver}\n
//! digest:{sha256:hex}\n
//! role:{owner|reviewer}\n
//! approver_id:{approver id}\n
//! ```
//!
//! (six lines, each terminated by a single `\n`, no other whitespace; `{semver}` is the
//! canonical rendering of the version, e.g. `1.0.0`). The signature is carried base64url without
//! padding in `VersionApproved.signature`. Binding the digest means a signature approves exactly
//! one package content; binding the role and approver id means it cannot be replayed as the other
//! role's approval or attributed to another person.
//!
//! The approver set (`approvers.yaml`) maps approver ids to their public keys:
//!
//! ```yaml
//! approvers:
//!   - id: alice
//!     roles: [owner]            # optional; default: both roles
//!     keys:
//!       - key_id: alice-2026
//!         public_key: |          # SubjectPublicKeyInfo PEM, as printed by `dlctl keygen`
//!           -----BEGIN PUBLIC KEY-----
//!           ...
//!           -----END PUBLIC KEY-----
//!   - id: kela-olli
//!     tenant: kela              # optional: approves only the functions of tenant kela
//!     keys: [...]
//! authors:                      # optional: people of a tenant who publish, activate, retire
//!   - id: kela-aino
//!     tenant: kela
//! ```
//!
//! In a deployment with tenants (docs/tenancy.md) the functions of tenant `t` are `t/<name>`:
//! only approvers with `tenant: t` approve them, and only the people of `t` (its approvers and
//! authors) publish, activate and retire them. An approver without `tenant` approves the plain
//! (default tenant's) functions only.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dl_schema::ApproverRole;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::Deserialize;
use thiserror::Error;

/// Domain separation line of the approval payload.
pub const APPROVAL_DOMAIN: &str = "decision-layer/registry-approval/v1";

/// Errors of loading keys and approver sets.
#[derive(Debug, Error)]
pub enum KeyError {
    /// File could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The approver file is not valid YAML of the expected shape.
    #[error("approver set: {0}")]
    Syntax(String),
    /// A key is not a valid PEM Ed25519 key.
    #[error("key {key_id}: {message}")]
    BadKey {
        /// Key id (or file).
        key_id: String,
        /// What is wrong.
        message: String,
    },
    /// The same approver or key id appears twice.
    #[error("approver set: {0} is defined twice")]
    Duplicate(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    approvers: Vec<ApproverShape>,
    #[serde(default)]
    authors: Vec<AuthorShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorShape {
    id: String,
    tenant: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproverShape {
    id: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    tenant: Option<String>,
    keys: Vec<KeyShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyShape {
    key_id: String,
    public_key: String,
}

/// One approver: roles they may sign and their keys.
#[derive(Debug, Clone)]
pub struct Approver {
    /// Approver id.
    pub id: String,
    /// Roles this approver may sign.
    pub roles: Vec<ApproverRole>,
    /// key id -> public key.
    pub keys: BTreeMap<String, VerifyingKey>,
    /// The tenant whose functions this approver approves; `None`: the default tenant's.
    pub tenant: Option<String>,
}

/// The configured set of approvers (deny by default: nobody else can approve).
#[derive(Debug, Clone, Default)]
pub struct ApproverSet {
    by_id: BTreeMap<String, Approver>,
    /// Authors (people who publish, activate and retire but do not approve) → their tenant.
    authors: BTreeMap<String, String>,
}

impl ApproverSet {
    /// Parses `approvers.yaml` text.
    pub fn from_yaml(text: &str) -> Result<Self, KeyError> {
        let shape: FileShape =
            serde_yaml::from_str(text).map_err(|e| KeyError::Syntax(e.to_string()))?;
        let mut set = ApproverSet::default();
        let mut key_ids = std::collections::BTreeSet::new();
        for a in shape.approvers {
            if a.id.trim().is_empty() {
                return Err(KeyError::Syntax("an approver id is empty".into()));
            }
            let roles = match a.roles {
                None => vec![ApproverRole::Owner, ApproverRole::Reviewer],
                Some(list) => list
                    .iter()
                    .map(|r| {
                        parse_role(r).ok_or_else(|| {
                            KeyError::Syntax(format!(
                                "approver {}: unknown role {r:?} (owner|reviewer)",
                                a.id
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            let mut keys = BTreeMap::new();
            for k in a.keys {
                if !key_ids.insert(k.key_id.clone()) {
                    return Err(KeyError::Duplicate(format!("key id {}", k.key_id)));
                }
                let key = VerifyingKey::from_public_key_pem(k.public_key.trim()).map_err(|e| {
                    KeyError::BadKey {
                        key_id: k.key_id.clone(),
                        message: e.to_string(),
                    }
                })?;
                keys.insert(k.key_id, key);
            }
            if set.by_id.contains_key(&a.id) {
                return Err(KeyError::Duplicate(format!("approver {}", a.id)));
            }
            if let Some(t) = &a.tenant {
                check_tenant(&a.id, t)?;
            }
            set.by_id.insert(
                a.id.clone(),
                Approver {
                    id: a.id,
                    roles,
                    keys,
                    tenant: a.tenant,
                },
            );
        }
        for author in shape.authors {
            check_tenant(&author.id, &author.tenant)?;
            if set.by_id.contains_key(&author.id) || set.authors.contains_key(&author.id) {
                return Err(KeyError::Duplicate(format!("person {}", author.id)));
            }
            set.authors.insert(author.id, author.tenant);
        }
        Ok(set)
    }

    /// Reads and parses an approver file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Adds an approver (tests, tools).
    pub fn insert(&mut self, approver: Approver) {
        self.by_id.insert(approver.id.clone(), approver);
    }

    /// The approver with this id.
    pub fn get(&self, id: &str) -> Option<&Approver> {
        self.by_id.get(id)
    }

    /// Whether `person` (an approver or author id) may act on the functions of `tenant`.
    pub fn is_member(&self, person: &str, tenant: &str) -> bool {
        self.by_id
            .get(person)
            .and_then(|a| a.tenant.as_deref())
            .or_else(|| self.authors.get(person).map(String::as_str))
            == Some(tenant)
    }

    /// Number of approvers.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the set is empty (then nothing can be approved).
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

fn check_tenant(person: &str, tenant: &str) -> Result<(), KeyError> {
    if dl_schema::tenant::is_valid_tenant(tenant) {
        Ok(())
    } else {
        Err(KeyError::Syntax(format!(
            "{person}: tenant {tenant:?} is not a tenant id (1-32 of a-z 0-9 -)"
        )))
    }
}

/// Parses `owner` / `reviewer` (case-insensitive).
pub fn parse_role(s: &str) -> Option<ApproverRole> {
    match s.to_ascii_lowercase().as_str() {
        "owner" => Some(ApproverRole::Owner),
        "reviewer" => Some(ApproverRole::Reviewer),
        _ => None,
    }
}

/// The exact bytes an approver signs (see the module documentation).
pub fn approval_payload(
    function_id: &str,
    version: &str,
    digest: &str,
    role: ApproverRole,
    approver_id: &str,
) -> Vec<u8> {
    format!(
        "{APPROVAL_DOMAIN}\nfunction_id:{function_id}\nversion:{version}\ndigest:{digest}\nrole:{}\napprover_id:{approver_id}\n",
        role.as_str()
    )
    .into_bytes()
}

/// Signs the approval payload; returns the base64url signature.
pub fn sign_approval(
    key: &SigningKey,
    function_id: &str,
    version: &str,
    digest: &str,
    role: ApproverRole,
    approver_id: &str,
) -> String {
    let sig = key.sign(&approval_payload(
        function_id,
        version,
        digest,
        role,
        approver_id,
    ));
    URL_SAFE_NO_PAD.encode(sig.to_bytes())
}

/// Verifies a base64url signature over the approval payload.
pub fn verify_approval(
    key: &VerifyingKey,
    signature: &str,
    function_id: &str,
    version: &str,
    digest: &str,
    role: ApproverRole,
    approver_id: &str,
) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify(
        &approval_payload(function_id, version, digest, role, approver_id),
        &sig,
    )
    .is_ok()
}

/// A fresh Ed25519 key from the operating system's random source.
pub fn generate_key() -> SigningKey {
    use rand_core::RngCore as _;
    let mut seed = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

/// PKCS#8 PEM of a private key.
pub fn private_key_pem(key: &SigningKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem(Default::default())
        .map(|p| p.to_string())
        .map_err(|e| KeyError::BadKey {
            key_id: "new key".into(),
            message: e.to_string(),
        })
}

/// SubjectPublicKeyInfo PEM of a public key.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, KeyError> {
    key.to_public_key_pem(Default::default())
        .map_err(|e| KeyError::BadKey {
            key_id: "new key".into(),
            message: e.to_string(),
        })
}

/// Reads a PKCS#8 PEM Ed25519 private key.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| KeyError::BadKey {
        key_id: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_exact() {
        let p = approval_payload("loan", "1.0.0", "sha256:ab", ApproverRole::Owner, "alice");
        assert_eq!(
            String::from_utf8(p).unwrap(),
            "decision-layer/registry-approval/v1\nfunction_id:loan\nversion:1.0.0\ndigest:sha256:ab\nrole:owner\napprover_id:alice\n"
        );
    }

    #[test]
    fn sign_verify_and_pem_round_trip() {
        let key = generate_key();
        let pem = private_key_pem(&key).unwrap();
        let again = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(again.to_bytes(), key.to_bytes());
        let public = public_key_pem(&key.verifying_key()).unwrap();
        let yaml = format!(
            "approvers:\n  - id: alice\n    keys:\n      - key_id: a1\n        public_key: |\n{}",
            indent(&public)
        );
        let set = ApproverSet::from_yaml(&yaml).unwrap();
        let vk = set.get("alice").unwrap().keys["a1"];
        let sig = sign_approval(
            &key,
            "f",
            "1.0.0",
            "sha256:x",
            ApproverRole::Reviewer,
            "alice",
        );
        assert!(verify_approval(
            &vk,
            &sig,
            "f",
            "1.0.0",
            "sha256:x",
            ApproverRole::Reviewer,
            "alice"
        ));
        assert!(!verify_approval(
            &vk,
            &sig,
            "f",
            "1.0.0",
            "sha256:x",
            ApproverRole::Owner,
            "alice"
        ));
        assert!(!verify_approval(
            &vk,
            &sig,
            "f",
            "1.0.1",
            "sha256:x",
            ApproverRole::Reviewer,
            "alice"
        ));
        assert!(!verify_approval(
            &vk,
            "not base64!",
            "f",
            "1.0.0",
            "sha256:x",
            ApproverRole::Reviewer,
            "alice"
        ));
    }

    fn indent(s: &str) -> String {
        s.lines().map(|l| format!("          {l}\n")).collect()
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(matches!(
            ApproverSet::from_yaml("approvers: [{id: a, keys: [{key_id: k, public_key: nope}]}]"),
            Err(KeyError::BadKey { .. })
        ));
        assert!(matches!(
            ApproverSet::from_yaml("approvers: [{id: a, roles: [boss], keys: []}]"),
            Err(KeyError::Syntax(_))
        ));
        assert!(matches!(
            ApproverSet::from_yaml("nope: 1"),
            Err(KeyError::Syntax(_))
        ));
    }
}
