//! JWT attack suite (issue 16, part 6) against a running worker (tokens in the `authorization`
//! header of Kafka requests) and a running gateway (`POST /v1/decisions` over HTTP), with real
//! tokens of the local OIDC provider (`scripts/oidc/provider.mjs`) and forged ones built here:
//! `alg: none`, HMAC keyed with the provider's public key, unknown key ids (and a flood of them,
//! which must not refetch the JWKS per token), expired / not yet valid / issued in the future,
//! wrong `iss` / `aud` / `typ`, a real token of a caller allowed by another function, an oversized
//! token, a duplicated `authorization` header, a `crit` header, and `jku` / `x5u` / `jwk` headers
//! pointing at an attacker's key server (which must never be contacted).
//!
//! Each attack must be refused with its stable code (docs/rejection-codes.md) and, for invalid
//! tokens, its stable reason (the `reason` label of `dl_auth_failures_total`, also the end of the
//! rejection message). The test prints the table that docs/reliability.md ("JWT attack suite")
//! records.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dl_e2e::gateway::Api;
use dl_e2e::oidc::{bearer, Provider, CLIENT, SECRET};
use dl_e2e::{request, Scenario};
use dl_schema::DecisionResult;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};

const LOAN: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
/// Fixture whose allow list is `sub:dl-test-client` (the provider's [`CLIENT`]).
const GUARDED: &str = "guarded_loan";
/// Example whose allow list names `sub:dlctl-test` (another real client of the provider).
const OTHER_FUNCTION: &str = "loan_approval";
/// The provider's client allowed by [`OTHER_FUNCTION`] but not by [`GUARDED`].
const OTHER_FUNCTION_CLIENT: (&str, &str) = ("dlctl-test", "dlctl-test-secret");
/// Tokens with random unknown key ids sent to each service in the flood.
const FLOOD: usize = 200;
/// `jwks_min_refresh_interval` of the services under test (dl-auth's default is 30 s): short, so
/// that a flood lasting a fraction of a second would show a verifier that fetches per token, and
/// so that each flood starts with a fetch allowed.
const MIN_REFRESH: Duration = Duration::from_secs(1);

/// What a service must answer.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Evaluated (the control cases).
    Decided,
    /// Refused with this code and, for `AUTH_INVALID_TOKEN`, this reason.
    Refused(&'static str, Option<&'static str>),
}

/// One attack: the `authorization` header values it carries (two for the duplicated header),
/// the function it asks, and the expected outcome.
struct Attack {
    name: &'static str,
    what: &'static str,
    authorization: Vec<Vec<u8>>,
    function: &'static str,
    expect: Expect,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS over `header` and `claims` signed by `key` with `alg`.
fn forge(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("signing");
    format!("{input}.{sig}")
}

/// An attacker's ES256 key: its signer and public JWK with `kid`.
struct AttackerKey {
    signer: EncodingKey,
    x: String,
    y: String,
}

impl AttackerKey {
    fn generate() -> anyhow::Result<AttackerKey> {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let point = kp.public_key_raw();
        anyhow::ensure!(
            point.len() == 65 && point[0] == 4,
            "uncompressed P-256 point"
        );
        Ok(AttackerKey {
            signer: EncodingKey::from_ec_der(&kp.serialize_der()),
            x: b64(&point[1..33]),
            y: b64(&point[33..]),
        })
    }

    fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "kid": kid, "alg": "ES256", "use": "sig"})
    }

    fn sign(&self, header: Value, claims: &Value) -> String {
        forge(&header, claims, &self.signer, Algorithm::ES256)
    }
}

/// The attacker's key server: answers every request with `jwks` and counts connections. A
/// verifier that follows `jku`/`x5u` would connect here.
struct KeyServer {
    url: String,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl KeyServer {
    fn start(jwks: Value) -> anyhow::Result<KeyServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/jwks.json", listener.local_addr()?);
        let (connections, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (c, s) = (Arc::clone(&connections), Arc::clone(&stop));
        let body = jwks.to_string();
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 4096];
                        let _ = conn.read(&mut buf);
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(KeyServer {
            url,
            connections,
            stop,
        })
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// DER SubjectPublicKeyInfo of a P-256 public key (fixed prefix, then the uncompressed point).
fn p256_spki_der(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d03010703420004")
        .expect("constant hex");
    der.extend_from_slice(x);
    der.extend_from_slice(y);
    der
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Sum of the samples of `metric` whose labels contain every one of `labels` (`k="v"`).
fn metric_sum(exposition: &str, metric: &str, labels: &[&str]) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name_labels, value) = l.rsplit_once(' ')?;
            let (name, rest) = match name_labels.split_once('{') {
                Some((n, r)) => (n, r),
                None => (name_labels, ""),
            };
            (name == metric && labels.iter().all(|x| rest.contains(x)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// JWKS fetch attempts (successful or failed, not the rate-limited ones) a service reports.
fn jwks_fetches(metrics_port: u16) -> anyhow::Result<u64> {
    let (status, body) = dl_e2e::http_get(metrics_port, "/metrics")?;
    anyhow::ensure!(status == 200, "/metrics answered {status}");
    let m = "dl_auth_jwks_refreshes_total";
    Ok((metric_sum(&body, m, &["outcome=\"success\""])
        + metric_sum(&body, m, &["outcome=\"error\""])) as u64)
}

fn rejection(r: &DecisionResult) -> (&str, &str) {
    r.rejection
        .as_ref()
        .map(|j| (j.code.as_str(), j.message.as_str()))
        .unwrap_or(("DECIDED", ""))
}

/// Reads until `expected` results arrived; grouped by request id.
fn results(s: &Scenario, expected: usize) -> anyhow::Result<HashMap<String, Vec<DecisionResult>>> {
    let codec = dl_schema::result_codec();
    let mut by_id: HashMap<String, Vec<DecisionResult>> = HashMap::new();
    let read =
        tokio::task::block_in_place(|| s.read(&s.results, expected, Duration::from_secs(120)))?;
    for r in read {
        let d = codec.decode(&r.payload)?;
        by_id.entry(d.request_id.clone()).or_default().push(d);
    }
    Ok(by_id)
}

/// Produces one request with each of `authorization` as an `authorization` header (two of them
/// for the duplicated-header attack; the second spelt `Authorization`).
fn produce(
    s: &Scenario,
    id: &str,
    function: &str,
    authorization: &[Vec<u8>],
) -> anyhow::Result<()> {
    let r = request(id, function, LOAN);
    let payload = dl_schema::request_codec().encode(&r)?;
    let names = ["authorization", "Authorization"];
    let headers: Vec<(&str, &[u8])> = authorization
        .iter()
        .enumerate()
        .map(|(i, v)| (names[i.min(1)], v.as_slice()))
        .collect();
    s.send_with_headers(id, &payload, &headers)
}

/// `POST /v1/decisions` with each of `authorization` as an `Authorization` header.
async fn submit(
    api: &Api,
    id: &str,
    function: &str,
    authorization: &[Vec<u8>],
) -> anyhow::Result<(StatusCode, Value)> {
    let mut req = api
        .http
        .post(format!("{}/v1/decisions", api.base))
        .json(&json!({"function_id": function, "request_id": id, "input": serde_json::from_str::<Value>(LOAN)?}));
    for v in authorization {
        // `header` appends: two values make two header lines.
        req = req.header(reqwest::header::AUTHORIZATION, v.as_slice());
    }
    dl_e2e::gateway::answer(req.send().await?).await
}

/// Checks a gateway answer against `expect`; returns the code seen.
fn check_gateway(name: &str, expect: Expect, status: StatusCode, body: &Value) -> String {
    match expect {
        Expect::Decided => {
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
            assert_eq!(body["status"], "DECIDED", "{name}: {body}");
            "DECIDED".into()
        }
        // Authenticated, so the gateway produces it; the worker refuses it (allow list).
        Expect::Refused("AUTH_FORBIDDEN", _) => {
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
            assert_eq!(body["status"], "REJECTED", "{name}: {body}");
            assert_eq!(
                body["rejection"]["code"], "AUTH_FORBIDDEN",
                "{name}: {body}"
            );
            "AUTH_FORBIDDEN".into()
        }
        Expect::Refused(code, reason) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
            assert_eq!(body["error"]["code"], code, "{name}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            if let Some(reason) = reason {
                assert!(
                    message.ends_with(reason),
                    "{name}: reason {reason} expected: {message}"
                );
            }
            assert!(
                !message.contains("eyJ"),
                "{name}: token material in {message}"
            );
            code.to_string()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_misused_tokens_are_refused_by_worker_and_gateway() -> anyhow::Result<()> {
    let provider = Provider::start().await?;
    let s = Scenario::new("jwt-attacks", 1).await?;
    // One small function and the one whose allow list names another client.
    let writer = s.registry_writer().await?;
    for dir in ["tests/fixtures/functions", "examples"] {
        for pkg in dl_function::load_dir_of_packages(&dl_e2e::repo().join(dir))? {
            if [GUARDED, OTHER_FUNCTION].contains(&pkg.manifest().id.as_str()) {
                s.release(&writer, &pkg).await?;
            }
        }
    }
    let auth_path = s.dir().join("auth.json");
    let mut config = provider.worker_config();
    config["auth"]["jwks_min_refresh_interval"] = json!(format!("{}s", MIN_REFRESH.as_secs()));
    std::fs::write(&auth_path, serde_json::to_vec_pretty(&config)?)?;
    let auth = ("DL_AUTH_CONFIG", auth_path.display().to_string());
    let redis = (
        "REDIS_URL",
        std::env::var("REDIS_URL").context("REDIS_URL from scripts/stack.sh")?,
    );
    let worker = s.worker_with_env("a", &[auth.clone(), redis])?;
    let (gateway, gateway_port) = s.gateway("a", std::slice::from_ref(&auth))?;
    let api = Api::on_port(gateway_port).await?;

    // The provider's signing key, as published.
    let jwks = provider.jwks().await?;
    let key = &jwks["keys"][0];
    let kid = key["kid"].as_str().context("kid")?.to_string();
    let (x, y) = (
        URL_SAFE_NO_PAD.decode(key["x"].as_str().context("x")?)?,
        URL_SAFE_NO_PAD.decode(key["y"].as_str().context("y")?)?,
    );
    let spki = p256_spki_der(&x, &y);
    let public_pem = pem("PUBLIC KEY", &spki);
    let public_jwk = serde_json::to_string(key)?;

    let token = provider.token(CLIENT, SECRET).await?;
    let other_function_token = provider
        .token(OTHER_FUNCTION_CLIENT.0, OTHER_FUNCTION_CLIENT.1)
        .await?;
    let claims = provider.claims();
    let real_header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
    let with = |k: &str, v: Value| {
        let mut c = provider.claims();
        c[k] = v;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let signed = |header: Value, claims: Value| provider.sign(header, claims, false);

    let attacker = AttackerKey::generate()?;
    let server = KeyServer::start(json!({"keys": [attacker.jwk("attacker-1")]}))?;
    let hmac = |secret: &[u8], alg: Algorithm, name: &str| {
        forge(
            &json!({"alg": name, "typ": "at+jwt", "kid": kid}),
            &claims,
            &EncodingKey::from_secret(secret),
            alg,
        )
    };
    let real_sig = token.rsplit('.').next().unwrap_or_default().to_string();
    let unsigned = |alg: &str, sig: &str| {
        format!(
            "{}.{}.{sig}",
            b64(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string()),
            b64(claims.to_string())
        )
    };
    let bearer_of = |t: &str| vec![bearer(t)];
    let invalid = |reason| Expect::Refused("AUTH_INVALID_TOKEN", Some(reason));

    let attacks =
        vec![
        Attack {
            name: "control: real token",
            what: "client_credentials token of the allowed client",
            authorization: bearer_of(&token),
            function: GUARDED,
            expect: Expect::Decided,
        },
        Attack {
            name: "control: other client, its own function",
            what: "real token of dlctl-test on loan_approval (allows it)",
            authorization: bearer_of(&other_function_token),
            function: OTHER_FUNCTION,
            expect: Expect::Decided,
        },
        Attack {
            name: "alg none, no signature",
            what: "`{alg: none}` header, real claims, empty signature",
            authorization: bearer_of(&unsigned("none", "")),
            function: GUARDED,
            expect: invalid("malformed"),
        },
        Attack {
            name: "alg none, signature kept",
            what: "`{alg: none}` header with the real token's signature part",
            authorization: bearer_of(&unsigned("none", &real_sig)),
            function: GUARDED,
            expect: invalid("alg_not_allowed"),
        },
        Attack {
            name: "alg None (case)",
            what: "`{alg: None}`",
            authorization: bearer_of(&unsigned("None", &real_sig)),
            function: GUARDED,
            expect: invalid("alg_not_allowed"),
        },
        Attack {
            name: "HS256 keyed with the public key (PEM)",
            what: "HMAC-SHA256, secret = the provider key's SPKI PEM, real kid",
            authorization: bearer_of(&hmac(public_pem.as_bytes(), Algorithm::HS256, "HS256")),
            function: GUARDED,
            expect: invalid("alg_not_allowed"),
        },
        Attack {
            name: "HS256 keyed with the public key (DER)",
            what: "secret = SPKI DER",
            authorization: bearer_of(&hmac(&spki, Algorithm::HS256, "HS256")),
            function: GUARDED,
            expect: invalid("alg_not_allowed"),
        },
        Attack {
            name: "HS256 keyed with the public key (JWK)",
            what: "secret = the published JWK's JSON",
            authorization: bearer_of(&hmac(public_jwk.as_bytes(), Algorithm::HS256, "HS256")),
            function: GUARDED,
            expect: invalid("alg_not_allowed"),
        },
        Attack {
            name: "HS512 keyed with the public key (PEM)",
            what: "HMAC-SHA512, secret = SPKI PEM",
            authorization: bearer_of(&hmac(public_pem.as_bytes(), Algorithm::HS512, "HS512")),
            function: GUARDED,
            expect: invalid("alg_not_allowed"),
        },
        Attack {
            name: "kid not in the JWKS",
            what: "attacker's key, kid `attacker-1`",
            authorization: bearer_of(&attacker.sign(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": "attacker-1"}),
                &claims,
            )),
            function: GUARDED,
            expect: invalid("unknown_kid"),
        },
        Attack {
            name: "real kid, attacker's key",
            what: "attacker's signature under the provider's kid",
            authorization: bearer_of(&attacker.sign(real_header.clone(), &claims)),
            function: GUARDED,
            expect: invalid("bad_signature"),
        },
        Attack {
            name: "expired",
            what: "provider-signed, exp 10 min ago (leeway 60 s)",
            authorization: bearer_of(
                &signed(json!({}), {
                    let mut c = with("exp", json!(now - 600));
                    c["iat"] = json!(now - 900);
                    c
                })
                .await?,
            ),
            function: GUARDED,
            expect: invalid("expired"),
        },
        Attack {
            name: "not yet valid",
            what: "provider-signed, nbf in 10 min",
            authorization: bearer_of(&signed(json!({}), with("nbf", json!(now + 600))).await?),
            function: GUARDED,
            expect: invalid("not_yet_valid"),
        },
        Attack {
            name: "issued in the future",
            what: "provider-signed, iat in 10 min",
            authorization: bearer_of(&signed(json!({}), with("iat", json!(now + 600))).await?),
            function: GUARDED,
            expect: invalid("issued_in_future"),
        },
        Attack {
            name: "wrong iss",
            what: "provider-signed, iss `https://attacker.example`",
            authorization: bearer_of(
                &signed(json!({}), with("iss", json!("https://attacker.example"))).await?,
            ),
            function: GUARDED,
            expect: invalid("unknown_issuer"),
        },
        Attack {
            name: "wrong iss (trailing slash)",
            what: "provider-signed, iss = issuer + `/`",
            authorization: bearer_of(
                &signed(json!({}), with("iss", json!(format!("{}/", provider.issuer)))).await?,
            ),
            function: GUARDED,
            expect: invalid("unknown_issuer"),
        },
        Attack {
            name: "wrong aud",
            what: "provider-signed, aud `urn:someone-else`",
            authorization: bearer_of(
                &signed(json!({}), with("aud", json!("urn:someone-else"))).await?,
            ),
            function: GUARDED,
            expect: invalid("wrong_audience"),
        },
        Attack {
            name: "wrong typ",
            what: "provider-signed, typ `JWT` (e.g. an ID token)",
            authorization: bearer_of(&signed(json!({"typ": "JWT"}), claims.clone()).await?),
            function: GUARDED,
            expect: invalid("wrong_type"),
        },
        Attack {
            name: "another function's allow list",
            what: "real token of dlctl-test (allowed by loan_approval) on guarded_loan",
            authorization: bearer_of(&other_function_token),
            function: GUARDED,
            expect: Expect::Refused("AUTH_FORBIDDEN", None),
        },
        Attack {
            name: "oversized token",
            what: "provider-signed, 16 KiB of claims (limit 8 KiB)",
            authorization: bearer_of(
                &signed(json!({}), with("padding", json!("A".repeat(16 * 1024)))).await?,
            ),
            function: GUARDED,
            expect: invalid("oversized"),
        },
        Attack {
            name: "duplicated authorization (valid, valid)",
            what: "the real token twice",
            authorization: vec![bearer(&token), bearer(&token)],
            function: GUARDED,
            expect: Expect::Refused("AUTH_MISSING_TOKEN", None),
        },
        Attack {
            name: "duplicated authorization (valid, other caller)",
            what: "the real token, then dlctl-test's",
            authorization: vec![bearer(&token), bearer(&other_function_token)],
            function: GUARDED,
            expect: Expect::Refused("AUTH_MISSING_TOKEN", None),
        },
        Attack {
            name: "crit header",
            what: "provider-signed, `crit: [dl-ext]` (an extension nobody implements)",
            authorization: bearer_of(
                &provider
                    .sign_critical(
                        json!({"crit": ["dl-ext"], "dl-ext": true}),
                        claims.clone(),
                        json!({"dl-ext": true}),
                    )
                    .await?,
            ),
            function: GUARDED,
            expect: invalid("unsupported_crit"),
        },
        Attack {
            name: "jku elsewhere",
            what: "attacker's key + kid, `jku` = attacker's JWKS",
            authorization: bearer_of(&attacker.sign(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": "attacker-1", "jku": server.url}),
                &claims,
            )),
            function: GUARDED,
            expect: invalid("unknown_kid"),
        },
        Attack {
            name: "jku elsewhere, real kid",
            what: "attacker's key under the provider's kid, `jku` = attacker's JWKS",
            authorization: bearer_of(&attacker.sign(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "jku": server.url}),
                &claims,
            )),
            function: GUARDED,
            expect: invalid("bad_signature"),
        },
        Attack {
            name: "x5u elsewhere",
            what: "attacker's key + kid, `x5u` = attacker's URL",
            authorization: bearer_of(&attacker.sign(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": "attacker-1", "x5u": server.url}),
                &claims,
            )),
            function: GUARDED,
            expect: invalid("unknown_kid"),
        },
        Attack {
            name: "embedded jwk, real kid",
            what: "attacker's public key in the `jwk` header, provider's kid",
            authorization: bearer_of(&attacker.sign(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "jwk": attacker.jwk(&kid)}),
                &claims,
            )),
            function: GUARDED,
            expect: invalid("bad_signature"),
        },
    ];

    // The worker: every attack as a Kafka request.
    for (i, a) in attacks.iter().enumerate() {
        produce(&s, &format!("w-{i}"), a.function, &a.authorization)?;
    }
    s.flush()?;
    let by_id = results(&s, attacks.len())?;
    let mut worker_codes = Vec::new();
    for (i, a) in attacks.iter().enumerate() {
        let got = by_id
            .get(&format!("w-{i}"))
            .with_context(|| format!("no worker result for {}", a.name))?;
        assert_eq!(got.len(), 1, "{}: one result", a.name);
        let (code, message) = rejection(&got[0]);
        match a.expect {
            Expect::Decided => assert_eq!(code, "DECIDED", "{}: {message}", a.name),
            Expect::Refused(expected, reason) => {
                assert_eq!(code, expected, "{}: {message}", a.name);
                if let Some(reason) = reason {
                    assert!(
                        message.ends_with(reason),
                        "{}: reason {reason} expected: {message}",
                        a.name
                    );
                }
            }
        }
        assert!(
            !message.contains("eyJ"),
            "{}: token material in {message}",
            a.name
        );
        worker_codes.push(code.to_string());
    }

    // The gateway: every attack over HTTP.
    let mut gateway_codes = Vec::new();
    for (i, a) in attacks.iter().enumerate() {
        let (status, body) = submit(&api, &format!("g-{i}"), a.function, &a.authorization).await?;
        gateway_codes.push(check_gateway(a.name, a.expect, status, &body));
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        0,
        "nobody followed jku/x5u to the attacker's key server"
    );

    // The kid flood: FLOOD tokens with random unknown key ids to each service. An unknown kid
    // may be a new signing key, so the verifier fetches the JWKS again, but at most once per
    // `jwks_min_refresh_interval`: a flood lasting T costs at least 1 fetch (it starts after the
    // interval has passed) and at most 1 + ceil(T / interval) per service, not one per token.
    let flood_token = |i: usize| {
        let kid = format!("flood-{i}-{}", uuid::Uuid::new_v4().simple());
        bearer(&attacker.sign(
            json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
            &claims,
        ))
    };
    let bound =
        |elapsed: Duration| 1 + (elapsed.as_secs_f64() / MIN_REFRESH.as_secs_f64()).ceil() as u64;

    // Past the interval since any earlier fetch attempt: the flood's first token may fetch.
    tokio::time::sleep(MIN_REFRESH + Duration::from_millis(200)).await;
    let (provider_before, worker_before) = (
        provider.jwks_requests().await?,
        jwks_fetches(worker.metrics_port)?,
    );
    let started = Instant::now();
    for i in 0..FLOOD {
        produce(&s, &format!("flood-{i}"), GUARDED, &[flood_token(i)])?;
    }
    s.flush()?;
    // The gateway's decided and forbidden submissions went to the same results topic.
    let gateway_produced = gateway_codes
        .iter()
        .filter(|c| *c == "DECIDED" || *c == "AUTH_FORBIDDEN")
        .count();
    let by_id = results(&s, attacks.len() + gateway_produced + FLOOD)?;
    let worker_elapsed = started.elapsed();
    for i in 0..FLOOD {
        let got = by_id
            .get(&format!("flood-{i}"))
            .with_context(|| format!("no worker result for flood-{i}"))?;
        let (code, message) = rejection(&got[0]);
        assert_eq!(code, "AUTH_INVALID_TOKEN", "flood-{i}: {message}");
        assert!(message.ends_with("unknown_kid"), "flood-{i}: {message}");
    }
    let worker_fetches = jwks_fetches(worker.metrics_port)? - worker_before;
    let provider_worker = provider.jwks_requests().await? - provider_before;
    let worker_bound = bound(worker_elapsed);
    eprintln!(
        "worker kid flood: {FLOOD} tokens in {:.1} s, JWKS fetches {worker_fetches} (provider saw {provider_worker}), bound {worker_bound}",
        worker_elapsed.as_secs_f64()
    );
    assert!(
        (1..=worker_bound).contains(&worker_fetches),
        "worker fetched the JWKS {worker_fetches} times"
    );
    assert!(
        (1..=worker_bound).contains(&provider_worker),
        "provider served the JWKS {provider_worker} times"
    );

    tokio::time::sleep(MIN_REFRESH + Duration::from_millis(200)).await;
    let (provider_before, gateway_before) = (
        provider.jwks_requests().await?,
        jwks_fetches(gateway.metrics_port)?,
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (api, auth) = (api.clone(), flood_token(i));
            tokio::spawn(
                async move { submit(&api, &format!("gflood-{i}"), GUARDED, &[auth]).await },
            )
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await??;
        check_gateway("gateway flood", invalid("unknown_kid"), status, &body);
    }
    let gateway_elapsed = started.elapsed();
    let gateway_fetches = jwks_fetches(gateway.metrics_port)? - gateway_before;
    let provider_gateway = provider.jwks_requests().await? - provider_before;
    let gateway_bound = bound(gateway_elapsed);
    eprintln!(
        "gateway kid flood: {FLOOD} tokens in {:.1} s, JWKS fetches {gateway_fetches} (provider saw {provider_gateway}), bound {gateway_bound}",
        gateway_elapsed.as_secs_f64()
    );
    assert!(
        (1..=gateway_bound).contains(&gateway_fetches),
        "gateway fetched the JWKS {gateway_fetches} times"
    );
    assert!(
        (1..=gateway_bound).contains(&provider_gateway),
        "provider served the JWKS {provider_gateway} times"
    );

    // The table of docs/reliability.md.
    eprintln!("| attack | token | worker | gateway |");
    eprintln!("|---|---|---|---|");
    for ((a, w), g) in attacks.iter().zip(&worker_codes).zip(&gateway_codes) {
        let reason = match a.expect {
            Expect::Refused(_, Some(r)) => format!(" (`{r}`)"),
            _ => String::new(),
        };
        eprintln!(
            "| {} | {} | `{w}`{reason} | `{g}`{reason} |",
            a.name, a.what
        );
    }
    let refused = attacks
        .iter()
        .filter(|a| matches!(a.expect, Expect::Refused(..)))
        .count();
    eprintln!(
        "{refused} attacks refused by both services ({} controls decided); kid floods of {FLOOD}: worker {worker_fetches} fetches, gateway {gateway_fetches}",
        attacks.len() - refused
    );
    Ok(())
}
