"""FAQ matcher speed on one CPU core: index build for 10,000 phrasings, latency per question (1,000 entries).

Entries are synthetic groups of 10 real queries from the benchmark data, so text lengths and vocabulary are
realistic. Targets (issue 5): build < 2 s lexical; p99 < 5 ms lexical, < 30 ms semantic.

    python bench/faq_speed.py [--data DIR] [--matchers lexical semantic hybrid] [--json]
"""

from __future__ import annotations

import os

# One core means one BLAS thread too: pinned to a core, a multi-threaded BLAS spins its threads against each other
# (a 1 x 384 by 384 x 10,000 product took 6 ms instead of 0.6). Must be set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

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
    parser.add_argument("--code", type=Path, help="import the matcher from this checkout (A/B against main)")
    args = parser.parse_args()
    # The matcher code under test: this checkout, or another one (--code) for an A/B in the same run.
    sys.path.insert(0, str((args.code or REPO).resolve()))
    from handlers.faq.decision import Thresholds, decide
    from handlers.faq.matcher import make_matcher
    from handlers.faq.model import FaqEntry

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
        builds, build_cpu = [], []
        for _ in range(args.repeat):
            matcher = make_matcher(name)  # type: ignore[arg-type]
            started, cpu = time.perf_counter(), time.process_time()
            matcher.fit(entries, {})
            builds.append(time.perf_counter() - started)
            build_cpu.append(time.process_time() - cpu)
        for q in queries[:20]:  # warm-up: caches, lazy kernels
            decide(matcher.rank(q), thresholds)
        latencies, cpu_ms = [], []
        for q in queries:
            started, cpu = time.perf_counter(), time.thread_time()
            decide(matcher.rank(q), thresholds)
            latencies.append((time.perf_counter() - started) * 1000.0)
            cpu_ms.append((time.thread_time() - cpu) * 1000.0)
        row = {
            "matcher": name,
            "entries": n,
            "phrasings": 10 * n,
            "build_s": round(statistics.median(builds), 3),
            "p50_ms": round(float(np.percentile(latencies, 50)), 3),
            "p99_ms": round(float(np.percentile(latencies, 99)), 3),
            # CPU time: far steadier than wall time on a shared machine (what the process itself spent).
            "build_cpu_s": round(statistics.median(build_cpu), 3),
            "p50_cpu_ms": round(float(np.percentile(cpu_ms, 50)), 3),
            "p99_cpu_ms": round(float(np.percentile(cpu_ms, 99)), 3),
        }
        results.append(row)
        print(f"# {row}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        keys = (
            "matcher",
            "entries",
            "phrasings",
            "build_s",
            "p50_ms",
            "p99_ms",
            "build_cpu_s",
            "p50_cpu_ms",
            "p99_cpu_ms",
        )
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for r in results:
            cells = [r[k] for k in keys]
            print("| " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
