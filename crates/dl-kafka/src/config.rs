//! Client configuration.

use rdkafka::ClientConfig;

/// librdkafka properties taken from the environment: `KAFKA_SECURITY_PROTOCOL=ssl` becomes
/// `security.protocol=ssl`, `KAFKA_SSL_CA_LOCATION=/x` becomes `ssl.ca.location=/x`.
/// Values are never logged (they may be secrets).
pub fn passthrough_from_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("KAFKA_")?;
            (!rest.is_empty()).then(|| (rest.to_ascii_lowercase().replace('_', "."), v))
        })
        .collect()
}

/// Base configuration for any client of `brokers` (comma-separated `host:port`).
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers)
        .set("client.dns.lookup", "use_all_dns_ips")
        .set("socket.keepalive.enable", "true");
    for (k, v) in passthrough_from_env() {
        cfg.set(k, v);
    }
    cfg
}
