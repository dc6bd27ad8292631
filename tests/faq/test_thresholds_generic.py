"""Generic off-topic sentences teach abstention, but never against content that covers their topic."""

from __future__ import annotations

import numpy as np

from handlers.faq.calibration import NONE, HeldOut, drop_covered_generic
from handlers.faq.decision import choose_thresholds, decide
from handlers.faq.lexical import LexicalMatcher
from handlers.faq.model import FaqEntry
from handlers.faq.scoring import softmax_rows, train_softmax

from .conftest import entry


def test_covered_generic_questions_are_dropped() -> None:
    right = [HeldOut(np.array([0.9, 0.1]), 0), HeldOut(np.array([0.1, 0.7]), 1), HeldOut(np.array([0.2, 0.8]), 1)]
    covered = HeldOut(np.array([0.85, 0.1]), NONE, generic=True)
    off_topic = HeldOut(np.array([0.1, 0.2]), NONE, generic=True)
    uncovered_entry = HeldOut(np.array([0.95, 0.1]), NONE)  # held-out entries are never dropped
    kept = [id(s) for s in drop_covered_generic([*right, covered, off_topic, uncovered_entry])]
    assert id(covered) not in kept
    assert id(off_topic) in kept and id(uncovered_entry) in kept


def test_content_about_the_weather_still_answers_weather_questions(tiny_faq: list[FaqEntry]) -> None:
    weather = entry(
        "weather",
        "Will it rain this weekend?",
        "what is the weather forecast",
        "is it going to rain tomorrow",
        "will it snow this week",
        "what temperature is it outside",
        "do I need an umbrella today",
    )
    entries = [*tiny_faq, weather]
    matcher = LexicalMatcher()
    matcher.fit(entries, {})
    thresholds = choose_thresholds(entries)
    decision = decide(matcher.rank("will it rain on the weekend"), thresholds)
    assert decision.kind != "abstain" and decision.matches[0].entry_id == "weather"


def test_softmax_head_learns_separable_classes() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 3
    y = np.repeat(np.arange(4), 10)
    x = centres[y] + rng.normal(size=(40, 8))
    w = train_softmax(x, y, 4)
    probabilities = softmax_rows(x @ w[:-1] + w[-1])
    assert (probabilities.argmax(axis=1) == y).mean() >= 0.95
    assert np.allclose(probabilities.sum(axis=1), 1.0)
