//! Ledger integrity end to end: a synthetic signed chain (certificates, key rotation, signed
//! decisions, a rejection, checkpoints) is produced straight to a ledger topic on the real broker,
//! projected by the real `dl-projector`, checked through `audit_decision_integrity`, verified by
//! `dlctl ledger verify` from Kafka and from PostgreSQL, and then PostgreSQL is tampered with in
//! six ways (each on its own copy of the database): every tampering must make
//! `dlctl ledger verify --from postgres` exit 1 naming the right break kind and sequence.
//!
//! Needs the stack (`scripts/stack.sh up && . .stack/env`) and the binaries
//! (`cargo build -p projector -p dlctl`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dl_e2e::{bin, Scenario};
use dl_ledger::ChainHead;
use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{Algorithm, LocalKeyFile, Signer, WorkerKey, WorkerKeyPolicy};
use dl_verify::synthetic::{sign_decision, ChainBuilder};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sqlx::Row;

const RECORDS: i64 = 26;

struct Fixture {
    chain: String,
    key_file: PathBuf,
    records: Vec<LedgerRecord>,
}

async fn certify(signer: &Signer, worker: &str, now: i64) -> WorkerKey {
    WorkerKey::certify(signer, worker, &WorkerKeyPolicy::default(), now - 5000)
        .await
        .expect("certify")
}

/// seq 0 cert k1 · 1..=12 decisions by k1 · 13 rejection · 14 checkpoint(13) · 15 cert k2 ·
/// 16..=21 decisions by k2 · 22 decision by k1 · 23 checkpoint(22) · 24, 25 decisions by k2.
async fn build(scenario: &Scenario) -> Fixture {
    let dir = scenario.dir().join("signer");
    let key_file = dir.join("certifier.pem");
    let certifier = LocalKeyFile::open_or_create(&key_file, Algorithm::EcdsaP256Sha256).unwrap();
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&key_file).unwrap());
    let rogue_file = dir.join("rogue.pem");
    LocalKeyFile::open_or_create(&rogue_file, Algorithm::EcdsaP256Sha256).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let k1 = certify(&signer, "worker-a", now).await;
    let k2 = certify(&signer, "worker-a", now).await;
    let chain = format!("{}:0", scenario.ledger);
    let mut b = ChainBuilder::new(chain.clone(), now - 1000);
    b.certificate(&k1);
    for i in 1..=12 {
        b.decision(Some(&k1), i);
    }
    b.rejection(13);
    b.checkpoint(&certifier).unwrap();
    b.certificate(&k2);
    for i in 16..=21 {
        b.decision(Some(&k2), i);
    }
    b.decision(Some(&k1), 22);
    b.checkpoint(&certifier).unwrap();
    b.decision(Some(&k2), 24);
    b.decision(Some(&k2), 25);
    assert_eq!(b.records.len() as i64, RECORDS);
    Fixture {
        chain,
        key_file,
        records: b.records,
    }
}

fn produce(scenario: &Scenario, records: &[LedgerRecord]) {
    let producer: BaseProducer = dl_kafka::client_config(&scenario.brokers)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let codec = dl_schema::ledger_codec();
    for r in records {
        let payload = codec.encode(r).unwrap();
        let key = r.sequence.to_string();
        producer
            .send(
                BaseRecord::to(&scenario.ledger)
                    .partition(0)
                    .key(&key)
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// `dlctl ledger verify --json ...`: (exit code, report).
fn dlctl_verify(scenario: &Scenario, key_file: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(bin("dlctl"))
        .args(["--brokers", &scenario.brokers, "ledger", "verify", "--json"])
        .args(args)
        .env("DL_SIGNER_KEY_FILE", key_file)
        .env_remove("DL_SIGNER")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "dlctl printed {text:?} ({e}), stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn first_break(report: &serde_json::Value) -> (String, i64) {
    let b = &report["first_breaks"][0];
    (
        b["kind"].as_str().unwrap_or_default().to_string(),
        b["sequence"].as_i64().unwrap_or(-1),
    )
}

fn db_name(url: &str) -> String {
    url.rsplit_once('/').map(|(_, d)| d.to_string()).unwrap()
}

/// A copy of the scenario's database (nothing may be connected to it).
async fn copy_db(scenario: &Scenario, suffix: &str) -> String {
    let admin = sqlx::PgPool::connect(&std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();
    let source = db_name(&scenario.database_url);
    let target = format!("{source}_{suffix}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match sqlx::query(&format!("CREATE DATABASE {target} TEMPLATE {source}"))
            .execute(&admin)
            .await
        {
            Ok(_) => break,
            // "source database is being accessed by other users" right after the projector died.
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("copying the database: {e}"),
        }
    }
    admin.close().await;
    let base = scenario.database_url.rsplit_once('/').unwrap().0;
    format!("{base}/{target}")
}

async fn records_from(pool: &sqlx::PgPool) -> Vec<LedgerRecord> {
    sqlx::query("SELECT record FROM ledger_records ORDER BY sequence")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_value(r.get::<serde_json::Value, _>(0)).unwrap())
        .collect()
}

/// What a forger with write access does to hide an edit: rehash the rest of the chain and fix up
/// every projected column so that rows and records agree.
async fn rewrite(pool: &sqlx::PgPool, mut records: Vec<LedgerRecord>, from: usize) {
    let mut head = if from == 0 {
        ChainHead::genesis(records[0].chain_id.clone())
    } else {
        ChainHead::after(&records[from - 1])
    };
    for r in records.iter_mut().skip(from) {
        *r = head.append(r.clone());
        sqlx::query("UPDATE ledger_records SET record = $1, hash = $2, prev_hash = $3 WHERE chain_id = $4 AND sequence = $5")
            .bind(serde_json::to_value(&*r).unwrap())
            .bind(&r.hash)
            .bind(&r.prev_hash)
            .bind(&r.chain_id)
            .bind(r.sequence)
            .execute(pool)
            .await
            .unwrap();
        let sig = r.decision.as_ref().and_then(|d| d.signature.clone());
        sqlx::query("UPDATE decisions SET ledger_hash = $1, signature_algorithm = $2, signature_key_id = $3, signature_value = $4 WHERE chain_id = $5 AND sequence = $6")
            .bind(&r.hash)
            .bind(sig.as_ref().map(|s| &s.algorithm))
            .bind(sig.as_ref().map(|s| &s.key_id))
            .bind(sig.as_ref().map(|s| &s.value))
            .bind(&r.chain_id)
            .bind(r.sequence)
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_ledger_projects_verifies_and_every_tampering_is_named() {
    let scenario = Scenario::new("integrity", 1).await.unwrap();
    let fx = build(&scenario).await;
    produce(&scenario, &fx.records);

    // Kafka, untampered: exit 0, every signature, certificate and checkpoint verified.
    let (code, report) = dlctl_verify(&scenario, &fx.key_file, &["--topic", &scenario.ledger]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["records"], RECORDS);
    let chain = &report["chains"][0];
    assert_eq!(chain["partition"], 0);
    assert_eq!(chain["next_sequence"], RECORDS);
    assert_eq!(chain["signatures_verified"], 21);
    assert_eq!(chain["certificates_verified"], 2);
    assert_eq!(chain["checkpoints_verified"], 2);
    assert_eq!(chain["last_verified_checkpoint"], 22);
    // Without the certifier key nothing can be trusted: exit 1, UNTRUSTED_CERTIFIER at 0.
    let (code, report) = dlctl_verify(
        &scenario,
        &scenario.dir().join("no-such-key.pem"),
        &["--topic", &scenario.ledger],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(first_break(&report), ("UNTRUSTED_CERTIFIER".into(), 0));

    // Projection with the same certifier configured as the worker's.
    {
        let _projector = scenario
            .projector_with_env(
                "p",
                &[("DL_SIGNER_KEY_FILE", fx.key_file.display().to_string())],
            )
            .unwrap();
        let n = scenario
            .wait_for_count(
                "SELECT count(*) FROM ledger_records",
                RECORDS,
                Duration::from_secs(90),
            )
            .await
            .unwrap();
        assert_eq!(n, RECORDS, "projected records");
        let pool = scenario.pg().await.unwrap();
        let count = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(count("SELECT count(*) FROM chain_breaks").await, 0);
        assert_eq!(
            count("SELECT count(*) FROM signing_keys WHERE verified").await,
            2
        );
        assert_eq!(
            count("SELECT count(*) FROM checkpoints WHERE verified").await,
            2
        );
        assert_eq!(
            count("SELECT count(*) FROM decisions WHERE signature_verified").await,
            21
        );
        let rows = sqlx::query(
            "SELECT ledger_sequence, status, signed, key_certified, key_verified, checkpoint_sequence, covered_by_checkpoint, integrity_ok
             FROM audit_decision_integrity ORDER BY ledger_sequence",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 22);
        for r in &rows {
            let seq: i64 = r.get(0);
            let status: String = r.get(1);
            let expected_cp = match seq {
                0..=13 => Some(14i64),
                16..=22 => Some(23),
                _ => None,
            };
            assert_eq!(
                r.get::<Option<i64>, _>(5),
                expected_cp,
                "checkpoint of {seq}"
            );
            assert_eq!(r.get::<bool, _>(6), expected_cp.is_some());
            if status == "DECIDED" {
                assert!(
                    r.get::<bool, _>(2) && r.get::<bool, _>(3) && r.get::<bool, _>(4),
                    "{seq}"
                );
            } else {
                assert!(!r.get::<bool, _>(2), "a rejection is not signed");
            }
            assert_eq!(
                r.get::<bool, _>(7),
                expected_cp.is_some(),
                "integrity_ok of {seq}"
            );
        }
        pool.close().await;
    }

    // PostgreSQL, untampered: exit 0.
    let (code, report) = dlctl_verify(
        &scenario,
        &fx.key_file,
        &[
            "--from",
            "postgres",
            "--database-url",
            &scenario.database_url,
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], RECORDS);

    type Tamper = fn(
        sqlx::PgPool,
        String,
        Signer,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let cases: Vec<(&str, Tamper, &str, i64)> = vec![
        (
            "record_byte",
            |pool, chain, _| {
                Box::pin(async move {
                    sqlx::query("UPDATE ledger_records SET record = jsonb_set(record, '{decision,request_id}', '\"req-00000004\"') WHERE chain_id = $1 AND sequence = 3")
                        .bind(chain).execute(&pool).await.unwrap();
                })
            },
            "HASH_MISMATCH",
            3,
        ),
        (
            "decision_output",
            |pool, chain, _| {
                Box::pin(async move {
                    sqlx::query("UPDATE decisions SET output = jsonb_set(output, '{amount_eur}', '99999') WHERE chain_id = $1 AND sequence = 5")
                        .bind(chain).execute(&pool).await.unwrap();
                })
            },
            "DECISION_ROW_MISMATCH",
            5,
        ),
        (
            "delete",
            |pool, chain, _| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM decisions WHERE chain_id = $1 AND sequence = 7")
                        .bind(&chain)
                        .execute(&pool)
                        .await
                        .unwrap();
                    sqlx::query("DELETE FROM ledger_records WHERE chain_id = $1 AND sequence = 7")
                        .bind(&chain)
                        .execute(&pool)
                        .await
                        .unwrap();
                })
            },
            "SEQUENCE_GAP",
            7,
        ),
        (
            "swap",
            |pool, chain, _| {
                Box::pin(async move {
                    sqlx::query("UPDATE ledger_records l SET record = o.record FROM ledger_records o
                                 WHERE l.chain_id = $1 AND o.chain_id = $1 AND l.sequence IN (8, 9) AND o.sequence = 17 - l.sequence")
                        .bind(chain).execute(&pool).await.unwrap();
                })
            },
            "SEQUENCE_GAP",
            8,
        ),
        (
            "signature",
            |pool, _, _| {
                Box::pin(async move {
                    let mut records = records_from(&pool).await;
                    let other = records[2].decision.as_ref().unwrap().signature.clone();
                    records[10].decision.as_mut().unwrap().signature = other;
                    rewrite(&pool, records, 10).await;
                })
            },
            "BAD_DECISION_SIGNATURE",
            10,
        ),
        (
            "certificate",
            |pool, _, rogue| {
                Box::pin(async move {
                    let mut records = records_from(&pool).await;
                    let genuine = records[15].key_certified.clone().unwrap();
                    let trusted = genuine.certifier_key_id.clone();
                    let now = chrono::Utc::now().timestamp_millis();
                    let forged_key = certify(&rogue, "worker-a", now).await;
                    let mut cert = forged_key.certificate().clone();
                    cert.certifier_key_id = trusted;
                    let mut r = LedgerRecord::unchained(
                        LedgerRecordKind::SigningKeyCertified,
                        records[15].recorded_at,
                    );
                    r.key_certified = Some(cert);
                    records[15] = r;
                    for r in records.iter_mut().skip(16) {
                        if let Some(d) = r.decision.as_mut() {
                            if d.signature
                                .as_ref()
                                .is_some_and(|s| s.key_id == genuine.key_id)
                            {
                                sign_decision(&forged_key, d);
                            }
                        }
                    }
                    rewrite(&pool, records, 15).await;
                })
            },
            "BAD_KEY_CERTIFICATE",
            15,
        ),
    ];
    for (name, tamper, kind, sequence) in cases {
        let url = copy_db(&scenario, name).await;
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let rogue = Signer::LocalKeyFile(
            LocalKeyFile::open(scenario.dir().join("signer/rogue.pem")).unwrap(),
        );
        tamper(pool.clone(), fx.chain.clone(), rogue).await;
        pool.close().await;
        let (code, report) = dlctl_verify(
            &scenario,
            &fx.key_file,
            &["--from", "postgres", "--database-url", &url],
        );
        assert_eq!(code, 1, "{name}: {report}");
        assert_eq!(report["ok"], false, "{name}");
        assert_eq!(
            first_break(&report),
            (kind.to_string(), sequence),
            "{name}: {report}"
        );
    }
}
