//! From a ledger decision to its explanation views: pure, no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use dl_redact::{Audience, Policy, Redactor};
use dl_registry::Registry;
use dl_schema::{
    AudienceView, DecisionRecorded, ExplainAudience, ExplainPolicySource, ExplainView,
    LedgerRecord, LedgerRef, Reason,
};
use serde_json::{json, Value};

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
/// The input is redacted under `policy` (deny by default: without a policy nothing of it is
/// shown). The decision document is the decision itself and is shown to every audience with
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
