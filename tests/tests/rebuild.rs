//! Disaster recovery of the projection (issue 14, docs/operations.md): after a run with
//! decisions, rejections, key certificates, checkpoints, explanation views, registry events and
//! shadow evaluations,
//! `dlctl projection rebuild` projects the topics from offset 0 into an empty database, and
//! every projected table of the rebuilt database has the checksum of the live one
//! (`dlctl projection checksum`). A projector then started on the rebuilt database goes on
//! after the rebuilt records instead of projecting them again. The synthetic ledger of the 1M-record
//! measurement (`dlctl bench ledger-topic`, BENCHMARKS.md) rebuilds without a chain break.

use std::process::Command;
use std::time::Duration;

use dl_e2e::{bin, request, Backends, Scenario};
use dl_schema::{ShadowDifference, ShadowEvaluation, ShadowOutcome};
use serde_json::Value;

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

fn dlctl(s: &Scenario, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(bin("dlctl"))
        .args(["--brokers", &s.brokers])
        .args(args)
        .env("DL_SIGNER", "local")
        .env(
            "DL_SIGNER_KEY_FILE",
            s.signer_key_file.display().to_string(),
        )
        .env("DL_APPROVERS_FILE", s.approvers_file.display().to_string())
        .env("DL_LEDGER_TOPIC", &s.ledger)
        .env("DL_EXPLAIN_TOPIC", &s.views)
        .env("DL_REGISTRY_TOPIC", &s.registry)
        .env("DL_SHADOW_TOPIC", &s.shadow)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "dlctl {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_projection_equals_the_live_one() -> anyhow::Result<()> {
    let s =
        Scenario::with_functions_on("rebuild", 2, Backends::from_env(), &["loan_approval"]).await?;
    let worker = s.worker_with_env("a", &[("DL_CHECKPOINT_EVERY_RECORDS", "5".into())])?;
    let registry_env = [
        ("DL_REGISTRY_TOPIC", s.registry.clone()),
        ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
    ];
    let projector = s.projector_with_env("live", &registry_env)?;
    let explainer = s.explainer("a")?;
    for i in 0..30 {
        let id = format!("r-{i}");
        let input = if i % 3 == 0 {
            r#"{"amount": "many"}"#
        } else {
            LOAN
        };
        let payload = dl_schema::request_codec().encode(&request(&id, "loan_approval", input))?;
        s.send_raw(&id, &payload)?;
    }
    // Shadow evaluations as a worker with a version in shadow writes them (ADR 0032; the
    // shadow suite, tests/tests/shadow.rs, produces them with the worker).
    let shadow_codec = dl_schema::shadow_codec();
    for (i, outcome) in [
        ShadowOutcome::Agree,
        ShadowOutcome::Disagree,
        ShadowOutcome::Error,
    ]
    .into_iter()
    .enumerate()
    {
        let evaluation = ShadowEvaluation {
            decision_id: format!("shadowed-{i}"),
            tenant: None,
            function_id: "loan_approval".into(),
            version: "1.0.0".into(),
            digest: "sha256:aa".into(),
            shadow_version: "1.1.0".into(),
            shadow_digest: "sha256:bb".into(),
            differences: match outcome {
                ShadowOutcome::Disagree => vec![ShadowDifference {
                    pointer: "/approved".into(),
                    deciding_value: Some("true".into()),
                    shadow_value: Some("false".into()),
                }],
                _ => vec![],
            },
            error_code: (outcome == ShadowOutcome::Error).then(|| "EVALUATION_FAILED".into()),
            outcome,
            evaluated_at: 1_764_300_000_000 + i as i64,
        };
        s.send_to(
            &s.shadow,
            &evaluation.decision_id,
            &shadow_codec.encode(&evaluation)?,
            &[],
        )?;
    }
    s.flush()?;
    s.wait_for_count(
        "SELECT count(*) FROM decisions",
        30,
        Duration::from_secs(120),
    )
    .await?;
    s.wait_for_count(
        "SELECT count(*) FROM shadow_evaluations",
        3,
        Duration::from_secs(120),
    )
    .await?;
    s.wait_for_count(
        "SELECT count(*) FROM explain_views",
        20,
        Duration::from_secs(120),
    )
    .await?;
    // Nothing more is written: stop the writers, then let the projector catch up fully
    // (the worker's last checkpoints) before it stops too.
    drop(worker);
    drop(explainer);
    let pool = s.pg().await?;
    // Every record of the topic (dlctl's count from Kafka), then projected.
    let in_topic: i64 = s.verify_ledger()?["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["records"].as_i64())
        .sum();
    let last = s
        .wait_for_count(
            "SELECT count(*) FROM ledger_records",
            in_topic,
            Duration::from_secs(120),
        )
        .await?;
    assert_eq!(last, in_topic);
    drop(projector);
    let kinds: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, count(*) FROM ledger_records GROUP BY 1 ORDER BY 1")
            .fetch_all(&pool)
            .await?;
    for kind in [
        "CHECKPOINT",
        "DECISION_RECORDED",
        "REQUEST_REJECTED",
        "SIGNING_KEY_CERTIFIED",
    ] {
        assert!(
            kinds.iter().any(|(k, n)| k == kind && *n > 0),
            "the run has {kind} records: {kinds:?}"
        );
    }

    let target = format!(
        "{}_rebuilt",
        s.database_url.rsplit('/').next().unwrap_or("x")
    );
    sqlx::query(&format!("CREATE DATABASE {target}"))
        .execute(&pool)
        .await?;
    let target_url = match s.database_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{target}"),
        None => anyhow::bail!("no database in the URL"),
    };
    let rebuilt = dlctl(
        &s,
        &[
            "projection",
            "rebuild",
            "--json",
            "--database-url",
            &target_url,
        ],
    )?;
    let live = dlctl(
        &s,
        &[
            "projection",
            "checksum",
            "--json",
            "--database-url",
            &s.database_url,
        ],
    )?;
    assert_eq!(
        rebuilt["tables"], live,
        "every projected table equals the live one"
    );
    assert_eq!(
        rebuilt["ledger_records"].as_i64(),
        Some(last),
        "every ledger record was rebuilt"
    );
    let rows = |t: &str| {
        live.as_array()
            .into_iter()
            .flatten()
            .find(|v| v["table"] == t)
            .and_then(|v| v["rows"].as_i64())
            .unwrap_or(0)
    };
    assert!(
        rows("function_versions") > 0 && rows("explain_views") >= 20 && rows("checkpoints") > 0
    );

    // A projector on the rebuilt database goes on from the rebuilt positions.
    let mut env = registry_env.to_vec();
    env.push(("DATABASE_URL", target_url.clone()));
    // The group `dlctl projection rebuild` handed its positions to (its `--group-id` default).
    env.push(("DL_PROJECTOR_GROUP_ID", "dl-projector".into()));
    let _after = s.projector_with_env("after-rebuild", &env)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let again = dlctl(
        &s,
        &[
            "projection",
            "checksum",
            "--json",
            "--database-url",
            &target_url,
        ],
    )?;
    assert_eq!(again, live, "nothing was projected twice");
    Ok(())
}

/// `dlctl bench ledger-topic` (the ledger of BENCHMARKS.md's "Projection rebuild") writes chains
/// the projector and the verifier accept: named after their topic and partition, the worker key
/// certified and the checkpoints signed by the configured local certifier key. A small one,
/// rebuilt into the scenario's empty database, has no chain break and nothing unverified, and
/// verifies from the topic and from the projection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_ledger_rebuilds_without_chain_breaks() -> anyhow::Result<()> {
    let s = Scenario::new("synthetic", 2).await?;
    let produced = dlctl(
        &s,
        &[
            "bench",
            "ledger-topic",
            "--json",
            "--records",
            "241",
            "--topic",
            &s.ledger,
            "--partitions",
            "2",
            "--checkpoint-every",
            "50",
            "--rejection-every",
            "7",
        ],
    )?;
    assert_eq!(produced["records"], 241, "{produced}");
    assert_eq!(produced["failed_deliveries"], 0, "{produced}");
    // Chains of 121 and 120 records: a certificate each, checkpoints at positions 49 and 99.
    assert_eq!(produced["certificates"], 2, "{produced}");
    assert_eq!(produced["checkpoints"], 4, "{produced}");
    let rebuilt = dlctl(
        &s,
        &[
            "projection",
            "rebuild",
            "--json",
            "--database-url",
            &s.database_url,
        ],
    )?;
    assert_eq!(rebuilt["ledger_records"], 241, "{rebuilt}");
    let pool = s.pg().await?;
    let (breaks, unverified, decisions): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM chain_breaks),
                (SELECT count(*) FROM signing_keys WHERE NOT verified)
                  + (SELECT count(*) FROM checkpoints WHERE NOT verified)
                  + (SELECT count(*) FROM decisions WHERE signature_verified IS FALSE),
                (SELECT count(*) FROM decisions)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!((breaks, unverified, decisions), (0, 0, 241 - 2 - 4));
    let heads: Vec<String> = sqlx::query_scalar("SELECT chain_id FROM chain_heads ORDER BY 1")
        .fetch_all(&pool)
        .await?;
    assert_eq!(
        heads,
        [format!("{}:0", s.ledger), format!("{}:1", s.ledger)]
    );
    for from in ["kafka", "postgres"] {
        let report = s.verify_ledger_from(from, &[])?;
        assert_eq!(report["ok"], true, "{from}: {report}");
        assert_eq!(report["records"], 241, "{from}: {report}");
    }
    // A second run into the same topic is refused: its chains would start again at genesis.
    let again = Command::new(bin("dlctl"))
        .args(["--brokers", &s.brokers, "bench", "ledger-topic"])
        .args(["--records", "10", "--topic", &s.ledger, "--partitions", "2"])
        .env("DL_SIGNER", "local")
        .env("DL_SIGNER_KEY_FILE", &s.signer_key_file)
        .output()?;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds records"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    Ok(())
}
