//! Disaster recovery of the projection (issue 14, docs/operations.md): after a run with
//! decisions, rejections, key certificates, checkpoints, explanation views and registry events,
//! `dlctl projection rebuild` projects the topics from offset 0 into an empty database, and
//! every projected table of the rebuilt database has the checksum of the live one
//! (`dlctl projection checksum`). A projector then started on the rebuilt database goes on
//! after the rebuilt records instead of projecting them again.

use std::process::Command;
use std::time::Duration;

use dl_e2e::{bin, request, Backends, Scenario};
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
    s.flush()?;
    s.wait_for_count(
        "SELECT count(*) FROM decisions",
        30,
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
    let mut last = -1;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_records")
            .fetch_one(&pool)
            .await?;
        if n == last {
            break;
        }
        last = n;
    }
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
