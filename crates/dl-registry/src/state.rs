//! The registry state machine: events folded into id -> versions.
//!
//! [`Registry::apply`] is the only way the state changes. It validates an event against the
//! current state and either applies it or refuses it with a [`RegistryError`]; refused events
//! change nothing. Producers call [`Registry::check`] before producing; followers call
//! [`Registry::apply`] on every event read, so an event that slipped past a producer (two
//! concurrent writers, a foreign producer) is refused identically by every replica, and every
//! replica that reads the same log ends in the same state.
//!
//! Rules:
//! * **Publish**: the package must load (`dl_function::FunctionPackage::from_files`: manifest,
//!   schemas, legal references strictly parsed, at least one), its digest must equal the event's,
//!   and its id/version must equal the event's. The same id + version again is refused: with the
//!   same digest as [`RegistryError::AlreadyPublished`], with another as
//!   [`RegistryError::ImmutableVersion`]. A new version starts as `DRAFT`.
//! * **Approve**: only a `DRAFT`; the digest must be the version's; the approver must be in the
//!   configured [`ApproverSet`] with that key id and allowed that role; the signature must
//!   verify over [`crate::approval_payload`]; the publisher may not approve (self-approval); a
//!   role approved already is refused (duplicate); one person cannot hold both roles. When both
//!   `OWNER` and `REVIEWER` approvals are present, the version is `APPROVED`.
//! * **Activate**: only an `APPROVED` version (so both approvals by two distinct approvers), whose
//!   legal references all parse and none of whose acts is known `REPEALED`.
//! * **Retire**: only an `ACTIVE` version. Retired is final.
//! * **Shadow** (ADR 0032): `SHADOW_SET` names an `APPROVED` or `ACTIVE` version (digest
//!   matching) other than the deciding one (the highest `ACTIVE` version), with a sample of
//!   1..=1000 per mille, by the function's tenant's people; it replaces any earlier shadow of the
//!   function. `SHADOW_CLEARED` removes it (refused when there is none). Retiring the shadow
//!   version clears the shadow.
//! * **Legal reference status changed**: recorded per act; every version citing that act and not
//!   retired is flagged for review (it keeps its state: a person decides).

use dl_schema::tenant::function_tenant;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use dl_function::{FunctionPackage, Manifest};
use dl_legal::LegalRef;
use dl_schema::{ApproverRole, LegalStatus, RegistryEvent, RegistryEventKind};
use thiserror::Error;

use crate::approvers::{verify_approval, ApproverSet};

/// Lifecycle state of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionState {
    /// Published, not yet approved by both roles.
    Draft,
    /// Approved by owner and reviewer; not evaluated yet.
    Approved,
    /// Evaluated for requests within its effective dates.
    Active,
    /// No longer evaluated. Final.
    Retired,
}

impl VersionState {
    /// `DRAFT`, `APPROVED`, `ACTIVE` or `RETIRED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Approved => "APPROVED",
            Self::Active => "ACTIVE",
            Self::Retired => "RETIRED",
        }
    }
}

impl std::fmt::Display for VersionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One verified approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Owner or reviewer.
    pub role: ApproverRole,
    /// Who.
    pub approver_id: String,
    /// With which key.
    pub key_id: String,
    /// base64url Ed25519 signature.
    pub signature: String,
    /// When (ms).
    pub approved_at: i64,
}

/// Who made a transition and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Who.
    pub by: String,
    /// When (ms since the epoch).
    pub at: i64,
    /// Why (retirement only).
    pub reason: Option<String>,
}

/// One published version with its lifecycle.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    /// Function id.
    pub function_id: String,
    /// Semantic version.
    pub version: semver::Version,
    /// Package digest.
    pub digest: String,
    /// The loaded package (manifest, files, schemas, Rego sources, tests).
    pub package: Arc<FunctionPackage>,
    /// Publisher.
    pub author: String,
    /// When published (ms).
    pub published_at: i64,
    /// Lifecycle state.
    pub state: VersionState,
    /// Verified approvals, in order.
    pub approvals: Vec<Approval>,
    /// Activation.
    pub activated: Option<Transition>,
    /// Retirement.
    pub retired: Option<Transition>,
    /// Legal changes that flagged this version for review (details, in order).
    pub review_required: Vec<String>,
}

impl VersionEntry {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        self.package.manifest()
    }

    /// Whether the version's effective dates include `date`.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.manifest().in_force_on(date)
    }

    /// Legal basis IRIs, in declaration order.
    pub fn legal_basis(&self) -> Vec<String> {
        self.manifest()
            .legal_iris()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Whether an approval for `role` is present.
    pub fn has_role(&self, role: ApproverRole) -> bool {
        self.approvals.iter().any(|a| a.role == role)
    }
}

/// Last known status of a legal act (from the freshness watch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalStatusEntry {
    /// Act IRI as reported.
    pub iri: String,
    /// Status.
    pub status: LegalStatus,
    /// Title, if known.
    pub title: Option<String>,
    /// Latest consolidated version date.
    pub latest_consolidated: Option<NaiveDate>,
    /// Human detail.
    pub detail: String,
    /// When checked (ms).
    pub checked_at: i64,
}

/// The version a function evaluates in shadow (ADR 0032), next to the deciding one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// The shadow version.
    pub version: semver::Version,
    /// Its digest.
    pub digest: String,
    /// Share of the function's decisions evaluated in shadow, 1..=1000 per mille.
    pub sample_per_mille: u16,
    /// Who put it in shadow, and when.
    pub set: Transition,
}

/// Most per mille a shadow samples (every decision).
pub const MAX_SAMPLE_PER_MILLE: i32 = 1000;

/// Why an event is refused. Messages are meant for the person who issued the command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// The event's shape is wrong (missing body, kind mismatch, missing id).
    #[error("malformed registry event: {0}")]
    Malformed(String),
    /// The version is not a semantic version.
    #[error("{0:?} is not a semantic version")]
    BadVersion(String),
    /// The package does not load.
    #[error("invalid package: {0}")]
    Package(String),
    /// Event id/version differ from the manifest's.
    #[error("the event names {event} but the package manifest is {manifest}")]
    IdMismatch {
        /// id@version of the event.
        event: String,
        /// id@version of the manifest.
        manifest: String,
    },
    /// A digest does not match.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was compared.
        what: String,
        /// Expected digest.
        expected: String,
        /// Digest found.
        actual: String,
    },
    /// Same id + version with the same digest.
    #[error("{id} {version} is already published with this digest")]
    AlreadyPublished {
        /// Function id.
        id: String,
        /// Version.
        version: String,
    },
    /// Same id + version with another digest: versions are immutable.
    #[error("{id} {version} is already published with digest {existing}; versions are immutable: publish a new version instead of {new}")]
    ImmutableVersion {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Digest published.
        existing: String,
        /// Digest offered.
        new: String,
    },
    /// No function with this id.
    #[error("no function {0:?} is published")]
    UnknownFunction(String),
    /// No such version.
    #[error("function {id} has no version {version}")]
    UnknownVersion {
        /// Function id.
        id: String,
        /// Version.
        version: String,
    },
    /// The transition is not allowed from the current state.
    #[error("cannot {action} {id} {version}: it is {state}{hint}")]
    WrongState {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Current state.
        state: VersionState,
        /// Verb.
        action: &'static str,
        /// Extra explanation (starts with "; " when set).
        hint: String,
    },
    /// The publisher tried to approve.
    #[error("self-approval refused: {approver} published {id} {version} and may not approve it")]
    SelfApproval {
        /// Approver (= author).
        approver: String,
        /// Function id.
        id: String,
        /// Version.
        version: String,
    },
    /// The role is already approved.
    #[error(
        "duplicate approval refused: {id} {version} already has the {role} approval (by {by})"
    )]
    DuplicateApproval {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Role.
        role: &'static str,
        /// Who approved it.
        by: String,
    },
    /// The approver already approved the other role.
    #[error("{approver} already approved {id} {version} as {other}; owner and reviewer must be two different people")]
    SameApprover {
        /// Approver.
        approver: String,
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Role held already.
        other: &'static str,
    },
    /// Not in the approver set.
    #[error("unknown approver {0:?}: not in the configured approver set")]
    UnknownApprover(String),
    /// The approver has no such key.
    #[error("approver {approver} has no key {key_id:?} in the configured approver set")]
    UnknownKey {
        /// Approver.
        approver: String,
        /// Key id.
        key_id: String,
    },
    /// The approver may not sign this role.
    #[error("approver {approver} may not approve as {role}")]
    RoleNotAllowed {
        /// Approver.
        approver: String,
        /// Role.
        role: &'static str,
    },
    /// The signature does not verify.
    #[error("bad signature: the {role} approval of {id} {version} by {approver} (key {key_id}) does not verify")]
    BadSignature {
        /// Approver.
        approver: String,
        /// Key id.
        key_id: String,
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Role.
        role: &'static str,
    },
    /// The person is not one of the function's tenant (docs/tenancy.md).
    #[error("{person} may not {action} {id}: {reason}")]
    ForeignTenant {
        /// Author, approver or the `by` of a transition.
        person: String,
        /// Verb.
        action: &'static str,
        /// Function id.
        id: String,
        /// Which rule refused it.
        reason: String,
    },
    /// The shadow sample is not 1..=1000 per mille.
    #[error(
        "sample of {0} per mille refused: a shadow samples 1 to 1000 per mille of the decisions"
    )]
    BadSampleRate(i32),
    /// The version named for shadow is the one deciding.
    #[error(
        "{id} {version} is the deciding version; put another APPROVED or ACTIVE version in shadow"
    )]
    ShadowIsDeciding {
        /// Function id.
        id: String,
        /// Version.
        version: String,
    },
    /// `SHADOW_CLEARED` for a function without a shadow version.
    #[error("{0} has no version in shadow")]
    NoShadow(String),
    /// A legal reference does not parse.
    #[error("legal reference {iri} is invalid: {error}")]
    InvalidLegalReference {
        /// IRI.
        iri: String,
        /// Parser message.
        error: String,
    },
    /// A legal reference names a repealed act.
    #[error("cannot activate {id} {version}: its legal reference {iri} names an act reported repealed ({detail})")]
    RepealedReference {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Reference.
        iri: String,
        /// Watch detail.
        detail: String,
    },
}

impl RegistryError {
    /// Stable code (CLI output, projection of refused events).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "MALFORMED_EVENT",
            Self::BadVersion(_) => "BAD_VERSION",
            Self::Package(_) => "INVALID_PACKAGE",
            Self::IdMismatch { .. } => "ID_MISMATCH",
            Self::DigestMismatch { .. } => "DIGEST_MISMATCH",
            Self::AlreadyPublished { .. } => "ALREADY_PUBLISHED",
            Self::ImmutableVersion { .. } => "IMMUTABLE_VERSION",
            Self::UnknownFunction(_) => "UNKNOWN_FUNCTION",
            Self::UnknownVersion { .. } => "UNKNOWN_VERSION",
            Self::WrongState { .. } => "WRONG_STATE",
            Self::SelfApproval { .. } => "SELF_APPROVAL",
            Self::DuplicateApproval { .. } => "DUPLICATE_APPROVAL",
            Self::SameApprover { .. } => "SAME_APPROVER",
            Self::UnknownApprover(_) => "UNKNOWN_APPROVER",
            Self::UnknownKey { .. } => "UNKNOWN_KEY",
            Self::RoleNotAllowed { .. } => "ROLE_NOT_ALLOWED",
            Self::BadSignature { .. } => "BAD_SIGNATURE",
            Self::ForeignTenant { .. } => "FOREIGN_TENANT",
            Self::BadSampleRate(_) => "BAD_SAMPLE_RATE",
            Self::ShadowIsDeciding { .. } => "SHADOW_IS_DECIDING",
            Self::NoShadow(_) => "NO_SHADOW",
            Self::InvalidLegalReference { .. } => "INVALID_LEGAL_REFERENCE",
            Self::RepealedReference { .. } => "REPEALED_REFERENCE",
        }
    }
}

/// Why no version could be selected for a request (maps to the rejection codes).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectError {
    /// No such function, or no such version: `UNKNOWN_FUNCTION`.
    #[error("{0}")]
    Unknown(String),
    /// The version exists but is not active and in force: `FUNCTION_NOT_ACTIVE`.
    #[error("{0}")]
    NotActive(String),
}

impl SelectError {
    /// The rejection code of `DecisionResult.rejection`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "UNKNOWN_FUNCTION",
            Self::NotActive(_) => "FUNCTION_NOT_ACTIVE",
        }
    }
}

/// A validated change, ready to be applied.
enum Change {
    Publish(Arc<VersionEntry>),
    Approve {
        id: String,
        version: semver::Version,
        approval: Approval,
    },
    Activate {
        id: String,
        version: semver::Version,
        by: Transition,
    },
    Retire {
        id: String,
        version: semver::Version,
        by: Transition,
    },
    Legal(LegalStatusEntry),
    SetShadow {
        id: String,
        shadow: Shadow,
    },
    ClearShadow {
        id: String,
    },
}

/// The registry: every published version with its lifecycle, and the legal status watch.
///
/// Cheap to clone (versions are shared `Arc`s), so a follower can publish a snapshot after
/// every batch.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    functions: BTreeMap<String, BTreeMap<semver::Version, Arc<VersionEntry>>>,
    legal: BTreeMap<String, LegalStatusEntry>,
    shadows: BTreeMap<String, Shadow>,
    approvers: Arc<ApproverSet>,
    applied: u64,
    refused: u64,
}

fn required<T>(body: &Option<T>, kind: RegistryEventKind) -> Result<&T, RegistryError> {
    body.as_ref().ok_or_else(|| {
        RegistryError::Malformed(format!("{} event without its body", kind.as_str()))
    })
}

impl Registry {
    /// An empty registry that accepts approvals signed by `approvers`.
    pub fn new(approvers: Arc<ApproverSet>) -> Self {
        Self {
            approvers,
            ..Default::default()
        }
    }

    /// The approver set.
    pub fn approvers(&self) -> &ApproverSet {
        &self.approvers
    }

    /// Events applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Events refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Validates `event` against the current state without changing it.
    pub fn check(&self, event: &RegistryEvent) -> Result<(), RegistryError> {
        self.validate(event).map(|_| ())
    }

    /// Validates and applies `event`; a refused event changes nothing but the refusal count.
    pub fn apply(&mut self, event: &RegistryEvent) -> Result<(), RegistryError> {
        match self.validate(event) {
            Ok(change) => {
                self.commit(change);
                self.applied += 1;
                Ok(())
            }
            Err(e) => {
                self.refused += 1;
                Err(e)
            }
        }
    }

    /// Every function id, sorted.
    pub fn function_ids(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// The versions of a function in ascending semver order.
    pub fn versions(&self, id: &str) -> impl Iterator<Item = &Arc<VersionEntry>> {
        self.functions.get(id).into_iter().flat_map(|v| v.values())
    }

    /// Every version of every function (id order, then semver order).
    pub fn all_versions(&self) -> impl Iterator<Item = &Arc<VersionEntry>> {
        self.functions.values().flat_map(|v| v.values())
    }

    /// One version.
    pub fn version(&self, id: &str, version: &semver::Version) -> Option<&Arc<VersionEntry>> {
        self.functions.get(id)?.get(version)
    }

    /// Number of versions.
    pub fn len(&self) -> usize {
        self.functions.values().map(BTreeMap::len).sum()
    }

    /// Whether nothing is published.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// Known legal statuses, by act IRI.
    pub fn legal_statuses(&self) -> impl Iterator<Item = &LegalStatusEntry> {
        self.legal.values()
    }

    /// The version `id` evaluates in shadow, if any.
    pub fn shadow(&self, id: &str) -> Option<&Shadow> {
        self.shadows.get(id)
    }

    /// Every function's shadow, by function id.
    pub fn shadows(&self) -> impl Iterator<Item = (&str, &Shadow)> {
        self.shadows.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every (function id, allowed callers) of the ACTIVE versions.
    pub fn allow_lists(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.all_versions()
            .filter(|e| e.state == VersionState::Active)
            .map(|e| {
                (
                    e.function_id.as_str(),
                    e.manifest().allowed_callers.as_slice(),
                )
            })
    }

    /// Selects the version to evaluate for a request.
    ///
    /// An explicit `version` must exist, be `ACTIVE` and be in force on `as_of`. Without one, the
    /// highest `ACTIVE` semver version in force on `as_of` is taken. Unknown id or version:
    /// [`SelectError::Unknown`]; anything else: [`SelectError::NotActive`].
    pub fn select(
        &self,
        id: &str,
        version: Option<&str>,
        as_of: NaiveDate,
    ) -> Result<Arc<VersionEntry>, SelectError> {
        let versions = self
            .functions
            .get(id)
            .ok_or_else(|| SelectError::Unknown(format!("no function {id:?}")))?;
        match version {
            Some(v) => {
                let wanted = semver::Version::parse(v).map_err(|_| {
                    SelectError::Unknown(format!("{v:?} is not a semantic version"))
                })?;
                let entry = versions.get(&wanted).ok_or_else(|| {
                    SelectError::Unknown(format!("function {id} has no version {wanted}"))
                })?;
                if entry.state != VersionState::Active {
                    return Err(SelectError::NotActive(format!(
                        "function {id} {wanted} is {}, not ACTIVE",
                        entry.state
                    )));
                }
                if !entry.in_force_on(as_of) {
                    return Err(SelectError::NotActive(format!(
                        "function {id} {wanted} is not in force on {as_of}"
                    )));
                }
                Ok(entry.clone())
            }
            None => versions
                .values()
                .rev()
                .find(|e| e.state == VersionState::Active && e.in_force_on(as_of))
                .cloned()
                .ok_or_else(|| {
                    if versions.values().any(|e| e.state == VersionState::Active) {
                        SelectError::NotActive(format!(
                            "no ACTIVE version of {id} is in force on {as_of}"
                        ))
                    } else {
                        SelectError::NotActive(format!("function {id} has no ACTIVE version"))
                    }
                }),
        }
    }

    fn target(&self, event: &RegistryEvent) -> Result<(String, semver::Version), RegistryError> {
        let id = event.function_id.clone().ok_or_else(|| {
            RegistryError::Malformed(format!("{} event without function_id", event.kind.as_str()))
        })?;
        let raw = event.version.as_deref().ok_or_else(|| {
            RegistryError::Malformed(format!("{} event without version", event.kind.as_str()))
        })?;
        let version =
            semver::Version::parse(raw).map_err(|_| RegistryError::BadVersion(raw.to_string()))?;
        Ok((id, version))
    }

    /// A tenant's function (`t/<name>`) is published, activated and retired only by the
    /// people of `t` in the approver set; the default tenant's functions by anyone who may write
    /// the registry topic (as before tenants).
    fn check_member(
        &self,
        person: &str,
        action: &'static str,
        id: &str,
    ) -> Result<(), RegistryError> {
        match function_tenant(id) {
            Some(t) if !self.approvers.is_member(person, t) => Err(RegistryError::ForeignTenant {
                person: person.to_string(),
                action,
                id: id.to_string(),
                reason: format!("only the approvers and authors of tenant {t} may"),
            }),
            _ => Ok(()),
        }
    }

    fn existing(
        &self,
        id: &str,
        version: &semver::Version,
    ) -> Result<&Arc<VersionEntry>, RegistryError> {
        let versions = self
            .functions
            .get(id)
            .ok_or_else(|| RegistryError::UnknownFunction(id.to_string()))?;
        versions
            .get(version)
            .ok_or_else(|| RegistryError::UnknownVersion {
                id: id.to_string(),
                version: version.to_string(),
            })
    }

    fn validate(&self, event: &RegistryEvent) -> Result<Change, RegistryError> {
        let bodies = [
            event.published.is_some(),
            event.approved.is_some(),
            event.activated.is_some(),
            event.retired.is_some(),
            event.legal_status.is_some(),
            event.shadow_set.is_some(),
            event.shadow_cleared.is_some(),
        ];
        if bodies.iter().filter(|b| **b).count() != 1 {
            return Err(RegistryError::Malformed(format!(
                "{} event must carry exactly one body",
                event.kind.as_str()
            )));
        }
        match event.kind {
            RegistryEventKind::VersionPublished => self.validate_publish(event),
            RegistryEventKind::VersionApproved => self.validate_approve(event),
            RegistryEventKind::VersionActivated => {
                let body = required(&event.activated, event.kind)?;
                let (id, version) = self.target(event)?;
                self.check_member(&body.by, "activate", &id)?;
                let entry = self.existing(&id, &version)?;
                same_digest(entry, &body.digest)?;
                if entry.state != VersionState::Approved {
                    let hint = match entry.state {
                        VersionState::Draft => {
                            let missing: Vec<&str> = [ApproverRole::Owner, ApproverRole::Reviewer]
                                .into_iter()
                                .filter(|r| !entry.has_role(*r))
                                .map(ApproverRole::as_str)
                                .collect();
                            format!("; it still needs the {} approval", missing.join(" and "))
                        }
                        _ => String::new(),
                    };
                    return Err(RegistryError::WrongState {
                        id,
                        version: version.to_string(),
                        state: entry.state,
                        action: "activate",
                        hint,
                    });
                }
                self.check_legal(entry)?;
                Ok(Change::Activate {
                    id,
                    version,
                    by: Transition {
                        by: body.by.clone(),
                        at: body.at,
                        reason: None,
                    },
                })
            }
            RegistryEventKind::VersionRetired => {
                let body = required(&event.retired, event.kind)?;
                let (id, version) = self.target(event)?;
                self.check_member(&body.by, "retire", &id)?;
                let entry = self.existing(&id, &version)?;
                same_digest(entry, &body.digest)?;
                if entry.state != VersionState::Active {
                    return Err(RegistryError::WrongState {
                        id,
                        version: version.to_string(),
                        state: entry.state,
                        action: "retire",
                        hint: "; only an ACTIVE version can be retired".into(),
                    });
                }
                Ok(Change::Retire {
                    id,
                    version,
                    by: Transition {
                        by: body.by.clone(),
                        at: body.at,
                        reason: body.reason.clone(),
                    },
                })
            }
            RegistryEventKind::ShadowSet => self.validate_shadow_set(event),
            RegistryEventKind::ShadowCleared => {
                let body = required(&event.shadow_cleared, event.kind)?;
                let id = event.function_id.clone().ok_or_else(|| {
                    RegistryError::Malformed("SHADOW_CLEARED event without function_id".into())
                })?;
                self.check_member(&body.by, "unshadow", &id)?;
                if !self.functions.contains_key(&id) {
                    return Err(RegistryError::UnknownFunction(id));
                }
                if !self.shadows.contains_key(&id) {
                    return Err(RegistryError::NoShadow(id));
                }
                Ok(Change::ClearShadow { id })
            }
            RegistryEventKind::LegalReferenceStatusChanged => {
                let body = required(&event.legal_status, event.kind)?;
                let parsed = LegalRef::parse(&body.iri).map_err(|e| {
                    RegistryError::InvalidLegalReference {
                        iri: body.iri.clone(),
                        error: e.to_string(),
                    }
                })?;
                Ok(Change::Legal(LegalStatusEntry {
                    iri: parsed.act_iri(),
                    status: body.status,
                    title: body.title.clone(),
                    latest_consolidated: body
                        .latest_consolidated
                        .and_then(dl_schema::date::from_avro_days),
                    detail: body.detail.clone(),
                    checked_at: body.checked_at,
                }))
            }
        }
    }

    fn validate_publish(&self, event: &RegistryEvent) -> Result<Change, RegistryError> {
        let body = required(&event.published, event.kind)?;
        let (id, version) = self.target(event)?;
        let files: BTreeMap<String, Vec<u8>> = body
            .files
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect();
        let digest = dl_function::package_digest(&files);
        if let Some(existing) = self.functions.get(&id).and_then(|v| v.get(&version)) {
            return Err(
                if existing.digest == body.digest && existing.digest == digest {
                    RegistryError::AlreadyPublished {
                        id,
                        version: version.to_string(),
                    }
                } else {
                    RegistryError::ImmutableVersion {
                        id,
                        version: version.to_string(),
                        existing: existing.digest.clone(),
                        new: digest,
                    }
                },
            );
        }
        if digest != body.digest {
            return Err(RegistryError::DigestMismatch {
                what: "the published files".into(),
                expected: body.digest.clone(),
                actual: digest,
            });
        }
        let root = format!("registry:{id}@{version}");
        let package = FunctionPackage::from_files(Path::new(&root), files)
            .map_err(|e| RegistryError::Package(e.to_string()))?;
        let m = package.manifest();
        if m.id != id || m.version != version {
            return Err(RegistryError::IdMismatch {
                event: format!("{id} {version}"),
                manifest: format!("{} {}", m.id, m.version),
            });
        }
        if body.author.trim().is_empty() {
            return Err(RegistryError::Malformed(
                "publish event without author".into(),
            ));
        }
        self.check_member(&body.author, "publish", &id)?;
        Ok(Change::Publish(Arc::new(VersionEntry {
            function_id: id,
            version,
            digest,
            package: Arc::new(package),
            author: body.author.clone(),
            published_at: body.published_at,
            state: VersionState::Draft,
            approvals: Vec::new(),
            activated: None,
            retired: None,
            review_required: Vec::new(),
        })))
    }

    fn validate_shadow_set(&self, event: &RegistryEvent) -> Result<Change, RegistryError> {
        let body = required(&event.shadow_set, event.kind)?;
        let (id, version) = self.target(event)?;
        self.check_member(&body.by, "shadow", &id)?;
        let entry = self.existing(&id, &version)?;
        same_digest(entry, &body.digest)?;
        if !matches!(entry.state, VersionState::Approved | VersionState::Active) {
            return Err(RegistryError::WrongState {
                id,
                version: version.to_string(),
                state: entry.state,
                action: "shadow",
                hint: "; only an APPROVED or ACTIVE version can be put in shadow".into(),
            });
        }
        let deciding = self
            .functions
            .get(&id)
            .and_then(|v| v.values().rev().find(|v| v.state == VersionState::Active));
        if deciding.is_some_and(|d| d.version == version) {
            return Err(RegistryError::ShadowIsDeciding {
                id,
                version: version.to_string(),
            });
        }
        let sample = u16::try_from(body.sample_per_mille)
            .ok()
            .filter(|s| (1..=MAX_SAMPLE_PER_MILLE as u16).contains(s))
            .ok_or(RegistryError::BadSampleRate(body.sample_per_mille))?;
        Ok(Change::SetShadow {
            id,
            shadow: Shadow {
                version,
                digest: entry.digest.clone(),
                sample_per_mille: sample,
                set: Transition {
                    by: body.by.clone(),
                    at: body.at,
                    reason: None,
                },
            },
        })
    }

    fn validate_approve(&self, event: &RegistryEvent) -> Result<Change, RegistryError> {
        let body = required(&event.approved, event.kind)?;
        let (id, version) = self.target(event)?;
        // The approver and its tenant first: another tenant's approver learns nothing of the
        // version (its state, its digest).
        let approver = self
            .approvers
            .get(&body.approver_id)
            .ok_or_else(|| RegistryError::UnknownApprover(body.approver_id.clone()))?;
        let key = approver
            .keys
            .get(&body.key_id)
            .ok_or_else(|| RegistryError::UnknownKey {
                approver: body.approver_id.clone(),
                key_id: body.key_id.clone(),
            })?;
        if approver.tenant.as_deref() != function_tenant(&id) {
            return Err(RegistryError::ForeignTenant {
                person: body.approver_id.clone(),
                action: "approve",
                id,
                reason: match &approver.tenant {
                    Some(t) => format!("the approver approves only tenant {t}'s functions"),
                    None => "the function belongs to a tenant and the approver to none".into(),
                },
            });
        }
        let entry = self.existing(&id, &version)?;
        same_digest(entry, &body.digest)?;
        let v = version.to_string();
        let role = body.role.as_str();
        if entry.state != VersionState::Draft {
            return Err(RegistryError::WrongState {
                id,
                version: v,
                state: entry.state,
                action: "approve",
                hint: "; only a DRAFT takes approvals".into(),
            });
        }
        if !approver.roles.contains(&body.role) {
            return Err(RegistryError::RoleNotAllowed {
                approver: body.approver_id.clone(),
                role,
            });
        }
        if !verify_approval(
            key,
            &body.signature,
            &id,
            &v,
            &entry.digest,
            body.role,
            &body.approver_id,
        ) {
            return Err(RegistryError::BadSignature {
                approver: body.approver_id.clone(),
                key_id: body.key_id.clone(),
                id,
                version: v,
                role,
            });
        }
        if body.approver_id == entry.author {
            return Err(RegistryError::SelfApproval {
                approver: body.approver_id.clone(),
                id,
                version: v,
            });
        }
        if let Some(prior) = entry.approvals.iter().find(|a| a.role == body.role) {
            return Err(RegistryError::DuplicateApproval {
                id,
                version: v,
                role,
                by: prior.approver_id.clone(),
            });
        }
        if let Some(prior) = entry
            .approvals
            .iter()
            .find(|a| a.approver_id == body.approver_id)
        {
            return Err(RegistryError::SameApprover {
                approver: body.approver_id.clone(),
                id,
                version: v,
                other: prior.role.as_str(),
            });
        }
        Ok(Change::Approve {
            id,
            version,
            approval: Approval {
                role: body.role,
                approver_id: body.approver_id.clone(),
                key_id: body.key_id.clone(),
                signature: body.signature.clone(),
                approved_at: body.approved_at,
            },
        })
    }

    fn check_legal(&self, entry: &VersionEntry) -> Result<(), RegistryError> {
        for basis in &entry.manifest().legal_basis {
            let parsed =
                LegalRef::parse(&basis.iri).map_err(|e| RegistryError::InvalidLegalReference {
                    iri: basis.iri.clone(),
                    error: e.to_string(),
                })?;
            for status in self.legal.values() {
                if status.status != LegalStatus::Repealed {
                    continue;
                }
                if LegalRef::parse(&status.iri).is_ok_and(|act| act.same_act(&parsed)) {
                    return Err(RegistryError::RepealedReference {
                        id: entry.function_id.clone(),
                        version: entry.version.to_string(),
                        iri: basis.iri.clone(),
                        detail: status.detail.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn entry_mut(&mut self, id: &str, version: &semver::Version) -> &mut VersionEntry {
        let slot = self
            .functions
            .get_mut(id)
            .and_then(|v| v.get_mut(version))
            .expect("validated before commit");
        Arc::make_mut(slot)
    }

    fn commit(&mut self, change: Change) {
        match change {
            Change::Publish(entry) => {
                self.functions
                    .entry(entry.function_id.clone())
                    .or_default()
                    .insert(entry.version.clone(), entry);
            }
            Change::Approve {
                id,
                version,
                approval,
            } => {
                let e = self.entry_mut(&id, &version);
                e.approvals.push(approval);
                if e.has_role(ApproverRole::Owner) && e.has_role(ApproverRole::Reviewer) {
                    e.state = VersionState::Approved;
                }
            }
            Change::Activate { id, version, by } => {
                let e = self.entry_mut(&id, &version);
                e.state = VersionState::Active;
                e.activated = Some(by);
            }
            Change::Retire { id, version, by } => {
                let e = self.entry_mut(&id, &version);
                e.state = VersionState::Retired;
                e.retired = Some(by);
                if self.shadows.get(&id).is_some_and(|s| s.version == version) {
                    self.shadows.remove(&id);
                }
            }
            Change::SetShadow { id, shadow } => {
                self.shadows.insert(id, shadow);
            }
            Change::ClearShadow { id } => {
                self.shadows.remove(&id);
            }
            Change::Legal(status) => {
                if status.status != LegalStatus::InForce {
                    let act = LegalRef::parse(&status.iri).ok();
                    let note = format!(
                        "{} {}: {}",
                        status.iri,
                        status.status.as_str(),
                        status.detail
                    );
                    for versions in self.functions.values_mut() {
                        for slot in versions.values_mut() {
                            let cites = act.as_ref().is_some_and(|act| {
                                slot.manifest().legal_basis.iter().any(|b| {
                                    LegalRef::parse(&b.iri).is_ok_and(|r| act.same_act(&r))
                                })
                            });
                            if cites && slot.state != VersionState::Retired {
                                Arc::make_mut(slot).review_required.push(note.clone());
                            }
                        }
                    }
                }
                self.legal.insert(status.iri.clone(), status);
            }
        }
    }
}

fn same_digest(entry: &VersionEntry, digest: &str) -> Result<(), RegistryError> {
    if entry.digest == digest {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            what: format!("{} {}", entry.function_id, entry.version),
            expected: entry.digest.clone(),
            actual: digest.to_string(),
        })
    }
}
