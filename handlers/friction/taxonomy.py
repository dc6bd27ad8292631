"""Categories, impacts and how-often choices (content/friction.yml), and the category suggested for a text."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import ROOT
from bot.content import ContentError, load_yaml_with_lines
from bot.model import Option
from handlers.friction.similarity import similarities

SUGGEST_THRESHOLD = 0.08  # below this, the best category is a guess: suggest "other"


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    description: str = ""
    examples: tuple[str, ...] = ()
    weight: int = 1


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Choice, ...]
    impacts: tuple[Choice, ...]
    frequencies: tuple[Choice, ...]

    def label(self, kind: str, key: str | None) -> str:
        for choice in getattr(self, kind):
            if choice.key == key:
                return str(choice.label)
        return key or "—"

    def weight(self, impact: str) -> int:
        return next((c.weight for c in self.impacts if c.key == impact), 1)

    def options(self, kind: str) -> tuple[Option, ...]:
        return tuple(Option(c.label, c.key) for c in getattr(self, kind))

    def keys(self, kind: str) -> set[str]:
        return {c.key for c in getattr(self, kind)}

    def suggest(self, text: str) -> str:
        """The category whose description and examples read most like `text` (a lexical guess, to be confirmed)."""
        cands = [c for c in self.categories if c.key != "other"]
        docs = [" ".join((c.label, c.description, *c.examples)) for c in cands]
        scores = similarities(text, docs)
        if not scores:
            return "other"
        best = max(range(len(scores)), key=scores.__getitem__)
        return cands[best].key if scores[best] >= SUGGEST_THRESHOLD else "other"


REQUIRED = {"categories": ("key", "label"), "impacts": ("key", "label"), "frequencies": ("key", "label")}


def load_taxonomy(content_dir: Path) -> Taxonomy:
    """Validate content/friction.yml; errors name file:line and the field."""
    path = Path(content_dir) / "friction.yml"
    if not path.exists():
        path = ROOT / "content" / "friction.yml"
    data = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ContentError(path, 1, "", "expected a mapping with categories, impacts and frequencies")
    parts: dict[str, tuple[Choice, ...]] = {}
    for kind, fields in REQUIRED.items():
        items = data.get(kind)
        if not isinstance(items, list) or not items:
            raise ContentError(path, data.get("__lines__", {}).get(kind, 1), kind, "a non-empty list is required")
        seen: set[str] = set()
        choices: list[Choice] = []
        for item in items:
            line = item.get("__line__", 1) if isinstance(item, dict) else 1
            if not isinstance(item, dict):
                raise ContentError(path, line, kind, "each entry needs key and label")
            for f in fields:
                if not isinstance(item.get(f), str) or not item[f].strip():
                    raise ContentError(path, line, f"{kind}.{f}", "required text")
            if item["key"] in seen:
                raise ContentError(path, line, f"{kind}.key", f"duplicate key {item['key']!r}")
            seen.add(item["key"])
            choices.append(_choice(item, path, line, kind))
        parts[kind] = tuple(choices)
    if "other" not in {c.key for c in parts["categories"]}:
        raise ContentError(path, data["__lines__"].get("categories", 1), "categories", "an 'other' category is needed")
    return Taxonomy(parts["categories"], parts["impacts"], parts["frequencies"])


def _choice(item: dict[str, Any], path: Path, line: int, kind: str) -> Choice:
    examples = item.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ContentError(path, line, f"{kind}.examples", "a list of texts")
    weight = item.get("weight", 1)
    if not isinstance(weight, int) or weight < 1:
        raise ContentError(path, line, f"{kind}.weight", "a whole number of at least 1")
    return Choice(item["key"], item["label"], str(item.get("description") or ""), tuple(examples), weight)


@functools.cache
def _default() -> Taxonomy:
    return load_taxonomy(ROOT / "content")


def taxonomy(rt: Any) -> Taxonomy:
    """The loaded taxonomy (content reload swaps it), or the shipped file when content was not loaded."""
    found = rt.content.get("friction") if rt is not None else None
    return found if isinstance(found, Taxonomy) else _default()
