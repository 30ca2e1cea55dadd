//! The user-facing contracts of Decision Layer as Rust types, and the Avro wire codec.
//!
//! The `.avsc` files in the repository's `schemas/` folder are the source of truth; they are
//! embedded here at build time. [`Codec`] reads Avro single-object encoding (`C3 01` + CRC-64-AVRO
//! fingerprint of the specification's Parsing Canonical Form, [`parsing_canonical_form`]) and the
//! Confluent wire format (`00` + schema id) when given writer schemas by id.

mod canonical;
mod codec;
pub mod date;
pub mod request_id;
pub mod tenant;
mod types;

pub use apache_avro::Schema;
pub use canonical::{parsing_canonical_form, spec_fingerprint, CanonicalFormError};
pub use codec::{
    confluent_schema_id, Codec, CodecError, SchemaError, WireFormat, WriterSchema, WriterSchemas,
    MAX_MESSAGE_BYTES,
};
pub use types::*;

/// `DecisionRequest.avsc` as shipped.
pub const DECISION_REQUEST_AVSC: &str = include_str!("../../../schemas/DecisionRequest.avsc");
/// `DecisionResult.avsc` as shipped.
pub const DECISION_RESULT_AVSC: &str = include_str!("../../../schemas/DecisionResult.avsc");
/// `LedgerRecord.avsc` as shipped.
pub const LEDGER_RECORD_AVSC: &str = include_str!("../../../schemas/LedgerRecord.avsc");
/// Earlier revisions of `LedgerRecord.avsc` (`schemas/history/`), still read: a ledger is kept
/// for good, so every record ever written must decode. Revision 1 had no `tenant` fields.
pub const LEDGER_RECORD_AVSC_HISTORY: [&str; 1] =
    [include_str!("../../../schemas/history/LedgerRecord-1.avsc")];

/// `ExplainView.avsc` as shipped.
pub const EXPLAIN_VIEW_AVSC: &str = include_str!("../../../schemas/ExplainView.avsc");
/// Earlier revisions of `ExplainView.avsc` (`schemas/history/`), still read: `explain.views` is
/// compacted and keeps every decision's last view for good. Revision 1 had no `tenant`.
pub const EXPLAIN_VIEW_AVSC_HISTORY: [&str; 1] =
    [include_str!("../../../schemas/history/ExplainView-1.avsc")];

/// `RegistryEvent.avsc` as shipped.
pub const REGISTRY_EVENT_AVSC: &str = include_str!("../../../schemas/RegistryEvent.avsc");
/// Earlier revisions of `RegistryEvent.avsc` (`schemas/history/`), still read: `registry.events`
/// is the registry's source of truth and is read from its start. Revision 1 had no shadow events.
pub const REGISTRY_EVENT_AVSC_HISTORY: [&str; 1] = [include_str!(
    "../../../schemas/history/RegistryEvent-1.avsc"
)];
/// `ShadowEvaluation.avsc` as shipped (topic `decision.shadow`, ADR 0032).
pub const SHADOW_EVALUATION_AVSC: &str = include_str!("../../../schemas/ShadowEvaluation.avsc");

/// Kafka header of a result that answers a resubmitted request (same caller, request id and
/// payload as one already received): the decision id of the resubmitted message, while the
/// result itself is the original's, with the original's decision id (docs/wire-formats.md).
pub const ANSWERS_HEADER: &str = "dl-answers";

/// Largest registry event accepted: a package may hold up to 8 MiB of files, plus the envelope.
pub const MAX_REGISTRY_EVENT_BYTES: usize = 9 * 1024 * 1024;

/// Codec for [`RegistryEvent`] (limit [`MAX_REGISTRY_EVENT_BYTES`], since events carry packages).
pub fn registry_codec() -> Codec<RegistryEvent> {
    let mut codec = Codec::new(REGISTRY_EVENT_AVSC)
        .expect("embedded RegistryEvent schema is valid")
        .with_max_bytes(MAX_REGISTRY_EVENT_BYTES);
    for avsc in REGISTRY_EVENT_AVSC_HISTORY {
        codec
            .add_writer_schema(avsc)
            .expect("embedded RegistryEvent history schema is valid");
    }
    codec
}

/// Codec for [`ShadowEvaluation`].
pub fn shadow_codec() -> Codec<ShadowEvaluation> {
    Codec::new(SHADOW_EVALUATION_AVSC).expect("embedded ShadowEvaluation schema is valid")
}

/// Codec for [`DecisionRequest`].
pub fn request_codec() -> Codec<DecisionRequest> {
    Codec::new(DECISION_REQUEST_AVSC).expect("embedded DecisionRequest schema is valid")
}

/// Codec for [`DecisionResult`].
pub fn result_codec() -> Codec<DecisionResult> {
    Codec::new(DECISION_RESULT_AVSC).expect("embedded DecisionResult schema is valid")
}

/// Codec for [`LedgerRecord`].
pub fn ledger_codec() -> Codec<LedgerRecord> {
    let mut codec = Codec::new(LEDGER_RECORD_AVSC).expect("embedded LedgerRecord schema is valid");
    for avsc in LEDGER_RECORD_AVSC_HISTORY {
        codec
            .add_writer_schema(avsc)
            .expect("embedded LedgerRecord history schema is valid");
    }
    codec
}

/// Codec for [`ExplainView`] (reads every revision in [`EXPLAIN_VIEW_AVSC_HISTORY`] too).
pub fn explain_view_codec() -> Codec<ExplainView> {
    let mut codec = Codec::new(EXPLAIN_VIEW_AVSC).expect("embedded ExplainView schema is valid");
    for avsc in EXPLAIN_VIEW_AVSC_HISTORY {
        codec
            .add_writer_schema(avsc)
            .expect("embedded ExplainView history schema is valid");
    }
    codec
}

/// Every schema the project ships, by record name (what `topology/topics.yaml` names as a topic's
/// `value_schema`).
pub const SCHEMAS: [(&str, &str); 6] = [
    ("DecisionRequest", DECISION_REQUEST_AVSC),
    ("DecisionResult", DECISION_RESULT_AVSC),
    ("LedgerRecord", LEDGER_RECORD_AVSC),
    ("ExplainView", EXPLAIN_VIEW_AVSC),
    ("RegistryEvent", REGISTRY_EVENT_AVSC),
    ("ShadowEvaluation", SHADOW_EVALUATION_AVSC),
];
