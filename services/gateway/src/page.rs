//! The explanation page: the redacted view of one decision as HTML for people (no scripts,
//! one same-origin stylesheet, every value escaped).

use std::fmt::Write as _;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The page's stylesheet (`/assets/explain.css`).
pub const STYLESHEET: &str = include_str!("../assets/explain.css");

/// The Python a person runs to check a decision's inclusion proof (shown on the page; CI runs
/// this very file: tests/tests/proofs.rs).
pub const VERIFY_PROOF_PY: &str = include_str!("../../../docs/verify_proof.py");

/// Content-Security-Policy of the page: nothing but the same-origin stylesheet.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link to a legal reference only when it is an http(s) IRI; otherwise plain text.
fn legal_link(iri: &str) -> String {
    if iri.starts_with("http://") || iri.starts_with("https://") {
        format!(
            "<a href=\"{0}\" rel=\"noopener noreferrer\">{0}</a>",
            escape(iri)
        )
    } else {
        escape(iri)
    }
}

/// Rows `(pointer, value)` of every leaf of a JSON document, in document order.
fn leaves(v: &Value, at: &mut String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let len = at.len();
                at.push('/');
                at.push_str(k);
                leaves(child, at, out);
                at.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let len = at.len();
                let _ = write!(at, "/{i}");
                leaves(child, at, out);
                at.truncate(len);
            }
        }
        Value::String(s) => out.push((at.clone(), s.clone())),
        other => out.push((at.clone(), other.to_string())),
    }
}

fn table(v: &Value) -> String {
    let mut rows = Vec::new();
    leaves(v, &mut String::new(), &mut rows);
    if rows.is_empty() {
        return "<p class=\"none\">Nothing to show.</p>".into();
    }
    let mut html = String::from("<table><tbody>");
    for (pointer, value) in rows {
        let name = pointer.trim_start_matches('/').replace('/', " › ");
        let _ = write!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(&name),
            escape(&value)
        );
    }
    html.push_str("</tbody></table>");
    html
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "<p class=\"none\">None.</p>".into();
    }
    let mut html = String::from("<ul>");
    for i in items {
        let _ = write!(html, "<li><code>{}</code></li>", escape(i));
    }
    html.push_str("</ul>");
    html
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Renders the explanation JSON (as served by the API) as a page.
pub fn render(e: &Value) -> Response {
    let s = |k: &str| escape(e[k].as_str().unwrap_or(""));
    let mut reasons = String::new();
    for r in e["reasons"].as_array().into_iter().flatten() {
        let _ = write!(
            reasons,
            "<li><p>{}</p><p class=\"ref\"><span class=\"code\">{}</span> · {}</p></li>",
            escape(r["message"].as_str().unwrap_or("")),
            escape(r["code"].as_str().unwrap_or("")),
            legal_link(r["legal_ref"].as_str().unwrap_or(""))
        );
    }
    if reasons.is_empty() {
        reasons = "<li>No reasons were given.</li>".into();
    }
    let basis: String = strings(&e["legal_basis"])
        .iter()
        .map(|iri| format!("<li>{}</li>", legal_link(iri)))
        .collect();
    let input_manifest = &e["redaction"]["input"];
    let mut withheld = strings(&input_manifest["erased"]);
    withheld.extend(strings(&input_manifest["pseudonymised"]));
    let masked: Vec<String> = input_manifest["masked"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            e["redaction"]["output"]["masked"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .map(|m| {
            format!(
                "{} ({})",
                m["pointer"].as_str().unwrap_or(""),
                m["entity"].as_str().unwrap_or("")
            )
        })
        .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Decision explained</title>
<link rel="stylesheet" href="/assets/explain.css">
</head>
<body>
<main>
<h1>Decision explained</h1>
<p class="meta">Decision <code id="decision-id">{decision_id}</code> by <strong>{function_id}</strong> version {version}, made {decided_at}.</p>
<section id="outcome"><h2>What was decided</h2>{output}</section>
<section id="reasons"><h2>Why</h2><ol>{reasons}</ol></section>
<section id="legal-basis"><h2>Legal basis</h2><ul>{basis}</ul></section>
<section id="input"><h2>What the decision was based on</h2>{input}</section>
<section id="withheld"><h2>Not shown here</h2>
<p>These fields were used but are not shown on this page, to protect personal data:</p>{withheld}
<p>Identifiers found in the text above were replaced:</p>{masked}</section>
<section id="integrity"><h2>Integrity</h2>
<p>This decision is record <code>{sequence}</code> of ledger chain <code>{chain}</code>, hash <code class="hash">{hash}</code>. Auditors can verify that it has not been changed with <code>dlctl ledger verify</code>.</p>
<p id="proof">Anyone can check that this record is in the signed ledger: save its <a href="/v1/decisions/{proof_id}/proof">inclusion proof</a> as <code>proof.json</code> and run the Python below (<code>python3 verify_proof.py proof.json</code>; with <code>--key</code> and the operator's published certifier key it also checks the signature). It walks the proof's path from the record's hash to the Merkle root of the signed checkpoint.</p>
<details><summary>verify_proof.py</summary><pre><code>{verify_py}</code></pre></details></section>
</main>
</body>
</html>
"#,
        decision_id = s("decision_id"),
        function_id = s("function_id"),
        version = s("function_version"),
        decided_at = s("decided_at"),
        output = table(&e["output"]),
        input = table(&e["input"]),
        withheld = list(&withheld),
        masked = list(&masked),
        sequence = escape(&e["ledger"]["sequence"].to_string()),
        chain = escape(e["ledger"]["chain_id"].as_str().unwrap_or("")),
        hash = escape(e["ledger"]["hash"].as_str().unwrap_or("")),
        proof_id = path_segment(e["decision_id"].as_str().unwrap_or("")),
        verify_py = escape(VERIFY_PROOF_PY),
    );
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn escapes_everything_and_links_only_http() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(legal_link("javascript:alert(1)").starts_with("javascript"));
        assert!(!legal_link("javascript:alert(1)").contains("<a"));
        assert!(legal_link("http://data.finlex.fi/eli/sd/2014/938").contains("<a href"));
    }

    #[test]
    fn renders_the_view() {
        let e = json!({
            "decision_id": "d-1", "function_id": "refund_policy", "function_version": "1.0.0",
            "decided_at": "2026-11-29T00:00:00Z", "legal_basis": ["http://data.europa.eu/eli/dir/2011/83/oj"],
            "ledger": {"chain_id": "decision.ledger:0", "sequence": 3, "hash": "ab"},
            "output": {"refund_amount": 120, "note": "<script>alert(1)</script>"},
            "input": {"customer": {"tier": "gold"}},
            "reasons": [{"code": "LATE", "message": "late", "legal_ref": "http://data.europa.eu/eli/dir/2011/83/oj"}],
            "redaction": {"input": {"erased": ["/customer/id"], "pseudonymised": [], "masked": []},
                          "output": {"masked": [{"pointer": "/note", "entity": "EMAIL"}]}}
        });
        let response = render(&e);
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            PAGE_CSP
        );
        let body = futures_body(response);
        assert!(body.contains("customer › tier"));
        assert!(body.contains("/customer/id"));
        assert!(body.contains("/note (EMAIL)"));
        assert!(body.contains("&lt;script&gt;"));
        assert!(!body.contains("<script>"));
        assert!(body.contains("href=\"/v1/decisions/d-1/proof\""));
        assert!(body.contains(&escape(VERIFY_PROOF_PY)));
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    fn futures_body(r: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
