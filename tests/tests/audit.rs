//! `dlctl audit report | replay | drift` against a real projection and registry: metrics from
//! the ledger, deterministic replay (and what an edited row does to it), drift to a new version.

use std::process::Command;
use std::time::Duration;

use dl_e2e::{bin, eventually, http_get, promtool_check, repo, request, Scenario};
use dl_function::FunctionPackage;
use serde_json::{json, Value};

/// `dlctl audit <args> --json` with this scenario's broker, database and registry.
fn dlctl_audit(s: &Scenario, args: &[&str]) -> anyhow::Result<(i32, Value)> {
    let out = Command::new(bin("dlctl"))
        .args(["--brokers", &s.brokers, "audit"])
        .args(args)
        .args(["--json", "--database-url", &s.database_url])
        .env("DL_REGISTRY_TOPIC", &s.registry)
        .env("DL_APPROVERS_FILE", &s.approvers_file)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(text.trim()).map_err(|e| {
        anyhow::anyhow!(
            "dlctl printed {text:?} ({e}); stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((out.status.code().unwrap_or(-1), json))
}

fn version<'a>(report: &'a Value, function: &str) -> &'a Value {
    report["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|m| m["function_id"] == function))
        .unwrap_or_else(|| panic!("no {function} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_replay_and_drift_on_the_real_projection() -> anyhow::Result<()> {
    let s = Scenario::with_examples("audit", 2).await?;
    let _worker = s.worker("a")?;
    let _projector = s.projector("a")?;
    let loan = |id: &str, amount: u32, score: u32| {
        request(
            id,
            "loan_approval",
            &json!({"amount": amount, "customer_score": score, "customer_tier": "standard",
                    "employment_status": "employed"})
            .to_string(),
        )
    };
    s.send(&[
        loan("a-1", 3000, 720),
        loan("a-2", 15000, 600),
        loan("a-3", 7000, 700),
        request(
            "a-4",
            "refund_policy",
            r#"{"issue": "late", "customer": {"tier": "gold"}, "order_amount": 1000}"#,
        ),
        request("a-5", "no_such_function", "{}"),
    ])?;
    // Every outcome projected and covered by a verified checkpoint (idle chains are
    // checkpointed within about a second).
    let intact = s
        .wait_for_count(
            "SELECT count(*) FROM audit_decision_integrity WHERE integrity_ok",
            5,
            Duration::from_secs(90),
        )
        .await?;
    assert_eq!(intact, 5);

    // Report: counts, reasons, rejections, integrity and a compliance score of 1.
    let (code, report) = dlctl_audit(&s, &["report"])?;
    assert_eq!(code, 0);
    let l = version(&report, "loan_approval");
    assert_eq!(l["function_version"], "1.0.0");
    assert_eq!(
        (l["decided"].as_i64(), l["rejected"].as_i64()),
        (Some(3), Some(0))
    );
    assert_eq!(l["signature_verified"], 3);
    assert_eq!(l["integrity_ok"], 3);
    assert_eq!(l["compliance_score"], 1.0);
    assert_eq!(
        l["reasons"]
            .as_object()
            .map(|r| r.values().filter_map(Value::as_i64).sum::<i64>()),
        Some(3)
    );
    assert!(l["latency_p99_s"].as_f64().is_some_and(|s| s >= 0.0));
    let unknown = version(&report, "no_such_function");
    assert_eq!(unknown["rejections"]["UNKNOWN_FUNCTION"], 1);
    assert_eq!(report["chain_breaks"], json!({}));

    // Replay: every decision evaluates to what was recorded.
    let (code, replay) = dlctl_audit(&s, &["replay", "--record"])?;
    assert_eq!(code, 0, "{replay}");
    assert_eq!(replay["replayed"], 4);
    assert_eq!(replay["mismatches"], 0);
    assert!(replay["run_id"].is_string());

    // Edit one projected decision: the replay names the changed pointer and fails, and the
    // report's compliance score for the version drops.
    let pool = s.pg().await?;
    let edited: String = sqlx::query_scalar(
        "UPDATE decisions SET output = jsonb_set(output, '{approved}', 'false')
         WHERE request_id = 'a-1' RETURNING decision_id",
    )
    .fetch_one(&pool)
    .await?;
    let (code, replay) = dlctl_audit(&s, &["replay", "--record", "--function", "loan_approval"])?;
    assert_eq!(code, 1, "a mismatch exits 1: {replay}");
    let bad: Vec<&Value> = replay["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] != "MATCH")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["decision_id"], edited.as_str());
    assert_eq!(bad[0]["verdict"], "OUTPUT_DIFFERS");
    assert_eq!(bad[0]["detail"], "/approved");
    let (_, report) = dlctl_audit(&s, &["report", "--function", "loan_approval"])?;
    let l = version(&report, "loan_approval");
    assert_eq!(
        (l["replayed"].as_i64(), l["replay_matches"].as_i64()),
        (Some(3), Some(2))
    );
    assert!((l["compliance_score"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);

    // Drift: the loan function re-published as 1.1.0 (same rules) changes nothing but the
    // ignored version field.
    let dir = s.dir().join("loan-1.1.0");
    let src = FunctionPackage::load(&repo().join("examples/loan_approval"))?;
    for (path, content) in src.files() {
        let mut content = content.clone();
        if path == "function.yaml" {
            content = String::from_utf8(content)?
                .replace("version: 1.0.0", "version: 1.1.0")
                .into_bytes();
        }
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap_or(&dir))?;
        std::fs::write(p, content)?;
    }
    let writer = s.registry_writer().await?;
    writer
        .publish(&FunctionPackage::load(&dir)?, "e2e-author")
        .await?;
    sqlx::query("UPDATE decisions SET output = jsonb_set(output, '{approved}', 'true') WHERE decision_id = $1")
        .bind(&edited)
        .execute(&pool)
        .await?;
    let (code, drift) = dlctl_audit(
        &s,
        &[
            "drift",
            "--function",
            "loan_approval",
            "--to-version",
            "1.1.0",
        ],
    )?;
    assert_eq!(code, 0);
    assert_eq!(drift["evaluated"], 3);
    assert_eq!(drift["changed"], 0, "{drift}");
    // Unknown target version: a clear error, exit 2.
    let out = Command::new(bin("dlctl"))
        .args([
            "--brokers",
            &s.brokers,
            "audit",
            "drift",
            "--function",
            "loan_approval",
        ])
        .args(["--to-version", "9.9.9", "--database-url", &s.database_url])
        .env("DL_REGISTRY_TOPIC", &s.registry)
        .env("DL_APPROVERS_FILE", &s.approvers_file)
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("VERSION_UNKNOWN"), "{stderr}");

    // The auditor service replays what nobody replayed yet and publishes the report as metrics.
    s.send(&[loan("a-6", 3000, 720), loan("a-7", 2000, 750)])?;
    assert_eq!(
        s.wait_for_count("SELECT count(*) FROM decisions", 7, Duration::from_secs(60))
            .await?,
        7
    );
    let auditor = s.auditor("a", 1)?;
    let by_auditor = "SELECT count(*) FROM audit_replays r JOIN audit_runs a USING (run_id)
                      WHERE a.parameters->>'by' = 'dl-auditor' AND r.verdict = 'MATCH'";
    assert_eq!(
        s.wait_for_count(by_auditor, 2, Duration::from_secs(60))
            .await?,
        2,
        "the two new decisions replayed by dl-auditor, the others not again"
    );
    let port = auditor.metrics_port;
    let metrics = eventually(
        Duration::from_secs(60),
        "the auditor publishes its report",
        || async move {
            let (_, body) = http_get(port, "/metrics")?;
            anyhow::ensure!(
                body.contains("dl_audit_compliance_score{"),
                "no dl_audit_compliance_score yet"
            );
            Ok(body)
        },
    )
    .await?;
    assert!(
        metrics.contains(
            r#"dl_audit_outcomes{function="loan_approval",version="1.0.0",status="decided"} 5"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"dl_audit_replays_total{verdict="MATCH"} 2"#),
        "{metrics}"
    );
    assert_eq!(promtool_check(&metrics)?, None);
    Ok(())
}
