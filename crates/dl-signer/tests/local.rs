//! The local key-file backend, worker keys and checkpoints without a KMS, and signing cost.

mod common;

use std::time::Instant;

use dl_signer::{
    decision_payload, sign_checkpoint, verify_certificate, verify_checkpoint,
    verify_decision_signature, verify_signature, Algorithm, LocalKeyFile, Signer, SignerConfig,
    SignerError, VerifyError, WorkerKey, WorkerKeyPolicy,
};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn key_file_round_trip_and_permissions() {
    let dir = common::unique_dir("local");
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        let path = dir.join(format!("keys/{algorithm}.pem"));
        let signer = Signer::from_config(SignerConfig::Local {
            key_file: path.clone(),
            algorithm,
        })
        .await
        .unwrap();
        assert_eq!(signer.backend(), "local");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "generated key file is private");
        let info = signer.key_info().await.unwrap();
        assert_eq!(info.algorithm, algorithm);
        assert!(info.key_id.starts_with("local:"));
        let sig = signer.sign(b"message").await.unwrap();
        assert_eq!(sig.algorithm, algorithm.as_str());
        assert_eq!(sig.key_id, info.key_id);
        assert!(!sig.value.contains('=') && !sig.value.contains('+') && !sig.value.contains('/'));
        verify_signature(&info.public_key_spki, b"message", &sig).unwrap();
        assert_eq!(
            verify_signature(&info.public_key_spki, b"messagE", &sig),
            Err(VerifyError::BadSignature)
        );
        signer.self_test().await.unwrap();

        // Reopened: the same key (the requested algorithm of an existing file is ignored).
        let other = if algorithm == Algorithm::Ed25519 {
            Algorithm::EcdsaP256Sha256
        } else {
            Algorithm::Ed25519
        };
        let again = LocalKeyFile::open_or_create(&path, other).unwrap();
        assert_eq!(again.key_info().key_id, info.key_id);
        verify_signature(&info.public_key_spki, b"m2", &again.sign(b"m2")).unwrap();

        // The local signer can certify worker keys and sign checkpoints too.
        let wk = WorkerKey::certify(
            &signer,
            "dev-worker",
            &WorkerKeyPolicy::default(),
            1_700_000_000_000,
        )
        .await
        .unwrap();
        verify_certificate(wk.certificate(), &info.public_key_spki).unwrap();
        let payload = decision_payload(&sample());
        verify_decision_signature(wk.certificate(), &payload, &wk.sign(&payload)).unwrap();
        let cp = sign_checkpoint(&signer, "decision.ledger:3", 9, &"c".repeat(64), None)
            .await
            .unwrap();
        verify_checkpoint("decision.ledger:3", &cp, &info.public_key_spki).unwrap();
        assert!(matches!(
            sign_checkpoint(&signer, "decision.ledger:3", 9, "not-a-hash", None).await,
            Err(SignerError::InvalidInput(_))
        ));
    }

    // Unsafe permissions and garbage are refused, never panicking.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("keys/ECDSA_P256_SHA256.pem");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            LocalKeyFile::open(&path),
            Err(SignerError::KeyFile { .. })
        ));
        assert!(matches!(
            LocalKeyFile::open_or_create(&path, Algorithm::Ed25519),
            Err(SignerError::KeyFile { .. })
        ));
    }
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(matches!(
        LocalKeyFile::open(&garbage),
        Err(SignerError::KeyFile { .. })
    ));
    assert!(matches!(
        LocalKeyFile::open(dir.join("missing.pem")),
        Err(SignerError::KeyFile { .. })
    ));
    assert!(matches!(
        LocalKeyFile::open(&dir),
        Err(SignerError::KeyFile { .. })
    ));
    // Debug output never shows key material.
    let key = LocalKeyFile::open_or_create(dir.join("dbg.pem"), Algorithm::Ed25519).unwrap();
    let pem = std::fs::read_to_string(dir.join("dbg.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!format!("{key:?}").contains(&body));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn worker_key_rejects_bad_input_and_expires() {
    let dir = common::unique_dir("wk");
    let signer = Signer::from_config(SignerConfig::Local {
        key_file: dir.join("k.pem"),
        algorithm: Algorithm::Ed25519,
    })
    .await
    .unwrap();
    for bad in ["", "a\nb", &"x".repeat(300)] {
        assert!(matches!(
            WorkerKey::certify(&signer, bad, &WorkerKeyPolicy::default(), 0).await,
            Err(SignerError::InvalidInput(_))
        ));
    }
    let policy = WorkerKeyPolicy {
        algorithm: Algorithm::EcdsaP256Sha256,
        validity: std::time::Duration::from_millis(1000),
        renew_before: std::time::Duration::from_millis(400),
    };
    let wk = WorkerKey::certify(&signer, "w", &policy, 10_000)
        .await
        .unwrap();
    assert!(
        !wk.valid_at(9_999) && wk.valid_at(10_000) && wk.valid_at(10_999) && !wk.valid_at(11_000)
    );
    assert!(!wk.needs_rotation(10_599) && wk.needs_rotation(10_600));
    assert!(wk.try_sign(10_500, b"m").is_ok());
    assert!(matches!(
        wk.try_sign(11_000, b"m"),
        Err(SignerError::KeyExpired { .. })
    ));
    // A certificate whose key id does not match its public key is refused.
    let spki = signer.key_info().await.unwrap().public_key_spki.clone();
    let mut cert = wk.certificate().clone();
    cert.key_id = "wk:00000000000000000000000000000000".into();
    assert!(matches!(
        verify_certificate(&cert, &spki),
        Err(VerifyError::KeyIdMismatch { .. })
    ));
    let mut cert = wk.certificate().clone();
    cert.public_key = "!!".into();
    assert!(verify_certificate(&cert, &spki).is_err());
    let sig = wk.sign(b"m");
    let mut foreign = sig.clone();
    foreign.key_id = "wk:other".into();
    assert!(matches!(
        verify_decision_signature(wk.certificate(), b"m", &foreign),
        Err(VerifyError::KeyIdMismatch { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

fn sample() -> dl_schema::DecisionRecorded {
    dl_schema::DecisionRecorded {
        decision_id: "d".into(),
        request_id: "r".into(),
        source: dl_schema::SourcePosition {
            topic: "t".into(),
            partition: 0,
            offset: 0,
        },
        caller: None,
        function_id: "f".into(),
        function_version: "1.0.0".into(),
        function_digest: "0".repeat(64),
        as_of: Some(19_000),
        issued_at: 1,
        decided_at: 2,
        input: "{}".into(),
        output: "{}".into(),
        reasons: vec![],
        legal_basis: vec![],
        signature: None,
        tenant: None,
    }
}

/// Cost of one local worker-key signature. Run optimised:
/// `cargo test -p dl-signer --release --test local -- --ignored --nocapture`
#[tokio::test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
async fn measure_local_signing() {
    let dir = common::unique_dir("bench");
    let signer = Signer::from_config(SignerConfig::Local {
        key_file: dir.join("k.pem"),
        algorithm: Algorithm::EcdsaP256Sha256,
    })
    .await
    .unwrap();
    let payload = decision_payload(&sample());
    for algorithm in [Algorithm::Ed25519, Algorithm::EcdsaP256Sha256] {
        let policy = WorkerKeyPolicy {
            algorithm,
            ..WorkerKeyPolicy::default()
        };
        let wk = WorkerKey::certify(&signer, "bench", &policy, 0)
            .await
            .unwrap();
        let n = 5_000u32;
        let started = Instant::now();
        let mut last = None;
        for _ in 0..n {
            last = Some(wk.sign(std::hint::black_box(&payload)));
        }
        let sign_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let sig = last.unwrap();
        let started = Instant::now();
        for _ in 0..n {
            verify_decision_signature(wk.certificate(), &payload, &sig).unwrap();
        }
        let verify_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let payload_len = payload.len();
        println!("MEASURE {algorithm}: sign {sign_us:.1} µs, verify {verify_us:.1} µs (incl. key parse), payload {payload_len} B");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Prints a certificate and a checkpoint with the certifier's public key as one JSON line
/// (`VECTOR {...}`), for cross-checking the payload definitions in another language.
#[tokio::test]
#[ignore = "prints a test vector; run with --ignored --nocapture"]
async fn export_test_vector() {
    let dir = common::unique_dir("vector");
    let signer = Signer::from_config(SignerConfig::Local {
        key_file: dir.join("k.pem"),
        algorithm: Algorithm::EcdsaP256Sha256,
    })
    .await
    .unwrap();
    let info = signer.key_info().await.unwrap();
    let wk = WorkerKey::certify(
        &signer,
        "wörker-1 \"q\"",
        &WorkerKeyPolicy::default(),
        1_700_000_000_000,
    )
    .await
    .unwrap();
    let cp = sign_checkpoint(
        &signer,
        "decision.ledger:0",
        41,
        &"d".repeat(64),
        Some(&"e".repeat(64)),
    )
    .await
    .unwrap();
    let v = serde_json::json!({
        "certifier_spki": dl_signer::b64url(&info.public_key_spki),
        "certificate": wk.certificate(),
        "chain_id": "decision.ledger:0",
        "checkpoint": cp,
    });
    println!("VECTOR {v}");
    let _ = std::fs::remove_dir_all(&dir);
}
