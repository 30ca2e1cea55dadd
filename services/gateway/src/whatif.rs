//! What-if evaluation: a recorded decision's input with some *shown* fields changed, evaluated
//! by the real function version that decided — never recorded, never produced to Kafka.
//!
//! Every leaf a change would vary must be shown by the explanation (a shown parent object may
//! not carry a hidden child); what-ifs are limited per caller and every attempt is audited (a
//! pseudonym of the caller, the decision id and the changed pointers, never values).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dl_function::FunctionCache;
use dl_redact::{Audience, Policy, Redactor};
use dl_registry_kafka::RegistryFollower;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::{
    authenticate, ApiError, AppState, Caller, Credentials, ROLE_AUDITOR, ROLE_CASE_WORKER,
};

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

/// Appends the leaves of `v` (scalars, empty objects and arrays) under `pointer` to `out`.
fn leaves<'a>(v: &'a Value, pointer: String, out: &mut BTreeMap<String, &'a Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                leaves(child, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                leaves(child, format!("{pointer}/{i}"), out);
            }
        }
        _ => {
            out.insert(pointer, v);
        }
    }
}

/// Whether replacing `old` (the value at `pointer`, if any) by `new` would add, remove or change
/// a leaf that `policy` does not show.
fn varies_hidden(policy: &Policy, pointer: &str, old: Option<&Value>, new: &Value) -> bool {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    if let Some(old) = old {
        leaves(old, pointer.to_string(), &mut before);
    }
    leaves(new, pointer.to_string(), &mut after);
    before
        .keys()
        .chain(after.keys())
        .any(|p| !policy.shows(p) && before.get(p) != after.get(p))
}

/// A stable pseudonym of a caller for the audit trail: the first 16 bytes of
/// SHA-256(`issuer|subject`), hex (an auditor computes it for a principal to find its what-ifs).
fn caller_pseudonym(caller: &Caller) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(caller.key().as_bytes())[..16])
}

/// `POST /v1/decisions/{decision_id}/what-if`: who may read the subject's explanation may ask,
/// within the caller's what-if allowance. Every attempt of an authenticated caller is audited.
pub async fn what_if(
    State(state): State<Arc<AppState>>,
    Path(decision_id): Path<String>,
    creds: Credentials,
    body: Result<Json<WhatIfBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &creds).await?;
    let changed: Vec<&str> = match &body {
        Ok(Json(b)) => b.changes.keys().map(String::as_str).collect(),
        Err(_) => Vec::new(),
    };
    let changed = changed
        .iter()
        .take(MAX_CHANGES)
        .copied()
        .collect::<Vec<_>>();
    let caller_key = caller_pseudonym(&caller);
    let changed_list = format!("{changed:?}");
    let answer = match state.what_ifs.check(&caller.key()) {
        Err(after) => Err(ApiError::rate_limited("what-ifs", after)),
        Ok(()) => match crate::api::check_tenant_quota(&state, &caller) {
            Err(e) => Err(e),
            Ok(()) => evaluate(&state, &caller, &decision_id, body).await,
        },
    };
    let outcome = match &answer {
        Ok((_, true)) => "evaluated".to_string(),
        Ok((_, false)) => "refused_by_function".to_string(),
        Err(e) => e.code.to_ascii_lowercase(),
    };
    tracing::info!(
        target: "dl_gateway::audit",
        caller = %caller_key,
        decision_id = %decision_id,
        changed = %changed_list,
        outcome = %outcome,
        "what-if"
    );
    metrics::counter!("dl_gateway_what_if_total", "outcome" => outcome).increment(1);
    answer.map(|(response, _)| response)
}

/// The what-if itself: the response and whether the function evaluated the changed input.
async fn evaluate(
    state: &AppState,
    caller: &Caller,
    decision_id: &str,
    body: Result<Json<WhatIfBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(Response, bool), ApiError> {
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
    let row =
        dl_store::read::decisions::recorded_evaluation(&state.pool, caller.tenant(), decision_id)
            .await?
            .ok_or_else(|| ApiError::not_found("decision"))?;
    if !caller.may_read(row.caller.as_deref(), &[ROLE_CASE_WORKER, ROLE_AUDITOR]) {
        return Err(ApiError::not_yours("decision"));
    }
    let status = row.status;
    let (Some(version), Some(digest), Some(mut input), Some(recorded)) = (
        row.function_version,
        row.function_digest,
        row.input,
        row.output,
    ) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "NOT_DECIDED",
            format!("the request was {status}: there is no decision to vary"),
        ));
    };
    let function_id = row.function_id;
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
    // Only fields the explanation shows may change, down to every leaf of a changed value:
    // varying a hidden one (or one under a shown parent) would reveal it.
    let allowed = Policy::new(
        &entry.manifest().explain.allow_pointers(),
        &entry.manifest().explain.redact_pointers(),
    )
    .map_err(|e| ApiError::unavailable("the explanation policy", e))?;
    for (pointer, value) in &body.changes {
        if !allowed.shows(pointer)
            || varies_hidden(&allowed, pointer, input.pointer(pointer), value)
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "CHANGE_NOT_ALLOWED",
                format!("{pointer}: the change would vary a field the explanation does not show"),
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
    let decision = match function.evaluate(&input.to_string()) {
        Ok(d) => d,
        Err(e) => {
            return Ok((
                (
                    StatusCode::OK,
                    Json(json!({"decision_id": decision_id, "evaluated": false,
                            "error": {"code": e.code(), "message": "the changed input was refused"}})),
                )
                    .into_response(),
                false,
            ))
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
    Ok((
        Json(json!({
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
        .into_response(),
        true,
    ))
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

    #[test]
    fn what_if_cannot_change_a_hidden_child_of_an_allowed_parent() {
        let policy = Policy::new(&["/customer", "/items/*/price"], &["/customer/id"]).unwrap();
        let old = json!({"tier": "gold", "id": "C-1"});
        let vary = |p: &str, old: Option<&Value>, new: Value| varies_hidden(&policy, p, old, &new);
        assert!(vary(
            "/customer",
            Some(&old),
            json!({"tier": "gold", "id": "C-2"})
        ));
        assert!(
            vary("/customer", Some(&old), json!({"tier": "gold"})),
            "removed"
        );
        assert!(vary("/customer", Some(&old), json!("gold")), "replaced");
        assert!(vary("/customer", Some(&old), json!({})), "emptied");
        assert!(vary("/customer", None, json!({"id": "C-2"})), "added");
        assert!(vary("/customer/id", Some(&json!("C-1")), json!("C-2")));
        assert!(vary(
            "/customer",
            Some(&old),
            json!({"tier": "x", "id": {"a/b": 1}})
        ));
        assert!(!vary(
            "/customer",
            Some(&old),
            json!({"tier": "silver", "id": "C-1"})
        ));
        assert!(!vary(
            "/customer/tier",
            Some(&json!("gold")),
            json!({"deep": [1, {}]})
        ));
        let items = json!([{"price": 1}]);
        assert!(!vary("/items", Some(&items), json!([{"price": 2}])));
        assert!(vary(
            "/items",
            Some(&items),
            json!([{"price": 2, "secret": 1}])
        ));
    }
}
