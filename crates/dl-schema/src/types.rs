//! Rust mirrors of the Avro records. Field names are the Avro field names.

use serde::{Deserialize, Serialize};

/// A request for one decision (`DecisionRequest.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRequest {
    /// Unique per caller; the replay nonce.
    pub request_id: String,
    /// Function to evaluate.
    pub function_id: String,
    /// Exact version, or `None` for the version in force at `as_of`.
    pub function_version: Option<String>,
    /// Days since 1970-01-01 (Avro `date`).
    pub as_of: Option<i32>,
    /// Caller clock, milliseconds since the epoch.
    pub issued_at: i64,
    /// JSON input document.
    pub input: String,
    /// Topic for the result instead of the default results topic.
    pub reply_to: Option<String>,
}

/// Outcome status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionStatus {
    /// The function was evaluated.
    #[serde(rename = "DECIDED")]
    Decided,
    /// The request was refused before or during evaluation.
    #[serde(rename = "REJECTED")]
    Rejected,
}

/// One reason of a decision, citing a legal reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Machine-readable reason code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// IRI of the legal reference.
    pub legal_ref: String,
}

/// Why a request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Stable code, e.g. `INPUT_INVALID`.
    pub code: String,
    /// Human-readable explanation; never contains personal data.
    pub message: String,
}

/// Where a decision sits in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPosition {
    /// Ledger partition (= chain).
    pub partition: i32,
    /// Sequence within the chain.
    pub sequence: i64,
    /// Hash of the ledger record.
    pub hash: String,
}

/// A detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Algorithm, e.g. `Ed25519` or `ECDSA_P256_SHA256`.
    pub algorithm: String,
    /// Id of the signing key.
    pub key_id: String,
    /// base64url signature value.
    pub value: String,
}

/// The result of one request (`DecisionResult.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionResult {
    /// The request's id.
    pub request_id: String,
    /// Deterministic decision id.
    pub decision_id: String,
    /// Decided or rejected.
    pub status: DecisionStatus,
    /// Function requested.
    pub function_id: String,
    /// Version evaluated (or requested, when rejected).
    pub function_version: Option<String>,
    /// Package digest evaluated.
    pub function_digest: Option<String>,
    /// JSON decision document; `None` when rejected.
    pub output: Option<String>,
    /// Reasons with legal references.
    pub reasons: Vec<Reason>,
    /// IRIs of the function's legal basis.
    pub legal_basis: Vec<String>,
    /// Set when rejected.
    pub rejection: Option<Rejection>,
    /// Milliseconds since the epoch.
    pub decided_at: i64,
    /// Ledger position of the record of this outcome.
    pub ledger: Option<LedgerPosition>,
    /// Signature over the outcome.
    pub signature: Option<Signature>,
    /// Authenticated caller, when known.
    pub caller: Option<String>,
}

/// Kind of a ledger record; names the one non-null body field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerRecordKind {
    /// `decision` is set.
    #[serde(rename = "DECISION_RECORDED")]
    DecisionRecorded,
    /// `rejection` is set.
    #[serde(rename = "REQUEST_REJECTED")]
    RequestRejected,
    /// `key_certified` is set.
    #[serde(rename = "SIGNING_KEY_CERTIFIED")]
    SigningKeyCertified,
    /// `checkpoint` is set.
    #[serde(rename = "CHECKPOINT")]
    Checkpoint,
}

impl LedgerRecordKind {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DecisionRecorded => "DECISION_RECORDED",
            Self::RequestRejected => "REQUEST_REJECTED",
            Self::SigningKeyCertified => "SIGNING_KEY_CERTIFIED",
            Self::Checkpoint => "CHECKPOINT",
        }
    }
}

/// Topic, partition and offset a request was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// A decision, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecorded {
    /// Deterministic decision id.
    pub decision_id: String,
    /// Caller's request id.
    pub request_id: String,
    /// Where the request was read.
    pub source: SourcePosition,
    /// Authenticated caller.
    pub caller: Option<String>,
    /// Function evaluated.
    pub function_id: String,
    /// Version evaluated.
    pub function_version: String,
    /// Digest of the package evaluated.
    pub function_digest: String,
    /// Date the law was applied at (days since epoch).
    pub as_of: Option<i32>,
    /// Caller clock (ms).
    pub issued_at: i64,
    /// Decision time (ms).
    pub decided_at: i64,
    /// JSON input as received.
    pub input: String,
    /// JSON decision document.
    pub output: String,
    /// Reasons.
    pub reasons: Vec<Reason>,
    /// Legal basis IRIs.
    pub legal_basis: Vec<String>,
    /// Signature over the decision, when signing is configured.
    pub signature: Option<Signature>,
    /// The caller's tenant (docs/tenancy.md); `None` for the default tenant and for records
    /// written before tenants. The hash leaves it out when `None` (schemas/ledger-hash.md).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A rejection, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRejected {
    /// Deterministic decision id.
    pub decision_id: String,
    /// Caller's request id.
    pub request_id: String,
    /// Where the request was read.
    pub source: SourcePosition,
    /// Authenticated caller, when known.
    pub caller: Option<String>,
    /// Function requested.
    pub function_id: String,
    /// Version requested or resolved.
    pub function_version: Option<String>,
    /// Stable rejection code.
    pub code: String,
    /// Message without personal data.
    pub message: String,
    /// Rejection time (ms).
    pub decided_at: i64,
    /// The caller's tenant, as in [`DecisionRecorded::tenant`].
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A worker signing key certified by the KMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyCertified {
    /// Key id.
    pub key_id: String,
    /// Algorithm.
    pub algorithm: String,
    /// base64url SubjectPublicKeyInfo.
    pub public_key: String,
    /// Worker holding the key.
    pub worker_id: String,
    /// Start of validity (ms).
    pub valid_from: i64,
    /// End of validity (ms).
    pub valid_until: i64,
    /// KMS key that certified it.
    pub certifier_key_id: String,
    /// The KMS signature.
    pub certificate_signature: String,
}

/// A signed checkpoint over the chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Last sequence covered.
    pub up_to_sequence: i64,
    /// Hash of that record.
    pub head_hash: String,
    /// Optional Merkle root.
    pub merkle_root: Option<String>,
    /// KMS key id.
    pub signer_key_id: String,
    /// Signature.
    pub signature: String,
}

/// One link of a ledger hash chain (`LedgerRecord.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// `<topic>:<partition>`.
    pub chain_id: String,
    /// Position in the chain, from 0.
    pub sequence: i64,
    /// Previous record's hash (64 zeros at 0).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
    /// Record time (ms).
    pub recorded_at: i64,
    /// Which body is set.
    pub kind: LedgerRecordKind,
    /// Body for `DECISION_RECORDED`.
    pub decision: Option<DecisionRecorded>,
    /// Body for `REQUEST_REJECTED`.
    pub rejection: Option<RequestRejected>,
    /// Body for `SIGNING_KEY_CERTIFIED`.
    pub key_certified: Option<SigningKeyCertified>,
    /// Body for `CHECKPOINT`.
    pub checkpoint: Option<Checkpoint>,
}

impl LedgerRecord {
    /// The tenant of the decision or rejection this record holds ([`DEFAULT_TENANT`] when it
    /// names none); [`DEFAULT_TENANT`] too for key certificates and checkpoints, which belong
    /// to the chain, not to a tenant.
    pub fn tenant(&self) -> &str {
        self.decision
            .as_ref()
            .and_then(|d| d.tenant.as_deref())
            .or(self.rejection.as_ref().and_then(|r| r.tenant.as_deref()))
            .unwrap_or(DEFAULT_TENANT)
    }
}

/// The tenant of every request whose caller names none: a single-tenant deployment, requests
/// without authentication (development), and every record written before tenants
/// (docs/tenancy.md).
pub const DEFAULT_TENANT: &str = "default";

impl LedgerRecord {
    /// A record of `kind` with no body and no chain fields yet: set exactly the body of `kind`,
    /// then let the chain head fill in chain id, sequence and hashes.
    pub fn unchained(kind: LedgerRecordKind, recorded_at: i64) -> Self {
        Self {
            chain_id: String::new(),
            sequence: 0,
            prev_hash: String::new(),
            hash: String::new(),
            recorded_at,
            kind,
            decision: None,
            rejection: None,
            key_certified: None,
            checkpoint: None,
        }
    }

    /// Whether exactly the body that `kind` names is set.
    pub fn body_matches_kind(&self) -> bool {
        let set = [
            self.decision.is_some(),
            self.rejection.is_some(),
            self.key_certified.is_some(),
            self.checkpoint.is_some(),
        ];
        let want = match self.kind {
            LedgerRecordKind::DecisionRecorded => 0,
            LedgerRecordKind::RequestRejected => 1,
            LedgerRecordKind::SigningKeyCertified => 2,
            LedgerRecordKind::Checkpoint => 3,
        };
        set.iter().enumerate().all(|(i, s)| *s == (i == want))
    }
}

/// Kind of a registry event; names the one non-null body field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegistryEventKind {
    /// `published` is set.
    #[serde(rename = "VERSION_PUBLISHED")]
    VersionPublished,
    /// `approved` is set.
    #[serde(rename = "VERSION_APPROVED")]
    VersionApproved,
    /// `activated` is set.
    #[serde(rename = "VERSION_ACTIVATED")]
    VersionActivated,
    /// `retired` is set.
    #[serde(rename = "VERSION_RETIRED")]
    VersionRetired,
    /// `legal_status` is set.
    #[serde(rename = "LEGAL_REFERENCE_STATUS_CHANGED")]
    LegalReferenceStatusChanged,
    /// `shadow_set` is set.
    #[serde(rename = "SHADOW_SET")]
    ShadowSet,
    /// `shadow_cleared` is set.
    #[serde(rename = "SHADOW_CLEARED")]
    ShadowCleared,
}

impl RegistryEventKind {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VersionPublished => "VERSION_PUBLISHED",
            Self::VersionApproved => "VERSION_APPROVED",
            Self::VersionActivated => "VERSION_ACTIVATED",
            Self::VersionRetired => "VERSION_RETIRED",
            Self::LegalReferenceStatusChanged => "LEGAL_REFERENCE_STATUS_CHANGED",
            Self::ShadowSet => "SHADOW_SET",
            Self::ShadowCleared => "SHADOW_CLEARED",
        }
    }
}

/// A version was published: the whole package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionPublished {
    /// `sha256:<hex>` package digest of `files`.
    pub digest: String,
    /// Relative path -> content.
    pub files: std::collections::BTreeMap<String, serde_bytes::ByteBuf>,
    /// Publisher (may not approve this version).
    pub author: String,
    /// Milliseconds since the epoch.
    pub published_at: i64,
}

/// Role of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ApproverRole {
    /// The function owner's sign-off.
    #[serde(rename = "OWNER")]
    Owner,
    /// An independent reviewer's sign-off.
    #[serde(rename = "REVIEWER")]
    Reviewer,
}

impl ApproverRole {
    /// Lower-case name used in the approval payload and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Reviewer => "reviewer",
        }
    }
}

/// A signed approval of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionApproved {
    /// Digest approved.
    pub digest: String,
    /// Owner or reviewer.
    pub role: ApproverRole,
    /// Approver id (from the approver set).
    pub approver_id: String,
    /// Key id (from the approver set).
    pub key_id: String,
    /// base64url Ed25519 signature over the approval payload.
    pub signature: String,
    /// Milliseconds since the epoch.
    pub approved_at: i64,
}

/// A version was activated or retired: who and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionActivated {
    /// Digest of the version.
    pub digest: String,
    /// Who.
    pub by: String,
    /// When (ms).
    pub at: i64,
}

/// A version was retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRetired {
    /// Digest of the version.
    pub digest: String,
    /// Who.
    pub by: String,
    /// When (ms).
    pub at: i64,
    /// Why, if given.
    pub reason: Option<String>,
}

/// Status of a legal act as resolved online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LegalStatus {
    /// In force, consolidation unchanged.
    #[serde(rename = "IN_FORCE")]
    InForce,
    /// In force with a newer consolidated version than last seen.
    #[serde(rename = "AMENDED")]
    Amended,
    /// No longer in force.
    #[serde(rename = "REPEALED")]
    Repealed,
    /// The source does not know the act.
    #[serde(rename = "NOT_FOUND")]
    NotFound,
}

impl LegalStatus {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InForce => "IN_FORCE",
            Self::Amended => "AMENDED",
            Self::Repealed => "REPEALED",
            Self::NotFound => "NOT_FOUND",
        }
    }
}

/// The freshness watch saw a change of a referenced act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalReferenceStatusChanged {
    /// Canonical act-level IRI.
    pub iri: String,
    /// New status.
    pub status: LegalStatus,
    /// Status before, if known.
    pub previous_status: Option<LegalStatus>,
    /// Title of the act.
    pub title: Option<String>,
    /// Latest consolidated version date (days since epoch).
    pub latest_consolidated: Option<i32>,
    /// What changed, for humans.
    pub detail: String,
    /// When checked (ms).
    pub checked_at: i64,
}

/// One event of `registry.events` (`RegistryEvent.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEvent {
    /// Unique event id.
    pub event_id: String,
    /// Which body is set.
    pub kind: RegistryEventKind,
    /// Function id (VERSION_* events).
    pub function_id: Option<String>,
    /// Version (VERSION_* events).
    pub version: Option<String>,
    /// Body for `VERSION_PUBLISHED`.
    pub published: Option<VersionPublished>,
    /// Body for `VERSION_APPROVED`.
    pub approved: Option<VersionApproved>,
    /// Body for `VERSION_ACTIVATED`.
    pub activated: Option<VersionActivated>,
    /// Body for `VERSION_RETIRED`.
    pub retired: Option<VersionRetired>,
    /// Body for `LEGAL_REFERENCE_STATUS_CHANGED`.
    pub legal_status: Option<LegalReferenceStatusChanged>,
    /// Body for `SHADOW_SET` (absent in revision 1 events).
    #[serde(default)]
    pub shadow_set: Option<ShadowSet>,
    /// Body for `SHADOW_CLEARED` (absent in revision 1 events).
    #[serde(default)]
    pub shadow_cleared: Option<ShadowCleared>,
}

/// A version is put in shadow for its function (ADR 0032).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowSet {
    /// Digest of the version put in shadow.
    pub digest: String,
    /// Share of the function's decisions evaluated in shadow, 1..=1000 per mille.
    pub sample_per_mille: i32,
    /// Who.
    pub by: String,
    /// When (ms).
    pub at: i64,
}

/// The function's shadow version is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowCleared {
    /// Who.
    pub by: String,
    /// When (ms).
    pub at: i64,
}

/// Where an explanation's allow list came from (`ExplainView.avsc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExplainPolicySource {
    /// The function version's manifest (`explain.allow_fields` / `redact_fields`).
    #[serde(rename = "MANIFEST")]
    Manifest,
    /// The version is not in the registry: nothing of the input is shown.
    #[serde(rename = "UNKNOWN_FUNCTION")]
    UnknownFunction,
}

/// Who an explanation view is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExplainAudience {
    /// The person decided about.
    #[serde(rename = "SUBJECT")]
    Subject,
    /// A case worker acting for the person.
    #[serde(rename = "CASE_WORKER")]
    CaseWorker,
    /// An auditor or supervisor.
    #[serde(rename = "AUDITOR")]
    Auditor,
}

/// The ledger record an explanation was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRef {
    /// `<topic>:<partition>`.
    pub chain_id: String,
    /// Position in the chain.
    pub sequence: i64,
    /// The record's hash.
    pub hash: String,
}

/// One audience's view of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceView {
    /// Who it is for.
    pub audience: ExplainAudience,
    /// Redacted input, JSON text.
    pub input: String,
    /// Decision document with identifiers masked, JSON text.
    pub output: String,
    /// Reasons with identifiers in their messages masked.
    pub reasons: Vec<Reason>,
    /// JSON: what was erased, pseudonymised and masked.
    pub manifest: String,
}

/// Redacted explanation views of one decision (`ExplainView.avsc`, topic `explain.views`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainView {
    /// Decision id (the topic key).
    pub decision_id: String,
    /// Caller's request id.
    pub request_id: String,
    /// Function id.
    pub function_id: String,
    /// Function version.
    pub function_version: String,
    /// Package digest.
    pub function_digest: String,
    /// Decision time (ms).
    pub decided_at: i64,
    /// Source ledger record.
    pub ledger: LedgerRef,
    /// IRIs of the legal basis.
    pub legal_basis: Vec<String>,
    /// Where the allow list came from.
    pub policy: ExplainPolicySource,
    /// Id of the pseudonym key used in the views (`<master key id>/<tenant>` for a tenant's
    /// derived key, docs/explanations.md).
    pub pseudonym_key_id: Option<String>,
    /// One view per audience.
    pub views: Vec<AudienceView>,
    /// The decision's tenant, as in [`DecisionRecorded::tenant`] (`None`: the default tenant,
    /// and views written before tenants).
    #[serde(default)]
    pub tenant: Option<String>,
}

impl ExplainView {
    /// The tenant of the decision explained ([`DEFAULT_TENANT`] when it names none).
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }
}

/// How a shadow evaluation compared with the decision (`ShadowEvaluation.avsc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShadowOutcome {
    /// Same output and reason codes.
    #[serde(rename = "AGREE")]
    Agree,
    /// Some output field or the reason codes differ.
    #[serde(rename = "DISAGREE")]
    Disagree,
    /// The shadow version failed on this input.
    #[serde(rename = "ERROR")]
    Error,
}

impl ShadowOutcome {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agree => "AGREE",
            Self::Disagree => "DISAGREE",
            Self::Error => "ERROR",
        }
    }
}

/// One differing output field of a shadow evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowDifference {
    /// JSON pointer into the output (`/reasons` for the reason codes).
    pub pointer: String,
    /// JSON text of the deciding version's value, only where the explanation policy shows it.
    pub deciding_value: Option<String>,
    /// JSON text of the shadow version's value, same rule.
    pub shadow_value: Option<String>,
}

/// One shadow evaluation on `decision.shadow` (`ShadowEvaluation.avsc`, ADR 0032).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowEvaluation {
    /// The decision whose input was evaluated again.
    pub decision_id: String,
    /// The decision's tenant (`None`: the default tenant).
    pub tenant: Option<String>,
    /// Registry id of the function.
    pub function_id: String,
    /// Deciding version.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// Shadow version.
    pub shadow_version: String,
    /// Its digest.
    pub shadow_digest: String,
    /// Agreement, disagreement or error.
    pub outcome: ShadowOutcome,
    /// The differing fields (outcome `DISAGREE`).
    pub differences: Vec<ShadowDifference>,
    /// Stable code of the shadow version's failure (outcome `ERROR`).
    pub error_code: Option<String>,
    /// When (ms).
    pub evaluated_at: i64,
}
