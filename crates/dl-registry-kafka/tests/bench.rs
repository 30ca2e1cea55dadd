//! Benchmark (ignored; run explicitly): registry rebuild and `select` with 1,000 functions × 3
//! versions. Prints numbers; asserts only correctness, never timings.
//!
//! `. .stack/env && cargo test --release -p dl-registry-kafka --test bench -- --ignored --nocapture`
//! (with DL_BROKERS set it also measures the rebuild from a real topic).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use dl_function::FunctionPackage;
use dl_registry::events::{self, ApprovalRequest};
use dl_registry::{Approver, ApproverSet, Registry};
use dl_registry_kafka::{FollowerConfig, RegistryFollower};
use dl_schema::{ApproverRole, RegistryEvent, RegistryEventKind, VersionPublished};

const FUNCTIONS: usize = 1_000;
const VERSIONS: [(&str, &str, Option<&str>); 3] = [
    ("1.0.0", "2023-01-01", Some("2023-12-31")),
    ("1.1.0", "2024-01-01", Some("2024-12-31")),
    ("2.0.0", "2025-01-01", None),
];

fn log() -> (Vec<RegistryEvent>, Arc<ApproverSet>) {
    let base = FunctionPackage::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/loan_approval"),
    )
    .unwrap();
    let manifest = String::from_utf8(base.files()["function.yaml"].clone()).unwrap();
    let (owner, reviewer) = (dl_registry::generate_key(), dl_registry::generate_key());
    let mut set = ApproverSet::default();
    for (id, key) in [("olivia", &owner), ("ravi", &reviewer)] {
        set.insert(Approver {
            id: id.into(),
            roles: vec![ApproverRole::Owner, ApproverRole::Reviewer],
            keys: [(format!("{id}-1"), key.verifying_key())].into(),
            tenant: None,
        });
    }
    let mut log = Vec::with_capacity(FUNCTIONS * 3 * 4);
    for f in 0..FUNCTIONS {
        let id = format!("bench_fn_{f:04}");
        for (v, from, to) in VERSIONS {
            let mut text = String::new();
            for line in manifest.lines() {
                if line.starts_with("id:") {
                    text.push_str(&format!("id: {id}\n"));
                } else if line.starts_with("version:") {
                    text.push_str(&format!("version: {v}\n"));
                } else if line.starts_with("effective_from:") {
                    text.push_str(&format!("effective_from: {from}\n"));
                    if let Some(to) = to {
                        text.push_str(&format!("effective_to: {to}\n"));
                    }
                } else if !line.starts_with("effective_to:") {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            let mut files: BTreeMap<String, Vec<u8>> = base.files().clone();
            files.insert("function.yaml".into(), text.into_bytes());
            let digest = dl_function::package_digest(&files);
            let mut e = events::activated(&id, v, &digest, "ops", 1);
            e.kind = RegistryEventKind::VersionPublished;
            e.activated = None;
            e.published = Some(VersionPublished {
                digest: digest.clone(),
                files: files
                    .into_iter()
                    .map(|(k, v)| (k, serde_bytes::ByteBuf::from(v)))
                    .collect(),
                author: "ann".into(),
                published_at: 1,
            });
            log.push(e);
            for (role, who, key) in [
                (ApproverRole::Owner, "olivia", &owner),
                (ApproverRole::Reviewer, "ravi", &reviewer),
            ] {
                let key_id = format!("{who}-1");
                let req = ApprovalRequest {
                    function_id: &id,
                    version: v,
                    digest: &digest,
                    role,
                    approver_id: who,
                    key_id: &key_id,
                };
                log.push(events::approved(req, key, 2));
            }
            log.push(events::activated(&id, v, &digest, "ops", 3));
        }
    }
    (log, Arc::new(set))
}

fn select_cost(registry: &Registry) -> Duration {
    let dates: Vec<NaiveDate> = ["2023-06-01", "2024-06-01", "2025-06-01"]
        .iter()
        .map(|d| d.parse().unwrap())
        .collect();
    let ids: Vec<String> = (0..FUNCTIONS).map(|f| format!("bench_fn_{f:04}")).collect();
    let n = 300_000;
    let started = Instant::now();
    let mut found = 0usize;
    for i in 0..n {
        let id = &ids[(i * 7919) % FUNCTIONS];
        if registry.select(id, None, dates[i % 3]).is_ok() {
            found += 1;
        }
    }
    let per = started.elapsed() / n as u32;
    assert_eq!(found, n);
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run explicitly"]
async fn registry_rebuild_and_select_with_1000_functions_x_3_versions() {
    let (log, approvers) = log();
    let bytes: usize = log
        .iter()
        .map(|e| dl_schema::registry_codec().encode(e).unwrap().len())
        .sum();
    println!(
        "log: {} events, {:.1} MiB encoded",
        log.len(),
        bytes as f64 / (1024.0 * 1024.0)
    );

    let started = Instant::now();
    let mut registry = Registry::new(approvers.clone());
    for e in &log {
        registry.apply(e).unwrap();
    }
    let fold = started.elapsed();
    assert_eq!(registry.len(), FUNCTIONS * 3);
    println!(
        "in-memory fold of {} events: {:.3} s ({:.1} µs/event)",
        log.len(),
        fold.as_secs_f64(),
        fold.as_secs_f64() * 1e6 / log.len() as f64
    );
    println!(
        "select (no version, as_of): {:?} per call",
        select_cost(&registry)
    );
    let started = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(registry.clone());
    }
    println!("snapshot clone: {:?}", started.elapsed() / 100);

    let Ok(brokers) = std::env::var("DL_BROKERS") else {
        println!("DL_BROKERS not set: skipping the broker rebuild");
        return;
    };
    let topic = format!("bench.registry.{}", uuid::Uuid::new_v4().simple());
    dl_kafka::Topology {
        topics: vec![dl_kafka::TopicSpec {
            name: topic.clone(),
            partitions: 1,
            replication_factor: 1,
            config: Default::default(),
            value_schema: None,
        }],
        consumer_groups: vec![],
    }
    .apply(&dl_kafka::client_config(&brokers))
    .await
    .unwrap();
    let producer: rdkafka::producer::FutureProducer = dl_kafka::client_config(&brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.max.bytes", "16777216")
        .create()
        .unwrap();
    let codec = dl_schema::registry_codec();
    let started = Instant::now();
    let mut pending = Vec::new();
    for e in &log {
        let payload = codec.encode(e).unwrap();
        let key = events::event_key(e);
        pending.push(
            producer
                .send_result(
                    rdkafka::producer::FutureRecord::to(&topic)
                        .key(&key)
                        .payload(&payload),
                )
                .map_err(|_| ())
                .unwrap(),
        );
        if pending.len() >= 1000 {
            for p in pending.drain(..) {
                p.await.unwrap().unwrap();
            }
        }
    }
    for p in pending.drain(..) {
        p.await.unwrap().unwrap();
    }
    println!(
        "produced {} events in {:.2} s",
        log.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let follower = RegistryFollower::start(FollowerConfig {
        brokers,
        topic,
        approvers,
    })
    .await
    .unwrap();
    let rebuilt = follower
        .wait_caught_up(Duration::from_secs(600))
        .await
        .unwrap();
    let rebuild = started.elapsed();
    assert_eq!(rebuilt.len(), FUNCTIONS * 3);
    assert_eq!(rebuilt.refused(), 0);
    println!(
        "follower rebuild from the broker ({} events): {:.2} s",
        log.len(),
        rebuild.as_secs_f64()
    );
    println!(
        "select on the rebuilt snapshot: {:?} per call",
        select_cost(&rebuilt)
    );
}
