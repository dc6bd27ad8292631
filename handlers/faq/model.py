"""The FAQ vocabulary shared by loader, matchers and evaluation: entries, matches and the matcher protocol."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, Protocol


@dataclass(frozen=True)
class Link:
    """A link shown under an answer."""

    title: str
    url: str


@dataclass(frozen=True)
class FaqEntry:
    """One question people ask, the ways they ask it, and the answer that stays true."""

    id: str
    question: str
    examples: tuple[str, ...]
    answer: str
    links: tuple[Link, ...] = ()
    tags: tuple[str, ...] = ()
    owner: str | None = None
    reviewed: date | None = None
    source: str = "db"  # "file.yml:LINE" for file content, "db" for entries added from chat

    def phrasings(self) -> tuple[str, ...]:
        """Every text the matcher learns from for this entry."""
        return (self.question, *self.examples)


class Match(NamedTuple):
    """An entry with a calibrated probability that it answers the question."""

    entry_id: str
    confidence: float


class Matcher(Protocol):
    """Learns from entries (and learned examples) when content loads, then ranks questions."""

    def fit(self, entries: Sequence[FaqEntry], learned: Mapping[str, Sequence[str]] = ...) -> None: ...

    def rank(self, text: str, k: int = 3) -> list[Match]: ...


_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """Canonical form of a question, so learned examples that differ only in case or spacing dedupe."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _SPACES.sub(" ", text).strip()
    # NFKC + casefold can expose new edge punctuation or spaces, so strip until stable.
    while True:
        stripped = _SPACES.sub(" ", _EDGE_PUNCT.sub("", text)).strip()
        stripped = unicodedata.normalize("NFKC", stripped).casefold()
        if stripped == text:
            return text
        text = stripped


def training_texts(
    entries: Sequence[FaqEntry], learned: Mapping[str, Sequence[str]]
) -> tuple[list[str], list[int]]:
    """Texts and their entry index: question, examples and learned examples, deduplicated per entry."""
    texts: list[str] = []
    labels: list[int] = []
    for index, entry in enumerate(entries):
        seen: set[str] = set()
        for text in _chain(entry.phrasings(), learned.get(entry.id, ())):
            key = normalise_question(text)
            if key and key not in seen:
                seen.add(key)
                texts.append(text)
                labels.append(index)
    return texts, labels


def _chain(*parts: Iterable[str]) -> Iterable[str]:
    for part in parts:
        yield from part
