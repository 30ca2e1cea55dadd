//! The one consume → batch → sink mechanism of Decision Layer (ADR 0020).
//!
//! Every stream processor of the product (the worker, the explainer, the ledger, registry and
//! explanation-view projections) is a *stage*, a function from a batch of consumed messages to
//! output, plus one of two sinks this crate owns:
//!
//! - the **transactional Kafka sink** ([`run_kafka`], [`KafkaStage`]): everything the stage
//!   produces for a batch (results, ledger records, views, dead letters) and the batch's consumed
//!   offsets commit in one Kafka transaction;
//! - the **PostgreSQL sink** ([`run_pg`], [`PgStage`]): the stage's rows and the batch's next
//!   offsets (table `projector_offsets`) commit in one database transaction, and messages below
//!   the stored offsets are never written again.
//!
//! The crate also owns subscribing with rebalance handling ([`source`]), batch collection
//! ([`BatchPolicy`]), dead-letter production with the standard headers ([`KafkaTx::dead_letter`]),
//! the one recovery strategy ([`supervise`]: any failure drops consumer, producer and stage, and
//! a new attempt starts from the committed or stored offsets after a backoff) and the metrics
//! every loop needs ([`describe_metrics`]).
//!
//! Stages are synchronous; the PostgreSQL sink drives its queries on a Tokio runtime handle.

mod config;
mod kafka_sink;
mod metrics;
mod pg_sink;
pub mod position;
pub mod readiness;
pub mod source;
mod supervise;

pub use config::{BatchPolicy, DeadLetters, StreamConfig, TransactionalSink, MAX_POLL_INTERVAL_MS};
pub use kafka_sink::{run_kafka, CommitBarrier, KafkaStage, KafkaTx};
pub use metrics::describe_metrics;
pub use pg_sink::{run_pg, stored_offsets, PgStage};
pub use supervise::{supervise, Recovery};

/// Why a stream stopped. The stage's own errors are carried unchanged, so a caller's
/// [`supervise`] recovery can tell them apart (a replay store outage, an expired key).
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E> {
    /// The stage failed.
    #[error("{0}")]
    Stage(E),
    /// The broker or the Kafka client failed (connecting, polling, producing, committing).
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// PostgreSQL failed (reading or storing offsets, committing).
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// A topic the stream reads or writes does not exist.
    #[error("topic {0} does not exist: run `dlctl topology apply`")]
    MissingTopic(String),
}
