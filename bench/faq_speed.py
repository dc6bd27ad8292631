"""FAQ matcher speed on one CPU core: index build for 10,000 phrasings, latency per question (1,000 entries).

Entries are synthetic groups of 10 real queries from the benchmark data, so text lengths and vocabulary are
realistic. Targets (issue 5): build < 2 s lexical; p99 < 5 ms lexical, < 30 ms semantic.

    python bench/faq_speed.py [--data DIR] [--matchers lexical semantic hybrid] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.faq.decision import Thresholds, decide
from handlers.faq.matcher import make_matcher
from handlers.faq.model import FaqEntry

REPO = Path(__file__).resolve().parents[1]


def corpus(data: Path) -> list[str]:
    with (data / "banking77-train.csv").open(encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    raw = json.loads((data / "clinc150-dev.json").read_text(encoding="utf-8"))
    texts += [t for t, _ in raw["train"]]
    random.Random(0).shuffle(texts)
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "benchmarks" / "faq")
    parser.add_argument("--matchers", nargs="+", default=["lexical", "semantic", "hybrid"])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="index builds to take the median of")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    texts = corpus(args.data)
    n = args.entries
    entries = [
        FaqEntry(id=f"e{i}", question=texts[10 * i], examples=tuple(texts[10 * i + 1 : 10 * i + 10]), answer="-")
        for i in range(n)
    ]
    queries = texts[10 * n : 10 * n + args.queries]
    thresholds = Thresholds(answer=0.5, suggest=0.2)
    results = []
    for name in args.matchers:
        if name != "lexical":
            import torch

            torch.set_num_threads(1)
        builds = []
        for _ in range(args.repeat):
            matcher = make_matcher(name)  # type: ignore[arg-type]
            started = time.perf_counter()
            matcher.fit(entries, {})
            builds.append(time.perf_counter() - started)
        for q in queries[:20]:  # warm-up: caches, lazy kernels
            decide(matcher.rank(q), thresholds)
        latencies = []
        for q in queries:
            started = time.perf_counter()
            decide(matcher.rank(q), thresholds)
            latencies.append((time.perf_counter() - started) * 1000.0)
        row = {
            "matcher": name,
            "entries": n,
            "phrasings": 10 * n,
            "build_s": round(statistics.median(builds), 3),
            "p50_ms": round(float(np.percentile(latencies, 50)), 3),
            "p99_ms": round(float(np.percentile(latencies, 99)), 3),
        }
        results.append(row)
        print(f"# {row}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("| matcher | entries | phrasings | build_s | p50_ms | p99_ms |\n|---|---|---|---|---|---|")
        for r in results:
            cells = [r[k] for k in ("matcher", "entries", "phrasings", "build_s", "p50_ms", "p99_ms")]
            print("| " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
