//! Waiting for results: one consumer per gateway replica reads the results topic from its end
//! (no consumer group, nothing committed) and hands each result to the request waiting for it.
//!
//! A waiter is matched by the decision id of the message its request produced (derived from
//! the message's position, which only the producer learns from its delivery report; see
//! [`dl_ledger::decision_id`]), never by the caller-chosen request id, and only a result of the
//! same caller is delivered. Each caller holds a bounded number of waiter slots. The answer to a
//! resubmitted request is the original's result (the original's decision id) under the header
//! [`dl_schema::ANSWERS_HEADER`] naming the resubmitted message's: that header is the match.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use dl_schema::{DecisionResult, DecisionStatus};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;

/// Results that arrived before their submission learnt its decision id (the broker's delivery
/// report can come after the worker's result): the last few are kept for it.
const EARLY: usize = 1024;

/// Whose results a waiter may receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Authentication disabled: any (development only).
    Anyone,
    /// Results recorded for this principal, or rejections recorded for no caller (the worker
    /// could not authenticate the request: nothing was decided).
    Caller(String),
}

impl Expect {
    fn accepts(&self, r: &DecisionResult) -> bool {
        match self {
            Expect::Anyone => true,
            Expect::Caller(p) => match &r.caller {
                Some(c) => c == p,
                None => r.status == DecisionStatus::Rejected && r.output.is_none(),
            },
        }
    }
}

/// Why no slot was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every slot of the replica is taken.
    Busy,
    /// Every slot of this caller is taken.
    CallerBusy,
}

struct Waiter {
    expect: Expect,
    tx: oneshot::Sender<DecisionResult>,
}

#[derive(Default)]
struct Inner {
    /// Slots taken, in total and per caller key.
    taken: usize,
    per_caller: HashMap<String, usize>,
    /// Waiters by decision id.
    waiting: HashMap<String, Waiter>,
    /// Undelivered recent results by decision id, oldest first in `early_order`.
    early: HashMap<String, DecisionResult>,
    early_order: VecDeque<String>,
}

/// Requests waiting for their result.
pub struct Waiters {
    inner: Mutex<Inner>,
    max: usize,
    max_per_caller: usize,
}

/// One waiter slot, taken before the request is produced; dropping it stops waiting.
pub struct Slot {
    waiters: Arc<Waiters>,
    caller_key: String,
    decision_id: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.waiters.lock();
        inner.taken = inner.taken.saturating_sub(1);
        if let Some(n) = inner.per_caller.get_mut(&self.caller_key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.per_caller.remove(&self.caller_key);
            }
        }
        if let Some(id) = &self.decision_id {
            inner.waiting.remove(id);
        }
        metrics::gauge!("dl_gateway_waiting_requests").set(inner.taken as f64);
    }
}

impl Slot {
    /// Waits for the result of decision `decision_id` (the produced message's), delivered only
    /// if `expect` accepts it.
    pub fn wait_for(
        &mut self,
        decision_id: String,
        expect: Expect,
    ) -> oneshot::Receiver<DecisionResult> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.waiters.lock();
        match inner.early.remove(&decision_id) {
            Some(r) if expect.accepts(&r) => {
                let _ = tx.send(r);
            }
            _ => {
                inner
                    .waiting
                    .insert(decision_id.clone(), Waiter { expect, tx });
                self.decision_id = Some(decision_id);
            }
        }
        rx
    }
}

impl Waiters {
    /// At most `max` requests may wait at once, at most `max_per_caller` of one caller.
    pub fn new(max: usize, max_per_caller: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            max,
            max_per_caller,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for `caller_key` before its request is produced.
    pub fn reserve(self: &Arc<Self>, caller_key: &str) -> Result<Slot, Refused> {
        let mut inner = self.lock();
        if inner.taken >= self.max {
            return Err(Refused::Busy);
        }
        let mine = inner.per_caller.entry(caller_key.to_string()).or_insert(0);
        if *mine >= self.max_per_caller {
            return Err(Refused::CallerBusy);
        }
        *mine += 1;
        inner.taken += 1;
        metrics::gauge!("dl_gateway_waiting_requests").set(inner.taken as f64);
        Ok(Slot {
            waiters: self.clone(),
            caller_key: caller_key.to_string(),
            decision_id: None,
        })
    }

    /// Hands `result` to the waiter on the message with decision id `answers` (the result's
    /// own, or the one its [`dl_schema::ANSWERS_HEADER`] names), or keeps it for a while.
    fn deliver(&self, answers: String, result: DecisionResult) {
        let mut inner = self.lock();
        let accepted = inner
            .waiting
            .get(&answers)
            .is_some_and(|w| w.expect.accepts(&result));
        if accepted {
            if let Some(w) = inner.waiting.remove(&answers) {
                let _ = w.tx.send(result);
            }
            return;
        }
        if inner.waiting.contains_key(&answers) {
            tracing::warn!(decision_id = %answers,
                "a result for a waiting request names another caller: not delivered");
            return;
        }
        if inner.taken == 0 {
            return; // nobody can be about to wait for it
        }
        if inner.early_order.len() >= EARLY {
            if let Some(old) = inner.early_order.pop_front() {
                inner.early.remove(&old);
            }
        }
        inner.early_order.push_back(answers.clone());
        inner.early.insert(answers, result);
    }
}

/// The decision id a result's [`dl_schema::ANSWERS_HEADER`] names, when it has exactly one.
fn answered_decision<M: Message>(m: &M) -> Option<String> {
    let headers = m.headers()?;
    let mut values = headers
        .iter()
        .filter(|h| h.key == dl_schema::ANSWERS_HEADER)
        .map(|h| h.value.and_then(|v| std::str::from_utf8(v).ok()));
    match (values.next(), values.next()) {
        (Some(Some(id)), None) => Some(id.to_string()),
        _ => None,
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
                        Ok(r) => waiters.deliver(
                            answered_decision(&m).unwrap_or_else(|| r.decision_id.clone()),
                            r,
                        ),
                        Err(e) => {
                            metrics::counter!("dl_gateway_undecodable_results_total").increment(1);
                            tracing::debug!(error = %e, "undecodable result skipped");
                        }
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

    fn result(decision_id: &str, caller: Option<&str>, status: DecisionStatus) -> DecisionResult {
        DecisionResult {
            request_id: "same-request-id".into(),
            decision_id: decision_id.into(),
            status,
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
            caller: caller.map(String::from),
        }
    }

    fn alice() -> Expect {
        Expect::Caller("iss|alice".into())
    }

    #[tokio::test]
    async fn results_never_reach_another_callers_waiter() {
        let w = Waiters::new(10, 10);
        let mut a = w.reserve("iss|alice").unwrap();
        let mut rx = a.wait_for("d-a".into(), alice());
        // Same request id, another decision: not A's.
        w.deliver(
            "d-b".to_string(),
            result("d-b", Some("iss|bob"), DecisionStatus::Decided),
        );
        // A's decision id but another caller (a forged result): not delivered either.
        w.deliver(
            "d-a".to_string(),
            result("d-a", Some("iss|bob"), DecisionStatus::Decided),
        );
        assert!(rx.try_recv().is_err());
        w.deliver(
            "d-a".to_string(),
            result("d-a", Some("iss|alice"), DecisionStatus::Decided),
        );
        let got = rx.await.unwrap();
        assert_eq!(
            (got.decision_id.as_str(), got.caller.as_deref()),
            ("d-a", Some("iss|alice"))
        );
    }

    #[tokio::test]
    async fn the_answer_to_a_resubmission_reaches_the_resubmissions_waiter() {
        let w = Waiters::new(10, 10);
        let mut a = w.reserve("iss|alice").unwrap();
        let rx = a.wait_for("d-again".into(), alice());
        // The original's result (its own decision id), answering the resubmitted message.
        w.deliver(
            "d-again".to_string(),
            result("d-original", Some("iss|alice"), DecisionStatus::Decided),
        );
        assert_eq!(rx.await.unwrap().decision_id, "d-original");
    }

    #[tokio::test]
    async fn a_result_before_the_delivery_report_is_kept_for_its_waiter() {
        let w = Waiters::new(10, 10);
        let mut a = w.reserve("iss|alice").unwrap();
        w.deliver(
            "d-a".to_string(),
            result("d-a", None, DecisionStatus::Rejected),
        );
        let got = a.wait_for("d-a".into(), alice()).await.unwrap();
        assert_eq!(
            got.status,
            DecisionStatus::Rejected,
            "caller-less rejection"
        );
        let mut b = w.reserve("iss|bob").unwrap();
        w.deliver(
            "d-b".to_string(),
            result("d-b", None, DecisionStatus::Decided),
        );
        let mut rx = b.wait_for("d-b".into(), Expect::Caller("iss|bob".into()));
        assert!(rx.try_recv().is_err(), "a caller-less decision is nobody's");
    }

    #[test]
    fn slots_are_bounded_in_total_and_per_caller() {
        let w = Waiters::new(3, 2);
        let a1 = w.reserve("a").unwrap();
        let _a2 = w.reserve("a").unwrap();
        assert_eq!(w.reserve("a").err(), Some(Refused::CallerBusy));
        let _b1 = w.reserve("b").unwrap();
        assert_eq!(w.reserve("c").err(), Some(Refused::Busy));
        drop(a1);
        assert!(w.reserve("c").is_ok(), "a dropped slot is free again");
        assert!(!w.lock().per_caller.contains_key("c"), "and forgotten");
    }

    #[test]
    fn early_results_are_bounded_and_kept_only_while_someone_waits() {
        let w = Waiters::new(10, 10);
        w.deliver(
            "nobody".to_string(),
            result("nobody", None, DecisionStatus::Decided),
        );
        assert!(w.lock().early.is_empty());
        let _slot = w.reserve("a").unwrap();
        for i in 0..EARLY + 5 {
            w.deliver(
                format!("d{i}"),
                result(&format!("d{i}"), None, DecisionStatus::Decided),
            );
        }
        let inner = w.lock();
        assert_eq!((inner.early.len(), inner.early_order.len()), (EARLY, EARLY));
        assert!(!inner.early.contains_key("d0"));
    }
}
