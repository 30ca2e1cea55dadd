//! Caller authentication, authorisation and replay protection in the running worker, with a real
//! OIDC provider (`scripts/oidc/provider.mjs`) and a private `redis-server` per test.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dl_e2e::faults::loan_input;
use dl_e2e::oidc::{bearer, Provider, CLIENT, OTHER_CLIENT, OTHER_SECRET, SECRET};
use dl_e2e::redis::Redis;
use dl_e2e::{request, Scenario, Service};
use dl_schema::{DecisionRequest, DecisionResult, DecisionStatus};
use serde_json::json;

/// A request, its bearer token, extra headers, and the expected outcome code.
type Case<'a> = (
    DecisionRequest,
    Option<String>,
    Vec<(&'a str, Vec<u8>)>,
    &'a str,
);

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
/// Fixture function whose allow list is `sub:dl-test-client`.
const GUARDED: &str = "guarded_loan";

/// A worker with authentication (trusting `provider`) and replay protection (on `redis`).
fn secured_worker(
    s: &Scenario,
    provider: &Provider,
    redis: &Redis,
    replica: &str,
) -> anyhow::Result<Service> {
    let path = s.dir().join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&provider.worker_config())?)?;
    s.worker_with_env(
        replica,
        &[
            ("DL_AUTH_CONFIG", path.display().to_string()),
            ("REDIS_URL", redis.url()),
        ],
    )
}

/// Produces one request with an optional `authorization` header and extra headers; waits for the broker.
fn send(
    s: &Scenario,
    r: &DecisionRequest,
    token: Option<&str>,
    extra: &[(&str, &[u8])],
) -> anyhow::Result<()> {
    let payload = dl_schema::request_codec().encode(r)?;
    let auth = token.map(bearer);
    let mut headers: Vec<(&str, &[u8])> = extra.to_vec();
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    s.send_with_headers(&r.request_id, &payload, &headers)
}

/// Reads `expected` results and groups them by request id.
fn results(
    s: &Scenario,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<HashMap<String, Vec<DecisionResult>>> {
    let codec = dl_schema::result_codec();
    let mut by_id: HashMap<String, Vec<DecisionResult>> = HashMap::new();
    for r in s.read(&s.results, expected, timeout)? {
        let d = codec.decode(&r.payload)?;
        by_id.entry(d.request_id.clone()).or_default().push(d);
    }
    Ok(by_id)
}

fn code(r: &DecisionResult) -> &str {
    r.rejection
        .as_ref()
        .map(|j| j.code.as_str())
        .unwrap_or("DECIDED")
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_allow_lists_replays_and_stale_requests() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    let s = Scenario::with_examples("auth", 2).await?;
    let worker = secured_worker(&s, &provider, &redis, "a")?;
    let _projector = s.projector("a")?;
    let principal = format!("{}|{CLIENT}", provider.issuer);

    let token = provider.token(CLIENT, SECRET).await?;
    let other = provider.token(OTHER_CLIENT, OTHER_SECRET).await?;
    let now = chrono::Utc::now().timestamp();
    let mut claims = provider.claims();
    claims["iat"] = json!(now - 900);
    claims["exp"] = json!(now - 600);
    let expired = provider.sign(json!({}), claims, false).await?;
    let mut claims = provider.claims();
    claims["aud"] = json!("urn:someone-else");
    let wrong_audience = provider.sign(json!({}), claims, false).await?;
    let rogue = provider.sign(json!({}), provider.claims(), true).await?;
    // Sender-constrained tokens (issue 15, Medium 6): the worker sees no client certificate and
    // does no DPoP, so it must not take them as bearer tokens.
    let mut claims = provider.claims();
    claims["cnf"] = json!({"x5t#S256": "bm90LWEtcmVhbC1jZXJ0aWZpY2F0ZS10aHVtYnByaW50"});
    let cert_bound = provider.sign(json!({}), claims, false).await?;
    let mut claims = provider.claims();
    claims["cnf"] = json!({"jkt": "bm90LWEtcmVhbC1rZXktdGh1bWJwcmludA"});
    let key_bound = provider.sign(json!({}), claims, false).await?;
    let kid: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap_or_default())?,
    )?;
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "at+jwt", "kid": kid["kid"]}).to_string()),
        b64(provider.claims().to_string())
    );
    // The test client's signature over the other client's claims.
    let (t, o) = (
        token.split('.').collect::<Vec<_>>(),
        other.split('.').collect::<Vec<_>>(),
    );
    let tampered = format!("{}.{}.{}", t[0], o[1], t[2]);

    let cases: Vec<Case> = vec![
        (
            request("ok-1", GUARDED, LOAN),
            Some(token.clone()),
            vec![],
            "DECIDED",
        ),
        (
            request("no-token", GUARDED, LOAN),
            None,
            vec![],
            "AUTH_MISSING_TOKEN",
        ),
        (
            request("expired", GUARDED, LOAN),
            Some(expired),
            vec![],
            "AUTH_INVALID_TOKEN",
        ),
        (
            request("wrong-audience", GUARDED, LOAN),
            Some(wrong_audience),
            vec![],
            "AUTH_INVALID_TOKEN",
        ),
        (
            request("rogue-key", GUARDED, LOAN),
            Some(rogue),
            vec![],
            "AUTH_INVALID_TOKEN",
        ),
        (
            request("alg-none", GUARDED, LOAN),
            Some(alg_none),
            vec![],
            "AUTH_INVALID_TOKEN",
        ),
        (
            request("tampered", GUARDED, LOAN),
            Some(tampered),
            vec![],
            "AUTH_INVALID_TOKEN",
        ),
        (
            request("not-on-allow-list", GUARDED, LOAN),
            Some(other.clone()),
            vec![],
            "AUTH_FORBIDDEN",
        ),
        // The example's allow list names sub:loan-platform and sub:dlctl-test only.
        (
            request("example-allow-list", "loan_approval", LOAN),
            Some(token.clone()),
            vec![],
            "AUTH_FORBIDDEN",
        ),
        (
            request("bad-signature", GUARDED, LOAN),
            Some(token.clone()),
            vec![("dl-signature", b"eyJhbGciOiJFUzI1NiJ9..AAAA".to_vec())],
            "AUTH_BAD_SIGNATURE",
        ),
        (
            {
                let mut r = request("stale", GUARDED, LOAN);
                r.issued_at -= 3_600_000;
                r
            },
            Some(token.clone()),
            vec![],
            "STALE_REQUEST",
        ),
        (
            {
                let mut r = request("future", GUARDED, LOAN);
                r.issued_at += 600_000;
                r
            },
            Some(token.clone()),
            vec![],
            "STALE_REQUEST",
        ),
        (
            request("certificate-bound", GUARDED, LOAN),
            Some(cert_bound),
            vec![],
            "AUTH_BOUND_TOKEN_UNSUPPORTED",
        ),
        (
            request("key-bound", GUARDED, LOAN),
            Some(key_bound),
            vec![],
            "AUTH_BOUND_TOKEN_UNSUPPORTED",
        ),
        (
            request("unknown-function", "no_such_function", "{}"),
            Some(token.clone()),
            vec![],
            "UNKNOWN_FUNCTION",
        ),
    ];
    for (r, token, headers, _) in &cases {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        send(&s, r, token.as_deref(), &headers)?;
    }
    // The same request twice, in two messages (a client's retry, with a new issued_at), then
    // another request under the same id: the first is decided, the second answered without a
    // decision of its own, the third refused.
    let twice = request("sent-twice", GUARDED, LOAN);
    send(&s, &twice, Some(&token), &[])?;
    let retry = DecisionRequest {
        issued_at: twice.issued_at + 5,
        ..twice.clone()
    };
    send(&s, &retry, Some(&token), &[])?;
    let reused = DecisionRequest {
        input: loan_input(7),
        ..twice.clone()
    };
    send(&s, &reused, Some(&token), &[])?;
    s.flush()?;

    let total = cases.len() + 3;
    let by_id = results(&s, total, Duration::from_secs(120))?;
    assert_eq!(
        by_id.values().map(Vec::len).sum::<usize>(),
        total,
        "one result per message"
    );
    for (r, _, _, expected) in &cases {
        let got = &by_id
            .get(&r.request_id)
            .with_context(|| format!("no result for {}", r.request_id))?[0];
        assert_eq!(
            code(got),
            *expected,
            "{}: {:?}",
            r.request_id,
            got.rejection
        );
        if let Some(j) = &got.rejection {
            assert!(
                !j.message.contains("eyJ"),
                "no token material in messages: {}",
                j.message
            );
        }
    }
    let ok = &by_id["ok-1"][0];
    assert_eq!(ok.status, DecisionStatus::Decided);
    assert_eq!(
        ok.caller.as_deref(),
        Some(principal.as_str()),
        "the caller is recorded"
    );
    assert_eq!(by_id["no-token"][0].caller, None);
    assert_eq!(
        by_id["not-on-allow-list"][0].caller.as_deref(),
        Some(format!("{}|{OTHER_CLIENT}", provider.issuer).as_str())
    );
    // In the order sent (one partition): the original decided; the retry answered with the
    // original's result, or REQUEST_IN_PROGRESS (recorded nowhere) while none was stored yet;
    // another request under the same id refused.
    let twice_results = &by_id["sent-twice"];
    let original = &twice_results[0];
    assert_eq!(code(original), "DECIDED");
    let answer = &twice_results[1];
    match code(answer) {
        "REQUEST_IN_PROGRESS" => assert!(answer.ledger.is_none() && answer.signature.is_none()),
        _ => assert_eq!(
            answer, original,
            "a resubmission is answered with the original"
        ),
    }
    assert_eq!(code(&twice_results[2]), "REQUEST_ID_REUSED");
    // Retried once the original is committed, the answer is the original, byte for byte the
    // same result (a client retries REQUEST_IN_PROGRESS: the result is stored just after the
    // commit).
    let mut seen = total;
    let mut answered = None;
    for attempt in 0..20 {
        let again = DecisionRequest {
            issued_at: twice.issued_at + 10 + attempt,
            ..twice.clone()
        };
        send(&s, &again, Some(&token), &[])?;
        s.flush()?;
        seen += 1;
        let last = results(&s, seen, Duration::from_secs(60))?["sent-twice"]
            .last()
            .cloned()
            .context("no answer to the retry")?;
        if code(&last) != "REQUEST_IN_PROGRESS" {
            answered = Some(last);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        answered.as_ref(),
        Some(original),
        "the retry gets the original decision"
    );

    // The ledger projection records the caller; the metrics stay clean. Resubmissions are
    // recorded nowhere: one row fewer than results.
    let n = total as i64 - 1;
    assert_eq!(
        s.wait_for_count(
            "SELECT count(*) FROM decisions",
            n,
            Duration::from_secs(120)
        )
        .await?,
        n
    );
    let pool = s.pg().await?;
    let caller: Option<String> =
        sqlx::query_scalar("SELECT caller FROM decisions WHERE request_id = 'ok-1'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(caller.as_deref(), Some(principal.as_str()));
    let (status, body) = dl_e2e::http_get(worker.metrics_port, "/metrics")?;
    assert_eq!(status, 200);
    for metric in [
        "dl_auth_failures_total",
        "dl_replay_checks_total",
        "dl_replay_redis_round_trips_total",
    ] {
        assert!(body.contains(metric), "{metric} missing from /metrics");
    }
    assert!(
        !body.contains(CLIENT) && !body.contains("sent-twice"),
        "no caller or request ids as labels"
    );
    assert_eq!(dl_e2e::promtool_check(&body)?, None);
    worker.wait_ready().await?;
    assert_eq!(s.verify_ledger()?["ok"], true);
    Ok(())
}

fn loan_requests(prefix: &str, n: usize) -> Vec<DecisionRequest> {
    (0..n)
        .map(|i| request(&format!("{prefix}-{i}"), GUARDED, &loan_input(i)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_closed_and_resumes_losing_nothing() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let mut redis = Redis::start()?;
    let s = Scenario::with_examples("redis-down", 2).await?;
    let worker = secured_worker(&s, &provider, &redis, "a")?;
    let _projector = s.projector("a")?;
    let token = provider.token(CLIENT, SECRET).await?;

    let before = loan_requests("before", 50);
    for r in &before {
        send(&s, r, Some(&token), &[])?;
    }
    s.flush()?;
    assert_eq!(
        results(&s, before.len(), Duration::from_secs(120))?.len(),
        before.len()
    );

    // Redis dies; new requests arrive.
    redis.kill();
    let during = loan_requests("during", 200);
    for r in &during {
        send(&s, r, Some(&token), &[])?;
    }
    s.flush()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while dl_e2e::http_get(worker.metrics_port, "/readyz")?.0 != 503 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dl_e2e::http_get(worker.metrics_port, "/readyz")?.0,
        503,
        "not ready while Redis is down"
    );
    // Nothing is decided without a replay check: no result for the new requests.
    let while_down = results(&s, before.len() + 1, Duration::from_secs(3))?;
    assert_eq!(
        while_down.len(),
        before.len(),
        "no request decided while Redis is down"
    );
    let metrics = dl_e2e::http_get(worker.metrics_port, "/metrics")?.1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dl_worker_replay_store_up ") && l.ends_with(" 0")),
        "replay store marked down"
    );

    // Redis comes back (empty: no persistence) on the same port.
    redis.restart()?;
    let total = before.len() + during.len();
    let by_id = results(&s, total, Duration::from_secs(180))?;
    assert_eq!(by_id.len(), total, "every request has a result");
    for (id, rs) in &by_id {
        assert_eq!(rs.len(), 1, "{id} has {} results", rs.len());
        assert_eq!(code(&rs[0]), "DECIDED", "{id}: {:?}", rs[0].rejection);
    }
    let n = total as i64;
    assert_eq!(
        s.wait_for_count(
            "SELECT count(DISTINCT request_id) FROM decisions",
            n,
            Duration::from_secs(120)
        )
        .await?,
        n
    );
    let pool = s.pg().await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, n, "each request recorded once");
    // Every request that arrived during the outage went through the restarted Redis.
    let principal = format!("{}|{CLIENT}", provider.issuer);
    for r in &during {
        let key = dl_replay::nonce_key("dl:", &principal, &r.request_id);
        assert_eq!(
            redis.cli(&["EXISTS", &key])?,
            "1",
            "{} was decided without a replay check",
            r.request_id
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while dl_e2e::http_get(worker.metrics_port, "/readyz")?.0 != 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dl_e2e::http_get(worker.metrics_port, "/readyz")?.0,
        200,
        "ready again"
    );
    assert_eq!(s.verify_ledger()?["ok"], true);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_with_replay_on_redelivers_once_not_as_replay() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    let s = Scenario::with_examples("auth-crash", 4).await?;
    let token = provider.token(CLIENT, SECRET).await?;
    let total = 2000;
    let requests = loan_requests("crash", total);
    for r in &requests {
        send(&s, r, Some(&token), &[])?;
    }
    s.flush()?;

    let mut worker = secured_worker(&s, &provider, &redis, "a")?;
    let _projector = s.projector("a")?;
    let n = total as i64;
    // Kill the worker once it is under way. Whether the kill lands between a batch's nonce
    // check and its commit depends on the machine's speed, so nothing below depends on it:
    // whatever the kill leaves, every request must end decided once, none as a replay.
    let projected = s.wait_for_projected(200, Duration::from_secs(120)).await?;
    eprintln!("killing the worker with {projected} of {n} decisions projected");
    worker.kill9();
    let pool = &s.pg().await?;
    let _worker = secured_worker(&s, &provider, &redis, "a")?;

    assert_eq!(
        s.wait_for_count(
            "SELECT count(DISTINCT request_id) FROM decisions",
            n,
            Duration::from_secs(240)
        )
        .await?,
        n
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(pool)
        .await?;
    assert_eq!(rows, n, "no request is recorded twice");
    let rejected: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT request_id, rejection_code FROM decisions WHERE status <> 'DECIDED'",
    )
    .fetch_all(pool)
    .await?;
    assert!(
        rejected.is_empty(),
        "redelivered messages must not be rejected (e.g. as REPLAY): {:?}",
        &rejected[..rejected.len().min(5)]
    );

    let by_id = results(&s, total, Duration::from_secs(60))?;
    assert_eq!(by_id.len(), total, "every request has a result");
    for (id, rs) in &by_id {
        let decisions: HashSet<&str> = rs.iter().map(|r| r.decision_id.as_str()).collect();
        assert_eq!(decisions.len(), 1, "{id} got two different decisions");
        assert!(
            rs.iter().all(|r| r.status == DecisionStatus::Decided),
            "{id}: {:?}",
            rs[0].rejection
        );
    }
    let metrics = dl_e2e::http_get(_worker.metrics_port, "/metrics")?.1;
    assert_eq!(dl_e2e::promtool_check(&metrics)?, None);
    assert_eq!(s.verify_ledger()?["ok"], true);
    Ok(())
}

/// Security review (issue 15, Medium 8): an evaluation stopped by the wall clock (a busy
/// machine) was rejected with a code that read as a legal outcome, and since the nonce was
/// spent, the caller's retry with the same request id was rejected `REPLAY`. Now the wall clock
/// is only a safety net with the retryable `EVALUATION_TIMEOUT`, whose nonce is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_rejection_retried_is_not_a_replay() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let redis = Redis::start()?;
    let s = Scenario::with_examples("auth-retry", 1).await?;
    let token = provider.token(CLIENT, SECRET).await?;
    let path = s.dir().join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&provider.worker_config())?)?;
    let env = |factor: &str| {
        vec![
            ("DL_AUTH_CONFIG", path.display().to_string()),
            ("REDIS_URL", redis.url()),
            ("DL_EVAL_SAFETY_NET_FACTOR", factor.to_string()),
        ]
    };
    // heavy_policy allows 1 ms; n = 150 takes a few hundred thousand steps, far more than a
    // millisecond on any machine and far less than ten seconds. A worker whose safety net is
    // the 1 ms itself stands for a machine too busy to finish in time.
    let heavy = request("retry-1", "heavy_policy", r#"{"n": 150}"#);
    let busy = s.worker_with_env("busy", &env("1"))?;
    send(&s, &heavy, Some(&token), &[])?;
    s.flush()?;
    let first = results(&s, 1, Duration::from_secs(90))?;
    drop(busy);

    // The caller retries the same request (same id) to a worker with time to spare.
    let _idle = s.worker_with_env("idle", &env("10000"))?;
    send(&s, &heavy, Some(&token), &[])?;
    s.flush()?;
    let both = results(&s, 2, Duration::from_secs(90))?;
    let outcomes: Vec<&str> = both
        .get("retry-1")
        .map(|rs| rs.iter().map(code).collect())
        .unwrap_or_default();
    assert_eq!(outcomes.len(), 2, "two results for retry-1: {outcomes:?}");
    assert_eq!(
        outcomes[1], "DECIDED",
        "the retry is decided, not a replay: {outcomes:?}"
    );
    assert_eq!(
        code(&first["retry-1"][0]),
        "EVALUATION_TIMEOUT",
        "the wall clock yields the retryable code, not a legal outcome"
    );
    Ok(())
}
