//! The projection across batches, each its own committed transaction as in the projector:
//!
//! - it checks each checkpoint's Merkle root (ADR 0032): the projector keeps its chain
//!   verifiers from one committed batch to the next (`VerifierCache`), so a checkpoint whose
//!   segment spans several batches is still checked, and a wrong root is a
//!   `MERKLE_ROOT_MISMATCH` break in `chain_breaks`;
//! - a batch locks and stores the heads of all its chains in one statement each, and a
//!   tampered ledger whose chain ids differ only by a NUL (stored as U+FFFD) does not make that
//!   statement fail, which would stop the projection for good.
//!
//! Needs DATABASE_URL (`scripts/stack.sh up && . .stack/env`) with a role that may create
//! databases; each run uses a fresh database, dropped at the end.

use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{Algorithm, LocalKeyFile};
use dl_store::{BatchOutcome, Projection, SourcedRecord, StoreError, VerifierCache};
use dl_verify::synthetic::{local_checkpoint_with, ChainBuilder};
use sqlx::PgPool;

mod common;

const CHAIN: &str = "decision.ledger:0";

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

/// Projects `records` as one batch of the projector's stream (Kafka offsets from `offset`
/// on) in its own committed transaction, continuing the verifiers in `cache`.
async fn project(
    pool: &PgPool,
    projection: &Projection,
    records: &[LedgerRecord],
    offset: usize,
    cache: &mut VerifierCache,
) -> Result<BatchOutcome, StoreError> {
    let batch: Vec<SourcedRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| SourcedRecord {
            topic: "decision.ledger".into(),
            partition: 0,
            offset: (offset + i) as i64,
            record: Ok(r.clone()),
        })
        .collect();
    let mut tx = pool.begin().await?;
    let outcome = projection.write_with(&mut tx, &batch, cache).await?;
    tx.commit().await?;
    Ok(outcome)
}

fn unsigned_allowed() -> Projection {
    Projection::new().with_integrity(
        dl_store::TrustAnchors::new(),
        dl_store::VerifyOptions {
            allow_unsigned: true,
            report_untrusted: false,
        },
    )
}

#[tokio::test]
async fn a_wrong_merkle_root_is_a_break_when_its_segment_spans_batches() {
    let Some(db) = common::ScratchDb::create("batches").await else {
        return;
    };
    let pool = &db.pool;
    let dir = tempfile::tempdir().unwrap();
    let certifier =
        LocalKeyFile::open_or_create(dir.path().join("c.pem"), Algorithm::EcdsaP256Sha256).unwrap();
    let records = chain(&certifier);
    let projection = unsigned_allowed();
    // Batches of 3 records, each its own committed transaction, as the projector's stream.
    let mut cache = VerifierCache::default();
    let mut breaks = 0;
    for (n, part) in records.chunks(3).enumerate() {
        let outcome = project(pool, &projection, part, n * 3, &mut cache)
            .await
            .unwrap();
        breaks += outcome.breaks;
    }
    let found: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT break_kind, sequence FROM chain_breaks ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(found, vec![("MERKLE_ROOT_MISMATCH".to_string(), Some(15))]);
    assert_eq!(breaks, 1);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_records")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        rows, 16,
        "every record is projected, the broken checkpoint too"
    );

    db.drop().await;
}

#[tokio::test]
async fn chain_ids_differing_only_by_a_nul_do_not_stop_the_projection() {
    let Some(db) = common::ScratchDb::create("batches").await else {
        return;
    };
    let pool = &db.pool;
    let projection = unsigned_allowed();
    let mut nul = ChainBuilder::new("decision.ledger:0\0x", 1_764_300_000_000);
    let mut replacement = ChainBuilder::new("decision.ledger:0\u{FFFD}x", 1_764_300_000_000);
    let mut good = ChainBuilder::new(CHAIN, 1_764_300_000_000);
    let mut cache = VerifierCache::default();
    for round in 0..2u64 {
        let mut records = Vec::new();
        for i in 0..3 {
            records.push(nul.decision(None, 100 + round * 10 + i).clone());
            records.push(replacement.decision(None, 200 + round * 10 + i).clone());
            records.push(good.decision(None, 300 + round * 10 + i).clone());
        }
        project(pool, &projection, &records, round as usize * 9, &mut cache)
            .await
            .expect("a batch with colliding chain ids is projected, not refused");
    }
    let heads: Vec<(String, i64)> =
        sqlx::query_as("SELECT chain_id, sequence FROM chain_heads ORDER BY chain_id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        heads,
        vec![
            (CHAIN.to_string(), 5),
            ("decision.ledger:0\u{FFFD}x".to_string(), 5)
        ],
        "one head per stored chain id, the good chain's unharmed"
    );
    let good_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions WHERE chain_id = $1")
        .bind(CHAIN)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        good_rows, 6,
        "every decision of the good chain is projected"
    );

    db.drop().await;
}
