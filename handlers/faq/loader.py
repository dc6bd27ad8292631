"""Load FAQ content files (`content/faq/*.yml`) with errors that name file:line and field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import yaml

from bot.content import ContentError
from handlers.faq.model import FaqEntry, Link

__all__ = ["ContentError", "load_faq_dir", "load_faq_file"]

KNOWN_FIELDS = {"id", "question", "examples", "answer", "links", "tags", "owner", "reviewed"}


def load_faq_dir(directory: str | Path) -> list[FaqEntry]:
    """All `*.yml` / `*.yaml` files of a directory, in name order; ids must be unique across files."""
    files = sorted(p for p in Path(directory).iterdir() if p.suffix in {".yml", ".yaml"} and p.is_file())
    return _unique(entry for path in files for entry in load_faq_file(path))


def load_faq_file(path: str | Path) -> list[FaqEntry]:
    """One content file: a YAML list of entries (format in issue 5)."""
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise ContentError(path, line, "", f"not valid YAML: {error.problem}") from error
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ContentError(path, _line(root), "", "the file must be a YAML list of entries")
    return _unique(_entry(path, node) for node in root.value)


def _unique(entries: Iterable[FaqEntry]) -> list[FaqEntry]:
    seen: dict[str, str] = {}
    result = []
    for entry in entries:
        if entry.id in seen:
            file, line = entry.source.rsplit(":", 1)
            message = f"duplicate id {entry.id!r} (first at {seen[entry.id]})"
            raise ContentError(file, int(line), "id", message)
        seen[entry.id] = entry.source
        result.append(entry)
    return result


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _entry(path: Path, node: yaml.Node) -> FaqEntry:
    line = _line(node)
    if not isinstance(node, yaml.MappingNode):
        raise ContentError(path, line, "", "each entry must be a mapping with id, question, examples, answer")
    fields: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
        if name not in KNOWN_FIELDS:
            message = f"unknown field (expected one of {', '.join(sorted(KNOWN_FIELDS))})"
            raise ContentError(path, _line(key), name, message)
        fields[name] = value
    constructor = yaml.SafeLoader("")
    data: dict[str, object] = {}
    for name, value_node in fields.items():
        try:
            data[name] = constructor.construct_object(value_node, deep=True)
        except (ValueError, yaml.YAMLError) as error:  # e.g. a date-looking value like 2026-13-45
            raise ContentError(path, _line(value_node), name, f"cannot read value: {error}") from None

    def text(name: str) -> str:
        value = data.get(name)
        where = _line(fields[name]) if name in fields else line
        if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
            raise ContentError(path, where, name, "missing or empty")
        return str(value).strip()

    entry_id = text("id")
    examples = data.get("examples")
    where = _line(fields["examples"]) if "examples" in fields else line
    if not isinstance(examples, list) or not examples:
        raise ContentError(path, where, "examples", f"entry {entry_id!r} needs at least one example")
    for i, example in enumerate(examples):
        if not isinstance(example, str) or not example.strip():
            item_line = _line(fields["examples"].value[i])
            raise ContentError(path, item_line, "examples", "each example must be a non-empty string")
    return FaqEntry(
        id=entry_id,
        question=text("question"),
        examples=tuple(e.strip() for e in examples),
        answer=text("answer"),
        links=_links(path, fields.get("links"), data.get("links")),
        tags=_strings(path, fields.get("tags"), data.get("tags"), "tags"),
        owner=str(data["owner"]).strip() if data.get("owner") is not None else None,
        reviewed=_date(path, fields.get("reviewed"), data.get("reviewed")),
        source=f"{path.name}:{line}",
    )


def _links(path: Path, node: yaml.Node | None, value: object) -> tuple[Link, ...]:
    if node is None or value is None:
        return ()
    if not isinstance(value, list):
        raise ContentError(path, _line(node), "links", "must be a list of {title, url}")
    links = []
    for item_node, item in zip(node.value, value, strict=True):
        if not isinstance(item, dict) or not item.get("title") or not item.get("url"):
            raise ContentError(path, _line(item_node), "links", "each link needs a title and a url")
        url = str(item["url"])
        parsed = urlparse(url)
        if parsed.scheme not in {"http", "https", "mailto"} or not (parsed.netloc or parsed.path):
            message = f"bad url {url!r} (needs http, https or mailto)"
            raise ContentError(path, _line(item_node), "links.url", message)
        links.append(Link(title=str(item["title"]), url=url))
    return tuple(links)


def _strings(path: Path, node: yaml.Node | None, value: object, name: str) -> tuple[str, ...]:
    if node is None or value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ContentError(path, _line(node), name, "must be a list of words")
    return tuple(value)


def _date(path: Path, node: yaml.Node | None, value: object) -> date | None:
    if node is None or value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ContentError(path, _line(node), "reviewed", f"bad date {value!r} (use YYYY-MM-DD)") from None
