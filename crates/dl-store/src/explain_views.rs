//! Projection of `explain.views` into the `explain_views` table, a stage of the stream
//! mechanism ([`ExplainViewsStage`]): each batch's rows (upserts by decision id: the topic is
//! compacted and a view made twice is identical) and its next offsets commit in one PostgreSQL
//! transaction (`dl_stream::run_pg`).

use dl_schema::{Codec, ExplainAudience, ExplainPolicySource, ExplainView};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::{json, Map, Value};
use sqlx::PgConnection;

use crate::StoreError;

fn audience(a: ExplainAudience) -> &'static str {
    match a {
        ExplainAudience::Subject => "SUBJECT",
        ExplainAudience::CaseWorker => "CASE_WORKER",
        ExplainAudience::Auditor => "AUDITOR",
    }
}

/// The `views` column: audience → {input, output, reasons, manifest}, JSON texts parsed.
pub fn views_json(view: &ExplainView) -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let mut out = Map::new();
    for v in &view.views {
        out.insert(
            audience(v.audience).to_string(),
            json!({
                "input": parse(&v.input),
                "output": parse(&v.output),
                "reasons": v.reasons,
                "manifest": parse(&v.manifest),
            }),
        );
    }
    Value::Object(out)
}

/// Writes the rows of `views` with `tx`, each with its decision's tenant (`default` for views
/// naming none); returns how many were written.
pub async fn write(tx: &mut PgConnection, views: &[ExplainView]) -> Result<u64, StoreError> {
    for v in views {
        sqlx::query(
            "INSERT INTO explain_views (decision_id, request_id, function_id, function_version,
                 function_digest, decided_at, chain_id, ledger_sequence, ledger_hash, legal_basis,
                 policy, pseudonym_key_id, views, tenant)
             VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000), $7, $8, $9,
                     $10, $11, $12, $13, $14)
             ON CONFLICT (decision_id) DO UPDATE SET views = EXCLUDED.views,
                 pseudonym_key_id = EXCLUDED.pseudonym_key_id, policy = EXCLUDED.policy,
                 tenant = EXCLUDED.tenant",
        )
        .bind(&v.decision_id)
        .bind(&v.request_id)
        .bind(&v.function_id)
        .bind(&v.function_version)
        .bind(&v.function_digest)
        .bind(v.decided_at as f64)
        .bind(&v.ledger.chain_id)
        .bind(v.ledger.sequence)
        .bind(&v.ledger.hash)
        .bind(&v.legal_basis)
        .bind(match v.policy {
            ExplainPolicySource::Manifest => "MANIFEST",
            ExplainPolicySource::UnknownFunction => "UNKNOWN_FUNCTION",
        })
        .bind(&v.pseudonym_key_id)
        .bind(views_json(v))
        .bind(v.tenant())
        .execute(&mut *tx)
        .await?;
    }
    Ok(views.len() as u64)
}

/// The explanation-view projection as a stage of the stream mechanism. Undecodable messages
/// are counted (`dl_projector_undecodable_views_total`) and skipped: the explainer writes only
/// what it encoded.
pub struct ExplainViewsStage {
    codec: Codec<ExplainView>,
}

impl Default for ExplainViewsStage {
    fn default() -> Self {
        Self {
            codec: dl_schema::explain_view_codec(),
        }
    }
}

impl dl_stream::PgStage for ExplainViewsStage {
    type Error = StoreError;

    async fn write(
        &mut self,
        tx: &mut PgConnection,
        fresh: &[&OwnedMessage],
    ) -> Result<(), StoreError> {
        let mut views = Vec::with_capacity(fresh.len());
        for m in fresh {
            match self.codec.decode(m.payload().unwrap_or_default()) {
                Ok(v) => views.push(v),
                Err(_) => metrics::counter!("dl_projector_undecodable_views_total").increment(1),
            }
        }
        let written = write(tx, &views).await?;
        metrics::counter!("dl_projector_explain_views_total").increment(written);
        Ok(())
    }
}
