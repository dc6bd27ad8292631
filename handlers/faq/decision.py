"""Answer, suggest or abstain: thresholds chosen by cross-validation on the content itself.

Thresholds come from held-out phrasings (in scope) and whole held-out entries (out of scope, since no
remaining entry covers them), never from a test set, so they move with the content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from handlers.faq.calibration import make_folds
from handlers.faq.model import FaqEntry, Match, Matcher, training_texts

DecisionKind = Literal["answer", "suggest", "abstain"]
MAX_SUGGESTIONS = 3
SUGGEST_SHARE = 0.2  # a suggestion must have at least this share of the best match's confidence
CLOSE_FLOOR = 0.05  # below this an entry is not "close" enough to show next to an abstention


@dataclass(frozen=True)
class Thresholds:
    """Confidence needed to answer, and to offer "Did you mean …?"."""

    answer: float
    suggest: float


@dataclass(frozen=True)
class Decision:
    """What the bot does with a question; `matches` are the entries to show (answer, suggestions, close)."""

    kind: DecisionKind
    matches: tuple[Match, ...]


def decide(matches: Sequence[Match], thresholds: Thresholds) -> Decision:
    """The one code path the bot and `faq eval` share."""
    if not matches:
        return Decision("abstain", ())
    best = matches[0]
    if best.confidence >= thresholds.answer:
        return Decision("answer", (best,))
    if best.confidence >= thresholds.suggest:
        floor = SUGGEST_SHARE * best.confidence
        shown = tuple(m for m in matches[:MAX_SUGGESTIONS] if m.confidence >= floor)
        return Decision("suggest", shown)
    return Decision("abstain", tuple(m for m in matches[:MAX_SUGGESTIONS] if m.confidence >= CLOSE_FLOOR))


@dataclass(frozen=True)
class HeldOutRank:
    """Ranking of one held-out question and whether it was in scope for its fold."""

    expected: str | None
    matches: tuple[Match, ...]


def cross_validated_ranks(
    entries: Sequence[FaqEntry],
    matcher_factory: Callable[[], Matcher],
    n_folds: int = 5,
    seed: int = 1,
    max_per_fold: int = 400,
) -> list[HeldOutRank]:
    """Rankings of held-out phrasings (expected = their entry) and of held-out entries (expected = None)."""
    texts, labels = training_texts(entries, {})
    ranks: list[HeldOutRank] = []
    for fold in make_folds(labels, n_folds, seed, max_per_fold):
        kept: dict[int, list[str]] = {}
        for i in fold.train:
            kept.setdefault(labels[i], []).append(texts[i])
        fold_entries = [
            FaqEntry(id=entries[e].id, question=p[0], examples=tuple(p[1:]), answer=entries[e].answer)
            for e, p in sorted(kept.items())
        ]
        matcher = matcher_factory()
        matcher.fit(fold_entries, {})
        for i in fold.held_in:
            ranks.append(HeldOutRank(entries[labels[i]].id, tuple(matcher.rank(texts[i], MAX_SUGGESTIONS))))
        for i in fold.held_out_of_scope:
            ranks.append(HeldOutRank(None, tuple(matcher.rank(texts[i], MAX_SUGGESTIONS))))
    return ranks


def thresholds_from_ranks(
    ranks: Sequence[HeldOutRank], target_precision: float = 0.95, suggest_precision: float = 0.6
) -> Thresholds:
    """Lowest answer threshold whose answers reach the target precision; the same for top-3 suggestions."""
    if not ranks:
        return Thresholds(answer=0.9, suggest=0.5)
    top = np.array([r.matches[0].confidence if r.matches else 0.0 for r in ranks])
    right = np.array([bool(r.matches) and r.matches[0].entry_id == r.expected for r in ranks])
    in_top3 = np.array([any(m.entry_id == r.expected for m in r.matches) for r in ranks])
    answer = _lowest_threshold(top, right, target_precision, default=0.99)
    suggest = min(_lowest_threshold(top, in_top3, suggest_precision, default=answer), answer)
    return Thresholds(answer=round(answer, 4), suggest=round(suggest, 4))


def choose_thresholds(
    entries: Sequence[FaqEntry],
    matcher_factory: Callable[[], Matcher] | None = None,
    target_precision: float = 0.95,
) -> Thresholds:
    """Default thresholds for this content, cross-validated with the given matcher (lexical by default)."""
    if matcher_factory is None:
        from handlers.faq.lexical import LexicalMatcher

        matcher_factory = LexicalMatcher
    return thresholds_from_ranks(cross_validated_ranks(entries, matcher_factory), target_precision)


def _lowest_threshold(confidence: np.ndarray, good: np.ndarray, target: float, default: float) -> float:
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], good[order]
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    # A threshold must sit at the last of tied confidences, and carry enough support to mean something.
    last_of_tie = np.append(conf[1:] != conf[:-1], True)
    support = np.arange(1, hits.size + 1) >= min(10, hits.size)
    ok = np.flatnonzero((precision >= target) & last_of_tie & support)
    return float(conf[ok[-1]]) if ok.size else default
