//! The HTTP gateway end to end with real tokens from the local OIDC provider: submit (waiting
//! and not), read decisions and redacted explanations under the role rules, the audit report,
//! the registry, errors with stable codes, security headers, request ids, gzip, OpenAPI.

use std::time::Duration;

use dl_e2e::gateway::Api;
use dl_e2e::oidc::{Provider, CLIENT, OTHER_CLIENT, OTHER_SECRET, SECRET};
use dl_e2e::{eventually, repo, Scenario};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_api_with_real_tokens() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::with_examples("gateway", 2).await?;
    let auth = s.dir().join("auth.json");
    std::fs::write(&auth, serde_json::to_vec_pretty(&provider.worker_config())?)?;
    let redis = std::env::var("REDIS_URL").expect("REDIS_URL from scripts/stack.sh");
    let auth_env = ("DL_AUTH_CONFIG", auth.display().to_string());
    let _worker = s.worker_with_env("a", &[auth_env.clone(), ("REDIS_URL", redis)])?;
    let _projector = s.projector_with_env(
        "a",
        &[
            ("DL_REGISTRY_TOPIC", s.registry.clone()),
            ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
        ],
    )?;
    let _explainer = s.explainer("a")?;
    // The provider's `roles` claim counts for the gateway's roles (docs/gateway.md).
    let roles = s.dir().join("gateway-roles.json");
    std::fs::write(
        &roles,
        serde_json::to_vec(&json!({"issuers": {provider.issuer.clone():
            {"auditor": "auditor", "case_worker": "case_worker"}}}))?,
    )?;
    let (_gateway, port) = s.gateway(
        "a",
        &[
            auth_env,
            ("DL_GATEWAY_ROLES", roles.display().to_string()),
            ("DL_REGISTRY_TOPIC", s.registry.clone()),
            ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
        ],
    )?;
    let api = Api::on_port(port).await?;

    let client = provider.token(CLIENT, SECRET).await?;
    let other = provider.token(OTHER_CLIENT, OTHER_SECRET).await?;
    let mut claims = provider.claims();
    claims["sub"] = json!("audit-office");
    claims["client_id"] = json!("audit-office");
    claims["roles"] = json!(["auditor"]);
    let auditor = provider.sign(json!({}), claims.clone(), false).await?;
    // A caller without roles that did not ask for the decisions below.
    claims["sub"] = json!("stranger");
    claims["client_id"] = json!("stranger");
    claims["roles"] = json!([]);
    let stranger = provider.sign(json!({}), claims, false).await?;

    let ask = json!({
        "function_id": "guarded_loan",
        "request_id": "g-1",
        "input": {"amount": 3000, "customer_score": 720, "customer_tier": "standard",
                  "employment_status": "employed", "monthly_income": 4200,
                  "loan_purpose": "car; reach me at maija@example.fi"}
    });

    // No token: 401 with a stable code, and nothing is produced.
    let (status, headers, body) = api
        .call(
            reqwest::Method::POST,
            "/v1/decisions",
            None,
            Some(ask.clone()),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "AUTH_MISSING_TOKEN");
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");

    // Decided, waiting for it.
    let (status, headers, decided) = api
        .call(
            reqwest::Method::POST,
            "/v1/decisions",
            Some(&client),
            Some(ask.clone()),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "DECIDED", "{decided}");
    assert_eq!(decided["output"]["approved"], true);
    assert!(decided["signature"]["value"].is_string());
    assert!(headers.contains_key("x-request-id"));
    let id = decided["decision_id"].as_str().unwrap().to_string();

    // The same submission again (a client whose call died retries): not decided again, answered
    // with the original decision (or REQUEST_IN_PROGRESS, recorded nowhere, until its result is
    // stored just after the commit: retried). Another body under the same id is refused.
    let mut again = json!(null);
    for _ in 0..20 {
        let (status, _, answer) = api
            .call(
                reqwest::Method::POST,
                "/v1/decisions",
                Some(&client),
                Some(ask.clone()),
            )
            .await?;
        assert_eq!(status, StatusCode::OK, "{answer}");
        again = answer;
        if again["rejection"]["code"] != "REQUEST_IN_PROGRESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        again, decided,
        "a retried submission gets the original decision"
    );
    let mut reused = ask.clone();
    reused["input"]["amount"] = json!(3001);
    let (status, _, refused) = api
        .call(
            reqwest::Method::POST,
            "/v1/decisions",
            Some(&client),
            Some(reused),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(
        refused["rejection"]["code"], "REQUEST_ID_REUSED",
        "{refused}"
    );

    // Not waiting: 202 with where to look; the outcome shows up there.
    let (status, _, pending) = api
        .call(
            reqwest::Method::POST,
            "/v1/decisions?wait=false",
            Some(&client),
            Some(json!({"function_id": "guarded_loan", "request_id": "g-2",
                        "input": {"amount": 15000, "customer_score": 600}})),
        )
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(pending["status"], "PENDING");
    let found = api
        .get_eventually(pending["result"].as_str().unwrap(), &client)
        .await?;
    assert_eq!(found["decisions"][0]["request_id"], "g-2");

    // A caller not on the function's allow list (an auditor client): the worker rejects, the
    // gateway says so.
    let (status, _, rejected) = api
        .call(
            reqwest::Method::POST,
            "/v1/decisions",
            Some(&other),
            Some(json!({"function_id": "guarded_loan", "input": {"amount": 1, "customer_score": 700}})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected["status"], "REJECTED");
    assert_eq!(rejected["rejection"]["code"], "AUTH_FORBIDDEN");

    // Reading a decision: the caller that asked and auditors; never the input. To another
    // caller it does not exist.
    let path = format!("/v1/decisions/{id}");
    let mine = api.get_eventually(&path, &client).await?;
    assert_eq!(mine["decision_id"], id.as_str());
    assert!(mine.get("input").is_none());
    assert_eq!(
        api.get(&path, Some(&stranger)).await?.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get(&path, Some(&auditor)).await?.0, StatusCode::OK);
    assert_eq!(
        api.get("/v1/decisions/no-such-id", Some(&auditor)).await?.0,
        StatusCode::NOT_FOUND
    );

    // The explanation: allowed fields, the e-mail in the free text masked, income erased.
    let explained = api
        .get_eventually(&format!("{path}/explanation"), &client)
        .await?;
    assert_eq!(explained["audience"], "subject");
    assert_eq!(explained["input"]["amount"], 3000);
    assert_eq!(
        explained["input"]["loan_purpose"],
        "car; reach me at [EMAIL]"
    );
    assert!(explained["input"].get("monthly_income").is_none());
    assert!(!explained.to_string().contains("maija@example.fi"));
    assert_eq!(
        api.get(
            &format!("{path}/explanation?audience=auditor"),
            Some(&client)
        )
        .await?
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, for_auditor) = api
        .get(
            &format!("{path}/explanation?audience=auditor"),
            Some(&auditor),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(for_auditor["input"]["monthly_income"]
        .as_str()
        .is_some_and(|p| p.starts_with("psn:")));
    assert_eq!(
        api.get(
            &format!("{path}/explanation?audience=everyone"),
            Some(&auditor)
        )
        .await?
        .0,
        StatusCode::BAD_REQUEST
    );

    // What-if: the real function on the recorded input with a shown field changed; nothing is
    // recorded. Hidden fields may not be varied (that would reveal them).
    // Four outcomes so far (g-1, g-1 reused, g-2, the rejection; the retry is recorded
    // nowhere); all projected before varying one.
    let decisions_before = s
        .wait_for_count("SELECT count(*) FROM decisions", 4, Duration::from_secs(60))
        .await?;
    assert_eq!(decisions_before, 4);
    let (status, _, what_if) = api
        .call(
            reqwest::Method::POST,
            &format!("{path}/what-if"),
            Some(&client),
            Some(json!({"changes": {"/amount": 8000}})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{what_if}");
    assert_eq!(what_if["evaluated"], true);
    assert_eq!(what_if["recorded"], false);
    assert_eq!(what_if["output"]["approved"], false, "{what_if}");
    assert_eq!(what_if["reasons"][0]["code"], "STANDARD_TIER_LIMIT");
    assert!(what_if["differs_from_decision"]
        .as_array()
        .unwrap()
        .contains(&json!("/approved")));
    let (status, _, refused) = api
        .call(
            reqwest::Method::POST,
            &format!("{path}/what-if"),
            Some(&client),
            Some(json!({"changes": {"/monthly_income": 1}})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["code"], "CHANGE_NOT_ALLOWED");
    let (status, _, _) = api
        .call(
            reqwest::Method::POST,
            &format!("{path}/what-if"),
            Some(&stranger),
            Some(json!({"changes": {"/amount": 1}})),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let decisions_after: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(&s.pg().await?)
        .await?;
    assert_eq!(decisions_before, decisions_after, "what-if records nothing");

    // The same view as a page, under the same rules, with its own CSP (one stylesheet).
    let page = api
        .http
        .get(format!("{}/explanations/{id}", api.base))
        .bearer_auth(&client)
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()?
        .contains("style-src 'self'"));
    let html = page.text().await?;
    assert!(html.contains("car; reach me at [EMAIL]"));
    assert!(!html.contains("maija@example.fi"));
    assert_eq!(
        api.get(&format!("/explanations/{id}"), Some(&stranger))
            .await?
            .0,
        StatusCode::NOT_FOUND
    );

    // Audit report for auditors only; the registry for any caller.
    assert_eq!(
        api.get("/v1/audit/report", Some(&client)).await?.0,
        StatusCode::FORBIDDEN
    );
    let (status, report) = api
        .get("/v1/audit/report?function_id=guarded_loan", Some(&auditor))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report["versions"][0]["decided"].as_i64().unwrap_or(0) >= 2,
        "{report}"
    );
    eventually(
        Duration::from_secs(60),
        "guarded_loan listed ACTIVE",
        || async {
            let functions = api.get_eventually("/v1/functions", &client).await?;
            let listed = functions["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["function_id"] == "guarded_loan" && v["state"] == "ACTIVE");
            anyhow::ensure!(listed, "not listed: {functions}");
            Ok(())
        },
    )
    .await?;

    // Bad bodies: stable codes; an oversized body is refused before it is read.
    for bad in [
        json!({"input": {}}),
        json!({"function_id": "x", "input": {}, "extra": 1}),
    ] {
        let (status, _, body) = api
            .call(
                reqwest::Method::POST,
                "/v1/decisions",
                Some(&client),
                Some(bad),
            )
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "BAD_REQUEST");
    }
    // A body over the limit is refused from its declared length, before it is read. Only the
    // head is sent: a client still writing 2 MiB races the server's close of the connection
    // (a broken pipe instead of the answer, seen once in CI).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn =
            tokio::net::TcpStream::connect(api.base.trim_start_matches("http://")).await?;
        let head = format!(
            "POST /v1/decisions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {client}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            2 << 20
        );
        conn.write_all(head.as_bytes()).await?;
        let mut status_line = [0u8; 12];
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            conn.read_exact(&mut status_line),
        )
        .await??;
        assert_eq!(&status_line, b"HTTP/1.1 413");
    }

    // OpenAPI, gzip on request.
    let resp = api
        .http
        .get(format!("{}/openapi.json", api.base))
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let (_, spec) = api.get("/openapi.json", None).await?;
    assert_eq!(spec["openapi"], "3.1.0");
    let source = std::fs::read_to_string(repo().join("services/gateway/openapi.yaml"))?;
    assert!(source.contains("/v1/decisions/{decision_id}/explanation:"));
    Ok(())
}
