//! `dl-agent`: conversational explanation of one decision (docs/agent.md).
//!
//! A conversation is about one decision and one audience. Every turn the agent fetches the
//! redacted explanation from the gateway *with the caller's own token* (so the gateway's read
//! rules decide who may talk about what), masks identifiers in the user's text with `dl-redact`,
//! and asks an OpenAI-compatible LLM. The model may call one tool, `what_if`, which is the
//! gateway's what-if evaluation (the real function version, never recorded). Its answer is masked
//! again before it is returned. The LLM never receives anything but redacted text; only that
//! text is stored (PostgreSQL `conversations`, `conversation_messages`).

mod llm;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use dl_redact::{Audience, Redactor};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use crate::llm::{parse_reply, Llm, Message, Reply};

/// Longest user message, in characters.
const MAX_TEXT_CHARS: usize = 2000;

/// Decision Layer agent.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Config {
    /// Address of the agent's API.
    #[arg(long, env = "DL_AGENT_ADDR", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    /// Address of /metrics, /healthz, /readyz.
    #[arg(long, env = "DL_METRICS_ADDR", default_value = "127.0.0.1:9106")]
    metrics_addr: SocketAddr,
    /// Base URL of the gateway (explanations and what-if are read through it).
    #[arg(long, env = "DL_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    gateway_url: String,
    /// Base URL of the OpenAI-compatible API (`.../v1`).
    #[arg(long, env = "DL_LLM_URL")]
    llm_url: String,
    /// Model name.
    #[arg(long, env = "DL_LLM_MODEL", default_value = "smollm2-135m")]
    llm_model: String,
    /// API key of the LLM service, if it needs one.
    #[arg(long, env = "DL_LLM_API_KEY", hide_env_values = true)]
    llm_api_key: Option<String>,
    /// Seconds one LLM completion may take.
    #[arg(long, env = "DL_LLM_TIMEOUT_SECS", default_value_t = 60)]
    llm_timeout_secs: u64,
    /// Most tokens per completion.
    #[arg(long, env = "DL_LLM_MAX_TOKENS", default_value_t = 256)]
    llm_max_tokens: u32,
    /// Most what-if calls per turn.
    #[arg(long, env = "DL_AGENT_MAX_TOOL_CALLS", default_value_t = 2)]
    max_tool_calls: usize,
    /// PostgreSQL URL (the conversation tables; the projector's migrations create them).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

struct AppState {
    gateway: String,
    http: reqwest::Client,
    llm: Llm,
    pool: PgPool,
    redactor: Redactor,
    max_tool_calls: usize,
}

/// An error with a stable code, or the gateway's answer passed through.
enum AgentError {
    Api(StatusCode, &'static str, String),
    Gateway(StatusCode, Value),
}

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        match self {
            AgentError::Api(status, code, message) => (
                status,
                Json(json!({"error": {"code": code, "message": message}})),
            )
                .into_response(),
            AgentError::Gateway(status, body) => (status, Json(body)).into_response(),
        }
    }
}

impl From<sqlx::Error> for AgentError {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "database unavailable");
        AgentError::Api(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the database is unavailable".into(),
        )
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> AgentError {
    tracing::warn!(error = %e, "{what} unavailable");
    AgentError::Api(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        format!("{what} is unavailable; retry later"),
    )
}

impl AppState {
    /// A request to the gateway carrying the caller's `authorization` header.
    async fn gateway(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<Value>,
    ) -> Result<Value, AgentError> {
        let mut req = self.http.request(method, format!("{}{path}", self.gateway));
        if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
            req = req.header(reqwest::header::AUTHORIZATION, auth.as_bytes());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| unavailable("the gateway", e))?;
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(AgentError::Gateway(status, body))
        }
    }

    async fn explanation(
        &self,
        decision_id: &str,
        audience: &str,
        headers: &HeaderMap,
    ) -> Result<Value, AgentError> {
        self.gateway(
            reqwest::Method::GET,
            &format!("/v1/decisions/{decision_id}/explanation?audience={audience}"),
            headers,
            None,
        )
        .await
    }

    /// Masks identifiers (the subject's masks: `[EMAIL]`), for everything the LLM sees or says.
    fn mask(&self, text: &str) -> String {
        self.redactor
            .redact_text(text, Audience::Subject)
            .map(|(t, _)| t)
            .unwrap_or_else(|_| "[text withheld]".into())
    }
}

fn audience_ok(a: &str) -> bool {
    matches!(a, "subject" | "case_worker" | "auditor")
}

/// The system prompt: the redacted explanation and the reply protocol.
fn system_prompt(e: &Value) -> String {
    let facts = json!({
        "function": e["function_id"], "version": e["function_version"],
        "decision": e["output"], "reasons": e["reasons"], "legal_basis": e["legal_basis"],
        "input_shown": e["input"], "withheld_fields": e["redaction"]["input"]["erased"],
    });
    format!(
        "You explain one decision of a public authority to a person, in plain language, using \
         only these facts: {facts}\n\
         Reply with a JSON object. To answer: {{\"answer\": \"...\"}}. To see what the decision \
         would be if shown fields had other values: {{\"what_if\": {{\"/field\": value}}}}. \
         Never guess withheld fields."
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConversation {
    decision_id: String,
    #[serde(default = "subject")]
    audience: String,
}

fn subject() -> String {
    "subject".into()
}

/// `POST /v1/conversations`.
async fn create(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<NewConversation>,
) -> Result<Response, AgentError> {
    if !audience_ok(&body.audience) {
        return Err(AgentError::Api(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "audience must be subject, case_worker or auditor".into(),
        ));
    }
    s.explanation(&body.decision_id, &body.audience, &headers)
        .await?;
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO conversations (conversation_id, decision_id, audience) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(&body.decision_id)
    .bind(&body.audience)
    .execute(&s.pool)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"conversation_id": id, "decision_id": body.decision_id, "audience": body.audience})),
    )
        .into_response())
}

/// The conversation's decision and audience, after the gateway agreed the caller may read it.
async fn authorised(
    s: &AppState,
    id: uuid::Uuid,
    headers: &HeaderMap,
) -> Result<(String, String, Value), AgentError> {
    let row =
        sqlx::query("SELECT decision_id, audience FROM conversations WHERE conversation_id = $1")
            .bind(id)
            .fetch_optional(&s.pool)
            .await?
            .ok_or(AgentError::Api(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such conversation".into(),
            ))?;
    let (decision_id, audience): (String, String) = (row.try_get(0)?, row.try_get(1)?);
    let explanation = s.explanation(&decision_id, &audience, headers).await?;
    Ok((decision_id, audience, explanation))
}

async fn history(
    s: &AppState,
    id: uuid::Uuid,
) -> Result<Vec<(String, String, Option<Value>)>, AgentError> {
    let rows = sqlx::query(
        "SELECT role, content, tool_call FROM conversation_messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserMessage {
    text: String,
}

/// `POST /v1/conversations/{id}/messages`: one turn.
async fn message(
    State(s): State<Arc<AppState>>,
    Path(id): Path<uuid::Uuid>,
    headers: HeaderMap,
    Json(body): Json<UserMessage>,
) -> Result<Response, AgentError> {
    if body.text.trim().is_empty() || body.text.chars().count() > MAX_TEXT_CHARS {
        return Err(AgentError::Api(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("text must have 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    let (decision_id, _, explanation) = authorised(&s, id, &headers).await?;
    let mut messages = vec![Message::new("system", system_prompt(&explanation))];
    for (role, content, _) in history(&s, id).await? {
        let role = if role == "tool" {
            "user"
        } else {
            role.as_str()
        };
        messages.push(Message::new(role, content));
    }
    let user_text = s.mask(&body.text);
    messages.push(Message::new("user", user_text.clone()));
    let mut turn: Vec<(&str, String, Option<Value>)> = vec![("user", user_text, None)];
    let mut tool_calls = Vec::new();
    let answer = loop {
        let raw = s
            .llm
            .complete(&messages)
            .await
            .map_err(|e| unavailable("the language model", e))?;
        match parse_reply(&raw) {
            Reply::WhatIf(changes) if tool_calls.len() < s.max_tool_calls => {
                metrics::counter!("dl_agent_tool_calls_total").increment(1);
                let result = match s
                    .gateway(
                        reqwest::Method::POST,
                        &format!("/v1/decisions/{decision_id}/what-if"),
                        &headers,
                        Some(json!({"changes": changes})),
                    )
                    .await
                {
                    Ok(v) => json!({"output": v["output"], "reasons": v["reasons"],
                                    "differs_from_decision": v["differs_from_decision"],
                                    "error": v.get("error")}),
                    Err(AgentError::Gateway(status, body)) => {
                        json!({"refused": status.as_u16(), "error": body["error"]})
                    }
                    Err(e) => return Err(e),
                };
                let call = json!({"tool": "what_if", "changes": changes, "result": result});
                let text = s.mask(&format!("Tool what_if result: {result}"));
                messages.push(Message::new("assistant", s.mask(&raw)));
                messages.push(Message::new("user", text.clone()));
                turn.push(("tool", text, Some(call.clone())));
                tool_calls.push(call);
            }
            Reply::WhatIf(_) => break "I could not work that out within this turn.".to_string(),
            Reply::Answer(a) => break s.mask(&a),
        }
    };
    turn.push(("assistant", answer.clone(), None));
    let mut tx = s.pool.begin().await?;
    let next: i32 = sqlx::query_scalar(
        "SELECT COALESCE(max(seq) + 1, 0) FROM conversation_messages WHERE conversation_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    for (i, (role, content, call)) in turn.iter().enumerate() {
        sqlx::query(
            "INSERT INTO conversation_messages (conversation_id, seq, role, content, tool_call) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(next + i as i32)
        .bind(role)
        .bind(content)
        .bind(call)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    metrics::counter!("dl_agent_messages_total").increment(1);
    Ok(
        Json(json!({"conversation_id": id, "answer": answer, "tool_calls": tool_calls}))
            .into_response(),
    )
}

/// `GET /v1/conversations/{id}`: the stored (redacted) messages.
async fn show(
    State(s): State<Arc<AppState>>,
    Path(id): Path<uuid::Uuid>,
    headers: HeaderMap,
) -> Result<Response, AgentError> {
    let (decision_id, audience, _) = authorised(&s, id, &headers).await?;
    let messages: Vec<Value> = history(&s, id)
        .await?
        .into_iter()
        .map(|(role, content, call)| json!({"role": role, "content": content, "tool_call": call}))
        .collect();
    Ok(Json(json!({"conversation_id": id, "decision_id": decision_id, "audience": audience, "messages": messages}))
        .into_response())
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!("dl_agent_messages_total", "Conversation turns answered.");
    describe_counter!(
        "dl_agent_tool_calls_total",
        "What-if tool calls made for the model."
    );
    describe_counter!(
        "dl_agent_llm_requests_total",
        "LLM completions by outcome (ok, error)."
    );
    describe_histogram!(
        "dl_agent_llm_seconds",
        Unit::Seconds,
        "Time of one LLM completion."
    );
    for c in ["dl_agent_messages_total", "dl_agent_tool_calls_total"] {
        metrics::counter!(c).increment(0);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    dl_telemetry::init_tracing("dl-agent");
    let telemetry =
        dl_telemetry::Telemetry::start(cfg.metrics_addr, Duration::from_secs(60)).await?;
    let health = telemetry.health.clone();
    describe_metrics();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&cfg.database_url)
        .context("DATABASE_URL")?;
    let state = Arc::new(AppState {
        gateway: cfg.gateway_url.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(40))
            .build()?,
        llm: Llm::new(
            &cfg.llm_url,
            &cfg.llm_model,
            cfg.llm_api_key.clone(),
            Duration::from_secs(cfg.llm_timeout_secs),
            cfg.llm_max_tokens,
        )?,
        pool: pool.clone(),
        redactor: Redactor::new(None),
        max_tool_calls: cfg.max_tool_calls,
    });
    let app = Router::new()
        .route("/v1/conversations", post(create))
        .route("/v1/conversations/{id}", get(show))
        .route("/v1/conversations/{id}/messages", post(message))
        .with_state(state)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024));
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("binding {}", cfg.addr))?;
    tracing::info!(addr = %cfg.addr, llm = %cfg.llm_url, "serving the agent");
    tokio::spawn(async move {
        loop {
            health.beat();
            let why = sqlx::query("SELECT 1 FROM conversations LIMIT 1")
                .execute(&pool)
                .await
                .err()
                .map(|e| e.to_string());
            health.set_blocker("postgres", why);
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(dl_telemetry::shutdown_signal())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_carries_only_the_redacted_view() {
        let e = json!({"function_id": "refund_policy", "function_version": "1.0.0",
                       "output": {"refund_amount": 120}, "reasons": [], "legal_basis": [],
                       "input": {"customer": {"tier": "gold"}},
                       "redaction": {"input": {"erased": ["/customer/id"]}},
                       "ledger": {"hash": "not for the model"}});
        let p = system_prompt(&e);
        assert!(p.contains("refund_amount") && p.contains("/customer/id"));
        assert!(!p.contains("not for the model"));
        assert!(audience_ok("case_worker") && !audience_ok("everyone"));
    }

    #[test]
    fn masks_identifiers() {
        let r = Redactor::new(None);
        let (t, _) = r
            .redact_text("my id is 131052-308T", Audience::Subject)
            .unwrap();
        assert_eq!(t, "my id is [FI_PERSONAL_IDENTITY_CODE]");
    }
}
