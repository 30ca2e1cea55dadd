//! The AWS KMS backend (`aws-sdk-kms`): ECC_NIST_P256 keys, ECDSA_SHA_256, `MessageType::Digest`
//! by default, key ids and aliases, per-attempt timeouts, bounded retries with exponential
//! backoff and full jitter, and a circuit breaker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use sha2::{Digest, Sha256};

use crate::crypto::{b64url, Algorithm, PublicKey};
use crate::error::SignerError;
use crate::resilience::{BreakerConfig, BreakerState, CircuitBreaker, RetryPolicy};
use crate::signer::KeyInfo;

/// Largest message KMS accepts with `MessageType::Raw`.
pub const KMS_RAW_MESSAGE_LIMIT: usize = 4096;

/// What is sent to KMS `Sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsMessageType {
    /// SHA-256 is computed locally and sent with `MessageType=DIGEST` (any message size; the
    /// message never leaves the process). The default, and what AWS and LocalStack implement.
    Digest,
    /// The message itself is sent with `MessageType=RAW` and KMS hashes it (at most 4096 bytes).
    /// The signature is the same ECDSA over SHA-256(message). Needed for moto, which ignores
    /// `MessageType=DIGEST` (it hashes the digest again, so its signatures would not verify).
    Raw,
}

impl KmsMessageType {
    /// Parses `digest` or `raw` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "digest" => Some(Self::Digest),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }
}

/// Configuration of the KMS backend.
#[derive(Clone)]
pub struct KmsConfig {
    /// Key id, key ARN, alias name (`alias/...`) or alias ARN of an ECC_NIST_P256 SIGN_VERIFY key.
    pub key_id: String,
    /// Endpoint URL override (LocalStack, moto, a VPC endpoint); `None` for AWS's.
    pub endpoint: Option<String>,
    /// Region; `None` for the AWS default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Static credentials `(access key id, secret)`; `None` for the AWS default chain.
    pub static_credentials: Option<(String, String)>,
    /// Digest (default) or raw messages.
    pub message_type: KmsMessageType,
    /// Timeouts and retries.
    pub retry: RetryPolicy,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
    /// How long the key an alias resolves to is trusted before `GetPublicKey` asks again (an alias
    /// moved to a new key is picked up after at most this long).
    pub key_refresh: Duration,
}

impl std::fmt::Debug for KmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsConfig")
            .field("key_id", &self.key_id)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field(
                "static_credentials",
                &self
                    .static_credentials
                    .as_ref()
                    .map(|(id, _)| (id, "<redacted>")),
            )
            .field("message_type", &self.message_type)
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("key_refresh", &self.key_refresh)
            .finish()
    }
}

impl KmsConfig {
    /// Defaults for `key_id`: digest messages, default retries and breaker, 5 min key refresh.
    pub fn new(key_id: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            endpoint: None,
            region: None,
            static_credentials: None,
            message_type: KmsMessageType::Digest,
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            key_refresh: Duration::from_secs(300),
        }
    }
}

/// Builds an `aws-sdk-kms` client for `cfg`: rustls with the ring provider, SDK retries disabled
/// (this crate retries itself), connect and attempt timeouts from `cfg.retry.call_timeout`.
pub async fn kms_client(cfg: &KmsConfig) -> aws_sdk_kms::Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(cfg.retry.call_timeout)
        .operation_attempt_timeout(cfg.retry.call_timeout)
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(timeouts);
    if let Some(region) = &cfg.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &cfg.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let Some((id, secret)) = &cfg.static_credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "dl-signer-static",
        ));
    }
    aws_sdk_kms::Client::new(&loader.load().await)
}

enum Failure {
    Rejected {
        code: String,
        message: String,
    },
    Transient {
        outcome: &'static str,
        message: String,
    },
}

const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "KMSInternalException",
    "KMSInternal",
    "InternalFailure",
    "ServiceUnavailable",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("Unknown").to_string();
            let message = se.err().message().unwrap_or("").to_string();
            if code.contains("Throttl") || code.contains("LimitExceeded") || status == 429 {
                Failure::Transient {
                    outcome: "throttled",
                    message: format!("{code}: {message}"),
                }
            } else if status >= 500 || TRANSIENT_CODES.contains(&code.as_str()) {
                Failure::Transient {
                    outcome: "error",
                    message: format!("{code} (HTTP {status}): {message}"),
                }
            } else {
                Failure::Rejected { code, message }
            }
        }
        SdkError::TimeoutError(_) => Failure::Transient {
            outcome: "timeout",
            message: "timeout".into(),
        },
        SdkError::ConstructionFailure(_) => Failure::Rejected {
            code: "ConstructionFailure".into(),
            message: DisplayErrorContext(err).to_string(),
        },
        _ => Failure::Transient {
            outcome: "error",
            message: DisplayErrorContext(err).to_string(),
        },
    }
}

/// Signer backed by an AWS KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256).
///
/// Every signature names the resolved key ARN (never the alias), so it stays verifiable after
/// the alias moves to a new key. Public keys are cached per key ARN forever (a KMS key's public
/// key never changes); the alias → key resolution is cached for `key_refresh`.
pub struct AwsKmsSigner {
    client: aws_sdk_kms::Client,
    cfg: KmsConfig,
    breaker: CircuitBreaker,
    current: Mutex<Option<(Arc<KeyInfo>, Instant)>>,
    public_keys: Mutex<HashMap<String, Arc<KeyInfo>>>,
}

impl std::fmt::Debug for AwsKmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsSigner")
            .field("cfg", &self.cfg)
            .field("breaker", &self.breaker.state())
            .finish()
    }
}

impl AwsKmsSigner {
    /// Builds the client for `cfg`. No request is sent until the first use.
    pub async fn connect(cfg: KmsConfig) -> Result<Self, SignerError> {
        let client = kms_client(&cfg).await;
        Self::with_client(client, cfg)
    }

    /// Uses an existing client (its own retry and timeout settings apply below this crate's).
    pub fn with_client(client: aws_sdk_kms::Client, cfg: KmsConfig) -> Result<Self, SignerError> {
        if cfg.key_id.trim().is_empty() {
            return Err(SignerError::Config(
                "KMS key id is empty (set DL_KMS_KEY_ID)".into(),
            ));
        }
        if cfg.retry.max_attempts == 0 {
            return Err(SignerError::Config(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        let breaker = CircuitBreaker::new(cfg.breaker.clone());
        Ok(Self {
            client,
            cfg,
            breaker,
            current: Mutex::new(None),
            public_keys: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KmsConfig {
        &self.cfg
    }

    /// The underlying client (for administration: creating keys, moving aliases).
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// The circuit breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Runs one KMS operation with admission control, per-attempt timeout, bounded retries with
    /// full-jitter backoff, metrics and breaker bookkeeping.
    async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        mut attempt_fn: F,
    ) -> Result<T, SignerError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let policy = &self.cfg.retry;
        let max = policy.max_attempts.max(1);
        let mut last = String::from("no attempt made");
        let mut attempts = 0;
        while attempts < max {
            if let Err(wait) = self.breaker.admit() {
                crate::metrics::kms_call(operation, "circuit_open");
                return Err(SignerError::Unavailable {
                    operation,
                    attempts,
                    circuit_open: true,
                    message: if attempts == 0 {
                        format!("circuit open, retry in {} ms", wait.as_millis())
                    } else {
                        last
                    },
                });
            }
            attempts += 1;
            let started = Instant::now();
            let result = tokio::time::timeout(policy.call_timeout, attempt_fn()).await;
            crate::metrics::kms_seconds(operation, started.elapsed().as_secs_f64());
            let (outcome, message) = match result {
                Ok(Ok(value)) => {
                    crate::metrics::kms_call(operation, "ok");
                    self.breaker.on_success();
                    return Ok(value);
                }
                Ok(Err(Failure::Rejected { code, message })) => {
                    crate::metrics::kms_call(operation, "rejected");
                    self.breaker.on_success();
                    return Err(SignerError::Rejected {
                        operation,
                        code,
                        message,
                    });
                }
                Ok(Err(Failure::Transient { outcome, message })) => (outcome, message),
                Err(_) => (
                    "timeout",
                    format!("no answer within {} ms", policy.call_timeout.as_millis()),
                ),
            };
            crate::metrics::kms_call(operation, outcome);
            self.breaker.on_failure();
            tracing::warn!(operation, attempt = attempts, outcome, error = %message, "KMS call failed");
            last = message;
            if attempts < max {
                tokio::time::sleep(policy.backoff(attempts)).await;
            }
        }
        Err(SignerError::Unavailable {
            operation,
            attempts,
            circuit_open: self.breaker.state() != BreakerState::Closed,
            message: last,
        })
    }

    async fn get_public_key(&self, key_id: &str) -> Result<Arc<KeyInfo>, SignerError> {
        let client = self.client.clone();
        let out = self
            .call("GetPublicKey", || {
                let client = client.clone();
                let key_id = key_id.to_string();
                async move {
                    client
                        .get_public_key()
                        .key_id(key_id)
                        .send()
                        .await
                        .map_err(|e| classify(&e))
                }
            })
            .await?;
        let mut arn = out.key_id().unwrap_or(key_id).to_string();
        if !arn.starts_with("arn:") {
            // AWS answers with the key ARN; some emulators (moto) with the bare key id. Resolve it,
            // so signatures always name the ARN.
            let client = self.client.clone();
            let described = self
                .call("DescribeKey", || {
                    let client = client.clone();
                    let key_id = arn.clone();
                    async move {
                        client
                            .describe_key()
                            .key_id(key_id)
                            .send()
                            .await
                            .map_err(|e| classify(&e))
                    }
                })
                .await?;
            if let Some(resolved) = described.key_metadata().and_then(|m| m.arn()) {
                arn = resolved.to_string();
            }
        }
        if let Some(spec) = out.key_spec() {
            if *spec != KeySpec::EccNistP256 {
                return Err(SignerError::Config(format!(
                    "KMS key {arn} has key spec {spec}, expected ECC_NIST_P256"
                )));
            }
        }
        if let Some(usage) = out.key_usage() {
            if *usage != KeyUsageType::SignVerify {
                return Err(SignerError::Config(format!(
                    "KMS key {arn} has key usage {usage}, expected SIGN_VERIFY"
                )));
            }
        }
        let der = out
            .public_key()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let parsed = PublicKey::from_spki_der(&der)
            .map_err(|e| SignerError::BadResponse(format!("GetPublicKey {arn}: {e}")))?;
        if parsed.algorithm() != Algorithm::EcdsaP256Sha256 {
            return Err(SignerError::BadResponse(format!(
                "GetPublicKey {arn}: not a P-256 key"
            )));
        }
        Ok(Arc::new(KeyInfo {
            key_id: arn,
            algorithm: Algorithm::EcdsaP256Sha256,
            public_key_spki: der,
        }))
    }

    /// The key the configured id or alias resolves to now (cached for `key_refresh`).
    pub async fn key_info(&self) -> Result<Arc<KeyInfo>, SignerError> {
        {
            let g = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((info, at)) = g.as_ref() {
                if at.elapsed() < self.cfg.key_refresh {
                    return Ok(info.clone());
                }
            }
        }
        let info = self.get_public_key(&self.cfg.key_id).await?;
        self.public_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(info.key_id.clone(), info.clone());
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((info.clone(), Instant::now()));
        Ok(info)
    }

    /// Forgets the alias resolution, so the next [`key_info`](Self::key_info) asks KMS again.
    pub fn refresh_key(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The public key of any KMS key the credentials may use (id, ARN or alias), named by the
    /// resolved key ARN, cached per key. Not a statement of trust: verifiers ask only for the
    /// keys their configuration lists (`DL_TRUSTED_CERTIFIERS`), never for a key a ledger record
    /// names.
    pub async fn public_key(&self, key_id: &str) -> Result<Arc<KeyInfo>, SignerError> {
        if let Some(info) = self
            .public_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key_id)
        {
            return Ok(info.clone());
        }
        let info = self.get_public_key(key_id).await?;
        let mut g = self.public_keys.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(key_id.to_string(), info.clone());
        g.insert(info.key_id.clone(), info.clone());
        Ok(info)
    }

    fn message_for_kms(&self, message: &[u8]) -> Result<(Vec<u8>, MessageType), SignerError> {
        match self.cfg.message_type {
            KmsMessageType::Digest => Ok((Sha256::digest(message).to_vec(), MessageType::Digest)),
            KmsMessageType::Raw if message.len() <= KMS_RAW_MESSAGE_LIMIT => Ok((message.to_vec(), MessageType::Raw)),
            KmsMessageType::Raw => Err(SignerError::InvalidInput(format!(
                "message of {} bytes exceeds the {KMS_RAW_MESSAGE_LIMIT}-byte limit of MessageType=RAW",
                message.len()
            ))),
        }
    }

    /// Signs `message` with `key` (which must come from [`key_info`](Self::key_info) or
    /// [`public_key`](Self::public_key)); the request names the key ARN, not the alias.
    pub async fn sign_with(
        &self,
        key: &KeyInfo,
        message: &[u8],
    ) -> Result<dl_schema::Signature, SignerError> {
        let (payload, message_type) = self.message_for_kms(message)?;
        let client = self.client.clone();
        let out = self
            .call("Sign", || {
                let client = client.clone();
                let key_id = key.key_id.clone();
                let payload = payload.clone();
                let message_type = message_type.clone();
                async move {
                    client
                        .sign()
                        .key_id(key_id)
                        .message(Blob::new(payload))
                        .message_type(message_type)
                        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                        .send()
                        .await
                        .map_err(|e| classify(&e))
                }
            })
            .await?;
        if let Some(signed_by) = out.key_id() {
            if signed_by != key.key_id {
                return Err(SignerError::BadResponse(format!(
                    "asked {} to sign, {signed_by} signed",
                    key.key_id
                )));
            }
        }
        let der = out
            .signature()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        if der.is_empty() {
            return Err(SignerError::BadResponse(
                "Sign returned no signature".into(),
            ));
        }
        Ok(dl_schema::Signature {
            algorithm: Algorithm::EcdsaP256Sha256.as_str().to_string(),
            key_id: key.key_id.clone(),
            value: b64url(&der),
        })
    }

    /// Asks KMS to verify (`Verify`), for cross-checking. A failed verification is `Ok(false)`
    /// in both shapes servers use: the `KMSInvalidSignatureException` error (AWS, LocalStack)
    /// and `SignatureValid=false` (moto).
    pub async fn verify_remote(
        &self,
        key_id: &str,
        message: &[u8],
        signature_der: &[u8],
    ) -> Result<bool, SignerError> {
        let (payload, message_type) = self.message_for_kms(message)?;
        let client = self.client.clone();
        self.call("Verify", || {
            let client = client.clone();
            let key_id = key_id.to_string();
            let payload = payload.clone();
            let message_type = message_type.clone();
            let signature = signature_der.to_vec();
            async move {
                match client
                    .verify()
                    .key_id(key_id)
                    .message(Blob::new(payload))
                    .message_type(message_type)
                    .signature(Blob::new(signature))
                    .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                    .send()
                    .await
                {
                    Ok(out) => Ok(out.signature_valid()),
                    Err(SdkError::ServiceError(se))
                        if se.err().is_kms_invalid_signature_exception() =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(classify(&e)),
                }
            }
        })
        .await
    }
}

/// Key administration used by tests, `dlctl` and operators. Not retried.
pub mod admin {
    use super::*;

    fn rejected<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        e: SdkError<E, HttpResponse>,
    ) -> SignerError {
        match classify(&e) {
            Failure::Rejected { code, message } => SignerError::Rejected {
                operation,
                code,
                message,
            },
            Failure::Transient { message, .. } => SignerError::Unavailable {
                operation,
                attempts: 1,
                circuit_open: false,
                message,
            },
        }
    }

    /// Creates an ECC_NIST_P256 SIGN_VERIFY key and returns its ARN.
    pub async fn create_signing_key(
        client: &aws_sdk_kms::Client,
        description: &str,
    ) -> Result<String, SignerError> {
        let out = client
            .create_key()
            .key_usage(KeyUsageType::SignVerify)
            .key_spec(KeySpec::EccNistP256)
            .description(description)
            .send()
            .await
            .map_err(|e| rejected("CreateKey", e))?;
        out.key_metadata()
            .and_then(|m| {
                m.arn()
                    .map(str::to_string)
                    .or_else(|| Some(m.key_id().to_string()))
            })
            .ok_or_else(|| SignerError::BadResponse("CreateKey returned no key metadata".into()))
    }

    /// Points `alias` (`alias/...`) at `key_id`: creates the alias, or moves it (rotation: a new
    /// key plus an alias update; old signatures stay verifiable with the old key's ARN).
    pub async fn point_alias(
        client: &aws_sdk_kms::Client,
        alias: &str,
        key_id: &str,
    ) -> Result<(), SignerError> {
        match client
            .create_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_already_exists_exception() => client
                .update_alias()
                .alias_name(alias)
                .target_key_id(key_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| rejected("UpdateAlias", e)),
            Err(e) => Err(rejected("CreateAlias", e)),
        }
    }
}
