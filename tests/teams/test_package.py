"""`uptake teams package` writes an uploadable Teams app package."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from bot.adapters.teams import MANIFEST_DIR, cli


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_package_has_manifest_and_icons(tmp_path: Path) -> None:
    out = tmp_path / "uptake.zip"
    result = CliRunner().invoke(
        cli, ["package", "--app-id", "app-123", "--host", "https://uptake.example.com/", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        assert _png_size(zf.read("color.png")) == (192, 192)
        assert _png_size(zf.read("outline.png")) == (32, 32)
    bot = manifest["bots"][0]
    assert manifest["id"] == bot["botId"] == "app-123"
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles[0] == "help" and "whoami" in titles and len(titles) <= 10
    assert manifest["validDomains"] == ["uptake.example.com"]
    assert "${{" not in json.dumps(manifest)


def test_package_refuses_a_url_path_as_host(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["package", "--app-id", "a", "--host", "x.com/path", "--out", str(tmp_path / "z.zip")]
    )
    assert result.exit_code == 2


def test_committed_manifest_is_valid_json_with_placeholders() -> None:
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text())
    assert manifest["manifestVersion"] == "1.17" and manifest["bots"][0]["botId"] == "${{MICROSOFT_APP_ID}}"
