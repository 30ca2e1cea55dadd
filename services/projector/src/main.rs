//! `dl-projector`: consumes the ledger topic (read_committed) and writes it into PostgreSQL.
//!
//! Exactly once: each batch's rows and the next offsets are written in one database
//! transaction; records below the stored offset are skipped, so redelivery after a crash or a
//! rebalance projects nothing twice. Kafka offsets are committed after the database commit only
//! for lag monitoring. Every record is checked against its chain head; breaks are recorded in
//! `chain_breaks`, counted in `dl_projector_chain_breaks_total` and logged, never skipped.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use dl_store::{Projection, SourcedRecord};
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// Notes rebalances, after which each partition is positioned again from PostgreSQL.
#[derive(Default)]
struct RebalanceFlag {
    happened: AtomicBool,
}

impl rdkafka::ClientContext for RebalanceFlag {}

impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        self.happened.store(true, Ordering::SeqCst);
    }
}

/// Decision Layer projector.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Config {
    /// Kafka bootstrap servers. Further librdkafka settings: KAFKA_<PROPERTY>.
    #[arg(long, env = "DL_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Ledger topic.
    #[arg(long, env = "DL_LEDGER_TOPIC", default_value = "decision.ledger")]
    ledger_topic: String,
    /// Registry topic, projected into the registry tables (docs/registry.md). Needs
    /// `DL_APPROVERS_FILE`, since the projection folds events through the registry's rules.
    #[arg(long, env = "DL_REGISTRY_TOPIC", default_value = "registry.events")]
    registry_topic: String,
    /// Explanation views topic (written by dl-explainer), projected into `explain_views`; empty
    /// disables it.
    #[arg(long, env = "DL_EXPLAIN_TOPIC", default_value = "explain.views")]
    explain_topic: String,
    /// Approver public keys (YAML); without it the registry projection is disabled.
    #[arg(long, env = "DL_APPROVERS_FILE")]
    approvers: Option<std::path::PathBuf>,
    /// Consumer group (offsets are stored in PostgreSQL per group).
    #[arg(long, env = "DL_PROJECTOR_GROUP_ID", default_value = "dl-projector")]
    group_id: String,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Address of /metrics, /healthz, /readyz.
    #[arg(long, env = "DL_METRICS_ADDR", default_value = "127.0.0.1:9102")]
    metrics_addr: SocketAddr,
    /// Most records per database transaction.
    #[arg(long, env = "DL_BATCH_MAX", default_value_t = 1000)]
    batch_max: usize,
    /// Longest wait to fill a batch, in milliseconds.
    #[arg(long, env = "DL_BATCH_WAIT_MS", default_value_t = 50)]
    batch_wait_ms: u64,
    /// Pinned certifier public keys `KEY_ID=PATH` (PEM or DER SPKI), besides the local key file
    /// of the configured signer (`DL_SIGNER=local`, `DL_SIGNER_KEY_FILE`).
    #[arg(
        long = "certifier-key",
        env = "DL_CERTIFIER_KEYS",
        value_delimiter = ','
    )]
    certifier_keys: Vec<String>,
    /// KMS keys trusted to certify worker keys and sign checkpoints (key ids, key ARNs or
    /// aliases, resolved to key ARNs at start), with `DL_SIGNER=kms` and the `DL_KMS_*` client
    /// settings. Required in KMS mode; keep a rotated-away key listed while its records are
    /// projected (docs/ledger-integrity.md).
    #[arg(
        long = "trusted-certifier",
        env = "DL_TRUSTED_CERTIFIERS",
        value_delimiter = ','
    )]
    trusted_certifiers: Vec<String>,
    /// Do not record unsigned decisions as breaks (ledgers written before signing).
    #[arg(long, env = "DL_ALLOW_UNSIGNED")]
    allow_unsigned: bool,
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "dl_projector_records_total",
        "Ledger records written to PostgreSQL."
    );
    describe_counter!(
        "dl_projector_redelivered_records_total",
        "Ledger records skipped because they were already projected."
    );
    describe_counter!(
        "dl_projector_batch_failures_total",
        "Batches rolled back and retried (PostgreSQL unavailable or failing)."
    );
    describe_counter!(
        "dl_projector_chain_breaks_total",
        "Chain breaks found while projecting, by kind."
    );
    describe_counter!(
        "dl_projector_duplicate_outcomes_total",
        "Ledger records whose decision id was already projected."
    );
    describe_counter!(
        "dl_projector_explain_views_total",
        "Explanation views written to explain_views."
    );
    describe_counter!(
        "dl_projector_undecodable_views_total",
        "Messages of the explanation views topic that did not decode (skipped)."
    );
    describe_counter!(
        "dl_projector_registry_events_total",
        "Registry events projected, by outcome (applied or refused)."
    );
    describe_histogram!(
        "dl_projector_batch_seconds",
        Unit::Seconds,
        "Time to project one batch in one database transaction."
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    dl_telemetry::init_tracing("dl-projector");
    let telemetry =
        dl_telemetry::Telemetry::start(cfg.metrics_addr, Duration::from_secs(120)).await?;
    let health = telemetry.health.clone();
    describe_metrics();

    let pool = loop {
        match dl_store::connect_and_migrate(&cfg.database_url, 4).await {
            Ok(p) => break p,
            Err(e) => {
                health.set_blocker("postgres", Some(e.to_string()));
                tracing::warn!(error = %e, "PostgreSQL not available; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    health.set_blocker("postgres", None);
    match (&cfg.approvers, cfg.registry_topic.is_empty()) {
        (Some(path), false) => {
            let approvers = std::sync::Arc::new(
                dl_registry::ApproverSet::load(path).context("loading the approver set")?,
            );
            let (brokers, topic, pool, group) = (
                cfg.brokers.clone(),
                cfg.registry_topic.clone(),
                pool.clone(),
                format!("{}.registry", cfg.group_id),
            );
            tokio::spawn(async move {
                if let Err(e) =
                    dl_store::registry::run(&brokers, &topic, pool, &group, approvers).await
                {
                    tracing::error!(error = %e, "registry projection stopped");
                }
            });
            tracing::info!(topic = %cfg.registry_topic, "projecting the registry");
        }
        _ => tracing::warn!(
            "registry projection disabled: set DL_APPROVERS_FILE (and DL_REGISTRY_TOPIC)"
        ),
    }
    if !cfg.explain_topic.is_empty() {
        let (brokers, topic, pool, group) = (
            cfg.brokers.clone(),
            cfg.explain_topic.clone(),
            pool.clone(),
            format!("{}.explain", cfg.group_id),
        );
        tokio::spawn(async move {
            if let Err(e) = dl_store::explain_views::run(&brokers, &topic, pool, &group).await {
                tracing::error!(error = %e, "explanation views projection stopped");
            }
        });
    }
    // Trust anchors, from configuration only (never from the ledger): pinned keys, the listed
    // KMS keys (DL_TRUSTED_CERTIFIERS), or the local key file.
    // A KMS that does not answer holds the projector: projecting without it would mark every
    // certificate and checkpoint unverified for good.
    // Fail closed: without a certifier key nothing could be marked verified, and rows projected
    // unverified stay so. Hold (blocker "signer") until the key is there (the worker creates the
    // local development key on its first start) or the KMS answers; only with
    // DL_ALLOW_UNSIGNED (ledgers written before signing) go on without one. An inconsistent
    // trust configuration stops the projector.
    let mut warned = false;
    let anchors = loop {
        let why = match dl_verify::anchors_from_env(&cfg.certifier_keys, &cfg.trusted_certifiers)
            .await
        {
            Ok(found) if !found.is_empty() || cfg.allow_unsigned => {
                health.set_blocker("signer", None);
                break found;
            }
            Ok(_) => "no certifier key yet (DL_SIGNER_KEY_FILE does not exist; set DL_SIGNER_KEY_FILE, DL_CERTIFIER_KEYS, DL_SIGNER=kms with DL_TRUSTED_CERTIFIERS, or DL_ALLOW_UNSIGNED)".to_string(),
            Err(e @ dl_verify::AnchorError::Config(_)) => {
                return Err(e).context("trust anchor configuration")
            }
            Err(e) => e.to_string(),
        };
        if !warned {
            tracing::warn!(reason = %why, "waiting for the certifier key before projecting");
            warned = true;
        }
        health.set_blocker("signer", Some(why));
        health.beat(); // alive, not ready
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    if anchors.is_empty() {
        tracing::warn!("no certifier key configured and DL_ALLOW_UNSIGNED set: key certificates and checkpoints are projected as unverified");
    } else {
        tracing::info!(keys = ?anchors.key_ids().collect::<Vec<_>>(), "trusted certifiers: certificates and checkpoints by any other key are UNTRUSTED_CERTIFIER breaks");
    }
    let opts = dl_verify::VerifyOptions {
        allow_unsigned: cfg.allow_unsigned,
        report_untrusted: !anchors.is_empty(),
    };
    let projection = Projection::new(pool, cfg.group_id.clone()).with_integrity(anchors, opts);

    let consumer: StreamConsumer<RebalanceFlag> = dl_kafka::client_config(&cfg.brokers)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("queued.max.messages.kbytes", "32768")
        .create_with_context(RebalanceFlag::default())
        .context("creating the consumer")?;
    consumer
        .subscribe(&[&cfg.ledger_topic])
        .context("subscribing")?;
    let codec = dl_schema::ledger_codec();
    // PostgreSQL holds the consumed positions; Kafka's committed offsets only start the fetch.
    let mut next = loop {
        match projection.stored_offsets().await {
            Ok(n) => break n,
            Err(e) => {
                tracing::warn!(error = %e, "reading stored offsets failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut positioned: HashSet<(String, i32)> = HashSet::new();

    // SIGINT or SIGTERM (docker stop, the demo's restart): return, which closes the consumer
    // and leaves the group, so a restarted projector gets its partitions at once instead of
    // after the session timeout.
    let shutdown = dl_telemetry::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        health.beat();
        let mut batch: Vec<SourcedRecord> = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(cfg.batch_wait_ms);
        while batch.len() < cfg.batch_max {
            let wait = if batch.is_empty() {
                tokio::time::Instant::now() + Duration::from_millis(500)
            } else {
                deadline
            };
            tokio::select! {
                _ = &mut shutdown => { tracing::info!("stopping"); return Ok(()); }
                r = tokio::time::timeout_at(wait, consumer.recv()) => match r {
                    Err(_) => break,
                    Ok(Err(e)) => { tracing::warn!(error = %e, "consumer error"); break; }
                    Ok(Ok(m)) => {
                        let key = (m.topic().to_string(), m.partition());
                        if consumer.context().happened.swap(false, Ordering::SeqCst) {
                            positioned.clear();
                        }
                        let expected = next.get(&key).copied();
                        if positioned.insert(key.clone()) {
                            // First record of this partition since it was assigned: start exactly
                            // where PostgreSQL says (Kafka's committed offset may be behind or, for
                            // a new or restored database, ahead). Offsets are not contiguous
                            // (transaction markers take offsets), so only this first record is
                            // compared, never later ones.
                            let start = expected.unwrap_or(0);
                            if m.offset() != start {
                                tracing::info!(partition = m.partition(), from = m.offset(), to = start, "positioning at the offset stored in PostgreSQL");
                                match consumer.seek(m.topic(), m.partition(), Offset::Offset(start), Duration::from_secs(10)) {
                                    Ok(()) => continue,
                                    Err(e) => {
                                        tracing::warn!(error = %e, "seek failed; skipping by offset instead");
                                        if m.offset() > start && expected.is_some() {
                                            positioned.remove(&key);
                                            continue;
                                        }
                                    }
                                }
                            }
                        }
                        if expected.is_some_and(|e| m.offset() < e) {
                            metrics::counter!("dl_projector_redelivered_records_total").increment(1);
                            continue;
                        }
                        next.insert(key, m.offset() + 1);
                        batch.push(SourcedRecord {
                            topic: m.topic().to_string(),
                            partition: m.partition(),
                            offset: m.offset(),
                            record: codec.decode(m.payload().unwrap_or_default()).map_err(|e| e.to_string()),
                        });
                    }
                },
            }
        }
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        // The batch is retried until PostgreSQL takes it: nothing is skipped, nothing doubled.
        let mut backoff = Duration::from_millis(100);
        let outcome = loop {
            match projection.apply_batch(&batch).await {
                Ok(o) => {
                    health.set_blocker("postgres", None);
                    break o;
                }
                Err(e) => {
                    metrics::counter!("dl_projector_batch_failures_total").increment(1);
                    health.set_blocker("postgres", Some(e.to_string()));
                    tracing::warn!(error = %e, "projection batch failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        metrics::counter!("dl_projector_records_total").increment(outcome.projected);
        metrics::counter!("dl_projector_redelivered_records_total")
            .increment(outcome.already_projected);
        metrics::histogram!("dl_projector_batch_seconds").record(started.elapsed().as_secs_f64());
        tracing::debug!(?outcome, "batch projected");

        let mut next: std::collections::BTreeMap<(&str, i32), i64> =
            std::collections::BTreeMap::new();
        for r in &batch {
            next.insert((r.topic.as_str(), r.partition), r.offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(offset));
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "offset commit for monitoring failed (PostgreSQL holds the truth)");
        }
    }
}
