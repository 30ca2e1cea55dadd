//! Inclusion proofs end to end (ADR 0032): a worker checkpointing every 5 records, the
//! projector, the gateway. A decision's proof fetched over HTTP verifies with the Python a person
//! is shown (`docs/verify_proof.py`, run by the stack's Python with `cryptography` for the
//! checkpoint's signature) and with `dlctl ledger prove`; an altered record hash or an altered
//! record does not. A decision not yet covered by a checkpoint has no proof yet.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use dl_e2e::gateway::Api;
use dl_e2e::{bin, eventually, repo, request, Scenario};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The stack's Python (scripts/requirements-clients.txt: `cryptography`).
fn python() -> PathBuf {
    std::env::var("DL_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".stack"))
        .join("venv/bin/python")
}

/// Runs `docs/verify_proof.py`; (exit code, stdout and stderr).
fn verify_py(args: &[&Path]) -> (i32, String) {
    let out = Command::new(python())
        .arg(repo().join("docs/verify_proof.py"))
        .args(args)
        .output()
        .expect("the stack's Python runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `dlctl ledger prove` with the scenario's certifier trusted; (exit code, stdout).
fn dlctl_prove(s: &Scenario, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("dlctl"))
        .args(["ledger", "prove"])
        .args(args)
        .env("DL_SIGNER", "local")
        .env("DL_SIGNER_KEY_FILE", &s.signer_key_file)
        .env("DATABASE_URL", &s.database_url)
        .output()
        .expect("dlctl runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn refund(id: &str) -> dl_schema::DecisionRequest {
    request(
        id,
        "refund_policy",
        &json!({"issue": "late", "customer": {"tier": "gold", "id": "c-1"}, "order_amount": 1000})
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_proves_with_python_and_dlctl_and_an_altered_record_does_not(
) -> anyhow::Result<()> {
    let s = Scenario::with_examples("proofs", 1).await?;
    // Checkpoints by count only (an hour between idle checkpoints), so that the last decision
    // below is deterministically not covered yet.
    let worker_env = [
        ("DL_CHECKPOINT_EVERY_RECORDS", "5".to_string()),
        ("DL_CHECKPOINT_EVERY_MS", "3600000".to_string()),
    ];
    let mut worker = s.worker_with_env("a", &worker_env)?;
    let _projector = s.projector("a")?;
    let (_gateway, port) = s.gateway("a", &[])?;
    let requests: Vec<_> = (0..12).map(|i| refund(&format!("proof-{i}"))).collect();
    s.send(&requests)?;
    s.flush()?;
    s.wait_for_projected(12, Duration::from_secs(120)).await?;
    let pool = s.pg().await?;
    // The checkpoints the worker wrote carry roots.
    let checkpoints: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT sequence, merkle_root FROM checkpoints ORDER BY sequence")
            .fetch_all(&pool)
            .await?;
    anyhow::ensure!(!checkpoints.is_empty(), "no checkpoint after 12 decisions");
    assert!(
        checkpoints.iter().all(|(_, r)| r.is_some()),
        "{checkpoints:?}"
    );
    let last_checkpoint = checkpoints.last().map(|c| c.0).unwrap_or_default();
    let (id, chain, sequence): (String, String, i64) = sqlx::query_as(
        "SELECT decision_id, chain_id, sequence FROM decisions WHERE sequence < $1
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(last_checkpoint)
    .fetch_one(&pool)
    .await?;

    // Over HTTP, with a client we did not write.
    let api = Api::on_port(port).await?;
    let (status, proof) = api.get(&format!("/v1/decisions/{id}/proof"), None).await?;
    assert_eq!(status, StatusCode::OK, "{proof}");
    assert_eq!(proof["decision_id"], id.as_str());
    assert_eq!(proof["chain_id"], chain.as_str());
    assert_eq!(proof["sequence"], sequence);
    assert_eq!(proof["checkpoint_verified"], true);
    let note = proof["note"].as_str().unwrap_or_default();
    let first = proof["first_sequence"].as_i64().unwrap_or(-1);
    assert!(
        note.starts_with(&format!(
            "decision-layer/{chain}/{first}\n{}\n",
            proof["tree_size"]
        )),
        "{note}"
    );
    let (status, unknown) = api.get("/v1/decisions/no-such-id/proof", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(unknown["error"]["code"], "NOT_FOUND");

    // The files a person would have: the proof, the record, the operator's certifier key.
    let dir = s.dir();
    let proof_file = dir.join("proof.json");
    std::fs::write(&proof_file, serde_json::to_vec_pretty(&proof)?)?;
    let (record,): (Value,) =
        sqlx::query_as("SELECT record FROM ledger_records WHERE chain_id = $1 AND sequence = $2")
            .bind(&chain)
            .bind(sequence)
            .fetch_one(&pool)
            .await?;
    let record_file = dir.join("record.json");
    std::fs::write(&record_file, serde_json::to_vec(&record)?)?;
    let spki = dl_signer::LocalKeyFile::open(&s.signer_key_file)?
        .key_info()
        .public_key_spki
        .clone();
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64.as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let key_file = dir.join("certifier.pem");
    std::fs::write(&key_file, pem)?;
    let flag = |f: &str| PathBuf::from(f);

    // It verifies: path, note, record hash recomputed from the record, signature.
    let (code, out) = verify_py(&[
        &proof_file,
        &flag("--record"),
        &record_file,
        &flag("--key"),
        &key_file,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("VERIFIED") && out.contains("signature checked"),
        "{out}"
    );

    // An altered record hash: the path no longer leads to the signed root.
    let mut altered = proof.clone();
    let hash = altered["record_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let flipped = if hash.starts_with('0') { "1" } else { "0" };
    altered["record_hash"] = json!(format!("{flipped}{}", &hash[1..]));
    let altered_file = dir.join("proof-altered.json");
    std::fs::write(&altered_file, serde_json::to_vec(&altered)?)?;
    let (code, out) = verify_py(&[&altered_file]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("NOT VERIFIED"), "{out}");

    // An altered record (its output changed): it no longer hashes to the proven hash.
    let mut changed = record.clone();
    let output = changed["decision"]["output"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    changed["decision"]["output"] = json!(output.replacen('1', "2", 1) + " ");
    let changed_file = dir.join("record-altered.json");
    std::fs::write(&changed_file, serde_json::to_vec(&changed)?)?;
    let (code, out) = verify_py(&[&proof_file, &flag("--record"), &changed_file]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("does not hash"), "{out}");

    // A checkpoint signature by another key does not verify.
    let mut forged = proof.clone();
    let other = proof["checkpoint"]["signature"]
        .as_str()
        .unwrap_or_default();
    forged["checkpoint"]["signature"] = json!(other.chars().rev().collect::<String>());
    let forged_file = dir.join("proof-forged.json");
    std::fs::write(&forged_file, serde_json::to_vec(&forged)?)?;
    let (code, out) = verify_py(&[&forged_file, &flag("--key"), &key_file]);
    assert_ne!(code, 0, "{out}");

    // dlctl: from the projection and from the gateway's answer; an altered proof fails (1).
    let (code, out) = dlctl_prove(&s, &[&id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("VERIFIED"), "{out}");
    let (code, out) = dlctl_prove(&s, &["--file", &proof_file.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = dlctl_prove(&s, &["--file", &altered_file.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ROOT_MISMATCH"), "{out}");

    // One more decision: not covered by a checkpoint yet (fewer than 5 records since the last).
    s.send(&[refund("proof-late")])?;
    s.flush()?;
    s.wait_for_projected(13, Duration::from_secs(60)).await?;
    let (late,): (String,) =
        sqlx::query_as("SELECT decision_id FROM decisions WHERE request_id = 'proof-late'")
            .fetch_one(&pool)
            .await?;
    let (status, body) = api
        .get(&format!("/v1/decisions/{late}/proof"), None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "PROOF_NOT_YET_AVAILABLE");
    let (code, out) = dlctl_prove(&s, &[&late]);
    assert_eq!(code, 2, "{out}");

    // The worker dies with that record after its chain's last checkpoint; its successor reads
    // the segment back, so the next checkpoint has a root, covering the late decision too.
    worker.kill9();
    let _successor = s.worker_with_env("b", &worker_env)?;
    let more: Vec<_> = (0..6)
        .map(|i| refund(&format!("proof-after-{i}")))
        .collect();
    s.send(&more)?;
    s.flush()?;
    s.wait_for_projected(19, Duration::from_secs(120)).await?;
    let late_path = format!("/v1/decisions/{late}/proof");
    let proof = eventually(
        Duration::from_secs(60),
        "a proof of the late decision after the restart",
        || async {
            match api.get(&late_path, None).await? {
                (StatusCode::OK, v) => Ok(v),
                (status, v) => Err(anyhow::anyhow!("{status} {v}")),
            }
        },
    )
    .await?;
    assert_eq!(proof["decision_id"], late.as_str());
    std::fs::write(&proof_file, serde_json::to_vec(&proof)?)?;
    let (code, out) = verify_py(&[&proof_file, &flag("--key"), &key_file]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = dlctl_prove(&s, &[&late]);
    assert_eq!(code, 0, "{out}");
    let nulls: i64 =
        sqlx::query_scalar("SELECT count(*) FROM checkpoints WHERE merkle_root IS NULL")
            .fetch_one(&pool)
            .await?;
    assert_eq!(nulls, 0);

    // The whole ledger verifies with the roots checked.
    let report = eventually(Duration::from_secs(30), "the ledger verifies", || async {
        let r = s.verify_ledger()?;
        anyhow::ensure!(r["ok"] == true, "{r}");
        Ok(r)
    })
    .await?;
    assert!(report["chains"][0]["checkpoints_verified"].as_u64() >= Some(1));
    Ok(())
}
