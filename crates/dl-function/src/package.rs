//! Loading a function package folder: files, manifest, schemas, test cases and digest.

use crate::digest::package_digest;
use crate::error::PackageError;
use crate::manifest::{Manifest, SchemaRef};
use crate::schema::Schema;
use crate::testing::{parse_test_file, TestCase};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Name of the manifest file at the package root.
pub const MANIFEST_FILE: &str = "function.yaml";
/// Largest total size of a package's files (8 MiB).
pub const MAX_PACKAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Most files a package may contain.
pub const MAX_PACKAGE_FILES: usize = 1_000;
/// Deepest folder nesting inside a package.
const MAX_DEPTH: usize = 8;

/// A loaded and validated function package.
#[derive(Debug, Clone)]
pub struct FunctionPackage {
    root: PathBuf,
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
    input_schema: Value,
    output_schema: Value,
    rego: Vec<(String, String)>,
    tests: Vec<TestCase>,
    digest: String,
}

impl FunctionPackage {
    /// Loads the package in `dir` and validates everything that can be checked without
    /// compiling the Rego (that is [`crate::CompiledFunction::compile`]'s job).
    pub fn load(dir: &Path) -> Result<Self, PackageError> {
        let files = read_files(dir)?;
        Self::from_files(dir, files)
    }

    /// Builds a package from an in-memory listing (relative path -> content), e.g. a package
    /// received from the registry. `root` is only used in messages.
    pub fn from_files(root: &Path, files: BTreeMap<String, Vec<u8>>) -> Result<Self, PackageError> {
        let manifest_bytes = files
            .get(MANIFEST_FILE)
            .ok_or_else(|| PackageError::MissingManifest(root.to_path_buf()))?;
        let manifest_text = utf8(MANIFEST_FILE, manifest_bytes)?;
        let manifest = Manifest::from_yaml(manifest_text)?;
        let input_schema = resolve_schema(&files, &manifest.input_schema, "input")?;
        let output_schema = resolve_schema(&files, &manifest.output_schema, "output")?;
        let mut rego = Vec::new();
        let mut tests = Vec::new();
        for (path, content) in &files {
            if path.ends_with(".rego") && !path.starts_with("tests/") {
                rego.push((path.clone(), utf8(path, content)?.to_string()));
            } else if path.starts_with("tests/")
                && (path.ends_with(".yaml") || path.ends_with(".yml"))
            {
                tests.extend(parse_test_file(path, utf8(path, content)?)?);
            }
        }
        if rego.is_empty() {
            return Err(PackageError::NoRego);
        }
        for (i, case) in tests.iter().enumerate() {
            if tests[..i].iter().any(|c| c.name == case.name) {
                return Err(PackageError::TestCase {
                    path: case.file.clone(),
                    message: format!("test name {:?} is used twice", case.name),
                });
            }
        }
        let digest = package_digest(&files);
        Ok(Self {
            root: root.to_path_buf(),
            manifest,
            files,
            input_schema,
            output_schema,
            rego,
            tests,
            digest,
        })
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The package digest, `sha256:<hex>` (see the crate README for the definition).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The test cases from `tests/*.yaml`, ordered by file then position.
    pub fn test_cases(&self) -> &[TestCase] {
        &self.tests
    }

    /// The folder the package was loaded from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every file of the package (relative path -> content), as digested.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// The resolved input JSON Schema.
    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    /// The resolved output JSON Schema.
    pub fn output_schema(&self) -> &Value {
        &self.output_schema
    }

    /// The Rego sources (relative path, text), sorted by path.
    pub fn rego_sources(&self) -> &[(String, String)] {
        &self.rego
    }
}

/// Loads every immediate subfolder of `root` that contains a `function.yaml`, sorted by folder
/// name. Fails on the first invalid package or on two packages with the same id and version.
pub fn load_dir_of_packages(root: &Path) -> Result<Vec<FunctionPackage>, PackageError> {
    let io = |source| PackageError::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in fs::read_dir(root).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && path.is_dir() && path.join(MANIFEST_FILE).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    let mut packages: Vec<FunctionPackage> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let pkg = FunctionPackage::load(&dir)?;
        if let Some(other) = packages.iter().find(|p| {
            p.manifest.id == pkg.manifest.id && p.manifest.version == pkg.manifest.version
        }) {
            return Err(PackageError::Duplicate {
                id: pkg.manifest.id.clone(),
                version: pkg.manifest.version.to_string(),
                first: other.root.clone(),
                second: dir,
            });
        }
        packages.push(pkg);
    }
    Ok(packages)
}

fn utf8<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, PackageError> {
    std::str::from_utf8(bytes).map_err(|_| PackageError::File {
        path: path.to_string(),
        message: "is not valid UTF-8".to_string(),
    })
}

fn resolve_schema(
    files: &BTreeMap<String, Vec<u8>>,
    schema: &SchemaRef,
    which: &'static str,
) -> Result<Value, PackageError> {
    let err = |message: String| PackageError::Schema { which, message };
    let value = match schema {
        SchemaRef::Inline(v) => v.clone(),
        SchemaRef::File(name) => {
            let name = name.strip_prefix("./").unwrap_or(name);
            let bytes = files
                .get(name)
                .ok_or_else(|| err(format!("file {name:?} is not in the package")))?;
            let text = utf8(name, bytes)?;
            if name.ends_with(".json") {
                serde_json::from_str(text).map_err(|e| err(format!("{name}: {e}")))?
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                serde_yaml::from_str(text).map_err(|e| err(format!("{name}: {e}")))?
            } else {
                return Err(err(format!(
                    "{name}: schema files must end in .json, .yaml or .yml"
                )));
            }
        }
    };
    Schema::compile(&value).map_err(err)?;
    Ok(value)
}

/// Reads every non-hidden regular file below `dir` into a sorted map of relative paths.
fn read_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    walk(dir, "", 0, &mut files, &mut total)?;
    Ok(files)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut BTreeMap<String, Vec<u8>>,
    total: &mut u64,
) -> Result<(), PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    if depth > MAX_DEPTH {
        return Err(PackageError::File {
            path: prefix.to_string(),
            message: format!("folders nested deeper than {MAX_DEPTH} levels"),
        });
    }
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(PackageError::File {
                path: format!("{prefix}{}", name.to_string_lossy()),
                message: "file name is not valid UTF-8".to_string(),
            });
        };
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_symlink() {
            return Err(PackageError::File {
                path: rel,
                message: "symbolic links are not allowed in a package".to_string(),
            });
        } else if kind.is_dir() {
            walk(&path, &format!("{rel}/"), depth + 1, files, total)?;
        } else if kind.is_file() {
            let content = fs::read(&path).map_err(io(&path))?;
            *total += content.len() as u64;
            if *total > MAX_PACKAGE_BYTES || files.len() >= MAX_PACKAGE_FILES {
                return Err(PackageError::File {
                    path: rel,
                    message: format!(
                        "package exceeds {MAX_PACKAGE_FILES} files or {MAX_PACKAGE_BYTES} bytes"
                    ),
                });
            }
            files.insert(rel, content);
        }
    }
    Ok(())
}
