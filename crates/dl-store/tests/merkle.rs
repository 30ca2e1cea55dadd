//! The projection checks each checkpoint's Merkle root (ADR 0032) across batches: the projector
//! keeps its chain verifiers from one committed batch to the next (`VerifierCache`), so a
//! checkpoint whose segment spans several batches is still checked, and a wrong root is a
//! `MERKLE_ROOT_MISMATCH` break in `chain_breaks`.
//!
//! Needs DATABASE_URL (`scripts/stack.sh up && . .stack/env`) with a role that may create
//! databases; each run uses a fresh database, dropped at the end.

use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{Algorithm, LocalKeyFile};
use dl_store::{Projection, SourcedRecord, VerifierCache};
use dl_verify::synthetic::{local_checkpoint_with, ChainBuilder};
use sqlx::{Connection as _, PgConnection, PgPool};

const CHAIN: &str = "decision.ledger:0";

async fn scratch_db() -> Option<(PgPool, String, String)> {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "SKIPPED merkle: DATABASE_URL is not set (run `scripts/stack.sh up && . .stack/env`)"
        );
        return None;
    };
    let name = format!("merkle_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin).await.expect("DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    let (base, _) = admin.rsplit_once('/').expect("a database part");
    let pool = dl_store::connect_and_migrate(&format!("{base}/{name}"), 2)
        .await
        .expect("migrating the scratch database");
    Some((pool, name, admin))
}

/// Two segments of 7 unsigned decisions, each closed by a checkpoint with a root: the first
/// root right, the second one wrong.
fn chain(certifier: &LocalKeyFile) -> Vec<LedgerRecord> {
    let mut b = ChainBuilder::new(CHAIN, 1_764_300_000_000);
    b.merkle_roots = true;
    for i in 0..7 {
        b.decision(None, i);
    }
    b.checkpoint(certifier).expect("a checkpoint");
    for i in 7..14 {
        b.decision(None, i);
    }
    let wrong = local_checkpoint_with(certifier, b.head(), Some("ab".repeat(32))).expect("cp");
    let mut r = LedgerRecord::unchained(LedgerRecordKind::Checkpoint, b.clock_ms);
    r.checkpoint = Some(wrong);
    b.append(r);
    b.records
}

#[tokio::test]
async fn a_wrong_merkle_root_is_a_break_when_its_segment_spans_batches() {
    let Some((pool, db, admin)) = scratch_db().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let certifier =
        LocalKeyFile::open_or_create(dir.path().join("c.pem"), Algorithm::EcdsaP256Sha256).unwrap();
    let records = chain(&certifier);
    let projection = Projection::new().with_integrity(
        dl_store::TrustAnchors::new(),
        dl_store::VerifyOptions {
            allow_unsigned: true,
            report_untrusted: false,
        },
    );
    // Batches of 3 records, each its own committed transaction, as the projector's stream.
    let mut cache = VerifierCache::default();
    let mut breaks = 0;
    for (n, part) in records.chunks(3).enumerate() {
        let batch: Vec<SourcedRecord> = part
            .iter()
            .enumerate()
            .map(|(i, r)| SourcedRecord {
                topic: "decision.ledger".into(),
                partition: 0,
                offset: (n * 3 + i) as i64,
                record: Ok(r.clone()),
            })
            .collect();
        let mut tx = pool.begin().await.unwrap();
        let outcome = projection
            .write_with(&mut tx, &batch, &mut cache)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        breaks += outcome.breaks;
    }
    let found: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT break_kind, sequence FROM chain_breaks ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(found, vec![("MERKLE_ROOT_MISMATCH".to_string(), Some(15))]);
    assert_eq!(breaks, 1);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows, 16,
        "every record is projected, the broken checkpoint too"
    );

    pool.close().await;
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {db}"))
        .execute(&mut conn)
        .await
        .unwrap();
}
