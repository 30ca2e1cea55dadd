//! The ledger archive's segment format (docs/ledger-integrity.md, "Archive"; ADR 0031).
//!
//! A *segment* is the run of one chain's records after a checkpoint (or from the chain's start)
//! up to and including the next `CHECKPOINT` record. It is stored as one object named
//! `<chain_id>/<first sequence, 20 digits>-<last sequence, 20 digits>.avro-seq` whose bytes are
//!
//! ```text
//! "DLSEG01\n"                       8 bytes, the format's magic
//! ( length: u32 big-endian          one frame per record, in chain order
//!   value:  `length` bytes )        the Kafka message value exactly as read (Avro single-object)
//! ```
//!
//! The value is the record exactly as the ledger topic holds it, so every byte the record's hash
//! covers is kept and a verifier reads it back with the same codec as from Kafka. Nothing else
//! is stored in an object: the chain is its folder, the sequences are in the records (the name
//! only orders the objects), and the verifier trusts none of it beyond what the records prove.

use dl_schema::{LedgerRecord, LedgerRecordKind};
use thiserror::Error;

use crate::breaks::{Break, BreakKind};
use crate::chain::Item;

/// The first bytes of every segment object.
pub const SEGMENT_MAGIC: &[u8; 8] = b"DLSEG01\n";

/// The file name ending of a segment object.
pub const SEGMENT_SUFFIX: &str = ".avro-seq";

/// Why a segment's bytes do not frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SegmentError {
    /// The object does not start with [`SEGMENT_MAGIC`].
    #[error("not a ledger segment (the first 8 bytes are not the segment magic)")]
    BadMagic,
    /// A frame's length runs past the end of the object.
    #[error(
        "frame at byte {offset} claims {length} bytes, {available} remain (truncated or edited)"
    )]
    Truncated {
        /// Byte offset of the frame's length prefix.
        offset: usize,
        /// The length it claims.
        length: u64,
        /// The bytes left after the prefix.
        available: usize,
    },
}

/// The object name of the segment holding sequences `first..=last`.
pub fn segment_name(first: i64, last: i64) -> String {
    format!("{first:020}-{last:020}{SEGMENT_SUFFIX}")
}

/// Parses a name written by [`segment_name`] into `(first, last)`.
pub fn parse_segment_name(name: &str) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    let (first, last) = stem.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return None;
    }
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// The bytes of a segment holding `values` (Kafka message values) in order.
pub fn encode_segment<V: AsRef<[u8]>>(values: &[V]) -> Vec<u8> {
    let len = values.iter().map(|v| v.as_ref().len() + 4).sum::<usize>();
    let mut out = Vec::with_capacity(SEGMENT_MAGIC.len() + len);
    out.extend_from_slice(SEGMENT_MAGIC);
    for v in values {
        let v = v.as_ref();
        // A ledger record is far below 4 GiB; a larger value cannot be framed and is cut, which
        // the verifier then reports (never silently accepted).
        let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&v[..n as usize]);
    }
    out
}

/// The frames of a segment, and the error that stopped framing (frames after it are lost).
pub fn decode_segment(bytes: &[u8]) -> (Vec<&[u8]>, Option<SegmentError>) {
    let Some(mut rest) = bytes.strip_prefix(SEGMENT_MAGIC.as_slice()) else {
        return (Vec::new(), Some(SegmentError::BadMagic));
    };
    let mut frames = Vec::new();
    let mut offset = SEGMENT_MAGIC.len();
    while !rest.is_empty() {
        let available = rest.len().saturating_sub(4);
        let length = match rest.get(..4) {
            Some(p) => u64::from(u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
            None => {
                return (
                    frames,
                    Some(SegmentError::Truncated {
                        offset,
                        length: 4,
                        available: rest.len(),
                    }),
                )
            }
        };
        let end = usize::try_from(length)
            .ok()
            .and_then(|n| n.checked_add(4))
            .filter(|end| *end <= rest.len());
        let Some(end) = end else {
            return (
                frames,
                Some(SegmentError::Truncated {
                    offset,
                    length,
                    available,
                }),
            );
        };
        frames.push(&rest[4..end]);
        rest = &rest[end..];
        offset += end;
    }
    (frames, None)
}

/// A segment object read back: its records as verifier items, and the breaks of the object
/// itself (framing, name, not ending with a checkpoint).
#[derive(Debug, Clone, Default)]
pub struct SegmentRead {
    /// Every frame in order: a decoded record, or an undecodable one; a framing error is one
    /// more undecodable item at the end.
    pub items: Vec<Item>,
    /// Problems of the object as a segment, found beyond what the chain verifier sees: the name
    /// does not match the records' sequences, or the last record is not a checkpoint.
    pub breaks: Vec<Break>,
}

/// Reads the segment object `name` (its file name) of `chain_id` from `bytes`.
pub fn read_segment(chain_id: &str, name: &str, bytes: &[u8]) -> SegmentRead {
    let codec = dl_schema::ledger_codec();
    read_segment_with(&codec, chain_id, name, bytes)
}

/// [`read_segment`] with a codec made once by the caller.
pub fn read_segment_with(
    codec: &dl_schema::Codec<LedgerRecord>,
    chain_id: &str,
    name: &str,
    bytes: &[u8],
) -> SegmentRead {
    let (frames, error) = decode_segment(bytes);
    let mut items: Vec<Item> = frames
        .iter()
        .enumerate()
        .map(|(i, frame)| match codec.decode(frame) {
            Ok(r) => Item::Record(r),
            Err(e) => Item::Undecodable {
                sequence: None,
                error: format!("archive object {name}, frame {i}: {e}"),
            },
        })
        .collect();
    if let Some(e) = error {
        items.push(Item::Undecodable {
            sequence: None,
            error: format!("archive object {name}: {e}"),
        });
    }
    let mut breaks = Vec::new();
    let named = parse_segment_name(name);
    let first = items.iter().find_map(|i| match i {
        Item::Record(r) => Some(r.sequence),
        _ => None,
    });
    if let (Some((named_first, _)), Some(first)) = (named, first) {
        if named_first != first {
            breaks.push(
                Break::new(
                    chain_id,
                    Some(named_first),
                    BreakKind::SequenceGap,
                    format!("archive object {name} does not start with the record its name says"),
                )
                .differs(named_first, first),
            );
        }
    }
    match items.last() {
        Some(Item::Record(r)) => {
            if let Some((_, named_last)) = named.filter(|(_, l)| *l != r.sequence) {
                breaks.push(
                    Break::new(
                        chain_id,
                        Some(named_last),
                        BreakKind::SequenceGap,
                        format!("archive object {name} does not end with the record its name says"),
                    )
                    .differs(named_last, r.sequence),
                );
            }
            if r.kind != LedgerRecordKind::Checkpoint {
                breaks.push(Break::new(
                    chain_id,
                    Some(r.sequence),
                    BreakKind::CheckpointMismatch,
                    format!(
                        "archive object {name} does not end with a CHECKPOINT record (truncated?)"
                    ),
                ));
            }
        }
        // An undecodable last frame is a break of its own already.
        Some(_) => {}
        None => breaks.push(Break::new(
            chain_id,
            named.map(|(f, _)| f),
            BreakKind::SequenceGap,
            format!("archive object {name} holds no record"),
        )),
    }
    SegmentRead { items, breaks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_chain_order() {
        let a = segment_name(0, 9);
        let b = segment_name(10, 123);
        assert_eq!(a, "00000000000000000000-00000000000000000009.avro-seq");
        assert!(a < b);
        assert_eq!(parse_segment_name(&b), Some((10, 123)));
        for bad in [
            "x.avro-seq",
            "1-2.avro",
            "-1-2.avro-seq",
            "1-.avro-seq",
            "a-1.avro-seq",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn frames_round_trip() {
        let values: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![], vec![0xff; 300]];
        let bytes = encode_segment(&values);
        let (frames, err) = decode_segment(&bytes);
        assert_eq!(err, None);
        assert_eq!(frames, values.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }

    #[test]
    fn bad_framing_is_an_error_never_a_panic() {
        let bytes = encode_segment(&[vec![7u8; 10], vec![8u8; 10]]);
        assert_eq!(decode_segment(b"DLSEG02\n").1, Some(SegmentError::BadMagic));
        assert_eq!(decode_segment(b"").1, Some(SegmentError::BadMagic));
        for cut in SEGMENT_MAGIC.len() + 1..bytes.len() {
            let (frames, err) = decode_segment(&bytes[..cut]);
            if cut == SEGMENT_MAGIC.len() + 14 {
                assert_eq!((frames.len(), err), (1, None));
            } else {
                assert!(err.is_some(), "cut at {cut}");
            }
        }
        let mut long = bytes.clone();
        long[SEGMENT_MAGIC.len()] = 0xff;
        assert!(matches!(
            decode_segment(&long).1,
            Some(SegmentError::Truncated { offset: 8, .. })
        ));
    }
}
