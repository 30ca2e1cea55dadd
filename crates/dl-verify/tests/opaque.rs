//! Foreign records as a tenant's auditor sees them (`Item::Opaque`: position and hashes only,
//! docs/tenancy.md): a signed chain interleaving two tenants is verified with the other tenant's
//! records opaque. Linkage through them, checkpoints over them, and the breaks an edit of their
//! position or hashes makes; also what is not checked (a foreign record's content). Each chain is
//! verified record by record (`push_opaque`) and as batches; both must agree.

use std::time::Duration;

use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{Algorithm, LocalKeyFile, Signer, WorkerKey, WorkerKeyPolicy};
use dl_verify::synthetic::{decision_body, rejection_body, sign_decision, ChainBuilder};
use dl_verify::{BreakKind, ChainReport, ChainVerifier, Item, TrustAnchors, VerifyOptions};

const CHAIN: &str = "decision.ledger:0";
const T0: i64 = 1_764_300_000_000;

struct Keys {
    _dir: tempfile::TempDir,
    certifier: LocalKeyFile,
    signer: Signer,
    anchors: TrustAnchors,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certifier.pem");
    let certifier = LocalKeyFile::open_or_create(&path, Algorithm::EcdsaP256Sha256).unwrap();
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&path).unwrap());
    let info = certifier.key_info();
    let mut anchors = TrustAnchors::new();
    anchors
        .insert(&info.key_id, info.public_key_spki.clone())
        .unwrap();
    Keys {
        _dir: dir,
        certifier,
        signer,
        anchors,
    }
}

fn worker_key(signer: &Signer) -> WorkerKey {
    let validity = Duration::from_secs(6 * 3600);
    let policy = WorkerKeyPolicy {
        algorithm: Algorithm::Ed25519,
        validity,
        renew_before: validity / 2,
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(WorkerKey::certify(signer, "worker-1", &policy, T0))
        .unwrap()
}

fn decision(b: &mut ChainBuilder, key: &WorkerKey, i: u64, tenant: &str) {
    let mut d = decision_body(i, b.clock_ms);
    d.tenant = Some(tenant.into());
    sign_decision(key, &mut d);
    b.signed_decision(d);
}

fn rejection(b: &mut ChainBuilder, i: u64, tenant: &str) {
    let mut r = LedgerRecord::unchained(LedgerRecordKind::RequestRejected, b.clock_ms);
    let mut body = rejection_body(i, b.clock_ms);
    body.tenant = Some(tenant.into());
    r.rejection = Some(body);
    b.append(r);
}

/// 0 cert · 1 kela · 2 bank · 3 bank rejection · 4 kela rejection · 5 bank · 6 checkpoint(5,
/// whose head is bank's) · 7 kela · 8 bank · 9 bank · 10 checkpoint(9) · 11 kela.
fn shared_chain(k: &Keys) -> Vec<LedgerRecord> {
    let key = worker_key(&k.signer);
    let mut b = ChainBuilder::new(CHAIN, T0 + 10);
    b.certificate(&key);
    decision(&mut b, &key, 1, "kela");
    decision(&mut b, &key, 2, "bank");
    rejection(&mut b, 3, "bank");
    rejection(&mut b, 4, "kela");
    decision(&mut b, &key, 5, "bank");
    b.checkpoint(&k.certifier).unwrap();
    decision(&mut b, &key, 7, "kela");
    decision(&mut b, &key, 8, "bank");
    decision(&mut b, &key, 9, "bank");
    b.checkpoint(&k.certifier).unwrap();
    decision(&mut b, &key, 11, "kela");
    b.records
}

/// What `tenant_ledger` shows `tenant`'s auditor: its own records, certificates and checkpoints
/// whole, every other record as position and hashes.
fn as_seen_by(records: &[LedgerRecord], tenant: &str) -> Vec<Item> {
    records
        .iter()
        .map(|r| match r.kind {
            LedgerRecordKind::SigningKeyCertified | LedgerRecordKind::Checkpoint => {
                Item::Record(r.clone())
            }
            _ if r.tenant() == tenant => Item::Record(r.clone()),
            _ => Item::Opaque {
                sequence: r.sequence,
                prev_hash: r.prev_hash.clone(),
                hash: r.hash.clone(),
            },
        })
        .collect()
}

/// Verifies item by item and as two batches; asserts both agree.
fn verify(items: &[Item], k: &Keys) -> ChainReport {
    let opts = VerifyOptions::default();
    let mut one = ChainVerifier::new(CHAIN, opts);
    for item in items {
        match item {
            Item::Record(r) => one.push_record(r, &k.anchors),
            Item::Opaque {
                sequence,
                prev_hash,
                hash,
            } => one.push_opaque(*sequence, prev_hash, hash, &k.anchors),
            Item::Undecodable { sequence, error } => {
                one.push_undecodable(*sequence, error, &k.anchors)
            }
        };
    }
    let mut batch = ChainVerifier::new(CHAIN, opts);
    let mid = items.len() / 2;
    batch.push_batch(&items[..mid], &k.anchors);
    batch.push_batch(&items[mid..], &k.anchors);
    assert_eq!(
        one.report(),
        batch.report(),
        "incremental and batch disagree"
    );
    one.report()
}

fn first(report: &ChainReport) -> (BreakKind, Option<i64>) {
    let b = report.first_break.as_ref().expect("a break");
    (b.kind, b.sequence)
}

fn opaque_mut(item: &mut Item) -> (&mut String, &mut String) {
    match item {
        Item::Opaque {
            prev_hash, hash, ..
        } => (prev_hash, hash),
        _ => panic!("not an opaque item"),
    }
}

#[test]
fn each_tenant_verifies_the_shared_chain_through_the_others_records() {
    let k = keys();
    let records = shared_chain(&k);
    for (tenant, own_decisions, own_rejections, foreign) in
        [("kela", 3, 1, 5), ("bank", 4, 1, 4), ("other", 0, 0, 9)]
    {
        let r = verify(&as_seen_by(&records, tenant), &k);
        assert!(r.ok, "{tenant}: {:?}", r.breaks);
        assert_eq!(r.stats.records, 12, "{tenant}");
        assert_eq!(r.stats.foreign, foreign, "{tenant}");
        assert_eq!(r.stats.decisions, own_decisions, "{tenant}");
        assert_eq!(r.stats.signatures_verified, own_decisions, "{tenant}");
        assert_eq!(r.stats.rejections, own_rejections, "{tenant}");
        assert_eq!(r.stats.certificates_verified, 1, "{tenant}");
        // Both checkpoints sign a head that is a bank record: opaque to kela, yet verified.
        assert_eq!(r.stats.checkpoints_verified, 2, "{tenant}");
        assert_eq!(r.stats.last_verified_checkpoint, Some(9), "{tenant}");
        assert_eq!(r.next_sequence, Some(12));
        assert_eq!(r.head_hash.as_ref(), Some(&records[11].hash));
    }
    // The same chain read whole: the counts add up.
    let whole: Vec<Item> = records.iter().cloned().map(Item::Record).collect();
    let r = verify(&whole, &k);
    assert!(r.ok);
    assert_eq!((r.stats.foreign, r.stats.decisions), (0, 7));
}

#[test]
fn a_foreign_records_prev_hash_edited_is_a_broken_link_there() {
    let k = keys();
    let mut items = as_seen_by(&shared_chain(&k), "kela");
    *opaque_mut(&mut items[2]).0 = "0".repeat(64);
    let r = verify(&items, &k);
    assert_eq!(first(&r), (BreakKind::BrokenLink, Some(2)));
    assert_eq!(r.stats.breaks, 1);
}

#[test]
fn a_foreign_records_hash_edited_breaks_the_next_link() {
    let k = keys();
    let records = shared_chain(&k);
    // Followed by another foreign record (3), and by an own record (4).
    for (at, next) in [(2usize, 3i64), (3, 4)] {
        let mut items = as_seen_by(&records, "kela");
        *opaque_mut(&mut items[at]).1 = "f".repeat(64);
        let r = verify(&items, &k);
        assert_eq!(
            first(&r),
            (BreakKind::BrokenLink, Some(next)),
            "hash of {at}"
        );
        assert_eq!(
            r.breaks[0].expected.as_deref(),
            Some("f".repeat(64).as_str())
        );
        assert_eq!(r.stats.breaks, 1);
    }
}

#[test]
fn a_foreign_head_edited_before_a_checkpoint_is_a_checkpoint_mismatch() {
    let k = keys();
    let mut items = as_seen_by(&shared_chain(&k), "kela");
    // 5 is bank's, the head checkpoint 6 signs.
    *opaque_mut(&mut items[5]).1 = "e".repeat(64);
    let r = verify(&items, &k);
    let kinds: Vec<(BreakKind, Option<i64>)> =
        r.breaks.iter().map(|b| (b.kind, b.sequence)).collect();
    assert_eq!(
        kinds,
        [
            (BreakKind::BrokenLink, Some(6)),
            (BreakKind::CheckpointMismatch, Some(6))
        ]
    );
    assert_eq!(r.stats.checkpoints_verified, 1);
}

#[test]
fn a_missing_or_moved_foreign_record_is_a_sequence_gap() {
    let k = keys();
    let mut items = as_seen_by(&shared_chain(&k), "kela");
    items.remove(8);
    let r = verify(&items, &k);
    assert_eq!(first(&r), (BreakKind::SequenceGap, Some(8)));

    let mut items = as_seen_by(&shared_chain(&k), "kela");
    if let Item::Opaque { sequence, .. } = &mut items[8] {
        *sequence = 80;
    }
    let r = verify(&items, &k);
    assert_eq!(first(&r), (BreakKind::SequenceGap, Some(8)));
}

#[test]
fn an_own_record_edited_among_foreign_ones_is_a_hash_mismatch() {
    let k = keys();
    let mut records = shared_chain(&k);
    records[7].decision.as_mut().unwrap().output = r#"{"eligible":false}"#.into();
    let r = verify(&as_seen_by(&records, "kela"), &k);
    assert_eq!(first(&r), (BreakKind::HashMismatch, Some(7)));
    assert_eq!(r.breaks[1].kind, BreakKind::BadDecisionSignature);
    // To bank, record 7 is foreign: its content is not checked, and its hash is as stated.
    let r = verify(&as_seen_by(&records, "bank"), &k);
    assert!(r.ok, "{:?}", r.breaks);
}

#[test]
fn what_is_not_checked_a_consistent_run_of_foreign_hashes() {
    // Records 2 and 3 are both bank's: to kela, a new hash for 2 that 3 names as its prev_hash
    // is indistinguishable from the original (3's own hash is not recomputed). Caught as soon as
    // the run ends at a readable record: 4 is kela's, and its prev_hash is hashed.
    let k = keys();
    let mut items = as_seen_by(&shared_chain(&k), "kela");
    *opaque_mut(&mut items[2]).1 = "d".repeat(64);
    *opaque_mut(&mut items[3]).0 = "d".repeat(64);
    let r = verify(&items, &k);
    assert!(r.ok, "{:?}", r.breaks);
    *opaque_mut(&mut items[3]).1 = "c".repeat(64);
    let r = verify(&items, &k);
    assert_eq!(first(&r), (BreakKind::BrokenLink, Some(4)));
}
