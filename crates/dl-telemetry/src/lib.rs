//! Observability shared by every service.
//!
//! * [`init_tracing`]: structured logs (`DL_LOG_FORMAT=json` for JSON lines), filter from `RUST_LOG`.
//! * [`Telemetry::start`]: installs the Prometheus recorder and serves `/metrics`, `/healthz`
//!   (the process and its main loop are alive) and `/readyz` (no component reports a blocker).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (`docker stop`, Kubernetes): every service
/// stops on either, finishing what it is doing (and leaving its consumer group) first.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Initialises `tracing` once for a service. Safe to call twice (the second call is ignored).
pub fn init_tracing(service: &'static str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let json = std::env::var("DL_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}

/// A readiness check evaluated at every `/readyz` request: `Some(reason)` blocks readiness.
/// For state that goes stale without anyone reporting it (a stream that stopped making
/// progress cannot say so from inside the batch it is stuck in).
pub type ReadinessCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Liveness and readiness state of one service.
#[derive(Default)]
pub struct Health {
    blockers: Mutex<BTreeMap<&'static str, String>>,
    checks: Mutex<BTreeMap<&'static str, ReadinessCheck>>,
    heartbeat_ms: AtomicU64,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("blockers", &self.reasons())
            .field("heartbeat_ms", &self.heartbeat_ms)
            .finish()
    }
}

impl Health {
    /// Marks `component` as blocking readiness (`Some(reason)`) or fine (`None`).
    pub fn set_blocker(&self, component: &'static str, reason: Option<String>) {
        let mut b = self.blockers.lock().unwrap_or_else(|e| e.into_inner());
        match reason {
            Some(r) => {
                b.insert(component, r);
            }
            None => {
                b.remove(component);
            }
        }
    }

    /// Installs (`Some`) or removes (`None`) the readiness check of `component`, evaluated at
    /// every readiness request besides the blockers.
    pub fn set_check(&self, component: &'static str, check: Option<ReadinessCheck>) {
        let mut c = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        match check {
            Some(check) => {
                c.insert(component, check);
            }
            None => {
                c.remove(component);
            }
        }
    }

    /// Everything that blocks readiness now: the blockers, then the checks' reasons (a
    /// component with both shows its blocker).
    fn reasons(&self) -> BTreeMap<&'static str, String> {
        let mut reasons = self.blockers.lock().map(|b| b.clone()).unwrap_or_default();
        let checks: Vec<(&'static str, ReadinessCheck)> = self
            .checks
            .lock()
            .map(|c| c.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default();
        // Evaluated outside the lock: a check may take locks of its own.
        for (component, check) in checks {
            if let Some(reason) = check() {
                reasons.entry(component).or_insert(reason);
            }
        }
        reasons
    }

    /// Called by the main loop on every turn.
    pub fn beat(&self) {
        self.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether nothing blocks readiness (no blocker, no check with a reason) and the main loop
    /// has run at least once.
    pub fn is_ready(&self) -> bool {
        self.heartbeat_ms.load(Ordering::Relaxed) > 0
            && self.blockers.lock().is_ok_and(|b| b.is_empty())
            && self.reasons().is_empty()
    }

    fn snapshot(&self) -> serde_json::Value {
        let blockers = self.reasons();
        let ready = self.heartbeat_ms.load(Ordering::Relaxed) > 0 && blockers.is_empty();
        serde_json::json!({
            "ready": ready,
            "blockers": blockers,
            "last_loop_ms_ago": now_ms().saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed)),
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Latency histogram buckets in seconds, shared by all `*_seconds` histograms.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The running telemetry endpoint.
#[derive(Clone)]
pub struct Telemetry {
    /// Shared health state.
    pub health: Arc<Health>,
    /// Address actually bound (useful with port 0).
    pub addr: SocketAddr,
}

struct AppState {
    prometheus: PrometheusHandle,
    health: Arc<Health>,
    stall_after: Duration,
}

impl Telemetry {
    /// Installs the global Prometheus recorder and serves the endpoints on `addr`.
    /// `stall_after`: `/healthz` fails when the main loop has not beaten for this long.
    pub async fn start(addr: SocketAddr, stall_after: Duration) -> std::io::Result<Self> {
        let prometheus = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .map_err(std::io::Error::other)?
            .install_recorder()
            .map_err(std::io::Error::other)?;
        let health = Arc::new(Health::default());
        let state = Arc::new(AppState {
            prometheus,
            health: health.clone(),
            stall_after,
        });
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "telemetry server stopped");
            }
        });
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
        Ok(Self { health, addr })
    }
}

async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    s.prometheus.run_upkeep();
    (
        [("content-type", "text/plain; version=0.0.4")],
        s.prometheus.render(),
    )
}

async fn healthz(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let last = s.health.heartbeat_ms.load(Ordering::Relaxed);
    // Before the first beat the service is starting: alive.
    let alive = last == 0 || now_ms().saturating_sub(last) <= s.stall_after.as_millis() as u64;
    let code = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(s.health.snapshot()))
}

async fn readyz(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    // One evaluation of the checks decides the status and the body.
    let snapshot = s.health.snapshot();
    let code = if snapshot["ready"] == true {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn a_check_blocks_readiness_while_it_gives_a_reason() {
        let health = Health::default();
        health.beat();
        assert!(health.is_ready());
        let stalled = Arc::new(AtomicBool::new(true));
        let flag = stalled.clone();
        health.set_check(
            "stream",
            Some(Arc::new(move || {
                flag.load(Ordering::SeqCst).then(|| "stalled".to_string())
            })),
        );
        assert!(!health.is_ready());
        assert_eq!(health.snapshot()["blockers"]["stream"], "stalled");
        // Evaluated at every request: no one has to report the change.
        stalled.store(false, Ordering::SeqCst);
        assert!(health.is_ready());
        // A blocker of the same component wins over its check; removing the check keeps it.
        stalled.store(true, Ordering::SeqCst);
        health.set_blocker("stream", Some("failed".into()));
        assert_eq!(health.snapshot()["blockers"]["stream"], "failed");
        health.set_check("stream", None);
        assert!(!health.is_ready());
        health.set_blocker("stream", None);
        assert!(health.is_ready());
    }
}
