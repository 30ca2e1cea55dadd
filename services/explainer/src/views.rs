//! From a ledger decision to its explanation views: pure, no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use dl_redact::{Audience, Policy, Redactor};
use dl_registry::Registry;
use dl_schema::{
    AudienceView, DecisionRecorded, ExplainAudience, ExplainPolicySource, ExplainView,
    LedgerRecord, LedgerRef, Reason, DEFAULT_TENANT,
};
use serde_json::{json, Value};

/// Most tenants' redactors kept at once (a deployment declares a few; past this the cache
/// starts again, so no ledger content can grow it without bound).
const MAX_TENANT_REDACTORS: usize = 256;

/// The redactor of each tenant (docs/tenancy.md): the default tenant's has the configured
/// pseudonym key, so its pseudonyms are those of every view made before tenants; every other
/// tenant's has a key derived from it ([`dl_redact::Pseudonymizer::for_tenant`]: HKDF-SHA256
/// with the tenant id), so one person id gives unlinkable pseudonyms in two tenants. Made once
/// per tenant.
pub struct Redactors {
    default: Redactor,
    tenants: HashMap<String, Redactor>,
}

impl Redactors {
    /// The redactors over the configured key's `default` redactor.
    pub fn new(default: Redactor) -> Self {
        Self {
            default,
            tenants: HashMap::new(),
        }
    }

    /// The redactor of `tenant` (a ledger record's [`LedgerRecord::tenant`]); an invalid tenant
    /// id is refused (no key is derived for it).
    pub fn for_tenant(&mut self, tenant: &str) -> Result<&Redactor, dl_redact::RedactError> {
        if tenant == DEFAULT_TENANT {
            return Ok(&self.default);
        }
        if !self.tenants.contains_key(tenant) {
            if self.tenants.len() >= MAX_TENANT_REDACTORS {
                self.tenants.clear();
            }
            let made = self.default.for_tenant(tenant)?;
            self.tenants.insert(tenant.to_string(), made);
        }
        Ok(&self.tenants[tenant])
    }
}

/// The explanation policy of each function version, parsed once.
#[derive(Default)]
pub struct Policies {
    parsed: HashMap<(String, String), Option<Arc<Policy>>>,
}

impl Policies {
    /// The policy of `function_id` `version` in `registry`; `None` when the version is not in
    /// the registry (or its manifest's field patterns do not parse, which publishing refuses).
    pub fn get(
        &mut self,
        registry: &Registry,
        function_id: &str,
        version: &str,
    ) -> Option<Arc<Policy>> {
        let key = (function_id.to_string(), version.to_string());
        if let Some(found) = self.parsed.get(&key) {
            return found.clone();
        }
        let entry = registry.version(function_id, &semver::Version::parse(version).ok()?)?;
        let explain = &entry.manifest().explain;
        let policy = match Policy::new(&explain.allow_pointers(), &explain.redact_pointers()) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                tracing::error!(function_id, version, error = %e, "explanation policy does not parse; nothing of the input is shown");
                None
            }
        };
        self.parsed.insert(key, policy.clone());
        policy
    }
}

fn wire(audience: Audience) -> ExplainAudience {
    match audience {
        Audience::Subject => ExplainAudience::Subject,
        Audience::CaseWorker => ExplainAudience::CaseWorker,
        Audience::Auditor => ExplainAudience::Auditor,
    }
}

/// Why a view could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// Redaction refused (e.g. no pseudonym key for an audience that needs one).
    #[error(transparent)]
    Redact(#[from] dl_redact::RedactError),
}

/// Counts of what the views of one decision left out, for metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redactions {
    /// Identifiers masked in shown text, by entity code (over all audiences).
    pub masked: HashMap<String, u64>,
}

/// The views of a `DECISION_RECORDED` record for every audience; `None` for other records.
///
/// `redactor` must hold the pseudonym key of the record's tenant ([`Redactors::for_tenant`]);
/// the view names the tenant and the key. The input is redacted under `policy` (deny by
/// default: without a policy nothing of it is shown). The decision document is the decision itself and is shown to every audience with
/// identifiers in its text masked; reason messages likewise.
pub fn make_views(
    redactor: &Redactor,
    record: &LedgerRecord,
    policy: Option<&Policy>,
) -> Result<Option<(ExplainView, Redactions)>, ViewError> {
    let Some(d) = record.decision.as_ref() else {
        return Ok(None);
    };
    let nothing = Policy::new::<&str>(&[], &[])?;
    let input_policy = policy.unwrap_or(&nothing);
    let input: Value = serde_json::from_str(&d.input).unwrap_or(Value::Null);
    let output: Value = serde_json::from_str(&d.output).unwrap_or(Value::Null);
    let mut redactions = Redactions::default();
    let mut views = Vec::with_capacity(Audience::ALL.len());
    let mut key_id = None;
    for audience in Audience::ALL {
        let inp = redactor.redact(input_policy, &input, audience)?;
        let out = redactor.redact(&Policy::show_all(), &output, audience)?;
        let reasons = reasons(redactor, d, audience, &mut redactions)?;
        for m in inp.manifest.masked.iter().chain(&out.manifest.masked) {
            *redactions.masked.entry(m.entity.clone()).or_default() += 1;
        }
        key_id = key_id
            .or(inp.manifest.pseudonym_key_id.clone())
            .or(out.manifest.pseudonym_key_id.clone());
        views.push(AudienceView {
            audience: wire(audience),
            input: inp.value.to_string(),
            output: out.value.to_string(),
            reasons,
            manifest: json!({"input": inp.manifest, "output": out.manifest}).to_string(),
        });
    }
    Ok(Some((
        ExplainView {
            decision_id: d.decision_id.clone(),
            request_id: d.request_id.clone(),
            function_id: d.function_id.clone(),
            function_version: d.function_version.clone(),
            function_digest: d.function_digest.clone(),
            decided_at: d.decided_at,
            ledger: LedgerRef {
                chain_id: record.chain_id.clone(),
                sequence: record.sequence,
                hash: record.hash.clone(),
            },
            legal_basis: d.legal_basis.clone(),
            policy: if policy.is_some() {
                ExplainPolicySource::Manifest
            } else {
                ExplainPolicySource::UnknownFunction
            },
            pseudonym_key_id: key_id,
            views,
            tenant: d.tenant.clone(),
        },
        redactions,
    )))
}

fn reasons(
    redactor: &Redactor,
    d: &DecisionRecorded,
    audience: Audience,
    redactions: &mut Redactions,
) -> Result<Vec<Reason>, ViewError> {
    d.reasons
        .iter()
        .map(|r| {
            let (message, found) = redactor.redact_text(&r.message, audience)?;
            for f in found {
                *redactions
                    .masked
                    .entry(f.entity.code().to_string())
                    .or_default() += 1;
            }
            Ok(Reason {
                code: r.code.clone(),
                message,
                legal_ref: r.legal_ref.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use dl_redact::Pseudonymizer;
    use dl_schema::{LedgerRecordKind, SourcePosition};

    use super::*;

    fn record() -> LedgerRecord {
        let mut r = LedgerRecord::unchained(LedgerRecordKind::DecisionRecorded, 1_700_000_000_000);
        r.chain_id = "decision.ledger:0".into();
        r.sequence = 7;
        r.hash = "ab".repeat(32);
        r.decision = Some(DecisionRecorded {
            decision_id: "d-1".into(),
            request_id: "r-1".into(),
            source: SourcePosition {
                topic: "decision.requests".into(),
                partition: 0,
                offset: 7,
            },
            caller: None,
            function_id: "refund_policy".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:00".into(),
            as_of: None,
            issued_at: 1,
            decided_at: 2,
            input: r#"{"issue":"late","customer":{"tier":"gold","id":"131052-308T"},"order_amount":1000,"note":"call 040 123 4567"}"#.into(),
            output: r#"{"refund_amount":120,"contact":"maija@example.fi"}"#.into(),
            reasons: vec![Reason {
                code: "LATE".into(),
                message: "late delivery to 131052-308T".into(),
                legal_ref: "http://data.europa.eu/eli/dir/2011/83/oj".into(),
            }],
            legal_basis: vec!["http://data.europa.eu/eli/dir/2011/83/oj".into()],
            signature: None,
            tenant: None,
        });
        r
    }

    fn redactor() -> Redactor {
        Redactor::new(Some(Pseudonymizer::new("k1", &[9u8; 32]).unwrap()))
    }

    fn policy() -> Policy {
        Policy::new(
            &["/issue", "/customer/tier", "/order_amount"],
            &["/customer/id"],
        )
        .unwrap()
    }

    #[test]
    fn three_audiences_and_nothing_personal_leaks() {
        let (view, redactions) = make_views(&redactor(), &record(), Some(&policy()))
            .unwrap()
            .unwrap();
        assert_eq!(view.views.len(), 3);
        assert_eq!(view.policy, ExplainPolicySource::Manifest);
        assert_eq!(view.pseudonym_key_id.as_deref(), Some("k1"));
        assert_eq!(view.ledger.sequence, 7);
        let encoded = serde_json::to_string(&view).unwrap();
        for secret in ["131052-308T", "040 123 4567", "maija@example.fi"] {
            assert!(!encoded.contains(secret), "{secret} leaked");
        }
        let subject = &view.views[0];
        assert_eq!(subject.audience, ExplainAudience::Subject);
        let input: Value = serde_json::from_str(&subject.input).unwrap();
        assert_eq!(
            input,
            json!({"issue": "late", "customer": {"tier": "gold"}, "order_amount": 1000})
        );
        assert_eq!(
            subject.reasons[0].message,
            "late delivery to [FI_PERSONAL_IDENTITY_CODE]"
        );
        let output: Value = serde_json::from_str(&subject.output).unwrap();
        assert_eq!(output["refund_amount"], 120);
        assert_eq!(output["contact"], "[EMAIL]");
        let manifest: Value = serde_json::from_str(&subject.manifest).unwrap();
        assert_eq!(
            manifest["input"]["erased"],
            json!(["/customer/id", "/note"])
        );
        // Auditor: the redact-listed id and the unlisted note are pseudonyms.
        let auditor: Value = serde_json::from_str(&view.views[2].input).unwrap();
        assert!(auditor["customer"]["id"]
            .as_str()
            .unwrap()
            .starts_with("psn:k1:"));
        assert!(auditor["note"].as_str().unwrap().starts_with("psn:k1:"));
        assert!(redactions.masked["EMAIL"] >= 3);
    }

    /// Medium 5 (issue 15): a household keyed by a HETU showed the HETU in every view and in
    /// the manifests.
    #[test]
    fn a_household_keyed_by_hetu_never_shows_the_hetu() {
        let mut r = record();
        if let Some(d) = r.decision.as_mut() {
            d.input = r#"{"household": {"131052-308T": {"age": 71, "income": 900}, "010594Y9032": {"age": 30, "income": 1200}}}"#.into();
        }
        for policy in [
            Policy::new(&["/household/*/age"], &["/household/*/income"]).unwrap(),
            Policy::new(&["/household"], &[]).unwrap(),
            Policy::new::<&str>(&[], &[]).unwrap(),
        ] {
            let (view, _) = make_views(&redactor(), &r, Some(&policy)).unwrap().unwrap();
            let encoded = serde_json::to_string(&view).unwrap();
            for secret in ["131052-308T", "010594Y9032"] {
                assert!(!encoded.contains(secret), "{secret} leaked: {encoded}");
            }
        }
    }

    /// Issue 13: the same person id in two tenants' decisions gets unlinkable pseudonyms (each
    /// tenant's key is derived from the configured one); the default tenant keeps the
    /// configured key, so its pseudonyms are those every view had before tenants.
    #[test]
    fn each_tenant_pseudonymises_with_its_own_key() {
        let master = Pseudonymizer::new("k1", &[9u8; 32]).unwrap();
        let mut redactors = Redactors::new(Redactor::new(Some(master.clone())));
        let view_of = |redactors: &mut Redactors, tenant: Option<&str>| {
            let mut r = record();
            if let Some(d) = r.decision.as_mut() {
                d.tenant = tenant.map(str::to_string);
            }
            let redactor = redactors.for_tenant(r.tenant()).unwrap();
            make_views(redactor, &r, Some(&policy()))
                .unwrap()
                .unwrap()
                .0
        };
        let id_of = |v: &ExplainView| {
            let auditor: Value = serde_json::from_str(&v.views[2].input).unwrap();
            auditor["customer"]["id"].as_str().unwrap().to_string()
        };
        let default = view_of(&mut redactors, None);
        let kela = view_of(&mut redactors, Some("kela"));
        let bank = view_of(&mut redactors, Some("bank"));
        // The default tenant: the configured key, as before tenants.
        assert_eq!(
            id_of(&default),
            master.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T")
        );
        assert_eq!(default.pseudonym_key_id.as_deref(), Some("k1"));
        assert_eq!(
            (default.tenant.as_deref(), default.tenant()),
            (None, "default")
        );
        // Tenants: their own keys, named in the view, and different pseudonyms of the same id.
        assert_eq!(kela.pseudonym_key_id.as_deref(), Some("k1/kela"));
        assert_eq!(bank.pseudonym_key_id.as_deref(), Some("k1/bank"));
        assert_eq!(kela.tenant.as_deref(), Some("kela"));
        let digits = |p: String| p.rsplit(':').next().unwrap_or_default().to_string();
        let (d, k, b) = (
            digits(id_of(&default)),
            digits(id_of(&kela)),
            digits(id_of(&bank)),
        );
        assert!(d != k && k != b && d != b, "{d} {k} {b}");
        assert!(id_of(&kela).starts_with("psn:k1/kela:"));
        // Shown text too (the case worker's reason), and the same key every time.
        assert!(kela.views[1].reasons[0].message.contains("psn:k1/kela:"));
        assert_eq!(view_of(&mut redactors, Some("kela")), kela);
        // A tenant id no key can be derived for is refused.
        assert!(redactors.for_tenant("Not A Tenant").is_err());
    }

    #[test]
    fn unknown_function_shows_no_input() {
        let (view, _) = make_views(&redactor(), &record(), None).unwrap().unwrap();
        assert_eq!(view.policy, ExplainPolicySource::UnknownFunction);
        assert_eq!(view.views[0].input, "{}");
    }

    #[test]
    fn other_records_have_no_views_and_views_round_trip_through_avro() {
        let r = LedgerRecord::unchained(LedgerRecordKind::Checkpoint, 1);
        assert!(make_views(&redactor(), &r, None).unwrap().is_none());
        let (view, _) = make_views(&redactor(), &record(), Some(&policy()))
            .unwrap()
            .unwrap();
        let codec = dl_schema::explain_view_codec();
        assert_eq!(codec.decode(&codec.encode(&view).unwrap()).unwrap(), view);
    }
}
