"""Public API of FAQ matching: one import for the bot, `faq eval` and the benchmark.

Pure: no chat SDK and no database. The semantic and hybrid matchers import sentence-transformers lazily.
"""

from __future__ import annotations

from typing import Literal

from handlers.faq.decision import Decision, Thresholds, choose_thresholds, decide
from handlers.faq.lexical import LexicalMatcher
from handlers.faq.loader import ContentError, load_faq_dir, load_faq_file
from handlers.faq.model import FaqEntry, Link, Match, Matcher, normalise_question

MatcherName = Literal["lexical", "semantic", "hybrid"]
MATCHERS: tuple[MatcherName, ...] = ("lexical", "semantic", "hybrid")


def make_matcher(name: MatcherName = "lexical", model_path: str | None = None) -> Matcher:
    """The matcher chosen in config; semantic and hybrid raise SemanticUnavailable without the extra."""
    if name == "lexical":
        return LexicalMatcher()
    if name == "semantic":
        from handlers.faq.semantic import SemanticMatcher

        return SemanticMatcher(model_path)
    if name == "hybrid":
        from handlers.faq.hybrid import HybridMatcher

        return HybridMatcher(model_path=model_path)
    raise ValueError(f"unknown matcher {name!r}; choose one of {', '.join(MATCHERS)}")


def __getattr__(name: str) -> object:
    # SemanticMatcher / HybridMatcher stay importable from here without importing torch at module load.
    if name == "SemanticMatcher":
        from handlers.faq.semantic import SemanticMatcher

        return SemanticMatcher
    if name == "HybridMatcher":
        from handlers.faq.hybrid import HybridMatcher

        return HybridMatcher
    raise AttributeError(name)


__all__ = [
    "MATCHERS",
    "ContentError",
    "Decision",
    "FaqEntry",
    "LexicalMatcher",
    "Link",
    "Match",
    "Matcher",
    "MatcherName",
    "Thresholds",
    "choose_thresholds",
    "decide",
    "load_faq_dir",
    "load_faq_file",
    "make_matcher",
    "normalise_question",
]
