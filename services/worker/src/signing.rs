//! Signing decisions and checkpointing chains (docs/ledger-integrity.md).
//!
//! * Each worker holds a short-lived in-memory key certified by the configured signer (AWS KMS,
//!   or the local key file of the development stack): one KMS `Sign` per rotation, never one per
//!   decision. A background task rotates it on schedule; a KMS outage is ridden out until the
//!   current key expires, then the worker stops deciding (fail closed, blocker "signer").
//! * Before the first decision a chain gets signed with a key, the key's certificate is appended
//!   to that chain (`SIGNING_KEY_CERTIFIED`), so every chain verifies on its own.
//! * Every `DL_CHECKPOINT_EVERY_RECORDS` records or `DL_CHECKPOINT_EVERY_MS` milliseconds a chain
//!   gets a `CHECKPOINT` record over its head, signed by the KMS key itself: KMS calls per second
//!   are bounded by chains × 1000 / every_ms, never by the decision rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use dl_ledger::ChainHead;
use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{
    CheckpointPolicy, CheckpointTracker, Refresh, Signer, SignerConfig, WorkerKey,
    WorkerKeyManager, WorkerKeyPolicy,
};
use dl_telemetry::Health;
use thiserror::Error;

use crate::config::Config;

/// The worker has no valid signing key: nothing may be decided until one is certified.
#[derive(Debug, Error)]
#[error("no valid signing key: {0}")]
pub struct SigningUnavailable(pub String);

/// The signer, the current worker key and the checkpoint policy, shared by the pipelines.
pub struct Signing {
    signer: Arc<Signer>,
    runtime: tokio::runtime::Handle,
    key: ArcSwapOption<WorkerKey>,
    policy: CheckpointPolicy,
}

impl Signing {
    /// Builds the signer from the environment (`DL_SIGNER`, ...), certifies the first worker
    /// key (retrying until it succeeds or `stop` is set; readiness blocker "signer" meanwhile)
    /// and starts the rotation task.
    pub fn start(
        cfg: &Config,
        runtime: tokio::runtime::Handle,
        health: &Arc<Health>,
        stop: &Arc<AtomicBool>,
    ) -> anyhow::Result<Arc<Self>> {
        let signer = Arc::new(runtime.block_on(Signer::from_config(SignerConfig::from_env()?))?);
        tracing::info!(backend = signer.backend(), "signer configured");
        let mut manager = WorkerKeyManager::new(
            cfg.worker_id.clone(),
            WorkerKeyPolicy {
                validity: Duration::from_secs(cfg.key_validity_secs),
                renew_before: Duration::from_secs(
                    cfg.key_validity_secs
                        .saturating_sub(cfg.key_rotate_after_secs),
                ),
                ..WorkerKeyPolicy::default()
            },
        );
        let this = Arc::new(Self {
            signer,
            runtime: runtime.clone(),
            key: ArcSwapOption::empty(),
            policy: CheckpointPolicy::new(cfg.checkpoint_every_records, cfg.checkpoint_every_ms),
        });
        let mut backoff = Duration::from_millis(200);
        while !stop.load(Ordering::SeqCst) {
            match runtime.block_on(this.refresh(&mut manager, health)) {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot certify a worker key; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        let rotator = this.clone();
        let health = health.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if let Err(e) = rotator.refresh(&mut manager, &health).await {
                    tracing::error!(error = %e, "worker key expired and could not be renewed: not deciding");
                }
            }
        });
        Ok(this)
    }

    /// Rotates when due and publishes the current key; sets or clears the "signer" blocker.
    async fn refresh(
        &self,
        manager: &mut WorkerKeyManager,
        health: &Health,
    ) -> Result<(), dl_signer::SignerError> {
        let now = chrono::Utc::now().timestamp_millis();
        let outcome = manager.refresh(&self.signer, now).await;
        match &outcome {
            Ok(Refresh::Rotated(cert)) => {
                metrics::counter!("dl_worker_key_rotations_total").increment(1);
                tracing::info!(key_id = %cert.key_id, valid_until = cert.valid_until, "new worker key in use");
            }
            Ok(Refresh::Deferred(e)) => {
                metrics::counter!("dl_worker_key_rotation_failures_total").increment(1);
                tracing::warn!(error = %e, "key rotation deferred; the current key stays valid");
            }
            Ok(Refresh::Unchanged) | Err(_) => {}
        }
        match manager.current(now) {
            Ok(key) => {
                metrics::gauge!("dl_worker_key_valid_seconds")
                    .set((key.certificate().valid_until - now) as f64 / 1000.0);
                self.key.store(Some(key));
                health.set_blocker("signer", None);
                outcome.map(|_| ())
            }
            Err(e) => {
                metrics::gauge!("dl_worker_key_valid_seconds").set(0.0);
                self.key.store(None);
                health.set_blocker("signer", Some(e.to_string()));
                Err(outcome.err().unwrap_or(e))
            }
        }
    }

    /// The key to sign a batch decided at `now_ms` with; [`SigningUnavailable`] when none is
    /// valid then (fail closed).
    pub fn key_for(&self, now_ms: i64) -> Result<Arc<WorkerKey>, SigningUnavailable> {
        match self.key.load_full() {
            Some(k) if k.valid_at(now_ms) => Ok(k),
            Some(k) => Err(SigningUnavailable(format!(
                "worker key {} expired at {}",
                k.key_id(),
                k.certificate().valid_until
            ))),
            None => Err(SigningUnavailable("no worker key certified".into())),
        }
    }

    /// Waits until a valid key is available again (or `stop`).
    pub fn wait_for_key(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            if self.key_for(chrono::Utc::now().timestamp_millis()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Per-pipeline signing state of the chains it writes.
pub struct ChainSigning {
    signing: Arc<Signing>,
    /// Chain (partition) → key id whose certificate this pipeline appended to it.
    certified: HashMap<i32, String>,
    trackers: HashMap<i32, CheckpointTracker>,
    /// Chain → earliest time of the next attempt after a failed checkpoint.
    retry_at: HashMap<i32, i64>,
}

impl ChainSigning {
    /// State for a new pipeline: no chain has a certificate or checkpoint from it yet.
    pub fn new(signing: Arc<Signing>) -> Self {
        Self {
            signing,
            certified: HashMap::new(),
            trackers: HashMap::new(),
            retry_at: HashMap::new(),
        }
    }

    /// The shared signing state.
    pub fn signing(&self) -> &Signing {
        &self.signing
    }

    /// Forgets every chain (after a rebalance the heads are recovered again).
    pub fn clear(&mut self) {
        self.certified.clear();
        self.trackers.clear();
        self.retry_at.clear();
    }

    /// The certificate record `key` needs on `partition`'s chain before it signs there, if any.
    pub fn certificate_record(
        &mut self,
        partition: i32,
        key: &WorkerKey,
        head: &mut ChainHead,
        now_ms: i64,
    ) -> Option<LedgerRecord> {
        if self.certified.get(&partition).map(String::as_str) == Some(key.key_id()) {
            return None;
        }
        self.certified.insert(partition, key.key_id().to_string());
        let mut record = LedgerRecord::unchained(LedgerRecordKind::SigningKeyCertified, now_ms);
        record.key_certified = Some(key.certificate().clone());
        Some(head.append(record))
    }

    /// A signed checkpoint record for `partition`'s chain when one is due (one signer call).
    /// A signer failure defers the checkpoint (logged and counted); decisions go on.
    pub fn checkpoint_record(
        &mut self,
        partition: i32,
        head: &mut ChainHead,
        now_ms: i64,
    ) -> Option<LedgerRecord> {
        let tracker = self
            .trackers
            .entry(partition)
            .or_insert_with(|| CheckpointTracker::new(self.signing.policy));
        if !tracker.is_due(head.next_sequence - 1, now_ms)
            || self.retry_at.get(&partition).is_some_and(|at| now_ms < *at)
        {
            return None;
        }
        let started = std::time::Instant::now();
        // The Merkle root over the records this checkpoint covers (ADR 0032).
        let root = head.segment_root();
        let signer = &self.signing.signer;
        let signed = self.signing.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                dl_signer::sign_checkpoint_for_head(signer, head, root.as_deref()),
            )
            .await
        });
        metrics::histogram!("dl_worker_checkpoint_sign_seconds")
            .record(started.elapsed().as_secs_f64());
        let checkpoint = match signed {
            Ok(Ok(cp)) => cp,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the signer timed out".to_string(),
                };
                metrics::counter!("dl_worker_checkpoint_failures_total").increment(1);
                tracing::warn!(chain = %head.chain_id, error, "checkpoint deferred");
                let retry = i64::try_from(self.signing.policy.every_ms).unwrap_or(i64::MAX);
                self.retry_at
                    .insert(partition, now_ms.saturating_add(retry));
                return None;
            }
        };
        self.retry_at.remove(&partition);
        if root.is_none() {
            metrics::counter!("dl_worker_checkpoints_without_tree_total").increment(1);
            tracing::warn!(chain = %head.chain_id, up_to_sequence = checkpoint.up_to_sequence, "checkpoint without a Merkle root: the records since the last checkpoint were not recovered");
        }
        let mut record = LedgerRecord::unchained(LedgerRecordKind::Checkpoint, now_ms);
        record.checkpoint = Some(checkpoint);
        let record = head.append(record);
        tracker.checkpointed(record.sequence, now_ms);
        metrics::counter!("dl_worker_checkpoints_total").increment(1);
        metrics::gauge!("dl_worker_last_checkpoint_timestamp_seconds").set(now_ms as f64 / 1000.0);
        Some(record)
    }
}
