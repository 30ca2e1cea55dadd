//! Properties over arbitrary input: no panic, spans on character boundaries, and no identifier
//! from shown text survives into a view.

use dl_redact::{Audience, Detector, Entity, Policy, Pseudonymizer, Redactor};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Text that looks like identifiers and is not: runs of ASCII digits and letters, separators,
/// and characters that Unicode case folding maps onto ASCII letters (KELVIN SIGN, LONG S,
/// ANGSTROM SIGN), digits outside ASCII and arbitrary characters, so every detector pattern gets
/// candidates with multi-byte characters at every position.
fn tricky_text() -> impl Strategy<Value = String> {
    let letter = prop_oneof![
        6 => prop::char::range('A', 'Z'),
        1 => prop::char::range('a', 'z'),
        3 => prop::sample::select(vec!['\u{212A}', '\u{017F}', '\u{212B}']),
    ];
    let token = prop_oneof![
        3 => prop::collection::vec(letter, 1..4).prop_map(|v| v.into_iter().collect::<String>()),
        3 => "[0-9]{1,20}",
        2 => prop::sample::select(vec![" ", "-", "+", ".", ":", "@", "(", ")", ",", " "])
            .prop_map(String::from),
        1 => prop::sample::select(vec!["\u{0660}", "\u{FF11}", "ä", "é", "\u{1F600}"])
            .prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..16).prop_map(|v| v.concat())
}

/// A JSON document whose keys and string values are [`tricky_text`].
fn tricky_doc() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        tricky_text().prop_map(Value::String),
        any::<u64>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((tricky_text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn assert_boundaries(text: &str, found: &[dl_redact::Finding]) -> Result<(), TestCaseError> {
    for f in found {
        prop_assert!(f.start < f.end && f.end <= text.len());
        prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    Ok(())
}

/// Valid identifiers of every kind (checksums verified in the crate's unit tests).
const IDENTIFIERS: &[&str] = &[
    "131052-308T",
    "010594Y9032",
    "FI21 1234 5600 0007 85",
    "4111 1111 1111 1111",
    "0737546-2",
    "maija@example.fi",
    "+358 40 1234567",
    "192.168.10.4",
];

proptest! {
    #[test]
    fn find_never_panics_and_spans_are_boundaries(text in "\\PC{0,300}") {
        assert_boundaries(&text, &Detector::new().find(&text))?;
    }

    /// High 3 (issue 15): a KELVIN SIGN inside an IBAN candidate panicked the explainer.
    #[test]
    fn detectors_never_panic_on_unicode_lookalikes(text in tricky_text()) {
        assert_boundaries(&text, &Detector::new().find(&text))?;
        // The validators are public too: any text, no panic.
        use dl_redact::checks;
        let _ = (checks::is_valid_hetu(&text), checks::is_valid_business_id(&text));
        let _ = (checks::is_valid_iban(&text), checks::is_valid_card(&text));
        let _ = (checks::luhn_valid(&text), checks::iban_length(&text));
        let redactor = Redactor::new(Some(Pseudonymizer::new("p", &[1u8; 32]).unwrap()));
        for audience in Audience::ALL {
            let (_, found) = redactor.redact_text(&text, audience).unwrap();
            assert_boundaries(&text, &found)?;
        }
    }

    /// Medium 5 (issue 15): an identifier in an object key shows in no view and no manifest.
    #[test]
    fn keys_never_carry_an_identifier(
        before in "[a-zA-Zäö ,.]{0,20}",
        after in "[a-zA-Zäö ,.]{0,20}",
        which in 0..IDENTIFIERS.len(),
        audience in prop::sample::select(Audience::ALL.to_vec()),
    ) {
        let id = IDENTIFIERS[which];
        let redactor = Redactor::new(Some(Pseudonymizer::new("p", &[1u8; 32]).unwrap()));
        let key = format!("{before} {id} {after}");
        let doc = json!({"household": {key: {"age": 7, "note": "x"}}, "n": 1});
        for policy in [
            Policy::show_all(),
            Policy::new(&["/household/*/age"], &["/household/*/note"]).unwrap(),
        ] {
            let view = redactor.redact(&policy, &doc, audience).unwrap();
            let out = serde_json::to_string(&view).unwrap();
            prop_assert!(!out.contains(id), "{} leaked in {}", id, out);
        }
    }

    /// The whole view builder, every audience, shown and withheld fields, keys and values.
    #[test]
    fn views_never_panic_on_unicode_lookalikes(doc in tricky_doc()) {
        let redactor = Redactor::new(Some(Pseudonymizer::new("p", &[1u8; 32]).unwrap()));
        let some = Policy::new(&["/a", "/*/b"], &["/a/c"]).unwrap();
        for policy in [Policy::show_all(), some] {
            for audience in Audience::ALL {
                redactor.redact(&policy, &doc, audience).unwrap();
            }
        }
    }

    #[test]
    fn shown_text_never_carries_an_identifier(
        before in "[a-zA-Zäö ,.]{0,40}",
        after in "[a-zA-Zäö ,.]{0,40}",
        which in 0..IDENTIFIERS.len(),
        audience in prop::sample::select(Audience::ALL.to_vec()),
    ) {
        let id = IDENTIFIERS[which];
        let redactor = Redactor::new(Some(Pseudonymizer::new("p", &[1u8; 32]).unwrap()));
        let policy = Policy::new(&["/note"], &[]).unwrap();
        let doc = json!({"note": format!("{before} {id} {after}"), "other": id});
        let view = redactor.redact(&policy, &doc, audience).unwrap();
        let out = view.value.to_string();
        prop_assert!(!out.contains(id), "{} leaked in {}", id, out);
        // The surrounding letters may make a name ("Aö Ac"); one identifier is masked.
        let identifiers = view
            .manifest
            .masked
            .iter()
            .filter(|m| Entity::IDENTIFIERS.iter().any(|e| e.code() == m.entity))
            .count();
        prop_assert_eq!(identifiers, 1);
    }
}
