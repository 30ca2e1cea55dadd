//! The ledger hash, recomputed by an independent implementation: `tests/python/ledger_hash.py`
//! (Python standard library only, written from `schemas/ledger-hash.md`) must accept the chains
//! the Rust code appends, and must name exactly the record that was altered. Needs `python3`,
//! not the stack.

use std::io::Write;
use std::process::{Command, Stdio};

use dl_e2e::repo;
use dl_ledger::{record_hash, ChainHead, GENESIS_HASH};
use dl_schema::{
    Checkpoint, DecisionRecorded, LedgerRecord, LedgerRecordKind, Reason, RequestRejected,
    Signature, SigningKeyCertified, SourcePosition,
};

/// Runs the Python checker over `lines`; returns (exit code, stdout).
fn python(lines: &[String], args: &[&str]) -> (i32, String) {
    let mut child = Command::new("python3")
        .arg(repo().join("tests/python/ledger_hash.py"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 must be installed to run this test");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for line in lines {
            writeln!(stdin, "{line}").expect("writing to python3");
        }
    }
    let out = child.wait_with_output().expect("python3 ran");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

fn empty(kind: LedgerRecordKind, recorded_at: i64) -> LedgerRecord {
    LedgerRecord {
        chain_id: String::new(),
        sequence: 0,
        prev_hash: String::new(),
        hash: String::new(),
        recorded_at,
        kind,
        decision: None,
        rejection: None,
        key_certified: None,
        checkpoint: None,
    }
}

fn decision(
    i: i64,
    caller: Option<&str>,
    as_of: Option<i32>,
    signed: bool,
    input: &str,
) -> LedgerRecord {
    let mut r = empty(LedgerRecordKind::DecisionRecorded, 1_764_300_000_000 + i);
    r.decision = Some(DecisionRecorded {
        decision_id: format!("dec-{i}"),
        request_id: format!("req-{i}"),
        source: SourcePosition {
            topic: "decision.requests".into(),
            partition: 0,
            offset: 1000 + i,
        },
        caller: caller.map(str::to_string),
        function_id: "asumistuki".into(),
        function_version: "1.2.0".into(),
        function_digest: "sha256:5f0c".into(),
        as_of,
        issued_at: 1_764_299_999_000,
        decided_at: 1_764_300_000_000 + i,
        input: input.into(),
        output: r#"{"eligible":true,"amount_eur":412}"#.into(),
        reasons: vec![Reason {
            code: "INCOME_BELOW_LIMIT".into(),
            message: "Tulot alle rajan – myönnetään".into(),
            legal_ref: "http://data.finlex.fi/eli/sd/2014/938/ajantasa/luku/2/pykala/9".into(),
        }],
        legal_basis: vec!["http://data.finlex.fi/eli/sd/2014/938/ajantasa".into()],
        signature: signed.then(|| Signature {
            algorithm: "Ed25519".into(),
            key_id: "w0-k1".into(),
            value: "c2lnbmF0dXJl".into(),
        }),
        tenant: None,
    });
    r
}

fn rejection(i: i64, message: &str) -> LedgerRecord {
    let mut r = empty(LedgerRecordKind::RequestRejected, 1_764_300_100_000 + i);
    r.rejection = Some(RequestRejected {
        decision_id: format!("rej-{i}"),
        request_id: format!("req-r{i}"),
        source: SourcePosition {
            topic: "decision.requests".into(),
            partition: 1,
            offset: i,
        },
        caller: None,
        function_id: "asumistuki".into(),
        function_version: None,
        code: "UNKNOWN_FUNCTION".into(),
        message: message.into(),
        decided_at: 1_764_300_100_000 + i,
        tenant: None,
    });
    r
}

fn key_certified() -> LedgerRecord {
    let mut r = empty(LedgerRecordKind::SigningKeyCertified, 1_764_300_200_000);
    r.key_certified = Some(SigningKeyCertified {
        key_id: "w0-k1".into(),
        algorithm: "Ed25519".into(),
        public_key: "MCowBQYDK2VwAyEA".into(),
        worker_id: "0".into(),
        valid_from: 1_764_300_000_000,
        valid_until: 1_764_386_400_000,
        certifier_key_id: "kms-root".into(),
        certificate_signature: "Y2VydA".into(),
    });
    r
}

fn checkpoint(up_to: i64, head_hash: &str) -> LedgerRecord {
    let mut r = empty(LedgerRecordKind::Checkpoint, 1_764_300_300_000);
    r.checkpoint = Some(Checkpoint {
        up_to_sequence: up_to,
        head_hash: head_hash.into(),
        merkle_root: None,
        signer_key_id: "kms-checkpoints".into(),
        signature: "Y2hlY2twb2ludA".into(),
    });
    r
}

/// Two interleaved chains covering every body, nulls, non-ASCII text and control characters.
fn records() -> Vec<LedgerRecord> {
    let mut c0 = ChainHead::genesis("decision.ledger:0");
    let mut c1 = ChainHead::genesis("decision.ledger:1");
    let tricky = "{\"nimi\":\"Åsa Öberg-Mäkinen\",\"note\":\"tab\there\nCR\r BS\u{8} FF\u{c} SOH\u{1} US\u{1f} DEL\u{7f} \
                  LS\u{2028} NUL\u{0} clef 𝄞 snow ☃ quote \\\" backslash \\\\ slash /\"}";
    let r0 = c0.append(decision(0, Some("kela-ÄÖ"), None, false, tricky));
    let r1 = c1.append(rejection(
        1,
        "unknown function \"asumistuki\" (päätöstä ei tehty)",
    ));
    let r2 = c0.append(decision(2, None, Some(20_420), true, "{}"));
    let r3 = c1.append(key_certified());
    let head = r2.hash.clone();
    let r4 = c0.append(checkpoint(1, &head));
    let r5 = c0.append(rejection(
        5,
        "\u{1b}[31m escape sequence, emoji 🧾, zero width \u{200b}",
    ));
    vec![r0, r1, r2, r3, r4, r5]
}

fn lines(records: &[LedgerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("serialisable"))
        .collect()
}

/// Replaces the first `from` in `line` by `to`, which differs from it in exactly one character.
fn flip(line: &str, from: &str, to: &str) -> String {
    assert!(line.contains(from), "{from:?} not in {line}");
    let differing = from.chars().zip(to.chars()).filter(|(a, b)| a != b).count();
    assert!(
        from.chars().count() == to.chars().count() && differing == 1,
        "{from:?} -> {to:?} is not one flip"
    );
    line.replacen(from, to, 1)
}

#[test]
fn python_recomputes_the_rust_chains() {
    let lines = lines(&records());
    let (code, out) = python(&lines, &[]);
    assert_eq!((code, out.as_str()), (0, "6 records OK\n"));
}

#[test]
fn python_names_exactly_the_altered_record() {
    let lines = lines(&records());
    // (line index, text, the text with one character flipped, chain#sequence to be reported)
    let cases = [
        (0usize, "Åsa", "Asa", "decision.ledger:0#0"), // non-ASCII in a body string
        (1, "päätöstä", "Päätöstä", "decision.ledger:1#0"), // a rejection message
        (
            2,
            "\"as_of\":20420",
            "\"as_of\":30420",
            "decision.ledger:0#1",
        ), // a number
        (
            4,
            "kms-checkpoints",
            "kms-checkpoint5",
            "decision.ledger:0#2",
        ), // a checkpoint
        (
            5,
            "UNKNOWN_FUNCTION",
            "UNKNOWN_FUNCTIOM",
            "decision.ledger:0#3",
        ), // the last record
    ];
    for (index, from, to, position) in cases {
        let mut tampered = lines.clone();
        tampered[index] = flip(&tampered[index], from, to);
        assert_ne!(tampered[index], lines[index]);
        let (code, out) = python(&tampered, &[]);
        assert_eq!(code, 1, "tampered line {}: {out}", index + 1);
        let expected = format!("line {}: {position}: hash mismatch: recorded ", index + 1);
        assert!(
            out.starts_with(&expected),
            "expected {expected:?}, got {out:?}"
        );
        assert_eq!(out.lines().count(), 1, "one report only: {out}");
    }

    // Flipping a character of the stored hash itself is also a mismatch of that record.
    let mut tampered = lines.clone();
    let hash = records()[3].hash.clone();
    let last = hash.chars().last().expect("hex");
    let forged = format!("{}{}", &hash[..63], if last == '0' { '1' } else { '0' });
    tampered[3] = tampered[3].replacen(&hash, &forged, 1);
    let (code, out) = python(&tampered, &[]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("line 4: decision.ledger:1#1: hash mismatch: recorded "),
        "{out}"
    );
}

#[test]
fn python_checks_links_and_sequences() {
    let lines = lines(&records());
    // Deleting decision.ledger:0#1 leaves a gap the next record of that chain reveals.
    let mut deleted = lines.clone();
    deleted.remove(2);
    let (code, out) = python(&deleted, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "line 4: decision.ledger:0#2: expected sequence 1, found 2\n"
    );

    // A chain that does not start at its genesis is refused, unless the export is partial.
    let tail = lines[2..].to_vec();
    let (code, out) = python(&tail, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "line 1: decision.ledger:0#1: expected sequence 0, found 1\n"
    );
    let (code, out) = python(&tail, &["--partial"]);
    assert_eq!((code, out.as_str()), (0, "4 records OK\n"));

    // A record rehashed after an edit verifies alone but no longer links.
    let mut recs = records();
    recs[2].decision.as_mut().expect("decision").output = r#"{"eligible":false}"#.into();
    recs[2].hash = record_hash(&recs[2]);
    let (code, out) = python(&self::lines(&recs), &[]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("line 5: decision.ledger:0#2: prev_hash "),
        "{out}"
    );
}

/// The worked example of `schemas/ledger-hash.md`, recomputed from the Rust code.
fn worked_example() -> LedgerRecord {
    let mut r = empty(LedgerRecordKind::RequestRejected, 1_764_324_000_000);
    r.rejection = Some(RequestRejected {
        decision_id: "5d1f0c2a-rej".into(),
        request_id: "req-42".into(),
        source: SourcePosition {
            topic: "decision.requests".into(),
            partition: 0,
            offset: 7,
        },
        caller: None,
        function_id: "asumistuki".into(),
        function_version: None,
        code: "UNKNOWN_FUNCTION".into(),
        message: "unknown function \"asumistuki\" (päätöstä ei tehty)".into(),
        decided_at: 1_764_324_000_000,
        tenant: None,
    });
    ChainHead::genesis("decision.ledger:0").append(r)
}

#[test]
fn worked_example_in_ledger_hash_md_is_current() {
    let r = worked_example();
    assert_eq!(r.prev_hash, GENESIS_HASH);
    // V without `hash`, a null tenant left out (ledger-hash.md, section 2).
    let canonical = dl_ledger::record_canonical_json(&r);
    println!(
        "stored record:\n{}\ncanonical:\n{canonical}\nhash: {}",
        serde_json::to_string(&r).expect("json"),
        r.hash
    );
    let doc = std::fs::read_to_string(repo().join("schemas/ledger-hash.md"))
        .expect("schemas/ledger-hash.md");
    assert!(
        doc.contains(&canonical),
        "ledger-hash.md must show the canonical JSON:\n{canonical}"
    );
    assert!(
        doc.contains(&r.hash),
        "ledger-hash.md must show the hash {}",
        r.hash
    );
    let size = format!("one line, {} bytes", canonical.len());
    assert!(doc.contains(&size), "ledger-hash.md must say {size:?}");
    let (code, out) = python(&[serde_json::to_string(&r).expect("json")], &[]);
    assert_eq!((code, out.as_str()), (0, "1 records OK\n"));
}
