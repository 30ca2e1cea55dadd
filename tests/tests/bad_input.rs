//! Every bad input class gets its documented code or goes to the dead-letter topic; nothing
//! crashes and nothing is lost.

use std::collections::HashMap;
use std::time::Duration;

use dl_e2e::{request, Scenario};
use dl_schema::{DecisionResult, DecisionStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_has_its_code_and_nothing_is_lost() -> anyhow::Result<()> {
    let s = Scenario::with_examples("bad", 2).await?;
    let mut worker = s.worker("a")?;
    let _projector = s.projector("a")?;
    let codec = dl_schema::request_codec();
    let good = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

    // Dead letters: not Avro, another schema, Confluent framing without a registry, too large.
    s.send_raw("dlq-not-avro", b"{\"request_id\": \"json is not avro\"}")?;
    let wrong_schema = dl_schema::result_codec().encode(&DecisionResult {
        request_id: "x".into(),
        decision_id: "y".into(),
        status: DecisionStatus::Decided,
        function_id: "f".into(),
        function_version: None,
        function_digest: None,
        output: None,
        reasons: vec![],
        legal_basis: vec![],
        rejection: None,
        decided_at: 0,
        ledger: None,
        signature: None,
        caller: None,
    })?;
    s.send_raw("dlq-wrong-schema", &wrong_schema)?;
    s.send_raw("dlq-confluent", &[0, 0, 0, 0, 42, 2, 3])?;
    let mut truncated = codec.encode(&request("t", "loan_approval", good))?;
    truncated.truncate(truncated.len() - 5);
    s.send_raw("dlq-truncated", &truncated)?;
    s.send_raw("dlq-too-large", &vec![0xC3; 80 * 1024])?;

    // Rejections with stable codes.
    let mut bad_version = request("r-bad-version", "loan_approval", good);
    bad_version.function_version = Some("9.9.9".into());
    let mut not_in_force = request("r-not-in-force", "loan_approval", good);
    not_in_force.as_of = Some(0);
    let mut bad_reply = request("r-bad-reply-to", "loan_approval", good);
    bad_reply.reply_to = Some("someone.elses.topic".into());
    let cases = vec![
        (
            request("r-unknown-function", "no_such_function", "{}"),
            "UNKNOWN_FUNCTION",
        ),
        (bad_version, "UNKNOWN_FUNCTION"),
        (not_in_force, "FUNCTION_NOT_ACTIVE"),
        (
            request(
                "r-schema",
                "loan_approval",
                r#"{"amount": "a lot", "customer_score": 720}"#,
            ),
            "INPUT_INVALID",
        ),
        (
            request("r-not-json", "loan_approval", "{amount: 1"),
            "INPUT_INVALID",
        ),
        (
            request(
                "r-large-input",
                "loan_approval",
                &format!(r#"{{"amount": 1, "pad": "{}"}}"#, "x".repeat(20_000)),
            ),
            "INPUT_INVALID",
        ),
        (
            request("r-runtime-error", "runtime_error", r#"{"n": 1}"#),
            "EVALUATION_FAILED",
        ),
        (
            request("r-over-limit", "slow_policy", r#"{"n": 5000}"#),
            "EVALUATION_LIMIT",
        ),
        (
            request("bad id with spaces", "loan_approval", good),
            "REQUEST_ID_INVALID",
        ),
        (bad_reply, "INPUT_INVALID"),
        // NUL characters are valid JSON but cannot be stored in PostgreSQL text: the projector
        // must store the decision anyway (as U+FFFD) instead of retrying forever.
        (
            request(
                "r-nul-in-input",
                "refund_policy",
                r#"{"issue": "late", "customer": {"tier": "gold", "id": "a\u0000b"}, "order_amount": 10}"#,
            ),
            "DECIDED",
        ),
        (
            request("r-good-after-all-that", "loan_approval", good),
            "DECIDED",
        ),
    ];
    let requests: Vec<_> = cases.iter().map(|(r, _)| r.clone()).collect();
    s.send(&requests)?;

    let results = s.read(&s.results, cases.len(), Duration::from_secs(120))?;
    assert_eq!(
        results.len(),
        cases.len(),
        "one result per decodable request"
    );
    let rcodec = dl_schema::result_codec();
    let by_id: HashMap<String, DecisionResult> = results
        .iter()
        .map(|r| rcodec.decode(&r.payload).map(|d| (d.request_id.clone(), d)))
        .collect::<Result<_, _>>()?;
    for (req, code) in &cases {
        let result = by_id
            .get(&req.request_id)
            .unwrap_or_else(|| panic!("no result for {}", req.request_id));
        let got = match &result.rejection {
            Some(r) => r.code.as_str(),
            None => "DECIDED",
        };
        assert_eq!(got, *code, "{}: {:?}", req.request_id, result.rejection);
        if let Some(r) = &result.rejection {
            assert!(
                !r.message.contains("a lot") && !r.message.contains("xxxx"),
                "messages carry no input values: {}",
                r.message
            );
        }
    }

    let dlq = s.read(&s.dlq, 5, Duration::from_secs(60))?;
    let reasons: HashMap<String, String> = dlq
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(&m.key).into_owned(),
                m.headers["dl-dlq-reason"].clone(),
            )
        })
        .collect();
    assert_eq!(reasons["dlq-not-avro"], "NOT_AVRO");
    assert_eq!(reasons["dlq-wrong-schema"], "UNKNOWN_SCHEMA");
    assert_eq!(reasons["dlq-confluent"], "SCHEMA_REGISTRY_NOT_CONFIGURED");
    assert_eq!(reasons["dlq-truncated"], "MALFORMED_AVRO");
    assert_eq!(reasons["dlq-too-large"], "MESSAGE_TOO_LARGE");
    let not_avro = dlq
        .iter()
        .find(|m| m.key == b"dlq-not-avro")
        .expect("present");
    assert_eq!(
        not_avro.payload, b"{\"request_id\": \"json is not avro\"}",
        "original bytes kept"
    );
    assert_eq!(not_avro.headers["dl-dlq-source-topic"], s.requests);
    assert!(not_avro.headers["dl-dlq-source-offset"]
        .parse::<i64>()
        .is_ok());

    // Rejections are recorded in the ledger too; the worker survived all of it.
    let n = cases.len() as i64;
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
    let rejected: i64 =
        sqlx::query_scalar("SELECT sum(rejections)::bigint FROM audit_rejections_by_reason")
            .fetch_one(&pool)
            .await?;
    assert_eq!(rejected, n - 2);
    let nul_id: String = sqlx::query_scalar(
        "SELECT input->'customer'->>'id' FROM decisions WHERE request_id = 'r-nul-in-input'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(nul_id, "a\u{FFFD}b");
    assert!(worker.running(), "the worker must not crash on bad input");
    assert_eq!(s.verify_ledger()?["ok"], true);
    Ok(())
}

/// Security review (issue 15, High 4): a message over every size limit in the path (the codec's
/// 1 MiB, the dead-letter topic's limit, the producer's default `message.max.bytes`) used to be
/// copied whole to the dead-letter topic; that produce failed, the pipeline restarted at the same
/// offset and failed again, and every request behind it on the partition waited forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_does_not_wedge_the_partition() -> anyhow::Result<()> {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    use sha2::Digest;

    // One partition: the requests behind the oversized message are on its partition.
    let s = Scenario::with_examples("oversized", 1).await?;
    let _worker = s.worker("a")?;
    let good = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
    s.send(&[request("before-oversized", "loan_approval", good)])?;

    // A producer that allows what the default one refuses, as an attacker's would.
    let oversized: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let big: ThreadedProducer<DefaultProducerContext> = dl_kafka::client_config(&s.brokers)
        .set("message.max.bytes", "10000000")
        .create()?;
    big.send(
        BaseRecord::<[u8], [u8]>::to(&s.requests)
            .key(b"oversized".as_slice())
            .payload(oversized.as_slice()),
    )
    .map_err(|(e, _)| e)?;
    big.flush(Duration::from_secs(30))?;

    let behind: Vec<_> = (0..3)
        .map(|i| request(&format!("behind-oversized-{i}"), "loan_approval", good))
        .collect();
    s.send(&behind)?;

    let results = s.read(&s.results, 4, Duration::from_secs(90))?;
    let rcodec = dl_schema::result_codec();
    let decided: Vec<String> = results
        .iter()
        .map(|r| rcodec.decode(&r.payload).map(|d| d.request_id))
        .collect::<Result<_, _>>()?;
    for r in &behind {
        assert!(
            decided.contains(&r.request_id),
            "{} behind the oversized message was not decided: {decided:?}",
            r.request_id
        );
    }

    let dlq = s.read(&s.dlq, 1, Duration::from_secs(30))?;
    let letter = dlq
        .iter()
        .find(|m| m.key == b"oversized")
        .expect("the oversized message is dead-lettered");
    assert_eq!(letter.headers["dl-dlq-reason"], "MESSAGE_TOO_LARGE");
    assert_eq!(letter.headers["dl-dlq-truncated"], "true");
    assert_eq!(letter.headers["dl-original-size"], "5000000");
    assert_eq!(
        letter.headers["dl-original-sha256"],
        hex::encode(sha2::Sha256::digest(&oversized))
    );
    assert!(letter.payload.len() < 1_000_000, "the dead letter fits");
    assert!(
        oversized.starts_with(&letter.payload),
        "the dead letter keeps a prefix of the original"
    );
    assert!(letter.headers["dl-dlq-source-offset"]
        .parse::<i64>()
        .is_ok());
    Ok(())
}
