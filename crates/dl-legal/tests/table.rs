//! Table tests with real identifiers, normalisation cases and a long list of refusals.

use chrono::NaiveDate;
use dl_legal::{
    check_citation, covering_reference, CelexSector, EuActType, Family, Jurisdiction, LegalRef,
    LegalRefError, ParseOptions, RefKind, Version, MAX_LEN,
};

/// Fixed latest year so the tests do not depend on the clock.
fn opts() -> ParseOptions {
    ParseOptions::with_max_year(2027)
}

fn p(s: &str) -> LegalRef {
    LegalRef::parse_with(s, &opts()).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> LegalRefError {
    match LegalRef::parse_with(s, &opts()) {
        Ok(r) => panic!("{s:?} should be refused, parsed as {r}"),
        Err(e) => e,
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn valid_identifiers_are_canonical_and_round_trip() {
    // Each of these is already canonical: as_str() must return it unchanged.
    let canonical = [
        "http://data.europa.eu/eli/reg/2016/679/oj",
        "http://data.europa.eu/eli/reg/2024/1689/oj",
        "http://data.europa.eu/eli/reg/2013/216/oj",
        "http://data.europa.eu/eli/dec/2024/1245/oj",
        "http://data.europa.eu/eli/dec_impl/2023/2199/oj",
        "http://data.europa.eu/eli/reg_del/2024/1772/oj",
        "http://data.europa.eu/eli/reg_impl/2015/1501/oj",
        "http://data.europa.eu/eli/dir/2016/1148/oj",
        "http://data.europa.eu/eli/dir/2019/771/oj/eng/pdf",
        "http://data.europa.eu/eli/dir_impl/2019/771/oj",
        "http://data.europa.eu/eli/dir_del/2019/771/oj",
        "http://data.europa.eu/eli/dec_del/2020/1/oj",
        "http://data.europa.eu/eli/reg/2016/679/oj/eng",
        "http://data.europa.eu/eli/reg/2016/679/oj/fin/html",
        "http://data.europa.eu/eli/reg/2016/679/2016-05-04",
        "http://data.europa.eu/eli/reg/2016/679/2016-05-04/eng",
        "http://data.europa.eu/eli/reg/2016/679",
        "http://data.europa.eu/eli/reg/2016/679/art_6/oj",
        "http://data.europa.eu/eli/reg/2019/1241/art_2/oj",
        "http://data.europa.eu/eli/dir/1980/181/2009-05-27",
        "CELEX:32016R0679",
        "CELEX:32024R1689",
        "CELEX:32011L0083",
        "CELEX:32024D1245",
        "CELEX:02016R0679-20160504",
        "CELEX:32012D0001(01)",
        "http://data.finlex.fi/eli/sd/2014/938",
        "http://data.finlex.fi/eli/sd/2014/938/alkup",
        "http://data.finlex.fi/eli/sd/2014/938/ajantasa",
        "http://data.finlex.fi/eli/sd/2014/938/ajantasa/2024-01-01",
        "http://data.finlex.fi/eli/sd/2014/938/ajantasa/2024-01-01/fin",
        "http://data.finlex.fi/eli/sd/2002/1290/ajantasa",
        "http://data.finlex.fi/eli/sd/1978/38/alkup/fin",
        "http://data.finlex.fi/eli/sd/2018/1050/alkup",
        "http://data.finlex.fi/eli/sd/1999/731/ajantasa/2018-10-05/fin",
        "http://data.finlex.fi/eli/sd/2007/417/ajantasa/2024-06-07/fin",
        "http://data.finlex.fi/eli/sd/1997/1336/luku/2/pykala/9",
        "http://data.finlex.fi/eli/sd/1889/39/luku/1/pykala/1",
        "http://data.finlex.fi/eli/sd/2006/624/luku/25/pykala/1/ajantasa/2013-01-01",
        "http://data.finlex.fi/eli/sd/2002/1290/luku/2/pykala/1/momentti/2/kohta/3/ajantasa/swe",
        "http://data.finlex.fi/eli/sd/2014/938/pykala/9a",
        "http://data.finlex.fi/eli/sd/2002/1290/osa/1/luku/2a",
        "http://data.finlex.fi/eli/sd/1734/4",
    ];
    for s in canonical {
        let r = p(s);
        assert_eq!(r.as_str(), s);
        assert_eq!(r.to_string(), s);
        assert_eq!(p(r.as_str()), r);
    }
}

#[test]
fn normalisation() {
    let cases = [
        (
            "https://data.europa.eu/eli/reg/2016/679/oj",
            "http://data.europa.eu/eli/reg/2016/679/oj",
        ),
        (
            "HTTP://DATA.EUROPA.EU/eli/reg/2016/679/oj",
            "http://data.europa.eu/eli/reg/2016/679/oj",
        ),
        (
            "https://eur-lex.europa.eu/eli/reg/2016/679/oj",
            "http://data.europa.eu/eli/reg/2016/679/oj",
        ),
        (
            "https://eur-lex.europa.eu/eli/dir/2019/771/oj/eng/pdf",
            "http://data.europa.eu/eli/dir/2019/771/oj/eng/pdf",
        ),
        ("32016R0679", "CELEX:32016R0679"),
        ("celex:32016R0679", "CELEX:32016R0679"),
        ("Celex:02016R0679-20160504", "CELEX:02016R0679-20160504"),
        (
            "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32016R0679",
            "CELEX:32016R0679",
        ),
        (
            "https://eur-lex.europa.eu/legal-content/FI/TXT/HTML/?uri=CELEX%3A32011L0083",
            "CELEX:32011L0083",
        ),
        (
            "https://data.finlex.fi/eli/sd/1997/1336/luku/2/pykala/9",
            "http://data.finlex.fi/eli/sd/1997/1336/luku/2/pykala/9",
        ),
        (
            "https://finlex.fi/fi/laki/ajantasa/2014/20140938",
            "http://data.finlex.fi/eli/sd/2014/938/ajantasa/fin",
        ),
        (
            "http://www.finlex.fi/sv/laki/ajantasa/2001/20010288",
            "http://data.finlex.fi/eli/sd/2001/288/ajantasa/swe",
        ),
        (
            "https://www.finlex.fi/fi/laki/alkup/1999/19990544#L7",
            "http://data.finlex.fi/eli/sd/1999/544/luku/7/alkup/fin",
        ),
        (
            "https://www.finlex.fi/fi/laki/ajantasa/2011/20110379#P16",
            "http://data.finlex.fi/eli/sd/2011/379/pykala/16/ajantasa/fin",
        ),
        (
            "https://finlex.fi/fi/laki/ajantasa/2002/20021290#L2P9a",
            "http://data.finlex.fi/eli/sd/2002/1290/luku/2/pykala/9a/ajantasa/fin",
        ),
    ];
    for (input, expected) in cases {
        let r = p(input);
        assert_eq!(r.as_str(), expected, "normalising {input}");
        assert_eq!(p(expected), r, "{expected} must parse to the same value");
    }
}

#[test]
fn accessors_eu() {
    let r = p("http://data.europa.eu/eli/reg/2016/679/art_6/2018-05-25/eng/html");
    assert_eq!(r.family(), Family::EurLexEli);
    assert_eq!(r.jurisdiction(), Jurisdiction::Eu);
    assert_eq!(r.jurisdiction().as_str(), "EU");
    assert_eq!((r.year(), r.number()), (2016, 679));
    assert_eq!(r.eu_act_type(), Some(EuActType::Reg));
    assert_eq!(r.article(), Some("6"));
    assert_eq!(
        r.version(),
        Some(Version::Consolidated(Some(date(2018, 5, 25))))
    );
    assert_eq!(r.consolidated_date(), Some(date(2018, 5, 25)));
    assert_eq!(r.language(), Some("eng"));
    assert!(!r.is_act_level());
    assert_eq!(
        r.act_iri(),
        "http://data.europa.eu/eli/reg/2016/679/2018-05-25/eng/html"
    );
    assert_eq!(r.base_celex().as_deref(), Some("32016R0679"));
    match r.kind() {
        RefKind::EurLexEli(e) => assert_eq!(e.format(), Some("html")),
        other => panic!("unexpected kind {other:?}"),
    }

    let ai = p("http://data.europa.eu/eli/reg/2024/1689/oj");
    assert_eq!(ai.version(), Some(Version::Original));
    assert_eq!(ai.consolidated_date(), None);
    assert_eq!(ai.language(), None);
    assert!(ai.is_act_level());

    let work = p("http://data.europa.eu/eli/reg/2016/679");
    assert_eq!(work.version(), None);
    assert_eq!(
        p("http://data.europa.eu/eli/dir_impl/2019/771/oj")
            .base_celex()
            .as_deref(),
        Some("32019L0771")
    );
}

#[test]
fn accessors_celex() {
    let c = p("02016R0679-20160504");
    assert_eq!(c.family(), Family::Celex);
    assert_eq!(c.jurisdiction(), Jurisdiction::Eu);
    assert_eq!((c.year(), c.number()), (2016, 679));
    assert_eq!(c.consolidated_date(), Some(date(2016, 5, 4)));
    assert!(c.subdivisions().is_empty());
    assert_eq!(c.base_celex().as_deref(), Some("32016R0679"));
    match c.kind() {
        RefKind::Celex(x) => {
            assert_eq!(x.sector(), CelexSector::Consolidated);
            assert_eq!(x.descriptor(), 'R');
            assert_eq!(x.sequence(), None);
            assert_eq!(x.number_string(), "02016R0679-20160504");
        }
        other => panic!("unexpected kind {other:?}"),
    }
    let s = p("32012D0001(01)");
    assert_eq!(s.version(), Some(Version::Original));
    match s.kind() {
        RefKind::Celex(x) => assert_eq!(x.sequence(), Some(1)),
        other => panic!("unexpected kind {other:?}"),
    }
}

#[test]
fn accessors_finlex() {
    let r = p("http://data.finlex.fi/eli/sd/2002/1290/osa/1/luku/2/pykala/9a/momentti/2/kohta/3/ajantasa/2024-01-01/swe");
    assert_eq!(r.family(), Family::FinlexEli);
    assert_eq!(r.jurisdiction(), Jurisdiction::Fi);
    assert_eq!((r.year(), r.number()), (2002, 1290));
    assert_eq!(r.part(), Some("1"));
    assert_eq!(r.chapter(), Some("2"));
    assert_eq!(r.section(), Some("9a"));
    assert_eq!(r.subsection(), Some("2"));
    assert_eq!(r.point(), Some("3"));
    assert_eq!(r.article(), None);
    assert_eq!(r.language(), Some("swe"));
    assert_eq!(r.consolidated_date(), Some(date(2024, 1, 1)));
    assert_eq!(
        r.act_iri(),
        "http://data.finlex.fi/eli/sd/2002/1290/ajantasa/2024-01-01/swe"
    );
    assert!(r.act_level().is_act_level());
    assert_eq!(r.base_celex(), None);
    assert_eq!(r.eu_act_type(), None);

    let a = p("http://data.finlex.fi/eli/sd/2014/938/ajantasa");
    assert_eq!(a.version(), Some(Version::Consolidated(None)));
    assert_eq!(a.consolidated_date(), None);
    assert_eq!(
        p("http://data.finlex.fi/eli/sd/1978/38/alkup").version(),
        Some(Version::Original)
    );
}

#[test]
fn citation_rule() {
    let declared = [
        p("http://data.europa.eu/eli/reg/2016/679/oj"),
        p("http://data.finlex.fi/eli/sd/2014/938/ajantasa"),
        p("http://data.finlex.fi/eli/sd/2002/1290/luku/2"),
    ];
    let covered = [
        "http://data.europa.eu/eli/reg/2016/679/art_6/oj",
        "http://data.europa.eu/eli/reg/2016/679/oj/eng",
        "http://data.europa.eu/eli/reg/2016/679",
        "http://data.europa.eu/eli/reg_impl/2016/679/oj",
        "CELEX:32016R0679",
        "http://data.finlex.fi/eli/sd/2014/938/luku/2/pykala/9",
        "http://data.finlex.fi/eli/sd/2014/938/pykala/3/ajantasa/2024-01-01/fin",
        "http://data.finlex.fi/eli/sd/2014/938",
        "https://finlex.fi/fi/laki/ajantasa/2014/20140938#L2P9",
        "http://data.finlex.fi/eli/sd/2002/1290/luku/2/pykala/1",
        "http://data.finlex.fi/eli/sd/2002/1290/luku/2",
    ];
    for c in covered {
        assert!(check_citation(&declared, &p(c)), "{c} should be covered");
    }
    let not_covered = [
        // other acts
        "http://data.europa.eu/eli/reg/2024/1689/oj",
        "http://data.europa.eu/eli/dir/2016/679/oj",
        "http://data.finlex.fi/eli/sd/2014/939",
        "http://data.finlex.fi/eli/sd/2015/938",
        // version mismatch: original vs consolidated, in both directions
        "http://data.europa.eu/eli/reg/2016/679/2018-05-25",
        "CELEX:02016R0679-20160504",
        "http://data.finlex.fi/eli/sd/2014/938/alkup",
        // outside the declared chapter, or a section without its chapter
        "http://data.finlex.fi/eli/sd/2002/1290/luku/3/pykala/1",
        "http://data.finlex.fi/eli/sd/2002/1290/pykala/1",
        "http://data.finlex.fi/eli/sd/2002/1290",
    ];
    for c in not_covered {
        assert!(
            !check_citation(&declared, &p(c)),
            "{c} should NOT be covered"
        );
    }

    // Dates and languages must agree when both sides pin them.
    let dated = [p(
        "http://data.finlex.fi/eli/sd/2014/938/ajantasa/2024-01-01/fin",
    )];
    assert!(check_citation(
        &dated,
        &p("http://data.finlex.fi/eli/sd/2014/938/pykala/1/ajantasa/2024-01-01")
    ));
    assert!(check_citation(
        &dated,
        &p("http://data.finlex.fi/eli/sd/2014/938/pykala/1/ajantasa")
    ));
    assert!(!check_citation(
        &dated,
        &p("http://data.finlex.fi/eli/sd/2014/938/pykala/1/ajantasa/2025-01-01")
    ));
    assert!(!check_citation(
        &dated,
        &p("http://data.finlex.fi/eli/sd/2014/938/pykala/1/ajantasa/swe")
    ));

    // A section-level declaration does not cover the whole act.
    let sec = [p("http://data.europa.eu/eli/reg/2016/679/art_6/oj")];
    assert!(!check_citation(
        &sec,
        &p("http://data.europa.eu/eli/reg/2016/679/oj")
    ));
    assert!(!check_citation(
        &sec,
        &p("http://data.europa.eu/eli/reg/2016/679/art_7/oj")
    ));
    assert!(check_citation(
        &sec,
        &p("http://data.europa.eu/eli/reg/2016/679/art_6/oj/fin")
    ));

    // CELEX declared covers the ELI form of the same act and version.
    let celex = [p("CELEX:32016R0679")];
    assert!(check_citation(
        &celex,
        &p("http://data.europa.eu/eli/reg/2016/679/art_5/oj")
    ));
    assert_eq!(
        covering_reference(&celex, &p("http://data.europa.eu/eli/reg/2016/679/oj")),
        Some(&celex[0])
    );
    assert!(!check_citation(&[], &p("CELEX:32016R0679")));

    // Sequence suffixes distinguish acts.
    assert!(!check_citation(
        &[p("CELEX:32012D0001(01)")],
        &p("http://data.europa.eu/eli/dec/2012/1/oj")
    ));
}

#[test]
fn serde_as_string() {
    let r = p("https://finlex.fi/fi/laki/ajantasa/2014/20140938");
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(
        json,
        "\"http://data.finlex.fi/eli/sd/2014/938/ajantasa/fin\""
    );
    let back: LegalRef = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let bad: Result<LegalRef, _> =
        serde_json::from_str("\"http://example.com/eli/reg/2016/679/oj\"");
    assert!(bad.unwrap_err().to_string().contains("unsupported host"));
}

#[test]
fn default_parse_and_traits() {
    let r: LegalRef = "http://data.europa.eu/eli/reg/2016/679/oj".parse().unwrap();
    assert_eq!(
        LegalRef::parse("32016R0679")
            .unwrap()
            .base_celex()
            .as_deref(),
        Some("32016R0679")
    );
    assert_eq!(
        LegalRef::try_from("http://data.europa.eu/eli/reg/2016/679/oj").unwrap(),
        r
    );
    assert_eq!(AsRef::<str>::as_ref(&r), r.as_str());
    let mut v = [
        p("CELEX:32016R0679"),
        p("http://data.europa.eu/eli/reg/2016/679/oj"),
    ];
    v.sort();
    assert_eq!(v[0].family(), Family::Celex);
}

/// Every invalid input, with a predicate on the error it must produce.
#[test]
fn invalid_identifiers() {
    type Check = fn(&LegalRefError) -> bool;
    let huge = format!(
        "http://data.europa.eu/eli/reg/2016/679/oj/{}",
        "a".repeat(MAX_LEN)
    );
    let cases: Vec<(String, Check)> = vec![
        // empty / length / characters
        ("".into(), |e| matches!(e, LegalRefError::Empty)),
        (huge, |e| matches!(e, LegalRefError::TooLong { .. })),
        ("x".repeat(MAX_LEN + 1), |e| matches!(e, LegalRefError::TooLong { .. })),
        (" http://data.europa.eu/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::Whitespace { position: 0 })),
        ("http://data.europa.eu/eli/reg/2016/679/oj ".into(), |e| matches!(e, LegalRefError::Whitespace { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj\n".into(), |e| matches!(e, LegalRefError::Whitespace { .. })),
        ("http://data.europa.eu/eli/reg /2016/679/oj".into(), |e| matches!(e, LegalRefError::Whitespace { .. })),
        ("32016R0679\u{0}".into(), |e| matches!(e, LegalRefError::ControlCharacter { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj\u{7f}".into(), |e| matches!(e, LegalRefError::ControlCharacter { .. })),
        // unicode look-alikes: Cyrillic е, Cyrillic о, fullwidth digit, non-breaking space, en dash
        ("http://data.\u{435}uropa.eu/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::NonAscii { character: '\u{435}', .. })),
        ("http://data.europa.eu/eli/reg/2016/679/\u{43e}j".into(), |e| matches!(e, LegalRefError::NonAscii { .. })),
        ("http://data.europa.eu/eli/reg/2016/\u{ff16}79/oj".into(), |e| matches!(e, LegalRefError::NonAscii { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj\u{a0}".into(), |e| matches!(e, LegalRefError::Whitespace { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/2016\u{2013}05-04".into(), |e| matches!(e, LegalRefError::NonAscii { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj\u{200b}".into(), |e| matches!(e, LegalRefError::NonAscii { .. })),
        // unsupported forms
        ("GDPR".into(), |e| matches!(e, LegalRefError::Unsupported(_))),
        ("data.europa.eu/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::Unsupported(m) if m.contains("scheme"))),
        ("eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::Unsupported(m) if m.contains("relative"))),
        ("urn:lex:eu:regulation:2016;679".into(), |e| matches!(e, LegalRefError::Unsupported(_))),
        ("ftp://data.europa.eu/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnsupportedScheme { .. })),
        // wrong hosts
        ("http://example.com/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnsupportedHost { .. })),
        ("http://data.europa.eu.evil.com/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnsupportedHost { .. })),
        ("http://www.data.europa.eu/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnsupportedHost { .. })),
        ("http://data.finlex.com/eli/sd/2014/938".into(), |e| matches!(e, LegalRefError::UnsupportedHost { .. })),
        ("http://user@data.europa.eu/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("http://data.europa.eu:8080/eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("http:///eli/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("http://data.europa.eu/ELI/reg/2016/679/oj".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("http://data.europa.eu/resource/celex/32016R0679".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        // EU ELI: types
        ("http://data.europa.eu/eli/regulation/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnknownEuType { .. })),
        ("http://data.europa.eu/eli/REG/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnknownEuType { .. })),
        ("http://data.europa.eu/eli/C/2024/6762/oj".into(), |e| matches!(e, LegalRefError::UnknownEuType { .. })),
        ("http://data.europa.eu/eli/reg_impl_del/2016/679/oj".into(), |e| matches!(e, LegalRefError::UnknownEuType { .. })),
        ("http://data.europa.eu/eli/sd/2014/938".into(), |e| matches!(e, LegalRefError::UnknownEuType { .. })),
        // EU ELI: year and number
        ("http://data.europa.eu/eli/reg/1800/1/oj".into(), |e| matches!(e, LegalRefError::YearOutOfRange { year: 1800, .. })),
        ("http://data.europa.eu/eli/reg/1949/1/oj".into(), |e| matches!(e, LegalRefError::YearOutOfRange { .. })),
        ("http://data.europa.eu/eli/reg/2028/1/oj".into(), |e| matches!(e, LegalRefError::YearOutOfRange { year: 2028, max: 2027, .. })),
        ("http://data.europa.eu/eli/reg/16/679/oj".into(), |e| matches!(e, LegalRefError::InvalidYear { .. })),
        ("http://data.europa.eu/eli/reg/20166/679/oj".into(), |e| matches!(e, LegalRefError::InvalidYear { .. })),
        ("http://data.europa.eu/eli/reg/2016/0/oj".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.europa.eu/eli/reg/2016/0679/oj".into(), |e| matches!(e, LegalRefError::InvalidNumber { reason, .. } if reason.contains("leading"))),
        ("http://data.europa.eu/eli/reg/2016/-679/oj".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.europa.eu/eli/reg/2016/679a/oj".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.europa.eu/eli/reg/2016/123456/oj".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.europa.eu/eli/reg/2016/99999999999999999999/oj".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.europa.eu/eli/reg/2016".into(), |e| matches!(e, LegalRefError::Missing { .. })),
        ("http://data.europa.eu/eli/reg".into(), |e| matches!(e, LegalRefError::Missing { .. })),
        ("http://data.europa.eu/eli/".into(), |e| matches!(e, LegalRefError::Missing { .. })),
        // EU ELI: dates
        ("http://data.europa.eu/eli/reg/2016/679/2023-02-30".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/2023-02-29".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/2023-13-01".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/2023-00-10".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/2023-1-10".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/20160504".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/2015-12-31".into(), |e| matches!(e, LegalRefError::InvalidDate { reason, .. } if reason.contains("within"))),
        ("http://data.europa.eu/eli/reg/2016/679/2099-01-01".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        // EU ELI: language, format, structure
        ("http://data.europa.eu/eli/reg/2016/679/oj/en".into(), |e| matches!(e, LegalRefError::InvalidLanguage { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj/ENG".into(), |e| matches!(e, LegalRefError::InvalidLanguage { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj/nor".into(), |e| matches!(e, LegalRefError::InvalidLanguage { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj/eng/docx".into(), |e| matches!(e, LegalRefError::InvalidFormat { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj/eng/pdf/x".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/eng".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/OJ".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj/".into(), |e| matches!(e, LegalRefError::EmptySegment { .. })),
        ("http://data.europa.eu/eli/reg//2016/679/oj".into(), |e| matches!(e, LegalRefError::EmptySegment { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj?locale=en".into(), |e| matches!(e, LegalRefError::QueryOrFragment { found: '?', .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj#art6".into(), |e| matches!(e, LegalRefError::QueryOrFragment { found: '#', .. })),
        ("http://data.europa.eu/eli/reg/2016/679/corrigendum/2018-05-23/oj".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/art_0/oj".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/art_06/oj".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/art_6A/oj".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/art_/oj".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/art_6/art_7/oj".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.europa.eu/eli/reg/2016/679/oj.pdf".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32016R0679&from=EN".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("https://eur-lex.europa.eu/legal-content/en/TXT/?uri=CELEX:32016R0679".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=OJ:L_202401689".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("https://eur-lex.europa.eu/homepage.html".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        // CELEX
        ("CELEX:".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32016R679".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32016R06790".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32016R0000".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("32016r0679".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32016Z0679".into(), |e| matches!(e, LegalRefError::UnknownCelexDescriptor { .. })),
        ("32016I0679".into(), |e| matches!(e, LegalRefError::UnknownCelexDescriptor { .. })),
        ("32016RR0679".into(), |e| matches!(e, LegalRefError::UnknownCelexDescriptor { .. })),
        ("31800R0001".into(), |e| matches!(e, LegalRefError::YearOutOfRange { year: 1800, .. })),
        ("3201R0679".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("62014CJ0362".into(), |e| matches!(e, LegalRefError::UnsupportedCelexSector { sector: '6', .. })),
        ("12012E/TXT".into(), |e| matches!(e, LegalRefError::UnsupportedCelexSector { sector: '1', .. })),
        ("52021PC0206".into(), |e| matches!(e, LegalRefError::UnsupportedCelexSector { sector: '5', .. })),
        ("CELEX:C2024/06762".into(), |e| matches!(e, LegalRefError::UnsupportedCelexSector { sector: 'C', .. })),
        ("CELEX:X2016R0679".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("02016R0679".into(), |e| matches!(e, LegalRefError::InvalidCelex { reason, .. } if reason.contains("requires"))),
        ("32016R0679-20160504".into(), |e| matches!(e, LegalRefError::InvalidCelex { reason, .. } if reason.contains("sector 0"))),
        ("02016R0679-20230230".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("02016R0679-2016054".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("02016R0679-20150101".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("02016R0679-201605040".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32016R0679R(01)".into(), |e| matches!(e, LegalRefError::InvalidCelex { reason, .. } if reason.contains("corrigenda"))),
        ("32012D0001(1)".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32012D0001(00)".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("32016R0679x".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("CELEX:32016R0679/TXT".into(), |e| matches!(e, LegalRefError::InvalidCelex { .. })),
        ("CELEX32016R0679".into(), |e| matches!(e, LegalRefError::Unsupported(_))),
        // Finlex ELI
        ("http://data.finlex.fi/eli/sd/1700/1".into(), |e| matches!(e, LegalRefError::YearOutOfRange { .. })),
        ("http://data.finlex.fi/eli/sd/2014/0".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.finlex.fi/eli/sd/2014/0938".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("http://data.finlex.fi/eli/sd/2014".into(), |e| matches!(e, LegalRefError::Missing { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/voimassa".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/AJANTASA".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/LUKU/2".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { expected, .. } if expected.contains("lower case"))),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/2023-02-30".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/20240101".into(), |e| matches!(e, LegalRefError::InvalidDate { reason, .. } if reason.contains("ambiguous"))),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/2013-12-31".into(), |e| matches!(e, LegalRefError::InvalidDate { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/alkup/2024-01-01".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/eng".into(), |e| matches!(e, LegalRefError::InvalidLanguage { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/fi".into(), |e| matches!(e, LegalRefError::InvalidLanguage { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/fin".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/fin/html".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/alkup.html".into(), |e| matches!(e, LegalRefError::UnexpectedSegment { expected, .. } if expected.contains("rendering"))),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/luku/2/pykala/9".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { reason, .. } if reason.contains("before"))),
        ("http://data.finlex.fi/eli/sd/2014/938/pykala/9/luku/2".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/luku/2/luku/3".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/luku/2/momentti/1".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/pykala/1/kohta/1".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/pykala".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/pykala/0".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/pykala/9ab".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/pykala/12345".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/luku/2/pykala/9.html".into(), |e| matches!(e, LegalRefError::InvalidSubdivision { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938/ajantasa/".into(), |e| matches!(e, LegalRefError::EmptySegment { .. })),
        ("http://data.finlex.fi/eli/sd/2014/938#P9".into(), |e| matches!(e, LegalRefError::QueryOrFragment { .. })),
        ("http://data.finlex.fi/eli/kko/2014/1".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("http://data.finlex.fi/fi/laki/2014/938".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        ("https://finlex.fi/eli?uri=http://data.finlex.fi/eli/sd/2007/417/ajantasa/2024-06-07/fin".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
        // legacy Finlex URLs
        ("https://finlex.fi/fi/laki/ajantasa/2014/20140938/".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/ajantasa/2018/1050/".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/ajantasa/2014/20150938".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/ajantasa/2014/20140000".into(), |e| matches!(e, LegalRefError::InvalidNumber { .. })),
        ("https://finlex.fi/en/laki/ajantasa/2014/20140938".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/kaannokset/2014/20140938".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/oikeus/kko/2014/20140001".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/ajantasa/2014/20140938#Pidp123".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/ajantasa/2014/20140938#".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/fi/laki/ajantasa/2014/20140938#L2P".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("http://finlex.fi/fi/laki/ajantasa/2014/20140938?search%5Btype%5D=pika".into(), |e| matches!(e, LegalRefError::QueryOrFragment { .. })),
        ("https://finlex.fi".into(), |e| matches!(e, LegalRefError::LegacyFinlexUrl(_))),
        ("https://finlex.fi/eli/laki/2023/123#Pykala4".into(), |e| matches!(e, LegalRefError::MalformedUrl(_))),
    ];
    assert!(cases.len() >= 130, "only {} invalid cases", cases.len());
    for (input, check) in &cases {
        let e = err(input);
        assert!(check(&e), "{input:?} gave unexpected error {e:?}");
        // Messages are bounded: never echo the whole of a long input.
        assert!(e.to_string().len() < 600, "{input:?}: message too long");
    }
}
