//! Live shadow evaluation (ADR 0032): an APPROVED candidate that differs from the ACTIVE
//! version on some inputs is put in shadow with `dlctl function shadow`; exactly those inputs
//! show up as disagreements (on `decision.shadow` and in `shadow_disagreements`, with the
//! differing pointers and values only where the explanation policy shows them), the results are
//! byte-identical to the same requests decided without shadow, and `dlctl audit shadow`
//! prints the agreement rate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use dl_e2e::{bin, http_get, repo, request, Scenario, Service};
use dl_function::FunctionPackage;
use dl_schema::{DecisionResult, ShadowOutcome};
use serde_json::{json, Value};

/// The loan example as `version`, declining scores below `minimum` (the example: 500), with
/// `/approved` shown by its explanation policy.
fn loan(dir: &std::path::Path, version: &str, minimum: u32) -> anyhow::Result<FunctionPackage> {
    let src = FunctionPackage::load(&repo().join("examples/loan_approval"))?;
    for (path, content) in src.files() {
        // The example's own test cases expect its minimum; the candidate's differ by design.
        if minimum != 500 && path.starts_with("tests/") {
            continue;
        }
        let mut text = String::from_utf8(content.clone())?;
        if path == "function.yaml" {
            let before = text.clone();
            text = text
                .replacen("version: 1.0.0", &format!("version: {version}"), 1)
                .replacen("  allow_fields:\n", "  allow_fields:\n    - /approved\n", 1);
            anyhow::ensure!(text != before, "the manifest changed shape");
        } else if path == "policy.rego" {
            let before = text.clone();
            text = text.replacen(
                "input.customer_score < 500",
                &format!("input.customer_score < {minimum}"),
                1,
            );
            anyhow::ensure!(minimum == 500 || text != before, "the policy changed shape");
        }
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap_or(dir))?;
        std::fs::write(p, text)?;
    }
    if minimum != 500 {
        std::fs::create_dir_all(dir.join("tests"))?;
        std::fs::write(
            dir.join("tests/minimum.yaml"),
            format!(
                "- name: below_the_new_minimum\n  input: {{\"amount\": 3000, \"customer_score\": {}, \"customer_tier\": \"standard\", \"employment_status\": \"employed\"}}\n  expect:\n    output: {{\"approved\": false, \"reason\": \"Credit score below minimum threshold\", \"limit\": 0, \"risk_level\": \"high\"}}\n    reasons: [MINIMUM_CREDIT_SCORE]\n",
                minimum - 1
            ),
        )?;
    }
    Ok(FunctionPackage::load(dir)?)
}

/// (amount, score) and the output pointers at which 1.1.0 (minimum 650) differs from 1.0.0
/// (minimum 500): empty where they agree.
const CASES: [(u32, u32, &[&str]); 5] = [
    (3000, 720, &[]),
    (15000, 400, &[]),
    (7000, 700, &[]),
    // 1.0.0: small personal loan approved; 1.1.0: score below its minimum.
    (
        3000,
        620,
        &["/approved", "/limit", "/reason", "/reasons", "/risk_level"],
    ),
    // 1.0.0: criteria not met; 1.1.0: score below its minimum (same flags, other reason).
    (3000, 520, &["/reason", "/reasons"]),
];
/// Each case is sent this many times per run.
const REPEAT: usize = 2;

fn requests(prefix: &str) -> Vec<(usize, dl_schema::DecisionRequest)> {
    (0..REPEAT)
        .flat_map(|r| CASES.iter().enumerate().map(move |(i, c)| (r, i, c)))
        .map(|(r, i, (amount, score, _))| {
            let input = json!({"amount": amount, "customer_score": score,
                               "customer_tier": "standard", "employment_status": "employed"});
            (
                i,
                request(
                    &format!("{prefix}-{i}-{r}"),
                    "loan_approval",
                    &input.to_string(),
                ),
            )
        })
        .collect()
}

/// A result without what differs between two runs of the same request by design (ids, time,
/// ledger position, signature), Avro-encoded: what must be byte-identical.
fn comparable(r: &DecisionResult) -> anyhow::Result<Vec<u8>> {
    let mut r = r.clone();
    r.request_id.clear();
    r.decision_id.clear();
    r.decided_at = 0;
    r.ledger = None;
    r.signature = None;
    Ok(dl_schema::result_codec().encode(&r)?)
}

/// The results of one run by case, and every result read so far.
type Run = (BTreeMap<usize, Vec<DecisionResult>>, Vec<DecisionResult>);

/// Decides `prefix`'s requests; the results by case, and every result so far.
fn run(s: &Scenario, prefix: &str, total: &mut usize) -> anyhow::Result<Run> {
    let reqs = requests(prefix);
    let case_of: BTreeMap<String, usize> = reqs
        .iter()
        .map(|(i, r)| (r.request_id.clone(), *i))
        .collect();
    s.send(&reqs.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())?;
    *total += reqs.len();
    let codec = dl_schema::result_codec();
    let read = s.read(&s.results, *total, Duration::from_secs(90))?;
    anyhow::ensure!(read.len() == *total, "{} of {total} results", read.len());
    let all: Vec<DecisionResult> = read
        .iter()
        .map(|m| codec.decode(&m.payload))
        .collect::<Result<_, _>>()?;
    let mut by_case: BTreeMap<usize, Vec<DecisionResult>> = BTreeMap::new();
    for r in &all {
        if let Some(i) = case_of.get(&r.request_id) {
            by_case.entry(*i).or_default().push(r.clone());
        }
    }
    Ok((by_case, all))
}

fn gauge(service: &Service, name: &str) -> Option<f64> {
    let (_, body) = http_get(service.metrics_port, "/metrics").ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The value of `dl_shadow_evaluations_total` for `outcome`.
fn shadow_count(service: &Service, outcome: &str) -> Option<f64> {
    let (_, body) = http_get(service.metrics_port, "/metrics").ok()?;
    body.lines()
        .filter(|l| l.starts_with("dl_shadow_evaluations_total{"))
        .filter(|l| l.contains("function_id=\"loan_approval\""))
        .find(|l| l.contains(&format!("outcome=\"{outcome}\"")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_version_shows_exactly_its_disagreements_and_changes_no_result(
) -> anyhow::Result<()> {
    let s = Scenario::new("shadow", 2).await?;
    let writer = s.registry_writer().await?;
    let v1 = loan(&s.dir().join("loan-1.0.0"), "1.0.0", 500)?;
    s.release(&writer, &v1).await?;
    // The candidate: published and approved by owner and reviewer, not activated.
    let v2 = loan(&s.dir().join("loan-1.1.0"), "1.1.0", 650)?;
    s.publish_approved(&writer, &v2).await?;
    let worker = s.worker("a")?;
    let ready = || {
        dl_e2e::eventually_blocking(Duration::from_secs(90), "the worker", || {
            http_get(worker.metrics_port, "/readyz").is_ok_and(|(code, _)| code == 200)
        })
    };
    ready()?;
    let mut total = 0;

    // Without shadow.
    let (plain, _) = run(&s, "plain", &mut total)?;

    // The candidate in shadow for every decision, through the CLI; the deciding version cannot.
    let dlctl = |args: &[&str]| {
        Command::new(bin("dlctl"))
            .args(["--brokers", &s.brokers, "function"])
            .args(args)
            .args([
                "--by",
                dl_e2e::OWNER,
                "--registry-topic",
                &s.registry,
                "--approvers",
            ])
            .arg(&s.approvers_file)
            .output()
    };
    let out = dlctl(&["shadow", "loan_approval", "1.0.0"])?;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SHADOW_IS_DECIDING"),
        "{out:?}"
    );
    let out = dlctl(&[
        "shadow",
        "loan_approval",
        "1.1.0",
        "--sample-per-mille",
        "1000",
    ])?;
    assert!(out.status.success(), "{out:?}");
    // 1.0.0: publish, two approvals, activation; 1.1.0: publish, two approvals; the shadow.
    dl_e2e::eventually_blocking(
        Duration::from_secs(90),
        "the shadow reached the worker",
        || gauge(&worker, "dl_worker_registry_events") == Some(8.0),
    )?;

    // With shadow: the same requests.
    let (shadowed, all) = run(&s, "shadowed", &mut total)?;
    for (i, (amount, score, _)) in CASES.iter().enumerate() {
        let (a, b) = (&plain[&i], &shadowed[&i]);
        assert_eq!((a.len(), b.len()), (REPEAT, REPEAT));
        for r in a.iter().chain(b) {
            assert_eq!(r.function_version.as_deref(), Some("1.0.0"), "{r:?}");
        }
        for (x, y) in a.iter().zip(b) {
            assert_eq!(
                comparable(x)?,
                comparable(y)?,
                "case {amount}/{score}: the result changed under shadow"
            );
        }
    }

    // decision.shadow: one record per decision of the shadowed run, none for the plain run,
    // disagreements exactly on the cases that differ, with the differing pointers.
    let shadowed_ids: BTreeMap<String, usize> = all
        .iter()
        .filter_map(|r| {
            let case: usize = r
                .request_id
                .strip_prefix("shadowed-")?
                .split('-')
                .next()?
                .parse()
                .ok()?;
            Some((r.decision_id.clone(), case))
        })
        .collect();
    assert_eq!(shadowed_ids.len(), CASES.len() * REPEAT);
    let codec = dl_schema::shadow_codec();
    let records: Vec<dl_schema::ShadowEvaluation> = s
        .read(&s.shadow, shadowed_ids.len(), Duration::from_secs(60))?
        .iter()
        .map(|m| codec.decode(&m.payload))
        .collect::<Result<_, _>>()?;
    assert_eq!(records.len(), shadowed_ids.len());
    let mut disagreeing = BTreeSet::new();
    for e in &records {
        let case = shadowed_ids
            .get(&e.decision_id)
            .unwrap_or_else(|| panic!("{} is not a decision of the shadowed run", e.decision_id));
        let expected = CASES[*case].2;
        assert_eq!(
            (e.version.as_str(), e.shadow_version.as_str()),
            ("1.0.0", "1.1.0")
        );
        assert_eq!(
            (e.digest.as_str(), e.shadow_digest.as_str()),
            (v1.digest(), v2.digest())
        );
        assert_eq!(e.tenant, None);
        let pointers: Vec<&str> = e.differences.iter().map(|d| d.pointer.as_str()).collect();
        assert_eq!(pointers, expected, "case {case}");
        if expected.is_empty() {
            assert_eq!(e.outcome, ShadowOutcome::Agree);
        } else {
            assert_eq!(e.outcome, ShadowOutcome::Disagree);
            disagreeing.insert(e.decision_id.clone());
        }
        // Values only where the policy shows the field (/approved); never the input.
        for d in &e.differences {
            if d.pointer == "/approved" {
                assert_eq!(
                    (d.deciding_value.as_deref(), d.shadow_value.as_deref()),
                    (Some("true"), Some("false"))
                );
            } else {
                assert_eq!(
                    (&d.deciding_value, &d.shadow_value),
                    (&None, &None),
                    "{d:?}"
                );
            }
        }
    }
    assert_eq!(disagreeing.len(), 2 * REPEAT);
    assert_eq!(shadow_count(&worker, "disagree"), Some((2 * REPEAT) as f64));
    assert_eq!(shadow_count(&worker, "agree"), Some((3 * REPEAT) as f64));

    // The projection: every evaluation, the disagreements in their view.
    let _projector = s.projector("a")?;
    let n = s
        .wait_for_count(
            "SELECT count(*) FROM shadow_evaluations",
            records.len() as i64,
            Duration::from_secs(90),
        )
        .await?;
    assert_eq!(n, records.len() as i64);
    let pool = sqlx::PgPool::connect(&s.database_url).await?;
    let rows: Vec<(String, Vec<String>, String)> = sqlx::query_as(
        "SELECT decision_id, pointers, tenant FROM shadow_disagreements ORDER BY decision_id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        rows.iter().map(|r| r.0.clone()).collect::<BTreeSet<_>>(),
        disagreeing
    );
    for (id, pointers, tenant) in &rows {
        assert_eq!(pointers, CASES[shadowed_ids[id]].2, "{id}");
        assert_eq!(tenant, "default");
    }

    // The agreement rate.
    let out = Command::new(bin("dlctl"))
        .args(["--brokers", &s.brokers, "audit", "shadow", "--json"])
        .args(["--database-url", &s.database_url])
        .output()?;
    assert!(out.status.success(), "{out:?}");
    let rates: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        rates,
        json!([{
            "function_id": "loan_approval", "version": "1.0.0", "shadow_version": "1.1.0",
            "evaluated": 10, "agreed": 6, "disagreed": 4, "errors": 0, "agreement": 0.6,
            "top_pointers": [["/reason", 4], ["/reasons", 4], ["/approved", 2], ["/limit", 2],
                             ["/risk_level", 2]]
        }])
    );
    let out = Command::new(bin("dlctl"))
        .args(["--brokers", &s.brokers, "audit", "shadow", "--top", "1"])
        .args(["--database-url", &s.database_url])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("loan_approval 1.0.0 -> 1.1.0: evaluated 10, agree 6, disagree 4, error 0, agreement 60.0 %")
            && text.contains("differs at /reason: 4")
            && !text.contains("/reasons"),
        "{text}"
    );

    // Unshadowed: no more evaluations.
    let out = dlctl(&["unshadow", "loan_approval"])?;
    assert!(out.status.success(), "{out:?}");
    dl_e2e::eventually_blocking(
        Duration::from_secs(90),
        "the unshadow reached the worker",
        || gauge(&worker, "dl_worker_registry_events") == Some(9.0),
    )?;
    run(&s, "after", &mut total)?;
    let again = s.read(&s.shadow, records.len() + 1, Duration::from_secs(5))?;
    assert_eq!(
        again.len(),
        records.len(),
        "no shadow evaluation after unshadow"
    );
    Ok(())
}
