//! Subscribing, rebalances and batch collection.
//!
//! The consumer's context notes every rebalance. A batch collected across a rebalance is
//! dropped and the consumer is moved back to where the stream starts (the group's committed
//! offsets, or the stream's own positions for a PostgreSQL sink): its messages may belong to
//! revoked partitions, and the positions of the new assignment may already be past some of them,
//! which would otherwise be skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::OwnedMessage;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::config::{BatchPolicy, StreamConfig};
use crate::kafka_sink::CommitBarrier;
use crate::position::{self, Positions};
use crate::readiness::{self, Progress};
use crate::StreamError;

/// Timeout of the consumer's broker requests (metadata, committed offsets, seeks).
pub const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);

/// Where assigned partitions are read from.
#[derive(Debug, Clone)]
pub enum Start {
    /// The group's committed offsets (a transactional Kafka sink commits them).
    Committed,
    /// The stream's own positions (a PostgreSQL sink: loaded from the database, then moved
    /// forward after every commit); a partition without one starts at the beginning.
    Positions(Arc<Mutex<Positions>>),
}

impl Start {
    fn positions(&self) -> Option<Positions> {
        match self {
            Start::Committed => None,
            Start::Positions(p) => Some(p.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        }
    }
}

/// Consumer context: positions assigned partitions per [`Start`], notes every rebalance (and
/// the assignment in the stream's [`Progress`]) and publishes the consumer lag from librdkafka's
/// statistics.
pub struct StreamContext {
    name: &'static str,
    metrics: &'static str,
    start: Start,
    rebalanced: AtomicBool,
    barrier: Option<Arc<CommitBarrier>>,
    progress: Arc<Progress>,
}

impl ClientContext for StreamContext {
    /// `<prefix>_lag_messages{partition}`: messages between the consumer's position and the
    /// partition's readable end, as librdkafka last saw them (`statistics.interval.ms`); the
    /// total over the held partitions goes to the stream's readiness.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut lags = Vec::new();
        for (name, topic) in &statistics.topics {
            for (partition, p) in &topic.partitions {
                if *partition < 0 || !self.progress.holds(name, *partition) {
                    continue;
                }
                let lag =
                    readiness::partition_lag(p.ls_offset, p.hi_offset, p.app_offset, p.next_offset);
                if let Some(lag) = lag {
                    metrics::gauge!(format!("{}_lag_messages", self.metrics), "partition" => partition.to_string())
                        .set(lag as f64);
                }
                lags.push(lag);
            }
        }
        self.progress.lag(readiness::total_lag(lags));
    }
}

impl ConsumerContext for StreamContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        // Eager protocols only (`partition.assignment.strategy=range`): an assignment replaces
        // the previous one, a revocation drops it.
        let done = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Some(positions) = self.start.positions() {
                    let assigned: Vec<(String, i32)> = tpl
                        .elements()
                        .iter()
                        .map(|e| (e.topic().to_string(), e.partition()))
                        .collect();
                    for (topic, partition) in assigned {
                        let offset = position::start_offset(&positions, &topic, partition);
                        if let Err(err) = tpl.set_partition_offset(&topic, partition, offset) {
                            tracing::warn!(stream = self.name, error = %err, partition, "setting a start offset failed");
                        }
                    }
                }
                tracing::info!(
                    stream = self.name,
                    partitions = tpl.count(),
                    "partitions assigned"
                );
                let done = consumer.assign(tpl);
                if done.is_ok() {
                    self.progress.assigned(
                        tpl.elements()
                            .iter()
                            .map(|e| (e.topic().to_string(), e.partition())),
                    );
                }
                done
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // The partitions' next owner starts from their committed offsets: every
                // transaction already handed to the committer must be in them first.
                if let Some(barrier) = &self.barrier {
                    barrier.wait_drained();
                }
                tracing::info!(
                    stream = self.name,
                    partitions = tpl.count(),
                    "partitions revoked"
                );
                self.progress.revoked();
                consumer.unassign()
            }
            other => {
                tracing::warn!(stream = self.name, error = ?other, "rebalance error");
                self.progress.revoked();
                consumer.unassign()
            }
        };
        if let Err(e) = done {
            tracing::warn!(stream = self.name, error = %e, "applying a rebalance failed");
        }
        self.rebalanced.store(true, Ordering::SeqCst);
    }
}

/// What one collection returned.
#[derive(Debug)]
pub enum Polled {
    /// Messages, in partition order.
    Batch(Vec<OwnedMessage>),
    /// Nothing arrived within the idle wait.
    Idle,
    /// The assignment changed; the collected messages (`dropped`) were discarded.
    Rebalanced {
        /// How many messages were discarded.
        dropped: usize,
    },
}

/// A subscribed consumer that collects batches.
pub struct Source {
    consumer: BaseConsumer<StreamContext>,
    policy: BatchPolicy,
    name: &'static str,
    progress: Arc<Progress>,
}

impl Source {
    /// Creates the consumer of `cfg` and subscribes to its topics. A revocation waits at
    /// `barrier` (when given) until the transactions in flight have committed or failed.
    pub fn subscribe<E>(
        cfg: &StreamConfig,
        start: Start,
        barrier: Option<Arc<CommitBarrier>>,
    ) -> Result<Self, StreamError<E>> {
        let progress = Progress::new();
        let consumer: BaseConsumer<StreamContext> =
            cfg.consumer_config().create_with_context(StreamContext {
                name: cfg.name,
                metrics: cfg.metrics,
                start,
                rebalanced: AtomicBool::new(false),
                barrier,
                progress: progress.clone(),
            })?;
        let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Self {
            consumer,
            policy: cfg.batch,
            name: cfg.name,
            progress,
        })
    }

    /// Fails with [`StreamError::MissingTopic`] unless every topic of `topics` exists.
    pub fn require_topics<'a, E>(
        &self,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StreamError<E>> {
        let metadata = self.consumer.fetch_metadata(None, KAFKA_TIMEOUT)?;
        for topic in topics {
            if !metadata.topics().iter().any(|t| t.name() == topic) {
                return Err(StreamError::MissingTopic(topic.to_string()));
            }
        }
        Ok(())
    }

    /// Makes the stream's readiness truthful for this attempt ([`crate::readiness`]): installs
    /// the check that `/readyz` evaluates (not ready until the first assignment, nor while
    /// stalled) and clears the blocker of a failed previous attempt. When the returned guard is
    /// dropped (the attempt ends, however), the check gives way to a blocker until the next
    /// attempt installs its own.
    pub fn report_readiness<'h>(&self, health: &'h dl_telemetry::Health) -> ReadinessGuard<'h> {
        let progress = self.progress.clone();
        health.set_check(self.name, Some(Arc::new(move || progress.blocker())));
        health.set_blocker(self.name, None);
        ReadinessGuard {
            health,
            name: self.name,
        }
    }

    /// The stream's readiness state (the committing code reports completed batches to it).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// The consumer (group metadata for transactional offsets, monitoring commits).
    pub fn consumer(&self) -> &BaseConsumer<StreamContext> {
        &self.consumer
    }

    /// Collects one batch under the stream's [`BatchPolicy`].
    pub fn poll_batch(&self) -> Polled {
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        while batch.len() < self.policy.max {
            // Natural batching: after the first message, take only what the client already
            // fetched; a lone request is not held back, and under load the batch grows by
            // whatever arrived while the previous one committed.
            let wait = match deadline {
                None => self.policy.idle,
                Some(_) => Duration::ZERO,
            };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => {
                    batch.push(m.detach());
                    deadline.get_or_insert_with(|| Instant::now() + self.policy.linger);
                }
                Some(Err(e)) => {
                    tracing::warn!(stream = self.name, error = %e, "consumer error");
                    break;
                }
                None => break,
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        if self
            .consumer
            .context()
            .rebalanced
            .swap(false, Ordering::SeqCst)
        {
            return Polled::Rebalanced {
                dropped: batch.len(),
            };
        }
        if batch.is_empty() {
            Polled::Idle
        } else {
            Polled::Batch(batch)
        }
    }

    /// Moves every assigned partition back to where the stream starts: the committed offsets
    /// ([`Start::Committed`]) or the stream's positions. A failure is returned, never skipped
    /// over: the caller drops the stream and starts again.
    pub fn rewind(&self) -> KafkaResult<()> {
        let targets: Vec<(String, i32, Offset)> = match self.consumer.context().start.positions() {
            None => self
                .consumer
                .committed(KAFKA_TIMEOUT)?
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) => Offset::Offset(o),
                        _ => Offset::Beginning,
                    };
                    (e.topic().to_string(), e.partition(), offset)
                })
                .collect(),
            Some(positions) => self
                .consumer
                .assignment()?
                .elements()
                .iter()
                .map(|e| {
                    let offset = position::start_offset(&positions, e.topic(), e.partition());
                    (e.topic().to_string(), e.partition(), offset)
                })
                .collect(),
        };
        for (topic, partition, offset) in targets {
            self.consumer
                .seek(&topic, partition, offset, KAFKA_TIMEOUT)?;
        }
        Ok(())
    }
}

/// The readiness check of one attempt ([`Source::report_readiness`]).
pub struct ReadinessGuard<'h> {
    health: &'h dl_telemetry::Health,
    name: &'static str,
}

impl Drop for ReadinessGuard<'_> {
    fn drop(&mut self) {
        // Blocker first: no moment without either.
        self.health
            .set_blocker(self.name, Some("the stream's attempt ended".into()));
        self.health.set_check(self.name, None);
    }
}
