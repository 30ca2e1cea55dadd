//! `dlctl ledger prove <decision_id>`: a decision's inclusion proof (ADR 0032), built from the
//! projection like `GET /v1/decisions/{id}/proof` or read from a file the gateway answered,
//! printed and verified: the audit path leads from the record's hash to the checkpoint's Merkle
//! root, and the checkpoint's signature verifies with a trust anchor.
//!
//! Exit codes: 0 the proof verifies, 1 it does not, 2 no proof could be had (unknown decision,
//! no covering checkpoint with a root yet, database unreachable, bad configuration).

use std::path::PathBuf;

use anyhow::{bail, Context};
use dl_store::read;
use dl_verify::proof::{InclusionProof, MAX_PROOF_SEGMENT};

/// Arguments of `dlctl ledger prove`.
#[derive(clap::Args)]
pub struct ProveArgs {
    /// The decision to prove (with `--database-url`).
    decision_id: Option<String>,
    /// Check this proof (the JSON of `GET /v1/decisions/{id}/proof`) instead of building one.
    #[arg(long, conflicts_with = "decision_id")]
    file: Option<PathBuf>,
    /// PostgreSQL URL of the projection.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Trusted certifier public key `KEY_ID=PATH` (PEM or DER SubjectPublicKeyInfo); repeatable.
    /// With DL_SIGNER=local the key of DL_SIGNER_KEY_FILE is trusted too.
    #[arg(long = "certifier-key")]
    certifier_keys: Vec<String>,
    /// KMS key trusted as certifier (as for `dlctl ledger verify`); repeatable or
    /// comma-separated.
    #[arg(
        long = "trusted-certifier",
        env = "DL_TRUSTED_CERTIFIERS",
        value_delimiter = ','
    )]
    trusted_certifiers: Vec<String>,
    /// Print the proof as JSON (as the gateway answers it) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `dlctl ledger prove`; `Ok(false)` when the proof does not verify.
pub async fn prove(tenant: Option<&str>, args: ProveArgs) -> anyhow::Result<bool> {
    let anchors = dl_verify::anchors_from_env(&args.certifier_keys, &args.trusted_certifiers)
        .await
        .context("loading trust anchors")?;
    let proof = match (&args.file, &args.decision_id) {
        (Some(path), _) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice::<InclusionProof>(&text)
                .with_context(|| format!("{} is not an inclusion proof", path.display()))?
        }
        (None, Some(id)) => {
            let url = args
                .database_url
                .as_deref()
                .context("give --database-url (or DATABASE_URL), or --file")?;
            from_projection(url, tenant.unwrap_or(dl_schema::DEFAULT_TENANT), id).await?
        }
        (None, None) => bail!("give a decision id or --file"),
    };
    let spki = anchors.get(&proof.checkpoint.signer_key_id);
    let outcome = proof.verify(spki);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&proof)?);
    } else {
        print_text(&proof);
    }
    match (outcome, spki) {
        (Ok(()), Some(_)) => {
            println!("VERIFIED: the path leads to the checkpoint's root and its signature by {} verifies", proof.checkpoint.signer_key_id);
            Ok(true)
        }
        (Ok(()), None) => {
            println!(
                "NOT VERIFIED: the path leads to the root, but the checkpoint's signer {} is not a trust anchor (--certifier-key, --trusted-certifier)",
                proof.checkpoint.signer_key_id
            );
            Ok(false)
        }
        (Err(e), _) => {
            println!("NOT VERIFIED: {} ({e})", e.code());
            Ok(false)
        }
    }
}

fn print_text(p: &InclusionProof) {
    let cp = &p.checkpoint;
    println!(
        "record     {}#{}  hash {}",
        p.chain_id, p.sequence, p.record_hash
    );
    println!(
        "leaf       {} of {} (sequences {}..={})",
        p.leaf_index, p.tree_size, p.first_sequence, cp.up_to_sequence
    );
    for (i, h) in p.audit_path.iter().enumerate() {
        println!("path[{i:>2}]   {h}");
    }
    println!(
        "checkpoint {}#{}  up_to {}  head {}",
        cp.chain_id, cp.sequence, cp.up_to_sequence, cp.head_hash
    );
    println!("root       {}", cp.merkle_root);
    println!("signer     {}", cp.signer_key_id);
    println!("note (C2SP tlog-checkpoint body)");
    for line in p.note.lines() {
        println!("  {line}");
    }
}

/// Builds the proof of `decision_id` (of `tenant`) from the projection.
async fn from_projection(
    url: &str,
    tenant: &str,
    decision_id: &str,
) -> anyhow::Result<InclusionProof> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let decision = read::decisions::decision(&pool, tenant, decision_id)
        .await?
        .with_context(|| format!("no decision {decision_id} (of tenant {tenant})"))?;
    let material = read::ledger::proof_material(
        &pool,
        &decision.chain_id,
        decision.sequence,
        MAX_PROOF_SEGMENT as i64,
    )
    .await?
    .context("PROOF_NOT_YET_AVAILABLE: no checkpoint covers this decision yet")?;
    let proof = material
        .inclusion_proof(&decision.chain_id, decision.sequence)
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    if proof.record_hash != decision.ledger_hash {
        bail!("the projected decision's hash differs from its ledger record's: run dlctl ledger verify --from postgres");
    }
    Ok(proof)
}
