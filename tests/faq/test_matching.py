"""Lexical matching, calibration, thresholds and decisions on a tiny FAQ."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handlers.faq.decision import Thresholds, choose_thresholds, decide
from handlers.faq.lexical import LexicalMatcher
from handlers.faq.model import FaqEntry, Match, normalise_question, training_texts


def fitted(entries: list[FaqEntry], learned: dict[str, list[str]] | None = None) -> LexicalMatcher:
    matcher = LexicalMatcher()
    matcher.fit(entries, learned or {})
    return matcher


def test_ranks_the_right_entry_with_a_probability(tiny_faq: list[FaqEntry]) -> None:
    matches = fitted(tiny_faq).rank("is there a checklist to verify AI output", k=3)
    assert matches[0].entry_id == "verify-output"
    assert len(matches) == 3
    assert all(0.0 <= m.confidence <= 1.0 for m in matches)
    assert sum(m.confidence for m in matches) <= 1.0 + 1e-9
    assert matches[0].confidence > matches[1].confidence


def test_robust_to_typos(tiny_faq: list[FaqEntry]) -> None:
    matcher = fitted(tiny_faq)
    assert matcher.rank("how do i mute ths bot, to many mesages")[0].entry_id == "mute-notifications"
    assert matcher.rank("wil the AI replace my jobb")[0].entry_id == "job-security"
    assert matcher.rank("is the survy anonymus")[0].entry_id == "survey-privacy"


def test_unrelated_question_gets_low_confidence(tiny_faq: list[FaqEntry]) -> None:
    matcher = fitted(tiny_faq)
    related = matcher.rank("how do I mute the bot")[0].confidence
    unrelated = matcher.rank("what's the weather in Lisbon tomorrow")[0].confidence
    assert unrelated < related
    assert unrelated < 0.5


def test_learned_examples_teach_new_phrasings(tiny_faq: list[FaqEntry]) -> None:
    question = "the quarterly pulse thing, can my boss read it"
    before = fitted(tiny_faq).rank(question)
    learned = {"survey-privacy": ["quarterly pulse thing boss read"], "no-such-entry": ["ignored"]}
    after = fitted(tiny_faq, learned).rank(question)
    assert after[0].entry_id == "survey-privacy"
    confidence_before = next((m.confidence for m in before if m.entry_id == "survey-privacy"), 0.0)
    assert after[0].confidence > confidence_before


def test_learned_examples_are_deduplicated(tiny_faq: list[FaqEntry]) -> None:
    learned = {"office-hours": ["Office hours schedule!", "  office   HOURS schedule "]}
    texts, _ = training_texts(tiny_faq, learned)
    assert sum(normalise_question(t) == "office hours schedule" for t in texts) == 1


def test_empty_content_ranks_nothing() -> None:
    matcher = LexicalMatcher()
    matcher.fit([], {})
    assert matcher.rank("anything") == []


def test_decide_answer_suggest_abstain() -> None:
    thresholds = Thresholds(answer=0.7, suggest=0.3)
    ranked = [Match("a", 0.8), Match("b", 0.1), Match("c", 0.05)]
    assert decide(ranked, thresholds).kind == "answer"
    assert decide(ranked, thresholds).matches == (Match("a", 0.8),)
    middle = decide([Match("a", 0.5), Match("b", 0.2), Match("c", 0.05)], thresholds)
    assert middle.kind == "suggest"
    assert [m.entry_id for m in middle.matches] == ["a", "b"]  # c is under a fifth of the best
    low = decide([Match("a", 0.2), Match("b", 0.01)], thresholds)
    assert low.kind == "abstain" and [m.entry_id for m in low.matches] == ["a"]
    assert decide([], thresholds).kind == "abstain"


def test_thresholds_come_from_the_content(tiny_faq: list[FaqEntry]) -> None:
    thresholds = choose_thresholds(tiny_faq)
    assert 0.0 < thresholds.suggest <= thresholds.answer <= 1.0


@given(st.text(max_size=80))
def test_normalise_question_is_idempotent(text: str) -> None:
    once = normalise_question(text)
    assert normalise_question(once) == once


# Letters whose upper case folds back to them (unlike Turkish dotless ı, which folds to i).
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüßøå0123456789", min_size=1, max_size=20))
def test_normalise_question_ignores_case_spacing_and_edge_punctuation(word: str) -> None:
    assert normalise_question(f"  ¿{word.upper()}   {word}?! ") == normalise_question(f"{word} {word}")
