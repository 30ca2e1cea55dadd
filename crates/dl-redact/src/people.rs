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

use std::collections::{HashMap, HashSet};
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
    /// Finnish and Åland towns with their other names (Swedish ones of bilingual
    /// municipalities: "Vasa", "Ekenäs"), read only after a postal code.
    towns: Words,
    /// First names that are also common English words ("Grace", "Mark").
    word_names: Words,
    /// [`CUES`] as written, capitalised and in upper case.
    cues: HashSet<String, BuildHasherDefault<Fnv>>,
    /// The word lists below as one hash map of flags ([`NOT_NAME`], ...): one lookup per
    /// capitalised token instead of scans of four lists.
    stop: HashMap<&'static str, u8, BuildHasherDefault<Fnv>>,
}

/// In [`NOT_NAMES`].
const NOT_NAME: u8 = 1;
/// In [`COMPANY_WORDS`].
const COMPANY: u8 = 2;
/// In [`ORG_WORDS`].
const ORG: u8 = 4;
/// In [`PLACE_WORDS`].
const PLACE: u8 = 8;

impl Gazetteer {
    /// Whether `word` is in one of the lists of `flags`.
    fn is(&self, word: &str, flags: u8) -> bool {
        self.stop.get(word).is_some_and(|f| f & flags != 0)
    }

    /// A word of an organisation's name, also a compound ending in one, inflected
    /// ("Lastensuojeluliitolle").
    fn org_word(&self, w: &str) -> bool {
        self.is(w, ORG)
            || (w.len() >= 9
                && ORG_ENDINGS.iter().any(|e| {
                    w.rfind(e)
                        .is_some_and(|at| at > 0 && w.len() - at - e.len() <= 6)
                }))
    }
}

fn gazetteer() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(|| Gazetteer {
        first: include_str!("../data/first_names.txt").lines().collect(),
        last: include_str!("../data/last_names.txt").lines().collect(),
        places: include_str!("../data/places.txt").lines().collect(),
        towns: include_str!("../data/towns.txt").lines().collect(),
        word_names: include_str!("../data/word_names.txt").lines().collect(),
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
        stop: {
            let mut stop: HashMap<&'static str, u8, BuildHasherDefault<Fnv>> = HashMap::default();
            for (list, flag) in [
                (NOT_NAMES, NOT_NAME),
                (COMPANY_WORDS, COMPANY),
                (ORG_WORDS, ORG),
                (PLACE_WORDS, PLACE),
            ] {
                for w in list {
                    *stop.entry(*w).or_default() |= flag;
                }
            }
            stop
        },
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
    // family and roles: "Poika Onni", "Dottern Ebba", "Caseworker Jane Doe"
    "poika",
    "pojan",
    "tytär",
    "tyttären",
    "vaimo",
    "aviomies",
    "sisko",
    "veli",
    "ombud",
    "ombudet",
    "son",
    "sonen",
    "dotter",
    "dottern",
    "handläggare",
    "handläggaren",
    "daughter",
    "wife",
    "husband",
    "brother",
    "sister",
    "mother",
    "father",
    "caseworker",
    "käsittelijä",
    "sosiaalityöntekijä",
    // healthcare and loans: "Lääkäri Aho", "takaaja Mikko Salo", "borgensman Eva Lind"
    "lääkäri",
    "lääkärin",
    "hoitaja",
    "hoitajan",
    "sairaanhoitaja",
    "terveydenhoitaja",
    "omaishoitaja",
    "läkare",
    "läkaren",
    "sjuksköterska",
    "sjuksköterskan",
    "doctor",
    "nurse",
    "takaaja",
    "takaajan",
    "velallinen",
    "lainanhakija",
    "kanssahakija",
    "asiamies",
    "vuokralainen",
    "tulkki",
    "borgensman",
    "låntagare",
    "låntagaren",
    "medsökande",
    "hyresgäst",
    "hyresvärd",
    "tolk",
    "borrower",
    "guarantor",
    "co-applicant",
    "interpreter",
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
    // directions and countries before a place's or an organisation's name
    "Norra",
    "Södra",
    "Östra",
    "Västra",
    "Stora",
    "Lilla",
    "Gamla",
    "Pohjoinen",
    "Eteläinen",
    "Itäinen",
    "Läntinen",
    "Vanha",
    "Uusi",
    "Suomi",
    "Suomen",
    "Finland",
    "Finlands",
    "Ruotsin",
    "Sverige",
    "Sveriges",
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
    "Corp",
    "Company",
    "Foundation",
    "Säätiö",
    "Stiftelse",
    "Co",
    "plc",
    "PLC",
    "LLC",
    "AG",
    "SA",
    "NV",
    "BV",
    "ApS",
    "KB",
    "HB",
    "Holding",
    "Holdings",
    "Trading",
    "Consulting",
    "Partners",
    "Associates",
];

/// Words after a capitalised run that make it a place, a building, a line or an event
/// ("Victoria Station", "Nelson's Column", "St Patrick's Day", "Minna Canths dag").
const PLACE_WORDS: &[&str] = &[
    "Day",
    "Night",
    "Eve",
    "Line",
    "Station",
    "Bridge",
    "Column",
    "Cathedral",
    "Church",
    "Chapel",
    "Dock",
    "Docks",
    "Corner",
    "Cross",
    "Square",
    "Park",
    "Gardens",
    "Museum",
    "Gallery",
    "Hall",
    "Theatre",
    "Stadium",
    "Arena",
    "Airport",
    "School",
    "College",
    "Centre",
    "Center",
    "Library",
    "Prize",
    "Award",
    "Trust",
    "Fund",
    "dag",
    "dagen",
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
    "Army",
    "Navy",
    "Party",
    "Society",
    "Service",
    "Services",
    "Advice",
    "Federation",
];

/// Stems of the last part of organisations' one-word names ("Lastensuojeluliitto",
/// "Marthaförbundet"), with Finnish consonant gradation ("-liitolle").
const ORG_ENDINGS: &[&str] = &[
    "liitto",
    "liito",
    "yhdistys",
    "yhdistyks",
    "säätiö",
    "keskus",
    "keskuks",
    "laitos",
    "laitoks",
    "virasto",
    "seura",
    "förbund",
    "förening",
    "institut",
    "verket",
    "gruppen",
];

/// A town after a postal code: a municipality, a Finnish town's other (Swedish) name, also in
/// capitals ("33100 TAMPERE", "65100 Vasa"), inflected ("00100 Helsingissä" is not read).
fn town(word: &str) -> bool {
    let g = gazetteer();
    if g.towns.contains(word) || known(&g.places, word) {
        return true;
    }
    if word.chars().all(|c| !c.is_lowercase()) {
        let mut chars = word.chars();
        let title: String = chars
            .next()
            .into_iter()
            .chain(chars.flat_map(char::to_lowercase))
            .collect();
        return g.towns.contains(title.as_str());
    }
    false
}

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
        "nen", "sen", "selle", "sella", "sellä", "selta", "seltä", "sesta", "sestä", "sessa",
        "sessä", "seen", "sena", "senä", "seksi",
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
        "sen", "selle", "sella", "sellä", "selta", "seltä", "sesta", "sestä", "sessa", "sessä",
        "seen", "sena", "senä", "seksi", "sta", "stä",
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

/// Words: runs of letters, with inner hyphens and apostrophes. Reads bytes and decodes only
/// non-ASCII characters: the tokeniser was a third of the detection time.
fn tokens(text: &str) -> Vec<Token> {
    /// Whether the character at byte `i` is a letter, and its length (0 at the end).
    #[inline]
    fn letter_at(text: &str, i: usize) -> (bool, usize) {
        match text.as_bytes().get(i) {
            None => (false, 0),
            Some(&b) if b < 0x80 => (b.is_ascii_alphabetic(), 1),
            Some(_) => text
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .map_or((false, 1), |c| (c.is_alphabetic(), c.len_utf8())),
        }
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 8);
    let mut start = None;
    let mut prev_letter = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let (letter, len) = if b < 0x80 {
            (b.is_ascii_alphabetic(), 1)
        } else {
            letter_at(text, i)
        };
        if letter {
            start.get_or_insert(i);
        } else if matches!(b, b'-' | b'\'')
            && prev_letter
            && start.is_some()
            && letter_at(text, i + 1).0
        {
            // an inner hyphen or apostrophe: the word goes on
        } else if let Some(s) = start.take() {
            out.push(Token { start: s, end: i });
        }
        prev_letter = letter;
        i += len.max(1);
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
    flat: Regex,
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
                r"(?:(?:Pohjoinen|Eteläinen|Itäinen|Läntinen|Vanha|Uusi|Norra|Södra|Östra|Västra|Gamla|Stora|Lilla)[\t\n ])?\p{Lu}[\p{L}-]*(?:katu|tie|kuja|polku|väylä|raitti|rinne|kaari|aukio|tori|puistikko|bulevardi|esplanadi|ranta|penger|kierros|mäki|kumpu|niitty|piha|kaarre|mutka|porras|linja|tanhua|vainio|pelto|kulma|kallio|harju|kangas|laakso|reitti|gatan|vägen|stigen|gränd|torget|backen|gata|väg|allé|allén|esplanaden|kajen|stranden|plan|stig|backe)[\t\n ][0-9]{1,4}(?:[\t\n ](?:as\.|lgh|bst)[\t\n ]?[0-9]{1,4}|[\t\n ]?[a-zA-Z](?:[\t\n ]?[0-9]{1,3}(?-u:\b))?(?-u:\b))?(?:,?[\t\n ][0-9]{5}(?:[\t\n ](?:S:t[\t\n ])?\p{Lu}[\p{L}-]+)?)?",
            ),
            // House number, one to three capitalised words and a street-type word; a town
            // with a UK postcode or a Dublin district after it (a flat before it: `flat`).
            street_en: re(
                r"(?-u)\b[0-9]{1,5}[A-Za-z]?,?[\t\n ](?:[A-Z][a-z]+[\t\n ]){1,3}(?:Street|St\.|Road|Rd\.|Avenue|Ave\.|Lane|Drive|Close|Way|Court|Place|Crescent|Terrace|Grove|Mews|Row|Walk|Gardens|Park|Hill|Rise|Yard|Square|Green|Parade|Vale|View|Gate|Wharf|Quay|Boulevard|Heights|Circus|Approach|Mount|Chase|Croft|Fields|Meadows|Wynd)\b(?:,[\t\n ][A-Z][a-z]+(?:[\t\n ][A-Z]{1,2}[0-9][0-9A-Z]?[\t\n ][0-9][A-Z]{2}\b|[\t\n ][0-9]{1,2}\b|[\t\n ][A-Z][a-z]+)?)?",
            ),
            // Anchored at the end of the text before an English address ("Flat 3, ").
            flat: re(r"(?-u)\b(?:Flat|Apartment|Apt\.?|Unit)[\t\n ][0-9]{1,4}[A-Z]?,?[\t\n ]$"),
            postal_city: re(r"(?-u:\b)[0-9]{5}[\t\n ]((?:S:t[\t\n ])?\p{Lu}[\p{L}-]+)"),
            // ASCII case folding only (`(?-u)`): the Unicode one makes the DFA several times
            // bigger for no gain (the month names' "ä" is matched as written, lower case).
            birth: re(&format!(
                r"(?-u)(?i:syntynyt|syntyi|syntymäaika|syntymäpäivä|synt\.|s\.|born(?:[\t\n ]on)?|date[\t\n ]of[\t\n ]birth|birth[\t\n ]date|dob|född(?:[\t\n ]den)?|f\.|födelsedatum|födelsedag)[:[\t\n ]][\t\n ]?(?:on[\t\n ]|den[\t\n ])?({date})"
            )),
            plate: re(r"(?-u)\b[A-Z]{2,3}-[1-9][0-9]{0,2}\b"),
            // ICAO 9303's document number: up to nine letters and digits (Finnish AB1234567,
            // Swedish 12345678, German C01X00T47, UK and US 123456789, E12345678, 12AB34567),
            // after a cue; a letter prefix may be spaced off ("AB 1234567").
            passport: re(
                r"(?-u)\b(?i:(?:reise)?pass(?:port|i|in|et)?|passnummer|passinumero|travel[\t\n ]document|matkustusasiakirja(?:n)?|resedokument(?:et)?)(?:[\t\n ]?(?i:no|nr|nro|n:o|number|numero|nummer)\.?)?(?:[\t\n ]?[:#])?[\t\n ](?:(?i:is|on|är)[\t\n ])?([A-Z]{1,2}[\t\n ][0-9]{6,8}|[A-Z0-9]{6,9})\b",
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
        let mut english = Vec::new();
        for m in self.street.find_iter(text) {
            streets.push((m.start(), m.end()));
            push(Entity::StreetAddress, m, m.as_str().to_lowercase());
        }
        for m in self.street_en.find_iter(text) {
            // A flat before the house number: up to 20 bytes back (`get`: not inside a
            // character).
            let from = (m.start().saturating_sub(20)..m.start())
                .find(|&b| text.is_char_boundary(b))
                .unwrap_or(m.start());
            let start = self
                .flat
                .find(&text[from..m.start()])
                .map_or(m.start(), |f| from + f.start());
            streets.push((start, m.end()));
            english.push(Finding {
                entity: Entity::StreetAddress,
                start,
                end: m.end(),
                canonical: text[start..m.end()].to_lowercase(),
            });
        }
        for c in self.postal_city.captures_iter(text) {
            let (Some(all), Some(city)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let inside = streets
                .iter()
                .any(|&(s, e)| all.start() < e && all.end() > s);
            if !inside && town(city.as_str()) {
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
            // A number, not a word: at least one digit ("passport FRONTPAGE" is not one).
            if let Some(n) = c
                .get(1)
                .filter(|n| n.as_str().bytes().any(|b| b.is_ascii_digit()))
            {
                push(
                    Entity::PassportNumber,
                    n,
                    n.as_str().replace([' ', '\t', '\n'], ""),
                );
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
        out.extend(english);
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
                    && !g.is(w, NOT_NAME | COMPANY)
                    && !g.org_word(w)
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
        // Tokens before `floor` belong to a run already read (a name, or a company's or a
        // place's name): a family name is not taken back from it.
        let mut floor = 0;
        let mut i = 0;
        while i < toks.len() {
            let w = word(&toks[i]);
            let saint = ["S:t ", "St. ", "St ", "Sankt "]
                .iter()
                .any(|p| text[..toks[i].start].ends_with(p));
            if !capitalised(w) || compound_with_noun(w) || saint {
                i += 1;
                continue;
            }
            let cue = i > 0
                && g.cues.contains(word(&toks[i - 1]))
                && text
                    .get(toks[i - 1].end..toks[i].start)
                    .is_some_and(|sep| matches!(sep.trim_start_matches('.'), " " | ": " | ":"));
            let plain = !g.is(w, NOT_NAME | COMPANY | PLACE) && !g.cues.contains(w);
            // A municipality, or a town after "i", "in", "till", ... ("Kontoret i Lovisa":
            // Lovisa is also a first name).
            let place = known(&g.places, w)
                || (g.towns.contains(w)
                    && i > 0
                    && PLACE_PREPOSITIONS.contains(&word(&toks[i - 1]))
                    && text.get(toks[i - 1].end..toks[i].start) == Some(" "));
            let at_start = sentence_start(text, toks[i].start);
            // A first name that is also a common English word, alone at a sentence's start
            // and followed by a lower-case word, is the word ("Grace period", "Mark the form");
            // so is a first name alone that is one only once an ending is stripped ("enligt
            // Lagen om ..." is not "Lage"'s).
            let alone_before_word = !cue
                && toks.get(i + 1).is_some_and(|n| {
                    text.get(toks[i].end..n.start) == Some(" ")
                        && word(n).chars().next().is_some_and(char::is_lowercase)
                });
            let word_like = alone_before_word
                && ((at_start && g.word_names.contains(w)) || !g.first.contains(w));
            let first = plain && !place && !word_like && known(&g.first, w);
            let next = toks
                .get(i + 1)
                .filter(|n| adjacent(&toks[i], n))
                .map(word)
                .filter(|n| {
                    capitalised(n)
                        && !compound_with_noun(n)
                        && !known(&g.places, n)
                        && !g.is(n, NOT_NAME | COMPANY | PLACE)
                        && !g.org_word(n)
                });
            // A word the gazetteer lacks right before a known or Finnish-looking surname
            // ("Kaarina Turunen", also when the first name is a municipality's).
            let before_surname = plain
                && next.is_some_and(|n| {
                    !known(&g.first, n) && (known(&g.last, n) || finnish_surname(n))
                })
                // At a sentence's start the word before a surname is as often a verb or a
                // noun ("Lähetimme Virtaselle", "Företaget Ahlström"): there only before a
                // surname as written (not inflected) and when the word does not end like an
                // inflected Finnish or Swedish word ("Chidi Okafor", "Priya Manninen").
                && (place
                    || !at_start
                    || (next.is_some_and(|n| g.last.contains(n) && !g.first.contains(n))
                        && !g.word_names.contains(w)
                        && !INFLECTED.iter().any(|e| w.len() > e.len() + 2 && w.ends_with(e))));
            // Two capitalised words inside a sentence, not a longer capitalised run (which is
            // an organisation's or a law's name more often than a person's).
            let third = toks
                .get(i + 2)
                .is_some_and(|t| adjacent(&toks[i + 1], t) && capitalised(word(t)));
            let pair_shape = plain && !place && next.is_some() && !third && !g.org_word(w);
            // At a sentence's start only when a birth date follows ("Chidi Okafor (born
            // 1990)", "Anna Berg, född ..."): the cue says the two words are a person.
            let pair = pair_shape
                && (!at_start
                    || toks
                        .get(i + 1)
                        .is_some_and(|t| birth_follows(&text[t.end..])));
            // A known Finnish surname alone ("Virtanen soitti"): the `-nen` ending makes it a
            // name, not a common word, wherever it stands.
            let surname = plain && !place && known_finnish_surname(&g.last, w);
            // A known surname in a Finnish local case inside a sentence ("lähetettiin
            // Heikkilälle", "kysyin Sirolalta"): a recipient or a source, not a common noun.
            let local_case = plain && !place && !at_start && local_case_surname(&g.last, w);
            if !(first || before_surname || pair || cue || surname || local_case) {
                i += 1;
                continue;
            }
            let mut j = i;
            let mut unknown_taken = false;
            while j + 1 < toks.len() && j - i < 3 && adjacent(&toks[j], &toks[j + 1]) {
                let next = word(&toks[j + 1]);
                if !capitalised(next)
                    || compound_with_noun(next)
                    || g.is(next, NOT_NAME | COMPANY | PLACE)
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
            // A known surname right before ("Nguyen Thi Lan", "Virtanen Matti"): family name
            // first.
            let mut start_tok = i;
            if i > floor && adjacent(&toks[i - 1], &toks[i]) {
                let prev = word(&toks[i - 1]);
                // Vietnamese order: family, middle, given name; the middle names are few
                // ("Do Thi Ngoc", "Vo Thanh Son"), the family name may be one the gazetteer
                // lacks.
                // At a sentence's start only then: a surname there is as often a verb or a
                // noun ("Ring Gunnel ...": Swedish "call").
                let vietnamese = VI_MIDDLE.contains(&w) && prev.len() <= 6;
                let family = (vietnamese && (g.last.contains(prev) || !known(&g.first, prev)))
                    || (g.last.contains(prev) && !sentence_start(text, toks[i - 1].start));
                if capitalised(prev)
                    && family
                    && !g.cues.contains(prev)
                    && !g.is(prev, NOT_NAME)
                    && !known(&g.places, prev)
                {
                    start_tok = i - 1;
                }
            }
            let (start, end) = (toks[start_tok].start, toks[j].end);
            // Weak evidence (no cue, no known first name) and a longer capitalised run: an
            // organisation's name ("Suomen Punainen Risti").
            let longer = !(cue || first)
                && toks
                    .get(j + 1)
                    .is_some_and(|n| adjacent(&toks[j], n) && capitalised(word(n)));
            if longer || Self::not_a_person(text, &toks, start_tok, j) {
                // Skip the rest of the capitalised run too ("Victoria Line": not "Line").
                let mut k = j + 1;
                while k < toks.len()
                    && adjacent(&toks[k - 1], &toks[k])
                    && capitalised(word(&toks[k]))
                {
                    k += 1;
                }
                i = k;
                floor = k;
                continue;
            }
            out.push(Finding {
                entity: Entity::PersonName,
                start,
                end,
                canonical: text[start..end].to_lowercase(),
            });
            i = j + 1;
            floor = i;
        }
    }

    /// Whether the capitalised run `toks[i..=j]` is part of a company's, a place's or an
    /// event's name: a company word, `&`, or a place word follows within three capitalised
    /// words ("Koskinen Kuljetus Oy", "Laaksonen & Salo", "St Patrick's Day"), `&` comes
    /// before it, or a Finnish/Swedish holiday word follows ("Runebergin päivänä",
    /// "Minna Canths dag").
    fn not_a_person(text: &str, toks: &[Token], i: usize, j: usize) -> bool {
        let g = gazetteer();
        let word = |t: &Token| &text[t.start..t.end];
        if text[..toks[i].start].trim_end().ends_with('&') {
            return true;
        }
        for k in j..j + 4 {
            let Some(n) = toks.get(k + 1) else {
                return false;
            };
            let sep = &text[toks[k].end..n.start];
            let w = word(n);
            if sep.trim() == "&" {
                return true;
            }
            if sep != " " && sep != "'s " && sep != "s " {
                return false;
            }
            if g.is(w, COMPANY | PLACE)
                || g.org_word(w)
                || (k == j && (w.starts_with("päivä") || w.starts_with("dag")))
            {
                return true;
            }
            if !capitalised(w) {
                return false;
            }
        }
        false
    }
}

/// A word joined by a hyphen to a common noun ("Sibelius-monumentin", "Kela-yksikössä",
/// "Canth-dagen"): a compound, not a name (double names are "Anna-Liisa", "Smith-Jones").
fn compound_with_noun(word: &str) -> bool {
    word.split('-')
        .skip(1)
        .any(|part| part.chars().next().is_some_and(char::is_lowercase))
}

/// Prepositions before a town's name.
const PLACE_PREPOSITIONS: &[&str] = &[
    "i", "in", "på", "till", "från", "from", "to", "at", "near", "vid", "av", "of",
];

/// Common Vietnamese middle names, without tone marks as written in Finnish registers.
const VI_MIDDLE: &[&str] = &[
    "Van", "Thi", "Duc", "Quang", "Minh", "Thanh", "Ngoc", "Huu", "Xuan", "Hoang", "Cong", "Dinh",
    "Kim", "Bao", "Gia", "Tan", "The", "Trong", "Phuc", "Hong", "Thu",
];

/// Endings of inflected Finnish and Swedish words (verbs, nouns in a case, definite nouns):
/// a capitalised word ending so at a sentence's start is not read as an unknown first name.
const INFLECTED: &[&str] = &[
    "et", "mme", "tte", "vat", "vät", "ssa", "ssä", "sta", "stä", "lla", "llä", "lle", "lta",
    "ltä", "ksi", "isi", "iin", "ndes", "arna", "orna", "erna",
];

/// Whether a birth cue follows a name: "(born", ", born", "(s.", ", född", ...
fn birth_follows(after: &str) -> bool {
    let rest = after
        .trim_start_matches([',', ' '])
        .trim_start_matches(['(', ' ']);
    rest.len() < after.len()
        && [
            "born", "b. ", "s. ", "syntynyt", "synt.", "född", "f. ", "DOB", "dob",
        ]
        .iter()
        .any(|c| rest.starts_with(c))
}

/// A known surname in an allative, adessive or ablative case ("Heikkilälle", "Sirolalta",
/// "Peltolalla"; `-nen` surnames are [`known_finnish_surname`]'s).
fn local_case_surname(last: &Words, word: &str) -> bool {
    ["lle", "lla", "llä", "lta", "ltä"]
        .iter()
        .find(|e| word.len() > e.len() + 3 && word.ends_with(*e))
        .and_then(|e| word.get(..word.len() - e.len()))
        .is_some_and(|stem| {
            last.contains(stem) || stem.strip_suffix('i').is_some_and(|s| last.contains(s))
        })
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
    fn held_out_failure_classes() {
        // Vietnamese order, also with a family name the gazetteer lacks.
        assert_eq!(
            found("Call back Dang Thi Thu today."),
            vec![(Entity::PersonName, "Dang Thi Thu")]
        );
        assert_eq!(
            found("Ta Thi Lan soitti."),
            vec![(Entity::PersonName, "Ta Thi Lan")]
        );
        // A surname that is also a word at a sentence's start is not taken as a family name.
        assert_eq!(
            found("Ring Maja på torsdag."),
            vec![(Entity::PersonName, "Maja")]
        );
        // A surname in a local case; a -nen surname in the ablative.
        assert_eq!(
            found("Päätös lähetettiin Heikkilälle ja kysyttiin Virtaselta."),
            vec![
                (Entity::PersonName, "Heikkilälle"),
                (Entity::PersonName, "Virtaselta")
            ]
        );
        // A family word as a cue, a birth cue after an unknown name at a sentence start.
        assert_eq!(
            found("Poika Onni aloittaa koulun."),
            vec![(Entity::PersonName, "Onni")]
        );
        assert_eq!(
            found("Lähetteen kirjoitti lääkäri Qorvath, takaaja on Zelmo Brix."),
            vec![
                (Entity::PersonName, "Qorvath"),
                (Entity::PersonName, "Zelmo Brix")
            ]
        );
        assert_eq!(
            found("Zorbul Quxley (born 1990) called."),
            vec![(Entity::PersonName, "Zorbul Quxley")]
        );
        // Companies, holidays, places, lines, organisations, word-like first names.
        for text in [
            "Hän työskentelee yrityksessä Laaksonen & Salo.",
            "Maksaja oli Koskinen Kuljetus Oy.",
            "Toimisto on kiinni Mikael Agricolan päivänä.",
            "Kontoret är stängt på Minna Canths dag.",
            "Victoria Line trains were cancelled.",
            "Meet at Nelson's Column at ten.",
            "Closed on St Patrick's Day.",
            "Tapaaminen Sibelius-monumentin luona.",
            "Asia siirtyi Mannerheimin Lastensuojeluliitolle eilen.",
            "Grace period ends today.",
            "Mark the form as received.",
            "Beslutet fattades enligt Lagen om utkomststöd.",
            "Hän asuu nyt S:t Michel -nimisessä kaupungissa.",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn passports_of_several_countries() {
        for (text, number) in [
            ("passport no. XP1234567", "XP1234567"),
            ("passnummer 91234567", "91234567"),
            ("Reisepass Nr. C01X00T47", "C01X00T47"),
            ("Passport number: 123456789", "123456789"),
            ("Travel document no. E12345678", "E12345678"),
            ("passinumero 12AB34567", "12AB34567"),
            ("Suomen passi nro AB 1234567", "AB 1234567"),
        ] {
            assert_eq!(
                found(text),
                vec![(Entity::PassportNumber, number)],
                "{text}"
            );
        }
        for text in [
            "passport photo taken",
            "Passport expired in 2021",
            "hakemusnumero 12345678",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn towns_streets_and_english_addresses() {
        assert_eq!(
            found("Flyttade till 65100 Vasa i våras."),
            vec![(Entity::StreetAddress, "65100 Vasa")]
        );
        assert_eq!(
            found("osoite 33100 TAMPERE"),
            vec![(Entity::StreetAddress, "33100 TAMPERE")]
        );
        assert_eq!(
            found("bor på Strandgatan 4, 10600 Ekenäs."),
            vec![(Entity::StreetAddress, "Strandgatan 4, 10600 Ekenäs")]
        );
        assert_eq!(
            found("Muutti Lukkarinmäki 4 B 12 viime kuussa."),
            vec![(Entity::StreetAddress, "Lukkarinmäki 4 B 12")]
        );
        let found = |text| {
            let mut out = found(text);
            out.retain(|f| f.0 != Entity::PersonName);
            out
        };
        assert_eq!(
            found("moved to 85 Elm Grove in November"),
            vec![(Entity::StreetAddress, "85 Elm Grove")]
        );
        assert_eq!(
            found("lives at Flat 3, 12 Larch Close, Leeds LS6 2QT."),
            vec![(
                Entity::StreetAddress,
                "Flat 3, 12 Larch Close, Leeds LS6 2QT"
            )]
        );
        assert_eq!(found("Meet at Hyde Park Corner at ten."), vec![]);
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
