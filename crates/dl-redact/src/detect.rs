//! Free-text detectors: candidate patterns confirmed by checksums and format rules.
//!
//! A pattern only proposes a candidate; a candidate becomes a [`Finding`] when its validator
//! accepts it: date and mod-31 for HETU, mod-11 for Y-tunnus, mod-97 (and Luhn for FI) for
//! IBAN, issuer prefix and Luhn for cards, libphonenumber metadata for phones, address parsing
//! for IPs. Overlapping findings are resolved by [`Entity`] priority, then by length.
//!
//! Patterns run on a normalised copy of the text: Unicode dashes (en dash, minus sign,
//! non-breaking hyphen, ...) read as `-`, Unicode spaces (no-break, narrow no-break, thin, ...)
//! as a space, and soft hyphens and zero-width characters are dropped. Findings carry the byte
//! spans of the original text.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::people::People;

/// A kind of personal or identifying data the detectors find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Entity {
    /// Finnish personal identity code (henkilötunnus), all century signs incl. the 2023 ones.
    FiPersonalIdentityCode,
    /// IBAN (any registered country; FI/AX also with the national check).
    Iban,
    /// Payment card number.
    PaymentCard,
    /// Finnish business id (Y-tunnus); a sole trader's id identifies a person.
    FiBusinessId,
    /// E-mail address.
    Email,
    /// Telephone number (international, or national Finnish).
    Phone,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// VAT id (Finnish `FI` + business id digits, Swedish `SE` + 12 digits); a sole trader's
    /// identifies a person.
    VatId,
    /// Old-format Finnish bank account (`123456-785`, Luhn-checked in its machine form).
    FiBankAccount,
    /// Passport number after a cue ("passport no.", "passinumero", "passnummer").
    PassportNumber,
    /// Finnish vehicle registration plate (`ABC-123`).
    FiVehiclePlate,
    /// A date after a birth cue ("syntynyt", "born", "född", "DOB").
    DateOfBirth,
    /// Street address (street, number, staircase, flat, postal code, city) or postal code and
    /// municipality.
    StreetAddress,
    /// Person name (gazetteer and context cues).
    PersonName,
}

impl Entity {
    /// Every entity, in priority order (earlier wins an overlap).
    pub const ALL: [Entity; 14] = [
        Entity::FiPersonalIdentityCode,
        Entity::Iban,
        Entity::PaymentCard,
        Entity::FiBusinessId,
        Entity::Email,
        Entity::Phone,
        Entity::IpAddress,
        Entity::VatId,
        Entity::FiBankAccount,
        Entity::PassportNumber,
        Entity::FiVehiclePlate,
        Entity::DateOfBirth,
        Entity::StreetAddress,
        Entity::PersonName,
    ];

    /// The seven checksummed or format-validated identifiers (the rest are found by
    /// gazetteers, cues and patterns).
    pub const IDENTIFIERS: [Entity; 7] = [
        Entity::FiPersonalIdentityCode,
        Entity::Iban,
        Entity::PaymentCard,
        Entity::FiBusinessId,
        Entity::Email,
        Entity::Phone,
        Entity::IpAddress,
    ];

    /// Stable code, used in masks (`[EMAIL]`), manifests, metrics and the labelled corpus.
    pub fn code(self) -> &'static str {
        match self {
            Entity::FiPersonalIdentityCode => "FI_PERSONAL_IDENTITY_CODE",
            Entity::Iban => "IBAN",
            Entity::PaymentCard => "PAYMENT_CARD",
            Entity::FiBusinessId => "FI_BUSINESS_ID",
            Entity::Email => "EMAIL",
            Entity::Phone => "PHONE",
            Entity::IpAddress => "IP_ADDRESS",
            Entity::VatId => "VAT_ID",
            Entity::FiBankAccount => "FI_BANK_ACCOUNT",
            Entity::PassportNumber => "PASSPORT_NUMBER",
            Entity::FiVehiclePlate => "FI_VEHICLE_PLATE",
            Entity::DateOfBirth => "DATE_OF_BIRTH",
            Entity::StreetAddress => "STREET_ADDRESS",
            Entity::PersonName => "PERSON_NAME",
        }
    }

    /// The entity of a stable code.
    pub fn from_code(code: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.code() == code)
    }

    fn priority(self) -> usize {
        Entity::ALL
            .iter()
            .position(|e| *e == self)
            .unwrap_or(usize::MAX)
    }
}

/// One detected identifier in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is.
    pub entity: Entity,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just after its last character.
    pub end: usize,
    /// The identifier in a canonical spelling, for keyed pseudonyms: IBAN (upper case) and card
    /// without separators, e-mail lower case (a written-out one as `local@domain`), phone in
    /// E.164, HETU upper case without spaces and with its century sign as written (the sign is
    /// part of the identity; a Unicode dash reads as `-`, a space typed instead of it as `-`).
    pub canonical: String,
}

/// The compiled detectors. Build once ([`Detector::new`]) and share: detection is `&self`.
#[derive(Debug, Clone)]
pub struct Detector {
    hetu: Regex,
    business_id: Regex,
    iban: Regex,
    creditor_reference: Regex,
    card: Regex,
    email: Regex,
    email_spelled: Regex,
    email_dot: Regex,
    phone: Regex,
    ipv4: Regex,
    ipv6: Regex,
    people: People,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

/// A dot in a written-out e-mail address (lower case, as the canonical form is made).
const SPELLED_DOT: &str = r" ?[\[(] ?(?:dot|piste|punkt) ?[\])] ?| (?:dot|piste|punkt) |\.";

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this module and covered by its tests. Unicode is off
    // (`(?-u)`): every identifier here is ASCII, so classes, `\d`, `\b` and case-insensitivity
    // are ASCII ones. With Unicode on, `(?i)[A-Z]` also matches U+212A KELVIN SIGN and U+017F
    // LONG S (case folding) and `\d` any script's digits: multi-byte characters inside a
    // candidate that the validators would have to slice around. Unicode boundaries would also
    // keep the regex engine off its DFA, at a fifth of the speed.
    Regex::new(&format!("(?-u){pattern}")).expect("detector pattern compiles")
}

impl Detector {
    /// Compiles the detectors.
    pub fn new() -> Self {
        Self {
            hetu: re(r"(?i)\b\d{6}(?: ?[-+A-FU-Y] ?| )\d{3}[0-9A-Y]\b"),
            business_id: re(r"\b\d{7}-\d\b"),
            iban: re(r"(?i)\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11,30}\b"),
            creditor_reference: re(r"\bRF\d{2}(?: ?[A-Z0-9]){1,21}\b"),
            card: re(
                r"\b(?:\d{4}(?:[ -]?\d{4}){3}\d{0,3}|\d{4}[ -]?\d{6}[ -]?\d{4,5}|\d{13,19})\b",
            ),
            // RFC 5322 atext within reason (no quoted local parts) and internationalised
            // (RFC 6531) letters in the local part and the domain: the only pattern with
            // Unicode classes, and nothing slices inside its matches. No `\b` in front: an ASCII
            // boundary is not there before "ä", and the leftmost match starts the address.
            email: re(&format!(
                r"(?i){A}(?:[a-z0-9._%+'!#$&*=?^`{{|}}~-]|{L})*@(?:{A}(?:[a-z0-9-]|{L})*\.)+[a-z]{{2,24}}\b",
                A = r"(?:[a-z0-9]|(?u:\p{L}))",
                L = r"(?u:\p{L})",
            )),
            // "maija at example dot fi", "maija (at) example (dot) fi", "maija[at]example.fi".
            email_spelled: re(&format!(
                r"(?i)\b([a-z0-9][a-z0-9._%+'-]{{0,63}})({AT})((?:[a-z0-9-]{{1,63}}(?:{DOT}))+[a-z]{{2,24}})\b",
                AT = r" ?[\[(] ?(?:at|@) ?[\])] ?| (?:at|(?u:ä)t) ",
                DOT = SPELLED_DOT,
            )),
            email_dot: re(SPELLED_DOT),
            phone: re(
                r"\(0\d{1,3}\)[ \-]?\d(?:[ \-]?\d){4,9}\b|(?:\+|\b00)\d{1,3}[ \-]?(?:\(\d{1,4}\)[ \-]?)?\d(?:[ \-]?\d){4,13}\b|\b0\d{1,3}/ ?\d(?:[ \-]?\d){4,9}\b|\b0\d(?:[ \-]?\d){5,11}\b",
            ),
            ipv4: re(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
            ipv6: re(r"(?i)\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b"),
            people: People::new(),
        }
    }

    /// Every identifier in `text`, in text order, without overlaps.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let (normal, origin) = normalise(text);
        let mut found = self.find_normalised(&normal);
        if let Some(origin) = origin {
            for f in &mut found {
                f.start = origin[f.start];
                f.end = origin[f.end];
            }
        }
        found
    }

    /// Every identifier in an object key: what [`Detector::find`] finds, or else the whole key
    /// as a person name when it is two to four capitalised words (a map keyed by names).
    pub fn find_in_key(&self, key: &str) -> Vec<Finding> {
        let found = self.find(key);
        if !found.is_empty() || key.is_empty() {
            return found;
        }
        let (normal, origin) = normalise(key);
        People::whole_name(&normal)
            .map(|mut f| {
                if let Some(origin) = origin {
                    f.start = origin[f.start];
                    f.end = origin[f.end];
                }
                vec![f]
            })
            .unwrap_or_default()
    }

    fn find_normalised(&self, text: &str) -> Vec<Finding> {
        let mut all = Vec::new();
        // Spans shaped like an IBAN, card or business id, valid or not: a phone or IP address
        // inside one is a fragment of it (the tail of a mistyped IBAN is not a phone number).
        let mut claimed: Vec<(usize, usize)> = Vec::new();
        for m in self.hetu.find_iter(text) {
            let mut code: String = m.as_str().split(' ').collect();
            if code.len() == 10 {
                // A space typed instead of the century sign: the 1900s' most common one.
                code.insert(6, '-');
            }
            code.make_ascii_uppercase();
            if checks::is_valid_hetu(&code) {
                all.push(finding(Entity::FiPersonalIdentityCode, m, code));
            }
        }
        for m in self.business_id.find_iter(text) {
            claimed.push((m.start(), m.end()));
            if checks::is_valid_business_id(m.as_str()) {
                all.push(finding(Entity::FiBusinessId, m, m.as_str().into()));
            }
        }
        for m in self.iban.find_iter(text) {
            if let Some((len, compact)) = iban_prefix(m.as_str()) {
                claimed.push((m.start(), m.start() + len));
                if checks::is_valid_iban(&compact) {
                    all.push(Finding {
                        entity: Entity::Iban,
                        start: m.start(),
                        end: m.start() + len,
                        canonical: compact,
                    });
                }
            }
        }
        // ISO 11649 creditor references (RF..) are payment references, not accounts.
        claimed.extend(
            self.creditor_reference
                .find_iter(text)
                .map(|m| (m.start(), m.end())),
        );
        for m in self.card.find_iter(text) {
            if !card_shaped(m.as_str()) || text[..m.start()].ends_with('+') {
                continue;
            }
            claimed.push((m.start(), m.end()));
            let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
            if checks::is_valid_card(&digits) {
                all.push(finding(Entity::PaymentCard, m, digits));
            }
        }
        // Bounded repeats of Unicode classes would make the regex engine's DFA too big for its
        // cache, so local part and labels are unbounded here and cut to RFC 5321's lengths.
        let emails = self.email.find_iter(text).filter(|m| {
            m.as_str()
                .split_once('@')
                .is_some_and(|(local, domain)| local.len() <= 64 && domain.len() <= 255)
        });
        for m in emails {
            all.push(finding(Entity::Email, m, m.as_str().to_lowercase()));
        }
        for c in self.email_spelled.captures_iter(text) {
            if let Some(f) = spelled_email(&c, &self.email_dot) {
                all.push(f);
            }
        }
        let mut fragments = Vec::new();
        for m in self.phone.find_iter(text) {
            if let Some((len, e164)) = phone_prefix(m.as_str(), &text[m.end()..]) {
                fragments.push(Finding {
                    entity: Entity::Phone,
                    start: m.start(),
                    end: m.start() + len,
                    canonical: e164,
                });
            }
        }
        for m in self.ipv4.find_iter(text) {
            if let Ok(ip) = m.as_str().parse::<Ipv4Addr>() {
                fragments.push(finding(Entity::IpAddress, m, ip.to_string()));
            }
        }
        for m in self.ipv6.find_iter(text) {
            if let Ok(ip) = m.as_str().parse::<Ipv6Addr>() {
                fragments.push(finding(Entity::IpAddress, m, ip.to_string()));
            }
        }
        all.extend(
            fragments
                .into_iter()
                .filter(|f| claimed.iter().all(|&(s, e)| f.end <= s || f.start >= e)),
        );
        self.people.find(text, &mut all);
        // A number after a passport cue is the passport's, whatever else it looks like (a
        // nine-digit number starting with 0 is also a Finnish phone number).
        let passports: Vec<(usize, usize)> = all
            .iter()
            .filter(|f| f.entity == Entity::PassportNumber)
            .map(|f| (f.start, f.end))
            .collect();
        if !passports.is_empty() {
            all.retain(|f| {
                f.entity != Entity::Phone
                    || passports.iter().all(|&(s, e)| f.end <= s || f.start >= e)
            });
        }
        resolve_overlaps(all)
    }
}

/// Written the way card numbers are: one run of digits, or groups of four (American Express:
/// 4-6-5) with one kind of separator. "358411550954 2018" is a phone number and a year.
fn card_shaped(candidate: &str) -> bool {
    let groups: Vec<&str> = candidate.split([' ', '-']).collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    match lens.as_slice() {
        [_] => true,
        [4, 6, 4 | 5] => true,
        [rest @ .., last] => rest.iter().all(|&n| n == 4) && (1..=4).contains(last),
        [] => false,
    }
}

fn finding(entity: Entity, m: regex::Match<'_>, canonical: String) -> Finding {
    Finding {
        entity,
        start: m.start(),
        end: m.end(),
        canonical,
    }
}

/// The IBAN-shaped prefix of a candidate (the country's registered length), as (byte length in
/// the candidate, electronic form), valid or not. The candidate pattern is greedy and may have
/// swallowed a following upper-case word ("FI21 1234 5600 0007 85 EUR"), so the country's
/// registered length decides where it ends.
fn iban_prefix(candidate: &str) -> Option<(usize, String)> {
    let want = checks::iban_length(&candidate.get(..2)?.to_ascii_uppercase())?;
    let mut compact = String::with_capacity(want);
    for (i, c) in candidate.char_indices() {
        if c != ' ' && c != '-' {
            compact.push(c.to_ascii_uppercase());
        }
        if compact.len() == want {
            let end = i + c.len_utf8();
            let next_continues = candidate[end..]
                .chars()
                .next()
                .is_some_and(|n| n.is_ascii_alphanumeric());
            return (!next_continues).then_some((end, compact));
        }
    }
    None
}

/// The longest valid telephone number at the start of a candidate, ending at a digit group,
/// as (byte length, E.164): the pattern is greedy and may have taken the digits of a following
/// date or amount ("09 269 2414 22.6.2019").
fn phone_prefix(candidate: &str, after: &str) -> Option<(usize, String)> {
    // A last group followed by ".10.2022" or ",50" is the start of a date or an amount.
    let mut rest = after.chars();
    let last_group_continues = matches!(rest.next(), Some('.' | ',' | ':'))
        && rest.next().is_some_and(|c| c.is_ascii_digit());
    let group_ends = candidate
        .char_indices()
        .filter(|&(_, c)| c == ' ' || c == '-')
        .map(|(i, _)| i)
        .chain((!last_group_continues).then_some(candidate.len()));
    let mut ends: Vec<usize> = group_ends.collect();
    ends.reverse();
    ends.into_iter()
        .find_map(|end| valid_phone(&candidate[..end]).map(|e164| (end, e164)))
}

/// E.164 form of a valid telephone number (national numbers are read as Finnish).
fn valid_phone(candidate: &str) -> Option<String> {
    let digits = candidate.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return None;
    }
    let number = phonenumber::parse(
        Some(phonenumber::country::Id::FI),
        candidate.replace('/', " "),
    )
    .ok()?;
    if phonenumber::is_valid(&number) {
        return Some(number.format().mode(phonenumber::Mode::E164).to_string());
    }
    nanp(candidate)
}

/// A North American number written with its country code, `+1 NXX NXX XXXX` (area code and
/// exchange not starting with 0 or 1), whether or not the area code is assigned yet: the shape
/// alone makes it a telephone number, and a number on its way to being assigned is personal
/// data too.
fn nanp(candidate: &str) -> Option<String> {
    let rest = candidate.trim_start().strip_prefix("+1")?;
    if !rest.starts_with([' ', '-', '(']) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let b = digits.as_bytes();
    (b.len() == 10 && (b'2'..=b'9').contains(&b[0]) && (b'2'..=b'9').contains(&b[3]))
        .then(|| format!("+1{digits}"))
}

/// An address written out ("maija at example dot fi"), as a finding with the address as
/// canonical. A plain " at " counts only with a written-out dot: "met at example.com's office"
/// is a sentence.
fn spelled_email(c: &regex::Captures<'_>, dot: &Regex) -> Option<Finding> {
    let (all, local, at, domain) = (c.get(0)?, c.get(1)?, c.get(2)?, c.get(3)?);
    let domain = domain.as_str().to_lowercase();
    let written_dot = dot.find_iter(&domain).any(|m| m.as_str() != ".");
    let bracketed = at.as_str().contains(['(', '[']);
    (bracketed || written_dot).then(|| Finding {
        entity: Entity::Email,
        start: all.start(),
        end: all.end(),
        canonical: format!(
            "{}@{}",
            local.as_str().to_lowercase(),
            dot.split(&domain).collect::<Vec<_>>().join(".")
        ),
    })
}

/// The ASCII byte a Unicode dash or space reads as (`Some(None)`: dropped), `None` when `c`
/// stays as written.
fn ascii_reading(c: char) -> Option<Option<u8>> {
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => {
            Some(Some(b'-'))
        }
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => {
            Some(Some(b' '))
        }
        '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some(None),
        _ => None,
    }
}

/// `text` with Unicode dashes and spaces read as ASCII ([`ascii_reading`]) and, when anything
/// changed, the original byte offset of every byte offset of the copy (one more than its
/// length, so span ends map too).
fn normalise(text: &str) -> (Cow<'_, str>, Option<Vec<usize>>) {
    if text.is_ascii() || !text.chars().any(|c| ascii_reading(c).is_some()) {
        return (Cow::Borrowed(text), None);
    }
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        match ascii_reading(c) {
            Some(Some(b)) => {
                out.push(char::from(b));
                origin.push(i);
            }
            Some(None) => {}
            None => {
                out.push(c);
                origin.extend(i..i + c.len_utf8());
            }
        }
    }
    origin.push(text.len());
    (Cow::Owned(out), Some(origin))
}

/// Keeps, among overlapping findings, the one of the highest-priority entity (then the longest).
fn resolve_overlaps(mut all: Vec<Finding>) -> Vec<Finding> {
    all.sort_by_key(|f| (f.entity.priority(), usize::MAX - (f.end - f.start), f.start));
    let mut kept: Vec<Finding> = Vec::with_capacity(all.len());
    for f in all {
        if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.start);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Entity, &str)> {
        Detector::new()
            .find(text)
            .into_iter()
            .map(|f| (f.entity, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn finds_each_entity_in_finnish_and_english_text() {
        assert_eq!(
            found("Hakijan henkilötunnus on 131052-308T ja tili FI21 1234 5600 0007 85."),
            vec![
                (Entity::FiPersonalIdentityCode, "131052-308T"),
                (Entity::Iban, "FI21 1234 5600 0007 85")
            ]
        );
        assert_eq!(
            found("Call +358 40 1234567 or mail Maija.Meikalainen@example.fi from 192.168.10.4"),
            vec![
                (Entity::Phone, "+358 40 1234567"),
                (Entity::Email, "Maija.Meikalainen@example.fi"),
                (Entity::IpAddress, "192.168.10.4")
            ]
        );
        assert_eq!(
            found("Yritys 0737546-2 maksoi kortilla 4111 1111 1111 1111, puh. 040 123 4567"),
            vec![
                (Entity::FiBusinessId, "0737546-2"),
                (Entity::PaymentCard, "4111 1111 1111 1111"),
                (Entity::Phone, "040 123 4567")
            ]
        );
        assert_eq!(
            found("new sign 010594Y9032, address 2001:db8::1")[0].1,
            "010594Y9032"
        );
        assert_eq!(found("address 2001:db8::1")[0].0, Entity::IpAddress);
    }

    #[test]
    fn rejects_lookalikes() {
        // Bad control character, impossible date, bad IBAN check, card failing Luhn, amounts,
        // dates, times, version numbers, a 1-1 score.
        for text in [
            "131052-308U",
            "310252-308T",
            "FI21 1234 5600 0007 86",
            "4111 1111 1111 1112",
            "income 2500.00 EUR, 12 500 €",
            "2024-01-15 10:30:00",
            "version 1.2.3.4000 build 20240115",
            "result 1-1",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn a_family_name_before_a_name_with_an_identifier_after_it() {
        assert_eq!(
            found("Call back Dang Thi Thu on +44 20 7946 0958."),
            vec![
                (Entity::PersonName, "Dang Thi Thu"),
                (Entity::Phone, "+44 20 7946 0958")
            ]
        );
    }

    #[test]
    fn north_american_numbers_by_shape() {
        assert_eq!(
            found("call +1 (789) 259-5487 today"),
            vec![(Entity::Phone, "+1 (789) 259-5487")]
        );
        assert_eq!(found("+1 (089) 259-5487"), vec![]);
    }

    #[test]
    fn iban_does_not_swallow_the_next_word() {
        let text = "FI21 1234 5600 0007 85 EUR";
        assert_eq!(found(text), vec![(Entity::Iban, "FI21 1234 5600 0007 85")]);
        let f = &Detector::new().find(text)[0];
        assert_eq!(f.canonical, "FI2112345600000785");
    }

    #[test]
    fn canonical_forms() {
        let d = Detector::new();
        let f = d.find("soita 040 1234567");
        assert_eq!(f[0].canonical, "+358401234567");
        let f = d.find("MAIJA@Example.FI");
        assert_eq!(f[0].canonical, "maija@example.fi");
    }

    /// High 3 (issue 15): with Unicode case folding `[A-Z]` matched U+212A KELVIN SIGN (three
    /// bytes) and the IBAN check sliced inside it; one such request stopped the explainer.
    #[test]
    fn kelvin_sign_in_an_iban_candidate_does_not_panic() {
        let d = Detector::new();
        for text in [
            "A\u{212A}21 1234 5600 0007 85",
            "\u{212A}I21 1234 5600 0007 85",
            "tili A\u{212A}2112345600000785 ok",
            "sähköposti ma\u{212A}ija@example.fi",
            "F\u{017F}21 1234 5600 0007 85",
        ] {
            for f in d.find(text) {
                assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            }
        }
        // The identifiers themselves are ASCII: a look-alike letter makes no IBAN.
        assert_eq!(found("A\u{212A}21 1234 5600 0007 85"), vec![]);
    }

    /// Issue 12, item 2: spellings of real documents. Each identifier is found with its span in
    /// the original text (whatever the Unicode dashes and spaces in it) and the canonical form
    /// of its plain spelling, so both spellings get one pseudonym.
    fn spelled(text: &str, entity: Entity, span: &str, canonical: &str) {
        let found = Detector::new().find(text);
        let got: Vec<(Entity, &str, &str)> = found
            .iter()
            .map(|f| (f.entity, &text[f.start..f.end], f.canonical.as_str()))
            .collect();
        assert_eq!(got, vec![(entity, span, canonical)], "{text:?}");
    }

    #[test]
    fn hetu_with_an_en_dash_or_a_minus_sign() {
        for dash in ['\u{2013}', '\u{2212}', '\u{2011}', '\u{2010}'] {
            let hetu = format!("131052{dash}308T");
            spelled(
                &format!("hetu {hetu}."),
                Entity::FiPersonalIdentityCode,
                &hetu,
                "131052-308T",
            );
        }
    }

    #[test]
    fn hetu_with_a_space_typed_inside() {
        for hetu in [
            "131052 -308T",
            "131052- 308T",
            "131052 308T",
            "131052\u{a0}-308T",
        ] {
            spelled(
                &format!("hetu {hetu} ok"),
                Entity::FiPersonalIdentityCode,
                hetu,
                "131052-308T",
            );
        }
        spelled(
            "uusi 010594 Y9032.",
            Entity::FiPersonalIdentityCode,
            "010594 Y9032",
            "010594Y9032",
        );
    }

    #[test]
    fn iban_grouped_with_no_break_spaces_or_dashes() {
        for iban in [
            "FI21\u{a0}1234\u{a0}5600\u{a0}0007\u{a0}85",
            "FI21\u{202f}1234\u{202f}5600\u{202f}0007\u{202f}85",
            "FI21-1234-5600-0007-85",
            "FI21\u{2013}1234\u{2013}5600\u{2013}0007\u{2013}85",
            "FI21\u{2009}1234\u{2009}5600\u{2009}0007\u{2009}85",
        ] {
            spelled(
                &format!("tili {iban}, kiitos"),
                Entity::Iban,
                iban,
                "FI2112345600000785",
            );
        }
    }

    #[test]
    fn phone_with_an_area_code_in_brackets() {
        spelled(
            "call +1 (206) 258-0135 today",
            Entity::Phone,
            "+1 (206) 258-0135",
            "+12062580135",
        );
    }

    #[test]
    fn phone_with_a_slash_after_the_area_code() {
        spelled(
            "puh. 045/582 2366.",
            Entity::Phone,
            "045/582 2366",
            "+358455822366",
        );
        spelled(
            "puh. 09/123\u{a0}4567",
            Entity::Phone,
            "09/123\u{a0}4567",
            "+35891234567",
        );
    }

    #[test]
    fn diners_card_in_4_6_4_groups() {
        spelled(
            "kortti 3056 930902 5904.",
            Entity::PaymentCard,
            "3056 930902 5904",
            "30569309025904",
        );
        spelled(
            "card 3056-930902-5904",
            Entity::PaymentCard,
            "3056-930902-5904",
            "30569309025904",
        );
    }

    #[test]
    fn email_with_an_internationalised_domain_or_local_part() {
        spelled(
            "posti kirjaamo@äänekoski.fi.",
            Entity::Email,
            "kirjaamo@äänekoski.fi",
            "kirjaamo@äänekoski.fi",
        );
        spelled(
            "mail jääskeläinen@example.fi",
            Entity::Email,
            "jääskeläinen@example.fi",
            "jääskeläinen@example.fi",
        );
    }

    #[test]
    fn email_with_an_apostrophe_in_the_local_part() {
        spelled(
            "mail o'brien@example.ie now",
            Entity::Email,
            "o'brien@example.ie",
            "o'brien@example.ie",
        );
        spelled(
            "mail a.o'neil+tag@example.com",
            Entity::Email,
            "a.o'neil+tag@example.com",
            "a.o'neil+tag@example.com",
        );
    }

    #[test]
    fn email_written_out() {
        for (text, span) in [
            (
                "mail maija at example dot fi please",
                "maija at example dot fi",
            ),
            (
                "mail maija (at) example (dot) fi",
                "maija (at) example (dot) fi",
            ),
            ("mail maija[at]example.fi", "maija[at]example.fi"),
            (
                "sposti maija ät example piste fi",
                "maija ät example piste fi",
            ),
        ] {
            spelled(text, Entity::Email, span, "maija@example.fi");
        }
        // An "at" in a sentence is not an address.
        for text in [
            "we met at example.com's office",
            "look at the dot",
            "meet at home dot",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn a_key_of_capitalised_names_is_a_name() {
        let d = Detector::new();
        let f = d.find_in_key("Akatay\u{a0}Bale");
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].entity, f[0].start, f[0].end),
            (Entity::PersonName, 0, 12)
        );
        assert_eq!(d.find_in_key("Helsinki Tampere"), vec![]);
        assert_eq!(d.find_in_key("Kela Oyj"), vec![]);
        for key in ["household", "monthly_income", "Income", "applicant name"] {
            assert_eq!(d.find_in_key(key), vec![], "{key}");
        }
        assert_eq!(
            d.find_in_key("131052-308T")[0].entity,
            Entity::FiPersonalIdentityCode
        );
    }

    #[test]
    fn entity_codes_round_trip() {
        for e in Entity::ALL {
            assert_eq!(Entity::from_code(e.code()), Some(e));
        }
        assert_eq!(Entity::from_code("NAME"), None);
        assert!(Entity::IDENTIFIERS.iter().all(|e| Entity::ALL.contains(e)));
    }
}
