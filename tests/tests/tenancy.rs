//! Two tenants on one stack (issue 13, docs/tenancy.md): one broker, one database, one worker,
//! one gateway. The tenant comes from the verified token only (the issuer's `tenant_claim`); a
//! token without a declared tenant is refused `AUTH_NO_TENANT`; each tenant runs only its own
//! functions (`<tenant>/<name>` in the registry, released by its own people), not even another's
//! by exact id; the same caller and request id in two tenants are two requests (nonces do not
//! collide); every ledger record and projected row carries its tenant; each tenant's auditor
//! role reads only its tenant's rows (row-level security); through the gateway another tenant's
//! decision is exactly as absent as an unknown one, and lists and reports hold only the
//! caller's tenant; metrics carry declared tenants only.

//! Two tenants on one stack (issue 13, docs/tenancy.md): one broker, one database, one worker.
//! The tenant comes from the verified token only (the issuer's `tenant_claim`); a token without a
//! declared tenant is refused `AUTH_NO_TENANT`; the same caller and request id in two tenants
//! are two requests (nonces do not collide); every ledger record and projected row carries its
//! tenant; each tenant's auditor role reads only its tenant's rows (row-level security). Views
//! and conversations are per tenant: one identity code gets unlinkable pseudonyms in two
//! tenants, and the agent answers another tenant's decision and conversation ids like unknown
//! ones.

use std::collections::HashMap;
use std::time::Duration;

use dl_e2e::gateway::Api;
use dl_e2e::oidc::{bearer, Provider};
use dl_e2e::redis::Redis;
use dl_e2e::{http_get, request, Backends, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row as _;

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_share_the_pipeline_and_never_see_each_other() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    // `loan_approval` is the default tenant's (plain id) and kela's; `guarded_loan` kela's and
    // bank's.
    let s =
        Scenario::with_functions_on("tenancy", 2, Backends::from_env(), &["loan_approval"]).await?;
    s.release_for("kela", &["guarded_loan", "loan_approval"])
        .await?;
    s.release_for("bank", &["guarded_loan"]).await?;
    // Bank's approver cannot approve, nor bank's people retire, kela's function.
    let writer = s.registry_writer().await?;
    let key = s.approver_key("bank-owner")?;
    let refused = writer
        .approve(
            "kela/guarded_loan",
            "1.0.0",
            dl_schema::ApproverRole::Owner,
            "bank-owner",
            "bank-owner-1",
            &key,
        )
        .await;
    assert!(
        matches!(&refused, Err(dl_registry_kafka::WriteError::Refused(e)) if e.code() == "FOREIGN_TENANT"),
        "{refused:?}"
    );
    let refused = writer
        .retire("kela/guarded_loan", "1.0.0", "bank-author", None)
        .await;
    assert!(
        matches!(&refused, Err(dl_registry_kafka::WriteError::Refused(e)) if e.code() == "FOREIGN_TENANT"),
        "{refused:?}"
    );
    let mut auth = provider.worker_config();
    auth["auth"]["tenants"] = json!(["kela", "bank"]);
    auth["auth"]["issuers"][0]["tenant_claim"] = json!("org.tenant");
    let path = s.dir().join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&auth)?)?;
    let _worker = s.worker_with_env(
        "a",
        &[
            ("DL_AUTH_CONFIG", path.display().to_string()),
            ("REDIS_URL", redis.url()),
        ],
    )?;
    let _projector = s.projector_with_env(
        "a",
        &[
            ("DL_REGISTRY_TOPIC", s.registry.clone()),
            ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
        ],
    )?;
    let roles = s.dir().join("gateway-roles.json");
    std::fs::write(
        &roles,
        serde_json::to_vec(&json!({"issuers": {provider.issuer.clone(): {"auditor": "auditor"}}}))?,
    )?;
    let (gateway, port) = s.gateway(
        "a",
        &[
            ("DL_AUTH_CONFIG", path.display().to_string()),
            ("DL_GATEWAY_ROLES", roles.display().to_string()),
        ],
    )?;

    // The same client (issuer and subject) in two tenants, and tokens naming none or an
    // undeclared one.
    let token = |tenant: Option<&str>| {
        let mut claims = provider.claims();
        if let Some(t) = tenant {
            claims["org"] = json!({"tenant": t});
        }
        provider.sign(json!({}), claims, false)
    };
    let (kela, bank) = (token(Some("kela")).await?, token(Some("bank")).await?);
    let (none, hospital) = (token(None).await?, token(Some("hospital")).await?);
    let send = |id: &str, function: &str, version: Option<&str>, token: &str| {
        let mut r = request(id, function, LOAN);
        r.function_version = version.map(str::to_string);
        let payload = dl_schema::request_codec().encode(&r)?;
        s.send_with_headers(id, &payload, &[("authorization", bearer(token).as_slice())])
    };
    send("same-id", "guarded_loan", None, &kela)?;
    send("same-id", "guarded_loan", None, &bank)?;
    send("no-tenant", "guarded_loan", None, &none)?;
    send("undeclared-tenant", "guarded_loan", None, &hospital)?;
    // Bank cannot select kela's functions: not by registry id, not by a name only kela has,
    // not with an exact version.
    send("bank-names-kela", "kela/guarded_loan", Some("1.0.0"), &bank)?;
    send("bank-kela-only", "loan_approval", Some("1.0.0"), &bank)?;
    s.flush()?;

    let codec = dl_schema::result_codec();
    let mut by_id: HashMap<String, Vec<dl_schema::DecisionResult>> = HashMap::new();
    for r in s.read(&s.results, 6, Duration::from_secs(120))? {
        let d = codec.decode(&r.payload)?;
        by_id.entry(d.request_id.clone()).or_default().push(d);
    }
    let code = |r: &dl_schema::DecisionResult| {
        r.rejection
            .as_ref()
            .map_or("DECIDED".to_string(), |j| j.code.clone())
    };
    let same = &by_id["same-id"];
    assert_eq!(
        same.iter().map(code).collect::<Vec<_>>(),
        ["DECIDED", "DECIDED"],
        "one request id, two tenants: two requests, neither a resubmission nor a reuse"
    );
    assert_ne!(same[0].decision_id, same[1].decision_id);
    let mut functions: Vec<&str> = same.iter().map(|r| r.function_id.as_str()).collect();
    functions.sort();
    assert_eq!(
        functions,
        ["bank/guarded_loan", "kela/guarded_loan"],
        "each caller ran its own tenant's function"
    );
    for id in ["no-tenant", "undeclared-tenant"] {
        assert_eq!(code(&by_id[id][0]), "AUTH_NO_TENANT", "{id}");
    }
    for id in ["bank-names-kela", "bank-kela-only"] {
        assert_eq!(code(&by_id[id][0]), "UNKNOWN_FUNCTION", "{id}");
    }
    let kela_decision = same
        .iter()
        .find(|r| r.function_id.starts_with("kela/"))
        .map(|r| r.decision_id.clone())
        .unwrap_or_default();

    // Every row carries its tenant; refused callers have none (the default tenant).
    let n = s
        .wait_for_count(
            "SELECT count(*) FROM decisions",
            6,
            Duration::from_secs(120),
        )
        .await?;
    assert_eq!(n, 6);
    let pool = s.pg().await?;
    let mut tenants: Vec<(String, String)> =
        sqlx::query_as("SELECT request_id, tenant FROM decisions ORDER BY 1, 2")
            .fetch_all(&pool)
            .await?;
    tenants.sort();
    assert_eq!(
        tenants,
        [
            ("bank-kela-only", "bank"),
            ("bank-names-kela", "bank"),
            ("no-tenant", "default"),
            ("same-id", "bank"),
            ("same-id", "kela"),
            ("undeclared-tenant", "default")
        ]
        .map(|(r, t)| (r.to_string(), t.to_string()))
    );
    let ledger_tenants: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger_records WHERE record -> 'decision' ->> 'tenant' IN ('kela', 'bank')",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(ledger_tenants, 2, "the ledger records carry the tenant");
    assert_eq!(
        s.verify_ledger()?["ok"],
        true,
        "the chain verifies with tenants in it"
    );

    // Each tenant's auditor: its own decision, nothing of the other's.
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let roles = [
        (format!("kela_auditor_{suffix}"), "kela"),
        (format!("bank_auditor_{suffix}"), "bank"),
    ];
    for (role, tenant) in &roles {
        sqlx::query("SELECT dl_add_tenant_auditor($1, $2)")
            .bind(role)
            .bind(tenant)
            .execute(&pool)
            .await?;
    }
    let mut seen = Vec::new();
    for (role, tenant) in &roles {
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("SET LOCAL ROLE {role}"))
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT decision_id, tenant FROM audit_decisions JOIN decisions USING (decision_id)",
        )
        .fetch_all(&mut *tx)
        .await;
        tx.rollback().await?;
        let rows = rows?;
        let expected = if *tenant == "kela" { 1 } else { 3 };
        assert_eq!(rows.len(), expected, "{role}");
        for row in &rows {
            assert_eq!(row.get::<String, _>("tenant"), *tenant);
            seen.push(row.get::<String, _>("decision_id"));
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "the two auditors' rows are disjoint");
    pool.close().await;

    through_the_gateway(&provider, port, &kela_decision).await?;
    let (_, metrics) = http_get(gateway.metrics_port, "/metrics")?;
    assert!(metrics.contains(r#"tenant="bank""#), "{metrics}");
    assert!(
        !metrics.contains("hospital"),
        "only declared tenants label metrics"
    );
    let (_, metrics) = http_get(_worker.metrics_port, "/metrics")?;
    for t in ["kela", "bank"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("dl_worker_messages_total")
                    && l.contains(&format!(r#"tenant="{t}""#))),
            "the worker counts {t}'s outcomes"
        );
    }
    assert!(
        !metrics.contains("hospital"),
        "only declared tenants label metrics"
    );

    let admin = sqlx::PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    for (role, _) in &roles {
        // The roles own nothing and hold no grants of their own (only their group's).
        sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}

/// Kela's decision through the gateway: kela reads it; bank gets exactly what an unknown id
/// gets; the same request id in both tenants shows each only its own; bank's function list and
/// audit report hold only bank's.
async fn through_the_gateway(
    provider: &Provider,
    port: u16,
    kela_decision: &str,
) -> anyhow::Result<()> {
    let api = Api::on_port(port).await?;
    let token = |tenant: &str, roles: Value| {
        let mut claims = provider.claims();
        claims["org"] = json!({"tenant": tenant});
        claims["roles"] = roles;
        provider.sign(json!({}), claims, false)
    };
    let kela = token("kela", json!([])).await?;
    let bank = token("bank", json!([])).await?;
    let bank_auditor = token("bank", json!(["auditor"])).await?;

    let own = api
        .get_eventually(&format!("/v1/decisions/{kela_decision}"), &kela)
        .await?;
    assert_eq!(own["function_id"], "kela/guarded_loan");
    let foreign = api
        .get(
            &format!("/v1/decisions/{kela_decision}"),
            Some(&bank_auditor),
        )
        .await?;
    let unknown = api
        .get("/v1/decisions/no-such-decision", Some(&bank_auditor))
        .await?;
    assert_eq!(foreign.0, StatusCode::NOT_FOUND);
    assert_eq!(
        foreign, unknown,
        "another tenant's decision answers as an unknown id"
    );
    for path in [
        format!("/v1/decisions/{kela_decision}/explanation?audience=auditor"),
        format!("/explanations/{kela_decision}?audience=auditor"),
    ] {
        let (status, _) = api.get(&path, Some(&bank_auditor)).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    let (_, mine) = api
        .get("/v1/decisions?request_id=same-id", Some(&kela))
        .await?;
    let mine = mine["decisions"].as_array().cloned().unwrap_or_default();
    assert_eq!(mine.len(), 1, "kela sees its own same-id decision only");
    assert_eq!(mine[0]["function_id"], "kela/guarded_loan");

    // The registry's projection is asynchronous: wait until bank's function is listed.
    let listed = dl_e2e::eventually(Duration::from_secs(60), "bank's functions", || async {
        match api.get("/v1/functions", Some(&bank)).await? {
            (StatusCode::OK, v) if v["versions"].as_array().is_some_and(|a| !a.is_empty()) => Ok(v),
            (status, v) => Err(anyhow::anyhow!("still {status} {v}")),
        }
    })
    .await?;
    let listed: Vec<(String, String)> = listed["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["function_id"].as_str().unwrap_or_default().to_string(),
                v["registry_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("guarded_loan".to_string(), "bank/guarded_loan".to_string())],
        "bank lists its functions by the names its callers use"
    );

    let (status, report) = api.get("/v1/audit/report", Some(&bank_auditor)).await?;
    assert_eq!(status, StatusCode::OK, "{report}");
    // Decided outcomes: bank's function only. (Bank's rejected requests are listed under the
    // names bank asked for, e.g. "kela/guarded_loan": bank's own input, nothing of kela's.)
    let decided: Vec<&str> = report["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["decided"].as_i64() > Some(0))
        .filter_map(|v| v["function_id"].as_str())
        .collect();
    assert_eq!(decided, ["bank/guarded_loan"], "{report}");
    Ok(())
}

/// Issue 13, explanations and the agent: the same identity code in two tenants' decisions gets
/// unlinkable pseudonyms (each tenant's key derived from the one configured key) and each view
/// row carries its tenant; through the agent, tenant B's token learns nothing of tenant A's
/// decision (its id is answered exactly like an unknown one, even though A's caller has the
/// same issuer and subject) and nothing of A's conversations (not listed, 404 to read or to
/// continue). No turn is taken, so no model is needed (its URL answers nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_and_conversations_are_per_tenant() -> anyhow::Result<()> {
    const HETU: &str = "131052-308T";
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    let s = Scenario::new("tenancy-explain", 1).await?;
    for tenant in ["kela", "bank"] {
        s.release_for(tenant, &["guarded_loan"]).await?;
    }
    let mut auth = provider.worker_config();
    auth["auth"]["tenants"] = json!(["kela", "bank"]);
    auth["auth"]["issuers"][0]["tenant_claim"] = json!("org.tenant");
    let path = s.dir().join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&auth)?)?;
    let auth_env = ("DL_AUTH_CONFIG", path.display().to_string());
    let _worker = s.worker_with_env("a", &[auth_env.clone(), ("REDIS_URL", redis.url())])?;
    let _projector = s.projector("a")?;
    let _explainer = s.explainer("a")?;
    // The token's `case_worker` role counts for the gateway (docs/gateway.md).
    let roles = s.dir().join("gateway-roles.json");
    std::fs::write(
        &roles,
        serde_json::to_vec(
            &json!({"issuers": {provider.issuer.clone(): {"case_worker": "case_worker"}}}),
        )?,
    )?;
    let (gateway, gw) = s.gateway(
        "a",
        &[
            auth_env.clone(),
            ("DL_GATEWAY_ROLES", roles.display().to_string()),
        ],
    )?;
    let (agent, port) = s.agent_with_env("a", gw, "http://127.0.0.1:9/v1", &[auth_env])?;

    // One client (issuer and subject) in two tenants; tokens live five minutes, so each step
    // signs its own.
    let token = |tenant: &'static str| {
        let mut claims = provider.claims();
        claims["org"] = json!({"tenant": tenant});
        provider.sign(json!({}), claims, false)
    };
    // The same person's identity code in both tenants' requests (in a shown free-text field:
    // case workers and auditors see its pseudonym).
    let loan = format!(
        r#"{{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed", "loan_purpose": "car for {HETU}"}}"#
    );
    for tenant in ["kela", "bank"] {
        let r = request(&format!("hetu-{tenant}"), "guarded_loan", &loan);
        let payload = dl_schema::request_codec().encode(&r)?;
        let t = token(tenant).await?;
        s.send_with_headers(
            &r.request_id,
            &payload,
            &[("authorization", bearer(&t).as_slice())],
        )?;
    }
    s.flush()?;
    s.wait_for_count(
        "SELECT count(*) FROM explain_views",
        2,
        Duration::from_secs(180),
    )
    .await?;

    // Pseudonyms: per tenant, named by the derived key's id, never the same for one person.
    let pool = s.pg().await?;
    // Decision, tenant, key id, the case worker's loan purpose, the auditor's score.
    type ViewRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<ViewRow> = sqlx::query_as(
        "SELECT e.decision_id, e.tenant, e.pseudonym_key_id,
                    e.views -> 'CASE_WORKER' -> 'input' ->> 'loan_purpose',
                    e.views -> 'AUDITOR' -> 'input' ->> 'customer_score'
             FROM explain_views e ORDER BY e.tenant",
    )
    .fetch_all(&pool)
    .await?;
    let tenants: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(tenants, ["bank", "kela"]);
    let pseudonym = |text: &str| {
        text.split_whitespace()
            .find(|w| w.starts_with("psn:"))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let mut digits = Vec::new();
    for (_, tenant, key_id, purpose, score) in &rows {
        let key_id = key_id.as_deref().unwrap_or_default();
        assert!(key_id.ends_with(&format!("/{tenant}")), "{key_id}");
        let purpose = purpose.as_deref().unwrap_or_default();
        assert!(!purpose.contains(HETU), "{purpose}");
        let p = pseudonym(purpose);
        assert!(p.starts_with(&format!("psn:{key_id}:")), "{purpose}");
        digits.push(p.rsplit(':').next().unwrap_or_default().to_string());
        let score = score.as_deref().unwrap_or_default();
        assert!(score.starts_with(&format!("psn:{key_id}:")), "{score}");
    }
    assert_ne!(
        digits[0], digits[1],
        "one identity code, two tenants: unlinkable pseudonyms"
    );
    assert_ne!(rows[0].4, rows[1].4, "one redacted score, two pseudonyms");
    let (bank_decision, kela_decision) = (rows[0].0.clone(), rows[1].0.clone());
    let tenant_of: Vec<(String, String)> =
        sqlx::query_as("SELECT decision_id, tenant FROM decisions ORDER BY tenant")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        tenant_of,
        [
            (bank_decision.clone(), "bank".to_string()),
            (kela_decision.clone(), "kela".to_string())
        ]
    );

    // The agent.
    gateway.wait_ready().await?;
    agent.wait_ready().await?;
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}/v1/conversations");
    let call = |method: reqwest::Method, url: String, token: String, body: Option<Value>| {
        let http = http.clone();
        async move {
            let mut req = http.request(method, &url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            dl_e2e::gateway::answer(req.send().await?).await
        }
    };
    let (kela, bank) = (token("kela").await?, token("bank").await?);
    let bank_case_worker = {
        let mut claims = provider.claims();
        claims["org"] = json!({"tenant": "bank"});
        claims["roles"] = json!(["case_worker"]);
        claims["sub"] = json!("bank-case-worker");
        provider.sign(json!({}), claims, false).await?
    };
    let create = |token: &String, decision: &str, audience: &str| {
        call(
            reqwest::Method::POST,
            api.clone(),
            token.clone(),
            Some(json!({"decision_id": decision, "audience": audience})),
        )
    };
    // Each tenant talks about its own decision (the subject: the same principal asked).
    let (status, mine) = create(&kela, &kela_decision, "subject").await?;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let kela_conversation = mine["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, theirs) = create(&bank, &bank_decision, "subject").await?;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let bank_conversation = theirs["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Tenant B asking about tenant A's decision: exactly the answer of an unknown id, for its
    // subject (the same issuer and subject asked in A) and for its case worker (a role that
    // reads every decision of its own tenant); an audience it has no role for is refused
    // before any lookup, alike.
    for (token, audience, status) in [
        (&bank, "subject", StatusCode::NOT_FOUND),
        (&bank_case_worker, "case_worker", StatusCode::NOT_FOUND),
        (&bank_case_worker, "subject", StatusCode::NOT_FOUND),
        (&bank, "auditor", StatusCode::FORBIDDEN),
    ] {
        let unknown = create(token, "no-such-decision", audience).await?;
        assert_eq!(unknown.0, status, "{audience}: {}", unknown.1);
        let foreign = create(token, &kela_decision, audience).await?;
        assert_eq!(
            foreign, unknown,
            "{audience}: another tenant's decision is unknown"
        );
    }
    // Its own tenant's decision, the case worker reads.
    let (status, body) = create(&bank_case_worker, &bank_decision, "case_worker").await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bank_case = body["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Tenant B and tenant A's conversation: not listed, 404 to read or to continue, exactly
    // as one that does not exist.
    let list = |token: &String| call(reqwest::Method::GET, api.clone(), token.clone(), None);
    let ids = |listed: &Value| -> Vec<String> {
        listed["conversations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["conversation_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, listed) = list(&bank).await?;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(ids(&listed), [bank_conversation.as_str()]);
    let (_, listed) = list(&kela).await?;
    assert_eq!(ids(&listed), [kela_conversation.as_str()]);
    let (_, listed) = list(&bank_case_worker).await?;
    assert_eq!(ids(&listed), [bank_case]);
    let absent = uuid::Uuid::new_v4().to_string();
    for (method, tail, body) in [
        (reqwest::Method::GET, "", None),
        (
            reqwest::Method::POST,
            "/messages",
            Some(json!({"text": "Why?"})),
        ),
    ] {
        let foreign = call(
            method.clone(),
            format!("{api}/{kela_conversation}{tail}"),
            bank.clone(),
            body.clone(),
        )
        .await?;
        let unknown = call(method, format!("{api}/{absent}{tail}"), bank.clone(), body).await?;
        assert_eq!(foreign.0, StatusCode::NOT_FOUND, "{}", foreign.1);
        assert_eq!(foreign, unknown);
    }
    // The owner still reads it; the rows carry their tenants.
    let (status, shown) = call(
        reqwest::Method::GET,
        format!("{api}/{kela_conversation}"),
        kela.clone(),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT decision_id, tenant FROM conversations ORDER BY tenant")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        stored,
        [
            (bank_decision.clone(), "bank".to_string()),
            (bank_decision, "bank".to_string()),
            (kela_decision, "kela".to_string())
        ]
    );
    Ok(())
}
