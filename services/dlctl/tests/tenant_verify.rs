//! `dlctl ledger verify --from tenant-view` (docs/tenancy.md, ADR 0029): two signed chains
//! interleaving two tenants' decisions are projected by the real projection (`dl-store`) into a
//! fresh database; each tenant's auditor role then verifies them with the `dlctl` binary through
//! `tenant_ledger`: its own records in full, the other tenant's by position and hashes. Then, as
//! the owner, one of kela's records is edited (kela finds it, bank cannot see it), and a foreign
//! record's hash and prev_hash are edited (a broken link for kela).
//!
//! Needs DATABASE_URL (`scripts/stack.sh up && . .stack/env`) with a role that may create
//! databases and roles; each run uses a fresh database and fresh roles, dropped at the end.

use std::path::{Path, PathBuf};
use std::process::Command;

use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{Algorithm, LocalKeyFile, Signer, WorkerKey, WorkerKeyPolicy};
use dl_store::{Projection, SourcedRecord, TrustAnchors, VerifyOptions};
use dl_verify::synthetic::{decision_body, rejection_body, sign_decision, ChainBuilder};
use sqlx::{Connection as _, PgConnection, PgPool};

const TOPIC: &str = "decision.ledger";

fn decision(b: &mut ChainBuilder, key: &WorkerKey, i: u64, tenant: Option<&str>) {
    let mut d = decision_body(i, b.clock_ms);
    d.tenant = tenant.map(str::to_string);
    sign_decision(key, &mut d);
    b.signed_decision(d);
}

fn rejection(b: &mut ChainBuilder, i: u64, tenant: &str) {
    let mut r = LedgerRecord::unchained(LedgerRecordKind::RequestRejected, b.clock_ms);
    let mut body = rejection_body(i, b.clock_ms);
    body.tenant = Some(tenant.into());
    r.rejection = Some(body);
    b.append(r);
}

/// Chain 0: 0 cert · 1 kela · 2 bank · 3 bank rejection · 4 kela · 5 bank · 6 checkpoint(5) ·
/// 7 kela · 8 bank · 9 checkpoint(8). Chain 1: 0 cert · 1 bank · 2 kela · 3 default ·
/// 4 checkpoint(3).
fn chains(certifier: &LocalKeyFile, key: &WorkerKey, now: i64) -> Vec<Vec<LedgerRecord>> {
    let mut a = ChainBuilder::new(format!("{TOPIC}:0"), now);
    a.certificate(key);
    decision(&mut a, key, 1, Some("kela"));
    decision(&mut a, key, 2, Some("bank"));
    rejection(&mut a, 3, "bank");
    decision(&mut a, key, 4, Some("kela"));
    decision(&mut a, key, 5, Some("bank"));
    a.checkpoint(certifier).unwrap();
    decision(&mut a, key, 7, Some("kela"));
    decision(&mut a, key, 8, Some("bank"));
    a.checkpoint(certifier).unwrap();
    let mut b = ChainBuilder::new(format!("{TOPIC}:1"), now);
    b.certificate(key);
    decision(&mut b, key, 101, Some("bank"));
    decision(&mut b, key, 102, Some("kela"));
    decision(&mut b, key, 103, None);
    b.checkpoint(certifier).unwrap();
    vec![a.records, b.records]
}

struct Db {
    admin: String,
    name: String,
    url: String,
    pool: PgPool,
    roles: Vec<String>,
}

impl Db {
    async fn fresh() -> Option<Db> {
        let Ok(admin) = std::env::var("DATABASE_URL") else {
            eprintln!("SKIPPED tenant_verify: DATABASE_URL is not set (run `scripts/stack.sh up && . .stack/env`)");
            return None;
        };
        let name = format!("tenant_verify_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.expect("DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let (base, _) = admin.rsplit_once('/').expect("a database part");
        let url = format!("{base}/{name}");
        let pool = dl_store::connect_and_migrate(&url, 2)
            .await
            .expect("migrating the scratch database");
        Some(Db {
            admin,
            name,
            url,
            pool,
            roles: Vec::new(),
        })
    }

    /// A login role auditing `tenant`; its connection URL.
    async fn auditor(&mut self, tenant: &str) -> String {
        let role = format!("{tenant}_verify_{}", uuid::Uuid::new_v4().simple());
        let password = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("SELECT dl_add_tenant_auditor($1, $2)")
            .bind(&role)
            .bind(tenant)
            .execute(&self.pool)
            .await
            .unwrap();
        sqlx::query(&format!("ALTER ROLE {role} PASSWORD '{password}'"))
            .execute(&self.pool)
            .await
            .unwrap();
        self.roles.push(role.clone());
        let (scheme, rest) = self.url.split_once("://").expect("a URL");
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{role}:{password}@{host}")
    }

    async fn drop(self) {
        self.pool.close().await;
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        // The roles own nothing; their grants live in the scratch database, dropped first.
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        for role in &self.roles {
            sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// `dlctl ledger verify --json --from tenant-view --database-url <url>`: (exit code, report).
fn verify(url: &str, key_file: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dlctl"))
        .args(["ledger", "verify", "--json", "--from", "tenant-view"])
        .args(["--database-url", url])
        .args(extra)
        .env("DL_SIGNER_KEY_FILE", key_file)
        .env_remove("DL_SIGNER")
        .env_remove("DL_TRUSTED_CERTIFIERS")
        .env_remove("DL_TENANT")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json = serde_json::from_str(text.trim())
        .unwrap_or_else(|_| serde_json::json!({ "stdout": text.trim(), "stderr": stderr.trim() }));
    (out.status.code().unwrap_or(-1), json)
}

/// `(chain_id, sequence, kind)` of every break.
fn breaks(report: &serde_json::Value) -> Vec<(String, i64, String)> {
    report["break_details"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|b| {
                    (
                        b["chain_id"].as_str().unwrap_or_default().to_string(),
                        b["sequence"].as_i64().unwrap_or(-1),
                        b["kind"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `(records, foreign, decisions, rejections, signatures_verified, checkpoints_verified)`.
fn counts(chain: &serde_json::Value) -> [i64; 6] {
    [
        "records",
        "foreign",
        "decisions",
        "rejections",
        "signatures_verified",
        "checkpoints_verified",
    ]
    .map(|k| chain[k].as_i64().unwrap_or(-1))
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_auditor_verifies_its_decisions_through_foreign_records() {
    let Some(mut db) = Db::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file: PathBuf = dir.path().join("certifier.pem");
    let certifier = LocalKeyFile::open_or_create(&key_file, Algorithm::EcdsaP256Sha256).unwrap();
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&key_file).unwrap());
    let now = chrono::Utc::now().timestamp_millis();
    let key = WorkerKey::certify(&signer, "worker-a", &WorkerKeyPolicy::default(), now - 5000)
        .await
        .unwrap();
    let chains = chains(&certifier, &key, now - 1000);

    // Projected as the projector does it, with the certifier trusted: no break.
    let mut anchors = TrustAnchors::new();
    anchors.add_signer_key(&signer).await.unwrap();
    let projection = Projection::new().with_integrity(anchors, VerifyOptions::default());
    let batch: Vec<SourcedRecord> = chains
        .iter()
        .enumerate()
        .flat_map(|(p, records)| {
            records.iter().enumerate().map(move |(i, r)| SourcedRecord {
                topic: TOPIC.into(),
                partition: p as i32,
                offset: i as i64,
                record: Ok(r.clone()),
            })
        })
        .collect();
    let mut tx = db.pool.begin().await.unwrap();
    let outcome = projection.write(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((outcome.projected, outcome.breaks), (15, 0));

    let kela = db.auditor("kela").await;
    let bank = db.auditor("bank").await;

    // (1) Each auditor: every chain verifies; own records counted apart from foreign ones.
    for (url, tenant, expected) in [
        // chain 0: kela 1, 4, 7; foreign 2, 3, 5, 8 · chain 1: kela 102; foreign 101, 103.
        (&kela, "kela", [[10, 4, 3, 0, 3, 2], [5, 2, 1, 0, 1, 1]]),
        // chain 0: bank 2, 3 (rejection), 5, 8; foreign 1, 4, 7 · chain 1: bank 101.
        (&bank, "bank", [[10, 3, 3, 1, 3, 2], [5, 2, 1, 0, 1, 1]]),
    ] {
        let (code, report) = verify(url, &key_file, &[]);
        assert_eq!(code, 0, "{tenant}: {report}");
        assert_eq!(report["ok"], true);
        assert_eq!(report["source"], "tenant-view");
        assert_eq!(report["tenant"], tenant);
        assert_eq!(report["records"], 15);
        let got: Vec<[i64; 6]> = report["chains"]
            .as_array()
            .unwrap()
            .iter()
            .map(counts)
            .collect();
        assert_eq!(got, expected, "{tenant}: {report}");
        assert_eq!(report["chains"][0]["last_verified_checkpoint"], 8);
        assert_eq!(report["chains"][0]["head_hash"], chains[0][9].hash.as_str());
    }
    // The human report says what was not read.
    let out = Command::new(env!("CARGO_BIN_EXE_dlctl"))
        .args([
            "ledger",
            "verify",
            "--from",
            "tenant-view",
            "--database-url",
            &kela,
        ])
        .env("DL_SIGNER_KEY_FILE", &key_file)
        .env_remove("DL_SIGNER")
        .env_remove("DL_TRUSTED_CERTIFIERS")
        .env_remove("DL_TENANT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("tenant kela:"), "{text}");
    assert!(text.contains("  foreign 4 "), "{text}");
    assert!(text.contains("all chains verify"), "{text}");
    // --tenant must name the role's tenant; the operator's login is no tenant's auditor.
    let (code, report) = verify(&kela, &key_file, &["--tenant", "bank"]);
    assert_eq!(code, 2, "{report}");
    let (code, report) = verify(&db.url, &key_file, &[]);
    assert_eq!(code, 2, "{report}");
    assert!(
        report["stderr"]
            .as_str()
            .unwrap_or_default()
            .contains("no tenant's auditor"),
        "{report}"
    );

    // (2) The owner edits one of kela's decisions (chain 0, sequence 4): kela finds it; to bank
    // that record is foreign, its hash as stated, so bank's verification cannot see the edit.
    exec(&db.pool, "UPDATE ledger_records SET record = jsonb_set(record, '{decision,output}', '\"{\\\"eligible\\\":false}\"') WHERE chain_id = 'decision.ledger:0' AND sequence = 4").await;
    let (code, report) = verify(&kela, &key_file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        breaks(&report),
        [
            ("decision.ledger:0".into(), 4, "HASH_MISMATCH".into()),
            (
                "decision.ledger:0".into(),
                4,
                "BAD_DECISION_SIGNATURE".into()
            ),
        ]
    );
    assert_eq!(verify(&bank, &key_file, &[]).0, 0);
    let original = serde_json::to_value(&chains[0][4]).unwrap();
    sqlx::query("UPDATE ledger_records SET record = $1 WHERE chain_id = 'decision.ledger:0' AND sequence = 4")
        .bind(&original)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(verify(&kela, &key_file, &[]).0, 0);

    // (3) The owner edits a foreign record's hash: bank's 2 (followed by bank's 3) and bank's 5
    // (the head checkpoint 6 signs): a broken link at the next record for kela.
    exec(&db.pool, "UPDATE ledger_records SET hash = repeat('f', 64) WHERE chain_id = 'decision.ledger:0' AND sequence IN (2, 5)").await;
    let (code, report) = verify(&kela, &key_file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        breaks(&report),
        [
            ("decision.ledger:0".into(), 3, "BROKEN_LINK".into()),
            ("decision.ledger:0".into(), 6, "BROKEN_LINK".into()),
            ("decision.ledger:0".into(), 6, "CHECKPOINT_MISMATCH".into()),
        ]
    );
    for s in [2, 5] {
        sqlx::query(
            "UPDATE ledger_records SET hash = $1 WHERE chain_id = 'decision.ledger:0' AND sequence = $2",
        )
        .bind(&chains[0][s].hash)
        .bind(s as i64)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // ... and a foreign record's prev_hash (bank's 101 on chain 1): a broken link there.
    exec(&db.pool, "UPDATE ledger_records SET prev_hash = repeat('0', 63) || '1' WHERE chain_id = 'decision.ledger:1' AND sequence = 1").await;
    let (code, report) = verify(&kela, &key_file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        breaks(&report),
        [("decision.ledger:1".into(), 1, "BROKEN_LINK".into())]
    );
    let first = &report["chains"][1]["first_break"];
    assert_eq!(first["expected"], chains[1][0].hash.as_str());

    db.drop().await;
}
