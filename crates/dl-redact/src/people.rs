//! Personal data that is not a checksummed identifier: person names, street addresses, dates of
//! birth, Finnish vehicle plates, passport numbers, old-format Finnish bank accounts and VAT
//! ids.
//!
//! Names: a gazetteer of first and last names (`data/*.txt`, built from the name lists of the
//! Faker package, MIT licence, by `data/build_gazetteer.py`) plus context cues ("asiakas",
//! "hakija", "Mr", "herr", ...). A capitalised known first name starts a name, and adjacent
//! capitalised tokens that are names or (once) an unknown word extend it (an inflected or
//! foreign surname); after a cue, capitalised tokens are a name whatever they are. Finnish case
//! endings and the Swedish genitive are stripped before a lookup. Addresses: a street name with
//! a Finnish, Swedish or English street word and a house number, then optional staircase and
//! flat, postal code and city; or a postal code and a known municipality. The others are
//! patterns with cues or checksums.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use regex::Regex;

use crate::checks;
use crate::detect::{Entity, Finding};

/// FNV-1a: the gazetteer's keys are short, public words, so a fast hash without DoS
/// resistance is the right one (SipHash dominated the cost of a lookup).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Words = HashSet<&'static str, BuildHasherDefault<Fnv>>;

struct Gazetteer {
    first: Words,
    last: Words,
    places: Words,
    /// [`CUES`] as written, capitalised and in upper case.
    cues: HashSet<String, BuildHasherDefault<Fnv>>,
}

fn gazetteer() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(|| Gazetteer {
        first: include_str!("../data/first_names.txt").lines().collect(),
        last: include_str!("../data/last_names.txt").lines().collect(),
        places: include_str!("../data/places.txt").lines().collect(),
        cues: CUES
            .iter()
            .flat_map(|cue| {
                let mut chars = cue.chars();
                let capitalised: String = chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default();
                [cue.to_string(), capitalised, cue.to_uppercase()]
            })
            .collect(),
    })
}

/// Words before a name (lower case): roles in case notes and titles, fi/sv/en.
const CUES: &[&str] = &[
    "asiakas",
    "asiakkaan",
    "asiakkaalle",
    "hakija",
    "hakijan",
    "hakijalle",
    "hakijaa",
    "puoliso",
    "puolison",
    "lapsi",
    "lapsen",
    "äiti",
    "äidin",
    "isä",
    "isän",
    "edunvalvoja",
    "edunvalvojan",
    "yhteyshenkilö",
    "nimi",
    "omainen",
    "vuokranantaja",
    "herra",
    "rouva",
    "hra",
    "rva",
    "tohtori",
    "potilas",
    "potilaan",
    "sökande",
    "sökanden",
    "klient",
    "klienten",
    "make",
    "maka",
    "hustru",
    "barnet",
    "kontaktperson",
    "namn",
    "herr",
    "fru",
    "applicant",
    "client",
    "patient",
    "spouse",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "name",
    "contact",
    "guardian",
    "landlord",
    "tenant",
];

/// Capitalised words that are in the name lists and are far more often something else.
const NOT_NAMES: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Will",
    "Summer",
    "Paris",
    "Sydney",
    "Lumi",
    "Onni",
    "Toivo",
    "Tuuli",
    "Kela",
    "Kelan",
    "Euro",
    "Bank",
    "Street",
    "Road",
    "The",
    "This",
    "Dear",
    "Hei",
    "Hej",
];

/// Words after a name that make it a company's ("Elisa Oyj").
const COMPANY_WORDS: &[&str] = &[
    "Oy",
    "Oyj",
    "Ab",
    "AB",
    "Abp",
    "Ky",
    "Tmi",
    "Ltd",
    "Inc",
    "Group",
    "GmbH",
    "AS",
    "ASA",
    "Corporation",
    "Company",
    "Foundation",
    "Säätiö",
    "Stiftelse",
];

/// Words of organisations' names ("Suomen Pankki", "European Union").
const ORG_WORDS: &[&str] = &[
    "Pankki",
    "Sanomat",
    "Union",
    "Institution",
    "Institute",
    "Act",
    "Bank",
    "University",
    "Yliopisto",
    "Kaupunki",
    "Kunta",
    "Hospital",
    "Sairaala",
    "Ministry",
    "Ministeriö",
    "Council",
    "Neuvosto",
    "Agency",
    "Virasto",
    "Dagbladet",
    "Nyheter",
    "Kommun",
    "Stad",
    "Office",
    "Court",
    "Oikeus",
    "Tingsrätt",
    "Hovrätt",
    "Association",
    "Yhdistys",
    "Förening",
];

/// Whether `at` starts a sentence (nothing but spaces since the text's start or a full stop,
/// question or exclamation mark).
fn sentence_start(text: &str, at: usize) -> bool {
    text.get(..at)
        .and_then(|before| before.trim_end().chars().last())
        .is_none_or(|c| matches!(c, '.' | '!' | '?' | '\n'))
}

/// A Finnish surname by its ending, also inflected ("Virtanen", "Virtasen", "Virtaselle").
fn finnish_surname(word: &str) -> bool {
    [
        "nen", "sen", "selle", "sella", "sellä", "sesta", "sestä", "sena", "senä",
    ]
    .iter()
    .any(|e| word.len() > e.len() + 2 && word.ends_with(e))
}

/// A known Finnish `-nen` surname, also inflected ("Virtasen", "Virtaselle" → "Virtanen").
fn known_finnish_surname(last: &Words, word: &str) -> bool {
    if word.ends_with("nen") {
        return last.contains(word);
    }
    [
        "sen", "selle", "sella", "sellä", "sesta", "sestä", "sena", "senä", "sta", "stä",
    ]
    .iter()
    .find(|e| word.len() > e.len() + 2 && word.ends_with(*e))
    .and_then(|e| word.get(..word.len() - e.len()))
    .is_some_and(|stem| {
        let stem = stem.strip_suffix('s').unwrap_or(stem);
        last.contains(format!("{stem}nen").as_str())
    })
}

/// Finnish case endings and the Swedish/English genitive, longest first.
const ENDINGS: &[&str] = &[
    "lle", "lla", "llä", "lta", "ltä", "ssa", "ssä", "sta", "stä", "ksi", "na", "nä", "n", "s",
    "'s", "a", "ä",
];

fn known(set: &Words, word: &str) -> bool {
    set.contains(word)
        || ENDINGS.iter().any(|e| {
            word.len() > e.len() + 2
                && word.ends_with(e)
                && word
                    .get(..word.len() - e.len())
                    .is_some_and(|stem| set.contains(stem))
        })
}

#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
}

/// Words: runs of letters, with inner hyphens and apostrophes.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    let mut prev = ' ';
    let mut chars = text.char_indices().peekable();
    let letter = |c: char| c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic());
    while let Some((i, c)) = chars.next() {
        let inner = (c == '-' || c == '\'')
            && letter(prev)
            && chars.peek().is_some_and(|&(_, n)| letter(n));
        if letter(c) || (inner && start.is_some()) {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(Token { start: s, end: i });
        }
        prev = c;
    }
    if let Some(s) = start {
        out.push(Token {
            start: s,
            end: text.len(),
        });
    }
    out
}

fn capitalised(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_uppercase) && chars.any(char::is_lowercase)
}

/// The compiled patterns of this module.
#[derive(Debug, Clone)]
pub(crate) struct People {
    street: Regex,
    street_en: Regex,
    postal_city: Regex,
    birth: Regex,
    plate: Regex,
    passport: Regex,
    account: Regex,
    vat: Regex,
}

const MONTHS: &str = "tammikuuta|helmikuuta|maaliskuuta|huhtikuuta|toukokuuta|kesäkuuta|heinäkuuta|elokuuta|syyskuuta|lokakuuta|marraskuuta|joulukuuta|januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|december|january|february|march|may|june|july|august|october";

fn re(pattern: &str) -> Regex {
    // Constants of this module, covered by its tests.
    Regex::new(pattern).expect("pattern compiles")
}

impl People {
    pub(crate) fn new() -> Self {
        let date = format!(
            r"[0-9]{{1,2}}\.[\t\n ]?[0-9]{{1,2}}\.[\t\n ]?(?:19|20)[0-9][0-9]|(?:19|20)[0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9]{{1,2}}/[0-9]{{1,2}}/(?:19|20)[0-9][0-9]|[0-9]{{1,2}}\.?[\t\n ](?i:{MONTHS})[\t\n ](?:19|20)[0-9][0-9]|(?i:{MONTHS})[\t\n ][0-9]{{1,2}},?[\t\n ](?:19|20)[0-9][0-9]"
        );
        Self {
            street: re(
                r"(?:(?:Pohjoinen|Eteläinen|Itäinen|Läntinen|Vanha|Uusi|Norra|Södra|Östra|Västra|Gamla|Stora|Lilla)[\t\n ])?\p{Lu}[\p{L}-]*(?:katu|tie|kuja|polku|väylä|raitti|rinne|kaari|aukio|tori|puistikko|bulevardi|ranta|penger|gatan|vägen|stigen|gränd|torget|backen|gata|väg|allé)[\t\n ][0-9]{1,4}(?:[\t\n ](?:as\.|lgh|bst)[\t\n ]?[0-9]{1,4}|[\t\n ]?[a-zA-Z](?:[\t\n ]?[0-9]{1,3}(?-u:\b))?(?-u:\b))?(?:,?[\t\n ][0-9]{5}(?:[\t\n ]\p{Lu}[\p{L}-]+)?)?",
            ),
            street_en: re(
                r"(?-u)\b[0-9]{1,5}[\t\n ](?:[A-Z][a-z]+[\t\n ]){1,3}(?:Street|St\.|Road|Rd\.|Avenue|Ave\.|Lane|Drive|Close|Way|Court|Place|Crescent|Terrace)",
            ),
            postal_city: re(r"(?-u:\b)[0-9]{5}[\t\n ](\p{Lu}[\p{L}-]+)"),
            // ASCII case folding only (`(?-u)`): the Unicode one makes the DFA several times
            // bigger for no gain (the month names' "ä" is matched as written, lower case).
            birth: re(&format!(
                r"(?-u)(?i:syntynyt|syntyi|syntymäaika|syntymäpäivä|synt\.|s\.|born(?:[\t\n ]on)?|date[\t\n ]of[\t\n ]birth|birth[\t\n ]date|dob|född(?:[\t\n ]den)?|f\.|födelsedatum|födelsedag)[:[\t\n ]][\t\n ]?(?:on[\t\n ]|den[\t\n ])?({date})"
            )),
            plate: re(r"(?-u)\b[A-Z]{2,3}-[1-9][0-9]{0,2}\b"),
            passport: re(
                r"(?-u)(?i:passport(?:[\t\n ](?:no\.?|number|nr))?|passi(?:n)?(?:[\t\n ]?numero|[\t\n ]nro\.?)?|passnummer|pass(?:et)?(?:[\t\n ]nr\.?)?)[:[\t\n ]][\t\n ]?(?:#[\t\n ]?)?([A-Z]{1,2}[0-9]{6,8})(?-u:\b)",
            ),
            account: re(r"(?-u)\b[1-8][0-9]{5}-[0-9]{2,8}\b"),
            vat: re(r"(?-u)\b(?:FI ?([0-9]{8})|SE ?([0-9]{10})01)\b"),
        }
    }

    /// Findings in a normalised text (see `detect`).
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Finding>) {
        self.names(text, out);
        let mut push = |entity: Entity, m: regex::Match<'_>, canonical: String| {
            out.push(Finding {
                entity,
                start: m.start(),
                end: m.end(),
                canonical,
            })
        };
        let mut streets = Vec::new();
        for m in self
            .street
            .find_iter(text)
            .chain(self.street_en.find_iter(text))
        {
            streets.push((m.start(), m.end()));
            push(Entity::StreetAddress, m, m.as_str().to_lowercase());
        }
        for c in self.postal_city.captures_iter(text) {
            let (Some(all), Some(city)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let inside = streets
                .iter()
                .any(|&(s, e)| all.start() < e && all.end() > s);
            if !inside && known(&gazetteer().places, city.as_str()) {
                push(Entity::StreetAddress, all, all.as_str().to_lowercase());
            }
        }
        for c in self.birth.captures_iter(text) {
            if let Some(d) = c.get(1) {
                push(
                    Entity::DateOfBirth,
                    d,
                    d.as_str().split_whitespace().collect(),
                );
            }
        }
        for m in self.plate.find_iter(text) {
            let letters = m.as_str().split('-').next().unwrap_or_default();
            if !NOT_PLATES.contains(&letters) {
                push(Entity::FiVehiclePlate, m, m.as_str().into());
            }
        }
        for c in self.passport.captures_iter(text) {
            if let Some(n) = c.get(1) {
                push(Entity::PassportNumber, n, n.as_str().to_ascii_uppercase());
            }
        }
        for m in self.account.find_iter(text) {
            if let Some(machine) = machine_account(m.as_str()) {
                push(Entity::FiBankAccount, m, machine);
            }
        }
        for c in self.vat.captures_iter(text) {
            let Some(m) = c.get(0) else { continue };
            let valid = match (c.get(1), c.get(2)) {
                (Some(fi), _) => {
                    let d = fi.as_str();
                    checks::is_valid_business_id(&format!("{}-{}", &d[..7], &d[7..]))
                }
                (_, Some(se)) => checks::luhn_valid(se.as_str()),
                _ => false,
            };
            if valid {
                push(Entity::VatId, m, m.as_str().replace(' ', ""));
            }
        }
    }

    /// The whole of `text` as a name when it is two to four capitalised words and nothing else
    /// ("Akatay Bale"): an object key has no sentence around it to give a cue. Schema keys are
    /// `snake_case`; a key of capitalised words with spaces ("Monthly Income") is masked too,
    /// the safe side of the doubt.
    pub(crate) fn whole_name(text: &str) -> Option<Finding> {
        let g = gazetteer();
        let words: Vec<&str> = text.split(' ').collect();
        let name = (2..=4).contains(&words.len())
            && tokens(text).len() == words.len()
            && words.iter().all(|w| {
                capitalised(w)
                    && !NOT_NAMES.contains(w)
                    && !COMPANY_WORDS.contains(w)
                    && !ORG_WORDS.contains(w)
                    && !known(&g.places, w)
            });
        name.then(|| Finding {
            entity: Entity::PersonName,
            start: 0,
            end: text.len(),
            canonical: text.to_lowercase(),
        })
    }

    fn names(&self, text: &str, out: &mut Vec<Finding>) {
        let g = gazetteer();
        let toks = tokens(text);
        let word = |t: &Token| &text[t.start..t.end];
        // Two tokens with only a space between them.
        let adjacent = |a: &Token, b: &Token| text.get(a.end..b.start) == Some(" ");
        let mut i = 0;
        while i < toks.len() {
            let w = word(&toks[i]);
            if !capitalised(w) {
                i += 1;
                continue;
            }
            let cue = i > 0
                && g.cues.contains(word(&toks[i - 1]))
                && text
                    .get(toks[i - 1].end..toks[i].start)
                    .is_some_and(|sep| matches!(sep.trim_start_matches('.'), " " | ": " | ":"));
            let plain =
                !NOT_NAMES.contains(&w) && !COMPANY_WORDS.contains(&w) && !g.cues.contains(w);
            let place = known(&g.places, w);
            let first = plain && !place && known(&g.first, w);
            let next = toks
                .get(i + 1)
                .filter(|n| adjacent(&toks[i], n))
                .map(word)
                .filter(|n| {
                    capitalised(n)
                        && !known(&g.places, n)
                        && !NOT_NAMES.contains(n)
                        && !COMPANY_WORDS.contains(n)
                        && !ORG_WORDS.contains(n)
                });
            // A word the gazetteer lacks right before a known or Finnish-looking surname
            // ("Kaarina Turunen", also when the first name is a municipality's).
            let before_surname = plain
                && next.is_some_and(|n| {
                    !known(&g.first, n) && (known(&g.last, n) || finnish_surname(n))
                })
                // At a sentence's start the word before a surname is as often a verb or a
                // noun ("Lähetimme Virtaselle", "Företaget Ahlström").
                && (place || !sentence_start(text, toks[i].start));
            // Two capitalised words inside a sentence, not a longer capitalised run (which is
            // an organisation's or a law's name more often than a person's).
            let third = toks
                .get(i + 2)
                .is_some_and(|t| adjacent(&toks[i + 1], t) && capitalised(word(t)));
            let pair = plain
                && !place
                && !ORG_WORDS.contains(&w)
                && next.is_some()
                && !third
                && !sentence_start(text, toks[i].start);
            // A known Finnish surname alone ("Virtanen soitti"): the `-nen` ending makes it a
            // name, not a common word, wherever it stands.
            let surname = plain && !place && known_finnish_surname(&g.last, w);
            if !(first || before_surname || pair || cue || surname) {
                i += 1;
                continue;
            }
            let mut j = i;
            let mut unknown_taken = false;
            while j + 1 < toks.len() && j - i < 3 && adjacent(&toks[j], &toks[j + 1]) {
                let next = word(&toks[j + 1]);
                if !capitalised(next)
                    || NOT_NAMES.contains(&next)
                    || COMPANY_WORDS.contains(&next)
                    || known(&g.places, next)
                {
                    break;
                }
                let is_name = known(&g.first, next) || known(&g.last, next);
                if !is_name && unknown_taken {
                    break;
                }
                unknown_taken |= !is_name;
                j += 1;
            }
            let (start, end) = (toks[i].start, toks[j].end);
            let company = toks
                .get(j + 1)
                .is_some_and(|n| adjacent(&toks[j], n) && COMPANY_WORDS.contains(&word(n)));
            if company {
                i = j + 2;
                continue;
            }
            out.push(Finding {
                entity: Entity::PersonName,
                start,
                end,
                canonical: text[start..end].to_lowercase(),
            });
            i = j + 1;
        }
    }
}

/// Two- and three-letter words written like a plate that are not plates.
const NOT_PLATES: &[&str] = &[
    "EU", "EY", "YK", "UN", "ISO", "SFS", "EN", "ALV", "MTV", "PDF", "IT", "HR", "CO", "NO", "ETA",
    "EEA", "OECD", "ILO", "TES", "YLE", "HUS", "KKO", "KHO", "HE", "VM", "PL", "TV",
];

/// An old-format Finnish account (`123456-785`) in the 14-digit machine form, when its Luhn
/// check holds: savings banks and co-operative banks (groups 4 and 5) pad after the seventh
/// digit, the others after the sixth.
fn machine_account(written: &str) -> Option<String> {
    let (bank, rest) = written.split_once('-')?;
    let pad = 14usize.checked_sub(bank.len() + rest.len())?;
    let zeros = "0".repeat(pad);
    let machine = if matches!(bank.as_bytes().first(), Some(b'4' | b'5')) {
        format!("{bank}{}{zeros}{}", rest.get(..1)?, rest.get(1..)?)
    } else {
        format!("{bank}{zeros}{rest}")
    };
    checks::luhn_valid(&machine).then_some(machine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Entity, &str)> {
        let mut out = Vec::new();
        People::new().find(text, &mut out);
        out.sort_by_key(|f| f.start);
        out.into_iter()
            .map(|f| (f.entity, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn names_from_the_gazetteer_and_after_cues() {
        assert_eq!(
            found("Asiakas Maija Korhonen soitti."),
            vec![(Entity::PersonName, "Maija Korhonen")]
        );
        assert_eq!(
            found("Puhuin Matti Virtasen kanssa."),
            vec![(Entity::PersonName, "Matti Virtasen")]
        );
        assert_eq!(
            found("sökande Zlatko Qwertyson har"),
            vec![(Entity::PersonName, "Zlatko Qwertyson")]
        );
        assert_eq!(
            found("Mr. Okonkwo called"),
            vec![(Entity::PersonName, "Okonkwo")]
        );
        assert_eq!(found("Helsinki ja Tampere, toukokuu"), vec![]);
    }

    #[test]
    fn a_finnish_surname_alone() {
        assert_eq!(
            found("Virtanen soitti. Lähetimme Virtaselle kirjeen."),
            vec![
                (Entity::PersonName, "Virtanen"),
                (Entity::PersonName, "Virtaselle")
            ]
        );
        assert_eq!(found("Toinen hakemus saapui. Ensimmäinen ei."), vec![]);
    }

    #[test]
    fn names_the_gazetteer_lacks_and_look_alikes() {
        // A municipality's name as a first name, before a Finnish surname.
        assert_eq!(
            found("tuki maksetaan (Kaarina Turuselle)"),
            vec![(Entity::PersonName, "Kaarina Turuselle")]
        );
        // Two capitalised words inside a sentence.
        assert_eq!(
            found("auto on rekisteröity Xavor Quelbenn nimiin"),
            vec![(Entity::PersonName, "Xavor Quelbenn")]
        );
        // Companies, organisations, capitalised runs and sentence starts are not persons.
        for text in [
            "Maksajana Elisa Oyj.",
            "Päätöksen teki Suomen Pankki eilen.",
            "under the Data Protection Act today",
            "Hakemus saapui eilen.",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn street_addresses() {
        assert_eq!(
            found("asuu osoitteessa Mannerheimintie 12 B 7, 00100 Helsinki."),
            vec![(
                Entity::StreetAddress,
                "Mannerheimintie 12 B 7, 00100 Helsinki"
            )]
        );
        assert_eq!(
            found("bor på Storgatan 5, 11122 Stockholm"),
            vec![(Entity::StreetAddress, "Storgatan 5, 11122 Stockholm")]
        );
        assert_eq!(
            found("lives at 221 Baker Street"),
            vec![(Entity::StreetAddress, "221 Baker Street")]
        );
        assert_eq!(
            found("postiosoite 33100 Tampere"),
            vec![(Entity::StreetAddress, "33100 Tampere")]
        );
        assert_eq!(found("Mannerheimintie on suljettu"), vec![]);
    }

    #[test]
    fn dates_of_birth_plates_passports_accounts_vat() {
        assert_eq!(
            found("syntynyt 13.10.1952, auto ABC-123"),
            vec![
                (Entity::DateOfBirth, "13.10.1952"),
                (Entity::FiVehiclePlate, "ABC-123")
            ]
        );
        assert_eq!(
            found("born on 13 October 1952; passport no. XP1234567"),
            vec![
                (Entity::DateOfBirth, "13 October 1952"),
                (Entity::PassportNumber, "XP1234567")
            ]
        );
        assert_eq!(
            found("tili 123456-785 ja ALV FI07375462"),
            vec![
                (Entity::FiBankAccount, "123456-785"),
                (Entity::VatId, "FI07375462")
            ]
        );
        assert_eq!(found("päätös 13.10.2023, EU-27, tili 123456-786"), vec![]);
    }
}
