//! The local OIDC provider (`scripts/oidc/provider.mjs`, a real `oidc-provider`) for the
//! authentication tests: started on free loopback ports, killed on drop. Same protocol as
//! `crates/dl-auth/tests/common/mod.rs`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Audience of the provider's access tokens.
pub const AUDIENCE: &str = "urn:dl:decision-layer";
/// Client allowed by the `guarded_loan` fixture.
pub const CLIENT: &str = "dl-test-client";
/// Its secret.
pub const SECRET: &str = "dl-test-secret";
/// A second client (not on the fixture's allow list).
pub const OTHER_CLIENT: &str = "dl-auditor-client";
/// Its secret.
pub const OTHER_SECRET: &str = "dl-auditor-secret";

fn oidc_dir() -> PathBuf {
    crate::repo().join("scripts/oidc")
}

static INSTALL: Once = Once::new();

/// A running provider process.
pub struct Provider {
    child: Child,
    /// Issuer URL.
    pub issuer: String,
    /// Admin listener URL.
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
    /// Installs the npm dependencies once (`scripts/oidc/install.sh`), starts the provider and
    /// waits until its discovery document answers.
    pub async fn start() -> anyhow::Result<Provider> {
        INSTALL.call_once(|| {
            let status = Command::new("bash")
                .arg(oidc_dir().join("install.sh"))
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "scripts/oidc/install.sh failed"
            );
        });
        let mut child = Command::new("node")
            .arg(oidc_dir().join("provider.mjs"))
            .args(["--port", "0", "--admin-port", "0"])
            .current_dir(oidc_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning node scripts/oidc/provider.mjs")?;
        let stdout = child.stdout.take().context("stdout")?;
        let reading = tokio::task::spawn_blocking(move || {
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
        });
        // A provider that neither becomes ready nor exits is killed, which ends the reading.
        let line = match tokio::time::timeout(Duration::from_secs(60), reading).await {
            Ok(line) => line?.context("the OIDC provider exited before it was ready")?,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the OIDC provider was not ready within 60 s");
            }
        };
        let ready: Value = serde_json::from_str(&line)?;
        let p = Provider {
            child,
            issuer: ready["issuer"].as_str().context("issuer")?.to_string(),
            admin: ready["admin"].as_str().context("admin")?.to_string(),
            http: reqwest::Client::new(),
        };
        crate::eventually(
            Duration::from_secs(30),
            "the OIDC provider's discovery answers",
            || async {
                p.http
                    .get(p.discovery_url())
                    .send()
                    .await?
                    .error_for_status()
            },
        )
        .await?;
        Ok(p)
    }

    /// Its discovery URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// A worker auth config (`DL_AUTH_CONFIG`, JSON) trusting this provider.
    pub fn worker_config(&self) -> Value {
        json!({
            "auth": {
                "allow_insecure_http": true,
                "issuers": [{
                    "issuer": self.issuer,
                    "discovery_url": self.discovery_url(),
                    "audiences": [AUDIENCE],
                    "algorithms": ["ES256"],
                    "token_types": ["at+jwt"],
                }],
            }
        })
    }

    /// A real access token (client_credentials grant).
    pub async fn token(&self, client: &str, secret: &str) -> anyhow::Result<String> {
        let r: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "decisions:submit"),
            ])
            .send()
            .await?
            .json()
            .await?;
        Ok(r["access_token"]
            .as_str()
            .with_context(|| format!("no access token: {r}"))?
            .to_string())
    }

    /// A token crafted by the provider's admin endpoint with its current signing key (`rogue`:
    /// a throwaway key). Header members set to null are removed.
    pub async fn sign(&self, header: Value, payload: Value, rogue: bool) -> anyhow::Result<String> {
        let r: Value = self
            .http
            .post(format!("{}/admin/sign", self.admin))
            .json(&json!({"header": header, "payload": payload, "key": if rogue {"rogue"} else {"current"}}))
            .send()
            .await?
            .json()
            .await?;
        Ok(r["token"].as_str().context("no token")?.to_string())
    }

    /// Like [`Provider::sign`] with the current signing key, and with the JWS critical header
    /// extensions named in `crit` (`{"name": true}`) accepted by the signer, so `header` may list
    /// them in `crit` (a verifier that does not implement them must refuse the token).
    pub async fn sign_critical(
        &self,
        header: Value,
        payload: Value,
        crit: Value,
    ) -> anyhow::Result<String> {
        let r: Value = self
            .http
            .post(format!("{}/admin/sign", self.admin))
            .json(&json!({"header": header, "payload": payload, "key": "current", "crit": crit}))
            .send()
            .await?
            .json()
            .await?;
        Ok(r["token"]
            .as_str()
            .with_context(|| format!("no token: {r}"))?
            .to_string())
    }

    /// How many `GET /jwks` the provider answered since it started (its admin health).
    pub async fn jwks_requests(&self) -> anyhow::Result<u64> {
        let r: Value = self
            .http
            .get(format!("{}/admin/health", self.admin))
            .send()
            .await?
            .json()
            .await?;
        r["jwks_requests"]
            .as_u64()
            .with_context(|| format!("no jwks_requests in {r}"))
    }

    /// The provider's published JWKS (`jwks_uri` of its discovery document).
    pub async fn jwks(&self) -> anyhow::Result<Value> {
        let discovery: Value = self
            .http
            .get(self.discovery_url())
            .send()
            .await?
            .json()
            .await?;
        let uri = discovery["jwks_uri"].as_str().context("no jwks_uri")?;
        Ok(self.http.get(uri).send().await?.json().await?)
    }

    /// Claims like the provider's own tokens, valid now.
    pub fn claims(&self) -> Value {
        let n = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer, "sub": CLIENT, "aud": AUDIENCE, "client_id": CLIENT,
            "scope": "decisions:submit", "iat": n, "exp": n + 300, "jti": "crafted-1"
        })
    }
}

/// `Bearer <token>` header bytes.
pub fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}
