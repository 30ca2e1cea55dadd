//! Ledger integrity verification for Decision Layer.
//!
//! What is checked, per chain (`<ledger topic>:<partition>`), for every record in order:
//!
//! * the chain: `sequence` from 0 without gaps, `prev_hash` links to the previous record, the
//!   recomputed hash (`schemas/ledger-hash.md`), exactly the body named by `kind`;
//! * `SIGNING_KEY_CERTIFIED`: the certificate's signature by its certifier key, which must be a
//!   [`TrustAnchors`] key: configured (pinned public key, listed KMS key, local key file), never
//!   taken from the ledger being verified (`UNTRUSTED_CERTIFIER` otherwise);
//! * `DECISION_RECORDED`: the worker signature over `dl_signer::decision_payload`, by a key
//!   certified *earlier in the same chain*, with `decided_at` inside the certificate's validity;
//!   an unsigned decision is a break unless [`VerifyOptions::allow_unsigned`];
//! * `CHECKPOINT`: the certifier's signature, and that `up_to_sequence`/`head_hash` name the
//!   record immediately before the checkpoint.
//!
//! A record the verifier may not read (another tenant's, for a tenant's auditor: docs/tenancy.md)
//! is an [`Item::Opaque`]: its sequence and `prev_hash` are checked like any record's and its
//! stated `hash` becomes the head the next record or checkpoint must name, but that hash is not
//! recomputed; such records are counted in [`ChainStats::foreign`].
//!
//! Each problem is a [`Break`] with a stable [`BreakKind`] (`SEQUENCE_GAP`, `HASH_MISMATCH`,
//! `BAD_DECISION_SIGNATURE`, ...), the chain, the sequence and, where it applies, what was
//! expected and what was found.
//!
//! Two ways to drive it, with identical results:
//!
//! * [`ChainVerifier::push_record`]: one record at a time (the projector);
//! * [`ChainVerifier::push_batch`] / [`verify_chains`]: many records at once using every core
//!   (rayon): the sequence/link/certificate pass is sequential and cheap, hash recomputation and
//!   signature checks run in parallel once the certificates of the batch are known; decision
//!   signatures by one key are verified in batches of 512 with one multi-scalar multiplication,
//!   and a failing batch signature by signature (ADR 0025: identical reports, except for
//!   signatures the key holder crafted with a small-order component, which the batch accepts;
//!   [`ChainVerifier::single_signatures`] turns batching off).
//!
//! [`DecisionRow`] cross-checks a projected `decisions` row against its ledger record, so an edit
//! of the projection alone is found too. [`synthetic`] builds signed chains for tests and
//! benchmarks. [`archive`] is the format of the ledger archive's segment objects (one chain's
//! records between two checkpoints, with the later checkpoint) and reads them back as items.

mod anchors;
pub mod archive;
mod breaks;
mod chain;
pub mod proof;
mod row;
pub mod synthetic;

pub use anchors::{anchors_from_env, AnchorError, TrustAnchors};
pub use breaks::{Break, BreakKind};
pub use chain::{
    verify_chains, ChainReport, ChainStats, ChainVerifier, Item, RecordVerdict, Report,
    VerifyOptions, MAX_KEPT_BREAKS,
};
pub use row::{DecisionRow, OutcomeStatus};
