//! The transactional Kafka sink: a stage's output and the batch's consumed offsets commit in one
//! Kafka transaction (docs/adr/0003-exactly-once-pipeline.md).
//!
//! Two threads share an attempt, so that deciding overlaps committing:
//!
//! - the **stage thread** (the caller's) polls a batch and runs [`KafkaStage::process`], which
//!   buffers the batch's output in a [`KafkaTx`], and leaves the sealed transaction at the
//!   [`CommitBarrier`]; batches decided while the committer is busy are merged into the one
//!   transaction waiting there (up to four batches' worth), so transactions grow with the load;
//! - the **committer thread**, which alone owns the producer, takes the waiting transaction,
//!   produces its records, adds its offsets and commits, one transaction at a time, in order.
//!
//! Why this keeps exactly-once (ADR 0003, "Overlapping batches"): a stage's in-memory state (the
//! worker's chain heads) advances in the order batches are decided, which is the order their
//! records are produced and committed; any failure, on either thread, ends the attempt, so a
//! batch built on an uncommitted predecessor is never committed without it, and the next attempt
//! rebuilds the state from what was committed. A revocation waits, inside the rebalance
//! callback, until nothing is waiting or committing ([`CommitBarrier::wait_drained`]), so the
//! partitions' next owner starts after them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use dl_kafka::dlq;
use dl_telemetry::Health;
use rdkafka::consumer::{Consumer, ConsumerGroupMetadata};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{DeadLetters, StreamConfig, TransactionalSink};
use crate::readiness::Progress;
use crate::source::{Polled, Source, Start, KAFKA_TIMEOUT};
use crate::{metrics, position, StreamError};

/// A stream processor whose output goes to Kafka, transactionally with its input offsets.
///
/// A stage is built afresh for every attempt of [`crate::supervise`]: whatever it holds in
/// memory (chain heads, caches) is dropped with a failed attempt. Its hooks all run on the stage
/// thread; output is produced and committed on the committer thread after `process` returns.
pub trait KafkaStage {
    /// The stage's own failure; Kafka errors convert into it.
    type Error: std::fmt::Display + From<KafkaError>;

    /// Turns one batch into output buffered in `tx`. Everything buffered, dead letters
    /// included, commits together with the batch's offsets; an error ends the attempt and
    /// nothing of the batch is produced. State the stage advances here must only be built on
    /// by later batches (they commit after this one, or not at all).
    fn process(&mut self, batch: &[OwnedMessage], tx: &mut KafkaTx<'_>) -> Result<(), Self::Error>;

    /// Runs when a poll found nothing; output buffered in `tx` commits in a transaction of its
    /// own (the worker's idle checkpoints).
    fn idle(&mut self, _tx: &mut KafkaTx<'_>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Runs before every poll: a stage whose inputs stopped (a follower) ends the attempt.
    fn check(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Runs after a rebalance, once every transaction handed over has committed: state tied
    /// to the previous assignment must go.
    fn rebalanced(&mut self) {}
}

/// One record of a transaction, owned until the committer produces it.
struct Outgoing {
    topic: String,
    partition: Option<i32>,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
}

/// Work run by the committer after a transaction committed (counting what is now durable).
type AfterCommit = Box<dyn FnOnce() + Send>;

/// The output of one transaction, buffered by the stage and produced by the committer.
pub struct KafkaTx<'a> {
    dead_letters: &'a DeadLetters,
    dlq_budget: usize,
    records: Vec<Outgoing>,
    dead: BTreeMap<String, u64>,
    after_commit: Vec<AfterCommit>,
}

impl<'a> KafkaTx<'a> {
    fn new(dead_letters: &'a DeadLetters, dlq_budget: usize) -> Self {
        Self {
            dead_letters,
            dlq_budget,
            records: Vec::new(),
            dead: BTreeMap::new(),
            after_commit: Vec::new(),
        }
    }

    /// Adds `record` to the transaction (its topic, partition, key, payload and headers).
    pub fn send(&mut self, record: BaseRecord<'_, [u8], [u8]>) {
        self.records.push(Outgoing {
            topic: record.topic.to_string(),
            partition: record.partition,
            key: record.key.map(<[u8]>::to_vec),
            payload: record.payload.map(<[u8]>::to_vec).unwrap_or_default(),
            headers: record.headers,
        });
    }

    /// Dead-letters `source` with the standard headers (reason `code`, `message`, source
    /// position, service); an oversized original is cut to fit (`dl_kafka::dlq::record`), so a
    /// dead letter can always be produced.
    pub fn dead_letter<M: Message>(&mut self, source: &M, code: &str, message: &str) {
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
        self.send(record);
        *self.dead.entry(code.to_string()).or_default() += 1;
    }

    /// Runs `work` on the committer thread once this transaction has committed, never if it
    /// fails (count what became durable).
    pub fn after_commit(&mut self, work: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(work));
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.after_commit.is_empty()
    }

    fn seal(self, offsets: Option<Offsets>, batch: Option<(usize, Instant)>) -> Sealed {
        Sealed {
            records: self.records,
            dead: self.dead,
            after_commit: self.after_commit,
            offsets,
            batch,
        }
    }
}

/// A batch's next offsets and the consumer group's metadata, committed with its output.
struct Offsets {
    next: TopicPartitionList,
    group: ConsumerGroupMetadata,
}

/// A transaction handed to the committer.
struct Sealed {
    records: Vec<Outgoing>,
    dead: BTreeMap<String, u64>,
    after_commit: Vec<AfterCommit>,
    offsets: Option<Offsets>,
    /// Messages of the batch and when its collection ended (`None`: an idle transaction).
    batch: Option<(usize, Instant)>,
}

impl Sealed {
    /// Messages of the batches in this transaction.
    fn messages(&self) -> usize {
        self.batch.map_or(0, |(n, _)| n)
    }

    /// Appends `later` (decided after this one, built on it): one transaction with both
    /// outputs and the later offsets.
    fn merge(&mut self, later: Sealed) -> Result<(), KafkaError> {
        self.records.extend(later.records);
        for (code, n) in later.dead {
            *self.dead.entry(code).or_default() += n;
        }
        self.after_commit.extend(later.after_commit);
        self.offsets = match (self.offsets.take(), later.offsets) {
            (Some(mut first), Some(second)) => {
                for e in second.next.elements() {
                    match first.next.find_partition(e.topic(), e.partition()) {
                        Some(_) => {
                            first
                                .next
                                .set_partition_offset(e.topic(), e.partition(), e.offset())?
                        }
                        None => {
                            first
                                .next
                                .add_partition_offset(e.topic(), e.partition(), e.offset())?
                        }
                    }
                }
                Some(Offsets {
                    next: first.next,
                    group: second.group,
                })
            }
            (first, second) => second.or(first),
        };
        self.batch = match (self.batch, later.batch) {
            (Some((n, at)), Some((m, _))) => Some((n + m, at)),
            (first, second) => first.or(second),
        };
        Ok(())
    }
}

/// Where the stage thread leaves transactions and the committer takes them. While the
/// committer commits, batches decided meanwhile are merged into the one waiting transaction,
/// so transactions grow with the load and a quiet stream commits every batch at once.
/// A revocation waits until nothing is waiting or committing.
#[derive(Default)]
pub struct CommitBarrier {
    state: Mutex<HandOver>,
    changed: Condvar,
}

#[derive(Default)]
struct HandOver {
    waiting: Option<Sealed>,
    committing: bool,
    /// The stage thread hung up: commit what waits, then stop.
    closed: bool,
    /// The committer failed and stopped.
    failed: bool,
}

impl CommitBarrier {
    /// Leaves `tx` for the committer, merged into the transaction already waiting; blocks while
    /// that one holds `most` messages. `false`: the committer has stopped.
    fn submit(&self, tx: Sealed, most: usize) -> Result<bool, KafkaError> {
        let mut s = self.lock();
        while !s.failed && s.waiting.as_ref().is_some_and(|w| w.messages() >= most) {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.failed {
            return Ok(false);
        }
        match &mut s.waiting {
            Some(waiting) => waiting.merge(tx)?,
            None => s.waiting = Some(tx),
        }
        self.changed.notify_all();
        Ok(true)
    }

    /// The next transaction to commit; `None` once the stage thread hung up and nothing waits.
    fn take(&self) -> Option<Sealed> {
        let mut s = self.lock();
        loop {
            if let Some(tx) = s.waiting.take() {
                s.committing = true;
                self.changed.notify_all();
                return Some(tx);
            }
            if s.closed {
                return None;
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn committed(&self, ok: bool) {
        let mut s = self.lock();
        s.committing = false;
        s.failed |= !ok;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Blocks until every transaction handed over has committed or failed.
    pub fn wait_drained(&self) {
        let mut s = self.lock();
        while !s.failed && (s.committing || s.waiting.is_some()) {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HandOver> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Produces and commits the transactions handed over, in order, until the stage thread hangs
/// up or one fails (its transaction is aborted; the attempt ends).
fn commit_loop(
    producer: &ThreadedProducer<DefaultProducerContext>,
    barrier: &CommitBarrier,
    prefix: &'static str,
    progress: &Progress,
) -> Result<(), KafkaError> {
    while let Some(tx) = barrier.take() {
        let batch = tx.offsets.is_some();
        let result = commit_one(producer, tx, prefix);
        barrier.committed(result.is_ok());
        if batch && result.is_ok() {
            progress.batch_done();
        }
        if let Err(e) = result {
            metrics::batch_failed(prefix);
            if let Err(abort) = producer.abort_transaction(KAFKA_TIMEOUT) {
                tracing::warn!(error = %abort, "aborting the transaction failed (the broker aborts it at the timeout or when the replica restarts)");
            }
            return Err(e);
        }
    }
    Ok(())
}

fn commit_one(
    producer: &ThreadedProducer<DefaultProducerContext>,
    tx: Sealed,
    prefix: &'static str,
) -> Result<(), KafkaError> {
    if tx.records.is_empty() && tx.offsets.is_none() {
        tx.after_commit.into_iter().for_each(|work| work());
        return Ok(());
    }
    let started = Instant::now();
    producer.begin_transaction()?;
    for Outgoing {
        topic,
        partition,
        key,
        payload,
        headers,
    } in tx.records
    {
        let mut record = BaseRecord::to(&topic).payload(&payload[..]);
        record.partition = partition;
        record.key = key.as_deref();
        record.headers = headers;
        dl_kafka::send_waiting(producer, record, KAFKA_TIMEOUT)?;
    }
    if let Some(o) = &tx.offsets {
        producer.send_offsets_to_transaction(&o.next, &o.group, KAFKA_TIMEOUT)?;
    }
    wait_delivered(producer)?;
    producer.commit_transaction(KAFKA_TIMEOUT)?;
    metrics::commit_done(prefix, started.elapsed());
    if let Some((messages, collected)) = tx.batch {
        metrics::batch_done(prefix, messages, collected.elapsed());
    }
    metrics::dead_letters(prefix, &tx.dead);
    tx.after_commit.into_iter().for_each(|work| work());
    Ok(())
}

/// Waits until every record produced is acknowledged, so that `commit_transaction` finds
/// nothing to flush. Its own flush polls in steps of up to 100 ms while the producer's thread
/// takes the delivery reports, which put ~100 ms on every commit of an idle stream (issue 11,
/// BENCHMARKS.md).
fn wait_delivered(producer: &ThreadedProducer<DefaultProducerContext>) -> Result<(), KafkaError> {
    let deadline = Instant::now() + KAFKA_TIMEOUT;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
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
    let barrier = Arc::new(CommitBarrier::default());
    let source = Source::subscribe(cfg, Start::Committed, Some(barrier.clone()))?;
    source.require_topics(
        cfg.topics
            .iter()
            .map(String::as_str)
            .chain([sink.dead_letters.topic.as_str()]),
    )?;
    let _readiness = source.report_readiness(health);
    // A waiting transaction takes at most this many messages before the stage thread waits.
    let most = cfg.batch.max.saturating_mul(4).max(1);
    std::thread::scope(|scope| {
        let progress = source.progress();
        let committer = scope.spawn(|| commit_loop(&producer, &barrier, cfg.metrics, progress));
        // Hands a transaction to the committer; `false` when it has stopped (its error is
        // collected when it is joined).
        let submit = |tx: Sealed| barrier.submit(tx, most);
        let staged = (|| {
            while !stop.load(Ordering::Relaxed) {
                health.beat();
                stage.check().map_err(StreamError::Stage)?;
                let batch = match source.poll_batch() {
                    Polled::Batch(batch) => batch,
                    Polled::Idle => {
                        let mut tx = KafkaTx::new(&sink.dead_letters, dlq_budget);
                        stage.idle(&mut tx).map_err(StreamError::Stage)?;
                        if !tx.is_empty() && !submit(tx.seal(None, None))? {
                            return Ok(());
                        }
                        continue;
                    }
                    Polled::Rebalanced { dropped } => {
                        barrier.wait_drained();
                        stage.rebalanced();
                        if dropped > 0 {
                            source.rewind()?;
                        }
                        continue;
                    }
                };
                let collected = Instant::now();
                let mut next = TopicPartitionList::new();
                for ((topic, partition), offset) in position::next_offsets(&batch) {
                    next.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
                }
                let group = source
                    .consumer()
                    .group_metadata()
                    .ok_or(KafkaError::Subscription(
                        "no consumer group metadata".into(),
                    ))?;
                let mut tx = KafkaTx::new(&sink.dead_letters, dlq_budget);
                if let Err(e) = stage.process(&batch, &mut tx) {
                    metrics::batch_failed(cfg.metrics);
                    return Err(StreamError::Stage(e));
                }
                let offsets = Offsets { next, group };
                if !submit(tx.seal(Some(offsets), Some((batch.len(), collected))))? {
                    return Ok(());
                }
            }
            Ok(())
        })();
        barrier.close();
        let committed = committer
            .join()
            .unwrap_or_else(|_| Err(KafkaError::Canceled));
        staged?;
        committed.map_err(StreamError::from)
    })
}
