//! Legal references: strict parsing of EUR-Lex ELI, CELEX and Finlex ELI identifiers.
//!
//! [`LegalRef::parse`] accepts exactly the grammar documented in this crate's `README.md`,
//! normalises equivalent spellings to one canonical string ([`LegalRef::as_str`]) and refuses
//! everything else with a [`LegalRefError`] that says what is wrong.
//!
//! ```
//! use dl_legal::{check_citation, Jurisdiction, LegalRef};
//!
//! let gdpr = LegalRef::parse("http://data.europa.eu/eli/reg/2016/679/oj").unwrap();
//! assert_eq!(gdpr.jurisdiction(), Jurisdiction::Eu);
//! assert_eq!((gdpr.year(), gdpr.number()), (2016, 679));
//!
//! let act = LegalRef::parse("http://data.finlex.fi/eli/sd/2014/938/ajantasa").unwrap();
//! let sec = LegalRef::parse("http://data.finlex.fi/eli/sd/2014/938/luku/2/pykala/9").unwrap();
//! assert_eq!(sec.section(), Some("9"));
//! assert!(check_citation(&[gdpr, act], &sec));
//! ```
//!
//! Parsing never panics, never allocates more than a small multiple of [`MAX_LEN`], and is
//! deterministic for a given [`ParseOptions`] (the default options read the clock once to
//! compute the latest plausible year).

mod celex;
mod common;
mod error;
mod eu;
mod finlex;
mod model;

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

pub use error::{LegalRefError, MAX_ECHO};
pub use eu::EU_MIN_YEAR;
pub use finlex::FI_MIN_YEAR;
pub use model::{
    Celex, CelexSector, EuActType, EuEli, Family, FinlexEli, Jurisdiction, RefKind, Subdivision,
    SubdivisionKind, Version,
};

use error::echo;

/// Maximum accepted input length in bytes. Real identifiers are well under 150 bytes.
pub const MAX_LEN: usize = 512;

/// Options for [`LegalRef::parse_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Latest plausible year for acts and version dates (inclusive). [`Default`] uses the current
    /// UTC year + 1, so that acts published early next year are accepted.
    pub max_year: u16,
}

impl Default for ParseOptions {
    fn default() -> Self {
        let year = chrono::Utc::now().year().saturating_add(1);
        Self {
            max_year: u16::try_from(year).unwrap_or(u16::MAX),
        }
    }
}

impl ParseOptions {
    /// Options with a fixed latest year (use this for deterministic behaviour, e.g. in tests).
    pub fn with_max_year(max_year: u16) -> Self {
        Self { max_year }
    }
}

/// A validated legal reference, held in its canonical (normalised) form.
///
/// Equality, ordering and hashing use the canonical form, so two spellings of the same
/// identifier (e.g. `https://` vs `http://`, legacy Finlex URL vs ELI) compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegalRef {
    iri: String,
    kind: RefKind,
}

impl LegalRef {
    /// Parses and validates a reference with [`ParseOptions::default`].
    pub fn parse(raw: &str) -> Result<Self, LegalRefError> {
        Self::parse_with(raw, &ParseOptions::default())
    }

    /// Parses and validates a reference with explicit options.
    pub fn parse_with(raw: &str, opts: &ParseOptions) -> Result<Self, LegalRefError> {
        check_characters(raw)?;
        let kind = dispatch(raw, opts)?;
        Ok(Self::from_kind(kind))
    }

    fn from_kind(kind: RefKind) -> Self {
        let iri = match &kind {
            RefKind::EurLexEli(e) => e.render(),
            RefKind::Celex(c) => c.render(),
            RefKind::FinlexEli(f) => f.render(),
        };
        Self { iri, kind }
    }

    /// The canonical string: an `http://` ELI IRI, or `CELEX:{number}`.
    pub fn as_str(&self) -> &str {
        &self.iri
    }

    /// The parsed content.
    pub fn kind(&self) -> &RefKind {
        &self.kind
    }

    /// The family the reference belongs to.
    pub fn family(&self) -> Family {
        match self.kind {
            RefKind::EurLexEli(_) => Family::EurLexEli,
            RefKind::Celex(_) => Family::Celex,
            RefKind::FinlexEli(_) => Family::FinlexEli,
        }
    }

    /// EU for EUR-Lex ELI and CELEX, FI for Finlex.
    pub fn jurisdiction(&self) -> Jurisdiction {
        match self.kind {
            RefKind::EurLexEli(_) | RefKind::Celex(_) => Jurisdiction::Eu,
            RefKind::FinlexEli(_) => Jurisdiction::Fi,
        }
    }

    /// Year of the act (e.g. 2016 for GDPR, 2014 for 938/2014).
    pub fn year(&self) -> u16 {
        match &self.kind {
            RefKind::EurLexEli(e) => e.year,
            RefKind::Celex(c) => c.year,
            RefKind::FinlexEli(f) => f.year,
        }
    }

    /// Number of the act (e.g. 679 for GDPR, 938 for 938/2014).
    pub fn number(&self) -> u32 {
        match &self.kind {
            RefKind::EurLexEli(e) => e.number,
            RefKind::Celex(c) => c.number,
            RefKind::FinlexEli(f) => f.number,
        }
    }

    /// The pinned version, if any (`None`: the act in general, no version pinned).
    pub fn version(&self) -> Option<Version> {
        match &self.kind {
            RefKind::EurLexEli(e) => e.version,
            RefKind::Celex(c) => Some(match c.sector {
                CelexSector::Legislation => Version::Original,
                CelexSector::Consolidated => Version::Consolidated(c.date),
            }),
            RefKind::FinlexEli(f) => f.version,
        }
    }

    /// The consolidation date, if the reference pins a dated consolidated version.
    pub fn consolidated_date(&self) -> Option<NaiveDate> {
        match self.version() {
            Some(Version::Consolidated(d)) => d,
            _ => None,
        }
    }

    /// The language (three-letter code such as `eng`, `fin`, `swe`), if given.
    pub fn language(&self) -> Option<&'static str> {
        match &self.kind {
            RefKind::EurLexEli(e) => e.language,
            RefKind::Celex(_) => None,
            RefKind::FinlexEli(f) => f.language,
        }
    }

    /// The EU ELI `typedoc`, for EUR-Lex ELIs.
    pub fn eu_act_type(&self) -> Option<EuActType> {
        match &self.kind {
            RefKind::EurLexEli(e) => Some(e.act_type),
            _ => None,
        }
    }

    /// Subdivision path (article; or osa/luku/pykala/momentti/kohta), outermost first.
    pub fn subdivisions(&self) -> &[Subdivision] {
        match &self.kind {
            RefKind::EurLexEli(e) => &e.subdivisions,
            RefKind::Celex(_) => &[],
            RefKind::FinlexEli(f) => &f.subdivisions,
        }
    }

    fn subdivision(&self, kind: SubdivisionKind) -> Option<&str> {
        self.subdivisions()
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.id.as_str())
    }

    /// EU article id (`art_{id}`).
    pub fn article(&self) -> Option<&str> {
        self.subdivision(SubdivisionKind::Article)
    }

    /// Finnish part (`osa`) id.
    pub fn part(&self) -> Option<&str> {
        self.subdivision(SubdivisionKind::Part)
    }

    /// Finnish chapter (`luku`) id.
    pub fn chapter(&self) -> Option<&str> {
        self.subdivision(SubdivisionKind::Chapter)
    }

    /// Finnish section (`pykala`, §) id.
    pub fn section(&self) -> Option<&str> {
        self.subdivision(SubdivisionKind::Section)
    }

    /// Finnish subsection (`momentti`) id.
    pub fn subsection(&self) -> Option<&str> {
        self.subdivision(SubdivisionKind::Subsection)
    }

    /// Finnish point (`kohta`) id.
    pub fn point(&self) -> Option<&str> {
        self.subdivision(SubdivisionKind::Point)
    }

    /// True when the reference names a whole act (no article/chapter/section parts).
    pub fn is_act_level(&self) -> bool {
        self.subdivisions().is_empty()
    }

    /// The same reference without subdivision parts (version, language and format are kept).
    pub fn act_level(&self) -> LegalRef {
        let mut kind = self.kind.clone();
        match &mut kind {
            RefKind::EurLexEli(e) => e.subdivisions.clear(),
            RefKind::Celex(_) => {}
            RefKind::FinlexEli(f) => f.subdivisions.clear(),
        }
        Self::from_kind(kind)
    }

    /// The canonical string of [`LegalRef::act_level`].
    pub fn act_iri(&self) -> String {
        self.act_level().iri
    }

    /// The CELEX number of the act itself (sector 3, e.g. `32016R0679`) for EU references.
    /// Implementing/delegated types map to the same descriptor as their base type (`R`, `L`, `D`).
    pub fn base_celex(&self) -> Option<String> {
        let (descriptor, sequence) = match &self.kind {
            RefKind::EurLexEli(e) => (e.act_type.celex_descriptor(), None),
            RefKind::Celex(c) => (c.descriptor, c.sequence),
            RefKind::FinlexEli(_) => return None,
        };
        let c = Celex {
            sector: CelexSector::Legislation,
            year: self.year(),
            descriptor,
            number: self.number(),
            sequence,
            date: None,
        };
        Some(c.number_string())
    }

    /// Identity of the act regardless of family, version, language and subdivision.
    fn act_key(&self) -> (Jurisdiction, char, u16, u32, Option<u8>) {
        match &self.kind {
            RefKind::EurLexEli(e) => (
                Jurisdiction::Eu,
                e.act_type.celex_descriptor(),
                e.year,
                e.number,
                None,
            ),
            RefKind::Celex(c) => (Jurisdiction::Eu, c.descriptor, c.year, c.number, c.sequence),
            RefKind::FinlexEli(f) => (Jurisdiction::Fi, 'S', f.year, f.number, None),
        }
    }

    /// True when both references name the same act (an EU ELI and a CELEX number of the same
    /// regulation/directive/decision are the same act; `reg`, `reg_impl` and `reg_del` of the same
    /// year and number are the same act).
    pub fn same_act(&self, other: &LegalRef) -> bool {
        self.act_key() == other.act_key()
    }

    /// Whether this (declared) reference covers the `cited` one. See [`check_citation`].
    pub fn covers(&self, cited: &LegalRef) -> bool {
        if !self.same_act(cited) {
            return false;
        }
        let d = self.subdivisions();
        let c = cited.subdivisions();
        if d.len() > c.len() || d != &c[..d.len()] {
            return false;
        }
        if !versions_compatible(self.version(), cited.version()) {
            return false;
        }
        match (self.language(), cited.language()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

fn versions_compatible(declared: Option<Version>, cited: Option<Version>) -> bool {
    match (declared, cited) {
        (None, _) | (_, None) => true,
        (Some(Version::Original), Some(Version::Original)) => true,
        (Some(Version::Consolidated(a)), Some(Version::Consolidated(b))) => match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        },
        _ => false,
    }
}

/// Whether `cited` (e.g. the legal reference of a decision reason) is covered by one of the
/// `declared` references (the function's legal basis).
///
/// Rule: some declared reference `d` must
/// 1. name the same act ([`LegalRef::same_act`]; EU ELI and CELEX forms of one act match);
/// 2. have a subdivision path that is a prefix of the cited one (an act-level reference covers
///    every article/chapter/section of that act; `luku/2` covers `luku/2/pykala/9` but not
///    `pykala/9`, which in a chaptered act is a different provision);
/// 3. pin a compatible version: when both pin one, original vs consolidated must agree and, when
///    both carry a consolidation date, the dates must be equal (no silent fallback between the
///    original act and a consolidated version); a side that pins nothing matches any version;
/// 4. have a compatible language: when both specify one, they must be equal.
///
/// The manifestation format (EU `pdf`/`html`) is ignored.
pub fn check_citation(declared: &[LegalRef], cited: &LegalRef) -> bool {
    covering_reference(declared, cited).is_some()
}

/// The first declared reference that covers `cited` (same rule as [`check_citation`]).
pub fn covering_reference<'a>(declared: &'a [LegalRef], cited: &LegalRef) -> Option<&'a LegalRef> {
    declared.iter().find(|d| d.covers(cited))
}

impl fmt::Display for LegalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iri)
    }
}

impl AsRef<str> for LegalRef {
    fn as_ref(&self) -> &str {
        &self.iri
    }
}

impl PartialOrd for LegalRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LegalRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iri.cmp(&other.iri)
    }
}

impl FromStr for LegalRef {
    type Err = LegalRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for LegalRef {
    type Error = LegalRefError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl serde::Serialize for LegalRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iri)
    }
}

impl<'de> serde::Deserialize<'de> for LegalRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        LegalRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Length and character-class checks done before any grammar work.
fn check_characters(raw: &str) -> Result<(), LegalRefError> {
    if raw.is_empty() {
        return Err(LegalRefError::Empty);
    }
    if raw.len() > MAX_LEN {
        return Err(LegalRefError::TooLong {
            len: raw.len(),
            max: MAX_LEN,
        });
    }
    for (position, c) in raw.char_indices() {
        if c.is_whitespace() {
            return Err(LegalRefError::Whitespace { position });
        }
        if c.is_control() {
            return Err(LegalRefError::ControlCharacter { position });
        }
        if !c.is_ascii() {
            return Err(LegalRefError::NonAscii {
                position,
                character: c,
            });
        }
    }
    Ok(())
}

const FORMS_HINT: &str = "expected http://data.europa.eu/eli/{type}/{year}/{number}/..., CELEX:{sector}{year}{type}{number} or http://data.finlex.fi/eli/sd/{year}/{number}/...";

/// Routes an ASCII, whitespace-free input to the right family parser.
fn dispatch(raw: &str, opts: &ParseOptions) -> Result<RefKind, LegalRefError> {
    if let Some(idx) = raw.find("://") {
        return parse_url(raw, idx, opts);
    }
    if raw.len() >= 6 && raw[..6].eq_ignore_ascii_case("celex:") {
        return celex::parse(&raw[6..], opts).map(RefKind::Celex);
    }
    if raw.as_bytes()[0].is_ascii_digit() {
        return celex::parse(raw, opts).map(RefKind::Celex);
    }
    let lower = raw.to_ascii_lowercase();
    let hint = if lower.starts_with("data.europa.eu")
        || lower.starts_with("eur-lex.europa.eu")
        || lower.starts_with("data.finlex.fi")
        || lower.starts_with("finlex.fi")
        || lower.starts_with("www.")
    {
        format!("`{}` lacks the scheme: prefix it with http://", echo(raw))
    } else if lower.starts_with("eli/") || lower.starts_with("/eli/") {
        format!("`{}` is a relative ELI path: use the full http://data.europa.eu/eli/... or http://data.finlex.fi/eli/... IRI", echo(raw))
    } else if lower.starts_with("celex") {
        format!(
            "`{}`: write CELEX numbers as CELEX:32016R0679 or 32016R0679",
            echo(raw)
        )
    } else if let Some((scheme, _)) = lower.split_once(':') {
        format!("`{}` scheme is not accepted; {FORMS_HINT}", echo(scheme))
    } else {
        format!("`{}`; {FORMS_HINT}", echo(raw))
    };
    Err(LegalRefError::Unsupported(hint))
}

fn parse_url(raw: &str, scheme_end: usize, opts: &ParseOptions) -> Result<RefKind, LegalRefError> {
    let scheme = &raw[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(LegalRefError::UnsupportedScheme {
            scheme: echo(scheme),
        });
    }
    let after = &raw[scheme_end + 3..];
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..auth_end];
    let path = &after[auth_end..];
    let path_offset = scheme_end + 3 + auth_end;
    if authority.is_empty() {
        return Err(LegalRefError::MalformedUrl("empty host".to_string()));
    }
    if authority.contains('@') {
        return Err(LegalRefError::MalformedUrl(
            "user info (`user@`) is not allowed".to_string(),
        ));
    }
    if authority.contains(':') {
        return Err(LegalRefError::MalformedUrl(
            "an explicit port is not allowed".to_string(),
        ));
    }
    let host = authority.to_ascii_lowercase();
    match host.as_str() {
        "data.europa.eu" | "eur-lex.europa.eu" => {
            if let Some(rest) = path.strip_prefix("/eli/") {
                return eu::parse(rest, path_offset + 5, opts).map(RefKind::EurLexEli);
            }
            if host == "eur-lex.europa.eu" {
                if let Some(rest) = path.strip_prefix("/legal-content/") {
                    return parse_legal_content(rest, opts).map(RefKind::Celex);
                }
                return Err(LegalRefError::MalformedUrl(
                    "on eur-lex.europa.eu only /eli/... and /legal-content/{LL}/TXT/?uri=CELEX:... are accepted".to_string(),
                ));
            }
            Err(LegalRefError::MalformedUrl(
                "an EU ELI path must start with /eli/ (http://data.europa.eu/eli/{type}/{year}/{number}/...)".to_string(),
            ))
        }
        "data.finlex.fi" => {
            if let Some(rest) = path.strip_prefix("/eli/sd/") {
                return finlex::parse(rest, path_offset + 8, opts).map(RefKind::FinlexEli);
            }
            if path.starts_with("/eli/") {
                return Err(LegalRefError::MalformedUrl(
                    "only the Statute Book collection `sd` is accepted (http://data.finlex.fi/eli/sd/...)".to_string(),
                ));
            }
            Err(LegalRefError::MalformedUrl(
                "a Finlex ELI path must start with /eli/sd/".to_string(),
            ))
        }
        "finlex.fi" | "www.finlex.fi" => {
            if path.starts_with("/eli") {
                return Err(LegalRefError::MalformedUrl(
                    "Finlex ELIs live on data.finlex.fi: use http://data.finlex.fi/eli/sd/... (the finlex.fi/eli?uri= resolver is not an identifier)".to_string(),
                ));
            }
            finlex::parse_legacy(path, opts).map(RefKind::FinlexEli)
        }
        _ => Err(LegalRefError::UnsupportedHost { host: echo(&host) }),
    }
}

/// `{LL}/TXT/?uri=CELEX:{celex}` (also `TXT/HTML/`, `TXT/PDF/`, and `CELEX%3A`).
fn parse_legal_content(rest: &str, opts: &ParseOptions) -> Result<Celex, LegalRefError> {
    let bad = |m: &str| LegalRefError::MalformedUrl(format!("EUR-Lex legal-content URL: {m}"));
    let (lang, rest) = rest
        .split_once('/')
        .ok_or_else(|| bad("missing language"))?;
    if !model::EURLEX_UI_LANGUAGES.contains(&lang) {
        return Err(bad(
            "the language must be an upper-case EU language code such as EN or FI",
        ));
    }
    let query = ["TXT/?", "TXT/HTML/?", "TXT/PDF/?"]
        .into_iter()
        .find_map(|p| rest.strip_prefix(p))
        .ok_or_else(|| bad("expected TXT/?uri=CELEX:..."))?;
    let body = query
        .strip_prefix("uri=CELEX:")
        .or_else(|| query.strip_prefix("uri=CELEX%3A"))
        .ok_or_else(|| bad("expected the single query parameter uri=CELEX:..."))?;
    if body.contains(['&', '#', '?']) {
        return Err(bad("extra query parameters or fragments are not allowed"));
    }
    celex::parse(body, opts)
}

/// Splits an ELI path tail on `/`, refusing queries, fragments and empty segments.
pub(crate) fn split_segments(path: &str, offset: usize) -> Result<Vec<&str>, LegalRefError> {
    if let Some(i) = path.find(['?', '#']) {
        let found = char::from(path.as_bytes()[i]);
        return Err(LegalRefError::QueryOrFragment {
            found,
            hint: "ELIs carry no query string or fragment; express articles/sections as path parts",
        });
    }
    if path.is_empty() {
        return Err(LegalRefError::Missing {
            expected: "path after /eli/",
        });
    }
    let mut out = Vec::new();
    let mut pos = 0;
    for seg in path.split('/') {
        if seg.is_empty() {
            return Err(LegalRefError::EmptySegment {
                position: offset + pos,
            });
        }
        out.push(seg);
        pos += seg.len() + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_truncates() {
        let long = "x".repeat(200);
        assert_eq!(echo(&long).chars().count(), MAX_ECHO + 1);
    }

    #[test]
    fn default_options_are_plausible() {
        assert!(ParseOptions::default().max_year >= 2025);
    }
}
