//! Property tests: generated valid identifiers round-trip; arbitrary input never panics.

use dl_legal::{check_citation, LegalRef, ParseOptions};
use proptest::prelude::*;

fn opts() -> ParseOptions {
    ParseOptions::with_max_year(2027)
}

const EU_TYPES: [&str; 9] = [
    "reg", "reg_impl", "reg_del", "dir", "dir_impl", "dir_del", "dec", "dec_impl", "dec_del",
];
const EU_LANGS: [&str; 24] = [
    "bul", "spa", "ces", "dan", "deu", "est", "ell", "eng", "fra", "gle", "hrv", "ita", "lav",
    "lit", "hun", "mlt", "nld", "pol", "por", "ron", "slk", "slv", "fin", "swe",
];
const CELEX_DESCRIPTORS: &str = "ABCDEFGHJKLMOQRSXY";

/// A subdivision id: 1..=9999 with an optional lowercase letter.
fn sub_id() -> impl Strategy<Value = String> {
    (
        1u32..=9999,
        proptest::option::of(proptest::char::range('a', 'z')),
    )
        .prop_map(|(n, c)| c.map_or_else(|| n.to_string(), |c| format!("{n}{c}")))
}

/// (year, date-after-year) with a valid calendar date no earlier than the year.
fn year_and_date(min: u16) -> impl Strategy<Value = (u16, String)> {
    (min..=2027u16).prop_flat_map(|y| {
        (Just(y), y..=2027u16, 1u32..=12, 1u32..=31).prop_filter_map(
            "calendar date",
            |(y, dy, m, d)| {
                chrono::NaiveDate::from_ymd_opt(i32::from(dy), m, d)
                    .map(|_| (y, format!("{dy:04}-{m:02}-{d:02}")))
            },
        )
    })
}

fn eu_eli() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&EU_TYPES[..]),
        year_and_date(1950),
        1u32..=99999,
        proptest::option::of(sub_id()),
        0u8..3,
        proptest::option::of((
            proptest::sample::select(&EU_LANGS[..]),
            proptest::option::of(prop_oneof![Just("pdf"), Just("html")]),
        )),
    )
        .prop_map(|(ty, (year, date), num, art, ver, lang)| {
            let mut s = format!("http://data.europa.eu/eli/{ty}/{year}/{num}");
            if let Some(a) = art {
                s.push_str(&format!("/art_{a}"));
            }
            let point = match ver {
                0 => None,
                1 => Some("oj".to_string()),
                _ => Some(date),
            };
            if let Some(p) = point {
                s.push('/');
                s.push_str(&p);
                if let Some((l, f)) = lang {
                    s.push('/');
                    s.push_str(l);
                    if let Some(f) = f {
                        s.push('/');
                        s.push_str(f);
                    }
                }
            }
            s
        })
}

fn celex() -> impl Strategy<Value = String> {
    (
        year_and_date(1950),
        proptest::sample::select(CELEX_DESCRIPTORS.chars().collect::<Vec<_>>()),
        1u32..=9999,
        proptest::option::of(1u8..=99),
        any::<bool>(),
    )
        .prop_map(|((year, date), d, n, seq, consolidated)| {
            let seq = seq.map(|q| format!("({q:02})")).unwrap_or_default();
            if consolidated {
                format!("CELEX:0{year}{d}{n:04}{seq}-{}", date.replace('-', ""))
            } else {
                format!("CELEX:3{year}{d}{n:04}{seq}")
            }
        })
}

fn finlex_eli() -> impl Strategy<Value = String> {
    let keywords = ["osa", "luku", "pykala", "momentti", "kohta"];
    (
        year_and_date(1734),
        1u32..=99999,
        // which prefix-closed chain of subdivisions: choose a start level and a depth
        (0usize..5, 0usize..6),
        proptest::collection::vec(sub_id(), 5),
        0u8..4,
        proptest::option::of(prop_oneof![Just("fin"), Just("swe")]),
    )
        .prop_map(move |((year, date), num, (start, depth), ids, ver, lang)| {
            let mut s = format!("http://data.finlex.fi/eli/sd/{year}/{num}");
            // momentti needs pykala and kohta needs momentti: start at most at pykala.
            let start = start.min(2);
            for (k, id) in keywords.iter().zip(ids.iter()).skip(start).take(depth) {
                s.push_str(&format!("/{k}/{id}"));
            }
            let version = match ver {
                0 => None,
                1 => Some("alkup".to_string()),
                2 => Some("ajantasa".to_string()),
                _ => Some(format!("ajantasa/{date}")),
            };
            if let Some(v) = version {
                s.push('/');
                s.push_str(&v);
                if let Some(l) = lang {
                    s.push('/');
                    s.push_str(l);
                }
            }
            s
        })
}

fn any_valid() -> impl Strategy<Value = String> {
    prop_oneof![eu_eli(), celex(), finlex_eli()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_identifiers_round_trip(s in any_valid()) {
        let r = LegalRef::parse_with(&s, &opts()).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(r.as_str(), s.as_str());
        let displayed = r.to_string();
        prop_assert_eq!(displayed.as_str(), r.as_str());
        let again = LegalRef::parse_with(&displayed, &opts()).unwrap();
        prop_assert_eq!(&again, &r);
        // The act-level form parses, is act-level, and covers the original reference.
        let act = LegalRef::parse_with(&r.act_iri(), &opts()).unwrap();
        prop_assert!(act.is_act_level());
        prop_assert!(act.covers(&r));
        prop_assert!(check_citation(std::slice::from_ref(&act), &r));
        prop_assert!(r.covers(&r));
    }

    #[test]
    fn https_and_uppercase_host_normalise(s in prop_oneof![eu_eli(), finlex_eli()]) {
        let r = LegalRef::parse_with(&s, &opts()).unwrap();
        let https = s.replacen("http://", "https://", 1);
        prop_assert_eq!(LegalRef::parse_with(&https, &opts()).unwrap(), r.clone());
        let upper = s.replacen("data.", "DATA.", 1);
        prop_assert_eq!(LegalRef::parse_with(&upper, &opts()).unwrap(), r);
    }

    #[test]
    fn random_strings_never_panic(s in any::<String>()) {
        let _ = LegalRef::parse_with(&s, &opts());
    }

    #[test]
    fn ascii_noise_never_panics(s in "[ -~]{0,80}") {
        let _ = LegalRef::parse_with(&s, &opts());
    }

    #[test]
    fn mutated_valid_identifiers_never_panic(s in any_valid(), idx in any::<usize>(), c in any::<char>(), cut in any::<usize>()) {
        let mut chars: Vec<char> = s.chars().collect();
        let i = idx % (chars.len() + 1);
        chars.insert(i, c);
        let inserted: String = chars.iter().collect();
        let _ = LegalRef::parse_with(&inserted, &opts());
        let truncated: String = s.chars().take(cut % (s.len() + 1)).collect();
        if let Ok(r) = LegalRef::parse_with(&truncated, &opts()) {
            // Whatever still parses must be canonical-stable.
            prop_assert_eq!(LegalRef::parse_with(r.as_str(), &opts()).unwrap(), r);
        }
    }

    #[test]
    fn structured_prefix_noise_never_panics(
        prefix in prop_oneof![
            Just("http://data.europa.eu/eli/"), Just("http://data.finlex.fi/eli/sd/"),
            Just("CELEX:"), Just("https://finlex.fi/fi/laki/ajantasa/"),
            Just("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:"),
        ],
        tail in "[0-9a-zA-Z_/()#?:%.-]{0,40}",
    ) {
        let s = format!("{prefix}{tail}");
        if let Ok(r) = LegalRef::parse_with(&s, &opts()) {
            prop_assert_eq!(LegalRef::parse_with(r.as_str(), &opts()).unwrap(), r);
        }
    }
}
