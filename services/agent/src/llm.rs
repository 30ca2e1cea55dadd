//! The OpenAI-compatible chat completions client and the agent's reply protocol.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// One chat message (`role`: system, user, assistant).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: String,
    /// What is said (always redacted text).
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// LLM failures.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Transport or HTTP error.
    #[error("LLM request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The response had no message.
    #[error("LLM response without a message")]
    Empty,
}

/// A client of `POST {base}/chat/completions`.
pub struct Llm {
    http: reqwest::Client,
    base: String,
    model: String,
    api_key: Option<String>,
    max_tokens: u32,
}

impl Llm {
    /// A client; `base` is the API root (`.../v1`).
    pub fn new(
        base: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
        max_tokens: u32,
    ) -> Result<Self, LlmError> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            base: base.trim_end_matches('/').to_string(),
            model: model.into(),
            api_key,
            max_tokens,
        })
    }

    /// One completion at temperature 0, asking for a JSON object.
    pub async fn complete(&self, messages: &[Message]) -> Result<String, LlmError> {
        let started = Instant::now();
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .json(&json!({
                "model": self.model,
                "messages": messages,
                "temperature": 0,
                "max_tokens": self.max_tokens,
                "response_format": {"type": "json_object"},
            }));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let result = async {
            let v: Value = req.send().await?.error_for_status()?.json().await?;
            v["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_string)
                .ok_or(LlmError::Empty)
        }
        .await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("dl_agent_llm_requests_total", "outcome" => outcome).increment(1);
        metrics::histogram!("dl_agent_llm_seconds").record(started.elapsed().as_secs_f64());
        result
    }
}

/// What the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Evaluate the decision with these changes (JSON pointer → value).
    WhatIf(Map<String, Value>),
    /// Answer the person.
    Answer(String),
}

/// Reads the model's reply: `{"what_if": {"/field": value}}` asks for the tool;
/// `{"answer": "..."}` answers; anything else (small models drift) is taken as the answer text.
pub fn parse_reply(text: &str) -> Reply {
    let Ok(Value::Object(v)) = serde_json::from_str::<Value>(text.trim()) else {
        return Reply::Answer(text.trim().to_string());
    };
    if let Some(Value::Object(changes)) = v.get("what_if") {
        let pointers: Map<String, Value> = changes
            .iter()
            .map(|(k, val)| {
                let k = if k.starts_with('/') {
                    k.clone()
                } else {
                    format!("/{k}")
                };
                (k, val.clone())
            })
            .collect();
        if !pointers.is_empty() {
            return Reply::WhatIf(pointers);
        }
    }
    match v.get("answer") {
        Some(Value::String(s)) => Reply::Answer(s.clone()),
        Some(other) => Reply::Answer(other.to_string()),
        None => Reply::Answer(Value::Object(v).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(r#"{"answer": "Because the amount is small."}"#),
            Reply::Answer("Because the amount is small.".into())
        );
        let Reply::WhatIf(c) = parse_reply(r#"{"what_if": {"amount": 8000, "/tier": "gold"}}"#)
        else {
            panic!("a what-if")
        };
        assert_eq!(c["/amount"], 8000);
        assert_eq!(c["/tier"], "gold");
        assert_eq!(
            parse_reply("plain words"),
            Reply::Answer("plain words".into())
        );
        assert_eq!(
            parse_reply(r#"{"answer": {"name": "x"}}"#),
            Reply::Answer(r#"{"name":"x"}"#.into())
        );
        assert_eq!(
            parse_reply(r#"{"what_if": {}}"#),
            Reply::Answer(r#"{"what_if":{}}"#.into())
        );
    }
}
