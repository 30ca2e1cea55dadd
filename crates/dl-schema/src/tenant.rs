//! Tenants and the namespacing of function ids (docs/tenancy.md, ADR 0029).
//!
//! A deployment that declares tenants gives every function of tenant `t` the registry id
//! `t/<name>`; a plain `<name>` belongs to the default tenant (a deployment without declared
//! tenants, or development without authentication). A caller names only `<name>`: the worker
//! resolves it inside the caller's verified tenant with [`registry_id`], so no caller can select
//! another tenant's function, not even by exact id and version.

/// The tenant of callers in a deployment without declared tenants, and of every caller when
/// authentication is off (development).
pub const DEFAULT_TENANT: &str = "default";

/// Separates a tenant from a function's name in a registry id.
pub const TENANT_SEPARATOR: char = '/';

/// Whether `t` is a valid tenant id: 1 to 32 characters of `a-z 0-9 -`, the first a letter or
/// digit (the rule of the `tenant_auditors` table, of metric labels and of registry ids).
pub fn is_valid_tenant(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// The tenant a registry id belongs to: `Some("kela")` for `kela/benefit`, `None` (the
/// default tenant) for a plain `benefit`.
pub fn function_tenant(registry_id: &str) -> Option<&str> {
    registry_id
        .split_once(TENANT_SEPARATOR)
        .map(|(tenant, _)| tenant)
}

/// The registry id a caller of `tenant` means by `name`, or `None` when `name` is not a plain
/// name (it holds the separator: a caller never names a tenant itself).
pub fn registry_id(tenant: Option<&str>, name: &str) -> Option<String> {
    if name.contains(TENANT_SEPARATOR) {
        return None;
    }
    Some(match tenant {
        Some(t) => format!("{t}{TENANT_SEPARATOR}{name}"),
        None => name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(is_valid_tenant("kela"));
        assert!(is_valid_tenant("hus-2"));
        assert!(!is_valid_tenant(""));
        assert!(!is_valid_tenant("-x"));
        assert!(!is_valid_tenant("Kela"));
        assert!(!is_valid_tenant("a/b"));
        assert!(!is_valid_tenant(&"a".repeat(33)));
    }

    #[test]
    fn names_resolve_inside_the_tenant() {
        assert_eq!(
            registry_id(Some("kela"), "benefit").as_deref(),
            Some("kela/benefit")
        );
        assert_eq!(registry_id(None, "benefit").as_deref(), Some("benefit"));
        assert_eq!(registry_id(Some("kela"), "bank/loan"), None);
        assert_eq!(registry_id(None, "bank/loan"), None);
        assert_eq!(function_tenant("kela/benefit"), Some("kela"));
        assert_eq!(function_tenant("benefit"), None);
    }
}
