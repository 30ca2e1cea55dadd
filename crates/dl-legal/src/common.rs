//! Small shared lexers: years, natural numbers, ISO dates, subdivision ids.

use chrono::{Datelike, NaiveDate};

use crate::error::{echo, LegalRefError};

/// Parses a four-digit year and checks it against `min..=max`.
pub(crate) fn parse_year(seg: &str, min: u16, max: u16) -> Result<u16, LegalRefError> {
    if seg.len() != 4 || !seg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LegalRefError::InvalidYear { found: echo(seg) });
    }
    let year: u16 = seg
        .parse()
        .map_err(|_| LegalRefError::InvalidYear { found: echo(seg) })?;
    if year < min || year > max {
        return Err(LegalRefError::YearOutOfRange { year, min, max });
    }
    Ok(year)
}

/// Parses a natural number written without leading zeros, `1..=max`, at most `max_digits` digits.
pub(crate) fn parse_natural(seg: &str, max_digits: usize) -> Result<u32, LegalRefError> {
    let err = |reason| LegalRefError::InvalidNumber {
        found: echo(seg),
        reason,
    };
    if seg.is_empty() {
        return Err(err("empty"));
    }
    if !seg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("expected decimal digits only"));
    }
    if seg == "0" || seg.bytes().all(|b| b == b'0') {
        return Err(err("number 0 does not exist"));
    }
    if seg.starts_with('0') {
        return Err(err("no leading zeros in ELI numbers"));
    }
    if seg.len() > max_digits {
        return Err(err("too many digits"));
    }
    seg.parse().map_err(|_| err("not a number"))
}

/// Parses `YYYY-MM-DD` (exactly that layout) into a calendar-checked date and checks its year.
pub(crate) fn parse_iso_date(
    seg: &str,
    min_year: u16,
    max_year: u16,
) -> Result<NaiveDate, LegalRefError> {
    let b = seg.as_bytes();
    let layout_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !layout_ok {
        return Err(LegalRefError::InvalidDate {
            found: echo(seg),
            reason: "expected YYYY-MM-DD".to_string(),
        });
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    date_from_parts(seg, num(0..4), num(5..7), num(8..10), min_year, max_year)
}

/// Parses a compact `YYYYMMDD` date (used by CELEX consolidated suffixes).
pub(crate) fn parse_compact_date(
    seg: &str,
    min_year: u16,
    max_year: u16,
) -> Result<NaiveDate, LegalRefError> {
    let b = seg.as_bytes();
    if b.len() != 8 || !b.iter().all(|c| c.is_ascii_digit()) {
        return Err(LegalRefError::InvalidDate {
            found: echo(seg),
            reason: "expected YYYYMMDD".to_string(),
        });
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    date_from_parts(seg, num(0..4), num(4..6), num(6..8), min_year, max_year)
}

fn date_from_parts(
    seg: &str,
    y: u32,
    m: u32,
    d: u32,
    min_year: u16,
    max_year: u16,
) -> Result<NaiveDate, LegalRefError> {
    let year = i32::try_from(y).unwrap_or(i32::MAX);
    let date = NaiveDate::from_ymd_opt(year, m, d).ok_or_else(|| LegalRefError::InvalidDate {
        found: echo(seg),
        reason: "not a calendar date".to_string(),
    })?;
    if y < u32::from(min_year) || y > u32::from(max_year) {
        return Err(LegalRefError::InvalidDate {
            found: echo(seg),
            reason: format!("year must be within {min_year}..={max_year} (not before the act's year, not after the latest plausible year)"),
        });
    }
    Ok(date)
}

/// Formats a date as `YYYY-MM-DD`.
pub(crate) fn iso(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// Formats a date as `YYYYMMDD`.
pub(crate) fn compact(date: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

/// Validates a subdivision id: `[1-9][0-9]{0,3}` optionally followed by one lowercase letter
/// (`9`, `9a`, `2a`).
pub(crate) fn check_subdivision_id(kind: &str, id: &str) -> Result<(), LegalRefError> {
    let err = |reason: &str| LegalRefError::InvalidSubdivision {
        found: format!("{kind}/{}", echo(id)),
        reason: reason.to_string(),
    };
    let b = id.as_bytes();
    let digits = match b.last() {
        Some(c) if c.is_ascii_lowercase() => &b[..b.len() - 1],
        Some(c) if c.is_ascii_uppercase() => {
            return Err(err("letter suffix must be lowercase (e.g. `9a`)"))
        }
        Some(_) => b,
        None => return Err(err("empty id")),
    };
    if digits.is_empty() || !digits.iter().all(|c| c.is_ascii_digit()) {
        return Err(err(
            "expected a number optionally followed by one lowercase letter (e.g. `9` or `9a`)",
        ));
    }
    if digits[0] == b'0' {
        return Err(err("number must start with 1-9 (no 0, no leading zeros)"));
    }
    if digits.len() > 4 {
        return Err(err("number has too many digits"));
    }
    Ok(())
}
