//! Workers follow the registry live: publish → approve ×2 → activate takes effect in two running
//! worker replicas without a restart; a newer version takes over, an explicit older version
//! keeps working until it is retired, `as_of` picks the version in force across an effective-date
//! boundary, and a late worker rebuilds the same state at start.

use std::collections::HashMap;
use std::time::Duration;

use dl_e2e::{http_get, repo, request, Scenario, Service};
use dl_function::FunctionPackage;
use dl_schema::{DecisionResult, DecisionStatus};

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

/// The loan example re-versioned (same policy, new digest) in `dir`.
fn loan_version(dir: &std::path::Path, version: &str) -> anyhow::Result<FunctionPackage> {
    loan_version_from(dir, version, "2024-01-01")
}

/// The loan example re-versioned and in force from `effective_from`.
fn loan_version_from(
    dir: &std::path::Path,
    version: &str,
    effective_from: &str,
) -> anyhow::Result<FunctionPackage> {
    let src = FunctionPackage::load(&repo().join("examples/loan_approval"))?;
    for (path, content) in src.files() {
        let mut content = content.clone();
        if path == "function.yaml" {
            let text = String::from_utf8(content)?;
            content = text
                .lines()
                .map(|l| {
                    if l.starts_with("version:") {
                        format!("version: {version}")
                    } else if l.starts_with("effective_from:") {
                        format!("effective_from: {effective_from}")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes();
        }
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap_or(dir))?;
        std::fs::write(p, content)?;
    }
    Ok(FunctionPackage::load(dir)?)
}

/// The value of an unlabelled gauge on a service's /metrics.
fn gauge(service: &Service, name: &str) -> Option<f64> {
    let (_, body) = http_get(service.metrics_port, "/metrics").ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn wait_until(what: &str, ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    dl_e2e::eventually_blocking(Duration::from_secs(90), what, ok)
}

/// Sends `requests` and returns every result so far by request id.
fn round(
    s: &Scenario,
    requests: &[dl_schema::DecisionRequest],
    total: &mut usize,
) -> anyhow::Result<HashMap<String, DecisionResult>> {
    s.send(requests)?;
    *total += requests.len();
    let codec = dl_schema::result_codec();
    let read = s.read(&s.results, *total, Duration::from_secs(90))?;
    anyhow::ensure!(read.len() == *total, "{} of {total} results", read.len());
    read.iter()
        .map(|r| {
            let result = codec.decode(&r.payload)?;
            Ok((result.request_id.clone(), result))
        })
        .collect()
}

fn code(r: &DecisionResult) -> &str {
    r.rejection.as_ref().map(|x| x.code.as_str()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_reaches_running_workers_without_restart() -> anyhow::Result<()> {
    let s = Scenario::new("activation", 2).await?;
    let a = s.worker("a")?;
    let b = s.worker("b")?;
    for w in [&a, &b] {
        wait_until("both workers are ready", || {
            http_get(w.metrics_port, "/readyz").is_ok_and(|(code, _)| code == 200)
        })?;
        assert_eq!(gauge(w, "dl_worker_active_versions"), Some(0.0));
    }
    let writer = s.registry_writer().await?;
    let mut total = 0;

    // Nothing released: unknown.
    let results = round(
        &s,
        &[request("r-unknown", "loan_approval", LOAN)],
        &mut total,
    )?;
    assert_eq!(code(&results["r-unknown"]), "UNKNOWN_FUNCTION");

    // Published and approved, not yet activated: not active.
    let scratch = s.dir().join("loan-1.0.0");
    let v1 = loan_version(&scratch, "1.0.0")?;
    writer.publish(&v1, "e2e-author").await?;
    for (approver, role) in [
        (dl_e2e::OWNER, dl_schema::ApproverRole::Owner),
        (dl_e2e::REVIEWER, dl_schema::ApproverRole::Reviewer),
    ] {
        let key = dl_registry::load_signing_key(&s.dir().join(format!("{approver}.pem")))?;
        writer
            .approve(
                "loan_approval",
                "1.0.0",
                role,
                approver,
                &format!("{approver}-1"),
                &key,
            )
            .await?;
    }
    wait_until("the approval reached the worker", || {
        // Publish + two approvals folded into the set each worker uses.
        [&a, &b]
            .iter()
            .all(|w| gauge(w, "dl_worker_registry_events") == Some(3.0))
    })?;
    let results = round(
        &s,
        &[request("r-approved", "loan_approval", LOAN)],
        &mut total,
    )?;
    assert_eq!(code(&results["r-approved"]), "FUNCTION_NOT_ACTIVE");

    // Activated: both running replicas pick it up, no restart.
    writer
        .activate("loan_approval", "1.0.0", dl_e2e::OWNER)
        .await?;
    for w in [&a, &b] {
        wait_until("the activation reached both workers", || {
            gauge(w, "dl_worker_active_versions") == Some(1.0)
        })?;
    }
    let batch: Vec<_> = (0..20)
        .map(|i| request(&format!("r-v1-{i}"), "loan_approval", LOAN))
        .collect();
    let results = round(&s, &batch, &mut total)?;
    let mut partitions = std::collections::BTreeSet::new();
    for i in 0..20 {
        let r = &results[&format!("r-v1-{i}")];
        assert_eq!(r.status, DecisionStatus::Decided, "{r:?}");
        assert_eq!(r.function_version.as_deref(), Some("1.0.0"));
        assert_eq!(r.function_digest.as_deref(), Some(v1.digest()));
        partitions.insert(r.ledger.as_ref().map(|l| l.partition));
    }
    assert_eq!(
        partitions.len(),
        2,
        "both replicas (one partition each) decided"
    );

    // A newer version takes over requests without a version; 1.0.0 stays callable explicitly.
    let v2 = loan_version(&s.dir().join("loan-1.1.0"), "1.1.0")?;
    s.release(&writer, &v2).await?;
    for w in [&a, &b] {
        wait_until("1.1.0 reached both workers", || {
            gauge(w, "dl_worker_active_versions") == Some(2.0)
        })?;
    }
    let mut pinned = request("r-pinned", "loan_approval", LOAN);
    pinned.function_version = Some("1.0.0".into());
    let results = round(
        &s,
        &[request("r-latest", "loan_approval", LOAN), pinned.clone()],
        &mut total,
    )?;
    assert_eq!(
        results["r-latest"].function_version.as_deref(),
        Some("1.1.0")
    );
    assert_eq!(
        results["r-pinned"].function_version.as_deref(),
        Some("1.0.0")
    );
    assert_eq!(results["r-pinned"].status, DecisionStatus::Decided);

    // Retired: the explicit old version is refused, with the state in the message.
    writer
        .retire(
            "loan_approval",
            "1.0.0",
            dl_e2e::OWNER,
            Some("superseded".into()),
        )
        .await?;
    for w in [&a, &b] {
        wait_until("the retirement reached both workers", || {
            gauge(w, "dl_worker_active_versions") == Some(1.0)
        })?;
    }
    pinned.request_id = "r-pinned-retired".into();
    let results = round(&s, &[pinned], &mut total)?;
    let retired = &results["r-pinned-retired"];
    assert_eq!(code(retired), "FUNCTION_NOT_ACTIVE");
    assert!(
        retired
            .rejection
            .as_ref()
            .is_some_and(|r| r.message.contains("RETIRED")),
        "{retired:?}"
    );

    // Effective dates: 2.0.0 is in force from 2030 on. `as_of` picks the version in force then;
    // before any version is in force nothing is.
    let v3 = loan_version_from(&s.dir().join("loan-2.0.0"), "2.0.0", "2030-01-01")?;
    s.release(&writer, &v3).await?;
    for w in [&a, &b] {
        wait_until("2.0.0 reached both workers", || {
            gauge(w, "dl_worker_active_versions") == Some(2.0)
        })?;
    }
    let days = |d: &str| -> anyhow::Result<i32> {
        let date: chrono::NaiveDate = d.parse()?;
        Ok(dl_schema::date::to_avro_days(date))
    };
    let mut dated = Vec::new();
    for (id, as_of) in [
        ("r-2029", "2029-12-31"),
        ("r-2030", "2030-01-01"),
        ("r-2023", "2023-06-01"),
    ] {
        let mut r = request(id, "loan_approval", LOAN);
        r.as_of = Some(days(as_of)?);
        dated.push(r);
    }
    let results = round(&s, &dated, &mut total)?;
    assert_eq!(results["r-2029"].function_version.as_deref(), Some("1.1.0"));
    assert_eq!(results["r-2030"].function_version.as_deref(), Some("2.0.0"));
    assert_eq!(code(&results["r-2023"]), "FUNCTION_NOT_ACTIVE");

    // A replica started now rebuilds the same state from the topic.
    drop((a, b));
    let c = s.worker("c")?;
    wait_until("the late worker is ready", || {
        http_get(c.metrics_port, "/readyz").is_ok_and(|(code, _)| code == 200)
    })?;
    assert_eq!(gauge(&c, "dl_worker_active_versions"), Some(2.0));
    let results = round(&s, &[request("r-late", "loan_approval", LOAN)], &mut total)?;
    assert_eq!(results["r-late"].function_version.as_deref(), Some("1.1.0"));
    Ok(())
}
