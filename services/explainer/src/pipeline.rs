//! Ledger → views, one Kafka transaction per batch (views, dead letters and the consumed
//! offsets commit together, so a crash neither loses nor doubles a view).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dl_kafka::dlq;
use dl_redact::Redactor;
use dl_registry_kafka::RegistryFollower;
use dl_schema::{Codec, ExplainView, LedgerRecord};
use dl_telemetry::Health;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::views::{make_views, Policies};

const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);
const SERVICE: &str = "dl-explainer";
/// Dead-letter reason of a record whose views could not be made (redaction refused).
pub const EXPLAIN_FAILED: &str = "EXPLAIN_FAILED";
/// Dead-letter reason of a record whose decoding or view building panicked: a bug, caught per
/// record so that one record never stops the explainer (it would die on the same committed
/// offset at every restart).
pub const EXPLAIN_PANIC: &str = "EXPLAIN_PANIC";
/// Dead-letter reason of a decision whose encoded views exceed what the producer may send: its
/// views could never be written, and retrying the batch would never end.
pub const VIEW_TOO_LARGE: &str = "VIEW_TOO_LARGE";

/// Notes rebalances: positions go back to the committed offsets, so a polled batch is dropped.
#[derive(Default)]
pub struct RebalanceFlag {
    happened: AtomicBool,
}

impl rdkafka::ClientContext for RebalanceFlag {}

impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Error(e) = rebalance {
            tracing::warn!(error = %e, "rebalance error");
        }
        self.happened.store(true, Ordering::SeqCst);
    }
}

/// The explainer's consume → redact → produce loop.
pub struct Pipeline {
    cfg: Config,
    consumer: BaseConsumer<RebalanceFlag>,
    producer: ThreadedProducer<DefaultProducerContext>,
    ledger_codec: Codec<LedgerRecord>,
    view_codec: Codec<ExplainView>,
    /// Largest encoded view record the producer can send.
    view_max_bytes: usize,
    /// Largest dead-letter payload (dl_kafka::dlq::payload_budget).
    dlq_budget: usize,
    redactor: Redactor,
    registry: Arc<RegistryFollower>,
    policies: Policies,
    /// Registry generation at which a version was last found missing: until the registry
    /// changes, further misses do not wait again.
    missing_at: Option<u64>,
    runtime: tokio::runtime::Handle,
    health: Arc<Health>,
}

enum Out {
    /// An encoded view record and its key (the decision id).
    View {
        key: String,
        bytes: Vec<u8>,
    },
    DeadLetter {
        reason: &'static str,
        message: String,
    },
    Nothing,
}

impl Pipeline {
    /// Connects, initialises transactions (fencing this replica's unfinished one) and subscribes.
    pub fn connect(
        cfg: &Config,
        redactor: Redactor,
        registry: Arc<RegistryFollower>,
        runtime: tokio::runtime::Handle,
        health: Arc<Health>,
    ) -> anyhow::Result<Self> {
        let base = dl_kafka::client_config(&cfg.brokers);
        let producer: ThreadedProducer<DefaultProducerContext> = base
            .clone()
            .set(
                "transactional.id",
                format!("dl-explainer-{}", cfg.explainer_id),
            )
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .create()
            .context("creating the producer")?;
        producer
            .init_transactions(KAFKA_TIMEOUT)
            .context("initialising transactions")?;
        let consumer: BaseConsumer<RebalanceFlag> = base
            .clone()
            .set("group.id", &cfg.group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("queued.max.messages.kbytes", "16384")
            .set("session.timeout.ms", cfg.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (cfg.session_timeout_ms / 5).max(500).to_string(),
            )
            .create_with_context(RebalanceFlag::default())
            .context("creating the consumer")?;
        let metadata = consumer
            .fetch_metadata(None, KAFKA_TIMEOUT)
            .context("reading metadata")?;
        for topic in [&cfg.ledger_topic, &cfg.views_topic, &cfg.dlq_topic] {
            if !metadata.topics().iter().any(|t| t.name() == topic.as_str()) {
                anyhow::bail!("topic {topic} does not exist: run `dlctl topology apply`");
            }
        }
        consumer
            .subscribe(&[&cfg.ledger_topic])
            .context("subscribing")?;
        Ok(Self {
            cfg: cfg.clone(),
            consumer,
            producer,
            ledger_codec: dl_schema::ledger_codec(),
            view_codec: dl_schema::explain_view_codec(),
            view_max_bytes: dlq::producer_max_message_bytes(&base)
                .saturating_sub(dlq::HEADROOM_BYTES),
            dlq_budget: dlq::payload_budget(
                dlq::producer_max_message_bytes(&base),
                cfg.dlq_max_message_bytes,
            ),
            redactor,
            registry,
            policies: Policies::default(),
            missing_at: None,
            runtime,
            health,
        })
    }

    /// Runs until `stop` is set. A failed transaction is aborted, the consumer goes back to the
    /// committed offsets and the batch is done again after a pause.
    pub fn run(&mut self, stop: &AtomicBool) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(200);
        while !stop.load(Ordering::Relaxed) {
            self.health.beat();
            if !self.registry.is_running() {
                self.health
                    .set_blocker("registry", Some("the registry follower stopped".into()));
                anyhow::bail!("the registry follower stopped");
            }
            let batch = self.collect_batch();
            if self
                .consumer
                .context()
                .happened
                .swap(false, Ordering::SeqCst)
            {
                // The batch may hold records of revoked partitions; the positions of the new
                // assignment already moved past the ones it holds: read them again from the
                // committed offsets rather than skip them.
                if !batch.is_empty() {
                    self.rewind();
                }
                continue;
            }
            if batch.is_empty() {
                continue;
            }
            let started = Instant::now();
            match self.process(&batch) {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    self.health.set_blocker("kafka", None);
                    metrics::histogram!("dl_explainer_batch_seconds")
                        .record(started.elapsed().as_secs_f64());
                }
                Err(e) => {
                    metrics::counter!("dl_explainer_transaction_failures_total").increment(1);
                    self.health.set_blocker("kafka", Some(e.to_string()));
                    tracing::warn!(error = %e, "batch failed; aborting and retrying from the committed offsets");
                    let _ = self.producer.abort_transaction(KAFKA_TIMEOUT);
                    self.rewind();
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        Ok(())
    }

    fn collect_batch(&self) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(self.cfg.batch_wait_ms);
        while batch.len() < self.cfg.batch_max {
            let wait = if batch.is_empty() {
                Duration::from_millis(200)
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => batch.push(m.detach()),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    break;
                }
                None => break,
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        batch
    }

    fn process(&mut self, batch: &[OwnedMessage]) -> anyhow::Result<()> {
        let outs: Vec<Out> = batch.iter().map(|m| self.explain(m)).collect();
        self.producer
            .begin_transaction()
            .context("begin transaction")?;
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        let mut views = 0u64;
        let mut dead: BTreeMap<&'static str, u64> = BTreeMap::new();
        for (m, out) in batch.iter().zip(outs) {
            next.insert(m.partition(), m.offset() + 1);
            match out {
                Out::View { key, bytes } => {
                    self.send(
                        BaseRecord::to(&self.cfg.views_topic)
                            .key(key.as_bytes())
                            .payload(&bytes[..]),
                    )?;
                    views += 1;
                }
                Out::DeadLetter { reason, message } => {
                    // A dead letter always fits (issue 15, High 4): a prefix of an oversized
                    // original, with its size and digest in the headers.
                    self.send(dlq::record(
                        &self.cfg.dlq_topic,
                        m,
                        dlq::Reason {
                            code: reason,
                            message: &message,
                            service: SERVICE,
                        },
                        self.dlq_budget,
                    ))?;
                    *dead.entry(reason).or_default() += 1;
                }
                Out::Nothing => {}
            }
        }
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in next {
            tpl.add_partition_offset(&self.cfg.ledger_topic, p, Offset::Offset(offset))?;
        }
        let group = self
            .consumer
            .group_metadata()
            .context("no consumer group metadata")?;
        self.producer
            .send_offsets_to_transaction(&tpl, &group, KAFKA_TIMEOUT)
            .context("sending offsets to the transaction")?;
        self.producer
            .commit_transaction(KAFKA_TIMEOUT)
            .context("commit transaction")?;
        metrics::counter!("dl_explainer_views_total").increment(views);
        for (reason, n) in dead {
            metrics::counter!("dl_explainer_dead_letters_total", "reason" => reason).increment(n);
        }
        metrics::counter!("dl_explainer_records_total").increment(batch.len() as u64);
        Ok(())
    }

    fn explain(&mut self, m: &OwnedMessage) -> Out {
        let payload = m.payload().unwrap_or_default();
        let record = match guarded(|| self.ledger_codec.decode(payload)) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Out::DeadLetter {
                    reason: e.code(),
                    message: format!("undecodable ledger record: {e}"),
                }
            }
            Err(out) => return out,
        };
        let Some(d) = record.decision.as_ref() else {
            return Out::Nothing;
        };
        let policy = self.policy(&d.function_id, &d.function_version);
        if policy.is_none() {
            metrics::counter!("dl_explainer_unknown_function_total").increment(1);
            tracing::warn!(function_id = %d.function_id, version = %d.function_version, decision_id = %d.decision_id, "function version not in the registry: the views show none of the input");
        }
        let made = guarded(|| make_views(&self.redactor, &record, policy.as_deref()));
        let made = match made {
            Ok(made) => made,
            Err(out) => return out,
        };
        match made {
            Ok(Some((view, redactions))) => {
                for (entity, n) in redactions.masked {
                    metrics::counter!("dl_explainer_masked_total", "entity" => entity).increment(n);
                }
                encoded(&self.view_codec, &view, self.view_max_bytes)
            }
            Ok(None) => Out::Nothing,
            Err(e) => Out::DeadLetter {
                reason: EXPLAIN_FAILED,
                message: e.to_string(),
            },
        }
    }

    /// The version's policy; a version not yet known waits (bounded) for the registry to catch
    /// up, since a decision's version is always published before it can decide.
    fn policy(&mut self, function_id: &str, version: &str) -> Option<Arc<dl_redact::Policy>> {
        let found = self
            .policies
            .get(&self.registry.snapshot(), function_id, version);
        if found.is_some() {
            return found;
        }
        let mut changes = self.registry.subscribe();
        if self.missing_at == Some(*changes.borrow()) {
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(self.cfg.registry_wait_secs);
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let changed = self
                .runtime
                .block_on(async { tokio::time::timeout(left, changes.changed()).await });
            if !matches!(changed, Ok(Ok(()))) {
                break;
            }
            // Unknown versions are not cached, so a newer snapshot is looked at afresh.
            let found = self
                .policies
                .get(&self.registry.snapshot(), function_id, version);
            if found.is_some() {
                return found;
            }
        }
        self.missing_at = Some(*changes.borrow());
        None
    }

    fn rewind(&self) {
        let positions = match self.consumer.committed(KAFKA_TIMEOUT) {
            Ok(tpl) => tpl,
            Err(e) => {
                tracing::warn!(error = %e, "reading committed offsets failed");
                return;
            }
        };
        for e in positions.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            if let Err(err) = self
                .consumer
                .seek(e.topic(), e.partition(), offset, KAFKA_TIMEOUT)
            {
                tracing::warn!(error = %err, partition = e.partition(), "seek failed");
            }
        }
    }

    fn send(&self, record: BaseRecord<'_, [u8], [u8]>) -> anyhow::Result<()> {
        dl_kafka::send_waiting(&self.producer, record, KAFKA_TIMEOUT).context("producing")
    }
}

/// The encoded view record, or a dead letter when it cannot be encoded or would be larger than
/// `max_bytes` (it could never be produced; the batch would be retried forever).
fn encoded(codec: &Codec<ExplainView>, view: &ExplainView, max_bytes: usize) -> Out {
    match codec.encode(view) {
        Ok(bytes) if bytes.len() <= max_bytes => Out::View {
            key: view.decision_id.clone(),
            bytes,
        },
        Ok(bytes) => Out::DeadLetter {
            reason: VIEW_TOO_LARGE,
            message: format!(
                "the views are {} bytes; the producer sends at most {max_bytes}",
                bytes.len()
            ),
        },
        Err(e) => Out::DeadLetter {
            reason: e.code(),
            message: format!("encoding the views failed: {e}"),
        },
    }
}

/// Runs one record's pure work, turning a panic into a dead letter ([`EXPLAIN_PANIC`]). The
/// panic's message is not carried (it may quote the record); the hook installed by `main` logs
/// where it happened.
fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, Out> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|_| Out::DeadLetter {
        reason: EXPLAIN_PANIC,
        message:
            "building the views of this record panicked (a bug; the explainer's log says where)"
                .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_one_record_becomes_a_dead_letter() {
        let out = guarded(|| -> u32 { panic!("inside a record") });
        assert!(matches!(
            out,
            Err(Out::DeadLetter {
                reason: EXPLAIN_PANIC,
                ..
            })
        ));
        assert!(matches!(guarded(|| 7), Ok(7)));
    }

    #[test]
    fn views_the_producer_cannot_send_become_a_dead_letter() {
        let view = ExplainView {
            decision_id: "d-1".into(),
            request_id: "r-1".into(),
            function_id: "f".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:00".into(),
            decided_at: 1,
            ledger: dl_schema::LedgerRef {
                chain_id: "c".into(),
                sequence: 0,
                hash: "00".into(),
            },
            legal_basis: vec![],
            policy: dl_schema::ExplainPolicySource::Manifest,
            pseudonym_key_id: None,
            views: vec![],
        };
        let codec = dl_schema::explain_view_codec();
        let size = codec.encode(&view).unwrap().len();
        assert!(matches!(
            encoded(&codec, &view, size),
            Out::View { key, bytes } if key == "d-1" && bytes.len() == size
        ));
        assert!(matches!(
            encoded(&codec, &view, size - 1),
            Out::DeadLetter {
                reason: VIEW_TOO_LARGE,
                ..
            }
        ));
    }
}
