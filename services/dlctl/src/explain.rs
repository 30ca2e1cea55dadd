//! `dlctl explain`: the redacted explanation of one decision, read from `explain.views`.

use std::time::{Duration, Instant};

use anyhow::Context;
use dl_schema::{ExplainAudience, ExplainView};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

/// Audience of `dlctl explain`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AudienceArg {
    /// The person decided about.
    Subject,
    /// A case worker.
    CaseWorker,
    /// An auditor.
    Auditor,
}

impl AudienceArg {
    fn wire(self) -> ExplainAudience {
        match self {
            Self::Subject => ExplainAudience::Subject,
            Self::CaseWorker => ExplainAudience::CaseWorker,
            Self::Auditor => ExplainAudience::Auditor,
        }
    }
}

/// Arguments of `dlctl explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Decision id or request id.
    id: String,
    /// Whose view to show.
    #[arg(long, value_enum, default_value = "subject")]
    audience: AudienceArg,
    /// Views topic.
    #[arg(long, default_value = "explain.views")]
    topic: String,
    /// Seconds to wait for the view of a fresh decision.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// Scans the views topic (compacted, so about one message per decision) for `args.id`, waiting
/// up to the timeout for it to appear; prints the chosen audience's view as JSON.
pub fn run(brokers: &str, args: ExplainArgs) -> anyhow::Result<()> {
    let consumer: BaseConsumer = dl_kafka::client_config(brokers)
        .set("group.id", format!("dlctl-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in dl_kafka::topic_partitions(&consumer, &args.topic, Duration::from_secs(10))? {
        tpl.add_partition_offset(&args.topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let codec = dl_schema::explain_view_codec();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut found: Option<ExplainView> = None;
    let mut idle_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                idle_since = Instant::now();
                let Ok(view) = codec.decode(m.payload().unwrap_or_default()) else {
                    continue;
                };
                if view.decision_id == args.id || view.request_id == args.id {
                    found = Some(view);
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "reading the views"),
            // Read to the end once: the latest view of the id is the one to show.
            None if found.is_some() && idle_since.elapsed() > Duration::from_millis(500) => break,
            None => {}
        }
    }
    let view = found.with_context(|| {
        format!(
            "no explanation of {} in {} (is dl-explainer running?)",
            args.id, args.topic
        )
    })?;
    let wanted = args.audience.wire();
    let v = view
        .views
        .iter()
        .find(|v| v.audience == wanted)
        .context("the view has no such audience")?;
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.into()));
    let out = json!({
        "decision_id": view.decision_id,
        "request_id": view.request_id,
        "function_id": view.function_id,
        "function_version": view.function_version,
        "function_digest": view.function_digest,
        "decided_at": chrono::DateTime::from_timestamp_millis(view.decided_at).map(|t| t.to_rfc3339()),
        "legal_basis": view.legal_basis,
        "ledger": {"chain_id": view.ledger.chain_id, "sequence": view.ledger.sequence, "hash": view.ledger.hash},
        "audience": v.audience,
        "input": parse(&v.input),
        "output": parse(&v.output),
        "reasons": v.reasons.iter().map(|r| json!({"code": r.code, "message": r.message, "legal_ref": r.legal_ref})).collect::<Vec<_>>(),
        "redaction": parse(&v.manifest),
        "pseudonym_key_id": view.pseudonym_key_id,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
