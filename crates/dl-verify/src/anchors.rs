//! Trust anchors: the certifier public keys, by key id.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use dl_signer::{PublicKey, Signer};
use thiserror::Error;

/// Why a trust anchor could not be loaded.
#[derive(Debug, Error)]
pub enum AnchorError {
    /// `KEY_ID=PATH` was expected.
    #[error("trust anchor {0:?}: expected KEY_ID=PATH")]
    Spec(String),
    /// The file could not be read.
    #[error("trust anchor file {path}: {message}")]
    Io {
        /// File.
        path: String,
        /// Why.
        message: String,
    },
    /// The bytes are not a PEM or DER SubjectPublicKeyInfo of a P-256 or Ed25519 key.
    #[error("trust anchor {key_id}: {message}")]
    BadKey {
        /// Key id.
        key_id: String,
        /// Why.
        message: String,
    },
    /// The trust configuration is inconsistent (e.g. KMS keys listed without `DL_SIGNER=kms`,
    /// or `DL_SIGNER=kms` without any trusted certifier).
    #[error("trust anchors: {0}")]
    Config(String),
    /// The configured signer (or KMS, for a listed key) could not tell a public key.
    #[error("signer: {0}")]
    Signer(#[from] dl_signer::SignerError),
}

/// Certifier public keys (DER SubjectPublicKeyInfo) by key id: the keys trusted to certify worker
/// keys and to sign checkpoints.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    keys: BTreeMap<String, Vec<u8>>,
}

/// Largest anchor file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

impl TrustAnchors {
    /// No anchors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key_id` with its DER SubjectPublicKeyInfo (checked to be a usable key).
    pub fn insert(&mut self, key_id: &str, spki_der: Vec<u8>) -> Result<(), AnchorError> {
        PublicKey::from_spki_der(&spki_der).map_err(|e| AnchorError::BadKey {
            key_id: key_id.to_string(),
            message: e.to_string(),
        })?;
        self.keys.insert(key_id.to_string(), spki_der);
        Ok(())
    }

    /// The public key of `key_id`, if trusted.
    pub fn get(&self, key_id: &str) -> Option<&[u8]> {
        self.keys.get(key_id).map(Vec::as_slice)
    }

    /// Whether `key_id` is trusted.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted key ids.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Adds `key_id` from a file holding a PEM (`-----BEGIN PUBLIC KEY-----`) or DER
    /// SubjectPublicKeyInfo.
    pub fn load_file(&mut self, key_id: &str, path: &Path) -> Result<(), AnchorError> {
        use std::io::Read as _;
        let io = |e: std::io::Error| AnchorError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let der = spki_from_pem_or_der(&bytes).map_err(|message| AnchorError::BadKey {
            key_id: key_id.to_string(),
            message,
        })?;
        self.insert(key_id, der)
    }

    /// Adds an anchor given as `KEY_ID=PATH` (the `--certifier-key` argument).
    pub fn load_spec(&mut self, spec: &str) -> Result<(), AnchorError> {
        let (id, path) = spec
            .split_once('=')
            .filter(|(id, path)| !id.trim().is_empty() && !path.trim().is_empty())
            .ok_or_else(|| AnchorError::Spec(spec.to_string()))?;
        self.load_file(id.trim(), Path::new(path.trim()))
    }

    /// Adds the current key of `signer` (the local key file).
    pub async fn add_signer_key(&mut self, signer: &Signer) -> Result<String, AnchorError> {
        let info = signer.key_info().await?;
        self.insert(&info.key_id, info.public_key_spki.clone())?;
        Ok(info.key_id.clone())
    }

    /// Adds the KMS key `key` (key id, key ARN, `alias/...` or alias ARN, from configuration)
    /// under the key ARN KMS resolves it to now (`GetPublicKey`, plus `DescribeKey` when the
    /// server answers with a bare id). Returns that ARN.
    pub async fn add_kms_key(
        &mut self,
        kms: &dl_signer::AwsKmsSigner,
        key: &str,
    ) -> Result<String, AnchorError> {
        let info = kms.public_key(key).await?;
        self.insert(&info.key_id, info.public_key_spki.clone())?;
        Ok(info.key_id.clone())
    }
}

fn spki_from_pem_or_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let Some(begin) = text.find("-----BEGIN PUBLIC KEY-----") else {
        if text.contains("-----BEGIN") {
            return Err("not a PUBLIC KEY PEM (a private key?)".into());
        }
        return Ok(bytes.to_vec());
    };
    let body = &text[begin + "-----BEGIN PUBLIC KEY-----".len()..];
    let end = body
        .find("-----END PUBLIC KEY-----")
        .ok_or("PEM without END line")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "PEM body is not base64".to_string())
}

/// Trust anchors from configuration only; never from the ledger being verified:
///
/// * `pinned`: `KEY_ID=PATH` specs (`--certifier-key`, `DL_CERTIFIER_KEYS`);
/// * `trusted`: KMS keys (`--trusted-certifier`, `DL_TRUSTED_CERTIFIERS`): key ids, key ARNs,
///   alias names or alias ARNs, each resolved *now* to its key ARN and public key through the
///   KMS client configured like the worker's (`DL_SIGNER=kms`, `DL_KMS_ENDPOINT`, `AWS_*`, ...;
///   `DL_KMS_KEY_ID` is not needed and not trusted by itself). A certificate or checkpoint by any
///   other key, even one the same KMS holds, is `UNTRUSTED_CERTIFIER`. After a KMS key rotation
///   (a new key behind the alias) the old key stays listed for as long as records it certified
///   are to be verified (docs/ledger-integrity.md, ADR 0016);
/// * with `DL_SIGNER=local` (the default), the public key of `DL_SIGNER_KEY_FILE` when the file
///   exists (it is only read, never created).
///
/// `DL_SIGNER=kms` with neither `trusted` nor `pinned` keys is [`AnchorError::Config`], as are
/// `trusted` keys without `DL_SIGNER=kms`.
pub async fn anchors_from_env(
    pinned: &[String],
    trusted: &[String],
) -> Result<TrustAnchors, AnchorError> {
    anchors_from_lookup(pinned, trusted, |name| std::env::var(name).ok()).await
}

async fn anchors_from_lookup(
    pinned: &[String],
    trusted: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<TrustAnchors, AnchorError> {
    let mut anchors = TrustAnchors::new();
    for spec in pinned {
        anchors.load_spec(spec)?;
    }
    let trusted: Vec<&str> = trusted
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect();
    // A verifier signs nothing: DL_KMS_KEY_ID only completes the client configuration.
    let first = trusted.first().map(|k| k.to_string());
    let config = dl_signer::SignerConfig::from_lookup(|name| {
        let value = lookup(name);
        if name == "DL_KMS_KEY_ID" {
            value.or_else(|| first.clone())
        } else {
            value
        }
    })?;
    match config {
        dl_signer::SignerConfig::Local { key_file, .. } => {
            if !trusted.is_empty() {
                return Err(AnchorError::Config(
                    "trusted certifiers (DL_TRUSTED_CERTIFIERS, --trusted-certifier) are KMS keys: set DL_SIGNER=kms and the DL_KMS_* client settings".into(),
                ));
            }
            if key_file.exists() {
                let local = Signer::LocalKeyFile(dl_signer::LocalKeyFile::open(&key_file)?);
                anchors.add_signer_key(&local).await?;
            }
        }
        dl_signer::SignerConfig::Kms(cfg) => {
            if trusted.is_empty() {
                if anchors.is_empty() {
                    return Err(AnchorError::Config(
                        "DL_SIGNER=kms: list the certifier keys to trust in DL_TRUSTED_CERTIFIERS (--trusted-certifier); the keys a ledger names are never trusted by themselves".into(),
                    ));
                }
                return Ok(anchors);
            }
            let kms = dl_signer::AwsKmsSigner::connect(cfg).await?;
            for key in trusted {
                anchors.add_kms_key(&kms, key).await?;
            }
        }
    }
    Ok(anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_der_and_garbage() {
        assert!(spki_from_pem_or_der(b"-----BEGIN PRIVATE KEY-----\nAA==\n").is_err());
        assert!(
            spki_from_pem_or_der(b"-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert_eq!(
            spki_from_pem_or_der(b"-----BEGIN PUBLIC KEY-----\nAAE=\n-----END PUBLIC KEY-----\n")
                .unwrap(),
            vec![0, 1]
        );
        let mut a = TrustAnchors::new();
        assert!(a.insert("k", vec![1, 2, 3]).is_err());
        assert!(a.load_spec("no-equals").is_err());
        assert!(a.load_spec("k=/nonexistent/file").is_err());
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[tokio::test]
    async fn trust_comes_from_configuration_only() {
        // KMS without a list of trusted certifiers: refused, whatever DL_KMS_KEY_ID says.
        let kms = env(&[("DL_SIGNER", "kms"), ("DL_KMS_KEY_ID", "alias/dl")]);
        let err = anchors_from_lookup(&[], &[], kms).await.unwrap_err();
        assert!(matches!(err, AnchorError::Config(_)), "{err}");
        // Listed KMS keys need the KMS client configuration.
        let local = env(&[("DL_SIGNER_KEY_FILE", "/nonexistent/key.pem")]);
        let err = anchors_from_lookup(&[], &["alias/dl".into()], local)
            .await
            .unwrap_err();
        assert!(matches!(err, AnchorError::Config(_)), "{err}");
        // Local mode without the key file: no anchor (the projector waits, dlctl reports).
        let local = env(&[("DL_SIGNER_KEY_FILE", "/nonexistent/key.pem")]);
        assert!(anchors_from_lookup(&[], &[], local)
            .await
            .unwrap()
            .is_empty());
    }
}
