//! Measures `CompiledFunction::evaluate` on the loan_approval example with a typical input.

use criterion::{criterion_group, criterion_main, Criterion};
use dl_function::{CompiledFunction, FunctionPackage};
use std::hint::black_box;
use std::path::Path;

const INPUT: &str = r#"{"amount": 20000, "customer_score": 720, "customer_tier": "premium", "employment_status": "employed", "monthly_income": 8000, "loan_purpose": "car"}"#;

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
    assert!(function.evaluate(INPUT).is_ok());
    c.bench_function("loan_approval/evaluate_pooled", |b| {
        b.iter(|| function.evaluate(black_box(INPUT)))
    });
    c.bench_function("loan_approval/evaluate_fresh_clone", |b| {
        b.iter(|| function.evaluate_unpooled(black_box(INPUT)))
    });
    c.bench_function("loan_approval/compile", |b| {
        b.iter(|| CompiledFunction::compile(black_box(&pkg)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
