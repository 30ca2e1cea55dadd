//! `dl-worker`: consumes `DecisionRequest`s, evaluates the selected decision function, appends
//! the outcome to the hash-chained ledger and produces the `DecisionResult`, all in one Kafka
//! transaction per batch. See ARCHITECTURE.md and docs/adr/0003-exactly-once-pipeline.md.

mod chain;
mod config;
mod decide;
mod functions;
mod pipeline;
mod security;
mod shadow;
mod signing;
mod telemetry;
mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cfg = config::Config::parse();
    dl_telemetry::init_tracing("dl-worker");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let telemetry = runtime.block_on(dl_telemetry::Telemetry::start(
        cfg.metrics_addr,
        Duration::from_secs(60),
    ))?;
    let health = telemetry.health.clone();
    telemetry::describe();
    dl_stream::describe_metrics("dl_worker");
    dl_auth::describe_metrics();
    dl_replay::describe_metrics();
    dl_registry_kafka::describe_metrics();
    dl_signer::metrics::describe();
    dl_schema_registry::describe_metrics();

    let functions = start_registry(&cfg, runtime.handle(), &health)?;
    tracing::info!(
        active_versions = functions.load().len(),
        topic = %cfg.registry_topic,
        "registry rebuilt; ACTIVE versions compiled"
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            dl_telemetry::shutdown_signal().await;
            tracing::info!("stopping after the current batch");
            stop.store(true, Ordering::SeqCst);
        });
    }

    let security = Arc::new(security::Security::start(
        &cfg,
        runtime.handle().clone(),
        &health,
        &stop,
    )?);
    if security.auth_enabled() {
        security::check_allow_lists(functions.load().allow_lists());
    }

    let signing = signing::Signing::start(&cfg, runtime.handle().clone(), &health, &stop)?;
    let wire = Arc::new(wire::Wire::start(&cfg, runtime.handle().clone())?);

    // Crash-only recovery (dl-stream): any failure drops consumer, producer and stage (its
    // transaction is aborted) and a new attempt starts from the committed offsets and the
    // recovered chain heads.
    let stream = pipeline::Pipeline::stream(&cfg);
    let sink = pipeline::Pipeline::sink(&cfg);
    dl_stream::supervise(
        &stream,
        &stop,
        &health,
        || {
            let stage = pipeline::Pipeline::new(
                &cfg,
                functions.clone(),
                health.clone(),
                security.clone(),
                signing.clone(),
                wire.clone(),
            )?;
            dl_stream::run_kafka(&stream, &sink, stage, &stop, &health).map_err(|e| match e {
                dl_stream::StreamError::Stage(e) => e,
                e => anyhow::Error::new(e),
            })
        },
        |e: &anyhow::Error| {
            if e.is::<security::ReplayStoreDown>() {
                // Fail closed: the batch was not decided; its offsets are not committed. Wait
                // for Redis without a consumer, then start again from the committed offsets.
                tracing::error!(
                    error = format!("{e:#}"),
                    "replay store unavailable; holding consumption until Redis is back"
                );
                security.wait_for_redis(&health, &stop);
                dl_stream::Recovery::Resume
            } else if e.is::<signing::SigningUnavailable>() {
                // Fail closed: the worker key expired and the signer could not renew it.
                tracing::error!(
                    error = format!("{e:#}"),
                    "no valid signing key; holding consumption until the signer is back"
                );
                signing.wait_for_key(&stop);
                dl_stream::Recovery::Resume
            } else {
                dl_stream::Recovery::Backoff
            }
        },
    );
    tracing::info!("stopped");
    Ok(())
}

/// Rebuilds the registry from its topic and starts following it. Readiness stays false (blocker
/// "registry") until the ACTIVE versions are compiled.
fn start_registry(
    cfg: &config::Config,
    runtime: &tokio::runtime::Handle,
    health: &Arc<dl_telemetry::Health>,
) -> anyhow::Result<Arc<functions::LiveFunctions>> {
    let source = dl_registry_kafka::RegistrySource {
        brokers: cfg.brokers.clone(),
        topic: cfg.registry_topic.clone(),
        approvers_file: cfg.approvers_file.clone(),
        rebuild_timeout: Duration::from_secs(cfg.registry_rebuild_timeout_secs),
    };
    let follower = runtime.block_on(dl_registry_kafka::follow_registry(
        &source,
        dl_registry_kafka::Readiness::Hold(health),
    ))?;
    let live =
        functions::LiveFunctions::start(runtime, follower, source.rebuild_timeout, health.clone())?;
    health.set_blocker(dl_registry_kafka::READINESS_BLOCKER, None);
    Ok(live)
}
