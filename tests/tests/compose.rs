//! Static checks of `docker-compose.yml` (Docker does not run here): the file must agree with
//! the code (environment names the binaries read, read from the sources at test time), with
//! `topology/topics.yaml`, with `deploy/prometheus.yml` and with the `Dockerfile`. No stack needed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dl_e2e::repo;
use serde_yaml::Value;

/// The services built from the Dockerfile.
const DL_SERVICES: [&str; 7] = [
    "worker",
    "projector",
    "explainer",
    "auditor",
    "gateway",
    "agent",
    "topology",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn compose() -> Value {
    serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let s = &compose["services"][name];
    assert!(s.is_mapping(), "docker-compose.yml has no service {name}");
    s
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A service's `environment`, as a map or as a list of `NAME=value`.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Null => BTreeMap::new(),
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| (text(k), if v.is_null() { String::new() } else { text(v) }))
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                let i = text(i);
                let (k, v) = i.split_once('=').unwrap_or((i.as_str(), ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        other => panic!("environment is neither a map nor a list: {other:?}"),
    }
}

/// A list of words, or a string split at whitespace.
fn words(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(text).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        other => panic!("not a command: {other:?}"),
    }
}

/// A service's `command` as words.
fn command(service: &Value) -> Vec<String> {
    words(&service["command"])
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Quoted strings following `marker` in the Rust sources under `dir`, with the rest of their line.
fn quoted_after(dir: &Path, marker: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("source file");
        for line in source.lines() {
            let mut rest = line;
            while let Some(at) = rest.find(marker) {
                rest = &rest[at + marker.len()..];
                if let Some(end) = rest.find('"') {
                    found.push((rest[..end].to_string(), rest[end + 1..].to_string()));
                    rest = &rest[end + 1..];
                }
            }
        }
    }
    found
}

/// Environment variables a service package reads through clap (`env = "NAME"`), with the
/// `default_value = "..."` of the same argument when it has one.
fn clap_env(package_dir: &Path) -> BTreeMap<String, Option<String>> {
    quoted_after(&package_dir.join("src"), "env = \"")
        .into_iter()
        .map(|(name, rest)| {
            let default = rest
                .split_once("default_value = \"")
                .and_then(|(_, d)| d.split_once('"'))
                .map(|(d, _)| d.to_string());
            (name, default)
        })
        .collect()
}

/// Environment variables read directly (`env::var("NAME")`) by the services and the libraries.
fn direct_env() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for top in ["services", "crates"] {
        for entry in std::fs::read_dir(repo().join(top)).expect("folder") {
            let src = entry.expect("entry").path().join("src");
            if src.is_dir() {
                // `env::var("X")`, and configs read through a lookup (`get("X")`, `num("X", ..)`).
                for marker in ["env::var(\"", "get(\"", "num(\""] {
                    names.extend(quoted_after(&src, marker).into_iter().map(|(n, _)| n));
                }
            }
        }
    }
    names
}

/// `[[bin]]` name → package folder, over `services/*/Cargo.toml`.
fn binaries() -> BTreeMap<String, PathBuf> {
    let mut bins = BTreeMap::new();
    for entry in std::fs::read_dir(repo().join("services")).expect("services/") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let mut in_bin = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if let Some(name) = line
                .strip_prefix("name = \"")
                .and_then(|n| n.strip_suffix('"'))
            {
                if in_bin {
                    bins.insert(name.to_string(), dir.clone());
                }
            }
        }
    }
    bins
}

/// The package a compose service runs: the one whose binary its command names.
fn package_of(compose: &Value, name: &str) -> (String, PathBuf) {
    let bin = command(service(compose, name))
        .into_iter()
        .next()
        .expect("a command");
    let bins = binaries();
    let dir = bins.get(&bin).unwrap_or_else(|| {
        panic!("{name} runs {bin}, which no services/*/Cargo.toml builds ({bins:?})")
    });
    (bin, dir.clone())
}

fn is_checked_name(name: &str) -> bool {
    name.starts_with("DL_") || name == "DATABASE_URL" || name == "REDIS_URL"
}

/// The value a service gets for `name`: from docker-compose.yml, else the code's default.
fn effective(
    env: &BTreeMap<String, String>,
    code: &BTreeMap<String, Option<String>>,
    name: &str,
) -> String {
    env.get(name)
        .cloned()
        .or_else(|| code.get(name).cloned().flatten())
        .unwrap_or_else(|| panic!("{name} is neither set nor defaulted"))
}

#[test]
fn the_stack_has_its_services() {
    let compose = compose();
    for name in [
        "worker",
        "projector",
        "explainer",
        "auditor",
        "gateway",
        "agent",
        "topology",
        "kafka",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
    ] {
        service(&compose, name);
    }
    let image = |name: &str| text(&service(&compose, name)["image"]);
    assert!(
        image("kafka").starts_with("apache/kafka:"),
        "Apache Kafka's official image"
    );
    assert!(
        image("postgres").starts_with("postgres:16"),
        "PostgreSQL 16"
    );
    assert!(image("redis").starts_with("redis:7"), "Redis 7");

    // KRaft single node with transactions usable on one node.
    let kafka = environment(service(&compose, "kafka"));
    for name in [
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
    ] {
        assert_eq!(
            kafka.get(name).map(String::as_str),
            Some("1"),
            "kafka: {name}"
        );
    }
    assert!(
        kafka
            .get("KAFKA_PROCESS_ROLES")
            .is_some_and(|r| r.contains("broker") && r.contains("controller")),
        "KRaft"
    );

    // One worker with a fixed id (a second one is documented, not scaled).
    assert_eq!(
        environment(service(&compose, "worker"))
            .get("DL_WORKER_ID")
            .map(String::as_str),
        Some("0")
    );
    assert!(
        service(&compose, "worker")["deploy"]["replicas"].is_null(),
        "replicas would share DL_WORKER_ID"
    );
}

#[test]
fn environment_names_are_the_ones_the_code_reads() {
    let compose = compose();
    let direct = direct_env();
    for name in DL_SERVICES {
        let (bin, package) = package_of(&compose, name);
        let code = clap_env(&package);
        assert!(
            !code.is_empty(),
            "no `env = \"...\"` found under {}",
            package.display()
        );
        let env = environment(service(&compose, name));
        for var in env.keys().filter(|v| is_checked_name(v)) {
            assert!(
                code.contains_key(var) || direct.contains(var),
                "{name} sets {var}, which {bin} does not read (it reads {:?})",
                code.keys().collect::<Vec<_>>()
            );
        }
        // The code's broker default (127.0.0.1) is wrong inside a container (for the services
        // that talk to Kafka at all).
        if !code.contains_key("DL_BROKERS") {
            continue;
        }
        let brokers = env
            .get("DL_BROKERS")
            .unwrap_or_else(|| panic!("{name}: DL_BROKERS is not set"));
        for broker in brokers.split(',') {
            let host = broker.rsplit_once(':').map(|(h, _)| h).unwrap_or(broker);
            assert!(
                compose["services"][host].is_mapping(),
                "{name}: broker host {host} is not a compose service"
            );
        }
    }

    let worker = service(&compose, "worker");
    if let Some(url) = environment(worker).get("REDIS_URL") {
        assert_eq!(
            url, "redis://redis:6379",
            "the worker's Redis is the compose redis"
        );
        assert_eq!(
            text(&worker["depends_on"]["redis"]["condition"]),
            "service_healthy",
            "worker -> redis"
        );
    }

    let projector = environment(service(&compose, "projector"));
    let postgres = environment(service(&compose, "postgres"));
    let url = projector
        .get("DATABASE_URL")
        .expect("projector: DATABASE_URL (no default) is not set");
    let db = postgres.get("POSTGRES_DB").expect("POSTGRES_DB");
    assert!(
        url.starts_with("postgres://")
            && url.contains("@postgres:5432/")
            && url.ends_with(&format!("/{db}")),
        "DATABASE_URL {url}"
    );
    if let Some(password) = postgres.get("POSTGRES_PASSWORD") {
        assert!(
            url.contains(&format!(":{password}@")),
            "DATABASE_URL must carry POSTGRES_PASSWORD"
        );
    }
}

#[test]
fn prometheus_scrapes_the_metrics_ports() {
    let compose = compose();
    let prometheus: Value = serde_yaml::from_str(&read("deploy/prometheus.yml"))
        .expect("deploy/prometheus.yml is YAML");
    let mut targets = BTreeSet::new();
    for job in prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        let path = job["metrics_path"].as_str().unwrap_or("/metrics");
        assert_eq!(path, "/metrics");
        for sc in job["static_configs"].as_sequence().expect("static_configs") {
            targets.extend(
                sc["targets"]
                    .as_sequence()
                    .expect("targets")
                    .iter()
                    .map(text),
            );
        }
    }
    let volumes: Vec<String> = service(&compose, "prometheus")["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .map(text)
        .collect();
    assert!(
        volumes
            .iter()
            .any(|v| v.starts_with("./deploy/prometheus.yml:/etc/prometheus/prometheus.yml")),
        "{volumes:?}"
    );

    let mut metrics_ports = BTreeMap::new();
    for name in DL_SERVICES {
        let s = service(&compose, name);
        let Some(addr) = environment(s).get("DL_METRICS_ADDR").cloned() else {
            let (_, package) = package_of(&compose, name);
            assert!(
                !clap_env(&package).contains_key("DL_METRICS_ADDR"),
                "{name} serves metrics: set DL_METRICS_ADDR"
            );
            continue;
        };
        let addr: SocketAddr = addr
            .parse()
            .unwrap_or_else(|e| panic!("{name}: DL_METRICS_ADDR {addr}: {e}"));
        assert!(
            addr.ip().is_unspecified(),
            "{name}: DL_METRICS_ADDR must listen on all interfaces, not {addr}"
        );
        let target = format!("{name}:{}", addr.port());
        assert!(
            targets.contains(&target),
            "prometheus does not scrape {target} (scrapes {targets:?})"
        );
        let health = words(&s["healthcheck"]["test"]);
        assert_eq!(
            health.first().map(String::as_str),
            Some("CMD"),
            "{name}: exec-form healthcheck"
        );
        assert_eq!(
            health.get(1).map(String::as_str),
            Some("curl"),
            "{name}: curl healthcheck"
        );
        assert!(
            health
                .iter()
                .any(|a| a == &format!("http://127.0.0.1:{}/healthz", addr.port())),
            "{name}: healthcheck {health:?}"
        );
        metrics_ports.insert(name.to_string(), addr.port());
    }
    assert!(
        metrics_ports.contains_key("worker") && metrics_ports.contains_key("projector"),
        "{metrics_ports:?}"
    );
    // No stale target: a target on a compose service is that service's metrics port.
    for target in &targets {
        let (host, port) = target.rsplit_once(':').expect("host:port");
        if compose["services"][host].is_mapping() {
            assert_eq!(
                metrics_ports.get(host).map(u16::to_string).as_deref(),
                Some(port),
                "stale target {target}"
            );
        }
    }
}

/// A service's volumes as (host path, container path).
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let v = text(v);
            let mut parts = v.split(':');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

/// Where `service` mounts the repository's `host` folder.
fn mounted_at(service: &Value, name: &str, host: &str) -> String {
    mounts(service)
        .into_iter()
        .find(|(h, _)| h.trim_end_matches('/') == host)
        .map(|(_, c)| c.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("{name} does not mount {host}"))
}

#[test]
fn prometheus_loads_the_rules_and_grafana_provisions_the_dashboards() {
    let compose = compose();

    // Prometheus: the rules folder is mounted where rule_files points, and holds rule files.
    let prometheus_service = service(&compose, "prometheus");
    let rules_at = mounted_at(
        prometheus_service,
        "prometheus",
        "./deploy/prometheus/rules",
    );
    let prometheus: Value = serde_yaml::from_str(&read("deploy/prometheus.yml"))
        .expect("deploy/prometheus.yml is YAML");
    let rule_files: Vec<String> = prometheus["rule_files"]
        .as_sequence()
        .expect("deploy/prometheus.yml: rule_files")
        .iter()
        .map(text)
        .collect();
    assert_eq!(rule_files, [format!("{rules_at}/*.yml")], "rule_files");
    let rules = dl_e2e::monitoring::files(dl_e2e::monitoring::RULES_DIR, "yml").expect("rules");
    assert!(
        !rules.is_empty(),
        "no rule files in deploy/prometheus/rules"
    );

    // Grafana: provisioning and dashboards mounted, the provider reads the dashboards' mount,
    // the data source is the compose Prometheus.
    let grafana = service(&compose, "grafana");
    assert!(
        text(&grafana["image"]).starts_with("grafana/grafana:"),
        "Grafana's official image"
    );
    assert_eq!(
        mounted_at(grafana, "grafana", "./deploy/grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    let dashboards_at = mounted_at(grafana, "grafana", "./deploy/grafana/dashboards");
    assert_eq!(
        text(&grafana["depends_on"]["prometheus"]["condition"]),
        "service_started"
    );
    let provider: Value = serde_yaml::from_str(&read(
        "deploy/grafana/provisioning/dashboards/decision-layer.yaml",
    ))
    .expect("dashboard provider is YAML");
    let providers = provider["providers"].as_sequence().expect("providers");
    assert!(
        providers
            .iter()
            .any(|p| text(&p["type"]) == "file" && text(&p["options"]["path"]) == dashboards_at),
        "no file provider reads {dashboards_at}: {providers:?}"
    );
    let sources: Value = serde_yaml::from_str(&read(
        "deploy/grafana/provisioning/datasources/prometheus.yaml",
    ))
    .expect("data sources are YAML");
    let sources = sources["datasources"].as_sequence().expect("datasources");
    let source = sources
        .iter()
        .find(|d| text(&d["type"]) == "prometheus")
        .expect("a Prometheus data source");
    let prometheus_port = service(&compose, "prometheus")["ports"]
        .as_sequence()
        .expect("prometheus ports")
        .iter()
        .map(text)
        .filter_map(|p| p.rsplit(':').next().map(str::to_string))
        .next()
        .expect("a prometheus port");
    assert_eq!(
        text(&source["url"]),
        format!("http://prometheus:{prometheus_port}"),
        "the data source is the compose Prometheus"
    );
    assert_eq!(
        source["isDefault"].as_bool(),
        Some(true),
        "default data source"
    );

    // Every dashboard is there, and the home dashboard is one of them.
    let dashboards = dl_e2e::monitoring::dashboards().expect("dashboards");
    for (file, _) in &dashboards {
        assert!(
            repo()
                .join("deploy/grafana/dashboards")
                .join(file)
                .is_file(),
            "{file}"
        );
    }
    if let Some(home) = environment(grafana).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH") {
        let file = home
            .strip_prefix(&format!("{dashboards_at}/"))
            .unwrap_or_else(|| panic!("home dashboard {home} is not under {dashboards_at}"));
        assert!(
            dashboards.iter().any(|(f, _)| f == file),
            "home dashboard {file} does not exist"
        );
    }
}

#[test]
fn the_workers_topics_and_groups_are_in_the_topology() {
    let compose = compose();
    let topology = dl_kafka::Topology::load(&repo().join("topology/topics.yaml"))
        .expect("topology/topics.yaml");
    let (_, worker_pkg) = package_of(&compose, "worker");
    let (_, projector_pkg) = package_of(&compose, "projector");
    let worker_code = clap_env(&worker_pkg);
    let projector_code = clap_env(&projector_pkg);
    let worker = environment(service(&compose, "worker"));
    let projector = environment(service(&compose, "projector"));

    for var in [
        "DL_REQUESTS_TOPIC",
        "DL_RESULTS_TOPIC",
        "DL_LEDGER_TOPIC",
        "DL_DLQ_TOPIC",
    ] {
        let topic = effective(&worker, &worker_code, var);
        assert!(
            topology.topic(&topic).is_some(),
            "worker {var}={topic} is not in topology/topics.yaml"
        );
    }
    let ledger = effective(&projector, &projector_code, "DL_LEDGER_TOPIC");
    assert_eq!(
        ledger,
        effective(&worker, &worker_code, "DL_LEDGER_TOPIC"),
        "worker and projector share the ledger"
    );

    let group = |id: &str| {
        topology
            .consumer_groups
            .iter()
            .find(|g| g.id == id)
            .unwrap_or_else(|| panic!("group {id} is not in the topology"))
    };
    let worker_group = group(&effective(&worker, &worker_code, "DL_GROUP_ID"));
    assert!(worker_group
        .topics
        .contains(&effective(&worker, &worker_code, "DL_REQUESTS_TOPIC")));
    let projector_group = group(&effective(
        &projector,
        &projector_code,
        "DL_PROJECTOR_GROUP_ID",
    ));
    assert!(projector_group.topics.contains(&ledger));

    // The one-shot topology service applies this very file, and the others wait for it.
    let apply = command(service(&compose, "topology"));
    assert_eq!(apply[..3], ["dlctl", "topology", "apply"]);
    for name in ["worker", "projector"] {
        assert_eq!(
            text(&service(&compose, name)["depends_on"]["topology"]["condition"]),
            "service_completed_successfully",
            "{name}"
        );
    }
}

#[test]
fn depends_on_uses_conditions_and_healthchecks() {
    let compose = compose();
    for (name, s) in compose["services"].as_mapping().expect("services") {
        let name = text(name);
        let Some(deps) = s["depends_on"].as_mapping() else {
            assert!(
                s["depends_on"].is_null(),
                "{name}: depends_on must be a map with conditions"
            );
            continue;
        };
        for (dep, spec) in deps {
            let dep = text(dep);
            let condition = text(&spec["condition"]);
            assert!(
                [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully"
                ]
                .contains(&condition.as_str()),
                "{name} -> {dep}: {condition}"
            );
            if condition == "service_healthy" {
                assert!(
                    service(&compose, &dep)["healthcheck"].is_mapping(),
                    "{name} waits for {dep} to be healthy, which has no healthcheck"
                );
            }
        }
    }
    for (name, dep) in [
        ("topology", "kafka"),
        ("worker", "kafka"),
        ("projector", "kafka"),
        ("projector", "postgres"),
    ] {
        assert_eq!(
            text(&service(&compose, name)["depends_on"][dep]["condition"]),
            "service_healthy",
            "{name} -> {dep}"
        );
    }
}

/// `COPY <src> <dest>` lines of the final stage's context copies (not `--from`).
fn context_copies(dockerfile: &str) -> Vec<(String, String)> {
    dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--"))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.len() == 2).then(|| (words[0].to_string(), words[1].to_string()))
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_what_compose_runs() {
    let compose = compose();
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("FROM rust:1-bookworm AS builder"),
        "builder stage"
    );
    assert!(
        dockerfile.contains("FROM debian:bookworm-slim"),
        "runtime stage"
    );
    assert!(
        dockerfile
            .lines()
            .any(|l| l.contains("cargo build") && l.contains("--release") && l.contains("--bins")),
        "cargo build --release --bins"
    );
    for package in ["ca-certificates", "curl"] {
        assert!(
            dockerfile
                .lines()
                .any(|l| l.contains("apt-get install") && l.contains(package)),
            "runtime installs {package}"
        );
    }
    let copies = context_copies(&dockerfile);
    for name in DL_SERVICES {
        let s = service(&compose, name);
        assert_eq!(
            text(&s["build"]["context"]),
            ".",
            "{name} builds the repository's Dockerfile"
        );
        assert_eq!(
            s["build"]["dockerfile"].as_str().unwrap_or("Dockerfile"),
            "Dockerfile"
        );
        let (bin, _) = package_of(&compose, name);
        assert!(
            dockerfile.contains(&format!("target/release/{bin} "))
                || dockerfile.contains(&format!("target/release/{bin}\n")),
            "the builder does not keep {bin}"
        );
        assert!(
            dockerfile
                .lines()
                .any(|l| l.starts_with("COPY --from=builder")
                    && l.contains(&format!("/{bin} "))
                    && l.contains("/usr/local/bin")),
            "the runtime image does not get {bin}"
        );
        // Every path in the image the service is given comes from a COPY of an existing file
        // (or from a volume mounted there).
        let env = environment(s);
        let mounted: Vec<String> = match s["volumes"].as_sequence() {
            Some(vs) => vs
                .iter()
                .filter_map(|v| text(v).split(':').nth(1).map(str::to_string))
                .collect(),
            None => Vec::new(),
        };
        let from_image = |p: &&String| {
            p.starts_with("/app/") && !mounted.iter().any(|m| p.starts_with(m.as_str()))
        };
        for path in command(s).iter().chain(env.values()).filter(from_image) {
            let (src, dest) = copies
                .iter()
                .find(|(_, dest)| path.starts_with(dest.as_str()) || format!("{path}/") == *dest)
                .unwrap_or_else(|| panic!("{name}: {path} is not copied into the image"));
            let in_repo = repo()
                .join(src)
                .join(path.strip_prefix(dest.as_str()).unwrap_or(""));
            assert!(
                in_repo.exists(),
                "{name}: {path} comes from {}, which does not exist",
                in_repo.display()
            );
        }
    }
    for dir in ["examples/", "topology/"] {
        assert!(
            copies.iter().any(|(src, _)| src == dir),
            "the image must contain {dir}"
        );
    }
}
