//! Starts and stops a real KMS-API server (moto or LocalStack) through `scripts/kms/`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use dl_signer::{BreakerConfig, KmsConfig, KmsMessageType, RetryPolicy};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Moto,
    LocalStack,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Moto => "moto",
            Kind::LocalStack => "localstack",
        }
    }
}

static INSTALL: Mutex<()> = Mutex::new(());

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn unique_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("dl-signer-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A running server; stopped (its process group killed) on drop.
pub struct KmsServer {
    pub kind: Kind,
    pub port: u16,
    pub dir: PathBuf,
    pub endpoint: String,
    pid: Option<i32>,
}

impl KmsServer {
    /// Installs (idempotent) and starts `kind` on a free port. `None`, with a printed notice,
    /// when LocalStack cannot be installed here (no Python 3.13).
    pub fn start(kind: Kind) -> Option<Self> {
        {
            let _g = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
            let status = Command::new(repo_root().join("scripts/kms/install.sh"))
                .arg(kind.name())
                .status()
                .expect("run scripts/kms/install.sh");
            assert!(
                status.success(),
                "scripts/kms/install.sh {} failed",
                kind.name()
            );
        }
        if kind == Kind::LocalStack {
            let stack = std::env::var("DL_STACK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo_root().join(".stack"));
            if !stack.join("localstack-venv/bin/python").exists() {
                eprintln!("NOTICE: LocalStack is not installed (no Python 3.13 interpreter): LocalStack variant skipped");
                return None;
            }
        }
        let mut server = Self {
            kind,
            port: free_port(),
            dir: unique_dir(kind.name()),
            endpoint: String::new(),
            pid: None,
        };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let out = Command::new(repo_root().join("scripts/kms/start.sh"))
            .args([
                self.kind.name(),
                &self.port.to_string(),
                &self.dir.display().to_string(),
            ])
            .output()
            .expect("run scripts/kms/start.sh");
        let pid = std::fs::read_to_string(self.dir.join("kms.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        self.pid = pid;
        assert!(
            out.status.success(),
            "start.sh {} failed: {}",
            self.kind.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        self.endpoint = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }

    /// Kills the server (its process group) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            for _ in 0..100 {
                let alive = Command::new("kill")
                    .args(["-0", &pid.to_string()])
                    .output()
                    .map(|o| o.status.success());
                if !matches!(alive, Ok(true)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts it again on the same port (state is lost: both servers keep keys in memory).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A signer configuration for `key_id` on this server, with short timeouts and backoff.
    pub fn config(&self, key_id: &str) -> KmsConfig {
        let mut cfg = KmsConfig::new(key_id);
        cfg.endpoint = Some(self.endpoint.clone());
        cfg.region = Some("us-east-1".into());
        cfg.static_credentials = Some(("test".into(), "test".into()));
        // moto ignores MessageType=DIGEST (see KmsMessageType::Raw); LocalStack honours it.
        cfg.message_type = match self.kind {
            Kind::Moto => KmsMessageType::Raw,
            Kind::LocalStack => KmsMessageType::Digest,
        };
        cfg.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            // LocalStack loads its KMS provider on the first KMS call, which took longer than
            // 5 s on a loaded two-core machine (CreateKey timed out); moto answers at once.
            call_timeout: match self.kind {
                Kind::Moto => Duration::from_secs(5),
                Kind::LocalStack => Duration::from_secs(60),
            },
        };
        cfg.breaker = BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_millis(300),
        };
        cfg
    }
}

impl Drop for KmsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
