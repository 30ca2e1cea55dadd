//! Every example package loads, compiles and passes its own tests.

use dl_function::{load_dir_of_packages, run_tests, CompiledFunction, FunctionPackage};
use std::path::{Path, PathBuf};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn all_examples_pass_their_tests() {
    let packages = load_dir_of_packages(&examples_dir()).expect("examples load");
    let ids: Vec<&str> = packages.iter().map(|p| p.manifest().id.as_str()).collect();
    for expected in [
        "loan_approval",
        "refund_policy",
        "healthcare_eligibility",
        "risk_assessment",
        "finnish_housing_allowance",
    ] {
        assert!(
            ids.contains(&expected),
            "missing example {expected}: {ids:?}"
        );
    }
    let mut failures = String::new();
    for pkg in &packages {
        assert!(pkg.digest().starts_with("sha256:"));
        assert!(
            pkg.test_cases().len() >= 4,
            "{} has too few tests",
            pkg.manifest().id
        );
        let report = run_tests(pkg);
        println!("{report}");
        if !report.all_passed() {
            failures.push_str(&report.to_string());
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn example_digest_is_stable_across_loads() {
    let dir = examples_dir().join("loan_approval");
    let a = FunctionPackage::load(&dir).unwrap();
    let b = FunctionPackage::load(&dir).unwrap();
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn reasons_carry_full_iris() {
    let pkg = FunctionPackage::load(&examples_dir().join("loan_approval")).unwrap();
    let f = CompiledFunction::compile(&pkg).unwrap();
    let d = f
        .evaluate(r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#)
        .unwrap();
    assert_eq!(d.reasons.len(), 1);
    assert_eq!(d.reasons[0].code, "SMALL_PERSONAL_LOAN");
    assert_eq!(
        d.reasons[0].legal_ref,
        "http://data.finlex.fi/eli/sd/1978/38/luku/7/pykala/14/ajantasa"
    );
    assert!(d.output.get("reasons").is_none());
}

#[test]
fn concurrent_evaluations_agree() {
    let pkg = FunctionPackage::load(&examples_dir().join("loan_approval")).unwrap();
    let f = std::sync::Arc::new(CompiledFunction::compile(&pkg).unwrap());
    let inputs = [
        (
            r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#,
            true,
        ),
        (r#"{"amount": 15000, "customer_score": 600}"#, false),
    ];
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let (input, approved) = inputs[(i + t) % 2];
                    let d = f.evaluate(input).unwrap();
                    assert_eq!(d.output["approved"], serde_json::Value::Bool(approved));
                    let d2 = f.evaluate_unpooled(input).unwrap();
                    assert_eq!(d, d2);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
