//! `audit_runs` and `audit_replays`: runs of the deterministic replay (docs/audit.md).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// The verdict on one replayed decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayVerdict<'a> {
    /// The decision replayed.
    pub decision_id: &'a str,
    /// Stable verdict code (`MATCH`, `OUTPUT_DIFFERS`, ...; the CHECK of `audit_replays.verdict`).
    pub verdict: &'a str,
    /// What differed, if anything.
    pub detail: &'a str,
}

/// Stores a replay run (`audit_runs` + `audit_replays`) in one transaction, finished now, under
/// `run_id`.
pub async fn record_replay_run(
    pool: &PgPool,
    run_id: Uuid,
    started_at: DateTime<Utc>,
    parameters: &Value,
    summary: &Value,
    verdicts: &[ReplayVerdict<'_>],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO audit_runs (run_id, kind, started_at, finished_at, parameters, summary)
         VALUES ($1, 'REPLAY', $2, now(), $3, $4)",
    )
    .bind(run_id)
    .bind(started_at)
    .bind(parameters)
    .bind(summary)
    .execute(&mut *tx)
    .await?;
    for v in verdicts {
        sqlx::query(
            "INSERT INTO audit_replays (run_id, decision_id, verdict, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(run_id)
        .bind(v.decision_id)
        .bind(v.verdict)
        .bind(v.detail)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
