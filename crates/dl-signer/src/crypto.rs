//! Algorithms, key pairs held in memory, base64url, fingerprints and offline verification.
//!
//! Signature encodings (the bytes inside [`dl_schema::Signature::value`], base64url without
//! padding):
//!
//! * `ECDSA_P256_SHA256`: ECDSA over SHA-256(message) with P-256, encoded as the ASN.1 DER
//!   `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`), which is what AWS KMS returns and what
//!   this crate emits for local keys too, so a signature can also be checked with KMS `Verify`.
//!   Verification also accepts the fixed 64-byte `r‖s` form (JWS, PKCS#11) and normalises a high
//!   `s` to low `s` before checking (KMS does not promise low-S signatures); both are the same
//!   mathematical signature.
//! * `Ed25519`: the 64-byte RFC 8032 signature over the message itself (PureEdDSA), verified
//!   strictly (`verify_strict`: rejects small-order keys and non-canonical encodings).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::VerifyError;

/// A signature algorithm. The names are the strings carried in `Signature.algorithm` and
/// `SigningKeyCertified.algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA with NIST P-256 over SHA-256 (`ECDSA_P256_SHA256`); KMS `ECC_NIST_P256` +
    /// `ECDSA_SHA_256`.
    EcdsaP256Sha256,
    /// Ed25519, RFC 8032 (`Ed25519`).
    Ed25519,
}

impl Algorithm {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ECDSA_P256_SHA256",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// Parses a wire name; also accepts the configuration spellings `p256`, `ecdsa`, `es256`
    /// and `ed25519` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ECDSA_P256_SHA256" => return Some(Self::EcdsaP256Sha256),
            "Ed25519" => return Some(Self::Ed25519),
            _ => {}
        }
        match s.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "ecdsa" | "es256" | "ecdsa_p256_sha256" => {
                Some(Self::EcdsaP256Sha256)
            }
            "ed25519" | "eddsa" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// base64url without padding (RFC 4648 §5).
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; refuses padding and the standard alphabet.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| VerifyError::Malformed("not base64url without padding".into()))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Key id derived from a public key: `prefix` followed by the first 32 hex digits (128 bits) of
/// SHA-256 over the DER SubjectPublicKeyInfo.
pub fn fingerprint_key_id(prefix: &str, spki_der: &[u8]) -> String {
    let fp = sha256_hex(spki_der);
    format!("{prefix}{}", &fp[..32])
}

/// A public key parsed from DER SubjectPublicKeyInfo.
#[derive(Clone)]
pub enum PublicKey {
    /// P-256 ECDSA key.
    P256(p256::ecdsa::VerifyingKey),
    /// Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.algorithm())
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo (what KMS `GetPublicKey` returns).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, VerifyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::Ed25519(k));
        }
        Err(VerifyError::BadPublicKey(
            "not a P-256 or Ed25519 SubjectPublicKeyInfo".into(),
        ))
    }

    /// Parses a base64url DER SubjectPublicKeyInfo (the `public_key` of a certificate).
    pub fn from_spki_b64url(s: &str) -> Result<Self, VerifyError> {
        Self::from_spki_der(&b64url_decode(s)?)
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256(_) => Algorithm::EcdsaP256Sha256,
            Self::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Verifies `signature` (raw bytes, encodings as in the module docs) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        match self {
            Self::P256(key) => {
                let sig = if signature.len() == 64 {
                    p256::ecdsa::Signature::from_slice(signature)
                } else {
                    p256::ecdsa::Signature::from_der(signature)
                }
                .map_err(|_| VerifyError::BadSignature)?;
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(message, &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| VerifyError::BadSignature)?;
                key.verify_strict(message, &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
        }
    }
}

/// Verifies a raw signature over `message` with a DER SubjectPublicKeyInfo, offline.
pub fn verify_raw(spki_der: &[u8], message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    PublicKey::from_spki_der(spki_der)?.verify(message, signature)
}

/// Verifies a [`dl_schema::Signature`] over `message` with a DER SubjectPublicKeyInfo, offline:
/// the algorithm named by the signature must be the key's, and the value must verify. The key id
/// is not checked here (the caller chose the key by it).
pub fn verify_signature(
    spki_der: &[u8],
    message: &[u8],
    signature: &dl_schema::Signature,
) -> Result<(), VerifyError> {
    let key = PublicKey::from_spki_der(spki_der)?;
    check_algorithm(&key, &signature.algorithm)?;
    key.verify(message, &b64url_decode(&signature.value)?)
}

pub(crate) fn check_algorithm(key: &PublicKey, name: &str) -> Result<(), VerifyError> {
    match Algorithm::parse(name) {
        Some(a) if a == key.algorithm() && a.as_str() == name => Ok(()),
        _ => Err(VerifyError::Algorithm(format!(
            "signature says {name:?}, key is {}",
            key.algorithm()
        ))),
    }
}

/// A private key held in memory (zeroised on drop by the underlying crates). Its `Debug` shows
/// only the algorithm.
pub(crate) enum KeyPair {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({}, <private>)", self.algorithm())
    }
}

impl KeyPair {
    pub(crate) fn generate(algorithm: Algorithm) -> Self {
        let mut rng = rand_core::OsRng;
        match algorithm {
            Algorithm::EcdsaP256Sha256 => Self::P256(p256::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::Ed25519 => {
                use rand_core::RngCore;
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(seed.as_mut());
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256(_) => Algorithm::EcdsaP256Sha256,
            Self::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// DER SubjectPublicKeyInfo of the public half.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        let doc = match self {
            Self::P256(k) => k.verifying_key().to_public_key_der(),
            Self::Ed25519(k) => k.verifying_key().to_public_key_der(),
        };
        // Encoding a valid in-memory key cannot fail; an empty key simply never verifies.
        doc.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// Signs `message` (ECDSA: SHA-256 inside, DER output; Ed25519: 64 bytes).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Self::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }

    pub(crate) fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, String> {
        let le = p256::pkcs8::LineEnding::LF;
        match self {
            Self::P256(k) => k.to_pkcs8_pem(le).map_err(|e| e.to_string()),
            Self::Ed25519(k) => k.to_pkcs8_pem(le).map_err(|e| e.to_string()),
        }
    }

    pub(crate) fn from_pkcs8_pem(pem: &str) -> Result<Self, String> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Ed25519(k));
        }
        Err("not a PKCS#8 PEM private key of P-256 or Ed25519".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_algorithms_and_encodings() {
        for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
            let kp = KeyPair::generate(alg);
            let spki = kp.spki_der();
            let sig = kp.sign(b"hello");
            verify_raw(&spki, b"hello", &sig).unwrap();
            assert_eq!(
                verify_raw(&spki, b"hellO", &sig),
                Err(VerifyError::BadSignature)
            );
            let pem = kp.to_pkcs8_pem().unwrap();
            let back = KeyPair::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(back.spki_der(), spki);
            assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
        }
    }

    #[test]
    fn ecdsa_accepts_raw_and_high_s() {
        let kp = KeyPair::generate(Algorithm::EcdsaP256Sha256);
        let spki = kp.spki_der();
        let der = kp.sign(b"m");
        let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
        verify_raw(&spki, b"m", &sig.to_bytes()).unwrap();
        // s' = n - s is the same signature (high-S form).
        let (r, s) = sig.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        verify_raw(&spki, b"m", high.to_der().as_bytes()).unwrap();
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [
            &b""[..],
            &[0u8; 1][..],
            &[0x30u8; 100][..],
            &[0xffu8; 64][..],
        ] {
            assert!(PublicKey::from_spki_der(bytes).is_err());
            for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
                let spki = KeyPair::generate(alg).spki_der();
                assert!(verify_raw(&spki, b"m", bytes).is_err());
            }
        }
        assert!(b64url_decode("a=").is_err());
        assert!(b64url_decode("+/").is_err());
    }
}
