"""Content errors name file:line and field, so a change lead can fix a file without reading code."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from handlers.faq.loader import ContentError, load_faq_dir, load_faq_file

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
- id: verify-output
  question: How do I check that an AI answer is correct?
  examples:
    - How can I verify the output quickly?
  answer: |
    Use the checklist.
  links: [{title: Checklist, url: "https://example.com/c"}]
  tags: [quality]
  owner: change-lead
  reviewed: 2026-11-01
- id: office-hours
  question: When are office hours?
  examples: [when can I drop in]
  answer: Every two weeks.
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_source_lines(tmp_path: Path) -> None:
    entries = load_faq_file(write(tmp_path, "a.yml", GOOD))
    assert [e.id for e in entries] == ["verify-output", "office-hours"]
    first = entries[0]
    assert first.source == "a.yml:1" and entries[1].source == "a.yml:11"
    assert first.links[0].url == "https://example.com/c"
    assert first.reviewed == date(2026, 11, 1)
    assert first.tags == ("quality",) and first.owner == "change-lead"
    assert first.answer == "Use the checklist."


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("- id: a\n  question: q\n  answer: x\n", 1, "examples"),
        ("- id: a\n  question: q\n  examples: []\n  answer: x\n", 3, "examples"),
        ("- id: a\n  examples: [e]\n  answer: x\n", 1, "question"),
        ("- id: a\n  question: q\n  examples: [e]\n", 1, "answer"),
        ("- id: a\n  question: q\n  examples: [e]\n  answer: x\n  reviewed: 2026-13-45\n", 5, "reviewed"),
        (
            "- id: a\n  question: q\n  examples: [e]\n  answer: x\n"
            "  links:\n    - {title: t, url: 'ftp:/x'}\n",
            6,
            "links.url",
        ),
        ("- id: a\n  question: q\n  examples: [e]\n  answer: x\n  colour: red\n", 5, "colour"),
        ("- id: a\n  question: q\n  examples:\n    - ok\n    - ''\n  answer: x\n", 5, "examples"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    with pytest.raises(ContentError) as caught:
        load_faq_file(write(tmp_path, "bad.yml", text))
    error = caught.value
    assert (error.line, error.field) == (line, field)
    assert f"bad.yml:{line}: {field}" in str(error)


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    write(
        tmp_path, "b.yml", "# second file\n- id: office-hours\n  question: q\n  examples: [e]\n  answer: x\n"
    )
    with pytest.raises(ContentError) as caught:
        load_faq_dir(tmp_path)
    assert caught.value.field == "id"
    assert "b.yml:2" in str(caught.value) and "a.yml:11" in str(caught.value)


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as caught:
        load_faq_file(write(tmp_path, "broken.yml", "- id: a\n  question: [unclosed\n"))
    assert caught.value.line >= 2


def test_starter_pack_is_valid_and_complete() -> None:
    entries = load_faq_dir(REPO / "content" / "faq")
    assert len(entries) >= 40
    assert all(len(e.examples) >= 4 for e in entries)
    assert any("[CHANGE LEAD:" in e.answer for e in entries)
