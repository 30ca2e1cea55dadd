//! Audit metrics from the PostgreSQL projection: what was decided, by which version, how fast,
//! why, and how much of it is provably intact.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

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

const FILTER: &str = "($1::text IS NULL OR d.function_id = $1)
    AND ($2::text IS NULL OR d.function_version = $2)
    AND ($3::timestamptz IS NULL OR d.decided_at >= $3)
    AND ($4::timestamptz IS NULL OR d.decided_at < $4)";

impl AuditReport {
    /// Computes the report from the projection (read-only; the `dl_auditor` role suffices).
    pub async fn load(pool: &PgPool, scope: &Scope) -> Result<Self, AuditError> {
        let mut by_version: BTreeMap<(String, String), VersionMetrics> = BTreeMap::new();
        let main = format!(
            "SELECT d.function_id, COALESCE(d.function_version, '') AS v,
                count(*) FILTER (WHERE d.status = 'DECIDED') AS decided,
                count(*) FILTER (WHERE d.status = 'REJECTED') AS rejected,
                percentile_cont(0.50) WITHIN GROUP (ORDER BY extract(epoch FROM d.decided_at - d.issued_at)) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM d.decided_at - d.issued_at)) AS p95,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.decided_at - d.issued_at)) AS p99,
                count(*) FILTER (WHERE i.signed) AS signed,
                count(*) FILTER (WHERE i.signature_verified AND i.key_verified) AS verified,
                count(*) FILTER (WHERE i.covered_by_checkpoint) AS checkpointed,
                count(*) FILTER (WHERE i.integrity_ok) AS intact,
                count(r.verdict) AS replayed,
                count(*) FILTER (WHERE r.verdict = 'MATCH') AS matches
             FROM decisions d
             JOIN audit_decision_integrity i USING (decision_id)
             LEFT JOIN audit_latest_replays r USING (decision_id)
             WHERE {FILTER}
             GROUP BY 1, 2"
        );
        for row in bind(sqlx::query(&main), scope).fetch_all(pool).await? {
            let key = (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            by_version.insert(
                key.clone(),
                VersionMetrics {
                    function_id: key.0,
                    function_version: key.1,
                    decided: row.try_get(2)?,
                    rejected: row.try_get(3)?,
                    latency_p50_s: row.try_get(4)?,
                    latency_p95_s: row.try_get(5)?,
                    latency_p99_s: row.try_get(6)?,
                    signed: row.try_get(7)?,
                    signature_verified: row.try_get(8)?,
                    checkpointed: row.try_get(9)?,
                    integrity_ok: row.try_get(10)?,
                    replayed: row.try_get(11)?,
                    replay_matches: row.try_get(12)?,
                    ..Default::default()
                },
            );
        }
        let reasons = format!(
            "SELECT d.function_id, COALESCE(d.function_version, ''), r ->> 'code', count(*)
             FROM decisions d, jsonb_array_elements(d.reasons) r
             WHERE d.status = 'DECIDED' AND {FILTER}
             GROUP BY 1, 2, 3"
        );
        for row in bind(sqlx::query(&reasons), scope).fetch_all(pool).await? {
            let key = (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            if let Some(m) = by_version.get_mut(&key) {
                let code: Option<String> = row.try_get(2)?;
                m.reasons
                    .insert(code.unwrap_or_default(), row.try_get::<i64, _>(3)?);
            }
        }
        let rejections = format!(
            "SELECT d.function_id, COALESCE(d.function_version, ''), d.rejection_code, count(*)
             FROM decisions d
             WHERE d.status = 'REJECTED' AND {FILTER}
             GROUP BY 1, 2, 3"
        );
        for row in bind(sqlx::query(&rejections), scope)
            .fetch_all(pool)
            .await?
        {
            let key = (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            if let Some(m) = by_version.get_mut(&key) {
                let code: Option<String> = row.try_get(2)?;
                m.rejections
                    .insert(code.unwrap_or_default(), row.try_get::<i64, _>(3)?);
            }
        }
        let mut chain_breaks = BTreeMap::new();
        for row in sqlx::query("SELECT break_kind, count(*) FROM chain_breaks GROUP BY break_kind")
            .fetch_all(pool)
            .await?
        {
            chain_breaks.insert(row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?);
        }
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

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    scope: &'q Scope,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(scope.function_id.as_deref())
        .bind(scope.function_version.as_deref())
        .bind(scope.since)
        .bind(scope.until)
}

/// Decided outcomes in `scope`, a random sample of at most `limit` of them.
pub async fn sample_decisions(
    pool: &PgPool,
    scope: &Scope,
    limit: i64,
) -> Result<Vec<RecordedDecision>, AuditError> {
    load_decisions(pool, scope, limit, "ORDER BY random()").await
}

/// Decided outcomes in `scope` never replayed yet, oldest first, at most `limit` of them.
pub async fn unreplayed_decisions(
    pool: &PgPool,
    scope: &Scope,
    limit: i64,
) -> Result<Vec<RecordedDecision>, AuditError> {
    load_decisions(
        pool,
        scope,
        limit,
        "AND NOT EXISTS (SELECT 1 FROM audit_replays r WHERE r.decision_id = d.decision_id)
         ORDER BY d.decided_at",
    )
    .await
}

async fn load_decisions(
    pool: &PgPool,
    scope: &Scope,
    limit: i64,
    tail: &str,
) -> Result<Vec<RecordedDecision>, AuditError> {
    let sql = format!(
        "SELECT d.decision_id, d.function_id, d.function_version, d.function_digest,
                d.input, d.output, d.reasons
         FROM decisions d
         WHERE d.status = 'DECIDED' AND {FILTER} {tail} LIMIT $5"
    );
    let rows = bind(sqlx::query(&sql), scope)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RecordedDecision {
                decision_id: row.try_get(0)?,
                function_id: row.try_get(1)?,
                function_version: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                function_digest: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                input: row.try_get(4)?,
                output: row.try_get(5)?,
                reasons: row.try_get(6)?,
            })
        })
        .collect()
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
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO audit_runs (run_id, kind, started_at, finished_at, parameters, summary)
         VALUES ($1, 'REPLAY', $2, now(), $3, $4)",
    )
    .bind(run_id)
    .bind(started_at)
    .bind(parameters)
    .bind(serde_json::to_value(&summary).unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    for r in results {
        sqlx::query(
            "INSERT INTO audit_replays (run_id, decision_id, verdict, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(run_id)
        .bind(&r.decision_id)
        .bind(r.verdict.code())
        .bind(&r.detail)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
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
