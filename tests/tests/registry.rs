//! The event-sourced registry on the real broker and PostgreSQL: publish → approve ×2 →
//! activate seen by a live follower, a late follower rebuilding the same state, `as_of` across an
//! effective-date boundary, every refusal with its message (library and `dlctl`), and the
//! projector's registry tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use dl_e2e::{bin, repo, Scenario};
use dl_function::FunctionPackage;
use dl_kafka::{TopicSpec, Topology};
use dl_registry::{ApproverSet, Registry, VersionState};
use dl_registry_kafka::{FollowerConfig, RegistryFollower, RegistryWriter, WriteError};
use dl_schema::ApproverRole;

/// (version, state, approvals, legal_basis, effective_to) of `registry_versions`.
type ViewRow = (
    String,
    String,
    serde_json::Value,
    Vec<String>,
    Option<NaiveDate>,
);

const ID: &str = "loan_approval";
const WAIT: Duration = Duration::from_secs(60);

/// Writes the loan example re-versioned with the given effective dates into `dir`.
fn write_package(dir: &Path, version: &str, from: &str, to: Option<&str>) -> FunctionPackage {
    let src = FunctionPackage::load(&repo().join("examples/loan_approval")).unwrap();
    let mut files: BTreeMap<String, Vec<u8>> = src.files().clone();
    let manifest = String::from_utf8(files["function.yaml"].clone()).unwrap();
    let mut out = String::new();
    for line in manifest.lines() {
        if line.starts_with("version:") {
            out.push_str(&format!("version: {version}\n"));
        } else if line.starts_with("effective_from:") {
            out.push_str(&format!("effective_from: {from}\n"));
            if let Some(to) = to {
                out.push_str(&format!("effective_to: {to}\n"));
            }
        } else if !line.starts_with("effective_to:") {
            out.push_str(line);
            out.push('\n');
        }
    }
    files.insert("function.yaml".into(), out.into_bytes());
    for (path, content) in &files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    FunctionPackage::load(dir).unwrap()
}

struct Keys {
    dir: PathBuf,
    approvers: Arc<ApproverSet>,
}

fn make_keys(dir: &Path) -> Keys {
    let mut yaml = String::from("approvers:\n");
    for id in ["alice", "bob", "ann"] {
        let key = dl_registry::generate_key();
        std::fs::write(
            dir.join(format!("{id}.pem")),
            dl_registry::private_key_pem(&key).unwrap(),
        )
        .unwrap();
        let public = dl_registry::public_key_pem(&key.verifying_key()).unwrap();
        yaml.push_str(&format!(
            "  - id: {id}\n    keys:\n      - key_id: {id}-1\n        public_key: |\n"
        ));
        for l in public.lines() {
            yaml.push_str(&format!("          {l}\n"));
        }
    }
    // mallory has a key but is not in the set.
    std::fs::write(
        dir.join("mallory.pem"),
        dl_registry::private_key_pem(&dl_registry::generate_key()).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("approvers.yaml"), &yaml).unwrap();
    Keys {
        dir: dir.to_path_buf(),
        approvers: Arc::new(ApproverSet::from_yaml(&yaml).unwrap()),
    }
}

fn summary(r: &Registry) -> Vec<(String, String, VersionState, String, usize)> {
    r.all_versions()
        .map(|e| {
            (
                e.function_id.clone(),
                e.version.to_string(),
                e.state,
                e.digest.clone(),
                e.approvals.len(),
            )
        })
        .collect()
}

fn refusal(r: Result<(i32, i64), WriteError>) -> (String, String) {
    match r {
        Err(WriteError::Refused(e)) => (e.code().to_string(), e.to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

struct Cli<'a> {
    scenario: &'a Scenario,
    topic: &'a str,
    keys: &'a Keys,
}

impl Cli<'_> {
    /// Runs `dlctl function <args>`; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin("dlctl"))
            .args(["--brokers", &self.scenario.brokers, "function"])
            .args(args)
            .args(["--registry-topic", self.topic, "--approvers"])
            .arg(self.keys.dir.join("approvers.yaml"))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn key(&self, id: &str) -> String {
        self.keys
            .dir
            .join(format!("{id}.pem"))
            .display()
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_lifecycle_on_the_real_stack() {
    let s = Scenario::new("registry", 1).await.unwrap();
    let topic = format!("e2e.{}.registry.events", s.id);
    Topology {
        topics: vec![TopicSpec {
            name: topic.clone(),
            partitions: 1,
            replication_factor: 1,
            config: Default::default(),
            value_schema: None,
        }],
        consumer_groups: vec![],
    }
    .apply(&dl_kafka::client_config(&s.brokers))
    .await
    .unwrap();
    let keys = make_keys(s.dir());
    let cfg = FollowerConfig {
        brokers: s.brokers.clone(),
        topic: topic.clone(),
        approvers: keys.approvers.clone(),
    };
    let cli = Cli {
        scenario: &s,
        topic: &topic,
        keys: &keys,
    };

    let mut projector = s
        .projector_with_env(
            "registry",
            &[
                ("DL_REGISTRY_TOPIC", topic.clone()),
                (
                    "DL_APPROVERS_FILE",
                    keys.dir.join("approvers.yaml").display().to_string(),
                ),
            ],
        )
        .unwrap();

    let live = RegistryFollower::start(cfg.clone()).await.unwrap();
    assert!(live.wait_caught_up(WAIT).await.unwrap().is_empty());
    let mut changes = live.subscribe();
    let writer = RegistryWriter::connect(cfg.clone(), WAIT).await.unwrap();

    // Two versions with consecutive effective dates.
    let v1_dir = s.dir().join("pkg-1.0.0");
    let v2_dir = s.dir().join("pkg-1.1.0");
    write_package(&v1_dir, "1.0.0", "2024-01-01", Some("2024-12-31"));
    let v2 = write_package(&v2_dir, "1.1.0", "2025-01-01", None);

    // Publish 1.0.0 through the CLI, 1.1.0 through the library.
    let (code, out, err) = cli.run(&["publish", v1_dir.to_str().unwrap(), "--author", "ann"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("published loan_approval 1.0.0 as DRAFT"),
        "{out}"
    );
    writer.publish(&v2, "ann").await.unwrap();

    // Refusals, each with its message.
    let (code, _, err) = cli.run(&["publish", v1_dir.to_str().unwrap(), "--author", "ann"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused [ALREADY_PUBLISHED]"), "{err}");
    let changed_dir = s.dir().join("pkg-1.0.0-changed");
    let changed = write_package(&changed_dir, "1.0.0", "2024-02-01", Some("2024-12-31"));
    let (c, m) = refusal(writer.publish(&changed, "ann").await);
    assert_eq!(c, "IMMUTABLE_VERSION", "{m}");
    let (code, _, err) = cli.run(&["publish", changed_dir.to_str().unwrap(), "--author", "ann"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused [IMMUTABLE_VERSION]") && err.contains("versions are immutable"),
        "{err}"
    );

    let (code, _, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "owner",
        "--approver",
        "ann",
        "--key",
        &cli.key("ann"),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused [SELF_APPROVAL]")
            && err.contains("ann published loan_approval 1.0.0 and may not approve it"),
        "{err}"
    );
    let (code, _, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "owner",
        "--approver",
        "mallory",
        "--key",
        &cli.key("mallory"),
        "--key-id",
        "m-1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused [UNKNOWN_APPROVER]"), "{err}");
    let (code, _, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "owner",
        "--approver",
        "alice",
        "--key",
        &cli.key("mallory"),
        "--key-id",
        "alice-1",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused [BAD_SIGNATURE]") && err.contains("does not verify"),
        "{err}"
    );
    let (code, _, err) = cli.run(&["activate", ID, "1.0.0", "--by", "ops"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused [WRONG_STATE]")
            && err.contains("needs the owner and reviewer approval"),
        "{err}"
    );
    let (code, _, err) = cli.run(&[
        "approve",
        ID,
        "9.9.9",
        "--role",
        "owner",
        "--approver",
        "alice",
        "--key",
        &cli.key("alice"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused [UNKNOWN_VERSION]"), "{err}");

    // Owner approval by alice (CLI), then the refusals of the second approval.
    let (code, out, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "owner",
        "--approver",
        "alice",
        "--key",
        &cli.key("alice"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("state DRAFT"), "{out}");
    let (code, _, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "owner",
        "--approver",
        "bob",
        "--key",
        &cli.key("bob"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused [DUPLICATE_APPROVAL]"), "{err}");
    let (code, _, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "reviewer",
        "--approver",
        "alice",
        "--key",
        &cli.key("alice"),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused [SAME_APPROVER]") && err.contains("two different people"),
        "{err}"
    );
    let (code, out, err) = cli.run(&[
        "approve",
        ID,
        "1.0.0",
        "--role",
        "reviewer",
        "--approver",
        "bob",
        "--key",
        &cli.key("bob"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("state APPROVED"), "{out}");

    // Not active yet: the live follower says FUNCTION_NOT_ACTIVE.
    assert_eq!(
        live.snapshot()
            .select(ID, None, d("2024-06-01"))
            .unwrap_err()
            .code(),
        "FUNCTION_NOT_ACTIVE"
    );

    let (code, out, err) = cli.run(&["activate", ID, "1.0.0", "--by", "ops"]);
    assert_eq!(code, 0, "{out}{err}");

    // The live follower sees the activation without a restart.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if live.snapshot().select(ID, None, d("2024-06-01")).is_ok() {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_ok(),
            "the follower never saw the activation"
        );
    }
    assert_eq!(
        live.snapshot()
            .select(ID, None, d("2024-06-01"))
            .unwrap()
            .version
            .to_string(),
        "1.0.0"
    );

    // 1.1.0 through the library: approve ×2 → activate.
    let alice = dl_registry::load_signing_key(&keys.dir.join("alice.pem")).unwrap();
    let bob = dl_registry::load_signing_key(&keys.dir.join("bob.pem")).unwrap();
    writer
        .approve(
            ID,
            "1.1.0",
            ApproverRole::Reviewer,
            "alice",
            "alice-1",
            &alice,
        )
        .await
        .unwrap();
    writer
        .approve(ID, "1.1.0", ApproverRole::Owner, "bob", "bob-1", &bob)
        .await
        .unwrap();
    writer.activate(ID, "1.1.0", "ops").await.unwrap();
    let (c, _) = refusal(writer.activate(ID, "1.1.0", "ops").await);
    assert_eq!(c, "WRONG_STATE");

    // A forged event produced directly to the topic is refused by every fold.
    let digest = writer
        .state()
        .select(ID, Some("1.1.0"), d("2025-06-01"))
        .unwrap()
        .digest
        .clone();
    let forged = dl_registry::events::retired(ID, "1.1.0", "sha256:0000", "mallory", 1, None);
    let producer: rdkafka::producer::FutureProducer =
        dl_kafka::client_config(&s.brokers).create().unwrap();
    let bytes = dl_schema::registry_codec().encode(&forged).unwrap();
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&topic)
                .key(ID)
                .payload(&bytes),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let _ = digest;

    // as_of across the boundary, on the live follower.
    let deadline = tokio::time::Instant::now() + WAIT;
    while live.snapshot().refused() == 0
        || live.snapshot().select(ID, None, d("2025-01-01")).is_err()
    {
        assert!(
            tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_ok(),
            "follower did not catch up"
        );
    }
    let now = live.snapshot();
    assert_eq!(
        now.select(ID, None, d("2024-12-31"))
            .unwrap()
            .version
            .to_string(),
        "1.0.0"
    );
    assert_eq!(
        now.select(ID, None, d("2025-01-01"))
            .unwrap()
            .version
            .to_string(),
        "1.1.0"
    );
    assert_eq!(
        now.select(ID, Some("1.0.0"), d("2025-01-01"))
            .unwrap_err()
            .code(),
        "FUNCTION_NOT_ACTIVE"
    );
    assert_eq!(
        now.select(ID, None, d("2023-12-31")).unwrap_err().code(),
        "FUNCTION_NOT_ACTIVE"
    );
    assert_eq!(
        now.select("nope", None, d("2025-01-01"))
            .unwrap_err()
            .code(),
        "UNKNOWN_FUNCTION"
    );
    assert_eq!(now.refused(), 1, "the forged retirement is refused");
    assert_eq!(
        now.select(ID, Some("1.1.0"), d("2025-06-01"))
            .unwrap()
            .state,
        VersionState::Active
    );

    // A follower started later rebuilds the same state.
    let late = RegistryFollower::start(cfg.clone()).await.unwrap();
    let rebuilt = late.wait_caught_up(WAIT).await.unwrap();
    assert_eq!(summary(&rebuilt), summary(&now));
    assert_eq!(
        (rebuilt.applied(), rebuilt.refused()),
        (now.applied(), now.refused())
    );

    // Retire 1.0.0; list and show.
    let (code, out, err) = cli.run(&[
        "retire",
        ID,
        "1.0.0",
        "--by",
        "ops",
        "--reason",
        "superseded",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cli.run(&["list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("RETIRED")
            && out.contains("ACTIVE")
            && out.contains("2 versions of 1 functions"),
        "{out}"
    );
    let (code, out, _) = cli.run(&["show", ID]);
    assert_eq!(code, 0);
    assert!(
        out.contains("approval   owner    alice")
            && out.contains("retired")
            && out.contains("superseded"),
        "{out}"
    );
    let (code, _, err) = cli.run(&["show", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("UNKNOWN_FUNCTION"));

    // The projector projects the registry.
    let n = s.wait_for_count("SELECT count(*) FROM registry_versions WHERE id = 'loan_approval' AND state = 'RETIRED'", 1, WAIT).await.unwrap();
    assert_eq!(n, 1, "projector log: {}", projector.log.display());
    let pool = s.pg().await.unwrap();
    let rows: Vec<ViewRow> =
        sqlx::query_as("SELECT version, state, approvals, legal_basis, effective_to FROM registry_versions ORDER BY version").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("1.0.0", "RETIRED")
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str()),
        ("1.1.0", "ACTIVE")
    );
    assert_eq!(rows[0].2.as_array().unwrap().len(), 2);
    assert!(rows[0]
        .3
        .iter()
        .any(|i| i.starts_with("http://data.finlex.fi/eli/sd/1978/38")));
    assert_eq!(rows[0].4, Some(d("2024-12-31")));
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registry_refused_events WHERE code = 'DIGEST_MISMATCH'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(refused, 1);
    assert!(projector.running());
}
