//! Waiting for results: one consumer per gateway replica reads the results topic from its end
//! (no consumer group, nothing committed) and hands each result to the request waiting for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use dl_schema::DecisionResult;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;

/// Requests waiting for their result, by request id.
pub struct Waiters {
    pending: Mutex<HashMap<String, oneshot::Sender<DecisionResult>>>,
    max: usize,
}

/// Registration of one waiting request; dropping it stops waiting.
pub struct Waiting {
    waiters: Arc<Waiters>,
    request_id: String,
    /// Receives the result.
    pub result: oneshot::Receiver<DecisionResult>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.lock().remove(&self.request_id);
    }
}

impl Waiters {
    /// At most `max` requests may wait at once (bounded memory under load).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::new(HashMap::new()),
            max,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<DecisionResult>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a waiter before the request is produced; `None` when too many wait already or
    /// the id is already waited for.
    pub fn register(self: &Arc<Self>, request_id: &str) -> Option<Waiting> {
        let mut pending = self.lock();
        if pending.len() >= self.max || pending.contains_key(request_id) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        pending.insert(request_id.to_string(), tx);
        metrics::gauge!("dl_gateway_waiting_requests").set(pending.len() as f64);
        Some(Waiting {
            waiters: self.clone(),
            request_id: request_id.to_string(),
            result: rx,
        })
    }

    fn deliver(&self, result: DecisionResult) {
        let tx = self.lock().remove(&result.request_id);
        if let Some(tx) = tx {
            let _ = tx.send(result);
        }
    }
}

/// Starts the reader thread on `topic` (every partition, from the current end).
pub fn start(
    brokers: &str,
    topic: &str,
    waiters: Arc<Waiters>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let consumer: BaseConsumer = dl_kafka::client_config(brokers)
        .set("group.id", format!("dl-gateway-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()
        .context("creating the results consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in dl_kafka::topic_partitions(&consumer, topic, Duration::from_secs(10))? {
        tpl.add_partition_offset(topic, p, Offset::End)?;
    }
    consumer.assign(&tpl)?;
    let codec = dl_schema::result_codec();
    Ok(std::thread::Builder::new()
        .name("results".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => match codec.decode(m.payload().unwrap_or_default()) {
                        Ok(r) => waiters.deliver(r),
                        Err(e) => tracing::debug!(error = %e, "undecodable result skipped"),
                    },
                    Some(Err(e)) => tracing::warn!(error = %e, "results consumer error"),
                    None => {}
                }
            }
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str) -> DecisionResult {
        DecisionResult {
            request_id: id.into(),
            decision_id: "d".into(),
            status: dl_schema::DecisionStatus::Decided,
            function_id: "f".into(),
            function_version: None,
            function_digest: None,
            output: None,
            reasons: vec![],
            legal_basis: vec![],
            rejection: None,
            decided_at: 0,
            ledger: None,
            signature: None,
            caller: None,
        }
    }

    #[tokio::test]
    async fn delivers_to_the_waiter_and_bounds_the_number_waiting() {
        let w = Waiters::new(2);
        let a = w.register("a").unwrap();
        assert!(w.register("a").is_none(), "one waiter per request id");
        let b = w.register("b").unwrap();
        assert!(w.register("c").is_none(), "bounded");
        drop(b);
        assert!(
            w.register("c").is_some(),
            "a dropped waiter frees its place"
        );
        w.deliver(result("a"));
        let mut a = a;
        assert_eq!((&mut a.result).await.unwrap().request_id, "a");
        w.deliver(result("nobody")); // nobody waits: dropped silently
    }
}
