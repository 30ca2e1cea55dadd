//! Structure-first PII redaction for Decision Layer's explanations.
//!
//! Three parts, used in this order:
//!
//! 1. [`Policy`]: the function's explanation policy (allow list and always-redact list of JSON
//!    pointers from its manifest). Structure decides first and denies by default: a field that
//!    is not allowed is never shown, whatever it contains.
//! 2. [`Detector`]: detectors for personal data inside the text that *is* shown and in every
//!    object key that appears in a view ([`Entity`]): checksum-validated identifiers (Finnish
//!    personal identity code with the 2023 century signs, Y-tunnus, IBAN, payment card, phone,
//!    e-mail incl. internationalised and written-out ones, IP address), read after Unicode
//!    dashes and spaces are normalised; and, by a name gazetteer (Faker's lists, MIT) with
//!    context cues and by patterns, person names, street addresses, dates of birth, Finnish
//!    vehicle plates, passport numbers, old-format Finnish bank accounts and VAT ids.
//!    Other free text (health details, situations) is not detected.
//! 3. [`Pseudonymizer`]: keyed (HMAC-SHA256) pseudonyms for the audiences that must be able to
//!    join on a person without seeing who it is; one key per tenant, derived from the
//!    configured one ([`Pseudonymizer::for_tenant`], [`Redactor::for_tenant`]).
//!
//! [`Redactor::redact`] makes the view of a document for an [`Audience`] with a [`Manifest`] of
//! what was left out. The detectors' precision, recall and leak are measured on the labelled
//! Finnish/Swedish/English corpora in `corpus/` (`tests/corpus.rs`; numbers in `BENCHMARKS.md`).

pub mod checks;
mod detect;
mod people;
mod policy;
mod pseudonym;

pub use detect::{Detector, Entity, Finding};
pub use policy::{Audience, Manifest, Masked, Policy, RedactedView, Redactor, MAX_SHOWN_CHARS};
pub use pseudonym::{Pseudonymizer, MIN_KEY_BYTES, TENANT_KEY_SALT};

/// Why a policy, key or view could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A field pattern that is not a JSON pointer (`/a/b`, `*` for any one key or index).
    #[error("field pattern {0:?} is not a JSON pointer such as /applicant/age")]
    BadPointer(String),
    /// A pseudonym key shorter than [`MIN_KEY_BYTES`].
    #[error("pseudonym key has {0} bytes; at least {MIN_KEY_BYTES} are required")]
    ShortKey(usize),
    /// A key id outside `[A-Za-z0-9_-]{1,32}`.
    #[error("pseudonym key id {0:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    BadKeyId(String),
    /// A tenant id outside `[a-z0-9][a-z0-9-]{0,31}` (no key is derived for it).
    #[error("tenant {0:?} must be 1-32 characters of a-z 0-9 -, the first a letter or digit")]
    BadTenant(String),
    /// The audience gets pseudonyms but no key is configured (fail closed).
    #[error("views for {} need a pseudonym key and none is configured", .0.as_str())]
    NoPseudonymKey(Audience),
    /// An audience name that is not `subject`, `case_worker` or `auditor`.
    #[error("unknown audience {0:?} (subject, case_worker, auditor)")]
    UnknownAudience(String),
}
