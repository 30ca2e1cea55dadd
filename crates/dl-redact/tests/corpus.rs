//! Precision, recall and leak of the detectors on the labelled corpora:
//!
//! - `corpus/labelled.jsonl` (Finnish/English, made by `corpus/generate.py` with the hand-written
//!   lines of `corpus/handwritten.txt`): the seven checksummed identifiers only (names in it are
//!   not labelled, so only those seven are scored there);
//! - `corpus/people.jsonl` (Finnish/Swedish/English, made by `corpus/generate_people.py`): every
//!   personal datum labelled, names and addresses included, with hard negatives (places,
//!   companies, streets as landmarks, laws, months, sentence starts).
//!
//! A finding counts as a true positive only with the labelled entity and exactly the labelled
//! span. The leak is the share of personal-data characters (non-space characters inside labelled
//! spans of `people.jsonl`) that no finding covers, i.e. still visible after redaction. The
//! floors below are quality gates that block regressions; the measured numbers are printed
//! (`cargo test -p dl-redact --test corpus -- --nocapture`) and kept in BENCHMARKS.md.

use std::collections::{BTreeMap, HashSet};

use dl_redact::{Detector, Entity};
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    id: String,
    text: String,
    entities: Vec<Label>,
}

#[derive(Deserialize)]
struct Label {
    entity: String,
    start: usize,
    end: usize,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
    /// Personal-data characters of this entity, and how many of them stayed visible.
    chars: u32,
    visible: u32,
}

impl Counts {
    fn precision(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fp).max(1))
    }
    fn recall(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1))
    }
    fn leak(&self) -> f64 {
        f64::from(self.visible) / f64::from(self.chars.max(1))
    }
    fn add(self, c: &Counts) -> Counts {
        Counts {
            tp: self.tp + c.tp,
            fp: self.fp + c.fp,
            fn_: self.fn_ + c.fn_,
            chars: self.chars + c.chars,
            visible: self.visible + c.visible,
        }
    }
}

struct Scores {
    rows: usize,
    per: BTreeMap<&'static str, Counts>,
    total: Counts,
}

/// Scores `corpus` on the entities in `scored` (findings of other kinds are ignored).
fn score(name: &str, corpus: &str, scored: &[Entity]) -> Scores {
    let detector = Detector::new();
    let mut per: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut rows = 0;
    // Characters outside every label, and how many of them a finding masks.
    let (mut other, mut other_masked) = (0u32, 0u32);
    for line in corpus.lines() {
        let row: Row = serde_json::from_str(line).expect("corpus line is valid JSON");
        rows += 1;
        let truth: HashSet<(&str, usize, usize)> = row
            .entities
            .iter()
            .map(|l| {
                let e = Entity::from_code(&l.entity).expect("corpus entity is known");
                (e.code(), l.start, l.end)
            })
            .collect();
        let findings = detector.find(&row.text);
        let found: HashSet<(&str, usize, usize)> = findings
            .iter()
            .filter(|f| scored.contains(&f.entity))
            .map(|f| (f.entity.code(), f.start, f.end))
            .collect();
        for t in &truth {
            let c = per.entry(t.0).or_default();
            if found.contains(t) {
                c.tp += 1;
            } else {
                c.fn_ += 1;
                misses.push(format!(
                    "{} missed {} {:?}",
                    row.id,
                    t.0,
                    &row.text[t.1..t.2]
                ));
            }
            for (i, ch) in row.text[t.1..t.2].char_indices() {
                if ch.is_whitespace() {
                    continue;
                }
                c.chars += 1;
                let at = t.1 + i;
                if !findings.iter().any(|f| f.start <= at && at < f.end) {
                    c.visible += 1;
                }
            }
        }
        for (at, ch) in row.text.char_indices() {
            let labelled = truth.iter().any(|t| t.1 <= at && at < t.2);
            if !ch.is_whitespace() && !labelled {
                other += 1;
                if findings.iter().any(|f| f.start <= at && at < f.end) {
                    other_masked += 1;
                }
            }
        }
        for f in found.difference(&truth) {
            per.entry(f.0).or_default().fp += 1;
            misses.push(format!(
                "{} false {} {:?}",
                row.id,
                f.0,
                &row.text[f.1..f.2]
            ));
        }
    }
    let total = per.values().fold(Counts::default(), |a, c| a.add(c));
    println!("\n{name}: {rows} texts, {} labelled", total.tp + total.fn_);
    println!("| entity | TP | FP | FN | precision | recall | leak |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (entity, c) in per.iter().map(|(e, c)| (*e, c)).chain([("all", &total)]) {
        println!(
            "| {entity} | {} | {} | {} | {:.3} | {:.3} | {:.2} % |",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            100.0 * c.leak()
        );
    }
    println!(
        "over-masking: {:.2} % of {other} characters outside the labels",
        100.0 * f64::from(other_masked) / f64::from(other.max(1))
    );
    for m in &misses {
        println!("  {m}");
    }
    Scores { rows, per, total }
}

fn counts(s: &Scores, e: Entity) -> &Counts {
    s.per.get(e.code()).expect("every entity is in the corpus")
}

#[test]
fn identifiers_meet_their_precision_and_recall_floors() {
    let s = score(
        "labelled.jsonl",
        include_str!("../corpus/labelled.jsonl"),
        &Entity::IDENTIFIERS,
    );
    assert!(s.rows > 600, "the corpus is complete");
    for e in Entity::IDENTIFIERS {
        let c = counts(&s, e);
        assert!(c.tp + c.fn_ >= 50, "{} has too few labels", e.code());
        assert!(c.recall() >= 0.99, "{} recall {:.3}", e.code(), c.recall());
        assert!(
            c.precision() >= 0.98,
            "{} precision {:.3}",
            e.code(),
            c.precision()
        );
    }
}

#[test]
fn personal_data_meets_its_floors_and_leaks_little() {
    let s = score(
        "people.jsonl",
        include_str!("../corpus/people.jsonl"),
        &Entity::ALL,
    );
    assert!(s.rows >= 1000, "the corpus is complete");
    for e in Entity::ALL
        .into_iter()
        .filter(|e| !Entity::IDENTIFIERS.contains(e))
    {
        let c = counts(&s, e);
        assert!(c.tp + c.fn_ >= 50, "{} has too few labels", e.code());
        let (recall, precision) = FLOORS
            .iter()
            .find(|(code, ..)| *code == e.code())
            .map(|&(_, r, p)| (r, p))
            .unwrap_or((0.95, 0.95));
        assert!(
            c.recall() >= recall,
            "{} recall {:.3}",
            e.code(),
            c.recall()
        );
        assert!(
            c.precision() >= precision,
            "{} precision {:.3}",
            e.code(),
            c.precision()
        );
    }
    for e in Entity::IDENTIFIERS
        .into_iter()
        .filter(|e| s.per.contains_key(e.code()))
    {
        let c = counts(&s, e);
        assert!(c.recall() >= 0.99, "{} recall {:.3}", e.code(), c.recall());
        assert!(
            c.precision() >= 0.99,
            "{} precision {:.3}",
            e.code(),
            c.precision()
        );
    }
    assert!(s.total.leak() <= MAX_LEAK, "leak {:.4}", s.total.leak());
}

/// Floors below the goals (recall 0.95, precision 0.95), where the detectors do not
/// reach them yet: (entity, recall, precision). Measured numbers in BENCHMARKS.md.
const FLOORS: &[(&str, f64, f64)] = &[];

/// Largest share of personal-data characters left visible in people.jsonl (the goal).
const MAX_LEAK: f64 = 0.02;

/// Largest share of (labelled value, audience) pairs whose value shows somewhere in the view of
/// a JSON case. Measured 0.00 % (0 of 5,493) since a value found personal anywhere in a document
/// is masked everywhere in its views (the key "Aba Ngao" is a whole name, so the notes that
/// start "Aba Ngao soitti" mask it too); the margin allows a few names missed both in text and
/// as a key. Was 3 % at a measured 2.4 %.
const MAX_VIEW_LEAK: f64 = 0.005;

/// Issue 12's goal for the JSON cases: every line of a corpus as free text in an allowed notes
/// field, in an object key and as a withheld field, through the subject, case-worker and auditor
/// views. Returns (labelled values, values shown) over (value, audience) pairs and the entities
/// of the values shown (`SHOW_LEAKS=1` prints them). Passport numbers and dates of birth are
/// found by their cue, which a bare key does not have: they are not made keys.
fn view_leaks(corpus: &str) -> (u32, u32, Vec<(String, Entity)>) {
    use dl_redact::{Audience, Policy, Pseudonymizer, Redactor};
    use serde_json::json;

    let redactor = Redactor::new(Some(
        Pseudonymizer::new("corpus", &[3u8; 32]).expect("valid key"),
    ));
    let policy = Policy::new(&["/notes", "/household"], &["/applicant_id"]).expect("policy");
    let (mut labels, mut leaked, mut shown_values) = (0u32, 0u32, Vec::new());
    for line in corpus.lines() {
        let row: Row = serde_json::from_str(line).expect("corpus line is valid JSON");
        let Some(first) = row.entities.first() else {
            continue;
        };
        let value = &row.text[first.start..first.end];
        let needs_cue = matches!(first.entity.as_str(), "PASSPORT_NUMBER" | "DATE_OF_BIRTH");
        let key = if needs_cue { "member" } else { value };
        let doc = json!({
            "notes": row.text,
            "applicant_id": value,
            "household": {key: {"note": row.text}},
        });
        for audience in Audience::ALL {
            let view = redactor.redact(&policy, &doc, audience).expect("view");
            let shown = serde_json::to_string(&view).expect("view serialises");
            for l in &row.entities {
                let secret = &row.text[l.start..l.end];
                let entity = Entity::from_code(&l.entity).expect("known entity");
                labels += 1;
                if shown.contains(secret) {
                    leaked += 1;
                    if std::env::var_os("SHOW_LEAKS").is_some() {
                        println!("  {} {} {secret:?} {}", row.id, l.entity, audience.as_str());
                    }
                    shown_values.push((
                        format!("{} {secret:?} {}", row.id, audience.as_str()),
                        entity,
                    ));
                }
            }
        }
    }
    (labels, leaked, shown_values)
}

/// The kinds of which no value may show in any view of the JSON cases.
const EXACT: [Entity; 10] = [
    Entity::FiPersonalIdentityCode,
    Entity::Iban,
    Entity::PaymentCard,
    Entity::Email,
    Entity::Phone,
    Entity::VatId,
    Entity::FiBankAccount,
    Entity::PassportNumber,
    Entity::DateOfBirth,
    Entity::StreetAddress,
];

/// No identifier of the kinds whose recall the gates above hold at 1.0 may show anywhere in a
/// view of people.jsonl's JSON cases or its manifest, keys included; names leak at most
/// [`MAX_VIEW_LEAK`] (counted here per view).
#[test]
fn views_of_json_cases_show_no_identifier() {
    let (labels, leaked, shown) = view_leaks(include_str!("../corpus/people.jsonl"));
    for (what, entity) in &shown {
        assert!(
            !EXACT.contains(entity),
            "{} {what} shows in a view",
            entity.code()
        );
    }
    println!(
        "views: {leaked} of {labels} labelled values show somewhere in a view ({:.2} %)",
        100.0 * f64::from(leaked) / f64::from(labels)
    );
    assert!(f64::from(leaked) <= MAX_VIEW_LEAK * f64::from(labels));
}

/// The held-out corpus (`corpus/heldout.jsonl`, written for issue 12 independently of the
/// detectors' word lists; see `corpus/generate_heldout.py`): measured and printed, not tuned on.
/// `cargo test -p dl-redact --test corpus heldout -- --nocapture`.
#[test]
fn heldout_corpus_is_measured() {
    let corpus = include_str!("../corpus/heldout.jsonl");
    let s = score("heldout.jsonl", corpus, &Entity::ALL);
    assert!(s.rows >= 300, "the held-out corpus is complete");
    print_view_leaks("held-out", corpus);
}

/// The second held-out corpus (`corpus/heldout2.jsonl`, `corpus/generate_heldout2.py`: written
/// before the detectors were changed for the first held-out's failure classes, with its own
/// vocabulary): measured and printed, never tuned on.
/// `cargo test -p dl-redact --test corpus heldout2 -- --nocapture`.
///
/// Gated at what the detectors reached after the change (run 1 in BENCHMARKS.md, never tighter
/// than measured), so a regression shows: leak ≤ [`HELDOUT2_MAX_LEAK`], the floors of
/// [`HELDOUT2_FLOORS`] (0.99 for the other types), no identifier of the exact kinds in a view.
#[test]
fn heldout2_corpus_is_measured() {
    let corpus = include_str!("../corpus/heldout2.jsonl");
    let s = score("heldout2.jsonl", corpus, &Entity::ALL);
    assert!(s.rows >= 400, "the second held-out corpus is complete");
    for (code, c) in &s.per {
        let (recall, precision) = HELDOUT2_FLOORS
            .iter()
            .find(|(e, ..)| e == code)
            .map(|&(_, r, p)| (r, p))
            .unwrap_or((0.99, 0.99));
        assert!(c.recall() >= recall, "{code} recall {:.3}", c.recall());
        assert!(
            c.precision() >= precision,
            "{code} precision {:.3}",
            c.precision()
        );
    }
    assert!(
        s.total.leak() <= HELDOUT2_MAX_LEAK,
        "leak {:.4}",
        s.total.leak()
    );
    let (labels, leaked, shown) = print_view_leaks("held-out 2", corpus);
    for (what, entity) in &shown {
        assert!(
            !EXACT.contains(entity),
            "{} {what} shows in a view",
            entity.code()
        );
    }
    assert!(f64::from(leaked) <= HELDOUT2_MAX_VIEW_LEAK * f64::from(labels));
}

/// heldout2.jsonl after the change: names precision 0.972, recall 0.981 (measured).
const HELDOUT2_FLOORS: &[(&str, f64, f64)] = &[("PERSON_NAME", 0.96, 0.96)];
/// heldout2.jsonl after the change: 0.71 % measured.
const HELDOUT2_MAX_LEAK: f64 = 0.01;
/// heldout2.jsonl after the change: 6 of 1,308 (value, audience) pairs, 0.46 %, all names.
const HELDOUT2_MAX_VIEW_LEAK: f64 = 0.01;

/// Prints the view leak of a corpus's JSON cases, by entity.
fn print_view_leaks(name: &str, corpus: &str) -> (u32, u32, Vec<(String, Entity)>) {
    let (labels, leaked, shown) = view_leaks(corpus);
    let mut by_entity: BTreeMap<&str, u32> = BTreeMap::new();
    for (_, e) in &shown {
        *by_entity.entry(e.code()).or_default() += 1;
    }
    println!(
        "{name} views: {leaked} of {labels} labelled values show somewhere in a view ({:.2} %): {by_entity:?}",
        100.0 * f64::from(leaked) / f64::from(labels)
    );
    (labels, leaked, shown)
}
