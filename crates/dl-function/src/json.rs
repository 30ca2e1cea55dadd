//! JSON comparison helpers for tests: numbers are equal when their values are equal.

use serde_json::Value;

/// Whether two JSON values are equal, comparing numbers by value (`1` equals `1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Lists the differences between `expected` and `actual` as `pointer: expected X, got Y` lines.
pub fn diff(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", expected, actual, &mut out);
    out
}

fn diff_at(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}/{k}");
                match a.get(k) {
                    Some(av) => diff_at(&p, ev, av, out),
                    None => out.push(format!("{p}: expected {ev}, missing")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("{path}/{k}: unexpected, got {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff_at(&format!("{path}/{i}"), ev, av, out);
            }
        }
        _ if json_eq(expected, actual) => {}
        _ => {
            let p = if path.is_empty() { "/" } else { path };
            out.push(format!("{p}: expected {expected}, got {actual}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_by_value() {
        assert!(json_eq(&json!({"a": [1.0, 2]}), &json!({"a": [1, 2.0]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1.5})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn diff_lists_paths() {
        let d = diff(
            &json!({"a": 1, "b": {"c": true}}),
            &json!({"a": 2, "b": {"c": true}, "x": 0}),
        );
        assert_eq!(
            d,
            vec![
                "/a: expected 1, got 2".to_string(),
                "/x: unexpected, got 0".to_string()
            ]
        );
    }
}
