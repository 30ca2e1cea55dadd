//! Against real KMS-API servers started by the test: moto (always) and LocalStack (when a
//! Python 3.13 interpreter exists; otherwise skipped with a notice).

mod common;

use std::time::{Duration, Instant};

use common::{Kind, KmsServer};
use dl_ledger::{ChainHead, ChainVerifier};
use dl_schema::{LedgerRecord, LedgerRecordKind, Signature};
use dl_signer::{
    admin, b64url, b64url_decode, decision_payload, sign_checkpoint, sign_checkpoint_for_head,
    verify_certificate, verify_checkpoint, verify_decision_signature, verify_decision_signature_at,
    verify_raw, verify_signature, AwsKmsSigner, BreakerState, KmsMessageType, Refresh, Signer,
    SignerError, VerifyError, WorkerKey, WorkerKeyManager, WorkerKeyPolicy,
};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn record(kind: LedgerRecordKind) -> LedgerRecord {
    LedgerRecord {
        chain_id: String::new(),
        sequence: 0,
        prev_hash: String::new(),
        hash: String::new(),
        recorded_at: 1_700_000_000_000,
        kind,
        decision: None,
        rejection: None,
        key_certified: None,
        checkpoint: None,
    }
}

fn sample_decision() -> dl_schema::DecisionRecorded {
    dl_schema::DecisionRecorded {
        decision_id: "d-1".into(),
        request_id: "r-1".into(),
        source: dl_schema::SourcePosition {
            topic: "decision.requests".into(),
            partition: 0,
            offset: 42,
        },
        caller: Some("bank".into()),
        function_id: "loan-approval".into(),
        function_version: "1.0.0".into(),
        function_digest: "a".repeat(64),
        as_of: None,
        issued_at: 1_700_000_000_000,
        decided_at: 1_700_000_000_100,
        input: r#"{"income":5000}"#.into(),
        output: r#"{"approved":true}"#.into(),
        reasons: vec![],
        legal_basis: vec!["http://data.europa.eu/eli/reg/2016/679/oj".into()],
        signature: None,
        tenant: None,
    }
}

fn flip_last_char(s: &str) -> String {
    let mut bytes = b64url_decode(s).expect("b64");
    if let Some(b) = bytes.last_mut() {
        *b ^= 0x01;
    }
    b64url(&bytes)
}

async fn kms_signer(server: &KmsServer, key_id: &str, message_type: KmsMessageType) -> Signer {
    let mut cfg = server.config(key_id);
    cfg.message_type = message_type;
    Signer::AwsKms(AwsKmsSigner::connect(cfg).await.expect("connect"))
}

fn kms(signer: &Signer) -> &AwsKmsSigner {
    match signer {
        Signer::AwsKms(k) => k,
        Signer::LocalKeyFile(_) => unreachable!("kms signer expected"),
    }
}

async fn scenario(kind: Kind) {
    let Some(mut server) = KmsServer::start(kind) else {
        return;
    };
    let name = kind.name();
    let message_type = server.config("x").message_type;
    let client = dl_signer::kms_client(&server.config("x")).await;

    // A key and an alias, created through the API.
    let key_arn = admin::create_signing_key(&client, "dl-signer test")
        .await
        .expect("CreateKey");
    admin::point_alias(&client, "alias/dl-test", &key_arn)
        .await
        .expect("CreateAlias");
    let signer = kms_signer(&server, "alias/dl-test", message_type).await;
    signer.self_test().await.expect("self test");

    // Sign a message; the signature names the resolved key ARN, not the alias.
    let message = b"decision layer message";
    let sig = signer.sign(message).await.expect("sign");
    assert_eq!(sig.key_id, key_arn);
    assert_eq!(sig.algorithm, "ECDSA_P256_SHA256");
    let spki = signer
        .public_key_spki(&sig.key_id)
        .await
        .expect("GetPublicKey");
    verify_signature(&spki, message, &sig).expect("offline verification");
    assert_eq!(
        verify_signature(&spki, b"decision layer messagE", &sig),
        Err(VerifyError::BadSignature)
    );
    let mut wrong_alg = sig.clone();
    wrong_alg.algorithm = "Ed25519".into();
    assert!(matches!(
        verify_signature(&spki, message, &wrong_alg),
        Err(VerifyError::Algorithm(_))
    ));
    let mut flipped = sig.clone();
    flipped.value = flip_last_char(&sig.value);
    assert!(verify_signature(&spki, message, &flipped).is_err());

    // KMS Verify agrees; a bad signature is `false` in both server shapes.
    let der = b64url_decode(&sig.value).unwrap();
    assert!(kms(&signer)
        .verify_remote(&key_arn, message, &der)
        .await
        .expect("Verify"));
    assert!(!kms(&signer)
        .verify_remote(&key_arn, b"another message", &der)
        .await
        .expect("Verify (bad)"));

    // Digest mode: LocalStack honours it; moto does not (its signatures would not verify), which
    // the self test catches before anything is certified.
    let digest_signer = kms_signer(&server, &key_arn, KmsMessageType::Digest).await;
    match kind {
        Kind::LocalStack => digest_signer
            .self_test()
            .await
            .expect("LocalStack honours MessageType=DIGEST"),
        Kind::Moto => {
            assert!(matches!(
                digest_signer.self_test().await,
                Err(SignerError::BadResponse(_))
            ));
            let r = WorkerKey::certify(&digest_signer, "w", &WorkerKeyPolicy::default(), now_ms())
                .await;
            assert!(matches!(r, Err(SignerError::BadResponse(_))));
        }
    }

    // Cost of a KMS signature on this server.
    let n = 20;
    let started = Instant::now();
    for i in 0..n {
        signer.sign(format!("m{i}").as_bytes()).await.expect("sign");
    }
    let per_sign_ms = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!(
        "MEASURE {name}: KMS Sign {per_sign_ms:.2} ms per call (mean of {n}, {message_type:?})"
    );

    // Worker key certified by the KMS; decisions signed locally.
    let t0 = now_ms();
    for algorithm in [
        dl_signer::Algorithm::Ed25519,
        dl_signer::Algorithm::EcdsaP256Sha256,
    ] {
        let policy = WorkerKeyPolicy {
            algorithm,
            ..WorkerKeyPolicy::default()
        };
        let wk = WorkerKey::certify(&signer, "worker-1", &policy, t0)
            .await
            .expect("certify");
        let cert = wk.certificate().clone();
        assert_eq!(cert.certifier_key_id, key_arn);
        verify_certificate(&cert, &spki).expect("certificate verifies offline");
        let payload = decision_payload(&sample_decision());
        let dsig = wk.sign(&payload);
        verify_decision_signature(&cert, &payload, &dsig).expect("decision verifies");
        verify_decision_signature_at(&cert, &payload, &dsig, t0 + 1).expect("inside validity");
        assert!(matches!(
            verify_decision_signature_at(&cert, &payload, &dsig, cert.valid_until),
            Err(VerifyError::OutsideValidity { .. })
        ));
        // Tampered decision, signature, certificate.
        let mut tampered = sample_decision();
        tampered.output = r#"{"approved":false}"#.into();
        assert_eq!(
            verify_decision_signature(&cert, &decision_payload(&tampered), &dsig),
            Err(VerifyError::BadSignature)
        );
        let bad_sig = Signature {
            value: flip_last_char(&dsig.value),
            ..dsig.clone()
        };
        assert!(verify_decision_signature(&cert, &payload, &bad_sig).is_err());
        let mut longer = cert.clone();
        longer.valid_until += 1;
        assert_eq!(
            verify_certificate(&longer, &spki),
            Err(VerifyError::BadSignature)
        );
        let mut other_worker = cert.clone();
        other_worker.worker_id = "worker-2".into();
        assert_eq!(
            verify_certificate(&other_worker, &spki),
            Err(VerifyError::BadSignature)
        );
        let mut bad_cert_sig = cert.clone();
        bad_cert_sig.certificate_signature = flip_last_char(&cert.certificate_signature);
        assert!(verify_certificate(&bad_cert_sig, &spki).is_err());
    }

    // A forged certificate: signed by another KMS key, presented as certified by ours.
    let rogue_arn = admin::create_signing_key(&client, "rogue")
        .await
        .expect("CreateKey rogue");
    let rogue = kms_signer(&server, &rogue_arn, message_type).await;
    let forged = WorkerKey::certify(&rogue, "worker-1", &WorkerKeyPolicy::default(), t0)
        .await
        .expect("certify rogue");
    let mut forged_cert = forged.certificate().clone();
    assert_eq!(
        verify_certificate(&forged_cert, &spki),
        Err(VerifyError::BadSignature)
    );
    forged_cert.certifier_key_id = key_arn.clone();
    assert_eq!(
        verify_certificate(&forged_cert, &spki),
        Err(VerifyError::BadSignature)
    );

    // Checkpoint of a real hash chain, appended to it; the chain still verifies.
    let chain_id = "decision.ledger:0";
    let mut head = ChainHead::genesis(chain_id);
    let mut records = Vec::new();
    for _ in 0..5 {
        let mut r = record(LedgerRecordKind::RequestRejected);
        r.rejection = Some(dl_schema::RequestRejected {
            decision_id: "d".into(),
            request_id: "r".into(),
            source: dl_schema::SourcePosition {
                topic: "decision.requests".into(),
                partition: 0,
                offset: 1,
            },
            caller: None,
            function_id: "f".into(),
            function_version: None,
            code: "INPUT_INVALID".into(),
            message: "bad input".into(),
            decided_at: 1_700_000_000_000,
            tenant: None,
        });
        records.push(head.append(r));
    }
    let cp = sign_checkpoint_for_head(&signer, &head, None)
        .await
        .expect("checkpoint");
    assert_eq!(cp.up_to_sequence, 4);
    assert_eq!(cp.signer_key_id, key_arn);
    verify_checkpoint(chain_id, &cp, &spki).expect("checkpoint verifies");
    assert_eq!(
        verify_checkpoint("decision.ledger:1", &cp, &spki),
        Err(VerifyError::BadSignature)
    );
    let mut moved = cp.clone();
    moved.up_to_sequence = 3;
    assert_eq!(
        verify_checkpoint(chain_id, &moved, &spki),
        Err(VerifyError::BadSignature)
    );
    let mut other_head = cp.clone();
    other_head.head_hash = records[3].hash.clone();
    assert_eq!(
        verify_checkpoint(chain_id, &other_head, &spki),
        Err(VerifyError::BadSignature)
    );
    let rogue_spki = rogue.public_key_spki(&rogue_arn).await.unwrap();
    assert_eq!(
        verify_checkpoint(chain_id, &cp, &rogue_spki),
        Err(VerifyError::BadSignature)
    );
    let root = "b".repeat(64);
    let with_root = sign_checkpoint(&signer, chain_id, 4, &head.head_hash, Some(&root))
        .await
        .expect("with root");
    verify_checkpoint(chain_id, &with_root, &spki).expect("with merkle root");
    let mut cp_record = record(LedgerRecordKind::Checkpoint);
    cp_record.checkpoint = Some(cp.clone());
    records.push(head.append(cp_record));
    let mut verifier = ChainVerifier::from_genesis(chain_id);
    for r in &records {
        verifier.verify(r).expect("chain verifies");
    }

    // Worker key manager before the outage.
    let policy = WorkerKeyPolicy {
        algorithm: dl_signer::Algorithm::Ed25519,
        validity: Duration::from_secs(60),
        renew_before: Duration::from_secs(50),
    };
    let mut manager = WorkerKeyManager::new("worker-1", policy);
    assert!(matches!(
        manager.refresh(&signer, t0).await,
        Ok(Refresh::Rotated(_))
    ));
    assert!(matches!(
        manager.refresh(&signer, t0 + 1_000).await,
        Ok(Refresh::Unchanged)
    ));
    let old_cert = manager.current(t0).unwrap().certificate().clone();

    // KMS stopped mid-run: Unavailable after the bounded retries, and the circuit opens.
    server.stop();
    let err = signer
        .sign(b"during outage")
        .await
        .expect_err("KMS is down");
    match &err {
        SignerError::Unavailable {
            attempts,
            circuit_open,
            ..
        } => {
            assert_eq!(*attempts, 3, "bounded retries: {err}");
            assert!(*circuit_open, "{err}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_ne!(kms(&signer).breaker_state(), BreakerState::Closed);
    let again = signer.sign(b"during outage").await.expect_err("still down");
    assert!(
        matches!(
            again,
            SignerError::Unavailable {
                circuit_open: true,
                ..
            }
        ),
        "{again}"
    );
    // Outage behaviour: keep deciding with the certified key until it expires, then fail closed.
    match manager.refresh(&signer, t0 + 20_000).await {
        Ok(Refresh::Deferred(e)) => assert!(e.is_unavailable(), "{e}"),
        other => panic!("expected a deferred rotation, got {other:?}"),
    }
    let key = manager.current(t0 + 20_000).expect("still valid");
    assert!(key.needs_rotation(t0 + 20_000));
    let sig_during_outage = key
        .try_sign(t0 + 20_000, b"decided during the outage")
        .expect("local signing works");
    verify_decision_signature(&old_cert, b"decided during the outage", &sig_during_outage).unwrap();
    assert!(matches!(
        key.try_sign(t0 + 61_000, b"x"),
        Err(SignerError::KeyExpired { .. })
    ));
    let expired = manager
        .refresh(&signer, t0 + 61_000)
        .await
        .expect_err("no valid key left");
    assert!(expired.is_unavailable(), "{expired}");
    assert!(matches!(
        manager.current(t0 + 61_000),
        Err(SignerError::KeyExpired { .. })
    ));

    // KMS restarted: it lost its keys (both servers keep them in memory), so rotate: a new key,
    // the alias moved to it. Old signatures still verify with the old public key.
    server.restart();
    let new_arn = admin::create_signing_key(&client, "dl-signer test, rotated")
        .await
        .expect("CreateKey after restart");
    admin::point_alias(&client, "alias/dl-test", &new_arn)
        .await
        .expect("alias moved");
    kms(&signer).refresh_key();
    let mut new_sig = None;
    for _ in 0..100 {
        match signer.sign(message).await {
            Ok(s) => {
                new_sig = Some(s);
                break;
            }
            Err(SignerError::Unavailable { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("unexpected error after restart: {e}"),
        }
    }
    let new_sig = new_sig.expect("KMS works again once the circuit half-opens");
    assert_eq!(kms(&signer).breaker_state(), BreakerState::Closed);
    assert_eq!(new_sig.key_id, new_arn);
    assert_ne!(new_arn, key_arn);
    let new_spki = signer.public_key_spki(&new_arn).await.unwrap();
    verify_signature(&new_spki, message, &new_sig).expect("new key verifies");
    verify_signature(&spki, message, &sig).expect("old signature, old key");
    verify_checkpoint(chain_id, &cp, &spki).expect("old checkpoint, old key");
    assert!(verify_signature(&new_spki, message, &sig).is_err());
    // The old public key stays available from the cache although the server forgot the key.
    assert_eq!(signer.public_key_spki(&key_arn).await.unwrap(), spki);
    let raw_old = b64url_decode(&sig.value).unwrap();
    verify_raw(&spki, message, &raw_old).unwrap();
    // The manager recovers: a new certificate by the new key.
    match manager.refresh(&signer, t0 + 62_000).await {
        Ok(Refresh::Rotated(cert)) => {
            assert_eq!(cert.certifier_key_id, new_arn);
            verify_certificate(&cert, &new_spki).unwrap();
        }
        other => panic!("expected a rotation, got {other:?}"),
    }

    // An unknown key is a rejection, not an outage, and does not open the circuit.
    let unknown = kms_signer(&server, "alias/does-not-exist", message_type).await;
    match unknown.sign(b"x").await {
        Err(SignerError::Rejected { code, .. }) => assert!(code.contains("NotFound"), "{code}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(kms(&unknown).breaker_state(), BreakerState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_moto() {
    scenario(Kind::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_localstack() {
    scenario(Kind::LocalStack).await;
}
