//! The ledger's hash chain.
//!
//! Each partition of the ledger topic is one chain. A record's `hash` is
//! `hex(SHA-256("dl.ledger.v1\n" || canonical_json(record without "hash")))`, where the canonical
//! JSON is defined in `schemas/ledger-hash.md` (RFC 8785 for the value domain used here: objects
//! with keys sorted, no whitespace, integers only). `prev_hash` is inside the hashed text, so each
//! record commits to the whole chain before it.

mod canonical;
mod chain;
mod decision_id;
mod direct;
pub mod merkle;

pub use canonical::canonical_json;
pub use chain::{
    record_hash, record_hash_reference, ChainBreak, ChainHead, ChainVerifier, GENESIS_HASH,
    HASH_DOMAIN, MAX_SEGMENT_LEAVES,
};
pub use decision_id::decision_id;
pub use direct::{decision_canonical_json_unsigned, record_canonical_json, write_record_for_hash};
