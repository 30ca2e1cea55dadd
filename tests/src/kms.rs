//! A private AWS KMS API server (moto, started by `scripts/kms/start.sh`) for the tests that sign
//! with KMS or cut it; killed (its process group) on drop.

use std::path::Path;
use std::process::Command;

use crate::repo;

/// A running moto server.
pub struct Moto {
    pid: i32,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pid)])
            .status();
    }
}

/// Installs moto if needed (`scripts/kms/install.sh moto`) and starts one on a free port with
/// its state under `dir`.
pub fn start_moto(dir: &Path) -> anyhow::Result<Moto> {
    let status = Command::new(repo().join("scripts/kms/install.sh"))
        .arg("moto")
        .status()?;
    anyhow::ensure!(status.success(), "scripts/kms/install.sh moto failed");
    let port = crate::free_port();
    let out = Command::new(repo().join("scripts/kms/start.sh"))
        .args(["moto", &port.to_string(), &dir.display().to_string()])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "scripts/kms/start.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = std::fs::read_to_string(dir.join("kms.pid"))?
        .trim()
        .parse()?;
    Ok(Moto { pid, port })
}

impl Moto {
    /// An administrator's configuration of key `key_id` on this server (region us-east-1,
    /// static test credentials).
    pub fn admin_config(&self, key_id: &str) -> dl_signer::KmsConfig {
        let mut cfg = dl_signer::KmsConfig::new(key_id);
        cfg.endpoint = Some(format!("http://127.0.0.1:{}", self.port));
        cfg.region = Some("us-east-1".into());
        cfg.static_credentials = Some(("test".into(), "test".into()));
        cfg
    }

    /// Creates a signing key and points `alias` at it; returns the key's ARN.
    pub async fn create_certifier(&self, alias: &str, description: &str) -> anyhow::Result<String> {
        let client = dl_signer::kms_client(&self.admin_config(alias)).await;
        let arn = dl_signer::admin::create_signing_key(&client, description).await?;
        dl_signer::admin::point_alias(&client, alias, &arn).await?;
        Ok(arn)
    }
}

/// The environment of a service that signs with (or verifies against) the KMS key `alias` at
/// `endpoint` (the server or a [`crate::proxy::Proxy`] in front of it), with short timeouts and
/// breaker cool-down so that an outage shows quickly.
pub fn signer_env(alias: &str, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DL_SIGNER", "kms".into()),
        ("DL_KMS_KEY_ID", alias.into()),
        ("DL_KMS_ENDPOINT", endpoint.into()),
        ("DL_KMS_MESSAGE_TYPE", "raw".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("DL_KMS_TIMEOUT_MS", "500".into()),
        ("DL_KMS_MAX_ATTEMPTS", "2".into()),
        ("DL_KMS_BREAKER_COOLDOWN_MS", "500".into()),
    ]
}

/// Worker settings for a KMS outage test: keys valid 14 s, rotated after 4 s (an outage of up
/// to 10 s is ridden out), a checkpoint every 300 ms.
pub const SHORT_LIVED_KEYS: [(&str, &str); 3] = [
    ("DL_KEY_VALIDITY_SECS", "14"),
    ("DL_KEY_ROTATE_AFTER_SECS", "4"),
    ("DL_CHECKPOINT_EVERY_MS", "300"),
];
