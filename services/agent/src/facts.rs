//! The facts of one decision the agent may state: the audience's view (from the gateway) after
//! the `dl-redact` detectors once more, object keys included, with every string capped.
//!
//! Everything an answer says comes from here or from a what-if result: the outcome, the
//! reasons with their legal references, the legal basis, the shown input fields and the names
//! of the withheld ones. Nothing else of the explanation (ledger position, request id, digest,
//! pseudonymised values) is taken.

use dl_redact::{Audience, Policy, Redactor};
use serde_json::{json, Map, Value};

/// Longest string (value or key) of the facts, in characters; longer ones are cut and end in
/// `…`. Explanations need amounts, codes and short labels, not free text: the cap bounds what a
/// shown free-text field can carry.
pub const MAX_FACT_CHARS: usize = 200;

/// Output fields whose boolean value is the decision's outcome (yes = granted).
const OUTCOME_FIELDS: [&str; 6] = [
    "approved", "eligible", "granted", "accepted", "entitled", "allowed",
];

/// One reason of the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// Stable code (`SMALL_PERSONAL_LOAN`).
    pub code: String,
    /// The function's message, redacted.
    pub message: String,
    /// The legal reference the reason cites (an id of the function's legal basis).
    pub legal_ref: String,
}

/// The redacted facts of a decision for one audience.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Function id.
    pub function_id: String,
    /// Function version that decided.
    pub version: String,
    /// The decision document without its reasons (redacted).
    pub output: Map<String, Value>,
    /// Reasons in the function's order.
    pub reasons: Vec<Reason>,
    /// Legal basis (IRIs).
    pub legal_basis: Vec<String>,
    /// Shown input leaves: JSON pointer (in the view's keys) and value.
    pub shown: Vec<(String, Value)>,
    /// Pointers of withheld input fields (erased or pseudonymised).
    pub withheld: Vec<String>,
}

impl Facts {
    /// The facts of an explanation (`GET /v1/decisions/{id}/explanation`): pseudonymised
    /// input fields are left out (named as withheld), and the rest passes
    /// [`Redactor::redact`] under the subject's masks, which scans every string and every
    /// object key (a key of two to four capitalised words is a name, as in the explainer) and
    /// masks a personal value found anywhere wherever else it is repeated.
    pub fn from_explanation(redactor: &Redactor, e: &Value) -> Facts {
        let mut input = e["input"].clone();
        let pseudonymised = e["redaction"]["input"]["pseudonymised"].as_array();
        for pointer in pseudonymised
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            remove_pointer(&mut input, pointer);
        }
        let mut withheld: Vec<Value> = ["erased", "pseudonymised"]
            .iter()
            .filter_map(|k| e["redaction"]["input"][k].as_array())
            .flatten()
            .cloned()
            .collect();
        withheld.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        withheld.dedup();
        let doc = json!({
            "function_id": e["function_id"], "version": e["function_version"],
            "output": e["output"], "reasons": e["reasons"], "legal_basis": e["legal_basis"],
            "input": input, "withheld": withheld,
        });
        let view = minimise(redactor, &doc);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut output = view["output"].as_object().cloned().unwrap_or_default();
        output.remove("reasons");
        let reasons = view["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Reason {
                code: text(&r["code"]),
                message: text(&r["message"]),
                legal_ref: text(&r["legal_ref"]),
            })
            .collect();
        let mut shown = Vec::new();
        leaves(&view["input"], String::new(), &mut shown);
        Facts {
            function_id: text(&view["function_id"]),
            version: text(&view["version"]),
            output,
            reasons,
            legal_basis: view["legal_basis"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect(),
            shown,
            withheld: view["withheld"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect(),
        }
    }

    /// The outcome: `Some(true)` when a boolean outcome field (`approved`, `eligible`, …) is
    /// true, `Some(false)` when false, `None` when the decision has no such field (a refund
    /// amount, a risk level).
    pub fn outcome(&self) -> Option<bool> {
        outcome_of(&self.output)
    }

    /// The value of a shown input field.
    pub fn shown_value(&self, pointer: &str) -> Option<&Value> {
        self.shown
            .iter()
            .find(|(p, _)| p == pointer)
            .map(|(_, v)| v)
    }

    /// Everything the facts say, as one JSON document (what the groundedness check reads).
    pub fn document(&self) -> Value {
        json!({
            "function_id": self.function_id, "version": self.version,
            "output": self.output,
            "reasons": self.reasons.iter().map(|r| json!({"code": r.code, "message": r.message, "legal_ref": r.legal_ref})).collect::<Vec<_>>(),
            "legal_basis": self.legal_basis,
            "input_shown": self.shown.iter().map(|(p, v)| json!({"field": p, "value": v})).collect::<Vec<_>>(),
            "withheld_fields": self.withheld,
        })
    }
}

/// The outcome of a decision document: its first boolean outcome field (`approved`,
/// `eligible`, …), when it has one.
pub fn outcome_of(output: &Map<String, Value>) -> Option<bool> {
    OUTCOME_FIELDS
        .iter()
        .find_map(|k| output.get(*k).and_then(Value::as_bool))
}

/// `doc` under the subject's masks (every string and key scanned; personal values masked
/// wherever they repeat), strings and keys capped at [`MAX_FACT_CHARS`]. Fails closed: a
/// document the redactor refuses becomes empty.
pub fn minimise(redactor: &Redactor, doc: &Value) -> Value {
    match redactor.redact(&Policy::show_all(), doc, Audience::Subject) {
        Ok(view) => cap_all(&view.value),
        Err(_) => Value::Object(Map::new()),
    }
}

fn cap_all(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(cap(s)),
        Value::Array(items) => Value::Array(items.iter().map(cap_all).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (cap(k), cap_all(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// `s` cut to [`MAX_FACT_CHARS`] characters (`…` marks a cut).
pub fn cap(s: &str) -> String {
    match s.char_indices().nth(MAX_FACT_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The leaves of `v` as (JSON pointer, value); an empty object or array is a leaf.
fn leaves(v: &Value, at: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                leaves(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, child) in items.iter().enumerate() {
                leaves(child, format!("{at}/{i}"), out);
            }
        }
        Value::Null if at.is_empty() => {}
        other if !at.is_empty() => out.push((at, other.clone())),
        _ => {}
    }
}

/// Removes the node at `pointer` (an object member; an array element becomes null).
fn remove_pointer(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn loan(purpose: &str) -> Value {
        json!({"function_id": "loan_approval", "function_version": "1.0.0",
               "output": {"approved": true, "limit": 5000, "reason": "Small personal loan approved",
                          "risk_level": "low",
                          "reasons": [{"code": "SMALL_PERSONAL_LOAN", "message": "Small personal loan approved", "legal_ref": "ksl_7_14"}]},
               "reasons": [{"code": "SMALL_PERSONAL_LOAN", "message": "Small personal loan approved", "legal_ref": "ksl_7_14"}],
               "legal_basis": ["http://data.finlex.fi/eli/sd/1978/38/luku/7/ajantasa"],
               "input": {"amount": 3000, "customer_tier": "standard", "employment_status": "employed",
                         "loan_purpose": purpose},
               "redaction": {"input": {"erased": ["/customer_score", "/monthly_income"]}},
               "ledger": {"hash": "not a fact"}})
    }

    #[test]
    fn facts_of_a_loan() {
        let f = Facts::from_explanation(
            &Redactor::new(None),
            &loan("Kitchen renovation for Matti Virtanen, tel 040 123 4567, hetu 131052-308T"),
        );
        assert_eq!(f.outcome(), Some(true));
        assert_eq!(f.reasons[0].code, "SMALL_PERSONAL_LOAN");
        assert_eq!(f.shown_value("/amount"), Some(&json!(3000)));
        assert_eq!(f.withheld, vec!["/customer_score", "/monthly_income"]);
        let doc = f.document().to_string();
        for gone in [
            "Matti",
            "Virtanen",
            "040 123 4567",
            "131052-308T",
            "not a fact",
        ] {
            assert!(!doc.contains(gone), "{gone} in {doc}");
        }
        assert!(
            doc.contains("[PERSON_NAME]") && doc.contains("[PHONE]"),
            "{doc}"
        );
        assert!(!f.output.contains_key("reasons"));
    }

    /// The known defect (issue 17): keys were masked with `redact_text`, which lacks the
    /// whole-key name rule; a map keyed by a person's name carried the name.
    #[test]
    fn keys_named_like_a_person_are_masked() {
        let e = json!({"function_id": "f", "function_version": "1.0.0", "output": {},
                       "reasons": [], "legal_basis": [],
                       "input": {"household": {"Akatay Bale": {"age": 71}, "131052-308T": 1},
                                 "income": "psn:k1:00112233445566778899"},
                       "redaction": {"input": {"pseudonymised": ["/income"]}}});
        let f = Facts::from_explanation(&Redactor::new(None), &e);
        let doc = f.document().to_string();
        for gone in ["Akatay", "Bale", "131052-308T", "psn:k1:"] {
            assert!(!doc.contains(gone), "{gone} in {doc}");
        }
        assert!(doc.contains("/income"), "{doc}");
    }

    #[test]
    fn strings_are_capped() {
        assert_eq!(cap("äö"), "äö");
        let long = "x".repeat(500);
        assert_eq!(cap(&long), format!("{}…", "x".repeat(MAX_FACT_CHARS)));
        let mut e = loan("x");
        e["input"]["loan_purpose"] = json!(long);
        let f = Facts::from_explanation(&Redactor::new(None), &e);
        assert_eq!(
            f.shown_value("/loan_purpose").and_then(Value::as_str),
            Some(cap(&long).as_str())
        );
    }
}
