//! The local key-file backend: a P-256 or Ed25519 private key in a PKCS#8 PEM file, generated on
//! first use with mode 0600. The local stack's default; no cloud account needed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::{b64url, fingerprint_key_id, Algorithm, KeyPair};
use crate::error::SignerError;
use crate::signer::KeyInfo;

/// Prefix of local key-file key ids (`local:` + 32 hex digits of SHA-256 over the SPKI).
pub const LOCAL_KEY_ID_PREFIX: &str = "local:";

/// Largest key file read (a PKCS#8 PEM of these algorithms is about 250 bytes).
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// A signer holding a private key loaded from (or generated into) a PEM file.
pub struct LocalKeyFile {
    path: PathBuf,
    key: KeyPair,
    info: Arc<KeyInfo>,
}

impl std::fmt::Debug for LocalKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyFile")
            .field("path", &self.path)
            .field("key_id", &self.info.key_id)
            .finish()
    }
}

fn key_file_error(path: &Path, message: impl Into<String>) -> SignerError {
    SignerError::KeyFile {
        path: path.display().to_string(),
        message: message.into(),
    }
}

impl LocalKeyFile {
    /// Loads the key at `path`, or generates one of `algorithm` there (mode 0600, parent folders
    /// 0700) when no file exists. An existing file keeps its own algorithm. On Unix a file that
    /// group or others may read or write is refused.
    pub fn open_or_create(
        path: impl AsRef<Path>,
        algorithm: Algorithm,
    ) -> Result<Self, SignerError> {
        let path = path.as_ref().to_path_buf();
        match Self::open(&path) {
            Ok(k) => Ok(k),
            Err(SignerError::KeyFile { .. }) if !path.exists() => {
                match Self::create(&path, algorithm) {
                    Ok(k) => Ok(k),
                    // Another process created it first: use that one.
                    Err(_) if path.exists() => Self::open(&path),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Loads an existing key file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SignerError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| key_file_error(path, e.to_string()))?;
        let meta = file
            .metadata()
            .map_err(|e| key_file_error(path, e.to_string()))?;
        if !meta.is_file() {
            return Err(key_file_error(path, "not a regular file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(key_file_error(
                    path,
                    format!("permissions {mode:o} are too open; chmod 600 it"),
                ));
            }
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(key_file_error(path, "larger than a key file can be"));
        }
        let mut pem = zeroize::Zeroizing::new(String::new());
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut pem)
            .map_err(|e| key_file_error(path, e.to_string()))?;
        let key = KeyPair::from_pkcs8_pem(&pem).map_err(|e| key_file_error(path, e))?;
        Ok(Self::from_key(path.to_path_buf(), key))
    }

    fn create(path: &Path, algorithm: Algorithm) -> Result<Self, SignerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(dir)
                .map_err(|e| key_file_error(path, format!("creating its folder: {e}")))?;
        }
        let key = KeyPair::generate(algorithm);
        let pem = key.to_pkcs8_pem().map_err(|e| key_file_error(path, e))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .map_err(|e| key_file_error(path, e.to_string()))?;
        file.write_all(pem.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| key_file_error(path, e.to_string()))?;
        let signer = Self::from_key(path.to_path_buf(), key);
        tracing::info!(path = %path.display(), key_id = %signer.info.key_id, algorithm = %algorithm, "generated a local signing key");
        Ok(signer)
    }

    fn from_key(path: PathBuf, key: KeyPair) -> Self {
        let spki = key.spki_der();
        let info = Arc::new(KeyInfo {
            key_id: fingerprint_key_id(LOCAL_KEY_ID_PREFIX, &spki),
            algorithm: key.algorithm(),
            public_key_spki: spki,
        });
        Self { path, key, info }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Key id, algorithm and public key.
    pub fn key_info(&self) -> Arc<KeyInfo> {
        self.info.clone()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> dl_schema::Signature {
        crate::metrics::local_signature(self.info.algorithm);
        dl_schema::Signature {
            algorithm: self.info.algorithm.as_str().to_string(),
            key_id: self.info.key_id.clone(),
            value: b64url(&self.key.sign(message)),
        }
    }
}
