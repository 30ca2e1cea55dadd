//! Issue 15, High 3: one ledger record must never stop the explainer. A decision whose shown
//! text once panicked the detectors (a KELVIN SIGN inside an IBAN-shaped word: the explainer died
//! on the same committed offset at every restart) and an undecodable ledger record are followed
//! by normal decisions; every decision gets its views, the undecodable record is dead-lettered
//! with the usual headers and counted, and the explainer keeps running.

use std::time::Duration;

use dl_e2e::{http_get, promtool_check, request, Scenario};
use dl_schema::{ExplainAudience, ExplainView};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{json, Value};

const POISON: &str = "car A\u{212A}21 1234 5600 0007 85";
const GARBAGE: &[u8] = b"not a ledger record";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_record_does_not_stop_the_explainer() -> anyhow::Result<()> {
    // One partition: everything below is behind the poison decision.
    let s = Scenario::new("explain-poison", 1).await?;
    s.release_dirs(&["examples"]).await?;
    let _worker = s.worker("a")?;
    let mut explainer = s.explainer("a")?;

    let loan = json!({"amount": 3000, "customer_score": 720, "customer_tier": "standard",
                      "employment_status": "employed", "loan_purpose": POISON});
    s.send(&[request("poison-1", "loan_approval", &loan.to_string())])?;
    let decided = s.read(&s.results, 1, Duration::from_secs(90))?;
    anyhow::ensure!(decided.len() == 1, "the poison request was never decided");

    // An undecodable record in the ledger, after the poison decision.
    let producer: BaseProducer = dl_kafka::client_config(&s.brokers).create()?;
    producer
        .send(BaseRecord::to(&s.ledger).key("junk").payload(GARBAGE))
        .map_err(|(e, _)| e)?;
    producer.flush(Duration::from_secs(30))?;

    let normal: Vec<_> = (0..3)
        .map(|i| {
            request(
                &format!("normal-{i}"),
                "refund_policy",
                &json!({"issue": "late", "customer": {"tier": "gold", "id": "131052-308T"},
                        "order_amount": 1000})
                .to_string(),
            )
        })
        .collect();
    s.send(&normal)?;

    let codec = dl_schema::explain_view_codec();
    let views: Vec<ExplainView> = s
        .read(&s.views, 4, Duration::from_secs(120))?
        .iter()
        .map(|r| codec.decode(&r.payload))
        .collect::<Result<_, _>>()?;
    let mut explained: Vec<&str> = views.iter().map(|v| v.request_id.as_str()).collect();
    explained.sort();
    explained.dedup();
    assert_eq!(
        explained,
        ["normal-0", "normal-1", "normal-2", "poison-1"],
        "every decision behind the poison one is explained"
    );
    // The look-alike is not an IBAN; the text is shown as written.
    let poison = views.iter().find(|v| v.request_id == "poison-1").unwrap();
    let subject = poison
        .views
        .iter()
        .find(|v| v.audience == ExplainAudience::Subject)
        .unwrap();
    let input: Value = serde_json::from_str(&subject.input)?;
    assert_eq!(input["loan_purpose"], POISON);

    // The undecodable record: dead-lettered with where it came from, and counted.
    let dead = s.read(&s.dlq, 1, Duration::from_secs(30))?;
    assert_eq!(dead.len(), 1, "one dead letter");
    let h = &dead[0].headers;
    assert_eq!(dead[0].payload, GARBAGE);
    assert_eq!(h["dl-dlq-reason"], "NOT_AVRO");
    assert_eq!(h["dl-dlq-service"], "dl-explainer");
    assert_eq!(h["dl-dlq-source-topic"], s.ledger);
    assert_eq!(h["dl-dlq-source-partition"], "0");
    assert!(h["dl-dlq-source-offset"].parse::<i64>()? > 0);

    assert!(explainer.running(), "the explainer is still running");
    let (_, metrics) = http_get(explainer.metrics_port, "/metrics")?;
    assert!(
        metrics.contains("dl_explainer_dead_letters_total{reason=\"NOT_AVRO\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dl_explainer_dead_letters_total{reason=\"EXPLAIN_PANIC\"} 0"),
        "{metrics}"
    );
    assert_eq!(promtool_check(&metrics)?, None);
    Ok(())
}
