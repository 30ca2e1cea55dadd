//! Cross-check of a projected `decisions` row against its ledger record.

use dl_schema::{LedgerRecord, LedgerRecordKind};
use serde_json::Value;

use crate::breaks::{Break, BreakKind};

/// `decisions.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    /// `DECIDED`.
    Decided,
    /// `REJECTED`.
    Rejected,
}

/// A `decisions` row as projected (`migrations/`), with times in milliseconds and dates in days
/// since 1970-01-01. JSON columns as `serde_json::Value`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// `decision_id`.
    pub decision_id: String,
    /// `request_id`.
    pub request_id: String,
    /// `caller`.
    pub caller: Option<String>,
    /// `status` (`None`: a value other than DECIDED/REJECTED).
    pub status: Option<OutcomeStatus>,
    /// `function_id`.
    pub function_id: String,
    /// `function_version`.
    pub function_version: Option<String>,
    /// `function_digest`.
    pub function_digest: Option<String>,
    /// `rejection_code`.
    pub rejection_code: Option<String>,
    /// `rejection_message`.
    pub rejection_message: Option<String>,
    /// `input`.
    pub input: Option<Value>,
    /// `output`.
    pub output: Option<Value>,
    /// `reasons`.
    pub reasons: Value,
    /// `legal_basis`.
    pub legal_basis: Vec<String>,
    /// `as_of` (days).
    pub as_of: Option<i64>,
    /// `issued_at` (ms).
    pub issued_at: Option<i64>,
    /// `decided_at` (ms).
    pub decided_at: i64,
    /// `ledger_hash`.
    pub ledger_hash: String,
    /// `source_topic`.
    pub source_topic: String,
    /// `source_partition`.
    pub source_partition: i32,
    /// `source_offset`.
    pub source_offset: i64,
    /// `signature_algorithm`.
    pub signature_algorithm: Option<String>,
    /// `signature_key_id`.
    pub signature_key_id: Option<String>,
    /// `signature_value`.
    pub signature_value: Option<String>,
}

/// PostgreSQL cannot store NUL; the projection stores U+FFFD instead (`dl-store`).
fn pg(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(&text.replace("\\u0000", "\\ufffd")).unwrap_or(Value::Null)
}

/// JSON equality where numbers compare by value (jsonb normalises `1.0e2` to `100`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        (Value::String(x), Value::String(y)) => pg(x) == pg(y),
        _ => a == b,
    }
}

impl DecisionRow {
    /// Compares this row with the ledger record it points to; the first differing column is a
    /// `DECISION_ROW_MISMATCH` (expected = from the record, found = in the row; input and output
    /// values are never printed, only the column name).
    pub fn check(&self, record: &LedgerRecord) -> Option<Break> {
        let mismatch = |column: &str, expected: String, found: String| {
            Some(
                Break::new(
                    &record.chain_id,
                    Some(record.sequence),
                    BreakKind::DecisionRowMismatch,
                    format!("decisions.{column} differs from the ledger record"),
                )
                .differs(expected, found),
            )
        };
        let hidden = |column: &str| {
            mismatch(
                column,
                "the ledger record's value".into(),
                "another value".into(),
            )
        };
        let opt = |o: &Option<String>| o.as_deref().map(pg).unwrap_or_else(|| "null".into());
        if self.ledger_hash != record.hash {
            return mismatch("ledger_hash", record.hash.clone(), self.ledger_hash.clone());
        }
        match (record.kind, &record.decision, &record.rejection) {
            (LedgerRecordKind::DecisionRecorded, Some(d), _) => {
                let checks: [(&str, String, String); 8] = [
                    ("status", "DECIDED".into(), status(self.status)),
                    ("decision_id", pg(&d.decision_id), self.decision_id.clone()),
                    ("request_id", pg(&d.request_id), self.request_id.clone()),
                    ("caller", opt(&d.caller), opt(&self.caller)),
                    ("function_id", pg(&d.function_id), self.function_id.clone()),
                    (
                        "function_version",
                        pg(&d.function_version),
                        opt(&self.function_version),
                    ),
                    (
                        "function_digest",
                        pg(&d.function_digest),
                        opt(&self.function_digest),
                    ),
                    (
                        "decided_at",
                        d.decided_at.to_string(),
                        self.decided_at.to_string(),
                    ),
                ];
                for (c, e, f) in checks {
                    if e != f {
                        return mismatch(c, e, f);
                    }
                }
                if !json_eq(
                    &json_text(&d.input),
                    self.input.as_ref().unwrap_or(&Value::Null),
                ) {
                    return hidden("input");
                }
                if !json_eq(
                    &json_text(&d.output),
                    self.output.as_ref().unwrap_or(&Value::Null),
                ) {
                    return hidden("output");
                }
                let reasons = serde_json::to_value(&d.reasons).unwrap_or_default();
                if !json_eq(&reasons, &self.reasons) {
                    return hidden("reasons");
                }
                let basis: Vec<String> = d.legal_basis.iter().map(|s| pg(s)).collect();
                if basis != self.legal_basis {
                    return mismatch("legal_basis", basis.join(" "), self.legal_basis.join(" "));
                }
                if d.as_of.map(i64::from) != self.as_of {
                    return mismatch(
                        "as_of",
                        fmt_opt(d.as_of.map(i64::from)),
                        fmt_opt(self.as_of),
                    );
                }
                if Some(d.issued_at) != self.issued_at {
                    return mismatch(
                        "issued_at",
                        d.issued_at.to_string(),
                        fmt_opt(self.issued_at),
                    );
                }
                let sig = d.signature.as_ref();
                let sig_checks = [
                    (
                        "signature_algorithm",
                        sig.map(|s| pg(&s.algorithm)),
                        self.signature_algorithm.clone(),
                    ),
                    (
                        "signature_key_id",
                        sig.map(|s| pg(&s.key_id)),
                        self.signature_key_id.clone(),
                    ),
                    (
                        "signature_value",
                        sig.map(|s| pg(&s.value)),
                        self.signature_value.clone(),
                    ),
                ];
                for (c, e, f) in sig_checks {
                    if e != f {
                        return mismatch(c, opt(&e), opt(&f));
                    }
                }
                self.check_source(record, &d.source)
            }
            (LedgerRecordKind::RequestRejected, _, Some(j)) => {
                let checks: [(&str, String, String); 8] = [
                    ("status", "REJECTED".into(), status(self.status)),
                    ("decision_id", pg(&j.decision_id), self.decision_id.clone()),
                    ("request_id", pg(&j.request_id), self.request_id.clone()),
                    ("caller", opt(&j.caller), opt(&self.caller)),
                    ("function_id", pg(&j.function_id), self.function_id.clone()),
                    (
                        "function_version",
                        opt(&j.function_version),
                        opt(&self.function_version),
                    ),
                    ("rejection_code", pg(&j.code), opt(&self.rejection_code)),
                    (
                        "decided_at",
                        j.decided_at.to_string(),
                        self.decided_at.to_string(),
                    ),
                ];
                for (c, e, f) in checks {
                    if e != f {
                        return mismatch(c, e, f);
                    }
                }
                if Some(pg(&j.message)) != self.rejection_message {
                    return hidden("rejection_message");
                }
                if self.output.as_ref().is_some_and(|v| !v.is_null()) {
                    return hidden("output");
                }
                self.check_source(record, &j.source)
            }
            _ => Some(
                Break::new(
                    &record.chain_id,
                    Some(record.sequence),
                    BreakKind::DecisionRowMismatch,
                    "a decisions row points to a record that is not an outcome",
                )
                .differs(
                    "DECISION_RECORDED or REQUEST_REJECTED",
                    record.kind.as_str(),
                ),
            ),
        }
    }

    fn check_source(&self, record: &LedgerRecord, s: &dl_schema::SourcePosition) -> Option<Break> {
        let expected = format!("{}:{}@{}", pg(&s.topic), s.partition, s.offset);
        let found = format!(
            "{}:{}@{}",
            self.source_topic, self.source_partition, self.source_offset
        );
        (expected != found).then(|| {
            Break::new(
                &record.chain_id,
                Some(record.sequence),
                BreakKind::DecisionRowMismatch,
                "decisions.source_* differ from the ledger record",
            )
            .differs(expected, found)
        })
    }
}

fn status(s: Option<OutcomeStatus>) -> String {
    match s {
        Some(OutcomeStatus::Decided) => "DECIDED".into(),
        Some(OutcomeStatus::Rejected) => "REJECTED".into(),
        None => "other".into(),
    }
}

fn fmt_opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "null".into())
}
