//! Hostile inputs never panic and are always rejected (no identity provider needed).

use dl_auth::{AuthConfig, CallerIdentity, IssuerConfig, JwtVerifier};

mod common;
use common::b64;

/// Small deterministic generator (xorshift) so failures are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % (max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn garbage_is_rejected_without_panics() {
    // An issuer whose keys cannot be fetched (closed port).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let mut cfg = AuthConfig::new(vec![IssuerConfig::new(
        &issuer,
        format!("{issuer}/.well-known/openid-configuration"),
        vec!["aud".into()],
        vec!["ES256".into(), "EdDSA".into()],
    )]);
    cfg.allow_insecure_http = true;
    let v = JwtVerifier::new(cfg).await.unwrap();
    let id = CallerIdentity::new(&issuer, "x");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let headers = [
        r#"{"alg":"ES256","kid":"k"}"#.to_string(),
        r#"{"alg":"none"}"#.to_string(),
        r#"{"alg":["ES256"],"kid":{}}"#.to_string(),
        r#"{"alg":"EdDSA","kid":"k","crit":"b64"}"#.to_string(),
        "null".to_string(),
    ];
    for i in 0..2000 {
        let raw = rng.bytes(300);
        let h = &headers[i % headers.len()];
        let claims = format!(
            r#"{{"iss":"{issuer}","exp":{},"aud":{},"sub":{}}}"#,
            ["1e400", "-1", "\"x\"", "9223372036854775807"][i % 4],
            ["[]", "null", "\"aud\"", "[1,2]"][(i / 4) % 4],
            ["\"\"", "1", "\"s\"", "[]"][(i / 16) % 4],
        );
        let structured = format!("Bearer {}.{}.{}", b64(h), b64(&claims), b64(&raw));
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend_from_slice(&raw);
        for input in [raw.clone(), prefixed, structured.into_bytes()] {
            assert!(v.verify_bearer(Some(&input)).await.is_err());
        }
        let jws = format!("{}..{}", b64(h), b64(&raw));
        assert!(v
            .verify_detached_signature(&id, jws.as_bytes(), &raw)
            .await
            .is_err());
        assert!(v.verify_detached_signature(&id, &raw, &raw).await.is_err());
    }
}
