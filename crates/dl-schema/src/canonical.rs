//! The Avro *Parsing Canonical Form* exactly as the specification defines it, and the
//! CRC-64-AVRO fingerprint over it.
//!
//! `apache-avro`'s `Schema::canonical_form()` keeps `logicalType` attributes (upstream
//! AVRO-4004), while the specification's [STRIP] rule removes them, as Java's
//! `SchemaNormalization` and fastavro do. This module follows the specification; the crate's
//! form is kept only to read records written before the change (ADR 0015).
//!
//! Rules applied (specification, "Transforming into Parsing Canonical Form"):
//! [PRIMITIVES] `{"type":"int"}` → `"int"`; [FULLNAMES] names become full names and `namespace`
//! goes; [STRIP] only `type`, `name`, `fields`, `symbols`, `items`, `values`, `size` remain;
//! [ORDER] in that order; [STRINGS] no escapes beyond JSON's mandatory ones; [INTEGERS] plain
//! integers; [WHITESPACE] none outside strings.

use serde_json::Value;
use thiserror::Error;

/// A schema text that is not a valid Avro schema shape.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not an Avro schema: {0}")]
pub struct CanonicalFormError(String);

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Parsing Canonical Form of a schema given as JSON text.
pub fn parsing_canonical_form(avsc: &str) -> Result<String, CanonicalFormError> {
    let json: Value = serde_json::from_str(avsc).map_err(|e| CanonicalFormError(e.to_string()))?;
    let mut out = String::with_capacity(avsc.len());
    write_schema(&json, "", &mut out)?;
    Ok(out)
}

/// CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form (the value single-object
/// encoding carries, little-endian, after `C3 01`).
pub fn spec_fingerprint(avsc: &str) -> Result<u64, CanonicalFormError> {
    Ok(crc64_avro(parsing_canonical_form(avsc)?.as_bytes()))
}

fn bad(what: impl Into<String>) -> CanonicalFormError {
    CanonicalFormError(what.into())
}

fn push_str(out: &mut String, s: &str) {
    // serde_json escapes only `"`, `\` and control characters and writes everything else as
    // UTF-8, which is what [STRINGS] asks for.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// Full name of `name` declared in (or referenced from) `namespace`.
fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

/// Namespace that a full name sets for the types nested in it.
fn namespace_of(full: &str) -> &str {
    full.rfind('.').map_or("", |i| &full[..i])
}

fn write_schema(
    schema: &Value,
    namespace: &str,
    out: &mut String,
) -> Result<(), CanonicalFormError> {
    match schema {
        Value::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                push_str(out, name);
            } else {
                push_str(out, &full_name(name, namespace));
            }
            Ok(())
        }
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_schema(branch, namespace, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(attrs) => {
            let kind = attrs
                .get("type")
                .ok_or_else(|| bad("an object schema without \"type\""))?;
            let kind = match kind {
                // `{"type": {...}}` and `{"type": [...]}` are the nested schema itself.
                Value::Object(_) | Value::Array(_) => return write_schema(kind, namespace, out),
                Value::String(kind) => kind.as_str(),
                _ => return Err(bad("\"type\" must be a string, object or array")),
            };
            match kind {
                "record" | "error" | "enum" | "fixed" => write_named(attrs, kind, namespace, out),
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    write_schema(
                        attrs
                            .get("items")
                            .ok_or_else(|| bad("array without items"))?,
                        namespace,
                        out,
                    )?;
                    out.push('}');
                    Ok(())
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    write_schema(
                        attrs
                            .get("values")
                            .ok_or_else(|| bad("map without values"))?,
                        namespace,
                        out,
                    )?;
                    out.push('}');
                    Ok(())
                }
                // A primitive, possibly with a logical type or other attributes: all stripped.
                primitive if PRIMITIVES.contains(&primitive) => {
                    push_str(out, primitive);
                    Ok(())
                }
                // A reference to a named type written in object form.
                name => {
                    push_str(out, &full_name(name, namespace));
                    Ok(())
                }
            }
        }
        _ => Err(bad("a schema must be a string, object or array")),
    }
}

fn write_named(
    attrs: &serde_json::Map<String, Value>,
    kind: &str,
    namespace: &str,
    out: &mut String,
) -> Result<(), CanonicalFormError> {
    let name = attrs
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{kind} without a name")))?;
    let own_namespace = attrs
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(namespace);
    let full = full_name(name, own_namespace);
    out.push_str("{\"name\":");
    push_str(out, &full);
    out.push_str(",\"type\":");
    push_str(out, if kind == "error" { "record" } else { kind });
    let inner = namespace_of(&full);
    match kind {
        "enum" => {
            out.push_str(",\"symbols\":[");
            let symbols = attrs
                .get("symbols")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("enum without symbols"))?;
            for (i, symbol) in symbols.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(
                    out,
                    symbol
                        .as_str()
                        .ok_or_else(|| bad("enum symbol not a string"))?,
                );
            }
            out.push(']');
        }
        "fixed" => {
            let size = attrs
                .get("size")
                .and_then(|s| {
                    s.as_u64()
                        .or_else(|| s.as_str().and_then(|s| s.parse().ok()))
                })
                .ok_or_else(|| bad("fixed without a size"))?;
            out.push_str(&format!(",\"size\":{size}"));
        }
        _ => {
            out.push_str(",\"fields\":[");
            let fields = attrs
                .get("fields")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("record without fields"))?;
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let field_name = field
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("field without a name"))?;
                out.push_str("{\"name\":");
                push_str(out, field_name);
                out.push_str(",\"type\":");
                write_schema(
                    field
                        .get("type")
                        .ok_or_else(|| bad("field without a type"))?,
                    inner,
                    out,
                )?;
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    Ok(())
}

/// CRC-64-AVRO (Rabin) fingerprint as defined by the Avro specification.
pub fn crc64_avro(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *slot = fp;
        }
        t
    });
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ table[((fp ^ b as u64) & 0xff) as usize];
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcf(s: &str) -> String {
        parsing_canonical_form(s).unwrap()
    }

    #[test]
    fn primitives_take_their_simple_form_and_lose_logical_types() {
        assert_eq!(pcf(r#"{"type":"int"}"#), r#""int""#);
        assert_eq!(pcf(r#"{"type":"int","logicalType":"date"}"#), r#""int""#);
        assert_eq!(pcf(r#""string""#), r#""string""#);
        assert_eq!(
            pcf(r#"["null", {"type":"long","logicalType":"timestamp-millis"}]"#),
            r#"["null","long"]"#
        );
    }

    #[test]
    fn names_become_full_and_attributes_are_stripped_and_ordered() {
        let schema = r#"{
          "doc": "x", "fields": [
            {"type": {"symbols": ["A","B"], "name": "E", "type": "enum", "doc": "d"}, "name": "e", "default": "A"},
            {"name": "again", "type": "E"},
            {"name": "f", "type": {"type": "fixed", "name": "other.F", "size": "016"}},
            {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "F2"}}}
          ],
          "namespace": "ns", "name": "R", "type": "record", "aliases": ["Q"]
        }"#;
        assert_eq!(
            pcf(schema),
            concat!(
                r#"{"name":"ns.R","type":"record","fields":["#,
                r#"{"name":"e","type":{"name":"ns.E","type":"enum","symbols":["A","B"]}},"#,
                r#"{"name":"again","type":"ns.E"},"#,
                r#"{"name":"f","type":{"name":"other.F","type":"fixed","size":16}},"#,
                r#"{"name":"m","type":{"type":"map","values":{"type":"array","items":"ns.F2"}}}]}"#
            )
        );
    }

    #[test]
    fn nested_namespaces_follow_the_enclosing_full_name() {
        let schema = r#"{"type":"record","name":"a.b.Outer","fields":[
            {"name":"x","type":{"type":"record","name":"Inner","fields":[{"name":"y","type":"int"}]}},
            {"name":"z","type":{"type":"record","name":"Other","namespace":"c","fields":[{"name":"w","type":"Inner2"}]}}]}"#;
        assert_eq!(
            pcf(schema),
            concat!(
                r#"{"name":"a.b.Outer","type":"record","fields":["#,
                r#"{"name":"x","type":{"name":"a.b.Inner","type":"record","fields":[{"name":"y","type":"int"}]}},"#,
                r#"{"name":"z","type":{"name":"c.Other","type":"record","fields":[{"name":"w","type":"c.Inner2"}]}}]}"#
            )
        );
    }

    #[test]
    fn strings_keep_utf8_unescaped() {
        assert_eq!(
            pcf(r#"{"type":"enum","name":"E","symbols":["\u00e4"]}"#),
            "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"ä\"]}"
        );
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        for bad in [
            "",
            "1",
            "{}",
            r#"{"type":"record"}"#,
            r#"{"type":"array"}"#,
            r#"{"type":5}"#,
        ] {
            assert!(parsing_canonical_form(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn crc64_of_the_empty_string_is_the_specified_seed() {
        assert_eq!(crc64_avro(b""), 0xc15d_213a_a4d7_a795);
        // The specification's example: the fingerprint of "null" is 0x63dd24e7cc258f8a.
        assert_eq!(crc64_avro(b"\"null\""), 0x63dd_24e7_cc25_8f8a);
    }
}
