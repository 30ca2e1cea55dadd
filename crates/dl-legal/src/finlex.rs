//! Finlex ELI (`http://data.finlex.fi/eli/sd/...`) and legacy `finlex.fi/{fi|sv}/laki/...` URLs.

use crate::common::{check_subdivision_id, parse_iso_date, parse_natural, parse_year};
use crate::error::{echo, LegalRefError};
use crate::model::{FinlexEli, Subdivision, SubdivisionKind, Version, FI_LANGUAGES};
use crate::{split_segments, ParseOptions};

/// Smallest accepted Finnish statute year (the Swedish Code of 1734 is still partly in force and
/// is in the Finlex collection).
pub const FI_MIN_YEAR: u16 = 1734;

fn subdivision_kind(seg: &str) -> Option<SubdivisionKind> {
    SubdivisionKind::FINLEX_ORDER
        .into_iter()
        .find(|k| k.keyword() == seg)
}

/// Parses the path after `/eli/sd/`.
pub(crate) fn parse(
    path: &str,
    offset: usize,
    opts: &ParseOptions,
) -> Result<FinlexEli, LegalRefError> {
    let segs = split_segments(path, offset)?;
    let mut i = 0;
    let next = |i: &mut usize| -> Option<&str> {
        let s = segs.get(*i).copied();
        if s.is_some() {
            *i += 1;
        }
        s
    };

    let year_seg = next(&mut i).ok_or(LegalRefError::Missing { expected: "year" })?;
    let year = parse_year(year_seg, FI_MIN_YEAR, opts.max_year)?;
    let num_seg = next(&mut i).ok_or(LegalRefError::Missing {
        expected: "statute number",
    })?;
    let number = parse_natural(num_seg, 5)?;

    // Subdivisions: keyword/id pairs in the fixed order osa, luku, pykala, momentti, kohta.
    let mut subdivisions: Vec<Subdivision> = Vec::new();
    while let Some(kind) = segs.get(i).and_then(|s| subdivision_kind(s)) {
        i += 1;
        let id = next(&mut i).ok_or(LegalRefError::InvalidSubdivision {
            found: kind.keyword().to_string(),
            reason: "missing id after the keyword".to_string(),
        })?;
        check_subdivision_id(kind.keyword(), id)?;
        if let Some(prev) = subdivisions.last() {
            if kind <= prev.kind {
                return Err(LegalRefError::InvalidSubdivision {
                    found: format!("{}/{}", kind.keyword(), echo(id)),
                    reason: format!(
                        "`{}` cannot follow `{}`: the order is osa, luku, pykala, momentti, kohta, each at most once",
                        kind.keyword(),
                        prev.kind.keyword()
                    ),
                });
            }
        }
        subdivisions.push(Subdivision {
            kind,
            id: id.to_string(),
        });
    }
    let has = |k| subdivisions.iter().any(|s: &Subdivision| s.kind == k);
    if has(SubdivisionKind::Subsection) && !has(SubdivisionKind::Section) {
        return Err(LegalRefError::InvalidSubdivision {
            found: "momentti".to_string(),
            reason: "`momentti` requires a `pykala`".to_string(),
        });
    }
    if has(SubdivisionKind::Point) && !has(SubdivisionKind::Subsection) {
        return Err(LegalRefError::InvalidSubdivision {
            found: "kohta".to_string(),
            reason: "`kohta` requires a `momentti`".to_string(),
        });
    }

    let mut version = None;
    match next(&mut i) {
        None => {}
        Some("alkup") => version = Some(Version::Original),
        Some("ajantasa") => {
            let mut date = None;
            if let Some(seg) = segs.get(i) {
                if seg.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                    if seg.len() == 8 && seg.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(LegalRefError::InvalidDate {
                            found: echo(seg),
                            reason: "write the consolidation date as YYYY-MM-DD (an 8-digit segment is ambiguous: old Semantic Finlex date or Finlex version number YYYYNNNN)".to_string(),
                        });
                    }
                    date = Some(parse_iso_date(seg, year, opts.max_year)?);
                    i += 1;
                }
            }
            version = Some(Version::Consolidated(date));
        }
        Some(seg) => {
            let expected = if subdivision_kind_like(seg) {
                "a subdivision keyword in lower case (osa, luku, pykala, momentti, kohta)"
            } else if FI_LANGUAGES.contains(&seg) {
                "`alkup` or `ajantasa` before the language"
            } else if seg.contains('.') {
                "`alkup`, `ajantasa` or a subdivision (rendering suffixes such as `.html` or `main.xml` are not part of an identifier)"
            } else {
                "a subdivision (osa, luku, pykala, momentti, kohta), `alkup` or `ajantasa`"
            };
            return Err(LegalRefError::UnexpectedSegment {
                found: echo(seg),
                expected: expected.to_string(),
            });
        }
    }

    let mut language = None;
    if let Some(seg) = next(&mut i) {
        if version == Some(Version::Original)
            && seg.as_bytes().first().is_some_and(u8::is_ascii_digit)
        {
            return Err(LegalRefError::UnexpectedSegment {
                found: echo(seg),
                expected: "`fin` or `swe`: a version date is only allowed after `ajantasa`"
                    .to_string(),
            });
        }
        if subdivision_kind(seg).is_some() {
            return Err(LegalRefError::InvalidSubdivision {
                found: echo(seg),
                reason: "subdivisions (osa/luku/pykala/momentti/kohta) come before `alkup`/`ajantasa` (ELI order: act, subdivision, version, language)".to_string(),
            });
        }
        language = Some(
            FI_LANGUAGES
                .into_iter()
                .find(|l| *l == seg)
                .ok_or_else(|| LegalRefError::InvalidLanguage {
                    found: echo(seg),
                    allowed: "fin, swe",
                })?,
        );
    }

    if let Some(seg) = next(&mut i) {
        return Err(LegalRefError::UnexpectedSegment {
            found: echo(seg),
            expected: "end of identifier after the language".to_string(),
        });
    }

    Ok(FinlexEli {
        year,
        number,
        subdivisions,
        version,
        language,
    })
}

fn subdivision_kind_like(seg: &str) -> bool {
    let lower = seg.to_ascii_lowercase();
    lower != seg && subdivision_kind(&lower).is_some()
}

/// Parses a legacy Finlex web URL path (after the host), e.g.
/// `/fi/laki/ajantasa/2014/20140938#L2P9`, and maps it to the equivalent ELI.
pub(crate) fn parse_legacy(path: &str, opts: &ParseOptions) -> Result<FinlexEli, LegalRefError> {
    let legacy = |m: &str| LegalRefError::LegacyFinlexUrl(m.to_string());
    if path.contains('?') {
        return Err(LegalRefError::QueryOrFragment {
            found: '?',
            hint: "remove the query string from the Finlex URL",
        });
    }
    let (path, fragment) = match path.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (path, None),
    };
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| legacy("missing path"))?;
    let mut segs: Vec<&str> = rest.split('/').collect();
    if segs.len() == 6 && segs[5].is_empty() {
        segs.pop();
        if let Some(hint) = prototype_hint(&segs) {
            return Err(legacy(&hint));
        }
        return Err(legacy("remove the trailing `/`"));
    }
    if let Some(hint) = prototype_hint(&segs) {
        return Err(legacy(&hint));
    }
    let [ui, laki, kind, year_seg, doc] = segs.as_slice() else {
        return Err(legacy(
            "expected exactly /{fi|sv}/laki/{ajantasa|alkup}/{year}/{docid}",
        ));
    };
    let language = match *ui {
        "fi" => "fin",
        "sv" => "swe",
        _ => return Err(legacy("the language part must be `fi` or `sv`")),
    };
    if *laki != "laki" {
        return Err(legacy("only `laki` (statute) URLs can be mapped"));
    }
    let version = match *kind {
        "ajantasa" => Version::Consolidated(None),
        "alkup" => Version::Original,
        _ => return Err(legacy("the collection must be `ajantasa` or `alkup`")),
    };
    let year = parse_year(year_seg, FI_MIN_YEAR, opts.max_year)?;
    let db = doc.as_bytes();
    if db.len() != 8 || !db.iter().all(u8::is_ascii_digit) {
        return Err(legacy("the document id must be 8 digits: year followed by the zero-padded number (e.g. 20140938)"));
    }
    if &doc[..4] != *year_seg {
        return Err(legacy("the document id must start with the year"));
    }
    let number = db[4..]
        .iter()
        .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
    if number == 0 {
        return Err(LegalRefError::InvalidNumber {
            found: echo(doc),
            reason: "number 0 does not exist",
        });
    }

    let mut subdivisions = Vec::new();
    if let Some(f) = fragment {
        subdivisions = parse_legacy_fragment(f)?;
    }

    Ok(FinlexEli {
        year,
        number,
        subdivisions,
        version: Some(version),
        language: Some(language),
    })
}

/// A specific hint for the prototype's invented `laki/{kind}/{year}/{number}` form.
fn prototype_hint(segs: &[&str]) -> Option<String> {
    let [_, "laki", kind @ ("ajantasa" | "alkup"), year, num] = segs else {
        return None;
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if numeric(year) && numeric(num) && num.len() < 8 {
        Some(format!(
            "`{}/{}` is the prototype's year/number form, not a Finlex document id; write http://data.finlex.fi/eli/sd/{}/{}/{}",
            echo(year),
            echo(num),
            echo(year),
            echo(num.trim_start_matches('0')),
            kind
        ))
    } else {
        None
    }
}

/// `L{chapter}`, `P{section}` or `L{chapter}P{section}`.
fn parse_legacy_fragment(f: &str) -> Result<Vec<Subdivision>, LegalRefError> {
    let bad = || {
        LegalRefError::LegacyFinlexUrl(format!(
            "fragment `#{}` is not `#L{{chapter}}`, `#P{{section}}` or `#L{{chapter}}P{{section}}`",
            echo(f)
        ))
    };
    let mut out = Vec::new();
    let mut rest = f;
    if let Some(r) = rest.strip_prefix('L') {
        let end = r.find('P').unwrap_or(r.len());
        let id = &r[..end];
        check_subdivision_id("luku", id).map_err(|_| bad())?;
        out.push(Subdivision {
            kind: SubdivisionKind::Chapter,
            id: id.to_string(),
        });
        rest = &r[end..];
    }
    if let Some(id) = rest.strip_prefix('P') {
        check_subdivision_id("pykala", id).map_err(|_| bad())?;
        out.push(Subdivision {
            kind: SubdivisionKind::Section,
            id: id.to_string(),
        });
        rest = "";
    }
    if !rest.is_empty() || out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}
