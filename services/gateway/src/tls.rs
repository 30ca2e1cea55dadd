//! The API over TLS, optionally with client certificates (mTLS).
//!
//! TLS is rustls (ring provider) through `tokio-rustls`, already in the workspace through
//! dl-auth; axum serves the handshaken streams through its `Listener` trait. Client
//! certificates are validated in the handshake by dl-auth's verifier (chain to the configured
//! CA, CRLs, validity, `clientAuth` usage): a refused certificate never reaches HTTP; the client
//! receives the TLS alert (`certificate_revoked`, `unknown_ca`, ...) and the refusal is counted
//! in `dl_auth_failures_total{reason}` and logged with its code. The validated certificate of a
//! connection reaches the handlers as [`ClientCert`] (see `api::authenticate`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::{IncomingStream, Listener};
use dl_auth::mtls::{CertIdentity, ClientCertVerifierConfig, MtlsConfig};
use dl_auth::AuthError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes in progress at once (more wait to be accepted).
const MAX_HANDSHAKES: usize = 256;

/// Whether a client certificate is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientCertMode {
    /// Every connection presents a valid client certificate.
    Required,
    /// A client may connect without a certificate (and use a bearer token); a certificate it
    /// presents must be valid.
    Optional,
}

/// TLS settings of the API listener.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// CAs of client certificates (PEM); unset: no client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// CRLs of those CAs (PEM or DER).
    pub client_crl_files: Vec<PathBuf>,
    /// Whether a client certificate is required.
    pub mode: ClientCertMode,
}

/// The rustls server configuration of `settings`.
pub fn server_config(settings: &TlsSettings) -> anyhow::Result<rustls::ServerConfig> {
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let chain = CertificateDer::pem_slice_iter(&read(&settings.cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .context("DL_GATEWAY_TLS_CERT_FILE")?;
    let key = PrivateKeyDer::from_pem_slice(&read(&settings.key_file)?)
        .context("DL_GATEWAY_TLS_KEY_FILE")?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?;
    let builder = match &settings.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut client = ClientCertVerifierConfig::from_files(&MtlsConfig {
                ca_file: ca_file.clone(),
                crl_files: settings.client_crl_files.clone(),
                allow_unknown_revocation_status: false,
                only_end_entity_revocation: false,
                enforce_crl_expiry: true,
                require_client_auth_eku: true,
                cert_file: None,
                key_file: None,
            })
            .context("client certificate settings")?;
            client.client_cert_optional = settings.mode == ClientCertMode::Optional;
            builder.with_client_cert_verifier(
                client.verifier().context("client certificate settings")?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the server certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts TCP connections and hands out those whose TLS handshake succeeded. Handshakes run
/// concurrently (a slow client does not hold up the others) and are cut off after
/// [`HANDSHAKE_TIMEOUT`].
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = mpsc::channel(64);
        let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                    drop(permit);
                    match handshake {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => match dl_auth::mtls::classify_handshake_error(&e) {
                            // Counted in dl_auth_failures_total{reason} by the verifier.
                            Some(refused) => tracing::info!(
                                code = refused.code(),
                                reason = refused.reason(),
                                "client certificate refused in the TLS handshake"
                            ),
                            None => tracing::debug!(error = %e, "TLS handshake failed"),
                        },
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The client certificate of a connection, as validated in its handshake: `None` when none was
/// presented, else its identity (or why it carries none usable).
#[derive(Debug, Clone, Default)]
pub struct ClientCert(pub Option<Arc<Result<CertIdentity, AuthError>>>);

impl axum::extract::connect_info::Connected<IncomingStream<'_, TlsListener>> for ClientCert {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let certs = stream.io().get_ref().1.peer_certificates();
        ClientCert(certs.map(|c| Arc::new(dl_auth::mtls::identity_from_peer_certs(Some(c)))))
    }
}
