//! Metrics emitted through the `metrics` facade: names, bounded labels, no caller ids.

mod common;

use common::*;
use dl_auth::JwtVerifier;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;

#[test]
fn failures_refreshes_and_skew_are_recorded_with_bounded_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            dl_auth::describe_metrics();
            let p = Provider::start().await;
            let v = JwtVerifier::new(p.config()).await.unwrap();
            let t = p.default_token().await;
            v.verify_bearer(Some(&bearer(&t))).await.unwrap();
            let mut c = p.claims();
            c["exp"] = json!(now() - 3600);
            c["iat"] = json!(now() - 7200);
            let expired = p.sign(json!({}), c, false).await;
            for _ in 0..2 {
                v.verify_bearer(Some(&bearer(&expired))).await.unwrap_err();
            }
            v.verify_bearer(None).await.unwrap_err();
            p.issuer.clone()
        })
    });

    let mut expired = None;
    let mut missing = None;
    let mut refresh_ok = None;
    let mut skew = None;
    for (key, _unit, _desc, value) in snapshotter.snapshot().into_vec() {
        let k = key.key();
        let labels: Vec<(String, String)> = k
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        for (name, value) in &labels {
            assert!(
                ["reason", "issuer", "outcome"].contains(&name.as_str()),
                "unexpected label {name}"
            );
            assert!(!value.contains(CLIENT), "caller id leaked into a label");
        }
        match (k.name(), value) {
            ("dl_auth_failures_total", DebugValue::Counter(n)) => {
                if labels == [("reason".into(), "expired".into())] {
                    expired = Some(n);
                }
                if labels == [("reason".into(), "missing_token".into())] {
                    missing = Some(n);
                }
            }
            ("dl_auth_jwks_refreshes_total", DebugValue::Counter(n))
                if labels
                    == [
                        ("issuer".into(), issuer.clone()),
                        ("outcome".into(), "success".into()),
                    ] =>
            {
                refresh_ok = Some(n);
            }
            ("dl_auth_clock_skew_seconds", DebugValue::Histogram(v)) => skew = Some(v.len()),
            _ => {}
        }
    }
    assert_eq!(expired, Some(2));
    assert_eq!(missing, Some(1));
    assert_eq!(refresh_ok, Some(1));
    // One observation per signature-valid token with an iat (1 good + 2 expired).
    assert_eq!(skew, Some(3));
}
