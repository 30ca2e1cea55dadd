//! Regression tests of the gateway's mTLS and request-signature findings (issue 15: Medium 6,
//! "mTLS validation built but wired into no service"; Low, "detached request signatures cannot
//! work through the gateway"), over real TLS on 127.0.0.1 with a test PKI made here by rcgen and
//! real tokens from the local OIDC provider.
//!
//! The decision under test (docs/authentication.md): a client certificate validated by the
//! gateway identifies a *reader* (`<DL_GATEWAY_CLIENT_CERT_ISSUER>|<certificate name>`);
//! submissions need a bearer token, which is what the gateway forwards to the worker.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dl_e2e::oidc::{Provider, CLIENT, SECRET};
use dl_e2e::{Scenario, Service};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use reqwest::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::AlertDescription;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Ca = CertifiedIssuer<'static, KeyPair>;

fn ca(name: &str) -> anyhow::Result<Ca> {
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
    Ok(CertifiedIssuer::self_signed(p, KeyPair::generate()?)?)
}

/// A certificate with its key, as DER and as PEM.
struct Leaf {
    der: CertificateDer<'static>,
    key: KeyPair,
    cert_pem: String,
}

impl Leaf {
    /// RFC 8705 `x5t#S256` of the certificate.
    fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.der.as_ref()))
    }

    fn rustls_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

fn leaf(
    issuer: &Ca,
    name: &str,
    serial: u64,
    eku: ExtendedKeyUsagePurpose,
) -> anyhow::Result<Leaf> {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.subject_alt_names = vec![SanType::DnsName(name.try_into()?)];
    if eku == ExtendedKeyUsagePurpose::ServerAuth {
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse()?));
    }
    p.extended_key_usages = vec![eku];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.serial_number = Some(SerialNumber::from(serial));
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(1);
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, issuer)?;
    Ok(Leaf {
        der: cert.der().clone(),
        cert_pem: cert.pem(),
        key,
    })
}

const REVOKED_SERIAL: u64 = 666;

/// The test PKI: a client CA (with its CRL revoking [`REVOKED_SERIAL`]), a server CA, another
/// CA nobody trusts, and the certificates of the tests.
struct Pki {
    server_ca: Ca,
    /// `dl-test-client` (the OIDC test client's subject), by the client CA.
    alice: Leaf,
    /// Also `dl-test-client` by the client CA, another key: not the certificate a token is
    /// bound to.
    alice_other_key: Leaf,
    /// Someone else by the client CA.
    bob: Leaf,
    /// `dl-test-client` by the client CA, revoked in its CRL.
    revoked: Leaf,
    /// `dl-test-client` by a CA the gateway does not trust.
    foreign: Leaf,
}

impl Pki {
    /// Makes the PKI and writes the gateway's files into `dir`; returns its TLS settings.
    fn new(dir: &std::path::Path) -> anyhow::Result<(Pki, Vec<(&'static str, String)>)> {
        let client_ca = ca("DL Test Client CA")?;
        let server_ca = ca("DL Test Server CA")?;
        let foreign_ca = ca("Someone Else's CA")?;
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
        .signed_by(&client_ca)?;
        let client = ExtendedKeyUsagePurpose::ClientAuth;
        let server = leaf(
            &server_ca,
            "localhost",
            1,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let pki = Pki {
            alice: leaf(&client_ca, CLIENT, 10, client.clone())?,
            alice_other_key: leaf(&client_ca, CLIENT, 11, client.clone())?,
            bob: leaf(&client_ca, "bob-the-reader", 12, client.clone())?,
            revoked: leaf(&client_ca, CLIENT, REVOKED_SERIAL, client.clone())?,
            foreign: leaf(&foreign_ca, CLIENT, 13, client)?,
            server_ca,
        };
        let files = [
            ("DL_GATEWAY_TLS_CERT_FILE", "server.pem", server.cert_pem),
            (
                "DL_GATEWAY_TLS_KEY_FILE",
                "server-key.pem",
                server.key.serialize_pem(),
            ),
            (
                "DL_GATEWAY_CLIENT_CA_FILE",
                "client-ca.pem",
                client_ca.pem(),
            ),
            ("DL_GATEWAY_CLIENT_CRL_FILE", "client-ca.crl", crl.pem()?),
        ];
        let mut env = Vec::new();
        for (var, file, content) in files {
            let path = dir.join(file);
            std::fs::write(&path, content)?;
            env.push((var, path.display().to_string()));
        }
        Ok((pki, env))
    }
}

/// A gateway over TLS requiring client certificates of the test client CA, trusting the local
/// OIDC provider, whose subjects the client CA certifies.
struct Stack {
    provider: Provider,
    _scenario: Scenario,
    pki: Pki,
    port: u16,
    metrics_port: u16,
    _services: Vec<Service>,
}

impl Stack {
    /// With `deciding`, also a worker and a projector.
    async fn start(
        name: &str,
        deciding: bool,
        extra: &[(&'static str, String)],
    ) -> anyhow::Result<Stack> {
        Self::start_with_auth(name, deciding, extra, |_| {}).await
    }

    /// [`Stack::start`] with the provider's auth config changed by `tweak` first.
    async fn start_with_auth(
        name: &str,
        deciding: bool,
        extra: &[(&'static str, String)],
        tweak: impl FnOnce(&mut Value),
    ) -> anyhow::Result<Stack> {
        let provider = Provider::start().await?;
        let s = Scenario::new(name, 1).await?;
        let auth_path = s.dir().join("auth.json");
        let mut auth = provider.worker_config();
        tweak(&mut auth);
        std::fs::write(&auth_path, serde_json::to_vec(&auth)?)?;
        let auth = ("DL_AUTH_CONFIG", auth_path.display().to_string());
        let (pki, mut env) = Pki::new(s.dir())?;
        env.push(auth.clone());
        env.push(("DL_GATEWAY_CLIENT_CERT_ISSUER", provider.issuer.clone()));
        env.extend(extra.iter().cloned());
        let mut services = Vec::new();
        if deciding {
            s.release_dirs(&["tests/fixtures/functions"]).await?;
            let redis = std::env::var("REDIS_URL").expect("REDIS_URL from scripts/stack.sh");
            services.push(s.worker_with_env("a", &[auth, ("REDIS_URL", redis)])?);
            services.push(s.projector("p")?);
        }
        let (gateway, port) = s.gateway("tls", &env)?;
        let metrics_port = gateway.metrics_port;
        services.push(gateway);
        let stack = Stack {
            provider,
            _scenario: s,
            pki,
            port,
            metrics_port,
            _services: services,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while stack
            .call(
                &stack.pki.alice,
                reqwest::Method::GET,
                "/openapi.json",
                None,
                None,
            )
            .await
            .is_err()
        {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the gateway never served TLS with a valid client certificate"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // With a projector: its tables exist (a read answers 404, not 503).
        if deciding {
            loop {
                let (status, body) = stack
                    .call(
                        &stack.pki.alice,
                        reqwest::Method::GET,
                        "/v1/decisions/none",
                        None,
                        None,
                    )
                    .await?;
                if status == StatusCode::NOT_FOUND {
                    break;
                }
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "the projection never answered: {status} {body}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        Ok(stack)
    }

    /// One HTTPS request presenting `cert` (or none); the body is JSON when it parses.
    async fn call_with(
        &self,
        cert: Option<&Leaf>,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(
                self.pki.server_ca.pem().as_bytes(),
            )?);
        if let Some(cert) = cert {
            http = http.identity(reqwest::Identity::from_pem(
                format!("{}{}", cert.key.serialize_pem(), cert.cert_pem).as_bytes(),
            )?);
        }
        let http = http.build()?;
        let mut req = http.request(method, format!("https://localhost:{}{path}", self.port));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        dl_e2e::gateway::answer(req.send().await?).await
    }

    /// [`Stack::call_with`] presenting `cert`.
    async fn call(
        &self,
        cert: &Leaf,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call_with(Some(cert), method, path, token, body).await
    }

    /// A raw TLS connection presenting `cert` that asks for `/openapi.json`: the response's
    /// first bytes, or the error that ended the connection.
    async fn raw(&self, cert: &Leaf) -> std::io::Result<String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.pki.server_ca.der().clone())
            .map_err(std::io::Error::other)?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert.der.clone()], cert.rustls_key())
        .map_err(std::io::Error::other)?;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        tls.write_all(
            b"GET /openapi.json HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        )
        .await?;
        let mut buf = vec![0; 64];
        let n = tls.read(&mut buf).await?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// A token of the test client bound (`cnf.x5t#S256`) to `cert`.
    async fn token_bound_to(&self, cert: &Leaf) -> anyhow::Result<String> {
        let mut claims = self.provider.claims();
        claims["cnf"] = json!({"x5t#S256": cert.thumbprint()});
        self.provider.sign(json!({}), claims, false).await
    }
}

/// The TLS alert that ended a connection, if that is what ended it.
fn alert(e: &std::io::Error) -> Option<AlertDescription> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(a) => Some(*a),
        _ => None,
    }
}

const A_LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard",
                         "employment_status": "employed", "monthly_income": 4200}"#;

/// Finding Medium 6 (mTLS wired into no service): the gateway serves TLS and takes a validated
/// client certificate as the caller when no bearer token is given. The certificate's holder
/// submits with its token (the worker decides who may ask), then reads its decision with the
/// certificate alone; another certificate holder does not see it; a certificate alone cannot
/// submit (the worker cannot see the TLS session). The old gateway had no TLS listener: nothing
/// connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_client_certificate_identifies_a_reader_of_its_own_decisions() -> anyhow::Result<()> {
    let st = Stack::start("gw-mtls-reader", true, &[]).await?;
    let token = st.provider.token(CLIENT, SECRET).await?;
    let submission = json!({"function_id": "guarded_loan", "request_id": "mtls-loan-1",
                            "input": serde_json::from_str::<Value>(A_LOAN)?});
    let (status, decided) = st
        .call(
            &st.pki.alice,
            reqwest::Method::POST,
            "/v1/decisions",
            Some(&token),
            Some(submission.clone()),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "DECIDED", "{decided}");
    let decision_id = decided["decision_id"].as_str().expect("decision id");
    let path = format!("/v1/decisions/{decision_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let read = loop {
        let (status, body) = st
            .call(&st.pki.alice, reqwest::Method::GET, &path, None, None)
            .await?;
        if status == StatusCode::OK {
            break body;
        }
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        anyhow::ensure!(std::time::Instant::now() < deadline, "never projected");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(read["decision_id"], decision_id);
    assert_eq!(read["request_id"], "mtls-loan-1");

    // Another holder of a valid certificate is another caller: the decision does not exist.
    let (status, body) = st
        .call(&st.pki.bob, reqwest::Method::GET, &path, None, None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A certificate alone identifies a reader, not a submitter.
    let (status, body) = st
        .call(
            &st.pki.alice,
            reqwest::Method::POST,
            "/v1/decisions",
            None,
            Some(submission),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "AUTH_MISSING_TOKEN", "{body}");
    Ok(())
}

/// Tenants (docs/tenancy.md): a certificate carries no claims, so a certificate-only caller's
/// tenant is its issuer's fixed `tenant`; an issuer that names tenants only by a token claim
/// cannot give a certificate one, and the caller is refused `AUTH_NO_TENANT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_certificate_callers_get_their_issuers_tenant() -> anyhow::Result<()> {
    let st = Stack::start_with_auth("gw-mtls-tenant", false, &[], |auth| {
        auth["auth"]["tenants"] = json!(["kela", "bank"]);
        auth["auth"]["issuers"][0]["tenant"] = json!("kela");
    })
    .await?;
    let (status, body) = st
        .call(
            &st.pki.alice,
            reqwest::Method::GET,
            "/v1/decisions/none",
            None,
            None,
        )
        .await?;
    assert_ne!(status, StatusCode::UNAUTHORIZED, "{body}");
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", st.metrics_port))
        .await?
        .text()
        .await?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dl_gateway_tenant_requests_total")
                && l.contains(r#"tenant="kela""#)),
        "the certificate caller counted as kela's: {metrics}"
    );

    let st = Stack::start_with_auth("gw-mtls-no-tenant", false, &[], |auth| {
        auth["auth"]["tenants"] = json!(["kela", "bank"]);
        auth["auth"]["issuers"][0]["tenant_claim"] = json!("org.tenant");
    })
    .await?;
    let (status, body) = st
        .call(
            &st.pki.alice,
            reqwest::Method::GET,
            "/v1/decisions/none",
            None,
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "AUTH_NO_TENANT", "{body}");
    Ok(())
}

/// Finding Medium 6 (CRL): a certificate of the trusted CA listed in its CRL is refused in the
/// handshake with the `certificate_revoked` alert and counted as `cert_revoked` in
/// `dl_auth_failures_total`; the same CA's valid certificate is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_revoked_client_certificate_is_refused() -> anyhow::Result<()> {
    let st = Stack::start("gw-mtls-revoked", false, &[]).await?;
    let ok = st.raw(&st.pki.alice).await?;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let refused = st
        .raw(&st.pki.revoked)
        .await
        .expect_err("a revoked certificate was served");
    assert_eq!(
        alert(&refused),
        Some(AlertDescription::CertificateRevoked),
        "{refused}"
    );
    let (_, metrics) = dl_e2e::http_get(st.metrics_port, "/metrics")?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dl_auth_failures_total{reason=\"cert_revoked\"} ")),
        "{metrics}"
    );
    Ok(())
}

/// Finding Medium 6 (chain validation): a certificate for the same name from a CA the gateway
/// does not trust is refused in the handshake (`unknown_ca`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_client_certificate_of_another_ca_is_refused_in_the_handshake() -> anyhow::Result<()> {
    let st = Stack::start("gw-mtls-foreign", false, &[]).await?;
    let ok = st.raw(&st.pki.alice).await?;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let refused = st
        .raw(&st.pki.foreign)
        .await
        .expect_err("a certificate of an untrusted CA was served");
    assert_eq!(
        alert(&refused),
        Some(AlertDescription::UnknownCA),
        "{refused}"
    );
    Ok(())
}

/// Finding Medium 6 (sender-constrained tokens): a token bound to certificate A
/// (`cnf.x5t#S256`) is accepted with A and refused (403 `AUTH_FORBIDDEN`) with certificate B of
/// the same name and CA; an unbound token presented with another party's certificate is
/// refused too (dl-auth's hybrid rule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_token_bound_to_another_certificate_is_refused() -> anyhow::Result<()> {
    let st = Stack::start("gw-mtls-bound", true, &[]).await?;
    let bound = st.token_bound_to(&st.pki.alice).await?;
    let path = "/v1/decisions/no-such-decision";
    let (status, body) = st
        .call(
            &st.pki.alice,
            reqwest::Method::GET,
            path,
            Some(&bound),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = st
        .call(
            &st.pki.alice_other_key,
            reqwest::Method::GET,
            path,
            Some(&bound),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "AUTH_FORBIDDEN", "{body}");
    // An unbound token presented with someone else's certificate: not its holder's either.
    let token = st.provider.token(CLIENT, SECRET).await?;
    let (status, body) = st
        .call(&st.pki.bob, reqwest::Method::GET, path, Some(&token), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "AUTH_FORBIDDEN", "{body}");
    Ok(())
}

/// Finding Medium 6, `DL_GATEWAY_CLIENT_CERT_MODE=optional`: a client without a certificate
/// is served (and authenticated by its token, deny by default; a certificate-bound token without
/// its certificate is refused), while a presented certificate is still validated (revoked:
/// refused in the handshake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_optional_mode_serves_token_callers_and_still_refuses_revoked_certificates(
) -> anyhow::Result<()> {
    let optional = [("DL_GATEWAY_CLIENT_CERT_MODE", "optional".to_string())];
    let st = Stack::start("gw-mtls-optional", false, &optional).await?;
    let get = reqwest::Method::GET;
    let (status, _) = st
        .call_with(None, get.clone(), "/openapi.json", None, None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    let path = "/v1/decisions/none";
    let (status, body) = st.call_with(None, get.clone(), path, None, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "AUTH_MISSING_TOKEN", "{body}");
    let bound = st.token_bound_to(&st.pki.alice).await?;
    let (status, body) = st.call_with(None, get, path, Some(&bound), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["error"]["code"], "AUTH_BOUND_TOKEN_UNSUPPORTED",
        "{body}"
    );
    let refused = st
        .raw(&st.pki.revoked)
        .await
        .expect_err("a revoked certificate was served");
    assert_eq!(
        alert(&refused),
        Some(AlertDescription::CertificateRevoked),
        "{refused}"
    );
    Ok(())
}

/// Finding Low (detached request signatures cannot work through the gateway): the gateway
/// composes the message the worker verifies a `dl-signature` over, so it refuses the header
/// (400 `SIGNATURE_NOT_SUPPORTED`) and produces nothing. The old gateway forwarded it with a
/// message the caller never signed: the worker rejected the request `AUTH_BAD_SIGNATURE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_signature_through_the_gateway_is_refused_not_forwarded() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::new("gw-signature", 1).await?;
    let auth_path = s.dir().join("auth.json");
    std::fs::write(&auth_path, serde_json::to_vec(&provider.worker_config())?)?;
    let (_gateway, port) = s.gateway(
        "plain",
        &[("DL_AUTH_CONFIG", auth_path.display().to_string())],
    )?;
    let api = dl_e2e::gateway::Api::on_port(port).await?;
    let token = provider.token(CLIENT, SECRET).await?;
    let resp = api
        .http
        .post(format!("{}/v1/decisions?wait=false", api.base))
        .bearer_auth(&token)
        .header("dl-signature", "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0..c2ln")
        .json(
            &json!({"function_id": "guarded_loan", "request_id": "signed-1",
                      "input": serde_json::from_str::<Value>(A_LOAN)?}),
        )
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "SIGNATURE_NOT_SUPPORTED", "{body}");
    let produced =
        tokio::task::block_in_place(|| s.read(&s.requests, 1, std::time::Duration::from_secs(5)))?;
    assert!(produced.is_empty(), "{} produced", produced.len());
    Ok(())
}
