//! What-if evaluation: a recorded decision's input with some *shown* fields changed, evaluated
//! by the real function version that decided — never recorded, never produced to Kafka.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dl_function::FunctionCache;
use dl_redact::{Audience, Policy, Redactor};
use dl_registry::RegistryFollower;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::Row;

use crate::api::{authenticate, ApiError, AppState, ROLE_AUDITOR, ROLE_CASE_WORKER};

/// Most fields one what-if may change.
const MAX_CHANGES: usize = 32;

/// What the gateway needs to evaluate: the registry's packages, compiled once per digest, and
/// the detectors for masking identifiers in what it returns.
pub struct WhatIf {
    /// The registry, followed live.
    pub registry: Arc<RegistryFollower>,
    /// Compiled packages by digest.
    pub cache: FunctionCache,
    /// Masks identifiers in returned outputs and reasons.
    pub redactor: Redactor,
}

/// Body of `POST /v1/decisions/{decision_id}/what-if`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfBody {
    /// JSON pointer → new value; only fields the function's explanation allow list shows.
    changes: Map<String, Value>,
}

/// Sets `value` at JSON `pointer` in `doc` (creating objects on the way).
fn set(doc: &mut Value, pointer: &str, value: Value) -> bool {
    let Some(rest) = pointer.strip_prefix('/') else {
        return false;
    };
    let mut at = doc;
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            return false;
        }
        let obj = at.as_object_mut().expect("checked");
        if i + 1 == parts.len() {
            obj.insert(part.clone(), value);
            return true;
        }
        at = obj
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    false
}

/// `POST /v1/decisions/{decision_id}/what-if`: who may read the subject's explanation may ask.
pub async fn what_if(
    State(state): State<Arc<AppState>>,
    Path(decision_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<WhatIfBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers).await?;
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some(w) = &state.what_if else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "WHAT_IF_DISABLED",
            "what-if needs the registry: set DL_APPROVERS_FILE (and DL_REGISTRY_TOPIC)",
        ));
    };
    if body.changes.is_empty() || body.changes.len() > MAX_CHANGES {
        return Err(ApiError::bad_request(format!(
            "changes must name 1 to {MAX_CHANGES} fields"
        )));
    }
    let row = sqlx::query(
        "SELECT caller, status, function_id, function_version, function_digest, input, output
         FROM decisions WHERE decision_id = $1",
    )
    .bind(&decision_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("decision"))?;
    let decided_for: Option<String> = row.try_get("caller")?;
    if !caller.may_read(decided_for.as_deref(), &[ROLE_CASE_WORKER, ROLE_AUDITOR]) {
        return Err(ApiError::forbidden());
    }
    let status: String = row.try_get("status")?;
    let (Some(version), Some(digest), Some(mut input), Some(recorded)) = (
        row.try_get::<Option<String>, _>("function_version")?,
        row.try_get::<Option<String>, _>("function_digest")?,
        row.try_get::<Option<Value>, _>("input")?,
        row.try_get::<Option<Value>, _>("output")?,
    ) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "NOT_DECIDED",
            format!("the request was {status}: there is no decision to vary"),
        ));
    };
    let function_id: String = row.try_get("function_id")?;
    let registry = w.registry.snapshot();
    let entry = semver::Version::parse(&version)
        .ok()
        .and_then(|v| registry.version(&function_id, &v))
        .filter(|e| e.digest == digest)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "VERSION_UNAVAILABLE",
                "the package that decided is not in the registry",
            )
        })?;
    // Only fields the explanation shows may change: varying a hidden one would reveal it.
    let allowed = Policy::new(
        &entry.manifest().explain.allow_pointers(),
        &entry.manifest().explain.redact_pointers(),
    )
    .map_err(|e| ApiError::unavailable("the explanation policy", e))?;
    for (pointer, value) in &body.changes {
        if !allowed.shows(pointer) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "CHANGE_NOT_ALLOWED",
                format!("{pointer} is not a field the explanation shows"),
            ));
        }
        if !set(&mut input, pointer, value.clone()) {
            return Err(ApiError::bad_request(format!("{pointer} cannot be set")));
        }
    }
    let function = w
        .cache
        .get_or_compile(&entry.package)
        .map_err(|e| ApiError::unavailable("the function", e))?;
    metrics::counter!("dl_gateway_what_if_total").increment(1);
    let decision = match function.evaluate(&input.to_string()) {
        Ok(d) => d,
        Err(e) => {
            return Ok((
                StatusCode::OK,
                Json(json!({"decision_id": decision_id, "evaluated": false,
                            "error": {"code": e.code(), "message": "the changed input was refused"}})),
            )
                .into_response())
        }
    };
    let shown = w
        .redactor
        .redact(&Policy::show_all(), &decision.output, Audience::Subject)
        .map_err(|e| ApiError::unavailable("redaction", e))?;
    let mut reasons = Vec::new();
    for r in &decision.reasons {
        let (message, _) = w
            .redactor
            .redact_text(&r.message, Audience::Subject)
            .map_err(|e| ApiError::unavailable("redaction", e))?;
        reasons.push(json!({"code": r.code, "message": message, "legal_ref": r.legal_ref}));
    }
    Ok(Json(json!({
        "decision_id": decision_id,
        "function_id": function_id,
        "function_version": version,
        "evaluated": true,
        "recorded": false,
        "changes": body.changes,
        "output": shown.value,
        "reasons": reasons,
        "differs_from_decision": dl_audit::diff_pointers(&recorded, &decision.output, &[]),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_fields() {
        let mut doc = json!({"a": {"b": 1}});
        assert!(set(&mut doc, "/a/b", json!(2)));
        assert!(set(&mut doc, "/a/c", json!(3)));
        assert!(set(&mut doc, "/x~1y", json!(4)));
        assert_eq!(doc, json!({"a": {"b": 2, "c": 3}, "x/y": 4}));
        assert!(!set(&mut doc, "no-slash", json!(1)));
        assert!(!set(&mut doc, "/a/b/c", json!(1)), "b is a number");
    }
}
