//! Declarative topology and its idempotent application.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use serde::Deserialize;
use thiserror::Error;

/// One topic.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor.
    #[serde(default = "one")]
    pub replication_factor: i32,
    /// Topic configuration (cleanup.policy, retention.ms, ...).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Record name of the Avro schema of the topic's values (`DecisionRequest`, ...), which
    /// `dlctl topology apply` registers under `<topic>-value` when a Schema Registry is set.
    #[serde(default)]
    pub value_schema: Option<String>,
}

fn one() -> i32 {
    1
}

/// A consumer group and what it reads (documentation and validation only; groups are created
/// by their first member).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group id.
    pub id: String,
    /// Topics consumed.
    pub topics: Vec<String>,
}

/// The whole topology.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Topics.
    pub topics: Vec<TopicSpec>,
    /// Consumer groups.
    #[serde(default)]
    pub consumer_groups: Vec<GroupSpec>,
}

/// Why a topology could not be read or applied.
#[derive(Debug, Error)]
pub enum TopologyError {
    /// File not readable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid YAML of the expected shape.
    #[error("invalid topology: {0}")]
    Parse(String),
    /// Violates a rule.
    #[error("invalid topology: {0}")]
    Invalid(String),
    /// The broker refused an operation.
    #[error("broker refused {operation} on {topic}: {message}")]
    Broker {
        /// What was attempted.
        operation: &'static str,
        /// Topic.
        topic: String,
        /// Broker's message.
        message: String,
    },
    /// Client error.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// What `apply` did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ApplyReport {
    /// Topics created.
    pub created: Vec<String>,
    /// Topics whose partition count was raised: (name, from, to).
    pub grown: Vec<(String, i32, i32)>,
    /// Topics already as declared.
    pub unchanged: Vec<String>,
    /// Configs the broker would not alter (topic, message): reported, not fatal.
    pub config_warnings: Vec<(String, String)>,
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: &Path) -> Result<Self, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates topology YAML.
    pub fn parse(text: &str) -> Result<Self, TopologyError> {
        let t: Topology =
            serde_yaml::from_str(text).map_err(|e| TopologyError::Parse(e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    /// Finds a topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }

    fn validate(&self) -> Result<(), TopologyError> {
        let mut seen = std::collections::HashSet::new();
        for t in &self.topics {
            let valid_name = !t.name.is_empty()
                && t.name.len() <= 249
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid_name {
                return Err(TopologyError::Invalid(format!(
                    "bad topic name {:?}",
                    t.name
                )));
            }
            if !seen.insert(&t.name) {
                return Err(TopologyError::Invalid(format!(
                    "topic {} declared twice",
                    t.name
                )));
            }
            if t.partitions < 1 || t.partitions > 10_000 || t.replication_factor < 1 {
                return Err(TopologyError::Invalid(format!(
                    "topic {}: partitions and replication must be >= 1",
                    t.name
                )));
            }
        }
        if let (Some(req), Some(led)) = (
            self.topic("decision.requests"),
            self.topic("decision.ledger"),
        ) {
            if req.partitions != led.partitions {
                return Err(TopologyError::Invalid(format!(
                    "decision.ledger has {} partitions but decision.requests has {}: they must be equal (one chain per request partition)",
                    led.partitions, req.partitions
                )));
            }
        }
        for g in &self.consumer_groups {
            if let Some(missing) = g.topics.iter().find(|t| self.topic(t).is_none()) {
                return Err(TopologyError::Invalid(format!(
                    "group {} reads undeclared topic {missing}",
                    g.id
                )));
            }
        }
        Ok(())
    }

    /// Creates missing topics, grows partition counts, and sets declared configs. Never deletes
    /// or shrinks anything. Safe to run any number of times.
    pub async fn apply(&self, config: &ClientConfig) -> Result<ApplyReport, TopologyError> {
        let admin: AdminClient<DefaultClientContext> = config.create()?;
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))?;
        let existing: BTreeMap<String, i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let mut report = ApplyReport::default();

        let missing: Vec<&TopicSpec> = self
            .topics
            .iter()
            .filter(|t| !existing.contains_key(&t.name))
            .collect();
        if !missing.is_empty() {
            let new: Vec<NewTopic> = missing
                .iter()
                .map(|t| {
                    let mut n = NewTopic::new(
                        &t.name,
                        t.partitions,
                        TopicReplication::Fixed(t.replication_factor),
                    );
                    for (k, v) in &t.config {
                        n = n.set(k, v);
                    }
                    n
                })
                .collect();
            for result in admin.create_topics(new.iter(), &opts).await? {
                match result {
                    Ok(name) => report.created.push(name),
                    Err((name, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                        report.unchanged.push(name)
                    }
                    Err((name, code)) => {
                        return Err(TopologyError::Broker {
                            operation: "create",
                            topic: name,
                            message: code.to_string(),
                        })
                    }
                }
            }
        }

        for t in self
            .topics
            .iter()
            .filter(|t| existing.contains_key(&t.name))
        {
            let have = existing[&t.name];
            if have < t.partitions {
                let grow = NewPartitions::new(&t.name, t.partitions as usize);
                for r in admin.create_partitions([&grow], &opts).await? {
                    r.map_err(|(topic, code)| TopologyError::Broker {
                        operation: "grow",
                        topic,
                        message: code.to_string(),
                    })?;
                }
                report.grown.push((t.name.clone(), have, t.partitions));
            } else {
                if have > t.partitions {
                    tracing::warn!(topic = %t.name, have, declared = t.partitions, "topic has more partitions than declared; partitions are never removed");
                }
                report.unchanged.push(t.name.clone());
            }
            if !t.config.is_empty() {
                let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&t.name));
                for (k, v) in &t.config {
                    alter = alter.set(k, v);
                }
                match admin.alter_configs([&alter], &opts).await {
                    Ok(results) => {
                        for r in results {
                            if let Err((_, code)) = r {
                                report
                                    .config_warnings
                                    .push((t.name.clone(), code.to_string()));
                            }
                        }
                    }
                    Err(e) => report.config_warnings.push((t.name.clone(), e.to_string())),
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_topology_is_valid() {
        let t = Topology::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../topology/topics.yaml"
        )))
        .unwrap();
        assert_eq!(
            t.topic("decision.ledger").unwrap().partitions,
            t.topic("decision.requests").unwrap().partitions
        );
        assert_eq!(
            t.topic("explain.views").unwrap().config["cleanup.policy"],
            "compact"
        );
    }

    #[test]
    fn rule_violations_are_refused() {
        let unequal = "topics:\n - {name: decision.requests, partitions: 4}\n - {name: decision.ledger, partitions: 2}\n";
        assert!(
            matches!(Topology::parse(unequal), Err(TopologyError::Invalid(m)) if m.contains("must be equal"))
        );
        assert!(Topology::parse("topics:\n - {name: 'a b', partitions: 1}\n").is_err());
        assert!(Topology::parse("topics:\n - {name: a, partitions: 0}\n").is_err());
        assert!(Topology::parse("topics:\n - {name: a, partitions: 1, extra: 1}\n").is_err());
        assert!(
            Topology::parse("topics: [{name: a, partitions: 1}, {name: a, partitions: 1}]")
                .is_err()
        );
        assert!(Topology::parse("topics: []\nconsumer_groups: [{id: g, topics: [b]}]").is_err());
    }
}
