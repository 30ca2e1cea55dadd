//! The ELI / CELEX / Finlex parsers (`dl_legal::LegalRef::parse_with`). What parses has a
//! canonical form that parses to the same reference, covers itself, and is covered by its act.
#![no_main]

use dl_legal::{check_citation, LegalRef, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let opts = ParseOptions::with_max_year(2030);
    let Ok(r) = LegalRef::parse_with(raw, &opts) else {
        return;
    };
    let again = LegalRef::parse_with(r.as_str(), &opts)
        .unwrap_or_else(|e| panic!("canonical form {:?} does not parse: {e}", r.as_str()));
    assert_eq!(again, r, "canonical form parses to another reference");
    assert!(r.covers(&r), "{} does not cover itself", r.as_str());
    let act = r.act_level();
    assert!(act.is_act_level());
    assert_eq!(act.as_str(), r.act_iri());
    let act_again = LegalRef::parse_with(act.as_str(), &opts)
        .unwrap_or_else(|e| panic!("act form {:?} does not parse: {e}", act.as_str()));
    assert_eq!(act_again, act);
    assert!(
        check_citation(&[act], &r),
        "{} is not covered by its act",
        r.as_str()
    );
    let _ = (
        r.base_celex(),
        r.consolidated_date(),
        r.language(),
        r.eu_act_type(),
        r.jurisdiction(),
        r.family(),
        r.year(),
        r.number(),
        r.version(),
        r.article(),
        r.section(),
        r.to_string(),
    );
});
