"""The command line as a newcomer meets it: console chat, demo, people import, a database that is down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.config import ROOT


def uptake(
    *args: str, data_dir: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    full_env.update({"UPTAKE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=120,
    )


def test_piped_help_prints_the_command_list(tmp_path: Path) -> None:
    res = uptake("chat", "--as", "Ana", data_dir=tmp_path, stdin="help\n")
    assert res.returncode == 0, res.stderr
    assert "What I can do" in res.stdout and "whoami" in res.stdout


def test_demo_is_idempotent_and_people_can_chat(tmp_path: Path) -> None:
    first = uptake("demo", data_dir=tmp_path)
    second = uptake("demo", data_dir=tmp_path)
    assert first.returncode == 0 and "40 people (40 new)" in first.stdout, first.stderr
    assert second.returncode == 0 and "40 people (0 new)" in second.stdout
    res = uptake("chat", "--as", "Ana", data_dir=tmp_path, stdin="whoami\n")
    assert "change-lead" in res.stdout and "Ana Silva" in res.stdout


def test_people_import_and_grant(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text(
        "name,email,team,role\nMaria Lopez,maria@example.com,Claims,champion\nJon Doe,jon@example.com,Care,\n"
    )
    res = uptake("people", "import", str(csv), data_dir=tmp_path)
    assert res.returncode == 0 and "2 new" in res.stdout, res.stderr
    res = uptake("people", "grant", "jon@example.com", "change-lead", data_dir=tmp_path)
    assert res.returncode == 0 and "employee -> change-lead" in res.stdout, res.stderr
    res = uptake("people", "grant", "Nobody", "champion", data_dir=tmp_path)
    assert res.returncode == 2 and "don't know anyone" in res.stderr


def test_bad_import_changes_nothing(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,role\nGood Person,champion\nBad Person,wizard\n")
    res = uptake("people", "import", str(csv), data_dir=tmp_path)
    assert res.returncode == 2 and "line 3" in res.stderr and "nothing was imported" in res.stderr
    res = uptake("people", "grant", "Good Person", "champion", data_dir=tmp_path)
    assert "don't know anyone" in res.stderr


def test_unreachable_database_is_one_line_exit_2(tmp_path: Path) -> None:
    res = uptake(
        "serve", "--no-worker", data_dir=tmp_path, env={"DATABASE_URL": "postgresql://admin:hunter2@127.0.0.1:1/uptake"}
    )
    assert res.returncode == 2
    assert "cannot reach the database at postgresql+asyncpg://admin:***@127.0.0.1:1/uptake" in res.stderr
    assert "hunter2" not in res.stderr and "Traceback" not in res.stderr


def test_content_error_refuses_to_start(tmp_path: Path) -> None:
    import shutil

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    (content / "rollout.yml").write_text("name: Test\ntimezone: Mars/Olympus\n")
    res = uptake("serve", data_dir=tmp_path, env={"UPTAKE_CONTENT_DIR": str(content)})
    assert res.returncode == 2
    assert f"{content / 'rollout.yml'}:2: timezone:" in res.stderr
