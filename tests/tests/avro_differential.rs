//! Differential check of the Avro decoder against fastavro (issue 16): a corpus of mutated
//! single-object messages — every truncation, appended bytes, every single-bit flip and seeded
//! random byte substitutions of valid `DecisionRequest`s, `LedgerRecord`s and `RegistryEvent`s —
//! is decoded by `dl_schema`'s codec and by fastavro (`tests/python/avro_reference.py`, one Python
//! process for the whole batch). Every message fastavro refuses must be refused by ours; messages
//! ours refuses and fastavro accepts are printed, not failed on (the reference is laxer in
//! places, e.g. a boolean byte other than 0 or 1). Needs the stack's Python
//! (`scripts/stack.sh install`), like `interop.rs`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use dl_e2e::repo;
use dl_schema::*;
use serde_json::{json, Value};

/// The stack's Python, with fastavro (scripts/requirements-clients.txt).
fn python() -> PathBuf {
    std::env::var("DL_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".stack"))
        .join("venv/bin/python")
}

fn requests() -> Vec<DecisionRequest> {
    let full = DecisionRequest {
        request_id: "r-1".into(),
        function_id: "loan_approval".into(),
        function_version: Some("1.0.0".into()),
        as_of: Some(19_700),
        issued_at: 1_700_000_000_000,
        input: r#"{"amount":3000,"income":4200}"#.into(),
        reply_to: Some("decision.results.x".into()),
    };
    let bare = DecisionRequest {
        function_version: None,
        as_of: None,
        reply_to: None,
        ..full.clone()
    };
    vec![full, bare]
}

fn ledger_records() -> Vec<LedgerRecord> {
    let source = SourcePosition {
        topic: "decision.requests".into(),
        partition: 2,
        offset: 9,
    };
    let decided = LedgerRecord {
        chain_id: "decision.ledger:0".into(),
        sequence: 7,
        prev_hash: "0".repeat(64),
        hash: "a".repeat(64),
        recorded_at: 1_700_000_000_123,
        kind: LedgerRecordKind::DecisionRecorded,
        decision: Some(DecisionRecorded {
            decision_id: "d-1".into(),
            request_id: "r-1".into(),
            source: source.clone(),
            caller: Some("bank-a".into()),
            function_id: "loan_approval".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:00ff".into(),
            as_of: Some(19_700),
            issued_at: 1_700_000_000_000,
            decided_at: 1_700_000_000_100,
            input: r#"{"amount":3000}"#.into(),
            output: r#"{"approved":true}"#.into(),
            reasons: vec![Reason {
                code: "INCOME_OK".into(),
                message: "income covers the loan".into(),
                legal_ref: "eli/fi/2002/1412".into(),
            }],
            legal_basis: vec!["CELEX:32016R0679".into(), "eli/fi/2002/1412".into()],
            signature: Some(Signature {
                algorithm: "Ed25519".into(),
                key_id: "w-1".into(),
                value: "c2ln".into(),
            }),
            tenant: None,
        }),
        rejection: None,
        key_certified: None,
        checkpoint: None,
    };
    let rejected = LedgerRecord {
        kind: LedgerRecordKind::RequestRejected,
        decision: None,
        rejection: Some(RequestRejected {
            decision_id: "d-2".into(),
            request_id: "r-2".into(),
            source,
            caller: None,
            function_id: "f".into(),
            function_version: None,
            code: "UNKNOWN_FUNCTION".into(),
            message: "no such function".into(),
            decided_at: 3,
            tenant: None,
        }),
        ..decided.clone()
    };
    let checkpoint = LedgerRecord {
        kind: LedgerRecordKind::Checkpoint,
        decision: None,
        checkpoint: Some(Checkpoint {
            up_to_sequence: 6,
            head_hash: "b".repeat(64),
            merkle_root: Some("c".repeat(64)),
            signer_key_id: "w-1".into(),
            signature: "c2ln".into(),
        }),
        ..decided.clone()
    };
    vec![decided, rejected, checkpoint]
}

fn registry_events() -> Vec<RegistryEvent> {
    let mut files = BTreeMap::new();
    files.insert(
        "function.yaml".to_string(),
        serde_bytes::ByteBuf::from(b"id: loan\n".to_vec()),
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
        event_id: "e2".into(),
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
        retired: None,
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
    let shadow = RegistryEvent {
        event_id: "e4".into(),
        kind: RegistryEventKind::ShadowSet,
        published: None,
        shadow_set: Some(ShadowSet {
            digest: "sha256:00".into(),
            sample_per_mille: 10,
            by: "ann".into(),
            at: 10,
        }),
        ..published.clone()
    };
    vec![published, approved, legal, shadow]
}

/// A small deterministic generator (xorshift64*): the corpus is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every mutation of `good`: each prefix, a few appended tails, each single-bit flip, and
/// `random` seeded substitutions of 1 to 4 bytes.
fn mutations(good: &[u8], rng: &mut Rng, random: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for len in 0..good.len() {
        out.push((format!("prefix {len}"), good[..len].to_vec()));
    }
    for tail in [
        &[0u8][..],
        &[1],
        &[2],
        &[0xFF],
        &[0x80],
        &[0, 0],
        &[0xC3, 0x01],
    ] {
        let mut v = good.to_vec();
        v.extend_from_slice(tail);
        out.push((format!("append {tail:02x?}"), v));
    }
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.to_vec();
            v[byte] ^= 1 << bit;
            out.push((format!("flip byte {byte} bit {bit}"), v));
        }
    }
    for _ in 0..random {
        let mut v = good.to_vec();
        let n = 1 + rng.below(4);
        // Beyond the 10-byte header: header damage is refused by both before any datum is read.
        for _ in 0..n {
            let at = 10 + rng.below(good.len() - 10);
            v[at] = rng.next() as u8;
        }
        out.push((format!("substitute {n} bytes"), v));
    }
    out
}

/// One labelled input: the schema's name, what was done, the bytes, and whether ours accepts.
struct Case {
    schema: &'static str,
    label: String,
    bytes: Vec<u8>,
    ours: Result<(), String>,
}

fn cases<T: serde::Serialize + serde::de::DeserializeOwned>(
    schema: &'static str,
    codec: &Codec<T>,
    values: &[T],
    rng: &mut Rng,
) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let good = codec.encode(value)?;
        out.push(Case {
            schema,
            label: format!("#{i} valid"),
            ours: codec.decode(&good).map(|_| ()).map_err(|e| e.to_string()),
            bytes: good.clone(),
        });
        for (label, bytes) in mutations(&good, rng, 400) {
            out.push(Case {
                schema,
                label: format!("#{i} {label}"),
                ours: codec
                    .decode(&bytes)
                    .map(|_| ())
                    .map_err(|e| format!("{}: {e}", e.code())),
                bytes,
            });
        }
    }
    Ok(out)
}

/// fastavro's verdict on every case, in order: `Ok(())` or the exception's class.
fn fastavro(cases: &[Case]) -> anyhow::Result<(String, Vec<Result<(), String>>)> {
    let mut schemas = serde_json::Map::new();
    for (name, avsc) in SCHEMAS {
        schemas.insert(name.to_string(), serde_json::from_str::<Value>(avsc)?);
    }
    let inputs: Vec<Value> = cases
        .iter()
        .map(|c| json!([c.schema, hex::encode(&c.bytes)]))
        .collect();
    let request = serde_json::to_vec(&json!({"schemas": schemas, "inputs": inputs}))?;
    let mut child = Command::new(python())
        .arg(repo().join("tests/python/avro_reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", python().display()))?;
    // Write from a thread: the reference may start answering before it has read everything.
    let mut stdin = child.stdin.take().context("stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(&request));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    if !out.status.success() {
        bail!(
            "avro_reference.py failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    let version = answer["fastavro"].as_str().unwrap_or("?").to_string();
    let results = answer["results"]
        .as_array()
        .context("no results")?
        .iter()
        .map(|r| match r[0].as_bool() {
            Some(true) => Ok(()),
            _ => Err(r[1].as_str().unwrap_or("?").to_string()),
        })
        .collect();
    Ok((version, results))
}

#[test]
fn the_codec_refuses_every_message_fastavro_refuses() -> anyhow::Result<()> {
    let mut rng = Rng(0x5EED_0016_DEC1_5103);
    let mut all = cases("DecisionRequest", &request_codec(), &requests(), &mut rng)?;
    all.extend(cases(
        "LedgerRecord",
        &ledger_codec(),
        &ledger_records(),
        &mut rng,
    )?);
    all.extend(cases(
        "RegistryEvent",
        &registry_codec(),
        &registry_events(),
        &mut rng,
    )?);
    let (version, theirs) = fastavro(&all)?;
    assert_eq!(theirs.len(), all.len(), "one verdict per input");

    let mut accepted_by_ours_only = Vec::new();
    let mut refused_by_ours_only = Vec::new();
    let (mut both_accept, mut both_refuse) = (0, 0);
    for (case, theirs) in all.iter().zip(&theirs) {
        match (&case.ours, theirs) {
            (Ok(()), Ok(())) => both_accept += 1,
            (Err(_), Err(_)) => both_refuse += 1,
            (Ok(()), Err(why)) => accepted_by_ours_only.push(format!(
                "{} {}: fastavro {why}; bytes {}",
                case.schema,
                case.label,
                hex::encode(&case.bytes)
            )),
            (Err(ours), Ok(())) => {
                refused_by_ours_only.push(format!("{} {}: {ours}", case.schema, case.label))
            }
        }
    }
    println!(
        "fastavro {version}: {} inputs; both accept {both_accept}, both refuse {both_refuse}, \
         only fastavro accepts {}, only ours accepts {}",
        all.len(),
        refused_by_ours_only.len(),
        accepted_by_ours_only.len()
    );
    // Reported, not failed on: stricter than the reference is allowed.
    for line in &refused_by_ours_only {
        println!("refused by ours only: {line}");
    }
    // Every valid message is accepted by both (the corpus itself is sound).
    for (case, theirs) in all.iter().zip(&theirs) {
        if case.label.ends_with(" valid") {
            assert!(
                case.ours.is_ok() && theirs.is_ok(),
                "{} {}",
                case.schema,
                case.label
            );
        }
    }
    assert!(
        accepted_by_ours_only.is_empty(),
        "{} messages fastavro refuses were accepted by the codec:\n{}",
        accepted_by_ours_only.len(),
        accepted_by_ours_only.join("\n")
    );
    Ok(())
}
