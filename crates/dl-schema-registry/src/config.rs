//! Registry settings from the environment.

use std::path::PathBuf;
use std::time::Duration;

use crate::RegistryError;

/// How to reach the Schema Registry.
#[derive(Clone)]
pub struct RegistryConfig {
    /// Base URL, e.g. `https://registry.example:8081`.
    pub url: String,
    /// Basic-auth user and password (Confluent's `basic.auth.user.info` = `user:password`).
    pub basic_auth: Option<(String, String)>,
    /// PEM file of CA certificates to trust in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM file with a client certificate chain and its private key (mutual TLS).
    pub client_identity_file: Option<PathBuf>,
    /// Largest number of schema ids held in the cache.
    pub cache_capacity: usize,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Attempts per operation when the registry is unreachable or answers 5xx.
    pub attempts: u32,
}

impl std::fmt::Debug for RegistryConfig {
    // The password is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("basic_auth_user", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field("ca_file", &self.ca_file)
            .field("client_identity_file", &self.client_identity_file)
            .field("cache_capacity", &self.cache_capacity)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl RegistryConfig {
    /// A configuration with defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            basic_auth: None,
            ca_file: None,
            client_identity_file: None,
            cache_capacity: 1_000,
            timeout: Duration::from_secs(5),
            attempts: 4,
        }
    }

    /// Reads `DL_SCHEMA_REGISTRY_URL` (none: `Ok(None)`, no registry configured),
    /// `DL_SCHEMA_REGISTRY_BASIC_AUTH` (`user:password`), `DL_SCHEMA_REGISTRY_CA_FILE`,
    /// `DL_SCHEMA_REGISTRY_CLIENT_IDENTITY_FILE` and `DL_SCHEMA_REGISTRY_CACHE_CAPACITY`.
    pub fn from_env() -> Result<Option<Self>, RegistryError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = var("DL_SCHEMA_REGISTRY_URL") else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RegistryError::Config(
                "DL_SCHEMA_REGISTRY_URL must start with http:// or https://".into(),
            ));
        }
        let mut cfg = Self::new(url);
        if let Some(info) = var("DL_SCHEMA_REGISTRY_BASIC_AUTH") {
            let (user, password) = info.split_once(':').ok_or_else(|| {
                RegistryError::Config("DL_SCHEMA_REGISTRY_BASIC_AUTH must be user:password".into())
            })?;
            cfg.basic_auth = Some((user.to_owned(), password.to_owned()));
        }
        cfg.ca_file = var("DL_SCHEMA_REGISTRY_CA_FILE").map(PathBuf::from);
        cfg.client_identity_file =
            var("DL_SCHEMA_REGISTRY_CLIENT_IDENTITY_FILE").map(PathBuf::from);
        if let Some(n) = var("DL_SCHEMA_REGISTRY_CACHE_CAPACITY") {
            cfg.cache_capacity = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                RegistryError::Config(
                    "DL_SCHEMA_REGISTRY_CACHE_CAPACITY must be a positive integer".into(),
                )
            })?;
        }
        Ok(Some(cfg))
    }
}
