//! `dl-projector`: consumes the ledger topic (read_committed) and writes it into PostgreSQL.
//!
//! Each projected topic is a stream of the `dl-stream` mechanism with its PostgreSQL sink:
//! each batch's rows and the next offsets are written in one database transaction; records
//! below the stored offset are skipped, so redelivery after a crash or a rebalance projects
//! nothing twice. Kafka offsets are committed after the database commit only for lag
//! monitoring. Every record is checked against its chain head; breaks are recorded in
//! `chain_breaks`, counted in `dl_projector_chain_breaks_total` and logged, never skipped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dl_store::explain_views::ExplainViewsStage;
use dl_store::registry::RegistryStage;
use dl_store::{LedgerStage, Projection};
use dl_stream::PgStage;

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
    /// Shadow evaluations topic (written by the workers, ADR 0032), projected into
    /// `shadow_evaluations`; empty disables it.
    #[arg(long, env = "DL_SHADOW_TOPIC", default_value = "decision.shadow")]
    shadow_topic: String,
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
    /// Consumer group session timeout in milliseconds: how long a dead replica holds its
    /// partitions (and a restarted one is not ready) before the group reassigns them.
    #[arg(long, env = "DL_SESSION_TIMEOUT_MS", default_value_t = 6_000)]
    session_timeout_ms: u64,
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
    /// Check each decision signature on its own with the strict check instead of in batches
    /// (ADR 0025): slower; refuses the one non-standard signature, craftable only by the worker
    /// key's holder, that batch verification accepts.
    #[arg(long, env = "DL_SINGLE_SIGNATURES")]
    single_signatures: bool,
}

fn describe_metrics() {
    use metrics::describe_counter;
    describe_counter!(
        "dl_projector_records_total",
        "Ledger records written to PostgreSQL."
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
    describe_counter!(
        "dl_projector_shadow_evaluations_total",
        "Shadow evaluations written to shadow_evaluations (ADR 0032)."
    );
    describe_counter!(
        "dl_projector_undecodable_shadow_total",
        "Messages of the shadow topic that did not decode (skipped)."
    );
    // Batch, failure, restart, lag and redelivery metrics: dl_stream::describe_metrics.
    // KMS calls when the trust anchors are KMS keys (DL_SIGNER=kms).
    dl_signer::metrics::describe();
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
    // One stream per topic, each on its own thread under the crash-only supervisor: a failure
    // (PostgreSQL down, the broker gone) drops the stream and a new attempt starts exactly
    // where PostgreSQL says. The registry and the explanation views need no trust anchors and
    // start at once.
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let mut streams = Vec::new();
    match (&cfg.approvers, cfg.registry_topic.is_empty()) {
        (Some(path), false) => {
            let approvers =
                Arc::new(dl_registry::ApproverSet::load(path).context("loading the approver set")?);
            let topic = cfg.registry_topic.clone();
            streams.push(spawn_stream(
                stream(
                    &cfg,
                    "registry-projection",
                    "dl_projector_registry",
                    &format!("{}.registry", cfg.group_id),
                    &cfg.registry_topic,
                ),
                move || RegistryStage::new(&topic, approvers.clone()),
                (&pool, &runtime, &stop, &health),
            ));
        }
        _ => tracing::warn!(
            "registry projection disabled: set DL_APPROVERS_FILE (and DL_REGISTRY_TOPIC)"
        ),
    }
    if !cfg.explain_topic.is_empty() {
        streams.push(spawn_stream(
            stream(
                &cfg,
                "explain-projection",
                "dl_projector_explain",
                &format!("{}.explain", cfg.group_id),
                &cfg.explain_topic,
            ),
            ExplainViewsStage::default,
            (&pool, &runtime, &stop, &health),
        ));
    }
    if !cfg.shadow_topic.is_empty() {
        streams.push(spawn_stream(
            stream(
                &cfg,
                "shadow-projection",
                "dl_projector_shadow",
                &format!("{}.shadow", cfg.group_id),
                &cfg.shadow_topic,
            ),
            dl_store::shadow::ShadowStage::default,
            (&pool, &runtime, &stop, &health),
        ));
    }
    let anchors = trust_anchors(&cfg, &health).await?;
    let opts = dl_verify::VerifyOptions {
        allow_unsigned: cfg.allow_unsigned,
        report_untrusted: !anchors.is_empty(),
    };
    let projection = Projection::new()
        .with_integrity(anchors, opts)
        .single_signatures(cfg.single_signatures);

    streams.push(spawn_stream(
        stream(
            &cfg,
            "ledger-projection",
            "dl_projector",
            &cfg.group_id,
            &cfg.ledger_topic,
        ),
        move || LedgerStage::new(projection.clone()),
        (&pool, &runtime, &stop, &health),
    ));

    // SIGINT or SIGTERM (docker stop, the demo's restart): the streams stop after their batch
    // and close their consumers, leaving the group, so a restarted projector gets its
    // partitions at once instead of after the session timeout.
    dl_telemetry::shutdown_signal().await;
    tracing::info!("stopping");
    stop.store(true, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || {
        for s in streams {
            let _ = s.join();
        }
    })
    .await?;
    Ok(())
}

/// The stream of one projected topic.
fn stream(
    cfg: &Config,
    name: &'static str,
    metrics: &'static str,
    group: &str,
    topic: &str,
) -> dl_stream::StreamConfig {
    dl_stream::describe_metrics(metrics);
    dl_stream::StreamConfig {
        name,
        metrics,
        brokers: cfg.brokers.clone(),
        group: group.to_string(),
        topics: vec![topic.to_string()],
        batch: dl_stream::BatchPolicy {
            max: cfg.batch_max,
            linger: Duration::from_millis(cfg.batch_wait_ms),
            idle: Duration::from_millis(500),
        },
        session_timeout_ms: cfg.session_timeout_ms,
        consumer_settings: vec![("queued.max.messages.kbytes", "32768".into())],
    }
}

/// Runs a PostgreSQL-sink stream on its own thread, a fresh stage per attempt.
fn spawn_stream<S: PgStage + 'static>(
    stream: dl_stream::StreamConfig,
    stage: impl Fn() -> S + Send + 'static,
    (pool, runtime, stop, health): (
        &sqlx::PgPool,
        &tokio::runtime::Handle,
        &Arc<AtomicBool>,
        &Arc<dl_telemetry::Health>,
    ),
) -> std::thread::JoinHandle<()> {
    let (pool, runtime, stop, health) =
        (pool.clone(), runtime.clone(), stop.clone(), health.clone());
    tracing::info!(stream = stream.name, topic = %stream.topics.join(","), "projecting");
    std::thread::spawn(move || {
        dl_stream::supervise(
            &stream,
            &stop,
            &health,
            || dl_stream::run_pg(&stream, &pool, &runtime, stage(), &stop, &health),
            |_| dl_stream::Recovery::Backoff,
        )
    })
}

/// The trust anchors, from configuration only (never from the ledger): pinned keys, the listed
/// KMS keys (DL_TRUSTED_CERTIFIERS), or the local key file.
///
/// A KMS that does not answer holds the projector: projecting without it would mark every
/// certificate and checkpoint unverified for good. Fail closed: without a certifier key nothing
/// could be marked verified, and rows projected unverified stay so. Hold (blocker "signer")
/// until the key is there (the worker creates the local development key on its first start) or
/// the KMS answers; only with DL_ALLOW_UNSIGNED (ledgers written before signing) go on without
/// one. An inconsistent trust configuration stops the projector.
async fn trust_anchors(
    cfg: &Config,
    health: &dl_telemetry::Health,
) -> anyhow::Result<dl_verify::TrustAnchors> {
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
    Ok(anchors)
}
