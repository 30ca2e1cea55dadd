//! Precision and recall of the detectors on the labelled Finnish/English corpus
//! (`corpus/labelled.jsonl`, made by `corpus/generate.py`).
//!
//! A finding counts as a true positive only with the labelled entity and exactly the labelled
//! span. The floors below are quality gates that block regressions; the measured numbers are
//! printed (`cargo test -p dl-redact --test corpus -- --nocapture`) and kept in BENCHMARKS.md.

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

#[derive(Default)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

impl Counts {
    fn precision(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fp).max(1))
    }
    fn recall(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1))
    }
}

#[test]
fn detectors_meet_their_precision_and_recall_floors() {
    let corpus = include_str!("../corpus/labelled.jsonl");
    let detector = Detector::new();
    let mut per: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut rows = 0;
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
        let found: HashSet<(&str, usize, usize)> = detector
            .find(&row.text)
            .iter()
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
    let total = per.values().fold(Counts::default(), |a, c| Counts {
        tp: a.tp + c.tp,
        fp: a.fp + c.fp,
        fn_: a.fn_ + c.fn_,
    });
    println!(
        "{rows} texts, {} labelled identifiers",
        total.tp + total.fn_
    );
    println!("| entity | TP | FP | FN | precision | recall |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (entity, c) in per.iter().map(|(e, c)| (*e, c)).chain([("all", &total)]) {
        println!(
            "| {entity} | {} | {} | {} | {:.3} | {:.3} |",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall()
        );
    }
    for m in &misses {
        println!("  {m}");
    }
    assert!(rows > 600, "the corpus is complete");
    for e in Entity::ALL {
        let c = per.get(e.code()).expect("every entity is in the corpus");
        assert!(c.tp + c.fn_ >= 50, "{} has too few labels", e.code());
        assert!(c.recall() >= 0.95, "{} recall {:.3}", e.code(), c.recall());
        assert!(
            c.precision() >= 0.95,
            "{} precision {:.3}",
            e.code(),
            c.precision()
        );
    }
}
