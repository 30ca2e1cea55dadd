//! Templated answers in Finnish, Swedish and English, made only of the facts (the view and the
//! turn's what-if result): always correct, and the fallback of every generated answer.

use serde_json::{Map, Value};

use crate::facts::{Facts, Reason};
use crate::intent::{Intent, Lang};

/// What the what-if tool answered.
#[derive(Debug, Clone, PartialEq)]
pub enum WhatIfResult {
    /// The function evaluated the changed input.
    Evaluated {
        /// The changes (pointer → value).
        changes: Map<String, Value>,
        /// The what-if decision document (without reasons), redacted.
        output: Map<String, Value>,
        /// Its reasons.
        reasons: Vec<Reason>,
        /// Output pointers that differ from the decision.
        differs: Vec<String>,
    },
    /// The function refused the changed input (its error code).
    RefusedByFunction {
        /// The changes.
        changes: Map<String, Value>,
        /// The function's code (`INPUT_INVALID`, …).
        code: String,
    },
    /// The gateway refused the what-if (its error code: `CHANGE_NOT_ALLOWED`,
    /// `RATE_LIMITED`, …).
    Refused {
        /// The gateway's code.
        code: String,
    },
}

impl WhatIfResult {
    /// The decision's outcome in this result, when it has an outcome field.
    pub fn outcome(&self) -> Option<bool> {
        match self {
            WhatIfResult::Evaluated { output, .. } => crate::facts::outcome_of(output),
            _ => None,
        }
    }
}

struct Words {
    decision: &'static str,
    yes_outcome: &'static str,
    no_outcome: &'static str,
    details: &'static str,
    reasons: &'static str,
    legal_ref: &'static str,
    legal_basis: &'static str,
    shown: &'static str,
    yes: &'static str,
    no: &'static str,
}

const EN: Words = Words {
    decision: "Decision",
    yes_outcome: "approved",
    no_outcome: "rejected",
    details: "Decision details",
    reasons: "Reasons",
    legal_ref: "legal reference",
    legal_basis: "Legal basis",
    shown: "Shown inputs",
    yes: "yes",
    no: "no",
};
const FI: Words = Words {
    decision: "Päätös",
    yes_outcome: "hyväksytty",
    no_outcome: "hylätty",
    details: "Päätöksen tiedot",
    reasons: "Perusteet",
    legal_ref: "lakiviite",
    legal_basis: "Oikeusperusta",
    shown: "Näytetyt tiedot",
    yes: "kyllä",
    no: "ei",
};
const SV: Words = Words {
    decision: "Beslut",
    yes_outcome: "beviljat",
    no_outcome: "avslaget",
    details: "Beslutets uppgifter",
    reasons: "Skäl",
    legal_ref: "lagrum",
    legal_basis: "Rättslig grund",
    shown: "Visade uppgifter",
    yes: "ja",
    no: "nej",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Fi => &FI,
        Lang::Sv => &SV,
        Lang::En => &EN,
    }
}

/// A value as text: numbers as written in the facts, booleans as yes/no, lists joined.
fn value(v: &Value, w: &Words) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => w.yes.into(),
        Value::Bool(false) => w.no.into(),
        Value::Number(n) => n.to_string(),
        Value::Null => "–".into(),
        Value::Array(items) if items.is_empty() => "–".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| value(i, w))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Free text (a string with spaces, or over 40 characters) is named, never repeated: it is
/// where names and instructions hide, and answers state structured facts.
fn is_free_text(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.chars().count() > 40 || s.contains(char::is_whitespace))
}

fn field(pointer: &str) -> &str {
    pointer.strip_prefix('/').unwrap_or(pointer)
}

/// `key: value` pairs of a decision document, leaving out text that repeats a reason.
fn details(output: &Map<String, Value>, reasons: &[Reason], w: &Words) -> String {
    output
        .iter()
        .filter(|(_, v)| {
            !v.as_str()
                .is_some_and(|s| reasons.iter().any(|r| r.message == s))
        })
        .map(|(k, v)| format!("{k}: {}", value(v, w)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn reasons(rs: &[Reason], w: &Words) -> String {
    rs.iter()
        .map(|r| {
            if r.legal_ref.is_empty() {
                format!("{} – {}", r.code, r.message)
            } else {
                format!(
                    "{} – {} ({} {})",
                    r.code, r.message, w.legal_ref, r.legal_ref
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn shown_fields(facts: &Facts) -> String {
    facts
        .shown
        .iter()
        .map(|(p, _)| field(p))
        .collect::<Vec<_>>()
        .join(", ")
}

fn outcome_sentence(facts: &Facts, w: &Words) -> String {
    let head = format!("{} ({} {})", w.decision, facts.function_id, facts.version);
    match facts.outcome() {
        Some(true) => format!("{head}: {}.", w.yes_outcome),
        Some(false) => format!("{head}: {}.", w.no_outcome),
        None => format!("{head}."),
    }
}

fn reasons_sentence(facts: &Facts, w: &Words) -> String {
    if facts.reasons.is_empty() {
        String::new()
    } else {
        format!(" {}: {}.", w.reasons, reasons(&facts.reasons, w))
    }
}

fn legal_sentence(facts: &Facts, w: &Words) -> String {
    if facts.legal_basis.is_empty() {
        String::new()
    } else {
        format!(" {}: {}", w.legal_basis, facts.legal_basis.join(", "))
    }
}

/// The templated answer to `intent` (with the what-if `result` of this turn, if any).
pub fn render(intent: &Intent, lang: Lang, facts: &Facts, result: Option<&WhatIfResult>) -> String {
    let w = words(lang);
    match intent {
        Intent::Outcome => {
            let free = match lang {
                Lang::En => "(free text, not repeated)",
                Lang::Fi => "(vapaata tekstiä, ei toisteta)",
                Lang::Sv => "(fritext, återges inte)",
            };
            let shown = facts
                .shown
                .iter()
                .map(|(p, v)| {
                    if is_free_text(v) {
                        format!("{}: {free}", field(p))
                    } else {
                        format!("{}: {}", field(p), value(v, w))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let mut out = format!(
                "{} {}: {}.{}",
                outcome_sentence(facts, w),
                w.details,
                details(&facts.output, &facts.reasons, w),
                reasons_sentence(facts, w)
            );
            if !shown.is_empty() {
                out.push_str(&format!(" {}: {shown}.", w.shown));
            }
            out.push_str(&legal_sentence(facts, w));
            out.trim_end().to_string()
        }
        Intent::Reason => {
            let mut out = format!("{}{}", outcome_sentence(facts, w), reasons_sentence(facts, w));
            if facts.reasons.is_empty() {
                out.push_str(match lang {
                    Lang::En => " The decision gives no reasons.",
                    Lang::Fi => " Päätöksessä ei ole perusteita.",
                    Lang::Sv => " Beslutet anger inga skäl.",
                });
            }
            out
        }
        Intent::LegalBasis => {
            let refs = facts
                .reasons
                .iter()
                .filter(|r| !r.legal_ref.is_empty())
                .map(|r| format!("{} → {}", r.code, r.legal_ref))
                .collect::<Vec<_>>()
                .join("; ");
            let basis = if facts.legal_basis.is_empty() {
                "–".to_string()
            } else {
                facts.legal_basis.join(", ")
            };
            let cite = match lang {
                Lang::En => "Each reason cites",
                Lang::Fi => "Perusteiden lakiviitteet",
                Lang::Sv => "Skälens lagrum",
            };
            let mut out = format!(
                "{} {}: {basis}.",
                outcome_sentence(facts, w),
                w.legal_basis
            );
            if !refs.is_empty() {
                out.push_str(&format!(" {cite}: {refs}."));
            }
            out
        }
        Intent::WhatIf(changes) => match result {
            Some(r) => what_if(r, lang, facts, w),
            None => what_if_incomplete(lang, facts, Some(changes)),
        },
        Intent::WhatIfIncomplete => what_if_incomplete(lang, facts, None),
        Intent::Withheld(fields) => {
            let list = fields.iter().map(|p| field(p)).collect::<Vec<_>>().join(", ");
            match lang {
                Lang::En => format!("These fields are not shown to you, so I cannot tell their values or vary them in a what-if: {list}."),
                Lang::Fi => format!("Nämä tiedot eivät näy sinulle, joten en voi kertoa niiden arvoja enkä muuttaa niitä entä jos -laskelmassa: {list}."),
                Lang::Sv => format!("De här uppgifterna visas inte för dig, så jag kan inte ange deras värden eller ändra dem i en tänk om-beräkning: {list}."),
            }
        }
        Intent::PersonalData => {
            let shown = shown_fields(facts);
            match lang {
                Lang::En => format!("I do not give personal data such as names, identity codes or contact details: the view of the decision does not show them. Fields shown: {shown}."),
                Lang::Fi => format!("En kerro henkilötietoja, kuten nimiä, henkilötunnuksia tai yhteystietoja: päätöksen näkymä ei näytä niitä. Näytetyt tiedot: {shown}."),
                Lang::Sv => format!("Jag lämnar inte ut personuppgifter som namn, personnummer eller kontaktuppgifter: vyn av beslutet visar dem inte. Visade uppgifter: {shown}."),
            }
        }
        Intent::OtherPerson => match lang {
            Lang::En => "I can only talk about this one decision as your view shows it; I know nothing about other people or other decisions.".into(),
            Lang::Fi => "Voin kertoa vain tästä yhdestä päätöksestä sellaisena kuin se näkyy sinulle; muista ihmisistä tai muista päätöksistä en tiedä mitään.".into(),
            Lang::Sv => "Jag kan bara tala om det här beslutet så som det visas för dig; om andra personer eller andra beslut vet jag ingenting.".into(),
        },
        Intent::Unknown => {
            let shown = shown_fields(facts);
            match lang {
                Lang::En => format!("I can explain this decision: its outcome, its reasons, its legal basis, and what the function would decide if a shown field had another value (ask \"what if amount were …?\"). Fields shown: {shown}."),
                Lang::Fi => format!("Voin selittää tämän päätöksen: sen tuloksen, perusteet, oikeusperustan ja sen, mitä funktio päättäisi, jos jokin näytetty tieto olisi toinen (kysy \"entä jos summa olisi …?\"). Näytetyt tiedot: {shown}."),
                Lang::Sv => format!("Jag kan förklara det här beslutet: dess utfall, skäl, rättsliga grund och vad funktionen skulle besluta om en visad uppgift hade ett annat värde (fråga \"vad händer om beloppet är …?\"). Visade uppgifter: {shown}."),
            }
        }
    }
}

fn what_if_incomplete(lang: Lang, facts: &Facts, _changes: Option<&Map<String, Value>>) -> String {
    let shown = shown_fields(facts);
    match lang {
        Lang::En => format!("Tell me which shown field to change and to which value, for example \"what if amount were …?\". Fields you may change: {shown}."),
        Lang::Fi => format!("Kerro, minkä näytetyn tiedon haluat muuttaa ja miksi arvoksi, esimerkiksi \"entä jos summa olisi …?\". Muutettavissa olevat tiedot: {shown}."),
        Lang::Sv => format!("Säg vilken visad uppgift som ska ändras och till vilket värde, till exempel \"vad händer om beloppet är …?\". Uppgifter du kan ändra: {shown}."),
    }
}

fn changes_text(changes: &Map<String, Value>, facts: &Facts, lang: Lang, w: &Words) -> String {
    let now = match lang {
        Lang::En => "now",
        Lang::Fi => "nyt",
        Lang::Sv => "nu",
    };
    changes
        .iter()
        .map(|(p, v)| match facts.shown_value(p) {
            Some(old) if !is_free_text(old) => {
                format!("{} = {} ({now} {})", field(p), value(v, w), value(old, w))
            }
            _ => format!("{} = {}", field(p), value(v, w)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn what_if(r: &WhatIfResult, lang: Lang, facts: &Facts, w: &Words) -> String {
    match r {
        WhatIfResult::Evaluated {
            changes,
            output,
            reasons: rs,
            differs,
        } => {
            let changed = changes_text(changes, facts, lang, w);
            let verdict = match crate::facts::outcome_of(output) {
                Some(true) => format!(": {}", w.yes_outcome),
                Some(false) => format!(": {}", w.no_outcome),
                None => String::new(),
            };
            let head = match lang {
                Lang::En => format!("What-if computed by {} {}, the version that decided (nothing is recorded and your decision does not change): with {changed}, the decision would be{verdict}.", facts.function_id, facts.version),
                Lang::Fi => format!("Entä jos -laskelma, jonka laski päätöksen tehnyt {} {} (mitään ei tallenneta eikä päätöksesi muutu): kun {changed}, päätös olisi{verdict}.", facts.function_id, facts.version),
                Lang::Sv => format!("Tänk om-beräkning av {} {}, versionen som beslutade (inget registreras och ditt beslut ändras inte): med {changed} skulle beslutet bli{verdict}.", facts.function_id, facts.version),
            };
            let same = match lang {
                Lang::En => "The result is the same as your decision.",
                Lang::Fi => "Tulos on sama kuin päätöksessäsi.",
                Lang::Sv => "Resultatet är detsamma som i ditt beslut.",
            };
            let diff = if differs.is_empty() {
                same.to_string()
            } else {
                let label = match lang {
                    Lang::En => "Different from your decision",
                    Lang::Fi => "Eroaa päätöksestäsi",
                    Lang::Sv => "Skiljer sig från ditt beslut",
                };
                format!(
                    "{label}: {}.",
                    differs
                        .iter()
                        .map(|p| field(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let mut out = format!("{head} {}: {}.", w.details, details(output, rs, w));
            if !rs.is_empty() {
                out.push_str(&format!(" {}: {}.", w.reasons, reasons(rs, w)));
            }
            out.push(' ');
            out.push_str(&diff);
            out
        }
        WhatIfResult::RefusedByFunction { changes, code } => {
            let changed = changes_text(changes, facts, lang, w);
            match lang {
                Lang::En => format!("The function {} {} did not accept the changed input ({code}): {changed}. There is no what-if result.", facts.function_id, facts.version),
                Lang::Fi => format!("Funktio {} {} ei hyväksynyt muutettua syötettä ({code}): {changed}. Entä jos -tulosta ei ole.", facts.function_id, facts.version),
                Lang::Sv => format!("Funktionen {} {} tog inte emot de ändrade uppgifterna ({code}): {changed}. Det finns inget tänk om-resultat.", facts.function_id, facts.version),
            }
        }
        WhatIfResult::Refused { code } => match (lang, code.as_str()) {
            (Lang::En, "CHANGE_NOT_ALLOWED") => format!("A what-if may change only fields shown to you ({code}). Fields you may change: {}.", shown_fields(facts)),
            (Lang::Fi, "CHANGE_NOT_ALLOWED") => format!("Entä jos -laskelma voi muuttaa vain sinulle näytettyjä tietoja ({code}). Muutettavissa olevat tiedot: {}.", shown_fields(facts)),
            (Lang::Sv, "CHANGE_NOT_ALLOWED") => format!("En tänk om-beräkning kan bara ändra uppgifter som visas för dig ({code}). Uppgifter du kan ändra: {}.", shown_fields(facts)),
            (Lang::En, _) => format!("The what-if could not be evaluated now ({code}); please try again later."),
            (Lang::Fi, _) => format!("Entä jos -laskelmaa ei voitu tehdä nyt ({code}); yritä myöhemmin uudelleen."),
            (Lang::Sv, _) => format!("Tänk om-beräkningen kunde inte göras nu ({code}); försök igen senare."),
        },
    }
}
