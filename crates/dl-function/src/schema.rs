//! JSON Schema compilation and privacy-preserving error reports.

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::Value;

/// Most schema violations listed in one error message.
const MAX_REPORTED: usize = 10;

/// A compiled JSON Schema (draft 2020-12 unless the schema says otherwise; `format` asserted;
/// no remote or file references are ever fetched).
#[derive(Debug)]
pub struct Schema {
    validator: Validator,
}

impl Schema {
    /// Compiles `schema`; the message never contains instance data (there is none yet).
    pub fn compile(schema: &Value) -> Result<Self, String> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err("a JSON Schema must be an object or a boolean".to_string());
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| e.to_string())?;
        Ok(Self { validator })
    }

    /// Validates `instance`. On failure returns a message listing the failing locations
    /// (JSON pointers) with what was expected, never the offending values or unknown key names.
    pub fn check(&self, instance: &Value) -> Result<(), String> {
        if self.validator.is_valid(instance) {
            return Ok(());
        }
        let mut parts = Vec::new();
        let mut total = 0usize;
        for error in self.validator.iter_errors(instance) {
            total += 1;
            if parts.len() < MAX_REPORTED {
                let path = error.instance_path().as_str().to_string();
                let path = if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                };
                parts.push(format!("{path}: {}", describe(&error)));
            }
        }
        if parts.is_empty() {
            return Err("does not match the schema".to_string());
        }
        let mut message = parts.join("; ");
        if total > MAX_REPORTED {
            message.push_str(&format!("; and {} more", total - MAX_REPORTED));
        }
        Err(message)
    }
}

fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            format!(
                "{} unexpected propert{} not allowed",
                unexpected.len(),
                if unexpected.len() == 1 { "y" } else { "ies" }
            )
        }
        _ => error.masked().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_list_paths_not_values() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "properties": {"hetu": {"type": "integer"}, "age": {"type": "integer", "maximum": 120}},
            "required": ["age"],
            "additionalProperties": false
        }))
        .unwrap();
        let err = schema
            .check(&json!({"hetu": "010190-123A", "age": 200, "secret-010190-123A": 1}))
            .unwrap_err();
        assert!(!err.contains("010190-123A"), "{err}");
        assert!(err.contains("/hetu"), "{err}");
        assert!(err.contains("/age"), "{err}");
        assert!(err.contains("unexpected"), "{err}");
    }

    #[test]
    fn invalid_schema_is_an_error() {
        assert!(Schema::compile(&json!({"type": 12})).is_err());
        assert!(Schema::compile(&json!("x")).is_err());
    }
}
