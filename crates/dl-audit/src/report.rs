//! Audit metrics from the PostgreSQL projection: what was decided, by which version, how fast,
//! why, and how much of it is provably intact.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dl_store::read::audit::{self, OutcomeFilter};
use dl_store::read::decisions::RecordedEvaluation;
use dl_store::read::ledger;
use dl_store::write::audit_runs::{self, ReplayVerdict};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::replay::{RecordedDecision, Replayed};
use crate::AuditError;

/// Which outcomes a report or replay covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Only this function.
    pub function_id: Option<String>,
    /// Only this version (with `function_id`).
    pub function_version: Option<String>,
    /// Decided at or after.
    pub since: Option<DateTime<Utc>>,
    /// Decided before.
    pub until: Option<DateTime<Utc>>,
    /// Only this tenant's outcomes (the gateway sets its caller's; docs/tenancy.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Metrics of one function version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionMetrics {
    /// Function id.
    pub function_id: String,
    /// Version (empty for rejections before a version was selected).
    pub function_version: String,
    /// Decided outcomes.
    pub decided: i64,
    /// Rejected requests.
    pub rejected: i64,
    /// Request-to-decision latency percentiles in seconds (`decided_at - issued_at`, so the
    /// caller's clock is in it), over outcomes with an `issued_at`.
    pub latency_p50_s: Option<f64>,
    /// 95th percentile.
    pub latency_p95_s: Option<f64>,
    /// 99th percentile.
    pub latency_p99_s: Option<f64>,
    /// Decisions with a signature.
    pub signed: i64,
    /// Decisions whose signature verified, by a key whose certificate verified.
    pub signature_verified: i64,
    /// Outcomes covered by a verified checkpoint of their chain.
    pub checkpointed: i64,
    /// Outcomes with `integrity_ok` (see `audit_decision_integrity`).
    pub integrity_ok: i64,
    /// Decisions replayed (latest verdict per decision) and how many matched.
    pub replayed: i64,
    /// Replays that gave the recorded output and reasons again.
    pub replay_matches: i64,
    /// Reason codes of decided outcomes and how often each was given.
    pub reasons: BTreeMap<String, i64>,
    /// Rejection codes and counts.
    pub rejections: BTreeMap<String, i64>,
    /// Compliance score in [0, 1]: see [`VersionMetrics::compliance_score`].
    pub compliance_score: f64,
}

impl VersionMetrics {
    /// The share of outcomes that are provably intact (ledger record unbroken, decision signed by
    /// a KMS-certified key, covered by a verified checkpoint), times the share of replayed
    /// decisions that replayed identically (1 when none were replayed). 1.0 means every outcome
    /// of the version can be shown to be what was decided, and every re-check agreed.
    pub fn compliance_score(&self) -> f64 {
        let total = self.decided + self.rejected;
        if total == 0 {
            return 0.0;
        }
        let intact = self.integrity_ok as f64 / total as f64;
        let replay = if self.replayed == 0 {
            1.0
        } else {
            self.replay_matches as f64 / self.replayed as f64
        };
        intact * replay
    }
}

/// The audit report: metrics per function version, chain breaks by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// What it covers.
    pub scope: Scope,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// Per function version, ordered by function id and version.
    pub versions: Vec<VersionMetrics>,
    /// Chain breaks found by the projector, by kind (whole ledger, not scoped).
    pub chain_breaks: BTreeMap<String, i64>,
}

impl Scope {
    /// The scope as the read model's filter.
    fn filter(&self) -> OutcomeFilter<'_> {
        OutcomeFilter {
            function_id: self.function_id.as_deref(),
            function_version: self.function_version.as_deref(),
            since: self.since,
            until: self.until,
            tenant: self.tenant.as_deref(),
        }
    }
}

impl AuditReport {
    /// Computes the report from the projection (read-only; the `dl_auditor` role suffices).
    pub async fn load(pool: &PgPool, scope: &Scope) -> Result<Self, AuditError> {
        let filter = scope.filter();
        let mut by_version: BTreeMap<(String, String), VersionMetrics> = BTreeMap::new();
        for c in audit::version_counts(pool, &filter).await? {
            by_version.insert(
                (c.function_id.clone(), c.function_version.clone()),
                VersionMetrics {
                    function_id: c.function_id,
                    function_version: c.function_version,
                    decided: c.decided,
                    rejected: c.rejected,
                    latency_p50_s: c.latency_p50_s,
                    latency_p95_s: c.latency_p95_s,
                    latency_p99_s: c.latency_p99_s,
                    signed: c.signed,
                    signature_verified: c.signature_verified,
                    checkpointed: c.checkpointed,
                    integrity_ok: c.integrity_ok,
                    replayed: c.replayed,
                    replay_matches: c.replay_matches,
                    ..Default::default()
                },
            );
        }
        for c in audit::reason_counts(pool, &filter).await? {
            if let Some(m) = by_version.get_mut(&(c.function_id, c.function_version)) {
                m.reasons.insert(c.code.unwrap_or_default(), c.count);
            }
        }
        for c in audit::rejection_counts(pool, &filter).await? {
            if let Some(m) = by_version.get_mut(&(c.function_id, c.function_version)) {
                m.rejections.insert(c.code.unwrap_or_default(), c.count);
            }
        }
        let chain_breaks = ledger::chain_break_counts(pool)
            .await?
            .into_iter()
            .map(|b| (b.break_kind, b.breaks))
            .collect();
        let versions = by_version
            .into_values()
            .map(|mut m| {
                m.compliance_score = m.compliance_score();
                m
            })
            .collect();
        Ok(Self {
            scope: scope.clone(),
            generated_at: Utc::now(),
            versions,
            chain_breaks,
        })
    }
}

fn recorded(rows: Vec<RecordedEvaluation>) -> Vec<RecordedDecision> {
    rows.into_iter()
        .map(|r| RecordedDecision {
            decision_id: r.decision_id,
            function_id: r.function_id,
            function_version: r.function_version.unwrap_or_default(),
            function_digest: r.function_digest.unwrap_or_default(),
            input: r.input,
            output: r.output,
            reasons: r.reasons,
        })
        .collect()
}

/// Decided outcomes in `scope`, a random sample of at most `limit` of them.
pub async fn sample_decisions(
    pool: &PgPool,
    scope: &Scope,
    limit: i64,
) -> Result<Vec<RecordedDecision>, AuditError> {
    Ok(recorded(
        audit::sample_decided(pool, &scope.filter(), limit).await?,
    ))
}

/// Decided outcomes in `scope` never replayed yet, oldest first, at most `limit` of them.
pub async fn unreplayed_decisions(
    pool: &PgPool,
    scope: &Scope,
    limit: i64,
) -> Result<Vec<RecordedDecision>, AuditError> {
    Ok(recorded(
        audit::unreplayed_decided(pool, &scope.filter(), limit).await?,
    ))
}

/// Stores a replay run (`audit_runs` + `audit_replays`) in one transaction; returns its id.
pub async fn record_replay_run(
    pool: &PgPool,
    started_at: DateTime<Utc>,
    parameters: &serde_json::Value,
    results: &[Replayed],
) -> Result<uuid::Uuid, AuditError> {
    let run_id = uuid::Uuid::new_v4();
    let mut summary: BTreeMap<&str, u64> = BTreeMap::new();
    for r in results {
        *summary.entry(r.verdict.code()).or_default() += 1;
    }
    let verdicts: Vec<ReplayVerdict<'_>> = results
        .iter()
        .map(|r| ReplayVerdict {
            decision_id: &r.decision_id,
            verdict: r.verdict.code(),
            detail: &r.detail,
        })
        .collect();
    audit_runs::record_replay_run(
        pool,
        run_id,
        started_at,
        parameters,
        &serde_json::to_value(&summary).unwrap_or_default(),
        &verdicts,
    )
    .await?;
    Ok(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_score() {
        let mut m = VersionMetrics {
            decided: 8,
            rejected: 2,
            integrity_ok: 10,
            ..Default::default()
        };
        assert_eq!(m.compliance_score(), 1.0);
        m.integrity_ok = 9;
        m.replayed = 4;
        m.replay_matches = 3;
        assert!((m.compliance_score() - 0.9 * 0.75).abs() < 1e-12);
        assert_eq!(VersionMetrics::default().compliance_score(), 0.0);
    }
}
