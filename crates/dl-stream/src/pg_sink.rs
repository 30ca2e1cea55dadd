//! The PostgreSQL sink: a stage's rows and the batch's next offsets commit in one database
//! transaction (table `projector_offsets`, per consumer group, topic and partition).
//!
//! Inside that transaction the stored offsets of the batch's topics are locked (`FOR UPDATE`)
//! and every message below them is a redelivery: it is handed to [`PgStage::replayed`], never
//! written again. So a crash, a rebalance or a second replica of the group can re-deliver any
//! message without a row being written twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dl_telemetry::Health;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::{PgConnection, PgPool};

use crate::config::StreamConfig;
use crate::position::{self, Positions};
use crate::source::{Polled, Source, Start};
use crate::{metrics, StreamError};

/// A stream processor whose output is rows in PostgreSQL.
///
/// Like a [`crate::KafkaStage`], a stage is built afresh for every attempt.
#[allow(async_fn_in_trait)] // driven by `Handle::block_on`: the futures need not be `Send`
pub trait PgStage {
    /// The stage's own failure; database errors convert into it.
    type Error: std::fmt::Display + From<sqlx::Error>;

    /// Whether the stream reads its topics from the beginning on every start, handing what is
    /// already written to [`replayed`](Self::replayed) (a stage that folds state in memory,
    /// like the registry), instead of from the stored offsets.
    fn reads_from_beginning(&self) -> bool {
        false
    }

    /// A message already written by an earlier batch, in topic order, before the batch's new
    /// messages. Stages that keep no state ignore it.
    fn replayed(&mut self, _message: &OwnedMessage) {}

    /// Writes the rows of `fresh` (the batch's messages not yet written, in topic order per
    /// partition) with `tx`; the sink then stores the next offsets and commits.
    async fn write(
        &mut self,
        tx: &mut PgConnection,
        fresh: &[&OwnedMessage],
    ) -> Result<(), Self::Error>;

    /// Runs after a batch committed.
    fn committed(&mut self) {}
}

/// The next offsets stored for `group` on `topics`.
pub async fn stored_offsets(
    pool: &PgPool,
    group: &str,
    topics: &[String],
) -> Result<Positions, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, kafka_partition, next_offset FROM projector_offsets
         WHERE consumer_group = $1 AND topic = ANY($2)",
    )
    .bind(group)
    .bind(topics)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

/// Writes one batch: locks the stored offsets, splits redeliveries from new messages, lets the
/// stage write, stores the next offsets, commits. Returns the number of redeliveries.
async fn write_batch<S: PgStage>(
    pool: &PgPool,
    group: &str,
    stage: &mut S,
    batch: &[OwnedMessage],
    next: &BTreeMap<(String, i32), i64>,
) -> Result<u64, StreamError<S::Error>> {
    let mut tx = pool.begin().await?;
    let topics: Vec<String> = next.keys().map(|(t, _)| t.clone()).collect();
    let stored: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, kafka_partition, next_offset FROM projector_offsets
         WHERE consumer_group = $1 AND topic = ANY($2) FOR UPDATE",
    )
    .bind(group)
    .bind(&topics)
    .fetch_all(&mut *tx)
    .await?;
    let stored: Positions = stored.into_iter().map(|(t, p, o)| ((t, p), o)).collect();
    let mut fresh = Vec::with_capacity(batch.len());
    let mut replayed = 0;
    for m in batch {
        use rdkafka::message::Message;
        if position::is_replayed(&stored, m.topic(), m.partition(), m.offset()) {
            stage.replayed(m);
            replayed += 1;
        } else {
            fresh.push(m);
        }
    }
    stage
        .write(&mut tx, &fresh)
        .await
        .map_err(StreamError::Stage)?;
    // One statement for every partition of the batch: each round trip inside the transaction
    // holds its locks longer, and costs most on a busy machine.
    let (mut next_topics, mut partitions, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
    for ((topic, partition), offset) in next {
        next_topics.push(topic.as_str());
        partitions.push(*partition);
        offsets.push(*offset);
    }
    sqlx::query(
        "INSERT INTO projector_offsets (consumer_group, topic, kafka_partition, next_offset)
         SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS n(t, p, o)
         ON CONFLICT (consumer_group, topic, kafka_partition)
         DO UPDATE SET next_offset = GREATEST(projector_offsets.next_offset, EXCLUDED.next_offset)",
    )
    .bind(group)
    .bind(&next_topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(replayed)
}

/// Runs `stage` over `cfg`'s topics into `pool` until `stop` is set (`Ok`) or something fails
/// (`Err`; the open database transaction is rolled back). Database work runs on `runtime`.
pub fn run_pg<S: PgStage>(
    cfg: &StreamConfig,
    pool: &PgPool,
    runtime: &tokio::runtime::Handle,
    mut stage: S,
    stop: &AtomicBool,
    health: &Health,
) -> Result<(), StreamError<S::Error>> {
    let start: Positions = if stage.reads_from_beginning() {
        Positions::new()
    } else {
        runtime.block_on(stored_offsets(pool, &cfg.group, &cfg.topics))?
    };
    let positions = Arc::new(Mutex::new(start));
    let source = Source::subscribe(cfg, Start::Positions(positions.clone()), None)?;
    source.require_topics(cfg.topics.iter().map(String::as_str))?;
    let _readiness = source.report_readiness(health);
    while !stop.load(Ordering::Relaxed) {
        health.beat();
        let batch = match source.poll_batch() {
            Polled::Batch(batch) => batch,
            Polled::Idle => continue,
            Polled::Rebalanced { dropped } => {
                if dropped > 0 {
                    source.rewind()?;
                }
                continue;
            }
        };
        let started = Instant::now();
        let next = position::next_offsets(&batch);
        let replayed =
            match runtime.block_on(write_batch(pool, &cfg.group, &mut stage, &batch, &next)) {
                Ok(n) => n,
                Err(e) => {
                    metrics::batch_failed(cfg.metrics);
                    return Err(e);
                }
            };
        stage.committed();
        position::advance(
            &mut positions.lock().unwrap_or_else(|e| e.into_inner()),
            &next,
        );
        source.progress().batch_done();
        metrics::batch_done(cfg.metrics, batch.len(), started.elapsed());
        metrics::redelivered(cfg.metrics, replayed);
        // Kafka's committed offsets only serve lag monitoring; PostgreSQL holds the truth.
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &next {
            let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
        }
        if let Err(e) = source.consumer().commit(&tpl, CommitMode::Async) {
            tracing::debug!(stream = cfg.name, error = %e, "offset commit for monitoring failed");
        }
    }
    Ok(())
}
