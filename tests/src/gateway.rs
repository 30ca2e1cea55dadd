//! A small HTTP client of the gateway's API for the end-to-end tests.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// The API of one gateway.
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The client.
    pub http: reqwest::Client,
}

impl Api {
    /// The gateway on `port`, once it listens (it may still be starting).
    pub async fn on_port(port: u16) -> anyhow::Result<Api> {
        let api = Api {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        crate::eventually(Duration::from_secs(120), "the gateway listens", || {
            api.get("/openapi.json", None)
        })
        .await?;
        Ok(api)
    }

    /// One request; the body is JSON when it parses, else a string.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let headers = resp.headers().clone();
        let (status, body) = answer(resp).await?;
        Ok((status, headers, body))
    }

    /// `GET path`.
    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let (s, _, v) = self.call(reqwest::Method::GET, path, token, None).await?;
        Ok((s, v))
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let (s, _, v) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await?;
        Ok((s, v))
    }

    /// GETs `path` until it answers 200 (the projection is asynchronous).
    pub async fn get_eventually(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        crate::eventually(Duration::from_secs(60), path, || async {
            match self.get(path, Some(token)).await? {
                (StatusCode::OK, v) => Ok(v),
                (s, v) => Err(anyhow::anyhow!("still {s} {v}")),
            }
        })
        .await
    }
}

/// One request to an absolute URL (the gateway's, the agent's), with an optional bearer token
/// and JSON body; the answer as [`answer`] reads it.
pub async fn call_url(
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
    answer(req.send().await?).await
}

/// GETs `url` until it answers 200 (a service still starting, a projection still behind).
pub async fn get_until_ok(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    crate::eventually(Duration::from_secs(90), url, || async {
        match call_url(http, reqwest::Method::GET, url, None, None).await? {
            (StatusCode::OK, v) => Ok(v),
            (status, v) => Err(anyhow::anyhow!("{status} {v}")),
        }
    })
    .await
}

/// A response's status and body: JSON when it parses, else the text as a string.
pub async fn answer(resp: reqwest::Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = resp.status();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}
