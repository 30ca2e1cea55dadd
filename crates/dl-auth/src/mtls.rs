//! mTLS caller identity: client-certificate chain validation (configured CAs, validity,
//! extended key usage `clientAuth`, CRLs), mapping of SAN/CN to an identity, and the hybrid rule
//! that a JWT caller must be the certificate's holder.
//!
//! Chain validation is rustls' `WebPkiClientVerifier` (webpki) with the `ring` provider, wrapped
//! to require an explicit `clientAuth` EKU and to count failures in `dl_auth_failures_total`.

use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{AuthError, CertReason};
use crate::identity::CallerIdentity;
use crate::metrics;

/// Most SAN entries of each kind taken from a certificate.
const MAX_SANS: usize = 32;
/// Longest SAN or CN value taken from a certificate.
const MAX_NAME: usize = 512;

/// File-based mTLS settings (deserialised from the service config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    /// PEM bundle of the CAs trusted to issue client certificates.
    pub ca_file: PathBuf,
    /// PEM (or DER) CRL files of those CAs.
    #[serde(default)]
    pub crl_files: Vec<PathBuf>,
    /// Accept certificates whose revocation status is unknown (no CRL of their issuer loaded).
    /// Default false: with CRLs configured, every issuer in the chain must have one.
    #[serde(default)]
    pub allow_unknown_revocation_status: bool,
    /// Check revocation of the end-entity certificate only (default false: whole chain).
    #[serde(default)]
    pub only_end_entity_revocation: bool,
    /// Refuse CRLs past their `nextUpdate` (default true).
    #[serde(default = "yes")]
    pub enforce_crl_expiry: bool,
    /// Require the `clientAuth` extended key usage to be present (default true). Without it a
    /// certificate with no EKU extension at all would be accepted by webpki.
    #[serde(default = "yes")]
    pub require_client_auth_eku: bool,
    /// The server's certificate chain (PEM), for [`server_config_from_files`].
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The server's private key (PEM), for [`server_config_from_files`].
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// Trust anchors, CRLs and policy for client-certificate validation.
#[derive(Debug, Clone)]
pub struct ClientCertVerifierConfig {
    /// Trusted client CAs (DER).
    pub roots: Vec<CertificateDer<'static>>,
    /// CRLs (DER).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// See [`MtlsConfig::allow_unknown_revocation_status`].
    pub allow_unknown_revocation_status: bool,
    /// See [`MtlsConfig::only_end_entity_revocation`].
    pub only_end_entity_revocation: bool,
    /// See [`MtlsConfig::enforce_crl_expiry`].
    pub enforce_crl_expiry: bool,
    /// See [`MtlsConfig::require_client_auth_eku`].
    pub require_client_auth_eku: bool,
    /// A client may connect without a certificate; one it presents is still fully validated
    /// (default: certificates are mandatory).
    pub client_cert_optional: bool,
}

fn cfg_err(what: &str, e: impl std::fmt::Display) -> AuthError {
    AuthError::Config(format!("{what}: {e}"))
}

fn read(path: &PathBuf) -> Result<Vec<u8>, AuthError> {
    std::fs::read(path).map_err(|e| cfg_err(&path.display().to_string(), e))
}

fn parse_crls(bytes: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, AuthError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    if bytes[start..].starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cfg_err("CRL PEM", e))
    } else {
        Ok(vec![CertificateRevocationListDer::from(bytes.to_vec())])
    }
}

impl ClientCertVerifierConfig {
    /// From a PEM CA bundle and PEM CRLs, with the default policy (CRLs enforced, unknown
    /// revocation status refused, `clientAuth` EKU required).
    pub fn from_pem(ca_pem: &[u8], crl_pems: &[&[u8]]) -> Result<Self, AuthError> {
        let roots = CertificateDer::pem_slice_iter(ca_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cfg_err("CA PEM", e))?;
        if roots.is_empty() {
            return Err(AuthError::Config(
                "no CA certificate in the CA bundle".into(),
            ));
        }
        let mut crls = Vec::new();
        for pem in crl_pems {
            crls.extend(parse_crls(pem)?);
        }
        Ok(ClientCertVerifierConfig {
            roots,
            crls,
            allow_unknown_revocation_status: false,
            only_end_entity_revocation: false,
            enforce_crl_expiry: true,
            require_client_auth_eku: true,
            client_cert_optional: false,
        })
    }

    /// From the files named in an [`MtlsConfig`].
    pub fn from_files(cfg: &MtlsConfig) -> Result<Self, AuthError> {
        let ca = read(&cfg.ca_file)?;
        let crl_bytes = cfg
            .crl_files
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u8]> = crl_bytes.iter().map(Vec::as_slice).collect();
        let mut v = Self::from_pem(&ca, &refs)?;
        v.allow_unknown_revocation_status = cfg.allow_unknown_revocation_status;
        v.only_end_entity_revocation = cfg.only_end_entity_revocation;
        v.enforce_crl_expiry = cfg.enforce_crl_expiry;
        v.require_client_auth_eku = cfg.require_client_auth_eku;
        Ok(v)
    }

    /// Builds the rustls client-certificate verifier (client certificates are mandatory unless
    /// [`ClientCertVerifierConfig::client_cert_optional`]).
    pub fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, AuthError> {
        let mut store = RootCertStore::empty();
        for r in &self.roots {
            store
                .add(r.clone())
                .map_err(|e| cfg_err("CA certificate", e))?;
        }
        let mut b = WebPkiClientVerifier::builder_with_provider(
            Arc::new(store),
            Arc::new(rustls::crypto::ring::default_provider()),
        );
        if !self.crls.is_empty() {
            b = b.with_crls(self.crls.iter().cloned());
        }
        if self.allow_unknown_revocation_status {
            b = b.allow_unknown_revocation_status();
        }
        if self.only_end_entity_revocation {
            b = b.only_check_end_entity_revocation();
        }
        if self.enforce_crl_expiry {
            b = b.enforce_revocation_expiration();
        }
        if self.client_cert_optional {
            b = b.allow_unauthenticated();
        }
        let inner = b.build().map_err(|e| cfg_err("client verifier", e))?;
        Ok(Arc::new(CheckedClientVerifier {
            inner,
            require_client_auth_eku: self.require_client_auth_eku,
        }))
    }

    /// Validates a presented chain (end entity first) outside a TLS handshake, e.g. a certificate
    /// forwarded by a trusted TLS terminator, and returns its identity.
    pub fn verify_chain(&self, chain: &[CertificateDer<'_>]) -> Result<CertIdentity, AuthError> {
        let r = (|| {
            let (ee, intermediates) = chain
                .split_first()
                .ok_or(AuthError::InvalidCertificate(CertReason::Missing))?;
            let v = self.verifier()?;
            v.verify_client_cert(ee, intermediates, UnixTime::now())
                .map_err(|e| AuthError::InvalidCertificate(reason_from_tls_error(&e)))?;
            identity_of(ee)
        })();
        if let Err(e) = &r {
            if !matches!(e, AuthError::Config(_)) {
                metrics::failure(e.reason());
            }
        }
        r
    }
}

/// Maps a rustls error to a certificate rejection reason.
pub fn reason_from_tls_error(err: &rustls::Error) -> CertReason {
    match err {
        rustls::Error::NoCertificatesPresented => CertReason::Missing,
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::BadEncoding => CertReason::Malformed,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => CertReason::Expired,
            CertificateError::Revoked => CertReason::Revoked,
            // A signature no trusted CA made (e.g. a rogue CA reusing a trusted CA's name) is
            // the same verdict as an unknown issuer: the chain does not lead to a configured CA.
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                CertReason::UnknownIssuer
            }
            CertificateError::UnknownRevocationStatus
            | CertificateError::ExpiredRevocationList
            | CertificateError::ExpiredRevocationListContext { .. } => {
                CertReason::RevocationUnknown
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                CertReason::WrongUsage
            }
            _ => CertReason::Invalid,
        },
        _ => CertReason::Invalid,
    }
}

/// Classifies a failed TLS accept (`tokio_rustls::TlsAcceptor::accept` error) as a certificate
/// rejection, when that is what it was.
pub fn classify_handshake_error(err: &std::io::Error) -> Option<AuthError> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    match tls {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Some(AuthError::InvalidCertificate(reason_from_tls_error(tls)))
        }
        _ => None,
    }
}

#[derive(Debug)]
struct CheckedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    require_client_auth_eku: bool,
}

fn has_client_auth_eku(der: &[u8]) -> bool {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.client_auth)
        }
        Err(_) => false,
    }
}

impl ClientCertVerifier for CheckedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let r = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
            .and_then(|ok| {
                if self.require_client_auth_eku && !has_client_auth_eku(end_entity) {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::InvalidPurpose,
                    ))
                } else {
                    Ok(ok)
                }
            });
        if let Err(e) = &r {
            let reason = reason_from_tls_error(e);
            metrics::failure(reason.as_str());
            tracing::debug!(reason = reason.as_str(), "client certificate rejected");
        }
        r
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS server configuration (ring provider, TLS 1.2/1.3) that requires and validates client
/// certificates with `client`, presenting `cert_chain`/`key`.
pub fn server_config(
    client: &ClientCertVerifierConfig,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, AuthError> {
    let verifier = client.verifier()?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| cfg_err("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)
        .map_err(|e| cfg_err("server certificate", e))
}

/// [`server_config`] with everything read from the files of an [`MtlsConfig`].
pub fn server_config_from_files(cfg: &MtlsConfig) -> Result<rustls::ServerConfig, AuthError> {
    let client = ClientCertVerifierConfig::from_files(cfg)?;
    let cert_file = cfg
        .cert_file
        .as_ref()
        .ok_or_else(|| AuthError::Config("mtls.cert_file missing".into()))?;
    let key_file = cfg
        .key_file
        .as_ref()
        .ok_or_else(|| AuthError::Config("mtls.key_file missing".into()))?;
    let chain = CertificateDer::pem_slice_iter(&read(cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cfg_err("server certificate PEM", e))?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|e| cfg_err("server key PEM", e))?;
    server_config(&client, chain, key)
}

/// The identity carried by a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// Subject common name, when present.
    pub common_name: Option<String>,
    /// URI SANs (e.g. SPIFFE ids), in certificate order.
    pub uri_sans: Vec<String>,
    /// DNS SANs.
    pub dns_sans: Vec<String>,
    /// Email (rfc822Name) SANs.
    pub email_sans: Vec<String>,
    /// Serial number, lowercase hex.
    pub serial_hex: String,
    /// RFC 8705 `x5t#S256`: base64url SHA-256 of the certificate DER.
    pub thumbprint_s256: String,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertIdentity {
    /// The certificate's principal name: the first URI SAN, else the first DNS SAN, else the
    /// first email SAN, else the CN.
    pub fn principal(&self) -> Option<&str> {
        self.uri_sans
            .first()
            .or(self.dns_sans.first())
            .or(self.email_sans.first())
            .or(self.common_name.as_ref())
            .map(String::as_str)
    }

    /// Whether `name` is one of the certificate's names (any SAN, or the CN).
    pub fn has_name(&self, name: &str) -> bool {
        self.uri_sans.iter().any(|n| n == name)
            || self.dns_sans.iter().any(|n| n == name)
            || self.email_sans.iter().any(|n| n == name)
            || self.common_name.as_deref() == Some(name)
    }
}

fn bounded(list: &mut Vec<String>, v: &str) {
    if list.len() < MAX_SANS && v.len() <= MAX_NAME {
        list.push(v.to_string());
    }
}

fn identity_of(der: &CertificateDer<'_>) -> Result<CertIdentity, AuthError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|_| AuthError::InvalidCertificate(CertReason::Malformed))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= MAX_NAME)
        .map(str::to_string);
    let mut id = CertIdentity {
        common_name,
        uri_sans: Vec::new(),
        dns_sans: Vec::new(),
        email_sans: Vec::new(),
        serial_hex: hex::encode(cert.tbs_certificate.raw_serial()),
        thumbprint_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(der.as_ref())),
        not_after: cert.validity().not_after.timestamp(),
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            match gn {
                x509_parser::extensions::GeneralName::URI(u) => bounded(&mut id.uri_sans, u),
                x509_parser::extensions::GeneralName::DNSName(d) => bounded(&mut id.dns_sans, d),
                x509_parser::extensions::GeneralName::RFC822Name(e) => {
                    bounded(&mut id.email_sans, e)
                }
                _ => {}
            }
        }
    }
    if id.principal().is_none() {
        return Err(AuthError::InvalidCertificate(CertReason::NoIdentity));
    }
    Ok(id)
}

/// The identity of the peer of an established TLS connection (`peer_certificates()` of a
/// rustls connection built with [`server_config`]; the chain was validated in the handshake).
pub fn identity_from_peer_certs(
    peer_certs: Option<&[CertificateDer<'_>]>,
) -> Result<CertIdentity, AuthError> {
    let r = peer_certs
        .and_then(<[_]>::first)
        .ok_or(AuthError::InvalidCertificate(CertReason::Missing))
        .and_then(identity_of);
    if let Err(e) = &r {
        metrics::failure(e.reason());
    }
    r
}

/// The hybrid rule: a caller presenting both a JWT and a client certificate must be the same
/// party. The JWT `sub` must equal one of the certificate's names (URI/DNS/email SAN or CN), and
/// if the token is certificate-bound (`cnf.x5t#S256`, RFC 8705) the thumbprint must be this
/// certificate's. Otherwise `AUTH_FORBIDDEN`.
pub fn hybrid_check(jwt: &CallerIdentity, cert: &CertIdentity) -> Result<(), AuthError> {
    let r = if !cert.has_name(&jwt.subject) {
        Err(AuthError::Forbidden(
            "token subject does not match the client certificate",
        ))
    } else if jwt
        .cert_thumbprint
        .as_ref()
        .is_some_and(|t| *t != cert.thumbprint_s256)
    {
        Err(AuthError::Forbidden(
            "token is bound to another client certificate",
        ))
    } else {
        Ok(())
    };
    if let Err(e) = &r {
        metrics::failure(e.reason());
    }
    r
}
