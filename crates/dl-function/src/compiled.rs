//! Compiling a package into an evaluable function, and the evaluation hot path.

use crate::budget;
use crate::convert;
use crate::decision::{Decision, EvalError, Reason};
use crate::error::CompileError;
use crate::manifest::{Limits, WALL_CLOCK_SAFETY_FACTOR};

/// The wall-clock safety net of [`CompiledFunction::evaluate_verbose`] (package tests, authoring
/// tools) is this many times `limits.max_eval_ms`: generous, since the step budget decides.
pub const AUTHORING_SAFETY_FACTOR: u64 = 1_000;
use crate::package::FunctionPackage;
use crate::schema::Schema;
use regorus::{Engine, LimitError, Value as RegoValue};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Most idle engines kept per function for reuse.
const POOL_CAPACITY: usize = 64;

/// A function ready to evaluate: compiled Rego, compiled schemas and the legal reference map.
///
/// `Send + Sync`; share it with `Arc`. Evaluations from several threads run in parallel: each
/// takes a prepared interpreter from an internal pool (or clones the prepared template when the
/// pool is empty) and gives it back afterwards.
#[derive(Debug)]
pub struct CompiledFunction {
    id: String,
    version: semver::Version,
    digest: String,
    entrypoint: String,
    limits: Limits,
    legal_refs: HashMap<String, String>,
    input_schema: Schema,
    output_schema: Schema,
    template: Engine,
    pool: Mutex<Vec<Engine>>,
}

impl CompiledFunction {
    /// Parses the package's Rego, checks that the entrypoint exists and prepares an interpreter.
    pub fn compile(pkg: &FunctionPackage) -> Result<Self, CompileError> {
        let manifest = pkg.manifest();
        let input_schema =
            Schema::compile(pkg.input_schema()).map_err(|message| CompileError::Schema {
                which: "input",
                message,
            })?;
        let output_schema =
            Schema::compile(pkg.output_schema()).map_err(|message| CompileError::Schema {
                which: "output",
                message,
            })?;
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        engine.set_execution_timer_config(budget::timer_config(manifest.limits.max_eval_steps));
        for (path, text) in pkg.rego_sources() {
            engine
                .add_policy(path.clone(), text.clone())
                .map_err(|e| CompileError::Rego {
                    path: path.clone(),
                    message: format!("{e:#}"),
                })?;
        }
        // Function metadata visible to the policy as `data.decision_layer.function`.
        let meta = serde_json::json!({"decision_layer": {"function": {
            "id": manifest.id,
            "version": manifest.version.to_string(),
        }}});
        engine
            .add_data(RegoValue::from(meta))
            .map_err(|e| CompileError::Entrypoint {
                entrypoint: manifest.entrypoint.clone(),
                message: format!("cannot add function metadata: {e:#}"),
            })?;
        let entry_err = |message: String| CompileError::Entrypoint {
            entrypoint: manifest.entrypoint.clone(),
            message,
        };
        // Prepares the interpreter (analysis, scheduling) once, so that clones start ready.
        engine
            .compile_with_entrypoint(&manifest.entrypoint.as_str().into())
            .map_err(|e| entry_err(format!("{e:#}")))?;
        engine.set_gather_prints(true);
        let legal_refs = manifest
            .legal_basis
            .iter()
            .map(|b| (b.id.clone(), b.iri.clone()))
            .collect();
        Ok(Self {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            digest: pkg.digest().to_string(),
            entrypoint: manifest.entrypoint.clone(),
            limits: manifest.limits,
            legal_refs,
            input_schema,
            output_schema,
            template: engine,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Function id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Function version.
    pub fn version(&self) -> &semver::Version {
        &self.version
    }

    /// Digest of the package this was compiled from.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Evaluates one input document (JSON text). Error messages carry no input values.
    pub fn evaluate(&self, input_json: &str) -> Result<Decision, EvalError> {
        self.evaluate_inner(
            input_json,
            false,
            true,
            self.safety_net(WALL_CLOCK_SAFETY_FACTOR),
        )
    }

    /// Like [`Self::evaluate`] with the wall-clock safety net at `limits.max_eval_ms` × `factor`
    /// instead of × [`WALL_CLOCK_SAFETY_FACTOR`] (the worker's `DL_EVAL_SAFETY_NET_FACTOR`).
    /// The step budget, and so every legal outcome, does not depend on it.
    pub fn evaluate_with_safety_factor(
        &self,
        input_json: &str,
        factor: u64,
    ) -> Result<Decision, EvalError> {
        self.evaluate_inner(input_json, false, true, self.safety_net(factor))
    }

    /// The wall-clock safety net of one evaluation.
    fn safety_net(&self, factor: u64) -> Duration {
        Duration::from_millis(self.limits.max_eval_ms.saturating_mul(factor))
    }

    /// Like [`Self::evaluate`], but runtime error messages include the interpreter's full text,
    /// which may quote input values. For authoring tools and tests only, never for live traffic.
    ///
    /// Its wall-clock safety net is [`AUTHORING_SAFETY_FACTOR`] × `limits.max_eval_ms`: a
    /// package's expected outcomes (`EVALUATION_LIMIT` included) are set by the step budget, and
    /// a package test run on a loaded machine or a debug build must not turn into an
    /// `EVALUATION_TIMEOUT` that refuses the package at publication.
    pub fn evaluate_verbose(&self, input_json: &str) -> Result<Decision, EvalError> {
        self.evaluate_inner(
            input_json,
            true,
            true,
            self.safety_net(AUTHORING_SAFETY_FACTOR),
        )
    }

    /// Evaluates with a fresh clone of the prepared interpreter instead of a pooled one.
    /// Exists to measure the pooling strategy; results are identical.
    #[doc(hidden)]
    pub fn evaluate_unpooled(&self, input_json: &str) -> Result<Decision, EvalError> {
        self.evaluate_inner(
            input_json,
            false,
            false,
            self.safety_net(WALL_CLOCK_SAFETY_FACTOR),
        )
    }

    fn evaluate_inner(
        &self,
        input_json: &str,
        verbose: bool,
        pooled: bool,
        net: Duration,
    ) -> Result<Decision, EvalError> {
        if input_json.len() > self.limits.max_input_bytes {
            return Err(EvalError::InputTooLarge {
                size: input_json.len(),
                limit: self.limits.max_input_bytes,
            });
        }
        let input = parse_input(input_json)?;
        self.validate_input(&input)?;
        let result = self.run(to_rego(input), verbose, pooled, net)?;
        self.to_decision(result)
    }

    fn validate_input(&self, input: &Value) -> Result<(), EvalError> {
        self.input_schema
            .check(input)
            .map_err(EvalError::InputInvalid)
    }

    /// Stage of [`Self::evaluate`] on its own, for the criterion bench: JSON text to a value.
    #[doc(hidden)]
    pub fn stage_parse(&self, input_json: &str) -> Result<Value, EvalError> {
        parse_input(input_json)
    }

    /// Stage of [`Self::evaluate`] on its own, for the criterion bench: input schema check.
    #[doc(hidden)]
    pub fn stage_validate(&self, input: &Value) -> Result<(), EvalError> {
        self.validate_input(input)
    }

    /// Stage of [`Self::evaluate`] on its own, for the criterion bench: JSON value to the
    /// interpreter's value.
    #[doc(hidden)]
    pub fn stage_convert_input(&self, input: Value) -> RegoValue {
        to_rego(input)
    }

    /// Stage of [`Self::evaluate`] on its own, for the criterion bench: the entrypoint on a
    /// pooled interpreter under the step budget.
    #[doc(hidden)]
    pub fn stage_eval(&self, input: RegoValue) -> Result<RegoValue, EvalError> {
        self.run(
            input,
            false,
            true,
            self.safety_net(WALL_CLOCK_SAFETY_FACTOR),
        )
    }

    /// Stage of [`Self::evaluate`] on its own, for the criterion bench: the interpreter's
    /// value to a JSON value (no checks).
    #[doc(hidden)]
    pub fn stage_convert_output(&self, value: &RegoValue) -> Result<Value, EvalError> {
        to_json(value)
    }

    /// Stage of [`Self::evaluate`] on its own, for the criterion bench: the decision document
    /// to a [`Decision`] (output conversion, reasons, legal IRIs, output schema check).
    #[doc(hidden)]
    pub fn stage_decide(&self, value: RegoValue) -> Result<Decision, EvalError> {
        self.to_decision(value)
    }

    /// Runs the entrypoint on a pooled (or fresh) interpreter.
    fn run(
        &self,
        input: RegoValue,
        verbose: bool,
        pooled: bool,
        net: Duration,
    ) -> Result<RegoValue, EvalError> {
        let mut engine = if pooled {
            self.take_engine()
        } else {
            self.template.clone()
        };
        engine.set_input(input);
        let (outcome, timed_out) =
            budget::metered(net, || engine.eval_rule(self.entrypoint.clone()));
        // Prints are dropped: they could carry personal data and would grow without bound.
        let _ = engine.take_prints();
        match outcome {
            Ok(value) => {
                if pooled {
                    self.give_back(engine);
                }
                Ok(value)
            }
            Err(_) if timed_out => Err(EvalError::EvaluationTimeout(format!(
                "the wall-clock safety net of {} ms was passed before the step budget; retry",
                net.as_millis()
            ))),
            Err(err) => Err(classify_runtime_error(
                &err,
                self.limits.max_eval_steps,
                verbose,
            )),
        }
    }

    fn take_engine(&self) -> Engine {
        let idle = match self.pool.lock() {
            Ok(mut pool) => pool.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        idle.unwrap_or_else(|| self.template.clone())
    }

    fn give_back(&self, mut engine: Engine) {
        engine.set_input(RegoValue::Undefined);
        let mut pool = match self.pool.lock() {
            Ok(pool) => pool,
            Err(poisoned) => poisoned.into_inner(),
        };
        if pool.len() < POOL_CAPACITY {
            pool.push(engine);
        }
    }

    /// Splits the decision document into output and reasons and checks both.
    fn to_decision(&self, value: RegoValue) -> Result<Decision, EvalError> {
        if value == RegoValue::Undefined {
            return Err(EvalError::EvaluationFailed(format!(
                "{} is undefined for this input",
                self.entrypoint
            )));
        }
        let document = to_json(&value)?;
        let Value::Object(mut object) = document else {
            return Err(EvalError::EvaluationFailed(format!(
                "{} must be an object, got {}",
                self.entrypoint,
                json_type(&document)
            )));
        };
        let reasons = self.extract_reasons(&mut object)?;
        let output = Value::Object(object);
        self.output_schema
            .check(&output)
            .map_err(EvalError::OutputInvalid)?;
        Ok(Decision { output, reasons })
    }

    fn extract_reasons(&self, object: &mut Map<String, Value>) -> Result<Vec<Reason>, EvalError> {
        let fail = |m: String| EvalError::EvaluationFailed(m);
        let Some(raw) = object.remove("reasons") else {
            return Err(fail("the decision has no `reasons` member".to_string()));
        };
        let Value::Array(items) = raw else {
            return Err(fail("`reasons` must be an array".to_string()));
        };
        if items.is_empty() {
            return Err(fail(
                "`reasons` must cite at least one legal reference".to_string(),
            ));
        }
        let mut reasons = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Value::Object(mut fields) = item else {
                return Err(fail(format!("reasons[{i}] must be an object")));
            };
            let mut take = |name: &str| match fields.remove(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s),
                _ => Err(fail(format!(
                    "reasons[{i}].{name} must be a non-empty string"
                ))),
            };
            let code = take("code")?;
            let message = take("message")?;
            let local = take("legal_ref")?;
            if !fields.is_empty() {
                return Err(fail(format!(
                    "reasons[{i}] has members other than code, message and legal_ref"
                )));
            }
            let Some(iri) = self.legal_refs.get(&local) else {
                return Err(fail(format!(
                    "reasons[{i}] (code {code}) cites legal reference {local:?}, which the manifest does not declare"
                )));
            };
            reasons.push(Reason {
                code,
                message,
                legal_ref: iri.clone(),
            });
        }
        Ok(reasons)
    }
}

/// Parses the input text; the message names the position, never the text.
fn parse_input(input_json: &str) -> Result<Value, EvalError> {
    serde_json::from_str(input_json).map_err(|e| {
        EvalError::InputInvalid(format!(
            "not valid JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// The interpreter's value of a JSON value (direct, same result as `RegoValue::from`).
fn to_rego(input: Value) -> RegoValue {
    convert::to_rego(input)
}

/// The JSON value of an interpreter value (direct, same result as `serde_json::to_value`).
fn to_json(value: &RegoValue) -> Result<Value, EvalError> {
    convert::to_json(value).map_err(|e| {
        EvalError::EvaluationFailed(format!("decision is not representable as JSON: {e}"))
    })
}

/// Maps an interpreter error to `EvaluationLimit` or `EvaluationFailed`. Messages are
/// deterministic: the step budget, not a duration; a policy location, not the interpreter text.
fn classify_runtime_error(err: &anyhow::Error, max_steps: u64, verbose: bool) -> EvalError {
    let limit = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<LimitError>().copied());
    match limit {
        Some(LimitError::TimeLimitExceeded { .. }) => {
            return EvalError::EvaluationLimit(format!(
                "more than {max_steps} evaluation steps (limits.max_eval_steps)"
            ))
        }
        Some(other) => return EvalError::EvaluationLimit(other.to_string()),
        None => {}
    }
    let full = format!("{err:#}");
    if verbose {
        return EvalError::EvaluationFailed(full);
    }
    EvalError::EvaluationFailed(safe_location(&full))
}

/// Keeps only the policy location (`file:line:col`) and the kind of an interpreter message:
/// the interpreter's own text may quote input values.
fn safe_location(full: &str) -> String {
    let located = full
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .and_then(location)
        .or_else(|| full.lines().next().and_then(location));
    let kind = full
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("error: "))
        .map(error_kind);
    match (located, kind) {
        (Some(at), Some(kind)) => format!("runtime error in policy at {at}: {kind}"),
        (Some(at), None) => format!("runtime error in policy at {at}"),
        (None, Some(kind)) => format!("runtime error in policy: {kind}"),
        (None, None) => "runtime error in policy".to_string(),
    }
}

/// `file.rego:line:col` at the start of `text`, if it has one.
fn location(text: &str) -> Option<String> {
    let mut parts = text.trim().splitn(4, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(file), Some(line), Some(col)) if file.ends_with(".rego") => {
            let line = line.trim().parse::<u32>().ok()?;
            let col = col.trim().parse::<u32>().ok()?;
            Some(format!("{file}:{line}:{col}"))
        }
        _ => None,
    }
}

/// A fixed description of an interpreter error message (never the message itself).
fn error_kind(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("divide by zero") || m.contains("division by zero") {
        "division by zero"
    } else if m.contains("conflict") || m.contains("multiple outputs") {
        "conflicting rule or function values"
    } else if m.contains("expects") || m.contains("expected") || m.contains("parse") {
        "builtin called with an unsuitable argument"
    } else {
        "evaluation error"
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_function_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledFunction>();
    }

    #[test]
    fn safe_location_drops_messages() {
        assert_eq!(
            safe_location("policy.rego:12:5: error: cannot divide 010190-123A"),
            "runtime error in policy at policy.rego:12:5"
        );
        assert_eq!(
            safe_location(
                "\n--> policy.rego:24:67\n   |\n24 | n := to_number(input.name)\n   |   ^\nerror: could not parse string as number 010190-123A"
            ),
            "runtime error in policy at policy.rego:24:67: builtin called with an unsuitable argument"
        );
        assert_eq!(
            safe_location("something 010190-123A"),
            "runtime error in policy"
        );
    }
}
