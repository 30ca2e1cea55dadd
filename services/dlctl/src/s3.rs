//! S3-compatible object storage for the ledger archive (ADR 0031): `s3://bucket/prefix`
//! locations and a client configured like dl-signer's KMS client (rustls with ring, tokio).
//!
//! Settings: `DL_S3_ENDPOINT` (LocalStack, moto, MinIO, a VPC endpoint; otherwise the AWS
//! standard `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, otherwise AWS), `AWS_REGION` (default
//! `us-east-1` when none is configured; with `DL_S3_ENDPOINT` no instance metadata service is
//! asked for it), credentials from the AWS default chain
//! (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profile, IMDS/ECS role), and
//! `DL_S3_PATH_STYLE` = `true`|`false` (path-style addressing `endpoint/bucket/key`; default true
//! when an endpoint is set, as local servers need).

use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

/// A bucket and a key prefix (without leading or trailing `/`; empty for the bucket's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let Some(rest) = s.strip_prefix("s3://") else {
            bail!("{s:?} is not an s3://bucket/prefix location");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("{s:?} names no bucket");
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The key of `path` (relative to the prefix).
    pub fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    /// `path` of `key` relative to the prefix (`None` when the key is not under it).
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A client from the environment (module documentation).
pub async fn client() -> anyhow::Result<aws_sdk_s3::Client> {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(120))
        .build();
    let endpoint = env("DL_S3_ENDPOINT");
    let path_style = match env("DL_S3_PATH_STYLE").map(|v| v.to_ascii_lowercase()) {
        Some(v) if v == "true" || v == "1" => true,
        Some(v) if v == "false" || v == "0" => false,
        Some(v) => bail!("DL_S3_PATH_STYLE={v:?}: use true or false"),
        None => {
            endpoint.is_some()
                || env("AWS_ENDPOINT_URL_S3").is_some()
                || env("AWS_ENDPOINT_URL").is_some()
        }
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts);
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint.clone());
        // A local server ignores the region: do not look for one on an instance metadata
        // service that is not there.
        if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    let shared = loader.load().await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(path_style);
    if shared.region().is_none() {
        config = config.region(aws_config::Region::new("us-east-1"));
    }
    Ok(aws_sdk_s3::Client::from_conf(config.build()))
}

/// A short error: the service's code and message, or the SDK's (a connection or timeout error).
fn sdk_error<E>(e: SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            anyhow::anyhow!(
                "{}: {} (HTTP {})",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message"),
                se.raw().status().as_u16()
            )
        }
        _ => anyhow::anyhow!("{}", DisplayErrorContext(e)),
    }
}

/// Every key under `loc`'s prefix, in S3's order (lexicographic).
pub async fn list(client: &aws_sdk_s3::Client, loc: &S3Location) -> anyhow::Result<Vec<String>> {
    let prefix = if loc.prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", loc.prefix)
    };
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(&loc.bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("listing {loc}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(keys)
}

/// The bytes of object `key`.
pub async fn get(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> anyhow::Result<Vec<u8>> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("reading s3://{bucket}/{key}"))?;
    let body = out
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?;
    Ok(body.into_bytes().to_vec())
}

/// The user metadata `name` of object `key` (`x-amz-meta-<name>`).
pub async fn metadata(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let out = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("reading the metadata of s3://{bucket}/{key}"))?;
    Ok(out.metadata().and_then(|m| m.get(name)).cloned())
}

/// Writes object `key` with `bytes` and user metadata.
pub async fn put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    metadata: &[(&str, String)],
) -> anyhow::Result<()> {
    let mut req = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/octet-stream")
        .body(ByteStream::from(bytes));
    for (k, v) in metadata {
        req = req.metadata(*k, v);
    }
    req.send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("writing s3://{bucket}/{key}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = S3Location::parse("s3://b/a/b/").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("b", "a/b"));
        assert_eq!(l.key("c:0/x"), "a/b/c:0/x");
        assert_eq!(l.relative("a/b/c:0/x"), Some("c:0/x"));
        assert_eq!(l.relative("a/bc/x"), None);
        assert_eq!(l.to_string(), "s3://b/a/b");
        let root = S3Location::parse("s3://b").unwrap();
        assert_eq!((root.key("x"), root.relative("x")), ("x".into(), Some("x")));
        assert!(S3Location::parse("s3:///x").is_err());
        assert!(S3Location::parse("kafka").is_err());
    }
}
