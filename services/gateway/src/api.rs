//! The HTTP API (`openapi.yaml` is its contract): handlers, caller authentication and the
//! error shape `{"error": {"code", "message"}}` with stable codes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use dl_auth::{CallerIdentity, JwtVerifier};
use dl_schema::{DecisionRequest, DecisionResult, DecisionStatus};
use dl_store::read;
use dl_store::read::decisions::Decision;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::limits::KeyedLimiter;
use crate::results::{Expect, Refused, Waiters};
use crate::roles::RoleMap;
use crate::tls::ClientCert;

/// Role that may read every decision, the auditor view of explanations and the audit report.
pub const ROLE_AUDITOR: &str = "auditor";
/// Role that may read decisions and case-worker explanations of any caller.
pub const ROLE_CASE_WORKER: &str = "case_worker";
/// Header of a detached request signature (refused by the gateway: see [`submit`]).
pub const SIGNATURE_HEADER: &str = "dl-signature";
/// Longest a request may wait for its decision.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Shared state of the handlers.
pub struct AppState {
    /// Requests topic.
    pub requests_topic: String,
    /// Where results for this replica arrive (`reply_to`), when not the shared results topic.
    pub reply_to: Option<String>,
    /// Producer of requests.
    pub producer: FutureProducer,
    /// Encoder of requests (the schema is parsed once, not per request).
    pub request_codec: dl_schema::Codec<DecisionRequest>,
    /// Waiting requests.
    pub waiters: Arc<Waiters>,
    /// The projection.
    pub pool: PgPool,
    /// Bearer token verification; `None`: authentication disabled (development only).
    pub auth: Option<JwtVerifier>,
    /// The issuer whose subjects client certificates name (`DL_GATEWAY_CLIENT_CERT_ISSUER`, set
    /// whenever client certificates are accepted).
    pub cert_issuer: Option<String>,
    /// Roles honoured, per issuer.
    pub roles: RoleMap,
    /// Reads per caller.
    pub reads: KeyedLimiter,
    /// What-ifs per caller.
    pub what_ifs: KeyedLimiter,
    /// Requests (submissions, reads, what-ifs) per tenant; `None`: no tenant quota.
    pub tenant_requests: Option<KeyedLimiter>,
    /// The OpenAPI document.
    pub openapi: Value,
    /// What-if evaluation (needs the registry); `None`: disabled.
    pub what_if: Option<crate::whatif::WhatIf>,
}

/// An API error: HTTP status, stable code, message without personal data.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    pub(crate) code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `RATE_LIMITED`, with `retry-after`.
    pub(crate) fn rate_limited(what: &str, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!("too many {what} by this caller; retry later"),
            )
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no such {what}"),
        )
    }

    /// What a caller that may not read a decision gets: the same as for a decision that does
    /// not exist, so that existence is not revealed.
    pub(crate) fn not_yours(what: &str) -> Self {
        Self::not_found(what)
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AUTH_FORBIDDEN",
            "the caller may not read this",
        )
    }

    pub(crate) fn unavailable(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "{what} unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            format!("{what} is unavailable; retry later"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().saturating_add(1);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}

impl From<dl_store::StoreError> for ApiError {
    fn from(e: dl_store::StoreError) -> Self {
        Self::unavailable("the database", e)
    }
}

/// Who is calling: an identity, or anonymous when authentication is disabled.
pub enum Caller {
    /// Authenticated.
    Identified(CallerIdentity),
    /// Authentication disabled: every check passes (development only; logged at start).
    Anonymous,
}

impl Caller {
    /// The key of the caller's limits and waiter slots: `<tenant>/<principal>` with declared
    /// tenants (the worker's nonce key), so one principal string in two tenants is two callers.
    pub(crate) fn key(&self) -> String {
        match self {
            Caller::Identified(id) => match &id.tenant {
                Some(t) => format!("{t}/{}", id.principal()),
                None => id.principal(),
            },
            Caller::Anonymous => "anonymous".into(),
        }
    }

    /// The caller's tenant ([`dl_auth::DEFAULT_TENANT`] without declared tenants or
    /// authentication): every read is filtered on it.
    pub(crate) fn tenant(&self) -> &str {
        match self {
            Caller::Identified(id) => id.tenant(),
            Caller::Anonymous => dl_auth::DEFAULT_TENANT,
        }
    }

    /// The caller's declared tenant (`None`: the default tenant), whose functions are
    /// `<tenant>/<name>` in the registry.
    pub(crate) fn declared_tenant(&self) -> Option<&str> {
        match self {
            Caller::Identified(id) => id.tenant.as_deref(),
            Caller::Anonymous => None,
        }
    }

    fn has_role(&self, role: &str) -> bool {
        match self {
            Caller::Identified(id) => id.has_role(role),
            Caller::Anonymous => true,
        }
    }

    /// Whether the caller made the decision whose `caller` column is `decided_for`, or holds one
    /// of `roles`.
    pub(crate) fn may_read(&self, decided_for: Option<&str>, roles: &[&str]) -> bool {
        match self {
            Caller::Anonymous => true,
            Caller::Identified(id) => {
                decided_for.is_some_and(|c| c == id.principal())
                    || roles.iter().any(|r| id.has_role(r))
            }
        }
    }
}

/// What a request presents to authenticate: its headers and, on a TLS listener with client
/// certificates, the connection's validated certificate.
pub struct Credentials {
    /// The request headers.
    pub headers: HeaderMap,
    /// The connection's client certificate.
    pub cert: ClientCert,
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let cert = parts
            .extensions
            .get::<ConnectInfo<ClientCert>>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        Ok(Credentials {
            headers: parts.headers.clone(),
            cert,
        })
    }
}

fn auth_error(e: dl_auth::AuthError) -> ApiError {
    let (code, message) = e.rejection();
    let status = match e {
        dl_auth::AuthError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        dl_auth::AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    };
    ApiError::new(status, code, message)
}

/// The caller of a request: its bearer token, else its client certificate.
///
/// * Token only: the token (a certificate-bound token is refused: no certificate to check).
/// * Certificate and token: the token, which must be the certificate holder's (dl-auth's hybrid
///   rule: `sub` is one of the certificate's names; a `cnf.x5t#S256` binding names this
///   certificate).
/// * Certificate only: the certificate's principal as a subject of the issuer configured for
///   client certificates (`DL_GATEWAY_CLIENT_CERT_ISSUER`), without roles.
/// * Two `authorization` headers: refused `AUTH_MISSING_TOKEN`, as by the worker.
pub(crate) async fn authenticate(
    state: &AppState,
    creds: &Credentials,
) -> Result<Caller, ApiError> {
    let Some(verifier) = &state.auth else {
        return Ok(Caller::Anonymous);
    };
    // Two `authorization` headers are ambiguous and refused (the worker's rule for Kafka
    // headers); `HeaderMap::get` would read the first and ignore the other.
    let header = dl_auth::sole_header_value(
        creds
            .headers
            .get_all(axum::http::header::AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes()),
    );
    let cert = match creds.cert.0.as_deref() {
        None => None,
        Some(Ok(cert)) => Some(cert),
        Some(Err(e)) => return Err(auth_error(e.clone())),
    };
    let mut id = match (cert, header) {
        (None, header) => verifier.verify_bearer(header).await,
        (Some(cert), Some(header)) => verifier
            .verify_bearer_with_certificate(Some(header), cert)
            .await
            .and_then(|id| dl_auth::mtls::hybrid_check(&id, cert).map(|()| id)),
        (Some(cert), None) => {
            return match (&state.cert_issuer, cert.principal()) {
                (Some(issuer), Some(name)) => {
                    let mut id = CallerIdentity::new(issuer.clone(), name);
                    id.tenant = verifier.certificate_tenant(issuer).map_err(auth_error)?;
                    Ok(Caller::Identified(id))
                }
                _ => Err(auth_error(dl_auth::AuthError::MissingToken)),
            };
        }
    }
    .map_err(auth_error)?;
    state.roles.apply(&mut id);
    Ok(Caller::Identified(id))
}

/// Counts one request of the caller's tenant against its quota.
pub(crate) fn check_tenant_quota(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let tenant = caller.tenant();
    let checked = match &state.tenant_requests {
        Some(quota) => quota.check(tenant),
        None => Ok(()),
    };
    // Bounded: a caller's tenant is declared (verified identity) or the default.
    let outcome = if checked.is_ok() {
        "accepted"
    } else {
        "rate_limited"
    };
    metrics::counter!("dl_gateway_tenant_requests_total", "tenant" => tenant.to_string(), "outcome" => outcome)
        .increment(1);
    checked.map_err(|after| ApiError::rate_limited("the tenant's requests", after))
}

/// [`authenticate`], then counts one read of the caller and of its tenant.
pub(crate) async fn authenticate_read(
    state: &AppState,
    creds: &Credentials,
) -> Result<Caller, ApiError> {
    let caller = authenticate(state, creds).await?;
    check_tenant_quota(state, &caller)?;
    state
        .reads
        .check(&caller.key())
        .map_err(|after| ApiError::rate_limited("reads", after))?;
    Ok(caller)
}

/// Body of `POST /v1/decisions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    function_id: String,
    #[serde(default)]
    function_version: Option<String>,
    #[serde(default)]
    as_of: Option<NaiveDate>,
    #[serde(default)]
    request_id: Option<String>,
    input: Value,
}

/// Query of `POST /v1/decisions`.
#[derive(Debug, Deserialize)]
pub struct SubmitQuery {
    /// Wait for the result (default true).
    #[serde(default = "yes")]
    wait: bool,
    /// How long to wait, in milliseconds (default and maximum 30000).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The request-id rule shared with the worker (`dl_schema::request_id`, docs/wire-formats.md).
#[cfg(test)]
fn valid_request_id(id: &str) -> bool {
    dl_schema::request_id::validate(id).is_ok()
}

/// `POST /v1/decisions`: produce a `DecisionRequest` (the caller's `authorization` header goes
/// with it: the worker decides who may ask what) and, unless `wait=false`, wait for its result.
///
/// Submissions need a bearer token the worker can verify: a client certificate alone is not
/// forwarded (the worker cannot see the TLS session), nor is a certificate-bound token (the
/// worker cannot check its binding). A detached request signature (`dl-signature`) is refused:
/// the worker verifies it over the exact Avro message, which the gateway composes (`issued_at`,
/// `reply_to`, the input re-serialised), so no HTTP caller can have signed it; signed requests
/// are produced to Kafka directly (docs/gateway.md).
pub async fn submit(
    State(state): State<Arc<AppState>>,
    Query(q): Query<SubmitQuery>,
    creds: Credentials,
    body: Result<Json<SubmitBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &creds).await?;
    if let Caller::Identified(id) = &caller {
        if !creds
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "AUTH_MISSING_TOKEN",
                "submissions need a bearer token: a client certificate identifies readers only",
            ));
        }
        if id.cert_thumbprint.is_some() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "AUTH_BOUND_TOKEN_UNSUPPORTED",
                "the worker cannot check a certificate-bound token; submit with an unbound token",
            ));
        }
    }
    if creds.headers.contains_key(SIGNATURE_HEADER) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SIGNATURE_NOT_SUPPORTED",
            "the gateway composes the signed message, so a dl-signature cannot verify; produce signed requests to Kafka directly",
        ));
    }
    check_tenant_quota(&state, &caller)?;
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let request_id = body
        .request_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Err(e) = dl_schema::request_id::validate(&request_id) {
        return Err(ApiError::bad_request(e.to_string()));
    }
    let request = DecisionRequest {
        request_id: request_id.clone(),
        function_id: body.function_id,
        function_version: body.function_version,
        as_of: body.as_of.map(dl_schema::date::to_avro_days),
        issued_at: Utc::now().timestamp_millis(),
        input: body.input.to_string(),
        reply_to: state.reply_to.clone(),
    };
    let payload = state
        .request_codec
        .encode(&request)
        .map_err(|e| ApiError::bad_request(format!("request cannot be encoded: {e}")))?;
    // The slot is taken before producing: a refused request is not produced.
    let slot = if q.wait {
        Some(state.waiters.reserve(&caller.key()).map_err(|e| match e {
            Refused::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BUSY",
                "too many requests are waiting; retry later or do not wait",
            ),
            Refused::CallerBusy => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_WAITING",
                "this caller has too many requests waiting; retry later or do not wait",
            ),
        })?)
    } else {
        None
    };
    let mut kafka_headers = OwnedHeaders::new();
    if let Some(v) = creds.headers.get(axum::http::header::AUTHORIZATION) {
        kafka_headers = kafka_headers.insert(Header {
            key: "authorization",
            value: Some(v.as_bytes()),
        });
    }
    let started = Instant::now();
    let delivered = state
        .producer
        .send(
            FutureRecord::to(&state.requests_topic)
                .key(request_id.as_bytes())
                .payload(&payload)
                .headers(kafka_headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| ApiError::unavailable("the broker", e))?;
    // The id the worker gives this message's decision: it names this submission alone.
    let decision_id =
        dl_ledger::decision_id(&state.requests_topic, delivered.partition, delivered.offset);
    let accepted = |decision_id: &str| {
        (
            StatusCode::ACCEPTED,
            Json(json!({"request_id": request_id, "decision_id": decision_id,
                        "status": "PENDING",
                        "result": format!("/v1/decisions?request_id={request_id}")})),
        )
            .into_response()
    };
    let Some(mut slot) = slot else {
        return Ok(accepted(&decision_id));
    };
    let expect = match &caller {
        Caller::Identified(id) => Expect::Caller(id.principal()),
        Caller::Anonymous => Expect::Anyone,
    };
    let result = slot.wait_for(decision_id.clone(), expect);
    let wait = q
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(MAX_WAIT)
        .min(MAX_WAIT);
    match tokio::time::timeout(wait, result).await {
        Ok(Ok(result)) => {
            metrics::histogram!("dl_gateway_decision_wait_seconds")
                .record(started.elapsed().as_secs_f64());
            Ok((StatusCode::OK, Json(result_json(&result))).into_response())
        }
        _ => Ok(accepted(&decision_id)),
    }
}

fn result_json(r: &DecisionResult) -> Value {
    json!({
        "request_id": r.request_id,
        "decision_id": r.decision_id,
        "status": match r.status { DecisionStatus::Decided => "DECIDED", DecisionStatus::Rejected => "REJECTED" },
        "function_id": r.function_id,
        "function_version": r.function_version,
        "function_digest": r.function_digest,
        "output": r.output.as_deref().and_then(|o| serde_json::from_str::<Value>(o).ok()),
        "reasons": r.reasons,
        "legal_basis": r.legal_basis,
        "rejection": r.rejection,
        "decided_at": DateTime::from_timestamp_millis(r.decided_at).map(|t| t.to_rfc3339()),
        "ledger": r.ledger,
        "signature": r.signature,
    })
}

fn decision_json(d: Decision) -> (Option<String>, Value) {
    let v = json!({
        "decision_id": d.decision_id,
        "request_id": d.request_id,
        "status": d.status,
        "function_id": d.function_id,
        "function_version": d.function_version,
        "function_digest": d.function_digest,
        "output": d.output,
        "reasons": d.reasons,
        "legal_basis": d.legal_basis,
        "rejection": d.rejection_code.map(|code| json!({"code": code,
            "message": d.rejection_message})),
        "as_of": d.as_of,
        "decided_at": d.decided_at.to_rfc3339(),
        "ledger": {"chain_id": d.chain_id,
                   "sequence": d.sequence,
                   "hash": d.ledger_hash},
        "signature": d.signature_value.map(|value| json!({
            "algorithm": d.signature_algorithm,
            "key_id": d.signature_key_id,
            "value": value})),
    });
    (d.caller, v)
}

/// `GET /v1/decisions/{decision_id}`: a projected outcome (never its input: see the
/// explanation for what of the input may be shown). Readable by the caller that asked for it,
/// case workers and auditors; to anyone else it does not exist (404).
pub async fn get_decision(
    State(state): State<Arc<AppState>>,
    Path(decision_id): Path<String>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let decision = readable_decision(&state, &creds, &decision_id).await?;
    Ok(Json(decision_json(decision).1).into_response())
}

/// Decision `decision_id` if `creds` may read it: the caller that asked for it, case workers
/// and auditors of its tenant. Unknown, another tenant's and another caller's decisions all
/// answer 404 `NOT_FOUND` alike.
pub async fn readable_decision(
    state: &AppState,
    creds: &Credentials,
    decision_id: &str,
) -> Result<Decision, ApiError> {
    let caller = authenticate_read(state, creds).await?;
    let decision = read::decisions::decision(&state.pool, caller.tenant(), decision_id)
        .await?
        .ok_or_else(|| ApiError::not_found("decision"))?;
    if !caller.may_read(
        decision.caller.as_deref(),
        &[ROLE_AUDITOR, ROLE_CASE_WORKER],
    ) {
        return Err(ApiError::not_yours("decision"));
    }
    Ok(decision)
}

/// Query of `GET /v1/decisions`.
#[derive(Debug, Deserialize)]
pub struct FindQuery {
    request_id: String,
}

/// `GET /v1/decisions?request_id=`: the outcome of a request (the async path's result link).
pub async fn find_decision(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FindQuery>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let caller = authenticate_read(&state, &creds).await?;
    let decisions =
        read::decisions::decisions_for_request(&state.pool, caller.tenant(), &q.request_id, 20)
            .await?;
    let mut out = Vec::new();
    for decision in decisions {
        let (decided_for, v) = decision_json(decision);
        if caller.may_read(decided_for.as_deref(), &[ROLE_AUDITOR, ROLE_CASE_WORKER]) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(ApiError::not_found("decision for this request id (yet)"));
    }
    Ok(Json(json!({"decisions": out})).into_response())
}

/// Query of the explanation endpoint.
#[derive(Debug, Deserialize)]
pub struct ExplainQuery {
    #[serde(default = "subject")]
    audience: String,
}

fn subject() -> String {
    "subject".into()
}

/// `GET /v1/decisions/{decision_id}/explanation?audience=subject|case_worker|auditor`: the
/// redacted view (docs/explanations.md). Subject: the caller that asked, case workers, auditors;
/// case worker: case workers and auditors; auditor: auditors.
pub async fn get_explanation(
    State(state): State<Arc<AppState>>,
    Path(decision_id): Path<String>,
    Query(q): Query<ExplainQuery>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let caller = authenticate_read(&state, &creds).await?;
    Ok(Json(load_explanation(&state, &caller, &decision_id, &q.audience).await?).into_response())
}

/// `GET /explanations/{decision_id}?audience=`: the same view as a page for people
/// (`page.rs`), under the same rules.
pub async fn explanation_page(
    State(state): State<Arc<AppState>>,
    Path(decision_id): Path<String>,
    Query(q): Query<ExplainQuery>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let caller = authenticate_read(&state, &creds).await?;
    let e = load_explanation(&state, &caller, &decision_id, &q.audience).await?;
    Ok(crate::page::render(&e))
}

/// `GET /assets/explain.css`.
pub async fn stylesheet() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::page::STYLESHEET,
    )
        .into_response()
}

async fn load_explanation(
    state: &AppState,
    caller: &Caller,
    decision_id: &str,
    audience: &str,
) -> Result<Value, ApiError> {
    let (key, roles): (&str, &[&str]) = match audience {
        "subject" => ("SUBJECT", &[ROLE_CASE_WORKER, ROLE_AUDITOR]),
        "case_worker" => ("CASE_WORKER", &[ROLE_CASE_WORKER, ROLE_AUDITOR]),
        "auditor" => ("AUDITOR", &[ROLE_AUDITOR]),
        _ => {
            return Err(ApiError::bad_request(
                "audience must be subject, case_worker or auditor",
            ))
        }
    };
    let own = key == "SUBJECT";
    // Audiences by role are refused before looking: the answer says nothing of the decision.
    if !own && !roles.iter().any(|r| caller.has_role(r)) {
        return Err(ApiError::forbidden());
    }
    let e = read::explanations::explanation(&state.pool, caller.tenant(), decision_id, key)
        .await?
        .ok_or_else(|| ApiError::not_found("explanation (yet)"))?;
    if own && !caller.may_read(e.caller.as_deref(), roles) {
        return Err(ApiError::not_yours("explanation (yet)"));
    }
    let view = e.view;
    Ok(json!({
        "decision_id": e.decision_id,
        "request_id": e.request_id,
        "function_id": e.function_id,
        "function_version": e.function_version,
        "function_digest": e.function_digest,
        "decided_at": e.decided_at.to_rfc3339(),
        "legal_basis": e.legal_basis,
        "ledger": {"chain_id": e.chain_id,
                   "sequence": e.ledger_sequence,
                   "hash": e.ledger_hash},
        "policy": e.policy,
        "pseudonym_key_id": e.pseudonym_key_id,
        "audience": audience,
        "input": view["input"],
        "output": view["output"],
        "reasons": view["reasons"],
        "redaction": view["manifest"],
    }))
}

/// Query of `GET /v1/audit/report`.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    function_id: Option<String>,
    function_version: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

/// `GET /v1/audit/report`: docs/audit.md, for auditors.
pub async fn audit_report(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ReportQuery>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let caller = authenticate_read(&state, &creds).await?;
    if !caller.has_role(ROLE_AUDITOR) {
        return Err(ApiError::forbidden());
    }
    let scope = dl_audit::Scope {
        function_id: q.function_id,
        function_version: q.function_version,
        since: q.since,
        until: q.until,
        tenant: Some(caller.tenant().to_string()),
    };
    let report = dl_audit::AuditReport::load(&state.pool, &scope)
        .await
        .map_err(|e| ApiError::unavailable("the database", e))?;
    Ok(Json(report).into_response())
}

/// `GET /v1/functions`: the versions of the caller's tenant's functions (any authenticated
/// caller), by the names requests use (`registry_id` is the registry's `<tenant>/<name>`).
pub async fn functions(
    State(state): State<Arc<AppState>>,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let caller = authenticate_read(&state, &creds).await?;
    let tenant = caller.declared_tenant();
    let out: Vec<Value> = read::registry::function_versions(&state.pool)
        .await?
        .into_iter()
        .filter(|v| dl_schema::tenant::function_tenant(&v.function_id) == tenant)
        .map(|v| {
            let name = match v
                .function_id
                .split_once(dl_schema::tenant::TENANT_SEPARATOR)
            {
                Some((_, name)) => name.to_string(),
                None => v.function_id.clone(),
            };
            json!({
                "function_id": name,
                "registry_id": v.function_id,
                "version": v.version,
                "state": v.state,
                "digest": v.digest,
                "title": v.title,
                "effective_from": v.effective_from,
                "effective_to": v.effective_to,
            })
        })
        .collect();
    Ok(Json(json!({"versions": out})).into_response())
}

/// `GET /openapi.json`.
pub async fn openapi(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.openapi.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id("a-1_b.c:d"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id(&"x".repeat(129)));
    }

    #[test]
    fn read_rules() {
        let mut id = CallerIdentity::new("iss", "alice");
        let me = id.principal();
        let c = Caller::Identified(id.clone());
        assert!(c.may_read(Some(&me), &[ROLE_AUDITOR]));
        assert!(!c.may_read(Some("iss|bob"), &[ROLE_AUDITOR]));
        assert!(!c.may_read(None, &[ROLE_AUDITOR]));
        id.roles.push(ROLE_AUDITOR.into());
        assert!(Caller::Identified(id).may_read(Some("iss|bob"), &[ROLE_AUDITOR]));
        assert!(Caller::Anonymous.may_read(None, &[]));
    }
}
