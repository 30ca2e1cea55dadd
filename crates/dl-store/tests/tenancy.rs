//! Multi-tenancy in PostgreSQL (migration 20261205000016, docs/tenancy.md): a ledger chain holding
//! two tenants' decisions and rejections is projected by the real projection; then, as each
//! tenant's auditor role (row-level security), only that tenant's rows are visible, the ledger
//! only as hashes for foreign records, and the chain still links end to end.
//!
//! Needs DATABASE_URL (`scripts/stack.sh up && . .stack/env`) with a role that may create
//! databases and roles; each run uses a fresh database and fresh roles, dropped at the end.

use dl_ledger::ChainHead;
use dl_schema::{
    DecisionRecorded, LedgerRecord, LedgerRecordKind, RequestRejected, SourcePosition,
};
use dl_store::{Projection, SourcedRecord};
use sqlx::{Connection as _, PgConnection, PgPool, Row as _};

mod common;

const CHAIN: &str = "decision.ledger:0";

fn source(offset: i64) -> SourcePosition {
    SourcePosition {
        topic: "decision.requests".into(),
        partition: 0,
        offset,
    }
}

fn decided(offset: i64, tenant: Option<&str>) -> LedgerRecord {
    LedgerRecord {
        decision: Some(DecisionRecorded {
            decision_id: format!("d-{offset}"),
            request_id: "same-request-id".into(),
            source: source(offset),
            caller: Some("https://issuer|client".into()),
            function_id: "loan_approval".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:00".into(),
            as_of: None,
            issued_at: 1,
            decided_at: 2,
            input: r#"{"amount":1}"#.into(),
            output: r#"{"approved":true}"#.into(),
            reasons: vec![],
            legal_basis: vec![],
            signature: None,
            tenant: tenant.map(str::to_string),
        }),
        ..LedgerRecord::unchained(LedgerRecordKind::DecisionRecorded, 3)
    }
}

fn rejected(offset: i64, tenant: Option<&str>) -> LedgerRecord {
    LedgerRecord {
        rejection: Some(RequestRejected {
            decision_id: format!("d-{offset}"),
            request_id: "same-request-id".into(),
            source: source(offset),
            caller: None,
            function_id: "loan_approval".into(),
            function_version: None,
            code: "INPUT_INVALID".into(),
            message: "m".into(),
            decided_at: 2,
            tenant: tenant.map(str::to_string),
        }),
        ..LedgerRecord::unchained(LedgerRecordKind::RequestRejected, 3)
    }
}

/// Rows of `sql` as the given role (`SET ROLE` in one transaction).
async fn as_role(
    pool: &PgPool,
    role: &str,
    sql: &str,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL ROLE {role}"))
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(sql).fetch_all(&mut *tx).await;
    tx.rollback().await?;
    rows
}

#[tokio::test]
async fn each_tenants_auditor_sees_only_its_rows_and_foreign_records_as_hashes() {
    let Some(db) = common::ScratchDb::create("tenancy").await else {
        return;
    };
    let pool = db.pool.clone();
    // One chain, interleaving tenants: what shared workers write.
    let mut head = ChainHead::genesis(CHAIN);
    let records: Vec<LedgerRecord> = vec![
        decided(0, Some("kela")),
        decided(1, Some("bank")),
        rejected(2, Some("bank")),
        decided(3, None),
        rejected(4, Some("kela")),
    ]
    .into_iter()
    .map(|r| head.append(r))
    .collect();
    let batch: Vec<SourcedRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| SourcedRecord {
            topic: "decision.ledger".into(),
            partition: 0,
            offset: i as i64,
            record: Ok(r.clone()),
        })
        .collect();
    let mut tx = pool.begin().await.unwrap();
    // Unsigned test decisions: accepted as from a ledger written before signing.
    let projection = Projection::new().with_integrity(
        dl_store::TrustAnchors::new(),
        dl_store::VerifyOptions {
            allow_unsigned: true,
            report_untrusted: false,
        },
    );
    let outcome = projection.write(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((outcome.projected, outcome.breaks), (5, 0));

    let tenants: Vec<(String, String)> =
        sqlx::query_as("SELECT decision_id, tenant FROM decisions ORDER BY decision_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tenants,
        [
            ("d-0", "kela"),
            ("d-1", "bank"),
            ("d-2", "bank"),
            ("d-3", "default"),
            ("d-4", "kela")
        ]
        .map(|(d, t)| (d.to_string(), t.to_string()))
    );

    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (kela, bank) = (
        format!("kela_auditor_{suffix}"),
        format!("bank_auditor_{suffix}"),
    );
    for (role, tenant) in [(&kela, "kela"), (&bank, "bank")] {
        sqlx::query("SELECT dl_add_tenant_auditor($1, $2)")
            .bind(role)
            .bind(tenant)
            .execute(&pool)
            .await
            .unwrap();
    }

    for (role, own) in [(&kela, ["d-0", "d-4"]), (&bank, ["d-1", "d-2"])] {
        // Their decisions, through the table and through the auditor view; nobody else's.
        for sql in [
            "SELECT decision_id FROM decisions ORDER BY 1",
            "SELECT decision_id FROM audit_decisions ORDER BY 1",
        ] {
            let ids: Vec<String> = as_role(&pool, role, sql)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(ids, own, "{role}: {sql}");
        }
        // Even asking for another tenant's decision by id: nothing.
        let other = if own[0] == "d-0" { "d-1" } else { "d-0" };
        let found = as_role(
            &pool,
            role,
            &format!("SELECT 1 FROM decisions WHERE decision_id = '{other}'"),
        )
        .await
        .unwrap();
        assert!(found.is_empty(), "{role} reads {other}");
        // The raw ledger is not theirs to read.
        let denied = as_role(&pool, role, "SELECT count(*) FROM ledger_records").await;
        assert!(denied.is_err(), "{role} reads ledger_records");

        // The ledger as they see it: every position and hash, bodies only of their own.
        let rows = as_role(
            &pool,
            role,
            "SELECT sequence, prev_hash, hash, readable, kind, record FROM tenant_ledger ORDER BY sequence",
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), records.len(), "{role} sees every position");
        let mut prev = dl_ledger::GENESIS_HASH.to_string();
        for (row, record) in rows.iter().zip(&records) {
            let (prev_hash, hash): (String, String) = (row.get("prev_hash"), row.get("hash"));
            assert_eq!(prev_hash, prev, "the chain links end to end for {role}");
            assert_eq!(hash, record.hash);
            prev = hash;
            let mine = record.tenant() == if own[0] == "d-0" { "kela" } else { "bank" };
            assert_eq!(row.get::<bool, _>("readable"), mine);
            let body: Option<serde_json::Value> = row.get("record");
            match body {
                // A readable record verifies from what they see.
                Some(v) => {
                    assert!(mine);
                    let seen: LedgerRecord = serde_json::from_value(v).unwrap();
                    assert_eq!(dl_ledger::record_hash(&seen), record.hash);
                }
                None => {
                    assert!(!mine);
                    assert_eq!(row.get::<Option<String>, _>("kind"), None);
                }
            }
        }
    }

    // The operator's auditors still read every row.
    let all = as_role(&pool, "dl_auditor", "SELECT count(*) FROM audit_decisions")
        .await
        .unwrap();
    assert_eq!(all[0].get::<i64, _>(0), 5);
    // A role that is no tenant's auditor sees nothing of the tenant ledger.
    let none = as_role(&pool, "dl_auditor", "SELECT count(*) FROM tenant_ledger").await;
    assert!(none.is_err() || none.unwrap()[0].get::<i64, _>(0) == 0);

    // The roles own nothing; their grants live in the scratch database, dropped first.
    db.drop().await;
    let admin = std::env::var("DATABASE_URL").unwrap();
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    for role in [&kela, &bank] {
        sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
