//! Decision function packages for Decision Layer.
//!
//! A package is a folder with `function.yaml` (the [`Manifest`]), one or more `.rego` files and
//! `tests/*.yaml`. [`FunctionPackage::load`] reads and validates it and computes its digest;
//! [`CompiledFunction::compile`] prepares it once; [`CompiledFunction::evaluate`] is the hot
//! path: size check, JSON parse, input schema, Rego evaluation under a time budget, reasons
//! mapped to legal IRIs, output schema. See `README.md` for the formats.

mod budget;
mod cache;
mod compiled;
mod convert;
mod decision;
mod digest;
mod error;
mod json;
mod manifest;
mod package;
mod schema;
mod testing;

pub use cache::FunctionCache;
pub use compiled::{CompiledFunction, AUTHORING_SAFETY_FACTOR};
pub use decision::{Decision, EvalError, Reason, CODE_EVALUATION_TIMEOUT};
pub use digest::package_digest;
pub use error::{CompileError, PackageError};
pub use json::{diff as json_diff, json_eq};
pub use manifest::{
    to_pointer, Explain, LegalBasis, Limits, Manifest, Owner, SchemaRef, DEFAULT_MAX_EVAL_MS,
    DEFAULT_MAX_EVAL_STEPS, DEFAULT_MAX_INPUT_BYTES, WALL_CLOCK_SAFETY_FACTOR,
};
pub use package::{load_dir_of_packages, FunctionPackage, MANIFEST_FILE};
pub use schema::Schema;
pub use testing::{run_tests, CaseResult, Expectation, TestCase, TestReport};
