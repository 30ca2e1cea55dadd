//! Every service's `/metrics` is clean under `promtool check metrics` (HELP and TYPE for every
//! family, base units, `_total` counters) once it has done some work: worker, projector,
//! explainer, auditor, gateway and agent, in one scenario. Needs the stack.

use std::time::Duration;

use dl_e2e::{http_get, promtool_check, request, Scenario, Service};

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

fn exposition(service: &Service) -> anyhow::Result<String> {
    let (status, body) = http_get(service.metrics_port, "/metrics")?;
    anyhow::ensure!(status == 200, "/metrics answered {status}");
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exposes_metrics_promtool_accepts() -> anyhow::Result<()> {
    let s = Scenario::with_examples("metrics", 1).await?;
    let registry = [
        ("DL_REGISTRY_TOPIC", s.registry.clone()),
        ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
    ];
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;
    let explainer = s.explainer("a")?;
    let auditor = s.auditor("a", 1)?;
    let (gateway, gateway_port) = s.gateway("a", &registry)?;
    // The agent's metrics do not need its model to answer; nothing listens on port 9.
    let (agent, _) = s.agent("a", gateway_port, "http://127.0.0.1:9")?;

    s.send(&[
        request("m-1", "loan_approval", LOAN),
        request("m-2", "nope", "{}"),
    ])?;
    let results = s.read(&s.results, 2, Duration::from_secs(90))?;
    assert_eq!(results.len(), 2, "both requests answered");
    s.wait_for_count(
        "SELECT count(*) FROM explain_views",
        1,
        Duration::from_secs(60),
    )
    .await?;
    // Some gateway traffic: a read, a not-found and the OpenAPI document.
    for path in [
        "/openapi.json",
        "/v1/registry/versions",
        "/v1/decisions/unknown",
    ] {
        let _ = http_get(gateway_port, path)?;
    }

    for (name, service) in [
        ("worker", &worker),
        ("projector", &projector),
        ("explainer", &explainer),
        ("auditor", &auditor),
        ("gateway", &gateway),
        ("agent", &agent),
    ] {
        let body = exposition(service)?;
        assert!(
            body.contains("# HELP dl_"),
            "{name} exports no dl_ metric:\n{body}"
        );
        assert_eq!(promtool_check(&body)?, None, "{name}'s /metrics:\n{body}");
    }
    Ok(())
}
