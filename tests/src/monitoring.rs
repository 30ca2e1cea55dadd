//! The Grafana dashboards (`deploy/grafana/dashboards/*.json`) and Prometheus rules
//! (`deploy/prometheus/rules/*.yml`) of the deployment: their PromQL expressions and the metric
//! names those use, for the tests that hold them to what the services export
//! (`tests/tests/metrics.rs`) and to the compose file (`tests/tests/compose.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;

use crate::repo;

/// Folder of the dashboards.
pub const DASHBOARDS_DIR: &str = "deploy/grafana/dashboards";
/// Folder of the rule files.
pub const RULES_DIR: &str = "deploy/prometheus/rules";
/// Folder of the rule files' `promtool test rules` tests (one per rule file, same name).
pub const RULE_TESTS_DIR: &str = "deploy/prometheus/tests";

/// One PromQL expression and where it comes from (`file: panel or rule`).
#[derive(Debug, Clone)]
pub struct Query {
    /// Where: file and panel title or rule name.
    pub origin: String,
    /// The expression as written (Grafana variables included).
    pub expr: String,
}

/// Files of `dir` (relative to the repository) ending in `ext`, sorted.
pub fn files(dir: &str, ext: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join(dir)).with_context(|| dir.to_string())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every dashboard, parsed: (file name, JSON).
pub fn dashboards() -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    files(DASHBOARDS_DIR, "json")?
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)?;
            let json = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Ok((file_name(&path), json))
        })
        .collect()
}

/// Every rule file, parsed: (file name, YAML).
pub fn rule_files() -> anyhow::Result<Vec<(String, serde_yaml::Value)>> {
    files(RULES_DIR, "yml")?
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)?;
            let yaml = serde_yaml::from_str(&text)
                .with_context(|| format!("{} is not YAML", path.display()))?;
            Ok((file_name(&path), yaml))
        })
        .collect()
}

/// The panels of a dashboard, rows' nested panels included (rows themselves left out).
pub fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// The queries of every dashboard panel.
pub fn dashboard_queries(dashboards: &[(String, serde_json::Value)]) -> Vec<Query> {
    let mut out = Vec::new();
    for (file, d) in dashboards {
        for p in panels(d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(Query {
                    origin: format!("{file}: panel {}", p["title"]),
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    out
}

/// The rules of every group of a rule file.
pub fn rules(file: &serde_yaml::Value) -> Vec<&serde_yaml::Value> {
    file["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .collect()
}

/// The `expr` of every rule.
pub fn rule_queries(files: &[(String, serde_yaml::Value)]) -> Vec<Query> {
    let mut out = Vec::new();
    for (file, y) in files {
        for r in rules(y) {
            let name = r["record"].as_str().or(r["alert"].as_str()).unwrap_or("?");
            out.push(Query {
                origin: format!("{file}: {name}"),
                expr: r["expr"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    out
}

/// The series names the recording rules define.
pub fn recorded_names(files: &[(String, serde_yaml::Value)]) -> BTreeSet<String> {
    files
        .iter()
        .flat_map(|(_, y)| rules(y))
        .filter_map(|r| r["record"].as_str().map(str::to_string))
        .collect()
}

/// Every metric name used by a query, with the queries using it.
pub fn used_names(queries: &[Query]) -> BTreeMap<String, Vec<String>> {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for q in queries {
        for name in metric_names(&q.expr) {
            used.entry(name).or_default().push(q.origin.clone());
        }
    }
    used
}

/// Words of PromQL that are not series names (when they are not followed by `(`).
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "offset", "bool", "atan2", "inf", "nan",
];
/// Modifiers followed by a list of label names in parentheses (`group_left` and `group_right`
/// may stand alone); never series names.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Index just past the bracket that closes the one at `open` (strings inside skipped).
fn past_closing(chars: &[char], open: usize, close: char) -> usize {
    let opening = chars[open];
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = past_string(chars, i);
                continue;
            }
            c if c == opening => depth += 1,
            c if c == close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// Index just past the string literal starting at `open` (backslash escapes except in `…`).
fn past_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The series names a PromQL expression selects: identifiers used as vector selectors (bare or
/// before `{`). Left out: string literals (label values, `label_replace` arguments), label
/// matchers, range and subquery durations (`[5m]`, `[$__rate_interval]`), numbers and durations
/// (`offset 30m`), Grafana variables, functions and aggregations (identifiers before `(`), the
/// label lists of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`, and keywords.
/// Recording-rule names (`level:metric:op`) are returned like any other name.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = past_string(&chars, i),
            '{' => i = past_closing(&chars, i, '}'),
            '[' => i = past_closing(&chars, i, ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // Numbers, durations (30m, 1h30m), hex and exponents (1e3, 1e-3).
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || chars[i] == '_'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
            }
            c if is_name_start(c) => {
                let start = i;
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let lower = word.to_ascii_lowercase();
                // `sum by (le) (…)`: an aggregation followed by its grouping.
                let next_word: String = chars[next..]
                    .iter()
                    .take_while(|c| is_name_char(**c))
                    .collect::<String>()
                    .to_ascii_lowercase();
                let followed_by_paren =
                    chars.get(next) == Some(&'(') || next_word == "by" || next_word == "without";
                if LABEL_LISTS.contains(&lower.as_str()) {
                    if followed_by_paren {
                        i = past_closing(&chars, next, ')');
                    }
                } else if !followed_by_paren && !KEYWORDS.contains(&lower.as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The names of the samples in a Prometheus text exposition (histograms as their `_bucket`,
/// `_sum` and `_count` series).
pub fn exposition_names(body: &str) -> BTreeSet<String> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn metric_names_are_the_selected_series() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.99, sum by (le, stage) (rate(dl_worker_stage_seconds_bucket{job="x", code=~"A|b"}[$__rate_interval])))"#
            ),
            ["dl_worker_stage_seconds_bucket"]
        );
        assert_eq!(
            names(
                "sum by (kind) (a_total) > (sum by (kind) (a_total offset 30m) or sum(a_total) by (kind) * 0)"
            ),
            ["a_total"]
        );
        assert_eq!(
            names(r#"label_replace(sum by (job) (lag), "stream", "dl_worker", "", "")"#),
            ["lag"]
        );
        assert_eq!(
            names("x > 0 unless on (job, instance) group_left (tenant) y_total > 1e-3 * on(a) group_right z"),
            ["x", "y_total", "z"]
        );
        assert_eq!(
            names(
                r#"dl:lag:sum{stream=~"a|b"} > 1000 and delta(dl:lag:sum{stream="a"}[10m]) >= 0 # note: not_a_metric"#
            ),
            ["dl:lag:sum"]
        );
        assert_eq!(
            names("time() - max by (instance) (ts_seconds) + vector(1) * 0x1F + Inf"),
            ["ts_seconds"]
        );
        assert_eq!(
            names("max_over_time(up_down[1h:1m]) @ start() bool == ignoring(a) other"),
            ["other", "up_down"]
        );
    }

    #[test]
    fn exposition_names_are_the_sample_names() {
        let body = "# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"0.1\"} 1\na_seconds_sum 0.05\na_seconds_count 1\nb_total 3\nc{x=\"y z\"} 1\n";
        assert_eq!(
            exposition_names(body).into_iter().collect::<Vec<_>>(),
            [
                "a_seconds_bucket",
                "a_seconds_count",
                "a_seconds_sum",
                "b_total",
                "c"
            ]
        );
    }
}
