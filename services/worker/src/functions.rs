//! The functions the worker can evaluate, compiled once at start.
//!
//! Until the event-sourced registry lands, packages come from a folder. Version selection is
//! already the registry's rule: an explicit version must exist and be in force at the decision
//! date; without a version, the highest semver version in force at `as_of` is used.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use dl_function::{CompiledFunction, FunctionPackage, Manifest};

/// One compiled function version.
pub struct Entry {
    /// Its manifest.
    pub manifest: Manifest,
    /// Package digest.
    pub digest: String,
    /// Compiled policy.
    pub compiled: CompiledFunction,
    /// Legal basis IRIs.
    pub legal_basis: Vec<String>,
}

/// Why no version could be selected.
#[derive(Debug, PartialEq, Eq)]
pub enum Selection {
    /// No function with this id, or no such version.
    Unknown(String),
    /// Versions exist but none is in force at the date.
    NotActive(String),
}

/// All loaded functions: id -> versions in ascending semver order.
#[derive(Default)]
pub struct FunctionSet {
    by_id: BTreeMap<String, Vec<Arc<Entry>>>,
}

impl FunctionSet {
    /// Loads and compiles every package under each of `roots`.
    pub fn load_all(roots: &[std::path::PathBuf]) -> anyhow::Result<Self> {
        let mut set = FunctionSet::default();
        for root in roots {
            set.extend_from(root)?;
        }
        Ok(set)
    }

    fn extend_from(&mut self, root: &Path) -> anyhow::Result<()> {
        let packages = dl_function::load_dir_of_packages(root)
            .with_context(|| format!("loading function packages from {}", root.display()))?;
        for pkg in packages {
            anyhow::ensure!(
                !self.by_id.get(&pkg.manifest().id).is_some_and(|v| v
                    .iter()
                    .any(|e| e.manifest.version == pkg.manifest().version)),
                "{} {} is defined twice",
                pkg.manifest().id,
                pkg.manifest().version
            );
            self.add(&pkg)?;
        }
        Ok(())
    }

    /// Compiles and adds one package.
    pub fn add(&mut self, pkg: &FunctionPackage) -> anyhow::Result<()> {
        let compiled = CompiledFunction::compile(pkg)
            .with_context(|| format!("compiling {}", pkg.manifest().id))?;
        let manifest = pkg.manifest().clone();
        let entry = Arc::new(Entry {
            legal_basis: manifest
                .legal_iris()
                .into_iter()
                .map(str::to_string)
                .collect(),
            digest: pkg.digest().to_string(),
            manifest,
            compiled,
        });
        let versions = self.by_id.entry(entry.manifest.id.clone()).or_default();
        versions.push(entry);
        versions.sort_by(|a, b| a.manifest.version.cmp(&b.manifest.version));
        Ok(())
    }

    /// Number of function versions.
    pub fn len(&self) -> usize {
        self.by_id.values().map(Vec::len).sum()
    }

    /// Whether no function is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every version's (function id, allowed callers).
    pub fn allow_lists(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.by_id.values().flatten().map(|e| {
            (
                e.manifest.id.as_str(),
                e.manifest.allowed_callers.as_slice(),
            )
        })
    }

    /// Selects the version to evaluate.
    pub fn select(
        &self,
        id: &str,
        version: Option<&str>,
        date: NaiveDate,
    ) -> Result<Arc<Entry>, Selection> {
        let versions = self
            .by_id
            .get(id)
            .ok_or_else(|| Selection::Unknown(format!("no function {id:?}")))?;
        match version {
            Some(v) => {
                let wanted = semver::Version::parse(v)
                    .map_err(|_| Selection::Unknown(format!("{v:?} is not a semantic version")))?;
                let entry = versions
                    .iter()
                    .find(|e| e.manifest.version == wanted)
                    .ok_or_else(|| {
                        Selection::Unknown(format!("function {id} has no version {wanted}"))
                    })?;
                if entry.manifest.in_force_on(date) {
                    Ok(entry.clone())
                } else {
                    Err(Selection::NotActive(format!(
                        "function {id} {wanted} is not in force on {date}"
                    )))
                }
            }
            None => versions
                .iter()
                .rev()
                .find(|e| e.manifest.in_force_on(date))
                .cloned()
                .ok_or_else(|| {
                    Selection::NotActive(format!("no version of {id} is in force on {date}"))
                }),
        }
    }
}
