//! `GET /v1/decisions/{decision_id}/proof`: the decision's inclusion proof against the signed
//! checkpoint that covers it (ADR 0032, docs/ledger-integrity.md "Inclusion proofs").

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dl_store::read;
use dl_verify::proof::MAX_PROOF_SEGMENT;
use serde_json::json;

use crate::api::{readable_decision, ApiError, AppState, Credentials};

/// Same read rules and tenant scoping as `GET /v1/decisions/{decision_id}`: another tenant's
/// or another caller's decision answers exactly like an unknown one (404 `NOT_FOUND`).
pub async fn get_proof(
    State(state): State<Arc<AppState>>,
    Path(decision_id): Path<String>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let decision = readable_decision(&state, &creds, &decision_id).await?;
    let material = read::ledger::proof_material(
        &state.pool,
        &decision.chain_id,
        decision.sequence,
        MAX_PROOF_SEGMENT as i64,
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "PROOF_NOT_YET_AVAILABLE",
            "no checkpoint covers this decision yet; its chain is checkpointed every \
             DL_CHECKPOINT_EVERY_RECORDS records or DL_CHECKPOINT_EVERY_MS milliseconds: retry later",
        )
    })?;
    let cp = &material.checkpoint;
    if cp.merkle_root.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "PROOF_NOT_AVAILABLE",
            "the checkpoint covering this decision has no Merkle root (written before inclusion \
             proofs, or after a restart that could not read its segment back); the decision is \
             covered by the hash chain and the signed checkpoint only",
        ));
    }
    let proof = material
        .inclusion_proof(&decision.chain_id, decision.sequence)
        .and_then(|p| p.verify(None).map(|()| p))
    .map_err(|e| {
        tracing::warn!(code = e.code(), error = %e, chain = %decision.chain_id, sequence = decision.sequence, "cannot build an inclusion proof");
        ApiError::new(
            StatusCode::CONFLICT,
            "PROOF_UNAVAILABLE",
            format!(
                "the projection cannot prove this decision ({}): verify the ledger (dlctl ledger verify)",
                e.code()
            ),
        )
    })?;
    if proof.record_hash != decision.ledger_hash {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PROOF_UNAVAILABLE",
            "the projected decision's hash differs from its ledger record's: verify the ledger",
        ));
    }
    let mut body = serde_json::to_value(&proof).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("decision_id".into(), json!(decision.decision_id));
        obj.insert("checkpoint_verified".into(), json!(cp.verified));
        obj.insert(
            "how_to_verify".into(),
            json!("docs/ledger-integrity.md#inclusion-proofs: python3 verify_proof.py proof.json [--record record.json] [--key certifier.pem], or dlctl ledger prove"),
        );
    }
    Ok(Json(body).into_response())
}
