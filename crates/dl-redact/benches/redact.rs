//! Cost of redaction per explanation view and of detection per kilobyte of free text.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dl_redact::{Audience, Detector, Policy, Pseudonymizer, Redactor};
use serde_json::json;

fn benches(c: &mut Criterion) {
    let redactor = Redactor::new(Some(
        Pseudonymizer::new("bench", &[7u8; 32]).expect("valid key"),
    ));
    let policy = Policy::new(
        &[
            "/municipality_group",
            "/adults",
            "/children",
            "/resides_in_finland",
            "/notes",
        ],
        &["/monthly_gross_income", "/monthly_housing_costs"],
    )
    .expect("valid policy");
    let doc = json!({
        "municipality_group": 1, "adults": 2, "children": 1, "resides_in_finland": true,
        "monthly_gross_income": 2500.0, "monthly_housing_costs": 900.0,
        "applicant_id": "131052-308T",
        "notes": "Hakija 131052-308T, tili FI21 1234 5600 0007 85, puh. 040 123 4567."
    });
    let mut g = c.benchmark_group("view");
    for audience in [Audience::Subject, Audience::Auditor] {
        g.bench_function(audience.as_str(), |b| {
            b.iter(|| redactor.redact(&policy, &doc, audience).expect("view"))
        });
    }
    g.finish();

    let detector = Detector::new();
    let text = "Päätös koskee hakijaa, jonka tulot ovat 2 500 euroa kuukaudessa ja asumismenot \
                900 euroa. Yhteydenotot sähköpostilla tai puhelimitse arkisin klo 9-16. \
                The applicant's household has two adults and one child living in Helsinki. "
        .repeat(8);
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("clean_text", |b| b.iter(|| detector.find(&text)));
    let dirty = format!("{text} 131052-308T maija@example.fi +358 40 1234567 FI2112345600000785");
    g.throughput(Throughput::Bytes(dirty.len() as u64));
    g.bench_function("text_with_identifiers", |b| {
        b.iter(|| detector.find(&dirty))
    });
    let people = format!(
        "{text} Asiakas Maija Korhonen asuu osoitteessa Mannerheimintie 12 B 7, 00100 Helsinki, \
         syntynyt 13.10.1952; auto ABC-123, tili 123456-785, puoliso Kaarina Turunen."
    );
    g.throughput(Throughput::Bytes(people.len() as u64));
    g.bench_function("text_with_names_and_addresses", |b| {
        b.iter(|| detector.find(&people))
    });
    g.finish();
}

criterion_group!(redact, benches);
criterion_main!(redact);
