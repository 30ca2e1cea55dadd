//! Crash tests: kill -9 of the worker and of the projector mid-stream loses no request and
//! records none twice in PostgreSQL; the chains still verify; both report ready again, the
//! projector not before its streams are assigned (readiness tells the truth).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dl_e2e::faults::{loan_input, ready};
use dl_e2e::{request, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_and_projector_killed_mid_stream_lose_and_double_nothing() -> anyhow::Result<()> {
    let s = Scenario::with_examples("crash", 4).await?;
    let total: usize = 3000;
    let requests: Vec<_> = (0..total)
        .map(|i| request(&format!("crash-{i}"), "loan_approval", &loan_input(i)))
        .collect();
    s.send(&requests)?;
    let n_total = total as i64;

    let mut worker = s.worker("a")?;
    let mut projector = s.projector("a")?;
    // Kill both once they are under way: after some decisions are projected, with (normally)
    // more to come. Whether the kill lands mid-batch depends on the machine's speed, so nothing
    // below depends on it: whatever state the kill leaves, the end state must be exact.
    let projected = s.wait_for_projected(300, Duration::from_secs(120)).await?;
    eprintln!("killing worker and projector with {projected} of {n_total} decisions projected");
    worker.kill9();
    projector.kill9();
    let restarted = std::time::Instant::now();
    let worker = s.worker("a")?;
    let projector = s.projector("b")?;
    // Readiness tells the truth (issue 16): the restarted projector is ready only once each of
    // its streams has its first assignment, which comes when the broker has expired the killed
    // member. Its log says when: every assignment is logged before it counts for readiness.
    let (worker_ready, projector_ready) = tokio::task::block_in_place(|| {
        let (mut w, mut p) = (None, None);
        while (w.is_none() || p.is_none()) && restarted.elapsed() < Duration::from_secs(300) {
            if p.is_none() && ready(&projector) {
                let log = std::fs::read_to_string(&projector.log)?;
                for stream in ["ledger-projection", "explain-projection"] {
                    let assigned = log.lines().any(|l| {
                        l.contains("partitions assigned") && l.contains(&format!("\"{stream}\""))
                    });
                    anyhow::ensure!(assigned, "the restarted projector reported ready before {stream} was assigned:\n{log}");
                }
                p = Some(restarted.elapsed().as_secs_f64());
            }
            if w.is_none() && ready(&worker) {
                w = Some(restarted.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::Ok((w, p))
    })?;
    eprintln!(
        "after kill -9 and restart: worker ready after {worker_ready:?} s, projector after {projector_ready:?} s"
    );
    anyhow::ensure!(
        worker_ready.is_some() && projector_ready.is_some(),
        "not ready again"
    );
    let pool = &s.pg().await?;

    let n = total as i64;
    assert_eq!(
        s.wait_for_count(
            "SELECT count(DISTINCT request_id) FROM decisions",
            n,
            Duration::from_secs(240)
        )
        .await?,
        n
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(pool)
        .await?;
    assert_eq!(rows, n, "no request is recorded twice");
    let breaks: Vec<(String, String)> =
        sqlx::query_as("SELECT break_kind, detail FROM chain_breaks")
            .fetch_all(pool)
            .await?;
    assert!(breaks.is_empty(), "chain breaks: {breaks:?}");

    // Results: every request has one, and any repeat (a broker that shows aborted
    // transactions) carries the same deterministic decision id.
    let results = s.read(&s.results, total, Duration::from_secs(60))?;
    let codec = dl_schema::result_codec();
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for r in &results {
        let d = codec.decode(&r.payload)?;
        ids.entry(d.request_id).or_default().insert(d.decision_id);
    }
    assert_eq!(ids.len(), total, "every request has a result");
    assert!(
        ids.values().all(|d| d.len() == 1),
        "a request got two different decisions"
    );

    // The projection holds every ledger record exactly once and the chains verify.
    let report = s.verify_ledger()?;
    assert_eq!(report["ok"], true, "{report}");
    let ledger_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_records")
        .fetch_one(pool)
        .await?;
    assert_eq!(
        Some(ledger_rows),
        report["records"].as_i64(),
        "every ledger record projected once"
    );
    Ok(())
}
