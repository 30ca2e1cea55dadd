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
