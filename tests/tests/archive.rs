//! The ledger archive (issue 14, docs/ledger-integrity.md "Archive", ADR 0031): a worker writes
//! decisions and rejections with a checkpoint every 5 records; `dlctl ledger archive` writes each
//! chain's segments to S3 (moto's server, started here); `dlctl ledger verify --from s3://…`
//! verifies the archive alone with the same counts as the verification of the topic. One flipped
//! byte in one archived object is a break (exit 1); a deleted middle object is a gap.

use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::primitives::ByteStream;
use dl_e2e::kms::start_moto;
use dl_e2e::{bin, eventually, request, Backends, Scenario};
use serde_json::Value;

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
const BUCKET: &str = "ledger-archive";
const WAVES: i64 = 5;
const PER_WAVE: i64 = 6;

/// `dlctl` against the scenario's broker and moto's S3; returns the exit code and the JSON
/// printed.
fn dlctl(s: &Scenario, endpoint: &str, args: &[&str]) -> anyhow::Result<(i32, Value)> {
    let out = Command::new(bin("dlctl"))
        .args(["--brokers", &s.brokers])
        .args(args)
        .env("DL_SIGNER", "local")
        .env(
            "DL_SIGNER_KEY_FILE",
            s.signer_key_file.display().to_string(),
        )
        .env("DL_S3_ENDPOINT", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()?;
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "dlctl {args:?} exited {code}, printed {:?}, stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((code, json))
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .force_path_style(true)
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The chains of a verification report that hold records, by chain id.
fn chains(report: &Value) -> Vec<Value> {
    report["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["records"].as_u64() > Some(0))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_verifies_alone_and_an_edit_is_found() -> anyhow::Result<()> {
    let s =
        Scenario::with_functions_on("archive", 2, Backends::from_env(), &["loan_approval"]).await?;
    let moto = start_moto(&s.dir().join("moto"))?;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let worker = s.worker_with_env("a", &[("DL_CHECKPOINT_EVERY_RECORDS", "5".into())])?;
    // In waves, so that each chain gets several checkpoints (the worker checkpoints after a
    // batch holding DL_CHECKPOINT_EVERY_RECORDS records, and idle chains after 1 s).
    let mut kafka = Value::Null;
    for wave in 0..WAVES {
        for i in wave * PER_WAVE..(wave + 1) * PER_WAVE {
            let id = format!("r-{i}");
            let input = if i % 3 == 0 {
                r#"{"amount": "many"}"#
            } else {
                LOAN
            };
            let payload =
                dl_schema::request_codec().encode(&request(&id, "loan_approval", input))?;
            s.send_raw(&id, &payload)?;
        }
        s.flush()?;
        // Every outcome so far is in the ledger and every chain ends with a checkpoint.
        let expected = (wave + 1) * PER_WAVE;
        kafka = eventually(
            Duration::from_secs(180),
            "every outcome recorded and every chain checkpointed",
            || async {
                let r = s.verify_ledger()?;
                let cs = chains(&r);
                let outcomes: i64 = cs
                    .iter()
                    .map(|c| {
                        c["decisions"].as_i64().unwrap_or(0) + c["rejections"].as_i64().unwrap_or(0)
                    })
                    .sum();
                let checkpointed = cs.iter().all(|c| {
                    c["next_sequence"].as_i64()
                        == c["last_verified_checkpoint"].as_i64().map(|l| l + 2)
                });
                anyhow::ensure!(
                    r["ok"] == true && outcomes == expected && checkpointed,
                    "not yet: {r}"
                );
                Ok::<_, anyhow::Error>(r)
            },
        )
        .await?;
    }
    drop(worker);
    let _ = kafka;
    let kafka = s.verify_ledger()?;
    assert_eq!(kafka["ok"], true);
    assert!(
        chains(&kafka)
            .iter()
            .any(|c| c["checkpoints_verified"].as_u64() >= Some(3)),
        "{kafka}"
    );

    let s3 = s3_client(&endpoint);
    s3.create_bucket().bucket(BUCKET).send().await?;
    let to = format!("s3://{BUCKET}/ledger");
    let (code, archived) = dlctl(
        &s,
        &endpoint,
        &[
            "ledger", "archive", "--topic", &s.ledger, "--to", &to, "--json",
        ],
    )?;
    assert_eq!(code, 0, "{archived}");
    let written = archived["written"].as_array().cloned().unwrap_or_default();
    let records: u64 = written.iter().filter_map(|w| w["records"].as_u64()).sum();
    let kafka_records: u64 = chains(&kafka)
        .iter()
        .filter_map(|c| c["records"].as_u64())
        .sum();
    assert_eq!(records, kafka_records, "every record archived: {archived}");
    assert!(archived["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|c| c["pending"] == 0));

    // Idempotent: a second run writes nothing.
    let (code, again) = dlctl(
        &s,
        &endpoint,
        &[
            "ledger", "archive", "--topic", &s.ledger, "--to", &to, "--json",
        ],
    )?;
    assert_eq!(code, 0);
    assert_eq!(again["written"], serde_json::json!([]), "{again}");

    // The archive alone verifies, with the counts of the topic's verification.
    let verify = || {
        dlctl(
            &s,
            &endpoint,
            &["ledger", "verify", "--from", &to, "--json"],
        )
    };
    let (code, from_s3) = verify()?;
    assert_eq!(code, 0, "{from_s3}");
    assert_eq!(from_s3["ok"], true);
    assert_eq!(from_s3["source"], "s3");
    assert_eq!(from_s3["objects"].as_u64(), Some(written.len() as u64));
    assert_eq!(chains(&from_s3), chains(&kafka));

    // A middle segment of the longest chain.
    let longest = chains(&kafka)
        .into_iter()
        .max_by_key(|c| c["records"].as_u64())
        .context("a chain")?;
    let chain = longest["chain_id"]
        .as_str()
        .context("chain id")?
        .to_string();
    let segments: Vec<&Value> = written.iter().filter(|w| w["chain_id"] == chain).collect();
    assert!(segments.len() >= 3, "{segments:?}");
    let middle = segments[segments.len() / 2];
    let key = middle["key"].as_str().context("key")?.to_string();
    let original = s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes()
        .to_vec();

    // One flipped byte in one archived object: a break, exit 1.
    let mut edited = original.clone();
    let at = edited.len() / 2;
    edited[at] ^= 0x01;
    s3.put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(ByteStream::from(edited))
        .send()
        .await?;
    let (code, flipped) = verify()?;
    assert_eq!(code, 1, "{flipped}");
    assert_eq!(flipped["ok"], false);
    let broken: Vec<&Value> = flipped["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(broken.len(), 1, "{flipped}");
    assert_eq!(broken[0]["chain_id"], chain.as_str());
    let first = &broken[0]["first_break"];
    let (from, to_seq) = (
        middle["first"].as_i64().context("first")?,
        middle["last"].as_i64().context("last")?,
    );
    if let Some(seq) = first["sequence"].as_i64() {
        assert!(
            (from..=to_seq + 1).contains(&seq),
            "the break is in the edited segment {from}..={to_seq}: {first}"
        );
    }

    // The object restored, the archive verifies again; deleted, it is a gap.
    s3.put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(ByteStream::from(original))
        .send()
        .await?;
    assert_eq!(verify()?.0, 0);
    s3.delete_object().bucket(BUCKET).key(&key).send().await?;
    let (code, gap) = verify()?;
    assert_eq!(code, 1, "{gap}");
    let first_breaks = gap["first_breaks"].as_array().cloned().unwrap_or_default();
    assert_eq!(first_breaks.len(), 1, "{gap}");
    assert_eq!(first_breaks[0]["kind"], "SEQUENCE_GAP");
    assert_eq!(first_breaks[0]["chain_id"], chain.as_str());
    assert_eq!(first_breaks[0]["sequence"].as_i64(), Some(from));
    drop(moto);
    Ok(())
}
