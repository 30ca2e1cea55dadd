//! The JSON input path to evaluation (`CompiledFunction::evaluate`: size check, JSON parse,
//! input schema, Rego under the step budget, reasons, output schema) with
//! `examples/loan_approval` under a small step budget. Evaluation is deterministic: the same
//! input twice (the second time on a pooled interpreter) gives the same outcome.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use dl_function::{CompiledFunction, FunctionPackage};
use libfuzzer_sys::fuzz_target;

/// The step budget (the package's default is 500 000): enough for every test case of the
/// package, small enough that an input that makes the policy loop hits it quickly.
const STEP_BUDGET: u64 = 20_000;

fn files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("reading the package") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("inside the package");
            let name = rel.to_string_lossy().replace('\\', "/");
            out.insert(name, std::fs::read(&path).expect("reading a package file"));
        }
    }
}

static FUNCTION: LazyLock<CompiledFunction> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loan_approval");
    let mut all = BTreeMap::new();
    files(&root, &root, &mut all);
    let manifest = String::from_utf8(all["function.yaml"].clone()).expect("UTF-8 manifest");
    assert!(manifest.contains("\nlimits:\n"), "the manifest has limits");
    let manifest = manifest.replace(
        "\nlimits:\n",
        &format!("\nlimits:\n  max_eval_steps: {STEP_BUDGET}\n"),
    );
    all.insert("function.yaml".into(), manifest.into_bytes());
    let package = FunctionPackage::from_files(&root, all).expect("loan_approval loads");
    let report = dl_function::run_tests(&package);
    assert!(
        report.all_passed(),
        "the step budget {STEP_BUDGET} fails the package's own tests: {report:?}"
    );
    CompiledFunction::compile(&package).expect("loan_approval compiles")
});

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let first = FUNCTION.evaluate(input);
    let second = FUNCTION.evaluate(input);
    // The wall-clock safety net depends on the machine, not on the input: not compared.
    let retryable =
        |r: &Result<_, dl_function::EvalError>| r.as_ref().is_err_and(|e| e.is_retryable());
    if !retryable(&first) && !retryable(&second) {
        assert_eq!(first, second, "the same input evaluated twice differs");
    }
});
