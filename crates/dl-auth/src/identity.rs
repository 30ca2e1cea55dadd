//! Caller identity and the allow-list grammar.

use serde::{Deserialize, Serialize};

/// The authenticated caller, as recorded in the decision result and the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerIdentity {
    /// Token issuer (`iss`), exactly as configured.
    pub issuer: String,
    /// Subject (`sub`); for `client_credentials` tokens usually the client id.
    pub subject: String,
    /// Scopes from `scope` (space-separated) or `scp`, de-duplicated, in token order.
    pub scopes: Vec<String>,
    /// Roles from the issuer's `roles_claim`, de-duplicated, in token order.
    pub roles: Vec<String>,
    /// `client_id` claim (RFC 9068), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `jti` claim, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// `exp` claim (seconds since the Unix epoch); 0 for identities not made from a token.
    #[serde(default)]
    pub expires_at: i64,
    /// `cnf.x5t#S256` (RFC 8705): base64url SHA-256 thumbprint of the client certificate the
    /// token is bound to. Such a token is only accepted with that certificate
    /// ([`crate::JwtVerifier::verify_bearer_with_certificate`]); other `cnf` methods are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_thumbprint: Option<String>,
    /// The caller's tenant, from its issuer's configuration (docs/tenancy.md); `None` when the
    /// deployment declares no tenants (everyone is in [`DEFAULT_TENANT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

pub use dl_schema::tenant::{is_valid_tenant, DEFAULT_TENANT};

impl CallerIdentity {
    /// An identity with only issuer and subject set.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        CallerIdentity {
            issuer: issuer.into(),
            subject: subject.into(),
            ..Default::default()
        }
    }

    /// The stable principal string `"<issuer>|<subject>"`.
    ///
    /// Unambiguous because configured issuers never contain `|` (it is not a valid URI
    /// character and the configuration refuses it), so the first `|` always ends the issuer.
    /// Use it as the caller key for rate limits, replay keys and the ledger.
    pub fn principal(&self) -> String {
        let mut s = String::with_capacity(self.issuer.len() + 1 + self.subject.len());
        s.push_str(&self.issuer);
        s.push('|');
        s.push_str(&self.subject);
        s
    }

    /// The caller's tenant: its own, or [`DEFAULT_TENANT`].
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }

    /// Whether the identity has this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the identity has this role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// One parsed allow-list term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term<'a> {
    Iss(&'a str),
    Sub(&'a str),
    Scope(&'a str),
    Role(&'a str),
    Client(&'a str),
    Tenant(&'a str),
}

/// An allow-list entry that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allow-list entry {entry:?}: {problem}")]
pub struct AllowListError {
    /// The offending entry.
    pub entry: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Parses one entry into its conjunction of terms; `Ok(None)` is the wildcard `*`.
fn parse_entry(entry: &str) -> Result<Option<Vec<Term<'_>>>, &'static str> {
    if entry == "*" {
        return Ok(None);
    }
    if entry.is_empty() {
        return Err("empty entry");
    }
    if entry.len() > 2048 {
        return Err("entry longer than 2048 bytes");
    }
    let mut terms = Vec::new();
    for part in entry.split('|') {
        let (kind, value) = part.split_once(':').ok_or("term without ':'")?;
        if value.is_empty() {
            return Err("term with empty value");
        }
        terms.push(match kind {
            "iss" => Term::Iss(value),
            "sub" => Term::Sub(value),
            "scope" => Term::Scope(value),
            "role" => Term::Role(value),
            "client" => Term::Client(value),
            "tenant" => Term::Tenant(value),
            _ => {
                return Err("unknown term kind (expected iss, sub, scope, role, client or tenant)")
            }
        });
    }
    if terms.len() > 8 {
        return Err("more than 8 terms");
    }
    Ok(Some(terms))
}

fn term_matches(identity: &CallerIdentity, term: Term<'_>) -> bool {
    match term {
        Term::Iss(v) => identity.issuer == v,
        Term::Sub(v) => identity.subject == v,
        Term::Scope(v) => identity.has_scope(v),
        Term::Role(v) => identity.has_role(v),
        Term::Client(v) => identity.client_id.as_deref() == Some(v),
        Term::Tenant(v) => identity.tenant() == v,
    }
}

/// Checks every entry of an allow list against the grammar (use it when a function is
/// published, so that a typo is refused instead of silently matching nobody).
pub fn validate_allow_list(allow_list: &[String]) -> Result<(), AllowListError> {
    for entry in allow_list {
        parse_entry(entry).map_err(|problem| AllowListError {
            entry: entry.clone(),
            problem,
        })?;
    }
    Ok(())
}

/// Deny-by-default allow-list check.
///
/// Grammar (one entry per string; the caller is allowed when **any** entry matches):
///
/// ```text
/// entry := "*" | term ( "|" term )*        ; all terms of an entry must match
/// term  := kind ":" value                  ; value: non-empty, compared exactly (case-sensitive)
/// kind  := "iss" | "sub" | "scope" | "role" | "client" | "tenant"
/// ```
///
/// * `sub:<subject>` – the token subject (from any configured issuer);
/// * `iss:<issuer>|sub:<subject>` – one subject of one issuer (recommended with several issuers);
/// * `scope:<scope>`, `role:<role>` – the identity has that scope / role;
/// * `client:<client_id>` – the `client_id` claim;
/// * `tenant:<tenant>` – the caller's tenant (docs/tenancy.md; `default` without declared
///   tenants): `tenant:kela|role:case_worker` keeps a function to one tenant's case workers;
/// * `iss:<issuer>` – any caller of that issuer;
/// * `*` – any authenticated caller (explicit opt-in).
///
/// The value of a term runs to the next `|`, so values cannot contain `|` (issuers never do).
/// An empty list allows nobody; a malformed entry matches nobody.
pub fn caller_allowed(identity: &CallerIdentity, allow_list: &[String]) -> bool {
    allow_list.iter().any(|entry| match parse_entry(entry) {
        Ok(None) => true,
        Ok(Some(terms)) => terms.into_iter().all(|t| term_matches(identity, t)),
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> CallerIdentity {
        CallerIdentity {
            issuer: "https://idp.example".into(),
            subject: "svc-a".into(),
            scopes: vec!["decisions:submit".into()],
            roles: vec!["submitter".into()],
            client_id: Some("svc-a".into()),
            ..Default::default()
        }
    }

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tenant_terms_match_the_callers_tenant() {
        let mut kela = id();
        kela.tenant = Some("kela".into());
        assert!(caller_allowed(&kela, &l(&["tenant:kela"])));
        assert!(!caller_allowed(&kela, &l(&["tenant:bank"])));
        assert!(!caller_allowed(&id(), &l(&["tenant:kela"])));
        assert!(
            caller_allowed(&id(), &l(&["tenant:default"])),
            "no declared tenants"
        );
        assert!(validate_allow_list(&l(&["tenant:kela|sub:x"])).is_ok());
    }

    #[test]
    fn deny_by_default() {
        assert!(!caller_allowed(&id(), &[]));
        assert!(!caller_allowed(&id(), &l(&["sub:svc-b"])));
        assert!(!caller_allowed(&id(), &l(&["bogus", "sub:", "SUB:svc-a"])));
    }

    #[test]
    fn grammar() {
        let i = id();
        assert!(caller_allowed(&i, &l(&["sub:svc-a"])));
        assert!(caller_allowed(&i, &l(&["scope:decisions:submit"])));
        assert!(caller_allowed(&i, &l(&["role:submitter"])));
        assert!(caller_allowed(&i, &l(&["client:svc-a"])));
        assert!(caller_allowed(
            &i,
            &l(&["iss:https://idp.example|sub:svc-a"])
        ));
        assert!(!caller_allowed(&i, &l(&["iss:https://other|sub:svc-a"])));
        assert!(caller_allowed(&i, &l(&["iss:https://idp.example"])));
        assert!(caller_allowed(&i, &l(&["role:admin", "*"])));
        assert!(!caller_allowed(
            &i,
            &l(&["iss:https://idp.example|role:admin"])
        ));
        assert_eq!(i.principal(), "https://idp.example|svc-a");
    }

    #[test]
    fn validation() {
        validate_allow_list(&l(&["*", "sub:a", "iss:https://x|scope:y"])).unwrap();
        for bad in ["", "sub", "sub:", "foo:bar", "sub:a|", "sub:a||role:b"] {
            assert!(validate_allow_list(&l(&[bad])).is_err(), "{bad}");
        }
    }
}
