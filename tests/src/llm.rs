//! The local LLM server (`scripts/llm/install.sh`: llama-cpp-python with SmolLM2-135M) for the
//! agent's tests: started on a free loopback port, killed on drop.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A running OpenAI-compatible server.
pub struct LlmServer {
    child: Child,
    /// API root (`http://127.0.0.1:<port>/v1`).
    pub url: String,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlmServer {
    /// Installs the server and model if needed (the first build takes minutes; pip caches it),
    /// starts it and waits until `/v1/models` answers.
    pub fn start() -> anyhow::Result<Self> {
        let out = Command::new("bash")
            .arg(crate::repo().join("scripts/llm/install.sh"))
            .stderr(Stdio::inherit())
            .output()
            .context("running scripts/llm/install.sh")?;
        if !out.status.success() {
            bail!("scripts/llm/install.sh failed");
        }
        let model = String::from_utf8(out.stdout)?.trim().to_string();
        let port = crate::free_port();
        let python = crate::repo().join(".stack/llm-venv/bin/python");
        let log = std::fs::File::create(crate::repo().join(format!("target/llm-{port}.log")))?;
        let child = Command::new(python)
            .args(["-m", "llama_cpp.server", "--model", &model])
            .args(["--model_alias", "smollm2-135m", "--host", "127.0.0.1"])
            .args([
                "--port",
                &port.to_string(),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
            ])
            .args(["--chat_format", "chatml"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the LLM server")?;
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}/v1"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if crate::http_get(port, "/v1/models").is_ok_and(|(code, _)| code == 200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("the LLM server never answered")
    }
}

/// Every request body (the prompts) that went through a [`recording_proxy`].
pub type Recorded = Arc<Mutex<Vec<String>>>;

/// An HTTP proxy on a free loopback port in front of the OpenAI-compatible API at `upstream`
/// (`.../v1`) that records every request body: what the model received. Returns its API root
/// (`http://127.0.0.1:<port>/v1`) and the record. Runs until the test's runtime ends.
pub async fn recording_proxy(upstream: String) -> anyhow::Result<(String, Recorded)> {
    let seen: Recorded = Arc::default();
    let http = reqwest::Client::new();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/v1/{*rest}",
        axum::routing::post(
            move |axum::extract::Path(rest): axum::extract::Path<String>, body: String| {
                let (http, upstream, record) = (http.clone(), upstream.clone(), record.clone());
                async move {
                    if let Ok(mut r) = record.lock() {
                        r.push(body.clone());
                    }
                    let answer = http
                        .post(format!("{upstream}/{rest}"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(r) => {
                            let status = axum::http::StatusCode::from_u16(r.status().as_u16())
                                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
                            (status, r.text().await.unwrap_or_default())
                        }
                        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, seen))
}
