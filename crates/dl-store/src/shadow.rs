//! Projection of `decision.shadow` (ADR 0032) into `shadow_evaluations` (the view
//! `shadow_disagreements` shows the disagreements), a stage of the stream mechanism
//! ([`ShadowStage`]): each batch's rows and its next offsets commit in one PostgreSQL
//! transaction (`dl_stream::run_pg`). A decision is evaluated in shadow at most once, so a row
//! seen again (a rebuild, a redelivery) is left as it is.

use dl_schema::{Codec, ShadowEvaluation};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::json;
use sqlx::PgConnection;

use crate::StoreError;

/// Writes `evaluations` with `tx`, each with its decision's tenant (`default` for none);
/// returns how many rows were new.
pub async fn write(
    tx: &mut PgConnection,
    evaluations: &[ShadowEvaluation],
) -> Result<u64, StoreError> {
    let mut written = 0;
    for e in evaluations {
        let differences = json!(e
            .differences
            .iter()
            .map(|d| json!({"pointer": d.pointer, "deciding_value": d.deciding_value, "shadow_value": d.shadow_value}))
            .collect::<Vec<_>>());
        let pointers: Vec<&str> = e.differences.iter().map(|d| d.pointer.as_str()).collect();
        written += sqlx::query(
            "INSERT INTO shadow_evaluations (decision_id, tenant, function_id, version, digest,
                 shadow_version, shadow_digest, outcome, differences, pointers, error_code,
                 evaluated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                     to_timestamp($12::double precision / 1000))
             ON CONFLICT (decision_id) DO NOTHING",
        )
        .bind(&e.decision_id)
        .bind(
            e.tenant
                .as_deref()
                .unwrap_or(dl_schema::tenant::DEFAULT_TENANT),
        )
        .bind(&e.function_id)
        .bind(&e.version)
        .bind(&e.digest)
        .bind(&e.shadow_version)
        .bind(&e.shadow_digest)
        .bind(e.outcome.as_str())
        .bind(differences)
        .bind(&pointers)
        .bind(&e.error_code)
        .bind(e.evaluated_at as f64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(written)
}

/// The shadow projection as a stage of the stream mechanism. Undecodable messages are counted
/// (`dl_projector_undecodable_shadow_total`) and skipped: the worker writes only what it
/// encoded.
pub struct ShadowStage {
    codec: Codec<ShadowEvaluation>,
}

impl Default for ShadowStage {
    fn default() -> Self {
        Self {
            codec: dl_schema::shadow_codec(),
        }
    }
}

impl dl_stream::PgStage for ShadowStage {
    type Error = StoreError;

    async fn write(
        &mut self,
        tx: &mut PgConnection,
        fresh: &[&OwnedMessage],
    ) -> Result<(), StoreError> {
        let mut evaluations = Vec::with_capacity(fresh.len());
        for m in fresh {
            match self.codec.decode(m.payload().unwrap_or_default()) {
                Ok(e) => evaluations.push(e),
                Err(_) => metrics::counter!("dl_projector_undecodable_shadow_total").increment(1),
            }
        }
        let written = write(tx, &evaluations).await?;
        metrics::counter!("dl_projector_shadow_evaluations_total").increment(written);
        Ok(())
    }
}
