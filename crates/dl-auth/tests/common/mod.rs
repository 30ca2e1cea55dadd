//! Test harness: starts the real OIDC provider (`scripts/oidc/provider.mjs`, oidc-provider 9.13.3)
//! on free loopback ports, waits for its discovery document, and kills it on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dl_auth::{AuthConfig, IssuerConfig};
use serde_json::{json, Value};

pub const AUDIENCE: &str = "urn:dl:decision-layer";
pub const CLIENT: &str = "dl-test-client";
pub const SECRET: &str = "dl-test-secret";

pub fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oidc")
}

static INSTALL: Once = Once::new();

/// Runs `scripts/oidc/install.sh` (npm ci from the lock file) once per test process.
fn ensure_installed() {
    INSTALL.call_once(|| {
        let status = Command::new("bash")
            .arg(oidc_dir().join("install.sh"))
            .status()
            .expect("run scripts/oidc/install.sh");
        assert!(status.success(), "scripts/oidc/install.sh failed");
    });
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// A running provider process.
pub struct Provider {
    child: Child,
    pub issuer: String,
    pub admin: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    pub async fn start() -> Provider {
        Self::start_with_env(&[]).await
    }

    /// Starts the provider with extra environment variables (e.g. `DL_OIDC_EXTRA_JWKS`).
    pub async fn start_with_env(env: &[(&str, String)]) -> Provider {
        ensure_installed();
        let mut cmd = Command::new("node");
        cmd.arg(oidc_dir().join("provider.mjs"))
            .args(["--port", "0", "--admin-port", "0"])
            .current_dir(oidc_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn node scripts/oidc/provider.mjs");
        let stdout = child.stdout.take().unwrap();
        // The script prints one READY line with its URLs once both listeners are up.
        let line = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return None;
                }
                if let Some(rest) = line.strip_prefix("DL_OIDC_READY ") {
                    return Some(rest.trim().to_string());
                }
            }
        })
        .await
        .unwrap()
        .expect("provider exited before it was ready");
        let ready: Value = serde_json::from_str(&line).unwrap();
        let p = Provider {
            child,
            issuer: ready["issuer"].as_str().unwrap().to_string(),
            admin: ready["admin"].as_str().unwrap().to_string(),
            http: reqwest::Client::new(),
        };
        // Wait for discovery to answer (bounded number of attempts).
        for _ in 0..200 {
            if let Ok(r) = p.http.get(p.discovery_url()).send().await {
                if r.status().is_success() {
                    return p;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("provider discovery never answered");
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// Verifier config trusting this provider (http allowed, loopback).
    pub fn config(&self) -> AuthConfig {
        let mut iss = IssuerConfig::new(
            &self.issuer,
            self.discovery_url(),
            vec![AUDIENCE.to_string()],
            vec!["ES256".to_string()],
        );
        iss.token_types = Some(vec!["at+jwt".into()]);
        let mut cfg = AuthConfig::new(vec![iss]);
        cfg.allow_insecure_http = true;
        cfg
    }

    /// A real access token (client_credentials grant).
    pub async fn token(&self, client: &str, secret: &str, scope: &str) -> String {
        let r: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {r}"))
            .to_string()
    }

    pub async fn default_token(&self) -> String {
        self.token(CLIENT, SECRET, "decisions:submit").await
    }

    /// A token crafted by the provider's admin endpoint with its current signing key
    /// (`rogue`: a throwaway key instead). Header members set to null are removed.
    pub async fn sign(&self, header: Value, payload: Value, rogue: bool) -> String {
        let r: Value = self
            .http
            .post(format!("{}/admin/sign", self.admin))
            .json(&json!({"header": header, "payload": payload, "key": if rogue {"rogue"} else {"current"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_string()
    }

    /// Claims like the provider's own tokens, valid now.
    pub fn claims(&self) -> Value {
        let n = now();
        json!({
            "iss": self.issuer, "sub": CLIENT, "aud": AUDIENCE, "client_id": CLIENT,
            "scope": "decisions:submit", "iat": n, "exp": n + 300, "jti": "crafted-1"
        })
    }

    /// Rotates the provider's signing key; returns the new kid.
    pub async fn rotate(&self, retire_old: bool) -> String {
        let r: Value = self
            .http
            .post(format!("{}/admin/rotate", self.admin))
            .json(&json!({"retire_old": retire_old}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["kid"].as_str().unwrap().to_string()
    }
}

pub fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// The `kid` of a compact JWS.
pub fn kid_of(token: &str) -> String {
    let h: Value = serde_json::from_slice(&unb64(token.split('.').next().unwrap())).unwrap();
    h["kid"].as_str().unwrap().to_string()
}
