//! Reading a credential header that must appear at most once.

/// The value of a credential header (`authorization`, `dl-signature`) from all its occurrences:
/// `None` when it is absent, its value when it is given once, and an empty value when it is given
/// more than once.
///
/// A header given twice is ambiguous: a proxy in front of a service and the service itself could
/// each read another of the values (HTTP's `HeaderMap::get` reads the first, others the last), so
/// a caller could be authenticated as one and checked as the other. The empty value is refused by
/// verification ([`crate::JwtVerifier::verify_bearer`]: `AUTH_MISSING_TOKEN`), the same answer as
/// the worker gives for a Kafka message with two `authorization` headers.
pub fn sole_header_value<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    let mut values = values.into_iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(b"");
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthConfig, AuthError, JwtVerifier};

    #[test]
    fn absent_once_twice() {
        assert_eq!(sole_header_value(Vec::<&[u8]>::new()), None);
        assert_eq!(
            sole_header_value([b"Bearer a".as_slice()]),
            Some(b"Bearer a".as_slice())
        );
        assert_eq!(
            sole_header_value([b"Bearer a".as_slice(), b"Bearer a".as_slice()]),
            Some(b"".as_slice())
        );
        assert_eq!(
            sole_header_value([b"Bearer a".as_slice(), b"Bearer b", b"Bearer c"]),
            Some(b"".as_slice())
        );
    }

    /// Regression (issue 16, JWT attack suite): the gateway read the first of two
    /// `authorization` headers and authenticated the request; the ambiguous value is refused.
    #[tokio::test]
    async fn a_duplicated_header_is_refused_by_verification() {
        let cfg: AuthConfig = serde_json::from_value(serde_json::json!({
            "issuers": [{
                "issuer": "https://issuer.example",
                "jwks_url": "https://127.0.0.1:9/jwks",
                "audiences": ["urn:dl"],
                "algorithms": ["ES256"],
            }],
            "http_timeout": "100ms",
        }))
        .expect("config");
        let verifier = JwtVerifier::new(cfg).await.expect("verifier");
        let header = sole_header_value([b"Bearer x.y.z".as_slice(), b"Bearer x.y.z"]);
        assert_eq!(
            verifier.verify_bearer(header).await,
            Err(AuthError::MissingToken)
        );
    }
}
