//! The explainer's stage of the stream mechanism (`dl-stream`): decode → make views → sink.
//! `dl_stream::run_kafka` commits the views, the dead letters and the consumed offsets in one
//! Kafka transaction per batch, so a crash neither loses nor doubles a view.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dl_kafka::dlq;
use dl_redact::Redactor;
use dl_registry_kafka::RegistryFollower;
use dl_schema::{Codec, ExplainView, LedgerRecord};
use dl_stream::{KafkaStage, KafkaTx};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::BaseRecord;

use crate::config::Config;
use crate::views::{make_views, Policies, Redactors};

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

/// The explainer's stage: ledger records in, views or dead letters out.
pub struct Pipeline {
    cfg: Config,
    ledger_codec: Codec<LedgerRecord>,
    view_codec: Codec<ExplainView>,
    /// Largest encoded view record the producer can send.
    view_max_bytes: usize,
    redactors: Redactors,
    registry: Arc<RegistryFollower>,
    policies: Policies,
    /// Registry generation at which a version was last found missing: until the registry
    /// changes, further misses do not wait again.
    missing_at: Option<u64>,
    runtime: tokio::runtime::Handle,
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
    /// The stream the explainer runs: the ledger, read_committed, in its own group.
    pub fn stream(cfg: &Config) -> dl_stream::StreamConfig {
        dl_stream::StreamConfig {
            name: "kafka",
            metrics: "dl_explainer",
            brokers: cfg.brokers.clone(),
            group: cfg.group_id.clone(),
            topics: vec![cfg.ledger_topic.clone()],
            batch: dl_stream::BatchPolicy {
                max: cfg.batch_max,
                linger: Duration::from_millis(cfg.batch_wait_ms),
                idle: Duration::from_millis(200),
            },
            session_timeout_ms: cfg.session_timeout_ms,
            consumer_settings: vec![],
        }
    }

    /// Its sink: views and dead letters in one transaction per batch.
    pub fn sink(cfg: &Config) -> dl_stream::TransactionalSink {
        dl_stream::TransactionalSink {
            transactional_id: format!("dl-explainer-{}", cfg.explainer_id),
            transaction_timeout_ms: None,
            dead_letters: dl_stream::DeadLetters {
                topic: cfg.dlq_topic.clone(),
                service: SERVICE,
                max_message_bytes: cfg.dlq_max_message_bytes,
            },
            producer_settings: vec![],
        }
    }

    /// Builds the stage.
    pub fn new(
        cfg: &Config,
        redactor: Redactor,
        registry: Arc<RegistryFollower>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            cfg: cfg.clone(),
            ledger_codec: dl_schema::ledger_codec(),
            view_codec: dl_schema::explain_view_codec(),
            view_max_bytes: dlq::producer_max_message_bytes(&dl_kafka::client_config(&cfg.brokers))
                .saturating_sub(dlq::HEADROOM_BYTES),
            redactors: Redactors::new(redactor),
            registry,
            policies: Policies::default(),
            missing_at: None,
            runtime,
        }
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
        // The tenant's own pseudonym key (the default tenant's is the configured one).
        let redactor = match self.redactors.for_tenant(record.tenant()) {
            Ok(r) => r,
            Err(e) => {
                return Out::DeadLetter {
                    reason: EXPLAIN_FAILED,
                    message: e.to_string(),
                }
            }
        };
        let made = guarded(|| make_views(redactor, &record, policy.as_deref()));
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
}

impl KafkaStage for Pipeline {
    type Error = anyhow::Error;

    fn process(&mut self, batch: &[OwnedMessage], tx: &mut KafkaTx<'_>) -> anyhow::Result<()> {
        let started = Instant::now();
        let outs: Vec<Out> = batch.iter().map(|m| self.explain(m)).collect();
        let mut views = 0u64;
        for (m, out) in batch.iter().zip(outs) {
            match out {
                Out::View { key, bytes } => {
                    tx.send(
                        BaseRecord::to(&self.cfg.views_topic)
                            .key(key.as_bytes())
                            .payload(&bytes[..]),
                    );
                    views += 1;
                }
                Out::DeadLetter { reason, message } => tx.dead_letter(m, reason, &message),
                Out::Nothing => {}
            }
        }
        let records = batch.len() as u64;
        tx.after_commit(move || {
            metrics::counter!("dl_explainer_views_total").increment(views);
            metrics::counter!("dl_explainer_records_total").increment(records);
        });
        metrics::histogram!("dl_explainer_explain_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// The registry follower feeds the policies: without it the views would be wrong.
    fn check(&mut self) -> anyhow::Result<()> {
        if !self.registry.is_running() {
            anyhow::bail!("the registry follower stopped");
        }
        Ok(())
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
            tenant: None,
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
