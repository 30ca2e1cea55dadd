//! The groundedness check: an answer may state only what the facts (the audience's view and
//! the turn's tool results) say. Every number, identifier-like token, capitalised name-like
//! word, law reference and outcome word of the answer must be found in the facts, and the
//! detectors must find no personal data in it; otherwise the answer is refused and the
//! templated one is used.

use std::collections::HashSet;

use dl_redact::Detector;
use serde_json::Value;

use crate::intent::numbers;

/// Why an answer was refused: what it stated that the facts do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// A number not in the facts.
    Number(String),
    /// An identifier-like token (digits, `_`, `/`, `:`, `@`, all capitals) not in the facts.
    Identifier(String),
    /// A capitalised word inside a sentence (a name) not in the facts.
    Name(String),
    /// A law reference word not in the facts.
    Law(String),
    /// An outcome word contradicting the decision (or any, when the decision has none).
    Outcome(String),
    /// Personal data the detectors find (entity code).
    PersonalData(&'static str),
    /// A fact the answer must state and does not (a phrasing that leaves out the outcome or a
    /// reason).
    Missing(String),
}

/// Outcome words that say yes.
const POSITIVE: &[&str] = &[
    "approved",
    "approve",
    "approval",
    "granted",
    "grant",
    "accepted",
    "eligible",
    "entitled",
    "allowed",
    "hyväksytty",
    "hyväksyttiin",
    "hyväksyttävä",
    "hyväksyi",
    "myönnetty",
    "myönnettiin",
    "myönsi",
    "oikeutettu",
    "beviljad",
    "beviljat",
    "beviljades",
    "godkänd",
    "godkänt",
    "godkändes",
    "berättigad",
];
/// Outcome words that say no.
const NEGATIVE: &[&str] = &[
    "rejected",
    "reject",
    "rejection",
    "denied",
    "deny",
    "declined",
    "refused",
    "ineligible",
    "disapproved",
    "hylätty",
    "hylättiin",
    "hylkäsi",
    "hylkäys",
    "evätty",
    "evättiin",
    "kielteinen",
    "avslagen",
    "avslaget",
    "avslogs",
    "avslag",
    "nekad",
    "nekades",
    "avvisad",
];
/// Words that refer to law.
const LAW: &[&str] = &[
    "act",
    "law",
    "statute",
    "regulation",
    "directive",
    "article",
    "section",
    "chapter",
    "§",
    "laki",
    "lain",
    "lakia",
    "lakiin",
    "asetus",
    "direktiivi",
    "pykälä",
    "pykälän",
    "luku",
    "artikla",
    "lag",
    "lagen",
    "förordning",
    "direktiv",
    "paragraf",
    "kapitel",
    "artikel",
    "kuluttajansuojalaki",
    "gdpr",
];
/// Capitalised words allowed inside a sentence (not names).
const COMMON_CAPITALISED: &[&str] = &["I", "OK", "EU", "EUR"];

/// What the facts say, prepared for checking answers against them.
pub struct Ground {
    /// Every string, key and number of the facts, lower-cased, joined.
    text: String,
    /// Lower-cased words of the facts.
    words: HashSet<String>,
    /// Numbers of the facts (JSON numbers and numbers written in strings).
    numbers: Vec<f64>,
    /// The outcomes the facts state (the decision's, a what-if's); empty when none has one.
    outcomes: Vec<bool>,
}

impl Ground {
    /// The ground of `facts` (documents: the view's facts, tool results) and the outcomes
    /// they state (the decision's and a what-if's, where they have one).
    pub fn new(facts: &[&Value], outcomes: &[Option<bool>]) -> Self {
        let mut text = String::new();
        let mut nums = Vec::new();
        for f in facts {
            collect(f, &mut text, &mut nums);
        }
        // Words come from prose, not from addresses: "finlex" in an IRI is no name.
        let prose: String = text
            .lines()
            .filter(|l| !l.contains("://"))
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        for (_, n) in numbers(&text) {
            if let Some(x) = n.as_f64() {
                nums.push(x);
            }
        }
        let text = text.to_lowercase();
        let words = crate::intent::word_spans(&prose)
            .into_iter()
            .map(|(_, w)| w.to_string())
            .collect();
        Self {
            text,
            words,
            numbers: nums,
            outcomes: outcomes.iter().flatten().copied().collect(),
        }
    }

    /// `Ok` when everything `answer` states is in the facts and it holds no personal data.
    pub fn check(&self, answer: &str, detector: &Detector) -> Result<(), Unsupported> {
        if let Some(f) = detector.find(answer).first() {
            return Err(Unsupported::PersonalData(f.entity.code()));
        }
        for (_, n) in numbers(answer) {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if !self.numbers.iter().any(|y| (x - y).abs() < 1e-9) {
                return Err(Unsupported::Number(n.to_string()));
            }
        }
        let mut sentence_start = true;
        for (_, token) in tokens(answer) {
            let bare = token
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '§' && c != '[' && c != ']');
            let lower = bare.to_lowercase();
            let starts_sentence = sentence_start;
            sentence_start = token.ends_with(['.', '!', '?', ':']) || token.ends_with(".\"");
            if bare.is_empty() {
                continue;
            }
            if identifier_like(bare) {
                if !self.text.contains(&lower) {
                    return Err(Unsupported::Identifier(bare.to_string()));
                }
                continue;
            }
            // A label ("approved: no") names a field of the facts; it states no outcome.
            let label = token.ends_with(':') && self.words.contains(&lower);
            for w in crate::intent::word_spans(&lower)
                .into_iter()
                .map(|(_, w)| w)
            {
                if LAW.contains(&w) && !self.words.contains(w) {
                    return Err(Unsupported::Law(w.to_string()));
                }
                let positive = POSITIVE.contains(&w);
                let negative = NEGATIVE.contains(&w);
                if (positive || negative) && !label {
                    let fits = if self.outcomes.is_empty() {
                        self.words.contains(w)
                    } else {
                        self.outcomes.contains(&positive)
                    };
                    if !fits {
                        return Err(Unsupported::Outcome(w.to_string()));
                    }
                }
            }
            let capitalised = bare.chars().next().is_some_and(char::is_uppercase);
            if capitalised
                && !starts_sentence
                && !COMMON_CAPITALISED.contains(&bare)
                && !self.words.contains(&lower)
            {
                return Err(Unsupported::Name(bare.to_string()));
            }
        }
        Ok(())
    }
}

/// Whitespace-separated tokens with their offsets.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// A token that names something exactly: it has a digit next to a letter, `_`, `/`, `:`,
/// `@`, `§`, a dot between letters or digits, or two or more capitals and no lower case.
fn identifier_like(t: &str) -> bool {
    let has_digit = t.chars().any(|c| c.is_ascii_digit());
    let has_letter = t.chars().any(char::is_alphabetic);
    let inner_dot = t
        .char_indices()
        .any(|(i, c)| c == '.' && i > 0 && i + 1 < t.len());
    (has_digit && has_letter)
        || t.contains(['_', '/', ':', '@', '§'])
        || (inner_dot && has_letter)
        || (t.chars().filter(|c| c.is_uppercase()).count() >= 2
            && !t.chars().any(char::is_lowercase))
        || (has_digit && inner_dot && t.matches('.').count() >= 2)
}

fn collect(v: &Value, text: &mut String, nums: &mut Vec<f64>) {
    match v {
        Value::String(s) => {
            text.push_str(s);
            text.push('\n');
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                nums.push(x);
            }
            text.push_str(&n.to_string());
            text.push('\n');
        }
        Value::Bool(b) => {
            text.push_str(if *b { "true\n" } else { "false\n" });
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, text, nums)),
        Value::Object(map) => {
            for (k, v) in map {
                text.push_str(k);
                text.push('\n');
                collect(v, text, nums);
            }
        }
        Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ground() -> Ground {
        let facts = json!({"output": {"approved": true, "limit": 5000, "risk_level": "low"},
                           "reasons": [{"code": "SMALL_PERSONAL_LOAN", "message": "Small personal loan approved", "legal_ref": "ksl_7_14"}],
                           "legal_basis": ["http://data.finlex.fi/eli/sd/1978/38/luku/7/ajantasa"],
                           "input_shown": [{"field": "/amount", "value": 3000},
                                           {"field": "/loan_purpose", "value": "Kitchen renovation for [PERSON_NAME]"}]});
        Ground::new(&[&facts], &[Some(true)])
    }

    #[test]
    fn grounded_answers_pass() {
        let g = ground();
        let d = Detector::new();
        for ok in [
            "Your loan of 3000 was approved with a limit of 5000 (SMALL_PERSONAL_LOAN, ksl_7_14).",
            "Small personal loan approved. The risk level is low.",
            "It was for a Kitchen renovation for [PERSON_NAME].",
            "The legal basis is http://data.finlex.fi/eli/sd/1978/38/luku/7/ajantasa.",
            "Lainasi hyväksyttiin: raja 5 000 euroa.",
        ] {
            assert_eq!(g.check(ok, &d), Ok(()), "{ok}");
        }
    }

    /// The issue's examples: an invented approver, the applicant's name, an invented phone
    /// number, an invented outcome and law.
    #[test]
    fn unsupported_facts_are_refused() {
        let g = ground();
        let d = Detector::new();
        let refused = |t: &str| g.check(t, &d).unwrap_err();
        assert_eq!(
            refused("Approved by the Finlex company for you."),
            Unsupported::Name("Finlex".into())
        );
        assert!(matches!(
            refused("Approved for Matti Virtanen."),
            Unsupported::PersonalData("PERSON_NAME") | Unsupported::Name(_)
        ));
        assert_eq!(
            refused("Call Tel 1234567890 for help."),
            Unsupported::Number("1234567890".into())
        );
        assert_eq!(
            refused("Your loan was rejected."),
            Unsupported::Outcome("rejected".into())
        );
        assert_eq!(
            refused("The limit is 20000."),
            Unsupported::Number("20000".into())
        );
        assert_eq!(
            refused("It follows the Consumer Protection Act."),
            Unsupported::Name("Consumer".into())
        );
        assert_eq!(
            refused("under the act on credit."),
            Unsupported::Law("act".into())
        );
        assert_eq!(
            refused("Code HIGH_RISK applies."),
            Unsupported::Identifier("HIGH_RISK".into())
        );
        assert_eq!(
            refused("Your id is 131052-308T."),
            Unsupported::PersonalData("FI_PERSONAL_IDENTITY_CODE")
        );
        assert_eq!(
            refused(r#"{"name": "x", "company_id": 7}"#),
            Unsupported::Identifier("company_id".into())
        );
    }

    #[test]
    fn without_an_outcome_field_outcome_words_must_be_in_the_facts() {
        let facts =
            json!({"output": {"refund_amount": 120}, "reasons": [{"code": "LATE_DELIVERY"}]});
        let g = Ground::new(&[&facts], &[None]);
        let d = Detector::new();
        assert_eq!(g.check("The refund is 120.", &d), Ok(()));
        assert_eq!(
            g.check("Your refund was approved.", &d),
            Err(Unsupported::Outcome("approved".into()))
        );
    }
}
