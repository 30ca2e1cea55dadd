//! Regression tests of the gateway's security findings (issue 15), with real tokens from the
//! local OIDC provider: results reach only the submission (and caller) they belong to, also
//! across replicas; one caller cannot take every waiter slot; what-if cannot vary a hidden field
//! through its parent and is rate-limited and audited per caller; roles are honoured only as
//! mapped per issuer; reads are limited per caller; another caller's decision reads as not found.

use std::path::Path;
use std::time::Duration;

use dl_e2e::gateway::Api;
use dl_e2e::oidc::{Provider, CLIENT, SECRET};
use dl_e2e::{http_get, Scenario, Service};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A token of the provider for `sub` with `roles` (crafted with its current signing key).
async fn token_for(provider: &Provider, sub: &str, roles: &[&str]) -> anyhow::Result<String> {
    let mut claims = provider.claims();
    claims["sub"] = json!(sub);
    claims["client_id"] = json!(sub);
    claims["roles"] = json!(roles);
    provider.sign(json!({}), claims, false).await
}

/// Writes the auth config trusting `providers` into the scenario's folder; returns its env pair.
fn auth_env(s: &Scenario, providers: &[&Provider]) -> anyhow::Result<(&'static str, String)> {
    let mut config = providers[0].worker_config();
    for p in &providers[1..] {
        let more = p.worker_config()["auth"]["issuers"][0].clone();
        config["auth"]["issuers"]
            .as_array_mut()
            .expect("issuers")
            .push(more);
    }
    let path = s.dir().join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(("DL_AUTH_CONFIG", path.display().to_string()))
}

/// Writes a gateway role map into the scenario's folder; returns its env pair.
fn roles_env(s: &Scenario, map: Value) -> anyhow::Result<(&'static str, String)> {
    let path = s.dir().join("gateway-roles.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&map)?)?;
    Ok(("DL_GATEWAY_ROLES", path.display().to_string()))
}

fn redis_env() -> (&'static str, String) {
    (
        "REDIS_URL",
        std::env::var("REDIS_URL").expect("REDIS_URL from scripts/stack.sh"),
    )
}

fn signal(service: &Service, sig: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([sig, &service.pid().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill {sig} failed");
    Ok(())
}

async fn wait_ready(service: &Service) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !http_get(service.metrics_port, "/readyz").is_ok_and(|(code, _)| code == 200) {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{} never ready",
            service.log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Number of messages on the requests topic, once at least `at_least` are there or `within`
/// passed.
fn requests_count(s: &Scenario, at_least: usize, within: Duration) -> anyhow::Result<usize> {
    tokio::task::block_in_place(|| Ok(s.read(&s.requests, at_least, within)?.len()))
}

const PRODUCED: Duration = Duration::from_secs(30);

const A_LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard",
                         "employment_status": "employed", "monthly_income": 4200}"#;

/// Finding High 1: two callers post the same request id with `wait=true`, on one replica and
/// across two replicas (both read the shared results topic); each gets its own result. The old
/// gateway matched by request id alone: the first result with that id went to whoever waited
/// for it (here: caller A received caller B's rejection), and a second caller could not wait
/// for an id another caller waited for (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_never_reach_another_callers_waiter() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::new("gw-results", 2).await?;
    release(&s, "tests/fixtures/functions/guarded_loan", |m| m).await?;
    let auth = auth_env(&s, &[&provider])?;
    let worker = s.worker_with_env("a", &[auth.clone(), redis_env()])?;
    let (_gw1, port1) = s.gateway("one", std::slice::from_ref(&auth))?;
    let (_gw2, port2) = s.gateway("two", std::slice::from_ref(&auth))?;
    let (one, two) = (Api::on_port(port1).await?, Api::on_port(port2).await?);
    wait_ready(&worker).await?;
    // Paused: every submission below waits before any is decided, in a known order.
    signal(&worker, "-STOP")?;
    let alice = provider.token(CLIENT, SECRET).await?;
    // Not on guarded_loan's allow list: the worker rejects B's requests AUTH_FORBIDDEN.
    let mallory = token_for(&provider, "mallory", &[]).await?;
    let a_input: Value = serde_json::from_str(A_LOAN)?;
    let b_input = json!({"amount": 90000, "customer_score": 300});
    // B first on each id, so the old gateway hands B's result to A's waiter.
    let submissions = [
        (two.clone(), mallory.clone(), "loan-000123", b_input.clone()),
        (one.clone(), alice.clone(), "loan-000123", a_input.clone()),
        (one.clone(), mallory.clone(), "loan-000124", b_input),
        (one.clone(), alice.clone(), "loan-000124", a_input),
    ];
    let (mut waiting, mut produced) = (Vec::new(), 0);
    for (api, token, id, input) in submissions {
        let is_alice = token == alice;
        let task = tokio::spawn(async move {
            api.post(
                "/v1/decisions",
                Some(&token),
                json!({"function_id": "guarded_loan", "request_id": id, "input": input}),
            )
            .await
        });
        // Each produced before the next is sent, unless it was answered without waiting (the
        // old gateway refused the fourth: 503, the id was waited for already).
        let deadline = std::time::Instant::now() + PRODUCED;
        while !task.is_finished() {
            let now = requests_count(&s, produced + 1, Duration::from_secs(1))?;
            if now > produced {
                produced = now;
                break;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "{id} never produced");
        }
        waiting.push((is_alice, task));
    }
    signal(&worker, "-CONT")?;
    let mut decision_ids = Vec::new();
    for (is_alice, task) in waiting {
        let (status, result) = task.await??;
        assert_eq!(status, StatusCode::OK, "{result}");
        if is_alice {
            assert_eq!(
                result["status"], "DECIDED",
                "A got another result: {result}"
            );
            assert_eq!(result["output"]["approved"], true, "{result}");
        } else {
            assert_eq!(
                result["status"], "REJECTED",
                "B got another result: {result}"
            );
            assert_eq!(result["rejection"]["code"], "AUTH_FORBIDDEN", "{result}");
        }
        decision_ids.push(result["decision_id"].as_str().unwrap_or("").to_string());
    }
    decision_ids.sort();
    decision_ids.dedup();
    assert_eq!(decision_ids.len(), 4, "one decision per submission");
    assert_eq!(produced, 4);
    Ok(())
}

/// Finding Low (waiter slots): one caller may hold at most `DL_GATEWAY_MAX_WAITING_PER_CALLER`
/// waiting requests (more: 429 `TOO_MANY_WAITING`, nothing produced); other callers still wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_caller_cannot_take_every_waiter_slot() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::new("gw-slots", 1).await?;
    let auth = auth_env(&s, &[&provider])?;
    // No worker: nothing is decided, every waiting request holds its slot.
    let (_gw, port) = s.gateway(
        "a",
        &[
            auth,
            ("DL_GATEWAY_MAX_WAITING", "3".into()),
            ("DL_GATEWAY_MAX_WAITING_PER_CALLER", "1".into()),
        ],
    )?;
    let api = Api::on_port(port).await?;
    let alice = provider.token(CLIENT, SECRET).await?;
    let bob = token_for(&provider, "bob", &[]).await?;
    let ask = |id: &str| json!({"function_id": "guarded_loan", "request_id": id, "input": {}});
    let first = {
        let (api, alice, body) = (api.clone(), alice.clone(), ask("a-1"));
        tokio::spawn(async move { api.post("/v1/decisions", Some(&alice), body).await })
    };
    assert_eq!(requests_count(&s, 1, PRODUCED)?, 1);
    let (status, refused) = api
        .post("/v1/decisions?timeout_ms=1000", Some(&alice), ask("a-2"))
        .await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["error"]["code"], "TOO_MANY_WAITING");
    // Another caller still gets a slot: it waits, and is answered 202 when nothing comes.
    let (status, pending) = api
        .post("/v1/decisions?timeout_ms=1000", Some(&bob), ask("b-1"))
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert!(pending["decision_id"].is_string(), "{pending}");
    // The refused request was not produced (a response comes after its produce: it would be
    // on the topic already).
    assert_eq!(requests_count(&s, 3, Duration::from_secs(5))?, 2);
    first.abort();
    Ok(())
}

/// Releases a copy of the package in `dir` (relative to the repository) with its manifest
/// changed by `edit`, and only that package, through the scenario's registry.
async fn release(s: &Scenario, dir: &str, edit: impl Fn(String) -> String) -> anyhow::Result<()> {
    let source = dl_e2e::repo().join(dir);
    let root = s.dir().join("packages");
    let copy = root.join(source.file_name().expect("a package folder"));
    copy_dir(&source, &copy)?;
    let manifest = copy.join("function.yaml");
    std::fs::write(&manifest, edit(std::fs::read_to_string(&manifest)?))?;
    s.release_dirs(&[root.to_str().expect("utf-8 path")]).await
}

/// `refund_policy` with its explanation showing a parent object (`/customer`) but hiding one of
/// its children (`/customer/id`), and the test client allowed.
fn parent_shown_child_hidden(manifest: String) -> String {
    let edited = manifest
        .replace(
            "allowed_callers:\n",
            "allowed_callers:\n  - sub:dl-test-client\n",
        )
        .replace(
            "allow_fields: [issue, customer.tier, order_amount]",
            "allow_fields: [issue, customer, order_amount]",
        );
    assert!(edited.contains("allow_fields: [issue, customer, order_amount]"));
    edited
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Worker, projector and a what-if gateway (with `gateway_env`) on a scenario with the
/// parent-shown/child-hidden function; returns the services, the API and a decision of the
/// test client.
async fn what_if_stack(
    name: &str,
    provider: &Provider,
    gateway_env: &[(&str, String)],
) -> anyhow::Result<(Scenario, Vec<Service>, Api, String)> {
    let s = Scenario::new(name, 1).await?;
    release(&s, "examples/refund_policy", parent_shown_child_hidden).await?;
    let auth = auth_env(&s, &[provider])?;
    let registry = [
        ("DL_REGISTRY_TOPIC", s.registry.clone()),
        ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
    ];
    let worker = s.worker_with_env("a", &[auth.clone(), redis_env()])?;
    let projector = s.projector("a")?;
    let mut env = vec![auth];
    env.extend(registry);
    env.extend(gateway_env.iter().cloned());
    let (gateway, port) = s.gateway("a", &env)?;
    let api = Api::on_port(port).await?;
    wait_ready(&worker).await?;
    let alice = provider.token(CLIENT, SECRET).await?;
    let (status, decided) = api
        .post(
            "/v1/decisions",
            Some(&alice),
            json!({"function_id": "refund_policy",
                   "input": {"issue": "late", "customer": {"tier": "gold", "id": "C-1001"},
                             "order_amount": 1000}}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "DECIDED", "{decided}");
    let id = decided["decision_id"].as_str().unwrap_or("").to_string();
    api.get_eventually(&format!("/v1/decisions/{id}"), &alice)
        .await?;
    Ok((s, vec![worker, projector, gateway], api, id))
}

/// Finding Medium 4: `/customer` is shown, `/customer/id` hidden. Changing `/customer` with a
/// guessed id (or without the recorded one) would tell through `differs_from_decision` whether
/// the guess was right; the old gateway checked only the changed pointer, not its leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_cannot_change_a_hidden_child_of_an_allowed_parent() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let (_s, _services, api, id) = what_if_stack("gw-whatif-leaf", &provider, &[]).await?;
    let alice = provider.token(CLIENT, SECRET).await?;
    let path = format!("/v1/decisions/{id}/what-if");
    for changes in [
        json!({"/customer": {"tier": "gold", "id": "C-9999"}}),
        json!({"/customer": {"tier": "silver"}}),
        json!({"/customer": "gold"}),
        json!({"/customer/id": "C-9999"}),
    ] {
        let (status, refused) = api
            .post(&path, Some(&alice), json!({ "changes": changes }))
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{changes}: {refused}");
        assert_eq!(refused["error"]["code"], "CHANGE_NOT_ALLOWED", "{refused}");
        assert!(!refused.to_string().contains("C-"), "{refused}");
    }
    // A change that keeps the hidden child as recorded is fine, through the parent or the leaf.
    for changes in [
        json!({"/customer/tier": "silver"}),
        json!({"/customer": {"tier": "silver", "id": "C-1001"}}),
    ] {
        let (status, varied) = api
            .post(&path, Some(&alice), json!({ "changes": changes }))
            .await?;
        assert_eq!(status, StatusCode::OK, "{changes}: {varied}");
        assert_eq!(varied["evaluated"], true, "{varied}");
        assert_eq!(varied["output"]["customer_tier"], "silver", "{varied}");
    }
    Ok(())
}

/// Finding Medium 4 (the band of a hidden value mapped by many what-ifs): what-if is limited per
/// caller (429 `RATE_LIMITED`, other callers unaffected) and every attempt is audited with a
/// pseudonym of the caller, the decision id and the changed pointers, never the values; a
/// metric counts them by outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_is_rate_limited_and_audited_per_caller() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let (_s, services, api, id) = what_if_stack(
        "gw-whatif-limit",
        &provider,
        &[
            ("DL_GATEWAY_WHAT_IF_PER_MINUTE", "0.001".into()),
            ("DL_GATEWAY_WHAT_IF_BURST", "2".into()),
            ("DL_LOG_FORMAT", "json".into()),
        ],
    )
    .await?;
    let alice = provider.token(CLIENT, SECRET).await?;
    let path = format!("/v1/decisions/{id}/what-if");
    let vary = json!({"changes": {"/order_amount": 424242}});
    for _ in 0..2 {
        let (status, varied) = api.post(&path, Some(&alice), vary.clone()).await?;
        assert_eq!(status, StatusCode::OK, "{varied}");
    }
    let (status, limited) = api.post(&path, Some(&alice), vary.clone()).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{limited}");
    assert_eq!(limited["error"]["code"], "RATE_LIMITED");
    let (status, hidden) = api
        .post(
            &path,
            Some(&alice),
            json!({"changes": {"/customer/id": "x"}}),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "refused what-ifs count too: {hidden}"
    );
    // Another caller has its own allowance (here: refused for not owning the decision).
    let bob = token_for(&provider, "bob", &[]).await?;
    let (status, _) = api.post(&path, Some(&bob), vary).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let gateway = &services[2];
    let log = std::fs::read_to_string(&gateway.log)?;
    let audited: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["target"] == "dl_gateway::audit" && e["message"] == "what-if")
        .collect();
    assert_eq!(audited.len(), 5, "{log}");
    use sha2::Digest;
    let pseudonym = |sub: &str| {
        let principal = format!("{}|{sub}", provider.issuer);
        hex::encode(&sha2::Sha256::digest(principal.as_bytes())[..16])
    };
    let outcomes: Vec<(&str, &str, &str)> = audited
        .iter()
        .map(|e| {
            assert_eq!(e["decision_id"], id.as_str(), "{e}");
            (
                e["caller"].as_str().unwrap_or(""),
                e["changed"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let (alice_p, bob_p) = (pseudonym(CLIENT), pseudonym("bob"));
    assert_eq!(
        outcomes,
        [
            (alice_p.as_str(), r#"["/order_amount"]"#, "evaluated"),
            (alice_p.as_str(), r#"["/order_amount"]"#, "evaluated"),
            (alice_p.as_str(), r#"["/order_amount"]"#, "rate_limited"),
            (alice_p.as_str(), r#"["/customer/id"]"#, "rate_limited"),
            (bob_p.as_str(), r#"["/order_amount"]"#, "not_found"),
        ]
    );
    assert!(!log.contains("424242"), "values are never logged");
    assert!(!log.contains(CLIENT), "callers are pseudonymised");
    let (_, metrics) = http_get(gateway.metrics_port, "/metrics")?;
    for (outcome, n) in [("evaluated", 2), ("rate_limited", 2), ("not_found", 1)] {
        let line = format!("dl_gateway_what_if_total{{outcome=\"{outcome}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    Ok(())
}

/// Finding Medium 7: roles come only from an issuer the gateway maps them for. Two issuers are
/// trusted; the first maps its `dl-auditors` role to `auditor`, the second maps none: its
/// `roles: [auditor]` gives nothing. The old gateway took any issuer's `roles` claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_mapped_per_issuer() -> anyhow::Result<()> {
    let (mapped, unmapped) = (Provider::start().await?, Provider::start().await?);
    let s = Scenario::new("gw-roles", 1).await?;
    let auth = auth_env(&s, &[&mapped, &unmapped])?;
    let roles = roles_env(
        &s,
        json!({"issuers": {mapped.issuer.clone(): {"dl-auditors": "auditor"}}}),
    )?;
    let (_gw, port) = s.gateway("a", &[auth, roles])?;
    let api = Api::on_port(port).await?;
    let projector = s.projector("a")?; // migrates the database
    wait_ready(&projector).await?;
    let report = "/v1/audit/report";
    for token in [
        token_for(&unmapped, "audit-office", &["auditor"]).await?,
        token_for(&unmapped, "audit-office", &["dl-auditors"]).await?,
        token_for(&mapped, "audit-office", &["auditor"]).await?,
    ] {
        let (status, body) = api.get(report, Some(&token)).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "AUTH_FORBIDDEN");
    }
    let auditor = token_for(&mapped, "audit-office", &["dl-auditors"]).await?;
    let (status, body) = api.get(report, Some(&auditor)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

/// Finding Low (reads): reads are limited per caller (429 `RATE_LIMITED` with `retry-after`);
/// other callers are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_limited_per_caller() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::new("gw-reads", 1).await?;
    let auth = auth_env(&s, &[&provider])?;
    let (_gw, port) = s.gateway(
        "a",
        &[
            auth,
            ("DL_GATEWAY_READS_PER_MINUTE", "0.001".into()),
            ("DL_GATEWAY_READS_BURST", "2".into()),
        ],
    )?;
    let api = Api::on_port(port).await?;
    let projector = s.projector("a")?; // migrates the database
    wait_ready(&projector).await?;
    let alice = provider.token(CLIENT, SECRET).await?;
    let bob = token_for(&provider, "bob", &[]).await?;
    assert_eq!(
        api.get("/v1/functions", Some(&alice)).await?.0,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v1/decisions/no-such-id", Some(&alice)).await?.0,
        StatusCode::NOT_FOUND
    );
    let (status, headers, limited) = api
        .call(reqwest::Method::GET, "/v1/functions", Some(&alice), None)
        .await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{limited}");
    assert_eq!(limited["error"]["code"], "RATE_LIMITED");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        api.get("/v1/functions", Some(&bob)).await?.0,
        StatusCode::OK
    );
    Ok(())
}

/// Finding Low (403 vs 404): a decision, its explanation, its page and its what-if of another
/// caller answer exactly as a decision that does not exist, so a caller cannot probe which
/// decision ids exist. The old gateway answered 403 for those that exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_callers_decision_reads_as_not_found() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let (s, _services, api, id) = what_if_stack("gw-notfound", &provider, &[]).await?;
    let _explainer = s.explainer("a")?;
    let alice = provider.token(CLIENT, SECRET).await?;
    api.get_eventually(&format!("/v1/decisions/{id}/explanation"), &alice)
        .await?;
    let bob = token_for(&provider, "bob", &[]).await?;
    let missing = "00000000-0000-0000-0000-000000000000";
    for path in [
        "/v1/decisions/{}",
        "/v1/decisions/{}/explanation",
        "/explanations/{}",
    ] {
        let (theirs, absent) = (path.replace("{}", &id), path.replace("{}", missing));
        let (status, body) = api.get(&theirs, Some(&bob)).await?;
        let (status_absent, body_absent) = api.get(&absent, Some(&bob)).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{theirs}: {body}");
        assert_eq!((status, body), (status_absent, body_absent), "{path}");
    }
    let vary = json!({"changes": {"/order_amount": 1}});
    let (status, body) = api
        .post(
            &format!("/v1/decisions/{id}/what-if"),
            Some(&bob),
            vary.clone(),
        )
        .await?;
    let absent = api
        .post(
            &format!("/v1/decisions/{missing}/what-if"),
            Some(&bob),
            vary,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!((status, body), absent);
    Ok(())
}
