//! The worker signing with AWS KMS (moto's KMS API, started by scripts/kms/start.sh), through a
//! TCP proxy the test can cut: keys rotate on schedule; during a KMS outage the worker keeps
//! deciding with its certified key until the key expires, then stops (readiness 503) without
//! losing or rejecting anything; when the KMS is back it certifies a new key and decides the
//! backlog. The whole ledger, certificates of every key and KMS-signed checkpoints, verifies
//! with `dlctl ledger verify` against the KMS public key, and projects as verified after the KMS
//! key itself is rotated (the operator keeps the old key listed in `DL_TRUSTED_CERTIFIERS`).
//! A ledger certified by a KMS key that is not listed is a break, however usable the key is.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use dl_e2e::kms::{signer_env, start_moto, SHORT_LIVED_KEYS};
use dl_e2e::proxy::Proxy;
use dl_e2e::{bin, http_get, request, Scenario, Service};

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

fn metric(service: &Service, name: &str) -> f64 {
    http_get(service.metrics_port, "/metrics")
        .ok()
        .map(|(_, body)| {
            body.lines()
                .filter(|l| l.starts_with(name) && !l.starts_with('#'))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0)
}

fn wait_until(what: &str, timeout: Duration, ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    dl_e2e::eventually_blocking(timeout, what, ok)
}

fn batch(prefix: &str, n: usize) -> Vec<dl_schema::DecisionRequest> {
    (0..n)
        .map(|i| request(&format!("{prefix}-{i}"), "loan_approval", LOAN))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_outage_rides_out_then_fails_closed_and_recovers() -> anyhow::Result<()> {
    let s = Scenario::with_examples("kms-worker", 2).await?;
    let moto = start_moto(&s.dir().join("moto"))?;
    let proxy = Proxy::start(moto.port).await?;
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let arn = moto
        .create_certifier("alias/dl-e2e", "dl e2e certifier")
        .await?;
    let kms_env = signer_env("alias/dl-e2e", &endpoint);
    let mut worker_env = kms_env.clone();
    worker_env.extend(SHORT_LIVED_KEYS.map(|(k, v)| (k, v.to_string())));
    let worker = s.worker_with_env("a", &worker_env)?;
    let mut total = 0;
    let read_all = |s: &Scenario,
                    expected: usize,
                    timeout: Duration|
     -> anyhow::Result<Vec<dl_schema::DecisionResult>> {
        let codec = dl_schema::result_codec();
        s.read(&s.results, expected, timeout)?
            .iter()
            .map(|r| Ok(codec.decode(&r.payload)?))
            .collect()
    };

    // Normal operation: decisions signed with a KMS-certified key.
    s.send(&batch("before", 40))?;
    total += 40;
    let results = read_all(&s, total, Duration::from_secs(90))?;
    assert_eq!(results.len(), total);
    assert!(results.iter().all(|r| r.signature.is_some()));

    // KMS unreachable: decisions go on with the certified key while it is valid.
    proxy.set_up(false);
    s.send(&batch("outage", 40))?;
    total += 40;
    let results = read_all(&s, total, Duration::from_secs(90))?;
    assert_eq!(results.len(), total, "decided during the outage");
    assert!(results.iter().all(|r| r.signature.is_some()));

    // The key expires: the worker stops deciding and says so.
    wait_until("the worker fails closed", Duration::from_secs(30), || {
        http_get(worker.metrics_port, "/readyz").is_ok_and(|(code, _)| code == 503)
    })?;
    let (_, ready) = http_get(worker.metrics_port, "/readyz")?;
    assert!(ready.contains("signer"), "{ready}");
    assert_eq!(metric(&worker, "dl_worker_key_valid_seconds"), 0.0);
    s.send(&batch("closed", 40))?;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        read_all(&s, total + 40, Duration::from_secs(2))?.len(),
        total,
        "nothing is decided without a valid key"
    );

    // KMS back: a new key is certified and the held requests are decided, once each.
    proxy.set_up(true);
    total += 40;
    let results = read_all(&s, total, Duration::from_secs(90))?;
    assert_eq!(results.len(), total);
    let ids: HashSet<_> = results.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(ids.len(), total, "no request decided twice");
    let keys: HashSet<_> = results
        .iter()
        .filter_map(|r| r.signature.as_ref().map(|s| s.key_id.clone()))
        .collect();
    assert!(keys.len() >= 2, "keys rotated: {keys:?}");
    assert!(metric(&worker, "dl_worker_key_rotation_failures_total") >= 1.0);
    assert!(metric(&worker, "dl_worker_checkpoints_total") >= 1.0);

    // Everything verifies against the KMS public key: all certificates, signatures, checkpoints.
    let out = Command::new(bin("dlctl"))
        .args([
            "--brokers",
            &s.brokers,
            "ledger",
            "verify",
            "--json",
            "--topic",
            &s.ledger,
        ])
        .envs(kms_env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DL_TRUSTED_CERTIFIERS", "alias/dl-e2e")
        .output()?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    assert_eq!(report["ok"], true, "{report}");
    drop(worker);

    // The KMS key is rotated (a new key behind the alias). The operator keeps the old key
    // listed next to the alias (now the new key): the whole history projects as verified.
    moto.create_certifier("alias/dl-e2e", "dl e2e certifier, rotated")
        .await?;
    let mut projector_env = kms_env.clone();
    projector_env.push(("DL_TRUSTED_CERTIFIERS", format!("{arn},alias/dl-e2e")));
    let _projector = s.projector_with_env("kms", &projector_env)?;
    let n = total as i64;
    assert_eq!(
        s.wait_for_count("SELECT count(*) FROM decisions", n, Duration::from_secs(90))
            .await?,
        n
    );
    assert_eq!(
        s.wait_for_count(
            "SELECT count(*) FROM audit_decision_integrity WHERE signed AND signature_verified AND key_verified",
            n,
            Duration::from_secs(30)
        )
        .await?,
        n,
        "decisions signed under the old KMS key verify after its rotation"
    );
    let pool = s.pg().await?;
    let breaks: Vec<(String, String)> =
        sqlx::query_as("SELECT break_kind, detail FROM chain_breaks")
            .fetch_all(&pool)
            .await?;
    assert!(breaks.is_empty(), "{breaks:?}");
    let unverified: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM signing_keys WHERE NOT verified) + (SELECT count(*) FROM checkpoints WHERE NOT verified)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(unverified, 0);
    Ok(())
}

/// Security review, High 2: trust anchors must come from configuration, never from the ledger
/// being verified. A writer of the ledger topic certifies its own worker key with a KMS key it
/// may use (here: a second key on the same KMS, not listed in `DL_TRUSTED_CERTIFIERS`), appends
/// forged signed decisions and a checkpoint signed by that key. The projector must record it as
/// `UNTRUSTED_CERTIFIER` and project nothing as verified; `dlctl ledger verify` must exit 1
/// naming `UNTRUSTED_CERTIFIER` at the certificate. (Before the fix both asked KMS for the
/// public key of whatever certifier a record named, and everything verified.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high2_kms_certifier_named_by_the_ledger_is_not_a_trust_anchor() -> anyhow::Result<()> {
    use dl_verify::synthetic::ChainBuilder;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let s = Scenario::new("kms-untrusted", 1).await?;
    let moto = start_moto(&s.dir().join("moto"))?;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let mut admin_cfg = moto.admin_config("alias/dl-trusted");
    admin_cfg.message_type = dl_signer::KmsMessageType::Raw;
    let client = dl_signer::kms_client(&admin_cfg).await;
    let trusted = dl_signer::admin::create_signing_key(&client, "dl e2e certifier").await?;
    dl_signer::admin::point_alias(&client, "alias/dl-trusted", &trusted).await?;
    let rogue = dl_signer::admin::create_signing_key(&client, "someone else's key").await?;
    let mut rogue_cfg = admin_cfg.clone();
    rogue_cfg.key_id = rogue.clone();
    let rogue_signer = dl_signer::Signer::AwsKms(dl_signer::AwsKmsSigner::with_client(
        client.clone(),
        rogue_cfg,
    )?);

    // The forged chain: a worker key certified by the rogue KMS key, decisions signed with it,
    // a checkpoint signed by the rogue key, one more decision.
    let now = chrono::Utc::now().timestamp_millis();
    let key = dl_signer::WorkerKey::certify(
        &rogue_signer,
        "forger",
        &dl_signer::WorkerKeyPolicy::default(),
        now - 5000,
    )
    .await?;
    let mut chain = ChainBuilder::new(format!("{}:0", s.ledger), now - 1000);
    chain.certificate(&key);
    for i in 1..=3 {
        chain.decision(Some(&key), i);
    }
    let cp = dl_signer::sign_checkpoint_for_head(&rogue_signer, chain.head(), None).await?;
    let mut r =
        dl_schema::LedgerRecord::unchained(dl_schema::LedgerRecordKind::Checkpoint, chain.clock_ms);
    r.checkpoint = Some(cp);
    chain.append(r);
    chain.decision(Some(&key), 5);
    let records = chain.records;
    let producer: BaseProducer = dl_kafka::client_config(&s.brokers).create()?;
    let codec = dl_schema::ledger_codec();
    for r in &records {
        let payload = codec.encode(r)?;
        let key = r.sequence.to_string();
        producer
            .send(
                BaseRecord::to(&s.ledger)
                    .partition(0)
                    .key(&key)
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;

    // Configured as an operator would: the worker's KMS settings, and the trusted certifier.
    let mut kms_env = signer_env("alias/dl-trusted", &endpoint);
    kms_env.push(("DL_TRUSTED_CERTIFIERS", "alias/dl-trusted".into()));

    let _projector = s.projector_with_env("kms", &kms_env)?;
    let n = records.len() as i64;
    assert_eq!(
        s.wait_for_count(
            "SELECT count(*) FROM ledger_records",
            n,
            Duration::from_secs(60)
        )
        .await?,
        n
    );
    let pool = s.pg().await?;
    let untrusted: Vec<i64> = sqlx::query_scalar(
        "SELECT sequence FROM chain_breaks WHERE break_kind = 'UNTRUSTED_CERTIFIER' ORDER BY sequence",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(untrusted, vec![0, 4], "the certificate and the checkpoint");
    let verified: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM signing_keys WHERE verified)
              + (SELECT count(*) FROM checkpoints WHERE verified)
              + (SELECT count(*) FROM audit_decision_integrity WHERE signature_verified OR key_verified)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        verified, 0,
        "nothing certified by the rogue key is verified"
    );

    // `dlctl ledger verify`, from Kafka and from the projection.
    for from in ["kafka", "postgres"] {
        let out = Command::new(bin("dlctl"))
            .args(["--brokers", &s.brokers, "ledger", "verify", "--json"])
            .args(["--topic", &s.ledger, "--from", from])
            .args(["--database-url", &s.database_url])
            .envs(kms_env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            anyhow::anyhow!(
                "{from}: {e}: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        assert_eq!(out.status.code(), Some(1), "{from}: {report}");
        assert_eq!(report["ok"], false, "{from}: {report}");
        let first = &report["first_breaks"][0];
        assert_eq!(first["kind"], "UNTRUSTED_CERTIFIER", "{from}: {report}");
        assert_eq!(first["sequence"], 0, "{from}: {report}");
        let chain = &report["chains"][0];
        assert_eq!(chain["signatures_verified"], 0, "{from}: {report}");
        assert_eq!(chain["checkpoints_verified"], 0, "{from}: {report}");
    }
    Ok(())
}
