//! Each failure class maps to its stable code; bad packages give errors, never panics.

use dl_function::{
    CompileError, CompiledFunction, EvalError, FunctionCache, FunctionPackage, PackageError,
};
use std::fs;
use std::path::Path;
use std::sync::Arc;

const MANIFEST: &str = r#"
id: probe
version: 0.1.0
title: Probe
owner: {organisation: Test, contact: test@example.fi}
legal_basis:
  - {id: act, iri: "http://data.finlex.fi/eli/sd/2014/938/ajantasa", title: Act}
effective_from: 2025-01-01
allowed_callers: []
entrypoint: data.probe.decision
input_schema:
  type: object
  properties: {x: {type: integer, minimum: 0, maximum: 1000000}, name: {type: string}}
  required: [x]
  additionalProperties: false
output_schema:
  type: object
  properties: {ok: {type: boolean}}
  required: [ok]
  additionalProperties: false
limits: {max_input_bytes: 200, max_eval_ms: 20, max_eval_steps: 100000}
"#;

const POLICY: &str = r#"
package probe

reason := {"code": "R", "message": "m", "legal_ref": "act"}

decision := {"ok": true, "reasons": [reason]} if input.x == 1

decision := {"ok": true, "reasons": [{"code": "R", "message": "m", "legal_ref": "nope"}]} if input.x == 2

decision := {"ok": "yes", "reasons": [reason]} if input.x == 3

decision := {"ok": true, "reasons": [reason], "n": 10 / (input.x - 4)} if input.x == 4

clash := 1 if input.x == 5
clash := 2 if input.x == 5
decision := {"ok": clash == 1, "reasons": [reason]} if input.x == 5

decision := {"ok": true, "reasons": [reason], "n": count([1 | some a in numbers.range(1, 5000); some b in numbers.range(1, 5000)])} if input.x == 6

decision := {"ok": true} if input.x == 7

decision := {"ok": true, "reasons": []} if input.x == 8

decision := {"ok": true, "reasons": [reason], "n": to_number(input.name)} if input.x == 9
"#;

fn write_pkg(dir: &Path, manifest: &str, policy: &str) {
    fs::create_dir_all(dir.join("tests")).unwrap();
    fs::write(dir.join("function.yaml"), manifest).unwrap();
    fs::write(dir.join("policy.rego"), policy).unwrap();
}

fn probe() -> (tempfile::TempDir, CompiledFunction) {
    let tmp = tempfile::tempdir().unwrap();
    write_pkg(tmp.path(), MANIFEST, POLICY);
    let pkg = FunctionPackage::load(tmp.path()).unwrap();
    let f = CompiledFunction::compile(&pkg).unwrap();
    (tmp, f)
}

fn code(f: &CompiledFunction, input: &str) -> &'static str {
    match f.evaluate(input) {
        Ok(d) => panic!("expected an error for {input}, got {d:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn happy_path() {
    let (_t, f) = probe();
    let d = f.evaluate(r#"{"x": 1}"#).unwrap();
    assert_eq!(d.output, serde_json::json!({"ok": true}));
    assert_eq!(
        d.reasons[0].legal_ref,
        "http://data.finlex.fi/eli/sd/2014/938/ajantasa"
    );
}

#[test]
fn input_too_large() {
    let (_t, f) = probe();
    let big = format!(r#"{{"x": 1, "name": "{}"}}"#, "a".repeat(300));
    let err = f.evaluate(&big).unwrap_err();
    assert!(matches!(err, EvalError::InputTooLarge { limit: 200, .. }));
    assert_eq!(err.code(), "INPUT_INVALID");
}

#[test]
fn schema_violation_lists_paths_without_values() {
    let (_t, f) = probe();
    let err = f.evaluate(r#"{"x": "010190-123A"}"#).unwrap_err();
    assert_eq!(err.code(), "INPUT_INVALID");
    let msg = err.to_string();
    assert!(msg.contains("/x"), "{msg}");
    assert!(!msg.contains("010190-123A"), "{msg}");
    assert_eq!(code(&f, r#"{"name": "a"}"#), "INPUT_INVALID");
    assert_eq!(code(&f, "not json"), "INPUT_INVALID");
    assert_eq!(code(&f, ""), "INPUT_INVALID");
}

#[test]
fn undefined_decision_fails() {
    let (_t, f) = probe();
    assert_eq!(code(&f, r#"{"x": 100}"#), "EVALUATION_FAILED");
}

#[test]
fn undeclared_legal_reference_fails() {
    let (_t, f) = probe();
    let err = f.evaluate(r#"{"x": 2}"#).unwrap_err();
    assert_eq!(err.code(), "EVALUATION_FAILED");
    assert!(err.to_string().contains("nope"));
}

#[test]
fn output_schema_violation_fails() {
    let (_t, f) = probe();
    let err = f.evaluate(r#"{"x": 3}"#).unwrap_err();
    assert!(matches!(err, EvalError::OutputInvalid(_)), "{err:?}");
    assert_eq!(err.code(), "EVALUATION_FAILED");
}

#[test]
fn runtime_errors_fail() {
    let (_t, f) = probe();
    // division by zero
    assert_eq!(code(&f, r#"{"x": 4}"#), "EVALUATION_FAILED");
    // conflicting values of a complete rule
    assert_eq!(code(&f, r#"{"x": 5}"#), "EVALUATION_FAILED");
    // strict builtin error; the message must not quote the input
    let err = f
        .evaluate(r#"{"x": 9, "name": "010190-123A"}"#)
        .unwrap_err();
    assert_eq!(err.code(), "EVALUATION_FAILED");
    assert!(!err.to_string().contains("010190-123A"), "{err}");
}

#[test]
fn missing_or_empty_reasons_fail() {
    let (_t, f) = probe();
    assert_eq!(code(&f, r#"{"x": 7}"#), "EVALUATION_FAILED");
    assert_eq!(code(&f, r#"{"x": 8}"#), "EVALUATION_FAILED");
}

#[test]
fn evaluation_over_limit() {
    let (_t, f) = probe();
    // The step budget decides; the wall-clock safety net (10 × max_eval_ms) could trip first
    // on a loaded machine, so it is widened here as for package tests.
    let err = f
        .evaluate_with_safety_factor(r#"{"x": 6}"#, dl_function::AUTHORING_SAFETY_FACTOR)
        .unwrap_err();
    assert_eq!(err.code(), "EVALUATION_LIMIT");
    // the function still works afterwards
    assert!(f.evaluate(r#"{"x": 1}"#).is_ok());
}

#[test]
fn digest_changes_with_any_file_but_not_hidden_ones() {
    let tmp = tempfile::tempdir().unwrap();
    write_pkg(tmp.path(), MANIFEST, POLICY);
    let d1 = FunctionPackage::load(tmp.path())
        .unwrap()
        .digest()
        .to_string();
    fs::write(tmp.path().join(".editor-swap"), "x").unwrap();
    assert_eq!(d1, FunctionPackage::load(tmp.path()).unwrap().digest());
    fs::write(tmp.path().join("policy.rego"), format!("{POLICY}\n")).unwrap();
    let d2 = FunctionPackage::load(tmp.path())
        .unwrap()
        .digest()
        .to_string();
    assert_ne!(d1, d2);
    fs::write(tmp.path().join("tests/extra.yaml"), "[]").unwrap();
    assert_ne!(d2, FunctionPackage::load(tmp.path()).unwrap().digest());
}

#[test]
fn garbage_manifests_are_package_errors() {
    let cases: Vec<(&str, String)> = vec![
        ("not yaml", ": : :\n  - [".to_string()),
        ("unknown key", format!("{MANIFEST}\nsurprise: 1\n")),
        ("bad id", MANIFEST.replace("id: probe", "id: Probe!")),
        ("bad version", MANIFEST.replace("version: 0.1.0", "version: one")),
        ("no legal basis", MANIFEST.replace(
            "  - {id: act, iri: \"http://data.finlex.fi/eli/sd/2014/938/ajantasa\", title: Act}",
            "  []",
        ).replace("legal_basis:\n  []", "legal_basis: []")),
        ("bad iri", MANIFEST.replace("http://data.finlex.fi/eli/sd/2014/938/ajantasa", "https://example.com/law")),
        ("bad entrypoint", MANIFEST.replace("data.probe.decision", "probe decision")),
        ("effective_to before from", format!("{MANIFEST}\neffective_to: 2020-01-01\n")),
        ("bad schema", MANIFEST.replace("type: object\n  properties: {x:", "type: 12\n  properties: {x:")),
        ("missing schema file", MANIFEST.replace("input_schema:\n", "input_schema: nothere.json\nunused:\n")),
        ("zero limit", MANIFEST.replace("max_eval_ms: 20", "max_eval_ms: 0")),
        ("zero step budget", MANIFEST.replace("max_eval_steps: 100000", "max_eval_steps: 0")),
        ("empty", String::new()),
        ("binary", "\u{0}\u{1}\u{2}".to_string()),
    ];
    for (label, manifest) in cases {
        let tmp = tempfile::tempdir().unwrap();
        write_pkg(tmp.path(), &manifest, POLICY);
        let result = FunctionPackage::load(tmp.path());
        assert!(result.is_err(), "{label}: expected a PackageError");
    }
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        FunctionPackage::load(tmp.path()),
        Err(PackageError::MissingManifest(_))
    ));
    fs::write(tmp.path().join("function.yaml"), MANIFEST).unwrap();
    assert!(matches!(
        FunctionPackage::load(tmp.path()),
        Err(PackageError::NoRego)
    ));
    fs::write(tmp.path().join("policy.rego"), POLICY).unwrap();
    fs::create_dir_all(tmp.path().join("tests")).unwrap();
    fs::write(
        tmp.path().join("tests/bad.yaml"),
        "- name: x\n  input: {}\n  expect: {}\n",
    )
    .unwrap();
    assert!(matches!(
        FunctionPackage::load(tmp.path()),
        Err(PackageError::TestCase { .. })
    ));
}

#[test]
fn garbage_rego_is_a_compile_error() {
    for (label, policy) in [
        ("syntax", "package probe\n decision := {"),
        ("not rego", "\u{0}\u{ffff} ???"),
        ("no entrypoint", "package probe\nother := 1\n"),
        ("wrong package", "package elsewhere\ndecision := {}\n"),
        ("unsafe var", "package probe\ndecision := x if { y == 1 }\n"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write_pkg(tmp.path(), MANIFEST, policy);
        let pkg = FunctionPackage::load(tmp.path()).unwrap();
        let result = CompiledFunction::compile(&pkg);
        assert!(
            matches!(
                result,
                Err(CompileError::Rego { .. } | CompileError::Entrypoint { .. })
            ),
            "{label}: {result:?}"
        );
    }
}

#[test]
fn cache_is_bounded_and_keyed_by_digest() {
    let cache = FunctionCache::new(1);
    let t1 = tempfile::tempdir().unwrap();
    write_pkg(t1.path(), MANIFEST, POLICY);
    let t2 = tempfile::tempdir().unwrap();
    write_pkg(t2.path(), MANIFEST, &format!("{POLICY}\n# changed\n"));
    let p1 = FunctionPackage::load(t1.path()).unwrap();
    let p2 = FunctionPackage::load(t2.path()).unwrap();
    let a = cache.get_or_compile(&p1).unwrap();
    let b = cache.get_or_compile(&p1).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let c = cache.get_or_compile(&p2).unwrap();
    assert_eq!(c.digest(), p2.digest());
    assert_eq!(cache.len(), 1);
    assert!(cache.get(p1.digest()).is_none());
}

/// Security review (issue 15, Medium 8): the evaluation limit was wall-clock, so the same
/// request could be decided on an idle machine and rejected `EVALUATION_LIMIT` on a busy one.
/// The budget is now counted in interpreter steps: the same evaluation ends the same way, to
/// the message, however busy the machine; the wall clock is only a far-off safety net with its
/// own retryable code.
#[test]
fn evaluation_limit_is_deterministic() {
    let (_t, f) = probe();
    let f = Arc::new(f);
    // The wall-clock safety net is set far off (× 1000): how busy the machine running this test
    // is must not decide which limit is hit first.
    const FAR: u64 = 1000;
    let first = f
        .evaluate_with_safety_factor(r#"{"x": 6}"#, FAR)
        .unwrap_err();
    assert_eq!(first.code(), "EVALUATION_LIMIT");
    // The same evaluation on several threads at once (a busy machine) ends identically.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || f.evaluate_with_safety_factor(r#"{"x": 6}"#, FAR))
        })
        .collect();
    for h in busy {
        assert_eq!(h.join().unwrap().unwrap_err(), first);
    }
    // A machine too slow for the wall-clock safety net (simulated: a net of zero) gets the
    // retryable code, never a legal outcome; within the budget the decision is unchanged.
    let stuck = f.evaluate_with_safety_factor(r#"{"x": 6}"#, 0).unwrap_err();
    assert_eq!(stuck.code(), "EVALUATION_TIMEOUT");
    assert!(stuck.is_retryable() && !first.is_retryable());
    assert_eq!(
        f.evaluate_with_safety_factor(r#"{"x": 1}"#, 0),
        f.evaluate(r#"{"x": 1}"#)
    );
}

/// Security review (issue 15, Medium 8): runtime errors were reported as "runtime error in
/// policy" without a location; now the policy location and the kind, never input values.
#[test]
fn runtime_errors_name_their_policy_location() {
    let (_t, f) = probe();
    let err = f.evaluate(r#"{"x": 4}"#).unwrap_err().to_string();
    assert!(
        err.contains("at policy.rego:12:55: division by zero"),
        "{err}"
    );
    let err = f.evaluate(r#"{"x": 5}"#).unwrap_err().to_string();
    assert!(err.contains("at policy.rego:15:1: conflicting"), "{err}");
    let err = f
        .evaluate(r#"{"x": 9, "name": "010190-123A"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at policy.rego:24:67"), "{err}");
    assert!(!err.contains("010190"), "{err}");
}
