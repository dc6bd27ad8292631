"""Content validation names file:line and field; a broken reload keeps the old content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.content import ContentError, ContentStore, load_yaml_with_lines
from bot.model import Role
from bot.registry import registry
from bot.runtime import read_rollout_file
from tests.chat import Chat


def _copy_content(tmp_path: Path) -> Path:
    dst = tmp_path / "content"
    shutil.copytree(ROOT / "content", dst)
    return dst


def test_shipped_content_is_valid() -> None:
    import handlers  # noqa: F401

    ContentStore().load(ROOT / "content", registry)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.yml"
    bad.write_text("a: 1\nb: [unclosed\nc: 3\n")
    with pytest.raises(ContentError) as e:
        load_yaml_with_lines(bad)
    assert f"{bad}:" in str(e.value) and e.value.line in (2, 3, 4)


def test_rollout_schema_error_names_line_and_field(tmp_path: Path) -> None:
    content = _copy_content(tmp_path)
    path = content / "rollout.yml"
    path.write_text(path.read_text().replace("phase: pilot", "phase: flying"))
    with pytest.raises(ContentError) as e:
        read_rollout_file(content)
    expected_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith("phase:"))
    assert e.value.field == "phase" and e.value.line == expected_line
    assert str(e.value).startswith(f"{path}:{expected_line}: phase:")


async def test_reload_with_broken_file_keeps_old_content(chat: Chat, tmp_path: Path) -> None:
    content = _copy_content(tmp_path)
    chat.rt.settings.content_dir = content
    lead = await chat.person("Ana", role=Role.change_lead)
    await lead.says("content reload")
    assert "Content reloaded" in lead.last_reply.text
    version = chat.rt.content.version
    (content / "rollout.yml").write_text("name: [broken\n")
    await lead.says("content reload")
    assert "kept the current content" in lead.last_reply.text and "rollout.yml:" in lead.last_reply.text
    assert chat.rt.content.version == version
