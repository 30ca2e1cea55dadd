//! The agentic API end to end with a real LLM server (llama.cpp, SmolLM2-135M): conversations
//! about a decision through the gateway, identifiers masked before the model sees them and in
//! what is stored. The model is tiny: the test checks the protocol, never what it says.

use std::time::{Duration, Instant};

use dl_e2e::llm::LlmServer;
use dl_e2e::oidc::{Provider, CLIENT, OTHER_CLIENT, OTHER_SECRET, SECRET};
use dl_e2e::{http_get, promtool_check, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};

const HETU: &str = "131052-308T";
const EMAIL: &str = "maija@example.fi";

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    call_as(http, method, url, None, body).await
}

async fn call_as(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    dl_e2e::gateway::answer(req.send().await?).await
}

async fn until_ok(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    dl_e2e::eventually(Duration::from_secs(90), url, || async {
        match call(http, reqwest::Method::GET, url, None).await? {
            (StatusCode::OK, v) => Ok(v),
            (status, v) => Err(anyhow::anyhow!("{status} {v}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_about_a_decision_with_a_real_llm() -> anyhow::Result<()> {
    let llm = tokio::task::spawn_blocking(LlmServer::start).await??;
    let s = Scenario::new("agent", 2).await?;
    s.release_dirs(&["examples"]).await?;
    let _worker = s.worker("a")?;
    let _projector = s.projector("a")?;
    let _explainer = s.explainer("a")?;
    let (_gateway, gw) = s.gateway(
        "a",
        &[
            ("DL_REGISTRY_TOPIC", s.registry.clone()),
            ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
        ],
    )?;
    let (agent, port) = s.agent("a", gw, &llm.url)?;
    let http = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{gw}");
    let api = format!("http://127.0.0.1:{port}");
    until_ok(&http, &format!("{gateway}/openapi.json")).await?;

    // A decision over HTTP, and its explanation once projected.
    let (status, decided) = call(
        &http,
        reqwest::Method::POST,
        &format!("{gateway}/v1/decisions"),
        Some(json!({"function_id": "refund_policy",
                    "input": {"issue": "late", "customer": {"tier": "gold", "id": HETU}, "order_amount": 1000}})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let id = decided["decision_id"].as_str().unwrap().to_string();
    until_ok(&http, &format!("{gateway}/v1/decisions/{id}/explanation")).await?;

    // A conversation; an unknown decision is the gateway's 404, passed through.
    let (status, conv) = call(
        &http,
        reqwest::Method::POST,
        &format!("{api}/v1/conversations"),
        Some(json!({"decision_id": id})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{conv}");
    let cid = conv["conversation_id"].as_str().unwrap().to_string();
    let (status, _) = call(
        &http,
        reqwest::Method::POST,
        &format!("{api}/v1/conversations"),
        Some(json!({"decision_id": "no-such-decision"})),
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One turn: the model answers (whatever it says); identifiers never reach it or the store.
    let (status, turn) = call(
        &http,
        reqwest::Method::POST,
        &format!("{api}/v1/conversations/{cid}/messages"),
        Some(json!({"text": format!("Why is my refund 120? My id is {HETU}, mail {EMAIL}.")})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert!(
        turn["answer"].as_str().is_some_and(|a| !a.is_empty()),
        "{turn}"
    );
    let (status, shown) = call(
        &http,
        reqwest::Method::GET,
        &format!("{api}/v1/conversations/{cid}"),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "user");
    let asked = messages[0]["content"].as_str().unwrap();
    assert!(
        asked.contains("[FI_PERSONAL_IDENTITY_CODE]") && asked.contains("[EMAIL]"),
        "{asked}"
    );
    assert_eq!(messages.last().unwrap()["role"], "assistant");
    let pool = s.pg().await?;
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversation_messages WHERE content LIKE '%' || $1 || '%' OR content LIKE '%' || $2 || '%'",
    )
    .bind(HETU)
    .bind(EMAIL)
    .fetch_one(&pool)
    .await?;
    assert_eq!(leaked, 0);

    // Bad input and unknown conversations get stable codes.
    let (status, bad) = call(
        &http,
        reqwest::Method::POST,
        &format!("{api}/v1/conversations/{cid}/messages"),
        Some(json!({"text": "x".repeat(2001)})),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], "BAD_REQUEST");
    let (status, _) = call(
        &http,
        reqwest::Method::GET,
        &format!("{api}/v1/conversations/{}", uuid::Uuid::new_v4()),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Metrics.
    let (_, metrics) = http_get(agent.metrics_port, "/metrics")?;
    assert!(
        metrics.contains("dl_agent_llm_requests_total{outcome=\"ok\"}"),
        "{metrics}"
    );
    assert_eq!(promtool_check(&metrics)?, None);
    Ok(())
}

/// Low (issue 15): conversations were not bound to their creator; any caller who could read the
/// decision read (and continued) anyone's conversation about it. The gateway runs without
/// authentication here so that both callers may read the decision: what keeps the second caller
/// out is the agent's binding alone. No turn reaches the model (its URL answers nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_belongs_to_its_creator() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::new("agent-owner", 1).await?;
    s.release_dirs(&["examples"]).await?;
    let auth = s.dir().join("auth.json");
    std::fs::write(&auth, serde_json::to_vec_pretty(&provider.worker_config())?)?;
    let _worker = s.worker("a")?;
    let _projector = s.projector("a")?;
    let _explainer = s.explainer("a")?;
    let (_gateway, gw) = s.gateway("a", &[])?;
    let (_agent, port) = s.agent_with_env(
        "a",
        gw,
        "http://127.0.0.1:9/v1",
        &[("DL_AUTH_CONFIG", auth.display().to_string())],
    )?;
    let http = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{gw}");
    let api = format!("http://127.0.0.1:{port}");
    until_ok(&http, &format!("{gateway}/openapi.json")).await?;
    let (status, decided) = call(
        &http,
        reqwest::Method::POST,
        &format!("{gateway}/v1/decisions"),
        Some(json!({"function_id": "refund_policy",
                    "input": {"issue": "late", "customer": {"tier": "gold", "id": HETU}, "order_amount": 1000}})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let id = decided["decision_id"].as_str().unwrap().to_string();
    until_ok(&http, &format!("{gateway}/v1/decisions/{id}/explanation")).await?;

    let owner = provider.token(CLIENT, SECRET).await?;
    let other = provider.token(OTHER_CLIENT, OTHER_SECRET).await?;
    // The agent must be listening: the first call may race its start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let conv = loop {
        let created = call_as(
            &http,
            reqwest::Method::POST,
            &format!("{api}/v1/conversations"),
            Some(&owner),
            Some(json!({"decision_id": id})),
        )
        .await;
        match created {
            Ok((StatusCode::CREATED, conv)) => break conv,
            Ok((status, body)) => anyhow::bail!("create: {status} {body}"),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    };
    let url = format!(
        "{api}/v1/conversations/{}",
        conv["conversation_id"].as_str().unwrap()
    );

    let (status, shown) = call_as(&http, reqwest::Method::GET, &url, Some(&owner), None).await?;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["decision_id"], id.as_str());
    // Another caller: as if it did not exist (404, not 403), to read or to continue.
    let (status, body) = call_as(&http, reqwest::Method::GET, &url, Some(&other), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let (status, body) = call_as(
        &http,
        reqwest::Method::POST,
        &format!("{url}/messages"),
        Some(&other),
        Some(json!({"text": "What did they ask?"})),
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // No token at all: 401 with dl-auth's stable code.
    let (status, body) = call_as(&http, reqwest::Method::GET, &url, None, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "AUTH_MISSING_TOKEN");
    let pool = s.pg().await?;
    let (issuer, subject): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT owner_issuer, owner_subject FROM conversations")
            .fetch_one(&pool)
            .await?;
    assert_eq!(issuer.as_deref(), Some(provider.issuer.as_str()));
    assert_eq!(subject.as_deref(), Some(CLIENT));
    Ok(())
}
