//! The error type returned when a legal reference is refused.

use thiserror::Error;

/// Why a legal reference was refused.
///
/// Every variant says *what* is wrong and, where it helps, what was expected instead. Values
/// echoed from the input are truncated (see [`MAX_ECHO`]) so that an error message never carries
/// a huge payload.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegalRefError {
    /// The input is empty.
    #[error("empty legal reference")]
    Empty,

    /// The input is longer than [`crate::MAX_LEN`] bytes.
    #[error("legal reference is {len} bytes long; the maximum is {max}")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The accepted maximum.
        max: usize,
    },

    /// The input contains whitespace (leading, trailing or inside). It is never trimmed silently.
    #[error("whitespace at byte {position}: legal references must not contain spaces, tabs or newlines (trim the value)")]
    Whitespace {
        /// Byte offset of the first whitespace character.
        position: usize,
    },

    /// The input contains an ASCII control character.
    #[error("control character at byte {position}")]
    ControlCharacter {
        /// Byte offset of the first control character.
        position: usize,
    },

    /// The input contains a non-ASCII character (for example a Cyrillic look-alike of a Latin
    /// letter, or a typographic dash). All accepted forms are pure ASCII.
    #[error("non-ASCII character {character:?} (U+{code:04X}) at byte {position}: legal references are ASCII only (look-alike characters are refused)", code = *.character as u32)]
    NonAscii {
        /// Byte offset of the character.
        position: usize,
        /// The offending character.
        character: char,
    },

    /// The input matches none of the supported families. The message lists the accepted forms.
    #[error("unsupported legal reference format: {0}")]
    Unsupported(String),

    /// A URL with a scheme other than `http`/`https`.
    #[error("unsupported URL scheme `{scheme}` (only http:// and https:// are accepted)")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },

    /// A URL whose host is not one of the allow-listed publishers.
    #[error("unsupported host `{host}` (accepted: data.europa.eu, eur-lex.europa.eu, data.finlex.fi, finlex.fi, www.finlex.fi)")]
    UnsupportedHost {
        /// The host found (lower-cased).
        host: String,
    },

    /// A URL that is structurally wrong (port, user info, empty host, wrong path prefix, ...).
    #[error("malformed URL: {0}")]
    MalformedUrl(String),

    /// A query string or fragment where none is allowed.
    #[error("unexpected `{found}` in an identifier: {hint}")]
    QueryOrFragment {
        /// `?` or `#`.
        found: char,
        /// What to do instead.
        hint: &'static str,
    },

    /// An empty path segment (`//`) or a trailing `/`.
    #[error("empty path segment at byte {position} (no `//` and no trailing `/` allowed)")]
    EmptySegment {
        /// Byte offset (in the path) where the empty segment starts.
        position: usize,
    },

    /// The EU ELI document type is not one of the supported `typedoc` values.
    #[error("unsupported EU ELI type `{found}` (supported: reg, reg_impl, reg_del, dir, dir_impl, dir_del, dec, dec_impl, dec_del)")]
    UnknownEuType {
        /// The type found.
        found: String,
    },

    /// The year segment is not a four-digit year.
    #[error("invalid year `{found}`: expected four digits")]
    InvalidYear {
        /// The segment found.
        found: String,
    },

    /// The year is outside the plausible range of the family.
    #[error("year {year} is out of range {min}..={max}")]
    YearOutOfRange {
        /// The year found.
        year: u16,
        /// Smallest accepted year.
        min: u16,
        /// Largest accepted year.
        max: u16,
    },

    /// The act number is not valid.
    #[error("invalid number `{found}`: {reason}")]
    InvalidNumber {
        /// The segment found.
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A date segment is malformed or not a calendar date.
    #[error("invalid date `{found}`: {reason}")]
    InvalidDate {
        /// The segment found.
        found: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The language code is not accepted for the family.
    #[error("invalid language `{found}` (accepted: {allowed})")]
    InvalidLanguage {
        /// The segment found.
        found: String,
        /// The accepted codes.
        allowed: &'static str,
    },

    /// The EU manifestation format is not accepted.
    #[error("invalid format `{found}` (accepted: pdf, html)")]
    InvalidFormat {
        /// The segment found.
        found: String,
    },

    /// A path segment that does not fit the grammar at this position.
    #[error("unexpected segment `{found}`: expected {expected}")]
    UnexpectedSegment {
        /// The segment found.
        found: String,
        /// What the grammar allows at this position.
        expected: String,
    },

    /// A path ended where more segments are required.
    #[error("incomplete identifier: missing {expected}")]
    Missing {
        /// What is missing.
        expected: &'static str,
    },

    /// A chapter/section/article part is malformed or out of order.
    #[error("invalid subdivision `{found}`: {reason}")]
    InvalidSubdivision {
        /// The part found.
        found: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A CELEX number that does not follow the `sector year descriptor number` layout.
    #[error("invalid CELEX number `{found}`: {reason}")]
    InvalidCelex {
        /// The CELEX body found.
        found: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A CELEX sector that exists but is not accepted as a legal basis here.
    #[error("CELEX sector `{sector}` ({name}) is not supported: only sector 3 (legislation) and sector 0 (consolidated legislation) are accepted")]
    UnsupportedCelexSector {
        /// The sector character.
        sector: char,
        /// The sector's name in EUR-Lex.
        name: &'static str,
    },

    /// A CELEX descriptor (document type letter) that does not exist in the sector.
    #[error("CELEX descriptor `{descriptor}` does not exist in sector {sector} (sector 3/0 descriptors: A B C D E F G H J K L M O Q R S X Y)")]
    UnknownCelexDescriptor {
        /// The sector character.
        sector: char,
        /// The descriptor found.
        descriptor: String,
    },

    /// A legacy `finlex.fi/{fi|sv}/laki/...` URL that cannot be mapped to an ELI.
    #[error("legacy Finlex URL not understood: {0} (expected https://finlex.fi/fi/laki/ajantasa/YYYY/YYYYNNNN[#LxPy], or use http://data.finlex.fi/eli/sd/YYYY/N/...)")]
    LegacyFinlexUrl(String),
}

/// How many characters of a rejected value are echoed in an error.
pub const MAX_ECHO: usize = 48;

/// Truncates a value for inclusion in an error message (adds `…` when cut).
pub(crate) fn echo(s: &str) -> String {
    let mut out = String::new();
    for (count, c) in s.chars().enumerate() {
        if count == MAX_ECHO {
            out.push('…');
            return out;
        }
        out.push(c);
    }
    out
}
