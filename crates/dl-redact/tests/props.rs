//! Properties over arbitrary input: no panic, spans on character boundaries, and no identifier
//! from shown text survives into a view.

use dl_redact::{Audience, Detector, Policy, Pseudonymizer, Redactor};
use proptest::prelude::*;
use serde_json::json;

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
        for f in Detector::new().find(&text) {
            prop_assert!(f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
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
        prop_assert_eq!(view.manifest.masked.len(), 1);
    }
}
