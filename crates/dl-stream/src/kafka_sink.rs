//! The transactional Kafka sink: a stage's output and the batch's consumed offsets commit in one
//! Kafka transaction (docs/adr/0003-exactly-once-pipeline.md).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use dl_kafka::dlq;
use dl_telemetry::Health;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{DeadLetters, StreamConfig, TransactionalSink};
use crate::source::{Polled, Source, Start, KAFKA_TIMEOUT};
use crate::{metrics, position, StreamError};

/// A stream processor whose output goes to Kafka, transactionally with its input offsets.
///
/// A stage is built afresh for every attempt of [`crate::supervise`]: whatever it holds in
/// memory (chain heads, caches) is dropped with a failed attempt.
pub trait KafkaStage {
    /// The stage's own failure; Kafka errors of [`KafkaTx`] convert into it.
    type Error: std::fmt::Display + From<KafkaError>;

    /// Turns one batch into output sent through `tx`. Everything sent, dead letters included,
    /// commits together with the batch's offsets; an error aborts all of it.
    fn process(&mut self, batch: &[OwnedMessage], tx: &mut KafkaTx<'_>) -> Result<(), Self::Error>;

    /// Runs when a poll found nothing; output sent through `tx` commits in a transaction of
    /// its own (the worker's idle checkpoints).
    fn idle(&mut self, _tx: &mut KafkaTx<'_>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Runs before every poll: a stage whose inputs stopped (a follower) ends the attempt.
    fn check(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Runs after a rebalance: state tied to the previous assignment must go.
    fn rebalanced(&mut self) {}

    /// Runs after a batch committed (count what is now durable).
    fn committed(&mut self) {}
}

/// One Kafka transaction, begun by its first record.
pub struct KafkaTx<'a> {
    producer: &'a ThreadedProducer<DefaultProducerContext>,
    dead_letters: &'a DeadLetters,
    dlq_budget: usize,
    open: bool,
    dead: BTreeMap<String, u64>,
}

impl<'a> KafkaTx<'a> {
    fn new(
        producer: &'a ThreadedProducer<DefaultProducerContext>,
        dead_letters: &'a DeadLetters,
        dlq_budget: usize,
    ) -> Self {
        Self {
            producer,
            dead_letters,
            dlq_budget,
            open: false,
            dead: BTreeMap::new(),
        }
    }

    fn begin(&mut self) -> Result<(), KafkaError> {
        if !self.open {
            self.producer.begin_transaction()?;
            self.open = true;
        }
        Ok(())
    }

    /// Produces `record` in the transaction, waiting while the local queue is full.
    pub fn send(&mut self, record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        self.begin()?;
        dl_kafka::send_waiting(self.producer, record, KAFKA_TIMEOUT)
    }

    /// Dead-letters `source` with the standard headers (reason `code`, `message`, source
    /// position, service); an oversized original is cut to fit (`dl_kafka::dlq::record`), so a
    /// dead letter can always be produced.
    pub fn dead_letter<M: Message>(
        &mut self,
        source: &M,
        code: &str,
        message: &str,
    ) -> Result<(), KafkaError> {
        let record = dlq::record(
            &self.dead_letters.topic,
            source,
            dlq::Reason {
                code,
                message,
                service: self.dead_letters.service,
            },
            self.dlq_budget,
        );
        self.send(record)?;
        *self.dead.entry(code.to_string()).or_default() += 1;
        Ok(())
    }

    /// Adds `offsets` (when given) and commits; returns the dead letters it carried per reason.
    fn commit(
        &mut self,
        offsets: Option<(
            &TopicPartitionList,
            &rdkafka::consumer::ConsumerGroupMetadata,
        )>,
    ) -> Result<BTreeMap<String, u64>, KafkaError> {
        if let Some((tpl, group)) = offsets {
            self.begin()?;
            self.producer
                .send_offsets_to_transaction(tpl, group, KAFKA_TIMEOUT)?;
        }
        if self.open {
            self.producer.commit_transaction(KAFKA_TIMEOUT)?;
            self.open = false;
        }
        Ok(std::mem::take(&mut self.dead))
    }
}

impl Drop for KafkaTx<'_> {
    /// A transaction not committed is aborted: nothing of a failed batch becomes visible.
    fn drop(&mut self) {
        if self.open {
            if let Err(e) = self.producer.abort_transaction(KAFKA_TIMEOUT) {
                tracing::warn!(error = %e, "aborting the transaction failed (the broker aborts it at the timeout or when the replica restarts)");
            }
        }
    }
}

/// Runs `stage` over `cfg`'s topics until `stop` is set (`Ok`) or something fails (`Err`; the
/// open transaction is aborted). Connecting initialises transactions, which fences this
/// replica's predecessor and aborts its unfinished transaction.
pub fn run_kafka<S: KafkaStage>(
    cfg: &StreamConfig,
    sink: &TransactionalSink,
    mut stage: S,
    stop: &AtomicBool,
    health: &Health,
) -> Result<(), StreamError<S::Error>> {
    let producer_config = sink.producer_config(&cfg.brokers);
    let producer: ThreadedProducer<DefaultProducerContext> = producer_config.create()?;
    producer.init_transactions(KAFKA_TIMEOUT)?;
    let dlq_budget = dlq::payload_budget(
        dlq::producer_max_message_bytes(&producer_config),
        sink.dead_letters.max_message_bytes,
    );
    let source = Source::subscribe(cfg, Start::Committed)?;
    source.require_topics(
        cfg.topics
            .iter()
            .map(String::as_str)
            .chain([sink.dead_letters.topic.as_str()]),
    )?;
    source.report_progress(health, true);
    while !stop.load(Ordering::Relaxed) {
        health.beat();
        stage.check().map_err(StreamError::Stage)?;
        let batch = match source.poll_batch() {
            Polled::Batch(batch) => batch,
            Polled::Idle => {
                let mut tx = KafkaTx::new(&producer, &sink.dead_letters, dlq_budget);
                stage.idle(&mut tx).map_err(StreamError::Stage)?;
                tx.commit(None)?;
                source.report_progress(health, false);
                continue;
            }
            Polled::Rebalanced { dropped } => {
                stage.rebalanced();
                if dropped > 0 {
                    source.rewind()?;
                }
                continue;
            }
        };
        let started = Instant::now();
        let next = position::next_offsets(&batch);
        let mut tx = KafkaTx::new(&producer, &sink.dead_letters, dlq_budget);
        let committed = stage
            .process(&batch, &mut tx)
            .map_err(StreamError::Stage)
            .and_then(|()| {
                let mut tpl = TopicPartitionList::new();
                for ((topic, partition), offset) in &next {
                    tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
                }
                let group = source
                    .consumer()
                    .group_metadata()
                    .ok_or(KafkaError::Subscription(
                        "no consumer group metadata".into(),
                    ))?;
                Ok(tx.commit(Some((&tpl, &group)))?)
            });
        let dead = match committed {
            Ok(dead) => dead,
            Err(e) => {
                metrics::batch_failed(cfg.metrics);
                return Err(e);
            }
        };
        drop(tx);
        stage.committed();
        source.report_progress(health, false);
        metrics::batch_done(cfg.metrics, batch.len(), started.elapsed());
        metrics::dead_letters(cfg.metrics, &dead);
    }
    Ok(())
}
