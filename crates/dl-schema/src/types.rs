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
