//! Archive segments (`dl_verify::archive`) of a signed chain: cut at checkpoints, encoded and read
//! back, they verify exactly like the chain itself; a flipped byte anywhere in a segment is a
//! break; a missing middle segment is a `SEQUENCE_GAP`; a segment cut at a frame boundary
//! (its checkpoint gone) is a break of the segment.

use std::time::Duration;

use dl_schema::LedgerRecordKind;
use dl_signer::{Algorithm, LocalKeyFile, Signer, WorkerKey, WorkerKeyPolicy};
use dl_verify::archive::{
    encode_segment, read_segment, read_segment_with, segment_name, SegmentRead,
};
use dl_verify::synthetic::ChainBuilder;
use dl_verify::{BreakKind, ChainReport, ChainVerifier, Item, TrustAnchors, VerifyOptions};

const CHAIN: &str = "decision.ledger:0";
const T0: i64 = 1_764_300_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    anchors: TrustAnchors,
    /// (object name, bytes) per segment, in order.
    segments: Vec<(String, Vec<u8>)>,
    /// The whole chain, verified directly.
    direct: ChainReport,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certifier.pem");
    let certifier = LocalKeyFile::open_or_create(&path, Algorithm::EcdsaP256Sha256).unwrap();
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&path).unwrap());
    let info = certifier.key_info();
    let mut anchors = TrustAnchors::new();
    anchors
        .insert(&info.key_id, info.public_key_spki.clone())
        .unwrap();
    let validity = Duration::from_secs(6 * 3600);
    let policy = WorkerKeyPolicy {
        algorithm: Algorithm::Ed25519,
        validity,
        renew_before: validity / 2,
    };
    let key = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(WorkerKey::certify(&signer, "worker-1", &policy, T0))
        .unwrap();
    let mut b = ChainBuilder::new(CHAIN, T0 + 1);
    b.certificate(&key);
    for i in 0..14 {
        if i % 4 == 3 {
            b.rejection(i);
        } else {
            b.decision(Some(&key), i);
        }
        if i % 5 == 4 {
            b.checkpoint(&certifier);
        }
    }
    b.checkpoint(&certifier);
    let codec = dl_schema::ledger_codec();
    let mut segments = Vec::new();
    let mut values = Vec::new();
    let mut first = None;
    for r in &b.records {
        values.push(codec.encode(r).unwrap());
        first.get_or_insert(r.sequence);
        if r.kind == LedgerRecordKind::Checkpoint {
            let name = segment_name(first.take().unwrap(), r.sequence);
            segments.push((name, encode_segment(&values)));
            values.clear();
        }
    }
    assert!(values.is_empty() && segments.len() == 3);
    let mut v = ChainVerifier::new(CHAIN, VerifyOptions::default());
    let items: Vec<Item> = b.records.iter().cloned().map(Item::Record).collect();
    v.push_batch(&items, &anchors);
    let direct = v.report();
    assert!(direct.ok, "{:?}", direct.first_break);
    Fixture {
        _dir: dir,
        anchors,
        segments,
        direct,
    }
}

/// Verifies segments in order; returns the chain report and the segments' own breaks.
fn verify(f: &Fixture, segments: &[(String, Vec<u8>)]) -> (ChainReport, Vec<dl_verify::Break>) {
    let mut v = ChainVerifier::new(CHAIN, VerifyOptions::default());
    let mut own = Vec::new();
    for (name, bytes) in segments {
        let SegmentRead { items, breaks } = read_segment(CHAIN, name, bytes);
        v.push_batch(&items, &f.anchors);
        own.extend(breaks);
    }
    (v.report(), own)
}

#[test]
fn segments_verify_like_the_chain() {
    let f = fixture();
    let (report, own) = verify(&f, &f.segments);
    assert!(own.is_empty(), "{own:?}");
    assert_eq!(report, f.direct);
}

#[test]
fn every_flipped_byte_is_found() {
    let f = fixture();
    // The chain verified up to the middle segment, then each edit of that segment on a copy.
    let mut before = ChainVerifier::new(CHAIN, VerifyOptions::default());
    before.push_batch(
        &read_segment(CHAIN, &f.segments[0].0, &f.segments[0].1).items,
        &f.anchors,
    );
    let (name, bytes) = &f.segments[1];
    let codec = dl_schema::ledger_codec();
    // Every byte of the head (magic, first frame's length, Avro header) and of the tail (the
    // checkpoint's signature), every frame's length, and every 7th byte in between: a flip of
    // each costs a signature check, too slow for all of them in a debug build.
    let (frames, _) = dl_verify::archive::decode_segment(bytes);
    let mut prefixes = Vec::new();
    let mut at = dl_verify::archive::SEGMENT_MAGIC.len();
    for frame in &frames {
        prefixes.extend(at..at + 4);
        at += 4 + frame.len();
    }
    let n = bytes.len();
    let positions: Vec<usize> = (0..n)
        .filter(|i| *i < 64 || *i + 64 >= n || i % 7 == 0 || prefixes.contains(i))
        .collect();
    assert!(positions.len() > n / 7);
    for at in positions {
        let mut edited = bytes.clone();
        edited[at] ^= 0x01;
        let mut v = before.clone();
        let SegmentRead { items, breaks } = read_segment_with(&codec, CHAIN, name, &edited);
        v.push_batch(&items, &f.anchors);
        assert!(
            !v.report().ok || !breaks.is_empty(),
            "byte {at} of {}: the flip went unnoticed",
            bytes.len()
        );
    }
}

#[test]
fn a_missing_middle_segment_is_a_gap() {
    let f = fixture();
    let mut segments = f.segments.clone();
    let (gone, _) = segments.remove(1);
    let (report, own) = verify(&f, &segments);
    assert!(own.is_empty());
    let first = report.first_break.expect("a break");
    assert_eq!(first.kind, BreakKind::SequenceGap);
    let (from, _) = dl_verify::archive::parse_segment_name(&gone).unwrap();
    assert_eq!(first.sequence, Some(from));
}

#[test]
fn a_segment_without_its_checkpoint_is_a_break() {
    let f = fixture();
    let mut segments = f.segments.clone();
    let codec = dl_schema::ledger_codec();
    // Re-frame the last segment without its final record (a cut at a frame boundary).
    let (frames, _) = dl_verify::archive::decode_segment(&segments[2].1);
    let kept: Vec<Vec<u8>> = frames[..frames.len() - 1]
        .iter()
        .map(|f| f.to_vec())
        .collect();
    assert!(codec.decode(&kept[kept.len() - 1]).is_ok());
    segments[2].1 = encode_segment(&kept);
    let (report, own) = verify(&f, &segments);
    assert!(report.ok, "the records left verify as a chain");
    assert_eq!(own.len(), 2, "{own:?}");
    assert_eq!(own[0].kind, BreakKind::SequenceGap);
    assert_eq!(own[1].kind, BreakKind::CheckpointMismatch);
}
