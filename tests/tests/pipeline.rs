//! The walking skeleton end to end: requests → worker → results + ledger → projector → PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use dl_e2e::{repo, request, Scenario};
use dl_function::{json_eq, load_dir_of_packages, Expectation};
use dl_schema::DecisionStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_cases_decide_project_and_chain() -> anyhow::Result<()> {
    let s = Scenario::with_examples("accept", 4).await?;
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;

    // Every example package's output cases, the prototype's acceptance cases among them.
    let mut expected = HashMap::new();
    let mut requests = Vec::new();
    for pkg in load_dir_of_packages(&repo().join("examples"))? {
        for (i, case) in pkg.test_cases().iter().enumerate() {
            if let Expectation::Output { output, .. } = &case.expect {
                let id = format!("{}-{i}", pkg.manifest().id);
                let mut r = request(&id, &pkg.manifest().id, &case.input_json);
                // Apply the law on the function's first day in force (some examples are dated).
                r.as_of = Some(dl_schema::date::to_avro_days(pkg.manifest().effective_from));
                requests.push(r);
                expected.insert(id, (case.name.clone(), output.clone()));
            }
        }
    }
    assert!(
        requests.len() >= 30,
        "expected the example packages' cases, found {}",
        requests.len()
    );
    for id in ["loan_approval", "refund_policy"] {
        assert!(
            requests.iter().any(|r| r.function_id == id),
            "no {id} cases"
        );
    }
    s.send(&requests)?;

    let codec = dl_schema::result_codec();
    let results = s.read(&s.results, requests.len(), Duration::from_secs(120))?;
    assert_eq!(results.len(), requests.len(), "one result per request");
    let mut by_request = HashMap::new();
    for r in &results {
        let result = codec.decode(&r.payload)?;
        assert_eq!(
            r.key,
            result.request_id.as_bytes(),
            "results are keyed by request id"
        );
        let (name, want) = &expected[&result.request_id];
        assert_eq!(
            result.status,
            DecisionStatus::Decided,
            "{name}: {:?}",
            result.rejection
        );
        let got: serde_json::Value =
            serde_json::from_str(result.output.as_deref().unwrap_or("null"))?;
        assert!(json_eq(want, &got), "{name}: expected {want}, got {got}");
        assert!(
            !result.reasons.is_empty() && !result.legal_basis.is_empty(),
            "{name}: reasons and legal basis"
        );
        let signature = result.signature.as_ref().expect("decisions are signed");
        assert!(
            signature.key_id.starts_with("wk:"),
            "signed with a worker key"
        );
        assert!(
            by_request
                .insert(result.request_id.clone(), result)
                .is_none(),
            "duplicate result"
        );
    }

    // The projection agrees with the results.
    let n = requests.len() as i64;
    assert_eq!(
        s.wait_for_count(
            "SELECT count(*) FROM decisions",
            n,
            Duration::from_secs(120)
        )
        .await?,
        n
    );
    let pool = s.pg().await?;
    let rows: Vec<(String, String, serde_json::Value, String, i64, String)> =
        sqlx::query_as("SELECT request_id, decision_id, output, ledger_hash, ledger_sequence, chain_id FROM audit_decisions")
            .fetch_all(&pool)
            .await?;
    for (request_id, decision_id, output, hash, sequence, chain) in rows {
        let result = &by_request[&request_id];
        let ledger = result.ledger.as_ref().expect("ledger position");
        assert_eq!(decision_id, result.decision_id);
        assert_eq!(
            (hash.as_str(), sequence),
            (ledger.hash.as_str(), ledger.sequence)
        );
        assert_eq!(chain, format!("{}:{}", s.ledger, ledger.partition));
        let got: serde_json::Value =
            serde_json::from_str(result.output.as_deref().unwrap_or("null"))?;
        assert!(json_eq(&output, &got));
    }
    let breaks: i64 = sqlx::query_scalar("SELECT count(*) FROM chain_breaks")
        .fetch_one(&pool)
        .await?;
    assert_eq!(breaks, 0);
    let daily: i64 = sqlx::query_scalar("SELECT sum(decisions)::bigint FROM audit_daily_outcomes")
        .fetch_one(&pool)
        .await?;
    assert_eq!(daily, n);

    // Each chain used starts with the worker key's certificate and got a signed checkpoint.
    let kinds: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT chain_id, \
                count(*) FILTER (WHERE kind = 'SIGNING_KEY_CERTIFIED' AND sequence = 0), \
                count(*) FILTER (WHERE kind = 'CHECKPOINT'), \
                count(*) FILTER (WHERE kind IN ('DECISION_RECORDED', 'REQUEST_REJECTED')) \
         FROM ledger_records GROUP BY chain_id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(kinds.iter().map(|k| k.3).sum::<i64>(), n, "{kinds:?}");
    for (chain, certificates_first, checkpoints, _) in &kinds {
        assert_eq!(*certificates_first, 1, "{chain} starts with a certificate");
        assert!(*checkpoints >= 1, "{chain} has a checkpoint");
    }
    // The projector verified every signature and certificate, and the idle-chain checkpoints
    // cover every decision within about a second.
    assert_eq!(
        s.wait_for_count(
            "SELECT count(*) FROM audit_decision_integrity WHERE integrity_ok AND signed AND key_verified",
            n,
            Duration::from_secs(60)
        )
        .await?,
        n,
        "every decision signed, its key certified, and covered by a verified checkpoint"
    );
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_records")
        .fetch_one(&pool)
        .await?;

    // Every ledger partition is one chain and verifies; the decisions spread over several.
    let report = s.verify_ledger()?;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["records"], records);
    let used = report["chains"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["records"].as_i64() > Some(0)).count())
        .unwrap_or(0);
    assert!(
        used >= 2,
        "decisions should spread over partitions: {report}"
    );

    // Both services expose clean Prometheus metrics and are ready.
    for (service, expected) in [
        (&worker, "dl_worker_messages_total"),
        (&projector, "dl_projector_records_total"),
    ] {
        let (status, body) = dl_e2e::http_get(service.metrics_port, "/metrics")?;
        assert_eq!(status, 200);
        assert!(body.contains(expected), "{expected} missing from /metrics");
        assert!(
            body.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .all(|l| l.starts_with("dl_")),
            "every metric is dl_-prefixed"
        );
        assert_eq!(dl_e2e::promtool_check(&body)?, None);
        service.wait_ready().await?;
        assert_eq!(dl_e2e::http_get(service.metrics_port, "/healthz")?.0, 200);
    }
    Ok(())
}
