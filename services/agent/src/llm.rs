//! The OpenAI-compatible chat completions client and the agent's reply protocol.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

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

    /// One completion at temperature 0, asking for a JSON object (matching `schema` when
    /// given: llama.cpp's server turns it into a grammar), of at most `max_tokens` tokens (the
    /// configured maximum when larger).
    pub async fn complete(
        &self,
        messages: &[Message],
        max_tokens: u32,
        schema: Option<&Value>,
    ) -> Result<String, LlmError> {
        let mut format = json!({"type": "json_object"});
        if let Some(s) = schema {
            format["schema"] = s.clone();
        }
        let started = Instant::now();
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .json(&json!({
                "model": self.model,
                "messages": messages,
                "temperature": 0,
                "max_tokens": max_tokens.min(self.max_tokens),
                "response_format": format,
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

/// The string member `key` of the JSON object the model replied with (small models drift:
/// anything else is `None`).
pub fn reply_field(text: &str, key: &str) -> Option<String> {
    let text = text.trim();
    let object = serde_json::from_str::<Value>(text).ok().or_else(|| {
        // A reply with words around the object: the outermost braces.
        let (start, end) = (text.find('{')?, text.rfind('}')?);
        serde_json::from_str::<Value>(text.get(start..=end)?).ok()
    })?;
    match object.get(key)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            reply_field(r#"{"answer": "Because the amount is small."}"#, "answer").as_deref(),
            Some("Because the amount is small.")
        );
        assert_eq!(
            reply_field(r#"Sure: {"intent": "what_if"} done"#, "intent").as_deref(),
            Some("what_if")
        );
        assert_eq!(
            reply_field(r#"{"value": 8000}"#, "value").as_deref(),
            Some("8000")
        );
        assert_eq!(reply_field("plain words", "answer"), None);
        assert_eq!(reply_field(r#"{"answer": {"name": "x"}}"#, "answer"), None);
        assert_eq!(reply_field(r#"["answer"]"#, "answer"), None);
    }
}
