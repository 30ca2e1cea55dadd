//! One evaluation of the loan_approval example, beside bare regorus on the same policy.
//!
//! `cargo bench -p dl-function --bench evaluate`
//!
//! - `bare_regorus/*`: the package's Rego and the same `data.decision_layer.function` document
//!   in a plain `regorus::Engine`, prepared once (one evaluation before measuring). Each
//!   iteration sets the input and evaluates the entrypoint on that same engine: no clone, since
//!   the function's pool also reuses prepared engines, no step budget, no schema, no output
//!   checks. `eval` starts from an already converted input value (cloning it is a reference
//!   count increment); `from_json_text` includes regorus's own JSON parser; `eval_step_budget`
//!   adds the function's step budget (16-unit check interval) to `eval`; `eval_fresh_clone`
//!   clones the prepared engine per evaluation (what the function does when its pool is empty).
//! - `loan_approval/evaluate_pooled`: `CompiledFunction::evaluate`, the worker's path (size
//!   check, parse, input schema, conversion, pooled engine under the step budget, output
//!   conversion, reasons → legal IRIs, output schema).
//! - `stage/*`: each stage of that path on its own, on the same input; `*_via_serde` are the
//!   conversions the path used before (regorus's serde implementations), for comparison.

use criterion::{criterion_group, criterion_main, Criterion};
use dl_function::{CompiledFunction, FunctionPackage};
use std::hint::black_box;
use std::path::Path;

const INPUT: &str = r#"{"amount": 20000, "customer_score": 720, "customer_tier": "premium", "employment_status": "employed", "monthly_income": 8000, "loan_purpose": "car"}"#;

fn bare_engine(pkg: &FunctionPackage) -> regorus::Engine {
    let manifest = pkg.manifest();
    let mut engine = regorus::Engine::new();
    engine.set_strict_builtin_errors(true);
    for (path, text) in pkg.rego_sources() {
        if let Err(e) = engine.add_policy(path.clone(), text.clone()) {
            panic!("bare regorus cannot parse {path}: {e}");
        }
    }
    let meta = serde_json::json!({"decision_layer": {"function": {
        "id": manifest.id,
        "version": manifest.version.to_string(),
    }}});
    if let Err(e) = engine.add_data(regorus::Value::from(meta)) {
        panic!("bare regorus data: {e}");
    }
    engine
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/loan_approval");
    let pkg = match FunctionPackage::load(&dir) {
        Ok(p) => p,
        Err(e) => panic!("cannot load {}: {e}", dir.display()),
    };
    let function = match CompiledFunction::compile(&pkg) {
        Ok(f) => f,
        Err(e) => panic!("cannot compile: {e}"),
    };
    let decision = match function.evaluate(INPUT) {
        Ok(d) => d,
        Err(e) => panic!("cannot evaluate: {e}"),
    };
    let entrypoint = pkg.manifest().entrypoint.clone();

    // Bare regorus, prepared once.
    let mut engine = bare_engine(&pkg);
    let rego_input = match regorus::Value::from_json_str(INPUT) {
        Ok(v) => v,
        Err(e) => panic!("bare regorus input: {e}"),
    };
    engine.set_input(rego_input.clone());
    let bare = match engine.eval_rule(entrypoint.clone()) {
        Ok(v) => v,
        Err(e) => panic!("bare regorus eval: {e}"),
    };
    // Same decision as ours (ours without `reasons`).
    assert_eq!(
        bare["approved"],
        regorus::Value::from(decision.output["approved"].as_bool() == Some(true))
    );

    let mut group = c.benchmark_group("loan_approval");
    group.bench_function("bare_regorus/eval", |b| {
        b.iter(|| {
            engine.set_input(black_box(rego_input.clone()));
            engine.eval_rule(entrypoint.clone())
        })
    });
    group.bench_function("bare_regorus/from_json_text", |b| {
        b.iter(|| {
            let input = regorus::Value::from_json_str(black_box(INPUT))?;
            engine.set_input(input);
            engine.eval_rule(entrypoint.clone())
        })
    });
    // The same engine with the function's step budget (ADR 0014): the step clock is the
    // process's regorus time source since `CompiledFunction::compile` above.
    let mut budgeted = bare_engine(&pkg);
    budgeted.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: std::time::Duration::from_nanos(pkg.manifest().limits.max_eval_steps),
        check_interval: std::num::NonZeroU32::MIN.saturating_add(15),
    });
    budgeted.set_input(rego_input.clone());
    if let Err(e) = budgeted.eval_rule(entrypoint.clone()) {
        panic!("bare regorus with budget: {e}");
    }
    group.bench_function("bare_regorus/eval_step_budget", |b| {
        b.iter(|| {
            budgeted.set_input(black_box(rego_input.clone()));
            budgeted.eval_rule(entrypoint.clone())
        })
    });
    group.bench_function("bare_regorus/eval_fresh_clone", |b| {
        b.iter(|| {
            let mut fresh = engine.clone();
            fresh.set_input(black_box(rego_input.clone()));
            fresh.eval_rule(entrypoint.clone())
        })
    });
    group.bench_function("evaluate_pooled", |b| {
        b.iter(|| function.evaluate(black_box(INPUT)))
    });
    group.bench_function("evaluate_fresh_clone", |b| {
        b.iter(|| function.evaluate_unpooled(black_box(INPUT)))
    });

    // Stages of `evaluate_pooled`, each on its own.
    let parsed = match function.stage_parse(INPUT) {
        Ok(v) => v,
        Err(e) => panic!("parse: {e}"),
    };
    let converted = function.stage_convert_input(parsed.clone());
    let result = match function.stage_eval(converted.clone()) {
        Ok(v) => v,
        Err(e) => panic!("eval: {e}"),
    };
    group.bench_function("stage/1_parse_json", |b| {
        b.iter(|| function.stage_parse(black_box(INPUT)))
    });
    group.bench_function("stage/2_input_schema", |b| {
        b.iter(|| function.stage_validate(black_box(&parsed)))
    });
    group.bench_function("stage/3_convert_input", |b| {
        b.iter_batched(
            || parsed.clone(),
            |v| function.stage_convert_input(black_box(v)),
            criterion::BatchSize::SmallInput,
        )
    });
    // What stage 3 was before the direct conversion (regorus's serde `Deserialize`).
    group.bench_function("stage/3_convert_input_via_serde", |b| {
        b.iter_batched(
            || parsed.clone(),
            |v| regorus::Value::from(black_box(v)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("stage/4_eval_pooled_budgeted", |b| {
        b.iter(|| function.stage_eval(black_box(converted.clone())))
    });
    group.bench_function("stage/5_convert_output", |b| {
        b.iter(|| function.stage_convert_output(black_box(&result)))
    });
    // What stage 5 was before the direct conversion (regorus's serde `Serialize`).
    group.bench_function("stage/5_convert_output_via_serde", |b| {
        b.iter(|| serde_json::to_value(black_box(&result)))
    });
    group.bench_function("stage/6_decide_incl_5", |b| {
        b.iter(|| function.stage_decide(black_box(result.clone())))
    });
    group.bench_function("compile", |b| {
        b.iter(|| CompiledFunction::compile(black_box(&pkg)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
