//! EU Publications Office ELI: `http://data.europa.eu/eli/{typedoc}/{year}/{number}/...`.

use crate::common::{check_subdivision_id, parse_iso_date, parse_natural, parse_year};
use crate::error::{echo, LegalRefError};
use crate::model::{
    EuActType, EuEli, Subdivision, SubdivisionKind, Version, EU_LANGUAGES, EU_LANGUAGES_TEXT,
};
use crate::{split_segments, ParseOptions};

/// Smallest accepted EU year (ECSC legislation starts in the 1950s).
pub const EU_MIN_YEAR: u16 = 1950;

/// Accepted manifestation formats.
const EU_FORMATS: [&str; 2] = ["pdf", "html"];

/// Parses the path after `/eli/`.
pub(crate) fn parse(
    path: &str,
    offset: usize,
    opts: &ParseOptions,
) -> Result<EuEli, LegalRefError> {
    let segs = split_segments(path, offset)?;
    let mut it = segs.into_iter().peekable();

    let ty = it.next().ok_or(LegalRefError::Missing {
        expected: "EU ELI type (e.g. `reg`)",
    })?;
    let act_type = EuActType::from_segment(ty)
        .ok_or_else(|| LegalRefError::UnknownEuType { found: echo(ty) })?;

    let year_seg = it
        .next()
        .ok_or(LegalRefError::Missing { expected: "year" })?;
    let year = parse_year(year_seg, EU_MIN_YEAR, opts.max_year)?;

    let num_seg = it.next().ok_or(LegalRefError::Missing {
        expected: "natural number",
    })?;
    let number = parse_natural(num_seg, 5)?;

    let mut subdivisions = Vec::new();
    if let Some(seg) = it.peek().copied() {
        if let Some(id) = seg.strip_prefix("art_") {
            check_subdivision_id("art", id)?;
            subdivisions.push(Subdivision {
                kind: SubdivisionKind::Article,
                id: id.to_string(),
            });
            it.next();
        }
    }

    let mut version = None;
    if let Some(seg) = it.next() {
        if seg == "oj" {
            version = Some(Version::Original);
        } else if seg.len() == 8 && seg.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LegalRefError::InvalidDate {
                found: echo(seg),
                reason: "EU consolidated versions use YYYY-MM-DD".to_string(),
            });
        } else if seg.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            let d = parse_iso_date(seg, year, opts.max_year)?;
            version = Some(Version::Consolidated(Some(d)));
        } else if seg == "corrigendum" {
            return Err(LegalRefError::UnexpectedSegment {
                found: "corrigendum".to_string(),
                expected:
                    "`oj` or a consolidation date: corrigenda are not accepted as legal references"
                        .to_string(),
            });
        } else if seg.starts_with("art_") {
            return Err(LegalRefError::InvalidSubdivision {
                found: echo(seg),
                reason: "only one article part is allowed, directly after the number".to_string(),
            });
        } else {
            let expected = if subdivisions.is_empty() {
                "`art_{n}`, `oj` or a consolidation date YYYY-MM-DD"
            } else {
                "`oj` or a consolidation date YYYY-MM-DD"
            };
            return Err(LegalRefError::UnexpectedSegment {
                found: echo(seg),
                expected: expected.to_string(),
            });
        }
    }

    let mut language = None;
    if let Some(seg) = it.next() {
        language = Some(
            EU_LANGUAGES
                .into_iter()
                .find(|l| *l == seg)
                .ok_or_else(|| LegalRefError::InvalidLanguage {
                    found: echo(seg),
                    allowed: EU_LANGUAGES_TEXT,
                })?,
        );
    }

    let mut format = None;
    if let Some(seg) = it.next() {
        format = Some(
            EU_FORMATS
                .into_iter()
                .find(|f| *f == seg)
                .ok_or_else(|| LegalRefError::InvalidFormat { found: echo(seg) })?,
        );
    }

    if let Some(seg) = it.next() {
        return Err(LegalRefError::UnexpectedSegment {
            found: echo(seg),
            expected: "end of identifier after the format".to_string(),
        });
    }

    Ok(EuEli {
        act_type,
        year,
        number,
        subdivisions,
        version,
        language,
        format,
    })
}
