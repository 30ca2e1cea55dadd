//! CELEX numbers: `{sector}{YYYY}{descriptor}{NNNN}[({NN})][-{YYYYMMDD}]`.

use crate::common::{parse_compact_date, parse_year};
use crate::error::{echo, LegalRefError};
use crate::eu::EU_MIN_YEAR;
use crate::model::{Celex, CelexSector};
use crate::ParseOptions;

/// Document-type descriptors of sector 3 (legal acts), also used by sector 0 (consolidated):
/// A opinions, B budget, C declarations, D decisions, E CFSP acts, F police and judicial
/// cooperation acts, G resolutions, H recommendations, J non-opinions, K ECSC recommendations,
/// L directives, M non-opposition to a notified concentration, O ECB guidelines,
/// Q institutional arrangements, R regulations, S ECSC general decisions, X other OJ L acts,
/// Y other OJ C acts.
const DESCRIPTORS: &str = "ABCDEFGHJKLMOQRSXY";

fn sector_name(c: char) -> Option<&'static str> {
    Some(match c {
        '1' => "treaties",
        '2' => "international agreements",
        '4' => "complementary legislation",
        '5' => "preparatory acts",
        '6' => "case-law",
        '7' => "national transposition measures",
        '8' => "references to national case-law",
        '9' => "parliamentary questions",
        'C' => "other documents published in the OJ C series",
        'E' => "EFTA documents",
        _ => return None,
    })
}

/// Parses a CELEX body (without any `CELEX:` prefix).
pub(crate) fn parse(body: &str, opts: &ParseOptions) -> Result<Celex, LegalRefError> {
    let invalid = |reason: &str| LegalRefError::InvalidCelex {
        found: echo(body),
        reason: reason.to_string(),
    };
    let b = body.as_bytes();
    let Some(&first) = b.first() else {
        return Err(invalid("empty"));
    };
    let sector = match first {
        b'3' => CelexSector::Legislation,
        b'0' => CelexSector::Consolidated,
        other => {
            let c = char::from(other);
            return Err(match sector_name(c) {
                Some(name) => LegalRefError::UnsupportedCelexSector { sector: c, name },
                None if c.is_ascii_lowercase() && sector_name(c.to_ascii_uppercase()).is_some() => {
                    invalid("the sector letter must be upper case")
                }
                None => invalid("the first character must be a sector (0-9, C or E)"),
            });
        }
    };
    let sector_char = char::from(first);

    if b.len() < 5 || !b[1..5].iter().all(u8::is_ascii_digit) {
        return Err(invalid("expected a four-digit year after the sector"));
    }
    let year = parse_year(&body[1..5], EU_MIN_YEAR, opts.max_year)?;

    let Some(&d) = b.get(5) else {
        return Err(invalid("missing document-type descriptor after the year"));
    };
    if d.is_ascii_lowercase() {
        return Err(invalid(
            "the descriptor must be upper case (e.g. `R`, not `r`)",
        ));
    }
    if !d.is_ascii_uppercase() {
        return Err(invalid(
            "expected a document-type descriptor letter after the year",
        ));
    }
    let mut pos = 6;
    let descriptor = char::from(d);
    if b.get(pos).is_some_and(u8::is_ascii_alphabetic) {
        return Err(LegalRefError::UnknownCelexDescriptor {
            sector: sector_char,
            descriptor: echo(&body[5..=pos]),
        });
    }
    if !DESCRIPTORS.contains(descriptor) {
        return Err(LegalRefError::UnknownCelexDescriptor {
            sector: sector_char,
            descriptor: descriptor.to_string(),
        });
    }

    let digits = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 4 {
        return Err(invalid(
            "expected a four-digit, zero-padded document number (e.g. `0679`)",
        ));
    }
    let number = b[pos..pos + 4]
        .iter()
        .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
    if number == 0 {
        return Err(LegalRefError::InvalidNumber {
            found: echo(&body[pos..pos + 4]),
            reason: "number 0 does not exist",
        });
    }
    pos += 4;

    let mut sequence = None;
    if b.get(pos) == Some(&b'(') {
        let ok = b.len() >= pos + 4
            && b[pos + 1].is_ascii_digit()
            && b[pos + 2].is_ascii_digit()
            && b[pos + 3] == b')';
        if !ok {
            return Err(invalid("a sequence suffix must look like `(01)`"));
        }
        let q = (b[pos + 1] - b'0') * 10 + (b[pos + 2] - b'0');
        if q == 0 {
            return Err(invalid("sequence suffix `(00)` does not exist"));
        }
        sequence = Some(q);
        pos += 4;
    }

    if b.get(pos) == Some(&b'R') && b.get(pos + 1) == Some(&b'(') {
        return Err(invalid(
            "corrigenda (`R(NN)` suffix) are not accepted as legal references",
        ));
    }

    let mut date = None;
    if b.get(pos) == Some(&b'-') {
        if sector == CelexSector::Legislation {
            return Err(invalid(
                "a `-YYYYMMDD` consolidation date requires sector 0 (e.g. `02016R0679-20160504`)",
            ));
        }
        let rest = &body[pos + 1..];
        let seg = &rest[..rest.len().min(8)];
        date = Some(parse_compact_date(seg, year, opts.max_year)?);
        pos += 1 + seg.len();
    } else if sector == CelexSector::Consolidated {
        return Err(invalid(
            "sector 0 (consolidated) requires a `-YYYYMMDD` date suffix",
        ));
    }

    if pos != b.len() {
        return Err(invalid(&format!(
            "unexpected trailing characters `{}`",
            echo(&body[pos..])
        )));
    }

    Ok(Celex {
        sector,
        year,
        descriptor,
        number,
        sequence,
        date,
    })
}
