//! Every service's `/metrics` is clean under `promtool check metrics` (HELP and TYPE for every
//! family, base units, `_total` counters) once it has done some work: worker, projector,
//! explainer, auditor, gateway and agent, in one scenario. And every metric name the Grafana
//! dashboards (`deploy/grafana/dashboards`) and the Prometheus rules (`deploy/prometheus/rules`)
//! use is one these services export. The scenario does what the dashboards show: the worker
//! signs with KMS (moto), authenticates callers (the local OIDC provider) and checks replays in
//! Redis; a request without a token is rejected, an undecodable message is dead-lettered, an
//! unsigned decision forged into the ledger is a chain break, the auditor replays and scores,
//! and an approved candidate of the guarded function is evaluated in shadow. Needs the stack.
//!
//! The tests without a scenario check the dashboards' and rules' form: JSON with a query in
//! every panel, valid PromQL, a `promtool test rules` file per rule file with a firing and a
//! quiet case for every alert, every alert documented.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dl_e2e::kms::{signer_env, start_moto};
use dl_e2e::monitoring::{
    dashboard_queries, dashboards, exposition_names, panels, recorded_names, rule_files,
    rule_queries, rules, used_names, Query, RULE_TESTS_DIR,
};
use dl_e2e::oidc::{bearer, Provider, CLIENT, SECRET};
use dl_e2e::redis::Redis;
use dl_e2e::{eventually_blocking, http_get, promtool_check, repo, request, Scenario, Service};

/// Fixture function whose allow list is the test client (`sub:dl-test-client`).
const GUARDED: &str = "guarded_loan";
const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

/// An approved candidate of the guarded function (the same policy as version 99.0.0), in shadow
/// for every decision: the worker's `dl_shadow_*` metrics (ADR 0032).
async fn shadow_candidate(s: &Scenario) -> anyhow::Result<()> {
    let src =
        dl_function::FunctionPackage::load(&repo().join("tests/fixtures/functions").join(GUARDED))?;
    let dir = s.dir().join("guarded-candidate");
    for (path, content) in src.files() {
        let mut content = content.clone();
        if path == "function.yaml" {
            content = String::from_utf8(content)?
                .replacen("version: 1.0.0", "version: 99.0.0", 1)
                .into_bytes();
        }
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap_or(&dir))?;
        std::fs::write(p, content)?;
    }
    let pkg = dl_function::FunctionPackage::load(&dir)?;
    anyhow::ensure!(pkg.manifest().version.to_string() == "99.0.0");
    let writer = s.registry_writer().await?;
    s.publish_approved(&writer, &pkg).await?;
    writer
        .shadow(GUARDED, "99.0.0", 1000, dl_e2e::OWNER)
        .await?;
    Ok(())
}

fn exposition(service: &Service) -> anyhow::Result<String> {
    let (status, body) = http_get(service.metrics_port, "/metrics")?;
    anyhow::ensure!(status == 200, "/metrics answered {status}");
    Ok(body)
}

/// Appends an unsigned decision to the (still empty) chain of the ledger's partition 0, as
/// someone writing to the topic could: the projector records an `UNSIGNED_DECISION` break, and
/// the worker started afterwards extends the chain after it.
fn forge_unsigned_decision(s: &Scenario) -> anyhow::Result<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let now = chrono::Utc::now().timestamp_millis();
    let mut chain = dl_verify::synthetic::ChainBuilder::new(format!("{}:0", s.ledger), now);
    chain.decision(None, 1);
    let producer: BaseProducer = dl_kafka::client_config(&s.brokers).create()?;
    let codec = dl_schema::ledger_codec();
    for r in &chain.records {
        let payload = codec.encode(r)?;
        let key = r.sequence.to_string();
        producer
            .send(
                BaseRecord::to(&s.ledger)
                    .partition(0)
                    .key(&key)
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Produces a request with an optional bearer token.
fn send(s: &Scenario, r: &dl_schema::DecisionRequest, token: Option<&str>) -> anyhow::Result<()> {
    let payload = dl_schema::request_codec().encode(r)?;
    let auth = token.map(bearer);
    let headers: Vec<(&str, &[u8])> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    s.send_with_headers(&r.request_id, &payload, &headers)
}

/// The queries of every dashboard and rule.
fn all_queries() -> anyhow::Result<Vec<Query>> {
    let mut queries = dashboard_queries(&dashboards()?);
    queries.extend(rule_queries(&rule_files()?));
    Ok(queries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exposes_metrics_promtool_accepts_and_the_dashboards_use(
) -> anyhow::Result<()> {
    let s = Scenario::with_examples("metrics", 1).await?;
    forge_unsigned_decision(&s)?;
    shadow_candidate(&s).await?;
    let registry = [
        ("DL_REGISTRY_TOPIC", s.registry.clone()),
        ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
    ];

    // The worker signs with KMS, authenticates callers and checks replays in Redis; the
    // projector verifies against the same KMS key.
    let moto = start_moto(&s.dir().join("moto"))?;
    moto.create_certifier("alias/dl-metrics", "dl metrics certifier")
        .await?;
    let mut kms_env = signer_env(
        "alias/dl-metrics",
        &format!("http://127.0.0.1:{}", moto.port),
    );
    // No outage is tested here: a loaded machine gets time to answer.
    kms_env.push(("DL_KMS_TIMEOUT_MS", "10000".into()));
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    let auth_file = s.dir().join("auth.json");
    std::fs::write(&auth_file, serde_json::to_vec(&provider.worker_config())?)?;
    let mut worker_env = kms_env.clone();
    worker_env.push(("DL_AUTH_CONFIG", auth_file.display().to_string()));
    worker_env.push(("REDIS_URL", redis.url()));
    let worker = s.worker_with_env("a", &worker_env)?;
    let mut projector_env = kms_env.clone();
    projector_env.push(("DL_TRUSTED_CERTIFIERS", "alias/dl-metrics".into()));
    projector_env.extend(registry.iter().cloned());
    let projector = s.projector_with_env("a", &projector_env)?;
    let explainer = s.explainer("a")?;
    let auditor = s.auditor("a", 1)?;
    let (gateway, gateway_port) = s.gateway("a", &registry)?;
    // The agent's metrics do not need its model to answer; nothing listens on port 9.
    let (agent, _) = s.agent("a", gateway_port, "http://127.0.0.1:9")?;

    // Decided, rejected (unknown function), rejected (no token), dead-lettered (not Avro).
    let token = provider.token(CLIENT, SECRET).await?;
    send(&s, &request("m-1", GUARDED, LOAN), Some(&token))?;
    send(&s, &request("m-2", "nope", "{}"), Some(&token))?;
    send(&s, &request("m-3", GUARDED, LOAN), None)?;
    s.send_raw("m-4", b"not a request")?;
    s.flush()?;
    let codec = dl_schema::result_codec();
    let mut outcomes = BTreeMap::new();
    for r in s.read(&s.results, 3, Duration::from_secs(90))? {
        let r = codec.decode(&r.payload)?;
        let code = r.rejection.map_or("DECIDED".to_string(), |j| j.code);
        outcomes.insert(r.request_id, code);
    }
    assert_eq!(
        outcomes,
        BTreeMap::from([
            ("m-1".to_string(), "DECIDED".to_string()),
            ("m-2".to_string(), "UNKNOWN_FUNCTION".to_string()),
            ("m-3".to_string(), "AUTH_MISSING_TOKEN".to_string()),
        ]),
        "every request answered"
    );
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

    let services = [
        ("worker", &worker),
        ("projector", &projector),
        ("explainer", &explainer),
        ("auditor", &auditor),
        ("gateway", &gateway),
        ("agent", &agent),
    ];
    // Every name a dashboard or rule selects is exported (recording rules aside), once the
    // scenario's effects (lag statistics, audit rounds, the chain break) have shown.
    let queries = all_queries()?;
    let used = used_names(&queries);
    let recorded = recorded_names(&rule_files()?);
    assert!(
        used.len() > 20,
        "the extraction found too few names: {used:?}"
    );
    let bodies = eventually_blocking(
        Duration::from_secs(180),
        "every metric the dashboards and rules use is exported",
        || -> Result<Vec<(&str, String)>, String> {
            let mut bodies = Vec::new();
            let mut exported = BTreeSet::new();
            for (name, service) in services {
                let body = exposition(service).map_err(|e| format!("{name}: {e:#}"))?;
                exported.extend(exposition_names(&body));
                bodies.push((name, body));
            }
            let missing: Vec<String> = used
                .iter()
                .filter(|(n, _)| !recorded.contains(*n) && !exported.contains(*n))
                .map(|(n, origins)| format!("{n} (in {})", origins.join("; ")))
                .collect();
            if missing.is_empty() {
                Ok(bodies)
            } else {
                Err(format!(
                    "used but exported by no service: {}",
                    missing.join(", ")
                ))
            }
        },
    )?;

    for (name, body) in &bodies {
        assert!(
            body.contains("# HELP dl_"),
            "{name} exports no dl_ metric:\n{body}"
        );
        assert_eq!(promtool_check(body)?, None, "{name}'s /metrics:\n{body}");
    }
    Ok(())
}

#[test]
fn dashboards_have_a_query_in_every_panel() -> anyhow::Result<()> {
    let dashboards = dashboards()?;
    assert!(dashboards.len() >= 4, "pipeline, integrity, auth, audit");
    let mut uids = BTreeSet::new();
    for (file, d) in &dashboards {
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(
            !uid.is_empty() && uids.insert(uid.to_string()),
            "{file}: uid {uid:?}"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{file}: schemaVersion"
        );
        // The Prometheus data source is chosen through the `datasource` variable.
        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            vars.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{file}: no `datasource` variable of type prometheus"
        );
        let panels = panels(d);
        assert!(!panels.is_empty(), "{file}: no panels");
        let mut ids = BTreeSet::new();
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{file}: a panel without a title: {p}");
            assert!(
                p["id"].as_u64().is_some_and(|id| ids.insert(id)),
                "{file}: panel {title}: missing or repeated id"
            );
            assert!(p["gridPos"].is_object(), "{file}: panel {title}: gridPos");
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{file}: panel {title}: data source"
            );
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{file}: panel {title} has no query");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{file}: panel {title}: a target without an expression"
                );
                assert!(
                    t["refId"]
                        .as_str()
                        .is_some_and(|r| refs.insert(r.to_string())),
                    "{file}: panel {title}: missing or repeated refId"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn every_alert_is_unit_tested_both_ways_and_documented() -> anyhow::Result<()> {
    let files = rule_files()?;
    assert!(files.len() >= 3, "pipeline, integrity, audit rules");
    let operations = std::fs::read_to_string(repo().join("docs/operations.md"))?;
    let recorded = recorded_names(&files);
    for (file, y) in &files {
        let test_path = repo().join(RULE_TESTS_DIR).join(file);
        let test: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(&test_path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", test_path.display()))?,
        )?;
        let tested_files: Vec<&str> = test["rule_files"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .collect();
        assert!(
            tested_files.contains(&format!("../rules/{file}").as_str()),
            "{} does not test ../rules/{file} ({tested_files:?})",
            test_path.display()
        );
        let cases: Vec<&serde_yaml::Value> = test["tests"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|t| t["alert_rule_test"].as_sequence().into_iter().flatten())
            .collect();
        for r in rules(y) {
            if let Some(record) = r["record"].as_str() {
                assert!(
                    record.starts_with("dl:") && record.split(':').count() == 3,
                    "{file}: recording rule {record} is not named dl:<metric>:<operation>"
                );
                continue;
            }
            let alert = r["alert"].as_str().expect("a rule records or alerts");
            let firing = |c: &&&serde_yaml::Value| {
                c["alertname"] == alert
                    && c["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty())
            };
            let quiet = |c: &&&serde_yaml::Value| {
                c["alertname"] == alert
                    && c["exp_alerts"].as_sequence().is_none_or(|a| a.is_empty())
            };
            assert!(
                cases.iter().any(|c| firing(&c)),
                "{file}: no test where {alert} fires"
            );
            assert!(
                cases.iter().any(|c| quiet(&c)),
                "{file}: no test where {alert} stays quiet"
            );
            assert!(
                ["warning", "critical"].contains(&r["labels"]["severity"].as_str().unwrap_or("")),
                "{file}: {alert}: label severity must be warning or critical"
            );
            for annotation in ["summary", "description"] {
                assert!(
                    r["annotations"][annotation].is_string(),
                    "{file}: {alert}: annotation {annotation}"
                );
            }
            assert!(
                operations.contains(&format!("`{alert}`")),
                "docs/operations.md does not document {alert}"
            );
        }
    }
    // A recording rule a dashboard or rule uses is defined.
    for (name, origins) in used_names(&all_queries()?) {
        if name.contains(':') {
            assert!(
                recorded.contains(&name),
                "{name} is used ({origins:?}) but no rule records it"
            );
        }
    }
    Ok(())
}

/// The dashboards' queries are valid PromQL: promtool parses them as the expressions of a
/// generated rule file (Grafana's interval variables replaced by durations).
#[test]
fn dashboard_queries_are_valid_promql() -> anyhow::Result<()> {
    let mut file = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, q) in dashboard_queries(&dashboards()?).iter().enumerate() {
        let expr = q
            .expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h");
        file.push_str(&format!(
            "      - record: dashboard:query_{i}:check\n        expr: {}\n",
            serde_json::to_string(&expr)?
        ));
    }
    let dir = std::env::temp_dir().join(format!("dl-dashboards-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("dashboards.yml");
    std::fs::write(&path, &file)?;
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .map_err(|e| anyhow::anyhow!("promtool (scripts/stack.sh install provides it): {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}{}\n{file}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
