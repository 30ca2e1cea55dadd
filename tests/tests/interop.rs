//! Interoperability with clients we did not write (issue 9, ADR 0015): fastavro computes the
//! schema fingerprints; Confluent's Python client proves the test Schema Registry; the Python
//! (confluent-kafka + fastavro) and Java (Apache Avro + kcat) examples under `examples/clients/`
//! decide the prototype's loan cases through a worker with authentication on; Confluent-framed
//! requests (also from a newer compatible writer schema) are decided, unknown schema ids and
//! fingerprints are dead-lettered; a ledger written under the legacy fingerprints still projects
//! and verifies. Needs the stack (`scripts/stack.sh up`, which installs the Python clients).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use dl_e2e::oidc::Provider;
use dl_e2e::{free_port, repo, Scenario};
use dl_schema_registry::{subject_for_topic, RegistryConfig, SchemaRegistry};
use serde_json::{json, Value};

/// The stack's Python, with fastavro and confluent-kafka (scripts/requirements-clients.txt).
fn python() -> PathBuf {
    std::env::var("DL_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".stack"))
        .join("venv/bin/python")
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn schema_fingerprints_match_fastavro() -> anyhow::Result<()> {
    let script = r#"
import json, sys
from fastavro.schema import fingerprint, to_parsing_canonical_form
for path in sys.argv[1:]:
    pcf = to_parsing_canonical_form(json.load(open(path)))
    print(json.dumps({"pcf": pcf, "le": fingerprint(pcf, "CRC-64-AVRO")}))
"#;
    let paths: Vec<PathBuf> = dl_schema::SCHEMAS
        .iter()
        .map(|(name, _)| repo().join(format!("schemas/{name}.avsc")))
        .collect();
    let out = run(Command::new(python()).arg("-c").arg(script).args(&paths))?;
    let lines: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), dl_schema::SCHEMAS.len());
    for ((name, avsc), theirs) in dl_schema::SCHEMAS.iter().zip(&lines) {
        assert_eq!(
            dl_schema::parsing_canonical_form(avsc)?,
            theirs["pcf"].as_str().unwrap_or_default(),
            "{name}: Parsing Canonical Form differs from fastavro's"
        );
        let le: String = dl_schema::spec_fingerprint(avsc)?
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            le, theirs["le"],
            "{name}: fingerprint differs from fastavro's"
        );
        // schemas/README.md documents the same value for client authors.
        let readme = std::fs::read_to_string(repo().join("schemas/README.md"))?;
        assert!(
            readme.contains(&le),
            "schemas/README.md lacks {name}'s {le}"
        );
    }
    Ok(())
}

/// The test Schema Registry (scripts/schema-registry/registry.py), killed when dropped.
struct Registry {
    child: Child,
    url: String,
}

impl Registry {
    fn start(basic_auth: Option<&str>) -> anyhow::Result<Self> {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("scripts/schema-registry/registry.py"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null());
        if let Some(auth) = basic_auth {
            cmd.args(["--basic-auth", auth]);
        }
        let child = cmd.spawn()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self {
                    child,
                    url: format!("http://127.0.0.1:{port}"),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the test schema registry did not start")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_test_schema_registry_serves_confluents_own_client() -> anyhow::Result<()> {
    let registry = Registry::start(Some("dl:secret"))?;
    let out = run(Command::new(python()).args([
        repo()
            .join("tests/python/registry_conformance.py")
            .as_os_str(),
        registry.url.as_ref(),
        "dl:secret".as_ref(),
        repo().join("schemas/DecisionRequest.avsc").as_os_str(),
    ]))?;
    assert!(out.starts_with("ok"), "{out}");
    Ok(())
}

/// A folder whose `librdkafka.so.1` is the one bundled with the confluent-kafka wheel. Debian
/// bookworm's kcat links librdkafka 2.0.2, whose ApiVersions request Tansu (the test broker)
/// answers in a form it cannot read ("Read underflow"); against Apache Kafka it works as is. The
/// kcat binary stays Debian's; only the library it loads is newer (ADR 0015).
fn newer_librdkafka(scratch: &std::path::Path) -> anyhow::Result<PathBuf> {
    let site = run(Command::new(python()).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]))?;
    let libs = PathBuf::from(site.trim()).join("confluent_kafka.libs");
    let lib = std::fs::read_dir(&libs)
        .with_context(|| format!("reading {}", libs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("librdkafka"))
        })
        .context("confluent_kafka.libs/librdkafka-*.so.1 in the stack's venv")?;
    let dir = scratch.join("librdkafka");
    std::fs::create_dir_all(&dir)?;
    let link = dir.join("librdkafka.so.1");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(lib, &link)?;
    Ok(dir)
}

/// DecisionRequest as a newer producer writes it: one more optional field.
fn newer_request_schema() -> anyhow::Result<String> {
    let mut schema: Value = serde_json::from_str(dl_schema::DECISION_REQUEST_AVSC)?;
    schema["fields"]
        .as_array_mut()
        .context("fields")?
        .push(json!({"name": "channel", "type": ["null", "string"], "default": null}));
    Ok(schema.to_string())
}

const SMALL_LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
const LARGE_LOAN: &str = r#"{"amount": 20000, "customer_score": 720, "customer_tier": "premium", "monthly_income": 8000}"#;

fn output(result: &Value) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(
        result["output"].as_str().context("output")?,
    )?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_java_clients_decide_through_the_worker_in_both_wire_formats(
) -> anyhow::Result<()> {
    let s = Scenario::with_examples("interop", 2).await?;
    let provider = Provider::start().await?;
    // The development client the example functions allow (scripts/oidc/provider.mjs).
    let token = provider.token("dlctl-test", "dlctl-test-secret").await?;
    let registry = Registry::start(None)?;
    let client = SchemaRegistry::new(RegistryConfig::new(&registry.url))?;
    client
        .register(
            &subject_for_topic(&s.requests),
            dl_schema::DECISION_REQUEST_AVSC,
        )
        .await?;

    let auth = s.dir().join("auth.json");
    std::fs::write(&auth, serde_json::to_vec(&provider.worker_config())?)?;
    let redis = std::env::var("REDIS_URL").context("REDIS_URL (scripts/stack.sh up)")?;
    let worker = s.worker_with_env(
        "a",
        &[
            ("DL_AUTH_CONFIG", auth.display().to_string()),
            ("REDIS_URL", redis),
            ("DL_SCHEMA_REGISTRY_URL", registry.url.clone()),
        ],
    )?;
    let explainer = s.explainer("a")?;

    let py = |extra: &[&str], input: &str| -> anyhow::Result<Value> {
        let mut cmd = Command::new(python());
        cmd.arg(repo().join("examples/clients/python/decide.py"))
            .args(["--brokers", &s.brokers, "--requests-topic", &s.requests])
            .args(["--results-topic", &s.results, "--function", "loan_approval"])
            .args(["--input", input])
            .args(extra)
            .env("DL_TOKEN", &token);
        Ok(serde_json::from_str(run(&mut cmd)?.trim())?)
    };

    // Single-object encoding, fingerprints by fastavro; the ledger record and the explain view
    // read back with fastavro too.
    let single = py(
        &["--ledger-topic", &s.ledger, "--views-topic", &s.views],
        SMALL_LOAN,
    )?;
    let result = &single["result"];
    assert_eq!(result["status"], "DECIDED", "{single}");
    assert_eq!(output(result)?["reason"], "Small personal loan approved");
    assert_eq!(single["ledger"]["kind"], "DECISION_RECORDED");
    assert_eq!(single["ledger"]["hash"], result["ledger"]["hash"]);
    assert_eq!(single["view"]["decision_id"], result["decision_id"]);

    // Confluent's serializer and the Schema Registry.
    let confluent = py(
        &["--format", "confluent", "--registry-url", &registry.url],
        LARGE_LOAN,
    )?;
    assert_eq!(confluent["result"]["status"], "DECIDED", "{confluent}");
    assert_eq!(
        output(&confluent["result"])?["reason"],
        "Large loan approved with income verification"
    );

    // A newer, compatible writer schema (registered as the subject's version 2).
    let newer = newer_request_schema()?;
    client
        .register(&subject_for_topic(&s.requests), &newer)
        .await?;
    let newer_file = s.dir().join("DecisionRequest.newer.avsc");
    std::fs::write(&newer_file, &newer)?;
    let evolved = py(
        &[
            "--format",
            "confluent",
            "--registry-url",
            &registry.url,
            "--writer-schema",
            &newer_file.display().to_string(),
        ],
        SMALL_LOAN,
    )?;
    assert_eq!(evolved["result"]["status"], "DECIDED", "{evolved}");

    // Java: Apache Avro's BinaryMessageEncoder/Decoder, kcat on the wire.
    let java = run(Command::new(repo().join("examples/clients/java/decide.sh"))
        .env("LD_LIBRARY_PATH", newer_librdkafka(s.dir())?)
        .args([&s.brokers, "loan_approval", SMALL_LOAN])
        .env("DL_TOKEN", &token)
        .env("REQUESTS_TOPIC", &s.requests)
        .env("RESULTS_TOPIC", &s.results)
        .env("LEDGER_TOPIC", &s.ledger))?;
    let mut lines = java.lines();
    let java_result: Value = serde_json::from_str(lines.next().context("java result")?)?;
    let java_ledger: Value = serde_json::from_str(lines.next().context("java ledger")?)?;
    assert_eq!(java_result["status"], "DECIDED", "{java}");
    assert_eq!(
        output(&java_result)?["reason"],
        "Small personal loan approved"
    );
    assert_eq!(java_ledger["hash"], java_result["ledger"]["hash"]);

    // Unknown schema id and unknown fingerprint: dead letters saying which; the worker goes on.
    let mut unknown_id = vec![0, 0, 1, 0x86, 0x9f]; // id 99999
    unknown_id.extend_from_slice(&[0; 8]);
    s.send_raw("unknown-id", &unknown_id)?;
    let mut unknown_fp = dl_schema::request_codec().encode(&dl_e2e::request(
        "unknown-fp",
        "loan_approval",
        SMALL_LOAN,
    ))?;
    unknown_fp[2..10].copy_from_slice(&[7; 8]);
    s.send_raw("unknown-fp", &unknown_fp)?;
    s.flush()?;
    let after = py(&[], SMALL_LOAN)?;
    assert_eq!(
        after["result"]["status"], "DECIDED",
        "the worker kept going"
    );
    let dlq = s.read(&s.dlq, 2, Duration::from_secs(30))?;
    let reason = |key: &str| {
        dlq.iter()
            .find(|m| m.key == key.as_bytes())
            .map(|m| (m.headers.get("dl-dlq-reason").cloned(), m.headers.clone()))
    };
    let (code, headers) = reason("unknown-id").context("unknown schema id dead-lettered")?;
    assert_eq!(code.as_deref(), Some("UNKNOWN_SCHEMA_ID"), "{headers:?}");
    assert!(
        headers.values().any(|v| v.contains("99999")),
        "headers name the id: {headers:?}"
    );
    let (code, headers) = reason("unknown-fp").context("unknown fingerprint dead-lettered")?;
    assert_eq!(code.as_deref(), Some("UNKNOWN_SCHEMA"), "{headers:?}");
    assert!(headers.values().any(|v| v.contains("0707070707070707")));

    // Results in the Confluent wire format (DL_RESULTS_WIRE_FORMAT), read by Confluent's
    // AvroDeserializer in the Python client.
    drop(worker);
    client
        .register(
            &subject_for_topic(&s.results),
            dl_schema::DECISION_RESULT_AVSC,
        )
        .await?;
    let worker = s.worker_with_env(
        "b",
        &[
            ("DL_AUTH_CONFIG", auth.display().to_string()),
            ("REDIS_URL", std::env::var("REDIS_URL")?),
            ("DL_SCHEMA_REGISTRY_URL", registry.url.clone()),
            ("DL_RESULTS_WIRE_FORMAT", "confluent".into()),
        ],
    )?;
    let framed = py(&["--registry-url", &registry.url], LARGE_LOAN)?;
    assert_eq!(framed["result"]["status"], "DECIDED", "{framed}");
    let results = s.read(&s.results, usize::MAX, Duration::from_secs(5))?;
    let raw = results
        .iter()
        .find(|r| {
            Some(r.key.as_slice()) == framed["result"]["request_id"].as_str().map(str::as_bytes)
        })
        .context("the result on the topic")?;
    assert_eq!(
        raw.payload[0], 0,
        "Confluent framing: magic byte 0, then the schema id"
    );

    drop((worker, explainer));
    legacy_ledger_still_projects_and_verifies(&s).await
}

/// The scenario's ledger rewritten record by record with each fingerprint replaced by the legacy
/// one (exactly what a worker wrote before ADR 0015: same datum, other fingerprint; the topic is
/// deleted and created again, since chain ids name it) projects as verified into a fresh
/// database and passes `dlctl ledger verify`.
async fn legacy_ledger_still_projects_and_verifies(s: &Scenario) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let codec = dl_schema::ledger_codec();
    let records = s.read(&s.ledger, usize::MAX, Duration::from_secs(5))?;
    assert!(records.len() >= 6, "{} ledger records", records.len());
    let decisions = records
        .iter()
        .filter(|r| codec.decode(&r.payload).is_ok_and(|l| l.decision.is_some()))
        .count();
    let config = dl_kafka::client_config(&s.brokers);
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    admin.delete_topics(&[&s.ledger], &options).await?;
    let partitions = records.iter().map(|r| r.partition).max().unwrap_or(0) + 1;
    let mut created = false;
    for _ in 0..50 {
        let topic = NewTopic::new(&s.ledger, partitions.max(2), TopicReplication::Fixed(1));
        if admin.create_topics(&[topic], &options).await?[0].is_ok() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(created, "the ledger topic was created again");
    let producer: rdkafka::producer::FutureProducer = config.create()?;
    for r in &records {
        let mut bytes = r.payload.clone();
        bytes[2..10].copy_from_slice(&codec.legacy_fingerprint().to_le_bytes());
        producer
            .send(
                rdkafka::producer::FutureRecord::to(&s.ledger)
                    .partition(r.partition)
                    .key(&r.key)
                    .payload(&bytes),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    let rewritten = s.read(&s.ledger, records.len(), Duration::from_secs(30))?;
    assert_eq!(rewritten.len(), records.len());
    assert!(rewritten
        .iter()
        .all(|r| r.payload[2..10] == codec.legacy_fingerprint().to_le_bytes()));

    // A fresh database (another scenario's) projects the legacy ledger.
    let fresh = Scenario::new("interop-legacy", 1).await?;
    let key = s.signer_key_file.display().to_string();
    let _projector = fresh.projector_with_env(
        "legacy",
        &[
            ("DL_LEDGER_TOPIC", s.ledger.clone()),
            ("DL_SIGNER_KEY_FILE", key),
        ],
    )?;
    let projected = fresh
        .wait_for_count(
            "SELECT count(*) FROM decisions WHERE signature_verified",
            decisions as i64,
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(
        projected, decisions as i64,
        "every legacy decision projected as verified"
    );
    let breaks: i64 = sqlx::query_scalar("SELECT count(*) FROM chain_breaks")
        .fetch_one(&fresh.pg().await?)
        .await?;
    assert_eq!(breaks, 0);
    let report = s.verify_ledger()?;
    assert_eq!(report["ok"], true, "{report}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_apply_registers_schemas_and_refuses_an_incompatible_change() -> anyhow::Result<()>
{
    let brokers = std::env::var("DL_BROKERS").context("DL_BROKERS (scripts/stack.sh up)")?;
    let registry = Registry::start(None)?;
    let client = SchemaRegistry::new(RegistryConfig::new(&registry.url))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (requests, results) = (
        format!("e2e.topo-{id}.requests"),
        format!("e2e.topo-{id}.results"),
    );
    let dir = std::env::temp_dir().join(format!("dl-topo-{id}"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("topics.yaml");
    std::fs::write(
        &file,
        format!(
            "topics:\n  - {{name: {requests}, partitions: 1, value_schema: DecisionRequest}}\n  \
             - {{name: {results}, partitions: 1, value_schema: DecisionResult}}\n"
        ),
    )?;
    let apply = || {
        Command::new(dl_e2e::bin("dlctl"))
            .args(["--brokers", &brokers, "topology", "apply", "--file"])
            .arg(&file)
            .env("DL_SCHEMA_REGISTRY_URL", &registry.url)
            .output()
    };
    let out = apply()?;
    assert!(out.status.success(), "{out:?}");
    let request_id = client
        .lookup(
            &subject_for_topic(&requests),
            dl_schema::DECISION_REQUEST_AVSC,
        )
        .await?
        .context("DecisionRequest registered under <requests>-value")?;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("has id {request_id}")));
    assert!(client
        .lookup(
            &subject_for_topic(&results),
            dl_schema::DECISION_RESULT_AVSC
        )
        .await?
        .is_some());
    // Idempotent.
    assert!(apply()?.status.success());

    // A subject whose latest version our schema cannot read (request_id was an int): refused.
    let mut foreign: Value = serde_json::from_str(dl_schema::DECISION_RESULT_AVSC)?;
    foreign["fields"][0]["type"] = json!("int");
    let other = format!("e2e.topo-{id}.other");
    let subject = subject_for_topic(&other);
    std::fs::write(
        &file,
        format!("topics:\n  - {{name: {other}, partitions: 1, value_schema: DecisionResult}}\n"),
    )?;
    // Through the registry's REST API directly (our client would refuse it too).
    reqwest::Client::new()
        .post(format!("{}/subjects/{subject}/versions", registry.url))
        .json(&json!({"schema": foreign.to_string()}))
        .send()
        .await?
        .error_for_status()?;
    let out = apply()?;
    assert!(
        !out.status.success(),
        "an incompatible change must be refused"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not BACKWARD compatible"), "{stderr}");
    assert!(client
        .lookup(&subject, dl_schema::DECISION_RESULT_AVSC)
        .await?
        .is_none());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
