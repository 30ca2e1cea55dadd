//! Online resolution of legal references, its PostgreSQL cache and the freshness watch of the
//! registry (an adapter of the pure `dl-registry` core: this crate owns the HTTP client).
//!
//! The cache table (`legal_reference_cache`) is this crate's own memo of what the sources said,
//! read and written only here; it is not part of the read model that `dl-store` owns. The
//! changes it finds become registry events (`LEGAL_REFERENCE_STATUS_CHANGED`), produced by the
//! caller with `dl_registry_kafka::RegistryWriter::legal_status_changed`.
//!
//! Sources (base URLs configurable, so tests serve recorded responses locally):
//!
//! * **Finlex open data** (`https://opendata.finlex.fi/finlex/avoindata/v1`):
//!   `GET {base}/akn/fi/act/statute-consolidated/{year}/{number}/fin@` returns the consolidated
//!   act as Akoma Ntoso 3.0 XML. Read: the title (`docTitle`), the date of the latest
//!   consolidated expression (`FRBRExpression/FRBRdate/@date`) and a repeal in the lifecycle
//!   (`eventRef` with `type="repeal"`). HTTP 404: `NOT_FOUND`.
//! * **EUR-Lex / CELLAR** (`https://publications.europa.eu`): the CELLAR SPARQL endpoint
//!   `GET {base}/webapi/rdf/sparql?query=...&format=application/sparql-results+json` with a query
//!   on the CDM ontology by CELEX number (`resource_legal_id_celex`), reading
//!   `resource_legal_in-force`, the English `expression_title` and the latest
//!   `act_consolidated_date`. No binding: `NOT_FOUND`; in force false: `REPEALED`.
//!
//! Only what is needed is read from the bodies: a small scanner for the few XML elements (no
//! XML library) and serde for the W3C SPARQL JSON results format.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use dl_legal::{Jurisdiction, LegalRef};
use dl_schema::{LegalReferenceStatusChanged, LegalStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use thiserror::Error;

use dl_registry::{Registry, VersionState};

/// Registers help text for the freshness watch's metrics (call once per process that runs it).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "dl_registry_legal_resolution_failures_total",
        "Legal references the freshness watch could not resolve."
    );
}

/// Default Finlex open data base URL.
pub const FINLEX_BASE: &str = "https://opendata.finlex.fi/finlex/avoindata/v1";
/// Default CELLAR base URL.
pub const CELLAR_BASE: &str = "https://publications.europa.eu";

/// Resolution failures (network, unexpected responses). A failed check changes nothing.
#[derive(Debug, Error)]
pub enum ResolveError {
    /// HTTP client failure.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// Unexpected HTTP status.
    #[error("{url}: unexpected HTTP status {status}")]
    Status {
        /// URL.
        url: String,
        /// Status code.
        status: u16,
    },
    /// The body is not in the documented shape.
    #[error("{url}: unexpected response body: {message}")]
    Body {
        /// URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Cache failure.
    #[error("cache: {0}")]
    Cache(#[from] sqlx::Error),
}

/// Which service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Finlex open data.
    Finlex,
    /// EUR-Lex CELLAR.
    EurLex,
}

impl Source {
    /// `FINLEX` or `EURLEX`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finlex => "FINLEX",
            Self::EurLex => "EURLEX",
        }
    }
}

/// What a source says about an act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The act's key: `http://data.finlex.fi/eli/sd/{year}/{number}` or `CELEX:{number}`.
    pub act: String,
    /// Source.
    pub source: Source,
    /// `IN_FORCE`, `REPEALED` or `NOT_FOUND` (never `AMENDED`: that is a comparison).
    pub status: LegalStatus,
    /// Title.
    pub title: Option<String>,
    /// Latest consolidated version date.
    pub latest_consolidated: Option<NaiveDate>,
    /// SHA-256 of the response body (hex).
    pub response_sha256: String,
}

/// Base URLs and timeout of the resolver.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Finlex open data base URL.
    pub finlex_base: String,
    /// CELLAR base URL.
    pub cellar_base: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            finlex_base: FINLEX_BASE.into(),
            cellar_base: CELLAR_BASE.into(),
            timeout: Duration::from_secs(20),
        }
    }
}

/// The act key a reference resolves under (version, language and subdivisions dropped).
pub fn act_key(r: &LegalRef) -> String {
    match r.jurisdiction() {
        Jurisdiction::Fi => format!("http://data.finlex.fi/eli/sd/{}/{}", r.year(), r.number()),
        _ => format!("CELEX:{}", r.base_celex().unwrap_or_default()),
    }
}

/// HTTP client of Finlex open data and CELLAR.
#[derive(Debug, Clone)]
pub struct LegalResolver {
    client: reqwest::Client,
    cfg: ResolverConfig,
}

impl LegalResolver {
    /// A resolver with `cfg`.
    pub fn new(cfg: ResolverConfig) -> Result<Self, ResolveError> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent(concat!("decision-layer/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, cfg })
    }

    /// Resolves the act of `r` at its source.
    pub async fn resolve(&self, r: &LegalRef) -> Result<Resolution, ResolveError> {
        match r.jurisdiction() {
            Jurisdiction::Fi => self.finlex(r.year(), r.number(), act_key(r)).await,
            _ => {
                self.cellar(&r.base_celex().unwrap_or_default(), act_key(r))
                    .await
            }
        }
    }

    async fn finlex(
        &self,
        year: u16,
        number: u32,
        act: String,
    ) -> Result<Resolution, ResolveError> {
        let url = format!(
            "{}/akn/fi/act/statute-consolidated/{year}/{number}/fin@",
            self.cfg.finlex_base.trim_end_matches('/')
        );
        let resp = self
            .client
            .get(&url)
            .header("accept", "application/xml")
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await?;
        let sha = hex::encode(Sha256::digest(body.as_bytes()));
        if status == 404 {
            return Ok(Resolution {
                act,
                source: Source::Finlex,
                status: LegalStatus::NotFound,
                title: None,
                latest_consolidated: None,
                response_sha256: sha,
            });
        }
        if status != 200 {
            return Err(ResolveError::Status { url, status });
        }
        let bad = |m: &str| ResolveError::Body {
            url: url.clone(),
            message: m.to_string(),
        };
        if element(&body, "akomaNtoso").is_none() {
            return Err(bad("not an Akoma Ntoso document"));
        }
        let expression =
            element(&body, "FRBRExpression").ok_or_else(|| bad("no FRBRExpression"))?;
        let date = start_tag(expression, "FRBRdate")
            .and_then(|t| attribute(t, "date"))
            .ok_or_else(|| bad("no FRBRExpression/FRBRdate/@date"))?;
        let latest = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| bad("FRBRdate/@date is not a date"))?;
        let title = element(&body, "docTitle").map(|t| collapse(&strip_tags(t)));
        let repealed = element(&body, "lifecycle").is_some_and(|l| {
            start_tags(l, "eventRef").any(|t| attribute(t, "type") == Some("repeal"))
        });
        Ok(Resolution {
            act,
            source: Source::Finlex,
            status: if repealed {
                LegalStatus::Repealed
            } else {
                LegalStatus::InForce
            },
            title,
            latest_consolidated: Some(latest),
            response_sha256: sha,
        })
    }

    async fn cellar(&self, celex: &str, act: String) -> Result<Resolution, ResolveError> {
        let query = format!(
            "PREFIX cdm: <http://publications.europa.eu/ontology/cdm#>\n\
             SELECT ?inForce ?title ?consolidated WHERE {{\n\
             ?work cdm:resource_legal_id_celex \"{celex}\"^^<http://www.w3.org/2001/XMLSchema#string> .\n\
             OPTIONAL {{ ?work cdm:resource_legal_in-force ?inForce }}\n\
             OPTIONAL {{ ?expr cdm:expression_belongs_to_work ?work ; cdm:expression_uses_language <http://publications.europa.eu/resource/authority/language/ENG> ; cdm:expression_title ?title }}\n\
             OPTIONAL {{ ?cons cdm:act_consolidated_consolidates_resource_legal ?work ; cdm:act_consolidated_date ?consolidated }}\n\
             }} ORDER BY DESC(?consolidated) LIMIT 1"
        );
        let url = format!(
            "{}/webapi/rdf/sparql",
            self.cfg.cellar_base.trim_end_matches('/')
        );
        let resp = self
            .client
            .get(&url)
            .query(&[
                ("query", query.as_str()),
                ("format", "application/sparql-results+json"),
            ])
            .header("accept", "application/sparql-results+json")
            .send()
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(ResolveError::Status { url, status });
        }
        let body = resp.text().await?;
        let sha = hex::encode(Sha256::digest(body.as_bytes()));
        let parsed: SparqlResults =
            serde_json::from_str(&body).map_err(|e| ResolveError::Body {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let Some(row) = parsed.results.bindings.into_iter().next() else {
            return Ok(Resolution {
                act,
                source: Source::EurLex,
                status: LegalStatus::NotFound,
                title: None,
                latest_consolidated: None,
                response_sha256: sha,
            });
        };
        let value = |k: &str| row.get(k).map(|b| b.value.clone());
        let in_force = value("inForce").map(|v| v == "true" || v == "1");
        let latest = value("consolidated")
            .and_then(|v| NaiveDate::parse_from_str(v.get(..10).unwrap_or(&v), "%Y-%m-%d").ok());
        Ok(Resolution {
            act,
            source: Source::EurLex,
            status: if in_force == Some(false) {
                LegalStatus::Repealed
            } else {
                LegalStatus::InForce
            },
            title: value("title"),
            latest_consolidated: latest,
            response_sha256: sha,
        })
    }
}

#[derive(Deserialize)]
struct SparqlResults {
    results: SparqlBindings,
}

#[derive(Deserialize)]
struct SparqlBindings {
    bindings: Vec<BTreeMap<String, SparqlTerm>>,
}

#[derive(Deserialize)]
struct SparqlTerm {
    value: String,
}

/// The inner text of the first element with local name `name` (any namespace prefix).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let (start, open) = find_start(xml, name, 0)?;
    let body_start = start + open.len();
    if open.ends_with("/>") {
        return Some("");
    }
    let mut i = body_start;
    while let Some(pos) = xml[i..].find("</") {
        let at = i + pos + 2;
        let end = xml[at..].find('>').map(|e| at + e)?;
        let tag = &xml[at..end];
        if local(tag) == name {
            return Some(&xml[body_start..i + pos]);
        }
        i = end;
    }
    None
}

fn local(tag: &str) -> &str {
    tag.rsplit(':').next().unwrap_or(tag).trim()
}

/// Finds the next start tag `<prefix:name ...>` at or after `from`; returns (position, tag text).
fn find_start<'a>(xml: &'a str, name: &str, from: usize) -> Option<(usize, &'a str)> {
    let mut i = from;
    while let Some(pos) = xml[i..].find('<') {
        let at = i + pos;
        let end = at + xml[at..].find('>')? + 1;
        let tag = &xml[at..end];
        let inner = tag.trim_start_matches('<');
        if !inner.starts_with(['/', '?', '!']) {
            let tag_name = inner
                .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .next()
                .unwrap_or("");
            if local(tag_name) == name {
                return Some((at, tag));
            }
        }
        i = end;
    }
    None
}

fn start_tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    find_start(xml, name, 0).map(|(_, t)| t)
}

fn start_tags<'a>(xml: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let (at, tag) = find_start(xml, name, from)?;
        from = at + tag.len();
        Some(tag)
    })
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// (source, status, title, latest_consolidated, response_sha256) of a cache row.
type CacheRow = (String, String, Option<String>, Option<NaiveDate>, String);

/// The `legal_reference_cache` table.
#[derive(Debug, Clone)]
pub struct LegalCache {
    pool: PgPool,
}

fn parse_status(s: &str) -> LegalStatus {
    match s {
        "REPEALED" => LegalStatus::Repealed,
        "NOT_FOUND" => LegalStatus::NotFound,
        "AMENDED" => LegalStatus::Amended,
        _ => LegalStatus::InForce,
    }
}

impl LegalCache {
    /// The cache on `pool` (migrations applied).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The cached resolution of an act.
    pub async fn get(&self, act: &str) -> Result<Option<Resolution>, sqlx::Error> {
        let row: Option<CacheRow> =
            sqlx::query_as("SELECT source, status, title, latest_consolidated, response_sha256 FROM legal_reference_cache WHERE iri = $1")
                .bind(act)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(
            |(source, status, title, latest_consolidated, response_sha256)| Resolution {
                act: act.to_string(),
                source: if source == "FINLEX" {
                    Source::Finlex
                } else {
                    Source::EurLex
                },
                status: parse_status(&status),
                title,
                latest_consolidated,
                response_sha256,
            },
        ))
    }

    /// Stores a fresh resolution.
    pub async fn put(&self, r: &Resolution) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO legal_reference_cache (iri, source, status, title, latest_consolidated, fetched_at, response_sha256)
             VALUES ($1,$2,$3,$4,$5,now(),$6)
             ON CONFLICT (iri) DO UPDATE SET source = EXCLUDED.source, status = EXCLUDED.status, title = EXCLUDED.title,
               latest_consolidated = EXCLUDED.latest_consolidated, fetched_at = now(), response_sha256 = EXCLUDED.response_sha256",
        )
        .bind(&r.act)
        .bind(r.source.as_str())
        .bind(r.status.as_str())
        .bind(&r.title)
        .bind(r.latest_consolidated)
        .bind(&r.response_sha256)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The acts cited by every version that is not retired, by act key.
pub fn referenced_acts(registry: &Registry) -> BTreeMap<String, LegalRef> {
    let mut acts = BTreeMap::new();
    for e in registry
        .all_versions()
        .filter(|e| e.state != VersionState::Retired)
    {
        for b in &e.manifest().legal_basis {
            if let Ok(r) = LegalRef::parse(&b.iri) {
                acts.entry(act_key(&r)).or_insert(r);
            }
        }
    }
    acts
}

/// One freshness round: resolves every act referenced by a non-retired version, compares with
/// the cache and returns a `LEGAL_REFERENCE_STATUS_CHANGED` body for each change (a first
/// sighting is recorded silently unless the act is already repealed or unknown). The cache is
/// updated; produce the returned bodies with `RegistryWriter::legal_status_changed`. An act whose
/// source cannot be reached is skipped (logged) and checked again next round.
pub async fn check_freshness(
    resolver: &LegalResolver,
    cache: &LegalCache,
    registry: &Registry,
    now_ms: i64,
) -> Result<Vec<LegalReferenceStatusChanged>, ResolveError> {
    let mut changes = Vec::new();
    for (act, r) in referenced_acts(registry) {
        let fresh = match resolver.resolve(&r).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(act, error = %e, "legal reference resolution failed; will retry");
                metrics::counter!("dl_registry_legal_resolution_failures_total").increment(1);
                continue;
            }
        };
        let cached = cache.get(&act).await?;
        let change = match &cached {
            None if fresh.status == LegalStatus::InForce => None,
            None => Some((
                None,
                fresh.status,
                format!(
                    "first resolution: {} at {}",
                    fresh.status.as_str(),
                    fresh.source.as_str()
                ),
            )),
            Some(old) if old.status != fresh.status => Some((
                Some(old.status),
                fresh.status,
                format!(
                    "status changed from {} to {}",
                    old.status.as_str(),
                    fresh.status.as_str()
                ),
            )),
            Some(old)
                if old.latest_consolidated != fresh.latest_consolidated
                    && fresh.status == LegalStatus::InForce =>
            {
                Some((
                    Some(old.status),
                    LegalStatus::Amended,
                    format!(
                        "new consolidated version {} (was {})",
                        fresh
                            .latest_consolidated
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "none".into()),
                        old.latest_consolidated
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "none".into())
                    ),
                ))
            }
            Some(_) => None,
        };
        cache.put(&fresh).await?;
        if let Some((previous, status, detail)) = change {
            changes.push(LegalReferenceStatusChanged {
                iri: act.clone(),
                status,
                previous_status: previous,
                title: fresh.title.clone(),
                latest_consolidated: fresh.latest_consolidated.map(dl_schema::date::to_avro_days),
                detail,
                checked_at: now_ms,
            });
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_reads_prefixed_elements() {
        let xml = r#"<?xml version="1.0"?><akn:akomaNtoso xmlns:akn="x"><akn:meta><akn:FRBRWork><akn:FRBRdate date="1978-01-20" name="x"/></akn:FRBRWork>
            <akn:FRBRExpression><akn:FRBRdate date="2024-05-01" name="consolidated"/></akn:FRBRExpression></akn:meta>
            <akn:docTitle>Kuluttajan-<b>suojalaki</b> &amp; muut</akn:docTitle></akn:akomaNtoso>"#;
        let e = element(xml, "FRBRExpression").unwrap();
        assert_eq!(
            attribute(start_tag(e, "FRBRdate").unwrap(), "date"),
            Some("2024-05-01")
        );
        assert_eq!(
            collapse(&strip_tags(element(xml, "docTitle").unwrap())),
            "Kuluttajan-suojalaki & muut"
        );
        assert!(element(xml, "lifecycle").is_none());
    }

    #[test]
    fn act_keys_drop_version_and_parts() {
        let fi = LegalRef::parse("http://data.finlex.fi/eli/sd/1978/38/luku/7/pykala/14/ajantasa")
            .unwrap();
        assert_eq!(act_key(&fi), "http://data.finlex.fi/eli/sd/1978/38");
        let eu = LegalRef::parse("http://data.europa.eu/eli/reg/2016/679/art_22/oj").unwrap();
        assert_eq!(act_key(&eu), "CELEX:32016R0679");
        assert!(LegalRef::parse(&act_key(&fi)).is_ok() && LegalRef::parse(&act_key(&eu)).is_ok());
    }
}
