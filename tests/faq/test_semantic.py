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
