//! Avro wire codec: single-object encoding (`C3 01` + fingerprint) and the Confluent wire
//! format (`00` + schema id) when writer schemas by id are supplied (a Schema Registry).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use apache_avro::{from_avro_datum, from_value, to_avro_datum, to_value, Schema};
use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

use crate::canonical::{crc64_avro, spec_fingerprint, CanonicalFormError};

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
    /// Confluent framing: `00`, 4-byte big-endian schema id, datum.
    Confluent,
}

/// Writer schemas by Confluent schema id: what a Schema Registry client hands the codec.
///
/// Lookups are synchronous: the caller fetches the ids of a batch first (asynchronously, with
/// retries), then decodes. An id the store does not know decodes as
/// [`CodecError::UnknownSchemaId`].
pub trait WriterSchemas: Send + Sync + fmt::Debug {
    /// The writer schema registered under `id`, if known.
    fn writer_schema(&self, id: u32) -> Option<Arc<WriterSchema>>;
}

/// A writer schema and its fingerprint: a writer schema equal to the reader's is decoded
/// without the (slower) schema-resolution step.
#[derive(Debug, Clone)]
pub struct WriterSchema {
    /// The parsed schema.
    pub schema: Schema,
    /// CRC-64-AVRO of its Parsing Canonical Form.
    pub fingerprint: u64,
}

impl WriterSchema {
    /// Parses a writer schema's JSON text.
    pub fn parse(avsc: &str) -> Result<Self, SchemaError> {
        let (schema, fingerprint, _) = parse(avsc)?;
        Ok(Self {
            schema,
            fingerprint,
        })
    }
}

/// Why bytes could not be decoded or a value encoded. Each maps to a dead-letter reason.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The message exceeds the codec's limit ([`MAX_MESSAGE_BYTES`] by default).
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
    /// Confluent framing with a schema id the Schema Registry does not know.
    #[error("unknown Confluent schema id {0}")]
    UnknownSchemaId(u32),
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
    /// Every code [`CodecError::code`] returns (docs/rejection-codes.md lists each one; the
    /// repository's drift test checks it).
    pub const CODES: &'static [&'static str] = &[
        "MESSAGE_TOO_LARGE",
        "NOT_AVRO",
        "UNKNOWN_SCHEMA",
        "UNKNOWN_SCHEMA_ID",
        "SCHEMA_REGISTRY_NOT_CONFIGURED",
        "MALFORMED_AVRO",
        "ENCODE_FAILED",
    ];

    /// Stable reason code written to the dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "MESSAGE_TOO_LARGE",
            Self::NotAvro => "NOT_AVRO",
            Self::UnknownSchema(_) => "UNKNOWN_SCHEMA",
            Self::UnknownSchemaId(_) => "UNKNOWN_SCHEMA_ID",
            Self::RegistryNotConfigured(_) => "SCHEMA_REGISTRY_NOT_CONFIGURED",
            Self::Malformed(_) => "MALFORMED_AVRO",
            Self::Encode(_) => "ENCODE_FAILED",
        }
    }
}

/// Encoder/decoder for one record type.
///
/// The reader schema is the current schema. Single-object messages are recognised by the
/// specification's fingerprint and, for records written before ADR 0015, by `apache-avro`'s
/// legacy one; older compatible writer schemas can be added with [`Codec::add_writer_schema`].
/// Confluent-framed messages decode once [`Codec::with_writer_schemas`] supplies schemas by id.
#[derive(Debug, Clone)]
pub struct Codec<T> {
    schema: Schema,
    fingerprint: u64,
    legacy_fingerprint: u64,
    writers: HashMap<u64, Schema>,
    schema_ids: Option<Arc<dyn WriterSchemas>>,
    max_bytes: usize,
    _type: PhantomData<fn() -> T>,
}

/// A schema text the codec cannot use.
#[derive(Debug, Error)]
pub enum SchemaError {
    /// `apache-avro` does not parse it.
    #[error(transparent)]
    Avro(#[from] apache_avro::Error),
    /// It has no Parsing Canonical Form.
    #[error(transparent)]
    Canonical(#[from] CanonicalFormError),
}

/// Parses a schema and computes its specification and legacy fingerprints.
fn parse(avsc: &str) -> Result<(Schema, u64, u64), SchemaError> {
    let schema = Schema::parse_str(avsc)?;
    let spec = spec_fingerprint(avsc)?;
    let legacy = crc64_avro(schema.canonical_form().as_bytes());
    Ok((schema, spec, legacy))
}

impl<T: Serialize + DeserializeOwned> Codec<T> {
    /// Builds a codec from the current (reader and writer) schema text.
    pub fn new(avsc: &str) -> Result<Self, SchemaError> {
        // The limit is process-global and can only be set once; later calls are no-ops.
        let _ = apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
        let (schema, fingerprint, legacy_fingerprint) = parse(avsc)?;
        let mut writers = HashMap::new();
        writers.insert(fingerprint, schema.clone());
        writers.insert(legacy_fingerprint, schema.clone());
        Ok(Self {
            schema,
            fingerprint,
            legacy_fingerprint,
            writers,
            schema_ids: None,
            max_bytes: MAX_MESSAGE_BYTES,
            _type: PhantomData,
        })
    }

    /// Sets the largest message [`Codec::decode`] accepts (default [`MAX_MESSAGE_BYTES`]).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Decodes the Confluent wire format with writer schemas looked up by id in `schemas`.
    pub fn with_writer_schemas(mut self, schemas: Arc<dyn WriterSchemas>) -> Self {
        self.schema_ids = Some(schemas);
        self
    }

    /// Accepts single-object messages written with an older, compatible schema (under both its
    /// specification and its legacy fingerprint).
    pub fn add_writer_schema(&mut self, avsc: &str) -> Result<(), SchemaError> {
        let (schema, spec, legacy) = parse(avsc)?;
        self.writers.insert(spec, schema.clone());
        self.writers.insert(legacy, schema);
        Ok(())
    }

    /// CRC-64-AVRO fingerprint of the current schema's Parsing Canonical Form, as the Avro
    /// specification defines it (what Java's `SchemaNormalization` and fastavro compute).
    /// Written into every single-object message.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The fingerprint written before ADR 0015 (`apache-avro`'s canonical form, which keeps
    /// `logicalType`); still accepted when reading.
    pub fn legacy_fingerprint(&self) -> u64 {
        self.legacy_fingerprint
    }

    /// The reader (current) schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn write_datum(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        // Fast path: serde straight to Avro bytes, guided by the schema. Schemas that reference a
        // named type a second time need the slower path through `Value` (names are resolved there).
        if apache_avro::write_avro_datum_ref(&self.schema, value, out).is_ok() {
            return Ok(());
        }
        out.truncate(start);
        let avro = to_value(value)
            .and_then(|v| v.resolve(&self.schema))
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        out.extend_from_slice(
            &to_avro_datum(&self.schema, avro).map_err(|e| CodecError::Encode(e.to_string()))?,
        );
        Ok(())
    }

    /// Encodes `value` in single-object encoding.
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        self.write_datum(value, &mut out)?;
        Ok(out)
    }

    /// Encodes `value` in the Confluent wire format under `schema_id` (the id a Schema Registry
    /// gave this codec's schema).
    pub fn encode_confluent(&self, schema_id: u32, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        out.push(CONFLUENT_MAGIC);
        out.extend_from_slice(&schema_id.to_be_bytes());
        self.write_datum(value, &mut out)?;
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
                // Same schema: no resolution step needed (the common case, and much cheaper).
                let same =
                    fingerprint == self.fingerprint || fingerprint == self.legacy_fingerprint;
                self.read_datum(writer, &bytes[10..], !same)
            }
            Some(WireFormat::Confluent) => {
                let id = confluent_schema_id(bytes).ok_or(CodecError::NotAvro)?;
                let schemas = self
                    .schema_ids
                    .as_ref()
                    .ok_or(CodecError::RegistryNotConfigured(id))?;
                let writer = schemas
                    .writer_schema(id)
                    .ok_or(CodecError::UnknownSchemaId(id))?;
                let resolve = writer.fingerprint != self.fingerprint;
                self.read_datum(&writer.schema, &bytes[5..], resolve)
            }
            None => Err(CodecError::NotAvro),
        }
    }

    fn read_datum(&self, writer: &Schema, body: &[u8], resolve: bool) -> Result<T, CodecError> {
        let reader = resolve.then_some(&self.schema);
        let mut input = StrictSlice::new(body);
        let value = from_avro_datum(writer, &mut input, reader).map_err(|e| {
            if input.overrun {
                CodecError::Malformed(format!(
                    "truncated datum: the writer schema needs more than its {} bytes",
                    body.len()
                ))
            } else {
                CodecError::Malformed(e.to_string())
            }
        })?;
        if !input.rest.is_empty() {
            return Err(CodecError::Malformed(format!(
                "{} trailing bytes after the datum",
                input.rest.len()
            )));
        }
        from_value::<T>(&value).map_err(|e| CodecError::Malformed(e.to_string()))
    }
}

/// The datum's bytes as the Avro decoder reads them, refusing to read past the end.
///
/// `apache-avro` (0.21) turns an end of input met while reading a string, a boolean or a union
/// branch index into `null` (`Value::Null`, or the union's branch 0) instead of an error, for its
/// container-file reader. In a message that is a truncated datum decoded as valid: a request
/// missing only its final byte (the `reply_to` branch index) was decided, while the Avro
/// specification and fastavro refuse it. This reader reports reading past the end as
/// [`std::io::ErrorKind::InvalidData`], an error the decoder does not excuse, and remembers that
/// it happened so the codec can say "truncated".
struct StrictSlice<'a> {
    rest: &'a [u8],
    overrun: bool,
}

impl<'a> StrictSlice<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            overrun: false,
        }
    }
}

impl std::io::Read for StrictSlice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.rest.is_empty() {
            self.overrun = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the datum ends before its schema does",
            ));
        }
        let n = buf.len().min(self.rest.len());
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

/// The schema id of a Confluent-framed message (`00` + 4-byte big-endian id), if it is one.
pub fn confluent_schema_id(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [CONFLUENT_MAGIC, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// A small `RequestRejected` ledger record.
    fn rejected_record() -> LedgerRecord {
        LedgerRecord {
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
                tenant: None,
            }),
            key_certified: None,
            checkpoint: None,
        }
    }

    #[test]
    fn ledger_records_of_every_schema_revision_decode() {
        let current = ledger_codec();
        let mut record = rejected_record();
        record.rejection.as_mut().unwrap().tenant = Some("kela".into());
        assert_eq!(
            current.decode(&current.encode(&record).unwrap()).unwrap(),
            record
        );
        // Written before tenants (revision 1, its own fingerprint): decodes, tenant absent.
        let revision_1 = Codec::<LedgerRecord>::new(LEDGER_RECORD_AVSC_HISTORY[0]).unwrap();
        assert_ne!(revision_1.fingerprint(), current.fingerprint());
        let old = revision_1.encode(&record).unwrap();
        let back = current.decode(&old).unwrap();
        assert_eq!(back.rejection.as_ref().unwrap().tenant, None);
        record.rejection.as_mut().unwrap().tenant = None;
        assert_eq!(back, record);
    }

    #[test]
    fn explain_views_of_every_schema_revision_decode() {
        let current = explain_view_codec();
        let mut view = ExplainView {
            decision_id: "d".into(),
            request_id: "r".into(),
            function_id: "f".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:00".into(),
            decided_at: 1,
            ledger: LedgerRef {
                chain_id: "decision.ledger:0".into(),
                sequence: 2,
                hash: "ab".into(),
            },
            legal_basis: vec![],
            policy: ExplainPolicySource::Manifest,
            pseudonym_key_id: Some("k1/kela".into()),
            views: vec![],
            tenant: Some("kela".into()),
        };
        assert_eq!(
            current.decode(&current.encode(&view).unwrap()).unwrap(),
            view
        );
        assert_eq!(view.tenant(), "kela");
        // Written before tenants (revision 1, its own fingerprint): decodes, the default tenant.
        let revision_1 = Codec::<ExplainView>::new(EXPLAIN_VIEW_AVSC_HISTORY[0]).unwrap();
        assert_ne!(revision_1.fingerprint(), current.fingerprint());
        let back = current.decode(&revision_1.encode(&view).unwrap()).unwrap();
        assert_eq!(
            (back.tenant.as_deref(), back.tenant()),
            (None, DEFAULT_TENANT)
        );
        view.tenant = None;
        assert_eq!(back, view);
    }

    #[test]
    fn registry_events_of_every_schema_revision_decode() {
        let current = registry_codec();
        let activated = RegistryEvent {
            event_id: "e1".into(),
            kind: RegistryEventKind::VersionActivated,
            function_id: Some("loan".into()),
            version: Some("1.2.3".into()),
            published: None,
            approved: None,
            activated: Some(VersionActivated {
                digest: "sha256:00".into(),
                by: "ann".into(),
                at: 1,
            }),
            retired: None,
            legal_status: None,
            shadow_set: None,
            shadow_cleared: None,
        };
        // Written before shadow events (revision 1, its own fingerprint): still decodes.
        let revision_1 = Codec::<RegistryEvent>::new(REGISTRY_EVENT_AVSC_HISTORY[0]).unwrap();
        assert_ne!(revision_1.fingerprint(), current.fingerprint());
        assert_eq!(
            current
                .decode(&revision_1.encode(&activated).unwrap())
                .unwrap(),
            activated
        );
        let shadow = RegistryEvent {
            kind: RegistryEventKind::ShadowSet,
            activated: None,
            shadow_set: Some(ShadowSet {
                digest: "sha256:00".into(),
                sample_per_mille: 10,
                by: "ann".into(),
                at: 2,
            }),
            ..activated.clone()
        };
        assert_eq!(
            current.decode(&current.encode(&shadow).unwrap()).unwrap(),
            shadow
        );
        let cleared = RegistryEvent {
            kind: RegistryEventKind::ShadowCleared,
            version: None,
            shadow_set: None,
            shadow_cleared: Some(ShadowCleared {
                by: "ann".into(),
                at: 3,
            }),
            ..shadow
        };
        assert_eq!(
            current.decode(&current.encode(&cleared).unwrap()).unwrap(),
            cleared
        );
    }

    #[test]
    fn shadow_evaluations_round_trip() {
        let codec = shadow_codec();
        let e = ShadowEvaluation {
            decision_id: "decision.requests/0/7".into(),
            tenant: Some("kela".into()),
            function_id: "kela/loan".into(),
            version: "1.0.0".into(),
            digest: "sha256:00".into(),
            shadow_version: "1.1.0".into(),
            shadow_digest: "sha256:01".into(),
            outcome: ShadowOutcome::Disagree,
            differences: vec![ShadowDifference {
                pointer: "/approved".into(),
                deciding_value: Some("true".into()),
                shadow_value: None,
            }],
            error_code: None,
            evaluated_at: 9,
        };
        assert_eq!(codec.decode(&codec.encode(&e).unwrap()).unwrap(), e);
    }

    #[test]
    fn every_code_is_listed_once() {
        let codes: Vec<&str> = [
            CodecError::TooLarge { size: 2, limit: 1 },
            CodecError::NotAvro,
            CodecError::UnknownSchema(0),
            CodecError::UnknownSchemaId(0),
            CodecError::RegistryNotConfigured(0),
            CodecError::Malformed(String::new()),
            CodecError::Encode(String::new()),
        ]
        .iter()
        .map(CodecError::code)
        .collect();
        assert_eq!(codes, CodecError::CODES);
    }

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
    fn the_legacy_fingerprint_is_apache_avros_rabin() {
        use apache_avro::rabin::Rabin;
        let schema = Schema::parse_str(DECISION_REQUEST_AVSC).unwrap();
        let theirs = schema.fingerprint::<Rabin>();
        let codec = request_codec();
        assert_eq!(
            theirs.bytes,
            codec.legacy_fingerprint().to_le_bytes().to_vec()
        );
        // DecisionRequest has logical types, so the two forms differ (AVRO-4004).
        assert_ne!(codec.fingerprint(), codec.legacy_fingerprint());
    }

    #[test]
    fn records_written_under_the_legacy_fingerprint_still_decode() {
        let codec = request_codec();
        let mut bytes = codec.encode(&request()).unwrap();
        assert_eq!(bytes[2..10], codec.fingerprint().to_le_bytes());
        bytes[2..10].copy_from_slice(&codec.legacy_fingerprint().to_le_bytes());
        assert_eq!(codec.decode(&bytes).unwrap(), request());
    }

    #[derive(Debug)]
    struct Ids(HashMap<u32, Arc<WriterSchema>>);
    impl WriterSchemas for Ids {
        fn writer_schema(&self, id: u32) -> Option<Arc<WriterSchema>> {
            self.0.get(&id).cloned()
        }
    }

    /// DecisionRequest as a newer producer might write it: one more optional field, first.
    const NEWER_REQUEST: &str = r#"{"type":"record","name":"DecisionRequest","namespace":"eu.decisionlayer.v1","fields":[
        {"name":"channel","type":["null","string"],"default":null},
        {"name":"request_id","type":"string"},{"name":"function_id","type":"string"},
        {"name":"function_version","type":["null","string"],"default":null},
        {"name":"as_of","type":["null",{"type":"int","logicalType":"date"}],"default":null},
        {"name":"issued_at","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"input","type":"string"},{"name":"reply_to","type":["null","string"],"default":null}]}"#;

    #[test]
    fn confluent_framing_decodes_with_writer_schemas_by_id_including_a_newer_writer() {
        let ids = Ids(HashMap::from([
            (
                1,
                Arc::new(WriterSchema::parse(DECISION_REQUEST_AVSC).unwrap()),
            ),
            (2, Arc::new(WriterSchema::parse(NEWER_REQUEST).unwrap())),
        ]));
        let codec = request_codec().with_writer_schemas(Arc::new(ids));
        let own = codec.encode_confluent(1, &request()).unwrap();
        assert_eq!(own[..5], [0, 0, 0, 0, 1]);
        assert_eq!(codec.decode(&own).unwrap(), request());

        // The newer writer's datum: the extra union field (branch 1 = string "web") first.
        let mut newer = vec![0, 0, 0, 0, 2, 2, 6, b'w', b'e', b'b'];
        newer.extend_from_slice(&own[5..]);
        assert_eq!(codec.decode(&newer).unwrap(), request());

        assert!(matches!(
            codec.decode(&[0, 0, 0, 0, 9, 0]),
            Err(CodecError::UnknownSchemaId(9))
        ));
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

        let record = rejected_record();
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
                tenant: None,
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
            shadow_set: None,
            shadow_cleared: None,
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
            shadow_set: None,
            shadow_cleared: None,
        };
        let codec = registry_codec();
        for event in [published, approved, legal] {
            let bytes = codec.encode(&event).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), event);
        }
    }

    /// Issue 16: a request missing only its final byte (the `reply_to` union index) was decoded
    /// as `reply_to: null` and decided; fastavro refuses it, and so must we.
    #[test]
    fn a_request_missing_only_its_final_byte_is_refused() {
        let codec = request_codec();
        let mut r = request();
        r.reply_to = None;
        let good = codec.encode(&r).unwrap();
        assert_eq!(
            good.last(),
            Some(&0),
            "reply_to's null branch ends the datum"
        );
        match codec.decode(&good[..good.len() - 1]) {
            Err(e @ CodecError::Malformed(_)) => {
                assert_eq!(e.code(), "MALFORMED_AVRO");
                assert!(e.to_string().contains("truncated datum"), "{e}");
            }
            other => panic!("decoded a truncated request: {other:?}"),
        }
    }

    /// A string cut short inside an optional field was `null` too (`reply_to` lost, not refused).
    #[test]
    fn a_string_cut_short_is_refused_not_read_as_null() {
        let codec = request_codec();
        let mut r = request();
        r.reply_to = Some("decision.results.x".into());
        let good = codec.encode(&r).unwrap();
        for cut in 1..=r.reply_to.as_deref().map_or(0, str::len) {
            let err = codec.decode(&good[..good.len() - cut]).unwrap_err();
            assert!(err.to_string().contains("truncated datum"), "{cut}: {err}");
        }
    }

    fn every_prefix_and_extension_is_refused<T: Serialize + DeserializeOwned + fmt::Debug>(
        codec: &Codec<T>,
        value: &T,
    ) {
        let good = codec.encode(value).unwrap();
        assert!(codec.decode(&good).is_ok());
        for len in 0..good.len() {
            let err = codec.decode(&good[..len]).map(|_| ()).unwrap_err();
            let code = if len < 10 {
                "NOT_AVRO"
            } else {
                "MALFORMED_AVRO"
            };
            assert_eq!(err.code(), code, "prefix of {len} bytes: {err}");
        }
        for extra in [&[0u8][..], &[1], &[0, 0], &[0xC3, 0x01]] {
            let mut longer = good.clone();
            longer.extend_from_slice(extra);
            let err = codec.decode(&longer).map(|_| ()).unwrap_err();
            assert!(err.to_string().contains("trailing bytes"), "{err}");
            assert_eq!(err.code(), "MALFORMED_AVRO");
        }
    }

    #[test]
    fn every_truncation_and_every_appended_byte_is_refused() {
        let mut r = request();
        every_prefix_and_extension_is_refused(&request_codec(), &r);
        r.function_version = None;
        r.as_of = None;
        every_prefix_and_extension_is_refused(&request_codec(), &r);
        let record = rejected_record();
        every_prefix_and_extension_is_refused(&ledger_codec(), &record);
        let event = RegistryEvent {
            event_id: "e1".into(),
            kind: RegistryEventKind::VersionRetired,
            function_id: Some("loan".into()),
            version: Some("1.2.3".into()),
            published: None,
            approved: None,
            activated: None,
            retired: Some(VersionRetired {
                digest: "d".into(),
                by: "x".into(),
                at: 1,
                reason: None,
            }),
            legal_status: None,
            shadow_set: None,
            shadow_cleared: None,
        };
        every_prefix_and_extension_is_refused(&registry_codec(), &event);
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
