//! A private `redis-server` for the tests that cut Redis (the replay store): its own port, no
//! persistence, killed on drop. Never the shared stack's Redis.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// A private redis-server on a fixed free port, without persistence; killed on drop.
pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> anyhow::Result<Redis> {
        let mut r = Redis {
            port: crate::free_port(),
            child: None,
        };
        r.restart()?;
        Ok(r)
    }

    /// Its URL (`REDIS_URL`).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port and waits until it answers. A restarted Redis is empty.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("redis-server is missing: scripts/stack.sh install provides it")?;
        self.child = Some(child);
        crate::eventually_blocking(
            Duration::from_secs(20),
            &format!("redis-server on port {}", self.port),
            || self.cli(&["PING"]).is_ok_and(|o| o == "PONG"),
        )
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `redis-cli` against it; returns its standard output, trimmed.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
