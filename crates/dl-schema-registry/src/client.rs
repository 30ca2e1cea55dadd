//! The REST calls: schema by id, subject lookup, latest version, registration.

use std::sync::Arc;
use std::time::Duration;

use apache_avro::schema_compatibility::SchemaCompatibility;
use dl_schema::{Schema, WriterSchema};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::{RegistryConfig, RegistryError, SchemaCache};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The subject a topic's value schema is registered under (Confluent's TopicNameStrategy).
pub fn subject_for_topic(topic: &str) -> String {
    format!("{topic}-value")
}

/// Checks BACKWARD compatibility: a reader with `new_avsc` can read data written with
/// `old_avsc` (the rule Confluent's registry applies by default).
pub fn check_backward(new_avsc: &str, old_avsc: &str) -> Result<(), String> {
    let new = Schema::parse_str(new_avsc).map_err(|e| format!("new schema: {e}"))?;
    let old = Schema::parse_str(old_avsc).map_err(|e| format!("registered schema: {e}"))?;
    SchemaCompatibility::can_read(&old, &new).map_err(|e| e.to_string())
}

/// A schema version registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredSchema {
    /// Global schema id (what the Confluent wire format carries).
    pub id: u32,
    /// Version under the subject.
    pub version: i32,
    /// The schema text.
    pub schema: String,
}

#[derive(Deserialize)]
struct SchemaById {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

/// A Schema Registry client with its bounded cache of writer schemas.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    cfg: RegistryConfig,
    http: reqwest::Client,
    cache: Arc<SchemaCache>,
}

impl SchemaRegistry {
    /// Builds the HTTP client (TLS roots, client identity) from `cfg`.
    pub fn new(cfg: RegistryConfig) -> Result<Self, RegistryError> {
        let read = |path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| RegistryError::Config(format!("cannot read {}: {e}", path.display())))
        };
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .https_only(cfg.url.starts_with("https://"));
        if let Some(ca) = &cfg.ca_file {
            for cert in reqwest::Certificate::from_pem_bundle(&read(ca)?)
                .map_err(|e| RegistryError::Config(format!("CA file: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(identity) = &cfg.client_identity_file {
            builder = builder.identity(
                reqwest::Identity::from_pem(&read(identity)?)
                    .map_err(|e| RegistryError::Config(format!("client identity: {e}")))?,
            );
        }
        let http = builder
            .build()
            .map_err(|e| RegistryError::Config(e.to_string()))?;
        let cache = Arc::new(SchemaCache::new(cfg.cache_capacity));
        Ok(Self { cfg, http, cache })
    }

    /// The cache the codec reads writer schemas from.
    pub fn cache(&self) -> Arc<SchemaCache> {
        self.cache.clone()
    }

    /// Makes sure every id in `ids` is cached, as a schema or as unknown. Fails only when the
    /// registry is unavailable (then nothing of the batch should be decoded yet).
    pub async fn fetch(&self, ids: impl IntoIterator<Item = u32>) -> Result<(), RegistryError> {
        let mut ids: Vec<u32> = ids
            .into_iter()
            .filter(|id| self.cache.needs_fetch(*id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let path = format!("/schemas/ids/{id}");
            match self
                .call::<SchemaById>(Method::GET, &path, None, "schema_by_id")
                .await?
            {
                Some(found) => match writer_schema(&found) {
                    Ok(schema) => self.cache.insert(id, schema),
                    Err(reason) => {
                        tracing::warn!(schema_id = id, %reason, "schema id not usable as an Avro writer schema");
                        self.cache.insert_unknown(id);
                    }
                },
                None => self.cache.insert_unknown(id),
            }
        }
        Ok(())
    }

    /// The id of `avsc` if it is registered under `subject`.
    pub async fn lookup(&self, subject: &str, avsc: &str) -> Result<Option<u32>, RegistryError> {
        let path = format!("/subjects/{}", encode(subject));
        let body = json!({ "schema": avsc });
        Ok(self
            .call::<RegisteredSchema>(Method::POST, &path, Some(body), "lookup")
            .await?
            .map(|r| r.id))
    }

    /// The latest version registered under `subject`, if any.
    pub async fn latest(&self, subject: &str) -> Result<Option<RegisteredSchema>, RegistryError> {
        let path = format!("/subjects/{}/versions/latest", encode(subject));
        self.call(Method::GET, &path, None, "latest").await
    }

    /// Registers `avsc` under `subject` and returns its id; idempotent. Refuses, before asking
    /// the registry, a schema that cannot read the subject's latest version (BACKWARD).
    pub async fn register(&self, subject: &str, avsc: &str) -> Result<u32, RegistryError> {
        if let Some(id) = self.lookup(subject, avsc).await? {
            return Ok(id);
        }
        if let Some(latest) = self.latest(subject).await? {
            check_backward(avsc, &latest.schema).map_err(|reason| RegistryError::Incompatible {
                subject: subject.to_owned(),
                version: latest.version,
                reason,
            })?;
        }
        let path = format!("/subjects/{}/versions", encode(subject));
        let body = json!({ "schema": avsc });
        self.call::<Registered>(Method::POST, &path, Some(body), "register")
            .await?
            .map(|r| r.id)
            .ok_or_else(|| RegistryError::Refused {
                what: format!("registration under {subject}"),
                status: 404,
                message: "not found".into(),
            })
    }

    /// One REST call with retries on connection failures and 5xx. `Ok(None)` on 404.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        operation: &'static str,
    ) -> Result<Option<T>, RegistryError> {
        let mut last = String::new();
        let mut backoff = Duration::from_millis(100);
        for attempt in 1..=self.cfg.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 3).min(Duration::from_secs(2));
            }
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.cfg.url))
                .header(reqwest::header::ACCEPT, CONTENT_TYPE);
            if let Some((user, password)) = &self.cfg.basic_auth {
                request = request.basic_auth(user, Some(password));
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .body(body.to_string());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = response.status();
            if status.is_server_error() {
                last = format!("HTTP {status}");
                continue;
            }
            let outcome = |o: &'static str| {
                metrics::counter!("dl_schema_registry_requests_total", "operation" => operation, "outcome" => o)
                    .increment(1)
            };
            if status == StatusCode::NOT_FOUND {
                outcome("not_found");
                return Ok(None);
            }
            let text = response
                .text()
                .await
                .map_err(|e| RegistryError::Unavailable {
                    attempts: attempt,
                    last: e.to_string(),
                })?;
            if !status.is_success() {
                outcome("error");
                let message = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| text.chars().take(200).collect());
                return Err(RegistryError::Refused {
                    what: format!("{operation} {path}"),
                    status: status.as_u16(),
                    message,
                });
            }
            outcome("ok");
            return serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| RegistryError::Refused {
                    what: format!("{operation} {path}"),
                    status: status.as_u16(),
                    message: format!("unreadable answer: {e}"),
                });
        }
        metrics::counter!("dl_schema_registry_requests_total", "operation" => operation, "outcome" => "unavailable")
            .increment(1);
        Err(RegistryError::Unavailable {
            attempts: self.cfg.attempts.max(1),
            last,
        })
    }
}

/// Parses a schema fetched by id as an Avro writer schema.
fn writer_schema(found: &SchemaById) -> Result<WriterSchema, String> {
    match found.schema_type.as_deref() {
        None | Some("AVRO") => {}
        Some(other) => return Err(format!("schema type {other}, not AVRO")),
    }
    if !found.references.is_empty() {
        return Err("schema references are not supported".into());
    }
    WriterSchema::parse(&found.schema).map_err(|e| e.to_string())
}

/// Percent-encodes a subject for a URL path segment.
fn encode(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
    const V2_OPTIONAL: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":["null","int"],"default":null}]}"#;
    const V2_REQUIRED: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}"#;

    #[test]
    fn backward_allows_a_new_field_with_a_default_and_refuses_one_without() {
        assert!(check_backward(V2_OPTIONAL, V1).is_ok());
        assert!(
            check_backward(V1, V2_OPTIONAL).is_ok(),
            "dropping a field is backward"
        );
        assert!(check_backward(V2_REQUIRED, V1).is_err());
    }

    #[test]
    fn subjects_follow_the_topic_name_strategy_and_are_escaped() {
        assert_eq!(
            subject_for_topic("decision.requests"),
            "decision.requests-value"
        );
        assert_eq!(encode("a b/c-value"), "a%20b%2Fc-value");
    }

    #[test]
    fn only_avro_schemas_without_references_are_writer_schemas() {
        let ok = SchemaById {
            schema: V1.into(),
            schema_type: None,
            references: vec![],
        };
        assert!(writer_schema(&ok).is_ok());
        let proto = SchemaById {
            schema: V1.into(),
            schema_type: Some("PROTOBUF".into()),
            references: vec![],
        };
        assert!(writer_schema(&proto).is_err());
        let refs = SchemaById {
            schema: V1.into(),
            schema_type: None,
            references: vec![json!({})],
        };
        assert!(writer_schema(&refs).is_err());
    }
}
