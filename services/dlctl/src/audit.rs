//! `dlctl audit report | replay | drift | shadow` over the PostgreSQL projection (docs/audit.md).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use dl_audit::{AuditReport, Replayer, Scope, Verdict};
use dl_registry::Registry;
use dl_registry_kafka::{follow_registry, Readiness, RegistrySource};

use crate::registry::RegistryOpts;

/// The audit subcommands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Metrics per function version: counts, latency, reasons, rejections, integrity, replays,
    /// compliance score.
    Report {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-evaluate a sample of recorded decisions with the package that decided them; exit 1
    /// when any does not give the recorded output and reasons again.
    Replay {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        registry: RegistryOpts,
        /// Most decisions to replay (a random sample of the scope).
        #[arg(long, default_value_t = 1000)]
        sample: i64,
        /// Store the run in audit_runs / audit_replays (the report then counts it).
        #[arg(long)]
        record: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate recorded inputs of a function with another version: what would change.
    Drift {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        registry: RegistryOpts,
        /// The version to compare against (must be in the registry; any state).
        #[arg(long)]
        to_version: String,
        /// Most decisions to evaluate (a random sample of the scope).
        #[arg(long, default_value_t = 1000)]
        sample: i64,
        /// Output pointers not compared (they name the version by design).
        #[arg(long, value_delimiter = ',', default_value = "/version")]
        ignore: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Agreement rates of live shadow evaluations (ADR 0032) per (function, deciding version,
    /// shadow version), with the most frequent differing output pointers.
    Shadow {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Pointers listed per version pair.
        #[arg(long, default_value_t = 5)]
        top: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Which outcomes to look at.
#[derive(Args, Clone)]
pub struct ScopeArgs {
    /// Only this function.
    #[arg(long)]
    function: Option<String>,
    /// Only this version (needs --function).
    #[arg(long, requires = "function")]
    version: Option<String>,
    /// Decided at or after (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = instant)]
    since: Option<DateTime<Utc>>,
    /// Decided before (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = instant)]
    until: Option<DateTime<Utc>>,
    /// PostgreSQL URL of the projection.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

fn instant(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is neither YYYY-MM-DD nor RFC 3339"))
}

impl ScopeArgs {
    /// The scope; with `tenant`, only its outcomes, and `--function` is a name as its callers
    /// use it (docs/tenancy.md).
    fn scope(&self, tenant: Option<&str>) -> anyhow::Result<Scope> {
        Ok(Scope {
            function_id: self
                .function
                .as_deref()
                .map(|f| crate::registry::qualified(tenant, f))
                .transpose()?,
            function_version: self.version.clone(),
            since: self.since,
            until: self.until,
            tenant: tenant.map(str::to_string),
        })
    }

    async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await
            .context("connecting to PostgreSQL")
    }
}

async fn registry(brokers: &str, opts: &RegistryOpts) -> anyhow::Result<std::sync::Arc<Registry>> {
    let source = RegistrySource {
        brokers: brokers.to_string(),
        topic: opts.registry_topic.clone(),
        approvers_file: crate::registry::approvers_file(opts)?.to_path_buf(),
        rebuild_timeout: Duration::from_secs(opts.timeout_secs),
    };
    let follower = follow_registry(&source, Readiness::Untracked)
        .await
        .context("reading the registry")?;
    Ok(follower.snapshot())
}

/// Runs one audit command; `Ok(false)` when a replay found a mismatch.
pub async fn run(
    brokers: &str,
    tenant: Option<&str>,
    command: AuditCommand,
) -> anyhow::Result<bool> {
    match command {
        AuditCommand::Report { scope, json } => {
            let report = AuditReport::load(&scope.pool().await?, &scope.scope(tenant)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(true)
        }
        AuditCommand::Replay {
            scope,
            registry: opts,
            sample,
            record,
            json,
        } => {
            let started = Utc::now();
            let pool = scope.pool().await?;
            let decisions =
                dl_audit::sample_decisions(&pool, &scope.scope(tenant)?, sample).await?;
            let replayer = Replayer::new(registry(brokers, &opts).await?);
            let results: Vec<_> = decisions.iter().map(|d| replayer.replay(d)).collect();
            let mismatches = results
                .iter()
                .filter(|r| r.verdict != Verdict::Match)
                .count();
            let run_id = if record {
                let params = serde_json::json!({"scope": scope.scope(tenant)?, "sample": sample});
                Some(dl_audit::record_replay_run(&pool, started, &params, &results).await?)
            } else {
                None
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run_id": run_id, "replayed": results.len(), "mismatches": mismatches,
                        "results": results,
                    }))?
                );
            } else {
                for r in results.iter().filter(|r| r.verdict != Verdict::Match) {
                    crate::say!("{}  {}  {}", r.decision_id, r.verdict.code(), r.detail);
                }
                crate::say!(
                    "{} decisions replayed, {} matched, {} did not{}",
                    results.len(),
                    results.len() - mismatches,
                    mismatches,
                    run_id
                        .map(|id| format!(" (run {id} recorded)"))
                        .unwrap_or_default()
                );
            }
            Ok(mismatches == 0)
        }
        AuditCommand::Drift {
            scope,
            registry: opts,
            to_version,
            sample,
            ignore,
            json,
        } => {
            let function_id = crate::registry::qualified(
                tenant,
                &scope.function.clone().context("drift needs --function")?,
            )?;
            let pool = scope.pool().await?;
            let decisions =
                dl_audit::sample_decisions(&pool, &scope.scope(tenant)?, sample).await?;
            let replayer = Replayer::new(registry(brokers, &opts).await?);
            let target = replayer
                .compiled(&function_id, &to_version)
                .map_err(|(v, d)| anyhow::anyhow!("{}: {d}", v.code()))?;
            let report = dl_audit::drift(&target, &decisions, &ignore);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                crate::say!(
                    "{function_id} -> {to_version}: {} evaluated, {} unchanged, {} changed ({:.1} %), {} refused",
                    report.evaluated,
                    report.unchanged,
                    report.changed,
                    report.drift_rate() * 100.0,
                    report.failed
                );
                for (pointer, n) in &report.changed_pointers {
                    crate::say!("  changed {pointer}: {n}");
                }
                for (code, n) in &report.failures {
                    crate::say!("  refused {code}: {n}");
                }
                if !report.examples.is_empty() {
                    crate::say!("  e.g. {}", report.examples.join(" "));
                }
            }
            Ok(true)
        }
        AuditCommand::Shadow { scope, top, json } => {
            let s = scope.scope(tenant)?;
            let rows = shadow_rates(&scope.pool().await?, &s, top).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                crate::say!("no shadow evaluations in scope");
            } else {
                for r in &rows {
                    crate::say!(
                        "{} {} -> {}: evaluated {}, agree {}, disagree {}, error {}, agreement {:.1} %",
                        r.function_id,
                        r.version,
                        r.shadow_version,
                        r.evaluated,
                        r.agreed,
                        r.disagreed,
                        r.errors,
                        r.agreement * 100.0
                    );
                    for (pointer, n) in &r.top_pointers {
                        crate::say!("  differs at {pointer}: {n}");
                    }
                }
            }
            Ok(true)
        }
    }
}

/// Shadow evaluations of one (function, deciding version, shadow version).
#[derive(serde::Serialize)]
struct ShadowRate {
    function_id: String,
    version: String,
    shadow_version: String,
    evaluated: i64,
    agreed: i64,
    disagreed: i64,
    errors: i64,
    /// agreed / evaluated.
    agreement: f64,
    /// The most frequent differing pointers with their counts, most frequent first.
    top_pointers: Vec<(String, i64)>,
}

/// The agreement rates in `scope` (its function, version, period and tenant), from
/// `shadow_evaluations`: every shadow evaluation is a row, so the rate's denominator is the
/// number of rows (ADR 0032).
async fn shadow_rates(
    pool: &sqlx::PgPool,
    scope: &Scope,
    top: i64,
) -> anyhow::Result<Vec<ShadowRate>> {
    const FILTER: &str = "($1::text IS NULL OR function_id = $1)
        AND ($2::text IS NULL OR version = $2)
        AND ($3::timestamptz IS NULL OR evaluated_at >= $3)
        AND ($4::timestamptz IS NULL OR evaluated_at < $4)
        AND ($5::text IS NULL OR tenant = $5)";
    let counts: Vec<(String, String, String, i64, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT function_id, version, shadow_version, count(*),
                count(*) FILTER (WHERE outcome = 'AGREE'),
                count(*) FILTER (WHERE outcome = 'DISAGREE'),
                count(*) FILTER (WHERE outcome = 'ERROR')
         FROM shadow_evaluations WHERE {FILTER}
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ))
    .bind(&scope.function_id)
    .bind(&scope.function_version)
    .bind(scope.since)
    .bind(scope.until)
    .bind(&scope.tenant)
    .fetch_all(pool)
    .await
    .context("reading shadow_evaluations")?;
    let pointers: Vec<(String, String, String, String, i64)> = sqlx::query_as(&format!(
        "SELECT function_id, version, shadow_version, pointer, n FROM (
             SELECT function_id, version, shadow_version, pointer, count(*) AS n,
                    row_number() OVER (PARTITION BY function_id, version, shadow_version
                                       ORDER BY count(*) DESC, pointer) AS rank
             FROM shadow_evaluations, unnest(pointers) AS pointer
             WHERE {FILTER}
             GROUP BY 1, 2, 3, 4) ranked
         WHERE rank <= $6 ORDER BY 1, 2, 3, n DESC, pointer"
    ))
    .bind(&scope.function_id)
    .bind(&scope.function_version)
    .bind(scope.since)
    .bind(scope.until)
    .bind(&scope.tenant)
    .bind(top)
    .fetch_all(pool)
    .await
    .context("reading shadow_evaluations")?;
    Ok(counts
        .into_iter()
        .map(
            |(function_id, version, shadow_version, evaluated, agreed, disagreed, errors)| {
                let top_pointers = pointers
                    .iter()
                    .filter(|p| (&p.0, &p.1, &p.2) == (&function_id, &version, &shadow_version))
                    .map(|p| (p.3.clone(), p.4))
                    .collect();
                ShadowRate {
                    agreement: if evaluated > 0 {
                        agreed as f64 / evaluated as f64
                    } else {
                        0.0
                    },
                    function_id,
                    version,
                    shadow_version,
                    evaluated,
                    agreed,
                    disagreed,
                    errors,
                    top_pointers,
                }
            },
        )
        .collect())
}

fn print_report(report: &AuditReport) {
    let secs = |v: Option<f64>| {
        v.map(|s| format!("{:.3}s", s))
            .unwrap_or_else(|| "-".into())
    };
    for v in &report.versions {
        crate::say!(
            "{} {}  decided {}  rejected {}  latency p50 {} p95 {} p99 {}",
            v.function_id,
            if v.function_version.is_empty() {
                "(no version)"
            } else {
                &v.function_version
            },
            v.decided,
            v.rejected,
            secs(v.latency_p50_s),
            secs(v.latency_p95_s),
            secs(v.latency_p99_s)
        );
        crate::say!(
            "  signed {}  verified {}  checkpointed {}  intact {}  replayed {} (matched {})  compliance {:.3}",
            v.signed,
            v.signature_verified,
            v.checkpointed,
            v.integrity_ok,
            v.replayed,
            v.replay_matches,
            v.compliance_score
        );
        let list = |m: &std::collections::BTreeMap<String, i64>| {
            m.iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !v.reasons.is_empty() {
            crate::say!("  reasons {}", list(&v.reasons));
        }
        if !v.rejections.is_empty() {
            crate::say!("  rejections {}", list(&v.rejections));
        }
    }
    if report.chain_breaks.is_empty() {
        crate::say!("chain breaks: none");
    } else {
        for (kind, n) in &report.chain_breaks {
            crate::say!("chain breaks {kind}: {n}");
        }
    }
}
