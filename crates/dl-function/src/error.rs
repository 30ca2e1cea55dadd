//! Errors raised while loading and compiling function packages.

use std::path::PathBuf;
use thiserror::Error;

/// Why a function package could not be loaded.
#[derive(Debug, Error)]
pub enum PackageError {
    /// A file or folder of the package could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The folder has no `function.yaml`.
    #[error("{0} has no function.yaml")]
    MissingManifest(PathBuf),
    /// `function.yaml` is not valid YAML or does not match the manifest shape.
    #[error("function.yaml is invalid: {0}")]
    ManifestSyntax(String),
    /// `function.yaml` parsed but a field has an invalid value.
    #[error("function.yaml field `{field}` is invalid: {message}")]
    ManifestField {
        /// The field (dotted path) that is invalid.
        field: String,
        /// Why it is invalid.
        message: String,
    },
    /// A JSON Schema of the package is missing or not a valid schema.
    #[error("{which} schema is invalid: {message}")]
    Schema {
        /// `input` or `output`.
        which: &'static str,
        /// Why it is invalid.
        message: String,
    },
    /// The package contains no `.rego` file.
    #[error("the package contains no .rego file")]
    NoRego,
    /// A file path or content is not acceptable (not UTF-8, symlink, too large, ...).
    #[error("file {path}: {message}")]
    File {
        /// Path relative to the package root.
        path: String,
        /// Why it is refused.
        message: String,
    },
    /// A test case file is invalid.
    #[error("test file {path}: {message}")]
    TestCase {
        /// Path relative to the package root.
        path: String,
        /// Why it is invalid.
        message: String,
    },
    /// Two packages in a directory of packages share the same id and version.
    #[error("duplicate function {id} {version} in {first} and {second}")]
    Duplicate {
        /// Function id.
        id: String,
        /// Function version.
        version: String,
        /// First folder.
        first: PathBuf,
        /// Second folder.
        second: PathBuf,
    },
}

/// Why a loaded package could not be compiled into an evaluable function.
#[derive(Debug, Error)]
pub enum CompileError {
    /// A Rego file failed to parse.
    #[error("rego file {path}: {message}")]
    Rego {
        /// Path relative to the package root.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The policies do not form a valid program for the entrypoint.
    #[error("entrypoint {entrypoint}: {message}")]
    Entrypoint {
        /// The entrypoint rule path.
        entrypoint: String,
        /// Why it cannot be compiled.
        message: String,
    },
    /// A JSON Schema could not be compiled.
    #[error("{which} schema: {message}")]
    Schema {
        /// `input` or `output`.
        which: &'static str,
        /// Why it cannot be compiled.
        message: String,
    },
}
