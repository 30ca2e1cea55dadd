//! Direct conversions between `serde_json::Value` and the interpreter's value.
//!
//! They build exactly what regorus's serde implementations build (`Value::from(serde_json::Value)`
//! deserializes, `serde_json::to_value(&regorus::Value)` serializes), without going through the
//! serde data model for every node. Where the two could differ (regorus's serde-level number
//! marker key, numbers on the way out), they hand over to the serde path, so results are
//! identical by construction.

use regorus::Value as RegoValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The key serde_json's `arbitrary_precision` feature uses for numbers; regorus's deserializer
/// turns an object whose first key it is into a number (or fails), so such input takes the
/// serde path.
const SERDE_NUMBER_KEY: &str = "$serde_json::private::Number";

/// The interpreter's value of a JSON value, as `regorus::Value::from(input)` builds it.
pub(crate) fn to_rego(input: Value) -> RegoValue {
    match direct_to_rego(&input) {
        Some(value) => value,
        None => RegoValue::from(input),
    }
}

/// `None` where only the serde path gives regorus's exact result.
fn direct_to_rego(input: &Value) -> Option<RegoValue> {
    Some(match input {
        Value::Null => RegoValue::Null,
        Value::Bool(b) => RegoValue::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                RegoValue::from(u)
            } else if let Some(i) = n.as_i64() {
                RegoValue::from(i)
            } else {
                // serde_json numbers are finite; regorus rejects non-finite ones.
                let f = n.as_f64().filter(|f| f.is_finite())?;
                RegoValue::from(f)
            }
        }
        Value::String(s) => RegoValue::String(s.as_str().into()),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(direct_to_rego(item)?);
            }
            RegoValue::from(out)
        }
        Value::Object(fields) => {
            if fields.is_empty() {
                return Some(RegoValue::new_object());
            }
            let mut out = BTreeMap::new();
            for (i, (key, value)) in fields.iter().enumerate() {
                if i == 0 && key == SERDE_NUMBER_KEY && value.is_string() {
                    return None;
                }
                out.insert(
                    RegoValue::String(key.as_str().into()),
                    direct_to_rego(value)?,
                );
            }
            RegoValue::from(out)
        }
    })
}

/// The JSON value of an interpreter value, as `serde_json::to_value(value)` builds it.
pub(crate) fn to_json(value: &RegoValue) -> Result<Value, serde_json::Error> {
    match direct_to_json(value) {
        Some(json) => Ok(json),
        None => serde_json::to_value(value),
    }
}

/// `None` where only the serde path gives the exact result (or its exact error).
fn direct_to_json(value: &RegoValue) -> Option<Value> {
    Some(match value {
        RegoValue::Null => Value::Null,
        RegoValue::Bool(b) => Value::Bool(*b),
        RegoValue::String(s) => Value::String(s.to_string()),
        // Numbers serialize through their decimal text; keep that path (one per number).
        RegoValue::Number(_) => serde_json::to_value(value).ok()?,
        RegoValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                out.push(direct_to_json(item)?);
            }
            Value::Array(out)
        }
        RegoValue::Set(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter_sorted() {
                out.push(direct_to_json(item)?);
            }
            Value::Array(out)
        }
        RegoValue::Object(fields) => {
            let mut out = Map::new();
            for (key, item) in fields.iter_sorted() {
                let RegoValue::String(key) = key else {
                    // Non-string keys are stringified by regorus's serializer.
                    return None;
                };
                out.insert(key.to_string(), direct_to_json(item)?);
            }
            Value::Object(out)
        }
        RegoValue::Undefined => Value::String("<undefined>".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same_as_serde_in(input: Value) {
        let direct = to_rego(input.clone());
        let serde = RegoValue::from(input.clone());
        assert_eq!(direct, serde, "{input}");
        // Also the same representation as far as serialization shows it.
        assert_eq!(
            serde_json::to_string(&direct).ok(),
            serde_json::to_string(&serde).ok()
        );
    }

    fn same_as_serde_out(value: RegoValue) {
        let direct = to_json(&value).map_err(|e| e.to_string());
        let serde = serde_json::to_value(&value).map_err(|e| e.to_string());
        assert_eq!(direct, serde, "{value:?}");
    }

    #[test]
    fn input_conversion_matches_serde() {
        for v in [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
            json!("x"),
            json!([]),
            json!({}),
            json!({"a": [1, {"b": null, "c": "d"}], "e": 2.25, "": {}}),
            json!({"$serde_json::private::Number": "12"}),
            json!({"$serde_json::private::Number": "x"}),
            json!({"$serde_json::private::Number": 1}),
            json!({"a": {"$serde_json::private::Number": "7"}}),
        ] {
            same_as_serde_in(v);
        }
    }

    #[test]
    fn output_conversion_matches_serde() {
        let mut set = std::collections::BTreeSet::new();
        set.insert(RegoValue::from(2u64));
        set.insert(RegoValue::from("a"));
        let mut keyed = BTreeMap::new();
        keyed.insert(RegoValue::from(1u64), RegoValue::from("one"));
        keyed.insert(RegoValue::from("1"), RegoValue::from("string one"));
        for v in [
            RegoValue::Null,
            RegoValue::Undefined,
            RegoValue::from(true),
            RegoValue::from(5000u64),
            RegoValue::from(-3i64),
            RegoValue::from(5000.0f64),
            RegoValue::from(-0.0f64),
            RegoValue::from(1.5f64),
            RegoValue::from(1e20f64),
            RegoValue::from(1_152_921_504_606_846_976.0f64),
            RegoValue::from("s"),
            RegoValue::from(set),
            RegoValue::from(keyed),
            RegoValue::from(vec![RegoValue::Undefined, RegoValue::new_object()]),
            RegoValue::from(json!({"approved": true, "limit": 50000, "reasons": [{"code": "X"}]})),
        ] {
            same_as_serde_out(v);
        }
    }
}
