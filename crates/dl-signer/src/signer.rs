//! The [`Signer`]: one of the backends behind one API, and its configuration from the environment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::{b64url_decode, verify_raw, Algorithm};
use crate::error::SignerError;
use crate::kms::{AwsKmsSigner, KmsConfig, KmsMessageType};
use crate::local::LocalKeyFile;

/// A signing key as seen from outside: id, algorithm and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// KMS key ARN (resolved, never an alias) or a local/worker key id.
    pub key_id: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// DER SubjectPublicKeyInfo.
    pub public_key_spki: Vec<u8>,
}

/// A signer: AWS KMS or a local key file. Signatures are [`dl_schema::Signature`]s
/// `{algorithm, key_id, value}` with a base64url (no padding) value.
#[derive(Debug)]
pub enum Signer {
    /// AWS KMS (or a KMS-API server such as LocalStack or moto).
    AwsKms(AwsKmsSigner),
    /// A PKCS#8 PEM key file (development and the local stack).
    LocalKeyFile(LocalKeyFile),
}

impl Signer {
    /// Builds the signer `config` describes (creating the local key file when missing).
    pub async fn from_config(config: SignerConfig) -> Result<Self, SignerError> {
        match config {
            SignerConfig::Local {
                key_file,
                algorithm,
            } => Ok(Self::LocalKeyFile(LocalKeyFile::open_or_create(
                key_file, algorithm,
            )?)),
            SignerConfig::Kms(cfg) => Ok(Self::AwsKms(AwsKmsSigner::connect(cfg).await?)),
        }
    }

    /// [`SignerConfig::from_env`] then [`Signer::from_config`].
    pub async fn from_env() -> Result<Self, SignerError> {
        Self::from_config(SignerConfig::from_env()?).await
    }

    /// `kms` or `local`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::AwsKms(_) => "kms",
            Self::LocalKeyFile(_) => "local",
        }
    }

    /// The current key (for KMS: what the configured id or alias resolves to).
    pub async fn key_info(&self) -> Result<Arc<KeyInfo>, SignerError> {
        match self {
            Self::AwsKms(k) => k.key_info().await,
            Self::LocalKeyFile(l) => Ok(l.key_info()),
        }
    }

    /// Signs `message` with `key`, the result of [`key_info`](Self::key_info). Use this when the
    /// signed payload itself names the key (certificates, checkpoints).
    pub async fn sign_with(
        &self,
        key: &KeyInfo,
        message: &[u8],
    ) -> Result<dl_schema::Signature, SignerError> {
        match self {
            Self::AwsKms(k) => k.sign_with(key, message).await,
            Self::LocalKeyFile(l) => {
                let own = l.key_info();
                if own.key_id != key.key_id {
                    return Err(SignerError::InvalidInput(format!(
                        "local signer holds {}, not {}",
                        own.key_id, key.key_id
                    )));
                }
                Ok(l.sign(message))
            }
        }
    }

    /// Signs `message` with the current key.
    pub async fn sign(&self, message: &[u8]) -> Result<dl_schema::Signature, SignerError> {
        let key = self.key_info().await?;
        self.sign_with(&key, message).await
    }

    /// The DER SubjectPublicKeyInfo of key `key_id` (KMS keys are fetched once and cached).
    /// KMS hands out the public key of any key the caller may use, so this says nothing about
    /// trust: ask it only for keys named by configuration, never for a key id read from the data
    /// being verified (trust anchors: `dl_verify::anchors_from_env`).
    pub async fn public_key_spki(&self, key_id: &str) -> Result<Vec<u8>, SignerError> {
        match self {
            Self::AwsKms(k) => Ok(k.public_key(key_id).await?.public_key_spki.clone()),
            Self::LocalKeyFile(l) => {
                let own = l.key_info();
                if own.key_id == key_id {
                    Ok(own.public_key_spki.clone())
                } else {
                    Err(SignerError::InvalidInput(format!(
                        "unknown local key {key_id}"
                    )))
                }
            }
        }
    }

    /// Signs a probe and verifies it offline with the public key: catches a wrong key, a server
    /// that mishandles `MessageType=DIGEST` (moto), or a broken response, before anything is
    /// certified. One KMS `Sign` call (plus `GetPublicKey` when not cached).
    pub async fn self_test(&self) -> Result<(), SignerError> {
        let key = self.key_info().await?;
        let probe = b"dl.signer.self-test.v1\n";
        let sig = self.sign_with(&key, probe).await?;
        let raw = b64url_decode(&sig.value).map_err(|e| SignerError::BadResponse(e.to_string()))?;
        verify_raw(&key.public_key_spki, probe, &raw).map_err(|_| {
            SignerError::BadResponse(format!(
                "a signature by {} does not verify with its public key (for moto set DL_KMS_MESSAGE_TYPE=raw)",
                key.key_id
            ))
        })
    }
}

/// Which signer to build. See the crate README for the environment variables.
#[derive(Debug, Clone)]
pub enum SignerConfig {
    /// A local key file, generated with `algorithm` when missing.
    Local {
        /// Path of the PKCS#8 PEM file.
        key_file: PathBuf,
        /// Algorithm of a newly generated key.
        algorithm: Algorithm,
    },
    /// AWS KMS.
    Kms(KmsConfig),
}

/// Default key file of the local stack.
pub const DEFAULT_KEY_FILE: &str = ".stack/signer/signing-key.pem";

impl SignerConfig {
    /// Reads the process environment (see [`SignerConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, SignerError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (an environment):
    ///
    /// * `DL_SIGNER` = `local` (default) | `kms`
    /// * local: `DL_SIGNER_KEY_FILE` (default `.stack/signer/signing-key.pem`),
    ///   `DL_SIGNER_ALGORITHM` = `p256` (default) | `ed25519` for a generated key
    /// * kms: `DL_KMS_KEY_ID` (required; key id, ARN or `alias/...`), `DL_KMS_ENDPOINT`,
    ///   `AWS_REGION` (or `AWS_DEFAULT_REGION`), `DL_KMS_MESSAGE_TYPE` = `digest` (default) | `raw`,
    ///   `DL_KMS_TIMEOUT_MS` (3000), `DL_KMS_MAX_ATTEMPTS` (4), `DL_KMS_BACKOFF_BASE_MS` (50),
    ///   `DL_KMS_BACKOFF_MAX_MS` (2000), `DL_KMS_BREAKER_THRESHOLD` (5),
    ///   `DL_KMS_BREAKER_COOLDOWN_MS` (10000), `DL_KMS_KEY_REFRESH_S` (300). Credentials come
    ///   from the AWS default chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profile, IMDS,
    ///   web identity).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SignerError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let num = |name: &str, default: u64| -> Result<u64, SignerError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| SignerError::Config(format!("{name}={v:?} is not a number"))),
            }
        };
        match get("DL_SIGNER")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("local") => {
                let algorithm = match get("DL_SIGNER_ALGORITHM") {
                    None => Algorithm::EcdsaP256Sha256,
                    Some(a) => Algorithm::parse(&a).ok_or_else(|| {
                        SignerError::Config(format!(
                            "DL_SIGNER_ALGORITHM={a:?}: use p256 or ed25519"
                        ))
                    })?,
                };
                let key_file = PathBuf::from(
                    get("DL_SIGNER_KEY_FILE").unwrap_or_else(|| DEFAULT_KEY_FILE.into()),
                );
                Ok(Self::Local {
                    key_file,
                    algorithm,
                })
            }
            Some("kms") => {
                let key_id = get("DL_KMS_KEY_ID").ok_or_else(|| {
                    SignerError::Config("DL_SIGNER=kms needs DL_KMS_KEY_ID".into())
                })?;
                let mut cfg = KmsConfig::new(key_id);
                cfg.endpoint = get("DL_KMS_ENDPOINT");
                cfg.region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
                if let Some(m) = get("DL_KMS_MESSAGE_TYPE") {
                    cfg.message_type = KmsMessageType::parse(&m).ok_or_else(|| {
                        SignerError::Config(format!("DL_KMS_MESSAGE_TYPE={m:?}: use digest or raw"))
                    })?;
                }
                cfg.retry.call_timeout =
                    Duration::from_millis(num("DL_KMS_TIMEOUT_MS", 3000)?.max(1));
                cfg.retry.max_attempts =
                    u32::try_from(num("DL_KMS_MAX_ATTEMPTS", 4)?.clamp(1, 20)).unwrap_or(4);
                cfg.retry.base_delay = Duration::from_millis(num("DL_KMS_BACKOFF_BASE_MS", 50)?);
                cfg.retry.max_delay = Duration::from_millis(num("DL_KMS_BACKOFF_MAX_MS", 2000)?);
                cfg.breaker.failure_threshold =
                    u32::try_from(num("DL_KMS_BREAKER_THRESHOLD", 5)?.clamp(1, 1000)).unwrap_or(5);
                cfg.breaker.cool_down =
                    Duration::from_millis(num("DL_KMS_BREAKER_COOLDOWN_MS", 10_000)?);
                cfg.key_refresh = Duration::from_secs(num("DL_KMS_KEY_REFRESH_S", 300)?);
                Ok(Self::Kms(cfg))
            }
            Some(other) => Err(SignerError::Config(format!(
                "DL_SIGNER={other:?}: use local or kms"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<SignerConfig, SignerError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SignerConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn env_configuration() {
        assert!(matches!(
            cfg(&[]).unwrap(),
            SignerConfig::Local {
                algorithm: Algorithm::EcdsaP256Sha256,
                ..
            }
        ));
        assert!(matches!(
            cfg(&[("DL_SIGNER_ALGORITHM", "ed25519")]).unwrap(),
            SignerConfig::Local {
                algorithm: Algorithm::Ed25519,
                ..
            }
        ));
        assert!(cfg(&[("DL_SIGNER", "kms")]).is_err());
        assert!(cfg(&[("DL_SIGNER", "vault")]).is_err());
        assert!(cfg(&[
            ("DL_SIGNER", "kms"),
            ("DL_KMS_KEY_ID", "alias/x"),
            ("DL_KMS_TIMEOUT_MS", "soon")
        ])
        .is_err());
        let SignerConfig::Kms(k) = cfg(&[
            ("DL_SIGNER", "KMS"),
            ("DL_KMS_KEY_ID", "alias/dl"),
            ("DL_KMS_ENDPOINT", "http://127.0.0.1:4566"),
            ("AWS_REGION", "eu-north-1"),
            ("DL_KMS_MESSAGE_TYPE", "raw"),
            ("DL_KMS_MAX_ATTEMPTS", "0"),
        ])
        .unwrap() else {
            panic!("kms expected")
        };
        assert_eq!(k.key_id, "alias/dl");
        assert_eq!(k.region.as_deref(), Some("eu-north-1"));
        assert_eq!(k.message_type, KmsMessageType::Raw);
        assert_eq!(k.retry.max_attempts, 1);
    }
}
