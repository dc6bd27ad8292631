"""Content is data: files under content/ that capabilities own, validated at start and on reload.

A capability registers a loader with `@capability.content("name")`: it gets the content directory and
returns whatever it needs (parsed and validated), raising `ContentError` with file, line and field on bad input.
A reload that fails leaves the previous content active.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from bot.registry import Registry


class ContentError(Exception):
    """A content file is invalid. The message names file:line and the field."""

    def __init__(self, file: str | Path, line: int, field: str, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.file}:{line}"
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


def line_of(text: str, key: str) -> int:
    """The 1-based line where a top-level `key:` appears (best effort, for error messages)."""
    m = re.search(rf"^\s*{re.escape(key)}\s*:", text, re.MULTILINE)
    return text[: m.start()].count("\n") + 1 if m else 1


class LineLoader(yaml.SafeLoader):
    """A YAML loader that records the line of every mapping as `__line__` (1-based)."""


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    mapping["__line__"] = node.start_mark.line + 1
    keys: dict[str, int] = {}
    for key_node, _ in node.value:
        keys[str(key_node.value)] = key_node.start_mark.line + 1
    mapping["__lines__"] = keys
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_with_lines(path: Path) -> Any:
    """Parse a YAML file, turning syntax errors into ContentError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ContentError(path, 1, "", f"cannot read file: {e}") from None
    try:
        return yaml.load(text, Loader=LineLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        raise ContentError(path, line, "", f"YAML syntax error: {problem}") from None


class ContentStore:
    """The loaded content, by loader name. Replaced as a whole, so readers never see half a reload."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.version = 0

    def load(self, content_dir: Path, reg: Registry) -> None:
        content_dir = Path(content_dir)
        if not content_dir.is_dir():
            raise ContentError(content_dir, 1, "", "content directory not found")
        from bot.runtime import read_rollout_file

        read_rollout_file(content_dir)
        fresh: dict[str, Any] = {}
        for spec in reg.content:
            fresh[spec.name] = spec.fn(content_dir)
        self.items = fresh
        self.version += 1

    def get(self, name: str, default: Any = None) -> Any:
        return self.items.get(name, default)
