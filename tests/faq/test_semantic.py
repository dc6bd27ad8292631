"""Semantic and hybrid matchers: skipped with a reason when the semantic extra is not installed."""

from __future__ import annotations

import pytest

from handlers.faq.model import FaqEntry
from handlers.faq.semantic import semantic_available

pytestmark = pytest.mark.skipif(
    not semantic_available(),
    reason="semantic extra not installed: pip install 'uptake[semantic]'",
)


def test_semantic_matches_a_paraphrase(tiny_faq: list[FaqEntry]) -> None:
    from handlers.faq.semantic import SemanticMatcher

    matcher = SemanticMatcher()
    matcher.fit(tiny_faq, {})
    matches = matcher.rank("could I be made redundant because of the new assistant?")
    assert matches[0].entry_id == "job-security"
    assert all(0.0 <= m.confidence <= 1.0 for m in matches)


def test_hybrid_matches_a_typo_and_a_paraphrase(tiny_faq: list[FaqEntry]) -> None:
    from handlers.faq.hybrid import HybridMatcher

    matcher = HybridMatcher()
    matcher.fit(tiny_faq, {})
    assert matcher.rank("how do i mute ths bot")[0].entry_id == "mute-notifications"
    assert matcher.rank("I leaked a client's details into the chatbot")[0].entry_id == "data-incident"


def test_hybrid_on_the_starter_pack_answers_paraphrases_and_not_off_topic() -> None:
    """The semantic install on the shipped content, with the questions of test_thresholds_starter.py."""
    from handlers.faq.decision import choose_thresholds, decide
    from handlers.faq.hybrid import HybridMatcher
    from handlers.faq.loader import load_faq_dir
    from tests.faq.test_thresholds_starter import CLEAR, CONTENT, LOOK_ALIKES, OFF_TOPIC

    entries = load_faq_dir(CONTENT)
    matcher = HybridMatcher()
    matcher.fit(entries, {})
    thresholds = choose_thresholds(entries, HybridMatcher)
    answered = 0
    for question, expected in CLEAR:
        ranked = matcher.rank(question)
        assert ranked[0].entry_id == expected, question
        answered += decide(ranked, thresholds).kind == "answer"
    assert answered >= 18  # 20 of 20 when written (lexical alone: 17)
    kinds = [decide(matcher.rank(q), thresholds).kind for q in OFF_TOPIC]
    assert "answer" not in kinds
    assert kinds.count("abstain") >= 9, list(zip(OFF_TOPIC, kinds, strict=True))
    assert all(decide(matcher.rank(q), thresholds).kind != "answer" for q, _ in LOOK_ALIKES)
