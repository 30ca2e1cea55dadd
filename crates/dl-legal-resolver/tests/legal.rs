//! Legal reference resolution against recorded responses served locally, the PostgreSQL cache
//! and the freshness watch reacting to a changed response.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use dl_function::FunctionPackage;
use dl_legal::LegalRef;
use dl_legal_resolver::{check_freshness, LegalCache, LegalResolver, ResolverConfig};
use dl_registry::events;
use dl_registry::{ApproverSet, Registry};
use dl_schema::LegalStatus;

type Routes = Arc<Mutex<BTreeMap<String, String>>>;

fn recorded(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/recorded")
            .join(name),
    )
    .unwrap()
}

async fn serve(State(routes): State<Routes>, uri: Uri) -> axum::response::Response {
    let path = uri.path();
    let routes = routes.lock().unwrap().clone();
    if let Some(rest) = path.strip_prefix("/finlex/akn/fi/act/statute-consolidated/") {
        let mut parts = rest.split('/');
        let (year, number) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        return match routes.get(&format!("finlex/{year}/{number}")) {
            Some(file) => ([("content-type", "application/xml")], recorded(file)).into_response(),
            None => (StatusCode::NOT_FOUND, "not found").into_response(),
        };
    }
    if path == "/cellar/webapi/rdf/sparql" {
        let query: String = uri.query().unwrap_or_default().to_string();
        let decoded = form_decode(&query);
        assert!(
            decoded.contains("format=application/sparql-results+json"),
            "{decoded}"
        );
        let file = routes
            .iter()
            .find(|(k, _)| {
                k.strip_prefix("cellar/")
                    .is_some_and(|c| decoded.contains(&format!("\"{c}\"")))
            })
            .map(|(_, f)| f.clone());
        let body = recorded(&file.unwrap_or_else(|| "eurlex/empty.json".into()));
        return ([("content-type", "application/sparql-results+json")], body).into_response();
    }
    (StatusCode::NOT_FOUND, "no route").into_response()
}

fn form_decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) =
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn server(routes: Routes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(serve).with_state(routes);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn resolver(base: &str) -> LegalResolver {
    LegalResolver::new(ResolverConfig {
        finlex_base: format!("{base}/finlex"),
        cellar_base: format!("{base}/cellar"),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn routes(pairs: &[(&str, &str)]) -> Routes {
    Arc::new(Mutex::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

#[tokio::test]
async fn resolves_finlex_and_eurlex_from_recorded_responses() {
    let base = server(routes(&[
        ("finlex/1978/38", "finlex/1978-38.v1.xml"),
        ("finlex/2002/1412", "finlex/2002-1412.repealed.xml"),
        ("cellar/32016R0679", "eurlex/32016R0679.json"),
        ("cellar/31995L0046", "eurlex/31995L0046.json"),
    ]))
    .await;
    let r = resolver(&base);
    let ksl = r
        .resolve(
            &LegalRef::parse("http://data.finlex.fi/eli/sd/1978/38/luku/7/pykala/14/ajantasa")
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ksl.act, "http://data.finlex.fi/eli/sd/1978/38");
    assert_eq!(ksl.status, LegalStatus::InForce);
    assert_eq!(ksl.title.as_deref(), Some("Kuluttajansuojalaki"));
    assert_eq!(ksl.latest_consolidated, Some("2023-06-01".parse().unwrap()));
    let repealed = r
        .resolve(&LegalRef::parse("http://data.finlex.fi/eli/sd/2002/1412/ajantasa").unwrap())
        .await
        .unwrap();
    assert_eq!(repealed.status, LegalStatus::Repealed);
    let missing = r
        .resolve(&LegalRef::parse("http://data.finlex.fi/eli/sd/2020/1/alkup").unwrap())
        .await
        .unwrap();
    assert_eq!(missing.status, LegalStatus::NotFound);

    let gdpr = r
        .resolve(&LegalRef::parse("http://data.europa.eu/eli/reg/2016/679/oj").unwrap())
        .await
        .unwrap();
    assert_eq!(gdpr.act, "CELEX:32016R0679");
    assert_eq!(gdpr.status, LegalStatus::InForce);
    assert!(gdpr
        .title
        .unwrap()
        .contains("General Data Protection Regulation"));
    assert_eq!(
        gdpr.latest_consolidated,
        Some("2016-05-04".parse().unwrap())
    );
    let dpd = r
        .resolve(&LegalRef::parse("CELEX:31995L0046").unwrap())
        .await
        .unwrap();
    assert_eq!(dpd.status, LegalStatus::Repealed);
    let unknown = r
        .resolve(&LegalRef::parse("CELEX:32019R0001").unwrap())
        .await
        .unwrap();
    assert_eq!(unknown.status, LegalStatus::NotFound);
}

#[tokio::test]
async fn a_broken_body_is_an_error_not_a_status() {
    let base = server(routes(&[("finlex/1978/38", "eurlex/empty.json")])).await;
    let err = resolver(&base)
        .resolve(&LegalRef::parse("http://data.finlex.fi/eli/sd/1978/38/ajantasa").unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not an Akoma Ntoso document"),
        "{err}"
    );
}

async fn scratch_db() -> sqlx::PgPool {
    let admin = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run `scripts/stack.sh up && . .stack/env`");
    let name = format!("reg_legal_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    dl_store::connect_and_migrate(&url, 2).await.unwrap()
}

#[tokio::test]
async fn freshness_watch_reacts_to_a_changed_recorded_response() {
    let table = routes(&[("finlex/1978/38", "finlex/1978-38.v1.xml")]);
    let base = server(table.clone()).await;
    let r = resolver(&base);
    let cache = LegalCache::new(scratch_db().await);

    let mut registry = Registry::new(Arc::new(ApproverSet::default()));
    let pkg = FunctionPackage::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/loan_approval"),
    )
    .unwrap();
    registry.apply(&events::published(&pkg, "ann", 1)).unwrap();

    // First sighting, in force: cached, no event.
    assert!(check_freshness(&r, &cache, &registry, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        cache
            .get("http://data.finlex.fi/eli/sd/1978/38")
            .await
            .unwrap()
            .unwrap()
            .latest_consolidated,
        Some("2023-06-01".parse().unwrap())
    );
    // Unchanged response: nothing.
    assert!(check_freshness(&r, &cache, &registry, 11)
        .await
        .unwrap()
        .is_empty());

    // A new consolidated version.
    table
        .lock()
        .unwrap()
        .insert("finlex/1978/38".into(), "finlex/1978-38.v2.xml".into());
    let changes = check_freshness(&r, &cache, &registry, 12).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].status, LegalStatus::Amended);
    assert_eq!(changes[0].previous_status, Some(LegalStatus::InForce));
    assert!(
        changes[0]
            .detail
            .contains("new consolidated version 2025-01-01 (was 2023-06-01)"),
        "{}",
        changes[0].detail
    );
    registry
        .apply(&events::legal_status_changed(changes[0].clone()))
        .unwrap();
    let flagged = registry.versions("loan_approval").next().unwrap();
    assert_eq!(
        flagged.review_required.len(),
        1,
        "the function citing the act is flagged for review"
    );

    // The act is repealed.
    table.lock().unwrap().insert(
        "finlex/1978/38".into(),
        "finlex/2002-1412.repealed.xml".into(),
    );
    let changes = check_freshness(&r, &cache, &registry, 13).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].status, LegalStatus::Repealed);
    registry
        .apply(&events::legal_status_changed(changes[0].clone()))
        .unwrap();
    assert_eq!(
        registry.legal_statuses().next().unwrap().status,
        LegalStatus::Repealed
    );
    assert!(check_freshness(&r, &cache, &registry, 14)
        .await
        .unwrap()
        .is_empty());

    // The source no longer knows the act (HTTP 404).
    table.lock().unwrap().clear();
    let changes = check_freshness(&r, &cache, &registry, 15).await.unwrap();
    assert_eq!(
        changes.len(),
        1,
        "404 after repeal is reported as NOT_FOUND"
    );
    assert_eq!(changes[0].status, LegalStatus::NotFound);
}
