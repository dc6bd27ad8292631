"""Content: the index follows `content reload` and database changes, is cached, and bad files keep the old content."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content import ContentError
from handlers.faq.index import load_faq_content
from tests.faq.scenario import Cast

NEW_FILE = """\
- id: parking
  question: Where can I park at the office?
  examples:
    - is there parking at HQ
    - where do I leave my car
  answer: |
    Use the **visitor car park** behind building B.
  reviewed: 2020-01-01
  owner: Ana
"""


async def test_content_reload_picks_up_a_new_file(cast: Cast, content_dir: Path) -> None:
    before = await cast.eve.says("Where can I park at the office?")
    assert "`parking`" not in before.text
    (content_dir / "faq" / "zz-parking.yml").write_text(NEW_FILE, encoding="utf-8")
    reloaded = await cast.ana.says("content reload")
    assert "reloaded" in reloaded.text
    after = await cast.eve.says("Where can I park at the office?")
    assert after.has_button("Helpful") and "FAQ entry `parking`" in after.text
    assert "*visitor car park*" in after.text


async def test_a_broken_file_keeps_the_old_content_and_names_file_and_line(cast: Cast, content_dir: Path) -> None:
    await cast.eve.says("Is the survey anonymous?")
    version = cast.rt.content.version
    dup = NEW_FILE.replace("id: parking", "id: survey-privacy")
    (content_dir / "faq" / "zz-dup.yml").write_text(dup, encoding="utf-8")
    reply = await cast.ana.says("content reload")
    assert "kept the current content" in reply.text
    assert "zz-dup.yml:1" in reply.text and "duplicate id" in reply.text
    assert cast.rt.content.version == version
    still = await cast.eve.says("Is the survey anonymous?")
    assert still.has_button("Helpful")


def test_an_entry_with_no_examples_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "faq").mkdir()
    (tmp_path / "faq" / "a.yml").write_text(
        "- id: one\n  question: Q?\n  examples: [x]\n  answer: A\n- id: two\n  question: Q2?\n  answer: B\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as err:
        load_faq_content(tmp_path)
    assert err.value.line == 5 and err.value.field == "examples" and str(err.value).startswith(str(tmp_path))


async def test_index_is_built_once_and_rebuilt_only_on_change(cast: Cast) -> None:
    await cast.eve.says("Is the survey anonymous?")
    first = cast.rt.extras["faq"]
    await cast.gus.says("How is adoption measured?")
    assert cast.rt.extras["faq"] is first
    answer = await cast.eve.says("is the survey anonymous, really")
    await cast.eve.clicks("Helpful", on=answer)  # a learned example changes the database stamp
    await cast.gus.says("How is adoption measured?")
    assert cast.rt.extras["faq"] is not first


def test_missing_faq_folder_is_an_empty_faq(tmp_path: Path) -> None:
    assert load_faq_content(tmp_path) == []
