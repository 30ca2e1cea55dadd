//! Avro wire codec: single-object encoding, with detection of the Confluent framing.

use std::collections::HashMap;
use std::marker::PhantomData;

use apache_avro::{from_avro_datum, from_value, to_avro_datum, to_value, Schema};
use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

/// Largest message the codec accepts, in bytes (1 MiB, as the prototype's input limit).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Largest single allocation the Avro decoder may make while reading untrusted bytes.
/// (10 MiB: a registry event may carry a package file of up to 8 MiB.)
const MAX_AVRO_ALLOCATION: usize = 10 * MAX_MESSAGE_BYTES;

const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const CONFLUENT_MAGIC: u8 = 0x00;

/// How a message was framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Avro single-object encoding: `C3 01`, 8-byte CRC-64-AVRO fingerprint, datum.
    SingleObject,
    /// Confluent framing: `00`, 4-byte schema id, datum.
    Confluent,
}

/// Why bytes could not be decoded or a value encoded. Each maps to a dead-letter reason.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The message exceeds [`MAX_MESSAGE_BYTES`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size seen.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Neither single-object nor Confluent framing.
    #[error("not an Avro message: no single-object (C3 01) or Confluent (00) header")]
    NotAvro,
    /// Single-object framing with a fingerprint of no known writer schema.
    #[error("unknown writer schema fingerprint {0:016x}")]
    UnknownSchema(u64),
    /// Confluent framing while no Schema Registry is configured.
    #[error("Confluent wire format (schema id {0}) needs a configured Schema Registry")]
    RegistryNotConfigured(u32),
    /// The datum does not decode with the writer schema, or does not map to the type.
    #[error("malformed Avro datum: {0}")]
    Malformed(String),
    /// A value could not be encoded (a bug, not bad input).
    #[error("cannot encode value: {0}")]
    Encode(String),
}

impl CodecError {
    /// Stable reason code written to the dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "MESSAGE_TOO_LARGE",
            Self::NotAvro => "NOT_AVRO",
            Self::UnknownSchema(_) => "UNKNOWN_SCHEMA",
            Self::RegistryNotConfigured(_) => "SCHEMA_REGISTRY_NOT_CONFIGURED",
            Self::Malformed(_) => "MALFORMED_AVRO",
            Self::Encode(_) => "ENCODE_FAILED",
        }
    }
}

/// Encoder/decoder for one record type.
///
/// The reader schema is the current schema; older writer schemas can be registered with
/// [`Codec::add_writer_schema`] so that compatible evolution keeps old messages readable.
#[derive(Debug, Clone)]
pub struct Codec<T> {
    schema: Schema,
    fingerprint: u64,
    writers: HashMap<u64, Schema>,
    max_bytes: usize,
    _type: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Codec<T> {
    /// Builds a codec from the current (reader and writer) schema text.
    pub fn new(avsc: &str) -> Result<Self, apache_avro::Error> {
        // The limit is process-global and can only be set once; later calls are no-ops.
        let _ = apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
        let schema = Schema::parse_str(avsc)?;
        let fingerprint = crc64_avro(schema.canonical_form().as_bytes());
        let mut writers = HashMap::new();
        writers.insert(fingerprint, schema.clone());
        Ok(Self {
            schema,
            fingerprint,
            writers,
            max_bytes: MAX_MESSAGE_BYTES,
            _type: PhantomData,
        })
    }

    /// Sets the largest message [`Codec::decode`] accepts (default [`MAX_MESSAGE_BYTES`]).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Accepts messages written with an older, compatible schema.
    pub fn add_writer_schema(&mut self, avsc: &str) -> Result<(), apache_avro::Error> {
        let schema = Schema::parse_str(avsc)?;
        self.writers
            .insert(crc64_avro(schema.canonical_form().as_bytes()), schema);
        Ok(())
    }

    /// CRC-64-AVRO fingerprint of the current schema's parsing canonical form.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Encodes `value` in single-object encoding.
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        // Fast path: serde straight to Avro bytes, guided by the schema. Schemas that reference a
        // named type a second time need the slower path through `Value` (names are resolved there).
        if apache_avro::write_avro_datum_ref(&self.schema, value, &mut out).is_ok() {
            return Ok(out);
        }
        out.truncate(10);
        let avro = to_value(value)
            .and_then(|v| v.resolve(&self.schema))
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        out.extend_from_slice(
            &to_avro_datum(&self.schema, avro).map_err(|e| CodecError::Encode(e.to_string()))?,
        );
        Ok(out)
    }

    /// Tells which framing `bytes` use, without decoding.
    pub fn wire_format(bytes: &[u8]) -> Option<WireFormat> {
        if bytes.len() >= 10 && bytes[..2] == SINGLE_OBJECT_MAGIC {
            Some(WireFormat::SingleObject)
        } else if bytes.len() >= 5 && bytes[0] == CONFLUENT_MAGIC {
            Some(WireFormat::Confluent)
        } else {
            None
        }
    }

    /// Decodes untrusted bytes. Never panics; every failure is a [`CodecError`].
    pub fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        if bytes.len() > self.max_bytes {
            return Err(CodecError::TooLarge {
                size: bytes.len(),
                limit: self.max_bytes,
            });
        }
        match Self::wire_format(bytes) {
            Some(WireFormat::SingleObject) => {
                let mut fp = [0u8; 8];
                fp.copy_from_slice(&bytes[2..10]);
                let fingerprint = u64::from_le_bytes(fp);
                let writer = self
                    .writers
                    .get(&fingerprint)
                    .ok_or(CodecError::UnknownSchema(fingerprint))?;
                let mut body = &bytes[10..];
                // Same schema: no resolution step needed (the common case, and much cheaper).
                let reader = (fingerprint != self.fingerprint).then_some(&self.schema);
                let value = from_avro_datum(writer, &mut body, reader)
                    .map_err(|e| CodecError::Malformed(e.to_string()))?;
                if !body.is_empty() {
                    return Err(CodecError::Malformed(format!(
                        "{} trailing bytes after the datum",
                        body.len()
                    )));
                }
                from_value::<T>(&value).map_err(|e| CodecError::Malformed(e.to_string()))
            }
            Some(WireFormat::Confluent) => {
                let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                Err(CodecError::RegistryNotConfigured(id))
            }
            None => Err(CodecError::NotAvro),
        }
    }
}

/// CRC-64-AVRO (Rabin) fingerprint as defined by the Avro specification.
pub fn crc64_avro(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *slot = fp;
        }
        t
    });
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ table[((fp ^ b as u64) & 0xff) as usize];
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    fn request() -> DecisionRequest {
        DecisionRequest {
            request_id: "r-1".into(),
            function_id: "loan_approval".into(),
            function_version: Some("1.0.0".into()),
            as_of: Some(19_700),
            issued_at: 1_700_000_000_000,
            input: r#"{"amount":3000}"#.into(),
            reply_to: None,
        }
    }

    #[test]
    fn fingerprint_matches_the_avro_reference_implementation() {
        use apache_avro::rabin::Rabin;
        let schema = Schema::parse_str(DECISION_REQUEST_AVSC).unwrap();
        let theirs = schema.fingerprint::<Rabin>();
        let ours = crc64_avro(schema.canonical_form().as_bytes()).to_le_bytes();
        assert_eq!(theirs.bytes, ours.to_vec());
    }

    #[test]
    fn request_round_trips() {
        let codec = request_codec();
        let bytes = codec.encode(&request()).unwrap();
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        assert_eq!(codec.decode(&bytes).unwrap(), request());
    }

    #[test]
    fn result_and_ledger_round_trip() {
        let result = DecisionResult {
            request_id: "r".into(),
            decision_id: "d".into(),
            status: DecisionStatus::Rejected,
            function_id: "f".into(),
            function_version: None,
            function_digest: None,
            output: None,
            reasons: vec![Reason {
                code: "c".into(),
                message: "m".into(),
                legal_ref: "l".into(),
            }],
            legal_basis: vec!["x".into()],
            rejection: Some(Rejection {
                code: "INPUT_INVALID".into(),
                message: "m".into(),
            }),
            decided_at: 5,
            ledger: Some(LedgerPosition {
                partition: 1,
                sequence: 2,
                hash: "h".into(),
            }),
            signature: None,
            caller: Some("c".into()),
        };
        let codec = result_codec();
        assert_eq!(
            codec.decode(&codec.encode(&result).unwrap()).unwrap(),
            result
        );

        let record = LedgerRecord {
            chain_id: "decision.ledger:0".into(),
            sequence: 0,
            prev_hash: "0".repeat(64),
            hash: "h".into(),
            recorded_at: 1,
            kind: LedgerRecordKind::RequestRejected,
            decision: None,
            rejection: Some(RequestRejected {
                decision_id: "d".into(),
                request_id: "r".into(),
                source: SourcePosition {
                    topic: "t".into(),
                    partition: 0,
                    offset: 9,
                },
                caller: None,
                function_id: "f".into(),
                function_version: None,
                code: "UNKNOWN_FUNCTION".into(),
                message: "m".into(),
                decided_at: 3,
            }),
            key_certified: None,
            checkpoint: None,
        };
        let codec = ledger_codec();
        assert_eq!(
            codec.decode(&codec.encode(&record).unwrap()).unwrap(),
            record
        );
    }

    fn slow_encode<T: Serialize>(codec: &Codec<T>, value: &T) -> Vec<u8> {
        let avro = to_value(value).unwrap().resolve(&codec.schema).unwrap();
        let mut out = vec![0xC3, 0x01];
        out.extend_from_slice(&codec.fingerprint.to_le_bytes());
        out.extend_from_slice(&to_avro_datum(&codec.schema, avro).unwrap());
        out
    }

    #[test]
    fn the_fast_encoder_writes_the_same_bytes_as_the_reference_path() {
        let codec = request_codec();
        let mut r = request();
        assert_eq!(codec.encode(&r).unwrap(), slow_encode(&codec, &r));
        r.function_version = None;
        r.as_of = None;
        r.reply_to = Some("decision.results.x".into());
        assert_eq!(codec.encode(&r).unwrap(), slow_encode(&codec, &r));
        let result = DecisionResult {
            request_id: "r".into(),
            decision_id: "d".into(),
            status: DecisionStatus::Decided,
            function_id: "f".into(),
            function_version: Some("1.0.0".into()),
            function_digest: Some("sha256:00".into()),
            output: Some("{}".into()),
            reasons: vec![Reason {
                code: "c".into(),
                message: "m".into(),
                legal_ref: "l".into(),
            }],
            legal_basis: vec!["x".into(), "y".into()],
            rejection: None,
            decided_at: 5,
            ledger: Some(LedgerPosition {
                partition: 1,
                sequence: 2,
                hash: "h".into(),
            }),
            signature: Some(Signature {
                algorithm: "Ed25519".into(),
                key_id: "k".into(),
                value: "v".into(),
            }),
            caller: None,
        };
        let codec = result_codec();
        assert_eq!(codec.encode(&result).unwrap(), slow_encode(&codec, &result));
        let record = LedgerRecord {
            chain_id: "c:0".into(),
            sequence: 3,
            prev_hash: "p".into(),
            hash: "h".into(),
            recorded_at: 9,
            kind: LedgerRecordKind::DecisionRecorded,
            decision: Some(DecisionRecorded {
                decision_id: "d".into(),
                request_id: "r".into(),
                source: SourcePosition {
                    topic: "t".into(),
                    partition: 0,
                    offset: 1,
                },
                caller: Some("c".into()),
                function_id: "f".into(),
                function_version: "1.0.0".into(),
                function_digest: "sha256:00".into(),
                as_of: Some(20_000),
                issued_at: 1,
                decided_at: 2,
                input: "{}".into(),
                output: "{}".into(),
                reasons: vec![],
                legal_basis: vec!["l".into()],
                signature: None,
            }),
            rejection: None,
            key_certified: None,
            checkpoint: None,
        };
        let codec = ledger_codec();
        assert_eq!(codec.encode(&record).unwrap(), slow_encode(&codec, &record));
        assert_eq!(
            codec.decode(&codec.encode(&record).unwrap()).unwrap(),
            record
        );
    }

    #[test]
    fn bad_inputs_are_classified() {
        let codec = request_codec();
        assert!(matches!(
            codec.decode(b"{\"json\":1}"),
            Err(CodecError::NotAvro)
        ));
        assert!(matches!(
            codec.decode(&[0, 0, 0, 0, 7, 1]),
            Err(CodecError::RegistryNotConfigured(7))
        ));
        let mut wrong = codec.encode(&request()).unwrap();
        wrong[3] ^= 0xff;
        assert!(matches!(
            codec.decode(&wrong),
            Err(CodecError::UnknownSchema(_))
        ));
        let good = codec.encode(&request()).unwrap();
        assert!(matches!(
            codec.decode(&good[..good.len() - 3]),
            Err(CodecError::Malformed(_))
        ));
        let big = vec![0xC3; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            codec.decode(&big),
            Err(CodecError::TooLarge { .. })
        ));
        // A result encoded with another schema is refused by fingerprint.
        let other = result_codec();
        let _ = other; // fingerprints differ between record types
        assert_ne!(request_codec().fingerprint(), result_codec().fingerprint());
    }

    #[test]
    fn registry_event_round_trips_with_binary_files() {
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            "function.yaml".to_string(),
            serde_bytes::ByteBuf::from(b"id: x\n".to_vec()),
        );
        files.insert(
            "bin/blob".to_string(),
            serde_bytes::ByteBuf::from(vec![0u8, 255, 1, 0xC3]),
        );
        let published = RegistryEvent {
            event_id: "e1".into(),
            kind: RegistryEventKind::VersionPublished,
            function_id: Some("loan".into()),
            version: Some("1.2.3".into()),
            published: Some(VersionPublished {
                digest: "sha256:00".into(),
                files,
                author: "ann".into(),
                published_at: 7,
            }),
            approved: None,
            activated: None,
            retired: None,
            legal_status: None,
        };
        let approved = RegistryEvent {
            kind: RegistryEventKind::VersionApproved,
            published: None,
            approved: Some(VersionApproved {
                digest: "sha256:00".into(),
                role: ApproverRole::Reviewer,
                approver_id: "bob".into(),
                key_id: "bob-1".into(),
                signature: "c2ln".into(),
                approved_at: 8,
            }),
            ..published.clone()
        };
        let legal = RegistryEvent {
            event_id: "e3".into(),
            kind: RegistryEventKind::LegalReferenceStatusChanged,
            function_id: None,
            version: None,
            published: None,
            approved: None,
            activated: None,
            retired: Some(VersionRetired {
                digest: "d".into(),
                by: "x".into(),
                at: 1,
                reason: None,
            }),
            legal_status: Some(LegalReferenceStatusChanged {
                iri: "http://data.finlex.fi/eli/sd/2002/1412".into(),
                status: LegalStatus::Repealed,
                previous_status: Some(LegalStatus::InForce),
                title: Some("t".into()),
                latest_consolidated: Some(19_000),
                detail: "d".into(),
                checked_at: 9,
            }),
        };
        let codec = registry_codec();
        for event in [published, approved, legal] {
            let bytes = codec.encode(&event).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), event);
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let codec = request_codec();
            let mut bytes = vec![0xC3, 0x01];
            bytes.extend_from_slice(&codec.fingerprint().to_le_bytes());
            bytes.extend_from_slice(&tail);
            let _ = codec.decode(&bytes);
            let _ = codec.decode(&tail);
        }
    }
}
