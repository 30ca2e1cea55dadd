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
    /// The configured signer could not tell its public key.
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

    /// Adds the current key of `signer` (a KMS key or the local key file).
    pub async fn add_signer_key(&mut self, signer: &Signer) -> Result<String, AnchorError> {
        let info = signer.key_info().await?;
        self.insert(&info.key_id, info.public_key_spki.clone())?;
        Ok(info.key_id.clone())
    }

    /// Fetches `key_id` through `signer` (older KMS keys after a rotation) and adds it.
    pub async fn resolve(&mut self, signer: &Signer, key_id: &str) -> Result<(), AnchorError> {
        let spki = signer.public_key_spki(key_id).await?;
        self.insert(key_id, spki)
    }
}

/// The certifier key a record relies on (certificate or checkpoint), if any: what a caller may
/// want to resolve with [`TrustAnchors::resolve`] before verifying.
pub fn certifier_of(record: &dl_schema::LedgerRecord) -> Option<&str> {
    record
        .key_certified
        .as_ref()
        .map(|c| c.certifier_key_id.as_str())
        .or(record.checkpoint.as_ref().map(|c| c.signer_key_id.as_str()))
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

/// Trust anchors from pinned `KEY_ID=PATH` specs plus the certifier configured in the
/// environment like the worker's (`DL_SIGNER`, `DL_SIGNER_KEY_FILE`, `DL_KMS_*`; see the
/// dl-signer README). A local key file is only read, never created: when it does not exist, no
/// signer is returned. With KMS the current key's public key is fetched (one `GetPublicKey`).
/// The signer is returned for resolving older certifier keys ([`TrustAnchors::resolve`]).
pub async fn anchors_from_env(
    pinned: &[String],
) -> Result<(TrustAnchors, Option<Signer>), AnchorError> {
    let mut anchors = TrustAnchors::new();
    for spec in pinned {
        anchors.load_spec(spec)?;
    }
    let signer = match dl_signer::SignerConfig::from_env()? {
        dl_signer::SignerConfig::Local { key_file, .. } => {
            if key_file.exists() {
                Some(Signer::LocalKeyFile(dl_signer::LocalKeyFile::open(
                    &key_file,
                )?))
            } else {
                None
            }
        }
        config => Some(Signer::from_config(config).await?),
    };
    if let Some(s) = &signer {
        anchors.add_signer_key(s).await?;
    }
    Ok((anchors, signer))
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
}
