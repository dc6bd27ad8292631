"""`uptake faq eval`: ask a questions file of an FAQ through the bot's own path and score it (issue 5).

Questions are JSON lines `{"text": "...", "expected": "<entry id>" | null}`; null means no entry covers
the question, so the right outcome is not to answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handlers.faq.decision import Thresholds, choose_thresholds, decide
from handlers.faq.loader import load_faq_dir, load_faq_file
from handlers.faq.matcher import MATCHERS, MatcherName, make_matcher
from handlers.faq.model import FaqEntry, Matcher


@dataclass(frozen=True)
class Question:
    """One line of a questions file."""

    text: str
    expected: str | None


def load_questions(path: str | Path) -> list[Question]:
    """JSON lines; blank lines are skipped, a bad line names its number."""
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(Question(text=str(row["text"]), expected=row.get("expected")))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: expected {{'text': ..., 'expected': id|null}}") from error
    return questions


def load_faq(path: str | Path) -> list[FaqEntry]:
    """A single content file or a directory of them."""
    return load_faq_dir(path) if Path(path).is_dir() else load_faq_file(path)


def score(
    matcher: Matcher, thresholds: Thresholds, questions: Sequence[Question], k: int = 3
) -> dict[str, float | int]:
    """The issue-5 contract: accuracy, precision, out-of-scope recall, coverage and latency."""
    in_scope = out_of_scope = top1 = answered_right = answered = answered_oos = 0
    latencies = []
    for question in questions:
        started = time.perf_counter()
        ranked = matcher.rank(question.text, k)
        decision = decide(ranked, thresholds)
        latencies.append((time.perf_counter() - started) * 1000.0)
        best = decision.matches[0].entry_id if decision.matches else None
        gave_answer = decision.kind == "answer"
        answered += gave_answer
        if question.expected is None:
            out_of_scope += 1
            answered_oos += gave_answer
        else:
            in_scope += 1
            top1 += bool(ranked) and ranked[0].entry_id == question.expected
            answered_right += gave_answer and best == question.expected
    n = len(questions)
    return {
        "n": n,
        "top1_accuracy": _share(top1, in_scope),
        "answered_accuracy": _share(answered_right, in_scope),
        "precision": _share(answered_right, answered),
        "oos_recall": _share(out_of_scope - answered_oos, out_of_scope),
        "coverage": _share(answered, n),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3) if latencies else 0.0,
        "p99_ms": round(float(np.percentile(latencies, 99)), 3) if latencies else 0.0,
    }


def evaluate(
    faq_path: str | Path,
    questions_path: str | Path,
    matcher: MatcherName = "lexical",
    thresholds: Thresholds | None = None,
) -> dict[str, float | int]:
    """Load, fit, choose thresholds by cross-validation on the FAQ (unless given) and score the questions."""
    entries = load_faq(faq_path)
    questions = load_questions(questions_path)
    fitted = make_matcher(matcher)
    fitted.fit(entries, {})
    chosen = thresholds or choose_thresholds(entries, lambda: make_matcher(matcher))
    return score(fitted, chosen, questions)


def _share(part: int, whole: int) -> float:
    # An empty denominator means "nothing to get wrong": 1.0 keeps the metric comparable across files.
    return round(part / whole, 4) if whole else 1.0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m handlers.faq.evaluation --faq P --questions Q [--matcher M] [--json]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faq", required=True, help="FAQ YAML file or directory")
    parser.add_argument("--questions", required=True, help="JSON lines of {text, expected}")
    parser.add_argument("--matcher", choices=MATCHERS, default="lexical")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = evaluate(args.faq, args.questions, args.matcher)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
