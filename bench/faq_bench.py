"""FAQ matcher benchmark on public few-shot intent data (BANKING77, CLINC150 with out-of-scope queries).

Builds 10-shot FAQ files per seed, fits each matcher, chooses thresholds by cross-validation on the FAQ
itself, and scores held-out queries through the same decide() path as the bot. Not a timed test.

    python bench/faq_bench.py [--data DIR] [--seeds 0 1 2] [--matchers lexical semantic hybrid] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.faq.decision import choose_thresholds
from handlers.faq.evaluation import Question, load_questions, score
from handlers.faq.lexical import LexicalMatcher
from handlers.faq.loader import load_faq_file
from handlers.faq.model import Matcher

REPO = Path(__file__).resolve().parents[1]
SHOTS = 10


def banking77(data: Path) -> tuple[dict[str, list[str]], list[tuple[str, str | None]], bool]:
    """Intents with all their queries; in-scope test queries come from the same split, no out-of-scope."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (data / "banking77-train.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_intent[row["category"]].append(row["text"])
    return dict(by_intent), [], True


def clinc150(data: Path) -> tuple[dict[str, list[str]], list[tuple[str, str | None]], bool]:
    """Shots come from `train`; test queries are `val` plus every out-of-scope query."""
    raw = json.loads((data / "clinc150-dev.json").read_text(encoding="utf-8"))
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in raw["train"]:
        by_intent[intent].append(text)
    tests: list[tuple[str, str | None]] = [(t, i) for t, i in raw["val"]]
    tests += [(t, None) for t, _ in raw["oos_train"] + raw["oos_val"]]
    return dict(by_intent), tests, False


DATASETS = {"banking77": banking77, "clinc150": clinc150}


def build_files(name: str, data: Path, seed: int, out: Path) -> tuple[Path, Path]:
    """Write the 10-shot FAQ file and its questions file for one seed."""
    by_intent, tests, rest_is_test = DATASETS[name](data)
    rng = random.Random(seed)
    entries, questions = [], list(tests)
    for intent in sorted(by_intent):
        texts = list(by_intent[intent])
        rng.shuffle(texts)
        shots = texts[:SHOTS]
        entries.append({"id": intent, "question": shots[0], "examples": shots[1:], "answer": f"({intent})"})
        if rest_is_test:
            questions += [(t, intent) for t in texts[SHOTS:]]
    out.mkdir(parents=True, exist_ok=True)
    faq_path, questions_path = out / f"{name}-seed{seed}.yml", out / f"{name}-seed{seed}.jsonl"
    faq_path.write_text(yaml.safe_dump(entries, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with questions_path.open("w", encoding="utf-8") as f:
        for text, expected in questions:
            f.write(json.dumps({"text": text, "expected": expected}) + "\n")
    return faq_path, questions_path


def matcher_factory(name: str, cache: dict, model: str | None = None) -> Callable[[], Matcher]:
    """Factories share one embedding cache so refits over folds and seeds encode each text once."""
    if name == "lexical":
        return LexicalMatcher
    if name == "semantic":
        from handlers.faq.semantic import SemanticMatcher

        return lambda: SemanticMatcher(model, cache=cache)
    from handlers.faq.hybrid import HybridMatcher

    def hybrid() -> Matcher:
        matcher = HybridMatcher(model_path=model)
        matcher._semantic._cache, matcher._semantic._owns_cache = cache, False
        return matcher

    return hybrid


def run_one(faq_path: Path, questions: list[Question], factory: Callable[[], Matcher]) -> dict:
    entries = load_faq_file(faq_path)
    started = time.perf_counter()
    matcher = factory()
    matcher.fit(entries, {})
    fit_s = time.perf_counter() - started
    thresholds = choose_thresholds(entries, factory)
    result = score(matcher, thresholds, questions)
    return {
        **result,
        "answer_threshold": thresholds.answer,
        "suggest_threshold": thresholds.suggest,
        "fit_s": round(fit_s, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "benchmarks" / "faq")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "faq")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--matchers", nargs="+", default=["lexical", "semantic", "hybrid"])
    parser.add_argument("--model", help="a local sentence-transformers model directory (e.g. a tuned one)")
    parser.add_argument("--cache", type=Path, help="embeddings cache on disk (bench/faq_mix.py's), one per encoder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache: dict = {}
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            faq_path, questions_path = build_files(dataset, args.data, seed, args.out)
            questions = load_questions(questions_path)
            for name in args.matchers:
                if name != "lexical":
                    warm(cache, load_faq_file(faq_path), questions, args.model, args.cache)
                result = run_one(faq_path, questions, matcher_factory(name, cache, args.model))
                rows.append({"dataset": dataset, "seed": seed, "matcher": name, **result})
                print(f"# {dataset} seed {seed} {name}: {result}", file=sys.stderr, flush=True)
    summary = summarise(rows)
    if args.json:
        print(json.dumps({"runs": rows, "median": summary}, indent=2))
    else:
        print_table(summary)
    return 0


def warm(
    cache: dict, entries: list, questions: list[Question], model: str | None = None, disk: Path | None = None
) -> None:
    """Encode every phrasing and query once, in batches (query latency is measured in faq_speed.py)."""
    from handlers.faq.semantic import load_encoder

    texts = [t for e in entries for t in e.phrasings()] + [q.text for q in questions]
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    if missing and disk is not None:
        from bench.faq_mix import EmbeddingCache

        cache.update(zip(missing, EmbeddingCache(disk).vectors(model, missing), strict=True))
        return
    if missing:
        vectors = load_encoder(model).encode(missing, batch_size=128, normalize_embeddings=True)
        cache.update(zip(missing, vectors.astype("float32"), strict=True))


METRICS = [
    "top1_accuracy",
    "answered_accuracy",
    "precision",
    "oos_recall",
    "coverage",
    "answer_threshold",
    "suggest_threshold",
    "fit_s",
]


def summarise(rows: list[dict]) -> list[dict]:
    """Median over seeds per dataset and matcher."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["matcher"])].append(row)
    return [
        {
            "dataset": d,
            "matcher": m,
            "seeds": len(g),
            "n": g[0]["n"],
            **{k: round(statistics.median(r[k] for r in g), 4) for k in METRICS},
        }
        for (d, m), g in groups.items()
    ]


def print_table(summary: list[dict]) -> None:
    header = ["dataset", "matcher", "seeds", "n", *METRICS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in summary:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")


if __name__ == "__main__":
    sys.exit(main())
