//! The `function.yaml` manifest: shape, defaults and validation.

use crate::error::PackageError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Default for [`Limits::max_input_bytes`].
pub const DEFAULT_MAX_INPUT_BYTES: usize = 65_536;
/// Default for [`Limits::max_eval_ms`].
pub const DEFAULT_MAX_EVAL_MS: u64 = 50;
/// Default for [`Limits::max_eval_steps`].
pub const DEFAULT_MAX_EVAL_STEPS: u64 = 500_000;
/// Upper bound accepted for [`Limits::max_eval_steps`].
pub const MAX_EVAL_STEPS_CEILING: u64 = 1_000_000_000;
/// The wall-clock safety net of an evaluation is this many times [`Limits::max_eval_ms`].
pub const WALL_CLOCK_SAFETY_FACTOR: u64 = 10;
/// Upper bound accepted for [`Limits::max_input_bytes`] (16 MiB).
pub const MAX_INPUT_BYTES_CEILING: usize = 16 * 1024 * 1024;
/// Upper bound accepted for [`Limits::max_eval_ms`] (10 s).
pub const MAX_EVAL_MS_CEILING: u64 = 10_000;

/// The validated manifest of a function package (`function.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Function id, `^[a-z][a-z0-9_]{1,63}$`.
    pub id: String,
    /// Semantic version of this function version.
    pub version: semver::Version,
    /// Short human title.
    pub title: String,
    /// Longer description.
    #[serde(default)]
    pub description: String,
    /// Who owns the function.
    pub owner: Owner,
    /// The legal basis: at least one reference; reasons cite these by `id`.
    pub legal_basis: Vec<LegalBasis>,
    /// First day the function is in force.
    pub effective_from: NaiveDate,
    /// Last day the function is in force (inclusive), if any.
    #[serde(default)]
    pub effective_to: Option<NaiveDate>,
    /// Caller ids allowed to request decisions; empty means nobody (deny by default).
    #[serde(default)]
    pub allowed_callers: Vec<String>,
    /// Rego rule path producing the decision document, e.g. `data.dl.loan_approval.decision`.
    pub entrypoint: String,
    /// JSON Schema of the input: inline, or a file name relative to the package root.
    pub input_schema: SchemaRef,
    /// JSON Schema of the output (the decision without `reasons`).
    pub output_schema: SchemaRef,
    /// Explanation allow list and redaction rules.
    #[serde(default)]
    pub explain: Explain,
    /// Evaluation limits.
    #[serde(default)]
    pub limits: Limits,
}

/// The owner of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    /// Owning organisation.
    pub organisation: String,
    /// Contact (e-mail address or team name).
    pub contact: String,
}

/// One legal reference of the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// Short local name cited by reasons (`legal_ref`), `^[a-z][a-z0-9_]{0,63}$`.
    pub id: String,
    /// The full IRI (EUR-Lex ELI, CELEX or Finlex ELI), validated by `dl_legal::LegalRef::parse`.
    pub iri: String,
    /// Human title of the provision.
    pub title: String,
}

/// A JSON Schema given inline or by a relative file name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchemaRef {
    /// A file in the package (`.json`, `.yaml` or `.yml`), relative to the package root.
    File(String),
    /// The schema itself.
    Inline(serde_json::Value),
}

/// What an explanation may show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explain {
    /// Fields that may appear in explanations: JSON pointers (`/customer/tier`) or dotted paths
    /// (`customer.tier`); `*` matches any single key or index.
    #[serde(default)]
    pub allow_fields: Vec<String>,
    /// Fields that must always be redacted, same syntax as `allow_fields`.
    #[serde(default)]
    pub redact_fields: Vec<String>,
}

impl Explain {
    /// `allow_fields` normalised to JSON pointers.
    pub fn allow_pointers(&self) -> Vec<String> {
        self.allow_fields.iter().map(|f| to_pointer(f)).collect()
    }

    /// `redact_fields` normalised to JSON pointers.
    pub fn redact_pointers(&self) -> Vec<String> {
        self.redact_fields.iter().map(|f| to_pointer(f)).collect()
    }
}

/// Evaluation limits of a function.
///
/// `max_eval_steps` is the deterministic budget: interpreter work units, counted the same on
/// every machine and under any load, so whether it is exceeded depends only on the package and
/// the input (`EVALUATION_LIMIT`, a legal outcome). `max_eval_ms` × [`WALL_CLOCK_SAFETY_FACTOR`]
/// is only a far-off safety net against a machine that is stuck (`EVALUATION_TIMEOUT`,
/// retryable, not an outcome). ADR 0014.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted input document, in bytes of its JSON text.
    #[serde(default = "default_max_input_bytes")]
    pub max_input_bytes: usize,
    /// Expected evaluation time in milliseconds; the wall-clock safety net is ten times this.
    #[serde(default = "default_max_eval_ms")]
    pub max_eval_ms: u64,
    /// Deterministic evaluation budget in interpreter work units.
    #[serde(default = "default_max_eval_steps")]
    pub max_eval_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_eval_ms: DEFAULT_MAX_EVAL_MS,
            max_eval_steps: DEFAULT_MAX_EVAL_STEPS,
        }
    }
}

fn default_max_input_bytes() -> usize {
    DEFAULT_MAX_INPUT_BYTES
}

fn default_max_eval_ms() -> u64 {
    DEFAULT_MAX_EVAL_MS
}

fn default_max_eval_steps() -> u64 {
    DEFAULT_MAX_EVAL_STEPS
}

impl Manifest {
    /// Parses and validates `function.yaml` text.
    pub fn from_yaml(text: &str) -> Result<Self, PackageError> {
        let manifest: Manifest =
            serde_yaml::from_str(text).map_err(|e| PackageError::ManifestSyntax(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The IRI of the legal basis entry with local name `id`.
    pub fn legal_iri(&self, id: &str) -> Option<&str> {
        self.legal_basis
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.iri.as_str())
    }

    /// All legal basis IRIs, in declaration order.
    pub fn legal_iris(&self) -> Vec<&str> {
        self.legal_basis.iter().map(|b| b.iri.as_str()).collect()
    }

    /// Whether the function is in force on `date` (`effective_from <= date <= effective_to`).
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        date >= self.effective_from && self.effective_to.is_none_or(|to| date <= to)
    }

    /// Whether `caller` is on the allow list (deny by default).
    pub fn caller_allowed(&self, caller: &str) -> bool {
        self.allowed_callers.iter().any(|c| c == caller)
    }

    /// Checks every field's value; the shape was already checked by deserialisation.
    pub fn validate(&self) -> Result<(), PackageError> {
        if !is_function_id(&self.id) {
            return Err(field(
                "id",
                "must be a name matching ^[a-z][a-z0-9_]{1,63}$, or <tenant>/<name> for a tenant's function (docs/tenancy.md)",
            ));
        }
        non_blank("title", &self.title)?;
        non_blank("owner.organisation", &self.owner.organisation)?;
        non_blank("owner.contact", &self.owner.contact)?;
        self.validate_legal_basis()?;
        if let Some(to) = self.effective_to {
            if to < self.effective_from {
                return Err(field("effective_to", "is before effective_from"));
            }
        }
        for (i, caller) in self.allowed_callers.iter().enumerate() {
            if caller.trim().is_empty() || caller.len() > 256 {
                return Err(field(
                    &format!("allowed_callers[{i}]"),
                    "must be a non-empty caller id of at most 256 bytes",
                ));
            }
            if self.allowed_callers[..i].contains(caller) {
                return Err(field(&format!("allowed_callers[{i}]"), "is listed twice"));
            }
        }
        if !is_rule_path(&self.entrypoint) {
            return Err(field(
                "entrypoint",
                "must be a Rego rule path such as data.pkg.rule (identifiers separated by dots)",
            ));
        }
        for (name, list) in [
            ("explain.allow_fields", &self.explain.allow_fields),
            ("explain.redact_fields", &self.explain.redact_fields),
        ] {
            for (i, f) in list.iter().enumerate() {
                if !is_field_path(f) {
                    return Err(field(
                        &format!("{name}[{i}]"),
                        "must be a JSON pointer (/a/b) or a dotted path (a.b)",
                    ));
                }
            }
        }
        if self.limits.max_input_bytes == 0 || self.limits.max_input_bytes > MAX_INPUT_BYTES_CEILING
        {
            return Err(field(
                "limits.max_input_bytes",
                &format!("must be between 1 and {MAX_INPUT_BYTES_CEILING}"),
            ));
        }
        if self.limits.max_eval_ms == 0 || self.limits.max_eval_ms > MAX_EVAL_MS_CEILING {
            return Err(field(
                "limits.max_eval_ms",
                &format!("must be between 1 and {MAX_EVAL_MS_CEILING}"),
            ));
        }
        if self.limits.max_eval_steps == 0 || self.limits.max_eval_steps > MAX_EVAL_STEPS_CEILING {
            return Err(field(
                "limits.max_eval_steps",
                &format!("must be between 1 and {MAX_EVAL_STEPS_CEILING}"),
            ));
        }
        Ok(())
    }

    fn validate_legal_basis(&self) -> Result<(), PackageError> {
        if self.legal_basis.is_empty() {
            return Err(field(
                "legal_basis",
                "at least one legal reference is required",
            ));
        }
        for (i, basis) in self.legal_basis.iter().enumerate() {
            let at = |f: &str| format!("legal_basis[{i}].{f}");
            if !is_identifier(&basis.id, 1, 64) {
                return Err(field(&at("id"), "must match ^[a-z][a-z0-9_]{0,63}$"));
            }
            if self.legal_basis[..i].iter().any(|b| b.id == basis.id) {
                return Err(field(&at("id"), "is declared twice"));
            }
            non_blank(&at("title"), &basis.title)?;
            dl_legal::LegalRef::parse(&basis.iri).map_err(|e| field(&at("iri"), &e.to_string()))?;
        }
        Ok(())
    }
}

fn field(name: &str, message: &str) -> PackageError {
    PackageError::ManifestField {
        field: name.to_string(),
        message: message.to_string(),
    }
}

fn non_blank(name: &str, value: &str) -> Result<(), PackageError> {
    if value.trim().is_empty() {
        Err(field(name, "must not be empty"))
    } else {
        Ok(())
    }
}

/// A registry id: a name, or `<tenant>/<name>` (`dl_schema::tenant`).
fn is_function_id(id: &str) -> bool {
    match id.split_once(dl_schema::tenant::TENANT_SEPARATOR) {
        Some((tenant, name)) => {
            dl_schema::tenant::is_valid_tenant(tenant) && is_identifier(name, 2, 64)
        }
        None => is_identifier(id, 2, 64),
    }
}

/// `^[a-z][a-z0-9_]{min-1,max-1}$`
fn is_identifier(s: &str, min: usize, max: usize) -> bool {
    let bytes = s.as_bytes();
    (min..=max).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn is_rego_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `data.<ident>(.<ident>)+`
fn is_rule_path(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 3 && parts[0] == "data" && parts[1..].iter().all(|p| is_rego_ident(p))
}

fn is_field_path(s: &str) -> bool {
    if s.len() > 512 {
        return false;
    }
    if let Some(rest) = s.strip_prefix('/') {
        !rest.is_empty() && rest.split('/').all(|seg| !seg.is_empty())
    } else {
        !s.is_empty()
            && s.split('.').all(|seg| {
                seg == "*"
                    || (!seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            })
    }
}

/// Normalises a dotted path or JSON pointer to a JSON pointer (RFC 6901 escaping).
pub fn to_pointer(path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    path.split('.')
        .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_function_id("loan_approval"));
        assert!(is_function_id("kela/loan_approval"));
        assert!(!is_function_id("kela/"));
        assert!(!is_function_id("/loan"));
        assert!(!is_function_id("a/b/loan"));
        assert!(!is_function_id("Kela/loan"));
        assert!(is_identifier("loan_approval", 2, 64));
        assert!(!is_identifier("Loan", 2, 64));
        assert!(!is_identifier("a", 2, 64));
        assert!(!is_identifier("", 1, 64));
        assert!(!is_identifier("9a", 1, 64));
    }

    #[test]
    fn rule_paths() {
        assert!(is_rule_path("data.dl.loan_approval.decision"));
        assert!(!is_rule_path("data"));
        assert!(!is_rule_path("data.x"));
        assert!(!is_rule_path("input.x.y"));
        assert!(!is_rule_path("data.x..y"));
    }

    #[test]
    fn pointers() {
        assert_eq!(to_pointer("customer.tier"), "/customer/tier");
        assert_eq!(to_pointer("/a/b"), "/a/b");
        assert!(is_field_path("items.*.amount"));
        assert!(!is_field_path("a..b"));
        assert!(!is_field_path("/"));
    }
}
