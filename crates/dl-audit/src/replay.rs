//! Deterministic replay of recorded decisions, and drift of recorded inputs under another
//! version. Pure: the caller loads decisions and supplies the registry.

use std::collections::BTreeMap;
use std::sync::Arc;

use dl_function::{json_eq, CompiledFunction, FunctionCache};
use dl_registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A decision as projected (`decisions` row, status DECIDED).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedDecision {
    /// Decision id.
    pub decision_id: String,
    /// Function id.
    pub function_id: String,
    /// Version that decided.
    pub function_version: String,
    /// Digest of the package that decided.
    pub function_digest: String,
    /// The recorded input.
    pub input: Option<Value>,
    /// The recorded decision document.
    pub output: Option<Value>,
    /// The recorded reasons (`[{code, message, legal_ref}]`).
    pub reasons: Value,
}

/// The outcome of replaying one decision. Codes are stable (`audit_replays.verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Same output and reasons.
    Match,
    /// The output differs (detail: the JSON pointers that differ).
    OutputDiffers,
    /// Same output, different reasons.
    ReasonsDiffer,
    /// The registry's package for the version is not the one that decided.
    DigestMismatch,
    /// The version is not in the registry.
    VersionUnknown,
    /// Evaluation failed now (detail: the error code).
    EvalFailed,
    /// No recorded input or output.
    InputMissing,
}

impl Verdict {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Match => "MATCH",
            Verdict::OutputDiffers => "OUTPUT_DIFFERS",
            Verdict::ReasonsDiffer => "REASONS_DIFFER",
            Verdict::DigestMismatch => "DIGEST_MISMATCH",
            Verdict::VersionUnknown => "VERSION_UNKNOWN",
            Verdict::EvalFailed => "EVAL_FAILED",
            Verdict::InputMissing => "INPUT_MISSING",
        }
    }
}

/// One replayed decision. `detail` names pointers, codes and digests, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// Decision id.
    pub decision_id: String,
    /// Verdict.
    pub verdict: Verdict,
    /// What differed, without personal data.
    pub detail: String,
}

/// Replays decisions with the packages of a registry snapshot (compiled once per digest).
pub struct Replayer {
    registry: Arc<Registry>,
    cache: FunctionCache,
}

impl Replayer {
    /// A replayer over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            cache: FunctionCache::new(64),
        }
    }

    /// The compiled package of `function_id` `version`, or why not.
    pub fn compiled(
        &self,
        function_id: &str,
        version: &str,
    ) -> Result<Arc<CompiledFunction>, (Verdict, String)> {
        let unknown = || (Verdict::VersionUnknown, format!("{function_id} {version}"));
        let v = semver::Version::parse(version).map_err(|_| unknown())?;
        let entry = self.registry.version(function_id, &v).ok_or_else(unknown)?;
        self.cache
            .get_or_compile(&entry.package)
            .map_err(|e| (Verdict::EvalFailed, format!("does not compile: {e}")))
    }

    /// Evaluates the recorded input with the recorded version and compares.
    pub fn replay(&self, d: &RecordedDecision) -> Replayed {
        let (verdict, detail) = self.judge(d);
        Replayed {
            decision_id: d.decision_id.clone(),
            verdict,
            detail,
        }
    }

    fn judge(&self, d: &RecordedDecision) -> (Verdict, String) {
        let (Some(input), Some(output)) = (&d.input, &d.output) else {
            return (Verdict::InputMissing, String::new());
        };
        let function = match self.compiled(&d.function_id, &d.function_version) {
            Ok(f) => f,
            Err(why) => return why,
        };
        if function.digest() != d.function_digest {
            return (
                Verdict::DigestMismatch,
                format!(
                    "recorded {} registry {}",
                    d.function_digest,
                    function.digest()
                ),
            );
        }
        let now = match function.evaluate(&input.to_string()) {
            Ok(decision) => decision,
            Err(e) => return (Verdict::EvalFailed, e.code().to_string()),
        };
        let differs = diff_pointers(output, &now.output, &[]);
        if !differs.is_empty() {
            return (Verdict::OutputDiffers, differs.join(" "));
        }
        let recorded: Vec<(String, String, String)> = reasons(&d.reasons);
        let replayed: Vec<(String, String, String)> = now
            .reasons
            .iter()
            .map(|r| (r.code.clone(), r.message.clone(), r.legal_ref.clone()))
            .collect();
        if recorded != replayed {
            let codes = |v: &[(String, String, String)]| {
                v.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(",")
            };
            return (
                Verdict::ReasonsDiffer,
                format!(
                    "recorded [{}] replayed [{}]",
                    codes(&recorded),
                    codes(&replayed)
                ),
            );
        }
        (Verdict::Match, String::new())
    }
}

fn reasons(v: &Value) -> Vec<(String, String, String)> {
    let field = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| (field(r, "code"), field(r, "message"), field(r, "legal_ref")))
                .collect()
        })
        .unwrap_or_default()
}

/// JSON pointers at which `a` and `b` differ (numbers compared by value), skipping `ignore`d
/// pointers and everything below them.
pub fn diff_pointers(a: &Value, b: &Value, ignore: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    diff_at(a, b, &mut String::new(), ignore, &mut out);
    out
}

fn diff_at(a: &Value, b: &Value, at: &mut String, ignore: &[String], out: &mut Vec<String>) {
    if ignore.iter().any(|i| i == at) {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff_at(p, q, at, ignore, out),
                    _ if ignore.iter().any(|i| i == at) => {}
                    _ => out.push(at.clone()),
                }
                at.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                diff_at(p, q, at, ignore, out);
                at.truncate(len);
            }
        }
        _ if json_eq(a, b) => {}
        _ => out.push(if at.is_empty() {
            "/".into()
        } else {
            at.clone()
        }),
    }
}

/// How the recorded inputs of a function would be decided by another version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Decisions whose inputs were evaluated.
    pub evaluated: u64,
    /// Same output and reason codes.
    pub unchanged: u64,
    /// Different output or reason codes.
    pub changed: u64,
    /// The target version refused the input (e.g. schema) or failed.
    pub failed: u64,
    /// How often each output pointer changed.
    pub changed_pointers: BTreeMap<String, u64>,
    /// Failures by error code.
    pub failures: BTreeMap<String, u64>,
    /// Up to ten decision ids that changed, to look at.
    pub examples: Vec<String>,
}

impl DriftReport {
    /// Share of evaluated decisions whose outcome changes (0 when none were evaluated).
    pub fn drift_rate(&self) -> f64 {
        if self.evaluated == 0 {
            0.0
        } else {
            self.changed as f64 / self.evaluated as f64
        }
    }
}

/// Evaluates each recorded input with `target` and compares with what was recorded, ignoring
/// the output pointers in `ignore` (e.g. `/version`, which names the version by design).
pub fn drift(
    target: &CompiledFunction,
    decisions: &[RecordedDecision],
    ignore: &[String],
) -> DriftReport {
    let mut report = DriftReport::default();
    for d in decisions {
        let (Some(input), Some(output)) = (&d.input, &d.output) else {
            continue;
        };
        report.evaluated += 1;
        match target.evaluate(&input.to_string()) {
            Err(e) => {
                report.failed += 1;
                *report.failures.entry(e.code().to_string()).or_default() += 1;
            }
            Ok(now) => {
                let mut differs = diff_pointers(output, &now.output, ignore);
                let recorded: Vec<String> = reasons(&d.reasons).into_iter().map(|r| r.0).collect();
                let replayed: Vec<String> = now.reasons.iter().map(|r| r.code.clone()).collect();
                if recorded != replayed {
                    differs.push("reasons".into());
                }
                if differs.is_empty() {
                    report.unchanged += 1;
                } else {
                    report.changed += 1;
                    for p in differs {
                        *report.changed_pointers.entry(p).or_default() += 1;
                    }
                    if report.examples.len() < 10 {
                        report.examples.push(d.decision_id.clone());
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pointers_that_differ() {
        let a = json!({"amount": 120, "tier": "gold", "list": [1, 2], "gone": true, "v": "1.0.0"});
        let b = json!({"amount": 120.0, "tier": "silver", "list": [1, 3], "new": 1, "v": "1.1.0"});
        assert_eq!(
            diff_pointers(&a, &b, &["/v".to_string()]),
            vec!["/gone", "/list/1", "/new", "/tier"]
        );
        assert!(diff_pointers(&a, &a, &[]).is_empty());
        assert_eq!(diff_pointers(&json!(1), &json!("1"), &[]), vec!["/"]);
        assert_eq!(
            diff_pointers(&json!({"a/b": 1}), &json!({"a/b": 2}), &[]),
            vec!["/a~1b"]
        );
    }

    #[test]
    fn drift_names_what_changes() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/refund_policy");
        let pkg = dl_function::FunctionPackage::load(&dir).unwrap();
        let f = CompiledFunction::compile(&pkg).unwrap();
        let input = json!({"issue": "late", "customer": {"tier": "gold"}, "order_amount": 1000});
        let now = f.evaluate(&input.to_string()).unwrap();
        let recorded = RecordedDecision {
            decision_id: "d-1".into(),
            function_id: "refund_policy".into(),
            function_version: "1.0.0".into(),
            function_digest: f.digest().into(),
            input: Some(input),
            output: Some(now.output.clone()),
            reasons: serde_json::to_value(&now.reasons).unwrap(),
        };
        let same = drift(&f, std::slice::from_ref(&recorded), &[]);
        assert_eq!((same.evaluated, same.unchanged, same.changed), (1, 1, 0));
        assert_eq!(same.drift_rate(), 0.0);

        let mut other = recorded.clone();
        other.decision_id = "d-2".into();
        other.output.as_mut().unwrap()["refund_amount"] = json!(100);
        let mut refused = recorded.clone();
        refused.input = Some(json!({"issue": "lost"}));
        let r = drift(&f, &[recorded, other, refused], &[]);
        assert_eq!(
            (r.evaluated, r.unchanged, r.changed, r.failed),
            (3, 1, 1, 1)
        );
        assert_eq!(r.changed_pointers["/refund_amount"], 1);
        assert_eq!(r.failures["INPUT_INVALID"], 1);
        assert_eq!(r.examples, vec!["d-2"]);
    }

    #[test]
    fn verdict_codes_are_the_migration_check_list() {
        let sql = include_str!("../../../migrations/20261128000005_audit_runs.sql");
        for v in [
            Verdict::Match,
            Verdict::OutputDiffers,
            Verdict::ReasonsDiffer,
            Verdict::DigestMismatch,
            Verdict::VersionUnknown,
            Verdict::EvalFailed,
            Verdict::InputMissing,
        ] {
            assert!(sql.contains(&format!("'{}'", v.code())), "{}", v.code());
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                Value::String(v.code().into())
            );
        }
    }
}
