//! `dl-auditor`: keeps auditing the PostgreSQL projection. Every round it computes the audit
//! report per function version (published as Prometheus gauges) and replays every decision not
//! replayed yet with the package that decided it, recording the run (`audit_runs`,
//! `audit_replays`). The same library serves `dlctl audit` (docs/audit.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use dl_audit::{AuditReport, Replayer, Scope, Verdict};
use dl_registry_kafka::{follow_registry, Readiness, RegistryFollower, RegistrySource};

/// Decision Layer auditor.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Config {
    /// Kafka bootstrap servers (for the registry). Further librdkafka settings: KAFKA_<PROPERTY>.
    #[arg(long, env = "DL_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Registry topic: the packages replays evaluate with.
    #[arg(long, env = "DL_REGISTRY_TOPIC", default_value = "registry.events")]
    registry_topic: String,
    /// Approver public keys (YAML), to fold the registry under its release rules.
    #[arg(long, env = "DL_APPROVERS_FILE")]
    approvers: PathBuf,
    /// PostgreSQL URL of the projection (the projector creates the tables).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Address of /metrics, /healthz, /readyz.
    #[arg(long, env = "DL_METRICS_ADDR", default_value = "127.0.0.1:9104")]
    metrics_addr: SocketAddr,
    /// Seconds between audit rounds.
    #[arg(long, env = "DL_AUDIT_EVERY_SECS", default_value_t = 60)]
    every_secs: u64,
    /// Most decisions replayed per round (the oldest not yet replayed first).
    #[arg(long, env = "DL_AUDIT_REPLAY_BATCH", default_value_t = 1000)]
    replay_batch: i64,
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        "dl_audit_outcomes",
        "Outcomes in the projection per function version and status (decided, rejected)."
    );
    describe_gauge!(
        "dl_audit_integrity_ok",
        "Outcomes per function version that are provably intact (signed, certified, checkpointed, no break)."
    );
    describe_gauge!(
        "dl_audit_compliance_score",
        "Compliance score per function version (docs/audit.md)."
    );
    describe_gauge!(
        "dl_audit_latency_seconds",
        Unit::Seconds,
        "Request-to-decision latency per function version, by percentile (50, 95, 99) (a gauge computed in PostgreSQL, not a Prometheus summary)."
    );
    describe_gauge!(
        "dl_audit_chain_breaks",
        "Chain breaks recorded by the projector, by kind."
    );
    describe_counter!(
        "dl_audit_replays_total",
        "Decisions replayed by verdict (MATCH, OUTPUT_DIFFERS, ...)."
    );
    describe_counter!(
        "dl_audit_round_failures_total",
        "Audit rounds that failed (PostgreSQL unavailable, ...)."
    );
    describe_histogram!(
        "dl_audit_round_seconds",
        Unit::Seconds,
        "Time of one audit round."
    );
    metrics::counter!("dl_audit_round_failures_total").increment(0);
}

fn publish(report: &AuditReport) {
    for v in &report.versions {
        let labels = [
            ("function", v.function_id.clone()),
            ("version", v.function_version.clone()),
        ];
        for (status, n) in [("decided", v.decided), ("rejected", v.rejected)] {
            let mut l = labels.to_vec();
            l.push(("status", status.to_string()));
            metrics::gauge!("dl_audit_outcomes", &l).set(n as f64);
        }
        metrics::gauge!("dl_audit_integrity_ok", &labels).set(v.integrity_ok as f64);
        metrics::gauge!("dl_audit_compliance_score", &labels).set(v.compliance_score);
        for (q, value) in [
            ("50", v.latency_p50_s),
            ("95", v.latency_p95_s),
            ("99", v.latency_p99_s),
        ] {
            if let Some(s) = value {
                let mut l = labels.to_vec();
                l.push(("percentile", q.to_string()));
                metrics::gauge!("dl_audit_latency_seconds", &l).set(s);
            }
        }
    }
    for (kind, n) in &report.chain_breaks {
        metrics::gauge!("dl_audit_chain_breaks", "kind" => kind.clone()).set(*n as f64);
    }
}

/// One round: report, then replay what was not replayed yet. Returns the mismatches.
async fn round(
    cfg: &Config,
    pool: &sqlx::PgPool,
    registry: &RegistryFollower,
) -> anyhow::Result<usize> {
    let started = chrono::Utc::now();
    let scope = Scope::default();
    let todo = dl_audit::unreplayed_decisions(pool, &scope, cfg.replay_batch).await?;
    let mut mismatches = 0;
    if !todo.is_empty() {
        let replayer = Replayer::new(registry.snapshot());
        let results: Vec<_> = todo.iter().map(|d| replayer.replay(d)).collect();
        for r in &results {
            metrics::counter!("dl_audit_replays_total", "verdict" => r.verdict.code()).increment(1);
            if r.verdict != Verdict::Match {
                mismatches += 1;
                tracing::warn!(decision_id = %r.decision_id, verdict = r.verdict.code(), detail = %r.detail, "replay did not give the recorded result");
            }
        }
        let params = serde_json::json!({"scope": scope, "replay_batch": cfg.replay_batch, "by": "dl-auditor"});
        let run = dl_audit::record_replay_run(pool, started, &params, &results).await?;
        tracing::info!(%run, replayed = results.len(), mismatches, "replay run recorded");
    }
    publish(&AuditReport::load(pool, &scope).await?);
    Ok(mismatches)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    dl_telemetry::init_tracing("dl-auditor");
    // A round may take a while on a large backlog: stalled only after several intervals.
    let stall = Duration::from_secs(cfg.every_secs.saturating_mul(5).max(300));
    let telemetry = dl_telemetry::Telemetry::start(cfg.metrics_addr, stall).await?;
    let health = telemetry.health.clone();
    describe_metrics();
    dl_registry_kafka::describe_metrics();

    let registry = follow_registry(
        &RegistrySource {
            brokers: cfg.brokers.clone(),
            topic: cfg.registry_topic.clone(),
            approvers_file: cfg.approvers.clone(),
            rebuild_timeout: Duration::from_secs(300),
        },
        Readiness::ClearWhenRebuilt(&health),
    )
    .await?;

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy(&cfg.database_url)
        .context("DATABASE_URL")?;
    let mut shutdown = Box::pin(dl_telemetry::shutdown_signal());
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.every_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(every_secs = cfg.every_secs, "auditing");
    loop {
        tokio::select! {
            _ = &mut shutdown => { tracing::info!("stopping"); return Ok(()); }
            _ = tick.tick() => {}
        }
        health.beat();
        let t = Instant::now();
        match round(&cfg, &pool, &registry).await {
            Ok(_) => health.set_blocker("postgres", None),
            Err(e) => {
                metrics::counter!("dl_audit_round_failures_total").increment(1);
                health.set_blocker("postgres", Some(e.to_string()));
                tracing::warn!(error = %e, "audit round failed; next round in {} s", cfg.every_secs);
            }
        }
        metrics::histogram!("dl_audit_round_seconds").record(t.elapsed().as_secs_f64());
        if !registry.is_running() {
            health.set_blocker(
                dl_registry_kafka::READINESS_BLOCKER,
                Some("the registry follower stopped".into()),
            );
            anyhow::bail!("the registry follower stopped");
        }
    }
}
