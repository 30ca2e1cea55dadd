//! Structure-first redaction of a JSON document under a function's explanation policy.
//!
//! The policy comes from the function's manifest (`explain.allow_fields`, `explain.redact_fields`,
//! as JSON pointers; `*` matches any one key or index). Structure decides first, text detection
//! second:
//!
//! | field | subject | case worker | auditor |
//! |---|---|---|---|
//! | under `redact_fields` (wins over allow) | erased | pseudonym | pseudonym |
//! | under `allow_fields` | shown | shown | shown |
//! | neither (deny by default) | erased | erased | pseudonym |
//! | identifiers found in shown text | masked `[ENTITY]` | pseudonym | pseudonym |
//! | identifiers found in an object key that appears in the view | masked `[ENTITY]` | pseudonym | pseudonym |
//!
//! Keys are scanned whatever the policy says of their values (maps keyed by a person id), and
//! manifests name fields by the view's keys, so a pointer never carries what the view hides.
//! A pseudonymised field whose value is one identifier gets that identifier's pseudonym (its
//! entity and canonical spelling), the same one it gets in shown text and in keys, so views
//! join on it; any other withheld value gets a pseudonym of its JSON text.
//!
//! What is personal anywhere in a document is personal everywhere in its views: before the walk
//! every string and key of the document is scanned (whatever the policy shows), and a withheld
//! string that is itself a name or identifier counts too; each such value (3 characters or
//! more) is then masked, with the same pseudonym, wherever it appears as a whole word in shown
//! text or a key, also where the detectors alone would not find it there (a name found after a
//! cue in the notes is also masked as a map's key; a withheld name field is masked in notes
//! that repeat it).
//!
//! Shown string values are cut to [`MAX_SHOWN_CHARS`] characters after detection (so an
//! identifier past the cut is still in the manifest) and the manifest lists them as `truncated`.
//!
//! Every view carries a [`Manifest`] naming what was erased, pseudonymised and masked, so the
//! person reading it knows what they are not seeing, and an auditor can check the redaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::detect::{Detector, Entity, Finding};
use crate::pseudonym::Pseudonymizer;
use crate::RedactError;

/// Who a view is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The person decided about.
    Subject,
    /// A case worker acting for the person.
    CaseWorker,
    /// An auditor or supervisor: sees the structure, never personal values.
    Auditor,
}

impl Audience {
    /// Every audience.
    pub const ALL: [Audience; 3] = [Audience::Subject, Audience::CaseWorker, Audience::Auditor];

    /// Stable name (`subject`, `case_worker`, `auditor`).
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Subject => "subject",
            Audience::CaseWorker => "case_worker",
            Audience::Auditor => "auditor",
        }
    }

    fn pseudonymises_identifiers(self) -> bool {
        !matches!(self, Audience::Subject)
    }
}

impl std::str::FromStr for Audience {
    type Err = RedactError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Audience::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| RedactError::UnknownAudience(s.into()))
    }
}

/// One segment of a field pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Any,
    Key(String),
}

/// A field pattern: a JSON pointer whose segments may be `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Segment>);

impl Pattern {
    fn parse(pointer: &str) -> Result<Self, RedactError> {
        let bad = || RedactError::BadPointer(pointer.into());
        let rest = pointer.strip_prefix('/').ok_or_else(bad)?;
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if raw.is_empty() {
                return Err(bad());
            }
            segments.push(if raw == "*" {
                Segment::Any
            } else {
                Segment::Key(unescape(raw).ok_or_else(bad)?)
            });
        }
        Ok(Pattern(segments))
    }

    /// Whether the pattern's segments match the first segments of `path` (it covers `path`).
    fn covers(&self, path: &[String]) -> bool {
        self.0.len() <= path.len() && self.matches_prefix_of(path)
    }

    /// Whether `path` is a strict ancestor of something the pattern names.
    fn is_below(&self, path: &[String]) -> bool {
        self.0.len() > path.len() && self.0.iter().zip(path).all(|(s, p)| s.matches(p))
    }

    fn matches_prefix_of(&self, path: &[String]) -> bool {
        self.0.iter().zip(path).all(|(s, p)| s.matches(p))
    }
}

impl Segment {
    fn matches(&self, key: &str) -> bool {
        match self {
            Segment::Any => true,
            Segment::Key(k) => k == key,
        }
    }
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next()? {
                '0' => out.push('~'),
                '1' => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// A function's explanation policy, parsed once and reused for every view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<Pattern>,
    redact: Vec<Pattern>,
}

impl Policy {
    /// A policy from JSON pointers (`/a/b`, `*` for any one key or index). An empty allow list
    /// is valid and shows nothing.
    pub fn new<S: AsRef<str>>(allow: &[S], redact: &[S]) -> Result<Self, RedactError> {
        let parse = |list: &[S]| -> Result<Vec<Pattern>, RedactError> {
            list.iter().map(|p| Pattern::parse(p.as_ref())).collect()
        };
        Ok(Self {
            allow: parse(allow)?,
            redact: parse(redact)?,
        })
    }
}

impl Policy {
    /// Whether the field at the concrete JSON pointer `pointer` is shown as is (under an allowed
    /// pattern and under no redacted one).
    pub fn shows(&self, pointer: &str) -> bool {
        let Some(rest) = pointer.strip_prefix('/') else {
            return false;
        };
        let Some(path) = rest
            .split('/')
            .map(unescape)
            .collect::<Option<Vec<String>>>()
        else {
            return false;
        };
        !self.redact.iter().any(|p| p.covers(&path)) && self.allow.iter().any(|p| p.covers(&path))
    }

    /// A policy that shows every field (identifiers in text are still masked): for documents
    /// the audience is entitled to, such as the decision itself.
    pub fn show_all() -> Self {
        Self {
            allow: vec![Pattern(Vec::new())],
            redact: Vec::new(),
        }
    }
}

/// Longest shown string value, in characters; longer ones are cut after detection and end in
/// ` [TRUNCATED]`. An explanation shows what the decision used, not documents.
pub const MAX_SHOWN_CHARS: usize = 2000;

/// A redacted identifier inside a shown field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Masked {
    /// The field (JSON pointer).
    pub pointer: String,
    /// Entity code (`FI_PERSONAL_IDENTITY_CODE`, ...).
    pub entity: String,
}

/// What a view leaves out, so its reader knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Fields removed (JSON pointers of the outermost removed node).
    pub erased: Vec<String>,
    /// Fields whose value was replaced by a keyed pseudonym.
    pub pseudonymised: Vec<String>,
    /// Identifiers found in shown text and masked or pseudonymised there.
    pub masked: Vec<Masked>,
    /// Shown text fields cut to [`MAX_SHOWN_CHARS`] characters (after detection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    /// Id of the pseudonym key, when any pseudonym was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudonym_key_id: Option<String>,
}

/// A redacted document and its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedView {
    /// Who it is for.
    pub audience: Audience,
    /// The document with only what the audience may see.
    pub value: Value,
    /// What was left out.
    pub manifest: Manifest,
}

/// Applies policies: detectors plus, for the audiences that get pseudonyms, the key.
#[derive(Debug, Clone)]
pub struct Redactor {
    detector: Arc<Detector>,
    pseudonymizer: Option<Pseudonymizer>,
}

impl Redactor {
    /// A redactor; without a pseudonymizer only [`Audience::Subject`] views can be made.
    pub fn new(pseudonymizer: Option<Pseudonymizer>) -> Self {
        Self {
            detector: Arc::new(Detector::new()),
            pseudonymizer,
        }
    }

    /// The same redactor with `tenant`'s pseudonym key ([`Pseudonymizer::for_tenant`]); the
    /// detectors are shared. Without a pseudonymizer, the same redactor.
    pub fn for_tenant(&self, tenant: &str) -> Result<Self, RedactError> {
        Ok(Self {
            detector: self.detector.clone(),
            pseudonymizer: self
                .pseudonymizer
                .as_ref()
                .map(|p| p.for_tenant(tenant))
                .transpose()?,
        })
    }

    /// The detectors in use.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The key `audience`'s views need (none for the subject); fails closed without one.
    fn pseudonymizer_for(&self, audience: Audience) -> Result<Option<&Pseudonymizer>, RedactError> {
        if !audience.pseudonymises_identifiers() {
            return Ok(None);
        }
        self.pseudonymizer
            .as_ref()
            .map(Some)
            .ok_or(RedactError::NoPseudonymKey(audience))
    }

    /// The view of `doc` for `audience` under `policy`.
    pub fn redact(
        &self,
        policy: &Policy,
        doc: &Value,
        audience: Audience,
    ) -> Result<RedactedView, RedactError> {
        let pseudonymizer = self.pseudonymizer_for(audience)?;
        let mut known = Known::default();
        known.scan(&self.detector, doc);
        known
            .secrets
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        known.secrets.dedup_by(|a, b| a.0 == b.0);
        let mut walk = Walk {
            policy,
            audience,
            detector: &self.detector,
            pseudonymizer,
            manifest: Manifest::default(),
            path: Vec::new(),
            shown_path: Vec::new(),
            known,
        };
        let value = walk.node(doc, false).unwrap_or(Value::Object(Map::new()));
        let mut manifest = walk.manifest;
        // Deterministic whatever the map's key order (serde_json may preserve insertion order).
        manifest.erased.sort();
        manifest.pseudonymised.sort();
        manifest.truncated.sort();
        manifest
            .masked
            .sort_by(|a, b| (&a.pointer, &a.entity).cmp(&(&b.pointer, &b.entity)));
        if !manifest.pseudonymised.is_empty()
            || (audience.pseudonymises_identifiers() && !manifest.masked.is_empty())
        {
            manifest.pseudonym_key_id = pseudonymizer.map(|p| p.key_id().to_string());
        }
        Ok(RedactedView {
            audience,
            value,
            manifest,
        })
    }

    /// Free text with every identifier masked (`[EMAIL]`) or, for audiences that get
    /// pseudonyms, replaced by its pseudonym. Returns the text and the entities replaced.
    pub fn redact_text(
        &self,
        text: &str,
        audience: Audience,
    ) -> Result<(String, Vec<Finding>), RedactError> {
        let findings = self.detector.find(text);
        let pseudonymizer = self.pseudonymizer_for(audience)?;
        Ok((replace(text, &findings, pseudonymizer), findings))
    }
}

fn replace(text: &str, findings: &[Finding], pseudonymizer: Option<&Pseudonymizer>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        out.push_str(&text[at..f.start]);
        match pseudonymizer {
            Some(p) => out.push_str(&p.pseudonym(f.entity.code(), &f.canonical)),
            None => {
                out.push('[');
                out.push_str(f.entity.code());
                out.push(']');
            }
        }
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

/// What the pre-pass found in a whole document: the findings of each string and key (so the
/// walk does not detect twice) and the personal values to mask wherever they appear.
#[derive(Default)]
struct Known<'a> {
    /// Findings of [`Detector::find`] per string value, and of [`Detector::find_in_key`] per key.
    text: HashMap<&'a str, Vec<Finding>>,
    keys: HashMap<&'a str, Vec<Finding>>,
    /// (value as written, entity, canonical form), longest first.
    secrets: Vec<(String, Entity, String)>,
}

/// Shortest value (in bytes) masked wherever it appears: shorter ones are too often parts of
/// ordinary words or numbers.
const MIN_SECRET_BYTES: usize = 3;

impl<'a> Known<'a> {
    fn scan(&mut self, detector: &Detector, value: &'a Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if !self.keys.contains_key(k.as_str()) {
                        let found = detector.find_in_key(k);
                        self.remember(k, &found);
                        self.keys.insert(k, found);
                    }
                    self.scan(detector, v);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.scan(detector, v)),
            Value::String(s) if !self.text.contains_key(s.as_str()) => {
                let found = detector.find(s);
                self.remember(s, &found);
                // A value that is a whole name on its own ("applicant_name": "Aba Ngao") has no
                // sentence to give a cue, like a key: it is personal wherever it is repeated.
                if found.is_empty() {
                    let whole = detector.find_in_key(s);
                    self.remember(s, &whole);
                }
                self.text.insert(s, found);
            }
            _ => {}
        }
    }

    fn remember(&mut self, text: &str, found: &[Finding]) {
        for f in found {
            let value = &text[f.start..f.end];
            if value.len() >= MIN_SECRET_BYTES {
                self.secrets
                    .push((value.to_string(), f.entity, f.canonical.clone()));
            }
        }
    }

    /// `found` (findings of `text`) plus every known value that appears in `text` as a whole
    /// word outside them, in text order.
    fn complete(&self, text: &str, mut found: Vec<Finding>) -> Vec<Finding> {
        for (value, entity, canonical) in &self.secrets {
            for (at, _) in text.match_indices(value.as_str()) {
                let end = at + value.len();
                let bounded = !text[..at]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
                    && !text[end..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphanumeric);
                if bounded && !found.iter().any(|f| f.start < end && at < f.end) {
                    found.push(Finding {
                        entity: *entity,
                        start: at,
                        end,
                        canonical: canonical.clone(),
                    });
                }
            }
        }
        found.sort_by_key(|f| f.start);
        found
    }
}

struct Walk<'a> {
    known: Known<'a>,
    policy: &'a Policy,
    audience: Audience,
    detector: &'a Detector,
    pseudonymizer: Option<&'a Pseudonymizer>,
    manifest: Manifest,
    /// Where the walk is, in the document's own keys (what the policy's patterns match).
    path: Vec<String>,
    /// The same place in the view's keys (identifiers in keys replaced): what manifests name.
    shown_path: Vec<String>,
}

impl<'a> Walk<'a> {
    /// The view of the node at `self.path`; `None` when it is left out.
    fn node(&mut self, value: &'a Value, allowed_above: bool) -> Option<Value> {
        if self.policy.redact.iter().any(|p| p.covers(&self.path)) {
            return self.withhold(value, true);
        }
        let allowed = allowed_above || self.policy.allow.iter().any(|p| p.covers(&self.path));
        let leads_to_allowed = || self.policy.allow.iter().any(|p| p.is_below(&self.path));
        let leads_to_redacted = || self.policy.redact.iter().any(|p| p.is_below(&self.path));
        match value {
            Value::Object(map) if allowed || leads_to_allowed() || leads_to_redacted() => {
                let mut out = Map::new();
                let mut keys = HashSet::with_capacity(map.len());
                for (k, v) in map {
                    let shown = self.key(k, &mut keys);
                    self.path.push(k.clone());
                    self.shown_path.push(shown.clone());
                    if let Some(v) = self.node(v, allowed) {
                        out.insert(shown, v);
                    }
                    self.path.pop();
                    self.shown_path.pop();
                }
                (allowed || !out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) if allowed || leads_to_allowed() || leads_to_redacted() => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    self.path.push(i.to_string());
                    self.shown_path.push(i.to_string());
                    // An array keeps its positions: a withheld element becomes null.
                    out.push(self.node(v, allowed).unwrap_or(Value::Null));
                    self.path.pop();
                    self.shown_path.pop();
                }
                (allowed || out.iter().any(|v| !v.is_null())).then_some(Value::Array(out))
            }
            _ if allowed => Some(self.shown_leaf(value)),
            _ => self.withhold(value, false),
        }
    }

    /// The view's name for the object key `key`: identifiers in it masked or pseudonymised like
    /// shown text (a map keyed by person ids must not show the ids), whatever the policy says
    /// of the value, and unique among the object's keys in `taken` (two masked ids stay two
    /// entries: `[FI_PERSONAL_IDENTITY_CODE]`, `[FI_PERSONAL_IDENTITY_CODE] (2)`).
    fn key(&mut self, key: &str, taken: &mut HashSet<String>) -> String {
        let found = match self.known.keys.get(key) {
            Some(found) => found.clone(),
            None => self.detector.find_in_key(key),
        };
        let findings = self.known.complete(key, found);
        let mut shown = if findings.is_empty() {
            key.to_string()
        } else {
            replace(key, &findings, self.pseudonymizer)
        };
        if taken.contains(&shown) {
            let base = shown;
            shown = (2..)
                .map(|n| format!("{base} ({n})"))
                .find(|k| !taken.contains(k))
                .unwrap_or_default();
        }
        taken.insert(shown.clone());
        if !findings.is_empty() {
            self.shown_path.push(shown.clone());
            let here = pointer(&self.shown_path);
            self.shown_path.pop();
            for f in &findings {
                self.manifest.masked.push(Masked {
                    pointer: here.clone(),
                    entity: f.entity.code().into(),
                });
            }
        }
        shown
    }

    /// A node the audience may not see as is: erased or pseudonymised.
    fn withhold(&mut self, value: &Value, redact_listed: bool) -> Option<Value> {
        let here = pointer(&self.shown_path);
        let pseudonym = match self.audience {
            Audience::Subject => false,
            Audience::CaseWorker => redact_listed,
            Audience::Auditor => true,
        };
        match (pseudonym, self.pseudonymizer) {
            (true, Some(p)) => {
                self.manifest.pseudonymised.push(here);
                // A value that is one identifier gets that identifier's pseudonym, the one it
                // gets in shown text and keys, so views join on it; anything else is a value.
                let whole = match scalar_findings(self.detector, value) {
                    Some((text, mut found)) if found.len() == 1 && found[0].start == 0 => {
                        (found[0].end == text.len()).then(|| found.swap_remove(0))
                    }
                    _ => None,
                };
                Some(Value::String(match whole {
                    Some(f) => p.pseudonym(f.entity.code(), &f.canonical),
                    None => p.pseudonym("json", &value.to_string()),
                }))
            }
            _ => {
                self.manifest.erased.push(here);
                None
            }
        }
    }

    /// A shown scalar, with identifiers in its text masked or pseudonymised.
    fn shown_leaf(&mut self, value: &Value) -> Value {
        let found = match value {
            Value::String(s) => {
                let found = match self.known.text.get(s.as_str()) {
                    Some(found) => found.clone(),
                    None => self.detector.find(s),
                };
                let found = self.known.complete(s, found);
                (!found.is_empty()).then(|| (s.clone(), found))
            }
            _ => scalar_findings(self.detector, value),
        };
        let Some((text, findings)) = found else {
            return match value {
                Value::String(s) => Value::String(self.capped(s.clone())),
                other => other.clone(),
            };
        };
        let here = pointer(&self.shown_path);
        for f in &findings {
            self.manifest.masked.push(Masked {
                pointer: here.clone(),
                entity: f.entity.code().into(),
            });
        }
        Value::String(self.capped(replace(&text, &findings, self.pseudonymizer)))
    }

    /// `text` cut to [`MAX_SHOWN_CHARS`] characters, noted in the manifest when cut.
    fn capped(&mut self, mut text: String) -> String {
        if let Some((cut, _)) = text.char_indices().nth(MAX_SHOWN_CHARS) {
            text.truncate(cut);
            text.push_str(" [TRUNCATED]");
            self.manifest.truncated.push(pointer(&self.shown_path));
        }
        text
    }
}

/// The text of a scalar and the identifiers in it, `None` when there are none. Long integers
/// are read as text: phone or card numbers stored as numbers (an international phone number
/// stored as an integer has lost its "+").
fn scalar_findings(detector: &Detector, value: &Value) -> Option<(String, Vec<Finding>)> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() && n.to_string().len() >= 7 => n.to_string(),
        _ => return None,
    };
    let mut findings = detector.find(&text);
    if findings.is_empty() && value.is_number() {
        let plus = format!("+{text}");
        findings = detector.find(&plus);
        if findings.len() != 1 || findings[0].end != plus.len() {
            return None;
        }
        findings[0].start = 0;
        findings[0].end = text.len();
    }
    (!findings.is_empty()).then_some((text, findings))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(Some(
            Pseudonymizer::new("k1", b"0123456789abcdef0123456789abcdef").unwrap(),
        ))
    }

    fn doc() -> Value {
        json!({
            "applicant": {"hetu": "131052-308T", "name": "Maija Meikäläinen", "age": 71,
                          "notes": "reach at maija@example.fi or 040 123 4567"},
            "income": 2500,
            "children": [{"age": 4, "hetu": "010516B903X"}, {"age": 9, "hetu": "010594Y9032"}],
            "municipality": "091"
        })
    }

    fn policy() -> Policy {
        Policy::new(
            &[
                "/applicant/age",
                "/applicant/notes",
                "/children/*/age",
                "/municipality",
            ],
            &["/income", "/children/*/hetu"],
        )
        .unwrap()
    }

    #[test]
    fn subject_sees_allowed_fields_only() {
        let v = redactor()
            .redact(&policy(), &doc(), Audience::Subject)
            .unwrap();
        assert_eq!(
            v.value,
            json!({
                "applicant": {"age": 71, "notes": "reach at [EMAIL] or [PHONE]"},
                "children": [{"age": 4}, {"age": 9}],
                "municipality": "091"
            })
        );
        assert_eq!(
            v.manifest.erased,
            vec![
                "/applicant/hetu",
                "/applicant/name",
                "/children/0/hetu",
                "/children/1/hetu",
                "/income"
            ]
        );
        assert_eq!(v.manifest.masked.len(), 2);
        assert!(v.manifest.pseudonymised.is_empty());
        assert_eq!(v.manifest.pseudonym_key_id, None);
    }

    #[test]
    fn case_worker_gets_pseudonyms_for_redact_listed_fields() {
        let v = redactor()
            .redact(&policy(), &doc(), Audience::CaseWorker)
            .unwrap();
        let income = v.value["income"].as_str().unwrap();
        assert!(income.starts_with("psn:k1:"), "{income}");
        assert!(v.value["applicant"].get("hetu").is_none());
        assert!(v.value["applicant"]["notes"]
            .as_str()
            .unwrap()
            .contains("psn:k1:"));
        assert_eq!(v.manifest.pseudonym_key_id.as_deref(), Some("k1"));
        assert!(v.manifest.erased.contains(&"/applicant/name".to_string()));
    }

    #[test]
    fn auditor_sees_structure_never_values() {
        let v = redactor()
            .redact(&policy(), &doc(), Audience::Auditor)
            .unwrap();
        let text = v.value.to_string();
        for secret in [
            "131052-308T",
            "Meikäläinen",
            "2500",
            "maija@",
            "010516B903X",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(v.manifest.erased.is_empty());
        assert!(v.value["applicant"]["hetu"]
            .as_str()
            .unwrap()
            .starts_with("psn:"));
    }

    #[test]
    fn redact_wins_over_allow_and_nothing_allowed_shows_nothing() {
        let p = Policy::new(&["/applicant"], &["/applicant/hetu"]).unwrap();
        let v = redactor().redact(&p, &doc(), Audience::Subject).unwrap();
        assert!(v.value["applicant"].get("hetu").is_none());
        // Shown, and the name in it is masked (issue 12, item 1).
        assert_eq!(v.value["applicant"]["name"], "[PERSON_NAME]");
        let none = Policy::new::<&str>(&[], &[]).unwrap();
        let v = redactor().redact(&none, &doc(), Audience::Subject).unwrap();
        assert_eq!(v.value, json!({}));
    }

    #[test]
    fn show_all_still_masks_identifiers() {
        let v = redactor()
            .redact(&Policy::show_all(), &doc(), Audience::Subject)
            .unwrap();
        assert_eq!(v.value["income"], 2500);
        assert_eq!(v.value["applicant"]["hetu"], "[FI_PERSONAL_IDENTITY_CODE]");
        assert!(v.manifest.erased.is_empty());
    }

    #[test]
    fn shows_concrete_fields() {
        let p = policy();
        assert!(p.shows("/applicant/age"));
        assert!(p.shows("/children/3/age"));
        assert!(!p.shows("/children/0/hetu"));
        assert!(!p.shows("/income"));
        assert!(!p.shows("/applicant"), "only part of it is allowed");
        assert!(!p.shows("applicant/age"));
    }

    /// Medium 5 (issue 15): object keys were copied unscanned, so a map keyed by a person id
    /// showed the id in every view and in the manifests.
    #[test]
    fn identifiers_in_keys_never_show() {
        let doc = json!({"household": {
            "131052-308T": {"age": 71, "hetu": "131052-308T"},
            "010594Y9032": {"age": 30, "hetu": "010594Y9032"},
            "member maija@example.fi": {"age": 4}
        }, "size": 3});
        let policies = [
            Policy::show_all(),
            Policy::new(&["/household/*/age"], &[]).unwrap(),
            Policy::new(&["/household"], &["/household/*/hetu"]).unwrap(),
            Policy::new(&["/size"], &[]).unwrap(),
        ];
        for policy in &policies {
            for audience in Audience::ALL {
                let v = redactor().redact(policy, &doc, audience).unwrap();
                let text = serde_json::to_string(&v).unwrap();
                for secret in ["131052-308T", "010594Y9032", "maija@example.fi"] {
                    assert!(!text.contains(secret), "{secret} in {policy:?} {text}");
                }
                // Two persons stay two entries.
                if let Some(h) = v.value.get("household").and_then(Value::as_object) {
                    assert_eq!(h.len(), 3, "{text}");
                }
            }
        }
        let v = redactor()
            .redact(&policies[1], &doc, Audience::Subject)
            .unwrap();
        let keys: Vec<&String> = v.value["household"].as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| k.contains("[FI_PERSONAL_IDENTITY_CODE")
            || k.as_str() == "member [EMAIL]"), "{keys:?}");
        assert!(v
            .manifest
            .masked
            .iter()
            .any(|m| m.entity == "FI_PERSONAL_IDENTITY_CODE"));
        let v = redactor()
            .redact(&policies[1], &doc, Audience::CaseWorker)
            .unwrap();
        assert!(v.value["household"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.contains("psn:k1:")));
    }

    /// Issue 12, item 3: a HETU withheld as a field and the same HETU found in shown text or in
    /// a key got two pseudonyms (`json` and the entity's domain), so an auditor could not join
    /// them. One value, one pseudonym, wherever it appears in a view.
    #[test]
    fn one_pseudonym_per_identifier_in_fields_text_and_keys() {
        let doc = json!({
            "hetu": "131052-308T",
            "phone": 358401234567u64,
            "notes": "Hakija 131052\u{2013}308T, puh. +358 40 1234567",
            "household": {"131052-308T": {"age": 71}}
        });
        let policy = Policy::new(&["/notes", "/household"], &["/hetu", "/phone"]).unwrap();
        let p = Pseudonymizer::new("k1", b"0123456789abcdef0123456789abcdef").unwrap();
        let hetu = p.pseudonym("FI_PERSONAL_IDENTITY_CODE", "131052-308T");
        let phone = p.pseudonym("PHONE", "+358401234567");
        for audience in [Audience::CaseWorker, Audience::Auditor] {
            let v = redactor().redact(&policy, &doc, audience).unwrap();
            assert_eq!(v.value["hetu"], hetu.as_str(), "{audience:?}");
            assert_eq!(v.value["phone"], phone.as_str(), "{audience:?}");
            assert_eq!(
                v.value["notes"],
                format!("Hakija {hetu}, puh. {phone}"),
                "{audience:?}"
            );
            assert!(v.value["household"].get(&hetu).is_some(), "{audience:?}");
        }
        // A value that is more than one identifier stays a whole-value pseudonym.
        let v = redactor()
            .redact(
                &policy,
                &json!({"hetu": "131052-308T and more"}),
                Audience::Auditor,
            )
            .unwrap();
        assert_ne!(v.value["hetu"], hetu.as_str());
    }

    /// Issue 12, item 3: shown free text is length-capped after detection, and the manifest
    /// says which fields were cut.
    /// Issue 12: a name found anywhere in a document is masked wherever it is repeated: a map
    /// keyed by a name that has no cue as a key, and notes that repeat a withheld name field.
    #[test]
    fn a_value_personal_anywhere_is_masked_everywhere() {
        let doc = json!({
            "notes": "Lapsi Peninah aloittaa päiväkodin. Aba Ngao soitti eilen.",
            "household": {"Peninah": {"age": 4}},
            "applicant_name": "Aba Ngao",
        });
        let policy = Policy::new(&["/notes", "/household"], &["/applicant_name"]).unwrap();
        for audience in Audience::ALL {
            let v = redactor().redact(&policy, &doc, audience).unwrap();
            let shown = serde_json::to_string(&v).unwrap();
            assert!(
                !shown.contains("Peninah") && !shown.contains("Aba Ngao"),
                "{shown}"
            );
        }
    }

    #[test]
    fn shown_text_is_capped_after_detection() {
        let long = format!("{} hetu 131052-308T", "ä".repeat(MAX_SHOWN_CHARS));
        let p = Policy::new(&["/notes", "/short"], &[]).unwrap();
        let doc = json!({"notes": long, "short": "ok"});
        for audience in Audience::ALL {
            let v = redactor().redact(&p, &doc, audience).unwrap();
            let notes = v.value["notes"].as_str().unwrap();
            assert_eq!(
                notes.chars().count(),
                MAX_SHOWN_CHARS + " [TRUNCATED]".len()
            );
            assert!(notes.ends_with(" [TRUNCATED]"));
            assert_eq!(v.manifest.truncated, vec!["/notes"]);
            // Detected before the cut: the identifier past the cap is in the manifest.
            assert_eq!(v.manifest.masked.len(), 1);
            assert_eq!(v.value["short"], "ok");
        }
    }

    #[test]
    fn long_integers_are_scanned() {
        let p = Policy::new(&["/phone"], &[]).unwrap();
        let v = redactor()
            .redact(&p, &json!({"phone": 358401234567u64}), Audience::Subject)
            .unwrap();
        assert_eq!(v.value, json!({"phone": "[PHONE]"}));
    }

    #[test]
    fn pseudonym_audiences_need_a_key() {
        let r = Redactor::new(None);
        assert!(matches!(
            r.redact(&policy(), &doc(), Audience::Auditor),
            Err(RedactError::NoPseudonymKey(Audience::Auditor))
        ));
        assert!(r.redact(&policy(), &doc(), Audience::Subject).is_ok());
    }

    #[test]
    fn bad_pointers_are_refused() {
        for p in ["a.b", "/a//b", "/a/~2", ""] {
            assert!(Policy::new(&[p], &[]).is_err(), "{p}");
        }
        assert!(Policy::new(&["/a~1b/~0c/*"], &[]).is_ok());
    }

    #[test]
    fn free_text() {
        let (text, found) = redactor()
            .redact_text(
                "HETU 131052-308T, IBAN FI2112345600000785",
                Audience::Subject,
            )
            .unwrap();
        assert_eq!(text, "HETU [FI_PERSONAL_IDENTITY_CODE], IBAN [IBAN]");
        assert_eq!(found.len(), 2);
    }
}
