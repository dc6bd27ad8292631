"""Data out: chat and CLI export, digest figures, demo data, and the taxonomy content file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from bot.content import ContentError
from bot.demo import run_demo
from bot.digest import Period
from bot.model import message_text
from handlers.friction.export import parts
from handlers.friction.metrics import figures, friction_progress
from handlers.friction.taxonomy import load_taxonomy
from tests.chat import Chat
from tests.friction.conftest import Cast, count_reports, file_by_form
from tests.friction.test_lifecycle import set_status
from tests.test_cli import uptake


def exported(reply: object) -> str:
    return "".join(message_text(m).split("\n", 1)[1] for m in reply.follow_ups)  # type: ignore[attr-defined]


async def test_chat_export_for_change_leads_in_csv_and_json(chat: Chat, cast: Cast) -> None:
    named = await file_by_form(cast.eve, what="Named report, with a comma")
    anon = await file_by_form(cast.finn, what="Anonymous one", share=False)
    rows = list(csv.DictReader(io.StringIO(exported(await cast.ana.command("friction", "export")))))
    assert [int(r["number"]) for r in rows] == [named, anon]
    assert rows[0]["reporter"] == "Eve" and rows[0]["text"] == "Named report, with a comma"
    assert rows[1]["reporter"] == "anonymous"
    data = json.loads(exported(await cast.ana.command("friction", "export json")))
    assert data[1]["reporter"] == "anonymous" and "Finn" not in json.dumps(data)
    denied = await cast.eve.command("friction", "export")
    assert "Sorry" in denied.text and not denied.follow_ups


def test_export_parts_fit_a_message() -> None:
    text = "".join(f"line {i} " + "x" * 90 + "\n" for i in range(200)) + "y" * 7000
    chunks = parts(text, 2800)
    assert "".join(chunks) == text and max(len(c) for c in chunks) <= 2800


async def test_digest_figures(chat: Chat, cast: Cast) -> None:
    a = await file_by_form(cast.eve, what="Claims screen is slow", category="slow", impact="blocks")
    b = await file_by_form(cast.gus, what="Login fails on Mondays", category="access")
    await cast.finn.acts("friction.vote", str(b))
    chat.rt.clock.advance(hours=5)  # type: ignore[attr-defined]
    await cast.ana.acts("friction.take", f"{a}:1")
    chat.rt.clock.advance(hours=19)  # type: ignore[attr-defined]
    await set_status(cast.ana, a, "resolved", "Faster screen.")
    now = chat.rt.clock.now()
    period = Period(now - dt.timedelta(days=7), now + dt.timedelta(hours=1))
    async with chat.rt.db.session() as s:
        rollout = await chat.rt.default_rollout(s)
        f = await figures(s, rollout, period)
        section = await friction_progress(s, rollout, period, chat.rt)
    assert (f["opened"], f["triaged"], f["resolved"], f["open"]) == (2, 1, 1, 1)
    assert f["median_first_response_hours"] == 5.0 and f["median_resolution_hours"] == 24.0
    assert f["open_by_category"] == {"access": 1} and [r.id for r in f["top_voted"]] == [b]
    assert section is not None and section.metrics["resolved"] == 1
    assert "Login fails on Mondays" in "\n".join(section.lines)


async def test_demo_adds_about_thirty_reports_across_statuses_once(chat: Chat) -> None:
    await run_demo(chat.rt)
    await run_demo(chat.rt)
    assert await count_reports(chat.rt) == 30
    async with chat.rt.db.session() as s:
        rollout = await chat.rt.default_rollout(s)
        now = chat.rt.clock.now()
        f = await figures(s, rollout, Period(now - dt.timedelta(days=60), now))
    assert f["open"] >= 15 and f["resolved"] >= 5


def test_cli_export_csv_and_json(tmp_path: Path) -> None:
    assert uptake("demo", data_dir=tmp_path).returncode == 0
    res = uptake("friction", "export", "--format", "csv", data_dir=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 30 and {r["status"] for r in rows} >= {"new", "resolved", "won't fix", "duplicate"}
    out = tmp_path / "f.json"
    res = uptake("friction", "export", "--format", "json", "--output", str(out), data_dir=tmp_path)
    assert res.returncode == 0 and len(json.loads(out.read_text())) == 30
    assert uptake("friction", "export", "--format", "xml", data_dir=tmp_path).returncode != 0


def test_taxonomy_file_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "friction.yml").write_text(
        "categories:\n  - key: slow\n    label: too slow\n  - key: slow\n    label: again\n"
        "impacts:\n  - key: a\n    label: A\nfrequencies:\n  - key: b\n    label: B\n"
    )
    with pytest.raises(ContentError) as err:
        load_taxonomy(tmp_path)
    assert err.value.line == 4 and "duplicate key" in err.value.message
    shipped = load_taxonomy(Path(__file__).resolve().parents[2] / "content")
    assert shipped.suggest("the page takes ages to load and times out") == "slow"
    assert shipped.suggest("zzz") == "other"
