//! The per-chain verifier (incremental and batch) and reports.

use std::collections::HashMap;

use dl_ledger::{record_hash, GENESIS_HASH};
use dl_schema::{
    Checkpoint, DecisionRecorded, LedgerRecord, LedgerRecordKind, SigningKeyCertified,
};
use dl_signer::{
    b64url_decode, decision_payload, verify_certificate, verify_checkpoint, BatchItem, BatchKey,
    PublicKey,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::anchors::TrustAnchors;
use crate::breaks::{Break, BreakKind};

/// Breaks kept per chain in a report (all are counted).
pub const MAX_KEPT_BREAKS: usize = 1000;

/// Decision signatures verified together in one batch equation (ADR 0025). A failing batch is
/// verified again one signature at a time, so smaller batches cost less when a chain is broken;
/// larger ones amortise the multi-scalar multiplication a little better.
const SIGNATURE_BATCH: usize = 512;

/// How strict the verifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept decisions without a signature (ledgers written before signing was configured).
    pub allow_unsigned: bool,
    /// Report certificates and checkpoints whose certifier is not a trust anchor as
    /// `UNTRUSTED_CERTIFIER`. The projector turns this off when no anchors are configured: the
    /// records are then projected as unverified instead.
    pub report_untrusted: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            allow_unsigned: false,
            report_untrusted: true,
        }
    }
}

/// One input record: decoded, or not decodable.
// Records are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Item {
    /// A decoded record.
    Record(LedgerRecord),
    /// Bytes (or a stored row) that are not a record.
    Undecodable {
        /// The sequence the source claims for it (e.g. the `ledger_records.sequence` column).
        sequence: Option<i64>,
        /// Why it does not decode (no content).
        error: String,
    },
    /// A record the verifier may not read (another tenant's, seen through `tenant_ledger`): only
    /// its position and hashes. Its sequence and `prev_hash` are checked against the chain and its
    /// `hash` becomes the head the next record (or checkpoint) must name, but the hash is not
    /// recomputed: its content, and any signature in it, are taken as given.
    Opaque {
        /// Its sequence.
        sequence: i64,
        /// The hash it names as its predecessor's.
        prev_hash: String,
        /// Its hash, as stated.
        hash: String,
    },
}

#[derive(Clone, Copy)]
enum ItemRef<'a> {
    Record(&'a LedgerRecord),
    Undecodable(Option<i64>, &'a str),
    Opaque {
        sequence: i64,
        prev_hash: &'a str,
        hash: &'a str,
    },
}

impl<'a> From<&'a Item> for ItemRef<'a> {
    fn from(item: &'a Item) -> Self {
        match item {
            Item::Record(r) => ItemRef::Record(r),
            Item::Undecodable { sequence, error } => ItemRef::Undecodable(*sequence, error),
            Item::Opaque {
                sequence,
                prev_hash,
                hash,
            } => ItemRef::Opaque {
                sequence: *sequence,
                prev_hash,
                hash,
            },
        }
    }
}

/// The verdict on one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordVerdict {
    /// Breaks found at this record, in check order (empty: the record verifies).
    pub breaks: Vec<Break>,
    /// For a certificate: verified with a trust anchor. For a decision: signature verified with a
    /// key certified earlier in the chain by a trust anchor, within its validity. For a
    /// checkpoint: signature verified with a trust anchor and matching the chain. `None` for
    /// other records and unsigned decisions.
    pub verified: Option<bool>,
}

/// Counts per chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainStats {
    /// Records read (including undecodable and foreign ones).
    pub records: u64,
    /// Foreign records ([`Item::Opaque`]): sequence and link checked, hash taken as stated, body
    /// not read. Not counted in the other counts (a foreign decision is not in `decisions`).
    pub foreign: u64,
    /// `DECISION_RECORDED` records.
    pub decisions: u64,
    /// `REQUEST_REJECTED` records.
    pub rejections: u64,
    /// Decisions carrying a signature.
    pub signed: u64,
    /// Decisions whose signature verified.
    pub signatures_verified: u64,
    /// `SIGNING_KEY_CERTIFIED` records.
    pub certificates: u64,
    /// Certificates verified with a trust anchor.
    pub certificates_verified: u64,
    /// `CHECKPOINT` records.
    pub checkpoints: u64,
    /// Checkpoints verified (signature and position).
    pub checkpoints_verified: u64,
    /// `up_to_sequence` of the last verified checkpoint.
    pub last_verified_checkpoint: Option<i64>,
    /// Undecodable records.
    pub undecodable: u64,
    /// Breaks found (all, even beyond [`MAX_KEPT_BREAKS`]).
    pub breaks: u64,
}

/// The result for one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Chain id.
    pub chain_id: String,
    /// Whether no break was found.
    pub ok: bool,
    /// Counts.
    #[serde(flatten)]
    pub stats: ChainStats,
    /// Sequence after the last record read (`None` when the last record was undecodable).
    pub next_sequence: Option<i64>,
    /// Hash of the last record read.
    pub head_hash: Option<String>,
    /// The first break, precisely.
    pub first_break: Option<Break>,
    /// Breaks in order (at most [`MAX_KEPT_BREAKS`]).
    pub breaks: Vec<Break>,
}

/// The result for a set of chains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Per chain, ordered by chain id.
    pub chains: Vec<ChainReport>,
}

impl Report {
    /// Whether every chain verifies.
    pub fn ok(&self) -> bool {
        self.chains.iter().all(|c| c.ok)
    }

    /// Records read in all chains.
    pub fn records(&self) -> u64 {
        self.chains.iter().map(|c| c.stats.records).sum()
    }

    /// All kept breaks, chain by chain.
    pub fn breaks(&self) -> impl Iterator<Item = &Break> {
        self.chains.iter().flat_map(|c| c.breaks.iter())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertStatus {
    /// Verified with a trust anchor.
    Verified,
    /// Certifier not a trust anchor (signature not checkable).
    Untrusted,
    /// Does not verify.
    Invalid,
}

#[derive(Debug, Clone)]
struct CertEntry {
    /// Position in this verifier's input (certificates count only for later positions).
    pos: u64,
    sequence: i64,
    cert: SigningKeyCertified,
    key: Option<PublicKey>,
    /// The key in batch-verification form (`None`: its signatures are verified one by one).
    batch: Option<BatchKey>,
    status: CertStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Prev {
    Genesis,
    After { sequence: i64, hash: String },
    Unknown,
}

/// Verifies one chain, record by record or batch by batch. After a break it continues from the
/// offending record, so that one problem is reported once.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    chain_id: String,
    opts: VerifyOptions,
    prev: Prev,
    pos: u64,
    certs: HashMap<String, Vec<CertEntry>>,
    stats: ChainStats,
    breaks: Vec<Break>,
    single_signatures: bool,
    /// Hashes of the records since the last checkpoint (the next checkpoint's Merkle tree);
    /// `None` when not known (after [`ChainVerifier::resume`] or an undecodable record).
    segment: Option<Vec<dl_ledger::merkle::Hash32>>,
}

/// Check order of a break within one record.
fn order(kind: BreakKind) -> u8 {
    kind as u8
}

impl ChainVerifier {
    /// A verifier expecting the chain from its first record (sequence 0).
    pub fn new(chain_id: impl Into<String>, opts: VerifyOptions) -> Self {
        Self {
            chain_id: chain_id.into(),
            opts,
            prev: Prev::Genesis,
            pos: 0,
            certs: HashMap::new(),
            stats: ChainStats::default(),
            breaks: Vec::new(),
            single_signatures: false,
            segment: Some(Vec::new()),
        }
    }

    /// Verifies every decision signature on its own with the strict check in the batch methods
    /// too, instead of batch verification (ADR 0025): slower, and refuses the one kind of
    /// signature batch verification accepts and the strict check does not (a small-order
    /// component in `R`, which only the key holder can craft). [`push_record`](Self::push_record)
    /// always verifies strictly.
    pub fn single_signatures(mut self, on: bool) -> Self {
        self.single_signatures = on;
        self
    }

    /// A verifier continuing after a head already verified (`last_sequence`, `last_hash`), with
    /// the certificates seen before it (`(sequence, certificate)` in chain order; they are checked
    /// again against `anchors`, quietly). Counts start at zero.
    pub fn resume(
        chain_id: impl Into<String>,
        opts: VerifyOptions,
        last_sequence: i64,
        last_hash: impl Into<String>,
        certificates: impl IntoIterator<Item = (i64, SigningKeyCertified)>,
        anchors: &TrustAnchors,
    ) -> Self {
        let mut v = Self::new(chain_id, opts);
        for (sequence, cert) in certificates {
            let (status, key, _) = check_certificate(&v.chain_id, sequence, &cert, anchors, opts);
            let batch = key.as_ref().and_then(BatchKey::new);
            v.certs
                .entry(cert.key_id.clone())
                .or_default()
                .push(CertEntry {
                    pos: 0,
                    sequence,
                    cert,
                    key,
                    batch,
                    status,
                });
        }
        v.pos = 1;
        // The records before the head are not seen: the next checkpoint's root is not checked.
        v.segment = None;
        v.prev = Prev::After {
            sequence: last_sequence,
            hash: last_hash.into(),
        };
        v
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Counts so far.
    pub fn stats(&self) -> &ChainStats {
        &self.stats
    }

    /// The first break found so far.
    pub fn first_break(&self) -> Option<&Break> {
        self.breaks.first()
    }

    /// `(next sequence, head hash)` after the last record, unless it was undecodable.
    pub fn head(&self) -> Option<(i64, &str)> {
        match &self.prev {
            Prev::Genesis => Some((0, GENESIS_HASH)),
            Prev::After { sequence, hash } => Some((sequence.saturating_add(1), hash.as_str())),
            Prev::Unknown => None,
        }
    }

    /// Verifies the next record.
    pub fn push_record(&mut self, record: &LedgerRecord, anchors: &TrustAnchors) -> RecordVerdict {
        self.run(&[ItemRef::Record(record)], anchors, Mode::One, &no_extra)
            .pop()
            .unwrap_or_default()
    }

    /// Takes the next record as a foreign one ([`Item::Opaque`]): checks its sequence and
    /// `prev_hash`, and takes its `hash` as the new head without recomputing it.
    pub fn push_opaque(
        &mut self,
        sequence: i64,
        prev_hash: &str,
        hash: &str,
        anchors: &TrustAnchors,
    ) -> RecordVerdict {
        self.run(
            &[ItemRef::Opaque {
                sequence,
                prev_hash,
                hash,
            }],
            anchors,
            Mode::One,
            &no_extra,
        )
        .pop()
        .unwrap_or_default()
    }

    /// Notes an undecodable record (an `UNDECODABLE` break). The next record's sequence and link
    /// cannot be checked against it.
    pub fn push_undecodable(
        &mut self,
        sequence: Option<i64>,
        error: &str,
        anchors: &TrustAnchors,
    ) -> RecordVerdict {
        self.run(
            &[ItemRef::Undecodable(sequence, error)],
            anchors,
            Mode::One,
            &no_extra,
        )
        .pop()
        .unwrap_or_default()
    }

    /// Verifies the next records, using all cores, decision signatures in batches (results
    /// identical to pushing one by one, except for the crafted signatures described in
    /// [`single_signatures`](Self::single_signatures)).
    pub fn push_batch(&mut self, items: &[Item], anchors: &TrustAnchors) -> Vec<RecordVerdict> {
        let refs: Vec<ItemRef<'_>> = items.iter().map(ItemRef::from).collect();
        self.run(&refs, anchors, Mode::Parallel, &no_extra)
    }

    /// [`push_batch`](Self::push_batch) plus a caller's check per decoded record, run in the
    /// parallel pass; its break comes after the verifier's own for that record (e.g. the
    /// `decisions` row cross-check, [`crate::DecisionRow::check`]).
    pub fn push_batch_with(
        &mut self,
        items: &[Item],
        anchors: &TrustAnchors,
        extra: &(dyn Fn(&LedgerRecord) -> Option<Break> + Sync),
    ) -> Vec<RecordVerdict> {
        let refs: Vec<ItemRef<'_>> = items.iter().map(ItemRef::from).collect();
        self.run(&refs, anchors, Mode::Parallel, extra)
    }

    /// [`push_batch`](Self::push_batch) over borrowed, decoded records (the projector's batch:
    /// no copy of each record into an [`Item`]).
    pub fn push_records(
        &mut self,
        records: &[&LedgerRecord],
        anchors: &TrustAnchors,
    ) -> Vec<RecordVerdict> {
        let refs: Vec<ItemRef<'_>> = records.iter().map(|r| ItemRef::Record(r)).collect();
        self.run(&refs, anchors, Mode::Parallel, &no_extra)
    }

    /// Like [`push_batch`](Self::push_batch) on one thread (the baseline of the benchmark).
    pub fn push_batch_sequential(
        &mut self,
        items: &[Item],
        anchors: &TrustAnchors,
    ) -> Vec<RecordVerdict> {
        let refs: Vec<ItemRef<'_>> = items.iter().map(ItemRef::from).collect();
        self.run(&refs, anchors, Mode::Sequential, &no_extra)
    }

    /// The report so far.
    pub fn report(&self) -> ChainReport {
        let head = self.head();
        ChainReport {
            chain_id: self.chain_id.clone(),
            ok: self.stats.breaks == 0,
            stats: self.stats.clone(),
            next_sequence: head.map(|h| h.0),
            head_hash: head.map(|h| h.1.to_string()),
            first_break: self.breaks.first().cloned(),
            breaks: self.breaks.clone(),
        }
    }

    fn run<'i>(
        &mut self,
        items: &[ItemRef<'i>],
        anchors: &TrustAnchors,
        mode: Mode,
        extra: &(dyn Fn(&LedgerRecord) -> Option<Break> + Sync),
    ) -> Vec<RecordVerdict> {
        // Pass 1, sequential and cheap: sequence, links, bodies, certificates.
        let mut first: Vec<FirstPass> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let pos = self.pos + i as u64;
            let prev = std::mem::replace(&mut self.prev, Prev::Unknown);
            let mut breaks = Vec::new();
            let mut verified = None;
            match item {
                ItemRef::Undecodable(sequence, error) => {
                    breaks.push(Break::new(
                        &self.chain_id,
                        *sequence,
                        BreakKind::Undecodable,
                        format!("undecodable record: {error}"),
                    ));
                    // self.prev stays Unknown.
                    self.segment = None;
                }
                ItemRef::Opaque {
                    sequence,
                    prev_hash,
                    hash,
                } => {
                    self.link(&prev, *sequence, prev_hash, &mut breaks);
                    self.add_leaf(hash);
                    // Taken as stated: a checkpoint after it must name this hash, exactly as for
                    // a record whose hash was recomputed.
                    self.prev = Prev::After {
                        sequence: *sequence,
                        hash: (*hash).to_string(),
                    };
                }
                ItemRef::Record(r) => {
                    self.link_checks(&prev, r, &mut breaks);
                    let body_ok = r.body_matches_kind();
                    if !body_ok {
                        breaks.push(Break::new(
                            &self.chain_id,
                            Some(r.sequence),
                            BreakKind::MalformedBody,
                            format!("body does not match kind {}", r.kind.as_str()),
                        ));
                    }
                    if let (LedgerRecordKind::SigningKeyCertified, Some(cert)) =
                        (r.kind, &r.key_certified)
                    {
                        let (status, key, b) =
                            check_certificate(&self.chain_id, r.sequence, cert, anchors, self.opts);
                        breaks.extend(b);
                        verified = Some(status == CertStatus::Verified);
                        let batch = key.as_ref().and_then(BatchKey::new);
                        self.certs
                            .entry(cert.key_id.clone())
                            .or_default()
                            .push(CertEntry {
                                pos,
                                sequence: r.sequence,
                                cert: cert.clone(),
                                key,
                                batch,
                                status,
                            });
                    }
                    if let (LedgerRecordKind::Checkpoint, Some(cp)) = (r.kind, &r.checkpoint) {
                        if let Some(b) = self.check_merkle_root(r.sequence, cp) {
                            breaks.push(b);
                            verified = Some(false);
                        }
                        self.segment = Some(Vec::new());
                    } else {
                        self.add_leaf(&r.hash);
                    }
                    self.prev = Prev::After {
                        sequence: r.sequence,
                        hash: r.hash.clone(),
                    };
                }
            }
            first.push((breaks, verified, prev));
        }

        // Pass 2, independent per record: hashes, decision signatures (left to pass 3 when they
        // can be batch verified), checkpoints, the caller's check.
        let ctx = Ctx {
            chain_id: &self.chain_id,
            certs: &self.certs,
            anchors,
            opts: self.opts,
            batch: mode != Mode::One && !self.single_signatures,
        };
        let parallel = mode == Mode::Parallel && items.len() > 1;
        let base = self.pos;
        let second = |(i, (item, (_, _, prev))): (usize, (&ItemRef<'i>, &FirstPass))| match item {
            ItemRef::Record(r) => ctx.independent(r, base + i as u64, prev, extra(r)),
            ItemRef::Undecodable(..) | ItemRef::Opaque { .. } => Second::default(),
        };
        let mut seconds: Vec<Second<'_>> = if parallel {
            items
                .par_iter()
                .zip(first.par_iter())
                .enumerate()
                .with_min_len(32)
                .map(second)
                .collect()
        } else {
            items
                .iter()
                .zip(first.iter())
                .enumerate()
                .map(second)
                .collect()
        };

        // Pass 3: the decision signatures left pending, in batches per signing key; a batch that
        // fails is verified again signature by signature, so each bad one is named exactly as
        // the strict check names it.
        let pending: Vec<(usize, &CertEntry, BatchItem)> = seconds
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.pending.take().map(|(entry, item)| (i, entry, item)))
            .collect();
        for (i, outcome) in ctx.verify_pending(items, pending, parallel) {
            let s = &mut seconds[i];
            if let (ItemRef::Record(r), Some((key_id, status))) = (items[i], s.awaiting) {
                s.verified =
                    ctx.signature_outcome(r.sequence, key_id, status, outcome, &mut s.breaks);
            }
        }
        let results: Vec<(Vec<Break>, Option<bool>)> = seconds
            .into_iter()
            .map(|s| {
                let mut breaks = s.breaks;
                breaks.extend(s.extra);
                (breaks, s.verified)
            })
            .collect();

        // Merge in record order, breaks in check order.
        self.pos += items.len() as u64;
        let mut verdicts = Vec::with_capacity(items.len());
        for ((item, (mut breaks, v1, _)), (b2, v2)) in items.iter().zip(first).zip(results) {
            breaks.extend(b2);
            breaks.sort_by_key(|b| order(b.kind));
            self.count(item, v1.or(v2));
            self.stats.breaks += breaks.len() as u64;
            for b in &breaks {
                if self.breaks.len() < MAX_KEPT_BREAKS {
                    self.breaks.push(b.clone());
                }
            }
            verdicts.push(RecordVerdict {
                breaks,
                verified: v1.or(v2),
            });
        }
        verdicts
    }

    fn count(&mut self, item: &ItemRef<'_>, verified: Option<bool>) {
        let s = &mut self.stats;
        s.records += 1;
        let r = match item {
            ItemRef::Record(r) => r,
            ItemRef::Undecodable(..) => {
                s.undecodable += 1;
                return;
            }
            ItemRef::Opaque { .. } => {
                s.foreign += 1;
                return;
            }
        };
        let ok = verified == Some(true);
        match r.kind {
            LedgerRecordKind::DecisionRecorded => {
                s.decisions += 1;
                if r.decision.as_ref().is_some_and(|d| d.signature.is_some()) {
                    s.signed += 1;
                }
                s.signatures_verified += u64::from(ok);
            }
            LedgerRecordKind::RequestRejected => s.rejections += 1,
            LedgerRecordKind::SigningKeyCertified => {
                s.certificates += 1;
                s.certificates_verified += u64::from(ok);
            }
            LedgerRecordKind::Checkpoint => {
                s.checkpoints += 1;
                if ok {
                    s.checkpoints_verified += 1;
                    s.last_verified_checkpoint = r.checkpoint.as_ref().map(|c| c.up_to_sequence);
                }
            }
        }
    }

    /// Adds a record's stated hash to the current segment (an unparsable one makes the segment
    /// unknown: its `HASH_MISMATCH` is reported by the hash check).
    fn add_leaf(&mut self, hash: &str) {
        if let Some(segment) = &mut self.segment {
            match dl_ledger::merkle::parse_hash(hash) {
                Ok(h) => segment.push(h),
                Err(_) => self.segment = None,
            }
        }
    }

    /// A `MERKLE_ROOT_MISMATCH` when the checkpoint names a root and the segment is known and
    /// has another root.
    fn check_merkle_root(&self, sequence: i64, cp: &Checkpoint) -> Option<Break> {
        let stated = cp.merkle_root.as_deref()?;
        let segment = self.segment.as_deref()?;
        let computed = hex::encode(dl_ledger::merkle::root(segment));
        (computed != stated).then(|| {
            Break::new(
                &self.chain_id,
                Some(sequence),
                BreakKind::MerkleRootMismatch,
                format!(
                    "merkle_root is not the root over the {} records the checkpoint covers",
                    segment.len()
                ),
            )
            .differs(computed, stated)
        })
    }

    fn link_checks(&self, prev: &Prev, r: &LedgerRecord, breaks: &mut Vec<Break>) {
        if r.chain_id != self.chain_id {
            breaks.push(
                Break::new(
                    &self.chain_id,
                    Some(r.sequence),
                    BreakKind::ChainMismatch,
                    "record names another chain",
                )
                .differs(&self.chain_id, &r.chain_id),
            );
        }
        self.link(prev, r.sequence, &r.prev_hash, breaks);
    }

    /// Sequence and `prev_hash` of the record after `prev`.
    fn link(&self, prev: &Prev, sequence: i64, prev_hash: &str, breaks: &mut Vec<Break>) {
        let (expected_seq, expected_hash) = match prev {
            Prev::Genesis => (0, GENESIS_HASH),
            Prev::After { sequence, hash } => (sequence.saturating_add(1), hash.as_str()),
            Prev::Unknown => return,
        };
        if sequence != expected_seq {
            let detail = if sequence > expected_seq {
                "records are missing before this one (deleted or moved)"
            } else {
                "sequence repeats or goes back (duplicated or moved record)"
            };
            breaks.push(
                Break::new(
                    &self.chain_id,
                    Some(expected_seq),
                    BreakKind::SequenceGap,
                    detail,
                )
                .differs(expected_seq, sequence),
            );
        }
        if prev_hash != expected_hash {
            breaks.push(
                Break::new(
                    &self.chain_id,
                    Some(sequence),
                    BreakKind::BrokenLink,
                    "prev_hash does not name the previous record",
                )
                .differs(expected_hash, prev_hash),
            );
        }
    }
}

/// Breaks, verdict and the previous record's position, from the sequential pass.
type FirstPass = (Vec<Break>, Option<bool>, Prev);

/// How [`ChainVerifier::run`] works through its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One record: signatures verified one by one.
    One,
    /// A batch on one thread.
    Sequential,
    /// A batch on all cores.
    Parallel,
}

/// The result of pass 2 for one record.
#[derive(Default)]
struct Second<'c> {
    /// Breaks in check order (hash, then the decision's or checkpoint's).
    breaks: Vec<Break>,
    verified: Option<bool>,
    /// A decision signature left to batch verification: its certificate entry and prepared item.
    pending: Option<(&'c CertEntry, BatchItem)>,
    /// For a pending signature: the signing key id and its certificate's status.
    awaiting: Option<(&'c str, CertStatus)>,
    /// The caller's check (after the verifier's own breaks).
    extra: Option<Break>,
}

/// What a decision's signature check came to.
// A short-lived return value; boxing the pending item would cost an allocation per decision.
#[allow(clippy::large_enum_variant)]
enum Signature<'c> {
    /// Checked: the verdict (breaks already added).
    Done(Option<bool>),
    /// Left to batch verification.
    Pending(&'c CertEntry, BatchItem),
}

fn no_extra(_: &LedgerRecord) -> Option<Break> {
    None
}

/// The strict check of one decision's signature (what a failing batch falls back to), worded
/// as in [`Ctx::decision`].
fn single_check(entry: &CertEntry, item: ItemRef<'_>) -> Result<(), String> {
    let ItemRef::Record(r) = item else {
        return Err("not a record".into());
    };
    let (Some(d), Some(key)) = (&r.decision, &entry.key) else {
        return Err("the certified public key is unusable".into());
    };
    let Some(sig) = &d.signature else {
        return Err("decision carries no signature".into());
    };
    let raw = b64url_decode(&sig.value).map_err(|e| e.to_string())?;
    key.verify(&decision_payload(d), &raw)
        .map_err(|e| e.to_string())
}

fn check_certificate(
    chain_id: &str,
    sequence: i64,
    cert: &SigningKeyCertified,
    anchors: &TrustAnchors,
    opts: VerifyOptions,
) -> (CertStatus, Option<PublicKey>, Option<Break>) {
    let key = PublicKey::from_spki_b64url(&cert.public_key).ok();
    match anchors.get(&cert.certifier_key_id) {
        None => {
            let b = opts.report_untrusted.then(|| {
                Break::new(
                    chain_id,
                    Some(sequence),
                    BreakKind::UntrustedCertifier,
                    format!(
                        "certificate of {} names a certifier that is not trusted",
                        cert.key_id
                    ),
                )
                .differs(anchor_list(anchors), &cert.certifier_key_id)
            });
            (CertStatus::Untrusted, key, b)
        }
        Some(spki) => match verify_certificate(cert, spki) {
            Ok(()) => (CertStatus::Verified, key, None),
            Err(e) => (
                CertStatus::Invalid,
                None,
                Some(Break::new(
                    chain_id,
                    Some(sequence),
                    BreakKind::BadKeyCertificate,
                    format!(
                        "certificate of {} does not verify with {}: {e}",
                        cert.key_id, cert.certifier_key_id
                    ),
                )),
            ),
        },
    }
}

fn anchor_list(anchors: &TrustAnchors) -> String {
    if anchors.is_empty() {
        "a trusted certifier (none configured)".into()
    } else {
        format!(
            "one of [{}]",
            anchors.key_ids().collect::<Vec<_>>().join(", ")
        )
    }
}

struct Ctx<'a> {
    chain_id: &'a str,
    certs: &'a HashMap<String, Vec<CertEntry>>,
    anchors: &'a TrustAnchors,
    opts: VerifyOptions,
    /// Leave decision signatures of batchable keys to [`Ctx::verify_pending`].
    batch: bool,
}

impl<'a> Ctx<'a> {
    fn independent(
        &self,
        r: &'a LedgerRecord,
        pos: u64,
        prev: &Prev,
        extra: Option<Break>,
    ) -> Second<'a> {
        let mut breaks = Vec::new();
        let recomputed = record_hash(r);
        if recomputed != r.hash {
            breaks.push(
                Break::new(
                    self.chain_id,
                    Some(r.sequence),
                    BreakKind::HashMismatch,
                    "the record's content does not hash to its hash (edited)",
                )
                .differs(recomputed, &r.hash),
            );
        }
        let mut second = Second {
            extra,
            ..Second::default()
        };
        second.verified = match (r.kind, &r.decision, &r.checkpoint) {
            (LedgerRecordKind::DecisionRecorded, Some(d), _) => {
                match self.decision(r.sequence, d, pos, &mut breaks) {
                    Signature::Done(v) => v,
                    Signature::Pending(entry, item) => {
                        second.awaiting = d
                            .signature
                            .as_ref()
                            .map(|s| (s.key_id.as_str(), entry.status));
                        second.pending = Some((entry, item));
                        None
                    }
                }
            }
            (LedgerRecordKind::Checkpoint, _, Some(cp)) => {
                Some(self.checkpoint(r.sequence, cp, prev, &mut breaks))
            }
            _ => None,
        };
        second.breaks = breaks;
        second
    }

    /// Verifies the pending signatures (`(record index, certificate entry, item)`), in batches
    /// per certificate entry; returns each record's outcome as the strict check words it.
    fn verify_pending(
        &self,
        items: &[ItemRef<'_>],
        pending: Vec<(usize, &'a CertEntry, BatchItem)>,
        parallel: bool,
    ) -> Vec<(usize, Result<(), String>)> {
        // Group by certificate entry, keeping record order within a group.
        let mut groups: Vec<(&CertEntry, Vec<usize>, Vec<BatchItem>)> = Vec::new();
        for (i, entry, item) in pending {
            match groups.iter_mut().find(|(e, _, _)| std::ptr::eq(*e, entry)) {
                Some((_, is, its)) => {
                    is.push(i);
                    its.push(item);
                }
                None => groups.push((entry, vec![i], vec![item])),
            }
        }
        type Batch<'b> = (&'b CertEntry, &'b [usize], &'b [BatchItem]);
        let batches: Vec<Batch<'_>> = groups
            .iter()
            .flat_map(|(e, is, its)| {
                is.chunks(SIGNATURE_BATCH)
                    .zip(its.chunks(SIGNATURE_BATCH))
                    .map(move |(i, it)| (*e, i, it))
            })
            .collect();
        let check = |&(entry, indices, prepared): &Batch<'_>| {
            let all_good = entry.batch.as_ref().is_some_and(|k| k.verify(prepared));
            indices
                .iter()
                .map(|&i| {
                    let outcome = if all_good {
                        Ok(())
                    } else {
                        single_check(entry, items[i])
                    };
                    (i, outcome)
                })
                .collect::<Vec<_>>()
        };
        if parallel && batches.len() > 1 {
            batches.par_iter().flat_map_iter(check).collect()
        } else {
            batches.iter().flat_map(check).collect()
        }
    }

    /// Turns a signature check's outcome into the verdict, adding its break.
    fn signature_outcome(
        &self,
        sequence: i64,
        key_id: &str,
        status: CertStatus,
        outcome: Result<(), String>,
        breaks: &mut Vec<Break>,
    ) -> Option<bool> {
        match outcome {
            // A key certified by no trust anchor proves nothing (its certificate is the
            // chain's UNTRUSTED_CERTIFIER break): checked, but never verified.
            Ok(()) => Some(status == CertStatus::Verified),
            Err(why) => {
                breaks.push(Break::new(
                    self.chain_id,
                    Some(sequence),
                    BreakKind::BadDecisionSignature,
                    format!("signature by {key_id} does not verify: {why}"),
                ));
                Some(false)
            }
        }
    }

    fn decision(
        &self,
        sequence: i64,
        d: &DecisionRecorded,
        pos: u64,
        breaks: &mut Vec<Break>,
    ) -> Signature<'a> {
        let chain = self.chain_id;
        let Some(sig) = &d.signature else {
            if !self.opts.allow_unsigned {
                breaks.push(Break::new(
                    chain,
                    Some(sequence),
                    BreakKind::UnsignedDecision,
                    "decision carries no signature",
                ));
            }
            return Signature::Done(None);
        };
        let entry = self
            .certs
            .get(&sig.key_id)
            .and_then(|v| v.iter().rev().find(|e| e.pos < pos));
        let Some(entry) = entry else {
            breaks.push(
                Break::new(
                    chain,
                    Some(sequence),
                    BreakKind::UnknownSigningKey,
                    "no certificate of the signing key earlier in this chain",
                )
                .differs("a key certified earlier in the chain", &sig.key_id),
            );
            return Signature::Done(Some(false));
        };
        if entry.status == CertStatus::Invalid {
            breaks.push(
                Break::new(
                    chain,
                    Some(sequence),
                    BreakKind::UnknownSigningKey,
                    format!(
                        "the certificate of the signing key (sequence {}) does not verify",
                        entry.sequence
                    ),
                )
                .differs("a validly certified key", &sig.key_id),
            );
            return Signature::Done(Some(false));
        }
        let cert = &entry.cert;
        if !(cert.valid_from <= d.decided_at && d.decided_at < cert.valid_until) {
            breaks.push(
                Break::new(
                    chain,
                    Some(sequence),
                    BreakKind::KeyNotValid,
                    format!("decided_at is outside the validity of {}", cert.key_id),
                )
                .differs(
                    format!("{}..{}", cert.valid_from, cert.valid_until),
                    d.decided_at,
                ),
            );
            return Signature::Done(Some(false));
        }
        let outcome = match &entry.key {
            None => Err("the certified public key is unusable".to_string()),
            Some(key)
                if sig.algorithm != cert.algorithm || key.algorithm().as_str() != sig.algorithm =>
            {
                Err(format!(
                    "algorithm {} is not the key's {}",
                    sig.algorithm, cert.algorithm
                ))
            }
            Some(key) => match b64url_decode(&sig.value) {
                Err(e) => Err(e.to_string()),
                Ok(raw) => {
                    let payload = decision_payload(d);
                    let prepared = match (&entry.batch, self.batch) {
                        (Some(k), true) => k.item(&payload, &raw),
                        _ => None,
                    };
                    if let Some(item) = prepared {
                        return Signature::Pending(entry, item);
                    }
                    key.verify(&payload, &raw).map_err(|e| e.to_string())
                }
            },
        };
        Signature::Done(self.signature_outcome(
            sequence,
            &sig.key_id,
            entry.status,
            outcome,
            breaks,
        ))
    }

    fn checkpoint(
        &self,
        sequence: i64,
        cp: &Checkpoint,
        prev: &Prev,
        breaks: &mut Vec<Break>,
    ) -> bool {
        let chain = self.chain_id;
        let signed = match self.anchors.get(&cp.signer_key_id) {
            None => {
                if self.opts.report_untrusted {
                    breaks.push(
                        Break::new(
                            chain,
                            Some(sequence),
                            BreakKind::UntrustedCertifier,
                            "checkpoint signer is not trusted",
                        )
                        .differs(anchor_list(self.anchors), &cp.signer_key_id),
                    );
                }
                false
            }
            Some(spki) => match verify_checkpoint(chain, cp, spki) {
                Ok(()) => true,
                Err(e) => {
                    breaks.push(Break::new(
                        chain,
                        Some(sequence),
                        BreakKind::BadCheckpoint,
                        format!(
                            "checkpoint signature by {} does not verify: {e}",
                            cp.signer_key_id
                        ),
                    ));
                    false
                }
            },
        };
        let matches = match prev {
            Prev::Unknown => false,
            Prev::Genesis => {
                breaks.push(
                    Break::new(
                        chain,
                        Some(sequence),
                        BreakKind::CheckpointMismatch,
                        "a checkpoint cannot start a chain",
                    )
                    .differs("a preceding record", cp.up_to_sequence),
                );
                false
            }
            Prev::After { sequence: s, hash } => {
                if cp.up_to_sequence != *s {
                    breaks.push(
                        Break::new(
                            chain,
                            Some(sequence),
                            BreakKind::CheckpointMismatch,
                            "up_to_sequence is not the previous record's sequence",
                        )
                        .differs(s, cp.up_to_sequence),
                    );
                    false
                } else if cp.head_hash != *hash {
                    breaks.push(
                        Break::new(
                            chain,
                            Some(sequence),
                            BreakKind::CheckpointMismatch,
                            "head_hash is not the previous record's hash",
                        )
                        .differs(hash, &cp.head_hash),
                    );
                    false
                } else {
                    true
                }
            }
        };
        signed && matches
    }
}

/// Verifies whole chains (each from sequence 0), chains in parallel and records within a chain
/// in parallel. `chains` holds `(chain id, records in order)`.
pub fn verify_chains(
    chains: &[(String, Vec<Item>)],
    anchors: &TrustAnchors,
    opts: VerifyOptions,
) -> Report {
    let mut reports: Vec<ChainReport> = chains
        .par_iter()
        .map(|(chain_id, items)| {
            let mut v = ChainVerifier::new(chain_id.clone(), opts);
            v.push_batch(items, anchors);
            v.report()
        })
        .collect();
    reports.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
    Report { chains: reports }
}
