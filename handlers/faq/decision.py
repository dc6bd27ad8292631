"""Answer, suggest or abstain: thresholds chosen by cross-validation on the content itself.

Thresholds come from held-out phrasings (in scope), whole held-out entries (out of scope, since no remaining
entry covers them) and generic off-topic sentences, never from a test set, so they move with the content.
The answer threshold is the lowest confidence whose answers reach the precision target on those folds; the
target is lower for small content (a few hundred held-out questions cannot certify 95 %, and insisting would
mean never answering). The suggest threshold must both keep the right entry among the suggestions often
enough and turn most off-topic questions into an honest "I don't know" instead of a "Did you mean …?".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from handlers.faq.calibration import GENERIC_OUT_OF_SCOPE, make_folds
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
    generic: bool = False  # a GENERIC_OUT_OF_SCOPE sentence rather than a held-out entry


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
    folds = make_folds(labels, n_folds, seed, max_per_fold)
    for k, fold in enumerate(folds):
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
        for text in GENERIC_OUT_OF_SCOPE[k :: len(folds)]:
            ranks.append(HeldOutRank(None, tuple(matcher.rank(text, MAX_SUGGESTIONS)), generic=True))
    return _drop_covered_generic(ranks)


def _drop_covered_generic(ranks: list[HeldOutRank]) -> list[HeldOutRank]:
    """A generic sentence as confident as a typical right answer is covered by this content (a travel FAQ)."""
    right = [r.matches[0].confidence for r in ranks if r.expected and r.matches and r.matches[0].entry_id == r.expected]
    if not right:
        return ranks
    bar = float(np.median(right))
    return [r for r in ranks if not r.generic or not r.matches or r.matches[0].confidence < bar]


def precision_target(n_questions: int) -> float:
    """0.8 for a few hundred held-out questions, rising with log size to 0.95 at 1,500 and more."""
    if n_questions <= 300:
        return 0.8
    return float(min(0.95, 0.8 + 0.15 * np.log(n_questions / 300) / np.log(5)))


def thresholds_from_ranks(
    ranks: Sequence[HeldOutRank],
    target_precision: float | None = None,
    suggest_precision: float = 0.6,
    off_topic_rejected: float = 0.9,
    uncovered_rejected: float = 0.5,
) -> Thresholds:
    """Answer: lowest threshold whose answers reach the target precision (default: precision_target).

    Suggest: the right entry among the suggestions at `suggest_precision`, and at least `off_topic_rejected`
    of generic off-topic and `uncovered_rejected` of held-out-entry questions below it (they get "I don't
    know"); never above the answer threshold.
    """
    if not ranks:
        return Thresholds(answer=0.9, suggest=0.5)
    target = precision_target(len(ranks)) if target_precision is None else target_precision
    top = np.array([r.matches[0].confidence if r.matches else 0.0 for r in ranks])
    right = np.array([bool(r.matches) and r.matches[0].entry_id == r.expected for r in ranks])
    in_top3 = np.array([any(m.entry_id == r.expected for m in r.matches) for r in ranks])
    # With no threshold reaching the target, answer only when the calibrated confidence itself says so.
    answer = _lowest_threshold(top, right, target, default=target)
    suggest = _lowest_threshold(top, in_top3, suggest_precision, default=answer)
    generic = np.array([r.generic for r in ranks])
    uncovered = np.array([r.expected is None and not r.generic for r in ranks])
    for mask, share in ((generic, off_topic_rejected), (uncovered, uncovered_rejected)):
        if mask.any():
            suggest = max(suggest, float(np.quantile(top[mask], share)))
    return Thresholds(answer=round(answer, 4), suggest=round(min(suggest, answer), 4))


def choose_thresholds(
    entries: Sequence[FaqEntry],
    matcher_factory: Callable[[], Matcher] | None = None,
    target_precision: float | None = None,
) -> Thresholds:
    """Default thresholds for this content, cross-validated with the given matcher (lexical by default).

    `target_precision` None adapts the target to the content's size (see precision_target).
    """
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
