//! Harness of the end-to-end tests: a scenario gets its own topics, consumer groups and
//! database on the shared local stack, and runs the real service binaries as processes.
//!
//! Needs `scripts/stack.sh up` (DL_BROKERS, DATABASE_URL) and the binaries built
//! (`cargo build --workspace --bins`); `.ci/run` does both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dl_kafka::{TopicSpec, Topology};
use dl_schema::DecisionRequest;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

pub mod faults;
pub mod gateway;
pub mod instances;
pub mod kms;
pub mod llm;
pub mod monitoring;
pub mod oidc;
pub mod proxy;
pub mod redis;

/// Root of the repository.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `scripts/stack.sh up && . .stack/env` (or scripts/test.sh)")
    })
}

/// What one attempt of [`eventually`] returns: `Ok`, `Some` or `true` ends the wait with its
/// value; `Err`, `None` or `false` means "not yet".
pub trait Attempt {
    /// The value a successful attempt gives.
    type Output;
    /// The value, or why the attempt did not succeed (kept for the timeout's message).
    fn into_result(self) -> Result<Self::Output, String>;
}

impl<T, E: std::fmt::Display> Attempt for Result<T, E> {
    type Output = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:#}"))
    }
}

impl<T> Attempt for Option<T> {
    type Output = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_string())
    }
}

impl Attempt for bool {
    type Output = ();
    fn into_result(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    }
}

/// Pause between two attempts of [`eventually`].
const POLL_EVERY: Duration = Duration::from_millis(200);

/// Polls `attempt` until it succeeds and returns its value; once `within` has passed without
/// success, fails naming `what` and the last attempt's error. The deadline is a bound on a hung
/// test, not a measurement: it is far above what the awaited step needs on a loaded machine.
/// Every polling wait of the end-to-end tests goes through this (or [`eventually_blocking`]).
pub async fn eventually<A, F, Fut>(
    within: Duration,
    what: &str,
    mut attempt: F,
) -> anyhow::Result<A::Output>
where
    A: Attempt,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = A>,
{
    let deadline = Instant::now() + within;
    loop {
        match attempt().await.into_result() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= deadline => {
                bail!("{what}: not within {within:?}; last attempt: {last}")
            }
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// [`eventually`] for a blocking `attempt` (sleeps the thread between attempts).
pub fn eventually_blocking<A: Attempt>(
    within: Duration,
    what: &str,
    mut attempt: impl FnMut() -> A,
) -> anyhow::Result<A::Output> {
    let deadline = Instant::now() + within;
    loop {
        match attempt().into_result() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= deadline => {
                bail!("{what}: not within {within:?}; last attempt: {last}")
            }
            Err(_) => std::thread::sleep(POLL_EVERY),
        }
    }
}

/// A built service binary.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("DL_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo().join("target"));
            target.join("debug")
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A message read back from a topic.
#[derive(Debug, Clone)]
pub struct Read {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes.
    pub payload: Vec<u8>,
    /// Headers as text.
    pub headers: BTreeMap<String, String>,
}

/// A running service process, killed when dropped.
pub struct Service {
    child: Child,
    /// Log file.
    pub log: PathBuf,
    /// Port of its /metrics, /healthz, /readyz.
    pub metrics_port: u16,
}

/// A free TCP port on 127.0.0.1, never one this process handed out before: the kernel may give
/// a just-released port again, and two services of one scenario (say a gateway's API and its
/// metrics) would then collide when they bind.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if port == 0 || handed_out.insert(port) {
            return port;
        }
    }
}

/// `GET path` on 127.0.0.1:port; returns (status code, body).
pub fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs `promtool check metrics` on an exposition; returns promtool's complaints, if any.
pub fn promtool_check(exposition: &str) -> anyhow::Result<Option<String>> {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("promtool is missing: scripts/stack.sh install provides it")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(exposition.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok((!out.status.success()).then(|| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }))
}

impl Service {
    /// Waits until its `/readyz` answers 200. A stream is not ready until it holds its
    /// assignment, so after a restart or a rebalance (another replica killed) readiness comes
    /// back only once the group has settled (ADR 0020): assert readiness through this, not with
    /// one request.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let port = self.metrics_port;
        eventually(Duration::from_secs(90), "/readyz 200", || async move {
            match http_get(port, "/readyz") {
                Ok((200, _)) => Ok(()),
                Ok((code, body)) => Err(anyhow::anyhow!("{code}: {body}")),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// SIGKILL, like a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its process id (for signals such as SIGSTOP/SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Approver id of the owner role in every scenario's approvers file.
pub const OWNER: &str = "e2e-owner";
/// Approver id of the reviewer role in every scenario's approvers file.
pub const REVIEWER: &str = "e2e-reviewer";

/// Tenants every scenario's approvers file has people for (docs/tenancy.md): approvers
/// `<tenant>-owner` and `<tenant>-reviewer`, author `<tenant>-author` ([`Scenario::release_for`]).
pub const TENANTS: [&str; 2] = ["kela", "bank"];

/// Writes `<id>.pem` private keys for [`OWNER`] and [`REVIEWER`] (and each of [`TENANTS`]'
/// approvers) and the `approvers.yaml` with their public keys into `dir`; returns the file.
fn write_approver_keys(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut yaml = String::from("approvers:\n");
    let mut people = vec![
        (OWNER.to_string(), "owner", None),
        (REVIEWER.to_string(), "reviewer", None),
    ];
    for t in TENANTS {
        people.push((format!("{t}-owner"), "owner", Some(t)));
        people.push((format!("{t}-reviewer"), "reviewer", Some(t)));
    }
    for (id, role, tenant) in people {
        let key = dl_registry::generate_key();
        std::fs::write(
            dir.join(format!("{id}.pem")),
            dl_registry::private_key_pem(&key)?,
        )?;
        let public = dl_registry::public_key_pem(&key.verifying_key())?;
        yaml.push_str(&format!("  - id: {id}\n    roles: [{role}]\n"));
        if let Some(t) = tenant {
            yaml.push_str(&format!("    tenant: {t}\n"));
        }
        yaml.push_str(&format!(
            "    keys:\n      - key_id: {id}-1\n        public_key: |\n"
        ));
        for line in public.lines() {
            yaml.push_str(&format!("          {line}\n"));
        }
    }
    yaml.push_str("authors:\n");
    for t in TENANTS {
        yaml.push_str(&format!("  - id: {t}-author\n    tenant: {t}\n"));
    }
    let path = dir.join("approvers.yaml");
    std::fs::write(&path, yaml)?;
    Ok(path)
}

/// `pkg` as tenant `tenant`'s function: the manifest's `id: <id>` becomes `id: <tenant>/<id>`.
pub fn of_tenant(
    pkg: &dl_function::FunctionPackage,
    tenant: &str,
) -> anyhow::Result<dl_function::FunctionPackage> {
    let mut files = pkg.files().clone();
    let manifest = String::from_utf8(files["function.yaml"].clone())?;
    let id = &pkg.manifest().id;
    let renamed = manifest.replacen(&format!("id: {id}\n"), &format!("id: {tenant}/{id}\n"), 1);
    anyhow::ensure!(
        renamed != manifest,
        "{id}: no `id: {id}` line in function.yaml"
    );
    files.insert("function.yaml".into(), renamed.into_bytes());
    Ok(dl_function::FunctionPackage::from_files(
        Path::new(&format!("{tenant}/{id}")),
        files,
    )?)
}

/// The broker and PostgreSQL a [`Scenario`] runs on: the shared stack's (from `.stack/env`), or
/// private instances a test started (a broker behind a proxy, a PostgreSQL it restarts).
#[derive(Debug, Clone)]
pub struct Backends {
    /// Broker list.
    pub brokers: String,
    /// URL of a database the scenario's own database is created from (`CREATE DATABASE`).
    pub admin_database_url: String,
}

impl Backends {
    /// The shared stack's (`DL_BROKERS`, `DATABASE_URL`).
    pub fn from_env() -> Self {
        Self {
            brokers: required_env("DL_BROKERS"),
            admin_database_url: required_env("DATABASE_URL"),
        }
    }
}

/// One isolated scenario on the shared stack.
pub struct Scenario {
    /// Short unique id.
    pub id: String,
    /// Broker list.
    pub brokers: String,
    /// Requests topic.
    pub requests: String,
    /// Results topic.
    pub results: String,
    /// Ledger topic.
    pub ledger: String,
    /// Dead-letter topic.
    pub dlq: String,
    /// Registry topic (one partition) the workers follow.
    pub registry: String,
    /// Explanation views topic (compacted).
    pub views: String,
    /// Shadow evaluations topic (ADR 0032).
    pub shadow: String,
    /// Approvers file with this scenario's owner and reviewer keys ([`OWNER`], [`REVIEWER`]).
    pub approvers_file: PathBuf,
    /// The local signer key file (P-256) of this scenario: it certifies the workers' keys and
    /// signs checkpoints (`DL_SIGNER=local`).
    pub signer_key_file: PathBuf,
    /// This scenario's database URL.
    pub database_url: String,
    logs: PathBuf,
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl Scenario {
    /// Creates the topics (`partitions` each) and a fresh database with migrations applied by
    /// the projector when it starts.
    pub async fn new(name: &str, partitions: i32) -> anyhow::Result<Self> {
        Self::new_on(name, partitions, Backends::from_env()).await
    }

    /// [`Scenario::new`] on the given broker and PostgreSQL.
    pub async fn new_on(name: &str, partitions: i32, on: Backends) -> anyhow::Result<Self> {
        let Backends {
            brokers,
            admin_database_url: admin_url,
        } = on;
        let id = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let topic = |t: &str| format!("e2e.{id}.{t}");
        let (requests, results, ledger, dlq) = (
            topic("decision.requests"),
            topic("decision.results"),
            topic("decision.ledger"),
            topic("decision.dlq"),
        );
        let registry = topic("registry.events");
        let views = topic("explain.views");
        let shadow = topic("decision.shadow");
        let topology = Topology {
            topics: [
                &requests, &results, &ledger, &dlq, &registry, &views, &shadow,
            ]
            .iter()
            .map(|n| TopicSpec {
                name: n.to_string(),
                partitions: if **n == registry { 1 } else { partitions },
                replication_factor: 1,
                config: if **n == views {
                    [("cleanup.policy".to_string(), "compact".to_string())].into()
                } else {
                    Default::default()
                },
                value_schema: None,
            })
            .collect(),
            consumer_groups: vec![],
        };
        topology
            .apply(&dl_kafka::client_config(&brokers))
            .await
            .context("creating topics")?;
        let db = format!("e2e_{}", id.replace('-', "_"));
        let pool = sqlx::PgPool::connect(&admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&pool)
            .await?;
        let database_url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{db}"),
            None => bail!("DATABASE_URL has no database part"),
        };
        let logs = repo().join("target").join("e2e-logs").join(&id);
        std::fs::create_dir_all(&logs)?;
        let approvers_file = write_approver_keys(&logs)?;
        let signer_key_file = logs.join("signer").join("signing-key.pem");
        dl_signer::LocalKeyFile::open_or_create(
            &signer_key_file,
            dl_signer::Algorithm::EcdsaP256Sha256,
        )?;
        let producer = dl_kafka::client_config(&brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .create()?;
        Ok(Self {
            id,
            brokers,
            requests,
            results,
            ledger,
            dlq,
            registry,
            views,
            shadow,
            approvers_file,
            signer_key_file,
            database_url,
            logs,
            producer,
        })
    }

    /// [`Scenario::new`], then every package under `examples/` and `tests/fixtures/functions/`
    /// released through this scenario's registry (published, approved by owner and reviewer,
    /// activated), as the workers need.
    pub async fn with_examples(name: &str, partitions: i32) -> anyhow::Result<Self> {
        Self::with_examples_on(name, partitions, Backends::from_env()).await
    }

    /// [`Scenario::with_examples`] on the given broker and PostgreSQL.
    pub async fn with_examples_on(
        name: &str,
        partitions: i32,
        on: Backends,
    ) -> anyhow::Result<Self> {
        let s = Self::new_on(name, partitions, on).await?;
        s.release_dirs(&["examples", "tests/fixtures/functions"])
            .await?;
        Ok(s)
    }

    /// A writer (and live follower) of this scenario's registry.
    pub async fn registry_writer(&self) -> anyhow::Result<dl_registry_kafka::RegistryWriter> {
        let approvers = dl_registry_kafka::load_approvers(&self.approvers_file)?;
        Ok(dl_registry_kafka::RegistryWriter::connect(
            dl_registry_kafka::FollowerConfig {
                brokers: self.brokers.clone(),
                topic: self.registry.clone(),
                approvers,
            },
            Duration::from_secs(60),
        )
        .await?)
    }

    /// [`Scenario::new_on`], then only the packages whose function id is one of `functions`
    /// (from `examples/` and `tests/fixtures/functions/`) released: releasing every package
    /// takes most of a scenario's set-up, a test that needs two need not wait for nine.
    pub async fn with_functions_on(
        name: &str,
        partitions: i32,
        on: Backends,
        functions: &[&str],
    ) -> anyhow::Result<Self> {
        let s = Self::new_on(name, partitions, on).await?;
        s.release_from(&["examples", "tests/fixtures/functions"], |id| {
            functions.contains(&id)
        })
        .await?;
        Ok(s)
    }

    /// Releases every package under each of `dirs` (relative to the repository).
    pub async fn release_dirs(&self, dirs: &[&str]) -> anyhow::Result<()> {
        self.release_from(dirs, |_| true).await
    }

    /// Releases the packages under each of `dirs` whose function id `keep` accepts.
    async fn release_from(&self, dirs: &[&str], keep: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        let writer = self.registry_writer().await?;
        for dir in dirs {
            for pkg in dl_function::load_dir_of_packages(&repo().join(dir))? {
                if keep(&pkg.manifest().id) {
                    self.release(&writer, &pkg).await?;
                }
            }
        }
        Ok(())
    }

    /// The signing key of approver `id` of this scenario's approvers file.
    pub fn approver_key(&self, id: &str) -> anyhow::Result<dl_registry::SigningKey> {
        Ok(dl_registry::load_signing_key(
            &self.logs.join(format!("{id}.pem")),
        )?)
    }

    /// Publishes `pkg`, approves it as [`OWNER`] and [`REVIEWER`] and activates it.
    pub async fn release(
        &self,
        writer: &dl_registry_kafka::RegistryWriter,
        pkg: &dl_function::FunctionPackage,
    ) -> anyhow::Result<()> {
        self.release_by(writer, pkg, ["e2e-author", OWNER, REVIEWER])
            .await
    }

    /// Releases the packages of `examples/` and `tests/fixtures/functions/` named in
    /// `functions` as functions of `tenant` (one of [`TENANTS`]): the manifest's id becomes
    /// `<tenant>/<id>`, and the tenant's own author and approvers release it.
    pub async fn release_for(&self, tenant: &str, functions: &[&str]) -> anyhow::Result<()> {
        let writer = self.registry_writer().await?;
        let (author, owner, reviewer) = (
            format!("{tenant}-author"),
            format!("{tenant}-owner"),
            format!("{tenant}-reviewer"),
        );
        for dir in ["examples", "tests/fixtures/functions"] {
            for pkg in dl_function::load_dir_of_packages(&repo().join(dir))? {
                if functions.contains(&pkg.manifest().id.as_str()) {
                    let pkg = of_tenant(&pkg, tenant)?;
                    self.release_by(&writer, &pkg, [&author, &owner, &reviewer])
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Publishes `pkg` and approves it by the default tenant's owner and reviewer, without
    /// activating it (a candidate, e.g. for a shadow).
    pub async fn publish_approved(
        &self,
        writer: &dl_registry_kafka::RegistryWriter,
        pkg: &dl_function::FunctionPackage,
    ) -> anyhow::Result<()> {
        self.approve_by(writer, pkg, ["e2e-author", OWNER, REVIEWER])
            .await
    }

    /// Publishes `pkg` as `author`, approves it as `owner` and `reviewer` (whose keys are in
    /// this scenario's logs) and activates it as `owner`.
    async fn release_by(
        &self,
        writer: &dl_registry_kafka::RegistryWriter,
        pkg: &dl_function::FunctionPackage,
        people: [&str; 3],
    ) -> anyhow::Result<()> {
        self.approve_by(writer, pkg, people).await?;
        let (id, version) = (&pkg.manifest().id, pkg.manifest().version.to_string());
        writer
            .activate(id, &version, people[1])
            .await
            .with_context(|| format!("activating {id} {version}"))?;
        Ok(())
    }

    /// Publishes `pkg` as `author` and approves it as `owner` and `reviewer`.
    async fn approve_by(
        &self,
        writer: &dl_registry_kafka::RegistryWriter,
        pkg: &dl_function::FunctionPackage,
        [author, owner, reviewer]: [&str; 3],
    ) -> anyhow::Result<()> {
        let (id, version) = (&pkg.manifest().id, pkg.manifest().version.to_string());
        writer
            .publish(pkg, author)
            .await
            .with_context(|| format!("publishing {id} {version}"))?;
        for (approver, role) in [
            (owner, dl_schema::ApproverRole::Owner),
            (reviewer, dl_schema::ApproverRole::Reviewer),
        ] {
            let key = self.approver_key(approver)?;
            writer
                .approve(id, &version, role, approver, &format!("{approver}-1"), &key)
                .await
                .with_context(|| format!("approving {id} {version} as {approver}"))?;
        }
        Ok(())
    }

    fn spawn(&self, binary: &str, label: &str, env: &[(&str, String)]) -> anyhow::Result<Service> {
        let log = self.logs.join(format!("{label}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let metrics_port = free_port();
        let mut cmd = Command::new(bin(binary));
        cmd.current_dir(repo())
            .env("DL_BROKERS", &self.brokers)
            .env("DL_REQUESTS_TOPIC", &self.requests)
            .env("DL_RESULTS_TOPIC", &self.results)
            .env("DL_LEDGER_TOPIC", &self.ledger)
            .env("DL_DLQ_TOPIC", &self.dlq)
            .env("DL_EXPLAIN_TOPIC", &self.views)
            .env("DL_SHADOW_TOPIC", &self.shadow)
            .env("DL_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("RUST_LOG", "info")
            .env("DL_SIGNER", "local")
            .env("DL_SIGNER_KEY_FILE", &self.signer_key_file)
            // Authentication and replay protection only where a test asks for them (the stack's
            // env file exports REDIS_URL).
            .env_remove("REDIS_URL")
            .env_remove("DL_AUTH_CONFIG")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(Service {
            child: cmd.spawn().with_context(|| format!("starting {binary}"))?,
            log,
            metrics_port,
        })
    }

    /// Starts a worker replica following this scenario's registry (see
    /// [`Scenario::with_examples`]).
    pub fn worker(&self, replica: &str) -> anyhow::Result<Service> {
        self.worker_with_env(replica, &[])
    }

    /// Like [`Scenario::worker`], with extra environment (e.g. `DL_AUTH_CONFIG`, `REDIS_URL`).
    pub fn worker_with_env(
        &self,
        replica: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Service> {
        let mut env = vec![
            ("DL_GROUP_ID", format!("{}-worker", self.id)),
            ("DL_WORKER_ID", format!("{}-{replica}", self.id)),
            ("DL_REGISTRY_TOPIC", self.registry.clone()),
            (
                "DL_APPROVERS_FILE",
                self.approvers_file.display().to_string(),
            ),
            ("DL_MAX_MESSAGE_BYTES", (64 * 1024).to_string()),
        ];
        env.extend(extra.iter().cloned());
        self.spawn("dl-worker", &format!("worker-{replica}"), &env)
    }

    /// Folder of this scenario's logs (and scratch files such as configs).
    pub fn dir(&self) -> &Path {
        &self.logs
    }

    /// Starts a projector into this scenario's database.
    pub fn projector(&self, label: &str) -> anyhow::Result<Service> {
        self.spawn(
            "dl-projector",
            &format!("projector-{label}"),
            &[
                ("DL_PROJECTOR_GROUP_ID", format!("{}-projector", self.id)),
                ("DATABASE_URL", self.database_url.clone()),
            ],
        )
    }

    /// Starts a projector with extra environment (e.g. `DL_REGISTRY_TOPIC`, `DL_APPROVERS_FILE`).
    pub fn projector_with_env(
        &self,
        label: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Service> {
        let mut env = vec![
            ("DL_PROJECTOR_GROUP_ID", format!("{}-projector", self.id)),
            ("DATABASE_URL", self.database_url.clone()),
        ];
        env.extend(extra.iter().cloned());
        self.spawn("dl-projector", &format!("projector-{label}"), &env)
    }

    /// Starts an explainer (`dl-explainer`) writing this scenario's views topic, with a
    /// pseudonym key of this scenario (the same key for every explainer started here).
    pub fn explainer(&self, label: &str) -> anyhow::Result<Service> {
        let key_file = self.logs.join("pseudonym.key");
        if !key_file.exists() {
            let key: String = (0..4)
                .map(|_| uuid::Uuid::new_v4().simple().to_string())
                .collect();
            std::fs::write(&key_file, key)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        self.spawn(
            "dl-explainer",
            &format!("explainer-{label}"),
            &[
                ("DL_EXPLAINER_GROUP_ID", format!("{}-explainer", self.id)),
                ("DL_EXPLAINER_ID", format!("{}-explainer", self.id)),
                ("DL_REGISTRY_TOPIC", self.registry.clone()),
                (
                    "DL_APPROVERS_FILE",
                    self.approvers_file.display().to_string(),
                ),
                ("DL_PSEUDONYM_KEY_FILE", key_file.display().to_string()),
            ],
        )
    }

    /// Starts an auditor (`dl-auditor`) on this scenario's database and registry, auditing
    /// every `every_secs`.
    pub fn auditor(&self, label: &str, every_secs: u64) -> anyhow::Result<Service> {
        self.spawn(
            "dl-auditor",
            &format!("auditor-{label}"),
            &[
                ("DATABASE_URL", self.database_url.clone()),
                ("DL_REGISTRY_TOPIC", self.registry.clone()),
                (
                    "DL_APPROVERS_FILE",
                    self.approvers_file.display().to_string(),
                ),
                ("DL_AUDIT_EVERY_SECS", every_secs.to_string()),
            ],
        )
    }

    /// Starts a gateway (`dl-gateway`) on a free port over this scenario's topics and database;
    /// returns it and its API port.
    pub fn gateway(&self, label: &str, extra: &[(&str, String)]) -> anyhow::Result<(Service, u16)> {
        let port = free_port();
        let mut env = vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("DL_GATEWAY_ADDR", format!("127.0.0.1:{port}")),
        ];
        env.extend(extra.iter().cloned());
        Ok((
            self.spawn("dl-gateway", &format!("gateway-{label}"), &env)?,
            port,
        ))
    }

    /// Starts an agent (`dl-agent`) on a free port, reading through the gateway at
    /// `gateway_port` and asking the LLM at `llm_url`; returns it and its API port.
    pub fn agent(
        &self,
        label: &str,
        gateway_port: u16,
        llm_url: &str,
    ) -> anyhow::Result<(Service, u16)> {
        self.agent_with_env(label, gateway_port, llm_url, &[])
    }

    /// Like [`Scenario::agent`], with extra environment (e.g. `DL_AUTH_CONFIG`).
    pub fn agent_with_env(
        &self,
        label: &str,
        gateway_port: u16,
        llm_url: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<(Service, u16)> {
        let port = free_port();
        let mut env = vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("DL_AGENT_ADDR", format!("127.0.0.1:{port}")),
            ("DL_GATEWAY_URL", format!("http://127.0.0.1:{gateway_port}")),
            ("DL_LLM_URL", llm_url.to_string()),
        ];
        env.extend(extra.iter().cloned());
        Ok((
            self.spawn("dl-agent", &format!("agent-{label}"), &env)?,
            port,
        ))
    }

    /// Produces one message to the requests topic.
    pub fn send_raw(&self, key: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.send_with_headers(key, payload, &[])
    }

    /// Produces one message with headers (e.g. `authorization`) to the requests topic.
    pub fn send_with_headers(
        &self,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> anyhow::Result<()> {
        self.send_to(&self.requests, key, payload, headers)
    }

    /// Produces one message with headers to `topic`.
    pub fn send_to(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> anyhow::Result<()> {
        let mut record = BaseRecord::to(topic).key(key.as_bytes()).payload(payload);
        if !headers.is_empty() {
            let owned = headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(*v),
                })
            });
            record = record.headers(owned);
        }
        // A full local queue drains as the broker acknowledges; one that never drains is an error.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((e, _)) if Instant::now() >= deadline => {
                    bail!("producing to {topic}: {e}")
                }
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    /// Produces requests (key = request id) and waits until the broker has them.
    pub fn send(&self, requests: &[DecisionRequest]) -> anyhow::Result<()> {
        let codec = dl_schema::request_codec();
        for r in requests {
            self.send_raw(&r.request_id, &codec.encode(r)?)?;
        }
        self.flush()
    }

    /// Waits for produced messages to be acknowledged.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.flush_within(Duration::from_secs(30))
    }

    /// Waits up to `timeout` for produced messages to be acknowledged (longer than
    /// [`Scenario::flush`] where the broker may be restarting or stalled).
    pub fn flush_within(&self, timeout: Duration) -> anyhow::Result<()> {
        self.producer.flush(timeout)?;
        Ok(())
    }

    /// Reads `topic` from the beginning until `expected` messages arrived (read_committed) or
    /// `timeout` passed; returns what was read.
    pub fn read(
        &self,
        topic: &str,
        expected: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Read>> {
        let consumer = reader_from_start(&self.brokers, topic)?;
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m?;
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Read {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
        }
        Ok(out)
    }

    /// A pool on this scenario's database.
    pub async fn pg(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::PgPool::connect(&self.database_url).await?)
    }

    /// Polls `sql` (a single i64) until it returns `expected` or `timeout` passes; returns the last value.
    pub async fn wait_for_count(
        &self,
        sql: &str,
        expected: i64,
        timeout: Duration,
    ) -> anyhow::Result<i64> {
        let last = &std::sync::atomic::AtomicI64::new(-1);
        let waited = eventually(timeout, sql, move || async move {
            let pool = self.pg().await?;
            let n = sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await;
            pool.close().await;
            let n = n?;
            last.store(n, std::sync::atomic::Ordering::Relaxed);
            anyhow::ensure!(n == expected, "{n}, not {expected}");
            Ok(n)
        })
        .await;
        Ok(waited.unwrap_or_else(|_| last.load(std::sync::atomic::Ordering::Relaxed)))
    }

    /// Polls the projection until at least `at_least` decisions are in it; returns how many.
    /// What the crash tests wait for before they strike, so that the fault lands mid-stream.
    pub async fn wait_for_projected(&self, at_least: i64, within: Duration) -> anyhow::Result<i64> {
        let pool = &self.pg().await?;
        let n = eventually(
            within,
            &format!("{at_least} decisions projected"),
            || async move {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
                    .fetch_one(pool)
                    .await?;
                anyhow::ensure!(n >= at_least, "{n} projected");
                Ok(n)
            },
        )
        .await;
        pool.close().await;
        n
    }

    /// Runs `dlctl ledger verify` on this scenario's ledger and returns its JSON report.
    pub fn verify_ledger(&self) -> anyhow::Result<serde_json::Value> {
        self.verify_ledger_from("kafka", &[])
    }

    /// Runs `dlctl ledger verify --from <from>` (`kafka` or `postgres`, this scenario's
    /// database) with extra environment (a signer configuration other than the scenario's local
    /// key, e.g. KMS and `DL_TRUSTED_CERTIFIERS`) and returns its JSON report.
    pub fn verify_ledger_from(
        &self,
        from: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        let out = Command::new(bin("dlctl"))
            .args([
                "--brokers",
                &self.brokers,
                "ledger",
                "verify",
                "--json",
                "--topic",
                &self.ledger,
                "--from",
                from,
                "--database-url",
                &self.database_url,
            ])
            .env("DL_SIGNER", "local")
            .env("DL_SIGNER_KEY_FILE", &self.signer_key_file)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).with_context(|| {
            format!(
                "dlctl ledger verify printed {text:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// A `read_committed` consumer of every partition of `topic` from the beginning, in a group of
/// its own that commits nothing.
pub fn reader_from_start(brokers: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = dl_kafka::client_config(brokers)
        .set("group.id", format!("e2e-reader-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// A request with sensible defaults.
pub fn request(request_id: &str, function_id: &str, input: &str) -> DecisionRequest {
    DecisionRequest {
        request_id: request_id.to_string(),
        function_id: function_id.to_string(),
        function_version: None,
        as_of: None,
        issued_at: chrono::Utc::now().timestamp_millis(),
        input: input.to_string(),
        reply_to: None,
    }
}
