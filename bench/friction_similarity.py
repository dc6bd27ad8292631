"""How long the duplicate suggestion takes before a report is saved, by number of open reports.

Compares `handlers.friction.similarity.similarities` (TF-IDF, words + char n-grams, numpy) with difflib's
SequenceMatcher.ratio as a baseline, in the same run. Prints a table, or JSON with --json.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import statistics
import time

from handlers.friction.demo import SAMPLES
from handlers.friction.similarity import features, similarities

WORDS = " ".join(s[0] for s in SAMPLES).split()


def corpus(n: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 40))) for _ in range(n)]


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    query = "the claims screen takes 40 seconds to load and then freezes"
    results = []
    for n in (100, 1000, 5000):
        docs = corpus(n, rng)
        cold = timed(lambda d=docs: (features.cache_clear(), similarities(query, d)), args.repeat)
        ours = timed(lambda d=docs: similarities(query, d), args.repeat)  # features cached: a running server
        base = timed(lambda d=docs: [difflib.SequenceMatcher(None, query, x).ratio() for x in d], args.repeat)
        row = {"open_reports": n, "tfidf_cold_ms": round(cold, 1), "tfidf_ms": round(ours, 1)}
        results.append({**row, "difflib_ms": round(base, 1), "ratio": round(ours / base, 2)})
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'open reports':>12} {'cold ms':>8} {'warm ms':>8} {'difflib ms':>11} {'warm/difflib':>13}")
    for r in results:
        print(
            f"{r['open_reports']:>12} {r['tfidf_cold_ms']:>8} {r['tfidf_ms']:>8} {r['difflib_ms']:>11} {r['ratio']:>13}"
        )


if __name__ == "__main__":
    main()
