//! The fault harness (issue 16, in the Jepsen spirit): for each fault, a load of N uniquely
//! identified requests at a steady rate, the fault injected mid-stream, then the checker
//! (`dl_e2e::faults::Check`): every request id that reached Kafka has exactly one result (distinct
//! decision ids; the broker's visible doubles are reported apart) and exactly one row in
//! PostgreSQL, `dlctl ledger verify` passes from Kafka and from PostgreSQL, every service is
//! ready again; the recovery time is reported, never asserted.
//!
//! N and the rate: `DL_CHAOS_N` (default 200), `DL_CHAOS_RATE` (default 100/s); outages last
//! `DL_CHAOS_OUTAGE_SECS` (default 5), the broker stall `DL_CHAOS_STALL_SECS` (default 10).
//! `scripts/chaos.sh` runs them with a large N and writes the table in docs/reliability.md.
//! Faults that stop a server use a private one (PostgreSQL, Redis, the KMS, a broker behind a
//! proxy); the broker restart runs only on a durable broker (`DL_BROKER=tansu-s3`, ADR 0002).

use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dl_e2e::faults::{
    broker_is_durable, broker_kind, end_offsets, loan_input, ready, requests_on_topic, Check, Load,
    Message, ReadyWatch, Sent,
};
use dl_e2e::instances::{PrivateBroker, PrivatePostgres};
use dl_e2e::kms::{signer_env, start_moto, SHORT_LIVED_KEYS};
use dl_e2e::oidc::{bearer, Provider, CLIENT, SECRET};
use dl_e2e::proxy::Proxy;
use dl_e2e::redis::Redis;
use dl_e2e::{eventually, repo, request, Backends, Scenario, Service};

fn secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// A scenario on `on` with the two functions the loads use released.
async fn scenario(name: &str, partitions: i32, on: Backends) -> anyhow::Result<Arc<Scenario>> {
    Ok(Arc::new(
        Scenario::with_functions_on(name, partitions, on, &["loan_approval", "guarded_loan"])
            .await?,
    ))
}

/// The outage of Redis and the KMS.
fn outage() -> Duration {
    secs("DL_CHAOS_OUTAGE_SECS", 5)
}

/// `loan_approval` requests `<prefix>-<i>`.
fn loans(prefix: &str) -> impl Fn(usize) -> anyhow::Result<Message> + Send + 'static {
    let prefix = prefix.to_string();
    move |i| {
        Message::request(&request(
            &format!("{prefix}-{i}"),
            "loan_approval",
            &loan_input(i),
        ))
    }
}

/// Waits until every service answers `/readyz` 200 (before the load starts).
async fn all_ready(services: &[&Service]) -> anyhow::Result<()> {
    eprintln!("{} services started", chrono::Utc::now().format("%T%.3f"));
    eventually(Duration::from_secs(180), "services ready", || async {
        services.iter().all(|s| ready(s))
    })
    .await
}

/// SIGTERM (a graceful leave), then waits for the exit; SIGKILL if it does not come.
fn terminate(service: &mut Service) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &service.pid().to_string()])
        .status()?;
    if dl_e2e::eventually_blocking(Duration::from_secs(60), "graceful exit", || {
        !service.running()
    })
    .is_err()
    {
        service.kill9();
    }
    Ok(())
}

/// Runs the load of `make` (N at the rate) and, once half of it is sent, the fault (blocking:
/// a kill and restart, an outage and its end); returns what was sent and when the fault was
/// healed (when `fault` returned).
async fn strike(
    s: &Arc<Scenario>,
    make: impl Fn(usize) -> anyhow::Result<Message> + Send + 'static,
    fault: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<(Sent, Instant)> {
    let load = Load::from_env();
    eprintln!(
        "{} load of {} at {}/s starts",
        chrono::Utc::now().format("%T%.3f"),
        load.n,
        load.rate
    );
    let run = load.start_kafka(s, make);
    run.reached(load.n / 2).await;
    tokio::task::block_in_place(fault)?;
    let healed = Instant::now();
    Ok((run.finish().await?, healed))
}

/// kill -9 of one stream service mid-stream, then a restart: the common shape.
async fn kill_and_restart(which: &str) -> anyhow::Result<()> {
    let (with_explainer, with_auditor) = (which == "explainer", which == "auditor");
    let s = scenario(&format!("f-{which}"), 4, Backends::from_env()).await?;
    let mut worker = s.worker("a")?;
    let mut projector = s.projector("a")?;
    let mut explainer = with_explainer.then(|| s.explainer("a")).transpose()?;
    let mut auditor = with_auditor.then(|| s.auditor("a", 1)).transpose()?;
    let mut up: Vec<&Service> = vec![&worker, &projector];
    up.extend(explainer.iter());
    up.extend(auditor.iter());
    all_ready(&up).await?;

    // How long the restarted service reports not ready (readiness: assigned and making
    // progress, dl-stream `readiness`), watched from its start.
    let mut watch = None;
    let (sent, healed) = strike(&s, loans(which), || {
        let restarted = match which {
            "worker" => {
                worker.kill9();
                worker = s.worker("a")?;
                &worker
            }
            "projector" => {
                projector.kill9();
                projector = s.projector("b")?;
                &projector
            }
            "explainer" => {
                if let Some(e) = explainer.as_mut() {
                    e.kill9();
                }
                &*explainer.insert(s.explainer("b")?)
            }
            "auditor" => {
                if let Some(a) = auditor.as_mut() {
                    a.kill9();
                }
                &*auditor.insert(s.auditor("b", 1)?)
            }
            other => anyhow::bail!("no such service {other}"),
        };
        watch = Some(ReadyWatch::start(restarted, Duration::from_secs(300)));
        Ok(())
    })
    .await?;
    let mut services = vec![&worker, &projector];
    services.extend(explainer.iter());
    services.extend(auditor.iter());
    let fault = format!("kill -9 {which}");
    let mut check = Check::new(&fault, &s, sent.valid, healed, services);
    check.views = with_explainer;
    let mut row = check.run().await?;
    if let Some(watch) = watch {
        row.notes
            .push(watch.note(&format!("restarted {which}")).await);
    }
    row.report()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_worker() -> anyhow::Result<()> {
    kill_and_restart("worker").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_projector() -> anyhow::Result<()> {
    kill_and_restart("projector").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_explainer() -> anyhow::Result<()> {
    kill_and_restart("explainer").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_auditor() -> anyhow::Result<()> {
    kill_and_restart("auditor").await
}

/// One agent call: `(status, body)`, or the transport error (the connection died).
async fn agent_call(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    dl_e2e::gateway::answer(http.post(url).json(&body).send().await?).await
}

/// A conversation's stored messages `(seq, role, content)` in order.
async fn stored_messages(
    pool: &sqlx::PgPool,
    conversation: &str,
) -> anyhow::Result<Vec<(i32, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT seq, role, content FROM conversation_messages \
         WHERE conversation_id = $1::uuid ORDER BY seq",
    )
    .bind(conversation)
    .fetch_all(pool)
    .await?)
}

/// The turns of stored messages (each `user`, any `tool`s, `assistant`), or why they are not
/// whole turns: a gap in `seq`, a turn without its answer, a message outside a turn.
fn whole_turns(messages: &[(i32, String, String)]) -> Result<Vec<String>, String> {
    let mut answers = Vec::new();
    let mut open = false;
    for (i, (seq, role, content)) in messages.iter().enumerate() {
        if *seq != i as i32 {
            return Err(format!("seq {seq} at position {i}"));
        }
        match (role.as_str(), open) {
            ("user", false) => open = true,
            ("tool", true) => {}
            ("assistant", true) => {
                open = false;
                answers.push(content.clone());
            }
            (role, _) => return Err(format!("{role} at seq {seq}")),
        }
    }
    if open {
        return Err("a turn without its answer".into());
    }
    Ok(answers)
}

/// kill -9 of the agent (dl-agent, local LLM) with a conversation turn and a conversation
/// creation in flight, while the decision load runs. What the agent promises (docs/agent.md):
/// a turn is stored whole (the user's message, tool calls, the answer, in one transaction) or
/// not at all, so no half-stored turn is ever shown; every conversation the caller was told
/// about (201) survives, none is stored twice; the restarted agent is ready and continues the
/// same conversations; the decisions are not affected (the checker's row). A couple of turns
/// only: the local model takes seconds per turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_agent_with_turns_in_flight() -> anyhow::Result<()> {
    let llm = tokio::task::spawn_blocking(dl_e2e::llm::LlmServer::start).await??;
    let s = scenario("f-agent", 4, Backends::from_env()).await?;
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;
    let explainer = s.explainer("a")?;
    let env = [
        ("DL_REGISTRY_TOPIC", s.registry.clone()),
        ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
    ];
    let (gateway, gw) = s.gateway("a", &env)?;
    // The model's time per turn is not what is tested: a loaded CI machine gets 180 s.
    let agent_env = [("DL_LLM_TIMEOUT_SECS", "180".to_string())];
    let (mut agent, port) = s.agent_with_env("a", gw, &llm.url, &agent_env)?;
    all_ready(&[&worker, &projector, &explainer, &gateway, &agent]).await?;
    let api = dl_e2e::gateway::Api::on_port(gw).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;

    // A decision to talk about, and its explanation.
    let input: serde_json::Value = serde_json::from_str(&loan_input(1))?;
    let (status, _, decided) = api
        .call(
            reqwest::Method::POST,
            "/v1/decisions",
            None,
            Some(serde_json::json!({"function_id": "loan_approval", "request_id": "agent-topic", "input": input})),
        )
        .await?;
    anyhow::ensure!(status == 200, "decision: {status} {decided}");
    let decision = decided["decision_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eventually(Duration::from_secs(120), "the explanation", || async {
        let path = format!("/v1/decisions/{decision}/explanation");
        match api.get(&path, None).await? {
            (reqwest::StatusCode::OK, _) => Ok(()),
            (status, body) => Err(anyhow::anyhow!("{status} {body}")),
        }
    })
    .await?;

    // Before the fault: conversations A and B, one whole turn on A.
    let create = |http: reqwest::Client, port: u16, decision: String| async move {
        agent_call(
            &http,
            format!("http://127.0.0.1:{port}/v1/conversations"),
            serde_json::json!({"decision_id": decision}),
        )
        .await
    };
    let turn = |http: reqwest::Client, port: u16, conversation: String, text: &'static str| async move {
        agent_call(
            &http,
            format!("http://127.0.0.1:{port}/v1/conversations/{conversation}/messages"),
            serde_json::json!({"text": text}),
        )
        .await
    };
    let id = |(status, body): (reqwest::StatusCode, serde_json::Value)| -> anyhow::Result<String> {
        anyhow::ensure!(status == 201, "create: {status} {body}");
        Ok(body["conversation_id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    };
    let a = id(create(http.clone(), port, decision.clone()).await?)?;
    let b = id(create(http.clone(), port, decision.clone()).await?)?;
    let (status, first) = turn(
        http.clone(),
        port,
        a.clone(),
        "Why was the loan decided so?",
    )
    .await?;
    anyhow::ensure!(status == 200, "turn before the fault: {status} {first}");

    // The load; at half of it, a turn on B and the creation of C in flight, the agent killed
    // and a new one started (on another port, as the gateway fault does).
    let load = Load::from_env();
    let run = load.start_kafka(&s, loans("agent"));
    run.reached(load.n / 2).await;
    let in_flight_turn = tokio::spawn(turn(
        http.clone(),
        port,
        b.clone(),
        "What if the amount were 5000?",
    ));
    let in_flight_create = tokio::spawn(create(http.clone(), port, decision.clone()));
    // Long enough for both to reach the agent; the turn then waits seconds for the model.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    agent.kill9();
    let (restarted, port) = s.agent_with_env("b", gw, &llm.url, &agent_env)?;
    let watch = ReadyWatch::start(&restarted, Duration::from_secs(300));
    let healed = Instant::now();
    let status_of = |r: Result<anyhow::Result<(reqwest::StatusCode, serde_json::Value)>, _>| match r
    {
        Ok(Ok((status, body))) => (status.as_u16(), body),
        _ => (0, serde_json::Value::Null),
    };
    let (turn_status, _) = status_of(in_flight_turn.await);
    let (create_status, created) = status_of(in_flight_create.await);
    let sent = run.finish().await?;

    // The decision load first (its recovery time is not the model's), then the conversations.
    let services = vec![&worker, &projector, &explainer, &gateway, &restarted];
    let mut check = Check::new(
        "kill -9 agent (turns in flight)",
        &s,
        sent.valid,
        healed,
        services,
    );
    check.views = true;
    let mut row = check.run().await?;

    // After: the restarted agent continues B with a whole turn.
    let ready_note = watch.note("restarted agent").await;
    let (status, after) = turn(http.clone(), port, b.clone(), "Which reasons were given?").await?;

    let mut problems = Vec::new();
    if status != 200 {
        problems.push(format!("turn after the restart: {status} {after}"));
    }
    let pool = s.pg().await?;
    // Conversations: every acknowledged one once; at most the one in flight besides.
    let mut acknowledged = vec![a.clone(), b.clone()];
    if create_status == 201 {
        acknowledged.push(
            created["conversation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT conversation_id::text FROM conversations WHERE decision_id = $1",
    )
    .bind(&decision)
    .fetch_all(&pool)
    .await?;
    for c in &acknowledged {
        if !stored.contains(c) {
            problems.push(format!("conversation {c} lost"));
        }
    }
    let unacknowledged = stored.len().saturating_sub(acknowledged.len());
    if stored.len() < acknowledged.len() || unacknowledged > usize::from(create_status != 201) {
        problems.push(format!(
            "{} conversations stored, {} acknowledged, create in flight answered {create_status}",
            stored.len(),
            acknowledged.len()
        ));
    }
    // Turns: whole or absent in every stored conversation; shown as stored.
    let mut b_turns = 0;
    for c in &stored {
        let messages = stored_messages(&pool, c).await?;
        let answers = match whole_turns(&messages) {
            Ok(answers) => answers,
            Err(why) => {
                problems.push(format!("conversation {c}: {why}"));
                continue;
            }
        };
        let shown = http
            .get(format!("http://127.0.0.1:{port}/v1/conversations/{c}"))
            .send()
            .await?;
        let (status, shown) = dl_e2e::gateway::answer(shown).await?;
        let shown_count = shown["messages"].as_array().map_or(0, Vec::len);
        if status != 200 || shown_count != messages.len() {
            problems.push(format!(
                "conversation {c}: shown {status} with {shown_count} messages, {} stored",
                messages.len()
            ));
        }
        if *c == a && answers != [first["answer"].as_str().unwrap_or_default().to_string()] {
            problems.push(format!("conversation A: answers {answers:?}, told {first}"));
        }
        if *c == b {
            b_turns = answers.len();
            // The in-flight turn: stored whole or not at all, and stored if it was answered;
            // then the turn after the restart, last.
            let expected = if turn_status == 200 { 2..=2 } else { 1..=2 };
            if !expected.contains(&answers.len())
                || answers.last().map(String::as_str) != after["answer"].as_str()
            {
                problems.push(format!(
                    "conversation B: {} turns stored (in-flight turn answered {turn_status}), last {:?}, told {after}",
                    answers.len(),
                    answers.last()
                ));
            }
        }
    }

    row.notes.push(format!(
        "{} conversations ({} acknowledged; create in flight answered {create_status}), turn in flight answered {turn_status}, conversation B holds {b_turns} whole turns; {ready_note}",
        stored.len(),
        acknowledged.len()
    ));
    if !problems.is_empty() {
        row.verify_ok = false;
        row.notes.push(format!("agent: {}", problems.join("; ")));
    }
    row.report()
}

/// The gateway dies with HTTP requests in flight (each waits for its decision). Clients whose
/// call died send the same request again (to the restarted gateway), as real clients do; with
/// replay protection on, the worker answers those resubmissions with the original decision
/// (ADR 0028). The checker counts on what reached Kafka: every request the gateway produced must
/// be decided once; and every client must end with the decision that was recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_gateway_with_requests_in_flight() -> anyhow::Result<()> {
    let redis = Redis::start()?;
    let s = scenario("f-gateway", 4, Backends::from_env()).await?;
    let worker = s.worker_with_env("a", &[("REDIS_URL", redis.url())])?;
    let projector = s.projector("a")?;
    let env = [
        ("DL_REGISTRY_TOPIC", s.registry.clone()),
        ("DL_APPROVERS_FILE", s.approvers_file.display().to_string()),
        ("DL_GATEWAY_MAX_WAITING_PER_CALLER", "100000".to_string()),
    ];
    let (mut gateway, port) = s.gateway("a", &env)?;
    all_ready(&[&worker, &projector, &gateway]).await?;
    dl_e2e::gateway::Api::on_port(port).await?;

    let load = Load::from_env();
    let current = Arc::new(AtomicU16::new(port));
    let run = load.start_http(current.clone(), |i| {
        serde_json::json!({
            "function_id": "loan_approval",
            "request_id": format!("gw-{i}"),
            "input": serde_json::from_str::<serde_json::Value>(&loan_input(i)).unwrap_or_default(),
        })
    });
    run.reached(load.n / 2).await;
    gateway.kill9();
    let (restarted, port) = s.gateway("b", &env)?;
    dl_e2e::gateway::Api::on_port(port).await?;
    current.store(port, Ordering::Relaxed);
    let healed = Instant::now();
    let sent = run.finish().await?;
    let reached = requests_on_topic(&s)?;
    let mut row = Check::new(
        "kill -9 gateway (HTTP in flight)",
        &s,
        reached,
        healed,
        vec![&worker, &projector, &restarted],
    )
    .run()
    .await?;
    // Every client got the decision the ledger recorded for its request, retries included.
    let recorded: std::collections::HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT request_id, decision_id FROM decisions")
            .fetch_all(&s.pg().await?)
            .await?
            .into_iter()
            .collect();
    let wrong = sent
        .http_answers
        .iter()
        .filter(|(request_id, decision_id)| recorded.get(*request_id) != Some(*decision_id))
        .count();
    row.notes.push(format!(
        "{} sent over HTTP, first answers by status {:?} (0: connection died); {} sent again, {} finally answered, {} with another decision than the recorded one",
        sent.attempted,
        sent.http_statuses,
        sent.http_retried,
        sent.http_answers.len(),
        wrong
    ));
    anyhow::ensure!(
        wrong == 0 && sent.http_answers.len() == sent.attempted,
        "every HTTP client must end with its recorded decision: {:?}",
        row.notes
    );
    row.report()
}

/// `pg_ctl restart -m immediate` of a private PostgreSQL under the projector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_immediate() -> anyhow::Result<()> {
    let pg = PrivatePostgres::start()?;
    let on = Backends {
        admin_database_url: pg.admin_url(),
        ..Backends::from_env()
    };
    let s = scenario("f-pg", 4, on).await?;
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;
    all_ready(&[&worker, &projector]).await?;

    let (sent, healed) = strike(&s, loans("pg"), || pg.restart_immediate()).await?;
    Check::new(
        "PostgreSQL restart -m immediate",
        &s,
        sent.valid,
        healed,
        vec![&worker, &projector],
    )
    .run()
    .await?
    .report()
}

/// Redis (the replay store) down then up, with authentication and replay protection on: the
/// worker fails closed while Redis is down and decides the held requests once when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_then_up_with_auth_and_replay() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let mut redis = Redis::start()?;
    let s = scenario("f-redis", 4, Backends::from_env()).await?;
    let auth = s.dir().join("auth.json");
    std::fs::write(&auth, serde_json::to_vec_pretty(&provider.worker_config())?)?;
    let worker = s.worker_with_env(
        "a",
        &[
            ("DL_AUTH_CONFIG", auth.display().to_string()),
            ("REDIS_URL", redis.url()),
        ],
    )?;
    let projector = s.projector("a")?;
    all_ready(&[&worker, &projector]).await?;
    let token = bearer(&provider.token(CLIENT, SECRET).await?);

    let requests = move |i| {
        // guarded_loan's allow list is the test client.
        let mut m = Message::request(&request(
            &format!("redis-{i}"),
            "guarded_loan",
            &loan_input(i),
        ))?;
        m.headers.push(("authorization".into(), token.clone()));
        Ok(m)
    };
    let (sent, healed) = strike(&s, requests, || {
        redis.kill();
        std::thread::sleep(outage());
        redis.restart()
    })
    .await?;
    let mut row = Check::new(
        "Redis down then up (auth + replay on)",
        &s,
        sent.valid.clone(),
        healed,
        vec![&worker, &projector],
    )
    .run()
    .await?;
    // Replay protection must not take a redelivery for a replay: every one decided.
    let pool = s.pg().await?;
    let rejected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM decisions WHERE status <> 'DECIDED'")
            .fetch_one(&pool)
            .await?;
    row.notes.push(format!(
        "{rejected} rejected (e.g. as REPLAY), outage {:?}",
        outage()
    ));
    if rejected > 0 {
        row.verify_ok = false;
    }
    row.report()
}

/// The KMS (moto behind a cuttable proxy) down then up while the worker signs with a
/// KMS-certified key: it rides out the outage while its key is valid, fails closed after, and
/// certifies a new key when the KMS is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_down_then_up() -> anyhow::Result<()> {
    let s = scenario("f-kms", 4, Backends::from_env()).await?;
    let moto = start_moto(&s.dir().join("moto"))?;
    let proxy = Proxy::start(moto.port).await?;
    moto.create_certifier("alias/dl-chaos", "dl chaos certifier")
        .await?;
    let mut kms_env = signer_env(
        "alias/dl-chaos",
        &format!("http://127.0.0.1:{}", proxy.port),
    );
    kms_env.push(("DL_TRUSTED_CERTIFIERS", "alias/dl-chaos".into()));
    let mut worker_env = kms_env.clone();
    worker_env.extend(SHORT_LIVED_KEYS.map(|(k, v)| (k, v.to_string())));
    let worker = s.worker_with_env("a", &worker_env)?;
    let projector = s.projector_with_env("a", &kms_env)?;
    all_ready(&[&worker, &projector]).await?;

    let (sent, healed) = strike(&s, loans("kms"), || {
        proxy.set_up(false);
        std::thread::sleep(outage());
        proxy.set_up(true);
        Ok(())
    })
    .await?;
    let mut check = Check::new(
        "KMS down then up",
        &s,
        sent.valid,
        healed,
        vec![&worker, &projector],
    );
    check.verify_env = kms_env;
    let mut row = check.run().await?;
    row.notes
        .push(format!("outage {:?}, worker keys valid 14 s", outage()));
    row.report()
}

/// Rebalances under load: a second and a third worker join mid-stream, then the second leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_join_and_leave_under_load() -> anyhow::Result<()> {
    let s = scenario("f-rebalance", 6, Backends::from_env()).await?;
    let a = s.worker("a")?;
    let projector = s.projector("a")?;
    all_ready(&[&a, &projector]).await?;

    let load = Load::from_env();
    let run = load.start_kafka(&s, loans("rebalance"));
    run.reached(load.n / 4).await;
    let mut b = s.worker("b")?;
    run.reached(load.n / 2).await;
    let c = s.worker("c")?;
    run.reached(3 * load.n / 4).await;
    tokio::task::block_in_place(|| terminate(&mut b))?;
    let healed = Instant::now();
    let sent = run.finish().await?;
    Check::new(
        "workers b, c join, b leaves (rebalance)",
        &s,
        sent.valid,
        healed,
        vec![&a, &c, &projector],
    )
    .run()
    .await?
    .report()
}

/// A stalled network path between the worker and the broker: a private broker whose advertised
/// address is a proxy, which stops forwarding the worker's connections (only the worker's) for
/// `DL_CHAOS_STALL_SECS`, then resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_connection_of_the_worker_stalls() -> anyhow::Result<()> {
    let logs = repo().join("target").join("e2e-logs");
    let broker =
        PrivateBroker::start(&logs.join(format!("stall-{}", uuid::Uuid::new_v4()))).await?;
    let on = Backends {
        brokers: broker.brokers.clone(),
        ..Backends::from_env()
    };
    let s = scenario("f-stall", 4, on).await?;
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;
    all_ready(&[&worker, &projector]).await?;

    let stall = secs("DL_CHAOS_STALL_SECS", 10);
    // What the worker wrote: the results topic's end offsets (records and transaction markers).
    let written = || tokio::task::block_in_place(|| end_offsets(&s.brokers, &s.results));
    let load = Load::from_env();
    let run = load.start_kafka(&s, loans("stall"));
    run.reached(load.n / 2).await;
    broker.proxy.stall(&[worker.pid()]);
    let at_stall = written()?;
    tokio::time::sleep(stall).await;
    let at_resume = written()?;
    broker.proxy.resume();
    let healed = Instant::now();
    let sent = run.finish().await?;
    let mut row = Check::new(
        "worker↔broker connection stalled",
        &s,
        sent.valid,
        healed,
        vec![&worker, &projector],
    )
    .run()
    .await?;
    row.notes.push(format!(
        "stalled {stall:?}; results topic end offsets {at_stall} when the stall began, \
         {at_resume} when it ended"
    ));
    row.report()
}

/// Poison interleaved with valid requests: random bytes, truncated Avro, a message over the
/// worker's size limit. Every valid one decided once, each bad one dead-lettered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_interleaved_with_valid_requests() -> anyhow::Result<()> {
    let s = scenario("f-poison", 4, Backends::from_env()).await?;
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;
    all_ready(&[&worker, &projector]).await?;

    let load = Load::from_env();
    let valid = loans("poison-ok");
    let run = load.start_kafka(&s, move |i| {
        if i % 10 != 5 {
            return valid(i);
        }
        let payload = match (i / 10) % 3 {
            // Random bytes (xorshift, seeded by i).
            0 => {
                let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                (0..64 + i % 200)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            }
            // A valid request cut short.
            1 => {
                let mut bytes = dl_schema::request_codec().encode(&request(
                    &format!("poison-cut-{i}"),
                    "loan_approval",
                    &loan_input(i),
                ))?;
                bytes.truncate(bytes.len() / 2 + i % 7);
                bytes
            }
            // Over the worker's 64 KiB limit (`Scenario::worker`).
            _ => vec![0xC3; 80 * 1024 + i],
        };
        Ok(Message {
            key: format!("poison-bad-{i}"),
            payload,
            headers: vec![],
            valid: false,
        })
    });
    let sent = run.finish().await?;
    let healed = Instant::now();
    let mut check = Check::new(
        "poison interleaved (random, truncated Avro, over-size)",
        &s,
        sent.valid,
        healed,
        vec![&worker, &projector],
    );
    check.poison = sent.poison;
    check.run().await?.report()
}

/// kill -9 of the broker and a restart on the same port, on a durable broker only (ADR 0002;
/// as `broker_restart.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_kill9_and_restart() -> anyhow::Result<()> {
    if !broker_is_durable() {
        eprintln!(
            "SKIPPED broker kill -9: the stack's broker is {:?}, whose log does not survive \
             kill -9 (ADR 0002); run with `DL_BROKER=tansu-s3 scripts/stack.sh up`",
            broker_kind()
        );
        return Ok(());
    }
    let s = scenario("f-broker", 4, Backends::from_env()).await?;
    let worker = s.worker("a")?;
    let projector = s.projector("a")?;
    all_ready(&[&worker, &projector]).await?;

    let (sent, healed) = strike(&s, loans("broker"), || {
        let restart = Command::new(repo().join("scripts/stack.sh"))
            .arg("broker-restart")
            .status()?;
        anyhow::ensure!(restart.success(), "scripts/stack.sh broker-restart failed");
        Ok(())
    })
    .await?;
    let mut row = Check::new(
        "broker kill -9 and restart",
        &s,
        sent.valid,
        healed,
        vec![&worker, &projector],
    )
    .run()
    .await?;
    row.notes.push(format!("broker {}", broker_kind()));
    row.report()
}
