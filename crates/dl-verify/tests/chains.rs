//! Synthetic chains: the valid case (with key rotation) and every break kind. Each chain is
//! verified both record by record and as a parallel batch; both must agree.

use std::time::Duration;

use dl_ledger::{record_hash, ChainHead};
use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{Algorithm, LocalKeyFile, Signer, WorkerKey, WorkerKeyPolicy};
use dl_verify::synthetic::{local_checkpoint, sign_decision, ChainBuilder};
use dl_verify::{
    BreakKind, ChainReport, ChainVerifier, DecisionRow, Item, OutcomeStatus, TrustAnchors,
    VerifyOptions,
};

const CHAIN: &str = "decision.ledger:0";
const T0: i64 = 1_764_300_000_000;

struct Keys {
    _dir: tempfile::TempDir,
    certifier: LocalKeyFile,
    signer: Signer,
    rogue: LocalKeyFile,
    rogue_signer: Signer,
    anchors: TrustAnchors,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certifier.pem");
    let certifier = LocalKeyFile::open_or_create(&path, Algorithm::EcdsaP256Sha256).unwrap();
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&path).unwrap());
    let rogue_path = dir.path().join("rogue.pem");
    let rogue = LocalKeyFile::open_or_create(&rogue_path, Algorithm::EcdsaP256Sha256).unwrap();
    let rogue_signer = Signer::LocalKeyFile(LocalKeyFile::open(&rogue_path).unwrap());
    let info = certifier.key_info();
    let mut anchors = TrustAnchors::new();
    anchors
        .insert(&info.key_id, info.public_key_spki.clone())
        .unwrap();
    Keys {
        _dir: dir,
        certifier,
        signer,
        rogue,
        rogue_signer,
        anchors,
    }
}

fn certify(signer: &Signer, now: i64, validity: Duration) -> WorkerKey {
    let policy = WorkerKeyPolicy {
        algorithm: Algorithm::Ed25519,
        validity,
        renew_before: validity / 2,
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(WorkerKey::certify(signer, "worker-1", &policy, now))
        .unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

/// Verifies record by record and as one batch; asserts both agree; returns the report.
fn verify_with(
    records: &[LedgerRecord],
    anchors: &TrustAnchors,
    opts: VerifyOptions,
) -> ChainReport {
    let mut one = ChainVerifier::new(CHAIN, opts);
    for r in records {
        one.push_record(r, anchors);
    }
    let items: Vec<Item> = records.iter().cloned().map(Item::Record).collect();
    let mut batch = ChainVerifier::new(CHAIN, opts);
    // Two batches, to cross a batch boundary.
    let mid = items.len() / 2;
    batch.push_batch(&items[..mid], anchors);
    batch.push_batch(&items[mid..], anchors);
    assert_eq!(
        one.report(),
        batch.report(),
        "incremental and batch disagree"
    );
    one.report()
}

fn verify(records: &[LedgerRecord], k: &Keys) -> ChainReport {
    verify_with(records, &k.anchors, VerifyOptions::default())
}

/// Recomputes hashes and links from `from` on: a forger rewriting the rest of the chain.
fn rehash_from(records: &mut [LedgerRecord], from: usize) {
    let mut head = if from == 0 {
        ChainHead::genesis(CHAIN)
    } else {
        ChainHead::after(&records[from - 1])
    };
    for r in records.iter_mut().skip(from) {
        *r = head.append(r.clone());
    }
}

fn first(report: &ChainReport) -> (BreakKind, Option<i64>) {
    let b = report.first_break.as_ref().expect("a break");
    (b.kind, b.sequence)
}

/// cert k1 (0), 20 decisions + a rejection, checkpoint, cert k2, decisions by k2 and k1
/// (old key still valid), checkpoint.
fn valid_chain(k: &Keys) -> (Vec<LedgerRecord>, WorkerKey, WorkerKey) {
    let k1 = certify(&k.signer, T0, HOUR * 6);
    let k2 = certify(&k.signer, T0 + 1000, HOUR * 6);
    let mut b = ChainBuilder::new(CHAIN, T0);
    b.certificate(&k1);
    for i in 0..20 {
        b.decision(Some(&k1), i);
    }
    b.rejection(100);
    b.checkpoint(&k.certifier).unwrap();
    b.clock_ms = T0 + 2000;
    b.certificate(&k2);
    for i in 20..30 {
        b.decision(Some(&k2), i);
    }
    b.decision(Some(&k1), 30);
    b.checkpoint(&k.certifier).unwrap();
    (b.records, k1, k2)
}

#[test]
fn a_signed_chain_with_key_rotation_verifies() {
    let k = keys();
    let (records, _, _) = valid_chain(&k);
    let r = verify(&records, &k);
    assert!(r.ok, "{:?}", r.breaks);
    assert_eq!(r.stats.records, 36);
    assert_eq!(r.stats.decisions, 31);
    assert_eq!(r.stats.signed, 31);
    assert_eq!(r.stats.signatures_verified, 31);
    assert_eq!(r.stats.rejections, 1);
    assert_eq!(r.stats.certificates, 2);
    assert_eq!(r.stats.certificates_verified, 2);
    assert_eq!(r.stats.checkpoints_verified, 2);
    assert_eq!(r.stats.last_verified_checkpoint, Some(34));
    assert_eq!(r.next_sequence, Some(36));
}

#[test]
fn deletion_is_a_sequence_gap_at_the_missing_sequence() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    records.remove(5);
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::SequenceGap, Some(5)));
    let b = r.first_break.unwrap();
    assert_eq!(
        (b.expected.as_deref(), b.found.as_deref()),
        (Some("5"), Some("6"))
    );
}

#[test]
fn an_edit_is_a_hash_mismatch_and_a_bad_signature() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    records[3].decision.as_mut().unwrap().output = r#"{"eligible":true,"amount_eur":9999}"#.into();
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::HashMismatch, Some(3)));
    assert_eq!(r.breaks[1].kind, BreakKind::BadDecisionSignature);
    assert_eq!(r.breaks[1].sequence, Some(3));
}

#[test]
fn a_rehashed_record_breaks_the_next_link() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    records[21].rejection.as_mut().unwrap().code = "OTHER".into();
    records[21].hash = record_hash(&records[21]);
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::BrokenLink, Some(22)));
    assert_eq!(r.breaks[0].expected.as_ref(), Some(&records[21].hash));
}

#[test]
fn a_rewritten_chain_is_caught_by_the_signature_and_the_checkpoint() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    records[4].decision.as_mut().unwrap().output = r#"{"eligible":false}"#.into();
    rehash_from(&mut records, 4);
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::BadDecisionSignature, Some(4)));
    // The checkpoint at 22 signed the old head hash.
    assert_eq!(r.breaks[1].kind, BreakKind::CheckpointMismatch);
    assert_eq!(r.breaks[1].sequence, Some(22));
}

#[test]
fn a_body_that_does_not_match_its_kind() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    records[21].kind = LedgerRecordKind::DecisionRecorded;
    rehash_from(&mut records, 21);
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::MalformedBody, Some(21)));
}

#[test]
fn undecodable_records_and_foreign_chains() {
    let k = keys();
    let (records, _, _) = valid_chain(&k);
    let mut v = ChainVerifier::new(CHAIN, VerifyOptions::default());
    v.push_record(&records[0], &k.anchors);
    let verdict = v.push_undecodable(Some(1), "bad magic", &k.anchors);
    assert_eq!(verdict.breaks[0].kind, BreakKind::Undecodable);
    // After an undecodable record the next one is taken as it comes.
    assert!(v.push_record(&records[2], &k.anchors).breaks.is_empty());
    let mut foreign = records[3].clone();
    foreign.chain_id = "decision.ledger:1".into();
    let verdict = v.push_record(&foreign, &k.anchors);
    assert_eq!(verdict.breaks[0].kind, BreakKind::ChainMismatch);
    assert_eq!(v.stats().undecodable, 1);
}

#[test]
fn unsigned_decisions_unless_allowed() {
    let k = keys();
    let mut b = ChainBuilder::new(CHAIN, T0);
    b.decision(None, 1);
    b.rejection(2);
    let r = verify(&b.records, &k);
    assert_eq!(first(&r), (BreakKind::UnsignedDecision, Some(0)));
    let opts = VerifyOptions {
        allow_unsigned: true,
        ..VerifyOptions::default()
    };
    let r = verify_with(&b.records, &k.anchors, opts);
    assert!(r.ok);
    assert_eq!(r.stats.signed, 0);
}

#[test]
fn a_key_must_be_certified_earlier_in_the_chain() {
    let k = keys();
    let k1 = certify(&k.signer, T0, HOUR);
    let mut b = ChainBuilder::new(CHAIN, T0 + 10);
    b.decision(Some(&k1), 1); // before its certificate
    b.certificate(&k1);
    b.decision(Some(&k1), 2);
    let r = verify(&b.records, &k);
    assert_eq!(first(&r), (BreakKind::UnknownSigningKey, Some(0)));
    assert_eq!(r.stats.breaks, 1);
    assert_eq!(r.breaks[0].found.as_deref(), Some(k1.key_id()));
}

#[test]
fn decisions_outside_the_key_validity() {
    let k = keys();
    let k1 = certify(&k.signer, T0, Duration::from_secs(1));
    let mut b = ChainBuilder::new(CHAIN, T0);
    b.certificate(&k1);
    b.decision(Some(&k1), 1);
    b.clock_ms = T0 + 1000; // valid_until is exclusive
    b.decision(Some(&k1), 2);
    let r = verify(&b.records, &k);
    assert_eq!(first(&r), (BreakKind::KeyNotValid, Some(2)));
    assert_eq!(r.stats.breaks, 1);
}

#[test]
fn a_forged_certificate_claiming_the_trusted_certifier() {
    let k = keys();
    let rogue_key = certify(&k.rogue_signer, T0, HOUR);
    let mut b = ChainBuilder::new(CHAIN, T0);
    let mut forged = LedgerRecord::unchained(LedgerRecordKind::SigningKeyCertified, T0);
    let mut cert = rogue_key.certificate().clone();
    cert.certifier_key_id = k.certifier.key_info().key_id.clone();
    forged.key_certified = Some(cert);
    b.append(forged);
    b.decision(Some(&rogue_key), 1);
    let r = verify(&b.records, &k);
    assert_eq!(first(&r), (BreakKind::BadKeyCertificate, Some(0)));
    // Decisions by the forged key are not accepted either.
    assert_eq!(r.breaks[1].kind, BreakKind::UnknownSigningKey);
    assert_eq!(r.stats.certificates_verified, 0);
}

#[test]
fn a_certificate_by_an_untrusted_certifier() {
    let k = keys();
    let rogue_key = certify(&k.rogue_signer, T0, HOUR);
    let mut b = ChainBuilder::new(CHAIN, T0);
    b.certificate(&rogue_key);
    b.decision(Some(&rogue_key), 1);
    b.checkpoint(&k.rogue).unwrap();
    let r = verify(&b.records, &k);
    assert_eq!(first(&r), (BreakKind::UntrustedCertifier, Some(0)));
    assert_eq!(r.breaks[1].kind, BreakKind::UntrustedCertifier);
    assert_eq!(r.breaks[1].sequence, Some(2));
    assert_eq!(r.stats.signed, 1);
    assert_eq!(
        r.stats.signatures_verified, 0,
        "a key certified by no trust anchor verifies nothing, even with a matching signature"
    );
    // Without trust anchors and without reporting, the projector's mode: no breaks, unverified.
    let quiet = VerifyOptions {
        report_untrusted: false,
        ..VerifyOptions::default()
    };
    let r = verify_with(&b.records, &TrustAnchors::new(), quiet);
    assert!(r.ok);
    assert_eq!(r.stats.certificates_verified, 0);
    assert_eq!(r.stats.checkpoints_verified, 0);
}

#[test]
fn a_replaced_decision_signature() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    // A valid signature of another decision, by the right key.
    let other = records[2].decision.as_ref().unwrap().signature.clone();
    records[7].decision.as_mut().unwrap().signature = other;
    rehash_from(&mut records, 7);
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::BadDecisionSignature, Some(7)));
    // A signature by the right key but a wrong algorithm name.
    let (mut records, k1, _) = valid_chain(&k);
    let d = records[8].decision.as_mut().unwrap();
    sign_decision(&k1, d);
    d.signature.as_mut().unwrap().algorithm = "ECDSA_P256_SHA256".into();
    rehash_from(&mut records, 8);
    assert_eq!(
        first(&verify(&records, &k)),
        (BreakKind::BadDecisionSignature, Some(8))
    );
}

/// Decision signatures are batch verified (ADR 0025). A chunk of good ones verifies entirely;
/// one bad signature among many good ones in one chunk is named exactly (as the strict check
/// names it) and every other record verifies.
#[test]
fn batch_signature_verification_names_exactly_the_bad_record() {
    let k = keys();
    let k1 = certify(&k.signer, T0, HOUR * 6);
    let mut b = ChainBuilder::new(CHAIN, T0);
    b.certificate(&k1);
    // One chunk, one signing key: the decisions share a signature batch.
    for i in 0..200 {
        b.decision(Some(&k1), i);
    }
    let good = b.records;
    let items = |rs: &[LedgerRecord]| rs.iter().cloned().map(Item::Record).collect::<Vec<_>>();

    let mut v = ChainVerifier::new(CHAIN, VerifyOptions::default());
    let verdicts = v.push_batch(&items(&good), &k.anchors);
    assert!(verdicts.iter().all(|x| x.breaks.is_empty()));
    assert!(verdicts.iter().all(|x| x.verified == Some(true)));
    let r = v.report();
    assert!(r.ok, "{:?}", r.breaks);
    assert_eq!(r.stats.signatures_verified, 200);

    // A valid signature of another decision by the right key (it passes every check but the
    // equation itself, so it goes into a batch), and a signature whose bytes are garbage.
    for (at, garbage) in [(177usize, false), (100, true)] {
        let mut bad = good.clone();
        let d = bad[at].decision.as_mut().unwrap();
        if garbage {
            d.signature.as_mut().unwrap().value = dl_signer::b64url(&[0xa5; 64]);
        } else {
            d.signature = good[3].decision.as_ref().unwrap().signature.clone();
        }
        rehash_from(&mut bad, at);
        let mut v = ChainVerifier::new(CHAIN, VerifyOptions::default());
        let verdicts = v.push_batch(&items(&bad), &k.anchors);
        for (i, verdict) in verdicts.iter().enumerate() {
            if i == at {
                assert_eq!(verdict.breaks.len(), 1, "{:?}", verdict.breaks);
                assert_eq!(verdict.breaks[0].kind, BreakKind::BadDecisionSignature);
                assert_eq!(verdict.breaks[0].sequence, Some(at as i64));
                assert_eq!(verdict.verified, Some(false));
            } else {
                assert!(verdict.breaks.is_empty(), "{i}: {:?}", verdict.breaks);
                assert_eq!(verdict.verified, Some(true), "{i}");
            }
        }
        let report = v.report();
        assert_eq!(report.stats.breaks, 1);
        assert_eq!(report.stats.signatures_verified, 199);
        // The same report as record by record (strict check of each signature).
        let mut one = ChainVerifier::new(CHAIN, VerifyOptions::default());
        for r in &bad {
            one.push_record(r, &k.anchors);
        }
        assert_eq!(report, one.report());
        if !garbage {
            let mut strict =
                ChainVerifier::new(CHAIN, VerifyOptions::default()).single_signatures(true);
            strict.push_batch(&items(&bad), &k.anchors);
            assert_eq!(report, strict.report());
        }
    }
}

#[test]
fn checkpoints_bad_signature_and_mismatch() {
    let k = keys();
    let (mut records, _, _) = valid_chain(&k);
    // Swap in the signature of the other checkpoint.
    let sig = records[35].checkpoint.as_ref().unwrap().signature.clone();
    records[22].checkpoint.as_mut().unwrap().signature = sig;
    rehash_from(&mut records, 22);
    let r = verify(&records, &k);
    assert_eq!(first(&r), (BreakKind::BadCheckpoint, Some(22)));

    // A correctly signed checkpoint of an older head.
    let mut b = ChainBuilder::new(CHAIN, T0);
    b.rejection(1);
    let old_head = b.head().clone();
    b.rejection(2);
    let cp = local_checkpoint(&k.certifier, &old_head).unwrap();
    let mut r = LedgerRecord::unchained(LedgerRecordKind::Checkpoint, T0 + 5);
    r.checkpoint = Some(cp);
    b.append(r);
    let report = verify(&b.records, &k);
    assert_eq!(first(&report), (BreakKind::CheckpointMismatch, Some(2)));
    let br = report.first_break.unwrap();
    assert_eq!(
        (br.expected.as_deref(), br.found.as_deref()),
        (Some("1"), Some("0"))
    );

    // A checkpoint signed for another chain.
    let mut b = ChainBuilder::new("decision.ledger:1", T0);
    b.rejection(1);
    b.checkpoint(&k.certifier).unwrap();
    let mut moved = b.records.clone();
    rehash_from(&mut moved, 0);
    assert_eq!(
        first(&verify(&moved, &k)),
        (BreakKind::BadCheckpoint, Some(1))
    );
}

#[test]
fn resume_keeps_certificates_and_head() {
    let k = keys();
    let (records, _, _) = valid_chain(&k);
    let certs: Vec<_> = records[..10]
        .iter()
        .filter_map(|r| r.key_certified.clone().map(|c| (r.sequence, c)))
        .collect();
    let mut v = ChainVerifier::resume(
        CHAIN,
        VerifyOptions::default(),
        9,
        records[9].hash.clone(),
        certs,
        &k.anchors,
    );
    for r in &records[10..] {
        assert!(
            v.push_record(r, &k.anchors).breaks.is_empty(),
            "{}",
            r.sequence
        );
    }
    assert_eq!(v.head().map(|h| h.0), Some(36));
}

fn row_of(r: &LedgerRecord) -> DecisionRow {
    let d = r.decision.as_ref().unwrap();
    let sig = d.signature.as_ref();
    DecisionRow {
        decision_id: d.decision_id.clone(),
        request_id: d.request_id.clone(),
        caller: d.caller.clone(),
        status: Some(OutcomeStatus::Decided),
        function_id: d.function_id.clone(),
        function_version: Some(d.function_version.clone()),
        function_digest: Some(d.function_digest.clone()),
        rejection_code: None,
        rejection_message: None,
        input: serde_json::from_str(&d.input).ok(),
        output: serde_json::from_str(&d.output).ok(),
        reasons: serde_json::to_value(&d.reasons).unwrap(),
        legal_basis: d.legal_basis.clone(),
        as_of: d.as_of.map(i64::from),
        issued_at: Some(d.issued_at),
        decided_at: d.decided_at,
        ledger_hash: r.hash.clone(),
        source_topic: d.source.topic.clone(),
        source_partition: d.source.partition,
        source_offset: d.source.offset,
        signature_algorithm: sig.map(|s| s.algorithm.clone()),
        signature_key_id: sig.map(|s| s.key_id.clone()),
        signature_value: sig.map(|s| s.value.clone()),
    }
}

#[test]
fn decision_rows_are_cross_checked() {
    let k = keys();
    let (records, _, _) = valid_chain(&k);
    let mut row = row_of(&records[3]);
    assert_eq!(row.check(&records[3]), None);
    row.output = Some(serde_json::json!({"eligible": true, "amount_eur": 1.0e9}));
    let b = row.check(&records[3]).unwrap();
    assert_eq!(
        (b.kind, b.sequence),
        (BreakKind::DecisionRowMismatch, Some(3))
    );
    assert!(b.detail.contains("output"));
    let mut row = row_of(&records[3]);
    row.signature_value = Some("AAAA".into());
    assert!(row
        .check(&records[3])
        .unwrap()
        .detail
        .contains("signature_value"));
    assert!(row_of(&records[3]).check(&records[4]).is_some());
}

#[test]
fn batch_over_many_chains_in_parallel() {
    let k = keys();
    let (records, _, _) = valid_chain(&k);
    let mut tampered = records.clone();
    tampered[10].decision.as_mut().unwrap().input = "{}".into();
    let other: Vec<LedgerRecord> = tampered
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.chain_id = "decision.ledger:1".into();
            r
        })
        .collect();
    let chains = vec![
        (
            CHAIN.to_string(),
            records.into_iter().map(Item::Record).collect(),
        ),
        (
            "decision.ledger:1".to_string(),
            other.into_iter().map(Item::Record).collect(),
        ),
    ];
    let report = dl_verify::verify_chains(&chains, &k.anchors, VerifyOptions::default());
    assert!(!report.ok());
    assert!(report.chains[0].ok);
    // Chain 1 got the records of chain 0: checkpoints are signed for chain 0, hashes differ.
    assert_eq!(
        report.chains[1].first_break.as_ref().unwrap().kind,
        BreakKind::HashMismatch
    );
    assert_eq!(report.records(), 72);
}

#[test]
fn break_kinds_have_stable_names() {
    for k in BreakKind::ALL {
        assert_eq!(BreakKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(BreakKind::SequenceGap.as_str(), "SEQUENCE_GAP");
}
