//! Every function of `dl_store::read` (and `dl_store::write`) against the migrations, on the real
//! PostgreSQL of the stack: representative rows are inserted with plain SQL and every typed
//! result is checked, so a renamed column, a changed type or a changed filter fails here.
//!
//! Needs DATABASE_URL (`scripts/stack.sh up && . .stack/env`); each run uses a fresh database.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use dl_store::read::audit::{CodeCount, OutcomeFilter, VersionCounts};
use dl_store::read::conversations::{Conversation, ConversationMessage, Owner};
use dl_store::read::decisions::{Decision, DecisionRecord, RecordedEvaluation};
use dl_store::read::explanations::Explanation;
use dl_store::read::ledger::{BreakCount, DuplicateOutcome};
use dl_store::read::registry::FunctionVersion;
use dl_store::read::{audit, conversations, decisions, explanations, ledger, registry};
use dl_store::write;
use futures_util::TryStreamExt as _;
use serde_json::{json, Value};
use sqlx::PgPool;

mod common;

async fn scratch_db() -> Option<PgPool> {
    common::ScratchDb::create("read_model")
        .await
        .map(|db| db.pool)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

const CHAIN: &str = "decision.ledger:0";

async fn ledger_record(pool: &PgPool, chain: &str, sequence: i64, kind: &str) {
    sqlx::query(
        "INSERT INTO ledger_records (chain_id, sequence, kind, prev_hash, hash, recorded_at, record,
                                     topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'decision.ledger', 0, $2)",
    )
    .bind(chain)
    .bind(sequence)
    .bind(kind)
    .bind(format!("h{}", sequence - 1))
    .bind(format!("h{sequence}"))
    .bind(at(sequence))
    .bind(json!({"chain_id": chain, "sequence": sequence, "kind": kind}))
    .execute(pool)
    .await
    .unwrap();
}

/// An outcome row; decided ones are signed by key `k1` and verified.
struct Outcome<'a> {
    id: &'a str,
    request_id: &'a str,
    caller: Option<&'a str>,
    decided: bool,
    reasons: Value,
    issued_at: Option<DateTime<Utc>>,
    decided_at: DateTime<Utc>,
    sequence: i64,
}

async fn outcome(pool: &PgPool, o: &Outcome<'_>) {
    ledger_record(pool, CHAIN, o.sequence, "DECISION").await;
    sqlx::query(
        "INSERT INTO decisions (decision_id, request_id, caller, status, function_id, function_version,
            function_digest, rejection_code, rejection_message, input, output, reasons, legal_basis,
            as_of, issued_at, decided_at, chain_id, sequence, ledger_hash, source_topic,
            source_partition, source_offset, signature_algorithm, signature_key_id, signature_value,
            signature_verified)
         VALUES ($1, $2, $3, $4, 'loan', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, 'decision.requests', 3, $17 + 100, $19, $20, $21, $22)",
    )
    .bind(o.id)
    .bind(o.request_id)
    .bind(o.caller)
    .bind(if o.decided { "DECIDED" } else { "REJECTED" })
    .bind(o.decided.then_some("1.0.0"))
    .bind(o.decided.then_some("sha256:abc"))
    .bind((!o.decided).then_some("SCHEMA_INVALID"))
    .bind((!o.decided).then_some("input does not match the schema"))
    .bind(o.decided.then(|| json!({"income": 4000})))
    .bind(o.decided.then(|| json!({"approved": true})))
    .bind(&o.reasons)
    .bind(if o.decided { vec!["http://data.finlex.fi/eli/sd/1978/38".to_string()] } else { vec![] })
    .bind(o.decided.then(|| NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()))
    .bind(o.issued_at)
    .bind(o.decided_at)
    .bind(CHAIN)
    .bind(o.sequence)
    .bind(format!("h{}", o.sequence))
    .bind(o.decided.then_some("ES256"))
    .bind(o.decided.then_some("k1"))
    .bind(o.decided.then(|| format!("sig{}", o.sequence)))
    .bind(o.decided.then_some(true))
    .execute(pool)
    .await
    .unwrap();
}

/// The ledger of the test: key certificate (0), two decisions for request `r1` (1, 2), a
/// rejection (3), a checkpoint covering them (4), a duplicate outcome (5); a break at 2.
async fn seed(pool: &PgPool) {
    ledger_record(pool, CHAIN, 0, "SIGNING_KEY_CERTIFIED").await;
    sqlx::query(
        "INSERT INTO signing_keys (chain_id, sequence, key_id, algorithm, public_key, worker_id,
            valid_from, valid_until, certifier_key_id, certificate_signature, certificate, verified)
         VALUES ($1, 0, 'k1', 'ES256', 'pk', 'w1', $2, $3, 'certifier', 'csig', '{}', true)",
    )
    .bind(CHAIN)
    .bind(at(-3600))
    .bind(at(3600))
    .execute(pool)
    .await
    .unwrap();
    let income = json!({"code": "INCOME_OK", "message": "income suffices"});
    let debt = json!({"code": "DEBT_OK", "message": "debt ratio below the limit"});
    outcome(
        pool,
        &Outcome {
            id: "d1",
            request_id: "r1",
            caller: Some("alice"),
            decided: true,
            reasons: json!([income, debt]),
            issued_at: Some(at(9)),
            decided_at: at(10),
            sequence: 1,
        },
    )
    .await;
    outcome(
        pool,
        &Outcome {
            id: "d2",
            request_id: "r1",
            caller: Some("bob"),
            decided: true,
            reasons: json!([income]),
            issued_at: Some(at(17)),
            decided_at: at(20),
            sequence: 2,
        },
    )
    .await;
    outcome(
        pool,
        &Outcome {
            id: "r",
            request_id: "r2",
            caller: None,
            decided: false,
            reasons: json!([]),
            issued_at: None,
            decided_at: at(30),
            sequence: 3,
        },
    )
    .await;
    ledger_record(pool, CHAIN, 4, "CHECKPOINT").await;
    sqlx::query(
        "INSERT INTO checkpoints (chain_id, sequence, up_to_sequence, head_hash, signer_key_id,
            signature, verified)
         VALUES ($1, 4, 3, 'h3', 'certifier', 'cpsig', true)",
    )
    .bind(CHAIN)
    .execute(pool)
    .await
    .unwrap();
    ledger_record(pool, CHAIN, 5, "DECISION").await;
    sqlx::query(
        "INSERT INTO duplicate_outcomes (decision_id, chain_id, sequence) VALUES ('d1', $1, 5)",
    )
    .bind(CHAIN)
    .execute(pool)
    .await
    .unwrap();
    for (chain, sequence, kind) in [
        (CHAIN, Some(2i64), "HASH_MISMATCH"),
        ("decision.ledger:1", None, "SEQUENCE_GAP"),
        ("decision.ledger:1", None, "SEQUENCE_GAP"),
    ] {
        sqlx::query(
            "INSERT INTO chain_breaks (chain_id, sequence, break_kind, detail, kafka_partition, kafka_offset)
             VALUES ($1, $2, $3, 'test', 0, 0)",
        )
        .bind(chain)
        .bind(sequence)
        .bind(kind)
        .execute(pool)
        .await
        .unwrap();
    }
}

fn d1() -> Decision {
    Decision {
        decision_id: "d1".into(),
        request_id: "r1".into(),
        caller: Some("alice".into()),
        status: "DECIDED".into(),
        function_id: "loan".into(),
        function_version: Some("1.0.0".into()),
        function_digest: Some("sha256:abc".into()),
        rejection_code: None,
        rejection_message: None,
        output: Some(json!({"approved": true})),
        reasons: json!([{"code": "INCOME_OK", "message": "income suffices"},
                        {"code": "DEBT_OK", "message": "debt ratio below the limit"}]),
        legal_basis: vec!["http://data.finlex.fi/eli/sd/1978/38".into()],
        as_of: NaiveDate::from_ymd_opt(2026, 11, 30),
        decided_at: at(10),
        chain_id: CHAIN.into(),
        sequence: 1,
        ledger_hash: "h1".into(),
        signature_algorithm: Some("ES256".into()),
        signature_key_id: Some("k1".into()),
        signature_value: Some("sig1".into()),
    }
}

#[tokio::test]
async fn decisions_reads() {
    let Some(pool) = scratch_db().await else {
        return;
    };
    seed(&pool).await;

    assert_eq!(
        decisions::decision(&pool, "default", "d1").await.unwrap(),
        Some(d1())
    );
    assert_eq!(
        decisions::decision(&pool, "default", "nope").await.unwrap(),
        None
    );
    assert_eq!(
        decisions::decision(&pool, "kela", "d1").await.unwrap(),
        None,
        "another tenant's decision is as absent as an unknown one"
    );
    assert!(decisions::recorded_evaluation(&pool, "kela", "d1")
        .await
        .unwrap()
        .is_none());
    assert!(decisions::decisions_for_request(&pool, "kela", "r1", 20)
        .await
        .unwrap()
        .is_empty());
    let rejected = decisions::decision(&pool, "default", "r")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.status, "REJECTED");
    assert_eq!(rejected.caller, None);
    assert_eq!(rejected.function_version, None);
    assert_eq!(rejected.rejection_code.as_deref(), Some("SCHEMA_INVALID"));
    assert_eq!(
        rejected.rejection_message.as_deref(),
        Some("input does not match the schema")
    );
    assert_eq!((rejected.output, rejected.as_of), (None, None));
    assert_eq!(rejected.signature_value, None);
    assert_eq!(rejected.legal_basis, Vec::<String>::new());

    // Newest first, limited.
    let ids = |v: Vec<Decision>| v.into_iter().map(|d| d.decision_id).collect::<Vec<_>>();
    assert_eq!(
        ids(decisions::decisions_for_request(&pool, "default", "r1", 20)
            .await
            .unwrap()),
        ["d2", "d1"]
    );
    assert_eq!(
        ids(decisions::decisions_for_request(&pool, "default", "r1", 1)
            .await
            .unwrap()),
        ["d2"]
    );
    assert!(decisions::decisions_for_request(&pool, "default", "r9", 20)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        decisions::recorded_evaluation(&pool, "default", "d1")
            .await
            .unwrap(),
        Some(RecordedEvaluation {
            decision_id: "d1".into(),
            caller: Some("alice".into()),
            status: "DECIDED".into(),
            function_id: "loan".into(),
            function_version: Some("1.0.0".into()),
            function_digest: Some("sha256:abc".into()),
            input: Some(json!({"income": 4000})),
            output: Some(json!({"approved": true})),
            reasons: d1().reasons,
        })
    );
    let r = decisions::recorded_evaluation(&pool, "default", "r")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.status.as_str(), r.input, r.output),
        ("REJECTED", None, None)
    );
    assert_eq!(
        decisions::recorded_evaluation(&pool, "default", "nope")
            .await
            .unwrap(),
        None
    );

    let mut all = decisions::all_decision_records(&pool).await.unwrap();
    all.sort_by_key(|r| r.decision.sequence);
    assert_eq!(all.len(), 3);
    let d = d1();
    assert_eq!(
        all[0],
        DecisionRecord {
            decision: Decision {
                rejection_code: None,
                rejection_message: None,
                decided_at: at(10),
                chain_id: CHAIN.into(),
                sequence: 1,
                ledger_hash: "h1".into(),
                ..d
            },
            input: Some(json!({"income": 4000})),
            issued_at: Some(at(9)),
            source_topic: "decision.requests".into(),
            source_partition: 3,
            source_offset: 101,
        }
    );
    assert_eq!(all[2].issued_at, None);
    assert_eq!(
        all[2].decision.rejection_code.as_deref(),
        Some("SCHEMA_INVALID")
    );
}

#[tokio::test]
async fn ledger_reads() {
    let Some(pool) = scratch_db().await else {
        return;
    };
    seed(&pool).await;
    ledger_record(&pool, "decision.ledger:1", 0, "CHECKPOINT").await;

    let rows: Vec<_> = ledger::ledger_records(&pool).try_collect().await.unwrap();
    let order: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| (r.chain_id.as_str(), r.sequence))
        .collect();
    assert_eq!(
        order,
        [
            (CHAIN, 0),
            (CHAIN, 1),
            (CHAIN, 2),
            (CHAIN, 3),
            (CHAIN, 4),
            (CHAIN, 5),
            ("decision.ledger:1", 0)
        ]
    );
    assert_eq!(
        rows[4].record,
        json!({"chain_id": CHAIN, "sequence": 4, "kind": "CHECKPOINT"})
    );

    assert_eq!(
        ledger::duplicate_outcomes(&pool).await.unwrap(),
        [DuplicateOutcome {
            chain_id: CHAIN.into(),
            sequence: 5
        }]
    );

    let mut breaks = ledger::chain_break_counts(&pool).await.unwrap();
    breaks.sort_by(|a, b| a.break_kind.cmp(&b.break_kind));
    assert_eq!(
        breaks,
        [
            BreakCount {
                break_kind: "HASH_MISMATCH".into(),
                breaks: 1
            },
            BreakCount {
                break_kind: "SEQUENCE_GAP".into(),
                breaks: 2
            }
        ]
    );
}

fn code(version: &str, code: Option<&str>, count: i64) -> CodeCount {
    CodeCount {
        function_id: "loan".into(),
        function_version: version.into(),
        code: code.map(Into::into),
        count,
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn audit_reads_and_replay_runs() {
    let Some(pool) = scratch_db().await else {
        return;
    };
    seed(&pool).await;
    let all = OutcomeFilter::default();
    let ids = |v: Vec<RecordedEvaluation>| v.into_iter().map(|d| d.decision_id).collect::<Vec<_>>();

    // Never replayed: oldest first, limited; rejections are not replayed.
    assert_eq!(
        ids(audit::unreplayed_decided(&pool, &all, 10).await.unwrap()),
        ["d1", "d2"]
    );
    assert_eq!(
        ids(audit::unreplayed_decided(&pool, &all, 1).await.unwrap()),
        ["d1"]
    );
    let mut sample = ids(audit::sample_decided(&pool, &all, 10).await.unwrap());
    sample.sort();
    assert_eq!(sample, ["d1", "d2"]);
    assert_eq!(
        audit::sample_decided(&pool, &all, 1).await.unwrap().len(),
        1
    );
    let sampled = audit::sample_decided(
        &pool,
        &OutcomeFilter {
            since: Some(at(15)),
            ..all
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(sampled.len(), 1);
    assert_eq!(sampled[0].input, Some(json!({"income": 4000})));
    assert_eq!(sampled[0].function_digest.as_deref(), Some("sha256:abc"));

    // A replay run: d1 matches.
    let run = uuid::Uuid::new_v4();
    write::audit_runs::record_replay_run(
        &pool,
        run,
        at(100),
        &json!({"limit": 10}),
        &json!({"MATCH": 1}),
        &[write::audit_runs::ReplayVerdict {
            decision_id: "d1",
            verdict: "MATCH",
            detail: "",
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        ids(audit::unreplayed_decided(&pool, &all, 10).await.unwrap()),
        ["d2"]
    );

    let mut counts = audit::version_counts(&pool, &all).await.unwrap();
    counts.sort_by(|a, b| a.function_version.cmp(&b.function_version));
    assert_eq!(counts.len(), 2);
    let (rejections, v1) = (&counts[0], &counts[1]);
    assert!(close(v1.latency_p50_s, 2.0), "{v1:?}");
    assert!(close(v1.latency_p95_s, 2.9), "{v1:?}");
    assert!(close(v1.latency_p99_s, 2.98), "{v1:?}");
    assert_eq!(
        v1,
        &VersionCounts {
            function_id: "loan".into(),
            function_version: "1.0.0".into(),
            decided: 2,
            rejected: 0,
            latency_p50_s: v1.latency_p50_s,
            latency_p95_s: v1.latency_p95_s,
            latency_p99_s: v1.latency_p99_s,
            signed: 2,
            signature_verified: 2,
            checkpointed: 2,
            integrity_ok: 1, // d2 has a chain break
            replayed: 1,
            replay_matches: 1,
        }
    );
    assert_eq!(
        rejections,
        &VersionCounts {
            function_id: "loan".into(),
            function_version: "".into(),
            decided: 0,
            rejected: 1,
            latency_p50_s: None,
            latency_p95_s: None,
            latency_p99_s: None,
            signed: 0,
            signature_verified: 0,
            checkpointed: 1,
            integrity_ok: 1,
            replayed: 0,
            replay_matches: 0,
        }
    );
    // Every filter parameter binds to its column.
    let only = |f: OutcomeFilter<'static>| {
        let pool = pool.clone();
        async move {
            let mut v: Vec<(String, i64, i64)> = audit::version_counts(&pool, &f)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.function_version, c.decided, c.rejected))
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(
        only(OutcomeFilter {
            function_version: Some("1.0.0"),
            ..all
        })
        .await,
        [("1.0.0".to_string(), 2, 0)]
    );
    assert_eq!(
        only(OutcomeFilter {
            function_id: Some("other"),
            ..all
        })
        .await,
        Vec::<(String, i64, i64)>::new()
    );
    assert_eq!(
        only(OutcomeFilter {
            tenant: Some("kela"),
            ..all
        })
        .await,
        Vec::<(String, i64, i64)>::new(),
        "another tenant's outcomes are out of its scope"
    );
    assert_eq!(
        only(OutcomeFilter {
            tenant: Some("default"),
            ..all
        })
        .await,
        only(all).await
    );
    assert_eq!(
        only(OutcomeFilter {
            since: Some(at(15)),
            until: Some(at(30)),
            ..all
        })
        .await,
        [("1.0.0".to_string(), 1, 0)]
    );

    let mut reasons = audit::reason_counts(&pool, &all).await.unwrap();
    reasons.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(
        reasons,
        [
            code("1.0.0", Some("DEBT_OK"), 1),
            code("1.0.0", Some("INCOME_OK"), 2)
        ]
    );
    assert_eq!(
        audit::reason_counts(
            &pool,
            &OutcomeFilter {
                until: Some(at(15)),
                ..all
            }
        )
        .await
        .unwrap()
        .len(),
        2
    );
    assert_eq!(
        audit::rejection_counts(&pool, &all).await.unwrap(),
        [code("", Some("SCHEMA_INVALID"), 1)]
    );

    let (kind, summary): (String, Value) =
        sqlx::query_as("SELECT kind, summary FROM audit_runs WHERE run_id = $1")
            .bind(run)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), summary), ("REPLAY", json!({"MATCH": 1})));
}

#[tokio::test]
async fn explanation_reads() {
    let Some(pool) = scratch_db().await else {
        return;
    };
    seed(&pool).await;
    let subject = json!({"input": {"income": "[redacted]"}, "output": {"approved": true},
                         "reasons": [], "manifest": {"allow": ["/income"]}});
    for id in ["d1", "orphan"] {
        sqlx::query(
            "INSERT INTO explain_views (decision_id, request_id, function_id, function_version,
                function_digest, decided_at, chain_id, ledger_sequence, ledger_hash, legal_basis,
                policy, pseudonym_key_id, views)
             VALUES ($1, 'r1', 'loan', '1.0.0', 'sha256:abc', $2, $3, 1, 'h1', $4, 'MANIFEST', 'pk1', $5)",
        )
        .bind(id)
        .bind(at(10))
        .bind(CHAIN)
        .bind(vec!["http://data.finlex.fi/eli/sd/1978/38".to_string()])
        .bind(json!({"SUBJECT": subject, "CASE_WORKER": {"input": {"income": 4000}}}))
        .execute(&pool)
        .await
        .unwrap();
    }
    assert_eq!(
        explanations::explanation(&pool, "default", "d1", "SUBJECT")
            .await
            .unwrap(),
        Some(Explanation {
            decision_id: "d1".into(),
            request_id: "r1".into(),
            function_id: "loan".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:abc".into(),
            decided_at: at(10),
            chain_id: CHAIN.into(),
            ledger_sequence: 1,
            ledger_hash: "h1".into(),
            legal_basis: vec!["http://data.finlex.fi/eli/sd/1978/38".into()],
            policy: "MANIFEST".into(),
            pseudonym_key_id: Some("pk1".into()),
            view: subject.clone(),
            caller: Some("alice".into()),
            tenant: "default".into(),
        })
    );
    assert_eq!(
        explanations::explanation(&pool, "kela", "d1", "SUBJECT")
            .await
            .unwrap(),
        None,
        "another tenant's explanation is as absent as an unknown one"
    );
    let cw = explanations::explanation(&pool, "default", "d1", "CASE_WORKER")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cw.view, json!({"input": {"income": 4000}}));
    // No decisions row (yet): no caller.
    let orphan = explanations::explanation(&pool, "default", "orphan", "SUBJECT")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((orphan.caller, orphan.view), (None, subject));
    assert_eq!(
        explanations::explanation(&pool, "default", "nope", "SUBJECT")
            .await
            .unwrap(),
        None
    );
    // A view without the audience is an error, not an empty view.
    assert!(explanations::explanation(&pool, "default", "d1", "AUDITOR")
        .await
        .is_err());
    // Tenants: a view of another tenant is, for a reader of this one, like no view at all.
    sqlx::query("UPDATE explain_views SET tenant = 'kela' WHERE decision_id = 'orphan'")
        .execute(&pool)
        .await
        .unwrap();
    let in_tenant = |id: &'static str, tenant: &'static str| {
        let pool = pool.clone();
        async move {
            explanations::explained_in_tenant(&pool, id, tenant)
                .await
                .unwrap()
        }
    };
    assert!(in_tenant("d1", "default").await);
    assert!(!in_tenant("d1", "kela").await);
    assert!(in_tenant("orphan", "kela").await);
    assert!(!in_tenant("orphan", "default").await);
    assert!(!in_tenant("nope", "kela").await);
    let kela = explanations::explanation(&pool, "kela", "orphan", "SUBJECT")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kela.tenant, "kela");
    assert_eq!(
        explanations::explanation(&pool, "default", "orphan", "SUBJECT")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn registry_reads() {
    let Some(pool) = scratch_db().await else {
        return;
    };
    sqlx::query(
        "INSERT INTO functions (function_id, first_published_at) VALUES ('loan', $1), ('aid', $1)",
    )
    .bind(t0())
    .execute(&pool)
    .await
    .unwrap();
    for (id, version, (major, minor, patch), state, to) in [
        ("loan", "1.10.0", (1, 10, 0), "ACTIVE", None),
        (
            "loan",
            "1.2.0",
            (1, 2, 0),
            "RETIRED",
            NaiveDate::from_ymd_opt(2026, 6, 30),
        ),
        ("aid", "0.1.0", (0, 1, 0), "DRAFT", None),
    ] {
        sqlx::query(
            "INSERT INTO function_versions (function_id, version, version_major, version_minor,
                version_patch, digest, title, owner, author, published_at, state, effective_from,
                effective_to, manifest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', 'ann', $8, $9, $10, $11, '{}')",
        )
        .bind(id)
        .bind(version)
        .bind(major as i64)
        .bind(minor as i64)
        .bind(patch as i64)
        .bind(format!("sha256:{id}{version}"))
        .bind(format!("{id} {version}"))
        .bind(t0())
        .bind(state)
        .bind(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        .bind(to)
        .execute(&pool)
        .await
        .unwrap();
    }
    let versions = registry::function_versions(&pool).await.unwrap();
    let order: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| (v.function_id.as_str(), v.version.as_str()))
        .collect();
    // By function, then by semantic version (1.2.0 before 1.10.0).
    assert_eq!(
        order,
        [("aid", "0.1.0"), ("loan", "1.2.0"), ("loan", "1.10.0")]
    );
    assert_eq!(
        versions[1],
        FunctionVersion {
            function_id: "loan".into(),
            version: "1.2.0".into(),
            state: "RETIRED".into(),
            digest: "sha256:loan1.2.0".into(),
            title: "loan 1.2.0".into(),
            effective_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            effective_to: NaiveDate::from_ymd_opt(2026, 6, 30),
        }
    );
    assert_eq!(versions[2].effective_to, None);
}

#[tokio::test]
async fn conversation_reads_and_writes() {
    let Some(pool) = scratch_db().await else {
        return;
    };
    let (mine, anonymous, kela) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let owner = |tenant, issuer, subject| Owner {
        tenant,
        issuer,
        subject,
    };
    let ann = owner("default", Some("iss"), Some("ann"));
    let nobody = owner("default", None, None);
    // The same issuer and subject in another tenant: another owner.
    let ann_kela = owner("kela", Some("iss"), Some("ann"));
    write::conversations::create_conversation(&pool, mine, "d1", "subject", ann)
        .await
        .unwrap();
    write::conversations::create_conversation(&pool, anonymous, "d2", "auditor", nobody)
        .await
        .unwrap();
    write::conversations::create_conversation(&pool, kela, "d3", "case_worker", ann_kela)
        .await
        .unwrap();

    let about = |d: &str, a: &str| {
        Some(Conversation {
            decision_id: d.into(),
            audience: a.into(),
        })
    };
    let owned = |id, who: Owner<'static>| {
        let pool = pool.clone();
        async move {
            conversations::owned_conversation(&pool, id, who)
                .await
                .unwrap()
        }
    };
    assert_eq!(owned(mine, ann).await, about("d1", "subject"));
    assert_eq!(
        owned(mine, owner("default", Some("iss"), Some("bob"))).await,
        None
    );
    assert_eq!(owned(mine, nobody).await, None);
    assert_eq!(owned(mine, ann_kela).await, None);
    assert_eq!(owned(kela, ann_kela).await, about("d3", "case_worker"));
    assert_eq!(owned(kela, ann).await, None);
    assert_eq!(owned(anonymous, nobody).await, about("d2", "auditor"));
    assert_eq!(owned(anonymous, ann).await, None);
    assert_eq!(owned(anonymous, owner("kela", None, None)).await, None);
    assert_eq!(owned(uuid::Uuid::new_v4(), nobody).await, None);
    let listed = |who: Owner<'static>| {
        let pool = pool.clone();
        async move {
            conversations::owned_conversations(&pool, who, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.conversation_id, c.decision_id, c.audience))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(ann).await,
        [(mine, "d1".to_string(), "subject".to_string())]
    );
    assert_eq!(
        listed(ann_kela).await,
        [(kela, "d3".to_string(), "case_worker".to_string())]
    );
    assert!(listed(owner("bank", Some("iss"), Some("ann")))
        .await
        .is_empty());
    let tenant: String =
        sqlx::query_scalar("SELECT tenant FROM conversations WHERE conversation_id = $1")
            .bind(kela)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tenant, "kela");

    assert!(conversations::conversation_messages(&pool, mine)
        .await
        .unwrap()
        .is_empty());
    let call = json!({"tool": "what_if", "changes": {"/income": 1}});
    write::conversations::append_messages(
        &pool,
        mine,
        &[
            ("user", "why?", None),
            ("tool", "result", Some(&call)),
            ("assistant", "because", None),
        ],
    )
    .await
    .unwrap();
    write::conversations::append_messages(&pool, mine, &[("user", "thanks", None)])
        .await
        .unwrap();
    let msg = |role: &str, content: &str, tool_call: Option<Value>| ConversationMessage {
        role: role.into(),
        content: content.into(),
        tool_call,
    };
    assert_eq!(
        conversations::conversation_messages(&pool, mine)
            .await
            .unwrap(),
        [
            msg("user", "why?", None),
            msg("tool", "result", Some(call)),
            msg("assistant", "because", None),
            msg("user", "thanks", None),
        ]
    );
    let seqs: Vec<i32> = sqlx::query_scalar(
        "SELECT seq FROM conversation_messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(mine)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(seqs, [0, 1, 2, 3]);
    assert!(conversations::conversation_messages(&pool, anonymous)
        .await
        .unwrap()
        .is_empty());
}
