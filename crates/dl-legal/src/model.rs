//! The parsed forms of each reference family.

use chrono::NaiveDate;

use crate::common::{compact, iso};

/// The family (syntax) a reference was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// EU Publications Office ELI, `http://data.europa.eu/eli/...`.
    EurLexEli,
    /// CELEX number, `CELEX:32016R0679`.
    Celex,
    /// Finnish Statute Book ELI, `http://data.finlex.fi/eli/sd/...`.
    FinlexEli,
}

/// The legal order the referenced act belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Jurisdiction {
    /// European Union.
    Eu,
    /// Finland.
    Fi,
}

impl Jurisdiction {
    /// `"EU"` or `"FI"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Jurisdiction::Eu => "EU",
            Jurisdiction::Fi => "FI",
        }
    }
}

/// Which version of an act a reference pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// The act as originally published: EU `/oj`, Finlex `/alkup`, CELEX sector 3.
    Original,
    /// A consolidated version: EU `/{date}`, Finlex `/ajantasa[/{date}]`, CELEX sector 0.
    /// `None` means "the consolidated text" without a date (Finlex `ajantasa` only).
    Consolidated(Option<NaiveDate>),
}

/// The EU ELI `typedoc` values accepted (OJ L legislation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EuActType {
    /// `reg`: regulation.
    Reg,
    /// `reg_impl`: implementing regulation.
    RegImpl,
    /// `reg_del`: delegated regulation.
    RegDel,
    /// `dir`: directive (also an alias of `dir_impl`/`dir_del`).
    Dir,
    /// `dir_impl`: implementing directive.
    DirImpl,
    /// `dir_del`: delegated directive.
    DirDel,
    /// `dec`: decision.
    Dec,
    /// `dec_impl`: implementing decision.
    DecImpl,
    /// `dec_del`: delegated decision.
    DecDel,
}

impl EuActType {
    /// All accepted types.
    pub const ALL: [EuActType; 9] = [
        EuActType::Reg,
        EuActType::RegImpl,
        EuActType::RegDel,
        EuActType::Dir,
        EuActType::DirImpl,
        EuActType::DirDel,
        EuActType::Dec,
        EuActType::DecImpl,
        EuActType::DecDel,
    ];

    /// The `typedoc` path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            EuActType::Reg => "reg",
            EuActType::RegImpl => "reg_impl",
            EuActType::RegDel => "reg_del",
            EuActType::Dir => "dir",
            EuActType::DirImpl => "dir_impl",
            EuActType::DirDel => "dir_del",
            EuActType::Dec => "dec",
            EuActType::DecImpl => "dec_impl",
            EuActType::DecDel => "dec_del",
        }
    }

    /// Looks up a `typedoc` segment (exact, lower case).
    pub fn from_segment(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The CELEX descriptor of this kind of act (`R`, `L` or `D`).
    pub fn celex_descriptor(self) -> char {
        match self {
            EuActType::Reg | EuActType::RegImpl | EuActType::RegDel => 'R',
            EuActType::Dir | EuActType::DirImpl | EuActType::DirDel => 'L',
            EuActType::Dec | EuActType::DecImpl | EuActType::DecDel => 'D',
        }
    }
}

/// Kinds of subdivision (article, chapter, section, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubdivisionKind {
    /// EU article, `art_{n}`.
    Article,
    /// Finnish `osa` (part).
    Part,
    /// Finnish `luku` (chapter).
    Chapter,
    /// Finnish `pykala` (section, §).
    Section,
    /// Finnish `momentti` (subsection).
    Subsection,
    /// Finnish `kohta` (point).
    Point,
}

impl SubdivisionKind {
    /// The Finlex path keyword (`osa`, `luku`, `pykala`, `momentti`, `kohta`); `art` for EU.
    pub fn keyword(self) -> &'static str {
        match self {
            SubdivisionKind::Article => "art",
            SubdivisionKind::Part => "osa",
            SubdivisionKind::Chapter => "luku",
            SubdivisionKind::Section => "pykala",
            SubdivisionKind::Subsection => "momentti",
            SubdivisionKind::Point => "kohta",
        }
    }

    /// Finlex keywords in their mandatory order.
    pub(crate) const FINLEX_ORDER: [SubdivisionKind; 5] = [
        SubdivisionKind::Part,
        SubdivisionKind::Chapter,
        SubdivisionKind::Section,
        SubdivisionKind::Subsection,
        SubdivisionKind::Point,
    ];
}

/// One subdivision step, e.g. chapter `2` or section `9a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subdivision {
    /// Which kind of subdivision.
    pub kind: SubdivisionKind,
    /// Its id: a number without leading zeros, optionally followed by one lowercase letter.
    pub id: String,
}

/// A parsed EU ELI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EuEli {
    pub(crate) act_type: EuActType,
    pub(crate) year: u16,
    pub(crate) number: u32,
    pub(crate) subdivisions: Vec<Subdivision>,
    pub(crate) version: Option<Version>,
    pub(crate) language: Option<&'static str>,
    pub(crate) format: Option<&'static str>,
}

impl EuEli {
    /// The `typedoc`.
    pub fn act_type(&self) -> EuActType {
        self.act_type
    }

    /// Manifestation format (`pdf`, `html`), if given.
    pub fn format(&self) -> Option<&'static str> {
        self.format
    }

    pub(crate) fn render(&self) -> String {
        let mut s = format!(
            "http://data.europa.eu/eli/{}/{}/{}",
            self.act_type.as_str(),
            self.year,
            self.number
        );
        for sub in &self.subdivisions {
            s.push_str("/art_");
            s.push_str(&sub.id);
        }
        match self.version {
            Some(Version::Original) => s.push_str("/oj"),
            Some(Version::Consolidated(Some(d))) => {
                s.push('/');
                s.push_str(&iso(d));
            }
            // Not produced by the parser for EU ELIs; rendered as the version-less work.
            Some(Version::Consolidated(None)) | None => {}
        }
        if let Some(l) = self.language {
            s.push('/');
            s.push_str(l);
            if let Some(f) = self.format {
                s.push('/');
                s.push_str(f);
            }
        }
        s
    }
}

/// CELEX sectors accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CelexSector {
    /// Sector `3`: legislation (legal acts as adopted).
    Legislation,
    /// Sector `0`: consolidated legislation (always with a `-YYYYMMDD` date suffix).
    Consolidated,
}

/// A parsed CELEX number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Celex {
    pub(crate) sector: CelexSector,
    pub(crate) year: u16,
    pub(crate) descriptor: char,
    pub(crate) number: u32,
    pub(crate) sequence: Option<u8>,
    pub(crate) date: Option<NaiveDate>,
}

impl Celex {
    /// The sector.
    pub fn sector(&self) -> CelexSector {
        self.sector
    }

    /// The document-type descriptor letter (`R`, `L`, `D`, ...).
    pub fn descriptor(&self) -> char {
        self.descriptor
    }

    /// The `(NN)` disambiguation suffix, if present.
    pub fn sequence(&self) -> Option<u8> {
        self.sequence
    }

    /// The CELEX number without the `CELEX:` prefix, e.g. `32016R0679` or `02016R0679-20160504`.
    pub fn number_string(&self) -> String {
        let sector = match self.sector {
            CelexSector::Legislation => '3',
            CelexSector::Consolidated => '0',
        };
        let mut s = format!(
            "{sector}{:04}{}{:04}",
            self.year, self.descriptor, self.number
        );
        if let Some(q) = self.sequence {
            s.push_str(&format!("({q:02})"));
        }
        if let Some(d) = self.date {
            s.push('-');
            s.push_str(&compact(d));
        }
        s
    }

    pub(crate) fn render(&self) -> String {
        format!("CELEX:{}", self.number_string())
    }
}

/// A parsed Finlex (Finnish Statute Book, `sd`) ELI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FinlexEli {
    pub(crate) year: u16,
    pub(crate) number: u32,
    pub(crate) subdivisions: Vec<Subdivision>,
    pub(crate) version: Option<Version>,
    pub(crate) language: Option<&'static str>,
}

impl FinlexEli {
    pub(crate) fn render(&self) -> String {
        let mut s = format!("http://data.finlex.fi/eli/sd/{}/{}", self.year, self.number);
        for sub in &self.subdivisions {
            s.push('/');
            s.push_str(sub.kind.keyword());
            s.push('/');
            s.push_str(&sub.id);
        }
        match self.version {
            Some(Version::Original) => s.push_str("/alkup"),
            Some(Version::Consolidated(d)) => {
                s.push_str("/ajantasa");
                if let Some(d) = d {
                    s.push('/');
                    s.push_str(&iso(d));
                }
            }
            None => {}
        }
        if let Some(l) = self.language {
            s.push('/');
            s.push_str(l);
        }
        s
    }
}

/// The parsed content of a [`crate::LegalRef`], by family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// EU ELI.
    EurLexEli(EuEli),
    /// CELEX number.
    Celex(Celex),
    /// Finlex ELI.
    FinlexEli(FinlexEli),
}

/// The 24 EU official languages as ELI language segments (Publications Office codes).
pub(crate) const EU_LANGUAGES: [&str; 24] = [
    "bul", "spa", "ces", "dan", "deu", "est", "ell", "eng", "fra", "gle", "hrv", "ita", "lav",
    "lit", "hun", "mlt", "nld", "pol", "por", "ron", "slk", "slv", "fin", "swe",
];

/// Human-readable list of [`EU_LANGUAGES`] for error messages.
pub(crate) const EU_LANGUAGES_TEXT: &str =
    "bul spa ces dan deu est ell eng fra gle hrv ita lav lit hun mlt nld pol por ron slk slv fin swe";

/// EUR-Lex two-letter UI languages (for `legal-content/{LL}/TXT` URLs).
pub(crate) const EURLEX_UI_LANGUAGES: [&str; 24] = [
    "BG", "ES", "CS", "DA", "DE", "ET", "EL", "EN", "FR", "GA", "HR", "IT", "LV", "LT", "HU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SL", "FI", "SV",
];

/// Finlex language segments.
pub(crate) const FI_LANGUAGES: [&str; 2] = ["fin", "swe"];
