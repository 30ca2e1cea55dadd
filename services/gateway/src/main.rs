//! `dl-gateway`: the HTTP Core API of Decision Layer (contract: `services/gateway/openapi.yaml`,
//! served at `/openapi.json`; guide: docs/gateway.md).
//!
//! It is a Kafka client like any integrating system: `POST /v1/decisions` produces a
//! `DecisionRequest` with the caller's `authorization` header, so the worker stays the one place that decides who may ask what, and waits for the result on the
//! results topic (or this replica's `reply_to` topic). Reads come from the PostgreSQL
//! projection: decisions, redacted explanations, the audit report, the registry. Every route
//! gets a request id, security headers, gzip, a body limit and a timeout.

mod api;
mod limits;
mod page;
mod proofs;
mod results;
mod roles;
mod tls;
mod whatif;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// Decision Layer HTTP gateway.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Config {
    /// Kafka bootstrap servers. Further librdkafka settings: KAFKA_<PROPERTY>.
    #[arg(long, env = "DL_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Requests topic.
    #[arg(long, env = "DL_REQUESTS_TOPIC", default_value = "decision.requests")]
    requests_topic: String,
    /// Results topic read for waiting requests.
    #[arg(long, env = "DL_RESULTS_TOPIC", default_value = "decision.results")]
    results_topic: String,
    /// This replica's own results topic (must start with `decision.results` and exist): sent as
    /// `reply_to` and read instead of the shared results topic.
    #[arg(long, env = "DL_GATEWAY_REPLY_TOPIC")]
    reply_topic: Option<String>,
    /// PostgreSQL URL of the projection.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Caller authentication (the worker's `DL_AUTH_CONFIG` file: issuers, audiences, roles
    /// claim). Unset: no authentication — development only, logged loudly.
    #[arg(long, env = "DL_AUTH_CONFIG")]
    auth_config: Option<PathBuf>,
    /// Roles honoured per issuer (YAML/JSON `issuers: {<issuer>: {<token role>: auditor |
    /// case_worker}}`). Unset: no caller has a role.
    #[arg(long, env = "DL_GATEWAY_ROLES")]
    roles: Option<PathBuf>,
    /// Address of the API.
    #[arg(long, env = "DL_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Address of /metrics, /healthz, /readyz.
    #[arg(long, env = "DL_METRICS_ADDR", default_value = "127.0.0.1:9105")]
    metrics_addr: SocketAddr,
    /// Registry topic, for what-if evaluation with the real function packages.
    #[arg(long, env = "DL_REGISTRY_TOPIC", default_value = "registry.events")]
    registry_topic: String,
    /// Approver public keys (YAML) to fold the registry; unset: what-if is disabled.
    #[arg(long, env = "DL_APPROVERS_FILE")]
    approvers: Option<PathBuf>,
    /// Browser origins allowed by CORS (comma separated); none: no CORS headers.
    #[arg(long, env = "DL_GATEWAY_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Most requests waiting for their result at once (more get 503 BUSY).
    #[arg(long, env = "DL_GATEWAY_MAX_WAITING", default_value_t = 10_000)]
    max_waiting: usize,
    /// Most requests of one caller waiting at once (more get 429 TOO_MANY_WAITING).
    #[arg(long, env = "DL_GATEWAY_MAX_WAITING_PER_CALLER", default_value_t = 100)]
    max_waiting_per_caller: usize,
    /// Reads per caller and minute, on average (more get 429 RATE_LIMITED).
    #[arg(long, env = "DL_GATEWAY_READS_PER_MINUTE", default_value_t = 600.0)]
    reads_per_minute: f64,
    /// Reads one caller may make at once.
    #[arg(long, env = "DL_GATEWAY_READS_BURST", default_value_t = 100)]
    reads_burst: u32,
    /// What-ifs per caller and minute, on average (more get 429 RATE_LIMITED).
    #[arg(long, env = "DL_GATEWAY_WHAT_IF_PER_MINUTE", default_value_t = 1.0)]
    what_if_per_minute: f64,
    /// What-ifs one caller may make at once.
    #[arg(long, env = "DL_GATEWAY_WHAT_IF_BURST", default_value_t = 10)]
    what_if_burst: u32,
    /// Requests (submissions, reads, what-ifs) per tenant and minute, on average, over all its
    /// callers (more get 429 RATE_LIMITED); unset: no tenant quota (docs/tenancy.md).
    #[arg(long, env = "DL_GATEWAY_TENANT_REQUESTS_PER_MINUTE")]
    tenant_requests_per_minute: Option<f64>,
    /// Requests one tenant may make at once.
    #[arg(long, env = "DL_GATEWAY_TENANT_REQUESTS_BURST", default_value_t = 1000)]
    tenant_requests_burst: u32,
    /// Largest request body, in bytes.
    #[arg(long, env = "DL_GATEWAY_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Server certificate chain (PEM): the API is served over TLS (only). Unset: plain HTTP.
    #[arg(long, env = "DL_GATEWAY_TLS_CERT_FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "DL_GATEWAY_TLS_KEY_FILE", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// CAs of client certificates (PEM): clients may authenticate with a certificate (mTLS).
    #[arg(long, env = "DL_GATEWAY_CLIENT_CA_FILE", requires_all = ["tls_cert_file", "client_cert_issuer"])]
    client_ca_file: Option<PathBuf>,
    /// CRLs of the client CAs (PEM or DER, comma separated); every CA in a chain needs one.
    #[arg(
        long,
        env = "DL_GATEWAY_CLIENT_CRL_FILE",
        value_delimiter = ',',
        requires = "client_ca_file"
    )]
    client_crl_files: Vec<PathBuf>,
    /// Whether connections must present a client certificate.
    #[arg(
        long,
        env = "DL_GATEWAY_CLIENT_CERT_MODE",
        value_enum,
        default_value = "required"
    )]
    client_cert_mode: tls::ClientCertMode,
    /// The configured issuer (of DL_AUTH_CONFIG) whose subjects the client CAs certify: a
    /// certificate-only caller is `<issuer>|<certificate principal>` (URI, DNS, email SAN, CN).
    #[arg(
        long,
        env = "DL_GATEWAY_CLIENT_CERT_ISSUER",
        requires = "client_ca_file"
    )]
    client_cert_issuer: Option<String>,
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "dl_gateway_requests_total",
        "HTTP requests by route and status code."
    );
    describe_histogram!(
        "dl_gateway_request_seconds",
        Unit::Seconds,
        "HTTP request duration by route."
    );
    describe_histogram!(
        "dl_gateway_decision_wait_seconds",
        Unit::Seconds,
        "Time from producing a request to receiving its result, for waiting requests."
    );
    describe_gauge!(
        "dl_gateway_waiting_requests",
        "Requests waiting for their result."
    );
    describe_counter!(
        "dl_gateway_what_if_total",
        "What-if attempts by outcome (evaluated, refused_by_function, or the error code in lower case); never recorded as decisions."
    );
    describe_counter!(
        "dl_gateway_undecodable_results_total",
        "Messages of the results topic that did not decode as a DecisionResult (skipped)."
    );
    describe_counter!(
        "dl_gateway_tenant_requests_total",
        "Authenticated requests (submissions, reads, what-ifs) by tenant (declared tenants only, or default) and outcome (accepted, or rate_limited by the tenant quota)."
    );
    metrics::counter!("dl_gateway_undecodable_results_total").increment(0);
}

/// Counts requests by matched route (bounded labels: never the raw path).
async fn measure(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("dl_gateway_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("dl_gateway_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

fn router(state: Arc<api::AppState>, cfg: &Config) -> anyhow::Result<Router> {
    let x_request_id = HeaderName::from_static("x-request-id");
    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
    ];
    let mut app = Router::new()
        .route("/v1/decisions", post(api::submit).get(api::find_decision))
        .route("/v1/decisions/{decision_id}", get(api::get_decision))
        .route(
            "/v1/decisions/{decision_id}/explanation",
            get(api::get_explanation),
        )
        .route("/v1/decisions/{decision_id}/what-if", post(whatif::what_if))
        .route("/v1/decisions/{decision_id}/proof", get(proofs::get_proof))
        .route("/explanations/{decision_id}", get(api::explanation_page))
        .route("/assets/explain.css", get(api::stylesheet))
        .route("/v1/audit/report", get(api::audit_report))
        .route("/v1/functions", get(api::functions))
        .route("/openapi.json", get(api::openapi))
        .with_state(state)
        .layer(axum::middleware::from_fn(measure));
    for (name, value) in security_headers {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if !cfg.cors_origins.is_empty() {
        let origins = cfg
            .cors_origins
            .iter()
            .map(|o| HeaderValue::from_str(o).with_context(|| format!("CORS origin {o:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([x_request_id.clone()])
                .max_age(Duration::from_secs(600)),
        );
    }
    Ok(app
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(cfg.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            api::MAX_WAIT + Duration::from_secs(5),
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid)))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    dl_telemetry::init_tracing("dl-gateway");
    let telemetry =
        dl_telemetry::Telemetry::start(cfg.metrics_addr, Duration::from_secs(60)).await?;
    let health = telemetry.health.clone();
    describe_metrics();
    dl_auth::describe_metrics();
    dl_registry_kafka::describe_metrics();

    let (auth, roles) = match &cfg.auth_config {
        Some(path) => {
            let auth_cfg = dl_auth::AuthConfig::load(path)?;
            let roles = match &cfg.roles {
                Some(roles) => roles::RoleMap::load(roles, &auth_cfg)?,
                None => {
                    tracing::warn!(
                        "DL_GATEWAY_ROLES is not set: no caller has a role (auditor, case_worker)"
                    );
                    roles::RoleMap::default()
                }
            };
            let verifier = dl_auth::JwtVerifier::new(auth_cfg).await?;
            if let Some(issuer) = &cfg.client_cert_issuer {
                anyhow::ensure!(
                    verifier.issuers().any(|i| i == issuer),
                    "DL_GATEWAY_CLIENT_CERT_ISSUER must be an issuer of DL_AUTH_CONFIG"
                );
            }
            (Some(verifier), roles)
        }
        None => {
            anyhow::ensure!(
                cfg.client_ca_file.is_none(),
                "DL_GATEWAY_CLIENT_CA_FILE needs DL_AUTH_CONFIG"
            );
            tracing::warn!("AUTHENTICATION IS DISABLED (DL_AUTH_CONFIG is not set): every caller may read every decision and explanation of the default tenant; development only");
            (None, roles::RoleMap::default())
        }
    };
    // Per-caller tables hold at most this many callers with requests in flight.
    const MAX_CALLERS: usize = 100_000;
    let reads = limits::KeyedLimiter::new(cfg.reads_per_minute, cfg.reads_burst, MAX_CALLERS)?;
    let what_ifs =
        limits::KeyedLimiter::new(cfg.what_if_per_minute, cfg.what_if_burst, MAX_CALLERS)?;
    let tenant_requests = cfg
        .tenant_requests_per_minute
        .map(|rate| limits::KeyedLimiter::new(rate, cfg.tenant_requests_burst, MAX_CALLERS))
        .transpose()?;
    if let Some(topic) = &cfg.reply_topic {
        anyhow::ensure!(
            topic.starts_with("decision.results"),
            "DL_GATEWAY_REPLY_TOPIC must start with decision.results (the worker refuses other reply topics)"
        );
    }
    let waiters = results::Waiters::new(cfg.max_waiting, cfg.max_waiting_per_caller);
    let stop = Arc::new(AtomicBool::new(false));
    let results_topic = cfg.reply_topic.as_ref().unwrap_or(&cfg.results_topic);
    let _reader = results::start(&cfg.brokers, results_topic, waiters.clone(), stop.clone())?;
    let producer: rdkafka::producer::FutureProducer = dl_kafka::client_config(&cfg.brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .create()
        .context("creating the producer")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&cfg.database_url)
        .context("DATABASE_URL")?;
    let openapi: serde_json::Value = serde_yaml::from_str(include_str!("../openapi.yaml"))
        .context("the embedded openapi.yaml")?;
    let what_if = match &cfg.approvers {
        Some(path) => {
            let follower = dl_registry_kafka::follow_registry(
                &dl_registry_kafka::RegistrySource {
                    brokers: cfg.brokers.clone(),
                    topic: cfg.registry_topic.clone(),
                    approvers_file: path.clone(),
                    rebuild_timeout: Duration::from_secs(300),
                },
                dl_registry_kafka::Readiness::ClearWhenRebuilt(&health),
            )
            .await?;
            Some(whatif::WhatIf {
                registry: Arc::new(follower),
                cache: dl_function::FunctionCache::new(256),
                redactor: dl_redact::Redactor::new(None),
            })
        }
        None => {
            tracing::warn!("what-if evaluation disabled: set DL_APPROVERS_FILE");
            None
        }
    };
    let state = Arc::new(api::AppState {
        requests_topic: cfg.requests_topic.clone(),
        reply_to: cfg.reply_topic.clone(),
        producer,
        request_codec: dl_schema::request_codec(),
        waiters,
        pool: pool.clone(),
        auth,
        cert_issuer: cfg.client_cert_issuer.clone(),
        roles,
        reads,
        what_ifs,
        tenant_requests,
        openapi,
        what_if,
    });
    let app = router(state, &cfg)?;
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("binding {}", cfg.addr))?;
    tracing::info!(addr = %cfg.addr, "serving the API");
    // Readiness follows the database; the loop below is the heartbeat.
    {
        let health = health.clone();
        tokio::spawn(async move {
            loop {
                health.beat();
                let why = sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .err()
                    .map(|e| e.to_string());
                health.set_blocker("postgres", why);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
    let stopping = async {
        dl_telemetry::shutdown_signal().await;
        tracing::info!("stopping");
    };
    match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert_file), Some(key_file)) => {
            let tls = tls::server_config(&tls::TlsSettings {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                client_ca_file: cfg.client_ca_file.clone(),
                client_crl_files: cfg.client_crl_files.clone(),
                mode: cfg.client_cert_mode,
            })?;
            tracing::info!(
                client_certificates = cfg.client_ca_file.is_some(),
                "serving the API over TLS"
            );
            let listener = tls::TlsListener::new(listener, tls)?;
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<tls::ClientCert>(),
            )
            .with_graceful_shutdown(stopping)
            .await?;
        }
        _ => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await?
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every route of the router is in openapi.yaml and every path there is routed.
    #[test]
    fn openapi_lists_exactly_the_routes() {
        let source = include_str!("main.rs");
        let mut routed: Vec<&str> = source
            .split(".route(\n            \"")
            .skip(1)
            .chain(source.split(".route(\"").skip(1))
            .filter_map(|rest| rest.split('"').next())
            .filter(|p| p.starts_with('/'))
            .collect();
        routed.sort();
        routed.dedup();
        let spec: serde_json::Value =
            serde_yaml::from_str(include_str!("../openapi.yaml")).expect("openapi.yaml parses");
        let mut documented: Vec<&str> = spec["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort();
        assert_eq!(routed, documented);
        assert!(routed.len() >= 6, "{routed:?}");
    }
}
