//! Live shadow evaluation (ADR 0032): a sampled decision's input evaluated again with the
//! function's shadow version, compared with the decision by JSON pointer.
//!
//! Pure apart from metrics: the decision is never touched (the caller produces the result and
//! the ledger record from the deciding version's outcome before and independently of this), and
//! a failing shadow version is an `ERROR` evaluation, never a failing decision. What a
//! [`ShadowEvaluation`] carries: the versions and digests, the differing output pointers and, for
//! each, the two values only where the deciding version's explanation policy shows the field
//! (`explain.allow_fields` minus `redact_fields`); never the input.

use std::sync::OnceLock;

use chrono::NaiveDate;
use dl_schema::{Codec, ShadowDifference, ShadowEvaluation, ShadowOutcome};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::decide::Outcome;
use crate::functions::FunctionSet;

/// Most differences one evaluation lists (the rest are counted in the outcome only).
pub const MAX_DIFFERENCES: usize = 64;
/// Longest JSON text of a value a difference carries; a longer value is left out (null).
pub const MAX_VALUE_CHARS: usize = 256;
/// Pointer under which differing reasons are reported (the output has no `reasons` member).
pub const REASONS_POINTER: &str = "/reasons";

/// Whether decision `decision_id` is in a sample of `per_mille` per mille: the first 8 bytes of
/// SHA-256(decision id), big-endian, modulo 1000, below the rate. Deterministic, so a replay of
/// the same requests samples the same decisions.
pub fn sampled(decision_id: &str, per_mille: u16) -> bool {
    let h = Sha256::digest(decision_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_be_bytes(first) % 1000 < u64::from(per_mille)
}

fn codec() -> &'static Codec<ShadowEvaluation> {
    static CODEC: OnceLock<Codec<ShadowEvaluation>> = OnceLock::new();
    CODEC.get_or_init(dl_schema::shadow_codec)
}

/// Encodes a shadow evaluation (Avro single-object encoding).
pub fn encode(evaluation: &ShadowEvaluation) -> Result<Vec<u8>, dl_schema::CodecError> {
    codec().encode(evaluation)
}

/// Escapes one JSON pointer reference token (RFC 6901).
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The pointers at which `a` and `b` differ (leaves; a member or element present on one side
/// only is a difference at its own pointer), sorted, at most `limit`.
pub fn differing_pointers(a: &Value, b: &Value, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    walk(String::new(), Some(a), Some(b), limit, &mut out);
    out.sort();
    out
}

fn walk(at: String, a: Option<&Value>, b: Option<&Value>, limit: usize, out: &mut Vec<String>) {
    if out.len() >= limit || a == b {
        return;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                walk(format!("{at}/{}", token(k)), x.get(k), y.get(k), limit, out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(format!("{at}/{i}"), x.get(i), y.get(i), limit, out);
            }
        }
        _ => out.push(if at.is_empty() { "/".into() } else { at }),
    }
}

/// The value at `pointer` as bounded JSON text, if any.
fn value_text(doc: &Value, pointer: &str) -> Option<String> {
    let v = if pointer == "/" {
        doc
    } else {
        doc.pointer(pointer)?
    };
    let text = v.to_string();
    (text.chars().count() <= MAX_VALUE_CHARS).then_some(text)
}

/// The reasons as compared: their codes and legal references, in order (messages are free text
/// and may differ in wording without a different decision).
fn reason_keys(d: &dl_function::Decision) -> Value {
    Value::Array(
        d.reasons
            .iter()
            .map(|r| Value::Array(vec![r.code.clone().into(), r.legal_ref.clone().into()]))
            .collect(),
    )
}

/// Evaluates the shadow version of a decided outcome if its function has one and the decision
/// is sampled. `None`: not a decision, no shadow, the shadow version is the deciding one or not
/// in force on the decision's `as_of`, or not sampled. Records `dl_shadow_evaluations_total`
/// and `dl_shadow_seconds`.
pub fn evaluate(
    functions: &FunctionSet,
    outcome: &Outcome,
    decision_id: &str,
    safety_net_factor: u64,
    now_ms: i64,
) -> Option<ShadowEvaluation> {
    let Outcome::Decided {
        request,
        entry,
        decision,
        as_of,
        tenant,
        ..
    } = outcome
    else {
        return None;
    };
    let (shadow, per_mille) = functions.shadow(&entry.manifest.id)?;
    if shadow.digest == entry.digest
        || !in_force(&shadow.manifest, *as_of)
        || !sampled(decision_id, per_mille)
    {
        return None;
    }
    let started = std::time::Instant::now();
    let evaluated = shadow
        .compiled
        .evaluate_with_safety_factor(&request.input, safety_net_factor);
    metrics::histogram!("dl_shadow_seconds", "function_id" => entry.manifest.id.clone())
        .record(started.elapsed().as_secs_f64());
    let mut evaluation = ShadowEvaluation {
        decision_id: decision_id.to_string(),
        tenant: tenant.clone(),
        function_id: entry.manifest.id.clone(),
        version: entry.manifest.version.to_string(),
        digest: entry.digest.clone(),
        shadow_version: shadow.manifest.version.to_string(),
        shadow_digest: shadow.digest.clone(),
        outcome: ShadowOutcome::Agree,
        differences: Vec::new(),
        error_code: None,
        evaluated_at: now_ms,
    };
    match evaluated {
        Err(e) => {
            evaluation.outcome = ShadowOutcome::Error;
            evaluation.error_code = Some(e.code().to_string());
        }
        Ok(candidate) => {
            evaluation.differences = compare(entry, decision, &candidate);
            if !evaluation.differences.is_empty() {
                evaluation.outcome = ShadowOutcome::Disagree;
            }
        }
    }
    metrics::counter!("dl_shadow_evaluations_total", "function_id" => entry.manifest.id.clone(), "outcome" => evaluation.outcome.as_str().to_ascii_lowercase())
        .increment(1);
    Some(evaluation)
}

fn in_force(manifest: &dl_function::Manifest, as_of: NaiveDate) -> bool {
    manifest.in_force_on(as_of)
}

/// The differences between the decision and the shadow version's, values only where the
/// deciding version's explanation policy shows the field.
fn compare(
    entry: &crate::functions::Entry,
    decided: &dl_function::Decision,
    candidate: &dl_function::Decision,
) -> Vec<ShadowDifference> {
    let explain = &entry.manifest.explain;
    // Publishing refuses a policy that does not parse; if one did, nothing is shown.
    let policy = dl_redact::Policy::new(&explain.allow_pointers(), &explain.redact_pointers()).ok();
    let shows = |p: &str| policy.as_ref().is_some_and(|policy| policy.shows(p));
    let mut differences: Vec<ShadowDifference> =
        differing_pointers(&decided.output, &candidate.output, MAX_DIFFERENCES)
            .into_iter()
            .map(|pointer| {
                let (deciding_value, shadow_value) = if shows(&pointer) {
                    (
                        value_text(&decided.output, &pointer),
                        value_text(&candidate.output, &pointer),
                    )
                } else {
                    (None, None)
                };
                ShadowDifference {
                    pointer,
                    deciding_value,
                    shadow_value,
                }
            })
            .collect();
    let (a, b) = (reason_keys(decided), reason_keys(candidate));
    if a != b && differences.len() < MAX_DIFFERENCES {
        let shown = shows(REASONS_POINTER);
        differences.push(ShadowDifference {
            pointer: REASONS_POINTER.into(),
            deciding_value: shown.then(|| a.to_string()),
            shadow_value: shown.then(|| b.to_string()),
        });
        differences.sort_by(|x, y| x.pointer.cmp(&y.pointer));
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_name_exactly_the_differing_leaves() {
        let a = json!({"approved": true, "limit": 3000, "tags": ["a", "b"], "x/y": {"k~": 1}, "same": {"n": 1}});
        let b = json!({"approved": false, "limit": 3000, "tags": ["a"], "x/y": {"k~": 2}, "same": {"n": 1}, "new": null});
        assert_eq!(
            differing_pointers(&a, &b, 64),
            ["/approved", "/new", "/tags/1", "/x~1y/k~0"]
        );
        assert!(differing_pointers(&a, &a, 64).is_empty());
        assert_eq!(differing_pointers(&json!(1), &json!("1"), 64), ["/"]);
        assert_eq!(differing_pointers(&a, &b, 2).len(), 2, "bounded");
    }

    #[test]
    fn sampling_is_deterministic_and_follows_the_rate() {
        let ids: Vec<String> = (0..10_000)
            .map(|i| format!("decision.requests/0/{i}"))
            .collect();
        assert!(ids.iter().all(|id| sampled(id, 1000)));
        assert!(ids.iter().all(|id| sampled(id, 1000) == sampled(id, 1000)));
        let tenth = ids.iter().filter(|id| sampled(id, 100)).count();
        // 10 % of 10,000 with a hash: far from the bounds unless the rule is wrong.
        assert!((800..1200).contains(&tenth), "{tenth}");
        // A smaller sample is a subset of a larger one (same hash, lower bound).
        assert!(ids
            .iter()
            .filter(|id| sampled(id, 10))
            .all(|id| sampled(id, 100)));
    }

    #[test]
    fn values_are_bounded() {
        let doc = json!({"short": "ok", "long": "x".repeat(MAX_VALUE_CHARS + 1)});
        assert_eq!(value_text(&doc, "/short").as_deref(), Some("\"ok\""));
        assert_eq!(value_text(&doc, "/long"), None);
        assert_eq!(value_text(&doc, "/missing"), None);
    }
}
