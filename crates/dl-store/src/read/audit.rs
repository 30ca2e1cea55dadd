//! Reads for the audit (docs/audit.md): per function version metrics over `decisions`,
//! `audit_decision_integrity` and `audit_latest_replays`, and the decisions to replay.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};

use super::decisions::{RecordedEvaluation, EVALUATION_COLUMNS};
use crate::StoreError;

/// Which outcomes an audit read covers; `None` is no restriction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeFilter<'a> {
    /// Only this function.
    pub function_id: Option<&'a str>,
    /// Only this version.
    pub function_version: Option<&'a str>,
    /// Decided at or after.
    pub since: Option<DateTime<Utc>>,
    /// Decided before.
    pub until: Option<DateTime<Utc>>,
    /// Only this tenant's outcomes (`default` for a deployment without tenants).
    pub tenant: Option<&'a str>,
}

/// `$1..$5` of [`OutcomeFilter`] over `decisions d`.
const FILTER: &str = "($1::text IS NULL OR d.function_id = $1)
    AND ($2::text IS NULL OR d.function_version = $2)
    AND ($3::timestamptz IS NULL OR d.decided_at >= $3)
    AND ($4::timestamptz IS NULL OR d.decided_at < $4)
    AND ($5::text IS NULL OR d.tenant = $5)";

fn bind<'q, O>(
    q: QueryAs<'q, Postgres, O, PgArguments>,
    f: &OutcomeFilter<'q>,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    q.bind(f.function_id)
        .bind(f.function_version)
        .bind(f.since)
        .bind(f.until)
        .bind(f.tenant)
}

/// Counts and latency of one function version.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VersionCounts {
    /// Function id.
    pub function_id: String,
    /// Version (empty for rejections before a version was selected).
    pub function_version: String,
    /// Decided outcomes.
    pub decided: i64,
    /// Rejected requests.
    pub rejected: i64,
    /// Median of `decided_at - issued_at` in seconds (outcomes with an `issued_at`).
    pub latency_p50_s: Option<f64>,
    /// 95th percentile.
    pub latency_p95_s: Option<f64>,
    /// 99th percentile.
    pub latency_p99_s: Option<f64>,
    /// Signed decisions.
    pub signed: i64,
    /// Decisions whose signature verified, by a key whose certificate verified.
    pub signature_verified: i64,
    /// Outcomes covered by a verified checkpoint.
    pub checkpointed: i64,
    /// Outcomes with `integrity_ok`.
    pub integrity_ok: i64,
    /// Decisions replayed (latest verdict per decision).
    pub replayed: i64,
    /// Of those, verdict `MATCH`.
    pub replay_matches: i64,
}

/// Counts per function version of the outcomes in `filter`, in no particular order.
pub async fn version_counts(
    pool: &PgPool,
    filter: &OutcomeFilter<'_>,
) -> Result<Vec<VersionCounts>, StoreError> {
    let sql = format!(
        "SELECT d.function_id, COALESCE(d.function_version, '') AS function_version,
            count(*) FILTER (WHERE d.status = 'DECIDED') AS decided,
            count(*) FILTER (WHERE d.status = 'REJECTED') AS rejected,
            percentile_cont(0.50) WITHIN GROUP (ORDER BY extract(epoch FROM d.decided_at - d.issued_at)) AS latency_p50_s,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM d.decided_at - d.issued_at)) AS latency_p95_s,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.decided_at - d.issued_at)) AS latency_p99_s,
            count(*) FILTER (WHERE i.signed) AS signed,
            count(*) FILTER (WHERE i.signature_verified AND i.key_verified) AS signature_verified,
            count(*) FILTER (WHERE i.covered_by_checkpoint) AS checkpointed,
            count(*) FILTER (WHERE i.integrity_ok) AS integrity_ok,
            count(r.verdict) AS replayed,
            count(*) FILTER (WHERE r.verdict = 'MATCH') AS replay_matches
         FROM decisions d
         JOIN audit_decision_integrity i USING (decision_id)
         LEFT JOIN audit_latest_replays r USING (decision_id)
         WHERE {FILTER}
         GROUP BY 1, 2"
    );
    Ok(bind(sqlx::query_as(&sql), filter).fetch_all(pool).await?)
}

/// How often a code was given for one function version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeCount {
    /// Function id.
    pub function_id: String,
    /// Version (empty for rejections before a version was selected).
    pub function_version: String,
    /// The reason or rejection code (`None`: a reason without a code, a rejection without one).
    pub code: Option<String>,
    /// How often.
    pub count: i64,
}

/// Reason codes of the decided outcomes in `filter`, per function version.
pub async fn reason_counts(
    pool: &PgPool,
    filter: &OutcomeFilter<'_>,
) -> Result<Vec<CodeCount>, StoreError> {
    let sql = format!(
        "SELECT d.function_id, COALESCE(d.function_version, '') AS function_version,
                r ->> 'code' AS code, count(*) AS count
         FROM decisions d, jsonb_array_elements(d.reasons) r
         WHERE d.status = 'DECIDED' AND {FILTER}
         GROUP BY 1, 2, 3"
    );
    Ok(bind(sqlx::query_as(&sql), filter).fetch_all(pool).await?)
}

/// Rejection codes of the rejected outcomes in `filter`, per function version.
pub async fn rejection_counts(
    pool: &PgPool,
    filter: &OutcomeFilter<'_>,
) -> Result<Vec<CodeCount>, StoreError> {
    let sql = format!(
        "SELECT d.function_id, COALESCE(d.function_version, '') AS function_version,
                d.rejection_code AS code, count(*) AS count
         FROM decisions d
         WHERE d.status = 'REJECTED' AND {FILTER}
         GROUP BY 1, 2, 3"
    );
    Ok(bind(sqlx::query_as(&sql), filter).fetch_all(pool).await?)
}

/// Decided outcomes in `filter`, a random sample of at most `limit` of them.
pub async fn sample_decided(
    pool: &PgPool,
    filter: &OutcomeFilter<'_>,
    limit: i64,
) -> Result<Vec<RecordedEvaluation>, StoreError> {
    decided(pool, filter, limit, "ORDER BY random()").await
}

/// Decided outcomes in `filter` never replayed yet, oldest first, at most `limit` of them.
pub async fn unreplayed_decided(
    pool: &PgPool,
    filter: &OutcomeFilter<'_>,
    limit: i64,
) -> Result<Vec<RecordedEvaluation>, StoreError> {
    decided(
        pool,
        filter,
        limit,
        "AND NOT EXISTS (SELECT 1 FROM audit_replays r WHERE r.decision_id = d.decision_id)
         ORDER BY d.decided_at",
    )
    .await
}

async fn decided(
    pool: &PgPool,
    filter: &OutcomeFilter<'_>,
    limit: i64,
    tail: &str,
) -> Result<Vec<RecordedEvaluation>, StoreError> {
    let sql = format!(
        "SELECT {EVALUATION_COLUMNS}
         FROM decisions d
         WHERE d.status = 'DECIDED' AND {FILTER} {tail} LIMIT $6"
    );
    Ok(bind(sqlx::query_as(&sql), filter)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}
