//! Broker restart: `kill -9` of the Kafka-protocol broker mid-stream, then a restart on the same
//! port, loses no request and records none twice in PostgreSQL; the chains still verify.
//!
//! Only a broker whose log survives `kill -9` can be tested this way (ADR 0002): the stack's
//! opt-in `DL_BROKER=tansu-s3` (Tansu on LocalStack S3). On any other broker the test prints why
//! and passes without running, so the default stack (Tansu `memory://`) is unaffected. Run it with
//!
//! ```text
//! DL_BROKER=tansu-s3 scripts/stack.sh up && . .stack/env
//! cargo test -p dl-e2e --test broker_restart -- --nocapture
//! ```

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use dl_e2e::faults::{broker_is_durable, broker_kind, loan_input, results_by_request};
use dl_e2e::{repo, request, Scenario};

fn loan(id: &str, i: usize) -> dl_schema::DecisionRequest {
    request(id, "loan_approval", &loan_input(i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_and_restarted_mid_stream_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let kind = broker_kind();
    if !broker_is_durable() {
        eprintln!(
            "SKIPPED broker_restart: the stack's broker is {kind:?}, whose log does not survive \
             kill -9 (ADR 0002); run it with `DL_BROKER=tansu-s3 scripts/stack.sh up && . .stack/env`"
        );
        return Ok(());
    }
    let s = Scenario::with_examples("brokerrestart", 4).await?;
    // Half before the restart, half after it: the restarted broker must keep the first half
    // (records, the groups' committed offsets, the ledger) and take the second.
    let before: usize = 600;
    let after: usize = 600;
    let total = before + after;
    let first: Vec<_> = (0..before).map(|i| loan(&format!("brk-{i}"), i)).collect();
    s.send(&first)?;

    let mut worker = s.worker("a")?;
    let mut projector = s.projector("a")?;
    let projected = s.wait_for_projected(100, Duration::from_secs(180)).await?;
    eprintln!("kill -9 of the broker with {projected} of {before} decisions projected");
    let restart = Command::new(repo().join("scripts/stack.sh"))
        .arg("broker-restart")
        .status()?;
    anyhow::ensure!(restart.success(), "scripts/stack.sh broker-restart failed");

    let second: Vec<_> = (before..total)
        .map(|i| loan(&format!("brk-{i}"), i))
        .collect();
    s.send(&second)?;

    let n = total as i64;
    let pool = &s.pg().await?;
    let distinct = s
        .wait_for_count(
            "SELECT count(DISTINCT request_id) FROM decisions",
            n,
            Duration::from_secs(300),
        )
        .await?;
    assert!(
        worker.running() && projector.running(),
        "worker running: {}, projector running: {} (see target/e2e-logs/{})",
        worker.running(),
        projector.running(),
        s.id
    );
    assert_eq!(distinct, n, "every request decided and projected");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(pool)
        .await?;
    assert_eq!(rows, n, "no request is recorded twice");
    let breaks: Vec<(String, String)> =
        sqlx::query_as("SELECT break_kind, detail FROM chain_breaks")
            .fetch_all(pool)
            .await?;
    assert!(breaks.is_empty(), "chain breaks: {breaks:?}");

    // Results: every request has exactly one decision id. Records beyond one per request are the
    // broker's visible doubles (Tansu shows aborted transactions to read_committed readers,
    // ADR 0003): reported, not counted as doubles, since they carry the same decision id.
    let expected: BTreeSet<String> = (0..total).map(|i| format!("brk-{i}")).collect();
    let results = results_by_request(&s, &expected, Duration::from_secs(120))?;
    let ids = &results.by_request;
    eprintln!(
        "results: {} request ids, {} result records ({} visible doubles on {kind})",
        ids.len(),
        results.records,
        results.visible_doubles()
    );
    assert_eq!(ids.len(), total, "every request has a result");
    let doubled: Vec<_> = ids.iter().filter(|(_, d)| d.len() != 1).collect();
    assert!(
        doubled.is_empty(),
        "requests with two different decisions: {doubled:?}"
    );

    // The ledger kept across the restart: the projection holds every record once, the chains
    // verify from Kafka.
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
