//! Following `registry.events`: rebuild at start, then live, with atomic snapshots.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use dl_kafka::EofAwareContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use thiserror::Error;
use tokio::sync::watch;

use dl_registry::{ApproverSet, Registry, RegistryError};

/// How many recent per-offset outcomes are kept for [`RegistryFollower::wait_for`].
const OUTCOMES_KEPT: usize = 10_000;
/// A snapshot is published at the end of the topic, or after this many events otherwise.
const PUBLISH_EVERY: usize = 1_000;

/// Configuration of a follower.
#[derive(Debug, Clone)]
pub struct FollowerConfig {
    /// Kafka bootstrap servers (`KAFKA_*` passthrough applies).
    pub brokers: String,
    /// The registry topic.
    pub topic: String,
    /// Approver keys used to verify approvals while folding.
    pub approvers: Arc<ApproverSet>,
}

/// Follower failures.
#[derive(Debug, Error)]
pub enum FollowerError {
    /// Kafka client failure.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The topic does not exist or has no partitions.
    #[error("topic {0} does not exist (run `dlctl topology apply`)")]
    NoTopic(String),
    /// Waiting took too long.
    #[error("timed out after {0:?} waiting for the registry")]
    Timeout(Duration),
    /// The follower task ended.
    #[error("the registry follower stopped")]
    Stopped,
}

/// What folding one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event changed the state.
    Applied,
    /// The event was refused (state unchanged).
    Refused(RegistryError),
}

struct Shared {
    state: ArcSwap<Registry>,
    /// Incremented each time a new snapshot is published.
    generation: watch::Sender<u64>,
    /// Incremented for every event folded (published or not yet).
    progress: watch::Sender<u64>,
    caught_up: watch::Sender<bool>,
    outcomes: Mutex<BTreeMap<(i32, i64), EventOutcome>>,
    positions: Mutex<HashMap<i32, i64>>,
}

/// A live, rebuilt-from-the-log view of the registry.
///
/// ```text
/// let follower = RegistryFollower::start(cfg).await?;
/// let registry = follower.wait_caught_up(Duration::from_secs(60)).await?;   // Arc<Registry>
/// let mut changes = follower.subscribe();
/// while changes.changed().await.is_ok() { let now = follower.snapshot(); /* recompile */ }
/// ```
pub struct RegistryFollower {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RegistryFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RegistryFollower {
    /// Starts reading `cfg.topic` from the beginning (read_committed) in a background task.
    pub async fn start(cfg: FollowerConfig) -> Result<Self, FollowerError> {
        let consumer: StreamConsumer<EofAwareContext> = dl_kafka::client_config(&cfg.brokers)
            .set(
                "group.id",
                format!("dl-registry-follower-{}", uuid::Uuid::new_v4().simple()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("fetch.message.max.bytes", (16 * 1024 * 1024).to_string())
            .set("receive.message.max.bytes", (64 * 1024 * 1024).to_string())
            .create_with_context(EofAwareContext)?;
        let topic = cfg.topic.clone();
        let consumer = tokio::task::spawn_blocking(
            move || -> Result<(StreamConsumer<EofAwareContext>, Vec<i32>), FollowerError> {
                let md = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
                let partitions: Vec<i32> = md
                    .topics()
                    .iter()
                    .filter(|t| t.name() == topic && t.error().is_none())
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect();
                if partitions.is_empty() {
                    return Err(FollowerError::NoTopic(topic));
                }
                let mut tpl = TopicPartitionList::new();
                for p in &partitions {
                    tpl.add_partition_offset(&topic, *p, Offset::Beginning)?;
                }
                consumer.assign(&tpl)?;
                Ok((consumer, partitions))
            },
        )
        .await
        .map_err(|_| FollowerError::Stopped)??;
        let (consumer, partitions) = consumer;
        let shared = Arc::new(Shared {
            state: ArcSwap::from_pointee(Registry::new(cfg.approvers.clone())),
            generation: watch::channel(0).0,
            progress: watch::channel(0).0,
            caught_up: watch::channel(false).0,
            outcomes: Mutex::new(BTreeMap::new()),
            positions: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(run(
            consumer,
            partitions,
            Registry::new(cfg.approvers),
            shared.clone(),
        ));
        Ok(Self { shared, task })
    }

    /// The current state (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Registry> {
        self.shared.state.load_full()
    }

    /// A receiver that changes whenever a new snapshot is published (value: snapshot generation).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.generation.subscribe()
    }

    /// Whether the follower has read up to the end of every partition at least once.
    pub fn is_caught_up(&self) -> bool {
        *self.shared.caught_up.borrow()
    }

    /// Waits until the log has been read to its end once (the rebuild), then returns the state.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<Arc<Registry>, FollowerError> {
        let mut rx = self.shared.caught_up.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c))
            .await
            .map_err(|_| FollowerError::Timeout(timeout))?
            .map_err(|_| FollowerError::Stopped)?;
        Ok(self.snapshot())
    }

    /// Waits until the event at `partition`/`offset` has been folded and its snapshot published;
    /// returns whether it was applied or refused.
    pub async fn wait_for(
        &self,
        partition: i32,
        offset: i64,
        timeout: Duration,
    ) -> Result<EventOutcome, FollowerError> {
        let mut rx = self.shared.generation.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let published = self
                .shared
                .positions
                .lock()
                .expect("positions lock")
                .get(&partition)
                .is_some_and(|next| *next > offset);
            if published {
                let outcome = self
                    .shared
                    .outcomes
                    .lock()
                    .expect("outcomes lock")
                    .get(&(partition, offset))
                    .cloned();
                return Ok(outcome.unwrap_or(EventOutcome::Applied));
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Err(_) => return Err(FollowerError::Timeout(timeout)),
                Ok(Err(_)) => return Err(FollowerError::Stopped),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Whether the background task still runs.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

async fn run(
    consumer: StreamConsumer<EofAwareContext>,
    partitions: Vec<i32>,
    mut registry: Registry,
    shared: Arc<Shared>,
) {
    let codec = dl_schema::registry_codec();
    let all: BTreeSet<i32> = partitions.into_iter().collect();
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let mut unpublished: Vec<(i32, i64)> = Vec::new();
    loop {
        match consumer.recv().await {
            Ok(m) => {
                let (p, off) = (m.partition(), m.offset());
                at_end.remove(&p);
                let outcome = match codec.decode(m.payload().unwrap_or_default()) {
                    Ok(event) => match registry.apply(&event) {
                        Ok(()) => EventOutcome::Applied,
                        Err(e) => {
                            tracing::warn!(partition = p, offset = off, code = e.code(), error = %e, "registry event refused");
                            EventOutcome::Refused(e)
                        }
                    },
                    Err(e) => {
                        tracing::warn!(partition = p, offset = off, error = %e, "undecodable registry event");
                        EventOutcome::Refused(RegistryError::Malformed(e.to_string()))
                    }
                };
                let label = if matches!(outcome, EventOutcome::Applied) {
                    "applied"
                } else {
                    "refused"
                };
                metrics::counter!("dl_registry_events_total", "outcome" => label).increment(1);
                {
                    let mut outcomes = shared.outcomes.lock().expect("outcomes lock");
                    outcomes.insert((p, off), outcome);
                    while outcomes.len() > OUTCOMES_KEPT {
                        outcomes.pop_first();
                    }
                }
                unpublished.push((p, off));
                shared.progress.send_modify(|n| *n += 1);
                if unpublished.len() >= PUBLISH_EVERY {
                    publish(&registry, &shared, &mut unpublished);
                }
            }
            Err(KafkaError::PartitionEOF(p)) => {
                at_end.insert(p);
                if at_end.is_superset(&all) {
                    publish(&registry, &shared, &mut unpublished);
                    if !*shared.caught_up.borrow() {
                        tracing::info!(
                            versions = registry.len(),
                            events = registry.applied() + registry.refused(),
                            "registry rebuilt"
                        );
                        shared.caught_up.send_replace(true);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "registry follower: consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

fn publish(registry: &Registry, shared: &Shared, unpublished: &mut Vec<(i32, i64)>) {
    if unpublished.is_empty() && *shared.generation.borrow() > 0 {
        return;
    }
    shared.state.store(Arc::new(registry.clone()));
    {
        let mut positions = shared.positions.lock().expect("positions lock");
        for (p, off) in unpublished.drain(..) {
            positions.insert(p, off + 1);
        }
    }
    metrics::gauge!("dl_registry_versions").set(registry.len() as f64);
    shared.generation.send_modify(|g| *g += 1);
}
