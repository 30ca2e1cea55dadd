//! What a stream reads, how it batches, and where its transactional output goes.

use std::time::Duration;

/// How a batch is collected: the first message is waited for up to `idle` (then the stage's
/// idle hook runs); after it, only messages the client already fetched are added, up to `max`
/// messages and for at most `linger` (natural batching: no fixed wait when the input is quiet,
/// large transactions under load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most messages per batch (one transaction).
    pub max: usize,
    /// Longest time spent collecting once the first message is in.
    pub linger: Duration,
    /// Longest wait for a first message before the poll counts as idle.
    pub idle: Duration,
}

/// `max.poll.interval.ms` of every stream (5 minutes, librdkafka's default, chosen rather than
/// inherited): the worker's batch waits inside the stage for Redis or the KMS to come back
/// (failing closed, readiness blocked meanwhile) instead of failing, and such a wait must not
/// cost the member its partitions and the group a rebalance; a member stuck longer than this is
/// expelled and its partitions move. Readiness reports a stuck member long before
/// ([`crate::readiness::STALL_AFTER`]).
pub const MAX_POLL_INTERVAL_MS: u64 = 300_000;

/// One stream: its consumer group, topics, batching and names.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Name of the stream in logs, and its readiness blocker.
    pub name: &'static str,
    /// Prefix of the stream's metrics (`dl_worker` gives `dl_worker_batch_seconds`, …).
    pub metrics: &'static str,
    /// Kafka bootstrap servers (further librdkafka settings: `KAFKA_<PROPERTY>`).
    pub brokers: String,
    /// Consumer group; the PostgreSQL sink also stores its offsets under this name.
    pub group: String,
    /// Topics consumed.
    pub topics: Vec<String>,
    /// Batching.
    pub batch: BatchPolicy,
    /// Consumer session timeout (the heartbeat is a fifth of it).
    pub session_timeout_ms: u64,
    /// Further consumer settings of this stream (e.g. `fetch.message.max.bytes`).
    pub consumer_settings: Vec<(&'static str, String)>,
}

impl StreamConfig {
    /// The stream's librdkafka consumer configuration: manual offsets, `read_committed`, eager
    /// range assignment (the rebalance handling of [`crate::source`] assumes eager protocols),
    /// empty fetches held at most 10 ms unless `KAFKA_FETCH_WAIT_MAX_MS` says otherwise, and
    /// the group timeouts set deliberately (docs/reliability.md, "Consumer group timeouts"):
    ///
    /// - `session.timeout.ms` = [`StreamConfig::session_timeout_ms`] (6 s by default in every
    ///   service): how long a member killed with `kill -9` keeps its partitions, and so how long
    ///   its restarted successor is not ready. 6 s is Apache Kafka's smallest allowed
    ///   (`group.min.session.timeout.ms`); librdkafka's 45 s default held a dead projector's
    ///   partitions for most of the 82 s of issue 16.
    /// - `heartbeat.interval.ms` = a fifth of it (at least 500 ms): five heartbeats per session,
    ///   so one or two lost to a busy machine do not expel a live member.
    /// - `max.poll.interval.ms` = [`MAX_POLL_INTERVAL_MS`]: a live member that does not poll
    ///   for this long leaves the group.
    pub fn consumer_config(&self) -> rdkafka::ClientConfig {
        let mut config = dl_kafka::client_config(&self.brokers);
        config
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout_ms / 5).max(500).to_string(),
            )
            .set(
                "max.poll.interval.ms",
                MAX_POLL_INTERVAL_MS
                    .max(self.session_timeout_ms)
                    .to_string(),
            )
            .set("queued.max.messages.kbytes", "16384")
            .set("statistics.interval.ms", "5000");
        // How long the broker may hold a fetch that found nothing. Kafka answers as soon as a
        // record arrives, but the local test broker holds an empty fetch for the whole wait, so
        // librdkafka's 500 ms default put ~250 ms on every decision of an idle stream
        // (BENCHMARKS.md, issue 11). 10 ms costs at most 100 empty fetches a second per broker
        // when idle. `KAFKA_FETCH_WAIT_MAX_MS` overrides it.
        if config.get("fetch.wait.max.ms").is_none() {
            config.set("fetch.wait.max.ms", "10");
        }
        for (key, value) in &self.consumer_settings {
            config.set(*key, value);
        }
        config
    }
}

/// Where dead letters go, and who writes them.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    /// The dead-letter topic.
    pub topic: String,
    /// The service named in the `dl-dlq-service` header.
    pub service: &'static str,
    /// The dead-letter topic's `max.message.bytes` (a dead letter is cut to fit it and the
    /// producer's limit: `dl_kafka::dlq::payload_budget`).
    pub max_message_bytes: usize,
}

/// The transactional producer of a [`crate::KafkaStage`] stream.
#[derive(Debug, Clone)]
pub struct TransactionalSink {
    /// `transactional.id`: one per replica, so a restarted replica fences its predecessor and
    /// aborts its unfinished transaction.
    pub transactional_id: String,
    /// `transaction.timeout.ms` (`None`: librdkafka's default).
    pub transaction_timeout_ms: Option<u64>,
    /// Dead-letter destination.
    pub dead_letters: DeadLetters,
    /// Further producer settings of this stream (e.g. `queue.buffering.max.messages`).
    pub producer_settings: Vec<(&'static str, String)>,
}

impl TransactionalSink {
    /// The producer configuration: idempotent, transactional, lz4, 1 ms linger (a transaction
    /// is produced all at once, so records batch without waiting).
    pub fn producer_config(&self, brokers: &str) -> rdkafka::ClientConfig {
        let mut config = dl_kafka::client_config(brokers);
        config
            .set("transactional.id", &self.transactional_id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .set("compression.type", "lz4");
        if let Some(ms) = self.transaction_timeout_ms {
            config.set("transaction.timeout.ms", ms.to_string());
        }
        for (key, value) in &self.producer_settings {
            config.set(*key, value);
        }
        config
    }
}
