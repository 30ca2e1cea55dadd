//! `dl-explainer`: reads the ledger (read_committed) and writes, for every decision, its
//! PII-redacted explanation views for the subject, case workers and auditors to
//! `explain.views` (compacted, key = decision id), in one Kafka transaction per batch with the
//! consumed offsets. Redaction is `dl-redact`'s: the function version's allow list first (deny by
//! default), then checksum-validated detectors in shown text, keyed pseudonyms where the audience
//! needs to join. See docs/explanations.md and docs/adr/0010-explanation-views.md.

mod config;
mod pipeline;
mod views;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sha2::{Digest, Sha256};

fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "dl_explainer_records_total",
        "Ledger records read and committed."
    );
    describe_counter!(
        "dl_explainer_views_total",
        "Decisions whose views were written to the views topic."
    );
    describe_counter!(
        "dl_explainer_masked_total",
        "Identifiers masked or pseudonymised in shown text, by entity (over all audiences)."
    );
    describe_counter!(
        "dl_explainer_unknown_function_total",
        "Decisions of a function version not in the registry (views show none of the input)."
    );
    describe_histogram!(
        "dl_explainer_explain_seconds",
        Unit::Seconds,
        "Time to make the views of one batch (before producing and committing)."
    );
    // The stream's metrics (batch, failures, restarts, lag, dead letters by reason:
    // undecodable: the codec's code; EXPLAIN_FAILED; EXPLAIN_PANIC; VIEW_TOO_LARGE).
    dl_stream::describe_metrics("dl_explainer");
    // Exposed from the start (at 0), so rates and alerts work before the first batch.
    for counter in [
        "dl_explainer_records_total",
        "dl_explainer_views_total",
        "dl_explainer_unknown_function_total",
        "dl_explainer_batch_failures_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    for reason in [
        "NOT_AVRO",
        pipeline::EXPLAIN_FAILED,
        pipeline::EXPLAIN_PANIC,
        pipeline::VIEW_TOO_LARGE,
    ] {
        metrics::counter!("dl_explainer_dead_letters_total", "reason" => reason).increment(0);
    }
}

/// The pseudonymizer from the key file (hex) and the configured or derived key id.
fn pseudonymizer(cfg: &config::Config) -> anyhow::Result<dl_redact::Pseudonymizer> {
    let path = &cfg.pseudonym_key_file;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the pseudonym key {}", path.display()))?;
    let key = hex::decode(text.trim()).with_context(|| {
        format!(
            "{} must hold the key as hex digits (e.g. `openssl rand -hex 32`)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the pseudonym key file is readable by group or others; chmod 600 it");
        }
    }
    let id = match &cfg.pseudonym_key_id {
        Some(id) => id.clone(),
        None => format!("k{}", &hex::encode(Sha256::digest(&key))[..8]),
    };
    Ok(dl_redact::Pseudonymizer::new(&id, &key)?)
}

/// Panics are logged with their location only: a panic's message may quote the data it failed
/// on (a slicing panic quotes the string), and that is personal data.
fn log_panics_without_data() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location = %at, "panic (message withheld: it may quote personal data)");
    }));
}

fn main() -> anyhow::Result<()> {
    let cfg = config::Config::parse();
    dl_telemetry::init_tracing("dl-explainer");
    log_panics_without_data();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let telemetry = runtime.block_on(dl_telemetry::Telemetry::start(
        cfg.metrics_addr,
        Duration::from_secs(60),
    ))?;
    let health = telemetry.health.clone();
    describe_metrics();
    dl_registry_kafka::describe_metrics();

    let pseudonymizer = pseudonymizer(&cfg)?;
    tracing::info!(key_id = pseudonymizer.key_id(), "pseudonym key loaded");
    let redactor = dl_redact::Redactor::new(Some(pseudonymizer));

    let registry = Arc::new(runtime.block_on(dl_registry_kafka::follow_registry(
        &dl_registry_kafka::RegistrySource {
            brokers: cfg.brokers.clone(),
            topic: cfg.registry_topic.clone(),
            approvers_file: cfg.approvers.clone(),
            rebuild_timeout: Duration::from_secs(300),
        },
        dl_registry_kafka::Readiness::ClearWhenRebuilt(&health),
    ))?);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            dl_telemetry::shutdown_signal().await;
            tracing::info!("stopping after the current batch");
            stop.store(true, Ordering::SeqCst);
        });
    }
    tracing::info!(ledger = %cfg.ledger_topic, views = %cfg.views_topic, "explaining");
    let (stream, sink) = (
        pipeline::Pipeline::stream(&cfg),
        pipeline::Pipeline::sink(&cfg),
    );
    dl_stream::supervise(
        &stream,
        &stop,
        &health,
        || {
            let stage = pipeline::Pipeline::new(
                &cfg,
                redactor.clone(),
                registry.clone(),
                runtime.handle().clone(),
            );
            dl_stream::run_kafka(&stream, &sink, stage, &stop, &health)
        },
        |_| dl_stream::Recovery::Backoff,
    );
    tracing::info!("stopped");
    Ok(())
}
