//! The user-facing contracts of Decision Layer as Rust types, and the Avro wire codec.
//!
//! The `.avsc` files in the repository's `schemas/` folder are the source of truth; they are
//! embedded here at build time. [`Codec`] reads Avro single-object encoding (`C3 01` + CRC-64-AVRO
//! fingerprint) and recognises, but refuses without a registry, the Confluent wire format.

mod codec;
mod types;

pub use codec::{Codec, CodecError, WireFormat, MAX_MESSAGE_BYTES};
pub use types::*;

/// `DecisionRequest.avsc` as shipped.
pub const DECISION_REQUEST_AVSC: &str = include_str!("../../../schemas/DecisionRequest.avsc");
/// `DecisionResult.avsc` as shipped.
pub const DECISION_RESULT_AVSC: &str = include_str!("../../../schemas/DecisionResult.avsc");
/// `LedgerRecord.avsc` as shipped.
pub const LEDGER_RECORD_AVSC: &str = include_str!("../../../schemas/LedgerRecord.avsc");

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
    Codec::new(LEDGER_RECORD_AVSC).expect("embedded LedgerRecord schema is valid")
}
