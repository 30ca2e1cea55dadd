//! Checksum and format validation of identifiers, independent of where they were found.
//!
//! Every function takes the identifier as written (no surrounding text) and answers whether it
//! is a well-formed, checksum-valid identifier. None of them normalises what makes two
//! identifiers different: `100190-999P` and `100190Y999P` are two different persons.

use chrono::NaiveDate;

/// Control characters of the Finnish personal identity code, indexed by `DDMMYYZZZ mod 31`.
const HETU_CONTROL: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// Century of a HETU century sign: `+` 1800s; `-` and (since 2023) `U V W X Y` 1900s;
/// `A` and (since 2023) `B C D E F` 2000s.
pub fn hetu_century(sign: u8) -> Option<i32> {
    match sign {
        b'+' => Some(1800),
        b'-' | b'U'..=b'Y' => Some(1900),
        b'A'..=b'F' => Some(2000),
        _ => None,
    }
}

/// A Finnish personal identity code (henkilötunnus) `DDMMYYCZZZQ`: a real calendar date in the
/// century given by the sign, individual number 002–999 (900–999 are temporary codes) and the
/// mod-31 control character.
pub fn is_valid_hetu(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 11 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(day), Some(month), Some(yy), Some(individual)) =
        (digits(0..2), digits(2..4), digits(4..6), digits(7..10))
    else {
        return false;
    };
    let Some(century) = hetu_century(b[6]) else {
        return false;
    };
    if individual < 2 || NaiveDate::from_ymd_opt(century + yy as i32, month, day).is_none() {
        return false;
    }
    let number = (day * 10_000 + month * 100 + yy) as u64 * 1000 + u64::from(individual);
    HETU_CONTROL[(number % 31) as usize] == b[10]
}

/// A Finnish business id (Y-tunnus) `NNNNNNN-C`: mod-11 check with weights 7, 9, 10, 5, 8, 4, 2
/// (remainder 1 is never issued). Older six-digit ids are written with a leading zero.
pub fn is_valid_business_id(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 9 || b[7] != b'-' || !b[..7].iter().chain(&b[8..]).all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..7]
        .iter()
        .zip([7u32, 9, 10, 5, 8, 4, 2])
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = match sum % 11 {
        0 => 0,
        1 => return false,
        r => 11 - r,
    };
    u32::from(b[8] - b'0') == check
}

/// The Luhn (mod 10) check over a string of ASCII digits (payment cards, Finnish BBANs).
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IBAN lengths of the IBAN registry's countries (SEPA and the other common ones).
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AX", 18), ("AZ", 28), ("BA", 20), ("BE", 16),
    ("BG", 22), ("BH", 22), ("BR", 29), ("CH", 21), ("CR", 22), ("CY", 28), ("CZ", 24), ("DE", 22),
    ("DK", 18), ("DO", 28), ("EE", 20), ("EG", 29), ("ES", 24), ("FI", 18), ("FO", 18), ("FR", 27),
    ("GB", 22), ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HR", 21), ("HU", 28),
    ("IE", 22), ("IL", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30), ("KZ", 20), ("LB", 28),
    ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19),
    ("MR", 27), ("MT", 31), ("MU", 30), ("NL", 18), ("NO", 15), ("PK", 24), ("PL", 28), ("PS", 29),
    ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("SA", 24), ("SE", 24), ("SI", 19), ("SK", 24),
    ("SM", 27), ("TN", 24), ("TR", 26), ("UA", 29), ("VA", 22), ("VG", 24), ("XK", 20),
];

/// The registered IBAN length of a country, if it is in the table.
pub fn iban_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|&(_, n)| n)
}

/// An IBAN in electronic format (no spaces, upper case): known country and length, ISO 13616
/// mod-97 check, and for Finland and Åland also the national Luhn check of the account number.
pub fn is_valid_iban(iban: &str) -> bool {
    let b = iban.as_bytes();
    if b.len() < 15
        || !b
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    let country = &iban[..2];
    if iban_length(country) != Some(b.len()) || !b[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A' + 10)) % 97;
        }
    }
    if rem != 1 {
        return false;
    }
    match country {
        "FI" | "AX" => luhn_valid(&iban[4..]),
        _ => true,
    }
}

/// A payment card number (digits only): 13–19 digits, a known issuer prefix (Visa, Mastercard,
/// American Express, Discover/UnionPay, JCB, Diners, Maestro) and the Luhn check.
pub fn is_valid_card(digits: &str) -> bool {
    let n = digits.len();
    if !(13..=19).contains(&n) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let p2: u32 = digits[..2].parse().unwrap_or(0);
    let p4: u32 = digits[..4].parse().unwrap_or(0);
    let issuer = digits.starts_with('4')
        || (51..=55).contains(&p2)
        || (2221..=2720).contains(&p4)
        || p2 == 34
        || p2 == 37
        || p2 == 36
        || p2 == 38
        || (300..=305).contains(&(p4 / 10))
        || digits.starts_with('6')
        || (3528..=3589).contains(&p4)
        || p2 == 50
        || (56..=58).contains(&p2);
    issuer && luhn_valid(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hetu_examples() {
        // Published examples (DVV, Wikipedia) and the 2023 signs.
        assert!(is_valid_hetu("131052-308T"));
        assert!(is_valid_hetu("010594Y9032"));
        assert!(is_valid_hetu("010594Y9021"));
        assert!(is_valid_hetu("020594X903P"));
        assert!(is_valid_hetu("020594X902N"));
        assert!(is_valid_hetu("010516B903X"));
        assert!(is_valid_hetu("010516B902W"));
        assert!(is_valid_hetu("020516C903K"));
        assert!(is_valid_hetu("270368A172X"));
        // 2000 was a leap year, 2001 was not.
        assert!(is_valid_hetu("290200A002C"));
        assert!(!is_valid_hetu("290201A002C"));
        // Wrong control character, impossible dates, reserved individual numbers, bad signs.
        assert!(!is_valid_hetu("131052-308U"));
        assert!(!is_valid_hetu("310252-308T"));
        assert!(!is_valid_hetu("131052-000T"));
        assert!(!is_valid_hetu("131052-001T"));
        assert!(!is_valid_hetu("131052G308T"));
        assert!(!is_valid_hetu("131052-308"));
        assert!(!is_valid_hetu("131052-3O8T"));
    }

    #[test]
    fn hetu_separator_is_part_of_the_identity() {
        // Same date and individual number, two century signs of the 1900s: both are valid
        // codes (the control character does not cover the sign), of two different persons.
        assert!(is_valid_hetu("100190-999P"));
        assert!(is_valid_hetu("100190Y999P"));
        assert_eq!(hetu_century(b'-'), hetu_century(b'Y'));
    }

    #[test]
    fn business_ids() {
        assert!(is_valid_business_id("0737546-2"));
        assert!(is_valid_business_id("1572860-0"));
        assert!(!is_valid_business_id("0737546-3"));
        assert!(!is_valid_business_id("07375462"));
        assert!(!is_valid_business_id("0737546-a"));
    }

    #[test]
    fn ibans() {
        assert!(is_valid_iban("FI2112345600000785"));
        assert!(is_valid_iban("DE89370400440532013000"));
        assert!(is_valid_iban("GB29NWBK60161331926819"));
        assert!(is_valid_iban("SE4550000000058398257466"));
        assert!(!is_valid_iban("FI2112345600000786"));
        assert!(!is_valid_iban("FI211234560000078"));
        assert!(!is_valid_iban("ZZ2112345600000785"));
        assert!(!is_valid_iban("fi2112345600000785"));
    }

    #[test]
    fn cards() {
        assert!(is_valid_card("4111111111111111"));
        assert!(is_valid_card("5555555555554444"));
        assert!(is_valid_card("378282246310005"));
        assert!(!is_valid_card("4111111111111112"));
        assert!(!is_valid_card("1111111111111117"));
        assert!(!is_valid_card("411111111111"));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("12345600000785"));
        assert!(luhn_valid("0"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("12a"));
    }
}
