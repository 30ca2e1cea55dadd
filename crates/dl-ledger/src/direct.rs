//! Canonical JSON of the ledger types written directly from the structs, without building a
//! `serde_json::Value` tree first.
//!
//! The output is byte-for-byte the output of
//! [`canonical_json`](crate::canonical_json)`(&serde_json::to_value(x))` (`schemas/ledger-hash.md`):
//! members are written in UTF-16 code unit order of their (ASCII) names, which the tests check
//! against the tree-based reference for every type. Skipping the tree (one allocation per string
//! and per map entry, plus sorting the keys of every object) makes hashing a record several
//! times cheaper.

use std::fmt::Write as _;

use dl_schema::{
    Checkpoint, DecisionRecorded, LedgerRecord, Reason, RequestRejected, Signature,
    SigningKeyCertified, SourcePosition,
};

use crate::canonical::write_string;

/// Writes `{"k1":v1,...}` for members given in canonical order.
struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        // Keys are plain ASCII identifiers: no escaping needed.
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        write_string(self.key(key), value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.key(key).push_str("null"),
        }
    }

    fn int(&mut self, key: &str, value: i64) {
        let _ = write!(self.key(key), "{value}");
    }

    fn opt_int(&mut self, key: &str, value: Option<i64>) {
        match value {
            Some(v) => self.int(key, v),
            None => self.key(key).push_str("null"),
        }
    }

    fn with(&mut self, key: &str, f: impl FnOnce(&mut String)) {
        f(self.key(key));
    }

    fn opt<T>(&mut self, key: &str, value: Option<&T>, f: impl FnOnce(&mut String, &T)) {
        match value {
            Some(v) => f(self.key(key), v),
            None => self.key(key).push_str("null"),
        }
    }

    fn end(self) {
        self.out.push('}');
    }
}

fn write_source(out: &mut String, s: &SourcePosition) {
    let mut o = Obj::new(out);
    o.int("offset", s.offset);
    o.int("partition", i64::from(s.partition));
    o.str("topic", &s.topic);
    o.end();
}

fn write_reason(out: &mut String, r: &Reason) {
    let mut o = Obj::new(out);
    o.str("code", &r.code);
    o.str("legal_ref", &r.legal_ref);
    o.str("message", &r.message);
    o.end();
}

fn write_signature(out: &mut String, s: &Signature) {
    let mut o = Obj::new(out);
    o.str("algorithm", &s.algorithm);
    o.str("key_id", &s.key_id);
    o.str("value", &s.value);
    o.end();
}

fn write_array<T>(out: &mut String, items: &[T], f: impl Fn(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(out, item);
    }
    out.push(']');
}

/// `with_signature = false` leaves the `signature` member out entirely (the signed payload).
fn write_decision(out: &mut String, d: &DecisionRecorded, with_signature: bool) {
    let mut o = Obj::new(out);
    o.opt_int("as_of", d.as_of.map(i64::from));
    o.opt_str("caller", d.caller.as_deref());
    o.int("decided_at", d.decided_at);
    o.str("decision_id", &d.decision_id);
    o.str("function_digest", &d.function_digest);
    o.str("function_id", &d.function_id);
    o.str("function_version", &d.function_version);
    o.str("input", &d.input);
    o.int("issued_at", d.issued_at);
    o.with("legal_basis", |out| {
        write_array(out, &d.legal_basis, |out, s| write_string(out, s))
    });
    o.str("output", &d.output);
    o.with("reasons", |out| write_array(out, &d.reasons, write_reason));
    o.str("request_id", &d.request_id);
    if with_signature {
        o.opt("signature", d.signature.as_ref(), write_signature);
    }
    o.with("source", |out| write_source(out, &d.source));
    if let Some(tenant) = &d.tenant {
        o.str("tenant", tenant);
    }
    o.end();
}

fn write_rejection(out: &mut String, r: &RequestRejected) {
    let mut o = Obj::new(out);
    o.opt_str("caller", r.caller.as_deref());
    o.str("code", &r.code);
    o.int("decided_at", r.decided_at);
    o.str("decision_id", &r.decision_id);
    o.str("function_id", &r.function_id);
    o.opt_str("function_version", r.function_version.as_deref());
    o.str("message", &r.message);
    o.str("request_id", &r.request_id);
    o.with("source", |out| write_source(out, &r.source));
    if let Some(tenant) = &r.tenant {
        o.str("tenant", tenant);
    }
    o.end();
}

fn write_certificate(out: &mut String, c: &SigningKeyCertified) {
    let mut o = Obj::new(out);
    o.str("algorithm", &c.algorithm);
    o.str("certificate_signature", &c.certificate_signature);
    o.str("certifier_key_id", &c.certifier_key_id);
    o.str("key_id", &c.key_id);
    o.str("public_key", &c.public_key);
    o.int("valid_from", c.valid_from);
    o.int("valid_until", c.valid_until);
    o.str("worker_id", &c.worker_id);
    o.end();
}

fn write_checkpoint(out: &mut String, c: &Checkpoint) {
    let mut o = Obj::new(out);
    o.str("head_hash", &c.head_hash);
    o.opt_str("merkle_root", c.merkle_root.as_deref());
    o.str("signature", &c.signature);
    o.str("signer_key_id", &c.signer_key_id);
    o.int("up_to_sequence", c.up_to_sequence);
    o.end();
}

/// Appends the canonical JSON of `record` without its top-level `hash` member (the text `C` of
/// `schemas/ledger-hash.md`) to `out`.
pub fn write_record_for_hash(out: &mut String, r: &LedgerRecord) {
    let mut o = Obj::new(out);
    o.str("chain_id", &r.chain_id);
    o.opt("checkpoint", r.checkpoint.as_ref(), write_checkpoint);
    o.opt("decision", r.decision.as_ref(), |out, d| {
        write_decision(out, d, true)
    });
    o.opt("key_certified", r.key_certified.as_ref(), write_certificate);
    o.str("kind", r.kind.as_str());
    o.str("prev_hash", &r.prev_hash);
    o.int("recorded_at", r.recorded_at);
    o.opt("rejection", r.rejection.as_ref(), write_rejection);
    o.int("sequence", r.sequence);
    o.end();
}

/// Canonical JSON of `record` without its top-level `hash` member.
pub fn record_canonical_json(record: &LedgerRecord) -> String {
    let mut out = String::with_capacity(1024);
    write_record_for_hash(&mut out, record);
    out
}

/// Canonical JSON of a decision body without its `signature` member: the text a worker signs
/// (after the domain prefix `dl.signer.decision.v1\n`, see `dl_signer::decision_payload`).
pub fn decision_canonical_json_unsigned(decision: &DecisionRecorded) -> String {
    let mut out = String::with_capacity(1024);
    write_decision(&mut out, decision, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_json;
    use dl_schema::LedgerRecordKind;
    use proptest::prelude::*;

    fn reference(record: &LedgerRecord) -> String {
        canonical_json(&crate::chain::hashed_value(record))
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{0,8}".prop_map(String::from),
            any::<String>(),
            Just("\u{0}\u{1f}\"\\\u{7f}\u{2028}😀ä".to_string()),
        ]
    }

    fn source() -> impl Strategy<Value = SourcePosition> {
        (text(), any::<i32>(), any::<i64>()).prop_map(|(topic, partition, offset)| SourcePosition {
            topic,
            partition,
            offset,
        })
    }

    fn decision() -> impl Strategy<Value = DecisionRecorded> {
        (
            (text(), text(), source(), proptest::option::of(text())),
            (text(), text(), proptest::option::of(any::<i32>())),
            (any::<i64>(), any::<i64>(), text(), text()),
            (
                proptest::collection::vec((text(), text(), text()), 0..3),
                proptest::collection::vec(text(), 0..3),
                proptest::option::of((text(), text(), text())),
            ),
        )
            .prop_map(
                |(
                    (decision_id, request_id, source, caller),
                    (function_version, function_digest, as_of),
                    (issued_at, decided_at, input, output),
                    (reasons, legal_basis, signature),
                )| DecisionRecorded {
                    decision_id,
                    request_id,
                    source,
                    caller,
                    function_id: "f".into(),
                    function_version,
                    function_digest,
                    as_of,
                    issued_at,
                    decided_at,
                    input,
                    output,
                    reasons: reasons
                        .into_iter()
                        .map(|(code, message, legal_ref)| Reason {
                            code,
                            message,
                            legal_ref,
                        })
                        .collect(),
                    legal_basis,
                    signature: signature.map(|(algorithm, key_id, value)| Signature {
                        algorithm,
                        key_id,
                        value,
                    }),
                    tenant: as_of.map(|d| format!("tenant-{d}")),
                },
            )
    }

    fn record() -> impl Strategy<Value = LedgerRecord> {
        let body = prop_oneof![
            decision().prop_map(|d| (
                LedgerRecordKind::DecisionRecorded,
                Some(d),
                None,
                None,
                None
            )),
            (
                text(),
                source(),
                proptest::option::of(text()),
                proptest::option::of(text()),
                any::<i64>()
            )
                .prop_map(|(code, source, caller, version, at)| (
                    LedgerRecordKind::RequestRejected,
                    None,
                    Some(RequestRejected {
                        decision_id: "d".into(),
                        request_id: "r".into(),
                        source,
                        caller,
                        function_id: "f".into(),
                        tenant: version.clone(),
                        function_version: version,
                        code,
                        message: "m\n".into(),
                        decided_at: at,
                    }),
                    None,
                    None
                )),
            (text(), any::<i64>(), any::<i64>()).prop_map(|(s, a, b)| (
                LedgerRecordKind::SigningKeyCertified,
                None,
                None,
                Some(SigningKeyCertified {
                    key_id: s.clone(),
                    algorithm: "Ed25519".into(),
                    public_key: s.clone(),
                    worker_id: s,
                    valid_from: a,
                    valid_until: b,
                    certifier_key_id: "local:x".into(),
                    certificate_signature: "sig".into(),
                }),
                None
            )),
            (any::<i64>(), text(), proptest::option::of(text())).prop_map(|(n, h, m)| (
                LedgerRecordKind::Checkpoint,
                None,
                None,
                None,
                Some(Checkpoint {
                    up_to_sequence: n,
                    head_hash: h,
                    merkle_root: m,
                    signer_key_id: "k".into(),
                    signature: "s".into(),
                })
            )),
        ];
        (text(), any::<i64>(), text(), any::<i64>(), body).prop_map(
            |(chain_id, sequence, prev_hash, recorded_at, (kind, d, r, k, c))| LedgerRecord {
                chain_id,
                sequence,
                prev_hash,
                hash: "ignored".into(),
                recorded_at,
                kind,
                decision: d,
                rejection: r,
                key_certified: k,
                checkpoint: c,
            },
        )
    }

    proptest! {
        #[test]
        fn direct_writer_matches_the_tree_reference(r in record()) {
            prop_assert_eq!(record_canonical_json(&r), reference(&r));
            if let Some(d) = &r.decision {
                let mut v = serde_json::to_value(d).unwrap();
                v.as_object_mut().unwrap().remove("signature");
                crate::chain::drop_null_tenant(v.as_object_mut().unwrap());
                prop_assert_eq!(decision_canonical_json_unsigned(d), canonical_json(&v));
            }
        }
    }
}
