//! Explanation views end to end: worker → ledger → dl-explainer → explain.views, on the real
//! broker, with the function's allow list from the real registry; a `kill -9` of the explainer
//! loses and doubles no view.

use std::collections::HashMap;
use std::time::Duration;

use std::process::Command;

use dl_e2e::{bin, http_get, promtool_check, request, Scenario};
use dl_schema::{ExplainAudience, ExplainPolicySource, ExplainView};
use serde_json::{json, Value};

const HETU_A: &str = "131052-308T";
const HETU_B: &str = "010594Y9032";

fn refund(id: &str, hetu: &str) -> dl_schema::DecisionRequest {
    request(
        id,
        "refund_policy",
        &json!({"issue": "late", "customer": {"tier": "gold", "id": hetu}, "order_amount": 1000})
            .to_string(),
    )
}

fn views(s: &Scenario, expected: usize, wait: Duration) -> anyhow::Result<Vec<ExplainView>> {
    let codec = dl_schema::explain_view_codec();
    let read = s.read(&s.views, expected, wait)?;
    for r in &read {
        let raw = String::from_utf8_lossy(&r.payload);
        for secret in [HETU_A, HETU_B] {
            anyhow::ensure!(!raw.contains(secret), "{secret} in a view on the topic");
        }
    }
    read.iter().map(|r| Ok(codec.decode(&r.payload)?)).collect()
}

fn audience(v: &ExplainView, a: ExplainAudience) -> Value {
    let view = v.views.iter().find(|x| x.audience == a).expect("audience");
    serde_json::from_str(&view.input).expect("input is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_per_audience_redacted_exactly_once_across_a_crash() -> anyhow::Result<()> {
    let s = Scenario::with_examples("explain", 2).await?;
    let _worker = s.worker("a")?;
    let _projector = s.projector("a")?;
    let mut explainer = s.explainer("a")?;

    // First wave: two persons, A twice.
    s.send(&[
        refund("x-1", HETU_A),
        refund("x-2", HETU_B),
        refund("x-3", HETU_A),
    ])?;
    let first = views(&s, 3, Duration::from_secs(90))?;
    assert_eq!(first.len(), 3, "one view per decision");
    let by_request: HashMap<&str, &ExplainView> =
        first.iter().map(|v| (v.request_id.as_str(), v)).collect();
    for v in &first {
        assert_eq!(v.policy, ExplainPolicySource::Manifest);
        assert_eq!(v.function_id, "refund_policy");
        assert!(v.function_digest.starts_with("sha256:"));
        assert!(!v.legal_basis.is_empty());
        assert!(v.ledger.chain_id.ends_with(":0") || v.ledger.chain_id.ends_with(":1"));
        assert_eq!(v.views.len(), 3);
        // The subject sees the allowed fields, not the redact-listed id; the manifest says so.
        assert_eq!(
            audience(v, ExplainAudience::Subject),
            json!({"issue": "late", "customer": {"tier": "gold"}, "order_amount": 1000})
        );
        let manifest: Value = serde_json::from_str(&v.views[0].manifest)?;
        assert_eq!(manifest["input"]["erased"], json!(["/customer/id"]));
        // The decision itself is shown to everyone.
        let output: Value = serde_json::from_str(&v.views[0].output)?;
        assert_eq!(output["refund_amount"], 120);
        assert!(v.pseudonym_key_id.is_some());
    }
    // Auditors and case workers can join on a person without seeing the code.
    let psn = |r: &str| audience(by_request[r], ExplainAudience::Auditor)["customer"]["id"].clone();
    assert!(psn("x-1").as_str().unwrap().starts_with("psn:"));
    assert_eq!(psn("x-1"), psn("x-3"));
    assert_ne!(psn("x-1"), psn("x-2"));
    assert_eq!(
        audience(by_request["x-1"], ExplainAudience::CaseWorker)["customer"]["id"],
        psn("x-1"),
        "case worker and auditor pseudonyms of one person agree"
    );

    // Crash the explainer while a second wave is being decided, start another: every decision
    // gets exactly one view (no loss, no duplicate on the topic before compaction).
    let second: Vec<_> = (0..40)
        .map(|i| refund(&format!("y-{i}"), if i % 2 == 0 { HETU_A } else { HETU_B }))
        .collect();
    s.send(&second)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    explainer.kill9();
    let explainer = s.explainer("b")?;
    views(&s, 43, Duration::from_secs(120))?;
    // Everything on the topic once it settles. Committed views appear once; a broker that shows
    // aborted transactions to read_committed readers (Tansu, ADR 0002) may also show the crashed
    // replica's in-flight views: those must be byte-identical to the committed ones (views are
    // deterministic), so the compacted topic and the projection keep exactly one per decision.
    let settled = views(&s, usize::MAX, Duration::from_secs(5))?;
    let mut by_decision: HashMap<&str, Vec<&ExplainView>> = HashMap::new();
    for v in &settled {
        by_decision
            .entry(v.decision_id.as_str())
            .or_default()
            .push(v);
    }
    assert_eq!(by_decision.len(), 43, "every decision explained");
    for (id, copies) in &by_decision {
        assert!(
            copies.iter().all(|c| *c == copies[0]),
            "{id}: two different views"
        );
    }

    // The projector puts the views into PostgreSQL (for the gateway), once per decision.
    assert_eq!(
        s.wait_for_count(
            "SELECT count(*) FROM explain_views",
            43,
            Duration::from_secs(60)
        )
        .await?,
        43
    );
    let pool = s.pg().await?;
    let row: (Value, String) =
        sqlx::query_as("SELECT views, policy FROM explain_views WHERE request_id = 'x-1'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(row.1, "MANIFEST");
    assert_eq!(
        row.0["SUBJECT"]["input"],
        json!({"issue": "late", "customer": {"tier": "gold"}, "order_amount": 1000})
    );
    assert_eq!(row.0["AUDITOR"]["input"]["customer"]["id"], psn("x-1"));
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM explain_views WHERE views::text LIKE '%' || $1 || '%' OR views::text LIKE '%' || $2 || '%'",
    )
    .bind(HETU_A)
    .bind(HETU_B)
    .fetch_one(&pool)
    .await?;
    assert_eq!(leaked, 0);

    // `dlctl explain` finds a view by request id and shows one audience.
    let out = Command::new(bin("dlctl"))
        .args([
            "--brokers",
            &s.brokers,
            "explain",
            "x-2",
            "--audience",
            "case-worker",
        ])
        .args(["--topic", &s.views, "--timeout", "30"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(shown["request_id"], "x-2");
    assert_eq!(shown["audience"], "CASE_WORKER");
    assert_eq!(shown["input"]["customer"]["id"], psn("x-2"));
    assert_eq!(
        shown["redaction"]["input"]["pseudonymised"],
        json!(["/customer/id"])
    );

    // The explanation page, rendered by a real browser (headless Chromium) from the gateway.
    let (_gateway, port) = s.gateway("a", &[])?;
    let x1 = &by_request["x-1"].decision_id;
    let url = format!("http://127.0.0.1:{port}/explanations/{x1}");
    let profile = s.dir().join("chromium-profile");
    let mut dom = String::new();
    for _ in 0..50 {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--dump-dom", &url])
            .output()?;
        dom = String::from_utf8_lossy(&out.stdout).into_owned();
        if dom.contains("Decision explained") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await; // the gateway may be starting
    }
    assert!(dom.contains("<h1>Decision explained</h1>"), "{dom}");
    assert!(dom.contains(x1.as_str()));
    assert!(dom.contains("customer › tier"), "{dom}");
    assert!(
        dom.contains("<code>/customer/id</code>"),
        "the withheld field is named: {dom}"
    );
    assert!(!dom.contains(HETU_A) && !dom.contains(HETU_B));
    assert!(!dom.contains("<script"));

    // Health and metrics of the replica that did the rest.
    explainer.wait_ready().await?;
    let (_, metrics) = http_get(explainer.metrics_port, "/metrics")?;
    assert!(metrics.contains("dl_explainer_views_total"), "{metrics}");
    assert_eq!(promtool_check(&metrics)?, None);
    Ok(())
}
