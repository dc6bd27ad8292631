"""Concurrency, on SQLite and PostgreSQL: two triagers at once, a form submitted twice at once, a double +1."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.model import Action, Role, Submission
from handlers.friction.tables import FrictionEvent, FrictionVote
from tests.chat import Chat
from tests.friction.conftest import FORM_VALUES, Cast, count_reports, file_by_form, load


async def test_two_triagers_at_once_one_wins_the_other_is_told(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    ben = await chat.person("Ben", role=Role.change_lead)
    replies = await asyncio.gather(
        cast.ana.send(cast.ana._request(Action("friction.take", f"{number}:1"))),
        ben.send(ben._request(Action("friction.take", f"{number}:1"))),
    )
    texts = sorted(r.text for r in replies)
    assert sum("took it" in t for t in texts) == 1, texts
    assert sum("changed while you were looking at it" in t for t in texts) == 1, texts
    report = await load(chat.rt, number)
    assert report.version == 2 and report.owner_id in (cast.ana.person_id, ben.person_id)
    async with chat.rt.db.session() as s:
        moves = await s.scalar(select(func.count()).select_from(FrictionEvent).where(FrictionEvent.kind == "status"))
    assert moves == 1
    notified = [r for r in await chat.outbox(kind="friction") if r.person_id == cast.eve.person_id]
    assert len(notified) == 1


async def test_two_status_forms_at_once(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    ben = await chat.person("Ben", role=Role.change_lead)
    state = f"{number}:1"
    replies = await asyncio.gather(
        cast.ana.send(cast.ana._request(Submission("friction.set_status", {"status": "in_progress"}, state))),
        ben.send(
            ben._request(Submission("friction.set_status", {"status": "wont_fix", "note": "Out of scope"}, state))
        ),
    )
    assert sum("changed while you were looking at it" in r.text for r in replies) == 1
    assert (await load(chat.rt, number)).status in ("in_progress", "wont_fix")


async def test_form_submitted_twice_at_once_files_one_report(chat: Chat, cast: Cast) -> None:
    form = (await cast.eve.says("report")).form
    assert form is not None
    replies = await asyncio.gather(
        *(cast.eve.send(cast.eve._request(Submission(form.form_id, dict(FORM_VALUES), form.state))) for _ in range(3))
    )
    assert await count_reports(chat.rt) == 1
    assert sum("your report is" in r.text for r in replies) == 1
    assert len(await chat.outbox(kind="friction_triage")) == 2


async def test_double_plus_one_at_once_counts_once(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    await asyncio.gather(*(cast.finn.send(cast.finn._request(Action("friction.vote", str(number)))) for _ in range(3)))
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(FrictionVote)) == 1
