//! Package test cases (`tests/*.yaml`) and the test runner.

use crate::compiled::CompiledFunction;
use crate::error::PackageError;
use crate::json::diff;
use crate::package::FunctionPackage;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// One test case of a package.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Unique name within the package.
    pub name: String,
    /// The file (relative path) the case comes from.
    pub file: String,
    /// The input JSON text given to `evaluate`.
    pub input_json: String,
    /// What must come out.
    pub expect: Expectation,
}

/// The expected result of a test case.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// A decision with exactly this output (numbers compared by value) and, when given,
    /// exactly these reason codes in this order.
    Output {
        /// Expected decision output.
        output: Value,
        /// Expected reason codes, if checked.
        reasons: Option<Vec<String>>,
    },
    /// A rejection with this code (`INPUT_INVALID`, `EVALUATION_FAILED`, `EVALUATION_LIMIT`).
    Error(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    input_json: Option<String>,
    expect: RawExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    reasons: Option<Vec<String>>,
    #[serde(default)]
    error: Option<String>,
}

const ERROR_CODES: [&str; 3] = ["INPUT_INVALID", "EVALUATION_FAILED", "EVALUATION_LIMIT"];

/// Parses one test file: a YAML list of cases, or a single case.
pub(crate) fn parse_test_file(path: &str, text: &str) -> Result<Vec<TestCase>, PackageError> {
    let err = |message: String| PackageError::TestCase {
        path: path.to_string(),
        message,
    };
    let doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| err(e.to_string()))?;
    let raws: Vec<RawCase> = if doc.is_sequence() {
        serde_yaml::from_value(doc).map_err(|e| err(e.to_string()))?
    } else {
        vec![serde_yaml::from_value(doc).map_err(|e| err(e.to_string()))?]
    };
    raws.into_iter()
        .map(|raw| {
            let name = raw.name.clone();
            let at = |m: &str| err(format!("case {name:?}: {m}"));
            if name.trim().is_empty() {
                return Err(at("name must not be empty"));
            }
            let input_json = match (raw.input, raw.input_json) {
                (Some(v), None) => serde_json::to_string(&v).map_err(|e| at(&e.to_string()))?,
                (None, Some(text)) => text,
                _ => return Err(at("give exactly one of `input` and `input_json`")),
            };
            let expect = match (raw.expect.output, raw.expect.error) {
                (Some(output), None) => Expectation::Output {
                    output,
                    reasons: raw.expect.reasons,
                },
                (None, Some(code)) if raw.expect.reasons.is_none() => {
                    if !ERROR_CODES.contains(&code.as_str()) {
                        return Err(at(&format!("unknown error code {code:?}")));
                    }
                    Expectation::Error(code)
                }
                _ => return Err(at("expect needs exactly one of `output` and `error`")),
            };
            Ok(TestCase {
                name,
                file: path.to_string(),
                input_json,
                expect,
            })
        })
        .collect()
}

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// For a failure: what differed.
    pub detail: Option<String>,
}

/// The outcome of a package's tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// Function id.
    pub function_id: String,
    /// Function version.
    pub version: String,
    /// Package digest.
    pub digest: String,
    /// Set when the package did not compile (then no case ran).
    pub compile_error: Option<String>,
    /// One entry per case, in package order.
    pub cases: Vec<CaseResult>,
}

impl TestReport {
    /// True when the package compiled, has at least one case, and every case passed.
    pub fn all_passed(&self) -> bool {
        self.compile_error.is_none()
            && !self.cases.is_empty()
            && self.cases.iter().all(|c| c.passed)
    }

    /// Number of passed cases.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }

    /// Number of failed cases.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} ({})", self.function_id, self.version, self.digest)?;
        if let Some(e) = &self.compile_error {
            return writeln!(f, "  COMPILE ERROR: {e}");
        }
        if self.cases.is_empty() {
            writeln!(f, "  no test cases")?;
        }
        for case in &self.cases {
            if case.passed {
                writeln!(f, "  ok   {}", case.name)?;
            } else {
                writeln!(f, "  FAIL {}", case.name)?;
                for line in case.detail.as_deref().unwrap_or("").lines() {
                    writeln!(f, "       {line}")?;
                }
            }
        }
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Compiles the package and runs every test case.
pub fn run_tests(pkg: &FunctionPackage) -> TestReport {
    let manifest = pkg.manifest();
    let mut report = TestReport {
        function_id: manifest.id.clone(),
        version: manifest.version.to_string(),
        digest: pkg.digest().to_string(),
        compile_error: None,
        cases: Vec::new(),
    };
    let function = match CompiledFunction::compile(pkg) {
        Ok(f) => f,
        Err(e) => {
            report.compile_error = Some(e.to_string());
            return report;
        }
    };
    report.cases = pkg
        .test_cases()
        .iter()
        .map(|case| run_case(&function, case))
        .collect();
    report
}

fn run_case(function: &CompiledFunction, case: &TestCase) -> CaseResult {
    let outcome = function.evaluate_verbose(&case.input_json);
    let detail = match (&case.expect, outcome) {
        (Expectation::Output { output, reasons }, Ok(decision)) => {
            let mut problems = diff(output, &decision.output);
            if let Some(codes) = reasons {
                let got: Vec<&str> = decision.reasons.iter().map(|r| r.code.as_str()).collect();
                if got != codes.iter().map(String::as_str).collect::<Vec<_>>() {
                    problems.push(format!("reasons: expected {codes:?}, got {got:?}"));
                }
            }
            (!problems.is_empty()).then(|| problems.join("\n"))
        }
        (Expectation::Output { .. }, Err(e)) => {
            Some(format!("expected a decision, got {}: {e}", e.code()))
        }
        (Expectation::Error(code), Err(e)) if e.code() == code => None,
        (Expectation::Error(code), Err(e)) => {
            Some(format!("expected error {code}, got {}: {e}", e.code()))
        }
        (Expectation::Error(code), Ok(d)) => Some(format!(
            "expected error {code}, got a decision: {}",
            d.output
        )),
    };
    CaseResult {
        name: case.name.clone(),
        passed: detail.is_none(),
        detail,
    }
}
