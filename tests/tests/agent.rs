//! The agentic API end to end with a real LLM server (llama.cpp, SmolLM2-135M): conversations
//! about a decision through the gateway, answers from the decision's facts (ADR 0026), personal
//! data masked before the model sees anything and in what is stored. The model is tiny: the test
//! checks what reaches the person and the model, never how the model phrases.

use std::time::{Duration, Instant};

use dl_e2e::gateway::{call_url as call_as, get_until_ok as until_ok};
use dl_e2e::llm::{recording_proxy, LlmServer};
use dl_e2e::oidc::{Provider, CLIENT, OTHER_CLIENT, OTHER_SECRET, SECRET};
use dl_e2e::{http_get, promtool_check, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};

const HETU: &str = "131052-308T";
/// The shown free text of the issue: a name, a phone number and a HETU.
const PURPOSE: &str = "Kitchen renovation for Matti Virtanen, tel 040 123 4567, hetu 131052-308T";
/// What must reach no prompt, answer or stored row.
const SECRETS: [&str; 6] = [
    "Matti",
    "Virtanen",
    "040 123 4567",
    "0401234567",
    HETU,
    "maija@example.fi",
];

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    call_as(http, method, url, None, body).await
}

/// Issue 17: what a new user saw. A loan decided for an applicant whose shown `loan_purpose`
/// names him, with his phone and his HETU; the model (SmolLM2-135M) breaks ties and phrases
/// answers (`DL_AGENT_MODEL_USE=phrase`) behind a proxy that records every prompt. The answers
/// state the decision's facts (the outcome, the reason, the what-if computed by the function
/// through the tool), are grounded, and the name, the phone and the HETU are in no prompt, no
/// answer and no stored row. What the model phrases is never asserted: only that whatever
/// reaches the person passed the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_conversation_is_true_grounded_and_leaks_nothing() -> anyhow::Result<()> {
    let llm = tokio::task::spawn_blocking(LlmServer::start).await??;
    let (llm_url, prompts) = recording_proxy(llm.url.clone()).await?;
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
    let (agent, port) = s.agent_with_env(
        "a",
        gw,
        &llm_url,
        &[("DL_AGENT_MODEL_USE", "phrase".into())],
    )?;
    let http = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{gw}");
    let api = format!("http://127.0.0.1:{port}");
    until_ok(&http, &format!("{gateway}/openapi.json")).await?;

    // The decision of the issue, and its explanation once projected.
    let (status, decided) = call(
        &http,
        reqwest::Method::POST,
        &format!("{gateway}/v1/decisions"),
        Some(json!({"function_id": "loan_approval",
                    "input": {"amount": 3000, "customer_score": 700, "customer_tier": "standard",
                              "employment_status": "employed", "loan_purpose": PURPOSE}})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let id = decided["decision_id"].as_str().unwrap().to_string();
    until_ok(&http, &format!("{gateway}/v1/decisions/{id}/explanation")).await?;

    // A conversation; an unknown decision is the gateway's 404, passed through.
    let conversations = format!("{api}/v1/conversations");
    let (status, conv) = dl_e2e::eventually(Duration::from_secs(60), "the agent", || {
        call(
            &http,
            reqwest::Method::POST,
            &conversations,
            Some(json!({"decision_id": id})),
        )
    })
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

    let turn = |text: &'static str| {
        let (http, url) = (
            http.clone(),
            format!("{api}/v1/conversations/{cid}/messages"),
        );
        async move {
            let (status, turn) = call(
                &http,
                reqwest::Method::POST,
                &url,
                Some(json!({"text": text})),
            )
            .await?;
            assert_eq!(status, StatusCode::OK, "{turn}");
            assert_eq!(turn["grounded"], true, "{turn}");
            anyhow::Ok(turn)
        }
    };
    let why = turn("Why was my loan approved?").await?;
    let answer = why["answer"].as_str().unwrap_or_default();
    assert_eq!(why["intent"], "outcome", "{why}");
    assert!(!answer.contains("rejected"), "{why}");
    // The template states the facts; a phrasing is used only when it states them too.
    let says = |text: &str, any: &[&str]| any.iter().any(|w| text.contains(w));
    assert!(
        says(answer, &["approved", "granted", "eligible"])
            && answer.contains("SMALL_PERSONAL_LOAN"),
        "{why}"
    );
    let name = turn("What is the name of the applicant?").await?;
    assert_eq!(name["intent"], "personal_data", "{name}");
    assert_eq!(name["parts"][0]["generated"], false, "{name}");
    let what_if = turn("What if the amount were 20000?").await?;
    assert_eq!(
        what_if["tool_calls"][0]["changes"],
        json!({"/amount": 20000}),
        "{what_if}"
    );
    assert_eq!(
        what_if["tool_calls"][0]["result"]["reasons"][0]["code"], "STANDARD_TIER_LIMIT",
        "{what_if}"
    );
    let a = what_if["answer"].as_str().unwrap_or_default();
    assert!(
        says(a, &["rejected", "denied", "declined"])
            && a.contains("STANDARD_TIER_LIMIT")
            && a.contains("20000"),
        "{what_if}"
    );
    let own = turn("My id is 131052-308T, mail maija@example.fi. Why was it approved?").await?;
    assert_eq!(own["intent"], "outcome", "{own}");

    // Nothing personal anywhere: prompts, answers, stored rows.
    let prompts = prompts.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(!prompts.is_empty(), "the model was asked to phrase");
    for secret in SECRETS {
        for p in &prompts {
            assert!(!p.contains(secret), "{secret} in a prompt: {p}");
        }
        for t in [&why, &name, &what_if, &own] {
            assert!(!t.to_string().contains(secret), "{secret} in {t}");
        }
    }
    let (status, shown) = call(
        &http,
        reqwest::Method::GET,
        &format!("{api}/v1/conversations/{cid}"),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let messages = shown["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "tool",
            "assistant",
            "user",
            "assistant"
        ]
    );
    let asked = messages[7]["content"].as_str().unwrap();
    assert!(
        asked.contains("[FI_PERSONAL_IDENTITY_CODE]") && asked.contains("[EMAIL]"),
        "{asked}"
    );
    let pool = s.pg().await?;
    for secret in SECRETS {
        let leaked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conversation_messages WHERE strpos(content, $1) > 0 OR strpos(coalesce(tool_call::text, ''), $1) > 0",
        )
        .bind(secret)
        .fetch_one(&pool)
        .await?;
        assert_eq!(leaked, 0, "{secret} stored");
    }

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
    for line in [
        // Asked (a completion may fail on a loaded machine: the template answers then).
        "dl_agent_llm_requests_total{outcome=",
        "dl_agent_intents_total{intent=\"what_if\",source=\"parser\"} 1",
        "dl_agent_tool_calls_total 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
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
