//! `dlctl decide`, and the result waiter shared with the load generator.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{NaiveDate, Utc};
use dl_schema::{DecisionRequest, DecisionResult, DecisionStatus};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Arguments of `dlctl decide`.
#[derive(clap::Args)]
pub struct DecideArgs {
    /// Function id.
    #[arg(long)]
    function: String,
    /// Exact version (default: the version in force).
    #[arg(long)]
    version: Option<String>,
    /// Input document: JSON text, or @file.
    #[arg(long)]
    input: String,
    /// Date the law is applied at (YYYY-MM-DD).
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Request id (default: a random UUID).
    #[arg(long)]
    request_id: Option<String>,
    /// Bearer token sent in the authorization header.
    #[arg(long, env = "DL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Requests topic.
    #[arg(long, default_value = "decision.requests")]
    requests_topic: String,
    /// Results topic.
    #[arg(long, default_value = "decision.results")]
    results_topic: String,
    /// Seconds to wait for the result.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Exit with 1 when the request is rejected.
    #[arg(long)]
    fail_on_reject: bool,
}

/// Reads results from the end of a topic as they arrive (no consumer group: nothing to join,
/// nothing committed).
pub struct ResultReader {
    consumer: BaseConsumer,
}

impl ResultReader {
    /// Positions at the current end of every partition of `topic`. Create it before producing.
    pub fn at_end(brokers: &str, topic: &str) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = dl_kafka::client_config(brokers)
            .set("group.id", format!("dlctl-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in dl_kafka::topic_partitions(&consumer, topic, Duration::from_secs(10))? {
            let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
        consumer.assign(&tpl)?;
        Ok(Self { consumer })
    }

    /// Next message as (key, payload), or None after `wait`.
    pub fn next(&self, wait: Duration) -> anyhow::Result<Option<(Vec<u8>, Vec<u8>)>> {
        match self.consumer.poll(wait) {
            None => Ok(None),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(m)) => Ok(Some((
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            ))),
        }
    }
}

/// A producer that delivers with acks=all and idempotence.
pub fn producer(brokers: &str) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(dl_kafka::client_config(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("queue.buffering.max.messages", "500000")
        .create()?)
}

/// Runs `dlctl decide`.
pub async fn run(brokers: &str, args: DecideArgs) -> anyhow::Result<bool> {
    let input = match args.input.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => args.input.clone(),
    };
    serde_json::from_str::<serde_json::Value>(&input).context("--input is not JSON")?;
    let request = DecisionRequest {
        request_id: args
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        function_id: args.function.clone(),
        function_version: args.version.clone(),
        as_of: args.as_of.map(dl_schema::date::to_avro_days),
        issued_at: Utc::now().timestamp_millis(),
        input,
        reply_to: None,
    };
    let bytes = dl_schema::request_codec().encode(&request)?;
    let brokers = brokers.to_string();
    tokio::task::spawn_blocking(move || {
        let reader = ResultReader::at_end(&brokers, &args.results_topic)?;
        let producer = producer(&brokers)?;
        let mut headers = OwnedHeaders::new();
        let bearer = args.token.as_ref().map(|t| format!("Bearer {t}"));
        if let Some(b) = &bearer {
            headers = headers.insert(Header {
                key: "authorization",
                value: Some(b.as_str()),
            });
        }
        producer
            .send(
                BaseRecord::to(&args.requests_topic)
                    .key(request.request_id.as_bytes())
                    .payload(&bytes)
                    .headers(headers),
            )
            .map_err(|(e, _)| e)?;
        producer.flush(Duration::from_secs(10))?;
        let codec = dl_schema::result_codec();
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        while Instant::now() < deadline {
            let Some((key, payload)) = reader.next(Duration::from_millis(200))? else {
                continue;
            };
            if key != request.request_id.as_bytes() {
                continue;
            }
            let result = codec.decode(&payload)?;
            crate::say!("{}", serde_json::to_string_pretty(&result_json(&result))?);
            return Ok(!(args.fail_on_reject && result.status == DecisionStatus::Rejected));
        }
        bail!(
            "no result for request {} within {} s",
            request.request_id,
            args.timeout
        )
    })
    .await?
}

/// The result as JSON for people: the output parsed instead of a string.
pub fn result_json(result: &DecisionResult) -> serde_json::Value {
    let mut v = serde_json::to_value(result).unwrap_or_default();
    if let Some(out) = result
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
    {
        v["output"] = out;
    }
    v
}
