//! Two tenants on one stack (issue 13, docs/tenancy.md): one broker, one database, one worker.
//! The tenant comes from the verified token only (the issuer's `tenant_claim`); a token without a
//! declared tenant is refused `AUTH_NO_TENANT`; the same caller and request id in two tenants
//! are two requests (nonces do not collide); every ledger record and projected row carries its
//! tenant; each tenant's auditor role reads only its tenant's rows (row-level security).

use std::collections::HashMap;
use std::time::Duration;

use dl_e2e::oidc::{bearer, Provider};
use dl_e2e::redis::Redis;
use dl_e2e::{request, Scenario};
use serde_json::json;
use sqlx::Row as _;

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_share_the_pipeline_and_never_see_each_other() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    let s = Scenario::with_examples("tenancy", 2).await?;
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
    let _projector = s.projector("a")?;

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
    let send = |id: &str, token: &str| -> anyhow::Result<()> {
        let r = request(id, "guarded_loan", LOAN);
        let payload = dl_schema::request_codec().encode(&r)?;
        s.send_with_headers(id, &payload, &[("authorization", bearer(token).as_slice())])
    };
    send("same-id", &kela)?;
    send("same-id", &bank)?;
    send("no-tenant", &none)?;
    send("undeclared-tenant", &hospital)?;
    s.flush()?;

    let codec = dl_schema::result_codec();
    let mut by_id: HashMap<String, Vec<dl_schema::DecisionResult>> = HashMap::new();
    for r in s.read(&s.results, 4, Duration::from_secs(120))? {
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
    for id in ["no-tenant", "undeclared-tenant"] {
        assert_eq!(code(&by_id[id][0]), "AUTH_NO_TENANT", "{id}");
    }

    // Every row carries its tenant; refused callers have none (the default tenant).
    let n = s
        .wait_for_count(
            "SELECT count(*) FROM decisions",
            4,
            Duration::from_secs(120),
        )
        .await?;
    assert_eq!(n, 4);
    let pool = s.pg().await?;
    let mut tenants: Vec<(String, String)> =
        sqlx::query_as("SELECT request_id, tenant FROM decisions ORDER BY 1, 2")
            .fetch_all(&pool)
            .await?;
    tenants.sort();
    assert_eq!(
        tenants,
        [
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
        assert_eq!(rows.len(), 1, "{role}");
        assert_eq!(rows[0].get::<String, _>("tenant"), *tenant);
        seen.push(rows[0].get::<String, _>("decision_id"));
    }
    assert_ne!(seen[0], seen[1]);
    pool.close().await;
    let admin = sqlx::PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    for (role, _) in &roles {
        // The roles own nothing and hold no grants of their own (only their group's).
        sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}
