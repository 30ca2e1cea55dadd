//! mTLS client identity over real rustls TLS connections on 127.0.0.1, with a test PKI made here
//! by rcgen: trusted, rogue-CA, expired, revoked (CRL), wrong-EKU and no-EKU clients.

use std::sync::Arc;

use dl_auth::mtls::{
    classify_handshake_error, hybrid_check, identity_from_peer_certs, server_config, CertIdentity,
    ClientCertVerifierConfig,
};
use dl_auth::{AuthError, CallerIdentity, CertReason};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Ca = CertifiedIssuer<'static, KeyPair>;

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(30);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

#[allow(clippy::too_many_arguments)]
fn leaf(
    issuer: &Ca,
    cn: &str,
    sans: Vec<SanType>,
    eku: Vec<ExtendedKeyUsagePurpose>,
    serial: u64,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Leaf {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = sans;
    p.extended_key_usages = eku;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = not_before;
    p.not_after = not_after;
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    Leaf {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn client(issuer: &Ca, cn: &str, serial: u64) -> Leaf {
    let now = OffsetDateTime::now_utc();
    leaf(
        issuer,
        cn,
        vec![SanType::URI(
            format!("spiffe://dl.test/client/{cn}").try_into().unwrap(),
        )],
        vec![ExtendedKeyUsagePurpose::ClientAuth],
        serial,
        now - Duration::hours(1),
        now + Duration::days(1),
    )
}

struct Pki {
    ca: Ca,
    server_ca: Ca,
    crl_pem: String,
}

const REVOKED_SERIAL: u64 = 666;

fn pki() -> Pki {
    let ca = ca("DL Test Client CA");
    let server_ca = ca_named("DL Test Server CA");
    let now = OffsetDateTime::now_utc();
    let crl = CertificateRevocationListParams {
        this_update: now - Duration::hours(1),
        next_update: now + Duration::days(1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(REVOKED_SERIAL),
            revocation_time: now - Duration::minutes(5),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .unwrap();
    Pki {
        ca,
        server_ca,
        crl_pem: crl.pem().unwrap(),
    }
}

fn ca_named(n: &str) -> Ca {
    ca(n)
}

/// Runs one TLS connection: server with our mTLS config, client presenting `leaf` (or nothing).
/// Returns the server's view: the caller's certificate identity, or the rejection.
async fn handshake(
    pki: &Pki,
    verifier: &ClientCertVerifierConfig,
    leaf: Option<&Leaf>,
) -> Result<CertIdentity, AuthError> {
    let now = OffsetDateTime::now_utc();
    let server_leaf = self::leaf(
        &pki.server_ca,
        "localhost",
        vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
        1,
        now - Duration::hours(1),
        now + Duration::days(1),
    );
    let scfg = server_config(verifier, server_leaf.chain.clone(), server_leaf.key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(scfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        match acceptor.accept(tcp).await {
            Ok(mut tls) => {
                let id = identity_from_peer_certs(tls.get_ref().1.peer_certificates());
                let _ = tls.write_all(b"ok").await;
                let _ = tls.shutdown().await;
                id
            }
            Err(e) => Err(classify_handshake_error(&e)
                .unwrap_or_else(|| panic!("not a certificate error: {e}"))),
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.server_ca.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let ccfg = match leaf {
        Some(l) => builder
            .with_client_auth_cert(l.chain.clone(), l.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ccfg));
    let tcp = TcpStream::connect(addr).await.unwrap();
    if let Ok(mut tls) = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
    {
        // With TLS 1.3 the client finishes first; reading shows the server's verdict.
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
    }
    server.await.unwrap()
}

fn verifier(pki: &Pki) -> ClientCertVerifierConfig {
    ClientCertVerifierConfig::from_pem(pki.ca.pem().as_bytes(), &[pki.crl_pem.as_bytes()]).unwrap()
}

fn rejected(r: Result<CertIdentity, AuthError>, reason: CertReason) {
    let e = r.expect_err("certificate accepted");
    assert_eq!(e.code(), "AUTH_INVALID_CERTIFICATE", "{e}");
    assert_eq!(e, AuthError::InvalidCertificate(reason));
}

#[tokio::test]
async fn trusted_client_is_accepted_and_mapped() {
    let pki = pki();
    let v = verifier(&pki);
    let c = client(&pki.ca, "dl-test-client", 10);
    let id = handshake(&pki, &v, Some(&c)).await.unwrap();
    assert_eq!(id.common_name.as_deref(), Some("dl-test-client"));
    assert_eq!(id.uri_sans, vec!["spiffe://dl.test/client/dl-test-client"]);
    assert_eq!(
        id.principal(),
        Some("spiffe://dl.test/client/dl-test-client")
    );
    assert_eq!(id.serial_hex, "0a");
    assert!(id.not_after > 0);

    // Hybrid rule: the JWT subject must be one of the certificate's names.
    let mut jwt = CallerIdentity::new("https://idp.example", "dl-test-client");
    hybrid_check(&jwt, &id).unwrap();
    jwt.subject = "spiffe://dl.test/client/dl-test-client".into();
    hybrid_check(&jwt, &id).unwrap();
    jwt.subject = "someone-else".into();
    assert_eq!(
        hybrid_check(&jwt, &id).unwrap_err().code(),
        "AUTH_FORBIDDEN"
    );
    // Certificate-bound token (RFC 8705 cnf.x5t#S256).
    jwt.subject = "dl-test-client".into();
    jwt.cert_thumbprint = Some(id.thumbprint_s256.clone());
    hybrid_check(&jwt, &id).unwrap();
    jwt.cert_thumbprint = Some("AAAA".into());
    assert_eq!(
        hybrid_check(&jwt, &id).unwrap_err().code(),
        "AUTH_FORBIDDEN"
    );

    // The same chain validates without TLS too.
    let id2 = v.verify_chain(&c.chain).unwrap();
    assert_eq!(id2, id);
}

#[tokio::test]
async fn rogue_ca_is_refused() {
    let pki = pki();
    let rogue = ca("DL Test Client CA"); // same name, other key
    let c = client(&rogue, "dl-test-client", 11);
    rejected(
        handshake(&pki, &verifier(&pki), Some(&c)).await,
        CertReason::UnknownIssuer,
    );
    let rogue2 = ca("Evil CA");
    let c2 = client(&rogue2, "dl-test-client", 11);
    rejected(
        handshake(&pki, &verifier(&pki), Some(&c2)).await,
        CertReason::UnknownIssuer,
    );
    rejected(
        verifier(&pki).verify_chain(&c2.chain),
        CertReason::UnknownIssuer,
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_are_refused() {
    let pki = pki();
    let now = OffsetDateTime::now_utc();
    let eku = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let expired = leaf(
        &pki.ca,
        "old",
        vec![],
        eku.clone(),
        12,
        now - Duration::days(10),
        now - Duration::days(1),
    );
    rejected(
        handshake(&pki, &verifier(&pki), Some(&expired)).await,
        CertReason::Expired,
    );
    let future = leaf(
        &pki.ca,
        "new",
        vec![],
        eku,
        13,
        now + Duration::days(1),
        now + Duration::days(10),
    );
    rejected(
        handshake(&pki, &verifier(&pki), Some(&future)).await,
        CertReason::Expired,
    );
}

#[tokio::test]
async fn revoked_client_is_refused_by_crl() {
    let pki = pki();
    let c = client(&pki.ca, "dl-test-client", REVOKED_SERIAL);
    rejected(
        handshake(&pki, &verifier(&pki), Some(&c)).await,
        CertReason::Revoked,
    );
    rejected(verifier(&pki).verify_chain(&c.chain), CertReason::Revoked);
    // Without any CRL for this CA the status is unknown: refused unless explicitly allowed.
    let other = ca("Other CA");
    let other_crl = CertificateRevocationListParams {
        this_update: OffsetDateTime::now_utc() - Duration::hours(1),
        next_update: OffsetDateTime::now_utc() + Duration::days(1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&other)
    .unwrap();
    let good = client(&pki.ca, "dl-test-client", 14);
    let mut v = ClientCertVerifierConfig::from_pem(
        pki.ca.pem().as_bytes(),
        &[other_crl.pem().unwrap().as_bytes()],
    )
    .unwrap();
    rejected(
        handshake(&pki, &v, Some(&good)).await,
        CertReason::RevocationUnknown,
    );
    v.allow_unknown_revocation_status = true;
    handshake(&pki, &v, Some(&good)).await.unwrap();
}

#[tokio::test]
async fn wrong_or_missing_eku_is_refused() {
    let pki = pki();
    let now = OffsetDateTime::now_utc();
    let server_only = leaf(
        &pki.ca,
        "dl-test-client",
        vec![],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
        15,
        now - Duration::hours(1),
        now + Duration::days(1),
    );
    rejected(
        handshake(&pki, &verifier(&pki), Some(&server_only)).await,
        CertReason::WrongUsage,
    );
    let no_eku = leaf(
        &pki.ca,
        "dl-test-client",
        vec![],
        vec![],
        16,
        now - Duration::hours(1),
        now + Duration::days(1),
    );
    rejected(
        handshake(&pki, &verifier(&pki), Some(&no_eku)).await,
        CertReason::WrongUsage,
    );
    // webpki alone would accept a certificate without EKU; the strict check is configurable.
    let mut lenient = verifier(&pki);
    lenient.require_client_auth_eku = false;
    handshake(&pki, &lenient, Some(&no_eku)).await.unwrap();
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let pki = pki();
    rejected(
        handshake(&pki, &verifier(&pki), None).await,
        CertReason::Missing,
    );
    rejected(identity_from_peer_certs(None), CertReason::Missing);
    rejected(
        identity_from_peer_certs(Some(&[CertificateDer::from(vec![1u8, 2, 3])])),
        CertReason::Malformed,
    );
}
